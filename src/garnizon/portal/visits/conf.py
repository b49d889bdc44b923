"""Visit booking limits: Django settings win (tests), else the environment, else defaults."""

from __future__ import annotations

import os

from django.conf import settings


def _setting(name: str, default: str) -> int:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return int(value)


def rate_limit_email() -> int:
    """Bookings one e-mail address may make per window (`garnizon.common.ratelimit`)."""
    return _setting("GARNIZON_VISITS_RATE_LIMIT_EMAIL", "3")


def rate_limit_address() -> int:
    """Bookings one client address may make per window (a shared office NAT needs more)."""
    return _setting("GARNIZON_VISITS_RATE_LIMIT_ADDRESS", "10")


def rate_window_seconds() -> int:
    """The rate limits' window: fixed windows of this length (common.ratelimit), not sliding."""
    return _setting("GARNIZON_VISITS_RATE_WINDOW", "86400")


def reminder_hour() -> int:
    """From this local hour on the day before a visit, its reminder is sent."""
    return _setting("GARNIZON_VISITS_REMINDER_HOUR", "8")


def send_immediately() -> bool:
    """Queue the e-mail task as a booking is made or cancelled (else only the scheduler sends)."""
    return bool(_setting("GARNIZON_VISITS_SEND_IMMEDIATELY", "1"))


def portal_url() -> str:
    return str(getattr(settings, "GARNIZON_PORTAL_URL", "http://127.0.0.1:8000")).rstrip("/")
