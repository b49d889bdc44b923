"""Periodic intake work, run by `garnizon scheduler` (see `common/scheduler.py`).

- `requeue_stale`: items left `processing` by a worker that died (their claim is
  older than GARNIZON_INTAKE_STALE_SECONDS) and items `received` whose task is no
  longer in the queue are enqueued again; the claim in `pipeline.claim` makes a
  second task for the same item harmless. The OCR work folders of dead workers
  are removed.
- `scan_hot_folders`: every folder in GARNIZON_HOT_FOLDERS once.
- `poll_mail`: the IMAP channel's `poll_all()`, when that channel is installed.

Each returns a short English summary for the scheduler's log.
"""

from __future__ import annotations

import datetime
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from garnizon.intake.models import IntakeItem, IntakeState
from garnizon.intake.pipeline import stale_after

log = logging.getLogger(__name__)

# A `received` item younger than this may still be between its commit and its enqueue.
RECEIVED_GRACE = datetime.timedelta(seconds=60)
# An OCR work folder this old is a leftover whoever owned it (no OCR runs for a day).
WORKDIR_MAX_AGE = datetime.timedelta(days=1)
WORKDIR_PREFIX = "ocr-"


@dataclass
class RequeueReport:
    stale: list[int] = field(default_factory=list)  # processing, claim of a dead worker
    lost: list[int] = field(default_factory=list)  # received, no task in the queue
    removed_workdirs: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"requeued {len(self.stale)} stale and {len(self.lost)} lost item(s); "
            f"removed {len(self.removed_workdirs)} orphaned work folder(s)"
        )


def requeue_stale(
    *, now: datetime.datetime | None = None, grace: datetime.timedelta = RECEIVED_GRACE
) -> RequeueReport:
    """Enqueue again what a dead worker or a lost task left behind; safe to run any time."""
    from garnizon.intake.tasks import process_intake_item

    now = now or timezone.now()
    report = RequeueReport()
    queued = queued_item_ids(now=now)
    stale = IntakeItem.objects.filter(
        state=IntakeState.PROCESSING, claimed_at__lt=now - stale_after()
    ).values_list("pk", flat=True)
    lost = IntakeItem.objects.filter(
        state=IntakeState.RECEIVED, created_at__lt=now - grace
    ).values_list("pk", flat=True)
    for item_id in stale:
        if item_id not in queued:
            process_intake_item.enqueue(item_id)
            report.stale.append(item_id)
    for item_id in lost:
        if item_id not in queued:
            process_intake_item.enqueue(item_id)
            report.lost.append(item_id)
    if report.stale or report.lost:
        log.warning("intake: requeued stale items %s and lost items %s", report.stale, report.lost)
    report.removed_workdirs = remove_orphaned_workdirs()
    return report


def queued_item_ids(*, now: datetime.datetime | None = None) -> set[int]:
    """Items with a task waiting in the queue, or running and started within the stale limit
    (a task `running` for longer belongs to a dead worker: the database queue never ends it)."""
    from django.db.models import Q
    from django.tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from garnizon.intake.tasks import process_intake_item

    now = now or timezone.now()
    rows = DBTaskResult.objects.filter(
        Q(status=TaskResultStatus.READY)
        | Q(status=TaskResultStatus.RUNNING, started_at__gte=now - stale_after()),
        task_path=process_intake_item.module_path,
    ).values_list("args_kwargs", flat=True)
    ids = set()
    for args_kwargs in rows:
        args = (args_kwargs or {}).get("args") or []
        kwargs = (args_kwargs or {}).get("kwargs") or {}
        value = args[0] if args else kwargs.get("item_id")
        if isinstance(value, int):
            ids.add(value)
    return ids


def remove_orphaned_workdirs(root: Path | None = None) -> list[str]:
    """OCR work folders whose process is gone (same host), or older than a day."""
    from garnizon.documents.blobstore import get_blob_store

    root = root or get_blob_store().tmp_dir
    if not root.is_dir():
        return []
    removed = []
    host = socket.gethostname()
    cutoff = time.time() - WORKDIR_MAX_AGE.total_seconds()
    for entry in sorted(root.iterdir()):
        if not entry.name.startswith(WORKDIR_PREFIX) or not entry.is_dir():
            continue
        try:
            owner_host, owner_pid = (entry / ".owner").read_text().split()
        except (OSError, ValueError):
            owner_host, owner_pid = "", "0"
        try:
            old = entry.stat().st_mtime < cutoff
        except FileNotFoundError:  # removed by its owner meanwhile
            continue
        dead = owner_host == host and not _alive(int(owner_pid))
        if dead or old:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
            log.info("intake: removed the orphaned OCR work folder %s", entry)
    return removed


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- hot folders ------------------------------------------------------------------------------


def hot_folder_config() -> list[dict]:
    """GARNIZON_HOT_FOLDERS: [{folder, unit, requested_by, channel?, mode?}, ...]."""
    return list(getattr(settings, "GARNIZON_HOT_FOLDERS", []) or [])


def scan_hot_folders(*, settle_seconds: float = 2.0) -> str:
    """Scan every configured hot folder once; a broken entry is logged and the rest go on."""
    from garnizon.intake.channels.hotfolder import scan_hot_folder
    from garnizon.org.models import Person, Unit
    from garnizon.registry.models import Channel

    summaries = []
    problems = []
    for entry in hot_folder_config():
        folder = entry.get("folder", "?")
        try:
            unit = Unit.objects.get(symbol=entry["unit"])
            person = Person.objects.get(username=entry["requested_by"])
            if not Path(folder).is_dir():
                raise FileNotFoundError(folder)
            report = scan_hot_folder(
                folder,
                unit=unit,
                requested_by=person,
                channel=entry.get("channel") or Channel.PAPER,
                mode=entry.get("mode") or "register",
                settle_seconds=float(entry.get("settle_seconds", settle_seconds)),
            )
        except Exception as error:  # one bad folder must not stop the others
            log.exception("hot folder %s: scan failed", folder)
            problems.append(f"{folder}: {error!r}")
            continue
        summaries.append(
            f"{folder}: {len(report.taken)} taken, {len(report.refused)} refused, "
            f"{len(report.unstable)} still growing"
        )
    if problems:
        raise HotFolderError("; ".join(problems + summaries))
    return "; ".join(summaries) or "no hot folders configured"


class HotFolderError(Exception):
    """At least one configured hot folder could not be scanned (the others were)."""


# --- e-mail ------------------------------------------------------------------------------------


def poll_mail() -> str:
    """The IMAP channel's `poll_all()`; 'not available' when that channel is not installed."""
    try:
        from garnizon.intake.channels.imap import poll_all
    except ImportError as error:
        return f"not available ({error})"
    result = poll_all()
    return str(result) if result is not None else "polled"
