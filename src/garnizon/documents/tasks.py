"""Background tasks of documents (django.tasks; safe to run twice)."""

from __future__ import annotations

from django.tasks import task

from garnizon.documents.thumbnails import thumbnail_for_version_id


@task()
def make_thumbnail(version_id: int) -> str | None:
    """The thumbnail of one version (nothing when it exists or the format has none)."""
    return thumbnail_for_version_id(version_id)
