"""What the API reads and writes: input checked field by field, output in one shape.

Input serializers only parse: types, lengths, choices, and whether a referenced
id exists (for cases and incoming items: whether it exists *for the caller*, so
a hidden object looks the same as a missing one). The rules of the office
(who may register, assign, close…) stay in the services.

Output follows three conventions:
- a reference to another object is {"id": 7, "label": "KWP-I-1"} (or null);
- a choice is its code plus a `*_label` in Polish;
- an unknown register value (empty in the register) is null; the UI shows
  "brak danych" for it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from garnizon.api.pagination import MAX_ID, PageQuerySerializer
from garnizon.cases.deadlines import DeadlineKind, deadline_status
from garnizon.cases.models import (
    Assignment,
    AssignmentMethod,
    Case,
    CaseRecordAction,
    CaseRecordEntry,
    CaseShare,
    CaseState,
)
from garnizon.cases.selectors import cases_visible_to
from garnizon.jrwa.models import Classification
from garnizon.org.models import Cell, Person, Unit
from garnizon.registry.models import (
    Channel,
    Correspondent,
    CorrespondentKind,
    IncomingItem,
    OutgoingItem,
)
from garnizon.registry.selectors import incoming_visible_to

DEADLINE_STATUSES = ["none", "ok", "due_soon", "overdue"]


# --- fields -------------------------------------------------------------------------------


class EnumField(serializers.ChoiceField):
    """A choice among a `TextChoices` class; the schema names it after the class."""

    def __init__(self, choices_class: type[models.TextChoices], **kwargs: Any) -> None:
        self.choices_class = choices_class
        super().__init__(choices=choices_class.choices, **kwargs)


class RefField(serializers.PrimaryKeyRelatedField):
    """An input id of an existing object; anything but a whole number is refused."""

    default_error_messages = {
        "does_not_exist": _("Nie ma obiektu o identyfikatorze {pk_value}."),
        "incorrect_type": _("Podaj identyfikator liczbowy."),
    }

    def __init__(self, *, not_found: str | None = None, **kwargs: Any) -> None:
        if not_found is not None:
            kwargs.setdefault("error_messages", {})["does_not_exist"] = not_found
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> models.Model:
        # PrimaryKeyRelatedField would take 5.5 for 5 and True for 1.
        if isinstance(data, str) and data.isascii() and data.isdigit():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        if not 1 <= data <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


class VisibleRefField(RefField):
    """An id among the objects the caller may see (a selector of the request's user)."""

    def __init__(self, *, visible: Callable[[Person], QuerySet[Any]], **kwargs: Any) -> None:
        self.visible = visible
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        return self.visible(self.context["request"].user)


class ObjectRefField(serializers.Field):
    """Output: a related object as {"id", "label"}; null when there is none."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value: models.Model) -> dict[str, Any]:
        return {"id": value.pk, "label": self._label(value)}

    def _label(self, value: models.Model) -> str:
        if not isinstance(value, Cell):
            return str(value)
        # A cell's designation walks up its parents; a page shows few cells many times.
        labels: dict[int, str] = self.context.setdefault("cell_labels", {})
        if value.pk not in labels:
            labels[value.pk] = value.default_designation()
        return labels[value.pk]


class OptionalTextField(serializers.CharField):
    """Output: text, or null when the register holds nothing ("brak danych")."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.update(read_only=True, allow_null=True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str | None:
        text = str(value)
        return text if text.strip() else None


EARLIEST = datetime.date(1990, 1, 1)
LATEST = datetime.date(2100, 12, 31)
DATE_RANGE_MESSAGE = _("Data musi mieścić się między 01.01.1990 a 31.12.2100.")


class BoundedDateField(serializers.DateField):
    """A date between 1990 and 2100: anything else is a typo, and year 1 would not
    even survive conversion to the local time zone."""

    def to_internal_value(self, value: Any) -> datetime.date:
        date = super().to_internal_value(value)
        if not EARLIEST <= date <= LATEST:
            raise serializers.ValidationError(DATE_RANGE_MESSAGE, code="date_range")
        return date


class BoundedDateTimeField(serializers.DateTimeField):
    """The same bounds for a date and time, checked before the time-zone conversion."""

    def to_internal_value(self, value: Any) -> datetime.datetime:
        if isinstance(value, str):
            from django.utils.dateparse import parse_datetime

            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
            if parsed is not None and not EARLIEST <= parsed.date() <= LATEST:
                raise serializers.ValidationError(DATE_RANGE_MESSAGE, code="date_range")
        return super().to_internal_value(value)


class RefSerializer(serializers.Serializer):
    """A reference to another object (schema only; see ObjectRefField)."""

    id = serializers.IntegerField()
    label = serializers.CharField()


class EnumFieldExtension(OpenApiSerializerFieldExtension):
    target_class = EnumField
    match_subclasses = True

    def get_name(self) -> str:
        return f"{self.target.choices_class.__name__}Enum"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        choices = self.target.choices_class
        return {
            "type": "string",
            "enum": list(choices.values),
            "description": "\n".join(f"* `{value}` – {label}" for value, label in choices.choices),
        }


class RefFieldExtension(OpenApiSerializerFieldExtension):
    target_class = RefField
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "integer", "minimum": 1}


class ObjectRefFieldExtension(OpenApiSerializerFieldExtension):
    target_class = ObjectRefField
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return auto_schema.resolve_serializer(RefSerializer, direction).ref


def _text(max_length: int | None = None, **kwargs: Any) -> serializers.CharField:
    """Optional input text; missing means empty."""
    return serializers.CharField(
        required=False, allow_blank=True, default="", max_length=max_length, **kwargs
    )


def _client_token() -> serializers.CharField:
    return serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        max_length=64,
        help_text=_(
            "Klucz idempotencji (albo nagłówek Idempotency-Key): ponowienie z tym samym "
            "kluczem zwraca wpis utworzony za pierwszym razem."
        ),
    )


def _cell_ref(**kwargs: Any) -> RefField:
    return RefField(
        queryset=Cell.objects.filter(is_active=True).select_related("unit"),
        not_found=_("Nie ma takiej komórki."),
        **kwargs,
    )


def _person_ref(**kwargs: Any) -> RefField:
    return RefField(
        queryset=Person.objects.filter(is_active=True),
        not_found=_("Nie ma takiej osoby."),
        **kwargs,
    )


def _unit_ref(**kwargs: Any) -> RefField:
    return RefField(
        queryset=Unit.objects.filter(is_active=True),
        not_found=_("Nie ma takiej jednostki."),
        **kwargs,
    )


def _correspondent_ref(**kwargs: Any) -> RefField:
    return RefField(
        queryset=Correspondent.objects.all(),
        not_found=_("Nie ma takiego kontrahenta w książce adresowej."),
        **kwargs,
    )


def _classification_ref(**kwargs: Any) -> RefField:
    return RefField(
        queryset=Classification.objects.select_related("scheme"),
        not_found=_("Nie ma takiej klasy JRWA."),
        **kwargs,
    )


def _visible_case_ref(**kwargs: Any) -> VisibleRefField:
    return VisibleRefField(
        visible=lambda person: cases_visible_to(person).select_related("unit", "cell"),
        not_found=_("Nie ma takiej sprawy albo nie masz do niej dostępu."),
        **kwargs,
    )


def _visible_item_ref(**kwargs: Any) -> VisibleRefField:
    return VisibleRefField(
        visible=incoming_visible_to,
        not_found=_("Nie ma takiej przesyłki albo nie masz do niej dostępu."),
        **kwargs,
    )


# --- output -------------------------------------------------------------------------------


class DeadlineSerializer(serializers.Serializer):
    """The due date, its legal basis and how it was counted."""

    due_date = serializers.DateField(allow_null=True, read_only=True)
    basis = OptionalTextField(source="deadline_basis")
    explanation = OptionalTextField(source="deadline_explanation")
    status = serializers.SerializerMethodField()

    @extend_schema_field({"type": "string", "enum": DEADLINE_STATUSES})
    def get_status(self, obj: IncomingItem | Case) -> str:
        return deadline_status(obj.due_date, timezone.localdate(), settings.GARNIZON_DUE_SOON_DAYS)


class AssignmentSerializer(serializers.ModelSerializer):
    to_cell = ObjectRefField()
    to_person = ObjectRefField(allow_null=True)
    method = EnumField(AssignmentMethod, read_only=True)
    method_label = serializers.CharField(source="get_method_display", read_only=True)
    note = OptionalTextField()
    assigned_by = ObjectRefField()
    on_behalf_of = ObjectRefField(allow_null=True)

    class Meta:
        model = Assignment
        fields = [
            "id",
            "to_cell",
            "to_person",
            "method",
            "method_label",
            "deadline",
            "note",
            "parent",
            "assigned_by",
            "on_behalf_of",
            "assigned_at",
            "is_current",
        ]
        read_only_fields = fields


class IncomingItemSerializer(serializers.ModelSerializer):
    """One line of the incoming register (RPW)."""

    unit = ObjectRefField()
    channel = EnumField(Channel, read_only=True)
    channel_label = serializers.CharField(source="get_channel_display", read_only=True)
    sender = ObjectRefField(allow_null=True)
    sender_name = OptionalTextField()
    letter_reference = OptionalTextField()
    kind = EnumField(DeadlineKind, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    deadline = DeadlineSerializer(source="*", read_only=True)
    assigned_cell = ObjectRefField(allow_null=True)
    assigned_person = ObjectRefField(allow_null=True)
    case = ObjectRefField(allow_null=True)

    class Meta:
        model = IncomingItem
        fields = [
            "id",
            "registration_number",
            "unit",
            "year",
            "number",
            "received_at",
            "channel",
            "channel_label",
            "subject",
            "sender",
            "sender_name",
            "letter_date",
            "letter_reference",
            "attachments_count",
            "kind",
            "kind_label",
            "deadline",
            "assigned_cell",
            "assigned_person",
            "case",
            "is_restricted",
        ]
        read_only_fields = fields


class IncomingItemDetailSerializer(IncomingItemSerializer):
    paper_location = OptionalTextField()
    remarks = OptionalTextField()
    registered_by = ObjectRefField()
    assignments = AssignmentSerializer(many=True, read_only=True)

    class Meta(IncomingItemSerializer.Meta):
        fields = [
            *IncomingItemSerializer.Meta.fields,
            "paper_location",
            "remarks",
            "registered_by",
            "registered_at",
            "assignments",
        ]
        read_only_fields = fields


class OutgoingItemSerializer(serializers.ModelSerializer):
    """One line of the outgoing register."""

    unit = ObjectRefField()
    case = ObjectRefField(allow_null=True)
    channel = EnumField(Channel, read_only=True)
    channel_label = serializers.CharField(source="get_channel_display", read_only=True)
    addressee = ObjectRefField(allow_null=True)
    address = OptionalTextField()
    edoreczenia_address = OptionalTextField()
    tracking_number = OptionalTextField()
    remarks = OptionalTextField()
    registered_by = ObjectRefField()

    class Meta:
        model = OutgoingItem
        fields = [
            "id",
            "registration_number",
            "unit",
            "year",
            "number",
            "case",
            "channel",
            "channel_label",
            "addressee",
            "addressee_name",
            "address",
            "edoreczenia_address",
            "subject",
            "sent_on",
            "priority",
            "registered_mail",
            "return_receipt",
            "tracking_number",
            "postage",
            "remarks",
            "registered_by",
            "registered_at",
        ]
        read_only_fields = fields


class CaseSerializer(serializers.ModelSerializer):
    """A case as lists show it."""

    unit = ObjectRefField()
    cell = ObjectRefField()
    classification = ObjectRefField()
    correspondent = ObjectRefField(allow_null=True)
    correspondent_name = OptionalTextField()
    state = EnumField(CaseState, read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    kind = EnumField(DeadlineKind, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    handler = ObjectRefField(allow_null=True)
    deadline = DeadlineSerializer(source="*", read_only=True)

    class Meta:
        model = Case
        fields = [
            "id",
            "sign",
            "unit",
            "cell",
            "classification",
            "year",
            "number",
            "subject",
            "correspondent",
            "correspondent_name",
            "state",
            "state_label",
            "kind",
            "kind_label",
            "handler",
            "opened_on",
            "closed_on",
            "deadline",
            "is_restricted",
        ]
        read_only_fields = fields


class CaseRecordEntrySerializer(serializers.ModelSerializer):
    """One line of the case record (metryka): names as they were at the time."""

    action = EnumField(CaseRecordAction, read_only=True)
    action_label = serializers.CharField(source="get_action_display", read_only=True)
    actor = serializers.SerializerMethodField()
    actor_position = OptionalTextField()
    on_behalf_of = serializers.SerializerMethodField()
    description = OptionalTextField()
    document_ref = OptionalTextField()

    class Meta:
        model = CaseRecordEntry
        fields = [
            "id",
            "occurred_at",
            "action",
            "action_label",
            "actor",
            "actor_position",
            "on_behalf_of",
            "description",
            "document_ref",
        ]
        read_only_fields = fields

    @extend_schema_field(RefSerializer)
    def get_actor(self, entry: CaseRecordEntry) -> dict[str, Any]:
        return {"id": entry.actor_id, "label": entry.actor_name}

    @extend_schema_field(RefSerializer(allow_null=True))
    def get_on_behalf_of(self, entry: CaseRecordEntry) -> dict[str, Any] | None:
        if entry.on_behalf_of_id is None:
            return None
        return {"id": entry.on_behalf_of_id, "label": entry.on_behalf_of_name}


class CaseShareSerializer(serializers.ModelSerializer):
    person = ObjectRefField(allow_null=True)
    cell = ObjectRefField(allow_null=True)
    granted_by = ObjectRefField()

    class Meta:
        model = CaseShare
        fields = ["id", "person", "cell", "valid_to", "granted_by", "granted_at"]
        read_only_fields = fields


class CaseDetailSerializer(CaseSerializer):
    """A case with its record, assignments, shares and the letters the caller may see."""

    remarks = OptionalTextField()
    created_by = ObjectRefField()
    record = CaseRecordEntrySerializer(many=True, read_only=True)
    assignments = AssignmentSerializer(many=True, read_only=True)
    shares = CaseShareSerializer(many=True, read_only=True)
    incoming_items = IncomingItemSerializer(
        source="visible_incoming_items", many=True, read_only=True
    )
    outgoing_items = OutgoingItemSerializer(
        source="visible_outgoing_items", many=True, read_only=True
    )

    class Meta(CaseSerializer.Meta):
        fields = [
            *CaseSerializer.Meta.fields,
            "remarks",
            "created_by",
            "created_at",
            "record",
            "assignments",
            "shares",
            "incoming_items",
            "outgoing_items",
        ]
        read_only_fields = fields


class CaseListRowSerializer(serializers.ModelSerializer):
    """One line of the case list (spis spraw)."""

    correspondent_name = OptionalTextField()
    state = EnumField(CaseState, read_only=True)
    state_label = serializers.CharField(source="get_state_display", read_only=True)
    handler = ObjectRefField(allow_null=True)
    remarks = OptionalTextField()

    class Meta:
        model = Case
        fields = [
            "id",
            "number",
            "sign",
            "subject",
            "correspondent_name",
            "opened_on",
            "closed_on",
            "state",
            "state_label",
            "handler",
            "remarks",
        ]
        read_only_fields = fields


class CaseListSerializer(serializers.Serializer):
    """The case list of one cell, JRWA class and year."""

    cell = ObjectRefField()
    classification = ObjectRefField()
    year = serializers.IntegerField(read_only=True)
    results = CaseListRowSerializer(many=True, read_only=True)


class CorrespondentSerializer(serializers.ModelSerializer):
    kind = EnumField(CorrespondentKind, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    street = OptionalTextField()
    postal_code = OptionalTextField()
    city = OptionalTextField()
    email = OptionalTextField()
    phone = OptionalTextField()
    edoreczenia_address = OptionalTextField()
    tax_id = OptionalTextField()
    address_line = OptionalTextField()
    unit = ObjectRefField(allow_null=True)

    class Meta:
        model = Correspondent
        fields = [
            "id",
            "kind",
            "kind_label",
            "name",
            "street",
            "postal_code",
            "city",
            "country",
            "address_line",
            "email",
            "phone",
            "edoreczenia_address",
            "tax_id",
            "unit",
            "created_at",
        ]
        read_only_fields = fields


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text=_("Kod błędu dla programu, np. invalid, forbidden."))
    message = serializers.CharField(help_text=_("Komunikat dla człowieka (po polsku)."))
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_("Błędy poszczególnych pól: nazwa pola → lista komunikatów."),
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


# --- input --------------------------------------------------------------------------------


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class IncomingItemCreateSerializer(serializers.Serializer):
    unit = _unit_ref(required=False, help_text=_("Domyślnie jednostka zalogowanej osoby."))
    subject = serializers.CharField(max_length=500)
    channel = EnumField(Channel)
    received_at = BoundedDateTimeField(
        required=False, allow_null=True, default=None, help_text=_("Domyślnie teraz.")
    )
    sender = _correspondent_ref(required=False, allow_null=True, default=None)
    sender_name = _text(300)
    letter_date = BoundedDateField(required=False, allow_null=True, default=None)
    letter_reference = _text(100)
    attachments_count = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=10000
    )
    kind = EnumField(DeadlineKind, required=False, default=DeadlineKind.NONE)
    assigned_cell = _cell_ref(required=False, allow_null=True, default=None)
    assigned_person = _person_ref(required=False, allow_null=True, default=None)
    paper_location = _text(200)
    remarks = _text(10000)
    is_restricted = serializers.BooleanField(required=False, default=False)
    client_token = _client_token()


class OutgoingItemCreateSerializer(serializers.Serializer):
    unit = _unit_ref(
        required=False, help_text=_("Domyślnie jednostka sprawy albo zalogowanej osoby.")
    )
    subject = serializers.CharField(max_length=500)
    channel = EnumField(Channel)
    addressee = _correspondent_ref(required=False, allow_null=True, default=None)
    addressee_name = _text(300, help_text=_("Domyślnie nazwa z książki adresowej."))
    address = _text(400)
    edoreczenia_address = _text(40)
    case = _visible_case_ref(required=False, allow_null=True, default=None)
    sent_on = BoundedDateField(required=False, allow_null=True, default=None)
    priority = serializers.BooleanField(required=False, default=False)
    registered_mail = serializers.BooleanField(required=False, default=False)
    return_receipt = serializers.BooleanField(required=False, default=False)
    tracking_number = _text(60)
    postage = serializers.DecimalField(
        max_digits=8, decimal_places=2, min_value=0, required=False, allow_null=True, default=None
    )
    remarks = _text(10000)
    client_token = _client_token()


class CaseCreateSerializer(serializers.Serializer):
    cell = _cell_ref()
    classification = _classification_ref()
    subject = _text(500, help_text=_("Domyślnie tytuł przesyłki, z której zakładana jest sprawa."))
    incoming_item = _visible_item_ref(required=False, allow_null=True, default=None)
    correspondent = _correspondent_ref(required=False, allow_null=True, default=None)
    kind = EnumField(
        DeadlineKind,
        required=False,
        allow_null=True,
        default=None,
        help_text=_("Domyślnie rodzaj przesyłki albo „bez terminu ustawowego”."),
    )
    handler = _person_ref(required=False, allow_null=True, default=None)
    opened_on = BoundedDateField(required=False, allow_null=True, default=None)
    remarks = _text(10000)
    client_token = _client_token()


class AssignSerializer(serializers.Serializer):
    to_cell = _cell_ref()
    to_person = _person_ref(required=False, allow_null=True, default=None)
    method = EnumField(AssignmentMethod, required=False, allow_null=True, default=None)
    deadline = BoundedDateField(required=False, allow_null=True, default=None)
    note = _text(10000)


class CaseStateSerializer(serializers.Serializer):
    state = EnumField(CaseState)
    reason = _text(2000)


class CaseShareCreateSerializer(serializers.Serializer):
    person = _person_ref(required=False, allow_null=True, default=None)
    cell = _cell_ref(required=False, allow_null=True, default=None)
    valid_to = BoundedDateField(required=False, allow_null=True, default=None)


class CaseKindSerializer(serializers.Serializer):
    kind = EnumField(DeadlineKind)


class CaseExtendSerializer(serializers.Serializer):
    new_due_date = BoundedDateField()
    reason = serializers.CharField(max_length=500, help_text=_("Przyczyna zwłoki."))


class CaseAttachItemSerializer(serializers.Serializer):
    incoming_item = _visible_item_ref()


class CorrespondentCreateSerializer(serializers.Serializer):
    kind = EnumField(CorrespondentKind)
    name = serializers.CharField(max_length=300)
    street = _text(200)
    postal_code = _text(12)
    city = _text(100)
    country = serializers.CharField(required=False, default="PL", min_length=2, max_length=2)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    phone = _text(40)
    edoreczenia_address = _text(40)
    tax_id = _text(20)


# --- query parameters ---------------------------------------------------------------------


def _year(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1900, max_value=9999, **kwargs)


class IncomingQuerySerializer(PageQuerySerializer):
    unit = RefField(queryset=Unit.objects.all(), required=False)
    year = _year(required=False)
    channel = EnumField(Channel, required=False)
    kind = EnumField(DeadlineKind, required=False)
    cell = RefField(queryset=Cell.objects.all(), required=False)
    person = RefField(queryset=Person.objects.all(), required=False)
    received_from = BoundedDateField(required=False)
    received_to = BoundedDateField(required=False)
    q = _text(200, help_text=_("Numer RPW, znak pisma albo słowa z tytułu lub nadawcy."))
    without_case = serializers.BooleanField(required=False, default=False)
    overdue = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start: datetime.date | None = attrs.get("received_from")
        end: datetime.date | None = attrs.get("received_to")
        if start and end and start > end:
            raise serializers.ValidationError(
                {"received_to": [_("Data końcowa nie może być wcześniejsza niż początkowa.")]}
            )
        return attrs


class OutgoingQuerySerializer(PageQuerySerializer):
    year = _year(required=False)
    channel = EnumField(Channel, required=False)
    q = _text(200, help_text=_("Numer, adresat albo słowa z tytułu."))


class CaseQuerySerializer(PageQuerySerializer):
    cell = RefField(queryset=Cell.objects.all(), required=False)
    classification = RefField(queryset=Classification.objects.all(), required=False)
    year = _year(required=False)
    state = EnumField(CaseState, required=False)
    handler = RefField(queryset=Person.objects.all(), required=False)
    q = _text(200, help_text=_("Znak sprawy albo słowa z tytułu lub nazwy kontrahenta."))
    overdue = serializers.BooleanField(required=False, default=False)


class CaseListQuerySerializer(serializers.Serializer):
    cell = RefField(queryset=Cell.objects.select_related("unit"))
    classification = RefField(queryset=Classification.objects.all())
    year = _year()


class CorrespondentQuerySerializer(PageQuerySerializer):
    q = _text(200, help_text=_("Nazwa, miejscowość, adres e-Doręczeń, e-mail albo NIP."))
