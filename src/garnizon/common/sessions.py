"""Removing expired sessions (a scheduled job), whichever engine keeps them."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from django.conf import settings
from django.utils import timezone


def purge() -> str:
    """Drop the sessions past their expiry: rows in the database, files on one machine."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if settings.SESSION_ENGINE == "django.contrib.sessions.backends.file":
        # The engine names each session's file after the cookie and the key, in the
        # directory it read from the settings once per process. Only the files
        # present now are counted: sessions made meanwhile are not removals.
        directory = Path(store._get_storage_path())
        present = list(directory.glob(f"{settings.SESSION_COOKIE_NAME}*"))
        store.clear_expired()
        removed = sum(1 for path in present if not path.exists())
    else:
        from django.contrib.sessions.models import Session

        removed = Session.objects.filter(expire_date__lt=timezone.now()).count()
        store.clear_expired()
    return f"{removed} expired sessions removed"
