"""Structured API errors: {"error": {"code", "message", "fields"}} for every failure."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from garnizon.common.errors import AccessDenied, DomainError, NotVisible


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, NotVisible):
        return _error(status.HTTP_404_NOT_FOUND, "not_found", str(exc.message) or "Nie znaleziono.")
    if isinstance(exc, AccessDenied):
        return _error(status.HTTP_403_FORBIDDEN, exc.code, str(exc.message))
    if isinstance(exc, DomainError):
        fields = {exc.field: [str(exc.message)]} if exc.field else {}
        return _error(status.HTTP_400_BAD_REQUEST, exc.code, str(exc.message), fields)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        code = getattr(data["detail"], "code", "error")
        response.data = {"error": {"code": code, "message": str(data["detail"]), "fields": {}}}
    else:
        fields = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = {
            "error": {"code": "invalid", "message": "Dane są niepoprawne.", "fields": fields}
        }
    return response


def _error(
    http_status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> Response:
    return Response(
        {"error": {"code": code, "message": message, "fields": fields or {}}}, status=http_status
    )
