"""Polish text analysis, the same for indexed text and for queries.

A text becomes two aligned streams of tokens (one position per word in each):

- ``surface``: the word as written, lower-cased ("samochodu");
- ``lemma``: its dictionary form from simplemma ("samochód").

Both the lemma and the surface form are indexed because simplemma is not
always consistent: "włamania" gives "włamanie" but "włamanie" gives "włamać".
A query word matches when any of its forms equals any form of a document word.
Diacritics-insensitive matching ("kradziez" finds "kradzież") does not need
streams of its own: the words with diacritics are kept under their folded
form in a term map (`garnizon.search.folding`).

Case signs, registration numbers, e-Doręczenia addresses and other codes
("I.0151.3.2026", "KWP/RPW/12/2026") are kept whole as one extra token, encoded
with letters only (see `code_token`) so that both FTS5 and PostgreSQL's parser
take it as one word; their parts are indexed as ordinary words too.

Lemmatisation uses simplemma's streaming ("low memory") dictionary: measured
here about 54 MB per process instead of about 408 MB for the default one, at
about 12 µs instead of 1 µs per uncached word (most words hit the cache).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import chain

# Words: runs of letters and digits (Unicode), no underscore.
WORD = re.compile(r"[^\W_]+")
# Codes: words joined by . / - : with at least one digit somewhere
# (case signs, register numbers, addresses, dates like 12.03.2026).
CODE = re.compile(r"[^\W_]+(?:[./:\-][^\W_]+)+")
# Separators inside codes, each spelt by a letter no code contains after encoding.
_CODE_SEPARATORS = {".": "q", "/": "v", "-": "w", ":": "k"}
_CODE_PREFIX = "zz"
MAX_TOKEN_LENGTH = 60
# At most this many words of one object are indexed (about eight pages):
# PostgreSQL keeps word positions only up to 16,383 across the four streams.
MAX_WORDS = 4000

_FOLD = str.maketrans({"ł": "l", "Ł": "L", "đ": "d", "ø": "o", "ß": "ss"})


def fold(text: str) -> str:
    """Remove diacritics: "Łódź" -> "Lodz" ("ł" does not decompose in Unicode)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def code_token(code: str) -> str:
    """One letters-and-digits token for a code: "I.0151.3.2026" -> "zziq0151q3q2026"."""
    return _CODE_PREFIX + "".join(_CODE_SEPARATORS.get(c, c) for c in fold(code.lower()))


@functools.lru_cache(maxsize=1)
def _lemmatizer():
    from simplemma import Lemmatizer
    from simplemma.strategies import DefaultStrategy

    return Lemmatizer(
        cache_max_size=200_000, lemmatization_strategy=DefaultStrategy(low_memory=True)
    )


@functools.lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    """The dictionary form of one lower-case word (the word itself when unknown)."""
    if word.isdigit() or len(word) < 2:
        return word
    return _lemmatizer().lemmatize(word, "pl").lower()


@dataclass
class Analysed:
    """Two aligned token streams (see the module's docstring)."""

    surface: list[str] = field(default_factory=list)
    lemma: list[str] = field(default_factory=list)

    def columns(self) -> tuple[str, str]:
        """The streams as space-separated text, in index column order."""
        return " ".join(self.surface), " ".join(self.lemma)

    def __len__(self) -> int:
        return len(self.surface)


# A word, or words joined by code separators, in one left-to-right pass.
CHUNK = re.compile(r"[^\W_]+(?:[./:\-][^\W_]+)*")
_DIGIT = re.compile(r"\d")


def words(text: str) -> list[tuple[str, bool]]:
    """The tokens of `text` in order as (lower-case token, is_code); a code comes
    first, followed by its parts as ordinary words."""
    tokens: list[tuple[str, bool]] = []
    for chunk in CHUNK.findall(text.lower()):
        if chunk.isalnum():
            tokens.append((chunk, False))
            continue
        if _DIGIT.search(chunk):
            tokens.append((chunk, True))
        tokens += [(w, False) for w in WORD.findall(chunk)]
    return tokens


@functools.lru_cache(maxsize=200_000)
def _word_forms(token: str) -> tuple[str, str]:
    """(surface, lemma) of one lower-case word."""
    token = token[:MAX_TOKEN_LENGTH]
    return token, lemma(token)


# A piece of text between white space -> the (surface, lemma) pairs of its
# words and codes. Splitting on white space (in C)
# and caching whole pieces ("Puławach,") is several times faster than running
# the word pattern over the text; chunks never span white space, so the tokens
# are the same. A plain dict, cleared when full.
_PIECES: dict[str, tuple[tuple[str, str], ...]] = {}
_PIECES_MAX = 500_000


def _piece_forms(piece: str) -> tuple[tuple[str, str], ...]:
    parts: list[tuple[str, str]] = []
    for chunk in CHUNK.findall(piece):
        if chunk.isalnum():
            parts.append(_word_forms(chunk))
            continue
        if _DIGIT.search(chunk):
            encoded = code_token(chunk)[:MAX_TOKEN_LENGTH]
            parts.append((encoded, encoded))
        parts += [_word_forms(w) for w in WORD.findall(chunk)]
    if len(_PIECES) >= _PIECES_MAX:
        _PIECES.clear()
    forms_ = _PIECES[piece] = tuple(parts)
    return forms_


def analyse(text: str, *, max_words: int = MAX_WORDS) -> Analysed:
    """Analyse a document's text (or one query word or phrase).

    The pieces between white space are looked up in the cache with `map` and
    flattened with `chain` (both in C): a document of 500 words costs a few
    dozen microseconds once its vocabulary is cached (a full rebuild meets
    the same few thousand pieces again and again)."""
    cache_get = _PIECES.get
    pieces = text.lower().split()
    parts: list[tuple[str, str]] = []
    for start in range(0, len(pieces), max_words):
        chunk = pieces[start : start + max_words]
        found = list(map(cache_get, chunk))
        if None in found:
            found = [
                f if f is not None else _piece_forms(p) for f, p in zip(found, chunk, strict=True)
            ]
        parts += chain.from_iterable(found)
        if len(parts) >= max_words:
            del parts[max_words:]
            break
    if not parts:
        return Analysed()
    surface, lemmas = map(list, zip(*parts, strict=True))
    return Analysed(surface, lemmas)


def forms(word: str) -> set[str]:
    """The exact forms a query word matches: its surface and its lemma."""
    return {word, lemma(word)}


def folded_forms(word: str) -> set[str]:
    return {fold(f) for f in forms(word)}
