"""The citizen's login and account pages in a real browser: axe-core, keyboard, 320 px.

The e-mail login goes through the real SMTP server (`smtp_server`); the link is
opened as a person would open it from their mail program.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client

from garnizon.portal import identity
from garnizon.portal.models import Citizen, Submission
from tests.browser.test_portal_browser import (
    active,
    by_text,
    check_axe,
    no_horizontal_overflow,
    tab_to,
    wait_for_path,
)
from tests.factories import make_garrison
from tests.test_portal import confirmation_token, fill_letter, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _portal_state(settings, tmp_path, live_server):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_PORTAL_URL = live_server.url
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def saml_configured(settings, tmp_path):
    """The SAML button shows when the SP has a key, a certificate and IdP metadata."""

    from tests.test_portal_identity import _idp_config, make_keypair, use_idp_metadata

    idp_config = _idp_config(make_keypair(tmp_path, "idp"), {})
    use_idp_metadata(settings, make_keypair(tmp_path, "sp"), idp_config, tmp_path / "idp.xml")


def link_path(message) -> str:
    body = message.get_body(preferencelist=("plain",)).get_content()
    match = re.search(r"https?://\S+/portal/konto/zaloguj/link/\S+/", body)
    assert match, body
    return urlparse(match.group(0)).path


def citizen_with_filing(live_server, context) -> tuple[Citizen, Submission]:
    """A citizen who filed a letter while logged in; the browser gets their session."""
    garrison = make_garrison()
    citizen = Citizen.objects.create(method=Citizen.Method.EMAIL, email="jan@example.pl")
    client = Client()
    session = client.session
    session[identity.SESSION_KEY] = citizen.pk
    session[identity.NAME_KEY] = str(citizen)
    session.save()
    fill_letter(client, garrison.kwp)
    confirmation_token(submit(client, "pismo")[0])
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "url": live_server.url, "httpOnly": True}]
    )
    return citizen, Submission.objects.get(citizen=citizen)


def test_the_email_login_with_the_keyboard_alone(page, live_server, smtp_server):
    page.goto(f"{live_server.url}/portal/")
    page.keyboard.press("Tab")
    assert active(page)["cls"] == "p-skip"
    tab_to(page, by_text("Zaloguj się"), "the header's login link")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/konto/zaloguj/")
    tab_to(page, by_text("Zaloguj się linkiem z e-maila"), "the e-mail login button")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/konto/zaloguj/email/")

    # Sending nothing: the error summary takes focus and its link leads to the field.
    tab_to(page, by_text("Wyślij link"), "Send the link")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Autofocus is applied after the load event: wait for it, then check.
    page.wait_for_function("() => document.activeElement.classList.contains('p-error-summary')")
    assert "p-error-summary" in active(page)["cls"]
    tab_to(page, lambda e: e["tag"] == "a" and e["text"] == "Podaj adres e-mail.", "error link")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'id_email'")
    page.keyboard.type("ewa@example.pl")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/konto/zaloguj/email/wyslano/")
    assert "ewa@example.pl" in page.inner_text("main")
    assert len(smtp_server) == 1

    # The link from the message, then one button.
    page.goto(live_server.url + link_path(smtp_server[0]))
    tab_to(page, lambda e: e["tag"] == "button" and e["text"] == "Zaloguj się", "Log in")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/konto/")
    assert "Twoje zgłoszenia" in page.inner_text("h1")
    assert "ewa@example.pl" in page.inner_text("header")
    assert Citizen.objects.get().email == "ewa@example.pl"

    # Log out from the header, also with the keyboard.
    tab_to(page, by_text("Wyloguj"), "Log out")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/konto/wylogowano/")
    assert "Zaloguj się" in page.inner_text("header")


def visit_every_account_page(page, live_server, context, smtp_server, visit) -> None:
    base = live_server.url
    page.goto(f"{base}/portal/konto/zaloguj/")
    visit(page, "login choice")
    page.goto(f"{base}/portal/konto/zaloguj/email/")
    visit(page, "e-mail")
    page.click("button:has-text('Wyślij link')")
    visit(page, "e-mail, error")
    page.fill("#id_email", "zly-adres")
    page.click("button:has-text('Wyślij link')")
    visit(page, "e-mail, invalid address")
    page.fill("#id_email", "ewa@example.pl")
    page.click("button:has-text('Wyślij link')")
    wait_for_path(page, "/portal/konto/zaloguj/email/wyslano/")
    visit(page, "check your inbox")
    path = link_path(smtp_server[-1])
    page.goto(base + path)
    visit(page, "link: confirm")
    page.goto(base + path.replace(":", ":x", 1))
    visit(page, "link: refused")
    page.goto(f"{base}/portal/konto/wylogowano/")
    visit(page, "logged out")

    _citizen, submission = citizen_with_filing(live_server, context)
    page.goto(f"{base}/portal/konto/")
    assert submission.incoming_item.registration_number in page.inner_text("main")
    visit(page, "my filings")
    page.click(f"a[href='/portal/konto/zgloszenia/{submission.pk}/dodaj/']")
    visit(page, "add documents")
    page.click("button:has-text('Wyślij pliki')")
    visit(page, "add documents, error")
    page.set_input_files(
        "#id_files",
        files=[
            {
                "name": "program.exe",
                "mimeType": "application/octet-stream",
                "buffer": b"MZ\x90\x00" * 100,
            }
        ],
    )
    page.click("button:has-text('Wyślij pliki')")
    assert "niedozwolony rodzaj" in page.inner_text(".p-error-summary")
    visit(page, "add documents, wrong type")
    page.set_input_files(
        "#id_files",
        files=[{"name": "notatka.txt", "mimeType": "text/plain", "buffer": "zażółć".encode()}],
    )
    page.click("button:has-text('Wyślij pliki')")
    page.wait_for_selector(".p-notice")
    visit(page, "add documents, sent")
    assert submission.additions.get().name == "notatka.txt"


def test_axe_finds_no_violation_on_the_account_pages(
    page, live_server, context, smtp_server, saml_configured
):
    visited = []

    def visit(p, name):
        visited.append(name)
        check_axe(p, name)

    visit_every_account_page(page, live_server, context, smtp_server, visit)
    assert len(visited) == 13, visited
    assert page.locator("a:has-text('Zaloguj się przez login.gov.pl')").count() == 0  # logged in
    page.goto(f"{live_server.url}/portal/konto/")
    page.click("a[lang=uk]")
    page.wait_for_function("() => document.documentElement.lang === 'uk'")
    check_axe(page, "my filings, Ukrainian")


def test_the_login_choice_shows_the_national_login_when_configured(
    page, live_server, saml_configured
):
    page.goto(f"{live_server.url}/portal/konto/zaloguj/")
    assert page.locator("a:has-text('Zaloguj się przez login.gov.pl')").count() == 1
    check_axe(page, "login choice with SAML")


def test_the_account_pages_fit_320_px(browser, live_server, smtp_server):
    context = browser.new_context(viewport={"width": 320, "height": 640}, locale="pl-PL")
    try:
        page = context.new_page()
        visited = []

        def visit(p, name):
            visited.append(name)
            no_horizontal_overflow(p, name)
            assert p.evaluate("() => document.scripts.length") == 0, name

        visit_every_account_page(page, live_server, context, smtp_server, visit)
        assert len(visited) == 13
    finally:
        context.close()


def test_the_single_logout_error_pages_have_no_axe_violation(page, live_server, saml_configured):
    """A logout request we cannot verify, and a logout the node did not confirm."""
    response = page.goto(f"{live_server.url}/portal/konto/saml/slo/")
    assert response.status == 400
    assert "Nie wylogowano" in page.inner_text("h1")
    check_axe(page, "SLO refused")
    response = page.goto(f"{live_server.url}/portal/konto/saml/slo/?SAMLResponse=x")
    assert response.status == 400
    assert "Wylogowano tylko z e-Usług" in page.inner_text("h1")
    check_axe(page, "SLO not confirmed")
