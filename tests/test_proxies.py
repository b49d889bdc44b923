"""The client's address behind trusted reverse proxies (common/proxies.py)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from garnizon.audit.models import AuditEntry
from garnizon.common.proxies import client_address, trusted_networks
from tests.factories import PASSWORD

PROXIES = trusted_networks(("10.0.0.0/8", "::1", "192.0.2.7"))


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("10.0.0.5", "203.0.113.9", "203.0.113.9"),  # one proxy
        ("10.0.0.5", "198.51.100.1, 203.0.113.9, 10.2.3.4", "203.0.113.9"),  # the chain
        ("10.0.0.5", "203.0.113.9:51234", "203.0.113.9"),  # with a port
        ("::1", "[2001:db8::5]:443", "2001:db8::5"),
        ("::1", "2001:db8::5", "2001:db8::5"),
        ("203.0.113.50", "198.51.100.1", "203.0.113.50"),  # not a proxy: header ignored
        ("10.0.0.5", "", "10.0.0.5"),  # a proxy that did not say
        ("10.0.0.5", "203.0.113.9, not-an-address", "10.0.0.5"),  # garbled: trust none
        ("10.0.0.5", "10.1.1.1, 192.0.2.7", "10.1.1.1"),  # only proxies: the first
        ("10.0.0.5", ",".join(["203.0.113.9"] * 30), "10.0.0.5"),  # too many hops
    ],
)
def test_the_client_is_the_first_untrusted_address_from_the_right(remote, forwarded, expected):
    assert client_address(remote, forwarded, PROXIES) == expected


def test_without_trusted_proxies_the_header_is_never_believed():
    assert client_address("10.0.0.5", "203.0.113.9", ()) == "10.0.0.5"


def test_the_audit_trail_records_the_client_behind_the_proxy(garrison, settings):
    settings.GARNIZON_TRUSTED_PROXIES = ["127.0.0.1"]
    clerk = garrison.people["clerk"]
    client = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.77")
    response = client.post(reverse("web:login"), {"username": clerk.username, "password": PASSWORD})
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(actor_username=clerk.username).latest("seq")
    assert entry.remote_addr == "203.0.113.77"

    settings.GARNIZON_TRUSTED_PROXIES = []  # the default: the header is anyone's to send
    forged = Client(REMOTE_ADDR="198.51.100.20", HTTP_X_FORWARDED_FOR="203.0.113.77")
    forged.post(reverse("web:login"), {"username": clerk.username, "password": PASSWORD})
    entry = AuditEntry.objects.filter(actor_username=clerk.username).latest("seq")
    assert entry.remote_addr == "198.51.100.20"


def test_the_portal_rate_limit_counts_each_client_behind_the_proxy(garrison, settings):
    from tests.test_portal import confirmation_token, fill_letter, submit

    settings.GARNIZON_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.GARNIZON_PORTAL_RATE_LIMIT = 1
    first = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.1")
    fill_letter(first, garrison.kwp, email="a@example.pl")
    confirmation_token(submit(first, "pismo")[0])
    # Another citizen behind the same proxy is not refused for the first one's filing.
    second = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.2")
    fill_letter(second, garrison.kwp, email="b@example.pl")
    confirmation_token(submit(second, "pismo")[0])
    # The first one's second filing is.
    again = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.1")
    fill_letter(again, garrison.kwp, email="c@example.pl")
    assert submit(again, "pismo")[0].status_code == 429


def test_a_wrong_proxy_setting_stops_the_start_with_a_clear_message(monkeypatch):
    import importlib
    import sys

    from django.core.exceptions import ImproperlyConfigured

    monkeypatch.setenv("GARNIZON_TRUSTED_PROXIES", "10.0.0.0/8, nginx")
    saved = sys.modules.pop("garnizon.settings")
    try:
        with pytest.raises(ImproperlyConfigured, match="'nginx' is not an address"):
            importlib.import_module("garnizon.settings")
    finally:
        sys.modules["garnizon.settings"] = saved
