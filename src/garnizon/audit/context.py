"""The request context the audit trail records (address), set by middleware."""

from __future__ import annotations

from contextvars import ContextVar

remote_addr: ContextVar[str] = ContextVar("garnizon_remote_addr", default="")
