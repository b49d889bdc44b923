"""A road-aggression video report: the filer's recording (MP4 or AVI, up to 25 MB) with
when, where and which vehicle, routed to the traffic department of the unit covering
the place.

The unit comes from a list labelled by the seat town of each command (default: the
regional HQ, KWP, which passes it on); the entry is assigned to that unit's traffic
cell (Wydział Ruchu Drogowego, symbol WRD), or to no cell if the unit has none.

Deadline: none (`DeadlineKind.NONE`). A recording mostly shows a petty offence
(wykroczenie drogowe, handled under the KPW by the traffic department), not a crime
report under art. 304 KPK, so the 30 days of art. 307 KPK (`CRIME_NOTIFICATION`) do
not apply by default; the traffic department re-qualifies the entry if it shows a crime.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms as djforms
from django.db.models import Case, IntegerField, Q, Value, When
from django.utils.translation import gettext_lazy as _

from garnizon.cases.deadlines import DeadlineKind
from garnizon.common.errors import DomainError
from garnizon.org.models import Cell, Unit, UnitKind
from garnizon.portal import forms
from garnizon.portal.eservices._common import (
    TIME_INPUT_FORMATS,
    IsoForm,
    contact_remarks,
    past_date_field,
)
from garnizon.portal.flows import ATTACHMENTS, Flow, Registration, Step
from garnizon.portal.models import EService

VIDEO_TYPES = {"video/mp4": "MP4", "video/x-msvideo": "AVI"}
MAX_VIDEO_MB = 25
PLACE = "miejsce"

TRAFFIC_SYMBOL = "WRD"
TRAFFIC_NAME = "ruchu drogowego"

# A Polish plate, loosely: 4–8 letters and digits, with at most one space (e.g. "LU 12345",
# "WPI 1A23", "LU1234A"); the exact series rules change too often to check here.
_PLATE = re.compile(r"\A[A-Z0-9]+( [A-Z0-9]+)?\Z")


def normalise_plate(value: str) -> str:
    return " ".join(value.upper().split())


def plate_is_valid(value: str) -> bool:
    plate = normalise_plate(value)
    letters = plate.replace(" ", "")
    return bool(_PLATE.match(plate)) and 4 <= len(letters) <= 8


def traffic_cell(unit: Unit) -> Cell | None:
    """The unit's traffic department (Wydział Ruchu Drogowego), or None."""
    return (
        Cell.objects.filter(unit=unit, is_active=True)
        .filter(Q(symbol__iexact=TRAFFIC_SYMBOL) | Q(name__icontains=TRAFFIC_NAME))
        .order_by("path", "id")
        .first()
    )


def _units() -> Any:
    # The regional HQ first (the default), then the commands by their seat town.
    return (
        Unit.objects.filter(is_active=True)
        .annotate(
            hq=Case(
                When(kind=UnitKind.REGIONAL_HQ, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        .order_by("hq", "seat", "name", "id")
    )


def _unit_label(unit: Unit) -> str:
    if unit.kind == UnitKind.REGIONAL_HQ:
        return str(_("Nie wiem – %(name)s (przekaże nagranie dalej)") % {"name": unit.name})
    return f"{unit.seat} – {unit.name}" if unit.seat else unit.name


class PlaceForm(forms.PortalForm):
    unit = djforms.ModelChoiceField(
        label=_("Na terenie której komendy było zdarzenie?"),
        queryset=Unit.objects.none(),
        empty_label=None,
        help_text=_(
            "Komendy są opisane miastem, w którym mają siedzibę; każda obejmuje swój powiat. "
            "Jeśli nie wiesz, zostaw Komendę Wojewódzką Policji w Lublinie: przekaże nagranie "
            "właściwej komendzie."
        ),
        error_messages={
            "required": _("Wybierz komendę, na której terenie było zdarzenie."),
            "invalid_choice": _("Wybierz komendę z listy."),
        },
    )
    town = djforms.CharField(
        label=_("Miejscowość"),
        max_length=200,
        error_messages={"required": _("Podaj miejscowość, w której było zdarzenie.")},
        widget=djforms.TextInput(attrs={"autocomplete": "off"}),
    )
    road = djforms.CharField(
        label=_("Ulica albo droga"),
        max_length=300,
        help_text=_("Na przykład „ul. Zana przy skrzyżowaniu z ul. Filaretów” albo „S17, km 12”."),
        error_messages={"required": _("Podaj ulicę albo drogę, np. S17 albo ul. Zana.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["unit"]
        field.queryset = _units()
        field.label_from_instance = _unit_label  # type: ignore[attr-defined]
        if not self.is_bound and not self.initial.get("unit"):
            regional = field.queryset.filter(kind=UnitKind.REGIONAL_HQ).first()
            if regional is not None:
                self.initial["unit"] = regional.pk


class EventForm(IsoForm):
    event_date = past_date_field(
        _("Data zdarzenia"),
        help_text=_("Na przykład 14.11.2026."),
        required=_("Podaj datę zdarzenia, np. 14.11.2026."),
        invalid=_("Podaj datę zdarzenia w postaci dzień.miesiąc.rok, np. 14.11.2026."),
    )
    event_time = djforms.TimeField(
        label=_("Godzina zdarzenia"),
        input_formats=TIME_INPUT_FORMATS,
        help_text=_("Na przykład 17:45. Może być przybliżona."),
        error_messages={
            "required": _("Podaj godzinę zdarzenia, np. 17:45."),
            "invalid": _("Podaj godzinę w postaci godzina:minuty, np. 17:45."),
        },
        widget=djforms.TextInput(attrs={"autocomplete": "off"}),
    )
    plate = djforms.CharField(
        label=_("Numer rejestracyjny pojazdu sprawcy"),
        max_length=20,
        help_text=_("Na przykład LU 12345."),
        error_messages={"required": _("Podaj numer rejestracyjny pojazdu, np. LU 12345.")},
        widget=djforms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    description = djforms.CharField(
        label=_("Co się stało?"),
        max_length=5000,
        help_text=_(
            "Opisz zachowanie kierowcy, np. jazda na zderzaku, zajechanie drogi, hamowanie "
            "przed Twoim pojazdem. Podaj, w której minucie nagrania to widać."
        ),
        widget=djforms.Textarea(attrs={"rows": 6}),
        error_messages={
            "required": _("Opisz, co się stało."),
            "max_length": _("Opis może mieć najwyżej %(limit_value)s znaków."),
        },
    )

    def clean_plate(self) -> str:
        value = self.cleaned_data["plate"]
        if not plate_is_valid(value):
            raise djforms.ValidationError(
                _(
                    "Podaj numer rejestracyjny: 4 do 8 liter i cyfr, najwyżej z jedną spacją, "
                    "np. LU 12345."
                )
            )
        return normalise_plate(value)


class ReporterForm(forms.PortalForm):
    name = djforms.CharField(
        label=_("Imię i nazwisko"),
        max_length=200,
        error_messages={"required": _("Podaj imię i nazwisko.")},
        widget=djforms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = djforms.EmailField(
        label=_("Adres e-mail"),
        max_length=254,
        help_text=_("Na ten adres Policja może napisać w sprawie nagrania."),
        error_messages={
            "required": _("Podaj adres e-mail."),
            "invalid": _("Podaj adres e-mail w poprawnym formacie, np. jan.kowalski@example.pl."),
        },
        widget=djforms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    phone = djforms.CharField(
        label=_("Numer telefonu"),
        max_length=30,
        help_text=_("Na przykład 600 100 200. Policjant może zadzwonić, żeby Cię przesłuchać."),
        error_messages={"required": _("Podaj numer telefonu, np. 600 100 200.")},
        widget=djforms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    author = djforms.BooleanField(
        label=_("Oświadczam, że jestem autorem tego nagrania i mogę je przekazać Policji"),
        help_text=_(
            "Nagranie może być dowodem w sprawie; możesz zostać wezwany lub wezwana jako świadek."
        ),
        error_messages={
            "required": _(
                "Zaznacz oświadczenie, że jesteś autorem nagrania. Nagranie kogoś innego "
                "powinien przesłać jego autor."
            )
        },
    )

    def clean_phone(self) -> str:
        value = " ".join(self.cleaned_data["phone"].split())
        digits = re.sub(r"\D", "", value)
        if not re.fullmatch(r"\+?[\d ()-]+", value) or not 9 <= len(digits) <= 15:
            raise djforms.ValidationError(
                _("Podaj numer telefonu: 9 cyfr, np. 600 100 200, albo z kierunkowym +48.")
            )
        return value


def validate(fields: dict[str, Any], attachments: list[dict[str, Any]]) -> None:
    if not any(a.get("mime") in VIDEO_TYPES for a in attachments):
        raise DomainError(
            str(
                _(
                    "Dodaj nagranie zdarzenia: plik MP4 albo AVI, do %(mb)s MB. Bez nagrania "
                    "zgłoszenia nie można wysłać."
                )
                % {"mb": MAX_VIDEO_MB}
            ),
            field="files",
        )


def unit_of(draft: dict[str, Any]) -> Unit | None:
    unit_id = draft["pages"].get(PLACE, {}).get("unit")
    if unit_id is None:
        return None
    return Unit.objects.filter(pk=unit_id, is_active=True).first()


def register(fields: dict[str, Any], unit: Unit) -> Registration:
    remarks = contact_remarks(fields)
    remarks.append(f"Telefon: {fields.get('phone')}")
    remarks.append(
        f"Zdarzenie: {fields.get('event_date')} godz. {fields.get('event_time')}, "
        f"{fields.get('town')}, {fields.get('road')}; pojazd {fields.get('plate')}."
    )
    remarks.append(
        "Zgłaszający oświadczył, że jest autorem nagrania." if fields.get("author") else ""
    )
    cell = traffic_cell(unit)
    if cell is None:
        remarks.append("Jednostka nie ma wydziału ruchu drogowego: skierować według właściwości.")
    return Registration(
        kind=DeadlineKind.NONE,
        subject=(
            f"Nagranie agresji drogowej: {fields.get('plate')}, {fields.get('town')}, "
            f"{fields.get('event_date')}"
        ),
        sender_name=str(fields["name"]),
        remarks=[remark for remark in remarks if remark],
        cell=cell,
        email=str(fields.get("email") or ""),
    )


class VideoForm(forms.AttachmentsForm):
    """The recording is required (the check page refuses a report without it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["files"].label = _("Dodaj nagranie (MP4 albo AVI, do 25 MB)")


FLOW = Flow(
    service=EService.ROAD_VIDEO,
    title=_("Prześlij nagranie agresji drogowej"),
    summary=_(
        "Nagranie niebezpiecznej jazdy innego kierowcy, np. z kamery samochodowej: plik MP4 "
        "albo AVI do 25 MB, z datą, miejscem i numerem rejestracyjnym. Trafia do wydziału "
        "ruchu drogowego właściwej komendy."
    ),
    what_next=_(
        "Nagranie trafiło do wydziału ruchu drogowego wybranej komendy. Policjanci je "
        "obejrzą i mogą się z Tobą skontaktować, żeby przesłuchać Cię jako świadka."
    ),
    register=register,
    validate=validate,
    unit_of=unit_of,
    attachment_types=VIDEO_TYPES,
    max_attachment_mb=MAX_VIDEO_MB,
    labels={
        "town": "Miejscowość",
        "road": "Ulica albo droga",
        "event_date": "Data zdarzenia",
        "event_time": "Godzina zdarzenia",
        "plate": "Numer rejestracyjny pojazdu sprawcy",
        "description": "Opis zdarzenia",
        "name": "Imię i nazwisko",
        "email": "E-mail",
        "phone": "Telefon",
        "author": "Oświadczenie, że jest autorem nagrania",
    },
    steps=[
        Step(PLACE, PlaceForm, _("Miejsce zdarzenia")),
        Step("zdarzenie", EventForm, _("Zdarzenie")),
        Step("zglaszajacy", ReporterForm, _("Twoje dane")),
        Step(ATTACHMENTS, VideoForm, _("Nagranie (MP4 albo AVI)")),
    ],
)
