"""The staff UI driven by the keyboard alone in a real browser (Debian's Chromium).

Apart from the first page.goto of each test, every step is a key press: Tab,
Shift+Tab, Enter, Space or typed text. Focus is read from document.activeElement.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from garnizon.cases.services import case_open
from garnizon.registry.models import Channel, IncomingItem
from garnizon.registry.services import incoming_item_register
from tests.factories import PASSWORD, make_garrison

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_TAB_STOPS = 40

ACTIVE = """() => {
  const e = document.activeElement;
  if (!e) return null;
  const s = getComputedStyle(e);
  const r = e.getBoundingClientRect();
  return {
    tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute("name") || "",
    type: e.getAttribute("type") || "", cls: e.getAttribute("class") || "",
    href: e.getAttribute("href") || "", text: (e.innerText || e.value || "").trim().slice(0, 80),
    inSummary: !!e.closest(".error-summary"), inDetails: e.closest("details")?.open ?? null,
    outlineStyle: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth) || 0,
    boxShadow: s.boxShadow,
    box: {x: r.x, y: r.y, width: r.width, height: r.height},
    viewport: {width: window.innerWidth, height: window.innerHeight},
  };
}"""


def active(page) -> dict:
    return page.evaluate(ACTIVE)


def tab_to(page, predicate, what: str) -> dict:
    """Press Tab until the focused element matches `predicate`; fail after MAX_TAB_STOPS."""
    seen = []
    for _ in range(MAX_TAB_STOPS):
        page.keyboard.press("Tab")
        el = active(page)
        if predicate(el):
            return el
        seen.append(f"{el['tag']}#{el['id']} {el['text'][:30]!r}")
    pytest.fail(f"{what} not reached in {MAX_TAB_STOPS} Tab stops; focus went: {seen}")


def world():
    """A garrison, two registered items, and a case opened from one of them."""
    g = make_garrison()
    clerk = g.people["clerk"]
    complaint = incoming_item_register(
        actor=clerk,
        unit=g.kwp,
        subject="Skarga na hałas przy ul. Narutowicza w godzinach nocnych",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
        sender_name="Jan Kowalski",
    )
    incoming_item_register(
        actor=g.people["head"],  # the head names the person; the registry only routes
        unit=g.kwp,
        subject="Wniosek o udostępnienie informacji publicznej",
        channel=Channel.EMAIL,
        assigned_cell=g.cells["kwp_i_1"],
        assigned_person=g.people["handler"],
        sender_name="Stowarzyszenie Watchdog Lubelszczyzna",
    )
    case = case_open(
        actor=g.people["handler"],
        cell=g.cells["kwp_i_1"],
        classification=g.classes["052"],
        subject="",
        incoming_item=complaint,
    )
    return g, case


# --- 1 ---------------------------------------------------------------------------------


def test_keyboard_login(page, live_server):
    g = make_garrison()
    page.goto(live_server.url + "/login/")

    # The username field has focus on load; the skip link is the one stop before it.
    assert active(page)["id"] == "id_username"
    page.keyboard.press("Shift+Tab")
    assert active(page)["cls"] == "skip"
    page.keyboard.press("Tab")
    assert active(page)["id"] == "id_username"

    page.keyboard.type(g.people["clerk"].username)
    page.keyboard.press("Tab")
    assert active(page)["id"] == "id_password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    page.wait_for_url(live_server.url + "/")
    assert page.locator("h1").inner_text() == "Moja praca"


# --- 2 ---------------------------------------------------------------------------------


def test_skip_link_is_first_visible_when_focused_and_moves_focus_to_main(page, live_server, log_in):
    g = make_garrison()
    log_in(g.people["clerk"])
    page.goto(live_server.url + "/")
    skip = page.locator("a.skip")
    assert skip.bounding_box()["x"] + skip.bounding_box()["width"] <= 0, "hidden until focused"

    page.keyboard.press("Tab")
    el = active(page)
    assert (el["cls"], el["href"]) == ("skip", "#main")
    box, viewport = el["box"], el["viewport"]
    assert box["width"] > 0 and box["height"] > 0
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]
    assert el["outlineStyle"] != "none" and el["outlineWidth"] > 0

    page.keyboard.press("Enter")
    el = active(page)
    assert (el["tag"], el["id"]) == ("main", "main")
    # The next Tab continues from the start of the content, not the menu.
    el = tab_to(page, lambda e: True, "anything")
    assert el["text"] == "Zarejestruj przesyłkę"


# --- 3 ---------------------------------------------------------------------------------


def test_register_incoming_item_with_keyboard_only(page, live_server, log_in):
    g = make_garrison()
    log_in(g.people["clerk"])
    page.goto(live_server.url + "/")

    tab_to(page, lambda e: e["text"] == "Zarejestruj przesyłkę", "Zarejestruj przesyłkę")
    page.keyboard.press("Enter")
    page.wait_for_url("**/incoming/new/")
    # Autofocus lands at the first rendering step after load: wait for it, not once.
    expect(page.locator("#id_subject")).to_be_focused(timeout=5000)

    subject = "Pismo z Sądu Rejonowego Lublin-Zachód w sprawie II K 123/26"
    page.keyboard.type(subject)
    with page.expect_navigation():
        page.keyboard.press("Enter")  # implicit submission: "Zapisz i zarejestruj następną"

    item = IncomingItem.objects.get(subject=subject)
    assert item.registered_by == g.people["clerk"]
    assert item.unit == g.kwp
    assert page.url.endswith("/incoming/new/"), "a blank form for the next letter"
    status = page.get_by_role("status")
    assert item.registration_number in status.inner_text()
    el = active(page)
    assert el["id"] == "id_subject"
    assert page.locator("#id_subject").input_value() == ""


# --- 4 ---------------------------------------------------------------------------------


def test_error_summary_takes_focus_and_links_to_the_field(page, live_server, log_in):
    g = make_garrison()
    log_in(g.people["clerk"])
    page.goto(live_server.url + "/incoming/new/")
    assert active(page)["id"] == "id_subject"

    page.keyboard.press("Enter")
    page.wait_for_selector(".error-summary")
    el = active(page)
    assert el["inSummary"], f"focus should be on the error summary, is on {el}"
    assert page.locator(".error-summary").get_attribute("role") == "alert"
    assert not IncomingItem.objects.exists()

    link = tab_to(page, lambda e: e["inSummary"] and e["tag"] == "a", "the summary's link")
    assert link["href"] == "#id_subject"
    assert link["text"].startswith("Dotyczy")
    page.keyboard.press("Enter")
    assert active(page)["id"] == "id_subject"

    # Fix the error from there and the form goes through.
    page.keyboard.type("Uzupełnione pismo")
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages")
    assert IncomingItem.objects.filter(subject="Uzupełnione pismo").count() == 1


# --- 5 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/incoming/", "/incoming/new/"])
def test_focus_is_visible_on_every_tab_stop(page, live_server, log_in, path):
    g, _case = world()
    log_in(g.people["clerk"])
    page.goto(live_server.url + path)

    stops, invisible = [], []
    el = active(page)  # the autofocused field, if any, is a stop too
    for _ in range(MAX_TAB_STOPS):
        key = (el["tag"], el["id"], el["name"], el["href"], el["text"], el["type"])
        # A date input takes several Tabs (day, month, year): same element, one stop.
        if el["tag"] != "body" and (not stops or key != stops[-1]):
            if key in stops:
                break  # wrapped round to the start
            stops.append(key)
            has_outline = el["outlineStyle"] != "none" and el["outlineWidth"] >= 2
            has_shadow = el["boxShadow"] not in ("", "none")
            if not (has_outline or has_shadow):
                invisible.append(key)
        page.keyboard.press("Tab")
        el = active(page)
    assert len(stops) >= 10, stops
    assert not invisible, f"no visible focus indicator on: {invisible}"


# --- 6 ---------------------------------------------------------------------------------


def test_open_case_from_register_and_expand_assign_panel(page, live_server, log_in):
    g, case = world()
    log_in(g.people["head"])
    page.goto(live_server.url + "/incoming/")

    tab_to(page, lambda e: re.fullmatch(r"/cases/\d+/", e["href"]), "a case link")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/cases/{case.pk}/")
    assert page.locator("h1").inner_text() == f"Sprawa {case.sign}"

    summary = tab_to(page, lambda e: e["tag"] == "summary", "the first <summary>")
    assert summary["text"] == "Dekretuj"
    assert summary["inDetails"] is False
    page.keyboard.press("Enter")
    assert active(page)["inDetails"] is True, "Enter opens the panel"
    page.keyboard.press("Space")
    assert active(page)["inDetails"] is False, "Space closes it"
    page.keyboard.press("Space")
    assert active(page)["inDetails"] is True, "Space opens it again"

    page.keyboard.press("Tab")
    el = active(page)
    assert el["id"] == "id_to_cell" and el["inDetails"] is True
    label = page.locator("label[for=id_to_cell]").inner_text()
    assert label.startswith("Komórka")


# --- 7 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/incoming/", "/incoming/new/", "/cases/{case}/"])
def test_no_horizontal_scrolling_at_320_px(page, live_server, log_in, path):
    g, case = world()
    log_in(g.people["handler"])  # has a case and an item on "Moja praca"
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(live_server.url + path.format(case=case.pk))

    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 320 + 1, f"{path} is {width}px wide at a 320px viewport"

    # Every table sits in a region that scrolls on its own and can take focus,
    # so that its hidden columns can be scrolled into view with the arrow keys.
    wraps = page.evaluate(
        """() => [...document.querySelectorAll("table")].map(t => {
          const w = t.closest(".table-wrap");
          return w && {tabindex: w.getAttribute("tabindex"), role: w.getAttribute("role"),
                       name: w.getAttribute("aria-labelledby") || w.getAttribute("aria-label"),
                       overflows: w.scrollWidth > w.clientWidth};
        })"""
    )
    assert path == "/incoming/new/" or wraps, "the page should have a table"
    for wrap in wraps:
        assert wrap and wrap["tabindex"] == "0" and wrap["role"] == "region" and wrap["name"]
    if path == "/incoming/":
        assert wraps[0]["overflows"]
        tab_to(page, lambda e: "table-wrap" in e["cls"], "the register table's region")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => document.activeElement.scrollLeft > 0")
