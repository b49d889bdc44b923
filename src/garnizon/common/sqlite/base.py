"""SQLite whose write transactions wait on a lock file, not in SQLite's busy handler.

Every `transaction.atomic()` block starts with `BEGIN IMMEDIATE` (settings), so
SQLite admits one writer at a time. A second writer does not queue: SQLite's
busy handler makes it sleep 1, 2, 5, 10, … up to 100 ms between tries, so under
a burst of writes (a morning's scans, many portal filings) the waiting writers
sleep long after the lock is free, and the slowest wait seconds.

Here each write transaction first takes the lock of its own process (a
`threading.Lock` per database file: the threads of one gunicorn worker queue on
it and are woken the moment it is free), then an exclusive `flock` on
`<database>-writelock`, which orders the processes: only the one thread that
holds its process's lock tries the file, every 0.2 ms at first, then every
millisecond. Both are released at COMMIT or ROLLBACK. SQLite's own locking
stays as it was; the locks only order the writers. After `timeout` seconds (the
database's `timeout` option) a writer stops waiting and leaves the rest to
SQLite, so a stuck holder cannot block the others for longer than SQLite itself
would.

Before the process lock, every waiting thread polled the file (up to every
5 ms): with 16 portal filings at once, 15 threads woke hundreds of times a
second, competing for the interpreter with the one holding the lock, and the
lock often sat free until the next poll.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

from django.db.backends.sqlite3 import base

FIRST_TRY_SECONDS = 0.0002
LONGEST_TRY_SECONDS = 0.001

# One lock per database file for the threads of this process.
_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(path: str) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(path, threading.Lock())


def _forget_process_locks() -> None:
    # A forked child starts with no writer: a lock held by another thread of the
    # parent at the fork would stay held in the child for ever.
    global _process_locks_guard
    _process_locks_guard = threading.Lock()
    _process_locks.clear()


os.register_at_fork(after_in_child=_forget_process_locks)


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._write_lock_fd: int | None = None
        self._write_lock_held = False
        self._process_lock: threading.Lock | None = None

    # -- the lock file -----------------------------------------------------------------
    def _write_lock_path(self) -> str | None:
        name = str(self.settings_dict["NAME"])
        if self.is_in_memory_db() or not name:
            return None
        return f"{name}-writelock"

    def _acquire_write_lock(self) -> None:
        path = self._write_lock_path()
        if path is None or self._write_lock_held or self._process_lock is not None:
            return
        if self._write_lock_fd is None:
            self._write_lock_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        deadline = time.monotonic() + timeout
        lock = _process_lock(path)
        if not lock.acquire(timeout=timeout):
            return  # SQLite's own busy handling takes over
        self._process_lock = lock
        pause = FIRST_TRY_SECONDS
        while True:
            try:
                fcntl.flock(self._write_lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return  # SQLite's own busy handling takes over
                time.sleep(pause)
                pause = min(pause * 2, LONGEST_TRY_SECONDS)
                continue
            self._write_lock_held = True
            return

    def _release_write_lock(self) -> None:
        if self._write_lock_held and self._write_lock_fd is not None:
            fcntl.flock(self._write_lock_fd, fcntl.LOCK_UN)
        self._write_lock_held = False
        if self._process_lock is not None:
            lock, self._process_lock = self._process_lock, None
            lock.release()

    # -- the transaction's ends ------------------------------------------------------
    def _start_transaction_under_autocommit(self) -> None:
        self._acquire_write_lock()
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_write_lock()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()
        finally:
            self._release_write_lock()

    def _rollback(self) -> None:
        try:
            super()._rollback()
        finally:
            self._release_write_lock()

    def _close(self) -> None:
        try:
            super()._close()
        finally:
            self._release_write_lock()
            if self._write_lock_fd is not None:
                os.close(self._write_lock_fd)
                self._write_lock_fd = None
