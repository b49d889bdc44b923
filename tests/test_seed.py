"""`garnizon seed`: reference units, cells, the example JRWA and demo staff."""

from __future__ import annotations

import datetime
import io
import stat
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from garnizon.jrwa.models import Classification, ClassificationScheme
from garnizon.org.models import Cell, CellDesignation, Person, Position, Role, Unit, UnitKind
from garnizon.org.reference import STAFF, load_units

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_NAME = "JRWA przykładowy (nie urzędowy)"


@pytest.fixture
def data_dir(settings, tmp_path) -> Path:
    """A private data folder, and a fast hasher (seeding hashes ~190 passwords)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.DATA_DIR


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed", *args, stdout=out)
    return out.getvalue()


def read_logins(path: Path) -> dict[str, str]:
    return {
        line.split("\t")[0]: line.split("\t")[1]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }


def snapshot() -> dict[str, object]:
    return {
        "units": list(Unit.objects.values_list("symbol", "name", "superior__symbol")),
        "cells": list(Cell.objects.order_by("pk").values_list("pk", "unit_id", "symbol", "path")),
        "designations": list(CellDesignation.objects.order_by("pk").values_list()),
        "people": list(Person.objects.order_by("pk").values_list("username", "password")),
        "positions": list(Position.objects.order_by("pk").values_list()),
        "schemes": list(ClassificationScheme.objects.order_by("pk").values_list()),
        "classes": Classification.objects.count(),
    }


@pytest.mark.django_db
def test_it_creates_the_21_units_from_the_shipped_csv(data_dir):
    seed()

    assert Unit.objects.count() == 21
    kwp = Unit.objects.get(symbol="KWP")
    assert kwp.kind == UnitKind.REGIONAL_HQ and kwp.superior is None
    assert set(Unit.objects.exclude(pk=kwp.pk).values_list("superior", flat=True)) == {kwp.pk}
    lublin = Unit.objects.get(symbol="KMP-LU")
    assert (lublin.name, lublin.kind, lublin.seat) == (
        "Komenda Miejska Policji w Lublinie",
        UnitKind.CITY,
        "Lublin",
    )
    assert lublin.latitude is not None
    assert Unit.objects.filter(kind=UnitKind.COUNTY).count() == 16


def test_the_shipped_units_file_matches_the_shared_reference():
    shipped = REPO / "src" / "garnizon" / "org" / "data" / "units.csv"

    assert [unit.symbol for unit in load_units(shipped)][:2] == ["KWP", "KMP-LU"]
    assert len(load_units(shipped)) == 21


@pytest.mark.django_db
def test_every_unit_gets_cells_and_this_years_designations(data_dir):
    seed()

    year = timezone.localdate().year
    for unit in Unit.objects.all():
        cells = list(unit.cells.all())
        assert len(cells) >= 8, unit
        assert {"KAN", "WK", "WRD", "WP", "ARCH"} <= {cell.symbol for cell in cells}, unit
    assert not Cell.objects.exclude(designations__year=year).exists()
    complaints = Cell.objects.get(unit__symbol="KWP", symbol="SWP")
    assert complaints.parent.name == "Wydział Kontroli"
    assert complaints.designation(year) == "KWP-I-SWP"
    beat = Cell.objects.get(unit__symbol="KPP-BI", symbol="RD")
    assert beat.name == "Rewir Dzielnicowych"
    assert beat.designation(year) == "KPP-BI-WP-RD"
    assert beat.path == f"/{beat.parent_id}/{beat.pk}/"


@pytest.mark.django_db
def test_every_role_is_held_in_every_unit(data_dir):
    seed()

    for unit in Unit.objects.all():
        roles = set(Position.objects.filter(cell__unit=unit).values_list("role", flat=True))
        assert roles == set(Role.values), unit
        people = Person.objects.filter(unit=unit)
        assert 8 <= people.count() <= 10, unit
    clerk = Person.objects.get(username="kmp-lu.kancelaria")
    position = clerk.positions.get()
    assert (position.role, position.cell.name) == (Role.REGISTRY_CLERK, "Kancelaria")
    handler = Person.objects.get(username="kwp.referent1").positions.get()
    assert (handler.role, handler.cell.symbol) == (Role.CASE_HANDLER, "SWP")


@pytest.mark.django_db
def test_garrison_wide_positions_are_the_kwp_commander_archivist_and_auditor(data_dir):
    seed()

    wide = Position.objects.filter(garrison_wide=True).select_related("cell__unit")
    assert {(p.cell.unit.symbol, p.role) for p in wide} == {
        ("KWP", Role.UNIT_COMMANDER),
        ("KWP", Role.ARCHIVIST),
        ("KWP", Role.AUDITOR),
    }


@pytest.mark.django_db
def test_demo_usernames_are_lowercase_ascii_unit_dot_function(data_dir):
    seed()

    usernames = set(Person.objects.values_list("username", flat=True))
    assert {"kwp.kancelaria", "kwp.komendant", "kmp-lu.referent1", "kpp-bi.dzielnicowy"} <= (
        usernames
    )
    for username in usernames:
        assert username.isascii() and username == username.lower(), username
        assert username.split(".")[0].upper() in set(Unit.objects.values_list("symbol", flat=True))


@pytest.mark.django_db
def test_it_imports_the_example_jrwa_as_the_current_example_scheme(data_dir):
    seed()

    scheme = ClassificationScheme.objects.get()
    assert (scheme.name, scheme.is_example, scheme.is_active) == (EXAMPLE_NAME, True, True)
    assert scheme.classes.filter(symbol="0520", is_terminal=True).exists()


@pytest.mark.django_db
def test_running_twice_changes_nothing(data_dir):
    seed()
    before = snapshot()
    logins_before = (data_dir / "demo-logins.txt").read_text(encoding="utf-8")

    out = seed()

    assert snapshot() == before
    assert (data_dir / "demo-logins.txt").read_text(encoding="utf-8") == logins_before
    assert "Jednostki: 21 (nowe: 0)" in out
    assert "pozostawiono bez zmian" in out


@pytest.mark.django_db
def test_an_existing_person_keeps_their_password_and_positions(data_dir):
    kwp = Unit.objects.create(symbol="KWP", name="KWP", kind=UnitKind.REGIONAL_HQ)
    Person.objects.create_user(username="kwp.kancelaria", password="moje-haslo-123", unit=kwp)

    seed()

    person = Person.objects.get(username="kwp.kancelaria")
    assert person.check_password("moje-haslo-123")
    assert not person.positions.exists()
    assert "kwp.kancelaria" not in read_logins(data_dir / "demo-logins.txt")
    assert Unit.objects.get(symbol="KWP").name == "KWP"


@pytest.mark.django_db
def test_it_never_changes_an_existing_scheme(data_dir):
    official = ClassificationScheme.objects.create(
        name="JRWA KWP",
        version="2024",
        valid_from=datetime.date(2024, 1, 1),
        is_active=True,
    )

    seed()

    official.refresh_from_db()
    assert official.is_active
    example = ClassificationScheme.objects.get(name=EXAMPLE_NAME)
    assert example.is_example and not example.is_active


@pytest.mark.django_db
def test_the_logins_file_is_private_outside_the_source_and_lists_every_demo_person(data_dir):
    seed()

    path = data_dir / "demo-logins.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not path.resolve().is_relative_to(REPO / "src")
    logins = read_logins(path)
    assert set(logins) == set(Person.objects.values_list("username", flat=True))
    assert len(logins) == sum(len(STAFF[unit.kind]) for unit in load_units())
    person = Person.objects.get(username="kwp.audytor")
    assert person.check_password(logins["kwp.audytor"])
    assert len(set(logins.values())) == len(logins)


@pytest.mark.django_db
def test_print_logins_tells_how_to_log_in_with_one_account_per_role(data_dir):
    out = seed("--print-logins")

    logins = read_logins(data_dir / "demo-logins.txt")
    assert "http://127.0.0.1:8000/" in out
    for username in [
        "kwp.kancelaria",
        "kwp.komendant",
        "kwp.audytor",
        "kmp-lu.referent1",
        "kmp-lu.kierownik1",
        "kmp-lu.archiwista",
        "kmp-lu.administrator",
    ]:
        line = next(line for line in out.splitlines() if f" {username} " in line)
        assert logins[username] in line
    for label in Role.labels:
        assert str(label) in out
    assert str(data_dir / "demo-logins.txt") in out
    assert "kpp-bi." not in out


@pytest.mark.django_db
def test_print_logins_after_a_previous_seed_shows_the_same_passwords(data_dir):
    seed()
    logins = read_logins(data_dir / "demo-logins.txt")

    out = seed("--print-logins")

    assert logins["kmp-lu.kancelaria"] in out


@pytest.mark.django_db
def test_no_demo_staff_creates_no_people_and_no_logins_file(data_dir):
    seed("--no-demo-staff")

    assert Unit.objects.count() == 21
    assert Cell.objects.exists()
    assert not Person.objects.exists()
    assert not (data_dir / "demo-logins.txt").exists()


@pytest.mark.django_db
def test_print_logins_and_no_demo_staff_exclude_each_other(data_dir):
    with pytest.raises(CommandError):
        seed("--no-demo-staff", "--print-logins")
