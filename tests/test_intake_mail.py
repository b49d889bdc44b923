"""E-mail intake: the `mail` step and IMAP mailboxes, against a real Dovecot (tests/dovecot.py)."""

from __future__ import annotations

import datetime
import email
import email.policy
import io
import os
import socket
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils import timezone
from reportlab.pdfgen import canvas

from garnizon.common.models import Lease as LeaseRow
from garnizon.documents.blobstore import get_blob_store
from garnizon.documents.metadata import detect_mime
from garnizon.documents.models import Document
from garnizon.intake.channels import imap
from garnizon.intake.channels.imap import MailboxConfig, parse_mailboxes, poll_mailbox
from garnizon.intake.mail import html_to_text
from garnizon.intake.models import IntakeItem, IntakeState, IntakeStepResult
from garnizon.intake.pipeline import run_pipeline
from garnizon.intake.services import intake_add_file
from garnizon.registry.models import Correspondent, IncomingItem
from tests.dovecot import Dovecot, start_dovecot
from tests.test_intake import png_bytes

DONE = "Przyjęte"


@pytest.fixture(scope="session")
def dovecot_server():
    server = start_dovecot()
    yield server
    server.stop()


@pytest.fixture
def dovecot(dovecot_server: Dovecot) -> Dovecot:
    dovecot_server.reset()
    return dovecot_server


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"
    settings.GARNIZON_CLAMD = ""


def mailbox(server: Dovecot, **overrides) -> MailboxConfig:
    values = {
        "name": "kwp",
        "unit": "KWP",
        "host": "127.0.0.1",
        "port": server.port,
        "security": "none",
        "user": server.user,
        "password_file": str(server.password_file()),
        "requested_by": "clerk_kwp",
        "done_folder": DONE,
    } | overrides
    return MailboxConfig(**values)


def text_pdf(text: str = "Zawiadomienie o wykroczeniu drogowym") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return buffer.getvalue()


def message(
    subject: str = "Skarga na hałas",
    sender: str = "Jan Kowalski <jan.kowalski@example.pl>",
    body: str = "Dzień dobry, w załączeniu przesyłam skargę.",
    attachments: list[tuple[str, str, bytes]] = (),
    html: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["Received"] = "from mx.example.pl by poczta.policja.gov.pl; " + format_datetime(
        timezone.now()
    )
    msg["From"] = sender
    msg["To"] = "kancelaria@lu.policja.gov.pl"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(timezone.now())
    msg["Message-ID"] = "<test-1@example.pl>"
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for name, ctype, data in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def zip_bytes(entries: dict[str, bytes], *, encrypted: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    data = bytearray(buffer.getvalue())
    if encrypted:  # set the "encrypted" flag as a password-protected ZIP has it
        for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            at = data.find(signature)
            data[at + offset] |= 0x1
    return bytes(data)


def poll(server: Dovecot, **overrides):
    return poll_mailbox(mailbox(server, **overrides), run_now=True)


def children(item: IntakeItem) -> list[IntakeItem]:
    return list(IntakeItem.objects.filter(parent=item).order_by("source_key"))


# --- type detection ----------------------------------------------------------------------------


def test_detect_mime_recognises_messages_by_their_headers(tmp_path: Path):
    eml = tmp_path / "a.eml"
    eml.write_bytes(message())
    assert detect_mime(eml) == "message/rfc822"
    # 8-bit headers in ISO-8859-2 (not UTF-8 text) are still a message.
    latin2 = tmp_path / "b"
    latin2.write_bytes(
        "From: Józef <j@example.pl>\r\nTo: k@example.pl\r\nSubject: Zażółć\r\n"
        "Date: Thu, 26 Nov 2026 02:00:00 +0100\r\n\r\ntreść\r\n".encode("iso-8859-2")
    )
    assert detect_mime(latin2) == "message/rfc822"
    # A note that merely starts with "From:" is text, not a message.
    note = tmp_path / "c.txt"
    note.write_text("From: kierownik\nProszę o pilne załatwienie.\n\nDziękuję.\n")
    assert detect_mime(note) == "text/plain"
    memo = tmp_path / "d.txt"
    memo.write_text("Subject: notatka\nDate: dziś\n\ntekst\n")
    assert detect_mime(memo) == "text/plain"


def test_html_body_becomes_readable_text():
    html = (
        "<html><head><style>p{color:red}</style></head><body><p>Dzie&#324; dobry,</p>"
        "<div>zg&#322;aszam <b>kradzie&#380;</b> roweru.</div><script>alert(1)</script></body>"
    )
    assert html_to_text(html) == "Dzień dobry,\n\nzgłaszam kradzież roweru."


def test_received_date_falls_back_to_the_intake_time_when_implausible():
    from garnizon.intake.mail import _sane_received

    taken = timezone.now()
    hour_ago = taken - datetime.timedelta(hours=1)
    assert _sane_received(hour_ago, taken) == hour_ago
    assert _sane_received(None, taken) == taken
    assert _sane_received(taken + datetime.timedelta(days=1), taken) == taken  # a wrong clock
    assert _sane_received(taken.replace(year=taken.year - 3), taken) == taken


# --- one message, two attachments --------------------------------------------------------------


def test_message_with_two_attachments_is_one_entry_with_three_documents(garrison, dovecot):
    dovecot.append(
        message(
            attachments=[
                ("skarga.pdf", "application/pdf", text_pdf()),
                ("zdjęcie.png", "image/png", png_bytes()),
            ]
        )
    )
    result = poll(dovecot)

    assert result.ok, (result.error, result.failures)
    assert len(result.taken) == 1
    item = IntakeItem.objects.get(pk=result.taken[0].pk)
    assert item.state == IntakeState.DONE, item.error_message
    assert item.channel == "email" and item.mime_type == "message/rfc822"
    assert item.source_key.startswith("imap:kwp:") and item.original_filename == (
        "Skarga na hałas.eml"
    )
    entry = IncomingItem.objects.get()
    assert entry == item.incoming_item
    assert entry.subject == "Skarga na hałas"
    assert entry.channel == "email"
    assert entry.attachments_count == 2
    assert entry.letter_date == timezone.localdate()
    assert "test-1@example.pl" in entry.remarks
    sender = Correspondent.objects.get(email="jan.kowalski@example.pl")
    assert entry.sender == sender and sender.name == "Jan Kowalski"

    documents = list(Document.objects.filter(incoming_item=entry).order_by("id"))
    assert [d.versions.get().original_filename for d in documents] == [
        "Skarga na hałas.eml",
        "skarga.pdf",
        "zdjęcie.pdf",  # the scan as a PDF after OCR (the PNG stays the child's original)
    ]
    assert [d.kind for d in documents] == ["pismo", "skan", "skan"]
    assert documents[0].metadata["format"] == "message/rfc822"
    assert documents[0].metadata["typ"] == {"klasa": "tekst", "rodzaj": "pismo"}
    assert "w załączeniu przesyłam" in documents[0].versions.get().text
    assert "wykroczeniu" in documents[1].versions.get().text
    parts = children(item)
    assert [p.state for p in parts] == [IntakeState.DONE, IntakeState.DONE]
    assert [p.source_key for p in parts] == [
        f"{item.source_key}:part:1",
        f"{item.source_key}:part:2",
    ]
    mail_result = IntakeStepResult.objects.get(item=item, step="mail")
    assert "Załączniki: 2" in mail_result.message

    # The message left the inbox for the done folder (created by the poll).
    assert dovecot.uids() == []
    assert len(dovecot.uids(imap.quote(imap.imap_utf7(DONE)))) == 1

    # Polling again finds nothing to take and registers nothing.
    again = poll(dovecot)
    assert again.ok and again.taken == [] and again.moved_only == 0
    assert IncomingItem.objects.count() == 1
    assert IntakeItem.objects.count() == 3
    assert Document.objects.count() == 3


def test_second_message_from_the_same_sender_reuses_the_address_book_entry(garrison, dovecot):
    dovecot.append(message(subject="Pierwsza"))
    dovecot.append(message(subject="Druga", sender="J. Kowalski <Jan.Kowalski@example.pl>"))
    result = poll(dovecot)
    assert len(result.taken) == 2
    assert Correspondent.objects.filter(email__iexact="jan.kowalski@example.pl").count() == 1
    assert {e.sender_id for e in IncomingItem.objects.all()} == {Correspondent.objects.get().pk}


# --- exactly once ------------------------------------------------------------------------------


class WorkerKilled(BaseException):
    """Stands for the process dying (not an error any code would catch)."""


def test_worker_killed_after_intake_before_move_only_moves_next_time(
    garrison, dovecot, monkeypatch
):
    dovecot.append(message(attachments=[("skarga.pdf", "application/pdf", text_pdf())]))

    def die(*args, **kwargs):
        raise WorkerKilled()

    monkeypatch.setattr(imap, "move_message", die)
    with pytest.raises(WorkerKilled):
        poll(dovecot)
    assert IncomingItem.objects.count() == 1
    assert IntakeItem.objects.count() == 2
    assert len(dovecot.uids()) == 1  # still in the inbox

    monkeypatch.undo()
    result = poll(dovecot)
    assert result.ok and result.taken == [] and result.moved_only == 1
    assert IncomingItem.objects.count() == 1
    assert IntakeItem.objects.count() == 2
    assert Document.objects.count() == 2
    assert dovecot.uids() == []
    assert len(dovecot.uids(imap.quote(imap.imap_utf7(DONE)))) == 1


def test_worker_killed_before_intake_fetches_the_message_again(garrison, dovecot, monkeypatch):
    dovecot.append(message())
    import garnizon.intake.services as services

    def die(**kwargs):
        raise WorkerKilled()

    monkeypatch.setattr(services, "intake_add_file", die)
    with pytest.raises(WorkerKilled):
        poll(dovecot)
    assert IntakeItem.objects.count() == 0 and len(dovecot.uids()) == 1

    monkeypatch.undo()
    result = poll(dovecot)
    assert len(result.taken) == 1 and IncomingItem.objects.count() == 1
    assert dovecot.uids() == []


def test_mail_step_rerun_after_a_crash_adds_nothing_twice(garrison, tmp_path):
    """The step killed half-way (entry registered, children made) and run again."""
    eml = tmp_path / "skarga.eml"
    eml.write_bytes(message(attachments=[("skarga.pdf", "application/pdf", text_pdf())]))
    item = intake_add_file(
        path=eml,
        unit=garrison.kwp,
        channel="email",
        requested_by=garrison.people["clerk"],
        run_now=True,
    ).item
    assert item.state == IntakeState.DONE
    # As if the worker had died after the step's work but before its result was recorded.
    IntakeStepResult.objects.filter(item=item, step="mail").delete()
    IntakeItem.objects.filter(pk=item.pk).update(state=IntakeState.RECEIVED, document=None)
    assert run_pipeline(item.pk) == IntakeState.DONE
    assert IncomingItem.objects.count() == 1
    assert Document.objects.count() == 2
    assert IntakeItem.objects.filter(parent=item).count() == 1
    item.refresh_from_db()
    assert item.document is not None


def test_uidvalidity_reset_does_not_take_a_message_twice(garrison, dovecot, monkeypatch):
    """The server renumbered the mailbox (new UIDVALIDITY) while a taken message was still
    in the inbox: it is recognised by its content and only moved."""
    dovecot.append(message())

    def die(*args, **kwargs):
        raise WorkerKilled()

    monkeypatch.setattr(imap, "move_message", die)
    with pytest.raises(WorkerKilled):
        poll(dovecot)
    monkeypatch.undo()
    item = IntakeItem.objects.get(parent=None)
    assert item.source_key.split(":")[2] == str(dovecot.uidvalidity())
    new_validity = dovecot.renumber_inbox()
    assert item.source_key.split(":")[2] != str(new_validity)

    result = poll(dovecot)
    assert result.taken == [] and result.moved_only == 1
    assert IncomingItem.objects.count() == 1 and IntakeItem.objects.filter(parent=None).count() == 1
    assert dovecot.uids() == []


def test_without_move_capability_copy_delete_expunge_and_no_second_copy(
    garrison, dovecot, monkeypatch
):
    real = imap._capabilities
    monkeypatch.setattr(imap, "_capabilities", lambda conn: real(conn) - {"MOVE"})
    dovecot.append(message(subject="Pierwsza"))
    assert len(poll(dovecot).taken) == 1
    done = imap.quote(imap.imap_utf7(DONE))
    assert dovecot.uids() == [] and len(dovecot.uids(done)) == 1

    # Died after COPY and \Deleted, before EXPUNGE: the next poll expunges without copying.
    dovecot.append(message(subject="Druga"))
    real_check = imap._check

    def die_after_store(typ, data, command):
        real_check(typ, data, command)
        if command == "STORE":  # copied and flagged \Deleted; EXPUNGE not sent yet
            raise WorkerKilled()

    monkeypatch.setattr(imap, "_check", die_after_store)
    with pytest.raises(WorkerKilled):
        poll(dovecot)
    monkeypatch.setattr(imap, "_check", real_check)
    assert len(dovecot.uids()) == 1 and len(dovecot.uids(done)) == 2
    result = poll(dovecot)
    assert result.moved_only == 1 and result.taken == []
    assert dovecot.uids() == [] and len(dovecot.uids(done)) == 2
    assert IncomingItem.objects.count() == 2


def test_message_is_fetched_in_pieces_byte_for_byte(garrison, dovecot, monkeypatch):
    raw = message(attachments=[("skarga.pdf", "application/pdf", text_pdf())])
    dovecot.append(raw)
    monkeypatch.setattr(imap, "FETCH_CHUNK", 1000)
    [item] = poll(dovecot).taken
    stored = get_blob_store().path(item.blob_sha256).read_bytes()
    assert len(stored) > 2000 and stored.replace(b"\r\n", b"\n") == raw  # three pieces
    # A message exactly one piece long ends there (no request past its end).
    monkeypatch.setattr(imap, "FETCH_CHUNK", len(stored))
    dovecot.append(raw.replace(b"test-1@", b"test-2@"))
    [second] = poll(dovecot).taken
    assert second.size == len(stored) and second.state == IntakeState.DONE


def test_message_over_the_size_limit_is_refused_into_quarantine(garrison, dovecot, settings):
    """Not fetched: an item in quarantine with the reason, the header kept on disk, the
    message kept in the mailbox's quarantine folder; no later poll meets it again."""
    from garnizon.audit.models import AuditEntry

    settings.GARNIZON_MAX_UPLOAD_MB = 1
    big = message(
        subject="Nagrania z monitoringu",
        attachments=[("duzy.pdf", "application/pdf", bytes(1200 * 1024))],
    )
    dovecot.append(big)
    dovecot.append(message(subject="Mała"))
    result = poll(dovecot)
    assert result.ok and len(result.taken) == 1 and result.failures == []
    [item] = result.refused
    item.refresh_from_db()
    assert item.state == IntakeState.QUARANTINED and item.blob_sha256 == ""
    assert item.size > 1200 * 1024 and item.channel == "email"
    reason = item.error_message
    assert "więcej niż dopuszczalne 1 MB, więc nie została pobrana" in reason
    assert "w folderze „Kwarantanna”" in reason and "Nagrania z monitoringu" in reason
    assert "jan.kowalski@example.pl" in reason
    header = Path(item.quarantine_path).read_bytes()
    assert b"Subject: Nagrania z monitoringu" in header and len(header) < 10_000
    assert Path(item.quarantine_path).parent.parent == Path(settings.GARNIZON_QUARANTINE_DIR)
    assert list(item.step_results.values_list("step", "outcome")) == [("mail", "failed")]
    (audit,) = AuditEntry.objects.filter(
        object_type="intake.intakeitem",
        object_id=str(item.pk),
        details__operation="intake_quarantine",
    )
    assert "nie została pobrana" in audit.details["reason"]
    assert dovecot.uids() == [] and len(dovecot.uids("Kwarantanna")) == 1
    assert len(dovecot.uids(imap.quote(imap.imap_utf7(DONE)))) == 1
    assert IncomingItem.objects.get().subject == "Mała"
    again = poll(dovecot)
    assert again.ok and again.taken == again.refused == [] and again.moved_only == 0
    assert IntakeItem.objects.filter(state=IntakeState.QUARANTINED).count() == 1


def test_refused_message_left_behind_by_a_dead_worker_goes_to_quarantine_next_time(
    garrison, dovecot, settings, monkeypatch
):
    settings.GARNIZON_MAX_UPLOAD_MB = 1
    dovecot.append(message(attachments=[("duzy.pdf", "application/pdf", bytes(1200 * 1024))]))

    def die(*args, **kwargs):
        raise WorkerKilled()

    monkeypatch.setattr(imap, "move_message", die)
    with pytest.raises(WorkerKilled):
        poll(dovecot)
    assert IntakeItem.objects.get().state == IntakeState.QUARANTINED
    assert len(dovecot.uids()) == 1  # recorded, not yet moved

    monkeypatch.undo()
    result = poll(dovecot)
    assert result.ok and result.refused == [] and result.moved_only == 1
    assert IntakeItem.objects.count() == 1
    assert dovecot.uids() == [] and len(dovecot.uids("Kwarantanna")) == 1
    assert dovecot.uids(imap.quote(imap.imap_utf7(DONE))) == []


# --- bad input ---------------------------------------------------------------------------------


def test_message_without_attachments_keeps_its_body_as_a_text_document(garrison, dovecot):
    msg = email.message_from_bytes(
        message(
            subject="",
            body="Proszę o informację w sprawie mandatu.",
            html='<p>Proszę o informację w sprawie <b>mandatu</b>.</p><img src="cid:logo">',
        ),
        policy=email.policy.default,
    )
    # The signature's logo inside the HTML body: not an attachment.
    msg.get_body(preferencelist=("html",)).add_related(
        png_bytes(), "image", "png", cid="<logo>", filename="image001.png", disposition="inline"
    )
    dovecot.append(msg.as_bytes())
    result = poll(dovecot)
    item = IntakeItem.objects.get(pk=result.taken[0].pk)
    assert item.state == IntakeState.DONE
    entry = item.incoming_item
    assert entry.subject == "Wiadomość e-mail bez tematu"
    assert entry.attachments_count == 0
    [body] = children(item)
    assert body.state == IntakeState.DONE and body.original_filename == "treść wiadomości.txt"
    assert body.mime_type == "text/plain"
    names = sorted(
        d.versions.get().original_filename for d in Document.objects.filter(incoming_item=entry)
    )
    assert names == ["Wiadomość e-mail bez tematu.eml", "treść wiadomości.txt"]
    message_text = IntakeStepResult.objects.get(item=item, step="mail").message
    assert "nie ma załączników" in message_text
    assert "Obrazy osadzone w treści (np. logo w podpisie): 1" in message_text


def test_zip_is_unpacked_one_level_and_a_nested_archive_is_quarantined(garrison, dovecot):
    inner = zip_bytes({"ukryty.pdf": text_pdf()})
    outer = zip_bytes({"dokumenty/wniosek.pdf": text_pdf("Wniosek"), "wewn.zip": inner})
    dovecot.append(message(attachments=[("paczka.zip", "application/zip", outer)]))
    item = IntakeItem.objects.get(pk=poll(dovecot).taken[0].pk)
    assert item.state == IntakeState.DONE
    parts = {p.original_filename: p for p in children(item)}
    assert set(parts) == {"wniosek.pdf", "wewn.zip"}
    assert parts["wniosek.pdf"].state == IntakeState.DONE
    nested = parts["wewn.zip"]
    assert nested.state == IntakeState.QUARANTINED
    assert "kolejnym archiwum" in nested.error_message
    assert Path(nested.quarantine_path).read_bytes() == inner
    assert nested.incoming_item == item.incoming_item
    step = IntakeStepResult.objects.get(item=item, step="mail").message
    assert "kolejnym archiwum" in step and "rozpakowano" in step
    # The entry has the message and the unpacked PDF; nothing of the inner archive.
    assert Document.objects.filter(incoming_item=item.incoming_item).count() == 2


@pytest.mark.parametrize(
    ("archive", "expected"),
    [
        (lambda: zip_bytes({"tajne.pdf": b"x" * 100}, encrypted=True), "zaszyfrowane"),
        (lambda: zip_bytes({"zera.txt": bytes(20 * 1024 * 1024)}), "bomba dekompresyjna"),
        (lambda: b"PK\x03\x04" + b"\x00" * 200, "uszkodzone"),
        (lambda: zip_bytes({f"{n}.txt": b"x" for n in range(101)}), "zbyt wiele plików"),
    ],
    ids=["encrypted", "bomb", "corrupt", "too-many"],
)
def test_refused_zip_is_quarantined_with_a_reason(garrison, dovecot, archive, expected):
    data = archive()
    dovecot.append(
        message(
            attachments=[
                ("archiwum.zip", "application/zip", data),
                ("pismo.pdf", "application/pdf", text_pdf()),
            ]
        )
    )
    item = IntakeItem.objects.get(pk=poll(dovecot).taken[0].pk)
    assert item.state == IntakeState.DONE and item.incoming_item is not None
    refused, letter = children(item)
    assert refused.state == IntakeState.QUARANTINED and expected in refused.error_message
    assert Path(refused.quarantine_path).read_bytes() == data
    assert letter.state == IntakeState.DONE
    assert expected in IntakeStepResult.objects.get(item=item, step="mail").message


def test_corrupt_pdf_attachment_is_quarantined_and_the_rest_is_registered(garrison, dovecot):
    broken = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\nthis is not a pdf\n%%EOF\n"
    dovecot.append(
        message(
            attachments=[
                ("zepsuty.pdf", "application/pdf", broken),
                ("zdjęcie.png", "image/png", png_bytes()),
            ]
        )
    )
    result = poll(dovecot)
    item = IntakeItem.objects.get(pk=result.taken[0].pk)
    assert item.state == IntakeState.DONE
    pdf, png = children(item)
    assert pdf.state == IntakeState.QUARANTINED and "PDF jest uszkodzony" in pdf.error_message
    assert png.state == IntakeState.DONE
    names = sorted(
        d.versions.get().original_filename
        for d in Document.objects.filter(incoming_item=item.incoming_item)
    )
    assert names == ["Skarga na hałas.eml", "zdjęcie.pdf"]
    assert dovecot.uids() == []  # the message is taken; the bad part waits in quarantine


def test_forwarded_message_and_rar_attachments(garrison, dovecot):
    forwarded = message(subject="Oryginał", attachments=[("a.pdf", "application/pdf", text_pdf())])
    msg = EmailMessage()
    msg["From"] = "anna@example.pl"
    msg["To"] = "kancelaria@lu.policja.gov.pl"
    msg["Subject"] = "Fwd: Oryginał"
    msg["Date"] = format_datetime(timezone.now())
    msg.set_content("Przekazuję.")
    # One attached as mail clients do (8bit), one base64-encoded as some mailers do.
    msg.add_attachment(email.message_from_bytes(forwarded, policy=email.policy.default))
    msg.add_attachment(forwarded, maintype="message", subtype="rfc822")
    msg.add_attachment(
        b"Rar!\x1a\x07\x00" + b"\x00" * 50,
        maintype="application",
        subtype="x-rar",
        filename="stare.rar",
    )
    dovecot.append(msg.as_bytes())
    item = IntakeItem.objects.get(pk=poll(dovecot).taken[0].pk)
    eml, encoded, rar = children(item)
    # The forwarded message is one .eml document (its own attachments stay inside it).
    for part, number in ((eml, 1), (encoded, 2)):
        assert part.state == IntakeState.DONE and part.mime_type == "message/rfc822"
        assert part.original_filename == f"Oryginał ({number}).eml"
        assert get_blob_store().path(part.blob_sha256).read_bytes().startswith(b"Received:")
    assert rar.state == IntakeState.QUARANTINED and "RAR" in rar.error_message
    assert IncomingItem.objects.count() == 1


# --- mailbox errors ----------------------------------------------------------------------------


def test_wrong_password_gives_a_polish_message_and_takes_nothing(garrison, dovecot, tmp_path):
    dovecot.append(message())
    wrong = tmp_path / "wrong"
    wrong.write_text("złe-hasło\n")
    result = poll(dovecot, password_file=str(wrong))
    assert result.taken == [] and not result.ok
    assert "odrzucił logowanie do skrzynki „kwp”" in result.error
    assert "Authentication failed. Sprawdź nazwę użytkownika i hasło" in result.error
    assert "złe-hasło" not in result.error
    assert IntakeItem.objects.count() == 0 and len(dovecot.uids()) == 1


def test_unreachable_server_and_missing_password(garrison, dovecot, monkeypatch):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    result = poll(dovecot, port=closed)
    assert "Nie można połączyć się z serwerem poczty 127.0.0.1" in result.error
    monkeypatch.delenv("KWP_IMAP", raising=False)
    result = poll(dovecot, password_file="", password_env="KWP_IMAP")
    assert "zmienna środowiska KWP_IMAP jest pusta" in result.error
    monkeypatch.setenv("KWP_IMAP", dovecot.password)
    assert poll(dovecot, password_file="", password_env="KWP_IMAP").ok


def test_tls_and_starttls_with_the_units_ca(garrison, dovecot):
    dovecot.append(message(subject="Po TLS"))
    ca = str(dovecot.ca_file)
    result = poll(dovecot, security="ssl", port=dovecot.ssl_port, ca_file=ca)
    assert result.ok and len(result.taken) == 1
    dovecot.append(message(subject="Po STARTTLS"))
    result = poll(dovecot, security="starttls", ca_file=ca)
    assert result.ok and len(result.taken) == 1
    # Without the CA the server's certificate is not trusted: refused, nothing taken.
    dovecot.append(message(subject="Bez CA"))
    result = poll(dovecot, security="ssl", port=dovecot.ssl_port)
    assert "szyfrowanego połączenia" in result.error
    assert IncomingItem.objects.count() == 2


def test_a_mailbox_being_polled_elsewhere_is_skipped(garrison, dovecot):
    """Another machine's poll holds the mailbox's lease in the database: skipped; once
    that lease has expired (its poller died), the mailbox is taken over."""
    dovecot.append(message())
    LeaseRow.objects.create(
        name="imap:kwp",
        owner="kpp-swidnik:4242:0a1b2c3d",
        lease_until=timezone.now() + datetime.timedelta(minutes=5),
    )
    result = poll(dovecot)
    assert result.busy and result.taken == [] and not result.error
    assert IntakeItem.objects.count() == 0 and len(dovecot.uids()) == 1
    assert LeaseRow.objects.get().owner == "kpp-swidnik:4242:0a1b2c3d"  # untouched

    LeaseRow.objects.update(lease_until=timezone.now() - datetime.timedelta(seconds=1))
    assert len(poll(dovecot).taken) == 1
    lease = LeaseRow.objects.get()
    assert lease.lease_until is None  # released at the end of the poll
    assert lease.owner.startswith(f"{socket.gethostname()}:{os.getpid()}:")


def test_the_mailbox_lease_is_taken_once_and_released(garrison):
    first = imap.mailbox_lease("kwp")
    assert first is not None and first.name == "imap:kwp"
    assert imap.mailbox_lease("kwp") is None  # a second poller, here or on another machine
    assert imap.mailbox_lease("kpp") is not None  # other mailboxes are independent
    assert first.renew()
    first.release()
    second = imap.mailbox_lease("kwp")
    assert second is not None and second.owner != first.owner
    assert not first.renew()  # the old holder cannot extend a lease it no longer has


def test_a_poll_that_lost_its_lease_stops_before_the_next_message(garrison, dovecot):
    """A poll too slow to renew its lease, whose mailbox another machine took over, takes
    no further message: that poll goes on with them."""
    dovecot.append(message(subject="Pierwsza"))
    dovecot.append(message(subject="Druga"))

    def taken_over(done: int, total: int) -> None:
        LeaseRow.objects.update(
            owner="kpp-swidnik:4242:0a1b2c3d",
            lease_until=timezone.now() + datetime.timedelta(minutes=5),
        )

    result = poll_mailbox(mailbox(dovecot), run_now=True, progress=taken_over)
    assert len(result.taken) == 1 and "przejął ją inny proces" in result.error
    assert len(dovecot.uids()) == 1 and IncomingItem.objects.get().subject == "Pierwsza"
    assert LeaseRow.objects.get().owner == "kpp-swidnik:4242:0a1b2c3d"  # not released


def test_unknown_folder_and_unit(garrison, dovecot):
    assert "nie ma folderu „Skany”" in poll(dovecot, folder="Skany").error
    assert "nie ma jednostki KPP-XX" in poll(dovecot, unit="KPP-XX").error


def test_queued_mode_moves_at_once_and_the_worker_makes_the_children(garrison, dovecot):
    dovecot.append(message(attachments=[("skarga.pdf", "application/pdf", text_pdf())]))
    result = poll_mailbox(mailbox(dovecot), run_now=False)
    [item] = result.taken
    assert item.state == IntakeState.RECEIVED and dovecot.uids() == []
    assert run_pipeline(item.pk) == IntakeState.DONE  # what db_worker does
    item.refresh_from_db()
    [part] = children(item)
    assert part.state == IntakeState.RECEIVED  # queued for the worker in turn
    assert run_pipeline(part.pk) == IntakeState.DONE
    assert Document.objects.filter(incoming_item=item.incoming_item).count() == 2


# --- configuration and command -----------------------------------------------------------------


def test_configuration_is_checked(tmp_path):
    base = {
        "name": "kwp",
        "unit": "KWP",
        "host": "poczta.example.pl",
        "user": "k",
        "requested_by": "clerk",
        "password_env": "X",
    }
    import json

    [config] = parse_mailboxes(json.dumps([base]))
    assert (config.port, config.security, config.folder, config.done_folder) == (
        993,
        "ssl",
        "INBOX",
        "Przyjęte",
    )
    assert config.quarantine_folder == "Kwarantanna"
    assert parse_mailboxes("") == []
    bad = [
        (json.dumps([base | {"quarantine_folder": "Przyjęte"}]), "„quarantine_folder”"),
        ("{", "poprawny JSON"),
        (json.dumps([base | {"security": "none"}]), "tylko z 127.0.0.1"),
        (json.dumps([base | {"password_file": "/etc/x"}]), "dokładnie jedno"),
        (json.dumps([{k: v for k, v in base.items() if k != "host"}]), "brak pola „host”"),
        (json.dumps([base | {"pasword": "x"}]), "nieznane pola: pasword"),
        (json.dumps([base, base]), "powtarza się"),
        (json.dumps([base | {"port": "993"}]), "„port”"),
        (
            json.dumps([{**base, "password_env": "", "password_file": str(imap._CHECKOUT / "pw")}]),
            "katalogu z kodem",
        ),
    ]
    for raw, expected in bad:
        with pytest.raises(ImproperlyConfigured, match=expected):
            parse_mailboxes(raw)


def test_imap_folder_names_are_modified_utf7():
    assert imap.imap_utf7("Przyjęte") == "Przyj&ARk-te"
    assert imap.imap_utf7("A&B") == "A&-B"
    assert imap.imap_utf7("Zażółć") == "Za&AXwA8wFCAQc-"


def test_command_polls_the_configured_mailboxes(garrison, dovecot, settings, capsys):
    settings.GARNIZON_IMAP_MAILBOXES = [mailbox(dovecot)]
    dovecot.append(message(attachments=[("skarga.pdf", "application/pdf", text_pdf())]))
    call_command("intake", "mail", "--sync")
    out = capsys.readouterr().out
    assert "kwp: wiadomości przyjęte: 1" in out and "Zarejestrowano: 1" in out
    assert IntakeItem.objects.count() == 2 and dovecot.uids() == []
    with pytest.raises(CommandError, match="Nie ma skrzynki „kmp”"):
        call_command("intake", "mail", "--mailbox", "kmp")
    settings.GARNIZON_IMAP_MAILBOXES = [mailbox(dovecot, password_file="/nonexistent")]
    with pytest.raises(CommandError):
        call_command("intake", "mail")
    assert "Nie można odczytać hasła" in capsys.readouterr().out


def test_command_add_takes_a_mailbox_export_with_its_attachments(garrison, tmp_path, capsys):
    eml = tmp_path / "eksport.eml"
    eml.write_bytes(message(attachments=[("skarga.pdf", "application/pdf", text_pdf())]))
    call_command(
        "intake",
        "add",
        str(eml),
        "--unit",
        "KWP",
        "--as",
        "clerk_kwp",
        "--sync",
    )
    item = IntakeItem.objects.get(parent=None)
    assert item.state == IntakeState.DONE and item.original_filename == "Skarga na hałas.eml"
    assert item.channel == "paper" and item.incoming_item.channel == "email"
    [part] = children(item)
    assert part.state == IntakeState.DONE
    assert Document.objects.filter(incoming_item=item.incoming_item).count() == 2
