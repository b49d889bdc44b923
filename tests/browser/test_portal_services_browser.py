"""The four newer e-services in a real browser (Debian's Chromium): axe-core on every page
of each flow, one error state each at least, nothing overflowing at 320 px, and the
public-information request filed with the keyboard alone.

The helpers (axe-core from the `axe-playwright-python` package, focus checks) are
those of tests/browser/test_portal_browser.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from django.core.cache import cache

from garnizon.cases.deadlines import DeadlineKind
from garnizon.portal.models import Submission
from garnizon.registry.models import IncomingItem
from tests.browser.test_portal_browser import (
    active,
    by_id,
    by_text,
    check_axe,
    no_horizontal_overflow,
    tab_to,
    wait_for_path,
)
from tests.factories import make_garrison

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _portal_state(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def garrison_world():
    return make_garrison()


@pytest.fixture(scope="module")
def mp4(tmp_path_factory) -> bytes:
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is needed to make the test recording (apt-get install ffmpeg)"
    path = tmp_path_factory.mktemp("video") / "nagranie.mp4"
    args = "-hide_banner -loglevel error -f lavfi -i testsrc=size=64x48:rate=5 -t 1"
    subprocess.run(
        [ffmpeg, *args.split(" "), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-y", str(path)],
        check=True,
        timeout=60,
    )
    return path.read_bytes()


def next_page(page) -> None:
    # Wait for the next page's load: a check made while it is still parsing finds no body.
    with page.expect_navigation():
        page.click("button.p-button:has-text('Dalej')")


def add_files(page) -> None:
    with page.expect_navigation():
        page.click("button:has-text('Dodaj pliki')")


def start(page, base: str, service: str, visit) -> None:
    page.goto(f"{base}/portal/{service}/")
    visit(page, f"{service}: start")
    with page.expect_navigation():
        page.click("text=Rozpocznij")


def finish(page, service: str, visit) -> None:
    visit(page, f"{service}: check your answers")
    page.click("button:has-text('Wyślij')")
    page.wait_for_url(re.compile(r".*/portal/wyslano/[0-9a-f]+/(#.*)?$"))
    visit(page, f"{service}: confirmation")


def walk_public_information(page, base: str, visit) -> None:
    service = "informacja-publiczna"
    start(page, base, service, visit)
    visit(page, f"{service}: unit")
    page.select_option("#id_unit", label="Komenda Miejska Policji w Lublinie")
    next_page(page)
    visit(page, f"{service}: information")
    next_page(page)
    visit(page, f"{service}: information, error")
    page.fill("#id_subject", "Liczba kontroli")
    page.fill("#id_text", "Proszę o liczbę kontroli drogowych w 2025 r.")
    next_page(page)
    visit(page, f"{service}: form")
    next_page(page)
    visit(page, f"{service}: form, error")
    page.check("#id_access_2")  # inspection in the unit
    next_page(page)
    visit(page, f"{service}: delivery")
    page.check("#id_delivery_0")
    next_page(page)
    visit(page, f"{service}: delivery, e-mail missing")
    page.fill("#id_email", "ania@example.pl")
    next_page(page)
    visit(page, f"{service}: attachments")
    next_page(page)
    visit(page, f"{service}: check, inspection outside the unit refused")
    page.goto(f"{base}/portal/{service}/udostepnienie/?zmien=1")
    page.check("#id_delivery_3")
    next_page(page)
    finish(page, service, visit)


def walk_petition(page, base: str, visit) -> None:
    service = "petycja"
    start(page, base, service, visit)
    visit(page, f"{service}: addressee")
    next_page(page)
    visit(page, f"{service}: addressee, error")
    page.select_option("#id_unit", label="Komenda Wojewódzka Policji w Lublinie")
    next_page(page)
    visit(page, f"{service}: filer kind")
    page.check("#id_filer_kind_1")
    next_page(page)
    visit(page, f"{service}: organisation")
    next_page(page)
    visit(page, f"{service}: organisation, error")
    page.fill("#id_name", "Stowarzyszenie Bezpieczny Lublin")
    page.fill("#id_residence", "Lublin")
    page.fill("#id_representative", "Ewa Nowak")
    page.fill("#id_email", "biuro@example.pl")
    next_page(page)
    visit(page, f"{service}: content")
    page.fill("#id_subject", "Patrole w parku")
    page.fill("#id_text", "Wnosimy o wieczorne patrole.")
    next_page(page)
    visit(page, f"{service}: third party?")
    next_page(page)
    visit(page, f"{service}: third party?, error")
    page.check("#id_third_party_1")
    next_page(page)
    visit(page, f"{service}: third party")
    next_page(page)
    visit(page, f"{service}: third party, error")
    page.fill("#id_third_name", "Rada Osiedla Czechów")
    page.fill("#id_third_residence", "Lublin")
    page.fill("#id_third_address", "ul. Szczerbowskiego 1, Lublin")
    next_page(page)
    visit(page, f"{service}: publication consent")
    page.check("#id_publish_name")
    next_page(page)
    visit(page, f"{service}: third party's publication consent")
    next_page(page)
    visit(page, f"{service}: attachments")
    next_page(page)
    finish(page, service, visit)


def walk_certificate(page, base: str, visit) -> None:
    service = "zaswiadczenie"
    start(page, base, service, visit)
    visit(page, f"{service}: unit")
    page.select_option("#id_unit", label="Komenda Miejska Policji w Lublinie")
    next_page(page)
    visit(page, f"{service}: applicant")
    next_page(page)
    visit(page, f"{service}: applicant, error")
    page.fill("#id_name", "Marta Wiśniewska")
    page.fill("#id_email", "marta@example.pl")
    page.check("#id_role_0")
    next_page(page)
    visit(page, f"{service}: collision")
    page.fill("#id_event_date", "31.02.2026")
    next_page(page)
    visit(page, f"{service}: collision, error")
    page.fill("#id_event_date", "03.11.2026")
    page.fill("#id_place", "Lublin, al. Kraśnicka")
    page.fill("#id_vehicles", "LU 12345")
    next_page(page)
    visit(page, f"{service}: purpose")
    next_page(page)
    visit(page, f"{service}: purpose, error")
    page.check("#id_purpose_3")
    next_page(page)
    visit(page, f"{service}: other purpose")
    page.fill("#id_purpose_other", "Dla banku")
    next_page(page)
    visit(page, f"{service}: fee")
    page.check("#id_fee_1")
    next_page(page)
    visit(page, f"{service}: exemption")
    page.check("#id_exemption_4")
    next_page(page)
    visit(page, f"{service}: other exemption")
    next_page(page)
    visit(page, f"{service}: other exemption, error")
    page.goto(f"{base}/portal/{service}/oplata/")
    page.check("#id_fee_0")
    next_page(page)
    visit(page, f"{service}: attachments")
    next_page(page)
    visit(page, f"{service}: check, proof of payment missing")
    page.goto(f"{base}/portal/{service}/zalaczniki/?zmien=1")
    page.set_input_files(
        "#id_files", files=[{"name": "przelew.txt", "mimeType": "text/plain", "buffer": b"17 zl"}]
    )
    add_files(page)
    visit(page, f"{service}: attachments, proof listed")
    next_page(page)
    finish(page, service, visit)


def walk_road_video(page, base: str, visit, mp4: bytes) -> None:
    service = "agresja-drogowa"
    start(page, base, service, visit)
    visit(page, f"{service}: place")
    next_page(page)
    visit(page, f"{service}: place, error")
    page.fill("#id_town", "Lublin")
    page.fill("#id_road", "al. Solidarności")
    next_page(page)
    visit(page, f"{service}: event")
    page.fill("#id_event_date", "20.11.2026")
    page.fill("#id_event_time", "17:45")
    page.fill("#id_plate", "LU-12345!")
    page.fill("#id_description", "Jazda na zderzaku.")
    next_page(page)
    visit(page, f"{service}: event, bad plate")
    page.fill("#id_plate", "LU 12345")
    next_page(page)
    visit(page, f"{service}: reporter")
    next_page(page)
    visit(page, f"{service}: reporter, error")
    page.fill("#id_name", "Piotr Zieliński")
    page.fill("#id_email", "piotr@example.pl")
    page.fill("#id_phone", "600 100 200")
    page.check("#id_author")
    next_page(page)
    visit(page, f"{service}: video")
    page.set_input_files(
        "#id_files", files=[{"name": "skan.txt", "mimeType": "text/plain", "buffer": b"tekst"}]
    )
    add_files(page)
    visit(page, f"{service}: video, wrong type")
    page.set_input_files(
        "#id_files", files=[{"name": "kamera.mp4", "mimeType": "video/mp4", "buffer": mp4}]
    )
    add_files(page)
    visit(page, f"{service}: video listed")
    next_page(page)
    finish(page, service, visit)


def walk_all(page, base: str, visit, mp4: bytes) -> None:
    walk_public_information(page, base, visit)
    walk_petition(page, base, visit)
    walk_certificate(page, base, visit)
    walk_road_video(page, base, visit, mp4)


def test_axe_finds_no_violation_in_the_four_services(page, live_server, garrison_world, mp4):
    visited: list[str] = []

    def visit(p, name):
        visited.append(name)
        check_axe(p, name)

    walk_all(page, live_server.url, visit, mp4)
    errors = [name for name in visited if "error" in name or "missing" in name or "bad" in name]
    for service in ("informacja-publiczna", "petycja", "zaswiadczenie", "agresja-drogowa"):
        assert any(name.startswith(service) for name in errors), service
    assert len(visited) == 58, visited
    assert sorted(Submission.objects.values_list("service", flat=True)) == [
        "agresja-drogowa",
        "informacja-publiczna",
        "petycja",
        "zaswiadczenie",
    ]
    road = IncomingItem.objects.get(portal_submission__service="agresja-drogowa")
    # The regional HQ was left as chosen; the factories' KWP has no traffic cell.
    assert road.unit == garrison_world.kwp and road.assigned_cell is None


def test_the_four_services_fit_320_px_without_scripts(browser, live_server, garrison_world, mp4):
    context = browser.new_context(viewport={"width": 320, "height": 640}, locale="pl-PL")
    try:
        page = context.new_page()
        visited: list[str] = []

        def visit(p, name):
            visited.append(name)
            no_horizontal_overflow(p, name)
            assert p.evaluate("() => document.scripts.length") == 0, name

        walk_all(page, live_server.url, visit, mp4)
        assert len(visited) == 58
    finally:
        context.close()


def test_a_public_information_request_with_the_keyboard_alone(page, live_server, garrison_world):
    page.goto(f"{live_server.url}/portal/")
    tab_to(page, by_text("Poproś o informację publiczną"), "the public-information service")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/informacja-publiczna/")
    tab_to(page, by_text("Rozpocznij"), "the start button")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/informacja-publiczna/jednostka/")

    tab_to(page, by_id("id_unit"), "the unit select")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.eval_on_selector("#id_unit", "e => e.selectedOptions[0].text") == (
        "Komenda Miejska Policji w Lublinie"
    )
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/informacja-publiczna/informacja/")

    tab_to(page, by_id("id_subject"), "the subject")
    page.keyboard.type("Liczba kontroli drogowych")
    page.keyboard.press("Tab")
    assert active(page)["id"] == "id_text"
    page.keyboard.type("Proszę o liczbę kontroli drogowych w powiecie w 2025 r.")
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/informacja-publiczna/postac/")

    # A radio group: Tab reaches its first option, Space chooses it.
    tab_to(page, by_id("id_access_0"), "the first form of access")
    page.keyboard.press("Space")
    assert page.is_checked("#id_access_0")
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/informacja-publiczna/udostepnienie/")

    # E-mail chosen without an address: the error summary takes focus and leads to the field.
    tab_to(page, by_id("id_delivery_0"), "the e-mail delivery")
    page.keyboard.press("Space")
    tab_to(page, by_text("Dalej"), "Continue")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    el = active(page)
    assert "p-error-summary" in el["cls"], el
    tab_to(page, lambda e: e["tag"] == "a" and e["text"].startswith("Podaj adres e-mail"), "link")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'id_email'")
    page.keyboard.type("ania@example.pl")
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/informacja-publiczna/zalaczniki/")
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/informacja-publiczna/sprawdz/")

    assert "Liczba kontroli drogowych" in page.inner_text("main")
    tab_to(page, by_text("Wyślij"), "Send")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/portal/wyslano/[0-9a-f]+/(#.*)?$"))
    item = IncomingItem.objects.get()
    assert item.registration_number in page.inner_text("main")
    assert item.unit.symbol == "KMP-LU"
    assert item.kind == DeadlineKind.PUBLIC_INFORMATION
    assert "ania@example.pl" in item.remarks
