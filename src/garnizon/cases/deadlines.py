"""Statutory deadlines: kinds of matter and their legal basis (engine below)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DeadlineKind(models.TextChoices):
    NONE = "none", _("bez terminu ustawowego")
    KPA_IMMEDIATE = "kpa_immediate", _("sprawa administracyjna – niezwłocznie")
    KPA_INVESTIGATION = "kpa_investigation", _("sprawa administracyjna wymagająca postępowania wyjaśniającego")
    KPA_COMPLEX = "kpa_complex", _("sprawa administracyjna szczególnie skomplikowana")
    KPA_APPEAL = "kpa_appeal", _("odwołanie")
    CERTIFICATE = "certificate", _("zaświadczenie")
    COMPLAINT = "complaint", _("skarga lub wniosek")
    COMPLAINT_MP = "complaint_mp", _("skarga lub wniosek posła albo senatora")
    COMPLAINT_FORWARD = "complaint_forward", _("przekazanie skargi według właściwości")
    PUBLIC_INFORMATION = "public_information", _("wniosek o udostępnienie informacji publicznej")
    PUBLIC_INFORMATION_EXTENDED = "public_information_extended", _("informacja publiczna – termin przedłużony")
    PETITION = "petition", _("petycja")
    WHISTLEBLOWER_ACK = "whistleblower_ack", _("zgłoszenie sygnalisty – potwierdzenie przyjęcia")
    WHISTLEBLOWER_FEEDBACK = "whistleblower_feedback", _("zgłoszenie sygnalisty – informacja zwrotna")
    CRIME_NOTIFICATION = "crime_notification", _("zawiadomienie o przestępstwie – czynności sprawdzające")


# --- the engine (interface; see compute_deadline) -------------------------------

import datetime  # noqa: E402
from dataclasses import dataclass  # noqa: E402


@dataclass(frozen=True)
class Deadline:
    """A computed due date with its legal basis and how it was counted."""

    kind: str
    start: datetime.date
    due_date: datetime.date | None
    basis: str
    explanation: str


def compute_deadline(kind: str, start: datetime.date) -> Deadline:
    """The statutory due date for a matter of `kind` whose event happened on `start`."""
    if kind == DeadlineKind.NONE:
        return Deadline(kind, start, None, "", "")
    raise NotImplementedError(kind)
