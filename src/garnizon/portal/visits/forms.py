"""Forms: the citizen's question pages (one question each) and the staff set-up forms."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from garnizon.org.models import Unit
from garnizon.portal.forms import PortalForm
from garnizon.portal.visits.models import AppointmentKind, Slot

WEEKDAYS = [
    (0, _("poniedziałek")),
    (1, _("wtorek")),
    (2, _("środa")),
    (3, _("czwartek")),
    (4, _("piątek")),
    (5, _("sobota")),
    (6, _("niedziela")),
]


# --- citizen pages ------------------------------------------------------------------------------


class VisitUnitForm(PortalForm):
    single_question = True
    unit = forms.ModelChoiceField(
        label=_("W której jednostce Policji chcesz umówić wizytę?"),
        queryset=Unit.objects.none(),
        empty_label=_("Wybierz jednostkę"),
        error_messages={
            "required": _("Wybierz jednostkę Policji."),
            "invalid_choice": _("Wybierz jednostkę Policji z listy."),
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["unit"]
        field.queryset = (  # type: ignore[attr-defined]
            Unit.objects.filter(is_active=True, appointment_kinds__is_active=True)
            .distinct()
            .order_by("id")
        )
        field.label_from_instance = lambda unit: unit.name  # type: ignore[attr-defined]


class KindForm(PortalForm):
    single_question = True
    kind = forms.TypedChoiceField(
        label=_("W jakiej sprawie chcesz przyjść?"),
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Wybierz, w jakiej sprawie chcesz przyjść."),
            "invalid_choice": _("Wybierz sprawę z listy."),
        },
    )

    def __init__(self, *args: Any, kinds: list[AppointmentKind], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [  # type: ignore[attr-defined]
            (
                kind.pk,
                _("%(name)s (%(minutes)s min, %(place)s)")
                % {"name": kind.name, "minutes": kind.duration_minutes, "place": kind.place},
            )
            for kind in kinds
        ]


class DayForm(PortalForm):
    single_question = True
    day = forms.ChoiceField(
        label=_("Którego dnia?"),
        widget=forms.RadioSelect,
        help_text=_("Widać tylko dni, w których są jeszcze wolne terminy."),
        error_messages={
            "required": _("Wybierz dzień wizyty."),
            "invalid_choice": _("Ten dzień nie ma już wolnych terminów. Wybierz inny."),
        },
    )

    def __init__(self, *args: Any, days: list[tuple[datetime.date, int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["day"].choices = [  # type: ignore[attr-defined]
            (day.isoformat(), day_label(day, free)) for day, free in days
        ]


class TimeForm(PortalForm):
    single_question = True
    slot = forms.TypedChoiceField(
        label=_("O której godzinie?"),
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Wybierz godzinę wizyty."),
            "invalid_choice": _("Ta godzina jest już zajęta. Wybierz inną."),
        },
    )

    def __init__(self, *args: Any, slots: list[Slot], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slot"].choices = [  # type: ignore[attr-defined]
            (slot.pk, time_label(slot)) for slot in slots
        ]


class DetailsForm(PortalForm):
    name = forms.CharField(
        label=_("Imię i nazwisko"),
        max_length=200,
        error_messages={"required": _("Podaj imię i nazwisko.")},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label=_("Adres e-mail"),
        max_length=254,
        help_text=_("Wyślemy na niego potwierdzenie i przypomnienie dzień przed wizytą."),
        error_messages={
            "required": _("Podaj adres e-mail."),
            "invalid": _("Podaj adres e-mail w poprawnym formacie, np. jan.kowalski@example.pl."),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    phone = forms.RegexField(
        label=_("Numer telefonu (nieobowiązkowo)"),
        required=False,
        max_length=30,
        regex=r"^\+?[0-9 ()-]{9,20}$",
        help_text=_("Zadzwonimy, jeśli wizyta będzie musiała się przesunąć."),
        error_messages={
            "invalid": _(
                "Podaj numer telefonu z samych cyfr, np. 81 535 20 00 albo +48 600 000 000."
            )
        },
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )
    matter = forms.CharField(
        label=_("W jakiej sprawie przychodzisz?"),
        max_length=300,
        help_text=_("Krótko, np. „Odbiór zaświadczenia o niekaralności”. Najwyżej 300 znaków."),
        error_messages={
            "required": _("Napisz krótko, w jakiej sprawie przychodzisz."),
            "max_length": _("Opis sprawy może mieć najwyżej %(limit_value)s znaków."),
        },
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def day_text(day: datetime.date) -> str:
    """E.g. "wtorek, 1 grudnia 2026" (the month in the form a date needs)."""
    return formats.date_format(day, "l, j E Y")


def day_label(day: datetime.date, free: int) -> str:
    # "wolne terminy: 3" needs no plural forms (Polish and Ukrainian have three).
    free_text = _("wolne terminy: %(n)s") % {"n": free}
    return f"{day_text(day)} – {free_text}"


def time_label(slot: Slot) -> str:
    return f"{timezone.localtime(slot.starts_at):%H:%M}–{timezone.localtime(slot.ends_at):%H:%M}"


# --- staff forms ---------------------------------------------------------------------------------


class AppointmentKindForm(forms.ModelForm):
    class Meta:
        model = AppointmentKind
        fields = [
            "name",
            "description",
            "place",
            "duration_minutes",
            "capacity",
            "book_ahead_days",
            "min_notice_hours",
            "is_active",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "name": _("Np. „Przyjęcia w sprawie skarg i wniosków – Komendant”."),
            "capacity": _("Zwykle 1: jedna osoba na jeden termin."),
            "min_notice_hours": _("Np. 24: na jutro rano można się zapisać do dziś rana."),
        }


class OpeningRuleForm(forms.Form):
    weekday = forms.TypedChoiceField(label=_("Dzień tygodnia"), choices=WEEKDAYS, coerce=int)
    starts = forms.TimeField(label=_("Od (GG:MM)"), widget=forms.TimeInput(format="%H:%M"))
    ends = forms.TimeField(label=_("Do (GG:MM)"), widget=forms.TimeInput(format="%H:%M"))


class ClosedDayForm(forms.Form):
    date = forms.DateField(
        label=_("Dzień"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    kind = forms.ModelChoiceField(
        label=_("Rodzaj wizyty"),
        queryset=AppointmentKind.objects.none(),
        required=False,
        empty_label=_("wszystkie rodzaje"),
    )
    reason = forms.CharField(label=_("Powód"), max_length=200, required=False)

    def __init__(self, *args: Any, unit: Unit, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].queryset = AppointmentKind.objects.filter(  # type: ignore[attr-defined]
            unit=unit
        )


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Powód odwołania (dostanie go interesant)"), max_length=300)
