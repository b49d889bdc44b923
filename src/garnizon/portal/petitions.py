"""Publishing petitions (art. 8 of the Petitions Act) and the public list of them.

The unit publishes a petition on its website with the date it was filed; the
filer's name only with their consent (art. 4 ust. 3, a checkbox in the petition
flow: `fields["publish_name"]` in the filed canonical JSON). Publishing is the
acceptance of the text for publication, so it is reserved for those who answer
for the matter: the unit's commander, or the head over the cell that holds the
petition (its case's cell, else the cell it was assigned to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.cases.services import can_manage_cell
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.common.paging import Page, keyset_page
from garnizon.org.access import Scope
from garnizon.org.models import Person, Role
from garnizon.portal.models import EService, Submission
from garnizon.portal.replies import can_see_submission
from garnizon.registry.models import IncomingItem

MAX_PUBLISHED_TEXT = 100_000
#: The petition flow's consent field; `True` when the filer agreed to be named.
CONSENT_FIELD = "publish_name"  # written by eservices/petition.py


def can_publish_petition(scope: Scope, submission: Submission) -> bool:
    if submission.service != EService.PETITION:
        return False
    if scope.has_role(Role.UNIT_COMMANDER, unit_id=submission.unit_id):
        return True
    item = submission.incoming_item
    cell = item.case.cell if item.case_id else item.assigned_cell
    return cell is not None and can_manage_cell(scope, cell)


def petition_publish(*, actor: Person, submission: Submission, text: str) -> Submission:
    """Accept a petition's text for publication and publish it on the portal's petition page."""
    scope = Scope.for_person(actor)
    if not can_see_submission(scope, submission):
        raise NotVisible(_("Nie ma takiego zgłoszenia albo nie masz do niego dostępu."))
    if submission.service != EService.PETITION:
        raise DomainError(_("Publikuje się tylko petycje."))
    submission.incoming_item = IncomingItem.objects.select_related("case").get(
        pk=submission.incoming_item_id
    )
    if not can_publish_petition(scope, submission):
        raise AccessDenied(
            _("Petycję do publikacji przyjmuje komendant jednostki albo kierownik komórki.")
        )
    text = (text or "").strip()
    if not text:
        raise DomainError(_("Wpisz tekst petycji do publikacji."), field="text")
    if len(text) > MAX_PUBLISHED_TEXT:
        raise DomainError(_("Tekst do publikacji jest za długi."), field="text")
    with transaction.atomic():
        locked = Submission.objects.select_for_update().get(pk=submission.pk)
        if locked.published_at is not None:
            raise DomainError(_("Ta petycja jest już opublikowana."))
        locked.published_at = timezone.now()
        locked.published_text = text
        locked.save(update_fields=["published_at", "published_text"])
        audit_record(
            actor=actor,
            action="update",
            obj=locked,
            unit_id=locked.unit_id,
            details={
                "event": "petition_published",
                "incoming": submission.incoming_item.registration_number,
                "name_published": name_consented(locked),
            },
        )
    submission.published_at = locked.published_at
    submission.published_text = locked.published_text
    return submission


def name_consented(submission: Submission) -> bool:
    """Whether the filer agreed to publish their name (absent or malformed: no)."""
    return submission.filed_fields().get(CONSENT_FIELD) is True


def _published_name(submission: Submission) -> str:
    """The filer's name or organisation (not its representative), and a third party's
    with its own consent; empty without the filer's consent."""
    if not name_consented(submission):
        return ""
    fields = submission.filed_fields()
    name = str(fields.get("name") or "").strip() or submission.incoming_item.sender_name
    if fields.get("third_party") and fields.get("publish_third_party") is True:
        third = str(fields.get("third_name") or "").strip()
        if third:
            name = _("%(name)s, w interesie: %(third)s") % {"name": name, "third": third}
    return name


def _published_subject(submission: Submission) -> str:
    subject = str(submission.filed_fields().get("subject") or "").strip()
    return subject or submission.incoming_item.subject


@dataclass(frozen=True)
class PublishedPetition:
    pk: int
    subject: str
    unit: str
    filed_on: Any
    published_at: Any
    text: str
    name: str  # empty unless the filer consented


def published_petitions_page(*, before_id: int | None = None, limit: int = 20) -> Page[Any]:
    """The public list, newest first: what the law says to publish and nothing more."""
    qs: QuerySet[Submission] = Submission.objects.filter(
        service=EService.PETITION, published_at__isnull=False
    ).select_related("incoming_item", "unit")
    page = keyset_page(qs, before_id=before_id, limit=limit)
    page.rows = [
        PublishedPetition(
            pk=s.pk,
            subject=_published_subject(s),
            unit=s.unit.name,
            filed_on=timezone.localdate(s.incoming_item.received_at),
            published_at=s.published_at,
            text=s.published_text,
            name=_published_name(s),
        )
        for s in page.rows
    ]
    return page
