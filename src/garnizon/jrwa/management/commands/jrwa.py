"""`garnizon jrwa import FILE ...` and `garnizon jrwa list`: JRWA scheme versions."""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from garnizon.jrwa.importer import SchemeImportError, import_scheme
from garnizon.jrwa.models import ClassificationScheme


def _date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            _("nieprawidłowa data „%(value)s”, podaj RRRR-MM-DD") % {"value": value}
        ) from error


class Command(BaseCommand):
    # A plain string: argparse needs str, and translations are not ready at import time.
    help = (
        "Wykazy akt (JRWA): import wersji wykazu z pliku CSV (format: docs/jrwa-format.md) "
        "i lista wersji."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{import,list}")

        importing = actions.add_parser(
            "import",
            help=_("Importuje wersję wykazu z pliku CSV; plik z błędami jest odrzucany w całości."),
        )
        importing.add_argument("file", type=Path, help=_("Plik CSV (UTF-8, separator ; lub ,)."))
        importing.add_argument("--name", required=True, help=_("Nazwa wykazu."))
        importing.add_argument("--version", required=True, help=_("Wersja wykazu, np. 2025."))
        importing.add_argument(
            "--valid-from", required=True, type=_date, help=_("Data obowiązywania, RRRR-MM-DD.")
        )
        importing.add_argument(
            "--example",
            action="store_true",
            help=_("Oznacz wykaz jako przykładowy (nie urzędowy)."),
        )
        importing.add_argument(
            "--activate",
            action="store_true",
            help=_("Uczyń tę wersję bieżącą (inne wersje o tej nazwie przestają być bieżące)."),
        )

        actions.add_parser("list", help=_("Wypisuje wersje wykazów."))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "import":
            self._import(options)
        else:
            self._list()

    def _import(self, options: dict[str, Any]) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(_("Nie ma pliku %(path)s.") % {"path": path}, returncode=1)
        try:
            scheme = import_scheme(
                file=path,
                name=options["name"],
                version=options["version"],
                valid_from=options["valid_from"],
                is_example=options["example"],
                activate=options["activate"],
            )
        except SchemeImportError as error:
            self.stderr.write(str(error))
            raise CommandError(
                _("Import pliku %(path)s odrzucony (błędów: %(count)d).")
                % {"count": len(error.errors), "path": path},
                returncode=1,
            ) from error
        classes = scheme.classes.count()
        terminal = scheme.classes.filter(is_terminal=True).count()
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Zaimportowano JRWA „%(scheme)s”: liczba klas %(classes)d, w tym "
                    "końcowych %(terminal)d; obowiązuje od %(valid_from)s%(active)s."
                )
                % {
                    "scheme": scheme,
                    "classes": classes,
                    "terminal": terminal,
                    "valid_from": scheme.valid_from.isoformat(),
                    "active": _(", wersja bieżąca") if scheme.is_active else "",
                }
            )
        )

    def _list(self) -> None:
        schemes = ClassificationScheme.objects.annotate(
            class_count=Count("classes"),
            terminal_count=Count("classes", filter=Q(classes__is_terminal=True)),
        ).order_by("name", "-valid_from", "-id")
        if not schemes:
            self.stdout.write(_("Brak wykazów. Zaimportuj wykaz: garnizon jrwa import PLIK ..."))
            return
        header = (_("id"), _("nazwa"), _("wersja"), _("od"), _("klasy"), _("stan"))
        rows = [
            (
                str(scheme.pk),
                scheme.name,
                scheme.version,
                scheme.valid_from.isoformat(),
                f"{scheme.class_count} ({scheme.terminal_count})",
                ", ".join(
                    label
                    for label, flag in (
                        (_("bieżący"), scheme.is_active),
                        (_("PRZYKŁAD"), scheme.is_example),
                    )
                    if flag
                ),
            )
            for scheme in schemes
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
        self.stdout.write(_("Kolumna „klasy”: wszystkie klasy (w nawiasie końcowe)."))
