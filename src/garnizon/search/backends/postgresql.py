"""PostgreSQL: a tsvector column on the entry table, `tsv` (surface forms and
lemmas), with a GIN index, ranked by ts_rank. Queries typed without
diacritics are unfolded into exact alternatives (`garnizon.search.folding`).

The tsvectors are built here in PostgreSQL's binary form (`tsvector_binary`),
not by `to_tsvector`, so PostgreSQL's parser never splits our tokens and the
server does not parse literals. No weights: a query of words and
prefixes is then answered by the GIN index without rechecking rows (only
phrases need the positions). Each tsvector also holds the entry's access
tokens as lexemes '~p12', '~c7' (garnizon.search.acl; the analyser never makes
a word with "~"), so one GIN scan intersects the text with need-to-know.
"""

from __future__ import annotations

import contextlib
import re
import struct
from collections.abc import Iterator, Sequence

from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from psycopg.adapt import Dumper
from psycopg.pq import Format

from garnizon.search.analysis import Analysed
from garnizon.search.backends.base import BuildRow, SearchBackend
from garnizon.search.models import ENTRY_FIELDS
from garnizon.search.query import ParsedQuery, Term

ENTRY = "search_searchentry"
MAX_POSITION = 16383
TSVECTOR_OID = 3614  # a built-in type: the same oid on every server
# A rebuild loads a table of the same shape, then builds its indexes (names
# with BUILD_SUFFIX) and renames it and them into place (search.rebuild).
BUILD = "search_searchentry_build"
BUILD_SUFFIX = "__b"
LOG = "search_rebuild_log"
BUILD_COLUMNS = ["object_type", "object_id", *ENTRY_FIELDS, "indexed_at", "tsv"]
# Memory for building the GIN indexes of a rebuild (sorted in memory, then written once).
BUILD_MAINTENANCE_WORK_MEM = "512MB"
LZ4_COLUMNS = ("tsv", "body")


def _quote(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


# At most this many positions of one lexeme (PostgreSQL's MAXNUMPOS).
MAX_LEXEME_POSITIONS = 256


def tsvector_binary_py(forms: list[tuple[str, str]], limit: int, access: str = "") -> bytes:
    """An analysed text's tsvector in PostgreSQL's binary form (tsvector_recv),
    so the server copies it instead of parsing a literal (which cost it about
    0.45 ms a document): every surface word at its position (1, 2, ... up to
    `limit` words of `forms`, the pieces' (surface, lemma) texts), every lemma
    that differs from its word at the same position, and each access token as
    the lexeme "~token" without positions. Laid out as the number of lexemes,
    then each lexeme (UTF-8, NUL-ended), its number of positions (at most 256,
    the first ones, as the text input keeps them) and the positions (16 bits
    each, weight D), lexemes in PostgreSQL's order.

    The reference of `_streams.tsvector_binary`, which does the same in C and
    is what runs wherever the project was installed with a C compiler (in
    Python this costs more than a literal would)."""
    positions: dict[str, list[int]] = {}
    limit = min(limit, MAX_POSITION)
    words = (
        pair
        for surface, lemma in forms
        if surface
        for pair in zip(surface.split(" "), lemma.split(" "), strict=True)
    )
    for position, (surface, lemma) in zip(range(1, limit + 1), words, strict=False):
        positions.setdefault(surface, []).append(position)
        if lemma != surface:
            positions.setdefault(lemma, []).append(position)
    lexemes = {word.encode(): found[:MAX_LEXEME_POSITIONS] for word, found in positions.items()}
    lexemes.update((f"~{token}".encode(), []) for token in access.split())
    out = [struct.pack("!i", len(lexemes))]
    for lexeme in sorted(lexemes):  # bytes, then the shorter first: PostgreSQL's order
        found = lexemes[lexeme]
        out.append(lexeme + b"\0" + struct.pack(f"!H{len(found)}H", len(found), *found))
    return b"".join(out)


try:
    from garnizon.search._streams import tsvector_binary
except ImportError:  # not compiled (see analysis.join_streams)
    tsvector_binary = tsvector_binary_py


class TsvectorBinary(bytes):
    """A tsvector already in PostgreSQL's binary form (`tsvector_binary`)."""


def tsvector(analysed: Analysed, tokens: str = "") -> TsvectorBinary:
    """The analysed text and the entry's access tokens as the `tsv` column's value."""
    return TsvectorBinary(tsvector_binary(analysed.forms, len(analysed), tokens))


class TsvectorBinaryDumper(Dumper):
    """psycopg's dumper of `TsvectorBinary`: the bytes as they are, in binary
    format, as a tsvector (also found by that type in a binary COPY)."""

    format = Format.BINARY
    oid = TSVECTOR_OID

    def dump(self, obj: bytes) -> bytes:
        return obj


def _alternatives(forms: set[str], *, prefix: bool = False) -> str:
    star = ":*" if prefix else ""
    return "(" + " | ".join(f"{_quote(f)}{star}" for f in sorted(forms)) + ")"


def render_term(term: Term) -> str:
    """One term as tsquery text (cast with ::tsquery, so nothing is re-parsed)."""
    forms = term.exact_forms()
    if term.kind == "prefix":
        return _alternatives(forms[0], prefix=True)
    if term.kind in ("word", "code"):
        return _alternatives(forms[0])
    return "(" + " <-> ".join(_alternatives(f) for f in forms) + ")"


def render_acl(tokens: Sequence[str]) -> str:
    return "(" + " | ".join(_quote(f"~{t}") for t in tokens) + ")"


def render_visible(query: ParsedQuery | None, tokens: Sequence[str]) -> str:
    if not query:
        return render_acl(tokens)
    return f"({render(query)}) & {render_acl(tokens)}"


def render(query: ParsedQuery) -> str:
    return " & ".join(render_term(t) for t in query.terms)


class PostgresBackend(SearchBackend):
    vendor = "postgresql"

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """One transaction without JIT: the visibility subplans make the planner's
        cost high enough to JIT-compile hundreds of functions, which took seconds
        a query here, far more than running them."""
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
            yield

    def write(self, rows: Sequence[tuple[int, Analysed, str]]) -> None:
        """One UPDATE for the whole batch (the tsvectors travel as a binary array)."""
        if not rows:
            return
        ids = [entry_id for entry_id, _analysed, _tokens in rows]
        vectors = [tsvector(analysed, tokens) for _id, analysed, tokens in rows]
        import psycopg

        connection.ensure_connection()
        # A server-side binding cursor on Django's connection (same transaction):
        # the values go as parameters, not quoted into the statement by the client.
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.adapters.register_dumper(TsvectorBinary, TsvectorBinaryDumper)
            cursor.execute(
                f"UPDATE {ENTRY} AS e SET tsv = v.tsv "
                "FROM unnest(%s::bigint[], %b::tsvector[]) AS v(id, tsv) WHERE e.id = v.id",
                [ids, vectors],
            )

    def delete(self, entry_ids: Sequence[int]) -> None:
        """The tsvectors live in the entry's row and go with it."""
        if not entry_ids:
            return
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {ENTRY} SET tsv = NULL WHERE id = ANY(%s)", [list(entry_ids)])

    def visible(self, qs: QuerySet, tokens: Sequence[str]) -> QuerySet:
        if not tokens:
            return qs.none()
        return qs.extra(where=[f"{ENTRY}.tsv @@ %s::tsquery"], params=[render_acl(tokens)])

    def matching(self, qs: QuerySet, query: ParsedQuery, *, tokens: Sequence[str]) -> QuerySet:
        if not tokens:
            return qs.none()
        return qs.extra(
            where=[f"{ENTRY}.tsv @@ %s::tsquery"], params=[render_visible(query, tokens)]
        )

    def ranked(
        self,
        qs: QuerySet,
        query: ParsedQuery,
        *,
        tokens: Sequence[str],
        min_id: int | None = None,
    ) -> QuerySet:
        qs = self.matching(qs, query, tokens=tokens)
        if min_id is not None:
            qs = qs.extra(where=[f"{ENTRY}.id >= %s"], params=[min_id])
        return qs.extra(
            select={"score": f"ts_rank({ENTRY}.tsv, %s::tsquery)"},
            select_params=[render(query)],
            order_by=["-score", "-id"],
        )

    def newest_first(self, qs: QuerySet) -> QuerySet:
        """`matching(...)` newest first."""
        return qs.order_by("-id")

    def raw_top(self, query: ParsedQuery, *, limit: int) -> list[int]:
        expression = render(query)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {ENTRY} WHERE tsv @@ %s::tsquery "
                "ORDER BY ts_rank(tsv, %s::tsquery) DESC LIMIT %s",
                [expression, expression, limit],
            )
            return [row[0] for row in cursor.fetchall()]

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {ENTRY} SET tsv = NULL WHERE tsv IS NOT NULL")

    # --- a full rebuild: a fresh table loaded by COPY, indexed once, renamed into place ---

    def build_begin(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {BUILD}")
            cursor.execute(
                f"CREATE TABLE {BUILD} (LIKE {ENTRY} INCLUDING DEFAULTS INCLUDING IDENTITY "
                "INCLUDING STORAGE INCLUDING COMPRESSION)"
            )
            cursor.execute(f"DELETE FROM {LOG}")
        # lz4 where the server has it: compressing the TOASTed tsvectors and body
        # with the default pglz costs more than parsing them; reading is faster too.
        for column in LZ4_COLUMNS:
            try:
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(f"ALTER TABLE {BUILD} ALTER COLUMN {column} SET COMPRESSION lz4")
            except DatabaseError:
                break  # PostgreSQL built without lz4: keep pglz

    def build_write(self, object_type: str, rows: Sequence[BuildRow]) -> None:
        """One binary COPY of the batch: the tsvectors go in PostgreSQL's binary
        form, so the server copies them instead of parsing literals (which cost
        it about 0.45 ms a document)."""
        if not rows:
            return
        now = timezone.now()
        connection.ensure_connection()
        columns = ", ".join(BUILD_COLUMNS)
        with connection.connection.cursor() as cursor:
            types = _column_types(cursor, BUILD, BUILD_COLUMNS)
            cursor.adapters.register_dumper(TsvectorBinary, TsvectorBinaryDumper)
            with cursor.copy(f"COPY {BUILD} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(types)
                for object_id, fields, analysed in rows:
                    copy.write_row(
                        (
                            object_type,
                            object_id,
                            *[fields[name] for name in ENTRY_FIELDS],
                            now,
                            tsvector(analysed, fields["acl"]),
                        )
                    )

    def build_forget(self, object_type: str, object_ids: Sequence[int]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {BUILD} WHERE object_type = %s AND object_id = ANY(%s)",
                [object_type, list(object_ids)],
            )

    def build_finish(self, workers: int = 1) -> None:
        """The live table's constraints and indexes (GIN included) built once over
        the loaded rows, under temporary names; with `workers` > 1 (and the build
        committed) the indexes are built that many at a time, each on its own
        connection (PostgreSQL 15 builds one GIN index in one process)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY contype",
                [ENTRY],
            )
            constraints = cursor.fetchall()
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = %s ORDER BY indexname",
                [ENTRY],
            )
            indexes = [row for row in cursor.fetchall() if row[0] not in dict(constraints)]
        # The GIN indexes first: the longest to build.
        statements = [
            _build_index(definition, name)
            for name, definition in sorted(indexes, key=lambda row: " gin " not in row[1])
        ]
        # Other connections see the table only if it is committed (not in a test's transaction).
        parallel = workers > 1 and not connection.in_atomic_block
        with transaction.atomic():
            _run_building(
                [
                    f'ALTER TABLE {BUILD} ADD CONSTRAINT "{name}{BUILD_SUFFIX}" {definition}'
                    for name, definition in constraints
                ]
            )
            if not parallel:
                _run_building(statements)
        if parallel:
            from concurrent.futures import ThreadPoolExecutor

            def build(statement: str) -> None:
                try:
                    _run_building([statement])  # a thread: Django gives it its own connection
                finally:
                    connection.close()

            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(build, statements))
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {BUILD}")

    def build_lock(self) -> None:
        """Every transaction writing the index logs its objects first (`log_changes`):
        with the log locked, those already logged have committed and the rest wait
        until the swap has committed (and then write to the new table)."""
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {LOG} IN EXCLUSIVE MODE")

    def build_swap(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [BUILD])
            sequence = cursor.fetchone()[0]
            cursor.execute(f"DROP TABLE {ENTRY}")
            cursor.execute(f"ALTER TABLE {BUILD} RENAME TO {ENTRY}")
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = %s AND indexname LIKE %s",
                [ENTRY, f"%{BUILD_SUFFIX}"],
            )
            for (name,) in cursor.fetchall():
                # Renaming a constraint's index renames the constraint too.
                cursor.execute(f'ALTER INDEX "{name}" RENAME TO "{name[: -len(BUILD_SUFFIX)]}"')
            if sequence:
                cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {ENTRY}_id_seq")

    def log_changes(self, object_type: str, object_ids: Sequence[int]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {LOG} (object_type, object_id) SELECT %s, unnest(%s::bigint[]) "
                "WHERE to_regclass(%s) IS NOT NULL",
                [object_type, list(object_ids), BUILD],
            )


def _column_types(cursor, table: str, columns: list[str]) -> list[str]:
    """The columns' type names, as a binary COPY needs them."""
    cursor.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
        "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    found = dict(cursor.fetchall())
    return [found[column] for column in columns]


def _run_building(statements: list[str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SET maintenance_work_mem = '{BUILD_MAINTENANCE_WORK_MEM}'")
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.execute("RESET maintenance_work_mem")


_INDEX = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON (ONLY )?(\S+) ")


def _build_index(definition: str, name: str) -> str:
    """`pg_indexes.indexdef` of the live table rewritten for the build table."""
    match = _INDEX.match(definition)
    if match is None:
        raise ValueError(f"unexpected index definition: {definition}")
    unique = match.group(1) or ""
    return f'CREATE {unique}INDEX "{name}{BUILD_SUFFIX}" ON {BUILD} ' + definition[match.end() :]


__all__ = ["PostgresBackend", "tsvector", "tsvector_binary", "tsvector_binary_py"]
