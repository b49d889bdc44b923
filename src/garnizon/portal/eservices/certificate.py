"""A certificate about a road collision (zaświadczenie, KPA art. 217), issued within 7 days.

It costs 17 zł stamp duty (opłata skarbowa), paid to the municipality where the
unit has its seat; the proof of payment is attached (the filing is refused
without an attachment when "paid" is chosen). A filer exempt from the duty picks
the ground (or describes another one). The certificate goes back through the
portal as a PDF: the register remarks say so for the staff.
"""

from __future__ import annotations

from typing import Any

from django import forms as djforms
from django.utils.translation import gettext_lazy as _

from garnizon.cases.deadlines import DeadlineKind
from garnizon.common.errors import DomainError
from garnizon.org.models import Unit
from garnizon.portal import conf, forms
from garnizon.portal.eservices._common import (
    IsoForm,
    contact_remarks,
    past_date_field,
    unit_form,
)
from garnizon.portal.flows import ATTACHMENTS, Flow, Registration, Step
from garnizon.portal.models import EService

REPLY_REMARK = (
    "Zaświadczenie wydać w ciągu 7 dni (art. 217 § 3 KPA) i odesłać przez portal e-usług jako PDF."
)

FEE_PAID = "wniesiona"
FEE_EXEMPT = "zwolnienie"

OTHER = "inna"
#: Exemption grounds (ustawa z 16 listopada 2006 r. o opłacie skarbowej): value = what the
#: staff read, label = what the filer sees.
EXEMPTIONS = [
    (
        "pomoc społeczna z powodu ubóstwa (art. 7 pkt 2)",
        _(
            "Korzystam ze świadczeń pomocy społecznej z powodu ubóstwa (dołączę zaświadczenie "
            "z ośrodka pomocy społecznej)"
        ),
    ),
    (
        "sprawa ubezpieczenia społecznego lub zdrowotnego, renty (art. 2 ust. 1 pkt 1)",
        _(
            "Zaświadczenie jest potrzebne w sprawie ubezpieczenia społecznego, zdrowotnego "
            "albo renty"
        ),
    ),
    (
        "sprawa zatrudnienia lub wynagrodzenia za pracę (art. 2 ust. 1 pkt 1)",
        _("Zaświadczenie jest potrzebne w sprawie zatrudnienia albo wynagrodzenia za pracę"),
    ),
    (
        "sprawa alimentacyjna, opieki, kurateli lub przysposobienia (art. 2 ust. 1 pkt 1)",
        _("Zaświadczenie jest potrzebne w sprawie alimentacyjnej, opieki albo kurateli"),
    ),
    (OTHER, _("Inna podstawa zwolnienia (opiszę ją)")),
]
#: Grounds that need a document attached (the social-assistance certificate).
EXEMPTIONS_WITH_PROOF = {EXEMPTIONS[0][0]}

ROLES = [
    ("kierujący pojazdem", _("Kierowca pojazdu biorącego udział w zdarzeniu")),
    ("właściciel pojazdu", _("Właściciel pojazdu biorącego udział w zdarzeniu")),
    ("poszkodowany", _("Poszkodowany, np. pieszy albo pasażer")),
    ("pełnomocnik", _("Pełnomocnik uczestnika zdarzenia")),
]

PURPOSES = [
    ("ubezpieczyciel", _("Dla ubezpieczyciela (likwidacja szkody)")),
    ("sąd", _("Dla sądu")),
    ("pracodawca", _("Dla pracodawcy")),
    (OTHER, _("W innym celu (opiszę go)")),
]


def _exempt(answers: dict[str, Any]) -> bool:
    return answers.get("fee") == FEE_EXEMPT


def _exempt_other(answers: dict[str, Any]) -> bool:
    return _exempt(answers) and answers.get("exemption") == OTHER


def _purpose_other(answers: dict[str, Any]) -> bool:
    return answers.get("purpose") == OTHER


class ApplicantForm(forms.SenderForm):
    role = djforms.ChoiceField(
        label=_("Kim jesteś w tym zdarzeniu?"),
        choices=ROLES,
        widget=djforms.RadioSelect,
        help_text=_("Zaświadczenie dostaje uczestnik zdarzenia albo jego pełnomocnik."),
        error_messages={"required": _("Wybierz, kim jesteś w tym zdarzeniu.")},
    )


class CollisionForm(IsoForm):
    event_date = past_date_field(
        _("Data zdarzenia"),
        help_text=_("Na przykład 14.11.2026."),
        required=_("Podaj datę zdarzenia, np. 14.11.2026."),
        invalid=_("Podaj datę zdarzenia w postaci dzień.miesiąc.rok, np. 14.11.2026."),
    )
    place = djforms.CharField(
        label=_("Miejsce zdarzenia"),
        max_length=300,
        help_text=_("Miejscowość i ulica albo droga, np. „Lublin, al. Kraśnicka przy nr 100”."),
        error_messages={"required": _("Podaj miejsce zdarzenia, np. Lublin, al. Kraśnicka.")},
    )
    vehicles = djforms.CharField(
        label=_("Numery rejestracyjne pojazdów"),
        max_length=300,
        help_text=_("Wszystkich pojazdów biorących udział, oddzielone przecinkami."),
        error_messages={
            "required": _("Podaj numery rejestracyjne pojazdów, np. LU 12345, WA 6789K.")
        },
    )


class PurposeForm(forms.PortalForm):
    single_question = True
    purpose = djforms.ChoiceField(
        label=_("Do czego potrzebujesz zaświadczenia?"),
        choices=PURPOSES,
        widget=djforms.RadioSelect,
        error_messages={"required": _("Wybierz, do czego potrzebujesz zaświadczenia.")},
    )


class PurposeOtherForm(forms.PortalForm):
    single_question = True
    purpose_other = djforms.CharField(
        label=_("W jakim celu potrzebujesz zaświadczenia?"),
        max_length=300,
        help_text=_("Na przykład „dla banku, w sprawie kredytu na samochód”."),
        error_messages={"required": _("Opisz, do czego potrzebujesz zaświadczenia.")},
    )


class FeeForm(forms.PortalForm):
    fee = djforms.ChoiceField(
        label=_("Czy opłata skarbowa jest wniesiona?"),
        choices=[
            (FEE_PAID, _("Opłata jest wniesiona – dołączę potwierdzenie wpłaty")),
            (FEE_EXEMPT, _("Nie płacę – przysługuje mi zwolnienie z opłaty")),
        ],
        widget=djforms.RadioSelect,
        error_messages={"required": _("Wybierz, czy opłata została wniesiona.")},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        account = conf.fee_account()
        self.fields["fee"].help_text = (
            _(
                "Zaświadczenie kosztuje %(amount)s. Wpłać je przelewem na rachunek: %(recipient)s, "
                "nr %(account)s, w tytule „Opłata skarbowa – zaświadczenie o zdarzeniu drogowym”. "
                "Potwierdzenie przelewu dołączysz w kroku „Załączniki”."
            )
            % account
        )


class ExemptionForm(forms.PortalForm):
    single_question = True
    exemption = djforms.ChoiceField(
        label=_("Na jakiej podstawie nie płacisz opłaty?"),
        choices=EXEMPTIONS,
        widget=djforms.RadioSelect,
        error_messages={"required": _("Wybierz podstawę zwolnienia z opłaty.")},
    )


class ExemptionOtherForm(forms.PortalForm):
    single_question = True
    exemption_other = djforms.CharField(
        label=_("Jaka jest podstawa zwolnienia z opłaty?"),
        max_length=500,
        help_text=_("Podaj przepis i krótko uzasadnij, dlaczego Cię dotyczy."),
        widget=djforms.Textarea(attrs={"rows": 4}),
        error_messages={"required": _("Opisz podstawę zwolnienia z opłaty: przepis i powód.")},
    )


def validate(fields: dict[str, Any], attachments: list[dict[str, Any]]) -> None:
    if fields.get("fee") == FEE_PAID and not attachments:
        raise DomainError(
            str(
                _(
                    "Dołącz potwierdzenie wpłaty opłaty skarbowej (%(amount)s), np. PDF albo "
                    "zdjęcie potwierdzenia przelewu, albo wybierz zwolnienie z opłaty."
                )
                % {"amount": conf.CERTIFICATE_FEE}
            ),
            field="files",
        )
    if (
        fields.get("fee") == FEE_EXEMPT
        and fields.get("exemption") in EXEMPTIONS_WITH_PROOF
        and not attachments
    ):
        raise DomainError(
            str(
                _(
                    "Dołącz zaświadczenie o korzystaniu ze świadczeń pomocy społecznej z powodu "
                    "ubóstwa albo wybierz inną podstawę zwolnienia."
                )
            ),
            field="files",
        )


def register(fields: dict[str, Any], unit: Unit) -> Registration:
    remarks = contact_remarks(fields)
    remarks.append(REPLY_REMARK)
    if fields.get("fee") == FEE_PAID:
        remarks.append(
            f"Opłata skarbowa {conf.CERTIFICATE_FEE}: wniesiona, potwierdzenie w załączniku."
        )
    else:
        ground = fields.get("exemption") or ""
        if ground == OTHER:
            ground = f"inna: {fields.get('exemption_other')}"
        remarks.append(f"Zwolnienie z opłaty skarbowej: {ground}. Sprawdzić podstawę.")
    purpose = fields.get("purpose") or ""
    if purpose == OTHER:
        purpose = f"inny: {fields.get('purpose_other')}"
    remarks.append(f"Cel: {purpose}. Wnioskodawca: {fields.get('role')}.")
    return Registration(
        kind=DeadlineKind.CERTIFICATE,
        subject=(
            f"Wniosek o zaświadczenie o zdarzeniu drogowym z {_date_pl(fields.get('event_date'))}"
            f", {str(fields.get('place', '')).strip()}"
        ),
        sender_name=str(fields["name"]),
        remarks=remarks,
        email=str(fields.get("email") or ""),
    )


def _date_pl(value: Any) -> str:
    text = str(value or "")
    parts = text.split("-")
    return ".".join(reversed(parts)) if len(parts) == 3 else text


FLOW = Flow(
    service=EService.CERTIFICATE,
    title=_("Poproś o zaświadczenie o zdarzeniu drogowym"),
    summary=_(
        "Zaświadczenie o kolizji albo wypadku drogowym, np. dla ubezpieczyciela. Opłata "
        "skarbowa: 17 zł. Wydanie w ciągu 7 dni; zaświadczenie w PDF pobierzesz z portalu."
    ),
    what_next=_(
        "Wniosek trafił do rejestru przesyłek jednostki. Jednostka sprawdzi opłatę i w ciągu "
        "7 dni wyda zaświadczenie: pobierzesz je jako PDF pod linkiem do śledzenia sprawy."
    ),
    register=register,
    validate=validate,
    labels={
        "name": "Imię i nazwisko",
        "email": "E-mail",
        "address": "Adres do korespondencji",
        "role": "Wnioskodawca w zdarzeniu",
        "event_date": "Data zdarzenia",
        "place": "Miejsce zdarzenia",
        "vehicles": "Numery rejestracyjne pojazdów",
        "purpose": "Cel",
        "purpose_other": "Inny cel",
        "fee": "Opłata skarbowa",
        "exemption": "Podstawa zwolnienia z opłaty",
        "exemption_other": "Inna podstawa zwolnienia",
    },
    steps=[
        Step(
            "jednostka",
            unit_form(
                _("Która jednostka Policji obsługiwała zdarzenie?"),
                _(
                    "Zaświadczenie wydaje jednostka, której policjanci byli na miejscu. Jeśli "
                    "nie wiesz, wybierz Komendę Wojewódzką Policji w Lublinie: przekaże wniosek "
                    "dalej."
                ),
                _("Wybierz jednostkę Policji, która obsługiwała zdarzenie."),
            ),
            _("Jednostka"),
        ),
        Step("wnioskodawca", ApplicantForm, _("Twoje dane")),
        Step("zdarzenie", CollisionForm, _("Zdarzenie drogowe")),
        Step("cel", PurposeForm, _("Cel zaświadczenia")),
        Step("cel-inny", PurposeOtherForm, _("Inny cel"), when=_purpose_other),
        Step("oplata", FeeForm, _("Opłata skarbowa")),
        Step("zwolnienie", ExemptionForm, _("Zwolnienie z opłaty"), when=_exempt),
        Step(
            "zwolnienie-inne",
            ExemptionOtherForm,
            _("Inna podstawa zwolnienia"),
            when=_exempt_other,
        ),
        Step(ATTACHMENTS, forms.AttachmentsForm, _("Potwierdzenie wpłaty i inne załączniki")),
    ],
)
