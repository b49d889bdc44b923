"""The threat map and the officer finder in a real browser: axe-core on every page, keyboard only.

The map is an image button: a click sends its x, y; the keyboard path is the
typed place, and Enter in that field must not count as a click on the map.
"""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from garnizon.org.models import Cell, Role
from garnizon.portal import geo
from garnizon.portal.models import Submission, ThreatReport
from garnizon.portal.officers.services import officer_save
from garnizon.registry.models import IncomingItem
from tests.browser.test_portal_browser import (
    active,
    by_id,
    by_text,
    check_axe,
    tab_to,
    wait_for_path,
)
from tests.factories import make_garrison, make_person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LUBLIN = geo.Point(51.2465, 22.5684)


@pytest.fixture(autouse=True)
def _portal_state(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_UNIT_AREAS = ""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world():
    g = make_garrison()
    prevention = Cell.objects.create(unit=g.kmp, name="Wydział Prewencji", symbol="WP")
    head = make_person("head_wp", g.kmp, prevention, Role.CELL_HEAD)
    officer = officer_save(
        actor=head,
        unit=g.kmp,
        data={
            "name": "Jan Kowalski",
            "rank": "st. asp.",
            "phone": "47 811 22 33",
            "duty_hours": "wtorek 15:00–17:00",
            "streets": "Lublin, Lipowa 1-41",
            "latitude": "51.2440",
            "longitude": "22.5560",
        },
    )
    return {"g": g, "head": head, "officer": officer}


def overview_click(point: geo.Point) -> dict[str, float]:
    x, y = geo.overview_xy(point)
    return {"x": round(x), "y": round(y)}


def test_every_threat_and_finder_page_passes_axe(page, live_server, world, log_in):
    base = live_server.url
    # An earlier report nearby, so the duplicates page appears too.
    earlier = _file_by_requests(base, page)
    page.goto(f"{base}/portal/zagrozenie/")
    check_axe(page, "threat: start")
    page.click("text=Rozpocznij")
    wait_for_path(page, "/portal/zagrozenie/miejsce/")
    check_axe(page, "threat: place")
    page.click("button:has-text('Dalej')")
    check_axe(page, "threat: place, error")
    page.fill("#id_miejsce", "Nieznanowo")
    page.click("button:has-text('Dalej')")
    check_axe(page, "threat: place, unknown town")
    page.fill("#id_miejsce", "")
    page.click("#id_punkt", position=overview_click(LUBLIN))
    wait_for_path(page, "/portal/zagrozenie/miejsce/")
    assert page.locator("input[name='zoom']").count() == 1
    check_axe(page, "threat: place with the zoomed map")
    page.click("input[name='zoom']", position={"x": 240, "y": 240})
    check_axe(page, "threat: place zoomed in again")
    page.fill("#id_wspolrzedne", f"{earlier.latitude}, {earlier.longitude}")
    page.click("button:has-text('Dalej')")
    wait_for_path(page, "/portal/zagrozenie/rodzaj/")
    check_axe(page, "threat: category")
    page.click("button:has-text('Dalej')")
    check_axe(page, "threat: category, error")
    page.check("input[value='odpady']")
    page.click("button:has-text('Dalej')")
    wait_for_path(page, "/portal/zagrozenie/podobne/")
    check_axe(page, "threat: reports nearby")
    page.click("button:has-text('Dalej')")
    check_axe(page, "threat: reports nearby, error")
    page.check("input[value='other']")
    page.click("button:has-text('Dalej')")
    check_axe(page, "threat: description")
    page.fill("#id_text", "Śmieci w rowie.")
    page.click("button:has-text('Dalej')")
    check_axe(page, "threat: anonymity")
    page.check("input[name='anonymous'][value='no']")
    page.click("button:has-text('Dalej')")
    check_axe(page, "threat: e-mail")
    page.click("button:has-text('Dalej')")
    check_axe(page, "threat: e-mail, error")
    page.fill("#id_email", "anna@example.pl")
    page.click("button:has-text('Dalej')")
    check_axe(page, "threat: photos")
    page.click("button:has-text('Dalej')")
    wait_for_path(page, "/portal/zagrozenie/sprawdz/")
    check_axe(page, "threat: check")
    page.click("button:has-text('Wyślij')")
    page.wait_for_url(re.compile(r".*/portal/wyslano/[0-9a-f]+/(#.*)?$"))
    check_axe(page, "threat: confirmation")

    page.goto(f"{base}/portal/dzielnicowy/")
    check_axe(page, "finder")
    page.click("button:has-text('Szukaj')")
    check_axe(page, "finder, error")
    page.fill("#id_miejscowosc", "lublin")
    page.fill("#id_ulica", "Lipowa")
    page.fill("#id_numer", "5")
    page.click("button:has-text('Szukaj')")
    assert "Jan Kowalski" in page.inner_text("main")
    check_axe(page, "finder, found")
    page.click("#id_mapa", position=overview_click(geo.Point(50.7231, 23.2520)))
    assert "Nie znaleźliśmy dzielnicowego" in page.inner_text("main")
    check_axe(page, "finder, nobody near the point")

    log_in(world["head"])
    for path, what in [
        ("/dzielnicowi/", "staff: officers"),
        ("/dzielnicowi/nowy/", "staff: new officer"),
        (f"/dzielnicowi/{world['officer'].pk}/", "staff: officer"),
        ("/dzielnicowi/zagrozenia/", "staff: threat reports"),
    ]:
        page.goto(f"{base}{path}")
        check_axe(page, what)
    page.goto(f"{base}/dzielnicowi/nowy/")
    page.click("button:has-text('Zapisz')")
    check_axe(page, "staff: new officer, error")


def _file_by_requests(base: str, page) -> ThreatReport:
    """File one report through the pages (typed coordinates), quickly."""
    page.goto(f"{base}/portal/zagrozenie/miejsce/")
    page.fill("#id_wspolrzedne", "51.2430, 22.5600")
    page.click("button:has-text('Dalej')")
    page.check("input[value='odpady']")
    page.click("button:has-text('Dalej')")
    page.fill("#id_text", "Worki ze śmieciami.")
    page.click("button:has-text('Dalej')")
    page.check("input[name='anonymous'][value='yes']")
    page.click("button:has-text('Dalej')")
    page.click("button:has-text('Dalej')")
    page.click("button:has-text('Wyślij')")
    page.wait_for_url(re.compile(r".*/portal/wyslano/[0-9a-f]+/(#.*)?$"))
    return ThreatReport.objects.get()


def test_a_threat_report_filed_with_the_keyboard_alone_through_the_typed_place(
    page, live_server, world
):
    page.goto(f"{live_server.url}/portal/zagrozenie/")
    tab_to(page, by_text("Rozpocznij"), "the start button")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/zagrozenie/miejsce/")

    # The map is one Tab stop (with its description); the typed place comes next.
    tab_to(page, by_id("id_punkt"), "the map")
    page.keyboard.press("Tab")
    assert active(page)["id"] == "id_miejsce"
    page.keyboard.type("Łódź")
    # Enter in the field presses the map button with (0, 0): not a click, the town counts.
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Autofocus lands at the first rendering step after load: wait for it, not once.
    expect(page.locator(".p-error-summary")).to_be_focused(timeout=5000)
    assert "Nie znamy miejscowości „Łódź”" in page.inner_text(".p-error-summary")
    tab_to(page, lambda e: e["tag"] == "a" and "Nie znamy" in e["text"], "the error link")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'id_miejsce'")
    page.keyboard.press("Control+A")
    page.keyboard.type("lublin")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert active(page)["id"] == "id_opis_miejsca"
    page.keyboard.type("ul. Lipowa, przy przystanku")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/zagrozenie/rodzaj/")

    tab_to(page, by_id("id_category_0"), "the first category")
    page.keyboard.press("Space")
    for _ in range(5):
        page.keyboard.press("ArrowDown")  # the sixth: illegal dumping
    assert page.eval_on_selector("input[name='category']:checked", "e => e.value") == "odpady"
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/zagrozenie/opis/")

    tab_to(page, by_id("id_text"), "the description")
    page.keyboard.type("Worki ze śmieciami w rowie.")
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/zagrozenie/anonimowosc/")
    tab_to(page, by_id("id_anonymous_0"), "anonymously")
    page.keyboard.press("Space")
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/zagrozenie/zalaczniki/")
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/zagrozenie/sprawdz/")
    assert "ul. Lipowa, przy przystanku" in page.inner_text("main")
    tab_to(page, by_text("Wyślij"), "Send")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/portal/wyslano/[0-9a-f]+/(#.*)?$"))

    report = ThreatReport.objects.get()
    item = IncomingItem.objects.get()
    assert item.registration_number in page.inner_text("main")
    assert report.unit == world["g"].kmp and report.category == "odpady"
    assert (float(report.latitude), float(report.longitude)) == (LUBLIN.lat, LUBLIN.lon)
    assert report.place == "Lublin, ul. Lipowa, przy przystanku"
    assert Submission.objects.get().is_anonymous
