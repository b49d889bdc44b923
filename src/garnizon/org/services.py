"""Domain operations on the organisation: substitutions."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.common.errors import AccessDenied, DomainError
from garnizon.org.access import Scope
from garnizon.org.models import Person, Position, Role, Substitution


def can_arrange_substitution(scope: Scope, absent: Person) -> bool:
    """The absent person, a head over one of their cells, or their unit's commander or
    administrator may arrange a substitution."""
    if scope.person.pk == absent.pk:
        return True
    cells = [p.cell for p in Position.objects.active().filter(person=absent).select_related("cell")]
    for grant in scope.grants:
        position = grant.position
        if position.role == Role.CELL_HEAD and any(
            c.path.startswith(position.cell.path) for c in cells
        ):
            return True
        if position.role in (Role.UNIT_COMMANDER, Role.ADMINISTRATOR) and (
            position.garrison_wide or position.cell.unit_id == absent.unit_id
        ):
            return True
    return False


def substitution_create(
    *,
    actor: Person,
    absent: Person,
    substitute: Person,
    date_from: datetime.date,
    date_to: datetime.date,
    reason: str = "",
) -> Substitution:
    """`substitute` acts for `absent` from `date_from` to `date_to`; the right ends by itself."""
    scope = Scope.for_person(actor)
    if not can_arrange_substitution(scope.own_only(), absent):
        raise AccessDenied(
            _("Zastępstwo ustanawia nieobecny, jego przełożony albo administrator jednostki.")
        )
    if absent.pk == substitute.pk:
        raise DomainError(_("Osoba nie może zastępować samej siebie."), field="substitute")
    if not substitute.is_active:
        raise DomainError(_("Konto zastępcy jest nieaktywne."), field="substitute")
    if substitute.unit_id != absent.unit_id:
        raise DomainError(_("Zastępca musi pracować w tej samej jednostce."), field="substitute")
    if date_to < date_from:
        raise DomainError(_("Data końcowa jest wcześniejsza niż początkowa."), field="date_to")
    if date_from < timezone.localdate():
        raise DomainError(_("Zastępstwa nie ustanawia się wstecz."), field="date_from")
    if (date_to - date_from).days > 366:
        raise DomainError(_("Zastępstwo może trwać najwyżej rok."), field="date_to")
    overlapping = Substitution.objects.filter(
        absent=absent, substitute=substitute, date_from__lte=date_to, date_to__gte=date_from
    )
    if overlapping.exists():
        raise DomainError(_("W tym okresie to zastępstwo już istnieje."), field="date_from")
    with transaction.atomic():
        substitution = Substitution.objects.create(
            absent=absent,
            substitute=substitute,
            date_from=date_from,
            date_to=date_to,
            reason=reason.strip()[:200],
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="create",
            obj=substitution,
            unit_id=absent.unit_id,
            details={
                "absent": absent.username,
                "substitute": substitute.username,
                "from": date_from.isoformat(),
                "to": date_to.isoformat(),
            },
        )
    return substitution


def substitution_end(*, actor: Person, substitution: Substitution) -> Substitution:
    """End a substitution today (or cancel one that has not started)."""
    scope = Scope.for_person(actor)
    if actor.pk != substitution.substitute_id and not can_arrange_substitution(
        scope.own_only(), substitution.absent
    ):
        raise AccessDenied(_("Nie możesz zakończyć tego zastępstwa."))
    today = timezone.localdate()
    with transaction.atomic():
        if substitution.date_from > today:
            audit_record(
                actor=actor, action="delete", obj=substitution, unit_id=substitution.absent.unit_id
            )
            substitution.delete()
            return substitution
        yesterday = today - datetime.timedelta(days=1)
        substitution.date_to = max(substitution.date_from, yesterday)
        substitution.save(update_fields=["date_to"])
        audit_record(
            actor=actor,
            action="update",
            obj=substitution,
            unit_id=substitution.absent.unit_id,
            details={"ended": substitution.date_to.isoformat()},
        )
    return substitution
