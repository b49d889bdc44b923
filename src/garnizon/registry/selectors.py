"""Reading the registers and the address book under need-to-know."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from garnizon.cases.models import Assignment
from garnizon.cases.selectors import case_visibility_q
from garnizon.common.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, keyset_page
from garnizon.org.access import SUBTREE_ROLES, UNIT_CASE_ROLES, Scope
from garnizon.org.models import Person
from garnizon.registry.models import Correspondent, IncomingItem, OutgoingItem


def incoming_visibility_q(scope: Scope) -> Q:
    register_units = scope.register_unit_ids()
    if register_units is None:
        open_q = Q(is_restricted=False)
    else:
        open_q = Q(is_restricted=False) & (
            Q(assigned_cell_id__in=scope.visible_cells().values("id"))
            | Q(unit_id__in=register_units)
        )
    personal = (
        Q(assigned_person_id__in=scope.person_ids)
        | Q(registered_by_id__in=scope.person_ids)
        | Q(
            pk__in=Assignment.objects.filter(
                to_person_id__in=scope.person_ids, is_current=True, incoming_item__isnull=False
            ).values("incoming_item_id")
        )
    )
    return open_q | personal


# The arms of need-to-know, each one equality on an indexed column, read newest
# first: (condition for a value, the column the arm is ordered and cut by). The
# key always equals the item's id; for the assignment arm it is the assignment's
# `incoming_item_id`, so the scan runs down the assignment index, not the register.
_ARMS: dict[str, tuple[Callable[[object], Q], str]] = {
    "open": (lambda _: Q(is_restricted=False), "pk"),
    "cell": (lambda cell_id: Q(is_restricted=False, assigned_cell_id=cell_id), "pk"),
    "cells": (lambda cell_ids: Q(is_restricted=False, assigned_cell_id__in=cell_ids), "pk"),
    "unit": (lambda unit_id: Q(is_restricted=False, unit_id=unit_id), "pk"),
    "assignee": (lambda person_id: Q(assigned_person_id=person_id), "pk"),
    "registrar": (lambda person_id: Q(registered_by_id=person_id), "pk"),
    "assignment": (
        lambda person_id: Q(
            assignments__to_person_id=person_id,
            assignments__is_current=True,
            assignments__incoming_item_id__isnull=False,  # the partial index's condition
        ),
        "assignments__incoming_item_id",
    ),
}

# Above this many visible cells one `IN` arm replaces the per-cell arms.
_MAX_CELL_ARMS = 40


def _incoming_visibility_arms(scope: Scope) -> list[tuple[str, object]]:
    """`incoming_visibility_q(scope)` as (arm, value) pairs whose union is the same set.

    An OR of conditions on different columns cannot be read from one index in id
    order, so PostgreSQL walks the whole register backwards and filters; each arm
    here can be read newest first and cut at the page size, and the union of the
    arms' tops contains the page.
    """
    arms: list[tuple[str, object]] = []
    register_units = scope.register_unit_ids()
    if register_units is None:
        arms.append(("open", None))
    else:
        if not any(g.position.role in SUBTREE_ROLES | UNIT_CASE_ROLES for g in scope.grants):
            cell_ids = sorted(scope.member_cell_ids())  # what visible_cells() would query
        else:
            cell_ids = sorted(scope.visible_cells().values_list("id", flat=True))
        if len(cell_ids) > _MAX_CELL_ARMS:
            arms.append(("cells", cell_ids))
        else:
            arms += [("cell", cell_id) for cell_id in cell_ids]
        arms += [("unit", unit_id) for unit_id in sorted(register_units)]
    for person_id in sorted(scope.person_ids):
        arms += [("assignee", person_id), ("registrar", person_id), ("assignment", person_id)]
    return arms


# A stand-in value: each kind of arm is compiled once and then bound to its values.
_PLACEHOLDER = -1_999_999_937


def _incoming_page_ids(
    scope: Scope, base: QuerySet[IncomingItem], before_id: int | None, take: int
) -> list[int]:
    """The ids of the page: the newest `take` over the union of the arms' newest `take`."""

    def compile_arm(kind: str, value: object) -> tuple[str, list] | None:
        condition, key = _ARMS[kind]
        q = condition(value)
        if before_id is not None:
            # In the same filter() as the arm, so the assignment arm keeps one join.
            q &= Q(**{f"{key}__lt": before_id})
        arm = base.filter(q).order_by(f"-{key}").values("pk")[:take]
        try:
            sql, arm_params = arm.query.sql_with_params()
        except EmptyResultSet:
            return None
        return sql, list(arm_params)

    templates: dict[str, tuple[str, list, int] | None] = {}
    parts: list[str] = []
    params: list = []
    for kind, value in _incoming_visibility_arms(scope):
        if not isinstance(value, int):
            arm = compile_arm(kind, value)
        else:
            if kind not in templates:
                template = compile_arm(kind, _PLACEHOLDER)
                if template is not None and template[1].count(_PLACEHOLDER) == 1:
                    templates[kind] = (*template, template[1].index(_PLACEHOLDER))
                else:  # the stand-in is ambiguous (or the arm empty): compile each
                    templates[kind] = None
            template = templates[kind]
            if template is None:
                arm = compile_arm(kind, value)
            else:
                sql, arm_params, slot = template
                arm = sql, [*arm_params[:slot], value, *arm_params[slot + 1 :]]
        if arm is None:
            continue
        # A derived table per arm: SQLite refuses ORDER BY/LIMIT directly in a UNION.
        parts.append(f"SELECT * FROM ({arm[0]}) AS arm{len(parts)}")
        params.extend(arm[1])
    if not parts:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM ({' UNION '.join(parts)}) AS arms ORDER BY 1 DESC LIMIT %s",
            [*params, take],
        )
        return [row[0] for row in cursor.fetchall()]


def incoming_visible_to(person: Person, *, scope: Scope | None = None) -> QuerySet[IncomingItem]:
    scope = scope or Scope.for_person(person)
    return IncomingItem.objects.filter(incoming_visibility_q(scope))


def outgoing_visible_to(person: Person, *, scope: Scope | None = None) -> QuerySet[OutgoingItem]:
    """Unit-wide register roles see their units' dispatches, except those in restricted
    cases: those (like the cases) only through the case or to their registrar."""
    from garnizon.cases.models import Case

    scope = scope or Scope.for_person(person)
    register_units = scope.register_unit_ids()
    not_restricted = Q(case__isnull=True) | Q(case__is_restricted=False)
    register_q = (
        not_restricted
        if register_units is None
        else (not_restricted & Q(unit_id__in=register_units))
    )
    visible_cases = Case.objects.filter(case_visibility_q(scope)).values("id")
    return OutgoingItem.objects.filter(
        register_q | Q(case_id__in=visible_cases) | Q(registered_by_id__in=scope.person_ids)
    )


def correspondents_search(*, query: str = "") -> QuerySet[Correspondent]:
    """The address book is shared by the garrison; contact data is not case content."""
    qs = Correspondent.objects.all()
    for word in query.split():
        qs = qs.filter(
            Q(name__icontains=word)
            | Q(city__icontains=word)
            | Q(edoreczenia_address__iexact=word)
            | Q(email__iexact=word)
            | Q(tax_id=word)
        )
    return qs


@dataclass
class IncomingFilters:
    """What the register list can be narrowed by (every field optional)."""

    unit_id: int | None = None
    year: int | None = None
    channel: str = ""
    kind: str = ""
    cell_id: int | None = None
    person_id: int | None = None
    received_from: datetime.date | None = None
    received_to: datetime.date | None = None
    text: str = ""
    without_case: bool = False
    overdue: bool = False


def incoming_register_page(
    *,
    person: Person,
    filters: IncomingFilters | None = None,
    before_id: int | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    scope: Scope | None = None,
) -> Page[IncomingItem]:
    """One page of the incoming register as `person` may see it, newest first.

    The same rows as `incoming_visible_to(person)` filtered and cut by
    `keyset_page`, in two statements: first the page's ids, as the union of
    every arm of need-to-know taking its own newest `limit + 1` ids from an
    index (so the cost depends on the page size and the number of arms, not on
    how deep the page is or how rare the person's items are), then those rows
    with their unit, cell, person and case. Two short statements plan faster
    than one that joins the union to four tables.
    """
    scope = scope or Scope.for_person(person)
    base = _apply_incoming_filters(IncomingItem.objects.all(), filters or IncomingFilters())
    take = max(1, min(limit, MAX_PAGE_SIZE)) + 1
    ids = _incoming_page_ids(scope, base, before_id, take)
    qs = IncomingItem.objects.filter(pk__in=ids)
    qs = qs.select_related("unit", "assigned_cell", "assigned_person", "case")
    return keyset_page(qs, before_id=before_id, limit=limit)


def _apply_incoming_filters(
    qs: QuerySet[IncomingItem], f: IncomingFilters
) -> QuerySet[IncomingItem]:
    if f.unit_id:
        qs = qs.filter(unit_id=f.unit_id)
    if f.year:
        qs = qs.filter(year=f.year)
    if f.channel:
        qs = qs.filter(channel=f.channel)
    if f.kind:
        qs = qs.filter(kind=f.kind)
    if f.cell_id:
        qs = qs.filter(assigned_cell_id=f.cell_id)
    if f.person_id:
        qs = qs.filter(assigned_person_id=f.person_id)
    if f.received_from:
        qs = qs.filter(received_at__date__gte=f.received_from)
    if f.received_to:
        qs = qs.filter(received_at__date__lte=f.received_to)
    if f.without_case:
        qs = qs.filter(case__isnull=True)
    if f.overdue:
        qs = qs.filter(due_date__lt=timezone.localdate(), case__isnull=True)
    text = f.text.strip()
    if text:
        exact = Q(registration_number__iexact=text) | Q(letter_reference__iexact=text)
        words = Q()
        for word in text.split():
            words &= Q(subject__icontains=word) | Q(sender_name__icontains=word)
        qs = qs.filter(exact | words)
    return qs


def outgoing_register_page(
    *,
    person: Person,
    before_id: int | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    channel: str = "",
    text: str = "",
    year: int | None = None,
) -> Page[OutgoingItem]:
    qs = outgoing_visible_to(person)
    if channel:
        qs = qs.filter(channel=channel)
    if year:
        qs = qs.filter(year=year)
    for word in text.split():
        qs = qs.filter(
            Q(subject__icontains=word)
            | Q(addressee_name__icontains=word)
            | Q(registration_number__iexact=word)
        )
    return keyset_page(qs.select_related("unit", "case"), before_id=before_id, limit=limit)
