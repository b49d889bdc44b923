"""A threat-map report (as on the national KMZB map): place, category, description, photos.

The place is picked on a server-drawn map (no JavaScript) or typed: a town from
the offline gazetteer, or coordinates. The unit covering the point gets the
report (portal.geo), in its prevention department when it has one. Reports are
anonymous unless the filer gives an e-mail address. Before filing, the same
category's unresolved reports within 500 m from the last 30 days are shown, so
the filer can see it is already reported. No statutory deadline.
"""

from __future__ import annotations

from typing import Any

from django import forms as django_forms
from django.utils import translation
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from garnizon.cases.deadlines import DeadlineKind
from garnizon.common.errors import DomainError
from garnizon.org.models import Unit
from garnizon.portal import forms, geo
from garnizon.portal.eservices._common import PORTAL_REMARK
from garnizon.portal.flows import ATTACHMENTS, Flow, Registration, Step
from garnizon.portal.models import EService, Submission, ThreatCategory
from garnizon.portal.officers.mapwidget import OVERVIEW, ZOOM, MapField
from garnizon.portal.threats import (
    NEARBY_DAYS,
    NEARBY_RADIUS_M,
    prevention_cell,
    threat_report_create,
    threat_reports_nearby,
)

PHOTO_TYPES = {"image/jpeg": "JPG", "image/png": "PNG"}
PLACE = "miejsce"


def point_of(answers: dict[str, Any]) -> geo.Point | None:
    try:
        return geo.Point(float(answers["lat"]), float(answers["lon"]))
    except (KeyError, TypeError, ValueError):
        return None


class PlaceForm(forms.PortalForm):
    """Where: a click on the map (then a zoomed map to refine), a town, or coordinates."""

    takes_answers = True

    punkt = MapField(
        label=_("Wskaż miejsce na mapie"),
        help_text=_(
            "Kliknij na mapie okolicę zdarzenia; pokażemy powiększenie, na którym poprawisz "
            "punkt. Jeśli nie korzystasz z mapy, wpisz nazwę miejscowości albo współrzędne "
            "w polach poniżej."
        ),
    )
    miejsce = django_forms.CharField(
        label=_("Albo wpisz nazwę miejscowości"),
        required=False,
        max_length=100,
        help_text=_(
            "Np. Lublin, Kazimierz Dolny. Gdy kilka miejscowości ma tę samą nazwę, dopisz "
            "po przecinku powiat, np. „Adamów, łukowski”."
        ),
    )
    wspolrzedne = django_forms.CharField(
        label=_("Albo wpisz współrzędne"),
        required=False,
        max_length=60,
        help_text=_("Szerokość i długość geograficzna w stopniach, np. 51.2465, 22.5684."),
    )
    opis_miejsca = django_forms.CharField(
        label=_("Opisz dokładniej miejsce (nieobowiązkowo)"),
        required=False,
        max_length=200,
        help_text=_(
            "Ulica, numer domu, charakterystyczny punkt, np. „ul. Lipowa, przy przystanku”."
        ),
    )

    def __init__(self, *args: Any, answers: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers = answers or {}
        self.stay = False
        self.current = point_of(self.answers)
        self.level = int(self.answers.get("zoom") or 1)
        widget = self.fields["punkt"].widget
        widget.point, widget.level = self.current, self.level  # type: ignore[attr-defined]
        self.result: dict[str, Any] = {}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        clicks = data.get("punkt") or {}
        typed_place = (data.get("miejsce") or "").strip()
        typed_coords = (data.get("wspolrzedne") or "").strip()
        point: geo.Point | None = None
        level = 2
        source = ""
        if clicks.get(OVERVIEW):
            point, level, source = geo.overview_point(*clicks[OVERVIEW]), 1, "mapa"
            self.stay = True
        elif clicks.get(ZOOM) and self.current is not None:
            point = geo.zoom_point(self.current, self.level, *clicks[ZOOM])
            level, source = min(self.level + 1, geo.MAX_ZOOM), "mapa"
            self.stay = True
        elif typed_coords:
            point, source = geo.parse_coordinates(typed_coords), "wspolrzedne"
            if point is None:
                self.add_error(
                    "wspolrzedne",
                    _("Wpisz dwie liczby: szerokość i długość geograficzną, np. 51.2465, 22.5684."),
                )
                return data
        elif typed_place:
            point, source = self._place(typed_place), "miejsce"
            if point is None:
                return data
        elif self.current is not None:
            point, level = self.current, self.level
            source = str(self.answers.get("source") or "mapa")
        else:
            self.add_error(
                "miejsce",
                _("Wskaż miejsce na mapie albo wpisz nazwę miejscowości lub współrzędne."),
            )
            return data
        if not geo.in_voivodeship(point):
            field = {"wspolrzedne": "wspolrzedne", "miejsce": "miejsce"}.get(source, "punkt")
            self.add_error(
                field,
                _(
                    "To miejsce leży poza województwem lubelskim. Wskaż miejsce w województwie "
                    "albo zgłoś je na krajowej mapie zagrożeń."
                ),
            )
            self.stay = False
            return data
        near = geo.nearest_place(point)
        self.result = {
            "punkt": point.label(),
            "lat": round(point.lat, 6),
            "lon": round(point.lon, 6),
            "zoom": level,
            "source": source,
            "miejsce": typed_place if source == "miejsce" else "",
            "wspolrzedne": typed_coords if source == "wspolrzedne" else "",
            "opis_miejsca": (data.get("opis_miejsca") or "").strip(),
            "place": near.name,
        }
        return data

    def _place(self, text: str) -> geo.Point | None:
        found = geo.place_search(text)
        if not found:
            self.add_error(
                "miejsce",
                _(
                    "Nie znamy miejscowości „%(name)s”. Sprawdź pisownię, wpisz najbliższą "
                    "większą miejscowość albo wskaż miejsce na mapie."
                )
                % {"name": text},
            )
            return None
        if len(found) > 1:
            self.add_error(
                "miejsce",
                _("Jest kilka miejscowości o tej nazwie: %(names)s. Dopisz po przecinku powiat.")
                % {"names": "; ".join(p.label() for p in found)},
            )
            return None
        return found[0].point

    def serializable(self) -> dict[str, Any]:
        return dict(self.result)


class CategoryForm(forms.PortalForm):
    single_question = True
    category = django_forms.ChoiceField(
        label=_("Jakie zagrożenie chcesz zgłosić?"),
        choices=ThreatCategory.choices,
        widget=django_forms.RadioSelect,
        error_messages={"required": _("Wybierz rodzaj zagrożenia.")},
    )

    def serializable(self) -> dict[str, Any]:
        category = self.cleaned_data["category"]
        with translation.override("pl"):  # the register speaks Polish
            label = str(ThreatCategory(category).label)
        return {"category": category, "category_label": label}


def _nearby(answers: dict[str, Any]) -> list[Any]:
    point = point_of(answers)
    category = answers.get("category")
    if point is None or not category:
        return []
    return threat_reports_nearby(point=point, category=category)


def _has_nearby(answers: dict[str, Any]) -> bool:
    return bool(_nearby(answers))


class NearbyForm(forms.PortalForm):
    """Shown only when the same threat may already be reported nearby."""

    single_question = True
    takes_answers = True
    duplicate = django_forms.ChoiceField(
        label=_("To zagrożenie może być już zgłoszone"),
        choices=[
            ("same", _("To samo zagrożenie – zgłaszam je jeszcze raz, potwierdzając je")),
            ("other", _("To inne zagrożenie")),
        ],
        widget=django_forms.RadioSelect,
        error_messages={"required": _("Wybierz, czy to to samo zagrożenie, czy inne.")},
    )

    def __init__(self, *args: Any, answers: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reports = _nearby(answers or {})
        items = format_html_join(
            "",
            "<li>{}: {}, {} m {} ({} {}, {} {})</li>",
            (
                (
                    r.category_label,
                    r.place or _("bez opisu miejsca"),
                    r.distance_m,
                    _("od wskazanego punktu"),
                    _("zgłoszone"),
                    r.created_at.strftime("%d.%m.%Y"),
                    _("status:"),
                    r.status_label,
                )
                for r in reports
            ),
        )
        self.fields["duplicate"].help_text = format_html(
            '{}<ul class="p-list">{}</ul>{}',
            _(
                "W ciągu ostatnich %(days)s dni w promieniu %(radius)s m zgłoszono już "
                "zagrożenie tego samego rodzaju, które nie zostało jeszcze wyeliminowane:"
            )
            % {"days": NEARBY_DAYS, "radius": NEARBY_RADIUS_M},
            items,
            _(
                "Policja już o nim wie: nie musisz go zgłaszać. Jeśli chcesz, możesz je "
                "potwierdzić albo zgłosić inne zagrożenie."
            ),
        )


class DescriptionForm(forms.PortalForm):
    text = django_forms.CharField(
        label=_("Opisz zagrożenie"),
        max_length=5000,
        widget=django_forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "Co się dzieje, kiedy (np. w jakich godzinach) i czy się powtarza. Nie podawaj "
            "danych innych osób, jeśli nie są potrzebne."
        ),
        error_messages={
            "required": _("Opisz zagrożenie."),
            "max_length": _("Opis może mieć najwyżej %(limit_value)s znaków."),
        },
    )


class ThreatAnonymityForm(forms.PortalForm):
    single_question = True
    anonymous = django_forms.TypedChoiceField(
        label=_("Czy chcesz podać adres e-mail?"),
        choices=[
            ("yes", _("Nie, zgłaszam anonimowo")),
            ("no", _("Tak, podam adres e-mail")),
        ],
        coerce=lambda value: value == "yes",
        widget=django_forms.RadioSelect,
        help_text=_(
            "Zgłoszenie na mapie zagrożeń może być anonimowe. Po wysłaniu dostaniesz link do "
            "strony, na której sprawdzisz jego status. Z adresem e-mail Policja może też do "
            "Ciebie napisać."
        ),
        error_messages={"required": _("Wybierz, czy podajesz adres e-mail.")},
    )

    def serializable(self) -> dict[str, Any]:
        return {"anonymous": bool(self.cleaned_data["anonymous"])}


class ContactForm(forms.PortalForm):
    email = django_forms.EmailField(
        label=_("Adres e-mail"),
        max_length=254,
        error_messages={
            "required": _("Podaj adres e-mail."),
            "invalid": _("Podaj adres e-mail w poprawnym formacie, np. jan.kowalski@example.pl."),
        },
        widget=django_forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    name = django_forms.CharField(
        label=_("Imię i nazwisko (nieobowiązkowo)"),
        required=False,
        max_length=200,
        widget=django_forms.TextInput(attrs={"autocomplete": "name"}),
    )


def _named(answers: dict[str, Any]) -> bool:
    return answers.get("anonymous") is False


def unit_of(draft: dict[str, Any]) -> Unit | None:
    point = point_of(draft["pages"].get(PLACE, {}))
    return geo.unit_for(point) if point is not None else None


def register(fields: dict[str, Any], unit: Unit) -> Registration:
    label = fields.get("category_label") or fields.get("category", "")
    place = ", ".join(p for p in (fields.get("place"), fields.get("opis_miejsca")) if p)
    remarks = [
        PORTAL_REMARK,
        f"Zgłoszenie zagrożenia: {label}; punkt {fields.get('punkt')} ({place}).",
    ]
    if fields.get("duplicate") == "same":
        remarks.append("Zgłaszający potwierdza zagrożenie zgłoszone już w pobliżu.")
    anonymous = bool(fields.get("anonymous", True))
    email = "" if anonymous else str(fields.get("email") or "")
    if email:
        remarks.append(f"Kontakt: {email}")
    return Registration(
        kind=DeadlineKind.NONE,
        subject=f"Zgłoszenie zagrożenia: {label} – {place}"[:500],
        sender_name=(
            "brak danych (anonimowo)"
            if anonymous
            else str(fields.get("name") or "").strip() or email
        ),
        remarks=remarks,
        anonymous=anonymous,
        cell=prevention_cell(unit),
        email=email,
    )


def after_file(submission: Submission, fields: dict[str, Any]) -> None:
    point = point_of(fields)
    if point is None:
        raise DomainError(_("Wskaż miejsce zagrożenia."), field=PLACE)
    place = ", ".join(p for p in (fields.get("place"), fields.get("opis_miejsca")) if p)
    threat_report_create(
        submission=submission, category=fields["category"], point=point, place=place
    )


FLOW = Flow(
    service=EService.THREAT,
    title=_("Zgłoś zagrożenie na mapie"),
    summary=_(
        "Nielegalne parkowanie, dzikie wysypisko, niebezpieczne miejsce kąpieli i inne "
        "zagrożenia w Twojej okolicy. Wskaż miejsce na mapie albo wpisz miejscowość. Można "
        "zgłosić anonimowo."
    ),
    what_next=_(
        "Zgłoszenie trafiło do jednostki Policji właściwej dla wskazanego miejsca. Policjanci "
        "sprawdzą je; jego status (weryfikowane, potwierdzone, wyeliminowane) zobaczysz na "
        "stronie śledzenia."
    ),
    register=register,
    labels={
        "category_label": "Rodzaj zagrożenia",
        "punkt": "Współrzędne",
        "place": "Najbliższa miejscowość",
        "opis_miejsca": "Opis miejsca",
        "duplicate": "Podobne zgłoszenie w pobliżu",
        "text": "Opis zagrożenia",
        "anonymous": "Anonimowo",
        "name": "Imię i nazwisko",
        "email": "E-mail",
    },
    steps=[
        Step(PLACE, PlaceForm, _("Gdzie jest zagrożenie?")),
        Step("rodzaj", CategoryForm, _("Rodzaj zagrożenia")),
        Step("podobne", NearbyForm, _("Podobne zgłoszenia w pobliżu"), when=_has_nearby),
        Step("opis", DescriptionForm, _("Opis")),
        Step("anonimowosc", ThreatAnonymityForm, _("Twoje dane")),
        Step("kontakt", ContactForm, _("Adres e-mail"), when=_named),
        Step(ATTACHMENTS, forms.AttachmentsForm, _("Zdjęcia")),
    ],
    unit_of=unit_of,
    after_file=after_file,
    attachment_types=PHOTO_TYPES,
    max_attachment_mb=10,
    # A photo's EXIF (GPS, camera serial, owner) would identify an anonymous filer.
    strip_photo_metadata=True,
)
