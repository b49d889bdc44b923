"""SQLite FTS5: a virtual table `search_fts(surface, lemma, acl)`
whose rowid is the entry's id, ranked by bm25.

Need-to-know is one more column: the entry's access tokens (garnizon.search.acl).
A search is one MATCH, "(the text) AND acl : (the person's tokens)", so FTS5
intersects the doclists itself and bm25 is computed only for visible matches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import product

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from garnizon.search.acl import CASE_ANY, REGISTER_ANY
from garnizon.search.analysis import Analysed
from garnizon.search.backends.base import BuildRow, SearchBackend
from garnizon.search.models import ENTRY_FIELDS
from garnizon.search.query import ParsedQuery, Term

TABLE = "search_fts"
ENTRY = "search_searchentry"
# A rebuild loads a second FTS5 table and renames it into place (search.rebuild);
# the entries themselves are upserted in place.
BUILD = "search_fts_build"
LOG = "search_rebuild_log"
# FTS5 settings while loading: no merging as it goes (automerge 0), at most
# BUILD_CRISIS_MERGE segments of one level before FTS5 merges them anyway,
# then incremental merges of BUILD_MERGE_PAGES pages a transaction at the end.
BUILD_CRISIS_MERGE = 64
BUILD_MERGE_PAGES = 2000
# The page cache of a connection writing a rebuild, in KiB (SQLite's default is
# 2,000 KiB: FTS5's and the entries' pages were evicted and read again).
BUILD_CACHE_KIB = 65536
# bm25 weights of surface, lemma, access tokens.
RANK = f"bm25({TABLE}, 2.0, 1.0, 0.0)"
# A phrase of words with several forms each: at most this many FTS5 phrases.
MAX_PHRASE_VARIANTS = 32
# Access tokens held by garrison-wide roles, each on most rows of the index.
BROAD_TOKENS = frozenset({REGISTER_ANY, CASE_ANY})
_CHUNK = 500


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _alternatives(forms: set[str]) -> str:
    return "(" + " OR ".join(_quote(f) for f in sorted(forms)) + ")"


def render_term(term: Term) -> str:
    """One term as an FTS5 expression over the surface and lemma columns."""
    forms = term.exact_forms()
    if term.kind == "prefix":
        return "{surface lemma} : (" + " OR ".join(f"{_quote(p)} *" for p in sorted(forms[0])) + ")"
    if term.kind == "code":
        return f"{{surface}} : {_quote(next(iter(forms[0])))}"
    if term.kind == "word":
        return f"{{surface lemma}} : {_alternatives(forms[0])}"
    # A phrase: consecutive words in one stream. FTS5 has no OR inside a phrase,
    # so each choice of forms is a phrase of its own: the words as written and
    # their lemmas first, then the other combinations, at most MAX_PHRASE_VARIANTS.
    if term.alternatives:
        first: list[tuple[str, ...]] = []
    else:
        first = [tuple(term.tokens), tuple(term.lemmas)]
    variants = list(dict.fromkeys([*first, *product(*(sorted(f) for f in forms))]))
    phrases = [_quote(" ".join(v)) for v in variants[:MAX_PHRASE_VARIANTS]]
    return "{surface lemma} : (" + " OR ".join(phrases) + ")"


def render(query: ParsedQuery) -> str:
    return " AND ".join(render_term(t) for t in query.terms)


def render_acl(tokens: Sequence[str]) -> str:
    return "acl : (" + " OR ".join(_quote(t) for t in tokens) + ")"


def render_visible(query: ParsedQuery | None, tokens: Sequence[str]) -> str:
    """The text (if any) AND the access tokens, as one FTS5 expression."""
    if not query:
        return render_acl(tokens)
    return f"({render(query)}) AND {render_acl(tokens)}"


class SqliteBackend(SearchBackend):
    vendor = "sqlite"

    def write(self, rows: Sequence[tuple[int, Analysed, str]]) -> None:
        if not rows:
            return
        ids = [row[0] for row in rows]
        with connection.cursor() as cursor:
            present: list[int] = []
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"SELECT rowid FROM {TABLE} WHERE rowid IN ({marks})", chunk)
                present += [row[0] for row in cursor.fetchall()]
        # Deleting from FTS5 re-reads the row's text: only for rows that exist.
        self.delete(present)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {TABLE}(rowid, surface, lemma, acl) VALUES (%s, %s, %s, %s)",
                [(entry_id, *analysed.columns(), tokens) for entry_id, analysed, tokens in rows],
            )

    def delete(self, entry_ids: Sequence[int]) -> None:
        ids = list(entry_ids)
        with connection.cursor() as cursor:
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"DELETE FROM {TABLE} WHERE rowid IN ({marks})", chunk)

    def visible(self, qs: QuerySet, tokens: Sequence[str]) -> QuerySet:
        if not tokens:
            return qs.none()
        return qs.extra(
            where=[f"{ENTRY}.id IN (SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s)"],
            params=[render_acl(tokens)],
        )

    def matching(self, qs: QuerySet, query: ParsedQuery, *, tokens: Sequence[str]) -> QuerySet:
        if not tokens:
            return qs.none()
        return qs.extra(
            tables=[TABLE],
            where=[f"{TABLE}.rowid = {ENTRY}.id", f"{TABLE} MATCH %s"],
            params=[render_visible(query, tokens)],
        )

    def ranked(
        self,
        qs: QuerySet,
        query: ParsedQuery,
        *,
        tokens: Sequence[str],
        min_id: int | None = None,
    ) -> QuerySet:
        """Ranked by bm25. bm25 weighs every phrase of the MATCH by how many rows
        hold it, reading each phrase's whole doclist once a query: for a person
        with a garrison-wide token ("r", "o": a million rows) that alone took
        100-180 ms. Their text is therefore ranked by a MATCH of the text alone
        (the access column's weight is 0, so the scores are the same), the
        visible rows picked by a second MATCH in a subquery ("+" keeps SQLite
        from handing that IN to FTS5 row by row)."""
        if not tokens:
            return qs.none()
        if query.terms and BROAD_TOKENS & set(tokens):
            newest = " AND rowid >= %s" if min_id is not None else ""
            qs = qs.extra(
                tables=[TABLE],
                where=[
                    f"{TABLE}.rowid = {ENTRY}.id",
                    f"{TABLE} MATCH %s",
                    f"+{TABLE}.rowid IN (SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s{newest})",
                ],
                params=[
                    render(query),
                    render_visible(query, tokens),
                    *([min_id] if min_id is not None else []),
                ],
            )
        else:
            qs = self.matching(qs, query, tokens=tokens)
        if min_id is not None:
            qs = qs.extra(where=[f"{TABLE}.rowid >= %s"], params=[min_id])
        return qs.extra(select={"score": RANK}, order_by=["score", "-id"])

    def newest_first(self, qs: QuerySet) -> QuerySet:
        """`matching(...)` newest first, in the order FTS5 reads its rowids (no sort)."""
        return qs.extra(order_by=[f"-{TABLE}.rowid"])

    def raw_top(self, query: ParsedQuery, *, limit: int) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s ORDER BY {RANK} LIMIT %s",
                [render(query), limit],
            )
            return [row[0] for row in cursor.fetchall()]

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")

    # --- a full rebuild: a second FTS5 table, merged once, renamed into place ---

    def build_begin(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [TABLE]
            )
            (create,) = cursor.fetchone()
            cursor.execute(f"DROP TABLE IF EXISTS {BUILD}")
            cursor.execute(create.replace(TABLE, BUILD, 1))
            for option, value in (("automerge", 0), ("crisismerge", BUILD_CRISIS_MERGE)):
                cursor.execute(
                    f"INSERT INTO {BUILD}({BUILD}, rank) VALUES (%s, %s)", [option, value]
                )
            cursor.execute(f"DELETE FROM {LOG}")

    def build_write(self, object_type: str, rows: Sequence[BuildRow]) -> None:
        """The entries upserted in place (their ids are the new table's rowids), the
        analysed text inserted into the new FTS5 table (each object once)."""
        if not rows:
            return
        connection.ensure_connection()
        connection.connection.execute(f"PRAGMA cache_size = -{BUILD_CACHE_KIB}")
        ids = _upsert_entries(object_type, rows)
        connection.connection.executemany(
            f"INSERT INTO {BUILD}(rowid, surface, lemma, acl) VALUES (?, ?, ?, ?)",
            [
                (ids[object_id], *analysed.columns(), fields["acl"])
                for object_id, fields, analysed in rows
            ],
        )

    def build_forget(self, object_type: str, object_ids: Sequence[int]) -> None:
        wanted = list(object_ids)
        with connection.cursor() as cursor:
            entry_ids: list[int] = []
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(
                    f"SELECT id FROM {ENTRY} WHERE object_type = %s AND object_id IN ({marks})",
                    [object_type, *chunk],
                )
                entry_ids += [row[0] for row in cursor.fetchall()]
            for start in range(0, len(entry_ids), _CHUNK):
                chunk = entry_ids[start : start + _CHUNK]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"DELETE FROM {BUILD} WHERE rowid IN ({marks})", chunk)
                cursor.execute(f"DELETE FROM {ENTRY} WHERE id IN ({marks})", chunk)

    def build_finish(self, workers: int = 1) -> None:
        """Merge the loaded segments in short transactions (each holds the write
        lock only briefly, so the signals' writes go on), then the usual settings."""
        connection.ensure_connection()
        raw = connection.connection
        pages = -BUILD_MERGE_PAGES  # negative: first put every segment on one level
        while True:
            with transaction.atomic():
                before = raw.total_changes
                raw.execute(f"INSERT INTO {BUILD}({BUILD}, rank) VALUES ('merge', ?)", [pages])
                done = raw.total_changes - before
            if done < 2:  # FTS5: fewer than two changes means nothing was left to merge
                break
            pages = BUILD_MERGE_PAGES
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {BUILD}_config WHERE k IN ('automerge', 'crisismerge')")

    def build_lock(self) -> None:
        """The swap's transaction holds SQLite's write lock from its start
        (transaction_mode IMMEDIATE): nothing else writes until it commits."""

    def build_swap(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {TABLE}")
            cursor.execute(f"ALTER TABLE {BUILD} RENAME TO {TABLE}")

    def log_changes(self, object_type: str, object_ids: Sequence[int]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LOG} (object_type, object_id) SELECT %s, value FROM json_each(%s) "
                "WHERE EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s)",
                [object_type, json.dumps(list(object_ids)), BUILD],
            )


_ENTRY_COLUMNS = ["object_type", "object_id", *ENTRY_FIELDS, "indexed_at"]
# 15 parameters a row: 1,000 rows stay under SQLite's 32,766 variables.
_UPSERT_ROWS = 1000
_DATE = ENTRY_FIELDS.index("date")


def _upsert_entries(object_type: str, rows: Sequence[BuildRow]) -> dict[int, int]:
    """INSERT ... ON CONFLICT DO UPDATE ... RETURNING: object id -> entry id."""
    ops = connection.ops
    now = ops.adapt_datetimefield_value(timezone.now())
    columns = ", ".join(_ENTRY_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _ENTRY_COLUMNS[2:])
    one = "(" + ", ".join(["?"] * len(_ENTRY_COLUMNS)) + ")"
    ids: dict[int, int] = {}
    connection.ensure_connection()
    raw = connection.connection
    for start in range(0, len(rows), _UPSERT_ROWS):
        chunk = rows[start : start + _UPSERT_ROWS]
        params: list[object] = []
        for object_id, fields, _analysed in chunk:
            values = [fields[name] for name in ENTRY_FIELDS]
            values[_DATE] = ops.adapt_datefield_value(values[_DATE])  # as Django stores it
            params += [object_type, object_id, *values, now]
        returned = raw.execute(
            f"INSERT INTO {ENTRY} ({columns}) VALUES {', '.join([one] * len(chunk))} "
            f"ON CONFLICT (object_type, object_id) DO UPDATE SET {updates} "
            "RETURNING object_id, id",
            params,
        ).fetchall()
        ids.update(returned)
    return ids
