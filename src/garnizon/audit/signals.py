"""Log-ins, log-outs and failed log-ins go into the audit trail.

Connected from `AuditConfig.ready()`. The address comes from the request
Django passes along (the middleware's context is empty outside a request,
e.g. for an API token check run elsewhere).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from garnizon.audit.models import AuditAction
from garnizon.audit.services import audit_record


def connect_login_signals() -> None:
    # dispatch_uid: ready() can run more than once (tests), one entry per event.
    user_logged_in.connect(record_login, dispatch_uid="garnizon.audit.login")
    user_logged_out.connect(record_logout, dispatch_uid="garnizon.audit.logout")
    user_login_failed.connect(record_login_failed, dispatch_uid="garnizon.audit.login_failed")


def record_login(sender: type, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action=AuditAction.LOGIN, obj=user, remote_addr=_remote_addr(request))


def record_logout(
    sender: type, request: HttpRequest | None, user: Any | None, **kwargs: Any
) -> None:
    # Django sends the signal also when nobody was logged in; nothing happened then.
    if user is None:
        return
    audit_record(actor=user, action=AuditAction.LOGOUT, obj=user, remote_addr=_remote_addr(request))


def record_login_failed(
    sender: str, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Records the username tried, and only that: never the password or other fields.

    When the username is an existing account, the entry points at it (and so
    at its unit), so an auditor sees attempts against that account.
    """
    person_model = get_user_model()
    username = str(credentials.get(person_model.USERNAME_FIELD) or "")[:150]
    target = person_model._default_manager.filter(**{person_model.USERNAME_FIELD: username})
    audit_record(
        actor=None,
        action=AuditAction.LOGIN_FAILED,
        obj=target.first() if username else None,
        details={"username": username},
        remote_addr=_remote_addr(request),
    )


def _remote_addr(request: HttpRequest | None) -> str | None:
    """The request's address, or None to fall back to the middleware's context."""
    if request is None:
        return None
    return str(request.META.get("REMOTE_ADDR", "")) or None
