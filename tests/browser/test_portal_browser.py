"""The citizen portal in a real browser (Debian's Chromium): keyboard only, 320 px, axe-core.

axe-core comes from the `axe-playwright-python` package (a dev dependency), which
ships `axe.min.js`; it is injected into each page and run with its default rules
(WCAG 2.0/2.1 A and AA and best practices). Any violation fails the test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from garnizon.portal.models import Submission
from garnizon.registry.models import IncomingItem
from tests.factories import make_garrison

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MAX_TAB_STOPS = 40

ACTIVE = """() => {
  const e = document.activeElement;
  const s = getComputedStyle(e);
  return {
    tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute("name") || "",
    cls: e.getAttribute("class") || "", text: (e.innerText || e.value || "").trim().slice(0, 80),
    outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2,
    shadow: s.boxShadow !== "none",
  };
}"""


def axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


@pytest.fixture(autouse=True)
def _portal_state(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def garrison_world():
    return make_garrison()


def active(page) -> dict:
    return page.evaluate(ACTIVE)


def tab_to(page, predicate, what: str) -> dict:
    seen = []
    for _ in range(MAX_TAB_STOPS):
        page.keyboard.press("Tab")
        el = active(page)
        if predicate(el):
            assert el["outline"] or el["shadow"], f"{what} has no visible focus: {el}"
            return el
        seen.append(f"{el['tag']}#{el['id']} {el['text'][:30]!r}")
    pytest.fail(f"{what} not reached in {MAX_TAB_STOPS} Tab stops; focus went: {seen}")


def wait_for_path(page, path: str) -> None:
    # A redirect keeps the fragment of an error link followed earlier (#id_name); a page
    # may carry a query (?zmien=1).
    page.wait_for_url(re.compile(re.escape(path) + r"(\?.*)?(#.*)?$"))


def by_id(element_id: str):
    return lambda el: el["id"] == element_id


def by_text(text: str):
    return lambda el: el["text"] == text


def loaded(page) -> None:
    """Wait for the page a click has just opened to finish loading: checked while it is
    still being parsed it has no body yet (a loaded machine made that happen)."""
    page.wait_for_load_state("load")


def check_axe(page, what: str) -> None:
    loaded(page)
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    result = page.evaluate("async () => await axe.run(document)")
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
    ]
    assert not violations, f"axe-core on {what} ({page.url}):\n" + "\n".join(violations)


def no_horizontal_overflow(page, what: str) -> None:
    loaded(page)
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, window.innerWidth]"
    )
    assert max(widths[:2]) <= widths[2], f"{what} overflows at {widths[2]} px: {widths}"


def test_the_general_letter_with_the_keyboard_alone(page, live_server, garrison_world):
    page.goto(f"{live_server.url}/portal/")
    # The first Tab stop is the skip link, and it works.
    page.keyboard.press("Tab")
    assert active(page)["cls"] == "p-skip"
    tab_to(page, by_text("Napisz do jednostki Policji"), "the letter service")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/pismo/")
    tab_to(page, by_text("Rozpocznij"), "the start button")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/pismo/jednostka/")

    # The unit: a select changed with the arrow keys.
    tab_to(page, by_id("id_unit"), "the unit select")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.eval_on_selector("#id_unit", "e => e.selectedOptions[0].text") == (
        "Komenda Miejska Policji w Lublinie"
    )
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/pismo/nadawca/")

    # Submitting empty: the error summary takes focus and its links lead to the fields.
    tab_to(page, by_text("Dalej"), "Continue")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # Autofocus is applied after the load event: wait for it, then check.
    page.wait_for_function("() => document.activeElement.classList.contains('p-error-summary')")
    el = active(page)
    assert "p-error-summary" in el["cls"], el
    tab_to(
        page,
        lambda e: e["tag"] == "a" and e["text"] == "Podaj imię i nazwisko albo nazwę.",
        "the first error link",
    )
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'id_name'")
    page.keyboard.type("Jan Kowalski")
    page.keyboard.press("Tab")
    assert active(page)["id"] == "id_email"
    page.keyboard.type("jan@example.pl")
    page.keyboard.press("Tab")
    assert active(page)["id"] == "id_address"
    page.keyboard.type("ul. Lipowa 1, Lublin")
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/pismo/tresc/")

    tab_to(page, by_id("id_subject"), "the subject")
    page.keyboard.type("Hałas na osiedlu")
    page.keyboard.press("Tab")
    page.keyboard.type("Proszę o kontakt dzielnicowego.")
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/pismo/zalaczniki/")
    tab_to(page, by_text("Dalej"), "Continue")
    page.keyboard.press("Enter")
    wait_for_path(page, "/portal/pismo/sprawdz/")

    assert "Hałas na osiedlu" in page.inner_text("main")
    tab_to(page, by_text("Wyślij"), "Send")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/portal/wyslano/[0-9a-f]+/(#.*)?$"))
    item = IncomingItem.objects.get()
    assert item.registration_number in page.inner_text("main")
    assert item.unit.symbol == "KMP-LU" and item.sender_name == "Jan Kowalski"
    assert Submission.objects.count() == 1


def test_the_language_switcher_works_from_the_keyboard(page, live_server, garrison_world):
    page.goto(f"{live_server.url}/portal/")
    tab_to(page, lambda e: e["text"] == "Українська", "the Ukrainian button")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.documentElement.lang === 'uk'")
    assert "Вирішуйте справи з поліцією онлайн" in page.inner_text("h1")


def walk_every_page(page, base: str, visit) -> None:
    """Visit every portal page and error state once, calling `visit(page, name)` on each."""
    page.goto(f"{base}/portal/")
    visit(page, "start")
    page.goto(f"{base}/portal/deklaracja-dostepnosci/")
    visit(page, "accessibility statement")
    for service in ("pismo", "skarga"):
        page.goto(f"{base}/portal/{service}/")
        visit(page, f"{service}: start")
        page.click("text=Rozpocznij")
        visit(page, f"{service}: unit")
        page.click("button:has-text('Dalej')")
        visit(page, f"{service}: unit, error")
        page.select_option("#id_unit", label="Komenda Wojewódzka Policji w Lublinie")
        page.click("button:has-text('Dalej')")
        if service == "skarga":
            visit(page, "skarga: kind")
            page.click("button:has-text('Dalej')")
            visit(page, "skarga: kind, error")
            page.check("#id_kind_0")
            page.click("button:has-text('Dalej')")
            visit(page, "skarga: content")
            page.click("button:has-text('Dalej')")
            visit(page, "skarga: content, error")
            page.fill("#id_subject", "Zachowanie funkcjonariusza")
            page.fill("#id_text", "Opis.")
            page.click("button:has-text('Dalej')")
            visit(page, "skarga: anonymity")
            page.click("button:has-text('Dalej')")
            visit(page, "skarga: anonymity, error")
            page.check("#id_anonymous_0")
            page.click("button:has-text('Dalej')")
        visit(page, f"{service}: details")
        page.fill("#id_email", "zly-adres")
        page.click("button:has-text('Dalej')")
        visit(page, f"{service}: details, error")
        page.fill("#id_name", "Anna Nowak")
        page.fill("#id_email", "anna@example.pl")
        page.click("button:has-text('Dalej')")
        if service == "pismo":
            visit(page, "pismo: content")
            page.fill("#id_subject", "Temat")
            page.fill("#id_text", "Treść.")
            page.click("button:has-text('Dalej')")
        visit(page, f"{service}: attachments")
        page.set_input_files(
            "#id_files",
            files=[
                {
                    "name": "program.exe",
                    "mimeType": "application/octet-stream",
                    "buffer": b"MZ\x90\x00" * 100,
                },
            ],
        )
        page.click("button:has-text('Dodaj pliki')")
        visit(page, f"{service}: attachments, error")
        page.set_input_files(
            "#id_files",
            files=[
                {"name": "notatka.txt", "mimeType": "text/plain", "buffer": "zażółć".encode()},
            ],
        )
        page.click("button:has-text('Dodaj pliki')")
        visit(page, f"{service}: attachments, one listed")
        page.click("button:has-text('Dalej')")
        visit(page, f"{service}: check your answers")
        page.click("button:has-text('Wyślij')")
        page.wait_for_url(re.compile(r".*/portal/wyslano/[0-9a-f]+/(#.*)?$"))
        visit(page, f"{service}: confirmation")
        page.goto(page.get_attribute(".p-link-box a", "href"))
        visit(page, f"{service}: tracking")
    page.goto(f"{base}/portal/sledzenie/{'0' * 64}/")
    visit(page, "tracking, unknown token")


def test_axe_finds_no_violation_on_any_page_or_error_state(page, live_server, garrison_world):
    visited = []

    def visit(p, name):
        visited.append(name)
        check_axe(p, name)

    walk_every_page(page, live_server.url, visit)
    assert len(visited) == 32, visited
    # The same in Ukrainian, where texts are longest on the start page.
    page.goto(f"{live_server.url}/portal/")
    page.click("a[lang=uk]")
    page.wait_for_function("() => document.documentElement.lang === 'uk'")
    check_axe(page, "start, Ukrainian")


def test_nothing_overflows_at_320_px(browser, live_server, garrison_world):
    context = browser.new_context(viewport={"width": 320, "height": 640}, locale="pl-PL")
    try:
        page = context.new_page()
        visited = []

        def visit(p, name):
            visited.append(name)
            no_horizontal_overflow(p, name)
            # Nothing needs JavaScript: the pages carry none.
            assert p.evaluate("() => document.scripts.length") == 0, name

        walk_every_page(page, live_server.url, visit)
        page.goto(f"{live_server.url}/portal/")
        page.click("a[lang=uk]")
        page.wait_for_function("() => document.documentElement.lang === 'uk'")
        no_horizontal_overflow(page, "start, Ukrainian")
        assert len(visited) == 32
    finally:
        context.close()


FOCUS_IN_VIEW = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const r = el.getBoundingClientRect();
    const w = window.innerWidth, h = window.innerHeight;
    const x = Math.min(Math.max(r.left + r.width / 2, 0), w - 1);
    const y = Math.min(Math.max(r.top + Math.min(r.height, 20) / 2, 0), h - 1);
    const top = document.elementFromPoint(x, y);
    const labelled = el.labels && [...el.labels].some(l => l.contains(top));
    const own = top && (top === el || el.contains(top) || top.contains(el) || labelled);
    const text = (el.innerText || el.value || '').slice(0, 30);
    return {
        what: el.tagName + (el.id ? '#' + el.id : '') + ' ' + text,
        inside: r.bottom > 0 && r.top < h && r.right > 0 && r.left < w,
        covered: !own,
    };
}"""


def test_pages_work_at_400_percent_zoom(browser, live_server, garrison_world):
    """A 1280x1024 window at 400 % is 320x256 CSS px (WCAG 1.4.10): nothing overflows
    sideways, and every control reached by Tab is scrolled into view, not hidden."""
    context = browser.new_context(
        viewport={"width": 320, "height": 256}, device_scale_factor=4, locale="pl-PL"
    )
    try:
        page = context.new_page()
        visited = []

        def visit(p, name):
            visited.append(name)
            no_horizontal_overflow(p, f"{name} at 400 %")
            p.evaluate("() => window.scrollTo(0, 0)")
            p.evaluate("() => document.activeElement && document.activeElement.blur()")
            for _ in range(MAX_TAB_STOPS):
                p.keyboard.press("Tab")
                focus = p.evaluate(FOCUS_IN_VIEW)
                if focus is None:
                    break
                assert focus["inside"], f"{name}: focused {focus['what']} is out of view"
                assert not focus["covered"], f"{name}: focused {focus['what']} is covered"
                if focus["what"].startswith("A") and "Deklaracja" in focus["what"]:
                    break  # the footer's last link: the page is done

        walk_every_page(page, live_server.url, visit)
        assert len(visited) == 32
    finally:
        context.close()


def test_the_error_summary_takes_focus_without_javascript(browser, live_server, garrison_world):
    context = browser.new_context(java_script_enabled=False, locale="pl-PL")
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/portal/pismo/jednostka/")
        page.click("button:has-text('Dalej')")
        # The page's own scripts are off; Playwright's checks still read the DOM.
        # Chromium applies autofocus at the next rendering step after load, so wait
        # for it (up to five seconds) rather than reading focus once.
        expect(page.locator(".p-error-summary")).to_be_focused(timeout=5000)
    finally:
        context.close()
