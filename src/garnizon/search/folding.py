"""Diacritics-insensitive matching ("kradziez" finds "kradzież") through a term map.

The index holds each word only as written and as its lemma. Every indexed word
with diacritics is also stored in `FoldedTerm` under its folded form
("kradzieży" under "kradziezy"), in the transaction that indexes it
(`record`). A query that finds nothing as typed is then unfolded (`unfold`):
each of its words becomes the alternatives "its folded forms, and every
indexed word that folds to one of them", and that query is run against the
same exact streams. A document matches exactly when one of its words folds to
a folded form of a query word, as it would with folded copies of the streams,
at half the indexing cost (measured in docs/benchmarks.md, "Search").

A process remembers the pieces of text (`analysis.piece_forms`) whose words it
has seen recorded (after their transaction committed), so a document whose
pieces are all known adds nothing to the map.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from itertools import chain

from django.db import transaction

from garnizon.search.analysis import Analysed, fold, piece_forms
from garnizon.search.models import FoldedTerm
from garnizon.search.query import ParsedQuery, Term

MAX_TERM_LENGTH = 64  # FoldedTerm's columns
# Pieces of text whose words this process knows to be in the map (or to need no
# entry), cleared when full.
_KNOWN: set[str] = set()
_KNOWN_MAX = 2_000_000
# A prefix typed without diacritics expands to at most this many words of the map.
MAX_PREFIX_SCAN = 5000


def record(analysed: Iterable[Analysed]) -> int:
    """Add the words with diacritics of these analysed texts that the map may not
    hold yet, in the caller's transaction; returns how many rows were offered.

    Looked up by the pieces of text the words came from (a document's few
    hundred distinct pieces, most of them known), not word by word."""
    pieces: set[str] = set()
    for item in analysed:
        pieces.update(item.pieces)
    pieces -= _KNOWN
    if not pieces:
        return 0
    words = set(chain.from_iterable(" ".join(piece_forms(p)).split() for p in pieces))
    rows = sorted(
        (folded, word)
        for word in words
        if (folded := fold(word)) != word and len(folded) <= MAX_TERM_LENGTH
    )
    if rows:
        # Sorted: two transactions adding the same words take their locks in one order.
        FoldedTerm.objects.bulk_create(
            [FoldedTerm(folded=folded, term=word) for folded, word in rows],
            ignore_conflicts=True,
            batch_size=2000,
        )
    transaction.on_commit(lambda: _remember(pieces))
    return len(rows)


def _remember(pieces: set[str]) -> None:
    if len(_KNOWN) + len(pieces) > _KNOWN_MAX:
        _KNOWN.clear()
    _KNOWN.update(pieces)


def forget_known() -> None:
    """Forget what this process remembered (tests that empty the map)."""
    _KNOWN.clear()


def _words_folding_to(folded_forms: set[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    if folded_forms:
        for folded, word in FoldedTerm.objects.filter(folded__in=folded_forms).values_list(
            "folded", "term"
        ):
            found[folded].add(word)
    return found


def _prefixes_folding_to(prefix: str) -> set[str]:
    """The prefix, and the same prefix as written in indexed words with
    diacritics: "wisniews" -> {"wisniews", "wiśniews"}."""
    size = len(prefix)
    words = FoldedTerm.objects.filter(folded__startswith=prefix).values_list("term", flat=True)
    return {prefix} | {w[:size] for w in words[:MAX_PREFIX_SCAN] if fold(w[:size]) == prefix}


def unfold(query: ParsedQuery) -> ParsedQuery:
    """The query with each word, phrase word and prefix replaced by the exact
    alternatives of its folded forms (one look-up for all the words)."""
    folded_words = {
        fold(form)
        for term in query.terms
        if term.kind in ("word", "phrase")
        for form in chain.from_iterable(term.exact_forms())
    }
    found = _words_folding_to(folded_words)
    terms: list[Term] = []
    for term in query.terms:
        if term.kind == "code":
            terms.append(term)
            continue
        alternatives: list[frozenset[str]] = []
        for forms in term.exact_forms():
            folded = {fold(f) for f in forms}
            if term.kind == "prefix":
                alternatives.append(frozenset(_prefixes_folding_to(next(iter(folded)))))
            else:
                alternatives.append(frozenset(folded.union(*(found.get(f, ()) for f in folded))))
        terms.append(Term(term.kind, term.tokens, tuple(alternatives)))
    return ParsedQuery(text=query.text, terms=terms)


__all__ = ["forget_known", "record", "unfold"]
