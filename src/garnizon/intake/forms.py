"""Forms of the intake pages: the multi-file upload and the clerk's match."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from garnizon.intake.models import IntakeMode
from garnizon.registry.models import Channel

# Channels a clerk feeds through the upload page; e-mail and the portal have their own.
UPLOAD_CHANNELS = [
    (Channel.PAPER, _("papier (skany)")),
    (Channel.FAX, _("faks")),
    (Channel.IN_PERSON, _("osobiście (nośnik)")),
    (Channel.EPUAP, _("ePUAP")),
    (Channel.EDORECZENIA, _("e-Doręczenia")),
]


class IntakeUploadForm(forms.Form):
    """The fields beside the files, which are read from `request.FILES.getlist("files")`."""

    unit = forms.ModelChoiceField(queryset=None, label=_("Jednostka"), empty_label=None)
    channel = forms.ChoiceField(choices=UPLOAD_CHANNELS, label=_("Kanał wpływu"), initial="paper")
    mode = forms.ChoiceField(
        choices=IntakeMode.choices,
        label=_("Co zrobić z plikami"),
        initial=IntakeMode.MATCH,
        widget=forms.RadioSelect,
        help_text=_(
            "Skany z etykietą trafią do pisma o numerze z etykiety; skany bez etykiety "
            "czekają na przypisanie w kolejce."
        ),
    )

    def __init__(self, *args: Any, units: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units


class MatchForm(forms.Form):
    """The clerk's choice for a scan without a readable label: an entry, by id or number."""

    incoming_item = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    registration_number = forms.CharField(
        required=False,
        max_length=60,
        label=_("Numer w rejestrze wpływów"),
        help_text=_("np. KWP/RPW/123/2026"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("incoming_item") and not (data.get("registration_number") or "").strip():
            raise forms.ValidationError(_("Wybierz pismo z listy albo wpisz jego numer."))
        return data
