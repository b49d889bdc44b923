"""Forms of the officer finder (citizens) and of the officers' and threats' staff pages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from garnizon.org.models import Person, Unit
from garnizon.portal.models import ThreatReport


class FinderForm(forms.Form):
    """Find by address; all optional so the map alone works too (GET, bookmarkable)."""

    miejscowosc = forms.CharField(
        label=_("Miejscowość"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    ulica = forms.CharField(
        label=_("Ulica (nieobowiązkowo)"),
        required=False,
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "address-line1"}),
    )
    numer = forms.CharField(
        label=_("Numer domu (nieobowiązkowo)"),
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )


class OfficerForm(forms.Form):
    unit = forms.ModelChoiceField(label=_("Jednostka"), queryset=Unit.objects.none())
    rank = forms.CharField(label=_("Stopień"), required=False, max_length=80)
    name = forms.CharField(label=_("Imię i nazwisko"), max_length=150)
    person = forms.ModelChoiceField(
        label=_("Konto w systemie (nieobowiązkowo)"),
        queryset=Person.objects.none(),
        required=False,
    )
    photo = forms.FileField(
        label=_("Zdjęcie (JPG albo PNG, nieobowiązkowo)"),
        required=False,
        help_text=_("Zapisujemy kopię bez metadanych (np. miejsca wykonania zdjęcia)."),
    )
    phone = forms.CharField(label=_("Telefon"), required=False, max_length=40)
    email = forms.EmailField(label=_("E-mail"), required=False, max_length=254)
    duty_hours = forms.CharField(
        label=_("Dyżury"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Np. „wtorek 15:00–17:00, Komisariat Policji, pokój 12”."),
    )
    area_description = forms.CharField(
        label=_("Opis rejonu"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    streets = forms.CharField(
        label=_("Miejscowości i ulice rejonu"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_(
            "Jeden wpis w wierszu: „Jastków” (cała miejscowość), „Lublin, Lipowa” albo "
            "„Lublin, Lipowa 1-41” (numery domów)."
        ),
    )
    polygon = forms.CharField(
        label=_("Obszar rejonu (nieobowiązkowo)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "Wierzchołki obszaru, w każdym wierszu „szerokość, długość”, albo GeoJSON Polygon."
        ),
    )
    latitude = forms.DecimalField(
        label=_("Punkt rejonu: szerokość"), required=False, max_digits=9, decimal_places=6
    )
    longitude = forms.DecimalField(
        label=_("Punkt rejonu: długość"), required=False, max_digits=9, decimal_places=6
    )

    def __init__(self, *args: Any, units: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units
        self.fields["person"].queryset = Person.objects.filter(
            unit__in=units, is_active=True
        ).order_by("last_name", "first_name")
        for field in self.fields.values():
            if field.help_text:
                field.widget.attrs["aria-describedby"] = f"id_{self._name(field)}_help"

    def _name(self, field: forms.Field) -> str:
        return next(name for name, f in self.fields.items() if f is field)


class ThreatStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=ThreatReport.Status.choices)
