"""The portal under load: filings per second, page views per second, p99, nothing lost.

    python -m bench.bench_portal                       # SQLite in a fresh data directory
    python -m bench.bench_portal --database-url postgres://postgres@127.0.0.1:5432/garnizon_benchportal
    python -m bench.bench_portal --filings 6000 --workers 3 --threads 4 --connections 32

What it does, on one machine (the load generator shares the 2 cores with the server):

1. A fresh database: migrate, `garnizon seed` (the 21 units).
2. gunicorn serves the project (`--worker-class gthread`), with one extra view,
   `/bench/minimal/`, that returns two bytes through the same middleware: the
   ceiling any page can reach on this server.
3. Three phases, each closed-loop with `--connections` keep-alive connections,
   reported as requests/s and latency percentiles. `minimal` and `pages` are
   driven by wrk (`--client wrk`, the default when installed: C and epoll, so
   the generator leaves more of the 2 cores to the server) for `--seconds` each,
   or by the asyncio client (`--client asyncio`, plain HTTP/1.1, the generator
   of session 3's figures); `filings` always by the asyncio client, which sends
   each prepared filing exactly once:
   - `minimal`: GET /bench/minimal/;
   - `pages`: GET of the portal's pages a filer reads (start, a service's start
     page, a question page with the filer's session, the accessibility statement,
     a tracking page of an existing filing);
   - `filings`: the POST that files a letter (the check-answers page), for
     sessions whose drafts were filled beforehand (the question pages are
     `pages`); every 20th filing is sent twice (a double click).
4. Then it counts in the database: one submission and one register entry per
   distinct draft, no entry twice, the registration numbers without gaps.

The rate limit per address is lifted for the run (every request comes from 127.0.0.1).
Intake tasks queued by the filings are not worked off during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

# --- load generator ------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    expect: tuple[int, ...] = (200,)

    def encode(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if self.body or self.method == "POST":
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class Outcome:
    status: int
    seconds: float
    location: str = ""


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            parts.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(parts)
    else:
        body = await reader.read()
    return status, headers, body


async def _connection(
    host: str, port: int, requests: list[Request], cursor: list[int], outcomes: list[Outcome]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while cursor[0] < len(requests):
            request = requests[cursor[0]]
            cursor[0] += 1
            started = time.perf_counter()
            writer.write(request.encode(f"{host}:{port}"))
            status, headers, _body = await _read_response(reader)
            outcomes.append(
                Outcome(status, time.perf_counter() - started, headers.get("location", ""))
            )
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


def run_load(
    host: str, port: int, requests: list[Request], connections: int
) -> tuple[list[Outcome], float]:
    """Send `requests` in order over `connections` keep-alive connections; outcomes, seconds."""
    outcomes: list[Outcome] = []
    cursor = [0]

    async def main() -> float:
        started = time.perf_counter()
        await asyncio.gather(
            *(_connection(host, port, requests, cursor, outcomes) for _ in range(connections))
        )
        return time.perf_counter() - started

    return outcomes, asyncio.run(main())


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class PhaseResult:
    name: str
    requests: int
    seconds: float
    errors: int
    p50: float
    p99: float
    server_cpu: float
    client_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        return (
            f"{self.name:<9} {self.requests:>7} req {self.rate:>8.0f}/s"
            f"  p50 {self.p50 * 1000:6.1f} ms"
            f"  p99 {self.p99 * 1000:6.1f} ms  errors {self.errors}"
            f"  server CPU {self.server_cpu:5.1f} s"
            f" ({self.server_cpu / max(self.requests, 1) * 1000:.1f} ms a request)"
            + (
                f", load generator CPU {self.client_cpu:.1f} s"
                if self.client_cpu is not None
                else ""
            )
        )


def phase(
    name: str,
    host: str,
    port: int,
    requests: list[Request],
    connections: int,
    server: subprocess.Popen,
) -> tuple[PhaseResult, list[Outcome]]:
    pids = _server_pids(server)
    cpu_before = _cpu_seconds(pids)
    client_before = time.process_time()
    outcomes, seconds = run_load(host, port, requests, connections)
    cpu = _cpu_seconds(pids) - cpu_before
    client_cpu = time.process_time() - client_before
    if set(_server_pids(server)) != set(pids):
        print(f"warning: gunicorn replaced a worker during {name}: its CPU time is missing")
    # Outcomes arrive in completion order: count statuses against the expected set.
    allowed = {status for r in requests for status in r.expect}
    errors = sum(1 for o in outcomes if o.status not in allowed)
    latencies = [o.seconds for o in outcomes]
    result = PhaseResult(
        name,
        len(outcomes),
        seconds,
        errors,
        statistics.median(latencies),
        percentile(latencies, 0.99),
        cpu,
        client_cpu,
    )
    return result, outcomes


# wrk's script: every request is one of the prepared raw requests, picked at random
# per request (each thread seeded apart); at the end one JSON line with the counts.
WRK_SCRIPT = r"""
local requests = {}
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  for raw in string.gmatch(data, "([^%z]+)") do
    table.insert(requests, raw)
  end
  math.randomseed(1000 + (id or 0))
end

function request()
  return requests[math.random(#requests)]
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    '\nWRK-JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"status_errors": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def phase_wrk(
    name: str,
    host: str,
    port: int,
    requests: list[Request],
    connections: int,
    seconds: int,
    server: subprocess.Popen,
    work_dir: Path,
) -> PhaseResult:
    """A timed phase driven by wrk (C, epoll): `seconds` of requests picked from `requests`.

    The generator takes far less CPU a request than the asyncio client, so more
    of the 2 cores is left to the server. Every response must be 2xx or 3xx.
    """
    raw = b"\0".join(r.encode(f"{host}:{port}") for r in requests)
    (work_dir / f"{name}.requests").write_bytes(raw)
    script = work_dir / "phase.lua"
    script.write_text(WRK_SCRIPT)
    pids = _server_pids(server)
    cpu_before = _cpu_seconds(pids)
    done = subprocess.run(
        [
            "wrk",
            "--threads",
            "2",
            "--connections",
            str(connections),
            "--duration",
            f"{seconds}s",
            "--timeout",
            "10s",
            "--script",
            str(script),
            f"http://{host}:{port}/",
            "--",
            str(work_dir / f"{name}.requests"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    cpu = _cpu_seconds(pids) - cpu_before
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK-JSON "))
    counts = json.loads(line.removeprefix("WRK-JSON "))
    return PhaseResult(
        name,
        counts["requests"],
        counts["duration_us"] / 1e6,
        counts["status_errors"] + counts["socket_errors"],
        counts["p50_us"] / 1e6,
        counts["p99_us"] / 1e6,
        cpu,
    )


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


# --- the server and the database --------------------------------------------------------


def _env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GARNIZON_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="bench.portal_settings",
        GARNIZON_PORTAL_RATE_LIMIT=str(10**9),
        GARNIZON_LOG_LEVEL="WARNING",
        PYTHONPATH=f"{ROOT}:{ROOT / 'src'}",
    )
    env.pop("GARNIZON_DATABASE_URL", None)
    if database_url:
        env["GARNIZON_DATABASE_URL"] = database_url
    return env


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _django(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bench.bench_portal", *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def _reset_database(env: dict[str, str], database_url: str | None) -> None:
    if database_url:
        parsed = urllib.parse.urlparse(database_url)
        name = parsed.path.lstrip("/")
        admin = parsed._replace(path="/postgres").geturl()
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    garnizon = str(VENV_BIN / "garnizon")
    subprocess.run([garnizon, "migrate", "--noinput", "-v", "0"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [garnizon, "seed", "--no-demo-staff"], env=env, check=True, cwd=ROOT, capture_output=True
    )


def _start_server(env: dict[str, str], port: int, workers: int, threads: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "garnizon.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            # A worker starved of CPU by the load generator must not be killed and
            # replaced mid-phase (its CPU time would be lost from the count).
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start")


def _server_pids(server: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children")
    pids = [server.pid]
    if children.exists():
        pids += [int(pid) for pid in children.read_text().split()]
    return pids


# --- inside Django: prepare drafts, count the results -----------------------------------


def _drafts_create(units: list[int], count: int) -> list[dict]:
    """`count` sessions, each with a complete letter draft; their keys and form tokens."""
    from importlib import import_module

    from django.conf import settings

    session_store = import_module(settings.SESSION_ENGINE).SessionStore
    from garnizon.portal.models import EService

    drafts = []
    for index in range(count):
        session = session_store()
        token = secrets.token_hex(32)
        session[f"portal:{EService.LETTER}"] = {
            "token": token,
            "pages": {
                "jednostka": {"unit": units[index % len(units)]},
                "nadawca": {
                    "name": f"Jan Testowy {index}",
                    "email": f"jan{index}@example.pl",
                    "address": "",
                },
                "tresc": {
                    "subject": f"Prośba o kontakt dzielnicowego nr {index}",
                    "text": "Proszę o kontakt w sprawie hałasu na ulicy Zamojskiej. " * 5,
                },
            },
            "attachments": [],
        }
        session.create()  # saves the draft with the new key
        drafts.append({"session": session.session_key, "token": token})
    return drafts


def django_prepare(count: int) -> None:
    """Sessions with a complete letter draft each, and one filing to track; JSON on stdout."""
    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.db import transaction

    from garnizon.org.models import Unit
    from garnizon.portal.models import EService
    from garnizon.portal.services import portal_submission_file, tracking_token_for

    units = list(Unit.objects.filter(is_active=True).values_list("pk", flat=True))
    with transaction.atomic():  # one write transaction for database sessions, not one each
        drafts = _drafts_create(units, count)
    unit = Unit.objects.get(pk=units[0])
    fields = {
        "name": "Anna Śledząca",
        "email": "anna@example.pl",
        "address": "",
        "subject": "Filing to track",
        "text": "Treść.",
    }
    tracked = portal_submission_file(
        service=EService.LETTER, unit=unit, fields=fields, attachments=[], client_token="b" * 64
    )
    # A visitor's session with the draft started (a question page reads it).
    visitor = import_module(settings.SESSION_ENGINE).SessionStore()
    visitor[f"portal:{EService.LETTER}"] = {"token": "c" * 64, "pages": {}, "attachments": []}
    visitor.create()
    visitor.save()
    print(
        json.dumps(
            {
                "drafts": drafts,
                "tracking": tracking_token_for(tracked.client_token),
                "visitor": visitor.session_key,
            }
        )
    )


def django_count(tokens_file: str) -> None:
    """Filings in the database for the run's drafts: counts, duplicates, number gaps."""
    import django

    django.setup()
    from django.db.models import Count

    from garnizon.portal.models import Submission
    from garnizon.registry.models import Channel, IncomingItem

    tokens = json.loads(Path(tokens_file).read_text())
    filed = Submission.objects.filter(client_token__in=tokens)
    items = IncomingItem.objects.filter(channel=Channel.PORTAL, client_token__in=tokens)
    duplicates = (
        IncomingItem.objects.filter(client_token__in=tokens)
        .values("client_token")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    # The register entries of one transaction share their audit entries' time
    # (audit_record_many): the sizes of the batches the group commit formed.
    from garnizon.audit.models import AuditEntry

    ids = [str(pk) for pk in items.values_list("pk", flat=True)]
    batches = Counter(
        AuditEntry.objects.filter(
            object_type="registry.incomingitem", action="create", object_id__in=ids
        )
        .values("occurred_at")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    gaps = 0
    for unit_id in items.values_list("unit_id", flat=True).distinct():
        numbers = sorted(
            int(number.split("/")[-2]) if number.count("/") >= 2 else 0
            for number in IncomingItem.objects.filter(unit_id=unit_id).values_list(
                "registration_number", flat=True
            )
        )
        if numbers and numbers[-1] - numbers[0] + 1 != len(set(numbers)):
            gaps += 1
    print(
        json.dumps(
            {
                "drafts": len(tokens),
                "submissions": filed.count(),
                "entries": items.count(),
                "duplicated_tokens": duplicates,
                "units_with_gaps": gaps,
                "batches": sorted(batches.items()),
            }
        )
    )


# --- the run ----------------------------------------------------------------------------


def _cookie(session: str, csrf: str | None = None) -> str:
    cookie = f"sessionid={session}"
    if csrf:
        cookie += f"; csrftoken={csrf}"
    return cookie


def build_filings(prepared: dict, double_every: int) -> tuple[list[Request], list[str]]:
    requests = []
    tokens = []
    for index, draft in enumerate(prepared["drafts"]):
        csrf = secrets.token_hex(16)
        body = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": csrf, "form_token": draft["token"], "website": ""}
        ).encode()
        request = Request(
            "POST",
            "/portal/pismo/sprawdz/",
            {
                "Cookie": _cookie(draft["session"], csrf),
                "Content-Type": "application/x-www-form-urlencoded",
            },
            body,
            expect=(302,),
        )
        requests.append(request)
        tokens.append(draft["token"])
        if double_every and index % double_every == 0:
            requests.append(request)  # the double click: same session, same form token
    return requests, tokens


def build_pages(prepared: dict, count: int) -> list[Request]:
    visitor = {"Cookie": _cookie(prepared["visitor"])}
    kinds = [
        Request("GET", "/portal/"),
        Request("GET", "/portal/pismo/"),
        Request("GET", "/portal/skarga/"),
        Request("GET", "/portal/pismo/jednostka/", visitor),
        Request("GET", "/portal/deklaracja-dostepnosci/"),
        Request("GET", f"/portal/sledzenie/{prepared['tracking']}/"),
    ]
    rng = random.Random(7)
    return [rng.choice(kinds) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default SQLite)")
    parser.add_argument("--filings", type=int, default=3000)
    parser.add_argument("--pages", type=int, default=10000)
    parser.add_argument("--minimal", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--double-every", type=int, default=20)
    parser.add_argument(
        "--client",
        choices=["wrk", "asyncio"],
        default="wrk" if shutil.which("wrk") else "asyncio",
        help="load generator for the minimal and pages phases (filings: always asyncio, "
        "which sends each prepared filing exactly once)",
    )
    parser.add_argument(
        "--seconds", type=int, default=15, help="length of each wrk phase (--client wrk)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--django-prepare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--django-count", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.django_prepare is not None:
        return django_prepare(args.django_prepare)
    if args.django_count is not None:
        return django_count(args.django_count)

    data_dir = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    env = _env(data_dir, args.database_url)
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"portal load: {database}, gunicorn gthread {args.workers} workers x {args.threads} "
        f"threads, {args.connections} connections, {os.cpu_count()} cores; "
        f"minimal and pages by {args.client}, filings by asyncio"
    )
    server = None
    try:
        _reset_database(env, args.database_url)
        prepared = json.loads(_django(env, "--django-prepare", str(args.filings)))
        port = _free_port()
        server = _start_server(env, port, args.workers, args.threads)
        host = "127.0.0.1"
        # Warm every worker (imports, templates, connections) before measuring.
        run_load(host, port, build_pages(prepared, 300), args.connections)

        results = []
        minimal = [Request("GET", "/bench/minimal/")] * args.minimal
        pages = build_pages(prepared, args.pages)
        if args.client == "wrk":
            for name, requests in (("minimal", minimal[:1]), ("pages", pages)):
                results.append(
                    phase_wrk(
                        name,
                        host,
                        port,
                        requests,
                        args.connections,
                        args.seconds,
                        server,
                        data_dir,
                    )
                )
        else:
            result, _ = phase("minimal", host, port, minimal, args.connections, server)
            results.append(result)
            result, _ = phase("pages", host, port, pages, args.connections, server)
            results.append(result)
        filings, tokens = build_filings(prepared, args.double_every)
        result, outcomes = phase("filings", host, port, filings, args.connections, server)
        results.append(result)
        for line in results:
            print(line.line())
        tokens_file = data_dir / "tokens.json"
        tokens_file.write_text(json.dumps(tokens))
        counts = json.loads(_django(env, "--django-count", str(tokens_file)))
        wrong = [o for o in outcomes if o.status != 302 or "/portal/wyslano/" not in o.location]
        print(
            f"database: {counts['drafts']} drafts, {counts['submissions']} submissions, "
            f"{counts['entries']} register entries, {counts['duplicated_tokens']} duplicated, "
            f"{counts['units_with_gaps']} units with number gaps; "
            f"{len(filings) - len(tokens)} double clicks; {len(wrong)} filing responses "
            "not a redirect to the confirmation"
        )
        batches = counts["batches"]
        print(
            f"registered in {sum(n for _size, n in batches)} transactions; filings in a "
            "transaction: " + ", ".join(f"{size}: {n}" for size, n in batches)
        )
        ceiling = results[0].rate
        print(
            f"pages at {results[1].rate / ceiling:.0%} of the minimal view, "
            f"filings at {results[2].rate / ceiling:.0%}"
        )
        ok = (
            counts["submissions"] == counts["entries"] == counts["drafts"]
            and counts["duplicated_tokens"] == 0
            and counts["units_with_gaps"] == 0
            and not wrong
        )
        print("nothing lost or duplicated" if ok else "FILINGS LOST OR DUPLICATED")
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
