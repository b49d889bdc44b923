"""Visit booking in a real browser (Debian's Chromium): keyboard alone, axe-core on every page."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from garnizon.portal.visits import services
from garnizon.portal.visits.models import Booking, BookingStatus
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
from tests.test_visits import book, make_kind, with_slots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _quiet(settings):
    settings.GARNIZON_VISITS_SEND_IMMEDIATELY = 0
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def kind():
    g = make_garrison()
    return with_slots(make_kind(g.kmp, name="Odbiór zaświadczenia", place="pokój 5"))


def step(slug: str) -> str:
    return reverse("portal:portal_visits:step", args=[slug])


def press_continue(page) -> None:
    tab_to(page, by_text("Dalej"), "Continue")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_a_visit_booked_with_the_keyboard_alone(page, live_server, kind):
    page.goto(live_server.url + reverse("portal:portal_visits:start"))
    page.keyboard.press("Tab")
    assert active(page)["cls"] == "p-skip"
    tab_to(page, by_text("Rozpocznij"), "the start button")
    page.keyboard.press("Enter")
    wait_for_path(page, step("jednostka"))

    tab_to(page, by_id("id_unit"), "the unit select")
    page.keyboard.press("ArrowDown")
    assert page.eval_on_selector("#id_unit", "e => e.selectedOptions[0].text") == (
        "Komenda Miejska Policji w Lublinie"
    )
    press_continue(page)
    wait_for_path(page, step("rodzaj"))

    # Radios: Tab reaches the group, Space picks the focused option.
    tab_to(page, by_id("id_kind_0"), "the first kind")
    page.keyboard.press("Space")
    press_continue(page)
    wait_for_path(page, step("dzien"))

    # Continuing without a choice: the error summary takes focus and leads to the options.
    press_continue(page)
    # Autofocus is applied after the load event: wait for it, then check.
    page.wait_for_function("() => document.activeElement.classList.contains('p-error-summary')")
    assert "p-error-summary" in active(page)["cls"]
    tab_to(page, lambda e: e["tag"] == "a" and e["text"] == "Wybierz dzień wizyty.", "the error")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'id_day_0'")
    page.keyboard.press("Space")
    press_continue(page)
    wait_for_path(page, step("godzina"))

    tab_to(page, by_id("id_slot_0"), "the first time")
    page.keyboard.press("ArrowDown")  # arrows move within a radio group and select
    assert active(page)["id"] == "id_slot_1"
    press_continue(page)
    wait_for_path(page, step("dane"))

    tab_to(page, by_id("id_name"), "the name field")
    page.keyboard.type("Anna Nowak")
    page.keyboard.press("Tab")
    page.keyboard.type("anna@example.pl")
    page.keyboard.press("Tab")
    page.keyboard.type("81 535 20 00")
    page.keyboard.press("Tab")
    assert active(page)["id"] == "id_matter"
    page.keyboard.type("Odbiór zaświadczenia o niekaralności")
    press_continue(page)
    wait_for_path(page, reverse("portal:portal_visits:check"))

    tab_to(page, by_text("Zarezerwuj wizytę"), "the book button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").inner_text() == "Wizyta zarezerwowana"
    booking = Booking.objects.get()
    assert booking.name == "Anna Nowak" and booking.status == BookingStatus.BOOKED
    slots = services.free_slots_on(kind, timezone.localdate(booking.slot.starts_at))
    assert booking.slot not in slots
    assert timezone.localtime(booking.slot.starts_at).strftime("%H:%M") in page.content()

    # Cancelling by the link works from the keyboard too.
    tab_to(page, by_text("Odwołaj wizytę"), "the cancel link")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, by_text("Tak, odwołaj wizytę"), "the confirm button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").inner_text() == "Wizyta odwołana"
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED_BY_CITIZEN


def test_axe_finds_no_violation_on_any_visit_page_or_error_state(page, live_server, kind):
    base = live_server.url

    def visit(path: str, what: str) -> None:
        page.goto(base + path)
        check_axe(page, what)

    def submit(values: dict[str, str] | None = None) -> None:
        for selector, value in (values or {}).items():
            if selector.startswith("#id_unit"):
                page.select_option(selector, value)
            elif value == "check":
                page.check(selector)
            else:
                page.fill(selector, value)
        with page.expect_navigation():
            page.click("button.p-button")

    visit(reverse("portal:portal_visits:start"), "start")
    visit(step("jednostka"), "unit")
    submit()
    check_axe(page, "unit, nothing chosen")
    submit({"#id_unit": str(kind.unit_id)})
    check_axe(page, "kind")
    submit({"#id_kind_0": "check"})
    check_axe(page, "day")
    submit()
    check_axe(page, "day, nothing chosen")
    submit({"#id_day_0": "check"})
    check_axe(page, "time")
    submit({"#id_slot_0": "check"})
    check_axe(page, "details")
    submit({"#id_email": "not-an-email"})
    check_axe(page, "details with errors")
    submit(
        {
            "#id_name": "Anna Nowak",
            "#id_email": "anna@example.pl",
            "#id_matter": "Sprawa",
        }
    )
    check_axe(page, "check answers")
    # Someone else takes the time meanwhile: the error state of the check page.
    slot = services.free_slots_on(kind, services.available_days(kind)[0][0])[0]
    book(slot, email="szybszy@example.pl")
    with page.expect_navigation():
        page.click("button.p-button")
    assert "Ktoś właśnie zajął ten termin" in page.content()
    check_axe(page, "check answers, time taken")
    # Choose another time and book.
    page.goto(base + step("godzina"))
    submit({"#id_slot_0": "check"})
    submit()  # the details page, still filled in
    with page.expect_navigation():
        page.click("button.p-button")
    check_axe(page, "booking confirmed")
    no_horizontal_overflow(page, "booking confirmed")
    booking_page = page.url.split("?")[0]
    visit(booking_page.removeprefix(base) + "odwolaj/", "cancel")
    with page.expect_navigation():
        page.click("button.p-button")
    check_axe(page, "booking cancelled")
    visit(reverse("portal:portal_visits:booking", args=["0" * 64]), "unknown booking")


def test_nothing_overflows_at_320_px(browser, live_server, kind):
    context = browser.new_context(viewport={"width": 320, "height": 640}, locale="pl-PL")
    try:
        page = context.new_page()
        page.goto(live_server.url + step("jednostka"))
        page.select_option("#id_unit", str(kind.unit_id))
        with page.expect_navigation():
            page.click("button.p-button")
        page.check("#id_kind_0")
        with page.expect_navigation():
            page.click("button.p-button")
        no_horizontal_overflow(page, "day")
    finally:
        context.close()


def test_axe_finds_no_violation_on_the_staff_visit_pages(page, live_server, log_in):
    """The unit's commander sets up visits: the overview, a new kind (and its error
    state), a kind with its hours and slots, the day's bookings."""
    g = make_garrison()
    kind = with_slots(make_kind(g.kmp, name="Odbiór zaświadczenia", place="pokój 5"))
    slot = services.free_slots_on(kind, services.available_days(kind)[0][0])[0]
    book(slot)
    log_in(g.people["kmp_commander"])
    day = timezone.localtime(slot.starts_at).date().isoformat()
    pages = {
        "overview": reverse("staff_visits:index"),
        "new kind": reverse("staff_visits:kind_new", args=[g.kmp.pk]),
        "a kind": reverse("staff_visits:kind", args=[kind.pk]),
        "the day's bookings": reverse("staff_visits:day", args=[g.kmp.pk]) + f"?data={day}",
    }
    for name, path in pages.items():
        response = page.goto(live_server.url + path)
        assert response.status == 200, name
        check_axe(page, name)
    page.goto(live_server.url + pages["new kind"])
    page.click("main button[type=submit]")
    page.wait_for_selector(".error-summary, #error-summary, [role=alert]")
    check_axe(page, "new kind with errors")
