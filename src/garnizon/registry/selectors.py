"""Reading the registers and the address book under need-to-know."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from garnizon.cases.models import Assignment
from garnizon.cases.selectors import case_visibility_q
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
