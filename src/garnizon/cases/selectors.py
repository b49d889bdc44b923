"""Reading cases: every list goes through `cases_visible_to`, which applies need-to-know."""

from __future__ import annotations

import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from garnizon.cases.models import Assignment, Case, CaseShare, CaseState
from garnizon.org.access import Scope
from garnizon.org.models import Person

ACTIVE_STATES = (CaseState.OPEN, CaseState.REOPENED)


def case_visibility_q(scope: Scope) -> Q:
    """The SQL condition for the cases `scope` may open (subqueries, no joins)."""
    today = timezone.localdate()
    visible_cells = scope.visible_cells().values("id")
    assigned_to_cells = Assignment.objects.filter(
        to_cell_id__in=visible_cells, is_current=True, case__isnull=False
    ).values("case_id")
    by_position = Q(is_restricted=False) & (
        Q(cell_id__in=visible_cells) | Q(pk__in=assigned_to_cells)
    )
    shares = CaseShare.objects.filter(Q(valid_to__isnull=True) | Q(valid_to__gte=today))
    share_q = Q(person_id__in=scope.person_ids)
    if member_cells := scope.member_cell_ids():
        share_q |= Q(cell_id__in=member_cells)
    personal = (
        Q(handler_id__in=scope.person_ids)
        | Q(pk__in=shares.filter(share_q).values("case_id"))
        | Q(
            pk__in=Assignment.objects.filter(
                to_person_id__in=scope.person_ids, is_current=True, case__isnull=False
            ).values("case_id")
        )
    )
    return by_position | personal


def cases_visible_to(person: Person, *, scope: Scope | None = None) -> QuerySet[Case]:
    scope = scope or Scope.for_person(person)
    return Case.objects.filter(case_visibility_q(scope))


def case_list(*, person: Person, cell_id: int, classification_id: int, year: int) -> QuerySet[Case]:
    """The case list (spis spraw) of one cell, JRWA class and year, in number order."""
    return (
        cases_visible_to(person)
        .filter(cell_id=cell_id, classification_id=classification_id, year=year)
        .select_related("classification", "cell", "handler")
        .order_by("number")
    )


def cases_due(
    *, person: Person, within_days: int, overdue: bool = False, on: datetime.date | None = None
) -> QuerySet[Case]:
    on = on or timezone.localdate()
    qs = cases_visible_to(person).filter(state__in=ACTIVE_STATES, due_date__isnull=False)
    if overdue:
        return qs.filter(due_date__lt=on).order_by("due_date", "id")
    return qs.filter(
        due_date__gte=on, due_date__lte=on + datetime.timedelta(days=within_days)
    ).order_by("due_date", "id")
