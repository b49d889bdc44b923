"""Building index entries from register entries, cases and document versions.

`index_objects(object_type, ids)` is the one way in: it reads the objects,
upserts their entries (one INSERT ... ON CONFLICT per batch, so it can run
beside the signals and another reindex), writes their analysed text to the
backend, and removes the entries of objects that no longer exist. Only the
newest version of a document is indexed; older versions' entries are removed.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from garnizon.search import acl, folding
from garnizon.search.analysis import Analysed, analyse
from garnizon.search.backends import get_backend
from garnizon.search.backends.base import BuildRow
from garnizon.search.models import ENTRY_FIELDS, STORED_TEXT_LENGTH, ObjectType, SearchEntry


@dataclass
class Source:
    """What one object contributes to the index."""

    object_id: int
    fields: dict
    text: str


def _join(*parts: object) -> str:
    return "\n".join(str(p) for p in parts if p)


def _date(
    value: datetime.datetime | datetime.date | None, tz: datetime.tzinfo | None = None
) -> datetime.date | None:
    """The local date of a time (`tz`: the current time zone, looked up once by a
    caller converting many)."""
    if isinstance(value, datetime.datetime):
        return timezone.localdate(value, tz)
    return value


def _entry_fields(
    *,
    unit_id: int,
    cell_id: int | None,
    classification_id: int | None,
    date: datetime.date | None,
    reference: str,
    title: str,
    tokens: set[str],
    channel: str = "",
    state: str = "",
    kind: str = "",
    document_id: int | None = None,
) -> dict:
    """An entry's columns (ENTRY_FIELDS) as a loader yields them."""
    return {
        "document_id": document_id,
        "unit_id": unit_id,
        "cell_id": cell_id,
        "classification_id": classification_id,
        "channel": channel,
        "date": date,
        "state": state,
        "kind": kind,
        "reference": reference,
        "title": title,
        "acl": acl.as_text(tokens),
    }


def _incoming(ids: list[int]) -> Iterator[Source]:
    """Read as plain rows, like the loaders below (no model instances)."""
    from garnizon.registry.models import IncomingItem

    tokens = acl.incoming_tokens(ids)
    tz = timezone.get_current_timezone()
    rows = IncomingItem.objects.filter(pk__in=ids).values_list(
        "pk",
        "registration_number",
        "subject",
        "sender_name",
        "sender_id",
        "sender__name",
        "sender__city",
        "letter_reference",
        "remarks",
        "unit_id",
        "assigned_cell_id",
        "case__classification_id",
        "channel",
        "received_at",
        "kind",
    )
    for (
        pk,
        number,
        subject,
        sender_name,
        sender_id,
        book_name,
        book_city,
        letter_reference,
        remarks,
        unit_id,
        cell_id,
        classification_id,
        channel,
        received_at,
        kind,
    ) in rows:
        text = _join(
            number,
            subject,
            sender_name,
            sender_id is not None and book_name != sender_name and book_name,
            sender_id is not None and book_city,
            letter_reference,
            remarks,
        )
        yield Source(
            pk,
            _entry_fields(
                unit_id=unit_id,
                cell_id=cell_id,
                classification_id=classification_id,
                channel=channel,
                date=_date(received_at, tz),
                kind=kind,
                reference=number,
                title=subject,
                tokens=tokens.get(pk, set()),
            ),
            text,
        )


def _outgoing(ids: list[int]) -> Iterator[Source]:
    from garnizon.registry.models import OutgoingItem

    tokens = acl.outgoing_tokens(ids)
    rows = OutgoingItem.objects.filter(pk__in=ids).values_list(
        "pk",
        "registration_number",
        "subject",
        "addressee_name",
        "address",
        "edoreczenia_address",
        "tracking_number",
        "remarks",
        "unit_id",
        "case__cell_id",
        "case__classification_id",
        "channel",
        "sent_on",
    )
    for (
        pk,
        number,
        subject,
        addressee_name,
        address,
        edoreczenia_address,
        tracking_number,
        remarks,
        unit_id,
        cell_id,
        classification_id,
        channel,
        sent_on,
    ) in rows:
        yield Source(
            pk,
            _entry_fields(
                unit_id=unit_id,
                cell_id=cell_id,
                classification_id=classification_id,
                channel=channel,
                date=sent_on,
                reference=number,
                title=subject,
                tokens=tokens.get(pk, set()),
            ),
            _join(
                number,
                subject,
                addressee_name,
                address,
                edoreczenia_address,
                tracking_number,
                remarks,
            ),
        )


def _cases(ids: list[int]) -> Iterator[Source]:
    from garnizon.cases.models import Case

    tokens = acl.case_tokens(ids)
    rows = Case.objects.filter(pk__in=ids).values_list(
        "pk",
        "unit_id",
        "cell_id",
        "classification_id",
        "opened_on",
        "state",
        "kind",
        "sign",
        "subject",
        "correspondent_name",
        "remarks",
    )
    for (
        pk,
        unit_id,
        cell_id,
        classification_id,
        opened_on,
        state,
        kind,
        sign,
        subject,
        correspondent_name,
        remarks,
    ) in rows:
        yield Source(
            pk,
            _entry_fields(
                unit_id=unit_id,
                cell_id=cell_id,
                classification_id=classification_id,
                date=opened_on,
                state=state,
                kind=kind,
                reference=sign,
                title=subject,
                tokens=tokens.get(pk, set()),
            ),
            _join(sign, subject, correspondent_name, remarks),
        )


_VERSION_COLUMNS = (
    "pk",
    "number",
    "document_id",
    "created_at",
    "original_filename",
    "text",
    "document__unit_id",
    "document__identifier",
    "document__title",
    "document__description",
    "document__kind",
    "document__created_by_id",
    "document__incoming_item_id",
    "document__outgoing_item_id",
    "document__case_id",
    "document__incoming_item__assigned_cell_id",
    "document__incoming_item__channel",
    "document__outgoing_item__channel",
    "document__case__cell_id",
    "document__case__classification_id",
    "document__outgoing_item__case__cell_id",
    "document__outgoing_item__case__classification_id",
)


def _versions(ids: list[int]) -> Iterator[Source]:
    """Read as plain rows (no model instances: several times cheaper a document)."""
    from garnizon.documents.models import DocumentVersion

    versions = list(DocumentVersion.objects.filter(pk__in=ids).values_list(*_VERSION_COLUMNS))
    newest = dict(
        DocumentVersion.objects.filter(document_id__in={v[2] for v in versions})
        .values("document_id")
        .annotate(n=Max("number"))
        .values_list("document_id", "n")
    )
    versions = [v for v in versions if v[1] == newest.get(v[2])]  # older ones: removed
    tokens = acl.document_tokens([(v[2], v[12], v[13], v[14], v[11]) for v in versions])
    tz = timezone.get_current_timezone()
    for (
        version_id,
        _number,
        document_id,
        created_at,
        filename,
        text,
        unit_id,
        identifier,
        title,
        description,
        kind,
        _creator_id,
        incoming_id,
        outgoing_id,
        case_id,
        incoming_cell_id,
        incoming_channel,
        outgoing_channel,
        case_cell_id,
        case_classification_id,
        outgoing_case_cell_id,
        outgoing_case_classification_id,
    ) in versions:
        # The document's own case, or its outgoing item's.
        if case_id is None and outgoing_id is not None:
            case_cell_id, case_classification_id = (
                outgoing_case_cell_id,
                outgoing_case_classification_id,
            )
        yield Source(
            version_id,
            _entry_fields(
                document_id=document_id,
                unit_id=unit_id,
                cell_id=incoming_cell_id if incoming_id is not None else case_cell_id,
                classification_id=case_classification_id,
                channel=incoming_channel
                if incoming_id is not None
                else (outgoing_channel if outgoing_id is not None else ""),
                date=_date(created_at, tz),
                kind=kind,
                reference=identifier,
                title=title,
                tokens=tokens.get(document_id, set()),
            ),
            _join(identifier, title, description, filename, text),
        )


LOADERS = {
    ObjectType.INCOMING: _incoming,
    ObjectType.OUTGOING: _outgoing,
    ObjectType.CASE: _cases,
    ObjectType.VERSION: _versions,
}


def index_objects(object_type: str, ids: Iterable[int]) -> int:
    """(Re)index these objects of one type; returns how many entries were written."""
    ids = sorted(set(ids))
    if not ids:
        return 0
    sources = list(LOADERS[ObjectType(object_type)](ids))
    analysed = {s.object_id: analyse(s.text) for s in sources}
    backend = get_backend()
    with transaction.atomic():
        backend.log_changes(object_type, ids)  # first: see search.rebuild
        if sources:
            SearchEntry.objects.bulk_create(
                [
                    SearchEntry(
                        object_type=object_type,
                        object_id=s.object_id,
                        **{**s.fields, "body": s.text[:STORED_TEXT_LENGTH]},
                    )
                    for s in sources
                ],
                update_conflicts=True,
                unique_fields=["object_type", "object_id"],
                update_fields=[*ENTRY_FIELDS, "indexed_at"],
            )
            entry_ids = dict(
                SearchEntry.objects.filter(
                    object_type=object_type, object_id__in=list(analysed)
                ).values_list("object_id", "id")
            )
            acls = {s.object_id: s.fields["acl"] for s in sources}
            backend.write([(entry_ids[oid], a, acls[oid]) for oid, a in analysed.items()])
            folding.record(analysed.values())
        missing = set(ids) - set(analysed)
        if missing:
            remove_entries(object_type, missing)
    return len(sources)


def analysed_rows(object_type: str, ids: list[int]) -> list[BuildRow]:
    """(object id, the entry's columns, the analysed text) of these objects that
    exist (the newest version of a document only): what a rebuild writes."""
    return [
        (
            source.object_id,
            {**source.fields, "body": source.text[:STORED_TEXT_LENGTH]},
            analyse(source.text),
        )
        for source in LOADERS[ObjectType(object_type)](ids)
    ]


def _index_job(job: tuple[str, list[int]]) -> tuple[str, int, int]:
    object_type, ids = job
    return object_type, len(ids), index_objects(object_type, ids)


def reindex(
    jobs: list[tuple[str, list[int]]],
    *,
    workers: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
) -> int:
    """Index every (object_type, ids) job, in this process or in `workers` forked
    processes (analysis runs in parallel; on SQLite the writes take turns).
    `progress(object_type, objects_done, entries_written)` is called per job."""
    written = 0
    if workers <= 1:
        for job in jobs:
            object_type, done, n = _index_job(job)
            written += n
            if progress:
                progress(object_type, done, n)
        return written
    import multiprocessing

    from django.db import connections

    analyse("samochodu")  # load the dictionary once, before forking: shared, not reloaded
    connections.close_all()  # each process opens its own connection
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        for object_type, done, n in pool.imap(_index_job, jobs):
            written += n
            if progress:
                progress(object_type, done, n)
    return written


def remove_entries(object_type: str, object_ids: Iterable[int]) -> int:
    """Remove the entries of these objects (deleted, or an older version)."""
    stale = SearchEntry.objects.filter(object_type=object_type, object_id__in=list(object_ids))
    entry_ids = list(stale.values_list("id", flat=True))
    if not entry_ids:
        return 0
    backend = get_backend()
    with transaction.atomic():
        backend.log_changes(object_type, sorted(set(object_ids)))
        backend.delete(entry_ids)
        SearchEntry.objects.filter(pk__in=entry_ids).delete()
    return len(entry_ids)


def source_ids(object_type: str) -> Iterator[int]:
    """Every id of one type's source table, ascending (for a full rebuild); of
    document versions only each document's newest, found in one grouped pass
    (as a subquery of every batch it was read again per batch: 0.8-1.6 s each,
    minutes before a rebuild of a million documents started loading)."""
    model = source_model(object_type)
    if object_type == ObjectType.VERSION:
        newest = model.objects.order_by().values("document_id").annotate(n=Max("id"))
        yield from sorted(newest.values_list("n", flat=True))
        return
    qs = model.objects.order_by("pk").values_list("pk", flat=True)
    last = 0
    while True:
        batch = list(qs.filter(pk__gt=last)[:5000])
        if not batch:
            return
        yield from batch
        last = batch[-1]


def source_model(object_type: str):
    from garnizon.cases.models import Case
    from garnizon.documents.models import DocumentVersion
    from garnizon.registry.models import IncomingItem, OutgoingItem

    return {
        ObjectType.INCOMING: IncomingItem,
        ObjectType.OUTGOING: OutgoingItem,
        ObjectType.CASE: Case,
        ObjectType.VERSION: DocumentVersion,
    }[ObjectType(object_type)]


def prune(object_type: str, *, batch: int = 5000) -> int:
    """Remove entries whose object is gone (after a crash between a delete and its signal)."""
    model = source_model(object_type)
    removed = 0
    last = 0
    while True:
        rows = list(
            SearchEntry.objects.filter(object_type=object_type, object_id__gt=last)
            .order_by("object_id")
            .values_list("object_id", flat=True)[:batch]
        )
        if not rows:
            return removed
        present = set(model.objects.filter(pk__in=rows).values_list("pk", flat=True))
        removed += remove_entries(object_type, set(rows) - present)
        last = rows[-1]


__all__ = [
    "ENTRY_FIELDS",
    "Analysed",
    "analysed_rows",
    "index_objects",
    "prune",
    "reindex",
    "remove_entries",
    "source_ids",
]
