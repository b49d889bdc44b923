"""Reading search parameters from a request (UI and API share it)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping

from django.utils.translation import gettext as _

from garnizon.common.errors import DomainError
from garnizon.search.models import ObjectType
from garnizon.search.services import SearchFilters

FILTER_PARAMS = ("type", "unit", "cell", "classification", "channel", "from", "to", "state", "kind")


def _int(value: str | None, field: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise DomainError(_("Nieprawidłowa wartość filtra."), code="filter", field=field) from None


def _date(value: str | None, field: str) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise DomainError(
            _("Datę podaj jako RRRR-MM-DD, np. 2026-03-15."), code="date", field=field
        ) from None


def filters_from(params: Mapping[str, str]) -> SearchFilters:
    """Filters from query parameters; a malformed value is a DomainError in Polish."""
    object_type = params.get("type", "") or ""
    if object_type and object_type not in ObjectType.values:
        raise DomainError(_("Nieznany rodzaj obiektu."), code="filter", field="type")
    return SearchFilters(
        object_type=object_type,
        unit_id=_int(params.get("unit"), "unit"),
        cell_id=_int(params.get("cell"), "cell"),
        classification_id=_int(params.get("classification"), "classification"),
        channel=(params.get("channel") or "")[:20],
        date_from=_date(params.get("from"), "from"),
        date_to=_date(params.get("to"), "to"),
        state=(params.get("state") or "")[:20],
        kind=(params.get("kind") or "")[:40],
    )


def page_from(params: Mapping[str, str]) -> int:
    try:
        return max(1, int(params.get("page") or 1))
    except ValueError:
        return 1


FACET_PARAMS = {
    "object_type": "type",
    "unit": "unit",
    "cell": "cell",
    "classification": "classification",
    "channel": "channel",
    "state": "state",
    "kind": "kind",
}
