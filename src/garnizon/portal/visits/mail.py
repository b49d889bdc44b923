"""The citizen's e-mails (confirmation, reminder, cancellation) and the .ics calendar file.

Each message is written in the language the citizen booked in and carries the
link to the booking's own page, where the visit can be cancelled.
"""

from __future__ import annotations

import datetime

from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from garnizon.portal.visits import conf
from garnizon.portal.visits.models import Booking


def booking_url(booking: Booking) -> str:
    from garnizon.portal.visits.services import manage_token_for

    path = reverse("portal:portal_visits:booking", args=[manage_token_for(booking.client_token)])
    return conf.portal_url() + path


def send_confirmation(booking: Booking) -> None:
    with translation.override(booking.language):
        subject = _("Potwierdzenie wizyty: %(when)s") % {"when": _when(booking)}
        body = "\n\n".join(
            [
                _("Dzień dobry,"),
                _("zarezerwowano wizytę."),
                _details(booking),
                _("Jeśli nie możesz przyjść, odwołaj wizytę pod tym linkiem:")
                + "\n"
                + booking_url(booking),
                _("Dzień przed wizytą przypomnimy o niej e-mailem."),
                _signature(),
            ]
        )
        message = _message(booking, subject, body)
        message.attach("wizyta.ics", booking_ics(booking), "text/calendar")
        message.send()


def send_reminder(booking: Booking) -> None:
    with translation.override(booking.language):
        subject = _("Przypomnienie: jutro wizyta, %(when)s") % {"when": _when(booking)}
        body = "\n\n".join(
            [
                _("Dzień dobry,"),
                _("przypominamy o jutrzejszej wizycie."),
                _details(booking),
                _("Jeśli nie możesz przyjść, odwołaj wizytę pod tym linkiem:")
                + "\n"
                + booking_url(booking),
                _signature(),
            ]
        )
        _message(booking, subject, body).send()


def send_cancellation(booking: Booking) -> None:
    with translation.override(booking.language):
        subject = _("Wizyta odwołana: %(when)s") % {"when": _when(booking)}
        body = "\n\n".join(
            [
                _("Dzień dobry,"),
                _("jednostka Policji odwołała Twoją wizytę. Przepraszamy."),
                _details(booking),
                _("Powód: %(reason)s") % {"reason": booking.cancel_reason},
                _("Możesz zarezerwować inny termin:")
                + "\n"
                + conf.portal_url()
                + reverse("portal:portal_visits:start"),
                _signature(),
            ]
        )
        _message(booking, subject, body).send()


def booking_ics(booking: Booking) -> str:
    """An iCalendar (RFC 5545) event for the visit, in UTC, CRLF lines folded at 75 octets."""
    slot = booking.slot
    kind = slot.kind
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Garnizon//Wizyty//PL",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:wizyta-{booking.pk}-{booking.token_sha256[:16]}@garnizon",
        f"DTSTAMP:{_utc(booking.created_at)}",
        f"DTSTART:{_utc(slot.starts_at)}",
        f"DTEND:{_utc(slot.ends_at)}",
        f"SUMMARY:{_escape(kind.name)}",
        f"LOCATION:{_escape(kind.place + ', ' + kind.unit.name)}",
        f"DESCRIPTION:{_escape(booking.matter)}",
        "STATUS:" + ("CONFIRMED" if booking.is_active else "CANCELLED"),
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(_fold(line) + "\r\n" for line in lines)


# --- helpers -----------------------------------------------------------------------------------


def _message(booking: Booking, subject: str, body: str) -> EmailMessage:
    return EmailMessage(subject=subject, body=body, to=[booking.email])


def _when(booking: Booking) -> str:
    return timezone.localtime(booking.slot.starts_at).strftime("%d.%m.%Y %H:%M")


def _details(booking: Booking) -> str:
    slot = booking.slot
    start = timezone.localtime(slot.starts_at)
    rows = [
        (_("Wizyta"), slot.kind.name),
        (_("Jednostka"), slot.kind.unit.name),
        (_("Miejsce"), slot.kind.place),
        (_("Dzień"), start.strftime("%d.%m.%Y")),
        (_("Godzina"), f"{start:%H:%M}–{timezone.localtime(slot.ends_at):%H:%M}"),
        (_("Sprawa"), booking.matter),
    ]
    return "\n".join(f"{label}: {value}" for label, value in rows)


def _signature() -> str:
    return _("e-Usługi Policji garnizonu lubelskiego\n(wiadomość wysłana automatycznie)")


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space, never mid-character."""
    parts: list[str] = []
    current = ""
    for char in line:
        limit = 75 if not parts else 74
        if len((current + char).encode()) > limit:
            parts.append(current)
            current = char
        else:
            current += char
    parts.append(current)
    return "\r\n ".join(parts)
