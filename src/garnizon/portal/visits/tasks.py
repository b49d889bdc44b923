"""Visit jobs: the background task that sends one booking's e-mail, and the periodic
jobs run by `garnizon scheduler` (common/scheduler.py, JOBS).

All are idempotent and safe to run twice or at once: e-mails are claimed row by
row with a compare-and-set UPDATE, slots are unique per (kind, start).
"""

from __future__ import annotations

from django.tasks import task

from garnizon.portal.visits import services


@task()
def send_booking_mail(booking_id: int, attempt: int = 1) -> str:
    """Send the booking's due e-mail (`services.booking_mail_send`); queued by the booking
    or cancellation in its transaction; a relay failure queues a later attempt."""
    return services.booking_mail_send(booking_id, attempt)


def send_mail() -> str:
    """The safety net: confirmations not yet sent (e.g. the relay was down), cancellations,
    reminders."""
    return services.mail_pending()


def extend_slots() -> str:
    """Keep each kind's slots reaching its booking horizon as the days pass."""
    return services.slots_generate_all()
