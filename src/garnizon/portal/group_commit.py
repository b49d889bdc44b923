"""Group commit of portal filings: the filings that one web process's threads hand
in while the register is busy are registered together, in one transaction.

A filing costs about 7 ms of CPU registered alone and about 1.2-1.5 ms in a batch
of ten or more (docs/benchmarks.md, "Portal under load"): most of a registration
is Django building the statements, once per batch instead of once per filing.

How a batch forms, without any timer:

- the first filing to arrive while no batch is being registered in this process
  *leads*: it opens the transaction and waits while another process writes a
  batch (on SQLite for the write lock, `BEGIN IMMEDIATE`; on PostgreSQL for an
  advisory lock, `_batch_turn`), and only then takes every filing queued so
  far, its own first;
- filings that arrive meanwhile queue and wait; when the leader has committed,
  each gets its result (a `Submission` or the register's `DomainError`), and the
  oldest filing still queued becomes the next leader.

So a filing never waits for a timer: alone it is registered at once, as before,
and under load the batches grow with the queue. A batch that fails as a whole is
registered one filing at a time inside the same transaction
(`portal_filings_register`), so one filing's problem stays its own; an error that
escapes even that (the database gone) is raised in every request of the batch,
none of which was registered.

Inside a caller's transaction (a test, another service filing on behalf of a
citizen) there is no grouping: the filing is registered on the caller's
connection, in the caller's transaction.

The leader's thread writes the other filings; what they record of their request
(the client's address in the audit trail) travels with each filing, not in the
leader's request context.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction

from garnizon.common.errors import DomainError

if TYPE_CHECKING:
    from garnizon.portal.models import Submission
    from garnizon.portal.services import PreparedFiling

# A batch's statements grow with it; past this the gain per filing is nil
# (docs/benchmarks.md) and one transaction would hold the register too long.
MAX_BATCH = 64


@dataclass(eq=False)
class _Waiting:
    filing: PreparedFiling
    woken: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    finished: bool = False
    result: Submission | DomainError | None = None
    error: BaseException | None = None


class FilingGroup:
    """The queue of one process's filings waiting to be registered."""

    def __init__(self, max_batch: int = MAX_BATCH) -> None:
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: deque[_Waiting] = deque()
        self._leading = False

    def register(self, filing: PreparedFiling) -> Submission | DomainError:
        """Register one filing, in a batch with the others waiting; its result."""
        from garnizon.portal.services import portal_filings_register

        if transaction.get_connection().in_atomic_block:
            (result,) = portal_filings_register([filing])
            return result
        waiting = _Waiting(filing)
        with self._lock:
            self._queue.append(waiting)
            if not self._leading:
                self._leading = waiting.leads = True
        if not waiting.leads:
            waiting.woken.wait()
        if not waiting.finished:  # it leads (first, or handed the lead)
            self._lead(waiting)
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None
        return waiting.result

    def _lead(self, own: _Waiting) -> None:
        """Register a batch, its leader's filing first; then hand the lead on."""
        batch: list[_Waiting] = []
        try:
            with transaction.atomic():
                # Wait for the other processes' batches; everything queued in this
                # process meanwhile comes along.
                _batch_turn()
                with self._lock:
                    for _ in range(min(self.max_batch, len(self._queue))):
                        batch.append(self._queue.popleft())
                results = _register([waiting.filing for waiting in batch])
        except BaseException as error:  # every request of the batch hears of it
            with self._lock:
                if own not in batch:  # it failed before the batch was taken
                    self._queue.remove(own)
                    batch.append(own)
            for waiting in batch:
                waiting.error = error
        else:
            for waiting, result in zip(batch, results, strict=True):
                waiting.result = result
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.leads = True
                    successor.woken.set()
                else:
                    self._leading = False
            for waiting in batch:
                waiting.finished = True
                waiting.woken.set()

    def _forget(self) -> None:
        # A forked child has none of its parent's requests (nor a lock taken at the fork).
        self._lock = threading.Lock()
        self._queue.clear()
        self._leading = False


# The key of the PostgreSQL advisory lock that orders the batches of all processes.
_BATCH_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"garnizon:portal:filings").digest()[:8], "big", signed=True
)


def _batch_turn() -> None:
    """Wait, inside the batch's transaction, until no other process is writing a batch.

    SQLite: nothing to do, `BEGIN IMMEDIATE` took the write lock. PostgreSQL: a
    transaction-level advisory lock of the portal's own. Not the audit head's row
    lock, although every registration waits for that one too: a clerk's
    registration takes its register's number first and the audit head after, so a
    batch that held the head first would deadlock with it.
    """
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_BATCH_LOCK_KEY])


def _register(filings: list[PreparedFiling]) -> list[Submission | DomainError]:
    from garnizon.portal.services import portal_filings_register

    return portal_filings_register(filings)


filing_group = FilingGroup()
os.register_at_fork(after_in_child=filing_group._forget)
