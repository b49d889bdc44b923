"""Need-to-know: what a person may see and do, resolved as sets inside SQL.

A person's *scope* comes from their active positions and from the positions of
everyone they currently substitute. Selectors turn a scope into a `Q` that
the database evaluates with subqueries, never row by row in Python.

Visibility by role:
- case handler, administrator, auditor: their own cell;
- cell head: their cell and its sub-cells;
- unit commander, archivist: their unit (the whole garrison when the position
  is one of the regional HQ's designated, garrison-wide roles);
- registry clerk: their unit's registers (items, not case contents) and their cell;
- everyone: what is assigned to them personally and what is shared with them.

Registering (incoming items, dispatches without a case, intake) is another rule:
the unit's registry clerks, cell heads and commander may register in their unit,
a garrison-wide one in every unit (`Scope.registering_unit_ids`,
`Scope.can_register_in`, `registering_units`). Seeing a whole register
(`Scope.register_unit_ids`) is for the commander, the archivist and the clerks.
Restricted items and cases (e.g. whistleblower reports) are seen only by the
people named on them (handler, assignee, registrar, share).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet
from django.utils import timezone

from garnizon.org.models import Cell, Person, Position, Role, Substitution, Unit

SUBTREE_ROLES = {Role.CELL_HEAD}
UNIT_CASE_ROLES = {Role.UNIT_COMMANDER, Role.ARCHIVIST}
# Who sees a unit's whole registers (reading).
UNIT_REGISTER_ROLES = {Role.UNIT_COMMANDER, Role.ARCHIVIST, Role.REGISTRY_CLERK}
# Who registers in a unit (writing): use `Scope.registering_unit_ids` / `can_register_in`.
REGISTERING_ROLES = {Role.REGISTRY_CLERK, Role.CELL_HEAD, Role.UNIT_COMMANDER}


@dataclass
class Grant:
    """One active position, held by the person or by someone they substitute."""

    position: Position
    on_behalf_of: Person | None


@dataclass
class Scope:
    person: Person
    grants: list[Grant] = field(default_factory=list)
    person_ids: set[int] = field(default_factory=set)
    substituted: dict[int, Person] = field(default_factory=dict)

    # -- construction ---------------------------------------------------------
    @classmethod
    def for_person(cls, person: Person, on: datetime.date | None = None) -> Scope:
        on = on or timezone.localdate()
        scope = cls(person=person, person_ids={person.pk})
        if not person.is_active:
            return scope
        for position in (
            Position.objects.active(on).filter(person=person).select_related("cell", "cell__unit")
        ):
            scope.grants.append(Grant(position, None))
        substitutions = (
            Substitution.objects.active(on).filter(substitute=person).select_related("absent")
        )
        for substitution in substitutions:
            scope.person_ids.add(substitution.absent_id)
            scope.substituted[substitution.absent_id] = substitution.absent
            for position in (
                Position.objects.active(on)
                .filter(person_id=substitution.absent_id)
                .select_related("cell", "cell__unit")
            ):
                scope.grants.append(Grant(position, substitution.absent))
        return scope

    # -- sets of cells and units ------------------------------------------------
    def _grants(self, roles: set[str] | None = None) -> list[Grant]:
        return [g for g in self.grants if roles is None or g.position.role in roles]

    def is_garrison_wide(self, roles: set[str]) -> bool:
        return any(g.position.garrison_wide for g in self._grants(roles))

    def unit_ids(self, roles: set[str]) -> set[int]:
        return {g.position.cell.unit_id for g in self._grants(roles)}

    def member_cell_ids(self) -> set[int]:
        return {g.position.cell_id for g in self.grants}

    def visible_cells(self) -> QuerySet[Cell]:
        """Cells whose items and cases this person sees by their positions."""
        q = Q(pk__in=self.member_cell_ids())
        for grant in self._grants(SUBTREE_ROLES):
            q |= Q(path__startswith=grant.position.cell.path)
        if self.is_garrison_wide(UNIT_CASE_ROLES):
            return Cell.objects.all()
        unit_ids = self.unit_ids(UNIT_CASE_ROLES)
        if unit_ids:
            q |= Q(unit_id__in=unit_ids)
        return Cell.objects.filter(q)

    def register_unit_ids(self) -> set[int] | None:
        """Units whose whole registers this person sees; None means every unit."""
        if self.is_garrison_wide(UNIT_REGISTER_ROLES):
            return None
        return self.unit_ids(UNIT_REGISTER_ROLES)

    def registering_unit_ids(self) -> set[int] | None:
        """Units this person may register in; None means every unit (a garrison-wide post).

        The one rule for registering (incoming items, dispatches without a case,
        intake): a registry clerk, cell head or commander of the unit, also
        through a substitution.
        """
        if self.is_garrison_wide(REGISTERING_ROLES):
            return None
        return self.unit_ids(REGISTERING_ROLES)

    def can_register_in(self, unit_id: int) -> bool:
        units = self.registering_unit_ids()
        return units is None or unit_id in units

    def has_role(self, role: str, *, unit_id: int | None = None) -> bool:
        return any(
            g.position.role == role
            and (unit_id is None or g.position.cell.unit_id == unit_id or g.position.garrison_wide)
            for g in self.grants
        )

    def own_only(self) -> Scope:
        """The same person without what they hold through substitutions."""
        return Scope(
            person=self.person,
            grants=[g for g in self.grants if g.on_behalf_of is None],
            person_ids={self.person.pk},
        )

    def as_absent(self, absent_id: int) -> Scope:
        """What the substituted person `absent_id` could see: the grants held for them."""
        absent = self.substituted[absent_id]
        return Scope(
            person=absent,
            grants=[
                g
                for g in self.grants
                if g.on_behalf_of is not None and g.on_behalf_of.pk == absent_id
            ],
            person_ids={absent_id},
        )

    # -- acting ------------------------------------------------------------------------
    def grant_for(self, predicate: Callable[[Position], bool]) -> Grant | None:
        """The first grant satisfying `predicate`, own positions before substitutions."""
        for grant in sorted(self.grants, key=lambda g: g.on_behalf_of is not None):
            if predicate(grant.position):
                return grant
        return None


def acting_on_behalf(scope: Scope, allowed: Callable[[Scope], bool]) -> Person | None:
    """Whom `scope.person` acts for when `allowed` holds only through a substitution.

    Returns None when the person's own positions suffice (or nothing does);
    otherwise the absent colleague whose rights made the act possible, so the
    act is recorded "w zastępstwie".
    """
    if allowed(scope.own_only()):
        return None
    for absent_id, absent in scope.substituted.items():
        if allowed(scope.as_absent(absent_id)):
            return absent
    return None


def registering_units(scope: Scope) -> QuerySet[Unit]:
    """The active units `scope` may register in (the forms' choices; the menu's test)."""
    ids = scope.registering_unit_ids()
    units = Unit.objects.filter(is_active=True)
    return units if ids is None else units.filter(pk__in=ids)
