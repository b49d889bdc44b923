"""The portal's question pages: one small form each, Polish messages a filer can act on."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from garnizon.org.models import Unit
from garnizon.portal import conf

HONEYPOT = "website"


def honeypot_message() -> str:
    """What a form with the honeypot filled in is refused with."""
    return _(
        "Nie przyjęliśmy formularza: wypełniono pole, którego ludzie nie widzą. Jeśli to "
        "pomyłka, wróć na stronę główną i wypełnij formularz jeszcze raz."
    )


class PortalForm(forms.Form):
    """A question page; `hints` holds each field's hint id for aria-describedby."""

    #: True on the page that asks only one question: its label is the page heading.
    single_question = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            described = []
            if field.help_text:
                described.append(f"id_{name}-hint")
            if described:
                field.widget.attrs["aria-describedby"] = " ".join(described)

    def full_clean(self) -> None:
        super().full_clean()
        # Mark invalid fields now that the errors are known (__init__ ran before).
        for name in list(self.errors):
            self._mark_invalid(name)

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        if field is not None:
            self._mark_invalid(field)

    def _mark_invalid(self, name: str) -> None:
        if name not in self.fields:
            return
        widget = self.fields[name].widget
        widget.attrs["aria-invalid"] = "true"
        ids = widget.attrs.get("aria-describedby", "").split()
        if f"id_{name}-error" not in ids:
            ids.insert(0, f"id_{name}-error")
        widget.attrs["aria-describedby"] = " ".join(ids)

    def anchor(self, name: str) -> str:
        """Where the error summary's link for `name` points (a radio group's first option)."""
        if isinstance(self.fields[name].widget, forms.RadioSelect):
            return f"id_{name}_0"
        return f"id_{name}"

    def serializable(self) -> dict[str, Any]:
        """Cleaned data as the session keeps it (a unit by its id)."""
        data = {}
        for name, value in self.cleaned_data.items():
            data[name] = value.pk if isinstance(value, Unit) else value
        return data


class PlainSelect(forms.Select):
    """Django's `<select>` markup, built in Python instead of one template per option.

    The same HTML as the template widget (a test compares them); the unit
    question, every service's first page, spent half its time rendering its
    22 options through templates.
    """

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (str(option["value"]), _attrs(option["attrs"]), option["label"])
                for _group, choices, _index in widget["optgroups"]
                for option in choices
            ),
        )
        return format_html(
            '<select name="{}"{}>{}</select>', widget["name"], _attrs(widget["attrs"]), options
        )


def _attrs(attrs: dict[str, Any]) -> SafeString:
    """As django/forms/widgets/attrs.html: in order, True as a bare name, False left out."""
    return format_html_join(
        "",
        "{}",
        (
            (format_html(" {}", name) if value is True else format_html(' {}="{}"', name, value),)
            for name, value in attrs.items()
            if value is not False
        ),
    )


def _text(label: str, **kwargs: Any) -> forms.CharField:
    return forms.CharField(label=label, **kwargs)


class UnitForm(PortalForm):
    single_question = True
    unit = forms.ModelChoiceField(
        label=_("Do której jednostki Policji piszesz?"),
        queryset=Unit.objects.filter(is_active=True).order_by("id"),
        widget=PlainSelect,
        empty_label=_("Wybierz jednostkę"),
        help_text=_(
            "Wybierz jednostkę właściwą dla miejsca sprawy. Jeśli nie wiesz, wybierz Komendę "
            "Wojewódzką Policji w Lublinie: przekaże pismo dalej."
        ),
        error_messages={
            "required": _("Wybierz jednostkę Policji, do której piszesz."),
            "invalid_choice": _("Wybierz jednostkę Policji z listy."),
        },
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["unit"]
        # The list shows (id, name) pairs read when it is drawn; the answer is still
        # checked against the queryset (an inactive or unknown unit is refused).
        field.widget.choices = _UnitChoices(field.empty_label)  # type: ignore[attr-defined]


class _UnitChoices:
    """The active units as (id, name), read lazily (no query unless the select is
    drawn) and once: the widget goes over its choices several times."""

    def __init__(self, empty_label: Any) -> None:
        self.empty_label = empty_label
        self._units: list[tuple[int, str]] | None = None

    def __iter__(self) -> Any:
        if self._units is None:
            self._units = list(
                Unit.objects.filter(is_active=True).order_by("id").values_list("pk", "name")
            )
        yield ("", self.empty_label)
        yield from self._units


class SenderForm(PortalForm):
    name = _text(
        _("Imię i nazwisko albo nazwa"),
        max_length=200,
        error_messages={"required": _("Podaj imię i nazwisko albo nazwę.")},
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label=_("Adres e-mail"),
        max_length=254,
        help_text=_("Na ten adres jednostka może wysłać odpowiedź."),
        error_messages={
            "required": _("Podaj adres e-mail."),
            "invalid": _("Podaj adres e-mail w poprawnym formacie, np. jan.kowalski@example.pl."),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )
    address = _text(
        _("Adres pocztowy (nieobowiązkowo)"),
        required=False,
        max_length=500,
        help_text=_("Podaj, jeśli chcesz dostać odpowiedź listem."),
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "street-address"}),
    )


class LetterForm(PortalForm):
    subject = _text(
        _("Czego dotyczy pismo?"),
        max_length=300,
        help_text=_("Krótko, np. „Prośba o kontakt dzielnicowego”."),
        error_messages={"required": _("Podaj, czego dotyczy pismo.")},
    )
    text = _text(
        _("Treść pisma"),
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 10}),
        error_messages={
            "required": _("Wpisz treść pisma."),
            "max_length": _("Treść może mieć najwyżej %(limit_value)s znaków."),
        },
    )


class ComplaintKindForm(PortalForm):
    single_question = True
    kind = forms.ChoiceField(
        label=_("Co chcesz złożyć?"),
        choices=[
            ("skarga", _("Skargę – na działanie albo zaniechanie Policji lub policjanta")),
            ("wniosek", _("Wniosek – propozycję, jak coś poprawić")),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": _("Wybierz, czy składasz skargę, czy wniosek.")},
    )


class ComplaintContentForm(PortalForm):
    subject = _text(
        _("Czego dotyczy skarga lub wniosek?"),
        max_length=300,
        help_text=_("Krótko, np. „Zachowanie policjanta podczas kontroli drogowej”."),
        error_messages={"required": _("Podaj, czego dotyczy skarga lub wniosek.")},
    )
    text = _text(
        _("Opisz sprawę"),
        max_length=20000,
        help_text=_("Co się stało, kiedy i gdzie; czego oczekujesz."),
        widget=forms.Textarea(attrs={"rows": 10}),
        error_messages={
            "required": _("Opisz sprawę."),
            "max_length": _("Treść może mieć najwyżej %(limit_value)s znaków."),
        },
    )


class AnonymityForm(PortalForm):
    single_question = True
    anonymous = forms.TypedChoiceField(
        label=_("Czy chcesz podać swoje dane?"),
        choices=[
            ("no", _("Tak, podam imię, nazwisko i adres e-mail")),
            ("yes", _("Nie, składam anonimowo")),
        ],
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect,
        help_text=_(
            "Skarga albo wniosek bez imienia, nazwiska i adresu wnoszącego zostaje przyjęty "
            "i oznaczony jako anonimowy, ale nie będzie rozpatrzony i nie dostaniesz odpowiedzi."
        ),
        error_messages={"required": _("Wybierz, czy podajesz swoje dane.")},
    )

    def serializable(self) -> dict[str, Any]:
        return {"anonymous": bool(self.cleaned_data["anonymous"])}


class FilerForm(SenderForm):
    is_mp = forms.BooleanField(
        label=_("Jestem posłem albo senatorem i składam skargę lub wniosek w tym charakterze"),
        required=False,
        help_text=_(
            "Skargę albo wniosek posła lub senatora rozpatruje się w 14 dni zamiast miesiąca."
        ),
    )


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class AttachmentsForm(PortalForm):
    """Only renders the file input: the view stores each file as it arrives."""

    files = forms.FileField(
        label=_("Dodaj załączniki (nieobowiązkowo)"),
        required=False,
        help_text="",
        widget=MultipleFileInput,
    )

    def __init__(
        self,
        *args: Any,
        types: dict[str, str] | None = None,
        max_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        names = ", ".join(dict.fromkeys((types or conf.ALLOWED_TYPES).values()))
        self.fields["files"].help_text = _(
            "%(types)s; każdy plik do %(mb)s MB; najwyżej %(count)s plików."
        ) % {
            "types": names,
            "mb": (max_bytes or conf.max_attachment_bytes()) // (1024 * 1024),
            "count": conf.max_attachments(),
        }
        self.fields["files"].widget.attrs["aria-describedby"] = "id_files-hint"
