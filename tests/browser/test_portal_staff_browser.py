"""Replies and petitions in a real browser: axe-core on the citizen's and the staff's pages,
the reply's file reached with the keyboard, nothing overflowing at 320 px."""

from __future__ import annotations

import pikepdf
import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from garnizon.portal.models import PortalReply
from garnizon.portal.petitions import petition_publish
from garnizon.portal.replies import portal_reply_send
from garnizon.portal.services import tracking_token_for
from tests.browser.test_portal_browser import check_axe, no_horizontal_overflow, tab_to
from tests.factories import make_garrison
from tests.test_portal_staff import file_letter, file_petition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _state(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    cache.clear()
    yield
    cache.clear()


def pdf_bytes() -> bytes:
    import io

    pdf = pikepdf.new()
    pdf.add_blank_page()
    buffer = io.BytesIO()
    pdf.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def world():
    g = make_garrison()
    submission = file_letter(g.kwp)
    reply = portal_reply_send(
        actor=g.people["clerk"],
        submission=submission,
        subject="Odpowiedź na pismo",
        body="Dzielnicowy skontaktuje się z Panem.\nW załączeniu zaświadczenie.",
        files=[SimpleUploadedFile("zaswiadczenie.pdf", pdf_bytes(), "application/pdf")],
    )
    petition = file_petition(g, consent=True)
    petition_publish(actor=g.people["commander"], submission=petition, text="Wnosimy o ławki.")
    return {"g": g, "submission": submission, "reply": reply, "petition": petition}


def tracking_path(submission) -> str:
    return reverse("portal:tracking", args=[tracking_token_for(submission.client_token)])


def test_the_reply_file_is_downloaded_with_the_keyboard_alone(page, live_server, world):
    page.goto(live_server.url + tracking_path(world["submission"]))
    tab_to(page, lambda el: el["text"].startswith("Pobierz zaswiadczenie.pdf"), "the reply file")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == "zaswiadczenie.pdf"
    assert PortalReply.objects.get().opened_at is not None


def test_axe_finds_no_violation_on_the_citizen_pages(page, live_server, world):
    page.goto(live_server.url + tracking_path(world["submission"]))
    check_axe(page, "tracking with a reply")
    page.goto(live_server.url + reverse("portal:petitions"))
    check_axe(page, "published petitions")


def test_axe_finds_no_violation_on_the_staff_pages(page, live_server, world, log_in):
    g = world["g"]
    log_in(g.people["commander"])
    pages = {
        "list": reverse("portal_staff:submission_list"),
        "petition": reverse("portal_staff:submission_detail", args=[world["petition"].pk]),
        "reply form": reverse("portal_staff:reply_new", args=[world["petition"].pk]),
    }
    for name, path in pages.items():
        page.goto(live_server.url + path)
        check_axe(page, name)
    page.fill("#id_subject", "")
    page.click("main button[type=submit]")
    page.wait_for_selector("#error-summary")
    check_axe(page, "reply form with errors")
    log_in(g.people["clerk"])
    page.goto(
        live_server.url + reverse("portal_staff:submission_detail", args=[world["submission"].pk])
    )
    check_axe(page, "a filing with a reply")


def test_nothing_overflows_at_320_px(browser, live_server, world):
    context = browser.new_context(viewport={"width": 320, "height": 640}, locale="pl-PL")
    try:
        page = context.new_page()
        for name, path in {
            "tracking": tracking_path(world["submission"]),
            "petitions": reverse("portal:petitions"),
        }.items():
            page.goto(live_server.url + path)
            no_horizontal_overflow(page, name)
    finally:
        context.close()
