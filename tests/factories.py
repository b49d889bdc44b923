"""Builders for a small garrison used across tests.

Two units (the regional HQ and a city command), nested cells, a JRWA scheme
and one person in every role, so permission tests can walk the matrix.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from garnizon.jrwa.models import Classification, ClassificationScheme
from garnizon.org.models import Cell, Person, Position, Role, Unit, UnitKind

PASSWORD = "test-password-123"


@dataclass
class Garrison:
    kwp: Unit
    kmp: Unit
    cells: dict[str, Cell]
    scheme: ClassificationScheme
    classes: dict[str, Classification]
    people: dict[str, Person] = field(default_factory=dict)


def make_person(username: str, unit: Unit, cell: Cell, role: str, **position) -> Person:
    first, _, last = username.partition("_")
    person = Person.objects.create_user(
        username=username,
        password=PASSWORD,
        unit=unit,
        first_name=first.capitalize(),
        last_name=(last or "Test").capitalize(),
    )
    Position.objects.create(
        person=person, cell=cell, role=role, title=position.pop("title", role), **position
    )
    return person


def make_garrison() -> Garrison:
    kwp = Unit.objects.create(
        symbol="KWP", name="Komenda Wojewódzka Policji w Lublinie", kind=UnitKind.REGIONAL_HQ
    )
    kmp = Unit.objects.create(
        symbol="KMP-LU", name="Komenda Miejska Policji w Lublinie", kind=UnitKind.CITY, superior=kwp
    )
    cells: dict[str, Cell] = {}
    cells["kwp_kan"] = Cell.objects.create(unit=kwp, name="Kancelaria", symbol="KAN")
    cells["kwp_i"] = Cell.objects.create(unit=kwp, name="Wydział Kontroli", symbol="I")
    cells["kwp_i_1"] = Cell.objects.create(
        unit=kwp, parent=cells["kwp_i"], name="Zespół Skarg", symbol="1"
    )
    cells["kwp_ii"] = Cell.objects.create(unit=kwp, name="Wydział Kadr", symbol="II")
    cells["kmp_kan"] = Cell.objects.create(unit=kmp, name="Kancelaria", symbol="KAN")
    cells["kmp_wk"] = Cell.objects.create(unit=kmp, name="Wydział Kryminalny", symbol="WK")
    cells["kmp_wrd"] = Cell.objects.create(unit=kmp, name="Wydział Ruchu Drogowego", symbol="WRD")

    scheme = ClassificationScheme.objects.create(
        name="JRWA testowy",
        version="1",
        valid_from=datetime.date(2020, 1, 1),
        is_active=True,
        is_example=True,
    )
    classes: dict[str, Classification] = {}
    for symbol, heading, terminal, owner, other in [
        ("0", "Zarządzanie", False, "", ""),
        ("05", "Skargi i wnioski", False, "", ""),
        ("052", "Skargi", True, "A", "Bc"),
        ("053", "Wnioski", True, "A", "Bc"),
        ("1", "Kadry", False, "", ""),
        ("10", "Sprawy osobowe", False, "", ""),
        ("101", "Akta osobowe", True, "B50", "Bc"),
    ]:
        parent = classes.get(symbol[:-1]) if len(symbol) > 1 else None
        classes[symbol] = Classification.objects.create(
            scheme=scheme,
            parent=parent,
            symbol=symbol,
            heading=heading,
            is_terminal=terminal,
            category_owner=owner,
            category_other=other,
        )

    g = Garrison(kwp=kwp, kmp=kmp, cells=cells, scheme=scheme, classes=classes)
    p = g.people
    p["clerk"] = make_person("clerk_kwp", kwp, cells["kwp_kan"], Role.REGISTRY_CLERK)
    p["handler"] = make_person("handler_kwp", kwp, cells["kwp_i_1"], Role.CASE_HANDLER)
    p["handler2"] = make_person("other_handler", kwp, cells["kwp_i_1"], Role.CASE_HANDLER)
    p["head"] = make_person("head_kwp", kwp, cells["kwp_i"], Role.CELL_HEAD)
    p["commander"] = make_person("commander_kwp", kwp, cells["kwp_i"], Role.UNIT_COMMANDER)
    p["archivist"] = make_person("archivist_kwp", kwp, cells["kwp_ii"], Role.ARCHIVIST)
    p["admin"] = make_person("admin_kwp", kwp, cells["kwp_ii"], Role.ADMINISTRATOR)
    p["auditor"] = make_person("auditor_kwp", kwp, cells["kwp_ii"], Role.AUDITOR)
    p["kadry"] = make_person("handler_kadry", kwp, cells["kwp_ii"], Role.CASE_HANDLER)
    p["kmp_clerk"] = make_person("clerk_kmp", kmp, cells["kmp_kan"], Role.REGISTRY_CLERK)
    p["kmp_handler"] = make_person("handler_kmp", kmp, cells["kmp_wk"], Role.CASE_HANDLER)
    p["kmp_commander"] = make_person("commander_kmp", kmp, cells["kmp_wk"], Role.UNIT_COMMANDER)
    return g
