"""The CPU a portal page costs in process, page by page, beside a minimal view.

    python -m bench.bench_portal_pages                    # SQLite in a fresh data directory
    python -m bench.bench_portal_pages --requests 300 --rounds 9
    python -m bench.bench_portal_pages --profile tracking # cProfile of one page after the table

`bench_portal` measures the server under load over HTTP, where the machine's
swings are large; this measures each page of its `pages` phase alone, in one
process, through Django's test client (the whole middleware stack, no HTTP,
no threads), as CPU time (`time.process_time`) a request, the lowest of
`--rounds` rounds. The reference is `/bench/minimal/` (two bytes through the same
middleware): what a page costs beyond it is the page's own work. Use it to see
which page to work on, and to compare two checkouts on the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def _pages(prepared: dict) -> dict[str, tuple[str, str | None]]:
    """The pages of bench_portal's `pages` phase: name, (path, session key or None)."""
    return {
        "minimal (reference)": ("/bench/minimal/", None),
        "start": ("/portal/", None),
        "service start": ("/portal/pismo/", None),
        "question (unit)": ("/portal/pismo/jednostka/", prepared["visitor"]),
        "accessibility": ("/portal/deklaracja-dostepnosci/", None),
        "tracking": (f"/portal/sledzenie/{prepared['tracking']}/", None),
    }


def measure(requests: int, rounds: int, profile: str | None) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    from bench.bench_portal import django_prepare

    settings.ALLOWED_HOSTS = ["*"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        django_prepare(5)
    pages = _pages(json.loads(out.getvalue()))
    client = Client()

    def hit(path: str, session: str | None) -> None:
        client.cookies.clear()
        if session:
            client.cookies["sessionid"] = session
        response = client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")

    print(f"CPU a request, in process, lowest of {rounds} rounds of {requests}:")
    reference = None
    for name, (path, session) in pages.items():
        for _ in range(20):  # warm: templates, caches, connections
            hit(path, session)
        times = []
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(requests):
                hit(path, session)
            times.append((time.process_time() - started) / requests * 1000)
        best = min(times)
        reference = best if reference is None else reference
        median = sorted(times)[len(times) // 2]
        print(
            f"  {name:<20} {best:6.2f} ms  (median {median:5.2f})"
            + (
                f"  {best - reference:+6.2f} ms beyond the minimal view"
                if best != reference
                else ""
            )
        )
    if profile:
        import cProfile
        import pstats

        path, session = pages[profile]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            hit(path, session)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="requests a round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--profile",
        choices=["start", "service start", "question (unit)", "accessibility", "tracking"],
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        return measure(args.requests, args.rounds, args.profile)

    from bench.bench_portal import _env, _reset_database

    data_dir = Path(tempfile.mkdtemp(prefix="bench-portal-pages-"))
    try:
        env = _env(data_dir, None)
        _reset_database(env, None)
        command = [
            sys.executable, "-m", "bench.bench_portal_pages", "--measure",
            "--requests", str(args.requests), "--rounds", str(args.rounds),
        ]  # fmt: skip
        if args.profile:
            command += ["--profile", args.profile]
        subprocess.run(command, env=env, cwd=ROOT, check=True)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.portal_settings")
    main()
