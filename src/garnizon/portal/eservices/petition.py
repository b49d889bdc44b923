"""A petition (ustawa z 11 lipca 2014 r. o petycjach), considered within 3 months (art. 10).

A petition names its filer (a person, or an organisation with the person who
represents it), the filer's place of residence or seat and, filed electronically,
an e-mail address (art. 4 ust. 2); one filed in the interest of a third party
names that party too (art. 4 ust. 2). It may carry consent to publish
the filer's (and the third party's) name on the unit's website with the
petition (art. 4 ust. 3, art. 8): the filed fields keep that consent as
`publish_name` and `publish_third_party` (booleans) for whoever publishes it
(`Submission.published_at` / `published_text`).
"""

from __future__ import annotations

from typing import Any

from django import forms as djforms
from django.utils.translation import gettext_lazy as _

from garnizon.cases.deadlines import DeadlineKind
from garnizon.org.models import Unit
from garnizon.portal import forms
from garnizon.portal.eservices._common import contact_remarks, unit_form, yes_no
from garnizon.portal.flows import ATTACHMENTS, Flow, Registration, Step
from garnizon.portal.models import EService

PERSON = "osoba fizyczna"
ORGANISATION = "podmiot"


def _person(answers: dict[str, Any]) -> bool:
    return answers.get("filer_kind") == PERSON


def _organisation(answers: dict[str, Any]) -> bool:
    return answers.get("filer_kind") == ORGANISATION


def _third_party(answers: dict[str, Any]) -> bool:
    return answers.get("third_party") is True


def _email_field() -> djforms.EmailField:
    return djforms.EmailField(
        label=_("Adres e-mail"),
        max_length=254,
        help_text=_("Na ten adres przyjdzie zawiadomienie o sposobie załatwienia petycji."),
        error_messages={
            "required": _("Podaj adres e-mail: petycję złożoną przez internet wnosi się z nim."),
            "invalid": _("Podaj adres e-mail w poprawnym formacie, np. jan.kowalski@example.pl."),
        },
        widget=djforms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )


def _address_field() -> djforms.CharField:
    return djforms.CharField(
        label=_("Adres pocztowy (nieobowiązkowo)"),
        required=False,
        max_length=500,
        help_text=_("Podaj, jeśli chcesz dostać odpowiedź także listem."),
        widget=djforms.Textarea(attrs={"rows": 3, "autocomplete": "street-address"}),
    )


class FilerKindForm(forms.PortalForm):
    single_question = True
    filer_kind = djforms.ChoiceField(
        label=_("Kto składa petycję?"),
        choices=[
            (PERSON, _("Ja, we własnym imieniu")),
            (
                ORGANISATION,
                _("Organizacja, firma, stowarzyszenie albo grupa osób, którą reprezentuję"),
            ),
        ],
        widget=djforms.RadioSelect,
        error_messages={"required": _("Wybierz, kto składa petycję.")},
    )


class PersonForm(forms.PortalForm):
    name = djforms.CharField(
        label=_("Imię i nazwisko"),
        max_length=200,
        error_messages={"required": _("Podaj imię i nazwisko.")},
        widget=djforms.TextInput(attrs={"autocomplete": "name"}),
    )
    residence = djforms.CharField(
        label=_("Miejsce zamieszkania"),
        max_length=200,
        help_text=_("Miejscowość, np. Puławy."),
        error_messages={"required": _("Podaj miejsce zamieszkania, np. Puławy.")},
        widget=djforms.TextInput(attrs={"autocomplete": "address-level2"}),
    )
    email = _email_field()
    address = _address_field()


class OrganisationForm(forms.PortalForm):
    name = djforms.CharField(
        label=_("Nazwa podmiotu"),
        max_length=300,
        help_text=_("Nazwa organizacji, firmy albo grupy, np. „Stowarzyszenie Bezpieczny Lublin”."),
        error_messages={"required": _("Podaj nazwę podmiotu, który składa petycję.")},
        widget=djforms.TextInput(attrs={"autocomplete": "organization"}),
    )
    residence = djforms.CharField(
        label=_("Siedziba"),
        max_length=200,
        help_text=_("Miejscowość, w której podmiot ma siedzibę."),
        error_messages={"required": _("Podaj siedzibę podmiotu, np. Lublin.")},
    )
    representative = djforms.CharField(
        label=_("Imię i nazwisko osoby reprezentującej podmiot"),
        max_length=200,
        error_messages={"required": _("Podaj imię i nazwisko osoby, która reprezentuje podmiot.")},
        widget=djforms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = _email_field()
    address = _address_field()


class PetitionContentForm(forms.PortalForm):
    subject = djforms.CharField(
        label=_("Czego dotyczy petycja?"),
        max_length=300,
        help_text=_("Krótko, np. „Patrole w parku Ludowym w godzinach wieczornych”."),
        error_messages={"required": _("Podaj, czego dotyczy petycja.")},
    )
    text = djforms.CharField(
        label=_("Treść petycji"),
        max_length=20000,
        help_text=_("Czego żądasz od Policji i dlaczego."),
        widget=djforms.Textarea(attrs={"rows": 10}),
        error_messages={
            "required": _("Wpisz treść petycji."),
            "max_length": _("Treść może mieć najwyżej %(limit_value)s znaków."),
        },
    )


class ThirdPartyQuestionForm(forms.PortalForm):
    single_question = True
    third_party = djforms.TypedChoiceField(
        label=_("Czy składasz petycję w interesie innej osoby albo podmiotu?"),
        choices=[
            ("no", _("Nie, we własnym interesie albo w interesie publicznym")),
            ("yes", _("Tak, w interesie innej osoby albo podmiotu")),
        ],
        coerce=lambda value: value == "yes",
        widget=djforms.RadioSelect,
        error_messages={"required": _("Wybierz, czy składasz petycję w czyimś interesie.")},
    )

    def serializable(self) -> dict[str, Any]:
        return {"third_party": bool(self.cleaned_data["third_party"])}


class ThirdPartyForm(forms.PortalForm):
    third_name = djforms.CharField(
        label=_("Imię i nazwisko albo nazwa"),
        max_length=300,
        error_messages={
            "required": _("Podaj imię i nazwisko albo nazwę osoby, w której interesie piszesz.")
        },
    )
    third_residence = djforms.CharField(
        label=_("Miejsce zamieszkania albo siedziba"),
        max_length=200,
        error_messages={"required": _("Podaj miejsce zamieszkania albo siedzibę, np. Chełm.")},
    )
    third_address = djforms.CharField(
        label=_("Adres do korespondencji"),
        max_length=500,
        widget=djforms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Podaj adres do korespondencji tej osoby albo podmiotu.")},
    )


class PublicationForm(forms.PortalForm):
    publish_name = djforms.BooleanField(
        label=_(
            "Zgadzam się na podanie na stronie internetowej jednostki, razem z petycją, mojego "
            "imienia i nazwiska albo nazwy podmiotu"
        ),
        required=False,
        help_text=_(
            "Jednostka publikuje każdą petycję na swojej stronie internetowej. Bez Twojej zgody "
            "opublikuje ją bez Twoich danych. Zgodę możesz pominąć."
        ),
    )


class ThirdPartyPublicationForm(forms.PortalForm):
    publish_third_party = djforms.BooleanField(
        label=_(
            "Osoba albo podmiot, w którego interesie składam petycję, zgadza się na podanie "
            "jego imienia i nazwiska albo nazwy na stronie internetowej jednostki"
        ),
        required=False,
        help_text=_("Zaznacz tylko wtedy, gdy masz taką zgodę."),
    )


def register(fields: dict[str, Any], unit: Unit) -> Registration:
    subject = str(fields.get("subject", "")).strip()
    name = str(fields.get("name") or "").strip()
    remarks = contact_remarks(fields)
    if fields.get("filer_kind") == ORGANISATION:
        representative = str(fields.get("representative") or "").strip()
        sender = f"{name} (reprezentuje: {representative})"
        remarks.append(f"Wnoszący: podmiot z siedzibą w {fields.get('residence')}.")
    else:
        sender = name
        remarks.append(f"Wnoszący: osoba fizyczna, zamieszkała w {fields.get('residence')}.")
    if fields.get("third_party"):
        remarks.append(
            "Petycja w interesie podmiotu trzeciego: "
            f"{fields.get('third_name')}, {fields.get('third_residence')}, "
            f"adres: {fields.get('third_address')}."
        )
    remarks.append(
        "Zgoda na ujawnienie danych wnoszącego na stronie internetowej "
        f"(art. 4 ust. 3 ustawy o petycjach): {yes_no(bool(fields.get('publish_name')))}."
    )
    if fields.get("third_party"):
        remarks.append(
            "Zgoda na ujawnienie danych podmiotu trzeciego: "
            f"{yes_no(bool(fields.get('publish_third_party')))}."
        )
    remarks.append("Petycję publikuje się niezwłocznie na stronie internetowej (art. 8 ust. 1).")
    return Registration(
        kind=DeadlineKind.PETITION,
        subject=f"Petycja: {subject}",
        sender_name=sender,
        remarks=remarks,
        email=str(fields.get("email") or ""),
    )


FLOW = Flow(
    service=EService.PETITION,
    title=_("Złóż petycję"),
    summary=_(
        "Petycja do Policji w interesie publicznym, własnym albo innej osoby, np. o zmianę "
        "sposobu działania. Może ją złożyć osoba albo organizacja. Rozpatrzenie w ciągu "
        "3 miesięcy; petycja jest publikowana na stronie internetowej."
    ),
    what_next=_(
        "Petycja trafiła do rejestru przesyłek jednostki. Jednostka opublikuje ją na swojej "
        "stronie internetowej (z Twoimi danymi tylko wtedy, gdy wyrażono na to zgodę) i w "
        "ciągu 3 miesięcy zawiadomi Cię e-mailem o sposobie jej załatwienia."
    ),
    register=register,
    labels={
        "filer_kind": "Wnoszący",
        "name": "Imię i nazwisko albo nazwa",
        "representative": "Osoba reprezentująca",
        "residence": "Miejsce zamieszkania albo siedziba",
        "email": "E-mail",
        "address": "Adres do korespondencji",
        "subject": "Przedmiot petycji",
        "text": "Treść petycji",
        "third_party": "W interesie podmiotu trzeciego",
        "third_name": "Podmiot trzeci",
        "third_residence": "Miejsce zamieszkania albo siedziba podmiotu trzeciego",
        "third_address": "Adres podmiotu trzeciego",
        "publish_name": "Zgoda na publikację danych wnoszącego (art. 4 ust. 3)",
        "publish_third_party": "Zgoda na publikację danych podmiotu trzeciego",
    },
    steps=[
        Step(
            "jednostka",
            unit_form(
                _("Do której jednostki Policji kierujesz petycję?"),
                _(
                    "Petycję rozpatruje komendant tej jednostki. Jeśli sprawa dotyczy całego "
                    "województwa albo nie wiesz, wybierz Komendę Wojewódzką Policji w Lublinie."
                ),
                _("Wybierz jednostkę Policji, do której kierujesz petycję."),
            ),
            _("Adresat petycji"),
        ),
        Step("wnoszacy", FilerKindForm, _("Kto składa petycję")),
        Step("dane", PersonForm, _("Twoje dane"), when=_person),
        Step("podmiot", OrganisationForm, _("Dane podmiotu"), when=_organisation),
        Step("tresc", PetitionContentForm, _("Treść petycji")),
        Step("interes", ThirdPartyQuestionForm, _("W czyim interesie")),
        Step(
            "podmiot-trzeci",
            ThirdPartyForm,
            _("Osoba albo podmiot, w którego interesie piszesz"),
            when=_third_party,
        ),
        Step("publikacja", PublicationForm, _("Zgoda na publikację danych")),
        Step(
            "publikacja-podmiotu",
            ThirdPartyPublicationForm,
            _("Zgoda na publikację danych podmiotu trzeciego"),
            when=_third_party,
        ),
        Step(ATTACHMENTS, forms.AttachmentsForm, _("Załączniki")),
    ],
)
