"""Portal limits: Django settings win (tests), else the environment, else the defaults."""

from __future__ import annotations

import os

from django.conf import settings

# Attachment types the portal accepts (detected from content, never from the name).
ALLOWED_TYPES = {
    "application/pdf": "PDF",
    "image/jpeg": "JPG",
    "image/png": "PNG",
    "image/tiff": "TIFF",
    "text/plain": "TXT",
    "application/vnd.oasis.opendocument.text": "ODT",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "DOCX",
}


def _setting(name: str, default: str) -> int:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return int(value)


def max_attachments() -> int:
    return _setting("GARNIZON_PORTAL_MAX_ATTACHMENTS", "10")


def max_attachment_bytes() -> int:
    return int(settings.GARNIZON_MAX_UPLOAD_MB) * 1024 * 1024


def rate_limit() -> int:
    """Filings accepted from one client address per window."""
    return _setting("GARNIZON_PORTAL_RATE_LIMIT", "20")


def rate_window_seconds() -> int:
    return _setting("GARNIZON_PORTAL_RATE_WINDOW", "3600")


def accessibility_contact() -> dict[str, str]:
    """Who answers accessibility requests (deklaracja dostępności); set per deployment."""
    return {
        "name": os.environ.get(
            "GARNIZON_PORTAL_A11Y_NAME", "Koordynator do spraw dostępności KWP w Lublinie"
        ),
        "email": os.environ.get("GARNIZON_PORTAL_A11Y_EMAIL", "dostepnosc@garnizon.invalid"),
        "phone": os.environ.get("GARNIZON_PORTAL_A11Y_PHONE", "47 811 00 00"),
    }


#: The stamp duty (opłata skarbowa) for a certificate (zaświadczenie), part II item 21
#: of the schedule to the act on stamp duty.
CERTIFICATE_FEE = "17 zł"


def fee_account() -> dict[str, str]:
    """Where a certificate's stamp duty is paid: the tax office of the municipality
    where the unit has its seat (for the garrison's units mostly Lublin); set per deployment.
    """

    def value(name: str, default: str) -> str:
        setting = getattr(settings, name, None)
        return str(setting) if setting is not None else os.environ.get(name, default)

    return {
        "recipient": value(
            "GARNIZON_PORTAL_FEE_RECIPIENT",
            "Urząd Miasta Lublin, pl. Króla Władysława Łokietka 1, 20-109 Lublin",
        ),
        "account": value("GARNIZON_PORTAL_FEE_ACCOUNT", "00 0000 0000 0000 0000 0000 0000"),
        "amount": CERTIFICATE_FEE,
    }
