"""Keeping the index current: every save or delete of an indexed object queues
it, and the queue is indexed once the transaction commits (never for a
transaction that rolls back). A failure is logged and leaves the entry stale
until the next `garnizon search reindex`; it never fails the user's act.

The access tokens (garnizon.search.acl) follow the same way: a saved item or
case re-indexes itself and everything that inherits its visibility (a case:
its outgoing items and the documents of the case and of those items; an item:
its documents), and a saved or deleted assignment (dekretacja) re-indexes its
item or case the same way. Shares need nothing: they are read at query time.
A bulk `QuerySet.update()` sends no signal: call `reindex_dependents` after it
or run `garnizon search reindex`.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from garnizon.cases.models import Assignment, Case
from garnizon.documents.models import Document, DocumentVersion
from garnizon.registry.models import IncomingItem, OutgoingItem
from garnizon.search.models import ObjectType

logger = logging.getLogger(__name__)
_local = threading.local()


def _pending() -> dict[str, set[int]]:
    if not hasattr(_local, "pending"):
        _local.pending = defaultdict(set)
    return _local.pending


@contextmanager
def left_to_intake(*object_types: str) -> Iterator[None]:
    """Inside, saves of these types queue nothing: the caller hands the objects to intake.

    For a caller whose intake items carry the object (a portal filing's entry):
    the items' `index` step (search/steps.py) indexes it in a worker a moment
    later, so the caller's request does not wait for the text analysis. Until
    then the object is in the registers but not yet found by search.
    """
    skipped = _skipped()
    before = set(skipped)
    skipped.update(object_types)
    try:
        yield
    finally:
        skipped.intersection_update(before)


def _skipped() -> set[str]:
    if not hasattr(_local, "skipped"):
        _local.skipped = set()
    return _local.skipped


def queue(object_type: str, ids: set[int] | list[int]) -> None:
    """Index these objects after the current transaction commits.

    Every call registers its own callback (a rolled-back transaction drops
    its callbacks); the first to run indexes everything pending, the others
    find nothing left. Ids left by a rolled-back transaction are indexed with
    the next commit, which reads the database as it is and so does no harm.
    """
    if object_type in _skipped():
        return
    _pending()[object_type].update(i for i in ids if i is not None)
    transaction.on_commit(flush, robust=True)


def flush() -> None:
    from garnizon.search.indexing import index_objects

    pending = _pending()
    work = {t: set(ids) for t, ids in pending.items() if ids}
    pending.clear()
    for object_type, ids in work.items():
        try:
            index_objects(object_type, ids)
        except Exception:
            logger.exception("search: indexing %s %s failed", object_type, sorted(ids)[:20])


def _version_ids(**filters: object) -> list[int]:
    return list(DocumentVersion.objects.filter(**filters).values_list("pk", flat=True))


@receiver(post_save, sender=IncomingItem, dispatch_uid="search_incoming_saved")
@receiver(post_delete, sender=IncomingItem, dispatch_uid="search_incoming_deleted")
def _incoming_changed(sender, instance: IncomingItem, **kwargs) -> None:
    queue(ObjectType.INCOMING, [instance.pk])
    if not kwargs.get("created") and kwargs.get("signal") is post_save:
        queue(ObjectType.VERSION, _version_ids(document__incoming_item_id=instance.pk))


@receiver(post_save, sender=OutgoingItem, dispatch_uid="search_outgoing_saved")
@receiver(post_delete, sender=OutgoingItem, dispatch_uid="search_outgoing_deleted")
def _outgoing_changed(sender, instance: OutgoingItem, **kwargs) -> None:
    queue(ObjectType.OUTGOING, [instance.pk])
    if not kwargs.get("created") and kwargs.get("signal") is post_save:
        queue(ObjectType.VERSION, _version_ids(document__outgoing_item_id=instance.pk))


def queue_case(case_id: int) -> None:
    """The case and everything whose facets or visibility follow it."""
    from garnizon.registry.models import IncomingItem as Incoming
    from garnizon.registry.models import OutgoingItem as Outgoing

    queue(ObjectType.CASE, [case_id])
    # The class and cell of a case are facets of its items and documents.
    queue(
        ObjectType.INCOMING,
        list(Incoming.objects.filter(case_id=case_id).values_list("pk", flat=True)),
    )
    queue(
        ObjectType.OUTGOING,
        list(Outgoing.objects.filter(case_id=case_id).values_list("pk", flat=True)),
    )
    queue(ObjectType.VERSION, _version_ids(document__case_id=case_id))
    queue(ObjectType.VERSION, _version_ids(document__outgoing_item__case_id=case_id))


def queue_incoming(item_id: int) -> None:
    queue(ObjectType.INCOMING, [item_id])
    queue(ObjectType.VERSION, _version_ids(document__incoming_item_id=item_id))


def reindex_dependents(object_type: str, ids: list[int]) -> None:
    """After a bulk update of items or cases: re-index them and what inherits from them."""
    for object_id in ids:
        if object_type == ObjectType.CASE:
            queue_case(object_id)
        elif object_type == ObjectType.INCOMING:
            queue_incoming(object_id)
        elif object_type == ObjectType.OUTGOING:
            queue(ObjectType.OUTGOING, [object_id])
            queue(ObjectType.VERSION, _version_ids(document__outgoing_item_id=object_id))
        else:
            queue(object_type, [object_id])


@receiver(post_save, sender=Case, dispatch_uid="search_case_saved")
@receiver(post_delete, sender=Case, dispatch_uid="search_case_deleted")
def _case_changed(sender, instance: Case, **kwargs) -> None:
    if kwargs.get("created") or kwargs.get("signal") is not post_save:
        queue(ObjectType.CASE, [instance.pk])
        return
    queue_case(instance.pk)


@receiver(post_save, sender=Assignment, dispatch_uid="search_assignment_saved")
@receiver(post_delete, sender=Assignment, dispatch_uid="search_assignment_deleted")
def _assignment_changed(sender, instance: Assignment, **kwargs) -> None:
    """A dekretacja names a person and a cell: the target's tokens change."""
    if instance.case_id is not None:
        queue_case(instance.case_id)
    if instance.incoming_item_id is not None:
        queue_incoming(instance.incoming_item_id)


@receiver(post_save, sender=Document, dispatch_uid="search_document_saved")
def _document_saved(sender, instance: Document, **kwargs) -> None:
    if not kwargs.get("created"):
        queue(ObjectType.VERSION, _version_ids(document_id=instance.pk))


@receiver(post_save, sender=DocumentVersion, dispatch_uid="search_version_saved")
@receiver(post_delete, sender=DocumentVersion, dispatch_uid="search_version_deleted")
def _version_changed(sender, instance: DocumentVersion, **kwargs) -> None:
    # All versions of the document: the newest is indexed, older ones dropped.
    queue(ObjectType.VERSION, [instance.pk, *_version_ids(document_id=instance.document_id)])
