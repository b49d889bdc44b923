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
and under load the batches grow with the queue.

When a batch fails as a whole (an exception; nothing of it is written), each of
its filings is registered again alone, in its own request's thread and
transaction, so one filing's problem stays its own. A filing the register
refuses in a batch is also refused again alone, so that its message comes in its
own request's language (the leader's thread runs in the leader's). When the
transaction cannot even begin (the database locked or gone), every filing
queued at that moment fails with that error (`FilingBatchError` in the other
requests) instead of each waiting out its own timeout in turn.

Inside a caller's transaction (a test, another service filing on behalf of a
citizen) there is no grouping: the filing is registered on the caller's
connection, in the caller's transaction.

The leader's thread writes the other filings; what they record of their request
(the client's address in the audit trail) travels with each filing, not in the
leader's request context.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db import transaction

from garnizon.common.errors import DomainError
from garnizon.portal.identity import FilingLimited

if TYPE_CHECKING:
    from garnizon.portal.models import Submission
    from garnizon.portal.services import PreparedFiling

log = logging.getLogger(__name__)

# A batch's statements grow with it; past this the gain per filing is nil
# (docs/benchmarks.md) and one transaction would hold the register too long.
MAX_BATCH = 64


class FilingBatchError(RuntimeError):
    """The transaction of the batch a filing waited in could not begin."""


@dataclass(eq=False)
class _Waiting:
    filing: PreparedFiling
    woken: threading.Event = field(default_factory=threading.Event)
    leads: bool = False
    finished: bool = False
    result: Submission | DomainError | None = None
    # Register it alone, in its own thread: the batch failed as a whole, or the
    # register refused it (its message then comes in its own request's language).
    alone: bool = False
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
        if transaction.get_connection().in_atomic_block:
            return _register_alone(filing)
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
            if waiting.leads:
                raise waiting.error
            raise FilingBatchError(str(waiting.error)) from waiting.error
        if waiting.alone:
            return _register_alone(waiting.filing)
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
        except Exception as error:
            if own not in batch:
                # The transaction could not begin (the database is locked or gone):
                # every filing queued now fails with it rather than each waiting
                # its own timeout in turn.
                with self._lock:
                    batch.extend(self._queue)
                    self._queue.clear()
                for waiting in batch:
                    waiting.error = error
            elif len(batch) == 1:
                own.error = error
            else:
                # The batch as a whole failed and nothing of it was written: each
                # filing is registered alone in its own request, so one filing's
                # problem stays its own.
                log.warning("Portal: a batch of %s filings failed (%r)", len(batch), error)
                for waiting in batch:
                    waiting.alone = True
        except BaseException as error:  # KeyboardInterrupt, SystemExit: let all hear of it
            with self._lock:
                if own not in batch:
                    self._queue.remove(own)
                    batch.append(own)
            for waiting in batch:
                waiting.error = error
        else:
            for waiting, result in zip(batch, results, strict=True):
                if isinstance(result, DomainError) and not isinstance(result, FilingLimited):
                    waiting.alone = True  # refused, nothing written: refused again, in its words
                    waiting.filing = dataclasses.replace(waiting.filing, limits=())
                else:
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


# How long a batch's leader waits for its turn on PostgreSQL before the filings
# queued fail (the filer is told to try again; as SQLite's busy timeout,
# settings.py, for its lock).
BATCH_TURN_TIMEOUT_MS = 20_000

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

    The wait is bounded by `BATCH_TURN_TIMEOUT_MS` (PostgreSQL's `lock_timeout`,
    set for the wait only: the batch's own statements keep the server's setting),
    so a batch stuck in another process fails the filings queued here with an
    error instead of holding every request for ever.
    """
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout')")
            (previous,) = cursor.fetchone()
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)", [f"{BATCH_TURN_TIMEOUT_MS}ms"]
            )
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_BATCH_LOCK_KEY])
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])


def _register(filings: list[PreparedFiling]) -> list[Submission | DomainError]:
    """A batch in the caller's transaction; several together raise if the batch fails."""
    from garnizon.portal.services import portal_filings_register_together

    if len(filings) == 1:
        return [_register_alone(filings[0])]
    return portal_filings_register_together(filings)


def _register_alone(filing: PreparedFiling) -> Submission | DomainError:
    from garnizon.portal.services import portal_filings_register

    (result,) = portal_filings_register([filing])
    return result


filing_group = FilingGroup()
os.register_at_fork(after_in_child=filing_group._forget)
