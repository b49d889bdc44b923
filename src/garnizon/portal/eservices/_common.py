"""What several e-services share: the register remarks about the filer's contact."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms as djforms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from garnizon.portal import forms

PORTAL_REMARK = "Złożono przez portal e-usług."

#: Labels of the fields most services share, for the plain-text copy the staff read.
COMMON_LABELS = {
    "name": "Imię i nazwisko",
    "email": "E-mail",
    "address": "Adres do korespondencji",
    "subject": "Dotyczy",
    "text": "Treść",
}


def contact_remarks(fields: dict[str, Any]) -> list[str]:
    """The register remarks every filing starts with: the channel and how to reach the filer."""
    remarks = [PORTAL_REMARK]
    contact = "; ".join(
        part
        for part in (str(fields.get("email") or ""), str(fields.get("address") or ""))
        if part.strip()
    )
    if contact:
        remarks.append(f"Kontakt: {contact}")
    return remarks


# --- question-page helpers shared by the services built on them ---------------------------

#: Formats a date typed on a question page may take (the first is the one shown in hints).
DATE_INPUT_FORMATS = ["%d.%m.%Y", "%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%d.%m.%y"]
TIME_INPUT_FORMATS = ["%H:%M", "%H.%M", "%H %M"]


class IsoForm(forms.PortalForm):
    """A question page whose dates and times are kept (session, filed JSON) as ISO text."""

    def serializable(self) -> dict[str, Any]:
        data = super().serializable()
        for name, value in data.items():
            if isinstance(value, datetime.time):
                data[name] = value.strftime("%H:%M")
            elif isinstance(value, datetime.date):
                data[name] = value.isoformat()
        return data


def past_date_field(
    label: Any, *, help_text: Any, required: Any, invalid: Any
) -> djforms.DateField:
    """A date typed as text (``14.11.2026``) that may not be in the future."""
    return djforms.DateField(
        label=label,
        input_formats=DATE_INPUT_FORMATS,
        help_text=help_text,
        widget=djforms.TextInput(attrs={"autocomplete": "off"}),
        error_messages={"required": required, "invalid": invalid},
        validators=[_not_in_future],
    )


def _not_in_future(value: datetime.date) -> None:
    if value > timezone.localdate():
        raise ValidationError(_("Data nie może być z przyszłości. Podaj datę zdarzenia."))


def unit_form(label: Any, help_text: Any, required: Any) -> type[forms.UnitForm]:
    """The portal's unit page with the service's own question."""

    class ServiceUnitForm(forms.UnitForm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            field = self.fields["unit"]
            field.label = label
            field.help_text = help_text
            field.error_messages["required"] = required

    return ServiceUnitForm


def yes_no(value: bool) -> str:
    return "tak" if value else "nie"
