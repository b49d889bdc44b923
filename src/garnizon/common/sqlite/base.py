"""SQLite whose write transactions wait on a lock file, not in SQLite's busy handler.

Every `transaction.atomic()` block starts with `BEGIN IMMEDIATE` (settings), so
SQLite admits one writer at a time. A second writer does not queue: SQLite's
busy handler makes it sleep 1, 2, 5, 10, … up to 100 ms between tries, so under
a burst of writes (a morning's scans, many portal filings) the waiting writers
sleep long after the lock is free, and the slowest wait seconds.

Here each write transaction first takes an exclusive `flock` on
`<database>-writelock`, trying every millisecond (then up to every 5 ms) while
another connection (thread or process) holds it, and releases it at COMMIT or
ROLLBACK. SQLite's own locking stays as it was; the lock file only orders the
writers. After `timeout` seconds (the database's `timeout` option) a writer
stops waiting for the file and leaves the rest to SQLite, so a stuck holder
cannot block the others for longer than SQLite itself would.
"""

from __future__ import annotations

import fcntl
import os
import time

from django.db.backends.sqlite3 import base

FIRST_TRY_SECONDS = 0.001
LONGEST_TRY_SECONDS = 0.005


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._write_lock_fd: int | None = None
        self._write_lock_held = False

    # -- the lock file -----------------------------------------------------------------
    def _write_lock_path(self) -> str | None:
        name = str(self.settings_dict["NAME"])
        if self.is_in_memory_db() or not name:
            return None
        return f"{name}-writelock"

    def _acquire_write_lock(self) -> None:
        path = self._write_lock_path()
        if path is None or self._write_lock_held:
            return
        if self._write_lock_fd is None:
            self._write_lock_fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 5))
        deadline = time.monotonic() + timeout
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
