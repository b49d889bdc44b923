"""The runner: claim an intake item, run the steps, record every result, finish.

Claiming is one compare-and-set UPDATE on the item's state, so a task run twice
(or by two workers at once) processes an item once. A claim older than
`stale_after()` (GARNIZON_INTAKE_STALE_SECONDS) belongs to a worker that died and
may be taken again. The runner
renews its claim (and shows the step in `current_step`) before every step that
has work to do; if someone else has taken the item over in the meantime, it
stops without writing a final state. A step with nothing to do is recorded as
skipped together with the next result written (one INSERT for both), without a
renewal of its own: the item's history reads the same, with fewer round trips.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from garnizon.common.errors import DomainError
from garnizon.documents.blobstore import DIR_MODE, FILE_MODE, BlobError
from garnizon.intake.models import IntakeItem, IntakeState, IntakeStepResult, StepStatus
from garnizon.intake.steps import STEPS, IntakeContext, Step, StepOutcome, quarantine_dir

log = logging.getLogger(__name__)


def run_pipeline(item_id: int, *, steps: list[Step] | None = None) -> str | None:
    """Process one intake item; its final state, or None when it was not ours to take."""
    claimed_at = claim(item_id)
    if claimed_at is None:
        return None
    item = IntakeItem.objects.select_related("unit", "requested_by").get(pk=item_id)
    ctx = IntakeContext(item=item)
    ran: list[Step] = []
    pending: list[IntakeStepResult] = []  # skipped steps' results, written with the next one
    final = IntakeState.DONE
    message = ""
    with translation.override("pl"):
        try:
            for step in steps if steps is not None else STEPS:
                if not step.able_to_run(ctx):
                    pending.append(_result(ctx, step, _skipped(), time.monotonic()))
                    continue
                claimed_at = _renew(item, claimed_at, step.name)
                if claimed_at is None:
                    log.warning("intake item %s was taken over by another worker", item_id)
                    return None
                outcome = _run_step(step, ctx, ran, pending)
                pending = []
                if outcome.stops:
                    final, message = outcome.final_state or IntakeState.FAILED, outcome.message
                    break
            if pending:
                IntakeStepResult.objects.bulk_create(pending)
        finally:
            for step in reversed(ran):
                try:
                    step.cleanup(ctx)
                except Exception:
                    log.exception("intake step %s: cleanup failed", step.name)
        if final == IntakeState.QUARANTINED:
            item.quarantine_path = str(_quarantine(item))
        done = IntakeItem.objects.filter(
            pk=item.pk, state=IntakeState.PROCESSING, claimed_at=claimed_at
        ).update(
            state=final,
            error_message=message,
            current_step="",
            finished_at=timezone.now(),
            quarantine_path=item.quarantine_path,
        )
        if done and final == IntakeState.QUARANTINED:
            _audit_quarantine(item, message)
    return final if done else None


def _audit_quarantine(item: IntakeItem, message: str) -> None:
    """A quarantined file is a security event: it goes into the audit trail (no actor:
    the pipeline did it, on behalf of whoever sent the file in)."""
    from garnizon.audit.services import audit_record

    try:
        audit_record(
            actor=None,
            action="update",
            obj=item,
            details={
                "operation": "intake_quarantine",
                "requested_by": item.requested_by.username,
                "sha256": item.blob_sha256,
                "filename": item.original_filename,
                "reason": message[:500],
            },
        )
    except Exception:  # the state is written; a failed audit write must not undo it
        log.exception("intake item %s: audit of the quarantine failed", item.pk)


def stale_after() -> datetime.timedelta:
    """How old a claim must be to belong to a dead worker (GARNIZON_INTAKE_STALE_SECONDS)."""
    return datetime.timedelta(seconds=settings.GARNIZON_INTAKE_STALE_SECONDS)


# Kept for callers that read it at import time; `claim` uses `stale_after()`.
STALE_AFTER = stale_after()


def claim(item_id: int) -> datetime.datetime | None:
    """Take the item for processing (the time of the claim), or None if it is not free."""
    now = timezone.now()
    taken = IntakeItem.objects.filter(
        Q(state=IntakeState.RECEIVED)
        | Q(state=IntakeState.PROCESSING, claimed_at__lt=now - stale_after()),
        pk=item_id,
    ).update(state=IntakeState.PROCESSING, claimed_at=now, attempts=F("attempts") + 1)
    return now if taken else None


def _renew(item: IntakeItem, claimed_at: datetime.datetime, step: str) -> datetime.datetime | None:
    now = timezone.now()
    renewed = IntakeItem.objects.filter(
        pk=item.pk, state=IntakeState.PROCESSING, claimed_at=claimed_at
    ).update(claimed_at=now, current_step=step)
    if not renewed:
        return None
    # The row is the item as this worker wrote it (nobody else writes a claimed item).
    item.claimed_at, item.current_step = now, step
    return now


def _skipped() -> StepOutcome:
    return StepOutcome(StepStatus.SKIPPED, _("Nie było nic do zrobienia."))


def _result(
    ctx: IntakeContext, step: Step, outcome: StepOutcome, started: float
) -> IntakeStepResult:
    return IntakeStepResult(
        item=ctx.item,
        attempt=ctx.item.attempts,
        step=step.name,
        outcome=outcome.status,
        message=outcome.message,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _run_step(
    step: Step, ctx: IntakeContext, ran: list[Step], pending: list[IntakeStepResult] | None = None
) -> StepOutcome:
    """Run a step that is able to run and record its result (after `pending` skipped ones)."""
    started = time.monotonic()
    ran.append(step)
    try:
        outcome = step.run(ctx)
    except DomainError as error:
        outcome = StepOutcome.stop(str(error.message))
    except BlobError:
        log.exception("intake item %s: blob store problem", ctx.item.pk)
        outcome = StepOutcome.stop(
            _("Oryginał pliku w magazynie jest niedostępny. Zgłoś to administratorowi.")
        )
    except Exception:
        log.exception("intake item %s: step %s failed", ctx.item.pk, step.name)
        outcome = StepOutcome.stop(
            _(
                "Nieoczekiwany błąd w kroku „%(step)s”. Oryginał jest zachowany; spróbuj "
                "ponownie (garnizon intake retry %(id)s), a gdy błąd się powtórzy, zgłoś go "
                "administratorowi."
            )
            % {"step": step.name, "id": ctx.item.pk}
        )
    IntakeStepResult.objects.bulk_create([*(pending or []), _result(ctx, step, outcome, started)])
    return outcome


def _quarantine(item: IntakeItem) -> Path:
    """A copy of the original in the quarantine folder (the blob itself stays)."""
    from garnizon.documents.blobstore import get_blob_store

    folder = quarantine_dir() / timezone.localdate().isoformat()
    folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    target = folder / f"{item.pk}-{item.blob_sha256[:12]}-{item.original_filename}"
    if not target.exists():
        tmp = target.with_name(target.name + ".part")
        with get_blob_store().open(item.blob_sha256) as reader, tmp.open("wb") as out:
            shutil.copyfileobj(reader, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    return target
