"""Archival categories (kategorie archiwalne): parsing, validation and comparison.

A   kept forever and handed over to the state archive;
Bn  kept n years (from 1 January of the year after the case closed), then destroyed
    with the archive's consent, e.g. B5, B10, B50;
BEn after n years the archive reviews the records and may reclassify them as A,
    e.g. BE5, BE10;
Bc  short-lived records, destroyed after use with the archive's consent.

A category may never be lowered. The kinds rank A > BE > B > Bc and, within BE
and B, a longer period ranks higher. A change is *lowering* when it moves to a
lower kind or shortens the period: so B50 -> BE5 is lowering too (the records
could go after five years instead of fifty), although BE ranks above B.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from django.utils.translation import gettext as _

Kind = Literal["A", "BE", "B", "Bc"]

# Higher number, longer-lived records.
_KIND_RANK: dict[str, int] = {"Bc": 0, "B": 1, "BE": 2, "A": 3}
_PATTERN = re.compile(r"^(?:(?P<a>A)|(?P<bc>BC)|(?P<kind>BE|B)(?P<years>[1-9][0-9]{0,2}))$")


@dataclass(frozen=True)
class ArchivalCategory:
    """One archival category; `years` is set for Bn and BEn only."""

    kind: Kind
    years: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}{self.years}" if self.years is not None else self.kind

    @property
    def rank(self) -> tuple[int, int]:
        """Sort key: higher means the records live longer."""
        return (_KIND_RANK[self.kind], self.years or 0)


A = ArchivalCategory("A")
BC = ArchivalCategory("Bc")


def parse_category(text: str) -> ArchivalCategory:
    """Parse "A", "B5", "BE10", "Bc" (letters in any case, surrounding spaces ignored).

    Raises ValueError with a Polish message a user can act on.
    """
    cleaned = (text or "").strip()
    match = _PATTERN.match(cleaned.upper())
    if match is None:
        if not cleaned:
            raise ValueError(_("Brak kategorii archiwalnej."))
        raise ValueError(
            _(
                "Nieprawidłowa kategoria archiwalna „%(value)s”: dozwolone są A, "
                "Bn (np. B5, B10, B50), BEn (np. BE5, BE10) i Bc."
            )
            % {"value": cleaned}
        )
    if match["a"]:
        return A
    if match["bc"]:
        return BC
    kind: Kind = "BE" if match["kind"] == "BE" else "B"
    return ArchivalCategory(kind, int(match["years"]))


def is_lowering(old: str | ArchivalCategory, new: str | ArchivalCategory) -> bool:
    """True when changing `old` to `new` would lower the category (which is never allowed)."""
    old_category = old if isinstance(old, ArchivalCategory) else parse_category(old)
    new_category = new if isinstance(new, ArchivalCategory) else parse_category(new)
    if _KIND_RANK[new_category.kind] < _KIND_RANK[old_category.kind]:
        return True
    return (
        old_category.years is not None
        and new_category.years is not None
        and new_category.years < old_category.years
    )
