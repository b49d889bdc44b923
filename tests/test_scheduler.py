"""The periodic-job scheduler (`common/scheduler.py`) and the intake's periodic jobs
(`intake/maintenance.py`): leases, failures, requeue of stale and lost items, hot folders."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from garnizon.common.models import JobRun, ScheduledJob
from garnizon.common.scheduler import JOBS, Job, acquire, ensure_jobs, run_pending
from garnizon.intake.maintenance import (
    HotFolderError,
    poll_mail,
    queued_item_ids,
    remove_orphaned_workdirs,
    requeue_stale,
    scan_hot_folders,
)
from garnizon.intake.models import IntakeItem, IntakeState
from garnizon.intake.services import intake_add_file
from garnizon.intake.tasks import process_intake_item
from tests.test_audit import database_url

HOUR = datetime.timedelta(hours=1)
CALLS: list[str] = []
CALLS_LOCK = threading.Lock()


def record_call() -> str:
    with CALLS_LOCK:
        CALLS.append("ok")
    return "called"


def slow_call() -> str:
    time.sleep(0.3)  # long enough for every other scheduler to try the same job
    return record_call()


def failing_call() -> None:
    raise RuntimeError("skrzynka niedostępna")


@pytest.fixture(autouse=True)
def _reset(settings, tmp_path):
    CALLS.clear()
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"
    settings.GARNIZON_HOT_FOLDERS = []


def job(name: str, target: str = "tests.test_scheduler.record_call", interval=HOUR) -> Job:
    return Job(name, interval, target)


# --- the scheduler -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_due_job_runs_once_per_interval():
    jobs = [job("test.count")]
    first = run_pending(jobs, owner="a")
    assert [(r.job, r.outcome, r.message) for r in first] == [("test.count", "ok", "called")]
    assert run_pending(jobs, owner="a") == [] and run_pending(jobs, owner="b") == []
    assert CALLS == ["ok"]
    row = ScheduledJob.objects.get(name="test.count")
    assert row.runs == 1 and row.lease_until is None and row.last_outcome == "ok"
    assert row.next_run_at > timezone.now() + HOUR - datetime.timedelta(minutes=1)
    # the interval has passed: due again
    ScheduledJob.objects.filter(pk=row.pk).update(next_run_at=timezone.now())
    assert len(run_pending(jobs, owner="b")) == 1 and CALLS == ["ok", "ok"]
    assert list(JobRun.objects.values_list("job", "owner", "outcome")) == [
        ("test.count", "a", "ok"),
        ("test.count", "b", "ok"),
    ]


@pytest.mark.django_db
def test_a_job_under_someone_elses_lease_is_not_run_even_when_due():
    jobs = [job("test.leased")]
    ensure_jobs(jobs)
    now = timezone.now()
    ScheduledJob.objects.filter(name="test.leased").update(
        next_run_at=now - HOUR, lease_until=now + HOUR, lease_owner="other"
    )
    assert run_pending(jobs, owner="me") == [] and CALLS == []
    # the lease ran out (its scheduler died): the job is taken again
    ScheduledJob.objects.filter(name="test.leased").update(lease_until=now - HOUR)
    assert len(run_pending(jobs, owner="me")) == 1


@pytest.mark.django_db
def test_a_failing_job_is_recorded_and_the_next_job_still_runs(caplog):
    jobs = [job("test.fails", "tests.test_scheduler.failing_call"), job("test.after")]
    results = run_pending(jobs, owner="a")
    assert [(r.job, r.outcome) for r in results] == [("test.fails", "failed"), ("test.after", "ok")]
    assert "RuntimeError: skrzynka niedostępna" in results[0].message
    failed = ScheduledJob.objects.get(name="test.fails")
    assert failed.last_outcome == "failed" and failed.failures == 1 and failed.lease_until is None
    assert JobRun.objects.get(job="test.fails").outcome == "failed"
    assert CALLS == ["ok"]
    assert "skrzynka niedostępna" in caplog.text
    # a job whose target does not even import fails the same way
    broken = [job("test.broken", "garnizon.nothing.here")]
    assert run_pending(broken, owner="a")[0].outcome == "failed"


@pytest.mark.django_db(transaction=True)
def test_concurrent_schedulers_in_threads_never_both_run_a_job_in_one_interval():
    jobs = [job(f"test.race{n}", "tests.test_scheduler.slow_call") for n in range(3)]
    ensure_jobs(jobs)
    barrier = threading.Barrier(4)
    runs: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def scheduler(owner: str) -> None:
        try:
            barrier.wait()
            for _ in range(3):  # every scheduler tries every job several times
                runs.extend((r.job, owner) for r in run_pending(jobs, owner=owner))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler, args=(f"s{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(name for name, _ in runs) == [j.name for j in jobs]
    assert len(CALLS) == 3
    assert JobRun.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_two_scheduler_processes_run_each_default_job_once(settings):
    env = os.environ | {
        "GARNIZON_DATABASE_URL": database_url(),
        "GARNIZON_BLOB_DIR": str(settings.GARNIZON_BLOB_DIR),
        "GARNIZON_HOT_FOLDERS": "[]",
    }
    command = [sys.executable, "-m", "garnizon.cli", "scheduler", "--once"]
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    for process, (_out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
    names = sorted(JobRun.objects.values_list("job", flat=True))
    assert names == sorted(j.name for j in JOBS), outputs
    outcomes = dict(JobRun.objects.values_list("job", "outcome"))
    # (intake.mail's outcome depends on the e-mail channel's configuration)
    assert outcomes["intake.requeue_stale"] == outcomes["intake.hot_folders"] == "ok", outcomes


@pytest.mark.django_db
def test_the_command_once_reports_what_ran():
    out = StringIO()
    call_command("scheduler", "--once", stdout=out)
    assert "intake.requeue_stale: ok" in out.getvalue()
    out = StringIO()
    call_command("scheduler", "--once", stdout=out)  # nothing is due a second time
    assert "Żadne zadanie" in out.getvalue()


@pytest.mark.django_db
def test_acquire_is_a_compare_and_set():
    one = job("test.cas")
    ensure_jobs([one])
    now = timezone.now()
    assert acquire(one, "a", now) is True
    assert acquire(one, "b", now) is False  # not due any more (and leased)
    row = ScheduledJob.objects.get(name="test.cas")
    assert row.lease_owner == "a" and row.next_run_at == now + HOUR


# --- intake jobs -------------------------------------------------------------------------------


def add_item(garrison, tmp_path, name: str) -> IntakeItem:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(f"treść {name}".encode())
    return intake_add_file(
        path=path, unit=garrison.kwp, channel="paper", requested_by=garrison.people["clerk"]
    ).item


def tasks_for(item: IntakeItem) -> list[DBTaskResult]:
    return [
        task
        for task in DBTaskResult.objects.filter(task_path=process_intake_item.module_path)
        if task.args_kwargs.get("args") == [item.pk]
    ]


@pytest.mark.django_db
def test_requeue_finds_a_stale_item_and_a_lost_received_item(garrison, tmp_path, settings):
    settings.GARNIZON_INTAKE_STALE_SECONDS = 60
    long_ago = timezone.now() - datetime.timedelta(hours=2)
    queued = add_item(garrison, tmp_path, "w-kolejce.txt")  # received, its task waiting
    lost = add_item(garrison, tmp_path, "zgubiony.txt")  # received, its task gone
    stale = add_item(garrison, tmp_path, "porzucony.txt")  # a dead worker's claim
    busy = add_item(garrison, tmp_path, "w-toku.txt")  # a live worker's fresh claim
    DBTaskResult.objects.filter(pk__in=[t.pk for t in tasks_for(lost)]).delete()
    IntakeItem.objects.filter(pk__in=[queued.pk, lost.pk]).update(created_at=long_ago)
    for item, claimed in ((stale, long_ago), (busy, timezone.now())):
        IntakeItem.objects.filter(pk=item.pk).update(
            state=IntakeState.PROCESSING, claimed_at=claimed, attempts=1, current_step="ocr"
        )
        # the worker took the task: the queue says "running", and never says more if it died
        DBTaskResult.objects.filter(pk__in=[t.pk for t in tasks_for(item)]).update(
            status="RUNNING", started_at=claimed
        )
    assert queued_item_ids() == {queued.pk, busy.pk}

    report = requeue_stale()
    assert report.stale == [stale.pk] and report.lost == [lost.pk]
    assert len(tasks_for(lost)) == 1 and len(tasks_for(stale)) == 2 and len(tasks_for(busy)) == 1
    assert str(report).startswith("requeued 1 stale and 1 lost")
    # a second pass finds their new tasks in the queue: nothing is enqueued twice
    again = requeue_stale()
    assert again.stale == [] and again.lost == []
    # the new tasks finish both items; the dead worker's claim was taken over
    for item in (lost, stale):
        assert process_intake_item.call(item.pk) == IntakeState.DONE
        item.refresh_from_db()
        assert item.state == IntakeState.DONE
    stale.refresh_from_db()
    assert stale.attempts == 2
    busy.refresh_from_db()
    assert busy.state == IntakeState.PROCESSING  # a live claim is left alone


@pytest.mark.django_db
def test_a_young_received_item_is_not_requeued(garrison, tmp_path):
    young = add_item(garrison, tmp_path, "świeży.txt")
    DBTaskResult.objects.all().delete()  # as if between its commit and its enqueue
    assert requeue_stale().lost == []
    assert requeue_stale(grace=datetime.timedelta(0)).lost == [young.pk]


def test_orphaned_ocr_work_folders_of_dead_workers_are_removed(tmp_path):
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: the pid is free
    host = socket.gethostname()
    for name, owner in (
        ("ocr-dead", f"{host} {dead.pid}"),
        ("ocr-alive", f"{host} {os.getpid()}"),
        ("ocr-elsewhere", f"other-host {dead.pid}"),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / ".owner").write_text(owner)
        (tmp_path / name / "page-0000.pdf").write_bytes(b"%PDF")
    (tmp_path / "put-123.tmp").write_bytes(b"x")  # not an OCR folder: the blob store's
    old = tmp_path / "ocr-ancient"
    old.mkdir()
    day_ago = time.time() - 2 * 86400
    os.utime(old, (day_ago, day_ago))
    assert remove_orphaned_workdirs(tmp_path) == ["ocr-ancient", "ocr-dead"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ocr-alive",
        "ocr-elsewhere",
        "put-123.tmp",
    ]


@pytest.mark.django_db
def test_the_hot_folder_job_scans_configured_folders_and_reports_a_broken_one(
    garrison, tmp_path, settings
):
    good = tmp_path / "skaner-kwp"
    good.mkdir()
    (good / "pismo.txt").write_text("treść")
    settings.GARNIZON_HOT_FOLDERS = [
        {
            "folder": str(good),
            "unit": garrison.kwp.symbol,
            "requested_by": garrison.people["clerk"].username,
            "channel": "paper",
            "mode": "register",
            "settle_seconds": 0,
        },
        {"folder": str(tmp_path / "brak"), "unit": "NIE-MA", "requested_by": "nikt"},
    ]
    with pytest.raises(HotFolderError) as error:
        scan_hot_folders()
    assert f"{tmp_path / 'brak'}: DoesNotExist" in str(error.value)
    assert f"{good}: 1 taken" in str(error.value)
    item = IntakeItem.objects.get()
    assert item.mode == "register" and item.source == f"hot-folder:{good / 'pismo.txt'}"
    assert (good / "done" / "pismo.txt").exists()
    settings.GARNIZON_HOT_FOLDERS = settings.GARNIZON_HOT_FOLDERS[:1]
    assert scan_hot_folders() == f"{good}: 0 taken, 0 refused, 0 still growing"


def test_the_mail_job_is_not_available_without_the_imap_channel(monkeypatch):
    monkeypatch.setitem(sys.modules, "garnizon.intake.channels.imap", None)
    assert poll_mail().startswith("not available")


def test_the_mail_job_calls_poll_all(monkeypatch):
    import types

    fake = types.ModuleType("garnizon.intake.channels.imap")
    fake.poll_all = lambda: "2 messages"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "garnizon.intake.channels.imap", fake)
    assert poll_mail() == "2 messages"


def test_the_session_purge_removes_only_expired_sessions(db, settings):
    import re
    from importlib import import_module

    from garnizon.common.sessions import purge

    store = import_module(settings.SESSION_ENGINE).SessionStore
    kept, expired = store(), store()
    kept["portal:pismo"] = {"token": "a"}
    kept.create()
    expired["portal:pismo"] = {"token": "b"}
    expired.set_expiry(-60)  # a minute ago
    expired.create()

    # Other tests' sessions may share the directory: at least this one went.
    removed = re.fullmatch(r"(\d+) expired sessions removed", purge())
    assert removed and int(removed.group(1)) >= 1
    assert store().exists(kept.session_key)
    assert not store().exists(expired.session_key)
    assert "garnizon.common.sessions.purge" in {job.target for job in JOBS}


def test_the_sessions_folder_is_made_private_even_if_it_existed_open(tmp_path):
    # On SQLite the sessions are files; a folder left readable by others (made by
    # hand, copied) is closed when the settings load.
    data = tmp_path / "data"
    (data / "sessions").mkdir(parents=True)
    (data / "sessions").chmod(0o755)
    env = {
        **os.environ,
        "GARNIZON_DATA_DIR": str(data),
        "DJANGO_SETTINGS_MODULE": "garnizon.settings",
    }
    env.pop("GARNIZON_DATABASE_URL", None)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.SESSION_ENGINE)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "django.contrib.sessions.backends.file"
    assert (data / "sessions").stat().st_mode & 0o777 == 0o700
