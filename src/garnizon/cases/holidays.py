"""Polish public holidays and working days, computed in code.

The statutory list (ustawa z dnia 18 stycznia 1951 r. o dniach wolnych od pracy):

- 1 January – Nowy Rok; 6 January – Święto Trzech Króli (a holiday since 2011);
- Easter Sunday (Wielkanoc, Gregorian computus) and Easter Monday;
- 1 May – Święto Pracy; 3 May – Święto Konstytucji 3 Maja;
- Pentecost Sunday (Zielone Świątki, Easter + 49 days);
- Corpus Christi (Boże Ciało, Easter + 60 days);
- 15 August – Wniebowzięcie Najświętszej Maryi Panny;
- 1 November – Wszystkich Świętych; 11 November – Narodowe Święto Niepodległości;
- 24 December – Wigilia Bożego Narodzenia (a holiday from 2025 only);
- 25 and 26 December – Boże Narodzenie and its second day.

A *working day* here is the one the deadline rules use (art. 57 § 4 KPA,
art. 115 KC, art. 123 § 3 KPK): a day that is neither a Saturday, nor a Sunday,
nor a public holiday.

Extra non-working days
    The Django setting ``GARNIZON_EXTRA_HOLIDAYS`` adds non-working days that the
    code does not know about, e.g. a new statutory holiday voted in before the code
    is updated. It is a list of ISO dates (``["2030-05-02", ...]``; ``datetime.date``
    objects and a comma-separated string are accepted too). The days count as
    holidays in `is_working_day`, `next_working_day` and `holiday_name`, but not in
    `polish_holidays`, which stays the statutory list. A malformed entry raises
    ``ImproperlyConfigured``. An office's own day off given in exchange for a
    holiday falling on a Saturday does not move statutory deadlines, so it does
    not belong in this setting.

Names are returned in Polish, untranslated; they are marked with `gettext_noop`
so that code showing them to users can pass them through `gettext`.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_noop

FIRST_GREGORIAN_YEAR = 1583
EPIPHANY_FROM_YEAR = 2011
CHRISTMAS_EVE_FROM_YEAR = 2025

EXTRA_HOLIDAY_NAME = gettext_noop("dodatkowy dzień wolny od pracy")

WEEKDAY_NAMES: tuple[str, ...] = (
    gettext_noop("poniedziałek"),
    gettext_noop("wtorek"),
    gettext_noop("środa"),
    gettext_noop("czwartek"),
    gettext_noop("piątek"),
    gettext_noop("sobota"),
    gettext_noop("niedziela"),
)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def easter_sunday(year: int) -> datetime.date:
    """Easter Sunday of `year` in the Gregorian calendar (anonymous Gregorian computus)."""
    if year < FIRST_GREGORIAN_YEAR:
        raise ValueError(f"Easter is computed for Gregorian years only (1583 on), not {year}.")
    golden = year % 19
    century, year_of_century = divmod(year, 100)
    leap_centuries, century_rest = divmod(century, 4)
    moon_correction = (century + 8) // 25
    sun_correction = (century - moon_correction + 1) // 3
    epact = (19 * golden + century - leap_centuries - sun_correction + 15) % 30
    leap_years, year_rest = divmod(year_of_century, 4)
    to_sunday = (32 + 2 * century_rest + 2 * leap_years - epact - year_rest) % 7
    shift = (golden + 11 * epact + 22 * to_sunday) // 451
    month, day = divmod(epact + to_sunday - 7 * shift + 114, 31)
    return datetime.date(year, month, day + 1)


@functools.lru_cache(maxsize=64)
def _statutory_holidays(year: int) -> Mapping[datetime.date, str]:
    easter = easter_sunday(year)
    days: list[tuple[datetime.date, str]] = [
        (datetime.date(year, 1, 1), gettext_noop("Nowy Rok")),
        (easter, gettext_noop("Wielkanoc")),
        (easter + datetime.timedelta(days=1), gettext_noop("Poniedziałek Wielkanocny")),
        (datetime.date(year, 5, 1), gettext_noop("Święto Pracy")),
        (datetime.date(year, 5, 3), gettext_noop("Święto Konstytucji 3 Maja")),
        (easter + datetime.timedelta(days=49), gettext_noop("Zielone Świątki")),
        (easter + datetime.timedelta(days=60), gettext_noop("Boże Ciało")),
        (
            datetime.date(year, 8, 15),
            gettext_noop("Wniebowzięcie Najświętszej Maryi Panny"),
        ),
        (datetime.date(year, 11, 1), gettext_noop("Wszystkich Świętych")),
        (datetime.date(year, 11, 11), gettext_noop("Narodowe Święto Niepodległości")),
        (datetime.date(year, 12, 25), gettext_noop("Boże Narodzenie")),
        (datetime.date(year, 12, 26), gettext_noop("drugi dzień Bożego Narodzenia")),
    ]
    if year >= EPIPHANY_FROM_YEAR:
        days.append((datetime.date(year, 1, 6), gettext_noop("Święto Trzech Króli")))
    if year >= CHRISTMAS_EVE_FROM_YEAR:
        days.append((datetime.date(year, 12, 24), gettext_noop("Wigilia Bożego Narodzenia")))
    return MappingProxyType(dict(sorted(days)))


def polish_holidays(year: int) -> dict[datetime.date, str]:
    """The statutory public holidays of `year`, by date, with their Polish names.

    Configured extra days (``GARNIZON_EXTRA_HOLIDAYS``) are not included; see
    `extra_holidays`.
    """
    return dict(_statutory_holidays(year))


def _parse_extra_day(item: object) -> datetime.date:
    if isinstance(item, datetime.datetime):
        raise ImproperlyConfigured(
            f"GARNIZON_EXTRA_HOLIDAYS: {item!r} is a datetime, expected a date."
        )
    if isinstance(item, datetime.date):
        return item
    if isinstance(item, str) and _ISO_DATE.match(item.strip()):
        try:
            return datetime.date.fromisoformat(item.strip())
        except ValueError:
            pass
    raise ImproperlyConfigured(
        f"GARNIZON_EXTRA_HOLIDAYS: {item!r} is not a date in the form YYYY-MM-DD."
    )


def extra_holidays() -> dict[datetime.date, str]:
    """The extra non-working days from the ``GARNIZON_EXTRA_HOLIDAYS`` setting."""
    from django.conf import settings

    if not settings.configured:
        return {}
    raw: object = getattr(settings, "GARNIZON_EXTRA_HOLIDAYS", None) or ()
    items: Iterable[object]
    if isinstance(raw, str):
        items = [part for part in raw.split(",") if part.strip()]
    elif isinstance(raw, Iterable):
        items = raw
    else:
        raise ImproperlyConfigured("GARNIZON_EXTRA_HOLIDAYS must be a list of ISO dates.")
    return {_parse_extra_day(item): EXTRA_HOLIDAY_NAME for item in items}


def holiday_name(day: datetime.date) -> str | None:
    """The Polish name of the holiday on `day` (statutory or configured), else None."""
    name = _statutory_holidays(day.year).get(day)
    if name is not None:
        return name
    return extra_holidays().get(day)


def weekday_name(day: datetime.date) -> str:
    """The Polish name of the day of the week ("poniedziałek" … "niedziela")."""
    return WEEKDAY_NAMES[day.weekday()]


def is_working_day(day: datetime.date) -> bool:
    """True unless `day` is a Saturday, a Sunday or a (statutory or configured) holiday."""
    return day.weekday() < 5 and holiday_name(day) is None


def next_working_day(day: datetime.date, *, inclusive: bool = True) -> datetime.date:
    """The first working day on or after `day` (strictly after it if not `inclusive`).

    With the default ``inclusive=True`` this is the statutory move of a deadline's
    end: a working day stays, a Saturday, Sunday or holiday moves forward, as many
    times as needed (24.12.2025 → 29.12.2025).
    """
    candidate = day if inclusive else day + datetime.timedelta(days=1)
    while not is_working_day(candidate):
        candidate += datetime.timedelta(days=1)
    return candidate
