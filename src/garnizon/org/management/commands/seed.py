"""`garnizon seed`: load the units, example cells, the example JRWA and demo staff.

Idempotent: everything is looked up by its natural key and created only when
missing, so a second run changes nothing; existing people keep their
passwords, and an existing JRWA scheme is never changed.
"""

from __future__ import annotations

import datetime
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from garnizon.jrwa.importer import import_scheme
from garnizon.jrwa.models import ClassificationScheme
from garnizon.org.models import Cell, CellDesignation, Person, Position, Role, Unit
from garnizon.org.reference import (
    CELLS,
    STAFF,
    CellSpec,
    StaffSpec,
    UnitSpec,
    demo_person_name,
    demo_username,
    load_units,
)

EXAMPLE_JRWA_FILE = Path(__file__).resolve().parents[3] / "jrwa" / "data" / "jrwa-example.csv"
EXAMPLE_JRWA_NAME = "JRWA przykładowy (nie urzędowy)"
EXAMPLE_JRWA_VERSION = "1"
EXAMPLE_JRWA_VALID_FROM = datetime.date(2025, 1, 1)
LOGINS_FILE_NAME = "demo-logins.txt"
# Where ./dev start serves Garnizon (GARNIZON_BIND).
LOGIN_URL = f"http://{os.environ.get('GARNIZON_BIND', '127.0.0.1:8000')}/"
# The units whose accounts --print-logins shows, one per role.
SHOWN_UNITS = ("KWP", "KMP-LU")


@dataclass
class SeedReport:
    units_created: int = 0
    cells_created: int = 0
    designations_created: int = 0
    scheme_imported: ClassificationScheme | None = None
    new_logins: list[DemoLogin] = field(default_factory=list)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    unit: str
    role: str
    name: str


@dataclass(frozen=True)
class PlannedPerson:
    unit_symbol: str
    spec: StaffSpec
    username: str
    first_name: str
    last_name: str


class Command(BaseCommand):
    help = (
        "Wczytuje dane wzorcowe: 21 jednostek garnizonu (org/data/units.csv), przykładowe "
        "komórki z oznaczeniami na bieżący rok, przykładowy JRWA (jrwa/data/jrwa-example.csv, "
        "oznaczony jako przykład) i konta demonstracyjne. Można uruchamiać wielokrotnie: "
        "istniejące dane, hasła i wykazy JRWA pozostają bez zmian. Konta demonstracyjne mają "
        "loginy JEDNOSTKA.FUNKCJA małymi literami, np. kwp.komendant, kwp.kancelaria, "
        "kmp-lu.referent1, kmp-lu.kierownik1, kpp-bi.dzielnicowy, kpp-bi.archiwista, "
        "kpp-bi.administrator, kpp-bi.audytor. Hasła są losowane przy tworzeniu konta i "
        "zapisywane w pliku demo-logins.txt w katalogu danych (GARNIZON_DATA_DIR, prawa 0600)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-demo-staff",
            action="store_true",
            help=_("Bez kont demonstracyjnych (dla instalacji produkcyjnej)."),
        )
        parser.add_argument(
            "--print-logins",
            action="store_true",
            help=_("Na koniec wypisuje, jak się zalogować, i przykładowe konta z hasłami."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with_staff = not options["no_demo_staff"]
        if options["print_logins"] and not with_staff:
            raise CommandError(_("Opcje --print-logins i --no-demo-staff wykluczają się."))
        units = load_units()
        # Hashing ~200 passwords takes about a minute: do it before the
        # transaction, so the database is not locked meanwhile.
        planned = plan_demo_staff(units) if with_staff else []
        passwords = {person.username: secrets.token_urlsafe(12) for person in planned}
        hashes = {username: make_password(password) for username, password in passwords.items()}
        if planned:
            self.stdout.write(
                _("Nowe konta demonstracyjne: %(count)d (haszowanie haseł potrwa chwilę).")
                % {"count": len(planned)}
            )
        with transaction.atomic():
            report = seed(units=units, planned=planned, passwords=passwords, hashes=hashes)
        self._summary(report)
        if options["print_logins"]:
            self._print_logins()

    def _summary(self, report: SeedReport) -> None:
        lines = [
            _("Jednostki: %(all)d (nowe: %(new)d).")
            % {"all": Unit.objects.count(), "new": report.units_created},
            _("Komórki: %(all)d (nowe: %(new)d), nowe oznaczenia na rok %(year)d: %(desig)d.")
            % {
                "all": Cell.objects.count(),
                "new": report.cells_created,
                "year": timezone.localdate().year,
                "desig": report.designations_created,
            },
        ]
        if report.scheme_imported is not None:
            lines.append(
                _("Zaimportowano przykładowy JRWA: %(scheme)s (liczba klas: %(classes)d).")
                % {
                    "scheme": report.scheme_imported,
                    "classes": report.scheme_imported.classes.count(),
                }
            )
        else:
            lines.append(_("Przykładowy JRWA już istnieje: pozostawiono bez zmian."))
        if report.new_logins:
            lines.append(
                _("Utworzone konta demonstracyjne: %(count)d; hasła zapisano w %(path)s.")
                % {"count": len(report.new_logins), "path": logins_path()}
            )
        for line in lines:
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(_("Gotowe.")))

    def _print_logins(self) -> None:
        path = logins_path()
        saved = read_logins(path)
        out = self.stdout
        out.write("")
        out.write(_("Jak się zalogować do wersji demonstracyjnej"))
        out.write(_("1. Otwórz w przeglądarce: %(url)s") % {"url": LOGIN_URL})
        out.write(_("2. Zaloguj się jednym z kont:"))
        out.write("")
        rows = [(_("jednostka"), _("rola"), _("login"), _("hasło"))]
        for unit_symbol in SHOWN_UNITS:
            unit = Unit.objects.filter(symbol=unit_symbol).first()
            if unit is None:
                continue
            for role in Role:
                spec = next((s for s in STAFF[unit.kind] if s.role == role), None)
                if spec is None:
                    continue
                username = demo_username(unit_symbol, spec.login)
                password = saved.get(username, _("(brak w pliku haseł)"))
                rows.append((unit_symbol, str(role.label), username, password))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for row in rows:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            out.write("  " + "  ".join(cells).rstrip())
        out.write("")
        out.write(
            _(
                "Pełna lista kont (%(count)d) jest w pliku %(path)s (dostęp tylko dla "
                "właściciela). Konto bez hasła w pliku: garnizon changepassword LOGIN."
            )
            % {"count": len(saved), "path": path}
        )


def seed(
    *,
    units: list[UnitSpec],
    planned: list[PlannedPerson],
    passwords: dict[str, str],
    hashes: dict[str, str],
) -> SeedReport:
    """Create whatever is missing; call inside a transaction."""
    report = SeedReport()
    year = timezone.localdate().year
    unit_objects = _seed_units(units, report)
    cells: dict[tuple[str, str], Cell] = {}
    for unit in unit_objects.values():
        for spec in CELLS[unit.kind]:
            _seed_cell(unit, spec, None, "", cells, report)
    for cell in cells.values():
        _, created = CellDesignation.objects.get_or_create(
            cell=cell, year=year, defaults={"designation": cell.default_designation()}
        )
        report.designations_created += created
    report.scheme_imported = _seed_example_jrwa()
    for person in planned:
        login = _seed_person(person, unit_objects, cells, hashes[person.username])
        if login is not None:
            report.new_logins.append(
                DemoLogin(
                    username=login.username,
                    password=passwords[login.username],
                    unit=person.unit_symbol,
                    role=person.spec.role.value,
                    name=login.get_full_name(),
                )
            )
    if report.new_logins:
        # Last, so that a failure here rolls the new accounts back too.
        append_logins(logins_path(), report.new_logins)
    return report


def plan_demo_staff(units: list[UnitSpec]) -> list[PlannedPerson]:
    """The demo people that do not exist yet."""
    everyone: list[PlannedPerson] = []
    number = 0
    for unit in units:
        for spec in STAFF[unit.kind]:
            first, last = demo_person_name(number)
            number += 1
            everyone.append(
                PlannedPerson(
                    unit_symbol=unit.symbol,
                    spec=spec,
                    username=demo_username(unit.symbol, spec.login),
                    first_name=first,
                    last_name=last,
                )
            )
    existing = set(
        Person.objects.filter(username__in=[p.username for p in everyone]).values_list(
            "username", flat=True
        )
    )
    return [person for person in everyone if person.username not in existing]


def logins_path() -> Path:
    return Path(settings.DATA_DIR) / LOGINS_FILE_NAME


def append_logins(path: Path, logins: list[DemoLogin]) -> None:
    """Append to the owner-only logins file (created with mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    is_new = not path.exists()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        if is_new:
            handle.write(
                "# Garnizon: konta demonstracyjne (login, hasło, jednostka, rola, osoba).\n"
                "# Tylko do demonstracji. Nie kopiuj tego pliku do repozytorium.\n"
            )
        for login in logins:
            handle.write(
                "\t".join((login.username, login.password, login.unit, login.role, login.name))
                + "\n"
            )


def read_logins(path: Path) -> dict[str, str]:
    """username -> password; a later line wins (a re-created account appends a new one)."""
    if not path.exists():
        return {}
    saved: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        username, password, *_rest = line.split("\t")
        saved[username] = password
    return saved


# --- helpers -------------------------------------------------------------------------


def _seed_units(specs: list[UnitSpec], report: SeedReport) -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    pending = list(specs)
    while pending:
        ready = [spec for spec in pending if not spec.superior or spec.superior in units]
        if not ready:
            raise CommandError(
                _("Nieznana jednostka nadrzędna w units.csv: %(symbols)s")
                % {"symbols": ", ".join(sorted({spec.superior for spec in pending}))}
            )
        for spec in ready:
            unit, created = Unit.objects.get_or_create(
                symbol=spec.symbol,
                defaults={
                    "name": spec.name,
                    "kind": spec.kind,
                    "seat": spec.seat,
                    "superior": units.get(spec.superior),
                    "latitude": spec.latitude,
                    "longitude": spec.longitude,
                },
            )
            units[spec.symbol] = unit
            report.units_created += created
        pending = [spec for spec in pending if spec not in ready]
    return units


def _seed_cell(
    unit: Unit,
    spec: CellSpec,
    parent: Cell | None,
    parent_key: str,
    cells: dict[tuple[str, str], Cell],
    report: SeedReport,
) -> None:
    """Create the cell and its sub-cells; `cells` is keyed by (unit, "WP-RD")."""
    cell, created = Cell.objects.get_or_create(
        unit=unit, parent=parent, symbol=spec.symbol, defaults={"name": spec.name}
    )
    report.cells_created += created
    key = f"{parent_key}-{spec.symbol}" if parent_key else spec.symbol
    cells[(unit.symbol, key)] = cell
    for child in spec.children:
        _seed_cell(unit, child, cell, key, cells, report)


def _seed_example_jrwa() -> ClassificationScheme | None:
    if ClassificationScheme.objects.filter(
        name=EXAMPLE_JRWA_NAME, version=EXAMPLE_JRWA_VERSION
    ).exists():
        return None
    # Activate the example only where no scheme is current yet, so that an
    # installation with its own official scheme keeps that one current.
    activate = not ClassificationScheme.objects.filter(is_active=True).exists()
    return import_scheme(
        file=EXAMPLE_JRWA_FILE,
        name=EXAMPLE_JRWA_NAME,
        version=EXAMPLE_JRWA_VERSION,
        valid_from=EXAMPLE_JRWA_VALID_FROM,
        is_example=True,
        activate=activate,
    )


def _seed_person(
    planned: PlannedPerson,
    units: dict[str, Unit],
    cells: dict[tuple[str, str], Cell],
    password_hash: str,
) -> Person | None:
    """Create the person and their position; None when they exist already."""
    unit = units[planned.unit_symbol]
    person, created = Person.objects.get_or_create(
        username=planned.username,
        defaults={
            "first_name": planned.first_name,
            "last_name": planned.last_name,
            "unit": unit,
            "password": password_hash,
        },
    )
    if not created:
        return None
    Position.objects.create(
        person=person,
        cell=cells[(unit.symbol, planned.spec.cell)],
        title=planned.spec.title,
        role=planned.spec.role,
        garrison_wide=planned.spec.garrison_wide,
    )
    return person
