"""Finding one's neighbourhood officer: by address (typo-tolerant a little) or by a point."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from garnizon.portal import geo
from garnizon.portal.officers.models import NeighbourhoodOfficer
from garnizon.portal.officers.services import STREET_PREFIX, AreaEntry, area_entries

#: How alike a typed name must be to the listed one (difflib ratio, after normalising).
TOWN_LIKENESS = 0.85
STREET_LIKENESS = 0.8
#: From the map, the nearest officer's point counts only this close.
NEAREST_MAX_M = 15_000


@dataclass(frozen=True)
class Match:
    officer: NeighbourhoodOfficer
    #: 3 street and number, 2 street, 1 the whole town, 0 the map.
    score: int
    entry: AreaEntry | None = None
    distance_m: int | None = None


def officers_for_address(town: str, street: str = "", number: str = "") -> list[Match]:
    """The officers serving an address, best match first (only the best score is kept)."""
    wanted_town = geo.normalize(town)
    wanted_street = _street(street)
    wanted_number = _number(number)
    if not wanted_town:
        return []
    matches: list[Match] = []
    for officer in _active():
        best: Match | None = None
        for entry in area_entries(officer.streets):
            score = _score(entry, wanted_town, wanted_street, wanted_number)
            if score and (best is None or score > best.score):
                best = Match(officer, score, entry)
        if best is not None:
            matches.append(best)
    if not matches:
        return []
    top = max(m.score for m in matches)
    return [m for m in matches if m.score == top]


def officers_for_point(point: geo.Point) -> list[Match]:
    """Officers whose area polygon holds the point; else the nearest officer's point nearby."""
    officers = list(_active())
    inside = [
        Match(o, 0, distance_m=0)
        for o in officers
        if o.polygon and geo.geometry_contains(o.polygon, point)
    ]
    if inside:
        return inside
    located = [
        (geo.distance_m(point, geo.Point(float(o.latitude), float(o.longitude))), o)
        for o in officers
        if o.latitude is not None and o.longitude is not None
    ]
    located = [pair for pair in located if pair[0] <= NEAREST_MAX_M]
    if not located:
        return []
    distance, officer = min(located, key=lambda pair: pair[0])
    return [Match(officer, 0, distance_m=round(distance))]


def _active():  # type: ignore[no-untyped-def]
    return NeighbourhoodOfficer.objects.filter(is_active=True, unit__is_active=True).select_related(
        "unit"
    )


def _score(entry: AreaEntry, town: str, street: str, number: int | None) -> int:
    if not _alike(geo.normalize(entry.town), town, TOWN_LIKENESS):
        return 0
    if not entry.street:
        return 1
    if not street or not _alike(_street(entry.street), street, STREET_LIKENESS):
        return 0
    if entry.first is None:
        return 2
    if number is None:
        return 2
    return 3 if entry.first <= number <= (entry.last or entry.first) else 0


def _alike(listed: str, typed: str, cutoff: float) -> bool:
    """Equal, a typo or two (by length), another case ending ("Lipowa" / "Lipowej")."""
    if listed == typed:
        return True
    shorter = min(len(listed), len(typed))
    common = next(
        (i for i, (a, b) in enumerate(zip(listed, typed, strict=False)) if a != b), shorter
    )
    if shorter >= 5 and common >= shorter - 1:
        return True
    if shorter >= 5 and _edits(listed, typed) <= (2 if shorter >= 8 else 1):
        return True
    return difflib.SequenceMatcher(None, listed, typed).ratio() >= cutoff


def _edits(a: str, b: str) -> int:
    """Edit distance counting a swap of two neighbouring letters as one edit."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _street(text: str) -> str:
    return geo.normalize(STREET_PREFIX.sub("", text.strip()))


def _number(text: str) -> int | None:
    digits = "".join(c for c in text.strip().split("/")[0] if c.isdigit())
    return int(digits) if digits else None
