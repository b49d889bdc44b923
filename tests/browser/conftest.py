"""Browser fixtures: one headless Chromium per run of this package, a fresh context per test.

Playwright's sync API keeps an asyncio event loop marked as running on the main
thread for as long as it is started, so Django sees every ORM call made by the
test (building data, checking the database, flushing tables afterwards) as
coming from async code and raises SynchronousOnlyOperation. The tests here are
plain synchronous code, so DJANGO_ALLOW_ASYNC_UNSAFE is set while Playwright
runs and restored when the package is done. The browser is package-scoped
(not session-scoped) so that neither the running loop nor the variable leaks
into the rest of the suite.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="package")
def _allow_orm_beside_playwright() -> Iterator[None]:
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(_allow_orm_beside_playwright):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="pl-PL", timezone_id="Europe/Warsaw"
    )
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def log_in(context, live_server):
    """Give the browser a session for `person` without going through the login form.

    Only test_keyboard_login exercises the form; the other tests start from an
    authenticated page, as a user who has just logged in would.
    """

    def _log_in(person) -> None:
        from tests.factories import PASSWORD

        client = Client()
        assert client.login(username=person.username, password=PASSWORD)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies(
            [{"name": cookie.key, "value": cookie.value, "url": live_server.url, "httpOnly": True}]
        )

    return _log_in
