"""The intake pipeline: steps, claiming, channels (hot folder, CLI) and a real worker."""

from __future__ import annotations

import datetime
import hashlib
import io
import struct
import zlib
from pathlib import Path

import pikepdf
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image

from garnizon.audit.models import AuditEntry
from garnizon.documents.blobstore import get_blob_store
from garnizon.documents.models import Document
from garnizon.intake.channels.hotfolder import scan_hot_folder
from garnizon.intake.models import IntakeItem, IntakeState, IntakeStepResult
from garnizon.intake.pipeline import STALE_AFTER, run_pipeline
from garnizon.intake.services import IntakeFile, intake_add_file, intake_add_files, intake_retry
from garnizon.intake.tasks import process_intake_item
from garnizon.registry.models import IncomingItem
from tests.workers import run_db_worker_batch


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"


def pdf_bytes(**save) -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    buffer = io.BytesIO()
    pdf.save(buffer, **save)
    return buffer.getvalue()


def png_bytes(size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, "PNG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims other dimensions (valid CRC)."""
    data = bytearray(png_bytes((1, 1)))
    ihdr = bytearray(data[12:29])  # type + 13 bytes of IHDR data
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


def write(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def add(g, path, **kwargs):
    kwargs.setdefault("run_now", True)
    return intake_add_file(
        path=path, unit=g.kwp, channel="paper", requested_by=g.people["clerk"], **kwargs
    ).item


def steps(item) -> list[tuple[str, str]]:
    return list(
        IntakeStepResult.objects.filter(item=item).order_by("id").values_list("step", "outcome")
    )


# --- good files -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "mime"),
    [
        ("Skarga Kowalskiego.pdf", pdf_bytes(), "application/pdf"),
        ("skan.png", png_bytes(), "image/png"),
    ],
)
def test_a_good_file_ends_done_with_an_incoming_item_and_its_document(
    garrison, tmp_path, name, content, mime
):
    item = add(garrison, write(tmp_path / "in", name, content))
    assert item.state == IntakeState.DONE, item.error_message
    assert item.mime_type == mime
    assert item.incoming_item.unit == garrison.kwp
    assert item.incoming_item.channel == "paper"
    assert item.incoming_item.subject == Path(name).stem
    assert item.incoming_item.registered_by == garrison.people["clerk"]
    version = item.document.versions.get()
    assert item.document.incoming_item == item.incoming_item
    assert item.blob_sha256 == hashlib.sha256(content).hexdigest()  # the original, kept
    assert get_blob_store().check(item.blob_sha256) is None
    assert get_blob_store().check(version.blob_sha256) is None
    if mime == "application/pdf":  # no pictures to read: attached as it is
        assert version.blob_sha256 == item.blob_sha256
        assert version.original_filename == name
    else:  # an image is attached as a PDF (after OCR)
        assert version.mime_type == "application/pdf"
        assert version.original_filename == Path(name).stem + ".pdf"
    assert steps(item) == [
        ("preflight", "ok"),
        ("antivirus", "skipped"),  # GARNIZON_CLAMD is empty in tests
        ("mail", "skipped"),
        ("barcodes", "ok"),
        ("split", "skipped"),
        ("ocr", "ok"),
        ("match", "skipped"),
        ("register", "ok"),
        ("attach", "ok"),
        ("thumbnail", "ok"),
        ("index", "ok"),
    ]
    assert item.attempts == 1 and item.finished_at is not None


def test_an_extension_that_lies_is_recorded_not_refused(garrison, tmp_path):
    item = add(garrison, write(tmp_path, "scan.pdf", png_bytes()))
    assert item.state == IntakeState.DONE
    assert item.mime_type == "image/png"
    message = item.step_results.get(step="preflight").message
    assert "Rozszerzenie nazwy nie odpowiada zawartości" in message


# --- idempotency and claiming --------------------------------------------------------------------


def test_running_the_task_twice_makes_one_incoming_item_and_one_document(garrison, tmp_path):
    item = add(garrison, write(tmp_path, "a.pdf", pdf_bytes()))
    assert process_intake_item.call(item.pk) is None  # not free any more
    assert run_pipeline(item.pk) is None
    assert IncomingItem.objects.count() == 1
    assert Document.objects.count() == 1


def test_the_same_file_again_returns_the_first_item(garrison, tmp_path):
    path = write(tmp_path, "a.pdf", pdf_bytes())
    first = add(garrison, path)
    again = intake_add_file(
        path=path, unit=garrison.kwp, channel="paper", requested_by=garrison.people["clerk"]
    )
    assert again.created is False and again.item.pk == first.pk
    assert IntakeItem.objects.count() == 1


def queued_items() -> list[int]:
    from django_tasks_db.models import DBTaskResult

    tasks = DBTaskResult.objects.filter(task_path=process_intake_item.module_path)
    return sorted(task.args_kwargs["args"][0] for task in tasks)


def test_several_files_at_once_each_once_and_queued_once(garrison, tmp_path):
    old = add(garrison, write(tmp_path, "old.pdf", pdf_bytes()), run_now=False)
    new_path = write(tmp_path, "new.txt", "Treść pisma".encode())
    files = [
        IntakeFile(
            path=path, unit=garrison.kwp, channel="paper", requested_by=garrison.people["clerk"]
        )
        for path in (tmp_path / "old.pdf", new_path, new_path)
    ]
    known, made, twice = intake_add_files(files)
    assert (known.item.pk, known.created) == (old.pk, False)
    assert made.created is True and made.item.original_filename == "new.txt"
    assert (twice.item.pk, twice.created) == (made.item.pk, False)
    assert IntakeItem.objects.count() == 2
    assert queued_items() == sorted([old.pk, made.item.pk])  # each item queued once


def test_a_file_taken_by_a_concurrent_intake_is_returned_not_doubled(
    garrison, tmp_path, monkeypatch
):
    """Another transaction inserts the same file between this call's check and its
    INSERT (the check cannot see it yet): the INSERT fails on the unique key and
    each file is then taken as `get_or_create` takes it."""
    path = write(tmp_path, "a.txt", b"raz")
    other = write(tmp_path, "b.txt", b"dwa")
    clerk = garrison.people["clerk"]
    raced = intake_add_file(path=path, unit=garrison.kwp, channel="paper", requested_by=clerk)
    real_filter = type(IntakeItem.objects).filter

    def check_not_seeing_it(manager, *args, **kwargs):
        if "source_key__in" in kwargs:  # the other transaction has not committed yet
            return IntakeItem.objects.none()
        return real_filter(manager, *args, **kwargs)

    monkeypatch.setattr(type(IntakeItem.objects), "filter", check_not_seeing_it)
    first, second = intake_add_files(
        [
            IntakeFile(path=path, unit=garrison.kwp, channel="paper", requested_by=clerk),
            IntakeFile(path=other, unit=garrison.kwp, channel="paper", requested_by=clerk),
        ]
    )
    assert (first.item.pk, first.created) == (raced.item.pk, False)
    assert second.created is True
    assert IntakeItem.objects.count() == 2
    assert queued_items() == sorted([raced.item.pk, second.item.pk])


def test_a_rerun_after_a_crash_reuses_what_was_already_created(garrison, tmp_path):
    item = add(garrison, write(tmp_path, "a.pdf", pdf_bytes()))
    incoming, document = item.incoming_item_id, item.document_id
    # The worker died after the register and the upload but before saving the links.
    IntakeItem.objects.filter(pk=item.pk).update(
        state=IntakeState.RECEIVED, incoming_item=None, document=None
    )
    assert run_pipeline(item.pk) == IntakeState.DONE
    item.refresh_from_db()
    assert (item.incoming_item_id, item.document_id) == (incoming, document)
    assert IncomingItem.objects.count() == 1 and Document.objects.count() == 1


def test_steps_already_done_are_skipped(garrison, tmp_path):
    item = add(garrison, write(tmp_path, "a.pdf", pdf_bytes()))
    IntakeItem.objects.filter(pk=item.pk).update(state=IntakeState.RECEIVED)
    run_pipeline(item.pk)
    assert steps(item)[-11:] == [
        ("preflight", "ok"),
        ("antivirus", "skipped"),
        ("mail", "skipped"),
        ("barcodes", "skipped"),
        ("split", "skipped"),
        ("ocr", "skipped"),
        ("match", "skipped"),
        ("register", "skipped"),
        ("attach", "skipped"),
        ("thumbnail", "skipped"),
        ("index", "ok"),  # indexing again is cheap and catches up a failed signal
    ]


def test_a_stale_claim_is_taken_again_and_a_fresh_one_is_not(garrison, tmp_path):
    item = add(garrison, write(tmp_path, "a.pdf", pdf_bytes()), run_now=False)
    fresh = timezone.now() - datetime.timedelta(minutes=1)
    IntakeItem.objects.filter(pk=item.pk).update(state=IntakeState.PROCESSING, claimed_at=fresh)
    assert run_pipeline(item.pk) is None
    item.refresh_from_db()
    assert item.state == IntakeState.PROCESSING and item.incoming_item is None

    stale = timezone.now() - STALE_AFTER - datetime.timedelta(seconds=1)
    IntakeItem.objects.filter(pk=item.pk).update(claimed_at=stale)
    assert run_pipeline(item.pk) == IntakeState.DONE
    item.refresh_from_db()
    assert item.state == IntakeState.DONE and item.attempts == 1
    assert IncomingItem.objects.count() == 1


# --- bad input ------------------------------------------------------------------------------------


def truncated_pdf() -> bytes:
    data = pdf_bytes()
    return data[: data.rindex(b"%%EOF") - 100]


@pytest.mark.parametrize(
    ("name", "content", "state", "words"),
    [
        ("pusty.pdf", b"", IntakeState.FAILED, "pusty"),
        ("ucięty.pdf", truncated_pdf(), IntakeState.QUARANTINED, "niekompletny"),
        (
            "śmieci.pdf",
            b"%PDF-1.7\n" + b"x" * 500 + b"\n%%EOF\n",
            IntakeState.QUARANTINED,
            "uszkodzony",
        ),
        (
            "tajny.pdf",
            pdf_bytes(encryption=pikepdf.Encryption(user="tajne", owner="tajne")),
            IntakeState.FAILED,
            "hasłem",
        ),
        (
            "program.pdf",
            b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)) * 4,
            IntakeState.QUARANTINED,
            "nieznanego rodzaju",
        ),
        ("archiwum.zip", b"PK\x03\x04" + b"\x00" * 100, IntakeState.QUARANTINED, "application/zip"),
        ("bomba.png", png_claiming(30000, 30000), IntakeState.QUARANTINED, "bomba"),
        ("zepsuty.png", png_bytes()[:60], IntakeState.QUARANTINED, "uszkodzony"),
    ],
)
def test_bad_input_ends_in_a_clear_state_with_the_original_kept(
    garrison, tmp_path, name, content, state, words
):
    item = add(garrison, write(tmp_path, name, content))
    assert item.state == state
    assert words in item.error_message
    assert item.incoming_item is None and item.document is None
    assert steps(item) == [("preflight", "failed")]
    assert get_blob_store().check(item.blob_sha256) is None  # the original is in the store
    if state == IntakeState.QUARANTINED:
        copy = Path(item.quarantine_path)
        assert copy.parent.parent == tmp_path / "quarantine"
        assert copy.read_bytes() == content
    audits = AuditEntry.objects.filter(
        object_type="intake.intakeitem",
        object_id=str(item.pk),
        details__operation="intake_quarantine",
    )
    if state == IntakeState.QUARANTINED:  # a security event, in the audit trail
        (audit,) = audits
        assert audit.details["sha256"] == item.blob_sha256
        assert audit.details["requested_by"] == garrison.people["clerk"].username
        assert words in audit.details["reason"]
    else:
        assert not audits.exists()
    assert IncomingItem.objects.count() == 0


def test_an_owner_password_only_pdf_is_taken_with_a_note(garrison, tmp_path):
    content = pdf_bytes(encryption=pikepdf.Encryption(user="", owner="wlasciciel"))
    item = add(garrison, write(tmp_path, "ograniczony.pdf", content))
    assert item.state == IntakeState.DONE
    assert "ograniczenia uprawnień" in item.step_results.get(step="preflight").message


def test_a_file_over_the_limit_fails_and_is_not_stored(garrison, tmp_path, settings):
    settings.GARNIZON_MAX_UPLOAD_MB = 1
    item = add(garrison, write(tmp_path, "duży.pdf", b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 1)))
    assert item.state == IntakeState.FAILED
    assert "za duży" in item.error_message
    assert item.blob_sha256 == ""
    assert item.source_key.startswith("sha256:")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("..\\..\\windows\\zlo.pdf", "zlo.pdf"),
        ("../../etc/pismo.pdf", "pismo.pdf"),
        ("fak\u202etura\x00\x07.pdf", "faktura.pdf"),
    ],
)
def test_names_with_separators_and_control_characters_are_made_safe(
    garrison, tmp_path, given, stored
):
    item = add(garrison, write(tmp_path, "x.pdf", pdf_bytes()), filename=given)
    assert item.state == IntakeState.DONE
    assert item.original_filename == stored
    assert item.document.versions.get().original_filename == stored


def test_a_failure_in_a_later_step_can_be_retried(garrison, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("garnizon.documents.services.document_add", broken)
    item = add(garrison, write(tmp_path, "a.pdf", pdf_bytes()))
    assert item.state == IntakeState.FAILED
    assert "Nieoczekiwany błąd w kroku „attach”" in item.error_message
    assert item.incoming_item is not None and item.document is None
    monkeypatch.undo()

    item = intake_retry(item_id=item.pk, run_now=True)
    assert item.state == IntakeState.DONE and item.attempts == 2
    assert IncomingItem.objects.count() == 1 and Document.objects.count() == 1
    with pytest.raises(Exception, match="Ponowić można tylko"):
        intake_retry(item_id=item.pk)


def test_someone_who_may_not_register_in_the_unit_is_refused(garrison, tmp_path):
    with pytest.raises(Exception, match="nie może rejestrować"):
        intake_add_file(
            path=write(tmp_path, "a.pdf", pdf_bytes()),
            unit=garrison.kwp,
            channel="paper",
            requested_by=garrison.people["kmp_clerk"],
        )
    assert IntakeItem.objects.count() == 0


# --- hot folder -----------------------------------------------------------------------------------


def test_the_hot_folder_takes_only_stable_files_and_moves_them(garrison, tmp_path):
    folder = tmp_path / "skaner"
    write(folder, "dobry.pdf", pdf_bytes())
    write(folder, "pusty.pdf", b"")
    growing = write(folder, "w-trakcie.pdf", b"%PDF-1.4\n")
    write(folder, ".ukryty.pdf", pdf_bytes())
    write(folder, "zapis.pdf.part", pdf_bytes())
    write(folder, "~$tymczasowy.docx", b"x")

    def scanner_still_writing(seconds: float) -> None:
        with growing.open("ab") as handle:
            handle.write(b"more")

    report = scan_hot_folder(
        folder,
        unit=garrison.kwp,
        requested_by=garrison.people["clerk"],
        run_now=True,
        wait=scanner_still_writing,
    )
    assert report.unstable == ["w-trakcie.pdf"]
    assert sorted(i.original_filename for i in report.taken) == ["dobry.pdf", "pusty.pdf"]
    assert (folder / "done" / "dobry.pdf").exists()
    assert (folder / "failed" / "pusty.pdf").exists()
    left = sorted(p.name for p in folder.iterdir() if p.is_file())
    assert left == [".ukryty.pdf", "w-trakcie.pdf", "zapis.pdf.part", "~$tymczasowy.docx"]
    assert IntakeItem.objects.count() == 2


# --- command line ---------------------------------------------------------------------------------


def run_cli(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    call_command("intake", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_cli_add_with_sync_prints_a_summary(garrison, tmp_path):
    folder = tmp_path / "paczka"
    write(folder, "a.pdf", pdf_bytes())
    write(folder / "pod", "b.png", png_bytes())
    out = run_cli("add", str(folder), "--unit", "KWP", "--as", "clerk_kwp", "--sync")
    assert "Zarejestrowano: 2" in out
    assert "Niepowodzenia: 0" in out
    assert IntakeItem.objects.filter(state=IntakeState.DONE).count() == 2
    status = run_cli("status", "--state", "done")
    assert "a.pdf" in status and "Razem: 2" in status


def test_cli_add_reports_failures_with_reasons_and_exit_status_1(garrison, tmp_path):
    good = write(tmp_path, "a.pdf", pdf_bytes())
    empty = write(tmp_path, "pusty.pdf", b"")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command(
            "intake",
            "add",
            str(good),
            str(empty),
            "--unit",
            "KWP",
            "--as",
            "clerk_kwp",
            "--sync",
            stdout=out,
            stderr=err,
        )
    assert error.value.returncode == 1
    assert "Zarejestrowano: 1" in out.getvalue()
    assert "Niepowodzenia: 1" in out.getvalue()
    assert "pusty.pdf: #" in out.getvalue() and "pusty" in out.getvalue()
    assert "2/2" in err.getvalue()


def test_cli_add_without_sync_enqueues(garrison, tmp_path):
    out = run_cli(
        "add", str(write(tmp_path, "a.pdf", pdf_bytes())), "--unit", "KWP", "--as", "clerk_kwp"
    )
    assert "W kolejce: 1" in out
    from django_tasks_db.models import DBTaskResult

    assert DBTaskResult.objects.count() == 1
    assert IntakeItem.objects.get().state == IntakeState.RECEIVED


# --- a real worker ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_enqueued_item_is_processed_by_a_real_db_worker(garrison, tmp_path, settings):
    item = add(garrison, write(tmp_path, "a.pdf", pdf_bytes()), run_now=False)
    assert item.state == IntakeState.RECEIVED
    result = run_db_worker_batch(
        GARNIZON_BLOB_DIR=str(settings.GARNIZON_BLOB_DIR),
        GARNIZON_QUARANTINE_DIR=str(settings.GARNIZON_QUARANTINE_DIR),
    )
    assert result.returncode == 0, result.stderr
    item.refresh_from_db()
    assert item.state == IntakeState.DONE, (item.error_message, result.stderr)
    assert IncomingItem.objects.count() == 1 and Document.objects.count() == 1


def test_a_crash_while_attaching_an_ocred_scan_leaves_no_second_document(
    garrison, tmp_path, monkeypatch
):
    """OCR output differs from run to run, so only the transaction keeps the
    document and the item's link together: a crash between them must undo both."""
    from garnizon.intake.services import intake_retry

    item = add(garrison, write(tmp_path, "skan.png", png_bytes()), run_now=False)
    real_save = IntakeItem.save
    crashed: list[bool] = []

    def crash_once(self, *args, **kwargs):
        if kwargs.get("update_fields") == ["document"] and not crashed:
            crashed.append(True)
            raise RuntimeError("worker killed")
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(IntakeItem, "save", crash_once)
    assert run_pipeline(item.pk) == IntakeState.FAILED
    assert crashed and Document.objects.count() == 0
    monkeypatch.setattr(IntakeItem, "save", real_save)
    intake_retry(item_id=item.pk, run_now=True)
    item.refresh_from_db()
    assert item.state == IntakeState.DONE
    assert Document.objects.count() == 1 and item.document is not None


@pytest.mark.django_db(transaction=True)
def test_the_pipeline_makes_the_thumbnail_and_index_once(garrison, tmp_path):
    """No second thumbnail task and no second analysis of the text: the `thumbnail` step
    makes the picture, and the `index` step finds what the save signals already indexed."""
    from django_tasks_db.models import DBTaskResult

    from garnizon.search.models import SearchEntry

    item = add(garrison, write(tmp_path, "skan.png", png_bytes((400, 300))))
    assert item.state == IntakeState.DONE, item.error_message
    version = item.document.versions.get()
    assert version.thumbnail_sha256
    assert get_blob_store().check(version.thumbnail_sha256) is None
    assert not DBTaskResult.objects.filter(task_path__endswith="make_thumbnail").exists()
    index = item.step_results.get(step="index")
    assert index.message == "Zaindeksowano do wyszukiwania: 0 (już w indeksie: 2)."
    assert SearchEntry.objects.filter(object_type="version", object_id=version.pk).count() == 1
