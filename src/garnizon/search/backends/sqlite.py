"""SQLite FTS5: a virtual table `search_fts(surface, lemma, fsurface, flemma, acl)`
whose rowid is the entry's id, ranked by bm25.

Need-to-know is one more column: the entry's access tokens (garnizon.search.acl).
A search is one MATCH, "(the text) AND acl : (the person's tokens)", so FTS5
intersects the doclists itself and bm25 is computed only for visible matches.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import QuerySet

from garnizon.search.analysis import Analysed
from garnizon.search.backends.base import SearchBackend
from garnizon.search.query import ParsedQuery, Term

TABLE = "search_fts"
ENTRY = "search_searchentry"
# bm25 weights of surface, lemma, folded surface, folded lemma.
RANK = f"bm25({TABLE}, 2.0, 1.0, 0.5, 0.5, 0.0)"
_CHUNK = 500


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _alternatives(forms: set[str]) -> str:
    return "(" + " OR ".join(_quote(f) for f in sorted(forms)) + ")"


def render_term(term: Term, *, folded: bool) -> str:
    """One term as an FTS5 expression."""
    forms = term.folded_forms() if folded else term.exact_forms()
    surface, lemma = ("fsurface", "flemma") if folded else ("surface", "lemma")
    if term.kind == "prefix":
        return f"{{{surface} {lemma}}} : {_quote(next(iter(forms[0])))} *"
    if term.kind == "code":
        return f"{{{surface}}} : {_quote(next(iter(forms[0])))}"
    if term.kind == "word":
        return f"{{{surface} {lemma}}} : {_alternatives(forms[0])}"
    # A phrase: the words as written, or their lemmas, consecutive in one stream.
    tokens = list(term.tokens)
    lemmas = list(term.lemmas)
    if folded:
        from garnizon.search.analysis import fold

        tokens, lemmas = [fold(t) for t in tokens], [fold(t) for t in lemmas]
    variants = {
        f"{surface} : {_quote(' '.join(tokens))}",
        f"{lemma} : {_quote(' '.join(lemmas))}",
        f"{lemma} : {_quote(' '.join(tokens))}",
        f"{surface} : {_quote(' '.join(lemmas))}",
    }
    return "(" + " OR ".join(sorted(variants)) + ")"


def render(query: ParsedQuery, *, folded: bool) -> str:
    return " AND ".join(render_term(t, folded=folded) for t in query.terms)


def render_acl(tokens: Sequence[str]) -> str:
    return "acl : (" + " OR ".join(_quote(t) for t in tokens) + ")"


def render_visible(query: ParsedQuery | None, tokens: Sequence[str], *, folded: bool) -> str:
    """The text (if any) AND the access tokens, as one FTS5 expression."""
    if not query:
        return render_acl(tokens)
    return f"({render(query, folded=folded)}) AND {render_acl(tokens)}"


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
                f"INSERT INTO {TABLE}(rowid, surface, lemma, fsurface, flemma, acl) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
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

    def matching(
        self, qs: QuerySet, query: ParsedQuery, *, folded: bool, tokens: Sequence[str]
    ) -> QuerySet:
        if not tokens:
            return qs.none()
        return qs.extra(
            tables=[TABLE],
            where=[f"{TABLE}.rowid = {ENTRY}.id", f"{TABLE} MATCH %s"],
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
            qs = qs.extra(where=[f"{TABLE}.rowid >= %s"], params=[min_id])
        return qs.extra(select={"score": RANK}, order_by=["score", "-id"])

    def newest_first(self, qs: QuerySet) -> QuerySet:
        """`matching(...)` newest first, in the order FTS5 reads its rowids (no sort)."""
        return qs.extra(order_by=[f"-{TABLE}.rowid"])

    def raw_top(self, query: ParsedQuery, *, limit: int, folded: bool = False) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT rowid FROM {TABLE} WHERE {TABLE} MATCH %s ORDER BY {RANK} LIMIT %s",
                [render(query, folded=folded), limit],
            )
            return [row[0] for row in cursor.fetchall()]

    def clear(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {TABLE}")
