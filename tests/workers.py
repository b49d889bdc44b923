"""A real `garnizon db_worker`, run by the tests on the test database."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.test_audit import database_url


def run_db_worker_batch(*, timeout: int = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `garnizon db_worker --batch` (it exits once the queue is empty) in a child
    process on the test database, with `env` added to its environment."""
    return subprocess.run(
        [sys.executable, "-m", "garnizon.cli", "db_worker", "--batch", "--no-startup-delay"],
        env=os.environ | {"GARNIZON_DATABASE_URL": database_url(), **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
