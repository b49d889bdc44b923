"""Search speed: permission-filtered queries beside the bare engine, and reindexing.

    python -m bench.bench_search --documents 5000      # add documents, index, measure
    python -m bench.bench_search --skip-index          # only the queries

Needs the synthetic garrison from `python -m bench.generate` (units, people,
register entries, cases). Adds `--documents` synthetic documents of one to three
pages of Polish text (about 250 words a page) attached to random register
entries, as plain rows (no files: search reads only the text), then:

1. reindex: `index_objects` over the documents' versions and over the register
   entries and cases, in batches of 500, in this one process (= one core);
2. queries: one to three words drawn from the corpus, for ordinary case
   handlers of one cell: the top 20 with need-to-know inside the query (what the
   service runs: ranked hits plus a capped count), the full service call (hits,
   count, facets), and the bare engine (FTS5 or tsvector queried directly, no
   permissions, no filters) on the same data; p50 and p95;
3. a broad query matching most documents: the first page and its count
   (exact, or marked as an estimate above the cap).

Writes to the database: run it on a benchmark database. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from collections.abc import Callable

from django.db import connection
from django.utils import timezone

from bench.generate import BENCH_USER_PREFIX, SUBJECTS, fill
from garnizon.cases.models import Case
from garnizon.documents.models import Document, DocumentKind, DocumentVersion
from garnizon.org.access import Scope
from garnizon.org.models import Person, Position, Role
from garnizon.registry.models import IncomingItem
from garnizon.search.analysis import analyse
from garnizon.search.backends import get_backend
from garnizon.search.indexing import index_objects
from garnizon.search.models import ObjectType, SearchEntry
from garnizon.search.query import parse
from garnizon.search.services import search, visible_entries

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


def create_documents(count: int, rng: random.Random) -> list[int]:
    """Documents with one version each, attached to random register entries."""
    existing = Document.objects.filter(identifier__startswith=IDENTIFIER).count()
    if existing >= count:
        return list(
            DocumentVersion.objects.filter(document__identifier__startswith=IDENTIFIER).values_list(
                "pk", flat=True
            )[:count]
        )
    items = list(
        IncomingItem.objects.order_by("?").values_list("pk", "unit_id", "registered_by_id")[
            : count - existing
        ]
    )
    if not items:
        raise SystemExit("Brak danych: najpierw `python -m bench.generate`.")
    year = timezone.localdate().year
    documents = []
    texts = []
    for index, (item_id, unit_id, person_id) in enumerate(items, start=existing + 1):
        pages = rng.randint(1, 3)
        texts.append(" ".join(page_of_text(rng, year) for _ in range(pages)))
        documents.append(
            Document(
                unit_id=unit_id,
                identifier=f"{IDENTIFIER}{index}",
                title=fill(rng.choice(rng.choice(list(SUBJECTS.values())))[0], rng, year),
                kind=DocumentKind.SCAN,
                incoming_item_id=item_id,
                created_by_id=person_id,
            )
        )
    Document.objects.bulk_create(documents, batch_size=2000)
    documents = list(
        Document.objects.filter(identifier__in=[d.identifier for d in documents]).order_by("id")
    )
    by_identifier = {d.identifier: d for d in documents}
    versions = [
        DocumentVersion(
            document=by_identifier[f"{IDENTIFIER}{index}"],
            number=1,
            blob_sha256="0" * 64,
            size=len(text),
            original_filename="skan.pdf",
            mime_type="application/pdf",
            created_by_id=by_identifier[f"{IDENTIFIER}{index}"].created_by_id,
            text=text,
        )
        for index, text in enumerate(texts, start=existing + 1)
    ]
    DocumentVersion.objects.bulk_create(versions, batch_size=2000)
    return list(
        DocumentVersion.objects.filter(document__identifier__startswith=IDENTIFIER).values_list(
            "pk", flat=True
        )
    )


def reindex(object_type: str, ids: list[int], batch: int = 500) -> tuple[int, float]:
    started = time.perf_counter()
    written = 0
    for start in range(0, len(ids), batch):
        written += index_objects(object_type, ids[start : start + batch])
    return written, time.perf_counter() - started


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(
        f"database: {connection.vendor}, python {platform.python_version()}, cpus: {os.cpu_count()}"
    )

    version_ids = create_documents(args.documents, rng)
    if not args.skip_index:
        get_backend().clear()
        SearchEntry.objects.all().delete()
        n, seconds = reindex(ObjectType.VERSION, version_ids)
        words = sum(
            len(t.split())
            for t in DocumentVersion.objects.filter(pk__in=version_ids[:500]).values_list(
                "text", flat=True
            )
        ) / min(500, len(version_ids))
        print(
            f"reindex documents: {n} in {seconds:.1f} s = {n / seconds:.0f}/s on one core "
            f"(avg {words:.0f} words)"
        )
        item_ids = list(IncomingItem.objects.values_list("pk", flat=True))
        n, seconds = reindex(ObjectType.INCOMING, item_ids)
        print(f"reindex register entries: {n} in {seconds:.1f} s = {n / seconds:.0f}/s")
        case_ids = list(Case.objects.values_list("pk", flat=True))
        n, seconds = reindex(ObjectType.CASE, case_ids)
        print(f"reindex cases: {n} in {seconds:.1f} s = {n / seconds:.0f}/s")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE search_searchentry")
    entries = SearchEntry.objects.count()
    print(f"index: {entries} entries")

    # Query words: nouns and names that occur in the corpus.
    sample = analyse(
        " ".join(
            DocumentVersion.objects.filter(pk__in=version_ids[:50]).values_list("text", flat=True)
        )
    ).surface
    vocabulary = sorted({w for w in sample if len(w) >= 5 and w.isalpha()})
    queries = [
        " ".join(rng.sample(vocabulary, rng.choice((1, 1, 2, 3)))) for _ in range(args.queries)
    ]
    handlers = list(
        Person.objects.filter(
            pk__in=Position.objects.filter(
                role=Role.CASE_HANDLER, person__username__startswith=BENCH_USER_PREFIX
            ).values("person_id")
        ).order_by("?")[:20]
    )
    backend = get_backend()
    filtered_ms, service_ms, bare_ms, hits_seen = [], [], [], []
    for index, query in enumerate(queries):
        person = handlers[index % len(handlers)]
        parsed = parse(query)
        scope = Scope.for_person(person)

        def filtered(person=person, parsed=parsed, scope=scope) -> None:
            with backend.reading():
                qs = visible_entries(person, scope=scope)
                hits = list(backend.ranked(qs, parsed, folded=False)[:20])
            hits_seen.append(len(hits))

        filtered_ms += timed(filtered, 1)
        service_ms += timed(lambda p=person, q=query: search(p, q, audit=False), 1)

        def bare(parsed=parsed) -> None:
            with backend.reading():
                backend.raw_top(parsed, limit=20)

        bare_ms += timed(bare, 1)
    print(
        f"queries: {len(queries)} (1-3 words) by {len(handlers)} case handlers of one cell; "
        f"mean hits on the page {statistics.mean(hits_seen):.1f}"
    )
    for name, values in (
        ("top-20 permission-filtered", filtered_ms),
        ("service (hits, count, facets, exact)", service_ms),
        ("bare engine top-20", bare_ms),
    ):
        print(f"  {name:<36} p50 {statistics.median(values):7.1f} ms   p95 {p95(values):7.1f} ms")

    broad = parse(vocabulary[0] if not sample else max(set(sample), key=sample.count))
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
    result_holder = {}
    broad_ms = timed(lambda: result_holder.update(r=search(commander, broad.text, audit=False)), 3)
    r = result_holder["r"]
    bare_broad = timed(lambda: backend.raw_top(broad, limit=20), 3)
    mark = "+ (estimate, capped)" if r.total_is_estimate else " (exact)"
    print(
        f"broad query {broad.text!r} as {commander.username}: {r.total}{mark}, first page "
        f"median {statistics.median(broad_ms):.0f} ms; bare engine "
        f"{statistics.median(bare_broad):.0f} ms"
    )


if __name__ == "__main__":
    main()
