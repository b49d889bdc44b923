"""Periodic jobs for visits, run by `garnizon scheduler` (common/scheduler.py, JOBS).

Both are idempotent and safe in several schedulers at once: e-mails are claimed
row by row with a compare-and-set UPDATE, slots are unique per (kind, start).
"""

from __future__ import annotations

from garnizon.portal.visits import services


def send_mail() -> str:
    """Confirmations not yet sent (e.g. the SMTP relay was down), cancellations, reminders."""
    return services.mail_pending()


def extend_slots() -> str:
    """Keep each kind's slots reaching its booking horizon as the days pass."""
    return services.slots_generate_all()
