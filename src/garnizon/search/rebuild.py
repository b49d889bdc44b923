"""A full rebuild of the index (`garnizon search reindex`) while the system serves.

The new index is built beside the one in use and swapped in at the end:

- SQLite: a second FTS5 table `search_fts_build`, loaded with FTS5's merging
  off (`automerge` 0) and merged once at the end in short transactions; the
  entries themselves are upserted in place (their ids are the new table's
  rowids). The swap drops `search_fts` and renames the new table.
- PostgreSQL: a second entry table `search_searchentry_build` of the same
  shape, loaded by COPY (the tsvectors as literals the server parses) with no
  index at all; then its constraints and indexes, the GIN index
  included, are built once over the loaded rows. The swap drops the old table
  and renames the new one and its indexes.

Searches read the old index until the swap commits. Changes made meanwhile
are indexed into the old index by the signals as usual, and every transaction
that does so first records its objects in the change log
(`RebuildChange`, only while a rebuild runs). The swap's transaction holds
those writers off (`build_lock`), indexes every logged object again into the
new index, then swaps: a change made during the rebuild is never lost, and a
stale copy the rebuild wrote of an object changed under it is replaced.

One rebuild at a time, on any machine: it holds the lease `search:rebuild`
(`common/leases.py`), renewed after every batch; a second one is refused with
who holds it, and a rebuild that finds its lease taken over stops before the
swap. A rebuild that dies leaves a lease that expires by itself.

`--workers N` loads and analyses in N forked processes; on PostgreSQL they
also write in parallel (one COPY per batch each), on SQLite their writes take
turns on the one write lock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from django.db import connections, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from garnizon.common.errors import DomainError
from garnizon.common.leases import Lease, lease_holder
from garnizon.search import folding
from garnizon.search.analysis import analyse
from garnizon.search.backends import get_backend
from garnizon.search.indexing import analysed_rows, source_ids
from garnizon.search.models import ObjectType, RebuildChange

Progress = Callable[[str, int, int], None]

REBUILD_LEASE = "search:rebuild"
# Renewed after every batch and before the finish and the swap; the finish (FTS5
# merge, PostgreSQL's indexes) is one long statement, so the lease outlasts it.
REBUILD_LEASE_SECONDS = 1800.0


def _build_job(job: tuple[str, list[int]]) -> tuple[str, int, int]:
    object_type, ids = job
    rows = analysed_rows(object_type, ids)
    with transaction.atomic():
        get_backend().build_write(object_type, rows)
        folding.record(analysed for _id, _fields, analysed in rows)
    return object_type, len(ids), len(rows)


def rebuild(
    *,
    workers: int = 1,
    batch: int = 1000,
    progress: Progress | None = None,
    before_swap: Callable[[], None] | None = None,
) -> int:
    """Rebuild the whole index and swap it in; returns how many entries it holds.

    `progress(object_type, objects_done, objects_of_that_type)` is called after
    every batch; `before_swap` (tests) runs between the load and the swap."""
    lease = Lease.acquire(REBUILD_LEASE, REBUILD_LEASE_SECONDS)
    if lease is None:
        raise DomainError(_busy_message())
    try:
        return _rebuild(lease, workers, batch, progress, before_swap)
    finally:
        lease.release()


def _busy_message() -> str:
    held = lease_holder(REBUILD_LEASE)
    if held is None:  # released a moment ago
        return _("Przebudowa indeksu wyszukiwania właśnie się zakończyła. Uruchom ją ponownie.")
    return _(
        "Indeks wyszukiwania jest już przebudowywany (proces %(owner)s, od %(since)s). "
        "Poczekaj, aż przebudowa się skończy; przerwana zwalnia się sama najpóźniej o %(until)s."
    ) % {
        "owner": held.owner,
        "since": formats.date_format(timezone.localtime(held.acquired_at), "DATETIME_FORMAT"),
        "until": formats.date_format(timezone.localtime(held.lease_until), "DATETIME_FORMAT"),
    }


def _still_ours(lease: Lease) -> None:
    if not lease.renew():
        raise DomainError(
            _(
                "Przebudowa indeksu wyszukiwania przerwana: jej dzierżawa wygasła i przejął ją "
                "inny proces. Indeks w użyciu nie został zmieniony."
            )
        )


def _rebuild(
    lease: Lease,
    workers: int,
    batch: int,
    progress: Progress | None,
    before_swap: Callable[[], None] | None,
) -> int:
    backend = get_backend()
    with transaction.atomic():
        backend.build_begin()
    jobs: list[tuple[str, list[int]]] = []
    totals: dict[str, int] = {}
    for object_type in ObjectType:
        ids = list(source_ids(object_type))
        totals[object_type.value] = len(ids)
        jobs += [(object_type.value, ids[i : i + batch]) for i in range(0, len(ids), batch)]
        if not ids and progress:
            progress(object_type.value, 0, 0)
    done: dict[str, int] = defaultdict(int)
    written = 0

    def finished(result: tuple[str, int, int]) -> None:
        nonlocal written
        object_type, objects, entries = result
        written += entries
        done[object_type] += objects
        _still_ours(lease)
        if progress:
            progress(object_type, done[object_type], totals[object_type])

    if workers <= 1:
        for job in jobs:
            finished(_build_job(job))
    else:
        import multiprocessing

        analyse("samochodu")  # load the dictionary once, before forking: shared, not reloaded
        connections.close_all()  # each process opens its own connection
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for result in pool.imap(_build_job, jobs):
                finished(result)
    _still_ours(lease)
    backend.build_finish(workers)
    if before_swap:
        before_swap()
    _still_ours(lease)
    with transaction.atomic():
        backend.build_lock()
        _replay(backend)
        backend.build_swap()
    return written


def _replay(backend) -> int:
    """Index the objects changed during the rebuild again, into the new index."""
    changed: dict[str, set[int]] = defaultdict(set)
    for object_type, object_id in RebuildChange.objects.values_list("object_type", "object_id"):
        changed[object_type].add(object_id)
    added = 0
    for object_type, ids in changed.items():
        ordered = sorted(ids)
        backend.build_forget(object_type, ordered)
        rows = analysed_rows(object_type, ordered)
        backend.build_write(object_type, rows)
        folding.record(analysed for _id, _fields, analysed in rows)
        added += len(rows)
    RebuildChange.objects.all().delete()
    return added


__all__ = ["rebuild"]
