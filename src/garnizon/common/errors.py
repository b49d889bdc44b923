"""Errors the domain services raise; the UI and the API turn them into messages."""

from __future__ import annotations

from django.utils.functional import Promise


class DomainError(Exception):
    """A rule was broken by the caller's input. `message` is for a person (Polish)."""

    def __init__(self, message: str | Promise, *, code: str = "invalid", field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.code = code
        self.field = field


class AccessDenied(DomainError):
    """The actor may not do this (need-to-know or role)."""

    def __init__(self, message: str | Promise, *, code: str = "forbidden"):
        super().__init__(message, code=code)


class NotVisible(AccessDenied):
    """The object does not exist for this actor: shown as 404, never as 403."""

    def __init__(self, message: str | Promise = "", *, code: str = "not_found"):
        from django.utils.translation import gettext_lazy

        super().__init__(
            message or gettext_lazy("Nie znaleziono albo nie masz do tego dostępu."), code=code
        )
