"""A small scheduler for periodic work: `garnizon scheduler [--once]`.

The task queue (django-tasks-db) has no periodic jobs, so this process runs
them. A job is a name, an interval and a dotted path to a callable without
arguments (its return value, if any, is the run's message). Several schedulers
may run (one per machine): before running a job each one tries a single
compare-and-set UPDATE on the job's `ScheduledJob` row,

    SET next_run_at = now + interval, lease_until = now + lease, lease_owner = me
    WHERE name = ? AND next_run_at <= now AND (lease_until IS NULL OR lease_until < now)

and only the one that updated the row runs the job; so a job runs at most once
per interval, and never twice at the same time while its lease lasts. A
scheduler that dies mid-run leaves the lease, which expires. Every run is
written to `JobRun` and the log; a failing job is recorded as `failed` and
the loop goes on with the next one.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import close_old_connections
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from garnizon.common.models import JobRun, ScheduledJob

log = logging.getLogger(__name__)

# A run longer than this no longer holds its job (another scheduler may start it).
DEFAULT_LEASE = datetime.timedelta(minutes=10)
# The loop never sleeps longer than this, so new jobs and stopped leases are noticed.
MAX_SLEEP = 5.0


@dataclass(frozen=True)
class Job:
    name: str
    interval: datetime.timedelta
    target: str  # dotted path of a callable without arguments
    lease: datetime.timedelta = DEFAULT_LEASE

    def call(self) -> object:
        function: Callable[[], object] = import_string(self.target)
        return function()


JOBS: tuple[Job, ...] = (
    Job(
        "intake.requeue_stale",
        datetime.timedelta(minutes=1),
        "garnizon.intake.maintenance.requeue_stale",
    ),
    Job(
        "intake.hot_folders",
        datetime.timedelta(seconds=10),
        "garnizon.intake.maintenance.scan_hot_folders",
    ),
    Job("intake.mail", datetime.timedelta(minutes=1), "garnizon.intake.maintenance.poll_mail"),
    Job("visits.mail", datetime.timedelta(minutes=5), "garnizon.portal.visits.tasks.send_mail"),
    Job("visits.slots", datetime.timedelta(hours=6), "garnizon.portal.visits.tasks.extend_slots"),
    Job(
        "portal.draft_blobs",
        datetime.timedelta(hours=1),
        "garnizon.portal.drafts.remove_stale_draft_blobs",
    ),
    Job(
        "common.rate_counters_purge",
        datetime.timedelta(hours=1),
        "garnizon.common.ratelimit.rate_counters_purge",
    ),
    Job("common.sessions_purge", datetime.timedelta(hours=1), "garnizon.common.sessions.purge"),
)


@dataclass(frozen=True)
class RunResult:
    job: str
    outcome: str  # JobRun.OK or JobRun.FAILED
    message: str
    seconds: float


def default_owner() -> str:
    """host:pid — who holds a lease (for the log and the `JobRun` rows)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def ensure_jobs(jobs: Iterable[Job]) -> None:
    """A row per job (due at once when new); existing rows keep their schedule."""
    now = timezone.now()
    for job in jobs:
        ScheduledJob.objects.get_or_create(name=job.name, defaults={"next_run_at": now})


def acquire(job: Job, owner: str, now: datetime.datetime | None = None) -> bool:
    """Take the job for this interval (compare-and-set); False when it is not due or taken."""
    now = now or timezone.now()
    taken = ScheduledJob.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now),
        name=job.name,
        next_run_at__lte=now,
    ).update(
        next_run_at=now + job.interval,
        lease_until=now + max(job.lease, job.interval),
        lease_owner=owner,
        last_started_at=now,
    )
    return taken == 1


def run_job(job: Job, owner: str) -> RunResult:
    """Run a job already acquired; record the outcome and release the lease."""
    started = timezone.now()
    clock = time.monotonic()
    run = JobRun.objects.create(job=job.name, owner=owner, started_at=started)
    try:
        value = job.call()
    except Exception as error:
        outcome = JobRun.FAILED
        message = f"{type(error).__name__}: {error}"
        log.error("scheduler: job %s failed:\n%s", job.name, traceback.format_exc())
    else:
        outcome = JobRun.OK
        message = "" if value is None else str(value)
        log.info("scheduler: job %s: %s", job.name, message or "ok")
    finished = timezone.now()
    JobRun.objects.filter(pk=run.pk).update(
        finished_at=finished, outcome=outcome, message=message[:10000]
    )
    failed = int(outcome == JobRun.FAILED)
    ScheduledJob.objects.filter(name=job.name).update(
        runs=F("runs") + 1, failures=F("failures") + failed
    )
    # Released only while the lease is still ours (a run longer than its lease lost it).
    ScheduledJob.objects.filter(name=job.name, lease_owner=owner).update(
        lease_until=None,
        last_finished_at=finished,
        last_outcome=outcome,
        last_message=message[:10000],
    )
    return RunResult(job.name, outcome, message, time.monotonic() - clock)


def run_pending(jobs: Iterable[Job] = JOBS, *, owner: str | None = None) -> list[RunResult]:
    """Run every due job that this scheduler manages to acquire, one after the other."""
    owner = owner or default_owner()
    jobs = list(jobs)
    ensure_jobs(jobs)
    results = []
    for job in jobs:
        try:
            acquired = acquire(job, owner)
        except Exception:  # the database went away for a moment: try again next tick
            log.exception("scheduler: could not acquire job %s", job.name)
            close_old_connections()
            continue
        if acquired:
            results.append(run_job(job, owner))
    return results


def seconds_until_due(jobs: Iterable[Job] = JOBS) -> float:
    """How long the loop may sleep: until the next job is due, at most MAX_SLEEP."""
    names = [job.name for job in jobs]
    nearest = (
        ScheduledJob.objects.filter(name__in=names)
        .order_by("next_run_at")
        .values_list("next_run_at", flat=True)
        .first()
    )
    if nearest is None:
        return 0.0
    return min(MAX_SLEEP, max(0.0, (nearest - timezone.now()).total_seconds()))


def run_forever(
    jobs: Iterable[Job] = JOBS,
    *,
    owner: str | None = None,
    stop: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """The scheduler loop: run due jobs, sleep until the next one; failures never stop it."""
    owner = owner or default_owner()
    jobs = list(jobs)
    log.info("scheduler %s: %s", owner, ", ".join(f"{j.name}/{j.interval}" for j in jobs))
    while not stop():
        close_old_connections()  # as a request would: drop connections that went stale
        try:
            run_pending(jobs, owner=owner)
            pause = seconds_until_due(jobs)
        except Exception:
            log.exception("scheduler: tick failed")
            close_old_connections()
            pause = MAX_SLEEP
        sleep(max(pause, 0.2))
