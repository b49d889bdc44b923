"""Reference data for a new installation: the 21 units, example cells and demo staff.

The cells are an example of a typical structure per kind of unit, not any
command's official organisation chart; an administrator changes them freely.
Demo staff exist so that every role can be tried out in every unit; they are
created by `garnizon seed` (and skipped with `--no-demo-staff`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from garnizon.org.models import Role, UnitKind

UNITS_CSV = Path(__file__).resolve().parent / "data" / "units.csv"


@dataclass(frozen=True)
class UnitSpec:
    """One row of data/units.csv."""

    symbol: str
    name: str
    kind: UnitKind
    seat: str
    superior: str
    latitude: Decimal | None
    longitude: Decimal | None


@dataclass(frozen=True)
class CellSpec:
    """An example cell; `children` are its sub-cells."""

    symbol: str
    name: str
    children: tuple[CellSpec, ...] = ()


@dataclass(frozen=True)
class StaffSpec:
    """A demo post. `login` is the part of the username after the unit ("kancelaria");
    `cell` is the chain of cell symbols joined by hyphens ("I-SWP")."""

    login: str
    cell: str
    title: str
    role: Role
    garrison_wide: bool = False


def load_units(path: Path = UNITS_CSV) -> list[UnitSpec]:
    """The units in file order (the regional HQ first, then its subordinates)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [
            UnitSpec(
                symbol=row["symbol"].strip(),
                name=row["name"].strip(),
                kind=UnitKind(row["kind"].strip()),
                seat=row["seat"].strip(),
                superior=row["superior"].strip(),
                latitude=Decimal(row["lat"]) if row["lat"].strip() else None,
                longitude=Decimal(row["lon"]) if row["lon"].strip() else None,
            )
            for row in csv.DictReader(handle)
        ]


def demo_username(unit_symbol: str, login: str) -> str:
    """Lowercase ASCII: `kwp.kancelaria`, `kmp-lu.referent1`, `kpp-bi.dzielnicowy`."""
    return f"{unit_symbol.lower()}.{login}"


def demo_person_name(number: int) -> tuple[str, str]:
    """A deterministic, plausible Polish (first name, last name) for the `number`-th demo person."""
    if number % 2:
        first = _FEMALE_FIRST_NAMES[number // 2 % len(_FEMALE_FIRST_NAMES)]
        last = _feminine(_LAST_NAMES[number * 7 % len(_LAST_NAMES)])
    else:
        first = _MALE_FIRST_NAMES[number // 2 % len(_MALE_FIRST_NAMES)]
        last = _LAST_NAMES[number * 7 % len(_LAST_NAMES)]
    return first, last


# --- example cells per kind of unit ------------------------------------------------

REGIONAL_HQ_CELLS: tuple[CellSpec, ...] = (
    CellSpec("GK", "Gabinet Komendanta Wojewódzkiego Policji"),
    CellSpec("I", "Wydział Kontroli", (CellSpec("SWP", "Zespół Skarg, Wniosków i Petycji"),)),
    CellSpec("PR", "Wydział Prezydialny", (CellSpec("KAN", "Kancelaria"),)),
    CellSpec("WK", "Wydział Kryminalny"),
    CellSpec("WRD", "Wydział Ruchu Drogowego"),
    CellSpec("WP", "Wydział Prewencji"),
    CellSpec("KS", "Wydział Kadr i Szkolenia"),
    CellSpec("WKS", "Wydział Komunikacji Społecznej"),
    CellSpec("ARCH", "Archiwum"),
    CellSpec("WLI", "Wydział Łączności i Informatyki"),
)

LOCAL_COMMAND_CELLS: tuple[CellSpec, ...] = (
    CellSpec("KIER", "Kierownictwo Komendy"),
    CellSpec("KAN", "Kancelaria"),
    CellSpec("WK", "Wydział Kryminalny"),
    CellSpec("WRD", "Wydział Ruchu Drogowego"),
    CellSpec("WP", "Wydział Prewencji", (CellSpec("RD", "Rewir Dzielnicowych"),)),
    CellSpec("ZK", "Zespół Kadr"),
    CellSpec("ARCH", "Archiwum"),
    CellSpec("ZLI", "Zespół Łączności i Informatyki"),
)

CELLS: dict[UnitKind, tuple[CellSpec, ...]] = {
    UnitKind.REGIONAL_HQ: REGIONAL_HQ_CELLS,
    UnitKind.CITY: LOCAL_COMMAND_CELLS,
    UnitKind.COUNTY: LOCAL_COMMAND_CELLS,
}

# --- demo staff per kind of unit: every role in every unit ----------------------------

REGIONAL_HQ_STAFF: tuple[StaffSpec, ...] = (
    StaffSpec("komendant", "GK", "Komendant Wojewódzki Policji", Role.UNIT_COMMANDER, True),
    StaffSpec("kancelaria", "PR-KAN", "Starszy referent Kancelarii", Role.REGISTRY_CLERK),
    StaffSpec(
        "referent1", "I-SWP", "Specjalista Zespołu Skarg, Wniosków i Petycji", Role.CASE_HANDLER
    ),
    StaffSpec("referent2", "WRD", "Specjalista Wydziału Ruchu Drogowego", Role.CASE_HANDLER),
    StaffSpec("referent3", "WK", "Specjalista Wydziału Kryminalnego", Role.CASE_HANDLER),
    StaffSpec("kierownik1", "I", "Naczelnik Wydziału Kontroli", Role.CELL_HEAD),
    StaffSpec("kierownik2", "WRD", "Naczelnik Wydziału Ruchu Drogowego", Role.CELL_HEAD),
    StaffSpec("archiwista", "ARCH", "Kierownik Archiwum", Role.ARCHIVIST, True),
    StaffSpec("administrator", "WLI", "Administrator systemu", Role.ADMINISTRATOR),
    StaffSpec("audytor", "I", "Audytor wewnętrzny", Role.AUDITOR, True),
)


def _local_staff(commander_title: str) -> tuple[StaffSpec, ...]:
    return (
        StaffSpec("komendant", "KIER", commander_title, Role.UNIT_COMMANDER),
        StaffSpec("kancelaria", "KAN", "Referent Kancelarii", Role.REGISTRY_CLERK),
        StaffSpec("referent1", "WK", "Referent Wydziału Kryminalnego", Role.CASE_HANDLER),
        StaffSpec("referent2", "WRD", "Referent Wydziału Ruchu Drogowego", Role.CASE_HANDLER),
        StaffSpec("dzielnicowy", "WP-RD", "Dzielnicowy", Role.CASE_HANDLER),
        StaffSpec("kierownik1", "WK", "Naczelnik Wydziału Kryminalnego", Role.CELL_HEAD),
        StaffSpec("archiwista", "ARCH", "Archiwista", Role.ARCHIVIST),
        StaffSpec("administrator", "ZLI", "Administrator systemu", Role.ADMINISTRATOR),
        StaffSpec("audytor", "KIER", "Audytor wewnętrzny", Role.AUDITOR),
    )


STAFF: dict[UnitKind, tuple[StaffSpec, ...]] = {
    UnitKind.REGIONAL_HQ: REGIONAL_HQ_STAFF,
    UnitKind.CITY: _local_staff("Komendant Miejski Policji"),
    UnitKind.COUNTY: _local_staff("Komendant Powiatowy Policji"),
}

# --- names for demo people ---------------------------------------------------------------

_MALE_FIRST_NAMES = (
    "Adam",
    "Andrzej",
    "Bartosz",
    "Dariusz",
    "Grzegorz",
    "Jakub",
    "Jan",
    "Kamil",
    "Krzysztof",
    "Łukasz",
    "Marcin",
    "Marek",
    "Michał",
    "Paweł",
    "Piotr",
    "Robert",
    "Tomasz",
    "Wojciech",
)
_FEMALE_FIRST_NAMES = (
    "Agnieszka",
    "Anna",
    "Barbara",
    "Ewa",
    "Iwona",
    "Joanna",
    "Justyna",
    "Katarzyna",
    "Magdalena",
    "Małgorzata",
    "Marta",
    "Monika",
    "Natalia",
    "Renata",
    "Sylwia",
    "Urszula",
    "Zofia",
)
_LAST_NAMES = (
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Wójcik",
    "Kamiński",
    "Lewandowski",
    "Zieliński",
    "Szymański",
    "Woźniak",
    "Dąbrowski",
    "Kozłowski",
    "Mazur",
    "Jankowski",
    "Kwiatkowski",
    "Krawczyk",
    "Piotrowski",
    "Grabowski",
    "Pawlak",
    "Michalski",
    "Król",
    "Wieczorek",
    "Jabłoński",
    "Wróbel",
    "Nowakowski",
    "Majewski",
    "Olszewski",
    "Stępień",
    "Jaworski",
    "Malinowski",
    "Adamczyk",
    "Dudek",
    "Nowicki",
    "Sowa",
    "Kania",
    "Mróz",
    "Bielecki",
)


def _feminine(last_name: str) -> str:
    if last_name.endswith(("ski", "cki", "dzki")):
        return last_name[:-1] + "a"
    return last_name
