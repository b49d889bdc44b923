"""A real `garnizon db_worker` killed (SIGKILL) in the middle of OCR: after the requeue and a
new worker, the item is done exactly once, nothing is lost, duplicated or left behind.

Run with both OCR engines: Tesseract in the worker's own process (the default) and the
`tesseract` program a page (GARNIZON_OCR_ENGINE=cli), whose children die with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench.bench_ocr import letter
from django.conf import settings as django_settings

from garnizon.documents.blobstore import get_blob_store
from garnizon.documents.models import Document, DocumentVersion
from garnizon.intake.maintenance import requeue_stale
from garnizon.intake.models import IntakeItem, IntakeState, IntakeStepResult
from garnizon.intake.services import intake_add_file
from garnizon.registry.models import IncomingItem
from tests.test_audit import database_url

PAGES = 6  # ~1.5 s of Tesseract each, two at a time on two cores: several seconds of OCR


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"


def batch_scan(path: Path) -> Path:
    """A multi-page TIFF of generated A4 Polish letters (a scanner's batch file)."""
    pages = [letter(index)[0] for index in range(PAGES)]
    pages[0].save(
        path,
        "TIFF",
        dpi=(300, 300),
        compression="tiff_lzw",
        save_all=True,
        append_images=pages[1:],
    )
    return path


def worker(*extra: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """A real db_worker in its own process group (so it can be killed with its children)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "garnizon.cli",
            "db_worker",
            "--no-startup-delay",
            "--interval",
            "0.2",
            *extra,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def group_processes(pgid: int) -> list[str]:
    """Names of the live processes in a process group (from /proc)."""
    names = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            names.append(name)
    return names


def wait_for(condition, timeout: float, what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(
                f"the worker exited ({process.returncode}) before {what}: "
                f"{process.stdout.read() if process.stdout else ''}"
            )
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def ocr_running(item: IntakeItem, work_dir: Path, process: subprocess.Popen[str], engine: str):
    """Whether the worker is inside the item's OCR: its work folder exists (and, with the
    program, a `tesseract` child runs)."""
    if not IntakeItem.objects.filter(pk=item.pk, current_step="ocr").exists():
        return False
    if not work_dir.exists() or not any(p.name.startswith("ocr-") for p in work_dir.iterdir()):
        return False
    return engine != "cli" or "tesseract" in group_processes(process.pid)


@pytest.mark.parametrize("engine", ["library", "cli"])
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_ocr_leaves_the_item_done_exactly_once(
    garrison, tmp_path, settings, engine
):
    source = batch_scan(tmp_path / "wsad-poczty.tif")
    item = intake_add_file(
        path=source, unit=garrison.kwp, channel="paper", requested_by=garrison.people["clerk"]
    ).item
    assert item.state == IntakeState.RECEIVED
    env = os.environ | {
        "GARNIZON_DATABASE_URL": database_url(),
        "GARNIZON_BLOB_DIR": str(settings.GARNIZON_BLOB_DIR),
        "GARNIZON_INTAKE_DIR": str(settings.GARNIZON_INTAKE_DIR),
        "GARNIZON_QUARANTINE_DIR": str(settings.GARNIZON_QUARANTINE_DIR),
        "GARNIZON_LOG_LEVEL": "WARNING",
        "GARNIZON_OCR_ENGINE": engine,
    }
    work_dir = get_blob_store().tmp_dir

    # 1. the first worker takes the item and is killed while Tesseract reads its pages
    first = worker(env=env)
    try:
        wait_for(
            lambda: ocr_running(item, work_dir, first, engine),
            timeout=120,
            what="the item's OCR step",
            process=first,
        )
        time.sleep(0.5)  # well inside the OCR of the batch (several seconds)
        assert ocr_running(item, work_dir, first, engine)
        assert first.poll() is None
        if engine == "library":  # Tesseract reads the pages inside the worker itself
            assert "tesseract" not in group_processes(first.pid)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(30)
    assert first.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while group_processes(first.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_processes(first.pid) == [], "a Tesseract child survived the kill"

    item.refresh_from_db()
    assert item.state == IntakeState.PROCESSING and item.current_step == "ocr"
    assert item.attempts == 1 and item.document_id is None and item.incoming_item_id is None
    left = [p for p in work_dir.iterdir() if p.name.startswith("ocr-")]
    assert len(left) == 1 and (left[0] / ".owner").exists()  # the dead worker's work folder

    # 2. the periodic requeue: the dead worker's work folder goes at once (its process is
    #    gone); the item only once its claim is older than GARNIZON_INTAKE_STALE_SECONDS
    report = requeue_stale()  # the default limit: 30 minutes
    assert report.stale == [] and report.lost == []
    assert report.removed_workdirs == [left[0].name] and not left[0].exists()
    settings.GARNIZON_INTAKE_STALE_SECONDS = 1
    time.sleep(1.2)
    report = requeue_stale()
    assert report.stale == [item.pk] and report.lost == []

    # 3. a new worker finishes it
    second = worker("--batch", env=env | {"GARNIZON_INTAKE_STALE_SECONDS": "1"})
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output

    item.refresh_from_db()
    assert item.state == IntakeState.DONE, (item.error_message, output)
    assert item.attempts == 2
    assert IncomingItem.objects.count() == 1 and item.incoming_item_id is not None
    assert Document.objects.count() == 1 and item.document_id is not None
    version = DocumentVersion.objects.get()
    assert version.document_id == item.document_id and version.number == 1
    store = get_blob_store()
    assert store.check(version.blob_sha256) is None  # the stored PDF verifies
    assert store.check(item.blob_sha256) is None  # and so does the original
    assert version.text.count("KOMENDA WOJEWÓDZKA POLICJI") == PAGES
    steps = list(
        IntakeStepResult.objects.filter(item=item).values_list("attempt", "step", "outcome")
    )
    # the first attempt died in OCR: no result for it or anything after it
    first_attempt = [step for attempt, step, _ in steps if attempt == 1]
    assert first_attempt[0] == "preflight" and "ocr" not in first_attempt, steps
    done_once = [step for attempt, step, outcome in steps if outcome == "ok"]
    assert done_once.count("ocr") == done_once.count("register") == 1, steps
    assert done_once.count("attach") == 1, steps
    assert {attempt for attempt, step, _ in steps if step in ("ocr", "register", "attach")} == {2}
    assert list(work_dir.iterdir()) == []  # no temporary files left
    assert not any(Path(django_settings.GARNIZON_QUARANTINE_DIR).glob("**/*"))
