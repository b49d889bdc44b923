"""`garnizon audit verify` and `garnizon audit show`: the tamper-evident audit trail."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from garnizon.audit.models import AuditEntry
from garnizon.audit.services import audit_verify
from garnizon.org.models import Unit

DEFAULT_LAST = 20


class Command(BaseCommand):
    help = "Dziennik zdarzeń: sprawdzenie łańcucha skrótów i przeglądanie wpisów."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{verify,show}")

        verify = actions.add_parser(
            "verify",
            help="Sprawdza cały łańcuch; kończy się kodem 1, gdy łańcuch jest naruszony.",
        )
        verify.add_argument(
            "--batch-size",
            type=_positive,
            default=5000,
            help="Ile wpisów czytać naraz (domyślnie 5000).",
        )

        show = actions.add_parser("show", help="Wypisuje wpisy w czytelnej postaci.")
        which = show.add_mutually_exclusive_group()
        which.add_argument(
            "--object",
            metavar="TYP:ID",
            help="Wpisy dotyczące jednego obiektu, np. cases.case:42.",
        )
        which.add_argument(
            "--last",
            metavar="N",
            type=_positive,
            help=f"N najnowszych wpisów (domyślnie {DEFAULT_LAST}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "verify":
            self._verify(batch_size=options["batch_size"])
        else:
            self._show(object_ref=options["object"], last=options["last"] or DEFAULT_LAST)

    def _verify(self, *, batch_size: int) -> None:
        verification = audit_verify(batch_size=batch_size)
        problems = 0
        # Problems are printed as they are found: on a long chain the operator
        # sees the first break without waiting for the end of the walk.
        for problem in verification:
            problems += 1
            self.stdout.write(f"wpis #{problem.seq}: {problem.problem}")
        if problems:
            raise CommandError(
                f"Łańcuch dziennika zdarzeń jest naruszony: {_count(problems, 'problem')} "
                f"w {_count(verification.checked, 'entries_locative')}.",
                returncode=1,
            )
        self.stdout.write(f"OK: {_count(verification.checked, 'entries')}, łańcuch nienaruszony")

    def _show(self, *, object_ref: str | None, last: int) -> None:
        if object_ref is not None:
            object_type, _, object_id = object_ref.partition(":")
            if not object_type or not object_id:
                raise CommandError(
                    f"Nieprawidłowy obiekt „{object_ref}”: podaj TYP:ID, np. cases.case:42.",
                    returncode=2,
                )
            entries = list(
                AuditEntry.objects.filter(object_type=object_type.lower(), object_id=object_id)
            )
        else:
            entries = list(AuditEntry.objects.order_by("-seq")[:last])[::-1]
        if not entries:
            self.stdout.write("Brak wpisów.")
            return
        units = Unit.objects.in_bulk({e.unit_id for e in entries if e.unit_id is not None})
        for entry in entries:
            self.stdout.write(_describe(entry, units))


def _describe(entry: AuditEntry, units: dict[int, Unit]) -> str:
    """Two or three lines a person can read: when and what, who and where, details."""
    when = timezone.localtime(entry.occurred_at).strftime("%Y-%m-%d %H:%M:%S")
    what = entry.get_action_display()
    if entry.object_type:
        what += f" {entry.object_type}:{entry.object_id}"
    if entry.object_repr:
        what += f" „{entry.object_repr}”"
    who = entry.actor_username or "(system lub nieznany)"
    if entry.on_behalf_of_username:
        who += f" w zastępstwie {entry.on_behalf_of_username}"
    where = [f"kto: {who}"]
    if entry.unit_id is not None:
        unit = units.get(entry.unit_id)
        where.append(f"jednostka: {unit.symbol if unit else entry.unit_id}")
    if entry.remote_addr:
        where.append(f"adres: {entry.remote_addr}")
    lines = [f"#{entry.seq}  {when}  {what}", "    " + ", ".join(where)]
    if entry.details:
        details = json.dumps(entry.details, ensure_ascii=False, sort_keys=True)
        lines.append(f"    szczegóły: {details}")
    return "\n".join(lines)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"„{value}” nie jest liczbą dodatnią")
    return number


_FORMS = {
    # one, a few (2-4, not 12-14), many
    "entries": ("wpis", "wpisy", "wpisów"),
    "entries_locative": ("wpisie", "wpisach", "wpisach"),
    "problem": ("problem", "problemy", "problemów"),
}


def _count(number: int, noun: str) -> str:
    """`number` with the Polish plural form of `noun`: 1 wpis, 3 wpisy, 5 wpisów."""
    one, few, many = _FORMS[noun]
    if number == 1:
        form = one
    elif number % 10 in (2, 3, 4) and number % 100 not in (12, 13, 14):
        form = few
    else:
        form = many
    return f"{number} {form}"
