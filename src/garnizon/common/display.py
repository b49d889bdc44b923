"""How unknown register values are shown: "brak danych", never an empty cell."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

NO_DATA = _("brak danych")


def or_no_data(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return NO_DATA
    return value
