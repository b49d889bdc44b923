"""Answers delivered through the portal, and the filer's opening of them (proof of delivery).

A reply is an ordinary dispatch: `portal_reply_send` registers an outgoing item
with channel `portal` through `registry.services.outgoing_item_register` (in
the filing's case when its incoming item is in one, else as the registry's
dispatch, with a remark naming the entry it answers: the outgoing register has
no link to an incoming item), keeps the text and each file as documents on that
dispatch, and records a `PortalReply` the filer sees on the tracking page. The
filer's first opening of it is `opened_at`: the proof of delivery shown to the staff.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.cases.models import Case
from garnizon.cases.selectors import case_visibility_q
from garnizon.cases.services import can_manage_case
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.documents.models import Document, DocumentKind
from garnizon.documents.services import document_add
from garnizon.org.access import Scope, acting_on_behalf
from garnizon.org.models import Person
from garnizon.portal.models import PortalReply, Submission
from garnizon.registry.models import Channel, IncomingItem
from garnizon.registry.selectors import incoming_visibility_q
from garnizon.registry.services import can_register_in, outgoing_item_register

MAX_REPLY_FILES = 20
BODY_FILENAME = "tresc-odpowiedzi.txt"

ReplyFile = UploadedFile | File | str | os.PathLike[str]


# --- checks --------------------------------------------------------------------------------


def can_see_submission(scope: Scope, submission: Submission) -> bool:
    """The staff see a filing when they see its incoming item or the case it went into."""
    return IncomingItem.objects.filter(
        submission_item_visibility_q(scope), pk=submission.incoming_item_id
    ).exists()


def submission_item_visibility_q(scope: Scope) -> Q:
    """Incoming items whose filing the scope sees: the register's rule, or through the case
    (a case's cell may see the case without the entry having been assigned to it)."""
    return incoming_visibility_q(scope) | Q(
        case_id__in=Case.objects.filter(case_visibility_q(scope)).values("id")
    )


def can_reply(scope: Scope, submission: Submission) -> bool:
    """Who may register the answer's dispatch: the rule of `outgoing_item_register`.

    In a case: the case's cell or whoever manages the case; without one: the
    registry roles of the unit (the registry answers what no cell took up).
    """
    case = submission.incoming_item.case
    if case is not None:
        return case.cell_id in scope.member_cell_ids() or can_manage_case(scope, case)
    return can_register_in(scope, submission.unit_id)


# --- sending ---------------------------------------------------------------------------------


def portal_reply_send(
    *,
    actor: Person,
    submission: Submission,
    subject: str,
    body: str = "",
    files: Sequence[ReplyFile] = (),
    client_token: str | None = None,
) -> PortalReply:
    """Deliver an answer to a filing through the portal and tell the filer by e-mail.

    Registers the dispatch (channel `portal`), stores the text and the files as
    documents on it, records the reply and the audit entry in one transaction;
    the e-mail (a link, never the content) is queued after the commit. The same
    `client_token` a second time (a double click) returns the first reply.
    """
    scope = Scope.for_person(actor)
    if not can_see_submission(scope, submission):
        raise NotVisible(_("Nie ma takiego zgłoszenia albo nie masz do niego dostępu."))
    # The entry as it is now: it may have gone into a case since the caller read it.
    submission.incoming_item = IncomingItem.objects.select_related("case").get(
        pk=submission.incoming_item_id
    )
    if not can_reply(scope, submission):
        raise AccessDenied(
            _(
                "Odpowiedź wysyła komórka prowadząca sprawę albo jej przełożony; na zgłoszenie "
                "poza sprawą odpowiada kancelaria jednostki."
            )
        )
    subject = " ".join((subject or "").split())
    body = (body or "").strip()
    if not subject:
        raise DomainError(_("Podaj temat odpowiedzi."), field="subject")
    if not body and not files:
        raise DomainError(_("Wpisz treść odpowiedzi albo dodaj plik."), field="body")
    if len(files) > MAX_REPLY_FILES:
        raise DomainError(
            _("Do jednej odpowiedzi możesz dodać najwyżej %(n)s plików.") % {"n": MAX_REPLY_FILES},
            field="files",
        )
    item = submission.incoming_item
    on_behalf = acting_on_behalf(scope, lambda s: can_reply(s, submission))
    with contextlib.ExitStack() as stack, transaction.atomic():
        outgoing = outgoing_item_register(
            actor=actor,
            unit=submission.unit,
            subject=subject,
            channel=Channel.PORTAL,
            addressee_name=_addressee(submission),
            case=item.case,
            remarks=_remark(item),
            client_token=client_token,
        )
        if getattr(outgoing, "replayed", False):
            return PortalReply.objects.get(outgoing_item=outgoing)
        if body:
            # The text as sent is kept with the dispatch, like a letter's copy.
            document_add(
                actor=actor,
                file=ContentFile(body.encode("utf-8") + b"\n", name=BODY_FILENAME),
                title=subject,
                kind=DocumentKind.LETTER,
                outgoing_item=outgoing,
            )
        delivered = [
            _describe(
                document_add(
                    actor=actor,
                    file=_opened(stack, file),
                    kind=DocumentKind.ATTACHMENT if body or index else DocumentKind.LETTER,
                    outgoing_item=outgoing,
                )
            )
            for index, file in enumerate(files)
        ]
        reply = PortalReply.objects.create(
            submission=submission,
            outgoing_item=outgoing,
            subject=subject[:500],
            body=body,
            files=delivered,
        )
        audit_record(
            actor=actor,
            action="create",
            obj=reply,
            unit_id=submission.unit_id,
            on_behalf_of=on_behalf,
            details={
                "submission": submission.pk,
                "incoming": item.registration_number,
                "outgoing": outgoing.registration_number,
                "files": [f["sha256"] for f in delivered],
            },
        )
        from garnizon.portal.notifications import notify_reply

        reply_id = reply.pk
        transaction.on_commit(lambda: notify_reply(reply_id))
    return reply


def _addressee(submission: Submission) -> str:
    if submission.is_anonymous:
        return "zgłaszający anonimowo (portal e-usług)"
    return submission.incoming_item.sender_name or "brak danych"


def _remark(item: IncomingItem) -> str:
    return f"Odpowiedź przez portal e-usług na {item.registration_number}."


def _opened(stack: contextlib.ExitStack, file: ReplyFile) -> Any:
    """An uploaded file as it is; a path opened (and closed with the stack) under its own name."""
    if isinstance(file, str | os.PathLike):
        path = Path(file)
        return File(stack.enter_context(path.open("rb")), name=path.name)
    return file


def _describe(document: Document) -> dict[str, Any]:
    version = document.versions.get()
    return {
        "name": version.original_filename,
        "sha256": version.blob_sha256,
        "size": version.size,
        "mime": version.mime_type,
    }


# --- the filer's side -------------------------------------------------------------------------


def portal_reply_mark_opened(*, reply: PortalReply) -> bool:
    """Record the first time the filer opened a reply (its text or a file): the proof of delivery.

    Only the first opening counts and is audited; True when this call recorded it.
    """
    now = timezone.now()
    with transaction.atomic():
        first = PortalReply.objects.filter(pk=reply.pk, opened_at__isnull=True).update(
            opened_at=now
        )
        if first:
            reply.opened_at = now
            audit_record(
                actor=None,
                action="view",
                obj=reply,
                unit_id=reply.outgoing_item.unit_id,
                details={"event": "delivered", "outgoing": reply.outgoing_item.registration_number},
            )
    return bool(first)
