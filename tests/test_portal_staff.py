"""The staff side of the portal: replies through the portal, the staff pages, petitions,
the service account, and the cleanup of files left in unfiled drafts."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time

import pikepdf
import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from garnizon.audit.models import AuditEntry
from garnizon.cases.deadlines import DeadlineKind
from garnizon.cases.services import case_open
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.documents.blobstore import get_blob_store
from garnizon.documents.models import Document
from garnizon.documents.services import document_add
from garnizon.org.models import Person
from garnizon.portal.models import PortalReply, Submission
from garnizon.portal.petitions import petition_publish
from garnizon.portal.replies import portal_reply_send
from garnizon.portal.services import (
    PORTAL_USERNAME,
    portal_attachment_store,
    portal_submission_file,
    tracking_token_for,
)
from garnizon.registry.models import Channel, OutgoingItem
from garnizon.registry.services import incoming_item_register
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

ROLES = [
    "clerk",
    "handler",
    "handler2",
    "head",
    "commander",
    "archivist",
    "admin",
    "auditor",
    "kadry",
    "kmp_clerk",
    "kmp_handler",
    "kmp_commander",
]


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    cache.clear()
    with translation.override("pl"):
        yield
    cache.clear()


def pdf_bytes(pages: int = 1) -> bytes:
    pdf = pikepdf.new()
    for _ in range(pages):
        pdf.add_blank_page()
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


def file_letter(unit, *, token: str = "a", attachments=None, **fields) -> Submission:
    values = {
        "name": "Jan Kowalski",
        "email": "jan@example.pl",
        "address": "",
        "subject": "Hałas na osiedlu",
        "text": "Proszę o interwencję.",
    }
    values.update(fields)
    return portal_submission_file(
        service="pismo",
        unit=unit,
        fields=values,
        attachments=attachments or [],
        client_token=token * 64,
    )


def file_petition(g, *, consent: bool, token: str = "p") -> Submission:
    """A petition as the petition flow files it (the filed JSON carries the consent)."""
    item = incoming_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Petycja: monitoring na placu zabaw",
        channel=Channel.PORTAL,
        sender_name="Stowarzyszenie Bezpieczny Lublin",
        kind=DeadlineKind.PETITION,
        assigned_cell=g.cells["kwp_i_1"],
    )
    fields = {"text": "Wnosimy o monitoring placu zabaw.", "publish_name": consent}
    canonical = json.dumps({"service": "petycja", "fields": fields}, sort_keys=True)
    return Submission.objects.create(
        service="petycja",
        incoming_item=item,
        unit=g.kwp,
        client_token=token * 64,
        tracking_token_sha256=hashlib.sha256(tracking_token_for(token * 64).encode()).hexdigest(),
        canonical_json=canonical,
        content_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        email="stow@example.pl",
    )


def in_case(g, submission: Submission):
    return case_open(
        actor=g.people["commander"],
        cell=g.cells["kwp_i_1"],
        classification=g.classes["052"],
        subject=submission.incoming_item.subject,
        incoming_item=submission.incoming_item,
    )


def client_for(person) -> Client:
    client = Client()
    assert client.login(username=person.username, password=PASSWORD)
    return client


def tracking_url(submission: Submission) -> str:
    return reverse("portal:tracking", args=[tracking_token_for(submission.client_token)])


# --- replies through the portal ------------------------------------------------------------------


def test_a_handler_answers_in_the_case_and_the_filer_opens_it_by_the_tracking_link(garrison):
    g = garrison
    submission = file_letter(g.kwp)
    case = in_case(g, submission)
    content = pdf_bytes()  # pikepdf writes a new document ID each time
    certificate = SimpleUploadedFile("zaswiadczenie.pdf", content, "application/pdf")

    reply = portal_reply_send(
        actor=g.people["handler"],
        submission=submission,
        subject="Odpowiedź na pismo",
        body="Dzielnicowy skontaktuje się z Panem.",
        files=[certificate],
    )

    outgoing = reply.outgoing_item
    assert outgoing.channel == Channel.PORTAL and outgoing.case == case
    assert outgoing.addressee_name == "Jan Kowalski"
    titles = sorted(Document.objects.filter(outgoing_item=outgoing).values_list("kind", flat=True))
    assert titles == ["pismo", "zalacznik"]  # the text as sent, then the certificate
    assert reply.files == [
        {
            "name": "zaswiadczenie.pdf",
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "mime": "application/pdf",
        }
    ]
    assert AuditEntry.objects.filter(
        object_type="portal.portalreply", object_id=str(reply.pk), action="create"
    ).exists()
    assert reply.opened_at is None

    citizen = Client()
    page = citizen.get(tracking_url(submission)).content.decode()
    assert "Odpowiedź na pismo" in page and "Dzielnicowy skontaktuje się z Panem." in page
    assert "Udzielono odpowiedzi" in page
    assert case.sign not in page and outgoing.registration_number not in page
    assert g.people["handler"].last_name not in page
    reply.refresh_from_db()
    assert reply.opened_at is not None  # shown to the filer: delivered
    file_url = re.search(r'href="([^"]+/odpowiedz/[^"]+)"', page).group(1)
    response = citizen.get(file_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert 'attachment; filename="zaswiadczenie.pdf"' in response["Content-Disposition"]
    delivered = AuditEntry.objects.filter(
        object_type="portal.portalreply", object_id=str(reply.pk), action="view"
    )
    assert delivered.count() == 1  # only the first opening is the proof


def test_the_first_download_records_delivery(garrison):
    g = garrison
    submission = file_letter(g.kwp)
    reply = portal_reply_send(
        actor=g.people["clerk"],
        submission=submission,
        subject="Zaświadczenie",
        files=[SimpleUploadedFile("z.pdf", pdf_bytes(), "application/pdf")],
    )
    token = tracking_token_for(submission.client_token)
    response = Client().get(reverse("portal:reply_file", args=[token, reply.pk, 0]))
    assert response.status_code == 200
    reply.refresh_from_db()
    first = reply.opened_at
    assert first is not None
    Client().get(reverse("portal:reply_file", args=[token, reply.pk, 0]))
    reply.refresh_from_db()
    assert reply.opened_at == first


def test_a_file_path_can_be_delivered_as_well_as_an_upload(garrison, tmp_path):
    g = garrison
    submission = file_letter(g.kwp)
    path = tmp_path / "zaswiadczenie-17-zl.pdf"
    path.write_bytes(pdf_bytes(2))
    reply = portal_reply_send(
        actor=g.people["clerk"], submission=submission, subject="Zaświadczenie", files=[path]
    )
    assert reply.files[0]["name"] == "zaswiadczenie-17-zl.pdf"
    assert get_blob_store().exists(reply.files[0]["sha256"])


def test_a_reply_is_never_served_without_its_own_token(garrison):
    g = garrison
    mine = file_letter(g.kwp, token="m")
    other = file_letter(g.kwp, token="o", subject="Inne")
    reply = portal_reply_send(
        actor=g.people["clerk"],
        submission=mine,
        subject="Tajne",
        body="Treść tylko dla zgłaszającego.",
        files=[SimpleUploadedFile("a.pdf", pdf_bytes(), "application/pdf")],
    )
    other_token = tracking_token_for(other.client_token)
    mine_token = tracking_token_for(mine.client_token)
    client = Client()
    assert (
        client.get(reverse("portal:reply_file", args=[other_token, reply.pk, 0])).status_code == 404
    )
    assert client.get(reverse("portal:reply_file", args=["f" * 64, reply.pk, 0])).status_code == 404
    assert (
        client.get(reverse("portal:reply_file", args=[mine_token, reply.pk, 1])).status_code == 404
    )
    assert "Treść tylko dla" not in client.get(tracking_url(other)).content.decode()
    reply.refresh_from_db()
    assert reply.opened_at is None


def test_who_may_answer(garrison):
    g = garrison
    submission = file_letter(g.kwp)
    # Outside a case the registry answers; a cell that does not see the item cannot.
    with pytest.raises(NotVisible):
        portal_reply_send(actor=g.people["handler"], submission=submission, subject="X", body="Y")
    with pytest.raises(NotVisible):
        portal_reply_send(actor=g.people["kmp_clerk"], submission=submission, subject="X", body="Y")
    reply = portal_reply_send(actor=g.people["clerk"], submission=submission, subject="X", body="Y")
    assert reply.outgoing_item.case is None
    assert submission.incoming_item.registration_number in reply.outgoing_item.remarks

    in_case(g, submission)
    submission.refresh_from_db()
    portal_reply_send(actor=g.people["handler2"], submission=submission, subject="X", body="Y")
    with pytest.raises(AccessDenied):  # sees the unit's register, does not handle the case
        portal_reply_send(actor=g.people["archivist"], submission=submission, subject="X", body="Y")
    with pytest.raises(NotVisible):
        portal_reply_send(actor=g.people["kadry"], submission=submission, subject="X", body="Y")
    assert OutgoingItem.objects.count() == 2


def test_an_empty_reply_is_refused_with_a_reason(garrison):
    g = garrison
    submission = file_letter(g.kwp)
    with pytest.raises(DomainError) as error:
        portal_reply_send(actor=g.people["clerk"], submission=submission, subject="Temat")
    assert error.value.field == "body"
    with pytest.raises(DomainError) as error:
        portal_reply_send(actor=g.people["clerk"], submission=submission, subject=" ", body="x")
    assert error.value.field == "subject"
    assert OutgoingItem.objects.count() == 0 and PortalReply.objects.count() == 0


# --- staff pages ---------------------------------------------------------------------------------


def test_the_reply_form_sends_files_and_a_double_click_sends_once(garrison):
    g = garrison
    submission = file_letter(g.kwp)
    client = client_for(g.people["clerk"])
    url = reverse("portal_staff:reply_new", args=[submission.pk])
    page = client.get(url).content.decode()
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)

    def post():
        return client.post(
            url,
            {
                "subject": "Odpowiedź",
                "body": "W załączeniu.",
                "form_token": token,
                "files": [
                    SimpleUploadedFile("a.pdf", pdf_bytes(), "application/pdf"),
                    SimpleUploadedFile("b.pdf", pdf_bytes(2), "application/pdf"),
                ],
            },
        )

    first, second = post(), post()
    detail = reverse("portal_staff:submission_detail", args=[submission.pk])
    assert first.status_code == second.status_code == 302 and first["Location"] == detail
    reply = PortalReply.objects.get()
    assert [f["name"] for f in reply.files] == ["a.pdf", "b.pdf"]
    page = client.get(detail).content.decode()
    assert reply.outgoing_item.registration_number in page and "jeszcze nie" in page


def test_the_reply_form_shows_the_services_refusal(garrison):
    g = garrison
    submission = file_letter(g.kwp)
    client = client_for(g.people["clerk"])
    response = client.post(
        reverse("portal_staff:reply_new", args=[submission.pk]),
        {"subject": "Odpowiedź", "body": "", "form_token": "abc"},
    )
    assert response.status_code == 400
    assert "Wpisz treść odpowiedzi albo dodaj plik." in response.content.decode()


def test_the_staff_detail_shows_when_the_filer_opened_the_reply(garrison):
    g = garrison
    submission = file_letter(g.kwp)
    portal_reply_send(actor=g.people["clerk"], submission=submission, subject="Odp", body="T")
    Client().get(tracking_url(submission))
    reply = PortalReply.objects.get()
    page = client_for(g.people["clerk"]).get(
        reverse("portal_staff:submission_detail", args=[submission.pk])
    )
    opened = reply.opened_at.astimezone().strftime("%d.%m.%Y")
    assert opened in page.content.decode() and "jeszcze nie" not in page.content.decode()
    assert AuditEntry.objects.filter(
        object_type="portal.submission",
        object_id=str(submission.pk),
        action="view",
        actor=g.people["clerk"],
    ).exists()


def test_the_list_shows_only_what_a_person_may_see_and_filters(garrison):
    g = garrison
    kwp = file_letter(g.kwp, token="k", subject="Do KWP")
    kmp = file_letter(g.kmp, token="l", subject="Do KMP")
    answered = file_letter(g.kwp, token="n", subject="Już odpowiedziano")
    portal_reply_send(actor=g.people["clerk"], submission=answered, subject="Odp", body="T")
    url = reverse("portal_staff:submission_list")

    def numbers(person, query: str = "") -> set[str]:
        page = client_for(person).get(url + query).content.decode()
        return {
            s.incoming_item.registration_number
            for s in (kwp, kmp, answered)
            if s.incoming_item.registration_number in page
        }

    rpw = {s: s.incoming_item.registration_number for s in (kwp, kmp, answered)}
    assert numbers(g.people["clerk"]) == {rpw[kwp], rpw[answered]}
    assert numbers(g.people["kmp_clerk"]) == {rpw[kmp]}
    assert numbers(g.people["handler"]) == set()
    in_case(g, kwp)
    assert numbers(g.people["handler"]) == {rpw[kwp]}
    assert numbers(g.people["clerk"], "?state=answered") == {rpw[answered]}
    assert numbers(g.people["clerk"], "?state=in_case") == {rpw[kwp]}
    assert numbers(g.people["clerk"], "?state=unopened") == {rpw[answered]}
    assert numbers(g.people["clerk"], "?service=petycja") == set()
    assert numbers(g.people["clerk"], "?service=pismo&state=nonsense") == {rpw[kwp], rpw[answered]}


# Expected status of every staff page per role: 404 for what a role may not see (the
# filing's existence does not leak), 403 for a page it sees but an act it may not do.
EVERYONE = dict.fromkeys(ROLES, 200)
SEES_THE_CASE_ITEM = {
    **dict.fromkeys(ROLES, 404),
    "clerk": 200,
    "handler": 200,
    "handler2": 200,
    "head": 200,
    "commander": 200,
    "archivist": 200,
}
MATRIX = {
    "submission_list": EVERYONE,
    "submission_detail": SEES_THE_CASE_ITEM,
    # the case's cell and its superiors answer; the registry and the archivist only see it
    "reply_new": {**SEES_THE_CASE_ITEM, "clerk": 403, "archivist": 403},
    # a petition is published by the unit's commander or the head over its cell
    "publish": {
        **SEES_THE_CASE_ITEM,
        "clerk": 403,
        "archivist": 403,
        "handler": 403,
        "handler2": 403,
        "head": 302,
        "commander": 302,
    },
}


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix_for_every_staff_page(garrison, role):
    g = garrison
    petition = file_petition(g, consent=False)
    in_case(g, petition)
    client = client_for(g.people[role])
    got = {
        "submission_list": client.get(reverse("portal_staff:submission_list")).status_code,
        "submission_detail": client.get(
            reverse("portal_staff:submission_detail", args=[petition.pk])
        ).status_code,
        "reply_new": client.get(reverse("portal_staff:reply_new", args=[petition.pk])).status_code,
        "publish": client.post(
            reverse("portal_staff:publish", args=[petition.pk]), {"text": "Tekst petycji."}
        ).status_code,
    }
    assert got == {name: MATRIX[name][role] for name in got}
    petition.refresh_from_db()
    assert (petition.published_at is not None) == (MATRIX["publish"][role] == 302)


def test_every_staff_url_is_in_the_matrix():
    from garnizon.portal.staff_urls import urlpatterns

    assert {p.name for p in urlpatterns} == set(MATRIX)


def test_anonymous_users_are_sent_to_log_in(garrison):
    submission = file_letter(garrison.kwp)
    for name, args in [
        ("submission_list", []),
        ("submission_detail", [submission.pk]),
        ("reply_new", [submission.pk]),
    ]:
        response = Client().get(reverse(f"portal_staff:{name}", args=args))
        assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- petitions -----------------------------------------------------------------------------------


def test_a_published_petition_shows_the_name_only_with_consent(garrison):
    g = garrison
    named = file_petition(g, consent=True, token="y")
    unnamed = file_petition(g, consent=False, token="z")
    petition_publish(actor=g.people["head"], submission=named, text="Wnosimy o monitoring.")
    petition_publish(actor=g.people["commander"], submission=unnamed, text="Wnosimy o ławki.")
    page = Client().get(reverse("portal:petitions")).content.decode()
    assert "Wnosimy o monitoring." in page and "Wnosimy o ławki." in page
    assert page.count("Stowarzyszenie Bezpieczny Lublin") == 1
    assert page.index("Wnosimy o ławki.") < page.index("Wnosimy o monitoring.")  # newest first
    entry = AuditEntry.objects.get(object_type="portal.submission", object_id=str(unnamed.pk))
    assert entry.actor_id == g.people["commander"].pk and entry.details["name_published"] is False


def test_a_petition_is_published_once_by_the_right_role(garrison):
    g = garrison
    petition = file_petition(g, consent=True)
    letter = file_letter(g.kwp)
    with pytest.raises(AccessDenied):
        petition_publish(actor=g.people["clerk"], submission=petition, text="T")
    with pytest.raises(DomainError):
        petition_publish(actor=g.people["commander"], submission=letter, text="T")
    with pytest.raises(DomainError) as error:
        petition_publish(actor=g.people["commander"], submission=petition, text="  ")
    assert error.value.field == "text"
    petition_publish(actor=g.people["commander"], submission=petition, text="Tekst")
    with pytest.raises(DomainError):
        petition_publish(actor=g.people["head"], submission=petition, text="Inny tekst")
    petition.refresh_from_db()
    assert petition.published_text == "Tekst"
    assert "Nie opublikowano" not in Client().get(reverse("portal:petitions")).content.decode()


def test_no_petition_page_lists_unpublished_ones(garrison):
    file_petition(garrison, consent=True)
    page = Client().get(reverse("portal:petitions")).content.decode()
    assert "Nie opublikowano jeszcze żadnej petycji." in page
    assert "monitoring" not in page


# --- the portal's service account ----------------------------------------------------------------


def test_the_portal_service_account_cannot_log_in(garrison):
    file_letter(garrison.kwp)
    account = Person.objects.get(username=PORTAL_USERNAME)
    assert not account.has_usable_password()
    for password in ("", "portal", "!"):
        client = Client()
        response = client.post(reverse("web:login"), {"username": "portal", "password": password})
        assert response.status_code == 200  # the form again, not a redirect into the system
        assert "_auth_user_id" not in client.session
    assert client.get(reverse("portal_staff:submission_list")).status_code == 302


# --- cleanup of files left in drafts -------------------------------------------------------------


def draft_upload(name: str, content: bytes) -> str:
    stored = portal_attachment_store(upload=SimpleUploadedFile(name, content, "text/plain"))
    return stored["sha256"]


def age_markers(hours: float) -> None:
    markers = get_blob_store().root / "portal-drafts"
    past = time.time() - hours * 3600
    for marker in markers.iterdir():
        if marker.is_file():
            os.utime(marker, (past, past))


def test_stale_draft_files_are_set_aside_then_deleted_and_filed_ones_kept(garrison):
    from garnizon.common.scheduler import JOBS
    from garnizon.portal.drafts import remove_stale_draft_blobs

    assert "garnizon.portal.drafts.remove_stale_draft_blobs" in {j.target for j in JOBS}
    store = get_blob_store()
    abandoned = draft_upload("porzucony.txt", b"nikt tego nie wyslal")
    filed_sha = draft_upload("wyslany.txt", b"to zostalo wyslane")
    fresh = draft_upload("swiezy.txt", b"wlasnie dodany")
    attachment = {"name": "wyslany.txt", "sha256": filed_sha, "size": 18, "mime": "text/plain"}
    file_letter(garrison.kmp, attachments=[attachment])
    age_markers(25)
    draft_upload("swiezy.txt", b"wlasnie dodany")  # renewed: still in use

    report = remove_stale_draft_blobs()
    assert "1 set aside" in report and "1 filed" in report
    assert not store.exists(abandoned) and store.exists(filed_sha) and store.exists(fresh)
    assert remove_stale_draft_blobs().startswith("draft blobs: 1 deleted")
    assert not (store.root / "portal-drafts" / "trash" / abandoned).exists()
    assert store.exists(filed_sha) and store.exists(fresh)


def test_a_draft_file_with_the_same_content_as_a_staff_document_is_never_deleted(garrison):
    from garnizon.portal.drafts import remove_stale_draft_blobs

    store = get_blob_store()
    content = b"ten sam plik w szkicu i w rejestrze"
    shared = draft_upload("szkic.txt", content)
    item = incoming_item_register(
        actor=garrison.people["clerk"], unit=garrison.kwp, subject="Pismo", channel="paper"
    )
    document_add(
        actor=garrison.people["clerk"],
        file=SimpleUploadedFile("pismo.txt", content, "text/plain"),
        incoming_item=item,
    )
    age_markers(48)
    remove_stale_draft_blobs()
    remove_stale_draft_blobs()
    assert store.exists(shared)
    with store.open(shared) as reader:
        assert reader.read() == content


def test_a_blob_set_aside_comes_back_if_a_document_took_it_meanwhile(garrison):
    from garnizon.portal.drafts import remove_stale_draft_blobs

    store = get_blob_store()
    content = b"wgrany przez pracownika w tej samej chwili"
    sha = draft_upload("szkic.txt", content)
    age_markers(30)
    remove_stale_draft_blobs()
    assert not store.exists(sha)
    # A staff upload of the same content: the store writes the file again, the row follows.
    item = incoming_item_register(
        actor=garrison.people["clerk"], unit=garrison.kwp, subject="Pismo", channel="paper"
    )
    document_add(
        actor=garrison.people["clerk"],
        file=SimpleUploadedFile("pismo.txt", content, "text/plain"),
        incoming_item=item,
    )
    # Had the document's row committed while its file was set aside, the file would be
    # missing; the next run puts it back instead of deleting it.
    os.remove(store.path(sha))
    assert "1 restored" in remove_stale_draft_blobs()
    assert store.exists(sha)


def test_a_petition_filed_through_its_flow_is_published_with_its_consents(garrison):
    g = garrison
    filed = portal_submission_file(
        service="petycja",
        unit=g.kwp,
        fields={
            "filer_kind": "podmiot",
            "name": "Fundacja Bezpieczna Droga",
            "representative": "Ewa Nowak",
            "residence": "Lublin",
            "email": "fundacja@example.pl",
            "address": "",
            "subject": "Przejście dla pieszych przy szkole",
            "text": "Wnosimy o kontrole prędkości przy szkole.",
            "third_party": True,
            "third_name": "Rada Rodziców SP 5",
            "third_residence": "Lublin",
            "third_address": "ul. Szkolna 5",
            "publish_name": True,
            "publish_third_party": False,
        },
        attachments=[],
        client_token="f" * 64,
    )
    detail = client_for(g.people["commander"]).get(
        reverse("portal_staff:submission_detail", args=[filed.pk])
    )
    assert "Wnosimy o kontrole prędkości przy szkole." in detail.content.decode()  # the default
    petition_publish(
        actor=g.people["commander"], submission=filed, text="Wnosimy o kontrole prędkości."
    )
    page = Client().get(reverse("portal:petitions")).content.decode()
    assert "Przejście dla pieszych przy szkole" in page and "Petycja:" not in page
    assert "Fundacja Bezpieczna Droga" in page
    assert "Ewa Nowak" not in page and "Rada Rodziców" not in page
