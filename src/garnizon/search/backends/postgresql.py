"""PostgreSQL: a `tsv` tsvector column on the entry table with a GIN index,
ranked by ts_rank.

The tsvector is written as a literal built here, not by `to_tsvector`, so
PostgreSQL's parser never splits our tokens: at each word's position stand its
surface form and lemma (weight A) and, where they differ, their folded forms
(weight B). Exact queries ask for weight A; the diacritics fallback for any.
The `simple` configuration is used for ranking functions that need one.
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


def tsvector_literal(analysed: Analysed) -> str:
    """The analysed text as a tsvector literal with positions and weights."""
    positions: dict[tuple[str, str], list[int]] = {}
    for index in range(min(len(analysed), MAX_POSITION)):
        position = index + 1
        exact = {analysed.surface[index], analysed.lemma[index]}
        for token in exact:
            positions.setdefault((token, "A"), []).append(position)
        for token in {analysed.fsurface[index], analysed.flemma[index]} - exact:
            positions.setdefault((token, "B"), []).append(position)
    by_lexeme: dict[str, list[str]] = {}
    for (token, weight), where in positions.items():
        by_lexeme.setdefault(token, []).extend(
            f"{p}{weight}" for p in where[:MAX_POSITIONS_PER_LEXEME]
        )
    return " ".join(
        f"{_quote(token)}:{','.join(sorted(where, key=lambda p: int(p[:-1])))}"
        for token, where in by_lexeme.items()
    )


def _alternatives(forms: set[str], weight: str, *, prefix: bool = False) -> str:
    star = "*" if prefix else ""
    return "(" + " | ".join(f"{_quote(f)}:{star}{weight}" for f in sorted(forms)) + ")"


def render_term(term: Term, *, folded: bool) -> str:
    """One term as tsquery text (cast with ::tsquery, so nothing is re-parsed)."""
    forms = term.folded_forms() if folded else term.exact_forms()
    weight = "AB" if folded else "A"
    if term.kind == "prefix":
        return _alternatives(forms[0], weight, prefix=True)
    if term.kind in ("word", "code"):
        return _alternatives(forms[0], weight)
    return "(" + " <-> ".join(_alternatives(f, weight) for f in forms) + ")"


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

    def write(self, rows: Sequence[tuple[int, Analysed]]) -> None:
        if not rows:
            return
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {ENTRY} SET tsv = %s::tsvector WHERE id = %s",
                [(tsvector_literal(analysed), entry_id) for entry_id, analysed in rows],
            )

    def delete(self, entry_ids: Sequence[int]) -> None:
        """The tsvector lives in the entry's row and goes with it."""
        if not entry_ids:
            return
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {ENTRY} SET tsv = NULL WHERE id = ANY(%s)", [list(entry_ids)])

    def matching(self, qs: QuerySet, query: ParsedQuery, *, folded: bool) -> QuerySet:
        return qs.extra(
            where=[f"{ENTRY}.tsv @@ %s::tsquery"], params=[render(query, folded=folded)]
        )

    def ranked(self, qs: QuerySet, query: ParsedQuery, *, folded: bool) -> QuerySet:
        return self.matching(qs, query, folded=folded).extra(
            select={"score": f"ts_rank({ENTRY}.tsv, %s::tsquery)"},
            select_params=[render(query, folded=folded)],
            order_by=["-score", "-id"],
        )

    def raw_top(self, query: ParsedQuery, *, limit: int, folded: bool = False) -> list[int]:
        expression = render(query, folded=folded)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {ENTRY} WHERE tsv @@ %s::tsquery "
                f"ORDER BY ts_rank(tsv, %s::tsquery) DESC LIMIT %s",
                [expression, expression, limit],
            )
            return [row[0] for row in cursor.fetchall()]

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {ENTRY} SET tsv = NULL WHERE tsv IS NOT NULL")


__all__ = ["PostgresBackend", "tsvector_literal"]
