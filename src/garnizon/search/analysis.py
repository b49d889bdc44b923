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
from operator import itemgetter

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
    found = _lemmatizer().lemmatize(word, "pl").lower()
    return word if " " in found else found  # one word per position in both streams


@dataclass
class Analysed:
    """Two aligned token streams (see the module's docstring) as the text the
    index takes (`columns`); `surface` and `lemma` give them as lists (tests,
    the benchmark's vocabulary); PostgreSQL's tsvectors are built from
    `forms`.

    The surface column is the text itself, as written, when FTS5's tokenizer
    finds exactly the surface words in it (no codes, no overlong words, only
    Latin letters, digits, punctuation and spaces: `lexical_as_written`; FTS5
    folds their case as str.lower() does), which spares joining them. `pieces`
    are the pieces of text between white space the words came from, as
    written (the term map's look-up), `forms` each piece's (surface, lemma)
    text."""

    surface_text: str = ""
    lemma_text: str = ""
    pieces: list[str] = field(default_factory=list, repr=False)
    forms: list[tuple[str, str]] = field(default_factory=list, repr=False)
    as_written: bool = False  # surface_text is the text as written, not the words joined

    def columns(self) -> tuple[str, str]:
        """The surface and lemma columns, in index column order."""
        return self.surface_text, self.lemma_text

    @property
    def surface(self) -> list[str]:
        if self.as_written:
            return " ".join(filter(None, map(_SURFACE, self.forms))).split()
        return self.surface_text.split()

    @property
    def lemma(self) -> list[str]:
        return self.lemma_text.split()

    def __len__(self) -> int:
        return self.lemma_text.count(" ") + 1 if self.lemma_text else 0


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


# A piece of text between white space, as written, -> its words and codes as
# the two streams' text: ("puławach", "puławy") for "Puławach,", ("", "") for
# "—". Splitting on white space (in C) and caching whole pieces is several
# times faster than running the word pattern over the text; chunks never span
# white space, so the tokens are the same. Pieces are keyed as written, so a
# document's text is never lower-cased as a whole (FTS5 folds case itself, see
# `as_written`). A plain dict, cleared when full, with the set of its pieces
# that FTS5's tokenizer would not read as their surface words.
_PIECES: dict[str, tuple[str, str]] = {}
_NOT_AS_WRITTEN: set[str] = set()
_PIECES_MAX = 500_000
_SURFACE = itemgetter(0)
_LEMMA = itemgetter(1)
# Below this code point every letter and digit is in the Unicode tables of
# SQLite's unicode61 tokenizer as it is in Python's (Latin scripts), and
# unicode61 folds its case as str.lower() does, except "İ", whose lower case
# has a combining mark (which `lexical_as_written` refuses).
_LATIN_END = 0x0250


def lexical_as_written(piece: str) -> bool:
    """Whether FTS5's unicode61 tokenizer finds in `piece` exactly its surface
    words: no code (kept whole as one token here), no word longer than
    MAX_TOKEN_LENGTH (cut here), and no character the two tokenizers could
    classify differently (only Latin letters and digits, punctuation, spaces)."""
    for chunk in CHUNK.findall(piece):
        if len(chunk) > MAX_TOKEN_LENGTH or (not chunk.isalnum() and _DIGIT.search(chunk)):
            return False
    return all(
        (c.isalnum() and ord(c) < _LATIN_END) or unicodedata.category(c)[0] in "PZ" for c in piece
    )


def piece_forms(piece: str) -> tuple[str, str]:
    """The (surface, lemma) text of one piece of text between white space."""
    if (cached := _PIECES.get(piece)) is not None:
        return cached
    lowered = piece.lower()
    parts: list[tuple[str, str]] = []
    for chunk in CHUNK.findall(lowered):
        if chunk.isalnum():
            parts.append(_word_forms(chunk))
            continue
        if _DIGIT.search(chunk):
            encoded = code_token(chunk)[:MAX_TOKEN_LENGTH]
            parts.append((encoded, encoded))
        parts += [_word_forms(w) for w in WORD.findall(chunk)]
    # FTS5 reads the piece as written: both it and its lower case must qualify.
    if not (lexical_as_written(lowered) and lexical_as_written(piece)):
        _NOT_AS_WRITTEN.add(piece)
    forms_ = _PIECES[piece] = (" ".join(p[0] for p in parts), " ".join(p[1] for p in parts))
    return forms_


def join_streams_py(
    pieces: list[str], cache: dict[str, tuple[str, str]], not_as_written: set[str]
) -> tuple[list[tuple[str, str]], str, str | None] | None:
    """The pieces' forms from `cache`, the lemma stream's text, and the surface
    stream's text or None where the text may stand as written; None when a
    piece is not in the cache. `_streams.join_streams` does the same in one
    pass in C (built by `pip install`); this is its fallback and its reference."""
    found = list(map(cache.get, pieces))
    if not all(found):  # a cached piece's forms are a non-empty tuple
        return None
    lemmas = " ".join(filter(None, map(_LEMMA, found)))
    if not_as_written.isdisjoint(pieces):
        return found, lemmas, None
    return found, lemmas, " ".join(filter(None, map(_SURFACE, found)))


try:
    from garnizon.search._streams import join_streams
except ImportError:  # not compiled (no C compiler where it was installed)
    join_streams = join_streams_py


def analyse(text: str, *, max_words: int = MAX_WORDS) -> Analysed:
    """Analyse a document's text (or one query word or phrase).

    The pieces between white space are looked up in the cache and their
    streams joined in one pass (`join_streams`): no Python object per word, so
    a document of 500 words whose vocabulary is cached costs a few dozen
    microseconds (a full rebuild meets the same pieces again and again)."""
    if len(_PIECES) >= _PIECES_MAX:  # between documents: a document's pieces stay together
        _PIECES.clear()
        _NOT_AS_WRITTEN.clear()
    pieces = text.split()
    if len(pieces) > max_words:
        return _analyse_long(pieces, max_words)
    streams = join_streams(pieces, _PIECES, _NOT_AS_WRITTEN)
    if streams is None:  # pieces not cached yet
        for piece in pieces:
            piece_forms(piece)
        streams = join_streams(pieces, _PIECES, _NOT_AS_WRITTEN)
    found, lemmas, surface = streams
    if not lemmas:
        return Analysed(pieces=pieces)
    if lemmas.count(" ") >= max_words:  # more than max_words words: keep the first ones
        return _capped(pieces, found, lemmas, max_words)
    if surface is None:
        return Analysed(text, lemmas, pieces, found, as_written=True)
    return Analysed(surface, lemmas, pieces, found)


def _analyse_long(pieces: list[str], max_words: int) -> Analysed:
    """A text of more than `max_words` pieces: analysed `max_words` pieces at a
    time until it has `max_words` words, the rest never looked at (a scanned
    book's OCR text costs what its first pages cost)."""
    found: list[tuple[str, str]] = []
    words = 0
    for start in range(0, len(pieces), max_words):
        chunk = [piece_forms(p) for p in pieces[start : start + max_words]]
        found += chunk
        words += sum(lemma_.count(" ") + 1 for _surface, lemma_ in chunk if lemma_)
        if words >= max_words:
            break
    lemmas = " ".join(filter(None, map(_LEMMA, found)))
    if not lemmas:
        return Analysed(pieces=pieces[: len(found)])
    return _capped(pieces[: len(found)], found, lemmas, max_words)


def _capped(
    pieces: list[str], found: list[tuple[str, str]], lemmas: str, max_words: int
) -> Analysed:
    """The first `max_words` words of both streams, joined (never as written)."""
    surface = " ".join(filter(None, map(_SURFACE, found)))
    surface = " ".join(surface.split(" ", max_words)[:max_words])
    lemmas = " ".join(lemmas.split(" ", max_words)[:max_words])
    return Analysed(surface, lemmas, pieces, found)
