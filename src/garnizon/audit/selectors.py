"""Reading the audit trail: who may see which entries."""

from __future__ import annotations

from django.db.models import QuerySet

from garnizon.audit.models import AuditEntry
from garnizon.org.access import Scope
from garnizon.org.models import Person, Role

AUDIT_ROLES: set[str] = {Role.AUDITOR}


def audit_entries_visible_to(person: Person) -> QuerySet[AuditEntry]:
    """Entries of the units where `person` is an auditor; everything for a
    garrison-wide auditor; nothing for anyone else.

    Entries without a unit (a failed log-in with an unknown username, system
    jobs) belong to no unit, so only garrison-wide auditors see them.
    """
    scope = Scope.for_person(person)
    if scope.is_garrison_wide(AUDIT_ROLES):
        return AuditEntry.objects.all()
    unit_ids = scope.unit_ids(AUDIT_ROLES)
    if not unit_ids:
        return AuditEntry.objects.none()
    return AuditEntry.objects.filter(unit_id__in=unit_ids)
