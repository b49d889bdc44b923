"""Documents in the REST API: list and upload on a case or item, versions, download.

Thin views over `garnizon.documents.services` and `.selectors`, as the UI uses
them: who sees a document follows its case or item (404 otherwise), who may add
one is decided by the services (403 for those who only read), every upload is
an audit `create` and every download a `view`. Kept apart from `api/views.py`
so that module does not keep growing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponseBase
from django.urls import reverse
from django.utils.translation import gettext as gettext_now
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from garnizon.api.errors import error_response
from garnizon.api.serializers import EnumField, ErrorSerializer, ObjectRefField, OptionalTextField
from garnizon.api.views import (
    CASE_NOT_VISIBLE,
    ITEM_NOT_VISIBLE,
    error_responses,
    serializer_context,
    validated,
)
from garnizon.cases.selectors import cases_visible_to
from garnizon.common.errors import DomainError, NotVisible
from garnizon.documents import services
from garnizon.documents.blobstore import BlobEmpty, BlobError, BlobTooLarge
from garnizon.documents.models import Document, DocumentKind, DocumentVersion
from garnizon.documents.selectors import documents_visible_to
from garnizon.documents.views import file_response
from garnizon.org.access import Scope
from garnizon.registry.selectors import incoming_visible_to, outgoing_visible_to

logger = logging.getLogger("garnizon.api")

OUTGOING_NOT_VISIBLE = _("Nie ma takiej przesyłki albo nie masz do niej dostępu.")

# URL segment: (service keyword, selector of visible objects, message when not visible)
TARGETS = {
    "cases": ("case", cases_visible_to, CASE_NOT_VISIBLE),
    "incoming": ("incoming_item", incoming_visible_to, ITEM_NOT_VISIBLE),
    "outgoing": ("outgoing_item", outgoing_visible_to, OUTGOING_NOT_VISIBLE),
}


# --- serializers ----------------------------------------------------------------------------


class DocumentVersionSerializer(serializers.ModelSerializer):
    """One stored rendition; the type is detected from the content, not the name."""

    sha256 = serializers.CharField(source="blob_sha256", read_only=True)
    created_by = ObjectRefField()
    on_behalf_of = ObjectRefField(allow_null=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = DocumentVersion
        fields = [
            "id",
            "number",
            "size",
            "sha256",
            "mime_type",
            "original_filename",
            "created_by",
            "on_behalf_of",
            "created_at",
            "download_url",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_download_url(self, version: DocumentVersion) -> str:
        url = reverse("api:document-version-download", kwargs={"pk": version.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class DocumentSerializer(serializers.ModelSerializer):
    kind = EnumField(DocumentKind, read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    description = OptionalTextField()
    case = ObjectRefField(allow_null=True)
    incoming_item = ObjectRefField(allow_null=True)
    outgoing_item = ObjectRefField(allow_null=True)
    created_by = ObjectRefField()
    metadata = serializers.DictField(
        read_only=True,
        help_text=_(
            "Metadane dokumentu wg rozporządzenia z 2006 r. (identyfikator, twórca, tytuł, "
            "data, format, dostęp, typ, relacja, grupowanie, kwalifikacja, język…)."
        ),
    )
    versions = DocumentVersionSerializer(many=True, read_only=True)

    class Meta:
        model = Document
        fields = [
            "id",
            "identifier",
            "title",
            "kind",
            "kind_label",
            "description",
            "is_restricted",
            "case",
            "incoming_item",
            "outgoing_item",
            "created_by",
            "created_at",
            "metadata",
            "versions",
        ]
        read_only_fields = fields


class DocumentListSerializer(serializers.Serializer):
    results = DocumentSerializer(many=True, read_only=True)


@extend_schema_field(OpenApiTypes.BINARY)
class UploadField(serializers.FileField):
    """A file part of a multipart form. Empty files pass here: the service refuses
    them, after checking who may add (so a reader gets 403, not 400)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_empty_file", True)
        kwargs.setdefault("use_url", False)
        super().__init__(**kwargs)


class DocumentUploadSerializer(serializers.Serializer):
    file = UploadField()
    title = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=500,
        help_text=_("Domyślnie nazwa pliku bez rozszerzenia."),
    )
    kind = EnumField(DocumentKind, required=False, default=DocumentKind.ATTACHMENT)


class VersionUploadSerializer(serializers.Serializer):
    file = UploadField()


# --- views ----------------------------------------------------------------------------------

_NOT_A_DOCUMENT = _("Nie ma takiego dokumentu albo nie masz do niego dostępu.")
_UNAVAILABLE = {
    503: OpenApiResponse(
        ErrorSerializer, description=str(_("Plik jest niedostępny albo uszkodzony."))
    ),
}


def _documents(request: Request) -> QuerySet[Document]:
    return (
        documents_visible_to(request.user)
        .select_related("created_by", "case", "incoming_item", "outgoing_item")
        .prefetch_related(
            Prefetch(
                "versions",
                queryset=DocumentVersion.objects.select_related(
                    "created_by", "on_behalf_of"
                ).order_by("number"),
            )
        )
        .order_by("id")
    )


def _document_data(request: Request, document_id: int) -> dict[str, Any]:
    document = _documents(request).filter(pk=document_id).first()
    if document is None:
        raise NotVisible(_NOT_A_DOCUMENT)
    return DocumentSerializer(document, context=serializer_context(request)).data


def _upload(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    """The parsed form; a file the upload handler cut off while streaming is a 400."""
    data = request.data  # parsing runs the upload handlers, which set the flag
    if getattr(request._request, "garnizon_upload_too_large", False):
        raise DomainError(
            gettext_now("Plik jest za duży: największy dopuszczalny rozmiar to %(mb)s MB.")
            % {"mb": settings.GARNIZON_MAX_UPLOAD_MB},
            code="too_large",
            field="file",
        )
    return validated(serializer_class, data, request)


@contextmanager
def _file_errors_on_the_file_field() -> Iterator[None]:
    """The blob store's refusals (empty, too large) name the `file` field."""
    try:
        yield
    except (BlobEmpty, BlobTooLarge) as exc:
        raise DomainError(exc.message, code=exc.code, field="file") from exc


@extend_schema(tags=["documents"])
class ObjectDocumentsView(APIView):
    """GET: the documents of a case or item the caller sees. POST: upload one (multipart)."""

    target = "cases"
    parser_classes = [MultiPartParser]

    def _object(self, request: Request, pk: int) -> Any:
        _field, visible_to, not_visible = TARGETS[self.target]
        scope = Scope.for_person(request.user)
        obj = visible_to(request.user, scope=scope).filter(pk=pk).first()
        if obj is None:
            raise NotVisible(not_visible)
        return obj

    @extend_schema(
        summary="Dokumenty sprawy albo przesyłki",
        responses={200: DocumentListSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        obj = self._object(request, pk)
        field = TARGETS[self.target][0]
        documents = _documents(request).filter(**{field: obj})
        return Response(
            DocumentListSerializer({"results": documents}, context=serializer_context(request)).data
        )

    @extend_schema(
        summary="Dodanie dokumentu (multipart/form-data; zapisywane w dzienniku zdarzeń)",
        request={"multipart/form-data": DocumentUploadSerializer},
        responses={
            201: OpenApiResponse(DocumentSerializer, description="Dodano dokument."),
            **error_responses(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        obj = self._object(request, pk)
        data = _upload(request, DocumentUploadSerializer)
        with _file_errors_on_the_file_field():
            document = services.document_add(
                actor=request.user,
                file=data["file"],
                title=data["title"],
                kind=data["kind"],
                **{TARGETS[self.target][0]: obj},
            )
        return Response(_document_data(request, document.pk), status=status.HTTP_201_CREATED)


@extend_schema(tags=["documents"])
class DocumentView(APIView):
    @extend_schema(
        summary="Dokument z metadanymi i wersjami",
        responses={200: DocumentSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        document = services.document_get_for_view(actor=request.user, document_id=pk)
        return Response(_document_data(request, document.pk))


@extend_schema(tags=["documents"])
class DocumentVersionsView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Nowa wersja dokumentu (multipart/form-data; zapisywana w dzienniku zdarzeń)",
        request={"multipart/form-data": VersionUploadSerializer},
        responses={
            201: OpenApiResponse(DocumentVersionSerializer, description="Dodano wersję."),
            **error_responses(400, 401, 403, 404),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        document = services.document_get_for_view(actor=request.user, document_id=pk)
        data = _upload(request, VersionUploadSerializer)
        with _file_errors_on_the_file_field():
            version = services.document_add_version(
                actor=request.user, document=document, file=data["file"]
            )
        version = DocumentVersion.objects.select_related("created_by", "on_behalf_of").get(
            pk=version.pk
        )
        return Response(
            DocumentVersionSerializer(version, context=serializer_context(request)).data,
            status=status.HTTP_201_CREATED,
        )


class _AnyAccept(DefaultContentNegotiation):
    """A download answers with the file whatever `Accept` says (errors stay JSON)."""

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


@extend_schema(tags=["documents"])
class DocumentVersionDownloadView(APIView):
    content_negotiation_class = _AnyAccept

    @extend_schema(
        summary="Pobranie pliku wersji (sprawdzany skrót; zapisywane w dzienniku zdarzeń)",
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description=str(
                    _(
                        "Treść pliku (Content-Disposition: attachment, typ wykryty z treści). "
                        "Plik niezgodny ze skrótem przerywa transmisję na końcu."
                    )
                ),
            ),
            **error_responses(401, 404),
            **_UNAVAILABLE,
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponseBase:
        try:
            version, reader = services.document_version_open_for_read(
                actor=request.user, version_id=pk, purpose="download"
            )
        except BlobError:
            logger.exception("document version %s: blob unreadable", pk)
            return error_response(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "file_unavailable",
                gettext_now("Plik jest niedostępny albo uszkodzony. Zgłoś to administratorowi."),
            )
        return file_response(version, reader, inline=False)
