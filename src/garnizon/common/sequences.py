"""Gapless numbering shared by the registers, case lists and the audit trail."""

from __future__ import annotations

from django.db import connection, transaction


def next_value(key: str) -> int:
    """Return the next number of the sequence `key`, inside the current transaction.

    One `INSERT ... ON CONFLICT DO UPDATE ... RETURNING` statement, identical on
    SQLite (3.35+) and PostgreSQL: the row lock it takes is held until the
    caller's transaction ends, so numbers are never duplicated, and a rollback
    returns the number, so none is skipped.
    """
    return next_values(key, 1)[0]


def next_values(key: str, count: int) -> range:
    """The next `count` numbers of the sequence `key`, taken in one statement
    (as `next_value`, inside the current transaction)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_value() must run inside transaction.atomic()")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO common_sequence (name, value) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET value = common_sequence.value + %s "
            "RETURNING value",
            [key, count, count],
        )
        last = int(cursor.fetchone()[0])
    return range(last - count + 1, last + 1)


def current_value(key: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM common_sequence WHERE name = %s", [key])
        row = cursor.fetchone()
    return int(row[0]) if row else 0
