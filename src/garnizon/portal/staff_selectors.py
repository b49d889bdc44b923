"""Portal filings as the staff see them: the registry's need-to-know on their incoming items."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from garnizon.common.paging import DEFAULT_PAGE_SIZE, Page, keyset_page
from garnizon.org.access import Scope
from garnizon.org.models import Person
from garnizon.portal.models import PortalReply, Submission
from garnizon.portal.replies import submission_item_visibility_q
from garnizon.registry.models import IncomingItem, OutgoingItem

STATES = {
    "registered": _("zarejestrowane, bez sprawy"),
    "in_case": _("w sprawie, bez odpowiedzi"),
    "answered": _("z odpowiedzią"),
    "unopened": _("odpowiedź nieodebrana"),
    "published": _("opublikowane (petycje)"),
}


@dataclass
class SubmissionFilters:
    service: str = ""
    state: str = ""


def submissions_visible_to(person: Person, *, scope: Scope | None = None) -> QuerySet[Submission]:
    """Filings whose incoming item (or its case) the person may see."""
    scope = scope or Scope.for_person(person)
    visible = IncomingItem.objects.filter(submission_item_visibility_q(scope)).values("pk")
    return Submission.objects.filter(incoming_item_id__in=visible)


def submissions_page(
    *,
    person: Person,
    filters: SubmissionFilters | None = None,
    before_id: int | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    scope: Scope | None = None,
) -> Page[Submission]:
    """One page of the filings the person may see, newest first, with their reply counts."""
    f = filters or SubmissionFilters()
    qs = submissions_visible_to(person, scope=scope)
    if f.service:
        qs = qs.filter(service=f.service)
    if f.state:
        qs = _by_state(qs, f.state)
    qs = qs.select_related("incoming_item", "incoming_item__case", "unit").annotate(
        reply_count=Count("replies", distinct=True),
        unopened_count=Count("replies", filter=Q(replies__opened_at__isnull=True), distinct=True),
    )
    return keyset_page(qs, before_id=before_id, limit=limit)


def _by_state(qs: QuerySet[Submission], state: str) -> QuerySet[Submission]:
    replied = Exists(PortalReply.objects.filter(submission=OuterRef("pk")))
    dispatched = Exists(
        OutgoingItem.objects.filter(
            case_id=OuterRef("incoming_item__case_id"), case_id__isnull=False
        )
    )
    if state == "registered":
        return qs.filter(~replied, incoming_item__case__isnull=True)
    if state == "in_case":
        return qs.filter(~replied, ~dispatched, incoming_item__case__isnull=False)
    if state == "answered":
        return qs.filter(replied | dispatched)
    if state == "unopened":
        return qs.filter(
            Exists(PortalReply.objects.filter(submission=OuterRef("pk"), opened_at__isnull=True))
        )
    if state == "published":
        return qs.filter(published_at__isnull=False)
    return qs
