"""Register, page and number: the three speed requirements, each beside its SQL reference.

    python -m bench.bench_registry                      # everything
    python -m bench.bench_registry --only pages,deep    # some parts
    python -m bench.bench_registry --verify             # also compare pages with the
                                                        # plain OR formulation

1. register: `incoming_item_register` (the service: permission checks, deadline,
   number, row, assignment, audit entry) against the bare minimum in SQL: the
   sequence upsert and the INSERT of the row in one transaction.
2. pages: the first page of the incoming register through `incoming_register_page`
   for random case handlers, cell heads and unit commanders, against the very
   SQL statements the call sent (scope, ids, rows), run again through a cursor
   (the difference is the ORM's own time), with EXPLAIN ANALYZE of the main one;
   deep pages: the page after 10,000 and 100,000 visible rows (keyset cursor).
3. signs: `case_open` from 8 threads at once on one cell, JRWA class and year:
   no gap, no duplicate, cases/s; against bare sequence upserts from 8 threads.

Needs data from `python -m bench.generate`. Runs on PostgreSQL and on SQLite.
Writes to the database (registrations, cases): run it on a benchmark database.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import close_old_connections, connection, connections, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bench.generate import BENCH_USER_PREFIX, SUBJECTS, fill
from garnizon.cases.models import Case
from garnizon.cases.services import case_open
from garnizon.common.paging import DEFAULT_PAGE_SIZE, keyset_page
from garnizon.common.sequences import current_value, next_value
from garnizon.org.access import Scope
from garnizon.org.models import Cell, Person, Position, Role
from garnizon.registry.models import IncomingItem
from garnizon.registry.selectors import (
    _ARMS,
    IncomingFilters,
    _apply_incoming_filters,
    _incoming_visibility_arms,
    incoming_register_page,
    incoming_visibility_q,
    incoming_visible_to,
)
from garnizon.registry.services import incoming_item_register

PG = connection.vendor == "postgresql"


# --- small helpers -----------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f}"


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def line(label: str, ours: list[float], ref: list[float] | None = None) -> None:
    text = f"  {label:34} ours p50 {ms(pct(ours, 50))} p95 {ms(pct(ours, 95))} ms (n={len(ours)})"
    if ref:
        text += f" | SQL p50 {ms(pct(ref, 50))} p95 {ms(pct(ref, 95))} ms"
    print(text, flush=True)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run_sql(sql: str, params) -> float:
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(sql, params)
        cursor.fetchall()
        return time.perf_counter() - started


def explain(sql: str, params) -> str:
    """A one-line summary of the plan: execution time, buffers, the scans used."""
    with connection.cursor() as cursor:
        if not PG:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return "; ".join(str(row[-1]) for row in cursor.fetchall())[:300]
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        rows = [row[0] for row in cursor.fetchall()]
    scans: list[str] = []
    for row in rows:
        text = row.strip().lstrip("->").strip()
        if " on " in text and ("Scan" in text or "Sort" in text):
            node = text.split("  (")[0]
            if node not in scans:
                scans.append(node)
    execution = next((r.strip() for r in rows if r.startswith("Execution Time")), "")
    removed = sum(int(r.split(":")[1]) for r in rows if "Rows Removed by Filter" in r)
    sorts = [r.strip() for r in rows if "Sort Method" in r]
    return (
        f"{execution}; rows removed by filter {removed:,}; "
        f"{'; '.join(sorts) + '; ' if sorts else ''}{len(scans)} scan nodes: "
        + ", ".join(scans[:4])
        + (" ..." if len(scans) > 4 else "")
    )


def dataset() -> str:
    parts = []
    for model in (IncomingItem, Case):
        table = model._meta.db_table
        with connection.cursor() as cursor:
            column = "received_at" if model is IncomingItem else "opened_on"
            cursor.execute(f"SELECT COUNT(*), MIN({column}) FROM {table}")
            count, oldest = cursor.fetchone()
        parts.append(f"{table} {count:,} rows (oldest {str(oldest)[:10]})")
    return "; ".join(parts)


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    version = ""
    if PG:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = "PostgreSQL " + cursor.fetchone()[0]
    else:
        import sqlite3

        version = "SQLite " + sqlite3.sqlite_version
    return f"{cpu}, {os.cpu_count()} cores; {version}; Python {platform.python_version()}"


# --- people ------------------------------------------------------------------------


@dataclass
class Staff:
    handlers: list[Person]
    heads: list[Person]
    commanders: list[Person]
    clerks: list[Person]
    garrison_wide: list[Person]
    sparse_handlers: list[Person]  # the 20 handlers whose cells get the fewest items
    volume: dict[int, int]  # person id -> items assigned to the cell of their position


def staff() -> Staff:
    positions = Position.objects.active().filter(person__username__startswith=BENCH_USER_PREFIX)
    by_role: dict[str, list[Person]] = {}
    wide: list[Person] = []
    for position in positions.select_related("person").order_by("person_id"):
        if position.garrison_wide:
            if position.role == Role.UNIT_COMMANDER:
                wide.append(position.person)
            continue
        by_role.setdefault(position.role, []).append(position.person)
    if not by_role:
        raise SystemExit("No bench staff: run python -m bench.generate first.")
    per_cell = dict(
        IncomingItem.objects.order_by()
        .values_list("assigned_cell_id")
        .annotate(n=Count("id"))
        .values_list("assigned_cell_id", "n")
    )
    volume = {
        person_id: per_cell.get(cell_id, 0)
        for person_id, cell_id in positions.values_list("person_id", "cell_id")
    }
    handlers = by_role.get(Role.CASE_HANDLER, [])
    sparse = sorted(handlers, key=lambda p: (volume[p.pk], p.pk))[:20]
    return Staff(
        sparse_handlers=sparse,
        volume=volume,
        handlers=by_role.get(Role.CASE_HANDLER, []),
        heads=by_role.get(Role.CELL_HEAD, []),
        commanders=by_role.get(Role.UNIT_COMMANDER, []),
        clerks=by_role.get(Role.REGISTRY_CLERK, []),
        garrison_wide=wide,
    )


# --- 1. registering ----------------------------------------------------------------------


def bench_register(rng: random.Random, people: Staff, runs: int) -> None:
    print(f"\n1. Register an incoming item ({runs} registrations, then {runs} in bare SQL)")
    clerks = people.clerks
    cells_by_unit: dict[int, list[tuple[Cell, list[int]]]] = {}
    for position in (
        Position.objects.active()
        .filter(role=Role.CASE_HANDLER, person__username__startswith=BENCH_USER_PREFIX)
        .select_related("cell")
    ):
        cells = cells_by_unit.setdefault(position.cell.unit_id, [])
        entry = next((e for e in cells if e[0].pk == position.cell_id), None)
        if entry is None:
            cells.append((position.cell, [position.person_id]))
        else:
            entry[1].append(position.person_id)
    persons = Person.objects.in_bulk(
        [p for cs in cells_by_unit.values() for _, ps in cs for p in ps]
    )
    units = {c.unit_id: c.unit for cs in cells_by_unit.values() for c, _ in cs}
    domains = list(SUBJECTS)

    def one() -> tuple[dict, Person]:
        clerk = rng.choice(clerks)
        cell, handler_ids = rng.choice(cells_by_unit[clerk.unit_id])
        template, kind, _ = rng.choice(SUBJECTS[rng.choice(domains)])
        kwargs = {
            "unit": units.get(clerk.unit_id) or clerk.unit,
            "subject": fill(template, rng, timezone.localdate().year),
            "channel": rng.choice(("paper", "email", "epuap", "edoreczenia")),
            "sender_name": "Jan Kowalski",
            "kind": kind,
            "assigned_cell": cell,
            "assigned_person": persons[rng.choice(handler_ids)] if rng.random() < 0.6 else None,
        }
        return kwargs, clerk

    for _ in range(10):  # warm-up: connections, caches, plans
        kwargs, clerk = one()
        incoming_item_register(actor=clerk, **kwargs)
    kwargs, clerk = one()
    with CaptureQueriesContext(connection) as captured:
        incoming_item_register(actor=clerk, **kwargs)
    ours = []
    for _ in range(runs):
        kwargs, clerk = one()
        ours.append(
            timed(lambda kwargs=kwargs, clerk=clerk: incoming_item_register(actor=clerk, **kwargs))
        )

    # The reference: the sequence upsert and the INSERT of one row, one transaction.
    cols = (
        "unit_id, year, number, registration_number, received_at, channel, subject, "
        "sender_name, letter_reference, kind, deadline_basis, deadline_explanation, "
        "paper_location, remarks, is_restricted, registered_by_id, registered_at, "
        "assigned_cell_id, assigned_person_id"
    )
    insert = f"INSERT INTO registry_incomingitem ({cols}) VALUES ({', '.join(['%s'] * 19)})" + (
        " RETURNING id" if PG else ""
    )
    upsert = (
        "INSERT INTO common_sequence (name, value) VALUES (%s, 1) ON CONFLICT (name) "
        "DO UPDATE SET value = common_sequence.value + 1 RETURNING value"
    )
    ref = []
    for _ in range(runs):
        kwargs, clerk = one()
        unit = kwargs["unit"]
        now = timezone.now()
        year = timezone.localdate(now).year
        person = kwargs["assigned_person"]
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(upsert, [f"rpw:{unit.pk}:{year}"])
            number = cursor.fetchone()[0]
            cursor.execute(
                insert,
                [
                    unit.pk,
                    year,
                    number,
                    f"{unit.symbol}/RPW/{number}/{year}",
                    now,
                    kwargs["channel"],
                    kwargs["subject"],
                    kwargs["sender_name"],
                    "",
                    kwargs["kind"],
                    "",
                    "",
                    "",
                    "",
                    False,
                    clerk.pk,
                    now,
                    kwargs["assigned_cell"].pk,
                    person.pk if person else None,
                ],
            )
        ref.append(time.perf_counter() - started)
    print(f"  the service sends {len(captured.captured_queries)} statements per registration")
    line("incoming_item_register", ours, ref)
    target = "MET" if pct(ours, 50) < 0.010 else "MISSED"
    print(f"  target: median under 10 ms -> {target} ({ms(pct(ours, 50)).strip()} ms)")


# --- 2. pages ------------------------------------------------------------------------------


def original_incoming_register_page(
    *, person, filters=None, before_id=None, limit=DEFAULT_PAGE_SIZE, scope=None
):
    """`incoming_register_page` as it was before the union rewrite (for --baseline)."""
    qs = incoming_visible_to(person, scope=scope)
    qs = _apply_incoming_filters(qs, filters or IncomingFilters())
    qs = qs.select_related("unit", "assigned_cell", "assigned_person", "case")
    return keyset_page(qs, before_id=before_id, limit=limit)


# The implementations measured: ours, and with --compare the original one beside it.
PAGE: dict[str, Callable] = {"ours": incoming_register_page}


def page_sql(fn: Callable, person: Person, **kwargs) -> list[tuple[str, list]]:
    """Every statement the page call sent (scope, ids, rows), exactly as sent."""
    sent: list[tuple[str, list]] = []

    def record(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        fn(person=person, **kwargs)
    return sent


def heaviest(statements: list[tuple[str, list]]) -> tuple[str, list]:
    """The statement that reads the register: the union of arms, else the last one."""
    return next((s for s in statements if " UNION " in s[0]), statements[-1])


def or_page_ids(person: Person, before_id: int | None, limit: int = 50) -> list[int]:
    """The page as the plain OR formulation of need-to-know gives it (for --verify)."""
    qs = IncomingItem.objects.filter(incoming_visibility_q(Scope.for_person(person)))
    qs = _apply_incoming_filters(qs, IncomingFilters())
    if before_id is not None:
        qs = qs.filter(pk__lt=before_id)
    return list(qs.order_by("-pk").values_list("pk", flat=True)[:limit])


def measure_pages(
    label: str,
    users: list[tuple[Person, int | None]],
    rng: random.Random,
    runs: int,
    verify: bool,
) -> dict[str, list[float]]:
    """Time each implementation in PAGE on the same random users, interleaved."""
    implementations = list(PAGE.items())
    ours: dict[str, list[float]] = {name: [] for name, _ in implementations}
    ref: dict[str, list[float]] = {name: [] for name, _ in implementations}
    plans: dict[str, str] = {}
    for i in range(runs):
        person, before_id = rng.choice(users)
        kwargs = {"before_id": before_id} if before_id else {}
        rng.shuffle(implementations)
        for name, fn in implementations:
            statements = page_sql(fn, person, **kwargs)
            ours[name].append(timed(lambda fn=fn, p=person, kw=kwargs: fn(person=p, **kw)))
            ref[name].append(sum(run_sql(sql, params) for sql, params in statements))
            if i == 0:
                plans[name] = f"{len(statements)} statements; " + explain(*heaviest(statements))
        if verify and i < 20:
            got = [r.pk for r in incoming_register_page(person=person, **kwargs).rows]
            want = or_page_ids(person, before_id)
            if got != want:
                raise SystemExit(f"{label}: page differs from the OR formulation for {person}")
    for name in PAGE:
        line(label if len(PAGE) == 1 else f"{label} [{name}]", ours[name], ref[name])
        print(f"      plan: {plans[name]}")
    return ours


def cursor_at(person: Person, depth: int) -> int | None:
    """The id of the `depth`-th visible row, newest first (the cursor after `depth` rows).

    Read through the arms of need-to-know (each cut at depth + 51): the plain OR
    with OFFSET would walk most of a ten-year register for a rare user.
    """
    take = depth + 51
    parts, params = [], []
    for kind, value in _incoming_visibility_arms(Scope.for_person(person)):
        condition, key = _ARMS[kind]
        arm = IncomingItem.objects.filter(condition(value)).order_by(f"-{key}").values("pk")
        try:
            sql, arm_params = arm[:take].query.sql_with_params()
        except EmptyResultSet:
            continue
        parts.append(f"SELECT * FROM ({sql}) AS arm{len(parts)}")
        params.extend(arm_params)
    if not parts:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM ({' UNION '.join(parts)}) AS arms ORDER BY 1 DESC LIMIT 52 OFFSET %s",
            [*params, depth - 1],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return ids[0] if len(ids) > 51 else None


def bench_pages(rng: random.Random, people: Staff, runs: int, verify: bool) -> None:
    print(f"\n2. First page of the incoming register (50 rows), {runs} runs per role")
    groups = {
        "case handler (one cell)": people.handlers,
        "case handler, 20 sparsest cells": people.sparse_handlers,
        "cell head (cell and sub-cells)": people.heads,
        "unit commander (own unit)": people.commanders,
        "registry clerk (own unit)": people.clerks,
        "garrison-wide commander": people.garrison_wide,
    }
    ordinary: dict[str, list[float]] = {name: [] for name in PAGE}
    for label, persons in groups.items():
        if not persons:
            continue
        times = measure_pages(label, [(p, None) for p in persons], rng, runs, verify)
        if label.startswith(("case handler (", "cell head", "unit commander")):
            for name in PAGE:
                ordinary[name] += times[name]
    for name, times in ordinary.items():
        p95 = pct(times, 95)
        print(
            f"  target [{name}]: p95 under 50 ms over random handlers, heads and commanders -> "
            f"{'MET' if p95 < 0.050 else 'MISSED'} ({ms(p95).strip()} ms)"
        )


def bench_deep(
    rng: random.Random, people: Staff, runs: int, verify: bool, depths: list[int]
) -> None:
    print(f"\n3. Deep pages: the page after N visible rows (keyset cursor), {runs} runs each")
    for depth in depths:
        for label, persons in (
            ("case handler", people.handlers),
            ("cell head", people.heads),
            ("unit commander", people.commanders),
            ("registry clerk", people.clerks),
            ("garrison-wide commander", people.garrison_wide),
        ):
            # half at random, half from the busiest cells (the only ones that reach deep)
            busiest = sorted(persons, key=lambda p: -people.volume.get(p.pk, 0))[:6]
            others = [p for p in persons if p not in busiest]
            sample = busiest + rng.sample(others, min(len(others), 6))
            users = []
            for person in sample:
                cursor = cursor_at(person, depth)
                if cursor is not None:
                    users.append((person, cursor))
            if not users:
                print(f"  after {depth:>7,} rows, {label:24} (nobody sees that many rows)")
                continue
            measure_pages(f"after {depth:,} rows, {label}", users, rng, runs, verify)


# --- 3. case signs under concurrency -------------------------------------------------------


def bench_signs(rng: random.Random, writers: int, per_writer: int) -> None:
    print(
        f"\n4. Case signs: {writers} concurrent writers x {per_writer} case_open on one "
        "cell, JRWA class and year"
    )
    # The busiest cell with several handlers, and one of its classes.
    cell_id = (
        Position.objects.active()
        .filter(role=Role.CASE_HANDLER, person__username__startswith=BENCH_USER_PREFIX)
        .values_list("cell_id", flat=True)
        .order_by("cell_id")
    )
    counts: dict[int, int] = {}
    for cid in cell_id:
        counts[cid] = counts.get(cid, 0) + 1
    cell = Cell.objects.get(pk=max(counts, key=lambda c: (counts[c], -c)))
    handlers = list(
        Person.objects.filter(positions__cell=cell, positions__role=Role.CASE_HANDLER).distinct()
    )
    last_case = Case.objects.filter(cell=cell).select_related("classification__scheme")
    classification = last_case.order_by("-id").first().classification
    year = timezone.localdate().year
    key = f"case:{cell.pk}:{classification.symbol}:{year}"
    before = current_value(key)
    results: list[list[tuple[int, float]]] = [[] for _ in range(writers)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers + 1)

    def writer(index: int) -> None:
        try:
            actor = handlers[index % len(handlers)]
            close_old_connections()
            barrier.wait()
            for n in range(per_writer):
                started = time.perf_counter()
                case = case_open(
                    actor=actor,
                    cell=cell,
                    classification=classification,
                    subject=f"Benchmark: sprawa {index}-{n}",
                )
                results[index].append((case.number, time.perf_counter() - started))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise SystemExit(f"writers failed: {errors[:3]}")
    numbers = sorted(number for r in results for number, _ in r)
    latencies = [seconds for r in results for _, seconds in r]
    after = current_value(key)
    expected = list(range(before + 1, before + writers * per_writer + 1))
    in_db = sorted(
        Case.objects.filter(
            cell=cell, classification=classification, year=year, number__gt=before
        ).values_list("number", flat=True)
    )
    ok = numbers == expected == in_db and after == expected[-1]
    verdict = "no gap, no duplicate" if ok else "GAP OR DUPLICATE"
    print(
        f"  {cell.default_designation()} class {classification.symbol}, "
        f"numbers {before + 1}..{after}: {verdict}"
    )
    raw_rate, raw_ok = raw_sequence_rate(writers, per_writer * 4)
    p50, p95 = ms(pct(latencies, 50)).strip(), ms(pct(latencies, 95)).strip()
    print(
        f"  case_open: {len(numbers) / wall:8.1f} cases/s (wall {wall:.2f} s), "
        f"latency p50 {p50} ms, p95 {p95} ms"
    )
    print(
        f"  SQL reference, bare sequence upserts, {writers} writers: {raw_rate:8.1f} /s "
        f"({'no gap, no duplicate' if raw_ok else 'GAP OR DUPLICATE'})"
    )
    if not ok:
        raise SystemExit("case numbering broke under concurrency")


def raw_sequence_rate(writers: int, per_writer: int) -> tuple[float, bool]:
    key = f"bench:raw:{time.time_ns()}"
    got: list[list[int]] = [[] for _ in range(writers)]
    barrier = threading.Barrier(writers + 1)

    def writer(index: int) -> None:
        close_old_connections()
        barrier.wait()
        try:
            for _ in range(per_writer):
                with transaction.atomic():
                    got[index].append(next_value(key))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    values = sorted(v for g in got for v in g)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM common_sequence WHERE name = %s", [key])
    return len(values) / wall, values == list(range(1, writers * per_writer + 1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="register,pages,deep,signs")
    parser.add_argument("--register-runs", type=int, default=300)
    parser.add_argument("--page-runs", type=int, default=200)
    parser.add_argument("--deep-runs", type=int, default=50)
    parser.add_argument("--depths", default="10000,100000", help="rows above the deep pages")
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--cases-per-writer", type=int, default=50)
    parser.add_argument("--verify", action="store_true")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="time the original incoming_register_page (plain OR) beside ours, interleaved",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    if args.compare:
        PAGE["before"] = original_incoming_register_page
    rng = random.Random(args.seed)
    print(f"Machine: {machine()}")
    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}")
    print(f"Dataset: {dataset()}")
    print(f"Load average at start: {os.getloadavg()[0]:.2f} (1 min)")
    people = staff()
    if "register" in only:
        bench_register(rng, people, args.register_runs)
    if "pages" in only:
        bench_pages(rng, people, args.page_runs, args.verify)
    if "deep" in only:
        bench_deep(
            rng, people, args.deep_runs, args.verify, [int(d) for d in args.depths.split(",")]
        )
    if "signs" in only:
        bench_signs(rng, args.writers, args.cases_per_writer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
