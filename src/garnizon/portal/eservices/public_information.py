"""A request for public information (wniosek o udostępnienie informacji publicznej, UDIP).

Anyone may ask and nobody has to say why (art. 2 ust. 1–2 UDIP); a name is not
required, but a way to deliver the answer is: the filer picks the form of
delivery and gives the contact it needs (an e-mail address for e-mail, a postal
address for post). 14 days (art. 13 ust. 1), which the unit may extend to two
months with a notice (art. 13 ust. 2); that extension is the staff's step.
"""

from __future__ import annotations

from typing import Any

from django import forms as djforms
from django.utils.translation import gettext_lazy as _

from garnizon.cases.deadlines import DeadlineKind
from garnizon.common.errors import DomainError
from garnizon.org.models import Unit
from garnizon.portal import forms
from garnizon.portal.eservices._common import contact_remarks, unit_form
from garnizon.portal.flows import ATTACHMENTS, Flow, Registration, Step
from garnizon.portal.models import EService

# The form of delivery (sposób udostępnienia) and the way of access (forma udostępnienia):
# the value is what the staff read in the filed text, the label what the filer sees.
DELIVERY_EMAIL = "e-mail"
DELIVERY_PORTAL = "portal"
DELIVERY_POST = "poczta"
DELIVERY_UNIT = "w jednostce"

ACCESS_FILES = "pliki elektroniczne"
ACCESS_PAPER = "kopia papierowa"
ACCESS_INSPECTION = "wgląd do dokumentów"

#: How the staff read each delivery in the register remarks.
DELIVERY_REMARKS = {
    DELIVERY_EMAIL: "Udostępnić pocztą elektroniczną na adres: {email}.",
    DELIVERY_PORTAL: "Udostępnić przez portal e-usług (wnioskodawca śledzi sprawę przez link).",
    DELIVERY_POST: "Przesłać pocztą na adres: {address}.",
    DELIVERY_UNIT: "Udostępnić w siedzibie jednostki (odbiór albo wgląd na miejscu).",
}

NO_NAME = "wnioskodawca nie podał imienia i nazwiska"


def delivery_problem(fields: dict[str, Any]) -> tuple[str, str] | None:
    """The field and message when the chosen delivery lacks its contact, else None."""
    delivery = fields.get("delivery")
    if delivery == DELIVERY_EMAIL and not str(fields.get("email") or "").strip():
        return "email", str(
            _(
                "Podaj adres e-mail, na który mamy wysłać informację, albo wybierz inny sposób "
                "udostępnienia."
            )
        )
    if delivery == DELIVERY_POST and not str(fields.get("address") or "").strip():
        return "address", str(
            _(
                "Podaj adres pocztowy, na który mamy wysłać informację, albo wybierz inny "
                "sposób udostępnienia."
            )
        )
    return None


class InformationForm(forms.PortalForm):
    subject = djforms.CharField(
        label=_("Czego dotyczy wniosek?"),
        max_length=300,
        help_text=_("Krótko, np. „Liczba kontroli drogowych w powiecie puławskim w 2025 r.”."),
        error_messages={"required": _("Podaj, czego dotyczy wniosek.")},
    )
    text = djforms.CharField(
        label=_("Jakiej informacji potrzebujesz?"),
        max_length=20000,
        help_text=_(
            "Opisz możliwie dokładnie, jakie dane albo dokumenty chcesz dostać i z jakiego "
            "okresu. Nie musisz pisać, do czego są Ci potrzebne."
        ),
        widget=djforms.Textarea(attrs={"rows": 8}),
        error_messages={
            "required": _("Opisz informację, której potrzebujesz."),
            "max_length": _("Treść może mieć najwyżej %(limit_value)s znaków."),
        },
    )


class AccessForm(forms.PortalForm):
    single_question = True
    access = djforms.ChoiceField(
        label=_("W jakiej postaci chcesz dostać informację?"),
        choices=[
            (ACCESS_FILES, _("Pliki elektroniczne, np. PDF albo skany dokumentów")),
            (ACCESS_PAPER, _("Kopia papierowa, np. wydruk albo kserokopia")),
            (ACCESS_INSPECTION, _("Wgląd do dokumentów: przejrzę je na miejscu w jednostce")),
        ],
        widget=djforms.RadioSelect,
        error_messages={"required": _("Wybierz, w jakiej postaci chcesz dostać informację.")},
    )


class DeliveryForm(forms.PortalForm):
    delivery = djforms.ChoiceField(
        label=_("Jak mamy udostępnić informację?"),
        choices=[
            (DELIVERY_EMAIL, _("E-mailem")),
            (DELIVERY_PORTAL, _("Przez ten portal: sprawdzisz ją pod linkiem do śledzenia")),
            (DELIVERY_POST, _("Pocztą na podany adres")),
            (DELIVERY_UNIT, _("Odbiorę albo przejrzę ją w jednostce Policji")),
        ],
        widget=djforms.RadioSelect,
        error_messages={"required": _("Wybierz, jak mamy udostępnić informację.")},
    )
    name = djforms.CharField(
        label=_("Imię i nazwisko albo nazwa (nieobowiązkowo)"),
        required=False,
        max_length=200,
        help_text=_("Nie musisz się przedstawiać, żeby dostać informację publiczną."),
        widget=djforms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = djforms.EmailField(
        label=_("Adres e-mail"),
        required=False,
        max_length=254,
        help_text=_(
            "Obowiązkowo, jeśli wybierasz e-mail. Pod ten adres wyślemy też informację o "
            "przedłużeniu terminu albo o odmowie."
        ),
        error_messages={
            "invalid": _("Podaj adres e-mail w poprawnym formacie, np. jan.kowalski@example.pl."),
        },
        widget=djforms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    address = djforms.CharField(
        label=_("Adres pocztowy"),
        required=False,
        max_length=500,
        help_text=_("Obowiązkowo, jeśli wybierasz pocztę."),
        widget=djforms.Textarea(attrs={"rows": 3, "autocomplete": "street-address"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        problem = delivery_problem(data)
        if problem is not None and problem[0] not in self.errors:
            self.add_error(*problem)
        return data


def validate(fields: dict[str, Any], attachments: list[dict[str, Any]]) -> None:
    problem = delivery_problem(fields)
    if problem is not None:
        raise DomainError(problem[1], field=problem[0])
    if fields.get("access") == ACCESS_INSPECTION and fields.get("delivery") != DELIVERY_UNIT:
        raise DomainError(
            str(
                _(
                    "Wgląd do dokumentów jest możliwy tylko w jednostce. Zmień sposób "
                    "udostępnienia na „Odbiorę albo przejrzę ją w jednostce Policji” albo "
                    "wybierz inną postać informacji."
                )
            ),
            field="delivery",
        )


def register(fields: dict[str, Any], unit: Unit) -> Registration:
    subject = str(fields.get("subject", "")).strip()
    name = str(fields.get("name") or "").strip()
    remarks = contact_remarks(fields)
    delivery = str(fields.get("delivery") or "")
    remarks.append(
        "Sposób udostępnienia: "
        + DELIVERY_REMARKS.get(delivery, delivery).format(
            email=fields.get("email") or "", address=fields.get("address") or ""
        )
    )
    remarks.append(f"Postać informacji: {fields.get('access') or 'nie wskazano'}.")
    remarks.append(
        "Termin 14 dni (art. 13 ust. 1 UDIP); przedłużenie do 2 miesięcy wymaga "
        "powiadomienia wnioskodawcy w ciągu 14 dni (art. 13 ust. 2), odmowa – decyzji (art. 16)."
    )
    return Registration(
        kind=DeadlineKind.PUBLIC_INFORMATION,
        subject=f"Wniosek o udostępnienie informacji publicznej: {subject}",
        sender_name=name or NO_NAME,
        remarks=remarks,
        email=str(fields.get("email") or ""),
    )


FLOW = Flow(
    service=EService.PUBLIC_INFORMATION,
    title=_("Poproś o informację publiczną"),
    summary=_(
        "Wniosek o udostępnienie informacji publicznej, np. danych, statystyk albo "
        "dokumentów jednostki. Nie musisz podawać nazwiska ani powodu. Odpowiedź w ciągu "
        "14 dni."
    ),
    what_next=_(
        "Wniosek trafił do rejestru przesyłek jednostki. Informację dostaniesz w wybrany sposób "
        "w ciągu 14 dni. Jeśli jednostka potrzebuje więcej czasu, w tym terminie napisze, "
        "dlaczego i do kiedy (najwyżej 2 miesiące)."
    ),
    register=register,
    validate=validate,
    labels={
        "subject": "Dotyczy",
        "text": "Wnioskowana informacja",
        "access": "Postać informacji",
        "delivery": "Sposób udostępnienia",
        "name": "Imię i nazwisko albo nazwa",
        "email": "E-mail",
        "address": "Adres do korespondencji",
    },
    steps=[
        Step(
            "jednostka",
            unit_form(
                _("Od której jednostki Policji chcesz dostać informację?"),
                _(
                    "Wybierz jednostkę, która ma tę informację. Jeśli nie wiesz, wybierz Komendę "
                    "Wojewódzką Policji w Lublinie: przekaże wniosek dalej albo wskaże, gdzie "
                    "informacja jest."
                ),
                _("Wybierz jednostkę Policji, od której chcesz dostać informację."),
            ),
            _("Jednostka"),
        ),
        Step("informacja", InformationForm, _("Informacja, której potrzebujesz")),
        Step("postac", AccessForm, _("Postać informacji")),
        Step("udostepnienie", DeliveryForm, _("Sposób udostępnienia")),
        Step(ATTACHMENTS, forms.AttachmentsForm, _("Załączniki")),
    ],
)
