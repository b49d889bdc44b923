"""What a person types, parsed into terms every backend renders the same way.

- words: every word must occur (in any inflected form: "samochodu" finds
  "samochód", through the lemma or the surface form);
- "a phrase in quotes": the words next to each other in this order;
- prefix*: any word starting with the prefix (at least two letters);
- codes (case signs, register numbers) are one term kept whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from garnizon.search.analysis import CODE, WORD, code_token, fold, lemma, words

MIN_PREFIX = 2
MAX_TERMS = 12
_PHRASE = re.compile(r'"([^"]*)"?')


@dataclass(frozen=True)
class Term:
    """One condition of a query: `kind` is "word", "code", "prefix" or "phrase".

    `alternatives`, when given, are the indexed forms each token matches instead
    of its own surface and lemma (a query unfolded by `garnizon.search.folding`)."""

    kind: str
    tokens: tuple[str, ...]
    alternatives: tuple[frozenset[str], ...] = ()

    def exact_forms(self) -> list[set[str]]:
        """For each token, the exact forms it matches (surface and lemma)."""
        if self.alternatives:
            return [set(a) for a in self.alternatives]
        if self.kind in ("code", "prefix"):
            return [{t} for t in self.tokens]
        return [{t, lemma(t)} for t in self.tokens]

    def folded_forms(self) -> list[set[str]]:
        return [{fold(f) for f in forms} for forms in self.exact_forms()]

    @property
    def lemmas(self) -> tuple[str, ...]:
        return tuple(lemma(t) for t in self.tokens)


@dataclass
class ParsedQuery:
    text: str
    terms: list[Term] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.terms)


def parse(text: str) -> ParsedQuery:
    """Parse a query; anything unparseable is simply ignored, never an error."""
    query = ParsedQuery(text=text.strip())
    rest: list[str] = []
    position = 0
    for match in _PHRASE.finditer(text):
        rest.append(text[position : match.start()])
        position = match.end()
        inner = match.group(1).strip()
        if CODE.fullmatch(inner) and any(c.isdigit() for c in inner):
            query.terms.append(Term("code", (code_token(inner.lower()),)))
            continue
        tokens = tuple(t for t, is_code in words(inner) if not is_code)
        if len(tokens) > 1:
            query.terms.append(Term("phrase", tokens))
        elif tokens:
            query.terms.append(Term("word", tokens))
    rest.append(text[position:])
    for chunk in " ".join(rest).split():
        prefix = chunk.endswith("*")
        chunk = chunk.rstrip("*")
        if CODE.fullmatch(chunk) and any(c.isdigit() for c in chunk):
            query.terms.append(Term("code", (code_token(chunk.lower()),)))
            continue
        parts = [w.lower() for w in WORD.findall(chunk)]
        for index, part in enumerate(parts):
            if prefix and index == len(parts) - 1:
                if len(part) >= MIN_PREFIX:
                    query.terms.append(Term("prefix", (part,)))
            else:
                query.terms.append(Term("word", (part,)))
    unique: list[Term] = []
    for term in query.terms:
        if term not in unique:
            unique.append(term)
    query.terms = unique[:MAX_TERMS]
    return query


# The loose fallback cuts this many letters off a word (but keeps at least MIN_STEM).
STEM_CUT = 2
MIN_STEM = 4


def loosen(query: ParsedQuery) -> ParsedQuery:
    """The last resort when neither exact nor folded forms match: every word of four
    letters or more becomes a prefix of its folded stem ("wisniewska" ->
    "wisniews*"), which catches forms the dictionary does not know."""
    terms = []
    for term in query.terms:
        token = term.tokens[0]
        if term.kind == "word" and len(token) >= MIN_STEM:
            stem = fold(token)[: max(MIN_STEM, len(token) - STEM_CUT)]
            terms.append(Term("prefix", (stem,)))
        else:
            terms.append(term)
    return ParsedQuery(text=query.text, terms=terms)
