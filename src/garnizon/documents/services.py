"""Adding documents and versions, and opening them for reading.

Every function takes keyword arguments, checks need-to-know, owns its
transaction and writes the audit trail (create for every upload, view for
every download or preview); a document added to a case also goes into the case
record. The file is stored in the blob store *before* the transaction, so a
long upload never holds the database's write lock: if the database write then
fails, the blob stays behind. That is harmless (it is named by its content,
an upload of the same file reuses it) and `garnizon blobs verify` lists it as
an orphan.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.cases.models import Case, CaseRecordAction
from garnizon.cases.selectors import case_visibility_q
from garnizon.cases.services import can_manage_case, can_work_in_cell, case_record_add
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.common.sequences import next_value
from garnizon.documents.blobstore import (
    BlobRef,
    VerifyingReader,
    get_blob_store,
    max_upload_size,
)
from garnizon.documents.metadata import detect_mime, document_metadata, safe_filename
from garnizon.documents.models import Document, DocumentKind, DocumentVersion
from garnizon.documents.selectors import documents_visible_to, versions_visible_to
from garnizon.org.access import Scope, acting_on_behalf
from garnizon.org.models import Person, Role
from garnizon.registry.models import IncomingItem, OutgoingItem
from garnizon.registry.selectors import incoming_visibility_q, outgoing_visible_to

log = logging.getLogger(__name__)

# --- checks -------------------------------------------------------------------------------


def _target_visible(
    scope: Scope, case: Case | None, incoming_item: IncomingItem | None, outgoing_item: Any
) -> bool:
    if case is not None:
        return Case.objects.filter(case_visibility_q(scope), pk=case.pk).exists()
    if incoming_item is not None:
        return IncomingItem.objects.filter(
            incoming_visibility_q(scope), pk=incoming_item.pk
        ).exists()
    if outgoing_item is not None:
        return outgoing_visible_to(scope.person, scope=scope).filter(pk=outgoing_item.pk).exists()
    return False


def _works_on_case(scope: Scope, case: Case) -> bool:
    return can_work_in_cell(scope, case.cell) or can_manage_case(scope, case)


def can_add_document(
    scope: Scope,
    *,
    case: Case | None = None,
    incoming_item: IncomingItem | None = None,
    outgoing_item: OutgoingItem | None = None,
) -> bool:
    """Who sees the item or case and works on it: the case's cell or whoever manages
    it; for an item its assignee, registrar, the cell holding it, or a registry
    clerk of its unit. Those who only read (archivist, share recipients) may not."""
    if not _target_visible(scope, case, incoming_item, outgoing_item):
        return False
    if case is not None:
        return _works_on_case(scope, case)
    item = incoming_item or outgoing_item
    if scope.has_role(Role.REGISTRY_CLERK, unit_id=item.unit_id):
        return True
    if item.registered_by_id in scope.person_ids:
        return True
    if incoming_item is not None:
        if incoming_item.assigned_person_id in scope.person_ids:
            return True
        cell = incoming_item.assigned_cell
        if cell is not None and can_work_in_cell(scope, cell):
            return True
    return item.case_id is not None and _works_on_case(scope, item.case)


def _one_target(case: Any, incoming_item: Any, outgoing_item: Any) -> None:
    if sum(x is not None for x in (case, incoming_item, outgoing_item)) != 1:
        raise DomainError(_("Dokument dołącza się do jednej sprawy albo jednej przesyłki."))


# --- adding ------------------------------------------------------------------------------------


def _store(file: Any) -> tuple[BlobRef, str, str]:
    """Put the file in the blob store: its reference, detected type and safe name."""
    store = get_blob_store()
    if hasattr(file, "seek"):
        file.seek(0)
    ref = store.put(file, max_size=max_upload_size())
    mime = detect_mime(store.path(ref.sha256))
    return ref, mime, safe_filename(getattr(file, "name", "") or "")


def document_add(
    *,
    actor: Person,
    file: Any,
    title: str = "",
    kind: str = DocumentKind.ATTACHMENT,
    description: str = "",
    case: Case | None = None,
    incoming_item: IncomingItem | None = None,
    outgoing_item: OutgoingItem | None = None,
    text: str = "",
    queue_thumbnail: bool = True,
) -> Document:
    """A new document with its first version, attached to one case or item.

    `text` is the version's text as read by the intake (OCR or a text layer); it is
    written with the version, which is immutable afterwards. `queue_thumbnail=False`
    is for the intake, whose own `thumbnail` step makes it (no second task).
    """
    _one_target(case, incoming_item, outgoing_item)
    scope = Scope.for_person(actor)
    target = {"case": case, "incoming_item": incoming_item, "outgoing_item": outgoing_item}
    if not _target_visible(scope, case, incoming_item, outgoing_item):
        raise NotVisible()
    if not can_add_document(scope, **target):
        raise AccessDenied(_("Dokumenty dodaje komórka prowadząca albo przełożony."))
    if kind not in DocumentKind.values:
        raise DomainError(_("Nieznany rodzaj dokumentu."), field="kind")
    title = " ".join((title or "").split())[:500]
    ref, mime, filename = _store(file)
    title = title or filename.rpartition(".")[0] or filename
    owner = case or incoming_item or outgoing_item
    on_behalf = acting_on_behalf(scope, lambda s: can_add_document(s, **target))
    with transaction.atomic(), translation.override("pl"):
        year = timezone.localdate().year
        number = next_value(f"doc:{owner.unit_id}:{year}")
        parent_case = outgoing_item.case if outgoing_item is not None else None
        restricted = bool(
            getattr(owner, "is_restricted", False) or (parent_case and parent_case.is_restricted)
        )
        document = Document.objects.create(
            unit_id=owner.unit_id,
            identifier=f"{owner.unit.symbol}/DOK/{number}/{year}",
            title=title,
            kind=kind,
            case=case,
            incoming_item=incoming_item,
            outgoing_item=outgoing_item,
            is_restricted=restricted,
            description=description,
            created_by=actor,
            creator_role=actor.position_title(),
        )
        version = _add_version(
            document,
            ref,
            mime,
            filename,
            actor,
            on_behalf,
            number=1,
            text=text,
            queue_thumbnail=queue_thumbnail,
        )
        if case is not None:
            case_record_add(
                case,
                actor,
                on_behalf,
                CaseRecordAction.DOCUMENT_ADDED,
                _("Dokument „%(title)s” (%(file)s)") % {"title": title, "file": filename},
                document_ref=document.identifier,
            )
        audit_record(
            actor=actor,
            action="create",
            obj=document,
            on_behalf_of=on_behalf,
            details=_details(version),
        )
    return document


def document_add_version(*, actor: Person, document: Document, file: Any) -> DocumentVersion:
    """The next version of a document (numbered without gaps); earlier ones stay as they were."""
    scope = Scope.for_person(actor)
    if not documents_visible_to(actor, scope=scope).filter(pk=document.pk).exists():
        raise NotVisible()
    target = {
        "case": document.case,
        "incoming_item": document.incoming_item,
        "outgoing_item": document.outgoing_item,
    }
    if not any(target.values()) and document.created_by_id in scope.person_ids:
        allowed = True
    else:
        allowed = can_add_document(scope, **target)
    if not allowed:
        raise AccessDenied(_("Nowe wersje dodaje komórka prowadząca albo przełożony."))
    ref, mime, filename = _store(file)
    on_behalf = acting_on_behalf(scope, lambda s: can_add_document(s, **target))
    with transaction.atomic(), translation.override("pl"):
        locked = Document.objects.select_for_update().get(pk=document.pk)
        last = locked.versions.aggregate(n=Max("number"))["n"] or 0
        version = _add_version(locked, ref, mime, filename, actor, on_behalf, number=last + 1)
        if locked.case_id is not None:
            case_record_add(
                locked.case,
                actor,
                on_behalf,
                CaseRecordAction.DOCUMENT_ADDED,
                _("Wersja %(number)s dokumentu „%(title)s” (%(file)s)")
                % {"number": version.number, "title": locked.title, "file": filename},
                document_ref=locked.identifier,
            )
        audit_record(
            actor=actor,
            action="create",
            obj=locked,
            on_behalf_of=on_behalf,
            details=_details(version),
        )
    return version


def _add_version(
    document: Document,
    ref: BlobRef,
    mime: str,
    filename: str,
    actor: Person,
    on_behalf: Person | None,
    *,
    number: int,
    text: str = "",
    queue_thumbnail: bool = True,
) -> DocumentVersion:
    version = DocumentVersion.objects.create(
        document=document,
        number=number,
        blob_sha256=ref.sha256,
        size=ref.size,
        original_filename=filename,
        mime_type=mime,
        created_by=actor,
        on_behalf_of=on_behalf,
        text=text,
    )
    document.metadata = document_metadata(document)
    document.save(update_fields=["metadata"])
    if queue_thumbnail:
        _thumbnail_after_commit(version)
    return version


def _thumbnail_after_commit(version: DocumentVersion) -> None:
    """Queue the version's thumbnail once the version is committed (PDF and images only)."""
    from garnizon.documents.thumbnails import SUPPORTED

    if version.mime_type not in SUPPORTED:
        return

    def enqueue() -> None:
        from garnizon.documents.tasks import make_thumbnail

        try:
            make_thumbnail.enqueue(version.pk)
        except Exception:  # the upload stands; the page just shows no thumbnail
            log.exception("document version %s: thumbnail not queued", version.pk)

    transaction.on_commit(enqueue)


def _details(version: DocumentVersion, **extra: Any) -> dict[str, Any]:
    return {
        "version": version.number,
        "sha256": version.blob_sha256,
        "size": version.size,
        "filename": version.original_filename,
        "mime_type": version.mime_type,
        **extra,
    }


# --- reading -----------------------------------------------------------------------------------


def document_get_for_view(*, actor: Person, document_id: int) -> Document:
    scope = Scope.for_person(actor)
    document = (
        documents_visible_to(actor, scope=scope)
        .filter(pk=document_id)
        .select_related("case", "incoming_item", "outgoing_item", "created_by")
        .first()
    )
    if document is None:
        raise NotVisible(_("Nie ma takiego dokumentu albo nie masz do niego dostępu."))
    return document


def document_version_open_for_read(
    *, actor: Person, version_id: int, purpose: str = "download"
) -> tuple[DocumentVersion, VerifyingReader]:
    """A version the actor may see and a reader that verifies its hash; the read is audited.

    `BlobMissing` is raised at once when the file is gone; `BlobCorrupted` when
    the reader reaches the end of a file whose content does not match.
    """
    scope = Scope.for_person(actor)
    version = (
        versions_visible_to(actor, scope=scope)
        .filter(pk=version_id)
        .select_related("document")
        .first()
    )
    if version is None:
        raise NotVisible(_("Nie ma takiego dokumentu albo nie masz do niego dostępu."))
    reader = get_blob_store().open(version.blob_sha256)
    try:
        on_behalf = acting_on_behalf(
            scope,
            lambda s: versions_visible_to(s.person, scope=s).filter(pk=version_id).exists(),
        )
        audit_record(
            actor=actor,
            action="view",
            obj=version.document,
            on_behalf_of=on_behalf,
            details=_details(version, purpose=purpose),
        )
    except BaseException:
        reader.close()
        raise
    return version, reader
