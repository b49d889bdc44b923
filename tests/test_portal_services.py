"""Four citizen e-services end to end through Django's test client: public information,
petition, road-collision certificate and road-aggression video.

Each goes pages → check answers → filing → register entry with its statutory deadline
→ intake items → receipt. Videos are real MP4 and AVI files made by ffmpeg.
"""

from __future__ import annotations

import datetime
import io
import json
import re
import shutil
import subprocess

import pikepdf
import pypdfium2
import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from garnizon.cases.deadlines import DeadlineKind, official_deadline
from garnizon.common.errors import DomainError
from garnizon.documents.blobstore import get_blob_store
from garnizon.documents.metadata import detect_mime
from garnizon.intake.models import IntakeItem
from garnizon.org.models import Cell
from garnizon.portal.eservices import FLOWS
from garnizon.portal.models import Submission
from garnizon.portal.services import portal_submission_file
from garnizon.registry.models import Channel, IncomingItem

# --- helpers (the same conventions as tests/test_portal.py) ----------------------------------


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_MAX_UPLOAD_MB = 30
    cache.clear()
    with translation.override("pl"):
        yield
    cache.clear()


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, bytes]:
    """A one-second MP4 (H.264) and AVI (MJPEG) made by ffmpeg: real containers."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is needed to make the test recordings (apt-get install ffmpeg)"
    folder = tmp_path_factory.mktemp("videos")
    made = {}
    for name, codec in (("nagranie.mp4", ["-c:v", "libx264"]), ("nagranie.avi", ["-c:v", "mjpeg"])):
        path = folder / name
        subprocess.run(
            [
                ffmpeg,
                "-hide_banner",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=64x48:rate=5",
                "-t",
                "1",
                "-pix_fmt",
                "yuv420p",
                *codec,
                "-y",
                str(path),
            ],
            check=True,
            timeout=60,
        )
        made[name] = path.read_bytes()
    return made


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


def check_url(service: str) -> str:
    return reverse("portal:check", args=[service])


def post_ok(client: Client, url: str, data: dict) -> None:
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]


def summary_links(body: str) -> list[tuple[str, str]]:
    block = re.search(r'<div class="p-error-summary".*?</div>', body, re.S)
    assert block, "no error summary"
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', block.group(0))


def submit(client: Client, service: str):
    page = client.get(check_url(service))
    assert page.status_code == 200, page.content.decode()[:3000]
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page.content.decode()).group(1)
    return client.post(check_url(service), {"form_token": token})


def confirmation_token(response) -> str:
    assert response.status_code == 302, response.content.decode()[:3000]
    match = re.search(r"/portal/wyslano/([0-9a-f]+)/", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def check_error(client: Client, service: str) -> str:
    """The check page's refusal: 400 with the message, and the filing is not made."""
    page = client.get(check_url(service))
    assert page.status_code == 400, page.content.decode()[:2000]
    body = page.content.decode()
    block = re.search(r'<div class="p-error-summary".*?</div>', body, re.S)
    assert block and "Nie wysłano" in block.group(0)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block.group(0)))


def filed_fields() -> dict:
    return json.loads(Submission.objects.get().canonical_json)["fields"]


def pdf_text(data: bytes) -> str:
    pdf = pypdfium2.PdfDocument(data)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


def intake_names(item: IncomingItem) -> list[str]:
    return [
        i.original_filename for i in IntakeItem.objects.filter(incoming_item=item).order_by("pk")
    ]


# --- the start page ----------------------------------------------------------------------------


def test_the_start_page_lists_the_four_services_with_their_titles(garrison):
    body = Client().get("/portal/").content.decode()
    for service, title in (
        ("informacja-publiczna", "Poproś o informację publiczną"),
        ("petycja", "Złóż petycję"),
        ("zaswiadczenie", "Poproś o zaświadczenie o zdarzeniu drogowym"),
        ("agresja-drogowa", "Prześlij nagranie agresji drogowej"),
    ):
        assert f'href="{reverse("portal:service", args=[service])}">{title}</a>' in body
        page = Client().get(reverse("portal:service", args=[service])).content.decode()
        assert str(FLOWS[service].summary) in page


# --- public information ------------------------------------------------------------------------


def fill_public_information(
    client: Client, unit, *, delivery: str = "e-mail", access: str = "pliki elektroniczne", **extra
) -> None:
    service = "informacja-publiczna"
    post_ok(client, step_url(service, "jednostka"), {"unit": unit.pk})
    post_ok(
        client,
        step_url(service, "informacja"),
        {"subject": "Liczba kontroli drogowych", "text": "Proszę o liczbę kontroli w 2025 r."},
    )
    post_ok(client, step_url(service, "postac"), {"access": access})
    data = {"delivery": delivery, "name": "", "email": "", "address": ""}
    data.update(extra)
    post_ok(client, step_url(service, "udostepnienie"), data)
    post_ok(client, step_url(service, "zalaczniki"), extra.get("files_data", {}))


def test_a_public_information_request_needs_no_name_and_gets_fourteen_days(garrison):
    client = Client()
    fill_public_information(client, garrison.kmp, email="ania@example.pl")
    body = client.get(check_url("informacja-publiczna")).content.decode()
    assert "Proszę o liczbę kontroli w 2025 r." in body and "E-mailem" in body
    token = confirmation_token(submit(client, "informacja-publiczna"))

    item = IncomingItem.objects.get()
    today = timezone.localdate()
    assert item.unit == garrison.kmp and item.channel == Channel.PORTAL
    assert item.kind == DeadlineKind.PUBLIC_INFORMATION
    assert item.due_date == official_deadline(DeadlineKind.PUBLIC_INFORMATION, today).due_date
    assert item.due_date >= today + datetime.timedelta(days=14)
    assert (
        item.subject == "Wniosek o udostępnienie informacji publicznej: Liczba kontroli drogowych"
    )
    assert item.sender_name == "wnioskodawca nie podał imienia i nazwiska"
    assert "Udostępnić pocztą elektroniczną na adres: ania@example.pl." in item.remarks
    assert "Postać informacji: pliki elektroniczne." in item.remarks
    submission = Submission.objects.get()
    assert submission.email == "ania@example.pl" and not submission.is_anonymous
    assert filed_fields()["delivery"] == "e-mail"
    assert intake_names(item) == [f"{item.registration_number.replace('/', '-')}-tresc.txt"]
    receipt = client.get(reverse("portal:receipt", args=[token]))
    assert item.registration_number in pdf_text(receipt.content)


def test_e_mail_delivery_needs_an_e_mail_and_post_needs_an_address(garrison):
    client = Client()
    service = "informacja-publiczna"
    post_ok(client, step_url(service, "jednostka"), {"unit": garrison.kwp.pk})
    response = client.post(step_url(service, "udostepnienie"), {"delivery": "e-mail"})
    # Pages out of order go back to the first unanswered one.
    assert response.status_code == 302
    post_ok(client, step_url(service, "informacja"), {"subject": "Etaty", "text": "Ile etatów?"})
    post_ok(client, step_url(service, "postac"), {"access": "kopia papierowa"})
    response = client.post(step_url(service, "udostepnienie"), {"delivery": "e-mail"})
    assert response.status_code == 400
    assert summary_links(response.content.decode()) == [
        (
            "id_email",
            "Podaj adres e-mail, na który mamy wysłać informację, albo wybierz inny sposób "
            "udostępnienia.",
        )
    ]
    response = client.post(
        step_url(service, "udostepnienie"), {"delivery": "poczta", "email": "a@example.pl"}
    )
    assert summary_links(response.content.decode()) == [
        (
            "id_address",
            "Podaj adres pocztowy, na który mamy wysłać informację, albo wybierz inny sposób "
            "udostępnienia.",
        )
    ]
    response = client.post(step_url(service, "udostepnienie"), {})
    assert summary_links(response.content.decode()) == [
        ("id_delivery_0", "Wybierz, jak mamy udostępnić informację.")
    ]
    post_ok(
        client,
        step_url(service, "udostepnienie"),
        {"delivery": "poczta", "address": "ul. Lipowa 1\n20-001 Lublin"},
    )
    post_ok(client, step_url(service, "zalaczniki"), {})
    confirmation_token(submit(client, service))
    assert "Przesłać pocztą na adres: ul. Lipowa 1\n20-001 Lublin." in (
        IncomingItem.objects.get().remarks
    )


def test_delivery_through_the_portal_needs_no_contact_at_all(garrison):
    client = Client()
    fill_public_information(client, garrison.kwp, delivery="portal")
    confirmation_token(submit(client, "informacja-publiczna"))
    item = IncomingItem.objects.get()
    assert "Udostępnić przez portal e-usług" in item.remarks
    assert "Kontakt:" not in item.remarks
    assert Submission.objects.get().email == ""


def test_inspection_of_documents_is_refused_unless_it_is_in_the_unit(garrison):
    client = Client()
    fill_public_information(
        client, garrison.kwp, access="wgląd do dokumentów", email="jan@example.pl"
    )
    assert "Wgląd do dokumentów jest możliwy tylko w jednostce" in check_error(
        client, "informacja-publiczna"
    )
    page = client.get(check_url("informacja-publiczna")).content.decode()
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)
    refused = client.post(check_url("informacja-publiczna"), {"form_token": token})
    assert refused.status_code == 400 and not IncomingItem.objects.exists()
    post_ok(
        client,
        step_url("informacja-publiczna", "udostepnienie") + "?zmien=1",
        {"delivery": "w jednostce"},
    )
    confirmation_token(submit(client, "informacja-publiczna"))
    assert "Udostępnić w siedzibie jednostki" in IncomingItem.objects.get().remarks


def test_the_service_itself_refuses_a_delivery_without_its_contact(garrison):
    fields = {
        "subject": "Etaty",
        "text": "Ile etatów?",
        "access": "pliki elektroniczne",
        "delivery": "poczta",
        "name": "",
        "email": "",
        "address": "",
    }
    with pytest.raises(DomainError) as problem:
        portal_submission_file(
            service="informacja-publiczna",
            unit=garrison.kwp,
            fields=fields,
            attachments=[],
            client_token="t" * 64,
        )
    assert problem.value.field == "address"
    assert not IncomingItem.objects.exists()


# --- petition ----------------------------------------------------------------------------------


def fill_petition(
    client: Client,
    unit,
    *,
    organisation: bool = False,
    third_party: bool = False,
    publish: bool = True,
    files: list | None = None,
) -> None:
    service = "petycja"
    post_ok(client, step_url(service, "jednostka"), {"unit": unit.pk})
    post_ok(
        client,
        step_url(service, "wnoszacy"),
        {"filer_kind": "podmiot" if organisation else "osoba fizyczna"},
    )
    if organisation:
        post_ok(
            client,
            step_url(service, "podmiot"),
            {
                "name": "Stowarzyszenie Bezpieczny Lublin",
                "residence": "Lublin",
                "representative": "Ewa Nowak",
                "email": "biuro@example.pl",
                "address": "",
            },
        )
    else:
        post_ok(
            client,
            step_url(service, "dane"),
            {
                "name": "Jan Kowalski",
                "residence": "Puławy",
                "email": "jan@example.pl",
                "address": "",
            },
        )
    post_ok(
        client,
        step_url(service, "tresc"),
        {"subject": "Patrole w parku", "text": "Wnosimy o wieczorne patrole w parku Ludowym."},
    )
    post_ok(client, step_url(service, "interes"), {"third_party": "yes" if third_party else "no"})
    if third_party:
        post_ok(
            client,
            step_url(service, "podmiot-trzeci"),
            {
                "third_name": "Rada Osiedla Czechów",
                "third_residence": "Lublin",
                "third_address": "ul. Szczerbowskiego 1, 20-012 Lublin",
            },
        )
    post_ok(client, step_url(service, "publikacja"), {"publish_name": "on"} if publish else {})
    if third_party:
        post_ok(client, step_url(service, "publikacja-podmiotu"), {})
    post_ok(client, step_url(service, "zalaczniki"), {"files": files or []})


def test_a_petition_by_a_person_for_a_third_party_gets_three_months_and_keeps_the_consent(
    garrison,
):
    client = Client()
    fill_petition(
        client, garrison.kwp, third_party=True, files=[upload("podpisy.pdf", pdf_bytes())]
    )
    confirmation_token(submit(client, "petycja"))
    item = IncomingItem.objects.get()
    today = timezone.localdate()
    assert item.kind == DeadlineKind.PETITION
    assert item.due_date == official_deadline(DeadlineKind.PETITION, today).due_date
    assert item.due_date >= today + datetime.timedelta(days=88)
    assert item.subject == "Petycja: Patrole w parku"
    assert item.sender_name == "Jan Kowalski"
    assert "Petycja w interesie podmiotu trzeciego: Rada Osiedla Czechów, Lublin" in item.remarks
    assert "(art. 4 ust. 3 ustawy o petycjach): tak." in item.remarks
    assert "Zgoda na ujawnienie danych podmiotu trzeciego: nie." in item.remarks
    fields = filed_fields()
    assert fields["publish_name"] is True and fields["publish_third_party"] is False
    assert fields["third_party"] is True and fields["residence"] == "Puławy"
    assert intake_names(item)[1:] == ["podpisy.pdf"]
    submission = Submission.objects.get()
    assert submission.published_at is None and submission.email == "jan@example.pl"


def test_an_organisation_names_its_representative_and_may_refuse_publication(garrison):
    client = Client()
    fill_petition(client, garrison.kmp, organisation=True, publish=False)
    body = client.get(check_url("petycja")).content.decode()
    assert "Ewa Nowak" in body and "Rada Osiedla" not in body
    confirmation_token(submit(client, "petycja"))
    item = IncomingItem.objects.get()
    assert item.sender_name == "Stowarzyszenie Bezpieczny Lublin (reprezentuje: Ewa Nowak)"
    assert "(art. 4 ust. 3 ustawy o petycjach): nie." in item.remarks
    assert "podmiotu trzeciego" not in item.remarks
    fields = filed_fields()
    assert fields["publish_name"] is False and fields["third_party"] is False
    assert "third_name" not in fields and "publish_third_party" not in fields


def test_switching_from_a_person_to_an_organisation_drops_the_persons_page(garrison):
    client = Client()
    fill_petition(client, garrison.kwp)
    post_ok(client, step_url("petycja", "wnoszacy") + "?zmien=1", {"filer_kind": "podmiot"})
    # The organisation's page is new, so the change leads there, not to the check page.
    response = client.get(check_url("petycja"))
    assert response["Location"] == step_url("petycja", "podmiot")
    response = client.post(
        step_url("petycja", "podmiot"), {"name": "Fundacja", "residence": "Zamość"}
    )
    assert [anchor for anchor, _ in summary_links(response.content.decode())] == [
        "id_representative",
        "id_email",
    ]


# --- certificate -------------------------------------------------------------------------------


def fill_certificate(
    client: Client,
    unit,
    *,
    fee: str = "wniesiona",
    exemption: dict | None = None,
    files: list | None = None,
) -> None:
    service = "zaswiadczenie"
    post_ok(client, step_url(service, "jednostka"), {"unit": unit.pk})
    post_ok(
        client,
        step_url(service, "wnioskodawca"),
        {
            "name": "Marta Wiśniewska",
            "email": "marta@example.pl",
            "address": "",
            "role": "kierujący pojazdem",
        },
    )
    post_ok(
        client,
        step_url(service, "zdarzenie"),
        {"event_date": "03.11.2026", "place": "Lublin, al. Kraśnicka", "vehicles": "LU 12345"},
    )
    post_ok(client, step_url(service, "cel"), {"purpose": "ubezpieczyciel"})
    post_ok(client, step_url(service, "oplata"), {"fee": fee})
    if fee == "zwolnienie":
        exemption = exemption or {}
        post_ok(client, step_url(service, "zwolnienie"), {"exemption": exemption["exemption"]})
        if exemption["exemption"] == "inna":
            post_ok(
                client,
                step_url(service, "zwolnienie-inne"),
                {"exemption_other": exemption["exemption_other"]},
            )
    post_ok(client, step_url(service, "zalaczniki"), {"files": files or []})


def test_a_paid_certificate_with_its_proof_gets_seven_days_and_answers_through_the_portal(
    garrison,
):
    client = Client()
    fill_certificate(client, garrison.kmp, files=[upload("przelew.pdf", pdf_bytes())])
    body = client.get(check_url("zaswiadczenie")).content.decode()
    # The date as the page's language writes it, not as the session keeps it.
    assert "3 listopada 2026" in body and "2026-11-03" not in body
    assert "Dla ubezpieczyciela (likwidacja szkody)" in body
    token = confirmation_token(submit(client, "zaswiadczenie"))
    item = IncomingItem.objects.get()
    today = timezone.localdate()
    assert item.kind == DeadlineKind.CERTIFICATE
    assert item.due_date == official_deadline(DeadlineKind.CERTIFICATE, today).due_date
    assert today + datetime.timedelta(days=7) <= item.due_date
    assert item.due_date <= today + datetime.timedelta(days=12)
    assert item.subject == (
        "Wniosek o zaświadczenie o zdarzeniu drogowym z 03.11.2026, Lublin, al. Kraśnicka"
    )
    assert "odesłać przez portal e-usług jako PDF" in item.remarks
    assert "Opłata skarbowa 17 zł: wniesiona, potwierdzenie w załączniku." in item.remarks
    assert "Cel: ubezpieczyciel. Wnioskodawca: kierujący pojazdem." in item.remarks
    assert item.attachments_count == 1
    assert intake_names(item)[1:] == ["przelew.pdf"]
    assert filed_fields()["event_date"] == "2026-11-03"
    assert client.get(reverse("portal:tracking", args=[token])).status_code == 200


def test_paid_without_a_proof_of_payment_is_not_filed(garrison):
    client = Client()
    fill_certificate(client, garrison.kwp)
    assert "Dołącz potwierdzenie wpłaty opłaty skarbowej (17 zł)" in check_error(
        client, "zaswiadczenie"
    )
    page = client.get(check_url("zaswiadczenie")).content.decode()
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page).group(1)
    assert client.post(check_url("zaswiadczenie"), {"form_token": token}).status_code == 400
    assert not IncomingItem.objects.exists() and not Submission.objects.exists()
    # Adding the proof lets it through.
    post_ok(
        client,
        step_url("zaswiadczenie", "zalaczniki") + "?zmien=1",
        {"files": [upload("przelew.pdf", pdf_bytes())]},
    )
    confirmation_token(submit(client, "zaswiadczenie"))
    assert IncomingItem.objects.count() == 1


def test_an_exemption_on_another_ground_needs_its_reason_and_no_attachment(garrison):
    client = Client()
    fill_certificate(
        client,
        garrison.kwp,
        fee="zwolnienie",
        exemption={"exemption": "inna", "exemption_other": "art. 7 pkt 1 – sprawa z urzędu"},
    )
    confirmation_token(submit(client, "zaswiadczenie"))
    item = IncomingItem.objects.get()
    assert (
        "Zwolnienie z opłaty skarbowej: inna: art. 7 pkt 1 – sprawa z urzędu. Sprawdzić podstawę."
        in item.remarks
    )
    assert item.attachments_count == 0


def test_the_exemption_page_asks_for_the_other_reason_and_social_assistance_needs_a_proof(
    garrison,
):
    client = Client()
    fill_certificate(
        client,
        garrison.kwp,
        fee="zwolnienie",
        exemption={"exemption": "pomoc społeczna z powodu ubóstwa (art. 7 pkt 2)"},
    )
    assert "Dołącz zaświadczenie o korzystaniu ze świadczeń pomocy społecznej" in check_error(
        client, "zaswiadczenie"
    )
    post_ok(client, step_url("zaswiadczenie", "zwolnienie"), {"exemption": "inna"})
    assert client.get(check_url("zaswiadczenie"))["Location"] == step_url(
        "zaswiadczenie", "zwolnienie-inne"
    )
    response = client.post(step_url("zaswiadczenie", "zwolnienie-inne"), {"exemption_other": ""})
    assert summary_links(response.content.decode()) == [
        ("id_exemption_other", "Opisz podstawę zwolnienia z opłaty: przepis i powód.")
    ]


def test_the_fee_page_shows_where_to_pay(garrison, settings):
    settings.GARNIZON_PORTAL_FEE_ACCOUNT = "12 3456 7890 1234 5678 9012 3456"
    settings.GARNIZON_PORTAL_FEE_RECIPIENT = "Urząd Miasta Chełm"
    client = Client()
    fill_certificate(client, garrison.kwp, files=[upload("przelew.pdf", pdf_bytes())])
    body = client.get(step_url("zaswiadczenie", "oplata")).content.decode()
    hint = re.search(r'<div class="p-hint" id="id_fee-hint">(.*?)</div>', body, re.S).group(1)
    assert "17 zł" in hint
    assert "Urząd Miasta Chełm, nr 12 3456 7890 1234 5678 9012 3456" in hint


def test_a_future_date_and_an_unexplained_purpose_are_refused(garrison):
    client = Client()
    fill_certificate(client, garrison.kwp, files=[upload("przelew.pdf", pdf_bytes())])
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    response = client.post(
        step_url("zaswiadczenie", "zdarzenie"),
        {"event_date": tomorrow.strftime("%d.%m.%Y"), "place": "Lublin", "vehicles": "LU 1"},
    )
    assert summary_links(response.content.decode()) == [
        ("id_event_date", "Data nie może być z przyszłości. Podaj datę zdarzenia.")
    ]
    response = client.post(
        step_url("zaswiadczenie", "zdarzenie"),
        {"event_date": "31.02.2026", "place": "Lublin", "vehicles": "LU 1"},
    )
    assert summary_links(response.content.decode())[0][0] == "id_event_date"
    post_ok(client, step_url("zaswiadczenie", "cel"), {"purpose": "inna"})
    response = client.post(step_url("zaswiadczenie", "cel-inny"), {"purpose_other": " "})
    assert summary_links(response.content.decode()) == [
        ("id_purpose_other", "Opisz, do czego potrzebujesz zaświadczenia.")
    ]


# --- road-aggression video ---------------------------------------------------------------------


def fill_road_video(client: Client, unit, *, files: list | None = None, plate: str = "lu 12345"):
    service = "agresja-drogowa"
    post_ok(
        client,
        step_url(service, "miejsce"),
        {"unit": unit.pk, "town": "Lublin", "road": "al. Solidarności"},
    )
    post_ok(
        client,
        step_url(service, "zdarzenie"),
        {
            "event_date": "20.11.2026",
            "event_time": "17.45",
            "plate": plate,
            "description": "Jazda na zderzaku i hamowanie przed moim autem (0:12 nagrania).",
        },
    )
    post_ok(
        client,
        step_url(service, "zglaszajacy"),
        {
            "name": "Piotr Zieliński",
            "email": "piotr@example.pl",
            "phone": "600 100 200",
            "author": "on",
        },
    )
    post_ok(client, step_url(service, "zalaczniki"), {"files": files or []})


def test_ffmpeg_recordings_are_detected_as_mp4_and_avi(videos, tmp_path):
    for name, mime in (("nagranie.mp4", "video/mp4"), ("nagranie.avi", "video/x-msvideo")):
        path = tmp_path / name
        path.write_bytes(videos[name])
        assert detect_mime(path) == mime
    # A QuickTime file shares the ISO container but is not MP4.
    quicktime = tmp_path / "film.mov"
    quicktime.write_bytes(b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  " + b"\x00" * 40)
    assert detect_mime(quicktime) == "application/octet-stream"


def test_a_road_video_goes_to_the_traffic_department_and_through_intake(garrison, videos):
    from garnizon.intake.services import dispatch

    client = Client()
    fill_road_video(client, garrison.kmp, files=[upload("kamera.mp4", videos["nagranie.mp4"])])
    body = client.get(check_url("agresja-drogowa")).content.decode()
    assert "Komenda Miejska Policji w Lublinie" in body and "LU 12345" in body
    assert "17:45" in body and "kamera.mp4" in body
    confirmation_token(submit(client, "agresja-drogowa"))

    item = IncomingItem.objects.get()
    assert item.unit == garrison.kmp
    assert item.assigned_cell == garrison.cells["kmp_wrd"]
    assert item.kind == DeadlineKind.NONE and item.due_date is None
    assert item.subject == "Nagranie agresji drogowej: LU 12345, Lublin, 2026-11-20"
    assert item.sender_name == "Piotr Zieliński"
    assert "Telefon: 600 100 200" in item.remarks
    assert "Zgłaszający oświadczył, że jest autorem nagrania." in item.remarks
    fields = filed_fields()
    assert fields["plate"] == "LU 12345" and fields["event_time"] == "17:45"
    assert fields["author"] is True

    content, video = IntakeItem.objects.filter(incoming_item=item).order_by("pk")
    assert video.original_filename == "kamera.mp4"
    dispatch(video, run_now=True)
    video.refresh_from_db()
    assert video.state == "done", video.error_message
    assert video.mime_type == "video/mp4"
    version = video.document.latest_version
    assert version.mime_type == "video/mp4"
    assert get_blob_store().open(version.blob_sha256).read() == videos["nagranie.mp4"]
    assert version.thumbnail_sha256 in ("", None)
    dispatch(content, run_now=True)
    content.refresh_from_db()
    assert content.state == "done", content.error_message
    assert item.documents.count() == 2


def test_an_avi_is_accepted_and_a_unit_without_a_traffic_cell_gets_no_cell(garrison, videos):
    client = Client()
    fill_road_video(client, garrison.kwp, files=[upload("kamera.avi", videos["nagranie.avi"])])
    confirmation_token(submit(client, "agresja-drogowa"))
    item = IncomingItem.objects.get()
    assert item.unit == garrison.kwp and item.assigned_cell is None
    assert "Jednostka nie ma wydziału ruchu drogowego" in item.remarks
    assert Submission.objects.get().attachments[0]["mime"] == "video/x-msvideo"


def test_the_traffic_cell_is_found_by_its_name_too(garrison, videos):
    traffic = Cell.objects.create(
        unit=garrison.kwp, name="Wydział Ruchu Drogowego KWP", symbol="RD"
    )
    client = Client()
    fill_road_video(client, garrison.kwp, files=[upload("kamera.mp4", videos["nagranie.mp4"])])
    confirmation_token(submit(client, "agresja-drogowa"))
    assert IncomingItem.objects.get().assigned_cell == traffic


def test_the_video_is_required_and_only_mp4_or_avi_up_to_25_mb(garrison, videos):
    client = Client()
    fill_road_video(client, garrison.kmp)
    assert "Dodaj nagranie zdarzenia: plik MP4 albo AVI, do 25 MB." in check_error(
        client, "agresja-drogowa"
    )
    url = step_url("agresja-drogowa", "zalaczniki")
    response = client.post(url, {"files": [upload("skan.pdf", pdf_bytes())]})
    assert response.status_code == 400
    ((anchor, message),) = summary_links(response.content.decode())
    assert anchor == "id_files" and "skan.pdf ma niedozwolony rodzaj. Dodaj plik: MP4, AVI." in (
        message
    )
    big = videos["nagranie.mp4"] + b"\x00" * (25 * 1024 * 1024)
    response = client.post(url, {"files": [upload("dlugie.mp4", big)]})
    ((anchor, message),) = summary_links(response.content.decode())
    assert "dlugie.mp4 jest za duży" in message and "25 MB" in message
    assert client.session["portal:agresja-drogowa"]["attachments"] == []
    page = client.get(url).content.decode()
    assert "MP4, AVI; każdy plik do 25 MB" in page
    post_ok(client, url, {"files": [upload("kamera.mp4", videos["nagranie.mp4"])]})
    confirmation_token(submit(client, "agresja-drogowa"))


def test_the_letter_service_still_refuses_a_video(garrison, videos):
    client = Client()
    post_ok(client, step_url("pismo", "jednostka"), {"unit": garrison.kwp.pk})
    post_ok(
        client,
        step_url("pismo", "nadawca"),
        {"name": "Jan Kowalski", "email": "jan@example.pl", "address": ""},
    )
    post_ok(client, step_url("pismo", "tresc"), {"subject": "Film", "text": "W załączeniu."})
    response = client.post(
        step_url("pismo", "zalaczniki"), {"files": [upload("film.mp4", videos["nagranie.mp4"])]}
    )
    assert response.status_code == 400
    assert "film.mp4 ma niedozwolony rodzaj" in summary_links(response.content.decode())[0][1]


@pytest.mark.parametrize(
    ("plate", "ok"),
    [
        ("LU 12345", True),
        ("lu12345", True),
        ("WPI 1A23", True),
        ("LU  123", True),  # spaces are squeezed
        ("L1", False),
        ("LU-12345", False),
        ("LU 12 345", False),
        ("ABCDEFGHI", False),
        ("ŁÓ 12345", False),
    ],
)
def test_the_registration_number_is_checked_loosely(garrison, plate, ok):
    client = Client()
    post_ok(
        client,
        step_url("agresja-drogowa", "miejsce"),
        {"unit": garrison.kmp.pk, "town": "Lublin", "road": "S17"},
    )
    response = client.post(
        step_url("agresja-drogowa", "zdarzenie"),
        {
            "event_date": "20.11.2026",
            "event_time": "8:05",
            "plate": plate,
            "description": "Zajechanie drogi.",
        },
    )
    if ok:
        assert response.status_code == 302
        saved = client.session["portal:agresja-drogowa"]["pages"]["zdarzenie"]
        assert saved["plate"] == " ".join(plate.upper().split())
        assert saved["event_time"] == "08:05"
    else:
        assert summary_links(response.content.decode()) == [
            (
                "id_plate",
                "Podaj numer rejestracyjny: 4 do 8 liter i cyfr, najwyżej z jedną spacją, "
                "np. LU 12345.",
            )
        ]


def test_the_reporter_must_state_authorship_and_give_a_phone(garrison):
    client = Client()
    response = client.post(
        step_url("agresja-drogowa", "zglaszajacy"),
        {"name": "Piotr", "email": "piotr@example.pl", "phone": "12"},
    )
    # No earlier page answered yet: back to the first.
    assert response["Location"] == step_url("agresja-drogowa", "miejsce")
    fill_road_video(client, garrison.kmp)
    response = client.post(
        step_url("agresja-drogowa", "zglaszajacy"),
        {"name": "Piotr", "email": "piotr@example.pl", "phone": "12"},
    )
    assert [anchor for anchor, _ in summary_links(response.content.decode())] == [
        "id_phone",
        "id_author",
    ]


def test_the_place_page_lists_commands_by_town_with_the_regional_hq_chosen(garrison):
    garrison.kmp.seat = "Lublin"
    garrison.kmp.save()
    body = Client().get(step_url("agresja-drogowa", "miejsce")).content.decode()
    options = re.findall(r"<option value=\"(\d+)\"( selected)?>([^<]+)</option>", body)
    assert options[0] == (
        str(garrison.kwp.pk),
        " selected",
        "Nie wiem – Komenda Wojewódzka Policji w Lublinie (przekaże nagranie dalej)",
    )
    assert (str(garrison.kmp.pk), "", "Lublin – Komenda Miejska Policji w Lublinie") in options
