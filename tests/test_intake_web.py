"""The intake pages: who sees them, the multi-file upload, retry, and the clerk's match."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from garnizon.intake.models import IntakeItem, IntakeMode, IntakeState
from garnizon.intake.pipeline import run_pipeline
from garnizon.intake.services import intake_add_file
from garnizon.registry.models import Channel, IncomingItem
from garnizon.registry.services import incoming_item_register
from tests.test_intake import pdf_bytes, png_bytes, write
from tests.test_web import ROLES, client_for

pytestmark = pytest.mark.django_db

REGISTERING = {"clerk", "head", "commander", "kmp_clerk", "kmp_commander"}
KWP_REGISTERING = {"clerk", "head", "commander"}


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"


@pytest.fixture
def kwp_item(garrison, tmp_path) -> IntakeItem:
    path = write(tmp_path / "in", "pismo.pdf", pdf_bytes(deterministic_id=True))
    return intake_add_file(
        path=path, unit=garrison.kwp, channel=Channel.PAPER, requested_by=garrison.people["clerk"]
    ).item


@pytest.mark.parametrize("role", ROLES)
def test_intake_pages_exist_only_for_those_who_register(garrison, kwp_item, role):
    client = client_for(garrison.people[role])
    pages = {
        "list": reverse("intake:list"),
        "upload": reverse("intake:upload"),
        "queue": reverse("intake:queue"),
        "separator": reverse("intake:separator"),
    }
    got = {name: client.get(url).status_code for name, url in pages.items()}
    expected = dict.fromkeys(pages, 200 if role in REGISTERING else 404)
    assert got == expected
    detail = client.get(reverse("intake:detail", args=[kwp_item.pk])).status_code
    assert detail == (200 if role in KWP_REGISTERING else 404)
    retry = client.post(reverse("intake:retry", args=[kwp_item.pk])).status_code
    assert retry == (302 if role in KWP_REGISTERING else 404)


def test_the_list_shows_only_the_units_one_registers_for(garrison, kwp_item, tmp_path):
    kmp = intake_add_file(
        path=write(tmp_path / "kmp", "kmp.pdf", pdf_bytes(deterministic_id=True)),
        unit=garrison.kmp,
        channel=Channel.PAPER,
        requested_by=garrison.people["kmp_clerk"],
    ).item
    # The very same file sent to another unit is that unit's own intake.
    assert kmp.pk != kwp_item.pk and kmp.blob_sha256 == kwp_item.blob_sha256
    page = client_for(garrison.people["kmp_clerk"]).get(reverse("intake:list")).content.decode()
    assert f"#{kmp.pk}<" in page and f"#{kwp_item.pk}<" not in page
    page = client_for(garrison.people["clerk"]).get(reverse("intake:list")).content.decode()
    assert f"#{kwp_item.pk}<" in page and f"#{kmp.pk}<" not in page


def test_uploading_several_files_at_once_registers_each(garrison):
    client = client_for(garrison.people["clerk"])
    pdf = pdf_bytes()
    files = [
        SimpleUploadedFile("skarga.pdf", pdf, "application/pdf"),
        SimpleUploadedFile("zdjęcie.png", png_bytes(), "image/png"),
    ]
    response = client.post(
        reverse("intake:upload"),
        {"unit": garrison.kwp.pk, "channel": "paper", "mode": "register", "files": files},
        follow=True,
    )
    assert response.status_code == 200
    assert "Przyjęto 2 pliki" in response.content.decode()
    items = list(IntakeItem.objects.order_by("pk"))
    assert [i.original_filename for i in items] == ["skarga.pdf", "zdjęcie.png"]
    assert {i.state for i in items} == {IntakeState.RECEIVED}
    assert {i.mode for i in items} == {IntakeMode.REGISTER}
    for item in items:
        assert run_pipeline(item.pk) == IntakeState.DONE
    page = client.get(reverse("intake:list")).content.decode()
    for entry in IncomingItem.objects.filter(unit=garrison.kwp):
        assert entry.registration_number in page
    # The same files again: nothing new, and the clerk is told so.
    again = client.post(
        reverse("intake:upload"),
        {
            "unit": garrison.kwp.pk,
            "channel": "paper",
            "mode": "register",
            "files": [SimpleUploadedFile("skarga.pdf", pdf, "application/pdf")],
        },
        follow=True,
    )
    assert "był już przyjęty" in again.content.decode()
    assert IntakeItem.objects.count() == 2


def test_an_upload_without_files_or_to_a_foreign_unit_is_refused(garrison):
    client = client_for(garrison.people["clerk"])
    response = client.post(
        reverse("intake:upload"), {"unit": garrison.kwp.pk, "channel": "paper", "mode": "match"}
    )
    assert response.status_code == 200
    assert "Wybierz co najmniej jeden plik" in response.content.decode()
    response = client.post(
        reverse("intake:upload"),
        {
            "unit": garrison.kmp.pk,
            "channel": "paper",
            "mode": "register",
            "files": [SimpleUploadedFile("a.pdf", pdf_bytes(), "application/pdf")],
        },
    )
    assert response.status_code == 200  # the form again, with the unit refused
    assert "error-summary" in response.content.decode()
    assert not IntakeItem.objects.exists()


def test_an_oversized_upload_is_refused_with_the_limit(garrison, settings):
    settings.GARNIZON_MAX_UPLOAD_MB = 1
    client = client_for(garrison.people["clerk"])
    big = SimpleUploadedFile("duzy.pdf", b"%PDF-1.4\n" + b"0" * (1024 * 1024 + 10))
    response = client.post(
        reverse("intake:upload"),
        {"unit": garrison.kwp.pk, "channel": "paper", "mode": "register", "files": [big]},
    )
    assert "za duży" in response.content.decode()
    assert not IntakeItem.objects.exists()


def test_a_failed_item_shows_its_reason_and_can_be_retried(garrison, tmp_path):
    path = write(tmp_path / "in", "pusty.pdf", b"")
    item = intake_add_file(
        path=path, unit=garrison.kwp, channel=Channel.PAPER, requested_by=garrison.people["clerk"]
    ).item
    assert run_pipeline(item.pk) == IntakeState.FAILED
    client = client_for(garrison.people["clerk"])
    page = client.get(reverse("intake:detail", args=[item.pk])).content.decode()
    item.refresh_from_db()
    assert item.error_message and item.error_message in page
    assert "Ponów przetwarzanie" in page and "preflight" in page
    client.post(reverse("intake:retry", args=[item.pk]))
    item.refresh_from_db()
    assert item.state == IntakeState.RECEIVED
    # A finished item cannot be retried; the clerk is told why.
    assert run_pipeline(item.pk) == IntakeState.FAILED
    IntakeItem.objects.filter(pk=item.pk).update(state=IntakeState.DONE)
    response = client.post(reverse("intake:retry", args=[item.pk]), follow=True)
    assert "Ponowić można tylko" in response.content.decode()


def _waiting_scan(garrison, tmp_path) -> IntakeItem:
    """A scan without a label in match mode: it waits for the clerk."""
    path = write(tmp_path / "scan", "skan.png", png_bytes((300, 200)))
    item = intake_add_file(
        path=path,
        unit=garrison.kwp,
        channel=Channel.PAPER,
        requested_by=garrison.people["clerk"],
        mode=IntakeMode.MATCH,
    ).item
    assert run_pipeline(item.pk) == IntakeState.AWAITING_MATCH
    return item


def test_the_clerk_attaches_a_waiting_scan_by_registration_number(garrison, tmp_path):
    entry = incoming_item_register(
        actor=garrison.people["clerk"], unit=garrison.kwp, subject="Pismo", channel=Channel.PAPER
    )
    item = _waiting_scan(garrison, tmp_path)
    client = client_for(garrison.people["clerk"])
    queue = client.get(reverse("intake:queue")).content.decode()
    assert f"#{item.pk} skan.png" in queue
    wrong = client.post(
        reverse("intake:match", args=[item.pk]),
        {"registration_number": "KWP/RPW/99999/2020"},
        follow=True,
    )
    assert "nie ma pisma o numerze KWP/RPW/99999/2020" in wrong.content.decode()
    client.post(
        reverse("intake:match", args=[item.pk]),
        {"registration_number": entry.registration_number, "back": "queue"},
    )
    item.refresh_from_db()
    assert item.incoming_item_id == entry.pk and item.state == IntakeState.RECEIVED
    assert run_pipeline(item.pk) == IntakeState.DONE
    item.refresh_from_db()
    assert item.document is not None and item.document.incoming_item_id == entry.pk
    assert IncomingItem.objects.filter(unit=garrison.kwp).count() == 1  # nothing new registered
    assert f"#{item.pk} skan.png" not in client.get(reverse("intake:queue")).content.decode()


def test_the_clerk_registers_a_waiting_scan_as_a_new_letter(garrison, tmp_path):
    item = _waiting_scan(garrison, tmp_path)
    client_for(garrison.people["clerk"]).post(reverse("intake:register_new", args=[item.pk]))
    item.refresh_from_db()
    assert item.mode == IntakeMode.REGISTER and item.state == IntakeState.RECEIVED
    assert run_pipeline(item.pk) == IntakeState.DONE
    item.refresh_from_db()
    assert item.incoming_item is not None
    # Another unit's clerk cannot touch it.
    other = client_for(garrison.people["kmp_clerk"])
    assert other.post(reverse("intake:register_new", args=[item.pk])).status_code == 404
    match = other.post(reverse("intake:match", args=[item.pk]), {"incoming_item": 1})
    assert match.status_code == 404


def test_the_separator_sheet_is_a_pdf(garrison):
    response = client_for(garrison.people["clerk"]).get(reverse("intake:separator"))
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
