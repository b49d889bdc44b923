"""The portal's group commit: filings handed in by several threads at once are
registered together, each with its own result, and a failure stays contained."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import translation

from garnizon.audit.models import AuditEntry
from garnizon.audit.services import audit_verify
from garnizon.common.errors import DomainError
from garnizon.common.ratelimit import RateCheck
from garnizon.documents.blobstore import get_blob_store
from garnizon.portal import group_commit
from garnizon.portal.drafts import MARKERS
from garnizon.portal.group_commit import FilingGroup
from garnizon.portal.identity import FilingLimited
from garnizon.portal.models import Submission
from garnizon.portal.services import portal_filing_prepare, portal_submission_file
from garnizon.registry.models import IncomingItem

# Threads open their own connections: the filings must really be committed.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("portal_isolated")]


def letter(index: int) -> dict[str, str]:
    """The answers of letter number `index`."""
    return {
        "name": "Jan Nowak",
        "email": f"jan{index}@example.pl",
        "address": "",
        "subject": f"Temat {index}",
        "text": f"Treść {index}",
    }


def prepared(unit, index: int, limits=()):
    return portal_filing_prepare(
        service="pismo",
        unit=unit,
        attachments=[],
        client_token=f"{index:064x}",
        client_address=f"198.51.100.{index}",
        fields=letter(index),
        limits=limits,
    )


def in_threads(
    group: FilingGroup,
    filings,
    first_taken: Callable[[], bool] | None = None,
    languages: dict[int, str] | None = None,
) -> list:
    """Hand each filing to `group` from a thread of its own; the results (or errors)."""
    results: list = [None] * len(filings)

    def run(index: int) -> None:
        translation.activate((languages or {}).get(index, "pl"))
        try:
            results[index] = group.register(filings[index])
        except BaseException as error:  # the test looks at it
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(filings))]
    threads[0].start()
    if first_taken is not None:  # the first leads alone; the others queue behind it
        _wait_for(first_taken)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    return results


def _wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def holding_first_batch(monkeypatch, group: FilingGroup, waiting: int, fail_second=False):
    """Record each batch's tokens; hold the first until `waiting` filings queue behind it."""
    batches: list[list[str]] = []
    original = group_commit._register

    def register(filings):
        batches.append([f.client_token for f in filings])
        if len(batches) == 1:
            _wait_for(lambda: len(group._queue) >= waiting)
        elif fail_second:
            raise RuntimeError("the database went away")
        return original(filings)

    monkeypatch.setattr(group_commit, "_register", register)
    return batches


def test_filings_queued_behind_a_batch_are_registered_together(garrison, monkeypatch):
    filings = [prepared(garrison.kwp, i) for i in range(1, 9)]
    group = FilingGroup()
    batches = holding_first_batch(monkeypatch, group, waiting=7)

    results = in_threads(group, filings, lambda: bool(batches))

    # The first alone, the seven that queued meanwhile in one transaction.
    assert [len(batch) for batch in batches] == [1, 7]
    assert batches[0] == [filings[0].client_token]
    assert sorted(batches[1]) == sorted(f.client_token for f in filings[1:])
    # Each thread got its own filing back, with its own entry and number.
    assert all(isinstance(result, Submission) for result in results), results
    assert [r.client_token for r in results] == [f.client_token for f in filings]
    entries = [r.incoming_item for r in results]
    assert [e.subject for e in entries] == [f"Temat {i}" for i in range(1, 9)]
    assert sorted(e.number for e in entries) == list(range(1, 9))
    # The leader's thread wrote them, but each audit entry has its own filer's address.
    for index, entry in enumerate(entries, start=1):
        audit = AuditEntry.objects.get(
            action="create", object_type="registry.incomingitem", object_id=str(entry.pk)
        )
        assert audit.remote_addr == f"198.51.100.{index}"
    assert list(audit_verify()) == []
    assert not group._leading and not group._queue


def test_a_filing_over_its_limit_in_a_batch_is_refused_and_the_others_filed(garrison, monkeypatch):
    spent = RateCheck("portal.filing.address", "198.51.100.3", 0, 3600)  # limit 0: over at once
    filings = [prepared(garrison.kwp, i, limits=[spent] if i == 3 else []) for i in range(1, 5)]
    group = FilingGroup()
    batches = holding_first_batch(monkeypatch, group, waiting=3)

    results = in_threads(group, filings, lambda: bool(batches))

    assert [len(batch) for batch in batches] == [1, 3]
    assert isinstance(results[2], FilingLimited) and results[2].limit == "address"
    assert [isinstance(r, Submission) for r in results] == [True, True, False, True]
    assert IncomingItem.objects.count() == 3
    assert not Submission.objects.filter(client_token=filings[2].client_token).exists()


def test_a_batch_failing_as_a_whole_writes_nothing_and_each_filing_is_then_registered_alone(
    garrison, monkeypatch
):
    def broken(submission, fields):
        raise ValueError("a step's own bug")

    filings = [prepared(garrison.kwp, i) for i in range(1, 5)]
    filings[2] = dataclasses.replace(
        filings[2], flow=dataclasses.replace(filings[2].flow, after_file=broken)
    )
    group = FilingGroup()
    batches = holding_first_batch(monkeypatch, group, waiting=3)

    results = in_threads(group, filings, lambda: bool(batches))

    # The batch of three failed; each was then registered alone, in its own thread:
    # the two good ones are filed, the broken one fails only its own request.
    assert [len(batch) for batch in batches] == [1, 3]
    assert [type(r) for r in results] == [Submission, Submission, ValueError, Submission]
    assert not IncomingItem.objects.filter(client_token=filings[2].client_token).exists()
    assert sorted(IncomingItem.objects.values_list("number", flat=True)) == [1, 2, 3]
    for index in (1, 3):  # written on their own threads: their own addresses
        entry = results[index].incoming_item
        audit = AuditEntry.objects.get(
            action="create", object_type="registry.incomingitem", object_id=str(entry.pk)
        )
        assert audit.remote_addr == f"198.51.100.{index + 1}"
    assert not group._leading and not group._queue


def test_a_filing_the_register_refuses_in_a_batch_hears_it_in_its_own_language(
    garrison, monkeypatch
):
    first = prepared(garrison.kwp, 1)
    group = FilingGroup()
    assert isinstance(group.register(first), Submission)
    # The same form token with other answers: the register refuses it.
    reused = dataclasses.replace(prepared(garrison.kwp, 7), client_token=first.client_token)
    filings = [prepared(garrison.kwp, 2), reused, prepared(garrison.kwp, 3)]
    batches = holding_first_batch(monkeypatch, group, waiting=2)
    languages = {1: "en"}  # the refused filing's request is in English, the leader's in Polish

    results = in_threads(group, filings, lambda: bool(batches), languages)

    assert [len(batch) for batch in batches] == [1, 2]  # refused in the batch, then alone
    assert isinstance(results[0], Submission) and isinstance(results[2], Submission)
    assert isinstance(results[1], DomainError)
    assert results[1].message == "This form identifier has already been used for another entry."
    assert IncomingItem.objects.count() == 3


def test_a_transaction_that_cannot_begin_fails_everything_queued_and_leaves_no_one_stuck(
    garrison, monkeypatch
):
    from django.db import OperationalError, transaction

    group = FilingGroup()

    class Refusing:
        get_connection = staticmethod(transaction.get_connection)

        def atomic(self, *args, **kwargs):
            _wait_for(lambda: len(group._queue) >= 3)  # two more queued behind the leader
            raise OperationalError("database is locked")

    monkeypatch.setattr(group_commit, "transaction", Refusing())
    filings = [prepared(garrison.kwp, i) for i in range(1, 4)]

    results = in_threads(group, filings, lambda: group._leading)

    # The leader hears the database's error; the others, queued behind it, fail at
    # once with it rather than each waiting for the database in turn.
    assert isinstance(results[0], OperationalError)
    assert all(isinstance(r, group_commit.FilingBatchError) for r in results[1:]), results
    assert isinstance(results[1].__cause__, OperationalError)
    assert not group._leading and not group._queue
    assert IncomingItem.objects.count() == 0
    monkeypatch.setattr(group_commit, "transaction", transaction)
    assert isinstance(group.register(prepared(garrison.kwp, 9)), Submission)


def test_many_threads_at_once_file_each_letter_exactly_once(garrison):
    # No hook: whatever batches form, every filing is registered once, numbered
    # without a gap, and a double click (the same token twice) gives one filing.
    filings = [prepared(garrison.kwp, i) for i in range(1, 13)]
    filings.append(filings[4])
    group = FilingGroup()

    results = in_threads(group, filings)

    assert all(isinstance(r, Submission) for r in results), results
    assert results[-1].pk == results[4].pk
    assert Submission.objects.count() == 12
    numbers = sorted(IncomingItem.objects.values_list("number", flat=True))
    assert numbers == list(range(1, 13))


def test_a_refused_filing_leaves_its_text_to_the_draft_cleanup(garrison, monkeypatch):
    # A filing at its limit is refused before its text is stored; this one passed
    # that look and is refused when counted in its transaction (another request
    # from the address was counted in between).
    from garnizon.portal import services

    monkeypatch.setattr(services, "rate_limits_reached", lambda checks: [False] * len(checks))
    with pytest.raises(FilingLimited):
        portal_submission_file(
            service="pismo",
            unit=garrison.kwp,
            attachments=[],
            client_token="e" * 64,
            fields=letter(77),
            limits=[RateCheck("portal.filing.address", "198.51.100.77", 0, 3600)],
        )
    assert IncomingItem.objects.count() == 0
    # The filed text was stored before the refusal; a marker hands it to the
    # scheduled removal of unfiled draft files.
    markers = list((get_blob_store().root / MARKERS).iterdir())
    assert len([m for m in markers if m.is_file()]) == 1


def test_a_batch_waits_for_another_process_batch_and_gathers_meanwhile(garrison, monkeypatch):
    # Two groups stand for two web processes. While the first writes its batch,
    # the second's leader waits for its turn (SQLite: the write lock; PostgreSQL:
    # the portal's advisory lock) and the filing arriving meanwhile joins it.
    filings = [prepared(garrison.kwp, i) for i in range(1, 4)]
    first, second = FilingGroup(), FilingGroup()
    batches: list[list[str]] = []
    release = threading.Event()
    original = group_commit._register

    def register(batch):
        batches.append([f.client_token for f in batch])
        if len(batches) == 1:
            assert release.wait(30)
        return original(batch)

    monkeypatch.setattr(group_commit, "_register", register)
    results: list = [None] * 3

    def run(index: int, group: FilingGroup) -> None:
        # Connected beforehand: opening the connection inside the batch's
        # transaction would itself give the next filing time to queue.
        connection.ensure_connection()
        try:
            results[index] = group.register(filings[index])
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(0, first)),
        threading.Thread(target=run, args=(1, second)),
        threading.Thread(target=run, args=(2, second)),
    ]
    threads[0].start()
    _wait_for(lambda: len(batches) == 1)
    threads[1].start()
    _wait_for(lambda: second._leading)
    threads[2].start()
    _wait_for(lambda: len(second._queue) == 2)  # the leader has not taken its batch
    release.set()
    for thread in threads:
        thread.join(timeout=60)

    assert batches == [[filings[0].client_token], [f.client_token for f in filings[1:]]]
    assert all(isinstance(r, Submission) for r in results), results
    assert sorted(r.incoming_item.number for r in results) == [1, 2, 3]


def test_a_batch_not_given_its_turn_in_time_fails_with_an_error_instead_of_waiting(
    garrison, monkeypatch
):
    # Another process holds the turn (SQLite: the write lock; PostgreSQL: the
    # portal's advisory lock) and does not give it up: the filing fails with the
    # database's error after the wait's bound, nothing written, no one stuck.
    from django.db import OperationalError, connections

    holder = connections.create_connection("default")
    holder.ensure_connection()
    if connection.vendor == "postgresql":
        monkeypatch.setattr(group_commit, "BATCH_TURN_TIMEOUT_MS", 300)
        holder.set_autocommit(False)
        holder.cursor().execute("SELECT pg_advisory_xact_lock(%s)", [group_commit._BATCH_LOCK_KEY])
        # Were the turn's bound missing, this would end the wait (and fail the test below).
        connection.cursor().execute("SET statement_timeout = '5s'")
    else:
        holder.cursor().execute("BEGIN IMMEDIATE")
        connection.cursor().execute("PRAGMA busy_timeout = 300")
    group = FilingGroup()
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError):
            group.register(prepared(garrison.kwp, 1))
        waited = time.monotonic() - started
    finally:
        holder.rollback() if connection.vendor == "postgresql" else holder.cursor().execute(
            "ROLLBACK"
        )
        holder.close()
    assert 0.25 < waited < 3
    assert not group._leading and not group._queue
    assert IncomingItem.objects.count() == 0

    # Once the turn is free, the next filing is registered, and the batch's own
    # statements run under the server's lock timeout, not the turn's bound.
    seen: list[str] = []
    original = group_commit._register

    def register(filings):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW lock_timeout")
                seen.append(cursor.fetchone()[0])
        return original(filings)

    monkeypatch.setattr(group_commit, "_register", register)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW lock_timeout")
            server_setting = cursor.fetchone()[0]
    assert isinstance(group.register(prepared(garrison.kwp, 2)), Submission)
    if connection.vendor == "postgresql":
        connection.cursor().execute("RESET statement_timeout")
        assert seen == [server_setting] and server_setting != "300ms"


def test_clerks_and_portal_batches_at_once_neither_deadlock_nor_skip_a_number(garrison):
    # A clerk's registration takes the register's number, then the audit head; a
    # portal batch waits for its turn, then takes numbers and the head in the same
    # order. Both at once, in one unit, from several threads: all registered, the
    # numbers without a gap, the audit chain whole.
    from garnizon.registry.models import Channel
    from garnizon.registry.services import incoming_item_register

    clerk = garrison.people["clerk"]
    group = FilingGroup()
    filings = [prepared(garrison.kwp, i) for i in range(1, 13)]
    errors: list[BaseException] = []

    def file(start: int) -> None:
        try:
            for filing in filings[start::3]:
                assert isinstance(group.register(filing), Submission)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def register_by_hand(index: int) -> None:
        try:
            for n in range(6):
                incoming_item_register(
                    actor=clerk,
                    unit=garrison.kwp,
                    subject=f"Pismo papierowe {index}-{n}",
                    channel=Channel.PAPER,
                )
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=file, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=register_by_hand, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()

    assert errors == []
    numbers = sorted(IncomingItem.objects.values_list("number", flat=True))
    assert numbers == list(range(1, 25))
    assert Submission.objects.count() == 12
    assert list(audit_verify()) == []
