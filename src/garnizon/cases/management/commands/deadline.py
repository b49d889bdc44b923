"""`garnizon deadline KIND --from DATE`: the statutory due date of a matter, explained.

    garnizon deadline complaint --from 2026-01-15
    garnizon deadline certificate --from 17.12.2025
    garnizon deadline --list

DATE is YYYY-MM-DD or DD.MM.YYYY; without --from the term runs from today.
"""

from __future__ import annotations

import datetime
import re
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext

from garnizon.cases.deadlines import (
    DEADLINE_RULES,
    DeadlineKind,
    compute_deadline,
    format_date,
    term_label,
)
from garnizon.cases.holidays import weekday_name

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_POLISH_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")


def parse_date(text: str) -> datetime.date:
    """A date given as YYYY-MM-DD or DD.MM.YYYY; CommandError otherwise."""
    value = text.strip()
    if match := _ISO_DATE.match(value):
        year, month, day = (int(part) for part in match.groups())
    elif match := _POLISH_DATE.match(value):
        day, month, year = (int(part) for part in match.groups())
    else:
        raise CommandError(
            gettext("Nieprawidłowa data „%(value)s”: podaj RRRR-MM-DD albo DD.MM.RRRR.")
            % {"value": text}
        )
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise CommandError(
            gettext("Nieprawidłowa data „%(value)s”: taki dzień nie istnieje.") % {"value": text}
        ) from None


def _valid_kinds() -> str:
    return ", ".join(DEADLINE_RULES)


class Command(BaseCommand):
    # argparse needs plain str here: lazy translations break its help formatter.
    help = (
        "Oblicza termin ustawowy: data, podstawa prawna i sposób liczenia. "
        "Rodzaje terminów: --list."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "kind",
            nargs="?",
            metavar="RODZAJ",
            help="rodzaj terminu, np. complaint (lista: --list)",
        )
        parser.add_argument(
            "--from",
            dest="start",
            metavar="DATA",
            help="data zdarzenia (RRRR-MM-DD albo DD.MM.RRRR); domyślnie dziś",
        )
        parser.add_argument(
            "--list",
            action="store_true",
            help="wypisz rodzaje terminów z podstawą prawną",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            self._list()
            return
        kind: str | None = options["kind"]
        if not kind:
            raise CommandError(
                gettext("Podaj rodzaj terminu. Dostępne rodzaje: %(kinds)s.")
                % {"kinds": _valid_kinds()}
            )
        if kind not in DEADLINE_RULES:
            raise CommandError(
                gettext("Nieznany rodzaj terminu „%(kind)s”. Dostępne rodzaje: %(kinds)s.")
                % {"kind": kind, "kinds": _valid_kinds()}
            )
        start_text: str | None = options["start"]
        start = parse_date(start_text) if start_text else timezone.localdate()

        try:
            deadline = compute_deadline(kind, start)
        except ValueError as error:
            raise CommandError(str(error)) from error
        label = DeadlineKind(kind).label
        self.stdout.write(gettext("Rodzaj: %(kind)s (%(label)s)") % {"kind": kind, "label": label})
        self.stdout.write(gettext("Początek: %(start)s") % {"start": format_date(start)})
        if deadline.due_date is not None:
            due = gettext("%(date)s (%(weekday)s)") % {
                "date": format_date(deadline.due_date),
                "weekday": gettext(weekday_name(deadline.due_date)),
            }
        elif deadline.basis:
            due = gettext("niezwłocznie (bez daty)")
        else:
            due = gettext("brak terminu ustawowego")
        self.stdout.write(gettext("Termin: %(due)s") % {"due": due})
        if deadline.basis:
            self.stdout.write(gettext("Podstawa: %(basis)s") % {"basis": deadline.basis})
        if deadline.explanation:
            self.stdout.write(
                gettext("Sposób liczenia: %(explanation)s") % {"explanation": deadline.explanation}
            )

    def _list(self) -> None:
        width = max(len(kind) for kind in DEADLINE_RULES)
        for kind, rule in DEADLINE_RULES.items():
            basis = str(rule.basis) or "—"
            term = term_label(kind)
            line = f"{kind:<{width}}  {term:<12}  {basis}"
            if rule.counted_from:
                line += "  " + gettext("(od: %(event)s)") % {"event": rule.counted_from}
            self.stdout.write(line)
            self.stdout.write(f"{'':<{width}}  {rule.kind.label}")
