"""The citizen portal through Django's test client: flows, errors, deadlines, abuse, receipts."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import re
from pathlib import Path
from urllib.parse import quote

import pikepdf
import pypdfium2
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation.reloader import translation_file_changed

from garnizon.cases.deadlines import DeadlineKind, official_deadline
from garnizon.documents.blobstore import get_blob_store
from garnizon.intake.models import IntakeItem
from garnizon.org.models import Person
from garnizon.portal.models import Submission
from garnizon.portal.services import submission_status
from garnizon.registry.models import Channel, IncomingItem
from tests.factories import PASSWORD

PORTAL_DIR = Path(__file__).resolve().parent.parent / "src" / "garnizon" / "portal"


@pytest.fixture(scope="module", autouse=True)
def _portal_catalogues() -> None:
    """Compile the portal's catalogues if the .mo files are missing or stale (a clean checkout)."""
    stale = False
    for lang in ("en", "uk"):
        po = PORTAL_DIR / "locale" / lang / "LC_MESSAGES" / "django.po"
        mo = po.with_suffix(".mo")
        stale |= not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime
    if stale:
        with contextlib.chdir(PORTAL_DIR):
            call_command("compilemessages", locale=["en", "uk"], verbosity=0)
        translation_file_changed(None, PORTAL_DIR / "locale" / "en" / "LC_MESSAGES" / "django.mo")


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_MAX_UPLOAD_MB = 1
    cache.clear()
    with translation.override("pl"):
        yield
    cache.clear()


def pdf_bytes() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def upload(name: str, content: bytes) -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def step_url(service: str, slug: str) -> str:
    return reverse("portal:step", args=[service, slug])


def post_ok(client: Client, url: str, data: dict) -> None:
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]


def fill_letter(client: Client, unit, *, files: list | None = None, **fields) -> None:
    post_ok(client, step_url("pismo", "jednostka"), {"unit": unit.pk})
    post_ok(
        client,
        step_url("pismo", "nadawca"),
        {
            "name": fields.get("name", "Jan Kowalski"),
            "email": fields.get("email", "jan@example.pl"),
            "address": fields.get("address", "ul. Lipowa 1, 20-001 Lublin"),
        },
    )
    post_ok(
        client,
        step_url("pismo", "tresc"),
        {
            "subject": fields.get("subject", "Prośba o kontakt dzielnicowego"),
            "text": fields.get("text", "Proszę o kontakt w sprawie hałasu na osiedlu."),
        },
    )
    post_ok(client, step_url("pismo", "zalaczniki"), {"files": files or []})


def fill_complaint(
    client: Client, unit, *, anonymous: bool = False, is_mp: bool = False, kind: str = "skarga"
) -> None:
    post_ok(client, step_url("skarga", "jednostka"), {"unit": unit.pk})
    post_ok(client, step_url("skarga", "rodzaj"), {"kind": kind})
    post_ok(
        client,
        step_url("skarga", "tresc"),
        {"subject": "Zachowanie funkcjonariusza", "text": "Opis zdarzenia z 3 listopada."},
    )
    post_ok(client, step_url("skarga", "anonimowosc"), {"anonymous": "yes" if anonymous else "no"})
    if not anonymous:
        data = {"name": "Anna Nowak", "email": "anna@example.pl", "address": ""}
        if is_mp:
            data["is_mp"] = "on"
        post_ok(client, step_url("skarga", "dane"), data)
    post_ok(client, step_url("skarga", "zalaczniki"), {})


def submit(client: Client, service: str):
    """Open the check page, send it; return the response to the POST and the form token."""
    page = client.get(reverse("portal:check", args=[service]))
    assert page.status_code == 200, page.content.decode()[:2000]
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page.content.decode()).group(1)
    return client.post(reverse("portal:check", args=[service]), {"form_token": token}), token


def confirmation_token(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    match = re.search(r"/portal/wyslano/([0-9a-f]+)/", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def pdf_text(data: bytes) -> str:
    pdf = pypdfium2.PdfDocument(data)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


# --- the general letter --------------------------------------------------------------------


def test_a_general_letter_is_registered_in_the_chosen_unit_with_its_files_in_intake(garrison):
    client = Client()
    fill_letter(client, garrison.kmp, files=[upload("skan.pdf", pdf_bytes())])
    response, form_token = submit(client, "pismo")
    token = confirmation_token(response)

    item = IncomingItem.objects.get()
    assert item.unit == garrison.kmp
    assert item.channel == Channel.PORTAL
    assert item.subject == "Prośba o kontakt dzielnicowego"
    assert item.sender_name == "Jan Kowalski"
    assert item.attachments_count == 1
    assert item.kind == DeadlineKind.NONE and item.due_date is None
    assert item.client_token == form_token
    assert "jan@example.pl" in item.remarks
    submission = Submission.objects.get()
    assert submission.incoming_item == item and submission.service == "pismo"
    # The filed text and the attachment both went to intake, attached to this entry.
    intake = IntakeItem.objects.filter(incoming_item=item).order_by("pk")
    assert [i.original_filename for i in intake] == [
        f"{item.registration_number.replace('/', '-')}-tresc.txt",
        "skan.pdf",
    ]
    assert all(i.channel == Channel.PORTAL and i.unit == garrison.kmp for i in intake)
    # Only a hash of the tracking token is stored.
    assert token not in json.dumps(list(Submission.objects.values()), default=str)
    assert submission.tracking_token_sha256 == hashlib.sha256(token.encode()).hexdigest()

    page = client.get(response["Location"])
    body = page.content.decode()
    assert item.registration_number in body
    assert reverse("portal:tracking", args=[token]) in body
    assert "Co dalej" in body


def test_the_filed_content_reaches_the_staff_through_the_pipeline(garrison):
    from garnizon.intake.services import dispatch

    client = Client()
    fill_letter(client, garrison.kwp, text="Treść z polskimi znakami: zażółć gęślą jaźń.")
    confirmation_token(submit(client, "pismo")[0])
    content = IntakeItem.objects.get()
    dispatch(content, run_now=True)
    content.refresh_from_db()
    assert content.state == "done", content.error_message
    version = content.incoming_item.documents.get().latest_version
    assert version.mime_type == "text/plain"
    stored = get_blob_store().open(version.blob_sha256).read().decode()
    assert "Treść z polskimi znakami: zażółć gęślą jaźń." in stored
    assert Submission.objects.get().content_sha256 in stored


def test_intake_takes_a_file_as_stored_only_from_the_blob_store(garrison, tmp_path):
    """`stored_sha256` skips reading the file again: only for the store's own file."""
    from garnizon.common.errors import DomainError
    from garnizon.intake.services import intake_add_file

    clerk = garrison.people["clerk"]
    ref = get_blob_store().put(io.BytesIO(b"tekst pisma"))
    outside = tmp_path / "pismo.txt"
    outside.write_bytes(b"inny tekst")
    with pytest.raises(DomainError):
        intake_add_file(
            path=outside,
            stored_sha256=ref.sha256,
            unit=garrison.kwp,
            channel=Channel.PORTAL,
            requested_by=clerk,
        )
    result = intake_add_file(
        path=get_blob_store().path(ref.sha256),
        stored_sha256=ref.sha256,
        unit=garrison.kwp,
        channel=Channel.PORTAL,
        requested_by=clerk,
        filename="pismo.txt",
    )
    assert result.created
    assert (result.item.blob_sha256, result.item.size) == (ref.sha256, len(b"tekst pisma"))


def test_the_filed_entry_is_indexed_for_search_by_its_intake_item_not_in_the_request(
    garrison, django_capture_on_commit_callbacks
):
    from garnizon.intake.services import dispatch
    from garnizon.search.models import ObjectType, SearchEntry
    from garnizon.search.services import search

    client = Client()
    fill_letter(client, garrison.kwp, subject="Hałas przy ulicy Zamojskiej")
    with django_capture_on_commit_callbacks(execute=True):
        confirmation_token(submit(client, "pismo")[0])
    entry = IncomingItem.objects.get()
    indexed = SearchEntry.objects.filter(object_type=ObjectType.INCOMING, object_id=entry.pk)
    assert not indexed.exists()  # the request did not analyse the text

    content = IntakeItem.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        dispatch(content, run_now=True)
    content.refresh_from_db()
    assert content.state == "done", content.error_message
    assert indexed.exists()
    hits = search(garrison.people["clerk"], "hałasu Zamojska", audit=False).hits
    assert entry.registration_number in [hit.reference for hit in hits]


def test_the_check_page_lists_every_answer_with_a_change_link(garrison):
    client = Client()
    fill_letter(client, garrison.kwp, files=[upload("zdjecie.png", png_bytes())])
    body = client.get(reverse("portal:check", args=["pismo"])).content.decode()
    for text in (
        "Komenda Wojewódzka Policji w Lublinie",
        "Jan Kowalski",
        "jan@example.pl",
        "Prośba o kontakt dzielnicowego",
        "zdjecie.png",
    ):
        assert text in body
    for slug in ("jednostka", "nadawca", "tresc", "zalaczniki"):
        assert f'href="{step_url("pismo", slug)}?zmien=1"' in body
    # A change returns to the check page.
    response = client.post(
        step_url("pismo", "nadawca") + "?zmien=1",
        {"name": "Jan Nowak", "email": "jan@example.pl", "address": ""},
    )
    assert response["Location"] == reverse("portal:check", args=["pismo"])
    assert "Jan Nowak" in client.get(response["Location"]).content.decode()


def test_pages_out_of_order_send_the_filer_to_the_first_unanswered_question(garrison):
    client = Client()
    response = client.get(step_url("pismo", "tresc"))
    assert response["Location"] == step_url("pismo", "jednostka")
    response = client.get(reverse("portal:check", args=["pismo"]))
    assert response["Location"] == step_url("pismo", "jednostka")


# --- errors -------------------------------------------------------------------------------


def summary_links(body: str) -> list[tuple[str, str]]:
    block = re.search(r'<div class="p-error-summary".*?</div>', body, re.S)
    assert block, "no error summary"
    assert "autofocus" in block.group(0) and 'tabindex="-1"' in block.group(0)
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', block.group(0))


def test_empty_fields_show_an_error_summary_linking_to_each_field(garrison):
    client = Client()
    post_ok(client, step_url("pismo", "jednostka"), {"unit": garrison.kwp.pk})
    response = client.post(step_url("pismo", "nadawca"), {"name": "", "email": ""})
    assert response.status_code == 400
    body = response.content.decode()
    links = summary_links(body)
    assert links == [
        ("id_name", "Podaj imię i nazwisko albo nazwę."),
        ("id_email", "Podaj adres e-mail."),
    ]
    for anchor, _ in links:
        assert f'id="{anchor}"' in body
        assert f'id="{anchor}-error"' in body
    assert 'aria-invalid="true"' in body
    assert body.count("<title>Błąd:") == 1


def test_a_bad_email_is_refused_with_an_example(garrison):
    client = Client()
    post_ok(client, step_url("pismo", "jednostka"), {"unit": garrison.kwp.pk})
    response = client.post(step_url("pismo", "nadawca"), {"name": "Jan", "email": "jan@"})
    assert summary_links(response.content.decode()) == [
        ("id_email", "Podaj adres e-mail w poprawnym formacie, np. jan.kowalski@example.pl.")
    ]


def test_a_radio_question_links_its_error_to_the_first_option(garrison):
    client = Client()
    post_ok(client, step_url("skarga", "jednostka"), {"unit": garrison.kwp.pk})
    response = client.post(step_url("skarga", "rodzaj"), {})
    body = response.content.decode()
    assert summary_links(body) == [("id_kind_0", "Wybierz, czy składasz skargę, czy wniosek.")]
    assert 'id="id_kind_0"' in body


def test_a_file_of_the_wrong_type_is_refused_and_nothing_is_listed(garrison):
    client = Client()
    fill_letter(client, garrison.kwp)
    response = client.post(
        step_url("pismo", "zalaczniki"), {"files": [upload("program.exe", b"MZ\x90\x00" * 50)]}
    )
    assert response.status_code == 400
    (link,) = summary_links(response.content.decode())
    assert link[0] == "id_files"
    assert "program.exe ma niedozwolony rodzaj" in link[1]
    assert client.session["portal:pismo"]["attachments"] == []


def test_a_file_over_the_limit_is_refused_with_the_limit(garrison):
    client = Client()
    fill_letter(client, garrison.kwp)
    big = b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 10)
    response = client.post(step_url("pismo", "zalaczniki"), {"files": [upload("duzy.pdf", big)]})
    assert response.status_code == 400
    (link,) = summary_links(response.content.decode())
    assert link[0] == "id_files" and "za duży" in link[1] and "1 MB" in link[1]
    assert client.session["portal:pismo"]["attachments"] == []


def test_too_many_files_are_refused(garrison, settings):
    settings.GARNIZON_PORTAL_MAX_ATTACHMENTS = 2
    client = Client()
    fill_letter(client, garrison.kwp)
    files = [upload(f"{n}.txt", f"plik {n}".encode()) for n in range(3)]
    response = client.post(step_url("pismo", "zalaczniki"), {"files": files})
    (link,) = summary_links(response.content.decode())
    assert "najwyżej 2 plików" in link[1]


def test_an_attachment_can_be_removed_before_sending(garrison):
    client = Client()
    fill_letter(client, garrison.kwp)
    client.post(
        step_url("pismo", "zalaczniki"),
        {"files": [upload("a.txt", b"pierwszy"), upload("b.txt", b"drugi")], "dodaj": "1"},
    )
    assert [a["name"] for a in client.session["portal:pismo"]["attachments"]] == ["a.txt", "b.txt"]
    client.post(step_url("pismo", "zalaczniki"), {"usun": "0"})
    assert [a["name"] for a in client.session["portal:pismo"]["attachments"]] == ["b.txt"]


# --- complaints and deadlines ---------------------------------------------------------------


def test_a_complaint_gets_one_month(garrison):
    client = Client()
    fill_complaint(client, garrison.kwp)
    confirmation_token(submit(client, "skarga")[0])
    item = IncomingItem.objects.get()
    today = timezone.localdate()
    assert item.kind == DeadlineKind.COMPLAINT
    assert item.due_date == official_deadline(DeadlineKind.COMPLAINT, today).due_date
    assert item.due_date >= today + datetime.timedelta(days=28)
    assert item.subject == "Skarga: Zachowanie funkcjonariusza"
    assert not Submission.objects.get().is_anonymous


def test_a_member_of_parliament_gets_fourteen_days(garrison):
    client = Client()
    fill_complaint(client, garrison.kwp, is_mp=True, kind="wniosek")
    confirmation_token(submit(client, "skarga")[0])
    item = IncomingItem.objects.get()
    assert item.kind == DeadlineKind.COMPLAINT_MP
    assert (
        item.due_date == official_deadline(DeadlineKind.COMPLAINT_MP, timezone.localdate()).due_date
    )
    assert item.subject.startswith("Wniosek: ")
    assert "posłem albo senatorem" in item.remarks


def test_an_anonymous_complaint_is_registered_marked_and_without_a_deadline(garrison):
    client = Client()
    fill_complaint(client, garrison.kmp, anonymous=True)
    # The filer-details page is skipped and not on the check page.
    body = client.get(reverse("portal:check", args=["skarga"])).content.decode()
    assert step_url("skarga", "dane") not in body
    response, _ = submit(client, "skarga")
    token = confirmation_token(response)
    item = IncomingItem.objects.get()
    assert item.kind == DeadlineKind.NONE and item.due_date is None
    assert "anonim" in item.subject and "anonim" in item.sender_name
    assert "bez rozpoznania" in item.remarks
    submission = Submission.objects.get()
    assert submission.is_anonymous
    assert "name" not in json.loads(submission.canonical_json)["fields"]
    assert (
        "Złożono anonimowo" in client.get(reverse("portal:tracking", args=[token])).content.decode()
    )


def test_answers_of_a_page_left_behind_are_not_filed(garrison):
    client = Client()
    fill_complaint(client, garrison.kwp)  # named first...
    post_ok(client, step_url("skarga", "anonimowosc") + "?zmien=1", {"anonymous": "yes"})
    confirmation_token(submit(client, "skarga")[0])  # ...then changed to anonymous
    fields = json.loads(Submission.objects.get().canonical_json)["fields"]
    assert fields["anonymous"] is True and "email" not in fields and "is_mp" not in fields
    assert "anna@example.pl" not in IncomingItem.objects.get().remarks


# --- one filing, abuse --------------------------------------------------------------------------


def test_a_resubmitted_form_creates_one_filing(garrison):
    client = Client()
    fill_letter(client, garrison.kwp, files=[upload("a.txt", b"tekst")])
    first, form_token = submit(client, "pismo")
    again = client.post(reverse("portal:check", args=["pismo"]), {"form_token": form_token})
    assert again["Location"] == first["Location"]
    # The back button and a third press: still the same confirmation.
    third = client.post(reverse("portal:check", args=["pismo"]), {"form_token": form_token})
    assert third["Location"] == first["Location"]
    assert IncomingItem.objects.count() == 1
    assert Submission.objects.count() == 1
    assert IntakeItem.objects.count() == 2


def test_the_service_refuses_a_second_filing_with_the_same_token_directly(garrison):
    from garnizon.portal.services import portal_submission_file

    kwargs = dict(
        service="pismo",
        unit=garrison.kwp,
        attachments=[],
        client_token="t" * 64,
        fields={
            "name": "Jan",
            "email": "j@example.pl",
            "address": "",
            "subject": "Temat",
            "text": "Treść",
        },
    )
    first = portal_submission_file(**kwargs)
    second = portal_submission_file(**kwargs)
    assert first.pk == second.pk
    assert IncomingItem.objects.count() == 1


def test_the_honeypot_refuses_and_files_nothing(garrison):
    client = Client()
    fill_letter(client, garrison.kwp)
    page = client.get(reverse("portal:check", args=["pismo"])).content.decode()
    assert re.search(r'<div class="p-hp" aria-hidden="true">.*tabindex="-1"', page)
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)
    response = client.post(
        reverse("portal:check", args=["pismo"]), {"form_token": token, "website": "http://spam"}
    )
    assert response.status_code == 400
    assert "Nie przyjęliśmy formularza" in response.content.decode()
    assert IncomingItem.objects.count() == 0
    # A bot filling the first page is stopped there too.
    response = Client().post(
        step_url("pismo", "jednostka"), {"unit": garrison.kwp.pk, "website": "x"}
    )
    assert response.status_code == 400


def test_the_rate_limit_refuses_with_a_clear_message(garrison, settings):
    from garnizon.common.models import RateCounter

    settings.GARNIZON_PORTAL_RATE_LIMIT = 2
    for _ in range(2):
        client = Client(REMOTE_ADDR="203.0.113.7")
        fill_letter(client, garrison.kwp)
        confirmation_token(submit(client, "pismo")[0])
    blobs = {p for p in Path(django_settings.GARNIZON_BLOB_DIR).rglob("*") if p.is_file()}
    client = Client(REMOTE_ADDR="203.0.113.7")
    fill_letter(client, garrison.kwp, subject="Trzecie pismo z tego adresu")
    response, _ = submit(client, "pismo")
    assert response.status_code == 429
    assert "zbyt wiele zgłoszeń" in response.content.decode()
    assert IncomingItem.objects.count() == 2
    # Refused before anything was done for it: its text is not in the blob store,
    # and the refusal is not counted as one more filing.
    assert {p for p in Path(django_settings.GARNIZON_BLOB_DIR).rglob("*") if p.is_file()} == blobs
    assert sorted(RateCounter.objects.values_list("count", flat=True)) == [2, 2]  # address, e-mail
    # Another address is not affected.
    other = Client(REMOTE_ADDR="203.0.113.8")
    fill_letter(other, garrison.kwp, email="ktos.inny@example.pl")
    confirmation_token(submit(other, "pismo")[0])
    assert IncomingItem.objects.count() == 3


@pytest.mark.parametrize("problem", ["locked", "batch"])
def test_a_register_too_busy_to_file_says_so_and_keeps_the_answers(garrison, monkeypatch, problem):
    from django.db import OperationalError

    from garnizon.portal import views
    from garnizon.portal.group_commit import FilingBatchError

    def busy(**kwargs):
        if problem == "locked":
            raise OperationalError("database is locked")
        raise FilingBatchError("lock timeout")

    client = Client()
    fill_letter(client, garrison.kwp, subject="Pismo w godzinie szczytu")
    real = views.portal_submission_file
    monkeypatch.setattr(views, "portal_submission_file", busy)
    response, _ = submit(client, "pismo")
    assert response.status_code == 503
    assert "rejestr jest chwilowo zajęty" in response.content.decode()
    assert IncomingItem.objects.count() == 0
    # The draft is still there: the same form, sent again, is filed.
    monkeypatch.setattr(views, "portal_submission_file", real)
    assert (
        "Pismo w godzinie szczytu"
        in client.get(reverse("portal:check", args=["pismo"])).content.decode()
    )
    confirmation_token(submit(client, "pismo")[0])
    assert IncomingItem.objects.get().subject.endswith("Pismo w godzinie szczytu")


def test_an_expired_form_token_is_not_filed(garrison):
    client = Client()
    fill_letter(client, garrison.kwp)
    response = client.post(reverse("portal:check", args=["pismo"]), {"form_token": "0" * 64})
    assert response.status_code == 400
    assert "formularz wygasł" in response.content.decode()
    assert IncomingItem.objects.count() == 0


# --- receipt and tracking --------------------------------------------------------------------


def test_the_receipt_pdf_carries_the_number_the_hash_and_the_attachments(garrison):
    client = Client()
    attachment = b"zawartosc zalacznika"
    fill_letter(client, garrison.kwp, files=[upload("dowod.txt", attachment)])
    token = confirmation_token(submit(client, "pismo")[0])
    submission = Submission.objects.get()
    canonical = json.loads(submission.canonical_json)
    assert canonical["attachments"][0]["sha256"] == hashlib.sha256(attachment).hexdigest()
    assert (
        submission.content_sha256 == hashlib.sha256(submission.canonical_json.encode()).hexdigest()
    )

    response = client.get(reverse("portal:receipt", args=[token]))
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    flat = re.sub(r"\s+", "", text)
    assert submission.incoming_item.registration_number in text
    assert submission.content_sha256 in flat
    assert hashlib.sha256(attachment).hexdigest() in flat
    assert "dowod.txt" in text
    assert "Komenda Wojewódzka Policji w Lublinie" in text


def test_the_receipt_is_in_the_filers_language_with_ukrainian_letters(garrison):
    client = Client()
    client.get(reverse("portal:language", args=["uk"]), {"next": "/portal/"})
    fill_complaint(client, garrison.kwp)
    token = confirmation_token(submit(client, "skarga")[0])
    text = pdf_text(client.get(reverse("portal:receipt", args=[token])).content)
    assert "Підтвердження подання" in text
    assert IncomingItem.objects.get().registration_number in text


def test_tracking_shows_status_and_deadline_and_follows_the_case(garrison):
    from garnizon.cases.services import case_open
    from garnizon.registry.services import outgoing_item_register

    client = Client()
    fill_complaint(client, garrison.kwp)
    token = confirmation_token(submit(client, "skarga")[0])
    item = IncomingItem.objects.get()
    url = reverse("portal:tracking", args=[token])
    body = client.get(url).content.decode()
    assert "Zarejestrowane" in body and item.registration_number in body
    assert item.due_date.strftime("%Y") in body

    case = case_open(
        actor=garrison.people["commander"],
        cell=garrison.cells["kwp_i_1"],
        classification=garrison.classes["052"],
        subject="Skarga",
        incoming_item=item,
    )
    submission = Submission.objects.get()
    assert submission_status(submission).code == "in_case"
    assert "W sprawie" in client.get(url).content.decode()
    assert case.sign not in client.get(url).content.decode()

    outgoing_item_register(
        actor=garrison.people["commander"],
        unit=garrison.kwp,
        case=case,
        subject="Odpowiedź na skargę",
        channel=Channel.PORTAL,
        addressee_name="Anna Nowak",
        sent_on=timezone.localdate(),
    )
    assert "Udzielono odpowiedzi" in client.get(url).content.decode()


def test_an_unknown_tracking_token_shows_nothing(garrison):
    response = Client().get(reverse("portal:tracking", args=["a" * 64]))
    assert response.status_code == 404
    assert Client().get(reverse("portal:receipt", args=["a" * 64])).status_code == 404
    assert Client().get(reverse("portal:confirmation", args=["a" * 64])).status_code == 404


# --- languages, layout, staff data ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "heading", "check"),
    [
        ("en", "Deal with the police online", "Check your answers before sending"),
        ("uk", "Вирішуйте справи з поліцією онлайн", "Перевірте відповіді перед надсиланням"),
    ],
)
def test_switching_language_translates_the_pages(garrison, lang, heading, check):
    client = Client()
    assert '<html lang="pl">' in client.get("/portal/").content.decode()  # now in the cache
    response = client.get(reverse("portal:language", args=[lang]), {"next": "/portal/"})
    assert response.status_code == 302 and response["Location"] == "/portal/"
    body = client.get("/portal/").content.decode()
    assert f'<html lang="{lang}">' in body
    assert heading in body
    fill_letter(client, garrison.kwp)
    assert check in client.get(reverse("portal:check", args=["pismo"])).content.decode()


def test_the_language_link_refuses_other_sites_and_unknown_languages(garrison):
    client = Client()
    url = reverse("portal:language", args=["en"])
    for target in ("https://evil.example/", "//evil.example/portal/", "javascript:alert(1)"):
        response = client.get(url, {"next": target})
        assert response.status_code == 302 and response["Location"] == "/portal/", target
    assert client.get(reverse("portal:language", args=["de"])).status_code == 404


def citizen_client(name: str) -> Client:
    """A client whose session is a citizen logged in under `name` (as a login leaves it)."""
    from garnizon.portal.identity import NAME_KEY, SESSION_KEY
    from garnizon.portal.models import Citizen

    citizen = Citizen.objects.create(method="email", email="ewa@example.pl", first_name="Ewa")
    client = Client()
    session = client.session
    session[SESSION_KEY] = citizen.pk
    session[NAME_KEY] = name
    session.save()
    client.cookies["sessionid"] = session.session_key
    return client


def test_a_cached_public_page_never_shows_one_citizens_header_to_another(garrison):
    anonymous = Client()
    assert "Zaloguj się" in anonymous.get("/portal/").content.decode()  # cached now
    logged_in = citizen_client("Ewa Kowalska")
    assert "Ewa Kowalska" in logged_in.get("/portal/").content.decode()
    assert "Ewa Kowalska" not in anonymous.get("/portal/").content.decode()
    assert "Ewa Kowalska" not in Client().get("/portal/").content.decode()


def _csrf(body: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1)


def test_a_blank_question_page_is_reused_with_each_visitors_own_working_csrf_token(garrison):
    url = step_url("pismo", "jednostka")
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first_page = first.get(url).content.decode()
    assert any(key.startswith(":1:portal:blank:") for key in cache._cache)  # kept for the next
    with CaptureQueriesContext(connection) as queries:
        second_page = second.get(url).content.decode()  # drawn from the kept page
    assert not [q for q in queries.captured_queries if "org_unit" in q["sql"]]  # no unit list
    assert "\x00" not in second_page and _csrf(first_page) != _csrf(second_page)
    assert first_page.replace(_csrf(first_page), "") == second_page.replace(_csrf(second_page), "")
    # The token drawn into the kept page is this visitor's own: the answer is accepted.
    answered = second.post(
        url, {"unit": garrison.kwp.pk, "csrfmiddlewaretoken": _csrf(second_page)}
    )
    assert answered.status_code == 302 and answered["Location"].endswith("/nadawca/")
    # Another visitor's token is refused (the page did not carry a shared token).
    refused = first.post(url, {"unit": garrison.kwp.pk, "csrfmiddlewaretoken": _csrf(second_page)})
    assert refused.status_code == 403


def test_a_reused_question_page_never_shows_one_filers_answers_or_name_to_another(garrison):
    url = step_url("pismo", "jednostka")
    selected = f'<option value="{garrison.kmp.pk}" selected>'
    Client().get(url)  # the blank page is kept now
    answering = Client()
    post_ok(answering, url, {"unit": garrison.kmp.pk})
    assert selected in answering.get(url).content.decode()  # its own answer, drawn anew
    assert selected not in Client().get(url).content.decode()
    logged_in = citizen_client("Ewa Kowalska")
    assert "Ewa Kowalska" in logged_in.get(url).content.decode()
    assert "Ewa Kowalska" not in Client().get(url).content.decode()
    # The change link's page goes back to the check page, not to the service's start.
    changing = Client().get(url, {"zmien": "1"}).content.decode()
    assert f'href="{reverse("portal:check", args=["pismo"])}"' in changing
    assert (
        f'href="{reverse("portal:service", args=["pismo"])}"' in Client().get(url).content.decode()
    )


def test_a_reused_question_page_follows_the_language(garrison):
    url = step_url("pismo", "jednostka")
    polish = Client().get(url).content.decode()
    english = Client()
    english.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    page = english.get(url).content.decode()
    assert 'lang="en"' in page and page != polish and 'lang="pl"' in polish


def test_only_the_plain_address_and_the_change_link_are_kept(garrison, rf):
    from django.contrib.sessions.backends.file import SessionStore

    from garnizon.portal.views import _blank_page_key

    position = ("/portal/pismo/", 1, 4)
    keys = []
    for query in ("", "?zmien=1", "?zmien=1&x=1", "?utm=abc", "?zmien=1&zmien=1"):
        request = rf.get(step_url("pismo", "jednostka") + query)
        request.session = SessionStore()
        keys.append(_blank_page_key(request, position))
    assert keys[0] and keys[1] and keys[0] != keys[1] and keys[2:] == [None, None, None]


def test_the_language_links_lead_back_to_the_page_they_are_on(garrison):
    client = Client()
    client.get("/portal/")  # draws and keeps the header
    fill_complaint(client, garrison.kwp)
    token = confirmation_token(submit(client, "skarga")[0])
    tracking = reverse("portal:tracking", args=[token])
    page = client.get(tracking).content.decode()
    assert f'{reverse("portal:language", args=["en"])}?next={tracking}"' in page
    assert '?next=/portal/"' not in page
    step = Client().get(step_url("pismo", "jednostka"), {"zmien": "1"}).content.decode()
    assert "?next=/portal/pismo/jednostka/%3Fzmien%3D1" in step


def test_dates_follow_the_chosen_language(garrison):
    client = Client()
    fill_complaint(client, garrison.kwp)
    token = confirmation_token(submit(client, "skarga")[0])
    due = IncomingItem.objects.get().due_date
    url = reverse("portal:tracking", args=[token])
    with translation.override("pl"):
        from django.utils.formats import date_format

        pl = date_format(due, "DATE_FORMAT")
    with translation.override("en"):
        en = date_format(due, "DATE_FORMAT")
    assert pl in client.get(url).content.decode()
    client.get(reverse("portal:language", args=["en"]), {"next": url})
    assert en in client.get(url).content.decode() and en != pl


def test_every_page_has_the_switcher_skip_link_and_accessibility_statement_link(garrison):
    client = Client()
    for url in (
        "/portal/",
        "/portal/deklaracja-dostepnosci/",
        "/portal/pismo/",
        step_url("pismo", "jednostka"),
        "/portal/skarga/",
    ):
        body = client.get(url).content.decode()
        assert 'class="p-skip" href="#main"' in body, url
        for code, name in (("en", "English"), ("uk", "Українська")):
            link = f"{reverse('portal:language', args=[code])}?next={quote(url, safe='/')}"
            assert f'href="{link}" lang="{code}" hreflang="{code}"' in body, url
            assert f">{name}</a>" in body, url
        assert reverse("portal:accessibility") in body, url
        assert "garnizon.css" not in body, url  # the portal's own layout, not the staff one


def test_the_accessibility_statement_has_what_the_law_requires(garrison):
    body = Client().get(reverse("portal:accessibility")).content.decode()
    for part in (
        "Stan dostępności cyfrowej",
        "Przygotowanie deklaracji dostępności",
        "Informacje zwrotne i dane kontaktowe",
        "Procedura wnioskowo-skargowa",
        "Rzecznika Praw Obywatelskich",
        "częściowo zgodna",
    ):
        assert part in body


def test_a_logged_in_staff_member_sees_no_staff_data_on_the_portal(garrison):
    clerk = garrison.people["clerk"]
    staff_client = Client()
    assert staff_client.login(username=clerk.username, password=PASSWORD)
    from garnizon.registry.services import incoming_item_register

    secret = incoming_item_register(
        actor=clerk,
        unit=garrison.kwp,
        subject="Tajna notatka służbowa",
        channel=Channel.PAPER,
        sender_name="Wydział Wewnętrzny",
    )
    fill_letter(staff_client, garrison.kwp)
    token = confirmation_token(submit(staff_client, "pismo")[0])
    pages = [
        "/portal/",
        "/portal/pismo/",
        reverse("portal:tracking", args=[token]),
        reverse("portal:confirmation", args=[token]),
    ]
    for url in pages:
        body = staff_client.get(url).content.decode()
        for leak in (
            clerk.username,
            clerk.get_full_name(),
            "Wyloguj",
            secret.subject,
            secret.registration_number,
            "Rejestr wpływów",
            "portal e-usług",
        ):
            assert leak not in body, (url, leak)
    # The portal's account exists, holds no usable password and cannot log in.
    portal = Person.objects.get(username="portal")
    assert not portal.has_usable_password()
    assert not Client().login(username="portal", password="")


def test_the_portal_needs_no_login():
    response = Client().get("/portal/")
    assert response.status_code == 200
    assert django_settings.LOGIN_URL not in response.get("Location", "")


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("lang", ["en", "uk"])
def test_the_portal_catalogues_are_complete(lang):
    po = (PORTAL_DIR / "locale" / lang / "LC_MESSAGES" / "django.po").read_text()
    entries = po.split("\n\n")[1:]
    assert len(entries) > 100
    for entry in entries:
        assert "fuzzy" not in entry, entry
        msgstr = entry.split("\nmsgstr ", 1)[1]
        assert msgstr.strip() != '""', entry


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_a_double_click_racing_itself_creates_one_filing(settings, tmp_path):
    import threading

    from django.db import connections

    from garnizon.org.models import Position
    from tests.factories import make_garrison

    g = make_garrison()
    client = Client()
    fill_letter(client, g.kmp, files=[upload("a.txt", b"tekst")])
    page = client.get(reverse("portal:check", args=["pismo"])).content.decode()
    form_token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)
    cookies = client.cookies
    barrier = threading.Barrier(4)
    locations: list[str] = []
    errors: list[BaseException] = []

    def press() -> None:
        try:
            own = Client()
            own.cookies = cookies
            barrier.wait()
            response = own.post(reverse("portal:check", args=["pismo"]), {"form_token": form_token})
            locations.append(response["Location"])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=press) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(locations) == 4 and len(set(locations)) == 1
    assert IncomingItem.objects.count() == 1
    assert Submission.objects.count() == 1
    assert IntakeItem.objects.count() == 2
    assert Position.objects.filter(person__username="portal").count() == 1


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_filings_racing_into_units_new_to_the_portal_all_land(settings, tmp_path):
    """Eight filings at once, four units the portal has never filed to, some filed
    into already: none fails (on PostgreSQL the account's row lock once deadlocked
    with the foreign-key checks of filings holding the audit head), and the portal
    account gets exactly one position per unit."""
    import secrets
    import threading

    from django.db import connections

    from garnizon.org.models import Position, Unit
    from garnizon.portal.services import portal_submission_file
    from tests.factories import make_garrison

    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    g = make_garrison()
    units = [g.kwp, g.kmp]
    fields = {"name": "Jan", "email": "jan@example.pl", "address": "", "subject": "S", "text": "T"}
    # One unit already known to the portal, the other not.
    portal_submission_file(
        service="pismo", unit=g.kwp, fields=fields, attachments=[], client_token="0" * 64
    )
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def file(index: int) -> None:
        try:
            barrier.wait()
            portal_submission_file(
                service="pismo",
                unit=Unit.objects.get(pk=units[index % 2].pk),
                fields=fields,
                attachments=[],
                client_token=secrets.token_hex(32),
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=file, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Submission.objects.count() == 9
    assert IncomingItem.objects.filter(channel=Channel.PORTAL).count() == 9
    positions = Position.objects.filter(person__username="portal")
    assert sorted(positions.values_list("cell__unit_id", flat=True)) == sorted(u.pk for u in units)


@pytest.mark.parametrize("value", [None, "kmp", "invalid"])
def test_the_plain_select_gives_the_same_html_as_djangos_template_widget(garrison, value):
    """The unit question's select is built in Python for speed: byte for byte the
    markup of Django's own template widget, with the hint, the error and the choice."""
    from django import forms as django_forms

    from garnizon.portal.forms import UnitForm

    data = None
    if value is not None:
        data = {"unit": garrison.kmp.pk if value == "kmp" else "999999"}
    form = UnitForm(data=data)
    if data is not None:
        form.is_valid()
    plain = str(form["unit"])
    form.fields["unit"].widget.__class__ = django_forms.Select
    template = str(form["unit"])
    normalize = lambda html: re.sub(r">\s+<", "><", html.strip())  # noqa: E731
    assert normalize(plain) == normalize(template)
    assert garrison.kwp.name in plain and 'aria-describedby="' in plain
    if value == "kmp":
        assert f'<option value="{garrison.kmp.pk}" selected>' in plain
    if value == "invalid":
        assert 'aria-invalid="true"' in plain


def test_the_service_accounts_position_is_read_once_and_forgotten_when_positions_change(
    garrison, django_assert_num_queries, django_capture_on_commit_callbacks
):
    from garnizon.org.models import Position
    from garnizon.portal import services

    with django_capture_on_commit_callbacks(execute=False) as rolled_back:
        services.portal_actor_scope(garrison.kmp)  # as in a transaction that rolls back
    assert rolled_back and garrison.kmp.pk not in services._actor_positions
    with django_capture_on_commit_callbacks(execute=True):
        services.portal_actor_scope(garrison.kmp)  # committed: now it is kept
    with django_assert_num_queries(0):
        actor, scope = services.portal_actor_scope(garrison.kmp)
    position = Position.objects.get(person=actor, cell__unit=garrison.kmp)
    assert [grant.position.pk for grant in scope.grants] == [position.pk]
    # Taken away (a saved position): the next filing reads again and makes a new one.
    position.valid_to = timezone.localdate() - datetime.timedelta(days=1)
    position.save()
    _, scope = services.portal_actor_scope(garrison.kmp)
    [grant] = scope.grants
    assert grant.position.pk != position.pk
    assert grant.position.cell.unit_id == garrison.kmp.pk
