"""Background tasks of the portal (django.tasks; safe to run twice)."""

from __future__ import annotations

from django.tasks import task

from garnizon.portal.notifications import deliver


@task()
def deliver_portal_notification(kind: str, object_id: int, attempt: int = 1) -> str:
    """Send one e-mail to a filer (`notifications.deliver`); a failure queues a later attempt."""
    return deliver(kind, object_id, attempt)
