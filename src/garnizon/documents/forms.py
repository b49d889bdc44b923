from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from garnizon.documents.models import DocumentKind


class DocumentUploadForm(forms.Form):
    """The fields beside the files, which are read from `request.FILES.getlist("files")`
    (`<input type=file multiple>`); the title applies when one file is sent."""

    title = forms.CharField(
        label=_("Tytuł"),
        max_length=500,
        required=False,
        help_text=_("Gdy pusty, tytułem jest nazwa pliku."),
    )
    kind = forms.ChoiceField(
        label=_("Rodzaj"), choices=DocumentKind.choices, initial=DocumentKind.ATTACHMENT
    )


class VersionUploadForm(forms.Form):
    file = forms.FileField(label=_("Plik nowej wersji"))
