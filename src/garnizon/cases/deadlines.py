"""Statutory deadlines: the kinds of matter, their legal basis and how the due date is counted.

Each `DeadlineKind` has a rule in `DEADLINE_RULES`: a term in days or months (or
none), the provision that sets it, and the act whose counting rules apply.
`compute_deadline(kind, start)` applies the rule to the date of the event that
starts the term (receipt of the letter, start of the proceedings, receipt of the
appeal…) and returns a `Deadline` with the due date, the basis and a Polish
explanation of the count, e.g. "1 miesiąc od 15.01.2026 = 15.02.2026, niedziela,
więc 16.02.2026 (art. 57 § 4 KPA)".

Counting (art. 57 KPA; the same in art. 111–115 KC and art. 123 KPK):

- a term in days starts the day after the event and ends when its last day ends:
  7 days from 15.01.2026 end on 22.01.2026 (art. 57 § 1 KPA);
- a term in months ends on the day of the last month with the same number as the
  day of the event, or on that month's last day if it has no such day: 1 month
  from 31.01.2026 ends on 28.02.2026, from 31.01.2028 on 29.02.2028 (art. 57 § 3);
- an end falling on a Saturday, a Sunday or a public holiday moves to the next
  day that is none of these, as many times as needed (art. 57 § 4 KPA): 7 days
  from 17.12.2025 = 24.12.2025 → 25, 26 (holidays), 27 (Saturday), 28 (Sunday)
  → 29.12.2025. Holidays come from `garnizon.cases.holidays`.

Which counting provisions are cited depends on the act: KPA for administrative
cases, certificates and complaints; KPK (art. 123) for crime notifications; the
Civil Code (art. 110–115 KC, the default for acts with no counting rules of their
own) for public information, petitions and whistleblower reports. The results
are the same; only the citation differs.

"Niezwłocznie" (art. 35 § 1–2 KPA) has no calendar date: the due date is None but
the basis and explanation are filled in. A matter with no statutory term
(`DeadlineKind.NONE`) has no date, basis or explanation.

`deadline_status` classifies a due date against today for lists and reminders.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from django.db import models
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from garnizon.cases.holidays import holiday_name, is_working_day, weekday_name


class DeadlineKind(models.TextChoices):
    NONE = "none", _("bez terminu ustawowego")
    KPA_IMMEDIATE = "kpa_immediate", _("sprawa administracyjna – niezwłocznie")
    KPA_INVESTIGATION = (
        "kpa_investigation",
        _("sprawa administracyjna wymagająca postępowania wyjaśniającego"),
    )
    KPA_COMPLEX = "kpa_complex", _("sprawa administracyjna szczególnie skomplikowana")
    KPA_APPEAL = "kpa_appeal", _("odwołanie")
    CERTIFICATE = "certificate", _("zaświadczenie")
    COMPLAINT = "complaint", _("skarga lub wniosek")
    COMPLAINT_MP = "complaint_mp", _("skarga lub wniosek posła albo senatora")
    COMPLAINT_FORWARD = "complaint_forward", _("przekazanie skargi według właściwości")
    PUBLIC_INFORMATION = (
        "public_information",
        _("wniosek o udostępnienie informacji publicznej"),
    )
    PUBLIC_INFORMATION_EXTENDED = (
        "public_information_extended",
        _("informacja publiczna – termin przedłużony"),
    )
    PETITION = "petition", _("petycja")
    WHISTLEBLOWER_ACK = (
        "whistleblower_ack",
        _("zgłoszenie sygnalisty – potwierdzenie przyjęcia"),
    )
    WHISTLEBLOWER_FEEDBACK = (
        "whistleblower_feedback",
        _("zgłoszenie sygnalisty – informacja zwrotna"),
    )
    CRIME_NOTIFICATION = (
        "crime_notification",
        _("zawiadomienie o przestępstwie – czynności sprawdzające"),
    )


@dataclass(frozen=True)
class Deadline:
    """A computed due date with its legal basis and how it was counted."""

    kind: str
    start: datetime.date
    due_date: datetime.date | None
    basis: str
    explanation: str


class TermUnit(StrEnum):
    DAYS = "days"
    MONTHS = "months"


@dataclass(frozen=True)
class CountingRules:
    """The provisions of one act on counting terms."""

    days: str  # a term in days starts the day after the event
    months: str  # a term in months ends on the same day number (or the month's last day)
    moved: str  # an end on a Saturday or holiday moves to the next working day


KPA_COUNTING = CountingRules("art. 57 § 1 KPA", "art. 57 § 3 KPA", "art. 57 § 4 KPA")
KPK_COUNTING = CountingRules("art. 123 § 1 KPK", "art. 123 § 2 KPK", "art. 123 § 3 KPK")
KC_COUNTING = CountingRules("art. 111 § 2 KC", "art. 112 KC", "art. 115 KC")


@dataclass(frozen=True)
class DeadlineRule:
    """The statutory term of one kind of matter."""

    kind: DeadlineKind
    basis: str | Promise  # "" for no statutory term
    counted_from: str | Promise  # the event whose date is `start`
    amount: int | None = None  # None: no calendar date
    unit: TermUnit | None = None
    counting: CountingRules | None = None


DEADLINE_RULES: Mapping[str, DeadlineRule] = MappingProxyType(
    {
        rule.kind.value: rule
        for rule in (
            DeadlineRule(DeadlineKind.NONE, "", ""),
            DeadlineRule(
                DeadlineKind.KPA_IMMEDIATE,
                _("art. 35 § 1–2 KPA"),
                _("wszczęcie postępowania"),
            ),
            DeadlineRule(
                DeadlineKind.KPA_INVESTIGATION,
                _("art. 35 § 3 KPA"),
                _("wszczęcie postępowania"),
                1,
                TermUnit.MONTHS,
                KPA_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.KPA_COMPLEX,
                _("art. 35 § 3 KPA"),
                _("wszczęcie postępowania"),
                2,
                TermUnit.MONTHS,
                KPA_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.KPA_APPEAL,
                _("art. 35 § 3 KPA"),
                _("otrzymanie odwołania"),
                1,
                TermUnit.MONTHS,
                KPA_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.CERTIFICATE,
                _("art. 217 § 3 KPA"),
                _("złożenie wniosku"),
                7,
                TermUnit.DAYS,
                KPA_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.COMPLAINT,
                _("art. 237 § 1 KPA"),
                _("wpływ skargi lub wniosku"),
                1,
                TermUnit.MONTHS,
                KPA_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.COMPLAINT_MP,
                _("art. 237 § 2 KPA"),
                _("wpływ skargi lub wniosku"),
                14,
                TermUnit.DAYS,
                KPA_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.COMPLAINT_FORWARD,
                _("art. 231 KPA"),
                _("wpływ skargi do organu niewłaściwego"),
                7,
                TermUnit.DAYS,
                KPA_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.PUBLIC_INFORMATION,
                _("art. 13 ust. 1 ustawy o dostępie do informacji publicznej"),
                _("złożenie wniosku"),
                14,
                TermUnit.DAYS,
                KC_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.PUBLIC_INFORMATION_EXTENDED,
                _("art. 13 ust. 2 ustawy o dostępie do informacji publicznej"),
                _("złożenie wniosku"),
                2,
                TermUnit.MONTHS,
                KC_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.PETITION,
                _("art. 10 ust. 1 ustawy o petycjach"),
                _("złożenie petycji"),
                3,
                TermUnit.MONTHS,
                KC_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.WHISTLEBLOWER_ACK,
                _("art. 25 ust. 1 pkt 3 ustawy o ochronie sygnalistów"),
                _("otrzymanie zgłoszenia"),
                7,
                TermUnit.DAYS,
                KC_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.WHISTLEBLOWER_FEEDBACK,
                _("art. 25 ust. 1 pkt 5 ustawy o ochronie sygnalistów"),
                _("potwierdzenie przyjęcia zgłoszenia"),
                3,
                TermUnit.MONTHS,
                KC_COUNTING,
            ),
            DeadlineRule(
                DeadlineKind.CRIME_NOTIFICATION,
                _("art. 307 § 1 KPK"),
                _("otrzymanie zawiadomienia"),
                30,
                TermUnit.DAYS,
                KPK_COUNTING,
            ),
        )
    }
)


def rule_for(kind: str) -> DeadlineRule:
    """The rule of `kind` (a `DeadlineKind` or its value); ValueError for an unknown kind."""
    try:
        return DEADLINE_RULES[str(kind)]
    except KeyError:
        valid = ", ".join(DEADLINE_RULES)
        raise ValueError(f"Unknown deadline kind {kind!r}; valid kinds: {valid}.") from None


def format_date(day: datetime.date) -> str:
    """A date the Polish way: dd.mm.yyyy."""
    return day.strftime("%d.%m.%Y")


# The years a term may start or end in. Far beyond any real matter, but well inside
# what `datetime.date` holds (year 9999), so no count overflows into an error page.
EARLIEST_YEAR = 1900
LATEST_YEAR = 9000


def _check_year(day: datetime.date) -> None:
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise ValueError(
            gettext("Terminy liczy się dla dat z lat %(first)d–%(last)d, a podano %(day)s.")
            % {"first": EARLIEST_YEAR, "last": LATEST_YEAR, "day": format_date(day)}
        )


def add_months(day: datetime.date, months: int) -> datetime.date:
    """`day` moved by `months`, clamped to a shorter month's last day (31.01 + 1 → 28/29.02).

    ValueError (with a Polish message) for a day or result outside the years
    `EARLIEST_YEAR`–`LATEST_YEAR`.
    """
    _check_year(day)
    month_index = day.year * 12 + day.month - 1 + months
    year, month = divmod(month_index, 12)
    month += 1
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        raise ValueError(
            gettext("Termin wypadłby poza latami %(first)d–%(last)d.")
            % {"first": EARLIEST_YEAR, "last": LATEST_YEAR}
        )
    next_month_start = datetime.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month_start - datetime.timedelta(days=1)).day
    return datetime.date(year, month, min(day.day, last_day))


def term_label(kind: str) -> str:
    """The term of `kind` in words: "7 dni", "1 miesiąc", "niezwłocznie" or "brak"."""
    rule = rule_for(kind)
    if rule.amount is None or rule.unit is None:
        if rule.basis:
            return gettext("niezwłocznie")
        return gettext("brak")
    if rule.unit is TermUnit.DAYS:
        # Polish plural forms (dzień/dni) come from the message catalogue.
        return ngettext("%(n)d dzień", "%(n)d dni", rule.amount) % {"n": rule.amount}
    # Polish has three forms (miesiąc/miesiące/miesięcy); the catalogue supplies them.
    return ngettext("%(n)d miesiąc", "%(n)d miesiące", rule.amount) % {"n": rule.amount}


def _reason(day: datetime.date) -> str:
    """Why `day` is not a working day: the holiday's name and/or the weekday."""
    holiday = holiday_name(day)
    weekday = gettext(weekday_name(day))
    if holiday is None:
        return weekday
    if day.weekday() >= 5:
        return f"{gettext(holiday)} ({weekday})"
    return gettext(holiday)


def _as_date(start: datetime.date) -> datetime.date:
    if isinstance(start, datetime.datetime):
        if timezone.is_aware(start):
            return timezone.localtime(start).date()
        return start.date()
    if isinstance(start, datetime.date):
        return start
    raise TypeError(f"start must be a date, not {type(start).__name__}")


def compute_deadline(kind: str, start: datetime.date) -> Deadline:
    """The statutory due date for a matter of `kind` whose event happened on `start`.

    `kind` is a `DeadlineKind` or its value (ValueError if unknown); `start` is the
    date of the event the term runs from (a datetime is converted to its local
    date), in the years `EARLIEST_YEAR`–`LATEST_YEAR` (ValueError with a Polish
    message otherwise). The returned strings are plain `str` in the active language.
    """
    rule = rule_for(kind)
    start = _as_date(start)
    _check_year(start)
    kind_value = rule.kind.value
    basis = str(rule.basis)
    if rule.amount is None or rule.unit is None or rule.counting is None:
        if not basis:
            return Deadline(kind_value, start, None, "", "")
        explanation = gettext(
            "niezwłocznie, czyli bez zbędnej zwłoki (%(basis)s); przepis nie wyznacza daty"
        ) % {"basis": basis}
        return Deadline(kind_value, start, None, basis, explanation)

    counting = rule.counting
    if rule.unit is TermUnit.DAYS:
        end = start + datetime.timedelta(days=rule.amount)
        clamped = False
    else:
        end = add_months(start, rule.amount)
        clamped = end.day != start.day

    explanation = gettext("%(term)s od %(start)s = %(end)s") % {
        "term": term_label(kind_value),
        "start": format_date(start),
        "end": format_date(end),
    }
    if clamped:
        explanation += " " + gettext("(ostatni dzień miesiąca, %(rule)s)") % {
            "rule": counting.months
        }

    due = end
    if not is_working_day(due):
        explanation += ", " + _reason(due)
        due += datetime.timedelta(days=1)
        while not is_working_day(due):
            explanation += f", {format_date(due)} {_reason(due)}"
            due += datetime.timedelta(days=1)
        explanation += ", " + gettext("więc %(due)s (%(rule)s)") % {
            "due": format_date(due),
            "rule": counting.moved,
        }
    return Deadline(kind_value, start, due, basis, explanation)


DeadlineStatus = Literal["overdue", "due_soon", "ok", "none"]


def deadline_status(
    due_date: datetime.date | None, today: datetime.date, soon_days: int
) -> DeadlineStatus:
    """Where a due date stands on `today`, in calendar days.

    "none" without a due date; "overdue" once the due date has passed (the due day
    itself still counts as in time); "due_soon" when at most `soon_days` days are
    left (0 means due today); otherwise "ok".
    """
    if due_date is None:
        return "none"
    days_left = (due_date - today).days
    if days_left < 0:
        return "overdue"
    if days_left <= soon_days:
        return "due_soon"
    return "ok"


def official_deadline(kind: str, start: datetime.date) -> Deadline:
    """The deadline as it is stored on an item or case: always in Polish.

    Registers and case records are official Polish documents; the wording must
    not depend on the language of the screen the clerk happened to use.
    """
    with translation.override("pl"):
        return compute_deadline(kind, start)
