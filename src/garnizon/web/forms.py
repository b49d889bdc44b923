"""Staff UI forms. They parse and present input; the services decide what is allowed."""

from __future__ import annotations

import datetime
import uuid

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from garnizon.cases.deadlines import DeadlineKind
from garnizon.cases.models import AssignmentMethod, CaseState
from garnizon.jrwa.models import Classification
from garnizon.org.models import Cell, Person, Position, Unit, default_designations
from garnizon.registry.models import Channel, CorrespondentKind

# Dates typed into the forms must lie in these years: a letter, a dispatch, a
# deadline or a substitution outside them is a typo (and year 1 or 9999 breaks
# date arithmetic further on).
EARLIEST_DATE = datetime.date(1990, 1, 1)
LATEST_DATE = datetime.date(2100, 12, 31)

DATE_INPUT = forms.DateInput(
    attrs={"type": "date", "min": EARLIEST_DATE.isoformat(), "max": LATEST_DATE.isoformat()},
    format="%Y-%m-%d",
)


class DateRange:
    """Refuse a date (or the date of a date and time) before `EARLIEST_DATE` or after
    `latest` (None: no upper bound here, a later check compares with today)."""

    def __init__(self, latest: datetime.date | None = LATEST_DATE) -> None:
        self.latest = latest

    def __call__(self, value: datetime.date | datetime.datetime) -> None:
        # The form's own date (no time zone conversion, which overflows at year 1).
        day = value.date() if isinstance(value, datetime.datetime) else value
        if day < EARLIEST_DATE or (self.latest is not None and day > self.latest):
            latest = self.latest or LATEST_DATE
            raise forms.ValidationError(
                _("Podaj datę od %(first)s do %(last)s."),
                code="date_range",
                params={
                    "first": EARLIEST_DATE.strftime("%d.%m.%Y"),
                    "last": latest.strftime("%d.%m.%Y"),
                },
            )


class BoundedDateField(forms.DateField):
    """A date field with the date picker, limited to `EARLIEST_DATE`–`latest`."""

    widget = DATE_INPUT

    def __init__(self, *args, latest: datetime.date | None = LATEST_DATE, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.validators.append(DateRange(latest))


class BoundedDateTimeField(forms.DateTimeField):
    def __init__(self, *args, latest: datetime.date | None = LATEST_DATE, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.validators.append(DateRange(latest))


EMPTY_CHOICE = _("— wybierz —")


class GarnizonForm(forms.Form):
    """Base form: a Polish "choose" line on every optional or unset choice list."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.ModelChoiceField) and field.empty_label is not None:
                field.empty_label = EMPTY_CHOICE


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Person) -> str:  # type: ignore[override]
        return obj.get_full_name() or obj.username


class CellChoiceField(forms.ModelChoiceField):
    """A cell list labelled with designations read for all its cells at once."""

    def label_from_instance(self, obj: Cell) -> str:  # type: ignore[override]
        labels = self.__dict__.get("_labels")
        if labels is None:
            labels = self.__dict__["_labels"] = default_designations(self.queryset)
        return labels.get(obj.pk) or str(obj)

    def _set_queryset(self, queryset) -> None:
        self.__dict__.pop("_labels", None)
        super()._set_queryset(queryset)

    queryset = property(forms.ModelChoiceField._get_queryset, _set_queryset)


def people_in_cells(cells) -> forms.models.QuerySet:
    return Person.objects.filter(
        pk__in=Position.objects.active().filter(cell__in=cells).values("person_id"), is_active=True
    ).order_by("last_name", "first_name")


class IncomingItemForm(GarnizonForm):
    """Registration in as few keystrokes as possible: the first field has focus,
    everything but the subject has a sensible default, Enter saves and opens a
    blank form for the next letter."""

    client_token = forms.CharField(widget=forms.HiddenInput)
    unit = forms.ModelChoiceField(label=_("Jednostka"), queryset=Unit.objects.none())
    subject = forms.CharField(label=_("Dotyczy"), max_length=500)
    channel = forms.ChoiceField(label=_("Kanał"), choices=Channel.choices, initial=Channel.PAPER)
    sender_name = forms.CharField(
        label=_("Nadawca"),
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"list": "correspondents", "autocomplete": "off"}),
        help_text=_("Puste pole zostanie zapisane jako „brak danych”."),
    )
    # No later than the receipt (checked in `clean`, in the services' words).
    letter_date = BoundedDateField(label=_("Data pisma"), required=False, latest=None)
    letter_reference = forms.CharField(label=_("Znak pisma"), required=False, max_length=100)
    attachments_count = forms.IntegerField(
        label=_("Liczba załączników"), required=False, min_value=0, max_value=10000
    )
    kind = forms.ChoiceField(
        label=_("Rodzaj sprawy (termin ustawowy)"),
        choices=DeadlineKind.choices,
        initial=DeadlineKind.NONE,
    )
    assigned_cell = CellChoiceField(
        label=_("Przekaż do komórki"), queryset=Cell.objects.none(), required=False
    )
    assigned_person = PersonChoiceField(
        label=_("Osoba w tej komórce"),
        queryset=Person.objects.none(),
        required=False,
        help_text=_(
            "Obowiązkowo dla przesyłki o ograniczonym dostępie; poza tym osobę wskazuje "
            "kierownik komórki."
        ),
    )
    received_at = BoundedDateTimeField(
        label=_("Data i godzina wpływu"),
        required=False,
        widget=forms.DateTimeInput(
            attrs={"type": "datetime-local", "min": f"{EARLIEST_DATE.isoformat()}T00:00"},
            format="%Y-%m-%dT%H:%M",
        ),
        help_text=_("Puste: teraz."),
    )
    paper_location = forms.CharField(
        label=_("Miejsce przechowywania oryginału"), required=False, max_length=200
    )
    remarks = forms.CharField(
        label=_("Uwagi"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    is_restricted = forms.BooleanField(
        label=_("Dostęp ograniczony (np. sygnalista)"), required=False
    )

    def __init__(self, *args, units, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units
        unit_ids = list(units.values_list("pk", flat=True))
        if len(unit_ids) == 1:
            self.fields["unit"].initial = unit_ids[0]
            self.fields["unit"].widget = forms.HiddenInput()
        self.fields["assigned_cell"].queryset = Cell.objects.filter(
            unit_id__in=unit_ids, is_active=True
        ).select_related("unit", "parent")
        self.fields["assigned_person"].queryset = people_in_cells(
            Cell.objects.filter(unit_id__in=unit_ids)
        )
        if not self.is_bound:
            # After a failed submit the error summary takes focus instead.
            self.fields["subject"].widget.attrs["autofocus"] = True
            self.initial.setdefault("client_token", uuid.uuid4().hex)

    def clean_received_at(self):
        value = self.cleaned_data.get("received_at")
        if value and value > timezone.now() + timezone.timedelta(minutes=5):
            raise forms.ValidationError(_("Data wpływu nie może być późniejsza niż dziś."))
        return value

    def clean(self):
        data = super().clean()
        letter_date, received_at = data.get("letter_date"), data.get("received_at")
        received_on = (
            timezone.localtime(received_at).date() if received_at else timezone.localdate()
        )
        if letter_date and letter_date > received_on and "received_at" not in self.errors:
            self.add_error("letter_date", _("Data pisma nie może być późniejsza niż data wpływu."))
        return data


class OutgoingItemForm(GarnizonForm):
    client_token = forms.CharField(widget=forms.HiddenInput)
    unit = forms.ModelChoiceField(label=_("Jednostka"), queryset=Unit.objects.none())
    case_sign = forms.CharField(label=_("Znak sprawy"), required=False, max_length=100)
    channel = forms.ChoiceField(label=_("Kanał"), choices=Channel.choices, initial=Channel.PAPER)
    addressee_name = forms.CharField(
        label=_("Adresat"),
        max_length=300,
        widget=forms.TextInput(attrs={"list": "correspondents", "autocomplete": "off"}),
    )
    address = forms.CharField(label=_("Adres pocztowy"), required=False, max_length=400)
    edoreczenia_address = forms.CharField(
        label=_("Adres do e-Doręczeń"),
        required=False,
        max_length=40,
        help_text=_("Postać: AE:PL-12345-67890-ABCDE-12"),
    )
    subject = forms.CharField(label=_("Dotyczy"), max_length=500)
    sent_on = BoundedDateField(label=_("Data wysłania"), required=False)
    priority = forms.BooleanField(label=_("Priorytet"), required=False)
    registered_mail = forms.BooleanField(label=_("Polecony"), required=False)
    return_receipt = forms.BooleanField(label=_("Za potwierdzeniem odbioru"), required=False)
    tracking_number = forms.CharField(label=_("Numer nadawczy"), required=False, max_length=60)
    postage = forms.DecimalField(
        label=_("Opłata (zł)"), required=False, min_value=0, max_digits=8, decimal_places=2
    )
    remarks = forms.CharField(
        label=_("Uwagi"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, units, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = units
        if units.count() == 1:
            self.fields["unit"].initial = units.first().pk
            self.fields["unit"].widget = forms.HiddenInput()
        if not self.is_bound:
            self.initial.setdefault("client_token", uuid.uuid4().hex)


class CaseOpenForm(GarnizonForm):
    client_token = forms.CharField(widget=forms.HiddenInput)
    cell = CellChoiceField(label=_("Komórka"), queryset=Cell.objects.none())
    classification = forms.ModelChoiceField(
        label=_("Klasa JRWA"), queryset=Classification.objects.none()
    )
    subject = forms.CharField(
        label=_("Tytuł sprawy"),
        max_length=500,
        required=False,
        help_text=_("Puste: tytuł przesyłki."),
    )
    kind = forms.ChoiceField(
        label=_("Rodzaj sprawy (termin ustawowy)"),
        required=False,
        choices=[("", _("jak w przesyłce")), *list(DeadlineKind.choices)],
    )

    def __init__(self, *args, cells, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cell"].queryset = cells
        if cells.count() == 1:
            self.fields["cell"].initial = cells.first().pk
        self.fields["classification"].queryset = (
            Classification.objects.filter(scheme__is_active=True, is_terminal=True)
            .select_related("scheme")
            .order_by("symbol")
        )
        if not self.is_bound:
            self.initial.setdefault("client_token", uuid.uuid4().hex)


class AssignForm(GarnizonForm):
    to_cell = CellChoiceField(label=_("Komórka"), queryset=Cell.objects.none())
    to_person = PersonChoiceField(label=_("Osoba"), queryset=Person.objects.none(), required=False)
    method = forms.ChoiceField(
        label=_("Sposób załatwienia"),
        required=False,
        choices=[("", _("bez zmian / domyślny")), *list(AssignmentMethod.choices)],
    )
    deadline = BoundedDateField(label=_("Termin"), required=False)
    note = forms.CharField(
        label=_("Polecenie"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_method(self) -> str | None:
        return self.cleaned_data.get("method") or None

    def __init__(self, *args, unit_id: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cells = Cell.objects.filter(unit_id=unit_id, is_active=True).select_related("unit")
        self.fields["to_cell"].queryset = cells
        self.fields["to_person"].queryset = people_in_cells(cells)


class CaseStateForm(GarnizonForm):
    new_state = forms.ChoiceField(label=_("Nowy stan"), choices=CaseState.choices)
    reason = forms.CharField(label=_("Powód"), required=False, max_length=500)


class CaseShareForm(GarnizonForm):
    person = PersonChoiceField(label=_("Osoba"), queryset=Person.objects.none(), required=False)
    cell = CellChoiceField(label=_("albo komórka"), queryset=Cell.objects.none(), required=False)
    valid_to = BoundedDateField(label=_("Do dnia"), required=False)

    def __init__(self, *args, unit_id: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = Person.objects.filter(is_active=True, unit_id=unit_id)
        self.fields["cell"].queryset = Cell.objects.filter(unit_id=unit_id).select_related("unit")


class CaseKindForm(GarnizonForm):
    kind = forms.ChoiceField(label=_("Rodzaj sprawy"), choices=DeadlineKind.choices)


class CorrespondentForm(GarnizonForm):
    kind = forms.ChoiceField(label=_("Rodzaj"), choices=CorrespondentKind.choices)
    name = forms.CharField(label=_("Nazwa lub imię i nazwisko"), max_length=300)
    street = forms.CharField(label=_("Ulica i numer"), required=False, max_length=200)
    postal_code = forms.CharField(label=_("Kod pocztowy"), required=False, max_length=12)
    city = forms.CharField(label=_("Miejscowość"), required=False, max_length=100)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = forms.CharField(label=_("Telefon"), required=False, max_length=40)
    edoreczenia_address = forms.CharField(
        label=_("Adres do e-Doręczeń"),
        required=False,
        max_length=40,
        help_text=_("Postać: AE:PL-12345-67890-ABCDE-12"),
    )
    tax_id = forms.CharField(label=_("NIP"), required=False, max_length=20)


class DeadlineForm(GarnizonForm):
    kind = forms.ChoiceField(label=_("Rodzaj sprawy"), choices=DeadlineKind.choices)
    start = BoundedDateField(label=_("Data zdarzenia (np. wpływu)"))


class SubstitutionForm(GarnizonForm):
    absent = PersonChoiceField(label=_("Nieobecny"), queryset=Person.objects.none())
    substitute = PersonChoiceField(label=_("Zastępca"), queryset=Person.objects.none())
    date_from = BoundedDateField(label=_("Od"))
    date_to = BoundedDateField(label=_("Do (włącznie)"))
    reason = forms.CharField(label=_("Powód"), required=False, max_length=200)

    def __init__(self, *args, unit_ids: list[int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        people = Person.objects.filter(unit_id__in=unit_ids, is_active=True).order_by(
            "last_name", "first_name"
        )
        self.fields["absent"].queryset = people
        self.fields["substitute"].queryset = people


class AuditFilterForm(GarnizonForm):
    object_type = forms.CharField(label=_("Rodzaj obiektu"), required=False, max_length=60)
    object_id = forms.CharField(label=_("Identyfikator"), required=False, max_length=64)
    username = forms.CharField(label=_("Login"), required=False, max_length=150)
    action = forms.CharField(label=_("Czynność"), required=False, max_length=20)


class CaseExtendForm(GarnizonForm):
    new_due_date = BoundedDateField(label=_("Nowy termin"))
    reason = forms.CharField(
        label=_("Przyczyna zwłoki"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
