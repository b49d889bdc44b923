"""Template context for the staff layout: which menu entries this person gets.

An entry shows exactly when its page lets the person in: registering and
visits ask the same functions as their views (`org.access.registering_units`,
`portal.visits.services.managed_units`), substitutions included.
"""

from __future__ import annotations

from django.http import HttpRequest

from garnizon.org.access import Scope, registering_units
from garnizon.org.models import Role
from garnizon.portal.visits.services import managed_units


def navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    scope = Scope.for_person(user)
    # The person's own active positions (not those held for someone absent).
    roles = {g.position.role for g in scope.grants if g.on_behalf_of is None}
    return {
        "nav_roles": roles,
        "nav_is_auditor": Role.AUDITOR in roles,
        "nav_can_register": registering_units(scope).exists(),
        "nav_visits": managed_units(scope).exists(),
        # Neighbourhood officers are kept by the commander and the heads of prevention.
        "nav_officers": bool(roles & {Role.UNIT_COMMANDER, Role.CELL_HEAD}),
    }
