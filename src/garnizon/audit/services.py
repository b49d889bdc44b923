"""Writing and verifying the audit trail."""

from __future__ import annotations

import datetime
import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from garnizon.audit import context
from garnizon.audit.models import AuditAction, AuditEntry, AuditHead

GENESIS_HASH = "0" * 64

# Tables whose rows the database itself keeps from being changed or removed
# (migration audit 0003_immutable).
IMMUTABLE_TABLES = ("audit_auditentry", "audit_audithead", "cases_caserecordentry")


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
    details: Mapping[str, Any] | None = None,
    remote_addr: str | None = None,
) -> AuditEntry:
    """Append one entry to the chain, inside the caller's transaction if any.

    The head row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite takes
    its write lock at BEGIN IMMEDIATE), so entries are chained one at a time.
    `remote_addr` defaults to the address the middleware put in the context.
    """
    return audit_record_many(
        [
            {
                "actor": actor,
                "action": action,
                "obj": obj,
                "object_type": object_type,
                "object_id": object_id,
                "object_repr": object_repr,
                "unit_id": unit_id,
                "on_behalf_of": on_behalf_of,
                "details": details,
                "remote_addr": remote_addr,
            }
        ]
    )[0]


def audit_record_many(records: list[dict[str, Any]]) -> list[AuditEntry]:
    """Append several entries in one turn: the head is read and written once.

    Each record holds `audit_record`'s keyword arguments. The entries are
    chained in the order given, inside the caller's transaction if any.
    """
    if not records:
        return []
    default_addr = context.remote_addr.get()
    # Without an outer transaction this is the transaction; inside one, no savepoint
    # is needed: an error here rolls the caller's transaction back anyway.
    connection = transaction.get_connection()
    with transaction.atomic(savepoint=not connection.in_atomic_block):
        head, _ = AuditHead.objects.select_for_update().get_or_create(pk=1)
        entries = []
        seq, prev_hash = head.last_seq, head.last_hash
        now = timezone.now()
        for record in records:
            entry = _entry(record, default_addr)
            seq += 1
            entry.seq, entry.occurred_at, entry.prev_hash = seq, now, prev_hash
            entry.entry_hash = prev_hash = entry_hash(entry)
            entries.append(entry)
        AuditEntry.objects.bulk_create(entries)
        # One step per entry: the database lets the head move forward only by one
        # (migration 0003_immutable).
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {AuditHead._meta.db_table} SET last_seq = %s, last_hash = %s "
                "WHERE id = %s",
                [(entry.seq, entry.entry_hash, head.pk) for entry in entries],
            )
    return entries


def _entry(record: Mapping[str, Any], default_addr: str | None) -> AuditEntry:
    """The entry of one record, every value cut to its column and cleaned *before*
    hashing, so the hash covers exactly what the database gives back (PostgreSQL
    would refuse what SQLite silently keeps: over-long text, NUL characters)."""
    obj = record.get("obj")
    actor = record.get("actor")
    on_behalf_of = record.get("on_behalf_of")
    object_type = record.get("object_type") or ""
    object_id = record.get("object_id") or ""
    object_repr = record.get("object_repr") or ""
    unit_id = record.get("unit_id")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)
        if unit_id is None:
            unit_id = getattr(obj, "unit_id", None)
    remote_addr = record.get("remote_addr")
    if remote_addr is None:
        remote_addr = default_addr
    return AuditEntry(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_username=_text(getattr(actor, "username", "") or "", 150),
        on_behalf_of_username=_text(getattr(on_behalf_of, "username", "") or "", 150),
        action=AuditAction(record["action"]).value,
        object_type=_text(object_type, 60),
        object_id=_text(object_id, 64),
        object_repr=_text(object_repr, 300),
        # A string id would be read back as an int and change the hash.
        unit_id=int(unit_id) if unit_id is not None else None,
        details=_canonical(dict(record.get("details") or {})),
        remote_addr=_text(remote_addr, 64),
    )


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the entry's fields.

    Canonical means: keys sorted (PostgreSQL's jsonb reorders them), UTF-8
    without escapes, the time in UTC with microseconds (SQLite gives it back
    in UTC, PostgreSQL in the session's zone).
    """
    payload = {
        "seq": entry.seq,
        "occurred_at": entry.occurred_at.astimezone(datetime.UTC).isoformat(
            timespec="microseconds"
        ),
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


def audit_verify(*, batch_size: int = 5000) -> ChainVerification:
    """A walk over the whole chain: iterate it for every break (altered, missing,
    inserted or cut-off entries); afterwards its `checked` says how many entries
    were read."""
    return ChainVerification(batch_size=batch_size)


class ChainVerification:
    """One pass over the chain in batches of `batch_size`, oldest entry first."""

    def __init__(self, *, batch_size: int = 5000) -> None:
        self.batch_size = batch_size
        self.checked = 0
        self._cursor: int | None = None
        self._expected_seq = 1
        self._last_seq = 0
        self._last_hash = GENESIS_HASH

    def __iter__(self) -> Iterator[ChainProblem]:
        yield from self._walk(upto=None)
        # The head is read after the walk: entries are appended together with
        # the head in one transaction, so every entry the walk saw is covered
        # by the head read now, unless someone wrote it past the service.
        head = AuditHead.objects.filter(pk=1).first()
        if head is None:
            if self.checked:
                yield ChainProblem(self._last_seq, "brak nagłówka łańcucha (usunięty)")
            return
        if head.last_seq > self._last_seq:
            # Entries appended while we walked, or a cut-off tail: read up to
            # the head once more before calling it cut off.
            yield from self._walk(upto=head.last_seq)
        if head.last_seq > self._last_seq:
            yield ChainProblem(
                self._last_seq + 1,
                f"brak {_entries(self._last_seq + 1, head.last_seq)} na końcu łańcucha "
                "(koniec odcięty)",
            )
        elif head.last_seq < self._last_seq:
            yield ChainProblem(
                head.last_seq + 1,
                f"nagłówek łańcucha nie obejmuje {_entries(head.last_seq + 1, self._last_seq)} "
                "(dopisane z pominięciem dziennika)",
            )
        elif head.last_hash != self._last_hash:
            yield ChainProblem(
                self._last_seq, "najnowszy wpis nie zgadza się z nagłówkiem łańcucha"
            )

    def _walk(self, *, upto: int | None) -> Iterator[ChainProblem]:
        while batch := _entries_after(self._cursor, upto=upto, limit=self.batch_size):
            for entry in batch:
                yield from self._check(entry)
            self._cursor = batch[-1].seq

    def _check(self, entry: AuditEntry) -> Iterator[ChainProblem]:
        if entry.seq < self._expected_seq:
            yield ChainProblem(entry.seq, "numer spoza kolejności łańcucha (wpis wstawiony)")
        elif entry.seq > self._expected_seq:
            yield ChainProblem(
                self._expected_seq,
                f"brak {_entries(self._expected_seq, entry.seq - 1)} (usunięte)",
            )
        if entry.prev_hash != self._last_hash:
            yield ChainProblem(entry.seq, "skrót poprzedniego wpisu nie zgadza się z łańcuchem")
        if entry_hash(entry) != entry.entry_hash:
            yield ChainProblem(entry.seq, "treść wpisu nie zgadza się z jego skrótem (zmieniona)")
        self.checked += 1
        self._last_hash = entry.entry_hash
        self._last_seq = max(self._last_seq, entry.seq)
        self._expected_seq = self._last_seq + 1


@contextmanager
def audit_immutability_suspended(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Lift the immutability triggers for the length of one transaction.

    Only for `flush` (which empties every table, the trail included) and for
    tests that tamper on purpose, as an attacker with database access could.
    The triggers are restored exactly as they were before the transaction
    ends, so no other connection ever sees the tables unprotected; if the
    block fails, the rollback restores them.
    """
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            names = _postgresql_triggers(connection)
            # PostgreSQL refuses ALTER TABLE on a table with deferred foreign-key
            # checks still pending in this transaction: run them now, and defer
            # again afterwards (Django creates its foreign keys INITIALLY DEFERRED).
            _execute_each(
                connection,
                [
                    "SET CONSTRAINTS ALL IMMEDIATE",
                    *(f"ALTER TABLE {t} DISABLE TRIGGER {n}" for t, n in names),
                ],
            )
            yield
            _execute_each(
                connection,
                [
                    *(f"ALTER TABLE {t} ENABLE TRIGGER {n}" for t, n in names),
                    "SET CONSTRAINTS ALL DEFERRED",
                ],
            )
        else:
            # SQLite cannot disable a trigger: drop it and create it again
            # from the definition SQLite kept.
            definitions = _sqlite_triggers(connection)
            _execute_each(connection, [f'DROP TRIGGER "{name}"' for name, _ in definitions])
            yield
            _execute_each(connection, [sql for _, sql in definitions])


def _postgresql_triggers(connection: BaseDatabaseWrapper) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relname = ANY(%s) AND pg_table_is_visible(c.oid) "
            "AND NOT t.tgisinternal AND t.tgenabled <> 'D' ORDER BY c.relname, t.tgname",
            [list(IMMUTABLE_TABLES)],
        )
        return [(connection.ops.quote_name(t), connection.ops.quote_name(n)) for t, n in cursor]


def _sqlite_triggers(connection: BaseDatabaseWrapper) -> list[tuple[str, str]]:
    placeholders = ", ".join(["%s"] * len(IMMUTABLE_TABLES))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master "
            f"WHERE type = 'trigger' AND tbl_name IN ({placeholders}) ORDER BY name",
            list(IMMUTABLE_TABLES),
        )
        return list(cursor.fetchall())


def _execute_each(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _entries_after(cursor: int | None, *, upto: int | None, limit: int) -> list[AuditEntry]:
    """The next batch by seq. The first batch has no lower bound, so forged
    entries numbered 0 or below are read too."""
    queryset = AuditEntry.objects.order_by("seq")
    if cursor is not None:
        queryset = queryset.filter(seq__gt=cursor)
    if upto is not None:
        queryset = queryset.filter(seq__lte=upto)
    return list(queryset[:limit])


def _entries(first: int, last: int) -> str:
    return f"wpisu {first}" if first == last else f"wpisów {first}..{last}"


def _text(value: object, max_length: int | None = None) -> str:
    """Text as both databases store it: no NUL (PostgreSQL refuses it), no lone
    surrogates (not encodable as UTF-8), cut to the column's length."""
    text = str(value).replace("\x00", "\ufffd")
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if max_length is None else text[:max_length]


def _canonical(value: Any) -> Any:
    """`value` as JSON that both databases give back unchanged.

    PostgreSQL's jsonb stores numbers as `numeric`: 1e20 and 1.0 come back as
    integers and -0.0 as 0, NaN and infinity are refused, and "\\u0000" too.
    So whole floats become ints, non-finite floats and anything not JSON
    become strings, and keys become strings as JSON makes them anyway.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return int(value) if value.is_integer() else value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Mapping):
        return {_text(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        # A set has no order; sort so the same set always hashes the same.
        items = [_canonical(item) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return _text(value)
