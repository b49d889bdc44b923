"""Writing and verifying the audit trail."""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from garnizon.audit import context
from garnizon.audit.models import AuditAction, AuditEntry, AuditHead

GENESIS_HASH = "0" * 64


def audit_record(
    *,
    actor: Any | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    unit_id: int | None = None,
    on_behalf_of: Any | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction if any.

    The head row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite takes
    its write lock at BEGIN IMMEDIATE), so entries are chained one at a time.
    """
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:300]
        if unit_id is None:
            unit_id = getattr(obj, "unit_id", None)
    with transaction.atomic():
        head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
        entry = AuditEntry(
            seq=head.last_seq + 1,
            occurred_at=timezone.now(),
            actor=actor if getattr(actor, "pk", None) else None,
            actor_username=getattr(actor, "username", "") or "",
            on_behalf_of_username=getattr(on_behalf_of, "username", "") or "",
            action=AuditAction(action).value,
            object_type=object_type,
            object_id=str(object_id),
            object_repr=object_repr[:300],
            unit_id=unit_id,
            details=_normalise(details or {}),
            remote_addr=context.remote_addr.get(),
            prev_hash=head.last_hash,
        )
        entry.entry_hash = entry_hash(entry)
        entry.save(force_insert=True)
        head.last_seq = entry.seq
        head.last_hash = entry.entry_hash
        head.save(update_fields=["last_seq", "last_hash"])
    return entry


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the entry's fields."""
    payload = {
        "seq": entry.seq,
        "occurred_at": entry.occurred_at.astimezone(datetime.UTC).isoformat(timespec="microseconds"),
        "actor_id": entry.actor_id,
        "actor_username": entry.actor_username,
        "on_behalf_of_username": entry.on_behalf_of_username,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_repr": entry.object_repr,
        "unit_id": entry.unit_id,
        "details": entry.details,
        "remote_addr": entry.remote_addr,
        "prev_hash": entry.prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


def audit_verify(batch_size: int = 5000) -> Iterator[ChainProblem]:
    """Walk the whole chain and yield every break: altered, missing or cut-off entries."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    last_seen = 0
    queryset = AuditEntry.objects.order_by("seq")
    cursor_seq = 0
    while True:
        batch = list(queryset.filter(seq__gt=cursor_seq)[:batch_size])
        if not batch:
            break
        for entry in batch:
            if entry.seq != expected_seq:
                yield ChainProblem(expected_seq, f"missing entries {expected_seq}..{entry.seq - 1}")
            if entry.prev_hash != prev_hash:
                yield ChainProblem(entry.seq, "previous hash does not match the chain")
            if entry_hash(entry) != entry.entry_hash:
                yield ChainProblem(entry.seq, "entry content does not match its hash")
            prev_hash = entry.entry_hash
            expected_seq = entry.seq + 1
            last_seen = entry.seq
        cursor_seq = batch[-1].seq
    head = AuditHead.objects.filter(pk=1).first()
    if head is not None and head.last_seq != last_seen:
        yield ChainProblem(last_seen + 1, f"entries {last_seen + 1}..{head.last_seq} are missing")
    elif head is not None and head.last_hash != prev_hash:
        yield ChainProblem(last_seen, "the newest entry does not match the recorded head")


def _normalise(details: dict[str, Any]) -> dict[str, Any]:
    """JSON round trip, so the hash is computed on what the database stores."""
    return json.loads(json.dumps(details, default=str, ensure_ascii=False))
