"""Structured API errors: {"error": {"code", "message", "fields"}} for every failure.

- 400: input the serializers refuse, or a `DomainError` from a service;
  `fields` maps each input field to its messages (nested fields as "a.b");
- 401: no credentials or a bad token (with a `WWW-Authenticate: Token` header);
- 403: `AccessDenied`, the rules forbid it (also a session request without CSRF);
- 404: missing, or `NotVisible`: a hidden object answers exactly as a missing one;
- 405, 415, 429 as HTTP says; 500 with a generic message, the details in the log.

Messages are for people, in the request's language (Polish by default). The
body is JSON even where the endpoint itself speaks another format (the schema
in YAML).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from garnizon.common.errors import AccessDenied, DomainError, NotVisible

logger = logging.getLogger("garnizon.api")

NON_FIELD = "non_field_errors"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = _handle(exc, context)
    request = context.get("request")
    if response is not None and request is not None:
        renderer = getattr(request, "accepted_renderer", None)
        if renderer is None or not (
            "json" in renderer.media_type or isinstance(renderer, BrowsableAPIRenderer)
        ):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
    return response


def _handle(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, NotVisible):
        return error_response(
            status.HTTP_404_NOT_FOUND, "not_found", str(exc.message) or _("Nie znaleziono.")
        )
    if isinstance(exc, AccessDenied):
        return error_response(status.HTTP_403_FORBIDDEN, exc.code, str(exc.message))
    if isinstance(exc, DomainError):
        fields = {exc.field: [str(exc.message)]} if exc.field else {}
        return error_response(status.HTTP_400_BAD_REQUEST, exc.code, str(exc.message), fields)
    response = drf_exception_handler(exc, context)
    if response is None:
        return _server_error(exc)
    if isinstance(exc, exceptions.ValidationError):
        response.data = _body("invalid", _("Dane są niepoprawne."), _fields(exc.detail))
        return response
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
    code = getattr(detail, "code", None) or "error"
    message = str(detail)
    if isinstance(exc, exceptions.ParseError):
        code, message = "parse_error", _("Treść żądania nie jest poprawnym JSON-em.")
    elif isinstance(exc, exceptions.PermissionDenied) and message.startswith("CSRF Failed"):
        code, message = "csrf_failed", _("Brak albo niepoprawny token CSRF.")
    response.data = _body(code, message)
    return response


def _server_error(exc: Exception) -> Response | None:
    if settings.DEBUG:
        return None  # Django's debug page shows the traceback.
    logger.error("Unhandled error in the API", exc_info=exc)
    set_rollback()
    return error_response(
        status.HTTP_500_INTERNAL_SERVER_ERROR,
        "server_error",
        _("Wystąpił błąd serwera. Spróbuj ponownie później."),
    )


def _fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail flattened to {"field": [messages]} ("a.b", "items.0")."""
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = str(key) if not prefix else f"{prefix}.{key}"
            if key == NON_FIELD and prefix:
                name = prefix
            for field, messages in _fields(value, name).items():
                fields.setdefault(field, []).extend(messages)
        return fields
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or NON_FIELD: [str(item) for item in detail]}
        fields = {}
        for index, item in enumerate(detail):
            for field, messages in _fields(
                item, f"{prefix}.{index}" if prefix else str(index)
            ).items():
                fields.setdefault(field, []).extend(messages)
        return fields
    return {prefix or NON_FIELD: [str(detail)]}


def _body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def error_response(
    http_status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> Response:
    return Response(_body(code, message, fields), status=http_status)
