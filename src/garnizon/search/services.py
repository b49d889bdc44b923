"""Searching as one person: exact look-ups, ranked full text, filters, facets.

Need-to-know is part of the query: every entry carries the access tokens of
the ways it can be seen under the registers' own conditions, and the person's
scope becomes the tokens they hold (`garnizon.search.acl`); the full-text index
intersects the text match with the tokens in one scan. So the hits, the count
and every facet count are computed by the database over the same visible set
and cannot disagree or leak, and the cost follows what the person may see.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet, Value
from django.db.models.functions import Replace
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.cases.deadlines import DeadlineKind
from garnizon.cases.models import Case, CaseState
from garnizon.cases.selectors import case_visibility_q
from garnizon.common.errors import DomainError, NotVisible
from garnizon.documents.models import Document, DocumentKind
from garnizon.documents.selectors import document_visibility_q
from garnizon.jrwa.models import Classification
from garnizon.org.access import Scope
from garnizon.org.models import Person, Unit, default_designations
from garnizon.registry.models import (
    EDORECZENIA_ADDRESS,
    Channel,
    Correspondent,
    IncomingItem,
    OutgoingItem,
)
from garnizon.registry.selectors import incoming_visibility_q, outgoing_visible_to
from garnizon.search.acl import scope_tokens
from garnizon.search.analysis import CODE, WORD, code_token, fold, lemma
from garnizon.search.backends import get_backend
from garnizon.search.folding import unfold
from garnizon.search.models import ObjectType, SavedSearch, SearchEntry
from garnizon.search.query import ParsedQuery, Term, loosen, parse

MAX_QUERY_LENGTH = 500
PAGE_SIZE = 20
MAX_PAGE = 50
# Above this many hits only the newest RANK_LIMIT are ranked and counted in the
# facets (marked on the results: `ranked_newest`).
RANK_LIMIT = 2_000
# Above this many hits the count is shown as "more than" (an estimate, marked).
# Equal to RANK_LIMIT, the count comes from the same read; a higher cap costs a
# capped COUNT (measured on PostgreSQL: about 200 ms for 10,000 under load).
COUNT_LIMIT = RANK_LIMIT
FRAGMENT_BEFORE = 80
FRAGMENT_LENGTH = 260
FACETS = ("object_type", "unit", "cell", "classification", "channel", "state", "kind")


@dataclass
class SearchFilters:
    """What results can be narrowed by; every field optional."""

    object_type: str = ""
    unit_id: int | None = None
    cell_id: int | None = None
    classification_id: int | None = None
    channel: str = ""
    date_from: datetime.date | None = None
    date_to: datetime.date | None = None
    state: str = ""
    kind: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly, only the fields set (for saved searches and the audit trail)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value not in (None, ""):
                out[f.name] = value.isoformat() if isinstance(value, datetime.date) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchFilters:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            value = data.get(f.name)
            if value in (None, ""):
                continue
            if f.name.startswith("date_"):
                value = datetime.date.fromisoformat(str(value))
            elif f.name.endswith("_id"):
                value = int(value)
            values[f.name] = value
        return cls(**values)

    def __bool__(self) -> bool:
        return bool(self.as_dict())


@dataclass
class Hit:
    object_type: str
    object_id: int
    reference: str
    title: str
    url: str
    date: datetime.date | None = None
    fragment: SafeString = field(default_factory=lambda: mark_safe(""))
    score: float | None = None
    type_label: str = ""


@dataclass
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool = False


@dataclass
class SearchResults:
    query: str
    filters: SearchFilters
    hits: list[Hit]
    total: int
    total_is_estimate: bool
    page: int
    page_size: int
    facets: dict[str, list[FacetValue]]
    exact: list[Hit]
    fallback: bool = False
    # Set when more matched than RANK_LIMIT: the ranking covers the newest this many.
    ranked_newest: int | None = None

    @property
    def pages(self) -> int:
        return min(MAX_PAGE, max(1, -(-self.total // self.page_size)))

    @property
    def redirect_url(self) -> str | None:
        """Where to go straight away: one exact look-up hit."""
        return self.exact[0].url if len(self.exact) == 1 else None


# --- visibility --------------------------------------------------------------------------------


def visible_entries(person: Person, *, scope: Scope | None = None) -> QuerySet[SearchEntry]:
    """The entries `person` may open: those sharing an access token with their scope."""
    scope = scope or Scope.for_person(person)
    return get_backend().visible(SearchEntry.objects.all(), scope_tokens(scope))


def _apply_filters(qs: QuerySet[SearchEntry], f: SearchFilters) -> QuerySet[SearchEntry]:
    conditions = {
        "object_type": f.object_type,
        "unit_id": f.unit_id,
        "cell_id": f.cell_id,
        "classification_id": f.classification_id,
        "channel": f.channel,
        "state": f.state,
        "kind": f.kind,
        "date__gte": f.date_from,
        "date__lte": f.date_to,
    }
    return qs.filter(**{k: v for k, v in conditions.items() if v not in (None, "")})


# --- exact look-ups ----------------------------------------------------------------------------

_PHONE = re.compile(r"^\+?[\d\s\-()]{7,}$")


def _hit_for(obj: Any) -> Hit:
    if isinstance(obj, IncomingItem):
        return Hit(
            ObjectType.INCOMING,
            obj.pk,
            obj.registration_number,
            obj.subject,
            reverse("web:incoming_detail", args=[obj.pk]),
            date=timezone.localdate(obj.received_at),
            type_label=str(ObjectType.INCOMING.label),
        )
    if isinstance(obj, OutgoingItem):
        return Hit(
            ObjectType.OUTGOING,
            obj.pk,
            obj.registration_number,
            obj.subject,
            reverse("web:outgoing_detail", args=[obj.pk]),
            date=obj.sent_on,
            type_label=str(ObjectType.OUTGOING.label),
        )
    if isinstance(obj, Case):
        return Hit(
            ObjectType.CASE,
            obj.pk,
            obj.sign,
            obj.subject,
            reverse("web:case_detail", args=[obj.pk]),
            date=obj.opened_on,
            type_label=str(ObjectType.CASE.label),
        )
    version = obj.latest_version
    return Hit(
        ObjectType.VERSION,
        version.pk if version else 0,
        obj.identifier,
        obj.title,
        reverse("documents:detail", args=[obj.pk]),
        type_label=str(ObjectType.VERSION.label),
    )


def _digits(column: str) -> Any:
    expression: Any = column
    for char in (" ", "-", "(", ")", "+", "/", "."):
        expression = Replace(expression, Value(char), Value(""))
    return expression


def exact_lookup(person: Person, scope: Scope, text: str, *, limit: int = 20) -> list[Hit]:
    """Objects named exactly by `text` (case sign, registration or tracking number,
    barcode value, document identifier, e-Doręczenia address, phone number), only
    those `person` may open."""
    text = text.strip().strip('"')
    if not text or len(text) > 120 or (" " in text and not _PHONE.match(text)):
        return []
    if not any(c.isdigit() for c in text):
        return []  # every sign, number, identifier, address and phone has a digit
    incoming = IncomingItem.objects.filter(incoming_visibility_q(scope))
    outgoing = outgoing_visible_to(person, scope=scope)
    cases = Case.objects.filter(case_visibility_q(scope))
    found: list[Any] = []
    found += cases.filter(sign__iexact=text)[:limit]
    # A label's barcode carries the registration number.
    found += incoming.filter(registration_number__iexact=text)[:limit]
    found += outgoing.filter(Q(registration_number__iexact=text) | Q(tracking_number__iexact=text))[
        :limit
    ]
    found += Document.objects.filter(
        document_visibility_q(person, scope), identifier__iexact=text
    ).prefetch_related("versions")[:limit]
    correspondents: Q | None = None
    if EDORECZENIA_ADDRESS.match(text.upper()):
        address = text.upper()
        correspondents = Q(edoreczenia_address__iexact=address)
        found += outgoing.filter(edoreczenia_address__iexact=address)[:limit]
    elif _PHONE.match(text):
        digits = re.sub(r"\D", "", text)
        if 7 <= len(digits) <= 15:
            tail = digits[-9:]
            matching = (
                Correspondent.objects.exclude(phone="")
                .annotate(phone_digits=_digits("phone"))
                .filter(phone_digits__endswith=tail)
            )
            correspondents = Q(pk__in=matching.values("pk"))
    if correspondents is not None:
        ids = Correspondent.objects.filter(correspondents).values("pk")
        found += incoming.filter(sender_id__in=ids)[:limit]
        found += outgoing.filter(addressee_id__in=ids).exclude(
            pk__in=[o.pk for o in found if isinstance(o, OutgoingItem)]
        )[:limit]
        found += cases.filter(correspondent_id__in=ids)[:limit]
    return [_hit_for(obj) for obj in found[:limit]]


# --- highlighting ------------------------------------------------------------------------------


def _word_matches(word: str, terms: list[Term], folded: bool) -> bool:
    lower = word.lower()
    forms = {lower, lemma(lower)}
    if folded:
        forms = {fold(f) for f in forms}
    for term in terms:
        if term.kind == "prefix":
            prefix = term.folded_forms()[0] if folded else term.exact_forms()[0]
            if any(f.startswith(p) for f in forms for p in prefix):
                return True
        elif term.kind in ("word", "phrase"):
            expected = term.folded_forms() if folded else term.exact_forms()
            if any(forms & e for e in expected):
                return True
    return False


def highlight(text: str, query: ParsedQuery, *, folded: bool = False) -> SafeString:
    """A fragment of `text` around the first matching word, matches in <mark>, escaped."""
    if not text:
        return mark_safe("")
    spans: list[tuple[int, int]] = []
    codes = {t.tokens[0] for t in query.terms if t.kind == "code"}
    if codes:
        spans += [m.span() for m in CODE.finditer(text) if code_token(m.group().lower()) in codes]
    if any(t.kind != "code" for t in query.terms):
        # Each distinct word is judged once; words past the fragment are not read.
        judged: dict[str, bool] = {}
        horizon = (spans[0][0] if spans else len(text)) + FRAGMENT_LENGTH + 30
        for m in WORD.finditer(text):
            if m.start() > horizon:
                break
            word = m.group()
            matches = judged.get(word)
            if matches is None:
                matches = judged[word] = _word_matches(word, query.terms, folded)
            if matches:
                spans.append(m.span())
                horizon = min(horizon, m.start() + FRAGMENT_LENGTH + 30)
    spans.sort()
    start = 0
    if spans:
        start = max(0, spans[0][0] - FRAGMENT_BEFORE)
        while 0 < start < spans[0][0] and not text[start - 1].isspace():
            start += 1
    end = min(len(text), start + FRAGMENT_LENGTH)
    while end < len(text) and not text[end].isspace() and end - start < FRAGMENT_LENGTH + 30:
        end += 1
    parts: list[str] = ["…" if start > 0 else ""]
    position = start
    for s, e in spans:
        if s < position or e > end:
            continue
        parts += [escape(text[position:s]), "<mark>", escape(text[s:e]), "</mark>"]
        position = e
    parts.append(escape(text[position:end]))
    if end < len(text):
        parts.append("…")
    return mark_safe(" ".join("".join(parts).split()))


# --- the search --------------------------------------------------------------------------------


def _labels(facet: str, values: list[Any]) -> dict[Any, str]:
    if facet == "object_type":
        return {v: str(ObjectType(v).label) for v in values if v in ObjectType.values}
    if facet == "unit":
        return {u.pk: u.symbol for u in Unit.objects.filter(pk__in=values)}
    if facet == "cell":
        return default_designations(values)  # str(cell), in two queries
    if facet == "classification":
        return {c.pk: str(c) for c in Classification.objects.filter(pk__in=values)}
    if facet == "channel":
        return {v: str(Channel(v).label) for v in values if v in Channel.values}
    if facet == "state":
        return {v: str(CaseState(v).label) for v in values if v in CaseState.values}
    if facet == "kind":
        labels = {k.value: str(k.label) for k in DeadlineKind}
        labels.update({k.value: str(k.label) for k in DocumentKind})
        return {v: labels.get(v, v) for v in values}
    return {}


_FACET_COLUMNS = {
    "object_type": "object_type",
    "unit": "unit_id",
    "cell": "cell_id",
    "classification": "classification_id",
    "channel": "channel",
    "state": "state",
    "kind": "kind",
}


def _facet_values(
    counts: dict[str, Counter], filters: SearchFilters
) -> dict[str, list[FacetValue]]:
    facets: dict[str, list[FacetValue]] = {}
    for facet, column in _FACET_COLUMNS.items():
        rows = [(v, n) for v, n in counts[facet].items() if v not in (None, "")]
        labels = _labels(facet, [value for value, _n in rows])
        selected = getattr(filters, column)
        facets[facet] = sorted(
            (
                FacetValue(str(value), labels.get(value, str(value)), n, selected == value)
                for value, n in rows
            ),
            key=lambda fv: (-fv.count, fv.label),
        )
    return facets


def _count_and_facets(
    matched: QuerySet[SearchEntry], filters: SearchFilters, newest_first: QuerySet[SearchEntry]
) -> tuple[int, bool, dict[str, list[FacetValue]], int | None]:
    """The visible matches' count and facets, and the id from which to rank.

    One read of the facet columns of the newest RANK_LIMIT + 1 matches: when
    they are all, the count and the facets are exact and everything is ranked.
    Otherwise the facets count the newest RANK_LIMIT, only those are ranked (the
    returned id is the oldest of them), and a capped COUNT gives the total, or
    COUNT_LIMIT marked as an estimate."""
    columns = list(_FACET_COLUMNS.values())
    rows = list(newest_first.values_list("id", *columns)[: RANK_LIMIT + 1])
    min_id = None
    if len(rows) > RANK_LIMIT:
        rows = rows[:RANK_LIMIT]
        min_id = rows[-1][0]
        if COUNT_LIMIT > RANK_LIMIT:
            n = matched.order_by().values("id")[: COUNT_LIMIT + 1].count()
            total, estimate = (COUNT_LIMIT, True) if n > COUNT_LIMIT else (n, False)
        else:
            total, estimate = RANK_LIMIT, True
    else:
        total, estimate = len(rows), False
    counts: dict[str, Counter] = {facet: Counter() for facet in _FACET_COLUMNS}
    for row in rows:
        for facet, value in zip(_FACET_COLUMNS, row[1:], strict=True):
            counts[facet][value] += 1
    return total, estimate, _facet_values(counts, filters), min_id


def _hits(entries: list[SearchEntry], query: ParsedQuery, folded: bool) -> list[Hit]:
    hits = []
    for entry in entries:
        url = {
            ObjectType.INCOMING: lambda e: reverse("web:incoming_detail", args=[e.object_id]),
            ObjectType.OUTGOING: lambda e: reverse("web:outgoing_detail", args=[e.object_id]),
            ObjectType.CASE: lambda e: reverse("web:case_detail", args=[e.object_id]),
            ObjectType.VERSION: lambda e: reverse("documents:detail", args=[e.document_id]),
        }[ObjectType(entry.object_type)](entry)
        hits.append(
            Hit(
                object_type=entry.object_type,
                object_id=entry.object_id,
                reference=entry.reference,
                title=entry.title,
                url=url,
                date=entry.date,
                fragment=highlight(entry.body, query, folded=folded) if query else mark_safe(""),
                score=getattr(entry, "score", None),
                type_label=str(ObjectType(entry.object_type).label),
            )
        )
    return hits


def _page(
    ordered: QuerySet[SearchEntry], offset: int, size: int, *, scored: bool
) -> list[SearchEntry]:
    """One page of `ordered`: first only the ids (and scores) in order, then those
    rows, so the engine sorts narrow rows and reads no text it does not show."""
    columns = ("id", "score") if scored else ("id",)
    rows = list(ordered.values_list(*columns)[offset : offset + size])
    found = SearchEntry.objects.in_bulk([row[0] for row in rows])
    entries = []
    for row in rows:
        entry = found.get(row[0])
        if entry is not None:
            if scored:
                entry.score = row[1]  # type: ignore[attr-defined]
            entries.append(entry)
    return entries


def search(
    person: Person,
    query: str,
    filters: SearchFilters | None = None,
    page: int = 1,
    *,
    page_size: int = PAGE_SIZE,
    audit: bool = True,
) -> SearchResults:
    """What `person` finds for `query`: exact look-ups first, then ranked full
    text (falling back to diacritics-insensitive matching when nothing matches
    exactly), filtered, paged and with facet counts; recorded in the audit trail."""
    query = query or ""
    if len(query) > MAX_QUERY_LENGTH:
        raise DomainError(
            _("Zapytanie jest za długie: najwyżej %(n)s znaków.") % {"n": MAX_QUERY_LENGTH},
            code="query_too_long",
            field="q",
        )
    filters = filters or SearchFilters()
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise DomainError(
            _("Data „od” jest późniejsza niż data „do”."), code="date_range", field="date_from"
        )
    page = max(1, min(int(page), MAX_PAGE))
    backend = get_backend()
    with backend.reading():
        scope = Scope.for_person(person)
        tokens = scope_tokens(scope)
        parsed = parse(query)
        exact = exact_lookup(person, scope, query) if query.strip() else []
        filtered = _apply_filters(SearchEntry.objects.all(), filters)
        folded = False
        ranked_newest = None
        if parsed:
            # Exact forms first; then diacritics folded; then folded stems as prefixes
            # (the folded stages unfolded into exact alternatives only when needed).
            stages: list[tuple[Callable[[], ParsedQuery], bool]] = [
                (lambda: parsed, False),
                (lambda: unfold(parsed), True),
            ]
            loose = loosen(parsed)
            if loose.terms != parsed.terms:
                stages.append((lambda: unfold(loose), True))
            for make_candidate, fold_forms in stages:
                candidate, folded = make_candidate(), fold_forms
                matched = backend.matching(filtered, candidate, tokens=tokens)
                total, estimate, facets, min_id = _count_and_facets(
                    matched, filters, backend.newest_first(matched)
                )
                if total:
                    break
            parsed = candidate
            ranked_newest = RANK_LIMIT if min_id is not None else None
            ordered = backend.ranked(filtered, parsed, tokens=tokens, min_id=min_id)
        elif filters:
            matched = backend.visible(filtered, tokens)
            total, estimate, facets, _min_id = _count_and_facets(
                matched, filters, matched.order_by("-id")
            )
            ordered = matched.order_by("-date", "-id")
        else:
            total, estimate, ordered = 0, False, filtered.none()
            facets = {f: [] for f in FACETS}
        offset = (page - 1) * page_size
        entries = _page(ordered, offset, page_size, scored=bool(parsed)) if total else []
        results = SearchResults(
            query=query,
            filters=filters,
            hits=_hits(entries, parsed, folded),
            total=total,
            total_is_estimate=estimate,
            page=page,
            page_size=page_size,
            facets=facets,
            exact=exact,
            fallback=folded and total > 0,
            ranked_newest=ranked_newest,
        )
    if audit:
        audit_record(
            actor=person,
            action="view",
            object_type="search.query",
            object_repr=query[:300],
            unit_id=getattr(person, "unit_id", None),
            details={
                "query": query,
                "filters": filters.as_dict(),
                "page": page,
                "total": total,
                "exact": [f"{h.object_type}:{h.object_id}" for h in exact],
            },
        )
    return results


# --- saved searches ----------------------------------------------------------------------------


def saved_searches(person: Person) -> QuerySet[SavedSearch]:
    return SavedSearch.objects.filter(person=person)


def saved_search_save(
    *, person: Person, name: str, query: str, filters: SearchFilters | None = None
) -> SavedSearch:
    """Save (or overwrite, under the same name) a search of one's own."""
    name = name.strip()
    if not name:
        raise DomainError(_("Podaj nazwę wyszukiwania."), code="name", field="name")
    if len(name) > 100:
        raise DomainError(_("Nazwa może mieć najwyżej 100 znaków."), code="name", field="name")
    if len(query) > MAX_QUERY_LENGTH:
        raise DomainError(
            _("Zapytanie jest za długie: najwyżej %(n)s znaków.") % {"n": MAX_QUERY_LENGTH},
            code="query_too_long",
            field="q",
        )
    saved, _created = SavedSearch.objects.update_or_create(
        person=person,
        name=name,
        defaults={"query": query, "filters": (filters or SearchFilters()).as_dict()},
    )
    return saved


def saved_search_delete(*, person: Person, saved_id: int) -> None:
    deleted, _detail = SavedSearch.objects.filter(person=person, pk=saved_id).delete()
    if not deleted:
        raise NotVisible(_("Nie ma takiego zapisanego wyszukiwania."))


__all__ = [
    "Hit",
    "SearchFilters",
    "SearchResults",
    "saved_search_delete",
    "saved_search_save",
    "saved_searches",
    "search",
]
