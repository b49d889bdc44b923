"""Template context for the staff layout: which menu entries this person gets."""

from __future__ import annotations

from django.http import HttpRequest

from garnizon.org.access import REGISTERING_ROLES
from garnizon.org.models import Position, Role


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = set(Position.objects.active().filter(person=user).values_list("role", flat=True))
    return {
        "nav_roles": roles,
        "nav_is_auditor": Role.AUDITOR in roles,
        "nav_can_register": bool(roles & REGISTERING_ROLES),
        # Visit hours are run by the unit's commander, cell heads and registry clerks;
        # neighbourhood officers are kept by the commander and the heads of prevention.
        "nav_visits": bool(roles & {Role.UNIT_COMMANDER, Role.CELL_HEAD, Role.REGISTRY_CLERK}),
        "nav_officers": bool(roles & {Role.UNIT_COMMANDER, Role.CELL_HEAD}),
    }
