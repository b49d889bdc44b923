"""PostgreSQL: two tsvector columns on the entry table, `tsv` (surface forms
and lemmas) and `ftsv` (the same with diacritics folded), each with a GIN
index, ranked by ts_rank.

The tsvectors are written as literals built here, not by `to_tsvector`, so
PostgreSQL's parser never splits our tokens. No weights: a query of words and
prefixes is then answered by the GIN index without rechecking rows (only
phrases need the positions). Each tsvector also holds the entry's access
tokens as lexemes '~p12', '~c7' (garnizon.search.acl; the analyser never makes
a word with "~"), so one GIN scan intersects the text with need-to-know.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from django.db import connection, transaction
from django.db.models import QuerySet

from garnizon.search.analysis import Analysed
from garnizon.search.backends.base import SearchBackend
from garnizon.search.query import ParsedQuery, Term

ENTRY = "search_searchentry"
MAX_POSITION = 16383
MAX_POSITIONS_PER_LEXEME = 256


def _quote(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


# Position numbers as text, made once (a literal has thousands of them).
_POSITIONS = [str(i) for i in range(MAX_POSITION + 1)]


def _lexemes(first: list[str], second: list[str]) -> dict[str, list[str]]:
    """Positions (as text) of each token of two aligned streams, once per position."""
    positions: dict[str, list[str]] = {}
    get = positions.get
    numbers = _POSITIONS
    for index, (a, b) in enumerate(zip(first[:MAX_POSITION], second, strict=False), start=1):
        where = get(a)
        if where is None:
            positions[a] = [numbers[index]]
        else:
            where.append(numbers[index])
        if b != a:
            where = get(b)
            if where is None:
                positions[b] = [numbers[index]]
            else:
                where.append(numbers[index])
    return positions


def _literal(positions: dict[str, list[str]], access: str) -> str:
    if any("'" in t or "\\" in t for t in positions):  # never from the analyser; kept safe
        positions = {t.replace("\\", "\\\\").replace("'", "''"): w for t, w in positions.items()}
    limit = MAX_POSITIONS_PER_LEXEME
    text = " ".join(
        [
            f"'{token}':{','.join(where if len(where) <= limit else where[:limit])}"
            for token, where in positions.items()
        ]
    )
    return f"{text} {access}" if access else text


def tsvector_literals(analysed: Analysed, tokens: str = "") -> tuple[str, str]:
    """The analysed text (and access tokens) as the `tsv` and `ftsv` literals."""
    access = " ".join(_quote(f"~{t}") for t in tokens.split())
    return (
        _literal(_lexemes(analysed.surface, analysed.lemma), access),
        _literal(_lexemes(analysed.fsurface, analysed.flemma), access),
    )


def _alternatives(forms: set[str], *, prefix: bool = False) -> str:
    star = ":*" if prefix else ""
    return "(" + " | ".join(f"{_quote(f)}{star}" for f in sorted(forms)) + ")"


def render_term(term: Term, *, folded: bool) -> str:
    """One term as tsquery text (cast with ::tsquery, so nothing is re-parsed)."""
    forms = term.folded_forms() if folded else term.exact_forms()
    if term.kind == "prefix":
        return _alternatives(forms[0], prefix=True)
    if term.kind in ("word", "code"):
        return _alternatives(forms[0])
    return "(" + " <-> ".join(_alternatives(f) for f in forms) + ")"


def render_acl(tokens: Sequence[str]) -> str:
    return "(" + " | ".join(_quote(f"~{t}") for t in tokens) + ")"


def render_visible(query: ParsedQuery | None, tokens: Sequence[str], *, folded: bool) -> str:
    if not query:
        return render_acl(tokens)
    return f"({render(query, folded=folded)}) & {render_acl(tokens)}"


def _column(folded: bool) -> str:
    return f"{ENTRY}.ftsv" if folded else f"{ENTRY}.tsv"


def render(query: ParsedQuery, *, folded: bool) -> str:
    return " & ".join(render_term(t, folded=folded) for t in query.terms)


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
        """One UPDATE for the whole batch (the literals travel as two text arrays)."""
        if not rows:
            return
        ids, exact, folded = [], [], []
        for entry_id, analysed, tokens in rows:
            tsv, ftsv = tsvector_literals(analysed, tokens)
            ids.append(entry_id)
            exact.append(tsv)
            folded.append(ftsv)
        import psycopg

        connection.ensure_connection()
        # A server-side binding cursor on Django's connection (same transaction):
        # the literals go as parameters, not quoted into the statement by the client.
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(
                f"UPDATE {ENTRY} AS e SET tsv = v.tsv::tsvector, ftsv = v.ftsv::tsvector "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, tsv, ftsv) "
                "WHERE e.id = v.id",
                [ids, exact, folded],
            )

    def delete(self, entry_ids: Sequence[int]) -> None:
        """The tsvectors live in the entry's row and go with it."""
        if not entry_ids:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {ENTRY} SET tsv = NULL, ftsv = NULL WHERE id = ANY(%s)", [list(entry_ids)]
            )

    def visible(self, qs: QuerySet, tokens: Sequence[str]) -> QuerySet:
        if not tokens:
            return qs.none()
        return qs.extra(where=[f"{ENTRY}.tsv @@ %s::tsquery"], params=[render_acl(tokens)])

    def matching(
        self, qs: QuerySet, query: ParsedQuery, *, folded: bool, tokens: Sequence[str]
    ) -> QuerySet:
        if not tokens:
            return qs.none()
        return qs.extra(
            where=[f"{_column(folded)} @@ %s::tsquery"],
            params=[render_visible(query, tokens, folded=folded)],
        )

    def ranked(
        self,
        qs: QuerySet,
        query: ParsedQuery,
        *,
        folded: bool,
        tokens: Sequence[str],
        min_id: int | None = None,
    ) -> QuerySet:
        qs = self.matching(qs, query, folded=folded, tokens=tokens)
        if min_id is not None:
            qs = qs.extra(where=[f"{ENTRY}.id >= %s"], params=[min_id])
        return qs.extra(
            select={"score": f"ts_rank({_column(folded)}, %s::tsquery)"},
            select_params=[render(query, folded=folded)],
            order_by=["-score", "-id"],
        )

    def newest_first(self, qs: QuerySet) -> QuerySet:
        """`matching(...)` newest first."""
        return qs.order_by("-id")

    def raw_top(self, query: ParsedQuery, *, limit: int, folded: bool = False) -> list[int]:
        expression = render(query, folded=folded)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {ENTRY} WHERE {_column(folded)} @@ %s::tsquery "
                f"ORDER BY ts_rank({_column(folded)}, %s::tsquery) DESC LIMIT %s",
                [expression, expression, limit],
            )
            return [row[0] for row in cursor.fetchall()]

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {ENTRY} SET tsv = NULL, ftsv = NULL WHERE tsv IS NOT NULL")


__all__ = ["PostgresBackend", "tsvector_literals"]
