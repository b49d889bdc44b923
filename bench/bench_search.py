"""Search speed: permission-filtered queries beside the bare engine, and reindexing.

    python -m bench.bench_search --documents 200000 --rebuild-workers 1 2  # add, index, measure
    python -m bench.bench_search --documents 200000 --skip-index  # only the queries

Needs the synthetic garrison from `python -m bench.generate` (units, people,
register entries, cases). Adds `--documents` synthetic documents of one to three
pages of Polish text (about 250 words a page) attached to random register
entries (70 %) and cases (30 %), as plain rows written in bulk (no files:
search reads only the text), then:

1. reindex: a sample (`--sample` documents) with `index_objects` in this one
   process (the incremental path the signals use, and the rebuild before
   issue 4's reindexing work), timing the analysis apart; the bare engine on
   the same sample (analysed beforehand, written straight into a fresh FTS5
   table and merged, or COPYed into a fresh table of one tsvector and
   GIN-indexed); then the full rebuild of `garnizon search reindex`
   (`search.rebuild`: documents, register entries, cases into a new index,
   merged or indexed once, swapped in) once per `--rebuild-workers` value,
   with the rate of each type and the time of the finish and of the swap;
2. queries: one to three words drawn from the corpus (words found in 2-60 % of
   the documents: names, places, goods), for ordinary case handlers of one
   cell: the top 20 with need-to-know inside the query (what the service runs),
   the full service call (hits, count, facets, exact look-ups), and the bare
   engine (FTS5 or tsvector queried directly, no permissions, no filters) on
   the same data; p50 and p95;
3. a broad query (the corpus's most frequent word, in nearly every document):
   the first page and its count (exact, or marked as an estimate above the cap)
   for a handler and for a garrison-wide commander, beside the bare engine.

Writes to the database: run it on a benchmark database. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from bench.generate import BENCH_USER_PREFIX, SUBJECTS, fill
from garnizon.cases.models import Case
from garnizon.documents.models import Document, DocumentKind, DocumentVersion
from garnizon.org.access import Scope
from garnizon.org.models import Person, Position, Role
from garnizon.registry.models import IncomingItem
from garnizon.search.acl import scope_tokens
from garnizon.search.analysis import analyse
from garnizon.search.backends import get_backend
from garnizon.search.indexing import index_objects, reindex
from garnizon.search.models import ObjectType, SearchEntry
from garnizon.search.query import parse
from garnizon.search.rebuild import rebuild
from garnizon.search.services import RANK_LIMIT, _page, search

IDENTIFIER = "BENCH/SZUK/"
SENTENCES = (
    "W dniu {n} zgłoszono {crime} w miejscowości {place} przy ulicy {street}.",
    "Funkcjonariusze przybyli na miejsce i zabezpieczyli ślady oraz nagrania z monitoringu.",
    "Pokrzywdzony {surname} oświadczył, że utracił {goods} o wartości około {n} złotych.",
    "Świadek zeznał, że widział dwóch mężczyzn oddalających się samochodem osobowym.",
    "Sprawę przekazano do prowadzenia wydziałowi kryminalnemu komendy {in_place}.",
    "Postępowanie prowadzone jest pod nadzorem prokuratury rejonowej {in_place}.",
    "W toku czynności ustalono tożsamość sprawcy, którym okazał się {surname}.",
    "Zatrzymany został przewieziony do pomieszczenia dla osób zatrzymanych.",
    "Wobec podejrzanego zastosowano dozór policji oraz zakaz opuszczania kraju.",
    "Do protokołu dołączono dokumentację fotograficzną oraz szkic miejsca zdarzenia.",
    "Informujemy, że {event} w miejscowości {place} przebiegło bez zakłóceń porządku.",
    "Uprzejmie proszę o udzielenie informacji w sprawie {crime} z roku {year}.",
    "Pismo przekazuję zgodnie z właściwością wraz z kompletem załączników.",
    "Oględziny pojazdu wykazały uszkodzenia szyby i zamka drzwi kierowcy.",
    "Mieszkańcy ulicy {street} skarżą się na hałas i zakłócanie ciszy nocnej.",
)
WORDS_PER_PAGE = 250


def page_of_text(rng: random.Random, year: int) -> str:
    words: list[str] = []
    while len(words) < WORDS_PER_PAGE:
        words += fill(rng.choice(SENTENCES), rng, year).split()
    return " ".join(words[:WORDS_PER_PAGE])


def create_documents(count: int, rng: random.Random, chunk: int = 5000) -> list[int]:
    """Documents with one version each, attached to random register entries and cases.

    A document is a first sentence of its own (names, places, numbers vary)
    followed by one to three pages drawn from a pool of 3,000 generated pages."""
    existing = Document.objects.filter(identifier__startswith=IDENTIFIER).count()
    year = timezone.localdate().year
    if existing < count:
        items = list(IncomingItem.objects.values_list("pk", "unit_id", "registered_by_id"))
        cases = list(Case.objects.values_list("pk", "unit_id", "created_by_id"))
        if not items:
            raise SystemExit("Brak danych: najpierw `python -m bench.generate`.")
        pool = [page_of_text(rng, year) for _ in range(3000)]
        titles = [fill(t[0], rng, year) for subject in SUBJECTS.values() for t in subject]
        started = time.perf_counter()
        for first in range(existing + 1, count + 1, chunk):
            numbers = range(first, min(count, first + chunk - 1) + 1)
            documents, texts = [], []
            for index in numbers:
                on_case = bool(cases) and rng.random() < 0.3
                owner_id, unit_id, person_id = rng.choice(cases if on_case else items)
                opening = fill(rng.choice(SENTENCES), rng, year)
                texts.append(" ".join([opening, *rng.sample(pool, rng.randint(1, 3))]))
                documents.append(
                    Document(
                        unit_id=unit_id,
                        identifier=f"{IDENTIFIER}{index}",
                        title=rng.choice(titles),
                        kind=DocumentKind.SCAN,
                        incoming_item_id=None if on_case else owner_id,
                        case_id=owner_id if on_case else None,
                        created_by_id=person_id,
                    )
                )
            with transaction.atomic():
                Document.objects.bulk_create(documents, batch_size=1000)
                ids = dict(
                    Document.objects.filter(
                        identifier__in=[d.identifier for d in documents]
                    ).values_list("identifier", "pk")
                )
                DocumentVersion.objects.bulk_create(
                    [
                        DocumentVersion(
                            document_id=ids[d.identifier],
                            number=1,
                            blob_sha256="0" * 64,
                            size=len(text),
                            original_filename="skan.pdf",
                            mime_type="application/pdf",
                            created_by_id=d.created_by_id,
                            text=text,
                        )
                        for d, text in zip(documents, texts, strict=True)
                    ],
                    batch_size=1000,
                )
            rate = (numbers[-1] - existing) / (time.perf_counter() - started)
            print(f"  documents: {numbers[-1]:,} ({rate:,.0f}/s)", flush=True)
    return list(
        DocumentVersion.objects.filter(document__identifier__startswith=IDENTIFIER)
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )


class Clock:
    """Wall time and CPU time of this process plus, on PostgreSQL, of its server
    backend (read from /proc: the server runs on this machine). On a shared,
    loaded machine the CPU seconds give the rate per core that the wall clock
    cannot: documents / CPU seconds = documents a second on one busy core."""

    def __init__(self) -> None:
        connection.ensure_connection()
        self.backend_pid = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend_pid = cursor.fetchone()[0]
        self.wall = time.perf_counter()
        self.cpu = self._cpu()

    def _cpu(self) -> float:
        own = time.process_time()
        if self.backend_pid is None:
            return own
        try:
            with open(f"/proc/{self.backend_pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return own + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            return own

    def rates(self, count: int) -> str:
        wall = time.perf_counter() - self.wall
        cpu = self._cpu() - self.cpu
        return f"{count / wall:,.0f}/s wall, {count / cpu:,.0f}/s per CPU second ({cpu:.1f} s)"


def rebuild_documents(version_ids: list[int], batch: int = 1000) -> None:
    """The rebuild's path for documents alone, in this one process: into a new
    index (the build tables), merged / indexed, then dropped (no swap)."""
    from garnizon.search.rebuild import _build_job

    backend = get_backend()
    analyse("samochodu")
    with transaction.atomic():
        backend.build_begin()
    clock = Clock()
    for start in range(0, len(version_ids), batch):
        _build_job((ObjectType.VERSION, version_ids[start : start + batch]))
    backend.build_finish()
    print(
        f"rebuild's path, {len(version_ids):,} documents, one process: "
        f"{clock.rates(len(version_ids))}",
        flush=True,
    )
    build = "search_fts_build" if connection.vendor == "sqlite" else "search_searchentry_build"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {build}")
        cursor.execute("DELETE FROM search_rebuild_log")


def reindex_sample(version_ids: list[int], batch: int = 500) -> None:
    """One process, one core: the rate of `index_objects` and the analysis's share
    (after loading the lemma dictionary, which takes a few seconds once per process)."""
    analyse("samochodu")
    started = time.perf_counter()
    clock = Clock()
    written = 0
    for start in range(0, len(version_ids), batch):
        written += index_objects(ObjectType.VERSION, version_ids[start : start + batch])
    seconds = time.perf_counter() - started
    cpu = clock.rates(written)
    texts = list(DocumentVersion.objects.filter(pk__in=version_ids).values_list("text", flat=True))
    started = time.perf_counter()
    for text in texts:
        analyse(text)
    analysis = time.perf_counter() - started
    words = sum(len(t.split()) for t in texts) / max(1, len(texts))
    print(
        f"index_objects (the old rebuild's path), {written:,} documents, one process: "
        f"{cpu} (avg {words:.0f} words; analysis alone "
        f"{len(texts) / analysis:,.0f}/s = {analysis / seconds:.0%} of the time)",
        flush=True,
    )


def reindex_all(object_type: str, ids: list[int], workers: int, batch: int = 500) -> None:
    jobs = [(object_type, ids[i : i + batch]) for i in range(0, len(ids), batch)]
    started = time.perf_counter()
    written = reindex(jobs, workers=workers)
    seconds = time.perf_counter() - started
    print(
        f"reindex {object_type}: {written:,} in {seconds:.1f} s = {written / seconds:,.0f}/s "
        f"with {workers} worker(s) ({written / seconds / workers:,.0f}/s per worker)",
        flush=True,
    )


def bare_engine_load(version_ids: list[int], batch: int = 1000) -> None:
    """The reference: the same documents, analysed beforehand (not timed), written
    straight into a fresh FTS5 table (SQLite: executemany in transactions of
    `batch`, then one 'optimize') or a fresh table of one tsvector (PostgreSQL:
    binary COPY of the tsvectors, then its GIN index), in this one process."""
    from garnizon.search.backends.postgresql import TsvectorBinaryDumper, tsvector

    texts = list(
        DocumentVersion.objects.filter(pk__in=version_ids)
        .order_by("pk")
        .values_list("text", flat=True)
    )
    acl = "p1 c2 u3 r"
    if connection.vendor == "sqlite":
        rows = [(i, *analyse(t).columns(), acl) for i, t in enumerate(texts, start=1)]
    else:
        rows = [(i, tsvector(analyse(t), acl)) for i, t in enumerate(texts, start=1)]
    connection.ensure_connection()
    raw = connection.connection
    clock = Clock()
    started = time.perf_counter()
    if connection.vendor == "sqlite":
        raw.execute("DROP TABLE IF EXISTS bench_fts")
        raw.execute(
            "CREATE VIRTUAL TABLE bench_fts USING fts5(surface, lemma, acl, "
            "tokenize = 'unicode61 remove_diacritics 0')"
        )
        for start in range(0, len(rows), batch):
            with transaction.atomic():
                raw.executemany(
                    "INSERT INTO bench_fts(rowid, surface, lemma, acl) VALUES (?, ?, ?, ?)",
                    rows[start : start + batch],
                )
        loaded = time.perf_counter()
        with transaction.atomic():
            raw.execute("INSERT INTO bench_fts(bench_fts) VALUES ('optimize')")
        rates = clock.rates(len(rows))
        with transaction.atomic():
            raw.execute("DROP TABLE bench_fts")
    else:
        with transaction.atomic(), raw.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_tsv")
            cursor.execute("CREATE TABLE bench_tsv (id bigint, tsv tsvector)")
        for start in range(0, len(rows), batch):
            with transaction.atomic(), raw.cursor() as cursor:
                cursor.adapters.register_dumper(None, TsvectorBinaryDumper)
                with cursor.copy("COPY bench_tsv (id, tsv) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(["bigint", "tsvector"])
                    for row in rows[start : start + batch]:
                        copy.write_row(row)
        loaded = time.perf_counter()
        with transaction.atomic(), raw.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute("CREATE INDEX bench_tsv_tsv ON bench_tsv USING gin (tsv)")
            cursor.execute("RESET maintenance_work_mem")
        rates = clock.rates(len(rows))
        with transaction.atomic(), raw.cursor() as cursor:
            cursor.execute("DROP TABLE bench_tsv")
    print(
        f"bare engine, the same {len(rows):,} documents analysed beforehand, one process: "
        f"{rates} (load {loaded - started:.1f} s, "
        f"{'optimize' if connection.vendor == 'sqlite' else 'GIN indexes'} "
        f"{time.perf_counter() - loaded:.1f} s)",
        flush=True,
    )


def rebuild_timed(workers: int, batch: int = 1000) -> None:
    """`garnizon search reindex`'s rebuild, with the time of each type's batches,
    of the finish (merges / indexes) and of the swap."""
    marks: dict[str, list[float]] = {}
    counts: dict[str, int] = {}

    def progress(object_type: str, done: int, total: int) -> None:
        marks.setdefault(object_type, [time.perf_counter()]).append(time.perf_counter())
        counts[object_type] = done

    phases: dict[str, float] = {}
    started = time.perf_counter()
    written = rebuild(
        workers=workers,
        batch=batch,
        progress=progress,
        before_swap=lambda: phases.setdefault("finished", time.perf_counter()),
    )
    ended = time.perf_counter()
    loaded = max(m[-1] for m in marks.values())
    previous = started
    rates = []
    for object_type in (t.value for t in ObjectType):
        if not counts.get(object_type):
            continue
        seconds = marks[object_type][-1] - previous
        previous = marks[object_type][-1]
        n = counts[object_type]
        rates.append(f"{object_type} {n:,} at {n / seconds if seconds else 0:,.0f}/s")
    finish = phases["finished"] - loaded
    print(
        f"rebuild with {workers} worker(s): {written:,} entries in {ended - started:.1f} s "
        f"({written / (ended - started):,.0f}/s); load: {'; '.join(rates)}; "
        f"finish ({'merge' if connection.vendor == 'sqlite' else 'indexes'}) {finish:.1f} s; "
        f"swap {ended - phases['finished']:.1f} s",
        flush=True,
    )
    if "version" in counts:
        documents = counts["version"]
        version_seconds = marks["version"][-1] - marks["version"][0]
        share = finish * documents / max(1, written)
        print(
            f"  documents: {documents / (version_seconds + share):,.0f}/s with their share of the "
            f"finish = {documents / (version_seconds + share) / workers:,.0f}/s per worker",
            flush=True,
        )


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) > 1 else values[0]


def percentiles(name: str, values: list[float]) -> None:
    print(f"  {name:<40} p50 {statistics.median(values):7.1f} ms   p95 {p95(values):7.1f} ms")


def bare_count(query: object) -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from garnizon.search.backends.postgresql import render

            cursor.execute(
                "SELECT count(*) FROM search_searchentry WHERE tsv @@ %s::tsquery",
                [render(query)],
            )
        else:
            from garnizon.search.backends.sqlite import render

            cursor.execute(
                "SELECT count(*) FROM search_fts WHERE search_fts MATCH %s",
                [render(query)],
            )
        return cursor.fetchone()[0]


def optimize(fts_optimize: bool) -> None:
    """Planner statistics for the entry table (and, if asked, one FTS5 segment)."""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE search_searchentry")
        if connection.vendor == "sqlite" and fts_optimize:
            cursor.execute("INSERT INTO search_fts(search_fts) VALUES ('optimize')")
    print(f"optimize/analyze: {time.perf_counter() - started:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--sample", type=int, default=5000, help="documents indexed in one process")
    parser.add_argument("--workers", type=int, default=2, help="with --resume")
    parser.add_argument(
        "--rebuild-workers",
        type=int,
        nargs="*",
        default=[1, 2],
        help="full rebuilds to time, one per value (processes)",
    )
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the documents already indexed; index the register entries and cases missing",
    )
    parser.add_argument(
        "--max-register",
        type=int,
        default=None,
        help="with --resume: index at most this many register entries (and 2/5 as many cases)",
    )
    parser.add_argument(
        "--fts-optimize",
        action="store_true",
        help="SQLite: merge the FTS5 segments after indexing (minutes at 200,000 documents)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(
        f"database: {connection.vendor}, python {platform.python_version()}, "
        f"cpus: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    version_ids = create_documents(args.documents, rng)
    if args.resume:
        for object_type, model in ((ObjectType.INCOMING, IncomingItem), (ObjectType.CASE, Case)):
            done = set(
                SearchEntry.objects.filter(object_type=object_type).values_list(
                    "object_id", flat=True
                )
            )
            cap = args.max_register
            if cap is not None and object_type == ObjectType.CASE:
                cap = cap * 2 // 5
            wanted = list(model.objects.order_by("pk").values_list("pk", flat=True)[:cap])
            reindex_all(object_type, [i for i in wanted if i not in done], args.workers)
        optimize(args.fts_optimize)
        indexed = set(
            SearchEntry.objects.filter(object_type=ObjectType.VERSION).values_list(
                "object_id", flat=True
            )
        )
        version_ids = [v for v in version_ids if v in indexed]
    elif not args.skip_index:
        get_backend().clear()
        SearchEntry.objects.all().delete()
        if args.sample:
            reindex_sample(version_ids[: args.sample])
            rebuild_documents(version_ids[: args.sample])
            bare_engine_load(version_ids[: args.sample])
        for workers in args.rebuild_workers:
            rebuild_timed(workers)
        optimize(args.fts_optimize)
    by_type = dict(
        SearchEntry.objects.order_by().values_list("object_type").annotate(n=Count("id"))
    )
    print(
        f"index: {sum(by_type.values()):,} entries ({by_type}); the tables hold "
        f"{IncomingItem.objects.count():,} register entries and {Case.objects.count():,} cases"
    )

    # Query words: words found in 2 to 60 % of a sample of the documents.
    step = max(1, len(version_ids) // 300)
    sample_texts = list(
        DocumentVersion.objects.filter(pk__in=version_ids[::step]).values_list("text", flat=True)
    )
    frequency: Counter = Counter()
    for text in sample_texts:
        frequency.update({w for w in analyse(text).surface if len(w) >= 5 and w.isalpha()})
    n = len(sample_texts)
    vocabulary = sorted(w for w, c in frequency.items() if 0.02 * n <= c <= 0.6 * n)
    queries = [
        " ".join(rng.sample(vocabulary, rng.choice((1, 1, 2, 3)))) for _ in range(args.queries)
    ]
    handlers = list(
        Person.objects.filter(
            pk__in=Position.objects.filter(
                role=Role.CASE_HANDLER, person__username__startswith=BENCH_USER_PREFIX
            ).values("person_id")
        ).order_by("pk")
    )
    handlers = rng.sample(handlers, min(20, len(handlers)))
    backend = get_backend()
    filtered_ms: list[float] = []
    service_ms: list[float] = []
    bare_ms: list[float] = []
    hits_seen: list[int] = []
    totals: list[int] = []
    for index, query in enumerate(queries):
        person = handlers[index % len(handlers)]
        parsed = parse(query)

        def filtered(person: Person = person, parsed: object = parsed) -> None:
            # What the service does for the page: the scope's tokens, the newest
            # RANK_LIMIT + 1 visible matches' ids, then the top 20 ranked among them
            # (ids and scores first, then those 20 rows).
            with backend.reading():
                tokens = scope_tokens(Scope.for_person(person))
                entries = SearchEntry.objects.all()
                matched = backend.matching(entries, parsed, tokens=tokens)
                ids = list(
                    backend.newest_first(matched).values_list("id", flat=True)[: RANK_LIMIT + 1]
                )
                min_id = ids[RANK_LIMIT - 1] if len(ids) > RANK_LIMIT else None
                qs = backend.ranked(entries, parsed, tokens=tokens, min_id=min_id)
                hits_seen.append(len(_page(qs, 0, 20, scored=True)))

        def service(person: Person = person, query: str = query) -> None:
            totals.append(search(person, query, audit=False).total)

        def bare(parsed: object = parsed) -> None:
            with backend.reading():
                backend.raw_top(parsed, limit=20)

        filtered_ms += timed(filtered, 1)
        service_ms += timed(service, 1)
        bare_ms += timed(bare, 1)
    print(
        f"queries: {len(queries)} (1-3 words) by {len(handlers)} case handlers of one cell; "
        f"mean hits on the page {statistics.mean(hits_seen):.1f}; visible matches "
        f"median {statistics.median(totals):.0f}, max {max(totals)}"
    )
    percentiles("top-20 permission-filtered", filtered_ms)
    percentiles("service (hits, count, facets, exact)", service_ms)
    percentiles("bare engine top-20", bare_ms)

    word = frequency.most_common(1)[0][0]
    broad = parse(word)
    print(f"broad query {word!r}: {bare_count(broad):,} matching entries in the garrison")
    commander = (
        Person.objects.filter(
            pk__in=Position.objects.filter(
                role=Role.UNIT_COMMANDER,
                garrison_wide=True,
                person__username__startswith=BENCH_USER_PREFIX,
            ).values("person_id")
        ).first()
        or handlers[0]
    )
    for who in (handlers[0], commander):
        holder: dict = {}
        broad_ms = timed(lambda w=who, h=holder: h.update(r=search(w, word, audit=False)), 5)
        r = holder["r"]
        mark = "+ (estimate, capped)" if r.total_is_estimate else " (exact)"
        ranked = f", ranked among the newest {r.ranked_newest:,}" if r.ranked_newest else ""
        print(
            f"  as {who.username}: {r.total:,}{mark}{ranked}; the service's first page "
            f"p50 {statistics.median(broad_ms):.0f} ms, max {max(broad_ms):.0f} ms"
        )

    def bare_broad() -> None:
        with backend.reading():
            backend.raw_top(broad, limit=20)

    bare_ms = timed(bare_broad, 5)
    count_ms = timed(lambda: bare_count(broad), 3)
    print(
        f"  bare engine top-20: p50 {statistics.median(bare_ms):.0f} ms; "
        f"bare count: {statistics.median(count_ms):.0f} ms"
    )


if __name__ == "__main__":
    main()
