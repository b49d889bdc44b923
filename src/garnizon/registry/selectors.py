"""Reading the registers and the address book under need-to-know."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from garnizon.cases.models import Assignment
from garnizon.cases.selectors import case_visibility_q
from garnizon.common.paging import DEFAULT_PAGE_SIZE, Page, keyset_page
from garnizon.org.access import Scope
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


def incoming_visible_to(person: Person, *, scope: Scope | None = None) -> QuerySet[IncomingItem]:
    scope = scope or Scope.for_person(person)
    return IncomingItem.objects.filter(incoming_visibility_q(scope))


def outgoing_visible_to(person: Person, *, scope: Scope | None = None) -> QuerySet[OutgoingItem]:
    scope = scope or Scope.for_person(person)
    register_units = scope.register_unit_ids()
    if register_units is None:
        return OutgoingItem.objects.all()
    from garnizon.cases.models import Case

    visible_cases = Case.objects.filter(case_visibility_q(scope)).values("id")
    return OutgoingItem.objects.filter(
        Q(unit_id__in=register_units)
        | Q(case_id__in=visible_cases)
        | Q(registered_by_id__in=scope.person_ids)
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
    """One page of the incoming register as `person` may see it, newest first."""
    qs = incoming_visible_to(person, scope=scope)
    qs = _apply_incoming_filters(qs, filters or IncomingFilters())
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
