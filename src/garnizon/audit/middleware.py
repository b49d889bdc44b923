from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from garnizon.audit import context


class AuditContextMiddleware:
    """Makes the client's address available to the audit trail for this request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with context.remote_addr_set(request.META.get("REMOTE_ADDR", "")):
            return self.get_response(request)
