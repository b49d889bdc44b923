"""Reading documents under need-to-know: a document is visible exactly when the
incoming item, outgoing item or case it belongs to is (one SQL condition with
subqueries; an unattached document only to its creator)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse

from garnizon.cases.selectors import cases_visible_to
from garnizon.documents.models import Document, DocumentKind, DocumentVersion
from garnizon.org.access import Scope
from garnizon.org.models import Person


def document_visibility_q(person: Person, scope: Scope, prefix: str = "") -> Q:
    from garnizon.registry.selectors import incoming_visible_to, outgoing_visible_to

    incoming = incoming_visible_to(person, scope=scope).values("id")
    outgoing = outgoing_visible_to(person, scope=scope).values("id")
    cases = cases_visible_to(person, scope=scope).values("id")
    return (
        Q(**{f"{prefix}incoming_item_id__in": incoming})
        | Q(**{f"{prefix}outgoing_item_id__in": outgoing})
        | Q(**{f"{prefix}case_id__in": cases})
        | Q(
            **{
                f"{prefix}incoming_item__isnull": True,
                f"{prefix}outgoing_item__isnull": True,
                f"{prefix}case__isnull": True,
                f"{prefix}created_by_id__in": scope.person_ids,
            }
        )
    )


def documents_visible_to(person: Person, *, scope: Scope | None = None) -> QuerySet[Document]:
    scope = scope or Scope.for_person(person)
    return Document.objects.filter(document_visibility_q(person, scope))


def versions_visible_to(person: Person, *, scope: Scope | None = None) -> QuerySet[DocumentVersion]:
    scope = scope or Scope.for_person(person)
    return DocumentVersion.objects.filter(document_visibility_q(person, scope, "document__"))


def document_section(
    person: Person,
    *,
    scope: Scope | None = None,
    case: Any = None,
    incoming_item: Any = None,
    outgoing_item: Any = None,
) -> dict[str, Any]:
    """Context for `documents/_documents.html` on a case's or an item's page: its
    documents with their versions, and where to upload (None if the person may not)."""
    from garnizon.documents.services import can_add_document

    scope = scope or Scope.for_person(person)
    target = {"case": case, "incoming_item": incoming_item, "outgoing_item": outgoing_item}
    kind, obj = next((k, v) for k, v in target.items() if v is not None)
    documents = (
        documents_visible_to(person, scope=scope)
        .filter(**{kind: obj})
        .select_related("created_by")
        .prefetch_related("versions")
        .order_by("id")
    )
    upload_url = None
    if can_add_document(scope, **{kind: obj}):
        upload_url = reverse(
            "documents:upload", kwargs={"target": kind.replace("_item", ""), "target_id": obj.pk}
        )
    return {
        "documents": documents,
        "documents_upload_url": upload_url,
        "document_kinds": DocumentKind.choices,
    }
