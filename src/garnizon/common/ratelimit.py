"""Rate limits counted in the database, so every web worker and machine shares them.

A per-process cache (Django's default local-memory cache) would give each
gunicorn worker its own count, multiplying the limit by the number of workers.
One statement counts a hit atomically on SQLite and PostgreSQL:

    INSERT ... ON CONFLICT (key) DO UPDATE SET count = count + 1 RETURNING count
"""

from __future__ import annotations

import datetime
import hashlib
import time
from collections.abc import Sequence
from typing import NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from garnizon.common.models import RateCounter


class RateCheck(NamedTuple):
    """One limit to count an attempt against: at most `limit` per `window_seconds`."""

    name: str
    subject: str
    limit: int
    window_seconds: int


def rate_limit_hit(name: str, subject: str, *, limit: int, window_seconds: int) -> bool:
    """Count one attempt by `subject` under limit `name`; True once the window's `limit` is passed.

    `subject` is hashed (an e-mail address is not stored in clear).
    """
    return rate_limits_hit([RateCheck(name, subject, limit, window_seconds)])[0]


def rate_limits_hit(checks: Sequence[RateCheck]) -> list[bool]:
    """Count one attempt under each check, all in one transaction; for each, True once passed.

    One transaction is one turn of SQLite's write lock, however many limits an
    act is counted against (a portal filing: its address and its e-mail).
    """
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    now = time.time()
    results = []
    with transaction.atomic(), connection.cursor() as cursor:
        for check in checks:
            expires_at = timezone.now() + datetime.timedelta(seconds=check.window_seconds)
            cursor.execute(
                f"INSERT INTO {table} (key, count, expires_at) VALUES (%s, 1, %s) "
                f"ON CONFLICT (key) DO UPDATE SET count = {table}.count + 1 RETURNING count",
                [_key(check, int(now)), expires_at],
            )
            (count,) = cursor.fetchone()
            results.append(count > check.limit)
    return results


def rate_limits_reached(checks: Sequence[RateCheck]) -> list[bool]:
    """For each check, True when its window's count is already at its limit: read only.

    The next attempt would pass the limit, so a caller can refuse it before doing
    any work. It counts nothing: `rate_limits_hit` still counts the attempt (two
    attempts racing past this look are both counted there).
    """
    if not checks:
        return []
    now = int(time.time())
    keys = [_key(check, now) for check in checks]
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with connection.cursor() as cursor:  # plain SQL: it runs before every portal filing
        cursor.execute(
            f"SELECT key, count FROM {table} WHERE key IN ({', '.join(['%s'] * len(keys))})",
            keys,
        )
        counts = dict(cursor.fetchall())
    return [counts.get(key, 0) >= check.limit for key, check in zip(keys, checks, strict=True)]


def _key(check: RateCheck, now: int) -> str:
    """The counter of `check`'s subject in the window `now` falls in."""
    window = now // check.window_seconds
    digest = hashlib.sha256(check.subject.strip().lower().encode()).hexdigest()[:32]
    return f"{check.name}:{digest}:{window}"


def rate_counters_purge() -> str:
    """Drop the windows that have ended (a scheduled job)."""
    deleted, _ = RateCounter.objects.filter(expires_at__lt=timezone.now()).delete()
    return f"{deleted} expired rate counters removed"


def first_use(name: str, subject: str, *, keep_seconds: int) -> bool:
    """True the first time `subject` is seen under `name` (a one-time token, a SAML response).

    Remembered for `keep_seconds` in the same table, by every process and machine.
    """
    digest = hashlib.sha256(subject.encode()).hexdigest()[:40]
    key = f"{name}:once:{digest}"
    expires_at = timezone.now() + datetime.timedelta(seconds=keep_seconds)
    table = connection.ops.quote_name(RateCounter._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, count, expires_at) VALUES (%s, 1, %s) "
            "ON CONFLICT (key) DO NOTHING",
            [key, expires_at],
        )
        return cursor.rowcount == 1
