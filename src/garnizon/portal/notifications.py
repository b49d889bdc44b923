"""E-mail to the filer: a confirmation of the filing, and a note that an answer is waiting.

Both are sent by a background task (`portal.tasks.deliver_portal_notification`)
queued after the commit, in the filer's language, from `DEFAULT_FROM_EMAIL`
through the `MAILERS["default"]` connection. An answer's e-mail holds only a link,
never its content. Nothing goes to an anonymous filing or one without an address.

Delivery is idempotent (a task may run twice): a sent confirmation is recorded
in the audit trail (object `portal.notification`, id `filed:<submission>`), a
sent answer note in `PortalReply.notified_at`; either is checked before sending.
When the SMTP relay fails, the task queues itself again later (`RETRY_DELAYS`)
and fails this attempt, so the queue shows what happened; after the last
attempt the failure stays in the queue's results and the log.
"""

from __future__ import annotations

import datetime
import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from garnizon.audit.models import AuditEntry
from garnizon.audit.services import audit_record
from garnizon.common.tasks import enqueue_many
from garnizon.portal.models import PortalReply, Submission
from garnizon.portal.services import tracking_token_for

log = logging.getLogger(__name__)

FILED = "filed"
REPLY = "reply"
NOTIFICATION_TYPE = "portal.notification"
#: Waits before the 2nd, 3rd, ... attempt; after the last one the notification is given up.
RETRY_DELAYS = (
    datetime.timedelta(minutes=1),
    datetime.timedelta(minutes=5),
    datetime.timedelta(minutes=30),
    datetime.timedelta(hours=2),
    datetime.timedelta(hours=6),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
SUPPORTED_LANGUAGES = {"pl", "en", "uk"}


# --- queueing ------------------------------------------------------------------------------


def notify_filed(submission_id: int) -> None:
    """Queue the filing confirmation (call after the commit: `transaction.on_commit`)."""
    _enqueue(FILED, submission_id)


def notify_filed_many(submission_ids: list[int]) -> None:
    """Queue the filing confirmations of several filings (one INSERT), as `notify_filed`."""
    from garnizon.portal.tasks import deliver_portal_notification

    enqueue_many(deliver_portal_notification, [(FILED, pk, 1) for pk in submission_ids])


def notify_reply(reply_id: int) -> None:
    """Queue the note that an answer is waiting (call after the commit)."""
    _enqueue(REPLY, reply_id)


def _enqueue(kind: str, object_id: int, attempt: int = 1) -> None:
    from garnizon.portal.tasks import deliver_portal_notification

    task = deliver_portal_notification
    if attempt > 1:
        task = task.using(run_after=timezone.now() + RETRY_DELAYS[attempt - 2])
    task.enqueue(kind, object_id, attempt)


# --- delivering (what the task runs) -------------------------------------------------------


def deliver(kind: str, object_id: int, attempt: int = 1) -> str:
    """Send one notification; on an SMTP failure queue the next attempt and re-raise."""
    sender = {FILED: send_filed, REPLY: send_reply}[kind]
    try:
        return sender(object_id)
    except (smtplib.SMTPException, OSError) as error:
        if attempt < MAX_ATTEMPTS:
            _enqueue(kind, object_id, attempt + 1)
            log.warning(
                "portal: %s notification %s, attempt %s failed (%s); retrying in %s",
                kind,
                object_id,
                attempt,
                error,
                RETRY_DELAYS[attempt - 1],
            )
        else:
            log.error(
                "portal: %s notification %s given up after %s attempts: %s",
                kind,
                object_id,
                attempt,
                error,
            )
        raise


def send_filed(submission_id: int) -> str:
    """The confirmation: registration number, deadline, tracking link. Sent once."""
    submission = (
        Submission.objects.select_related("incoming_item", "unit").filter(pk=submission_id).first()
    )
    if submission is None or submission.is_anonymous or not submission.email:
        return "skipped"
    marker = f"{FILED}:{submission.pk}"
    if AuditEntry.objects.filter(object_type=NOTIFICATION_TYPE, object_id=marker).exists():
        return "already sent"
    item = submission.incoming_item
    _send(
        submission,
        "filed",
        {
            "number": item.registration_number,
            "service": submission.get_service_display(),
            "unit": submission.unit.name,
            "due": item.due_date,
            "received": item.received_at,
        },
    )
    audit_record(
        actor=None,
        action="create",
        object_type=NOTIFICATION_TYPE,
        object_id=marker,
        object_repr=f"e-mail: potwierdzenie {item.registration_number}",
        unit_id=submission.unit_id,
        details={"event": "email_sent", "kind": FILED, "language": submission.language},
    )
    return "sent"


def send_reply(reply_id: int) -> str:
    """The note that an answer is waiting: a link only. Sets `notified_at` once sent."""
    reply = (
        PortalReply.objects.select_related("submission__incoming_item", "submission__unit")
        .filter(pk=reply_id)
        .first()
    )
    if reply is None:
        return "skipped"
    if reply.notified_at is not None:
        return "already sent"
    submission = reply.submission
    if submission.is_anonymous or not submission.email:
        return "skipped"
    _send(
        submission,
        "reply",
        {
            "number": submission.incoming_item.registration_number,
            "unit": submission.unit.name,
        },
    )
    with transaction.atomic():
        PortalReply.objects.filter(pk=reply.pk, notified_at__isnull=True).update(
            notified_at=timezone.now()
        )
        audit_record(
            actor=None,
            action="create",
            object_type=NOTIFICATION_TYPE,
            object_id=f"{REPLY}:{reply.pk}",
            object_repr=f"e-mail: odpowiedź {submission.incoming_item.registration_number}",
            unit_id=submission.unit_id,
            details={"event": "email_sent", "kind": REPLY, "language": submission.language},
        )
    return "sent"


def tracking_url(submission: Submission) -> str:
    """The absolute link to the filing's tracking page (the token derives from the form's)."""
    path = reverse("portal:tracking", args=[tracking_token_for(submission.client_token)])
    return settings.GARNIZON_PORTAL_URL.rstrip("/") + path


def _send(submission: Submission, template: str, context: dict) -> None:
    language = submission.language if submission.language in SUPPORTED_LANGUAGES else "pl"
    with translation.override(language):
        context = {**context, "tracking_url": tracking_url(submission)}
        subject = render_to_string(f"portal/email/{template}_subject.txt", context)
        body = render_to_string(f"portal/email/{template}_body.txt", context)
    message = EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[submission.email],
        headers={"Content-Language": language, "Auto-Submitted": "auto-generated"},
    )
    message.send()
