"""Hot folder: a scanner (or a person) drops files into a folder; Garnizon takes them in.

A file is taken only when its size and modification time are the same in two
looks `settle_seconds` apart (a scanner still writing it changes one of them).
Hidden and temporary files are ignored. A taken file is moved, never deleted:
into `done/` when the intake accepted it (run inline: when it ended `done`),
into `failed/` otherwise. `mode` is passed to `intake_add_file` (`register` a new
entry, or `match` a labelled scan to its entry).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from garnizon.common.errors import DomainError
from garnizon.intake.models import IntakeItem, IntakeMode, IntakeState
from garnizon.intake.services import intake_add_file
from garnizon.org.models import Person, Unit
from garnizon.registry.models import Channel

DONE_DIR = "done"
FAILED_DIR = "failed"
TEMPORARY_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp", "~")
TEMPORARY_PREFIXES = (".", "~$", "~")


@dataclass
class ScanReport:
    taken: list[IntakeItem] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    unstable: list[str] = field(default_factory=list)


def scan_hot_folder(
    folder: str | os.PathLike[str],
    *,
    unit: Unit,
    requested_by: Person,
    channel: str = Channel.PAPER,
    mode: str = IntakeMode.REGISTER,
    run_now: bool = False,
    settle_seconds: float = 2.0,
    wait: Callable[[float], None] = time.sleep,
) -> ScanReport:
    folder = Path(folder)
    report = ScanReport()
    first = _look(folder)
    if not first:
        return report
    wait(settle_seconds)
    second = _look(folder)
    for path, signature in sorted(first.items()):
        if second.get(path) != signature:
            report.unstable.append(path.name)
            continue
        try:
            result = intake_add_file(
                path=path,
                unit=unit,
                channel=channel,
                requested_by=requested_by,
                source=f"hot-folder:{path}",
                mode=mode,
                run_now=run_now,
            )
        except DomainError as error:
            report.refused.append((path.name, str(error.message)))
            _move(path, folder / FAILED_DIR)
            continue
        item = result.item
        report.taken.append(item)
        bad = item.state in (IntakeState.FAILED, IntakeState.QUARANTINED)
        _move(path, folder / (FAILED_DIR if bad else DONE_DIR))
    return report


def _look(folder: Path) -> dict[Path, tuple[int, int]]:
    """Candidate files with their (size, mtime in ns)."""
    found = {}
    for entry in os.scandir(folder):
        if not entry.is_file(follow_symlinks=False) or _ignored(entry.name):
            continue
        stat = entry.stat(follow_symlinks=False)
        found[Path(entry.path)] = (stat.st_size, stat.st_mtime_ns)
    return found


def _ignored(name: str) -> bool:
    lower = name.lower()
    return lower.startswith(TEMPORARY_PREFIXES) or lower.endswith(TEMPORARY_SUFFIXES)


def _move(path: Path, target_dir: Path) -> Path:
    target_dir.mkdir(exist_ok=True)
    target = target_dir / path.name
    counter = 1
    while target.exists():
        target = target_dir / f"{path.stem}-{counter}{path.suffix}"
        counter += 1
    os.replace(path, target)
    return target
