"""Reading cases: every list goes through `cases_visible_to`, which applies need-to-know."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from garnizon.cases.models import Assignment, AssignmentMethod, Case, CaseShare, CaseState
from garnizon.common.paging import DEFAULT_PAGE_SIZE, Page, keyset_page
from garnizon.org.access import Scope
from garnizon.org.models import Cell, Person

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


@dataclass
class CellWorkload:
    """One line of the commander's overview: a cell and its open, due and overdue work."""

    cell: Cell
    active_cases: int
    overdue_cases: int
    due_soon_cases: int
    overdue_items: int


def my_work(person: Person, *, scope: Scope | None = None) -> dict[str, QuerySet]:
    """The personal inbox: items to handle, cases handled, cell inbox, for-information."""
    from garnizon.registry.models import IncomingItem

    scope = scope or Scope.for_person(person)
    my_ids = scope.person_ids
    items = (
        IncomingItem.objects.filter(assigned_person_id__in=my_ids, case__isnull=True)
        .select_related("unit", "assigned_cell")
        .order_by(F("due_date").asc(nulls_last=True), "-id")
    )
    cases = (
        Case.objects.filter(handler_id__in=my_ids, state__in=ACTIVE_STATES)
        .select_related("cell", "classification")
        .order_by(F("due_date").asc(nulls_last=True), "-id")
    )
    cell_inbox = (
        IncomingItem.objects.filter(
            assigned_cell_id__in=scope.member_cell_ids(),
            assigned_person__isnull=True,
            case__isnull=True,
            is_restricted=False,
        )
        .select_related("unit", "assigned_cell")
        .order_by(F("due_date").asc(nulls_last=True), "-id")
    )
    for_information = (
        Assignment.objects.filter(to_person_id__in=my_ids, is_current=True)
        .exclude(method=AssignmentMethod.HANDLE)
        .select_related("case", "incoming_item", "assigned_by")
        .order_by("-assigned_at")
    )
    return {
        "items": items,
        "cases": cases,
        "cell_inbox": cell_inbox,
        "for_information": for_information,
    }


def workload_by_cell(
    person: Person,
    *,
    soon_days: int,
    on: datetime.date | None = None,
    scope: Scope | None = None,
) -> list[CellWorkload]:
    """Open, due-soon and overdue work per visible cell, counted by the database."""
    from garnizon.registry.models import IncomingItem
    from garnizon.registry.selectors import incoming_visibility_q

    on = on or timezone.localdate()
    scope = scope or Scope.for_person(person)
    soon = on + datetime.timedelta(days=soon_days)
    case_rows = (
        Case.objects.filter(case_visibility_q(scope), state__in=ACTIVE_STATES)
        .values("cell_id")
        .annotate(
            active=Count("id"),
            overdue=Count("id", filter=Q(due_date__lt=on)),
            due_soon=Count("id", filter=Q(due_date__gte=on, due_date__lte=soon)),
        )
    )
    item_rows = (
        IncomingItem.objects.filter(
            incoming_visibility_q(scope),
            case__isnull=True,
            due_date__lt=on,
            assigned_cell__isnull=False,
        )
        .values("assigned_cell_id")
        .annotate(overdue=Count("id"))
    )
    by_cell: dict[int, dict[str, int]] = {}
    for row in case_rows:
        by_cell.setdefault(row["cell_id"], {}).update(
            active=row["active"], overdue=row["overdue"], due_soon=row["due_soon"]
        )
    for row in item_rows:
        by_cell.setdefault(row["assigned_cell_id"], {})["items"] = row["overdue"]
    cells = Cell.objects.select_related("unit").in_bulk(list(by_cell))
    lines = [
        CellWorkload(
            cell=cells[cell_id],
            active_cases=counts.get("active", 0),
            overdue_cases=counts.get("overdue", 0),
            due_soon_cases=counts.get("due_soon", 0),
            overdue_items=counts.get("items", 0),
        )
        for cell_id, counts in by_cell.items()
    ]
    return sorted(lines, key=lambda w: (-w.overdue_cases - w.overdue_items, w.cell.path))


@dataclass
class CaseFilters:
    cell_id: int | None = None
    classification_id: int | None = None
    year: int | None = None
    state: str = ""
    handler_id: int | None = None
    text: str = ""
    overdue: bool = False


def cases_page(
    *,
    person: Person,
    filters: CaseFilters | None = None,
    before_id: int | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> Page[Case]:
    f = filters or CaseFilters()
    qs = cases_visible_to(person)
    if f.cell_id:
        qs = qs.filter(cell_id=f.cell_id)
    if f.classification_id:
        qs = qs.filter(classification_id=f.classification_id)
    if f.year:
        qs = qs.filter(year=f.year)
    if f.state:
        qs = qs.filter(state=f.state)
    if f.handler_id:
        qs = qs.filter(handler_id=f.handler_id)
    if f.overdue:
        qs = qs.filter(state__in=ACTIVE_STATES, due_date__lt=timezone.localdate())
    text = f.text.strip()
    if text:
        words = Q()
        for word in text.split():
            words &= Q(subject__icontains=word) | Q(correspondent_name__icontains=word)
        qs = qs.filter(Q(sign__iexact=text) | words)
    return keyset_page(
        qs.select_related("cell", "classification", "handler"), before_id=before_id, limit=limit
    )
