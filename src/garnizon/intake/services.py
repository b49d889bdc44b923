"""Entering files into the intake pipeline (every channel comes through here) and retrying.

`intake_add_file` stores the original in the blob store first (so nothing is
lost, whatever happens next), then writes the intake item, unique per
`(channel, source_key)` (for files: their SHA-256), then enqueues
`process_intake_item` or, with `run_now=True`, runs the pipeline inline.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext as _

from garnizon.common.errors import DomainError
from garnizon.documents.blobstore import CHUNK, get_blob_store, max_upload_size
from garnizon.documents.metadata import safe_filename
from garnizon.intake.models import IntakeItem, IntakeMode, IntakeState
from garnizon.org.access import Scope
from garnizon.org.models import Person, Unit
from garnizon.registry.models import Channel, IncomingItem


@dataclass(frozen=True)
class IntakeResult:
    item: IntakeItem
    created: bool


def intake_add_file(
    *,
    path: str | os.PathLike[str],
    unit: Unit,
    channel: str,
    requested_by: Person,
    source: str = "",
    filename: str | None = None,
    run_now: bool = False,
    source_key: str | None = None,
    mode: str = IntakeMode.REGISTER,
    parent: IntakeItem | None = None,
    incoming_item: IncomingItem | None = None,
) -> IntakeResult:
    """One file into the pipeline; the same file from the same channel a second time
    returns the first item (`created=False`) and is not processed again.

    `source_key` names the file's origin when its content is not enough (an
    e-mail's attachment: `imap:<mailbox>:<uidvalidity>:<uid>:<part>`); by default
    it is `sha256:<hash>`. `mode` is `register` (a new incoming item) or `match`
    (attach to the entry whose label the scan carries, else wait for a clerk).
    `parent` is the batch scan or message the file came from; with
    `incoming_item` the file is attached to that entry and nothing is registered.
    """
    from garnizon.registry.services import can_register_in

    if mode not in IntakeMode.values:
        raise DomainError(_("Nieznany tryb przyjęcia: %(mode)s.") % {"mode": mode})
    if incoming_item is not None and incoming_item.unit_id != unit.pk:
        raise DomainError(_("Przesyłka należy do innej jednostki niż przyjmowany plik."))
    if channel not in Channel.values:
        raise DomainError(_("Nieznany kanał wpływu: %(channel)s.") % {"channel": channel})
    if not can_register_in(Scope.for_person(requested_by), unit.pk):
        raise DomainError(
            _("Osoba %(person)s nie może rejestrować przesyłek w jednostce %(unit)s.")
            % {"person": requested_by, "unit": unit},
            code="forbidden",
        )
    path = Path(path)
    try:
        sha256, size, stored = _store_or_hash(path)
    except OSError as error:
        raise DomainError(
            _("Nie można odczytać pliku %(name)s: %(error)s.")
            % {"name": path.name, "error": error.strerror or error}
        ) from error
    with transaction.atomic():
        item, created = IntakeItem.objects.get_or_create(
            channel=channel,
            source_key=(source_key or f"sha256:{sha256}")[:200],
            defaults={
                "mode": mode,
                "parent": parent,
                "incoming_item": incoming_item,
                "unit": unit,
                "source": str(source or path)[:1000],
                "original_filename": safe_filename(filename or path.name),
                "blob_sha256": sha256 if stored else "",
                "size": size,
                "requested_by": requested_by,
            },
        )
    if created:
        _dispatch(item, run_now=run_now)
        item.refresh_from_db()
    return IntakeResult(item, created)


def intake_retry(*, item_id: int, run_now: bool = False) -> IntakeItem:
    """A failed item back into the pipeline; steps already done are skipped."""
    updated = IntakeItem.objects.filter(pk=item_id, state=IntakeState.FAILED).update(
        state=IntakeState.RECEIVED, claimed_at=None, error_message=""
    )
    if not updated:
        item = IntakeItem.objects.filter(pk=item_id).first()
        if item is None:
            raise DomainError(_("Nie ma pliku w przyjęciu o numerze %(id)s.") % {"id": item_id})
        raise DomainError(
            _("Ponowić można tylko plik, którego przyjęcie się nie powiodło (stan: %(state)s).")
            % {"state": item.get_state_display()}
        )
    item = IntakeItem.objects.get(pk=item_id)
    _dispatch(item, run_now=run_now)
    item.refresh_from_db()
    return item


def _dispatch(item: IntakeItem, *, run_now: bool) -> None:
    from garnizon.intake.tasks import process_intake_item

    if run_now:
        process_intake_item.call(item.pk)
    else:
        process_intake_item.enqueue(item.pk)


def _store_or_hash(path: Path) -> tuple[str, int, bool]:
    """The file's SHA-256 and size, and whether it was stored as a blob (within the limit).

    A file over the limit is only hashed: the preflight step refuses it and the
    original stays where it came from (the hot folder moves it to `failed/`).
    """
    with path.open("rb") as handle:
        if os.fstat(handle.fileno()).st_size <= max_upload_size():
            ref = get_blob_store().put(handle, allow_empty=True)
            return ref.sha256, ref.size, True
        digest = hashlib.sha256()
        size = 0
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size, False
