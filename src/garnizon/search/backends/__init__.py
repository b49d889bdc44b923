"""Two full-text backends behind one interface, chosen by the database in use."""

from __future__ import annotations

from django.db import connection

from garnizon.search.backends.base import SearchBackend


def get_backend() -> SearchBackend:
    if connection.vendor == "postgresql":
        from garnizon.search.backends.postgresql import PostgresBackend

        return PostgresBackend()
    from garnizon.search.backends.sqlite import SqliteBackend

    return SqliteBackend()


__all__ = ["SearchBackend", "get_backend"]
