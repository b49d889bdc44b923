"""The request context the audit trail records (address), set by middleware."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

remote_addr: ContextVar[str] = ContextVar("garnizon_remote_addr", default="")


@contextmanager
def remote_addr_set(address: str | None) -> Iterator[None]:
    """The audit trail records `address` inside the block (None: leave it as it is)."""
    if address is None:
        yield
        return
    token = remote_addr.set(address)
    try:
        yield
    finally:
        remote_addr.reset(token)
