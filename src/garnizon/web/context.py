"""Template context for the staff layout: which menu entries this person gets.

An entry shows exactly when its page lets the person in: registering and
visits ask the same functions as their views (`org.access.registering_units`,
`portal.visits.services.managed_units`), substitutions included.
"""

from __future__ import annotations

import functools

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from garnizon.org.access import Scope, registering_units
from garnizon.org.models import Role
from garnizon.portal.visits.services import managed_units

NAVIGATION_DEFAULTS: dict[str, object] = {
    "nav_roles": frozenset(),
    "nav_is_auditor": False,
    "nav_can_register": False,
    "nav_visits": False,
    "nav_officers": False,
}


def navigation(request: HttpRequest) -> dict[str, object]:
    """The menu's entries, each worked out only when a template reads one: the
    portal's pages (a citizen's) never do, so they load no user and no Scope."""
    computed = functools.cache(lambda: _navigation(request))
    return {
        key: SimpleLazyObject(functools.partial(lambda key: computed()[key], key))
        for key in NAVIGATION_DEFAULTS
    }


def _navigation(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return NAVIGATION_DEFAULTS
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
