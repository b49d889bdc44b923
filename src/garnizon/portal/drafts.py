"""Removing files uploaded to portal drafts that were never filed.

`portal_attachment_store` puts each upload in the blob store at once (the draft
lives in the session), so a draft left behind leaves its files. Each upload
touches a marker `<blob root>/portal-drafts/<sha256>`; the scheduled job
`portal.draft_blobs` (`remove_stale_draft_blobs`) looks at markers older than
`GARNIZON_PORTAL_DRAFT_BLOB_HOURS` (default 24; a session lasts 8 hours):

- a blob that anything refers to (a filing, an addition, a document version or
  thumbnail, an intake item, any `*sha256` column) is kept
  and only its marker goes: it was filed, or a staff upload has the same content;
- an unreferenced blob is not deleted at once but moved to
  `portal-drafts/trash/`; the next run deletes it if still nothing refers to it,
  or puts it back if something now does. A staff upload of the same content
  that committed between the check and the move (the blob store writes files
  before the database row) thus gets its file back instead of losing it.

Only blobs with a marker are ever touched: nothing else in the store is a candidate.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Q

from garnizon.documents.blobstore import get_blob_store

log = logging.getLogger(__name__)

DEFAULT_HOURS = 24
MARKERS = "portal-drafts"


def _markers_dir() -> Path:
    return get_blob_store().root / MARKERS


def _trash_dir() -> Path:
    return _markers_dir() / "trash"


def mark_draft_blob(sha256: str) -> None:
    """Note (or renew) that a draft holds this blob; called for every portal upload."""
    directory = _markers_dir()
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / sha256
    marker.touch()
    os.utime(marker)  # an existing marker is renewed: the draft is in use again


def stale_after_seconds() -> float:
    return float(getattr(settings, "GARNIZON_PORTAL_DRAFT_BLOB_HOURS", DEFAULT_HOURS)) * 3600


def blob_is_referenced(sha256: str) -> bool:
    """Whether any stored record names this blob."""
    from garnizon.portal.models import Submission

    for model in apps.get_models():
        names = [
            f.name
            for f in model._meta.get_fields()
            if isinstance(f, models.CharField) and f.name.endswith("sha256") and f.concrete
        ]
        if names:
            condition = Q()
            for name in names:
                condition |= Q(**{name: sha256})
            if model._default_manager.filter(condition).exists():
                return True
    # A filing's attachment list is JSON; the filed form's text names each one's hash.
    # (A reply's files are document versions, found above.)
    return Submission.objects.filter(canonical_json__contains=sha256).exists()


def remove_stale_draft_blobs(now: float | None = None) -> str:
    """The scheduled job: empty the trash of the last run, then move stale draft blobs to it."""
    now = time.time() if now is None else now
    store = get_blob_store()
    deleted = restored = kept = trashed = 0
    trash = _trash_dir()
    if trash.exists():
        for entry in sorted(trash.iterdir()):
            sha256 = entry.name
            if blob_is_referenced(sha256):
                final = store.path(sha256)
                if final.exists():
                    entry.unlink()
                else:
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(entry, final)
                    log.warning("portal: draft blob %s is referenced again: restored", sha256)
                restored += 1
            else:
                entry.unlink()
                deleted += 1
    markers = _markers_dir()
    if markers.exists():
        cutoff = now - stale_after_seconds()
        for marker in sorted(markers.iterdir()):
            if not marker.is_file():
                continue
            with contextlib.suppress(FileNotFoundError):
                if marker.stat().st_mtime >= cutoff:
                    continue
                sha256 = marker.name
                if blob_is_referenced(sha256):
                    kept += 1
                elif store.exists(sha256):
                    trash.mkdir(parents=True, exist_ok=True)
                    os.replace(store.path(sha256), trash / sha256)
                    trashed += 1
                marker.unlink()
    return f"draft blobs: {deleted} deleted, {trashed} set aside, {restored} restored, {kept} filed"
