"""The REST API under /api/: thin views over the services and selectors.

Each view parses its input with a serializer, calls one service or selector
with the request's user as the actor, and serializes the result. Who may see
or do what is decided there, exactly as for the UI; failures become
{"error": ...} in `garnizon.api.errors`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, user_logged_in, user_logged_out
from django.db.models import Model, Prefetch, QuerySet, prefetch_related_objects
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle
from rest_framework.views import APIView

from garnizon.api.pagination import page_response, paged
from garnizon.api.serializers import (
    AssignmentSerializer,
    AssignSerializer,
    CaseAttachItemSerializer,
    CaseCreateSerializer,
    CaseDetailSerializer,
    CaseExtendSerializer,
    CaseKindSerializer,
    CaseListQuerySerializer,
    CaseListSerializer,
    CaseQuerySerializer,
    CaseSerializer,
    CaseShareCreateSerializer,
    CaseShareSerializer,
    CaseStateSerializer,
    CorrespondentCreateSerializer,
    CorrespondentQuerySerializer,
    CorrespondentSerializer,
    ErrorSerializer,
    IncomingItemCreateSerializer,
    IncomingItemDetailSerializer,
    IncomingItemSerializer,
    IncomingQuerySerializer,
    OutgoingItemCreateSerializer,
    OutgoingItemSerializer,
    OutgoingQuerySerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from garnizon.audit.services import audit_record
from garnizon.cases import services as case_services
from garnizon.cases.models import Assignment, Case, CaseShare
from garnizon.cases.selectors import CaseFilters, case_list, cases_page, cases_visible_to
from garnizon.common.errors import DomainError, NotVisible
from garnizon.common.paging import keyset_page
from garnizon.org.models import Person, Unit
from garnizon.registry import services as registry_services
from garnizon.registry.models import IncomingItem
from garnizon.registry.selectors import (
    IncomingFilters,
    correspondents_search,
    incoming_register_page,
    incoming_visible_to,
    outgoing_register_page,
    outgoing_visible_to,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
ITEM_NOT_VISIBLE = _("Nie ma takiej przesyłki albo nie masz do niej dostępu.")
CASE_NOT_VISIBLE = _("Nie ma takiej sprawy albo nie masz do niej dostępu.")

_ERROR_DESCRIPTIONS = {
    400: _("Niepoprawne dane albo operacja niezgodna z regułami (pola w error.fields)."),
    401: _("Brak albo niepoprawny token."),
    403: _("Brak uprawnień do tej operacji."),
    404: _("Nie ma takiego obiektu albo nie masz do niego dostępu."),
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(ErrorSerializer, description=str(_ERROR_DESCRIPTIONS[code]))
        for code in codes
    }


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=str(
        _(
            "Klucz idempotencji (do 64 znaków). Ponowienie z tym samym kluczem nie tworzy "
            "drugiego wpisu: zwraca 200 i wpis utworzony za pierwszym razem."
        )
    ),
)


def _created(serializer: type[serializers.Serializer], what: str) -> dict[int, Any]:
    return {
        201: OpenApiResponse(serializer, description=f"{what}."),
        200: OpenApiResponse(
            serializer,
            description=str(_("Ponowienie z tym samym kluczem: wpis utworzony wcześniej.")),
        ),
    }


# --- log-in tokens ------------------------------------------------------------------------


class TokenRequestThrottle(SimpleRateThrottle):
    """Password guessing through the token endpoint: a few tries a minute per address."""

    rate = "20/min"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return f"throttle_api_token_{self.get_ident(request)}"


class AuthTokenView(APIView):
    """POST: a token for a user name and password. DELETE: revoke the caller's token."""

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [AllowAny()]
        return super().get_permissions()

    def get_throttles(self) -> list[BaseThrottle]:
        if self.request.method == "POST":
            return [TokenRequestThrottle()]
        return []

    @extend_schema(
        tags=["auth"],
        summary="Token dostępu",
        request=TokenRequestSerializer,
        responses={200: TokenSerializer, **error_responses(400)},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = validated(TokenRequestSerializer, request.data, request)
        # authenticate() reports a failure to the audit trail (user_login_failed).
        user = authenticate(request._request, username=data["username"], password=data["password"])
        if user is None:
            raise DomainError(
                _("Nieprawidłowa nazwa użytkownika lub hasło."), code="invalid_credentials"
            )
        token, _new = Token.objects.get_or_create(user=user)
        user_logged_in.send(sender=type(user), request=request._request, user=user)
        return Response({"token": token.key})

    @extend_schema(
        tags=["auth"],
        summary="Unieważnienie tokenu",
        request=None,
        responses={204: None, **error_responses(401)},
    )
    def delete(self, request: Request) -> Response:
        deleted, _rows = Token.objects.filter(user=request.user).delete()
        if deleted:
            user_logged_out.send(
                sender=type(request.user), request=request._request, user=request.user
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- incoming register --------------------------------------------------------------------


@extend_schema(tags=["incoming"])
class IncomingViewSet(viewsets.ViewSet):
    lookup_value_converter = "int"

    @extend_schema(
        summary="Rejestr przesyłek wpływających",
        parameters=[IncomingQuerySerializer],
        responses={
            200: paged("IncomingItemPage", IncomingItemSerializer()),
            **error_responses(400, 401),
        },
    )
    def list(self, request: Request) -> Response:
        q = validated(IncomingQuerySerializer, request.query_params, request)
        filters = IncomingFilters(
            unit_id=_pk(q.get("unit")),
            year=q.get("year"),
            channel=q.get("channel", ""),
            kind=q.get("kind", ""),
            cell_id=_pk(q.get("cell")),
            person_id=_pk(q.get("person")),
            received_from=q.get("received_from"),
            received_to=q.get("received_to"),
            text=q["q"],
            without_case=q["without_case"],
            overdue=q["overdue"],
        )
        page = incoming_register_page(
            person=request.user, filters=filters, before_id=q.get("cursor"), limit=q["limit"]
        )
        prefetch_related_objects(page.rows, "sender")
        return page_response(page, IncomingItemSerializer, serializer_context(request))

    @extend_schema(
        summary="Rejestracja przesyłki wpływającej",
        request=IncomingItemCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            **_created(IncomingItemDetailSerializer, "Zarejestrowano przesyłkę"),
            **error_responses(400, 401, 403),
        },
    )
    def create(self, request: Request) -> Response:
        data = validated(IncomingItemCreateSerializer, request.data, request)
        token = _client_token(request, data)
        unit = data.pop("unit", None) or _own_unit(request.user)
        item = registry_services.incoming_item_register(
            actor=request.user, unit=unit, client_token=token, **data
        )
        return Response(
            _incoming_detail(request, item),
            status=_created_status(item),
        )

    @extend_schema(
        summary="Przesyłka wpływająca (odczyt zapisywany w dzienniku zdarzeń)",
        responses={200: IncomingItemDetailSerializer, **error_responses(401, 404)},
    )
    def retrieve(self, request: Request, pk: int) -> Response:
        item = registry_services.incoming_item_get_for_view(actor=request.user, item_id=pk)
        return Response(_incoming_detail(request, item))

    @extend_schema(
        summary="Dekretacja przesyłki",
        request=AssignSerializer,
        responses={201: AssignmentSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: int) -> Response:
        item = _visible(incoming_visible_to(request.user), pk, ITEM_NOT_VISIBLE)
        data = validated(AssignSerializer, request.data, request)
        assignment = case_services.assign(actor=request.user, incoming_item=item, **data)
        return Response(
            AssignmentSerializer(assignment, context=serializer_context(request)).data,
            status=status.HTTP_201_CREATED,
        )


# --- outgoing register --------------------------------------------------------------------


@extend_schema(tags=["outgoing"])
class OutgoingViewSet(viewsets.ViewSet):
    lookup_value_converter = "int"

    @extend_schema(
        summary="Rejestr przesyłek wychodzących",
        parameters=[OutgoingQuerySerializer],
        responses={
            200: paged("OutgoingItemPage", OutgoingItemSerializer()),
            **error_responses(400, 401),
        },
    )
    def list(self, request: Request) -> Response:
        q = validated(OutgoingQuerySerializer, request.query_params, request)
        page = outgoing_register_page(
            person=request.user,
            before_id=q.get("cursor"),
            limit=q["limit"],
            channel=q.get("channel", ""),
            text=q["q"],
            year=q.get("year"),
        )
        prefetch_related_objects(page.rows, "addressee", "registered_by")
        return page_response(page, OutgoingItemSerializer, serializer_context(request))

    @extend_schema(
        summary="Rejestracja wysyłki",
        request=OutgoingItemCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            **_created(OutgoingItemSerializer, "Zarejestrowano wysyłkę"),
            **error_responses(400, 401, 403),
        },
    )
    def create(self, request: Request) -> Response:
        data = validated(OutgoingItemCreateSerializer, request.data, request)
        token = _client_token(request, data)
        case: Case | None = data["case"]
        unit = data.pop("unit", None) or (case.unit if case else _own_unit(request.user))
        item = registry_services.outgoing_item_register(
            actor=request.user, unit=unit, client_token=token, **data
        )
        return Response(
            OutgoingItemSerializer(item, context=serializer_context(request)).data,
            status=_created_status(item),
        )

    @extend_schema(
        summary="Przesyłka wychodząca (odczyt zapisywany w dzienniku zdarzeń)",
        responses={200: OutgoingItemSerializer, **error_responses(401, 404)},
    )
    def retrieve(self, request: Request, pk: int) -> Response:
        item = registry_services.outgoing_item_get_for_view(actor=request.user, item_id=pk)
        return Response(OutgoingItemSerializer(item, context=serializer_context(request)).data)


# --- cases --------------------------------------------------------------------------------


@extend_schema(tags=["cases"])
class CaseViewSet(viewsets.ViewSet):
    lookup_value_converter = "int"

    @extend_schema(
        summary="Sprawy widoczne dla zalogowanej osoby",
        parameters=[CaseQuerySerializer],
        responses={200: paged("CasePage", CaseSerializer()), **error_responses(400, 401)},
    )
    def list(self, request: Request) -> Response:
        q = validated(CaseQuerySerializer, request.query_params, request)
        filters = CaseFilters(
            cell_id=_pk(q.get("cell")),
            classification_id=_pk(q.get("classification")),
            year=q.get("year"),
            state=q.get("state", ""),
            handler_id=_pk(q.get("handler")),
            text=q["q"],
            overdue=q["overdue"],
        )
        page = cases_page(
            person=request.user, filters=filters, before_id=q.get("cursor"), limit=q["limit"]
        )
        prefetch_related_objects(page.rows, "unit", "correspondent")
        return page_response(page, CaseSerializer, serializer_context(request))

    @extend_schema(
        summary="Założenie sprawy",
        request=CaseCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            **_created(CaseDetailSerializer, "Założono sprawę"),
            **error_responses(400, 401, 403),
        },
    )
    def create(self, request: Request) -> Response:
        data = validated(CaseCreateSerializer, request.data, request)
        token = _client_token(request, data)
        case = case_services.case_open(actor=request.user, client_token=token, **data)
        return Response(
            _case_detail(request, case),
            status=_created_status(case),
        )

    @extend_schema(
        summary="Sprawa z metryką, terminem i przesyłkami (odczyt zapisywany w dzienniku)",
        responses={200: CaseDetailSerializer, **error_responses(401, 404)},
    )
    def retrieve(self, request: Request, pk: int) -> Response:
        case = case_services.case_get_for_view(actor=request.user, case_id=pk)
        return Response(_case_detail(request, case))

    @extend_schema(
        summary="Dekretacja sprawy",
        request=AssignSerializer,
        responses={201: AssignmentSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: int) -> Response:
        case = _visible_case(request, pk)
        data = validated(AssignSerializer, request.data, request)
        assignment = case_services.assign(actor=request.user, case=case, **data)
        return Response(
            AssignmentSerializer(assignment, context=serializer_context(request)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Zmiana stanu sprawy (zawieszenie, podjęcie, zakończenie, wznowienie)",
        request=CaseStateSerializer,
        responses={200: CaseDetailSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def state(self, request: Request, pk: int) -> Response:
        case = _visible_case(request, pk)
        data = validated(CaseStateSerializer, request.data, request)
        case = case_services.case_change_state(
            actor=request.user, case=case, new_state=data["state"], reason=data["reason"]
        )
        return Response(_case_detail(request, case))

    @extend_schema(
        summary="Udostępnienie sprawy osobie albo komórce",
        request=CaseShareCreateSerializer,
        responses={201: CaseShareSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def share(self, request: Request, pk: int) -> Response:
        case = _visible_case(request, pk)
        data = validated(CaseShareCreateSerializer, request.data, request)
        share = case_services.case_share(actor=request.user, case=case, **data)
        return Response(
            CaseShareSerializer(share, context=serializer_context(request)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Zmiana rodzaju sprawy i przeliczenie terminu ustawowego",
        request=CaseKindSerializer,
        responses={200: CaseDetailSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def kind(self, request: Request, pk: int) -> Response:
        case = _visible_case(request, pk)
        data = validated(CaseKindSerializer, request.data, request)
        case = case_services.case_set_kind(actor=request.user, case=case, kind=data["kind"])
        return Response(_case_detail(request, case))

    @extend_schema(
        summary="Przedłużenie terminu (art. 36 KPA, art. 13 ust. 2 UDIP, sygnaliści)",
        request=CaseExtendSerializer,
        responses={200: CaseDetailSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"])
    def extend(self, request: Request, pk: int) -> Response:
        case = _visible_case(request, pk)
        data = validated(CaseExtendSerializer, request.data, request)
        case = case_services.case_extend_deadline(actor=request.user, case=case, **data)
        return Response(_case_detail(request, case))

    @extend_schema(
        summary="Dołączenie przesyłki wpływającej do sprawy",
        request=CaseAttachItemSerializer,
        responses={200: CaseDetailSerializer, **error_responses(400, 401, 403, 404)},
    )
    @action(detail=True, methods=["post"], url_path="attach-item")
    def attach_item(self, request: Request, pk: int) -> Response:
        case = _visible_case(request, pk)
        data = validated(CaseAttachItemSerializer, request.data, request)
        case_services.case_attach_item(
            actor=request.user, case=case, incoming_item=data["incoming_item"]
        )
        return Response(_case_detail(request, case))


class CaseListView(APIView):
    """The case list (spis spraw) of one cell, JRWA class and year, in number order."""

    @extend_schema(
        tags=["cases"],
        summary="Spis spraw",
        parameters=[CaseListQuerySerializer],
        responses={200: CaseListSerializer, **error_responses(400, 401)},
    )
    def get(self, request: Request) -> Response:
        q = validated(CaseListQuerySerializer, request.query_params, request)
        cell, classification, year = q["cell"], q["classification"], q["year"]
        rows = list(
            case_list(
                person=request.user,
                cell_id=cell.pk,
                classification_id=classification.pk,
                year=year,
            )
        )
        # The same entry as the UI's export: a case list is a register extract.
        designation = cell.designation(year)
        audit_record(
            actor=request.user,
            action="export",
            object_type="cases.caselist",
            object_id=f"{cell.pk}:{classification.symbol}:{year}",
            object_repr=f"{designation}.{classification.symbol} {year}",
            unit_id=cell.unit_id,
            details={"format": "json", "rows": len(rows)},
        )
        payload = {
            "cell": q["cell"],
            "classification": q["classification"],
            "year": q["year"],
            "results": rows,
        }
        return Response(CaseListSerializer(payload, context=serializer_context(request)).data)


# --- address book -------------------------------------------------------------------------


@extend_schema(tags=["correspondents"])
class CorrespondentViewSet(viewsets.ViewSet):
    lookup_value_converter = "int"

    @extend_schema(
        summary="Książka adresowa",
        parameters=[CorrespondentQuerySerializer],
        responses={
            200: paged("CorrespondentPage", CorrespondentSerializer()),
            **error_responses(400, 401),
        },
    )
    def list(self, request: Request) -> Response:
        q = validated(CorrespondentQuerySerializer, request.query_params, request)
        page = keyset_page(
            correspondents_search(query=q["q"]).select_related("unit"),
            before_id=q.get("cursor"),
            limit=q["limit"],
        )
        return page_response(page, CorrespondentSerializer, serializer_context(request))

    @extend_schema(
        summary="Dodanie kontrahenta do książki adresowej",
        request=CorrespondentCreateSerializer,
        responses={201: CorrespondentSerializer, **error_responses(400, 401, 403)},
    )
    def create(self, request: Request) -> Response:
        data = validated(CorrespondentCreateSerializer, request.data, request)
        correspondent = registry_services.correspondent_create(actor=request.user, **data)
        return Response(
            CorrespondentSerializer(correspondent, context=serializer_context(request)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Kontrahent",
        responses={200: CorrespondentSerializer, **error_responses(401, 404)},
    )
    def retrieve(self, request: Request, pk: int) -> Response:
        correspondent = correspondents_search().select_related("unit").filter(pk=pk).first()
        if correspondent is None:
            raise NotFound(_("Nie ma takiego kontrahenta w książce adresowej."))
        return Response(
            CorrespondentSerializer(correspondent, context=serializer_context(request)).data
        )


# --- anything else under /api/ ------------------------------------------------------------


@extend_schema(exclude=True)
class UnknownPathView(APIView):
    """A JSON 404 for paths the API does not have (after authentication, as everywhere)."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotFound(_("Nie ma takiego adresu w API. Adresy kończą się ukośnikiem „/”."))

    post = put = patch = delete = get


# --- helpers ------------------------------------------------------------------------------


def serializer_context(request: Request) -> dict[str, Any]:
    return {"request": request}


def validated(
    serializer_class: type[serializers.Serializer], data: Any, request: Request
) -> dict[str, Any]:
    serializer = serializer_class(data=data, context=serializer_context(request))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _pk(obj: Model | None) -> int | None:
    return obj.pk if obj is not None else None


def _visible[M: Model](queryset: QuerySet[M], pk: int, message: Any) -> M:
    """The object if the selector lets the caller see it; else 404, as if it did not exist."""
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise NotVisible(message)
    return obj


def _visible_case(request: Request, pk: int) -> Case:
    cases = cases_visible_to(request.user).select_related(
        "unit", "cell", "classification", "handler", "correspondent"
    )
    return _visible(cases, pk, CASE_NOT_VISIBLE)


def _own_unit(person: Person) -> Unit:
    if person.unit_id is None:
        raise DomainError(_("Wskaż jednostkę."), field="unit")
    return person.unit  # type: ignore[return-value]


def _client_token(request: Request, data: dict[str, Any]) -> str | None:
    """The idempotency key from the header or the `client_token` field (not both, unless equal)."""
    field_value = (data.pop("client_token", None) or "").strip()
    header = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if header and field_value and header != field_value:
        raise serializers.ValidationError(
            {"client_token": [_("Klucz różni się od nagłówka Idempotency-Key.")]}
        )
    if len(header) > 64:
        raise serializers.ValidationError(
            {IDEMPOTENCY_HEADER: [_("Klucz idempotencji może mieć najwyżej 64 znaki.")]}
        )
    return header or field_value or None


def _created_status(obj: object) -> int:
    """201 for a new entry, 200 when the service returned the one a retry had made."""
    return status.HTTP_200_OK if getattr(obj, "replayed", False) else status.HTTP_201_CREATED


def _incoming_detail(request: Request, item: IncomingItem) -> dict[str, Any]:
    prefetch_related_objects(
        [item],
        Prefetch(
            "assignments",
            queryset=Assignment.objects.select_related(
                "to_cell", "to_person", "assigned_by", "on_behalf_of"
            ),
        ),
    )
    return IncomingItemDetailSerializer(item, context=serializer_context(request)).data


def _case_detail(request: Request, case: Case) -> dict[str, Any]:
    """The case with what the caller may see of its letters, for the detail serializer."""
    case.visible_incoming_items = list(  # type: ignore[attr-defined]
        incoming_visible_to(request.user)
        .filter(case=case)
        .select_related("unit", "sender", "assigned_cell", "assigned_person", "case")
        .order_by("received_at", "id")
    )
    case.visible_outgoing_items = list(  # type: ignore[attr-defined]
        outgoing_visible_to(request.user)
        .filter(case=case)
        .select_related("unit", "case", "addressee", "registered_by")
        .order_by("sent_on", "id")
    )
    prefetch_related_objects(
        [case],
        "record",
        Prefetch(
            "assignments",
            queryset=Assignment.objects.select_related(
                "to_cell", "to_person", "assigned_by", "on_behalf_of"
            ),
        ),
        Prefetch(
            "shares",
            queryset=CaseShare.objects.select_related("person", "cell", "granted_by").order_by(
                "granted_at", "id"
            ),
        ),
    )
    return CaseDetailSerializer(case, context=serializer_context(request)).data
