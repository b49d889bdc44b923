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

from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.common.errors import AccessDenied, DomainError
from garnizon.common.tasks import enqueue_many
from garnizon.documents.blobstore import CHUNK, get_blob_store, max_upload_size
from garnizon.documents.metadata import safe_filename
from garnizon.intake.models import (
    IntakeItem,
    IntakeMode,
    IntakeState,
    IntakeStepResult,
    StepStatus,
)
from garnizon.org.access import Scope
from garnizon.org.models import Person, Unit
from garnizon.registry.models import Channel, IncomingItem


@dataclass(frozen=True)
class IntakeResult:
    item: IntakeItem
    created: bool


@dataclass
class IntakeFile:
    """One file for `intake_add_files` (the keyword arguments of `intake_add_file`)."""

    path: str | os.PathLike[str]
    unit: Unit
    channel: str
    requested_by: Person
    source: str = ""
    filename: str | None = None
    source_key: str | None = None
    mode: str = IntakeMode.REGISTER
    parent: IntakeItem | None = None
    incoming_item: IncomingItem | None = None
    scope: Scope | None = None
    stored_sha256: str | None = None


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
    scope: Scope | None = None,
    stored_sha256: str | None = None,
) -> IntakeResult:
    """One file into the pipeline; the same file from the same channel a second time
    returns the first item (`created=False`) and is not processed again.

    `source_key` names the file's origin when its content is not enough (an
    e-mail's attachment: `imap:<mailbox>:<uidvalidity>:<uid>:<part>`); by default
    it is `sha256:<hash>:unit:<unit id>`. `mode` is `register` (a new incoming item) or `match`
    (attach to the entry whose label the scan carries, else wait for a clerk).
    `parent` is the batch scan or message the file came from; with
    `incoming_item` the file is attached to that entry and nothing is registered.
    `scope` is `requested_by`'s Scope when the caller already holds it (or a part
    of it: fewer grants only ever refuse more). `stored_sha256` says that `path`
    is the blob store's own file of that hash (the portal's filed text and
    attachments, stored and hashed when they came in): it is not read again here,
    which matters inside a caller's transaction, and every later read verifies it.
    """
    (result,) = intake_add_files(
        [
            IntakeFile(
                path=path,
                unit=unit,
                channel=channel,
                requested_by=requested_by,
                source=source,
                filename=filename,
                source_key=source_key,
                mode=mode,
                parent=parent,
                incoming_item=incoming_item,
                scope=scope,
                stored_sha256=stored_sha256,
            )
        ],
        run_now=run_now,
    )
    return result


def intake_add_files(files: list[IntakeFile], *, run_now: bool = False) -> list[IntakeResult]:
    """Several files into the pipeline, as `intake_add_file` each, with one INSERT for
    the new items and one for their queued tasks. Every file is checked first; one
    that breaks a rule refuses the whole call (`DomainError`), before anything is
    written."""
    items = [_intake_item_build(file) for file in files]
    created: list[IntakeItem] = []
    results: list[IntakeResult] = []
    connection = transaction.get_connection()
    with transaction.atomic(savepoint=not connection.in_atomic_block):
        keys = {item.source_key for item in items}
        existing = {
            (found.channel, found.source_key): found
            for found in IntakeItem.objects.filter(source_key__in=keys)
        }
        new: dict[tuple[str, str], IntakeItem] = {}
        for item in items:
            key = (item.channel, item.source_key)
            if key not in existing and key not in new:
                new[key] = item
        try:
            with transaction.atomic():
                IntakeItem.objects.bulk_create(list(new.values()))
        except IntegrityError:
            # A concurrent transaction took a key: each as `get_or_create` would.
            for key, item in list(new.items()):
                found, made = _get_or_create(item)
                if made:
                    new[key] = found
                else:
                    existing[key] = found
                    del new[key]
        for item in items:
            key = (item.channel, item.source_key)
            if key in existing:
                results.append(IntakeResult(existing[key], False))
            elif new[key] in created:  # the same file twice in this call
                results.append(IntakeResult(new[key], False))
            else:
                created.append(new[key])
                results.append(IntakeResult(new[key], True))
    if run_now:
        for item in created:
            dispatch(item, run_now=True)
            item.refresh_from_db()  # the pipeline has changed the row; queued, it is as written
    else:
        from garnizon.intake.tasks import process_intake_item

        enqueue_many(process_intake_item, [(item.pk,) for item in created])
    return results


def _intake_item_build(file: IntakeFile) -> IntakeItem:
    """The checked, unsaved intake item of one file (stored or hashed first)."""
    from garnizon.registry.services import can_register_in

    mode, unit, channel, requested_by = file.mode, file.unit, file.channel, file.requested_by
    if mode not in IntakeMode.values:
        raise DomainError(_("Nieznany tryb przyjęcia: %(mode)s.") % {"mode": mode})
    if file.incoming_item is not None and file.incoming_item.unit_id != unit.pk:
        raise DomainError(_("Przesyłka należy do innej jednostki niż przyjmowany plik."))
    if channel not in Channel.values:
        raise DomainError(_("Nieznany kanał wpływu: %(channel)s.") % {"channel": channel})
    scope = file.scope
    if scope is None or scope.person.pk != requested_by.pk:
        scope = Scope.for_person(requested_by)
    if not can_register_in(scope, unit.pk):
        raise DomainError(
            _("Osoba %(person)s nie może rejestrować przesyłek w jednostce %(unit)s.")
            % {"person": requested_by, "unit": unit},
            code="forbidden",
        )
    path = Path(file.path)
    try:
        if file.stored_sha256 is not None:
            if path != get_blob_store().path(file.stored_sha256):
                raise DomainError(_("Plik nie pochodzi z magazynu dokumentów."))
            sha256, size, stored = file.stored_sha256, path.stat().st_size, True
        else:
            sha256, size, stored = _store_or_hash(path)
    except OSError as error:
        raise DomainError(
            _("Nie można odczytać pliku %(name)s: %(error)s.")
            % {"name": path.name, "error": error.strerror or error}
        ) from error
    return IntakeItem(
        channel=channel,
        # The same file sent to two units is two intakes, one per unit.
        source_key=(file.source_key or f"sha256:{sha256}:unit:{unit.pk}")[:200],
        mode=mode,
        parent=file.parent,
        incoming_item=file.incoming_item,
        unit=unit,
        source=str(file.source or path)[:1000],
        original_filename=safe_filename(file.filename or path.name),
        blob_sha256=sha256 if stored else "",
        size=size,
        requested_by=requested_by,
    )


def _get_or_create(item: IntakeItem) -> tuple[IntakeItem, bool]:
    fields = ("mode", "parent", "incoming_item", "unit", "source", "original_filename")
    defaults = {name: getattr(item, name) for name in fields}
    defaults.update(blob_sha256=item.blob_sha256, size=item.size, requested_by=item.requested_by)
    return IntakeItem.objects.get_or_create(
        channel=item.channel, source_key=item.source_key, defaults=defaults
    )


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
    dispatch(item, run_now=run_now)
    item.refresh_from_db()
    return item


def dispatch(item: IntakeItem, *, run_now: bool = False) -> None:
    """Queue the item for `garnizon db_worker`, or with `run_now` run it here and now.

    Run inline, the parts the item produced (a batch scan's letters) are run inline
    too, after it; their queued tasks then find them finished and do nothing.
    """
    from garnizon.intake.tasks import process_intake_item

    if not run_now:
        process_intake_item.enqueue(item.pk)
        return
    process_intake_item.call(item.pk)
    for child in IntakeItem.objects.filter(parent=item, state=IntakeState.RECEIVED).order_by("pk"):
        dispatch(child, run_now=True)


def intake_match(
    *,
    item_id: int,
    actor: Person,
    incoming_item_id: int | None = None,
    registration_number: str = "",
    run_now: bool = False,
) -> IntakeItem:
    """The clerk's choice for a waiting scan: attach it to this register entry, given by
    id (a suggestion) or by its registration number (typed or read from the letter).

    The actor must be allowed to register in the item's unit and the entry must
    be of that unit and visible to the actor. The item goes back to `received`
    with the entry set and is dispatched; steps already done are skipped,
    `register` is skipped (the entry exists) and `attach` adds the scan to it.
    Recorded in the item's step results and the audit trail.
    """
    from garnizon.registry.selectors import incoming_visibility_q

    item = _waiting_item(item_id, actor)
    number = registration_number.strip()
    # An entry the actor may not see (a restricted one) is treated as missing.
    entries = IncomingItem.objects.filter(
        incoming_visibility_q(Scope.for_person(actor)), unit_id=item.unit_id
    )
    if incoming_item_id is not None:
        entry = entries.filter(pk=incoming_item_id).first()
    else:
        entry = entries.filter(registration_number__iexact=number).first() if number else None
    if entry is None:
        if incoming_item_id is None and number:
            raise DomainError(
                _("W rejestrze wpływów jednostki %(unit)s nie ma pisma o numerze %(number)s.")
                % {"unit": item.unit.symbol, "number": number},
                field="registration_number",
            )
        raise DomainError(
            _("W rejestrze wpływów jednostki %(unit)s nie ma takiej przesyłki.")
            % {"unit": item.unit.symbol},
            field="incoming_item",
        )
    with transaction.atomic(), translation.override("pl"):
        updated = IntakeItem.objects.filter(pk=item.pk, state=IntakeState.AWAITING_MATCH).update(
            state=IntakeState.RECEIVED,
            incoming_item=entry,
            claimed_at=None,
            error_message="",
            finished_at=None,
        )
        if not updated:
            raise _not_waiting(item)
        IntakeStepResult.objects.create(
            item=item,
            attempt=item.attempts,
            step="match",
            outcome=StepStatus.OK,
            message=_("%(person)s przypisał(a) skan do przesyłki %(number)s.")
            % {"person": actor, "number": entry.registration_number},
        )
        audit_record(
            actor=actor,
            action="update",
            obj=item,
            details={
                "operation": "intake_match",
                "incoming_item": entry.pk,
                "registration_number": entry.registration_number,
                "suggested": any(
                    s.get("incoming_item") == entry.pk for s in item.suggestions or []
                ),
            },
        )
    item.refresh_from_db()
    dispatch(item, run_now=run_now)
    item.refresh_from_db()
    return item


def intake_register_new(*, item_id: int, actor: Person, run_now: bool = False) -> IntakeItem:
    """The clerk's answer "this is a new letter": a waiting scan is registered as a new entry.

    Its mode becomes `register`, it goes back to `received` and is dispatched;
    `register` then creates the entry (registered by the item's requester, as
    every intake registration) and `attach` adds the scan.
    """
    item = _waiting_item(item_id, actor)
    with transaction.atomic(), translation.override("pl"):
        updated = IntakeItem.objects.filter(pk=item.pk, state=IntakeState.AWAITING_MATCH).update(
            state=IntakeState.RECEIVED,
            mode=IntakeMode.REGISTER,
            claimed_at=None,
            error_message="",
            finished_at=None,
        )
        if not updated:
            raise _not_waiting(item)
        IntakeStepResult.objects.create(
            item=item,
            attempt=item.attempts,
            step="match",
            outcome=StepStatus.OK,
            message=_("%(person)s wskazał(a), że to nowe pismo do zarejestrowania.")
            % {"person": actor},
        )
        audit_record(
            actor=actor,
            action="update",
            obj=item,
            details={"operation": "intake_register_new", "mode": IntakeMode.REGISTER.value},
        )
    item.refresh_from_db()
    dispatch(item, run_now=run_now)
    item.refresh_from_db()
    return item


def _waiting_item(item_id: int, actor: Person) -> IntakeItem:
    """The item, after checking that the actor may decide on it and that it waits."""
    from garnizon.registry.services import can_register_in

    item = IntakeItem.objects.select_related("unit").filter(pk=item_id).first()
    if item is None:
        raise DomainError(_("Nie ma pliku w przyjęciu o numerze %(id)s.") % {"id": item_id})
    if not can_register_in(Scope.for_person(actor), item.unit_id):
        raise AccessDenied(
            _("Nie możesz przypisywać skanów w jednostce %(unit)s.") % {"unit": item.unit.symbol}
        )
    if item.state != IntakeState.AWAITING_MATCH:
        raise _not_waiting(item)
    return item


def _not_waiting(item: IntakeItem) -> DomainError:
    item.refresh_from_db(fields=["state"])
    return DomainError(
        _(
            "Przypisać można tylko skan, który czeka na przypisanie; ten ma stan „%(state)s” "
            "(ktoś mógł go już przypisać)."
        )
        % {"state": item.get_state_display()},
        code="wrong_state",
    )


def _store_or_hash(path: Path) -> tuple[str, int, bool]:
    """The file's SHA-256 and size, and whether it was stored as a blob (within the limit).

    A file over the limit is only hashed: the preflight step refuses it and the
    original stays where it came from (the hot folder moves it to `failed/`).
    """
    with path.open("rb") as handle:
        digest = hashlib.sha256()
        size = 0
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if size > max_upload_size():
            return digest.hexdigest(), size, False
        store = get_blob_store()
        # Already stored (the portal's files, a file sent twice): nothing to write or
        # fsync; reading it once more to hash is cheaper than writing a copy.
        stored = store.path(digest.hexdigest())
        if stored.exists() and stored.stat().st_size == size:
            return digest.hexdigest(), size, True
        handle.seek(0)
        ref = store.put(handle, allow_empty=True)
        return ref.sha256, ref.size, True
