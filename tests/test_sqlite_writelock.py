"""SQLite writers queue on a lock file (garnizon.common.sqlite), released at every end.

The backend is tried on a SQLite file of its own, so this runs whatever database
the suite uses.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator

import pytest
from django.db import connections, transaction


@pytest.fixture
def lite(tmp_path, django_db_blocker) -> Iterator[str]:
    """A connection alias of its own on a fresh SQLite file (not the test database)."""
    with django_db_blocker.unblock():
        yield from _lite(tmp_path)


def _lite(tmp_path) -> Iterator[str]:
    alias = "writelock_test"
    connections.settings[alias] = {
        **connections.settings["default"],
        "ENGINE": "garnizon.common.sqlite",
        "NAME": str(tmp_path / "lite.sqlite3"),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        "TEST": {},
        "CONN_MAX_AGE": 0,
    }
    with connections[alias].cursor() as cursor:
        cursor.execute("CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER)")
    try:
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]


def bump(alias: str, name: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "INSERT INTO counter VALUES (%s, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1",
            [name],
        )


def value(alias: str, name: str) -> int | None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT value FROM counter WHERE name = %s", [name])
        row = cursor.fetchone()
    return row[0] if row else None


def lock_is_free(alias: str) -> bool:
    fd = os.open(connections[alias].settings_dict["NAME"] + "-writelock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    finally:
        os.close(fd)


def test_the_lock_is_held_inside_a_transaction_and_released_at_commit_and_rollback(lite):
    with transaction.atomic(using=lite):
        bump(lite, "t")
        assert not lock_is_free(lite)
    assert lock_is_free(lite)
    with pytest.raises(RuntimeError), transaction.atomic(using=lite):
        bump(lite, "t")
        raise RuntimeError("rolled back")
    assert lock_is_free(lite)
    assert value(lite, "t") == 1  # the rolled-back write left nothing


@pytest.mark.concurrency
def test_writers_in_threads_queue_and_every_write_lands(lite):
    threads, per_thread = 4, 25
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(per_thread):
                with transaction.atomic(using=lite):
                    bump(lite, "queue")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections[lite].close()

    workers = [threading.Thread(target=write) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert value(lite, "queue") == threads * per_thread
    assert lock_is_free(lite)
