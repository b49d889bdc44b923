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


@pytest.mark.concurrency
def test_a_stuck_writer_makes_the_next_one_fail_after_the_timeout_not_hang(
    tmp_path, django_db_blocker
):
    """A transaction left open holds both locks; a second thread gives up waiting after
    the database's timeout and gets SQLite's own "database is locked", and once the
    first commits the second writes."""
    from django.db import OperationalError

    alias = "writelock_test"
    connections.settings[alias] = {
        **connections.settings["default"],
        "ENGINE": "garnizon.common.sqlite",
        "NAME": str(tmp_path / "stuck.sqlite3"),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 0.5},
        "TEST": {},
        "CONN_MAX_AGE": 0,
    }
    with django_db_blocker.unblock():
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER)")
            holding, release = threading.Event(), threading.Event()
            outcome: list[object] = []

            def stuck() -> None:
                with transaction.atomic(using=alias):
                    bump(alias, "s")
                    holding.set()
                    release.wait(10)
                connections[alias].close()

            def second() -> None:
                try:
                    with transaction.atomic(using=alias):
                        bump(alias, "s")
                    outcome.append("written")
                except OperationalError as error:
                    outcome.append(error)
                finally:
                    connections[alias].close()

            first = threading.Thread(target=stuck)
            first.start()
            assert holding.wait(10)
            waiter = threading.Thread(target=second)
            waiter.start()
            waiter.join(10)
            assert not waiter.is_alive(), "the second writer hung instead of giving up"
            [error] = outcome
            assert isinstance(error, OperationalError) and "locked" in str(error)
            release.set()
            first.join(10)
            second()
            assert outcome[-1] == "written"
            assert value(alias, "s") == 2
            assert lock_is_free(alias)
        finally:
            connections[alias].close()
            del connections[alias]
            del connections.settings[alias]


def test_a_forked_child_does_not_inherit_a_held_process_lock(tmp_path):
    from garnizon.common.sqlite import base

    path = str(tmp_path / "fork.sqlite3-writelock")
    lock = base._process_lock(path)
    assert lock.acquire(timeout=1)
    try:
        pid = os.fork()
        if pid == 0:  # the child: a fresh lock, free at once
            os._exit(0 if base._process_lock(path).acquire(timeout=0.5) else 1)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    finally:
        lock.release()
