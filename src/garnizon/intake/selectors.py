"""Reading intake items: the intake list, the clerk's matching queue, and match suggestions.

Everything is limited to the units a person may register in (the same rule as
`registry.services.can_register_in`), inside the query.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from garnizon.common.paging import DEFAULT_PAGE_SIZE, Page, keyset_page
from garnizon.intake.models import IntakeItem, IntakeState
from garnizon.org.access import Scope
from garnizon.registry.models import IncomingItem

# --- whose items ------------------------------------------------------------------------------


def registering_unit_ids(scope: Scope) -> set[int] | None:
    """Units the person may register in; None means every unit (a garrison-wide post).

    The one rule for registering, `Scope.registering_unit_ids` (org/access.py).
    """
    return scope.registering_unit_ids()


def intake_items(scope: Scope, *, unit_id: int | None = None) -> QuerySet[IntakeItem]:
    """Intake items of the units the person may register in (optionally one unit)."""
    units = registering_unit_ids(scope)
    items = IntakeItem.objects.all()
    if units is not None:
        items = items.filter(unit_id__in=units)
    if unit_id is not None:
        items = items.filter(unit_id=unit_id)
    return items


def intake_items_page(
    scope: Scope,
    state: str | None = None,
    *,
    unit_id: int | None = None,
    before_id: int | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> Page[IntakeItem]:
    """One page of the intake list, newest first (keyset paging by id)."""
    items = intake_items(scope, unit_id=unit_id).select_related(
        "unit", "incoming_item", "document", "requested_by", "parent"
    )
    if state:
        items = items.filter(state=state)
    return keyset_page(items, before_id=before_id, limit=limit)


@dataclass(frozen=True)
class Suggestion:
    entry: IncomingItem
    score: float
    reason: str

    def __getitem__(self, key: str) -> Any:  # templates and callers may use s["entry"]
        return getattr(self, key)


def matching_queue(
    scope: Scope,
    unit_id: int | None = None,
    *,
    before_id: int | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
) -> list[IntakeItem]:
    """Scans waiting for a clerk's match, newest first, each with `resolved_suggestions`.

    `resolved_suggestions` is a list of `Suggestion` (the entry, score and reason),
    best first; entries the person may not see (restricted ones) are left out.
    Page on with `before_id` = the last item's id.
    """
    items = intake_items(scope, unit_id=unit_id).filter(state=IntakeState.AWAITING_MATCH)
    page = keyset_page(items.select_related("unit", "parent"), before_id=before_id, limit=limit)
    resolve_suggestions(scope, page.rows)
    return page.rows


def resolve_suggestions(scope: Scope, items: list[IntakeItem]) -> None:
    """Set `item.resolved_suggestions` (a list of `Suggestion`, best first) on each item,
    in one query; entries the person may not see and entries of another unit are left out."""
    from garnizon.registry.selectors import incoming_visibility_q

    wanted = {
        s.get("incoming_item")
        for item in items
        for s in item.suggestions or []
        if isinstance(s, dict)
    }
    entries = IncomingItem.objects.filter(
        incoming_visibility_q(scope), pk__in=[i for i in wanted if isinstance(i, int)]
    ).in_bulk()
    for item in items:
        resolved = []
        for s in item.suggestions or []:
            entry = entries.get(s.get("incoming_item")) if isinstance(s, dict) else None
            if entry is not None and entry.unit_id == item.unit_id:
                resolved.append(
                    Suggestion(entry, float(s.get("score") or 0), str(s.get("reason") or ""))
                )
        item.resolved_suggestions = resolved


# --- suggestions -------------------------------------------------------------------------------

SUGGESTION_DAYS = 30
SUGGESTION_LIMIT = 5
# The newest entries of the period that are compared with the page text.
MAX_CANDIDATES = 1000

# Evidence weights (a score is their sum, at most 1).
W_LABEL = 0.6  # a barcode label of the entry was read on the scan
W_NUMBER = 0.6  # the registration number is in the page text
W_REFERENCE = 0.35  # the letter's sign (znak pisma)
W_SENDER = 0.25  # the sender's name, in proportion to its words found
W_SUBJECT = 0.2  # the subject's words, in proportion
W_DATE = 0.1  # the letter's date
W_NO_DOCUMENT = 0.05  # the entry has no document yet (the scan is probably its letter)

# Polish inflects: a word of the entry is found in the text when a text word starts
# with the entry word less its last three letters, keeping at least four
# ("skarga" ~ "skargę", "Kowalski" ~ "Kowalskiego", "wniosek" ~ "wniosku", but
# "Kowalczyk" !~ "Kowalski"). Words of up to four letters must be equal.
MIN_STEM = 4
STEM_CUT = 3
_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = {
    "oraz",
    "dotyczy",
    "dotyczące",
    "dotyczący",
    "sprawie",
    "sprawa",
    "pismo",
    "pisma",
    "przesyłka",
    "przesyłki",
    "który",
    "która",
    "które",
    "przez",
    "jest",
}
_MONTHS = [
    "stycznia",
    "lutego",
    "marca",
    "kwietnia",
    "maja",
    "czerwca",
    "lipca",
    "sierpnia",
    "września",
    "października",
    "listopada",
    "grudnia",
]
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})\s?[./-]\s?(\d{1,2})\s?[./-]\s?(\d{4})\b")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_WORD_DATE = re.compile(r"\b(\d{1,2})\s+(" + "|".join(_MONTHS) + r")\s+(\d{4})\b")


@dataclass
class _Evidence:
    text: str

    def __post_init__(self) -> None:
        lowered = unicodedata.normalize("NFC", self.text).lower()
        self.compact = re.sub(r"\s+", "", lowered)
        self.words = set(_WORD.findall(lowered))
        self.prefixes = {w[:k] for w in self.words for k in range(MIN_STEM, len(w) + 1)}
        self.dates = _dates(lowered)


def _stem(word: str) -> str:
    return word if len(word) <= MIN_STEM else word[: max(MIN_STEM, len(word) - STEM_CUT)]


def _found(word: str, evidence: _Evidence) -> bool:
    stem = _stem(word)
    return stem in evidence.words if len(stem) < MIN_STEM else stem in evidence.prefixes


def _tokens(text: str, *, minimum: int) -> list[str]:
    words = _WORD.findall(unicodedata.normalize("NFC", text).lower())
    seen: dict[str, None] = {}
    for word in words:
        if len(word) >= minimum and not word.isdigit() and word not in _STOPWORDS:
            seen.setdefault(word)
    return list(seen)


def _dates(text: str) -> set[datetime.date]:
    found: set[datetime.date] = set()
    candidates = [(int(y), int(m), int(d)) for d, m, y in _NUMERIC_DATE.findall(text)]
    candidates += [(int(y), int(m), int(d)) for y, m, d in _ISO_DATE.findall(text)]
    candidates += [
        (int(y), _MONTHS.index(month) + 1, int(d)) for d, month, y in _WORD_DATE.findall(text)
    ]
    for year, month, day in candidates:
        try:
            found.add(datetime.date(year, month, day))
        except ValueError:
            continue
    return found


def score_entry(
    entry: IncomingItem, evidence: _Evidence, *, labelled: bool = False, has_document: bool = False
) -> tuple[float, list[str]]:
    """How well the page text fits `entry` (0..1) and the reasons, in Polish."""
    score, reasons = 0.0, []
    if labelled:
        score += W_LABEL
        reasons.append(_("etykieta tej przesyłki na skanie"))
    number = re.sub(r"\s+", "", entry.registration_number.lower())
    if number and number in evidence.compact:
        score += W_NUMBER
        reasons.append(_("numer %(n)s w treści") % {"n": entry.registration_number})
    reference = re.sub(r"\s+", "", entry.letter_reference.lower())
    if len(reference) >= 4 and reference in evidence.compact:
        score += W_REFERENCE
        reasons.append(_("znak pisma %(sign)s") % {"sign": entry.letter_reference})
    sender = _tokens(entry.sender_name, minimum=3)
    if sender:
        hits = [w for w in sender if _found(w, evidence)]
        if hits:
            score += W_SENDER * len(hits) / len(sender)
            reasons.append(_("nadawca: %(name)s") % {"name": entry.sender_name})
    subject = _tokens(entry.subject, minimum=4)
    if subject:
        hits = [w for w in subject if _found(w, evidence)]
        if hits:
            score += W_SUBJECT * len(hits) / len(subject)
            reasons.append(
                _("temat (słowa: %(hit)s z %(all)s)") % {"hit": len(hits), "all": len(subject)}
            )
    if entry.letter_date is not None and entry.letter_date in evidence.dates:
        score += W_DATE
        reasons.append(_("data pisma %(d)s") % {"d": entry.letter_date.strftime("%d.%m.%Y")})
    if score > 0 and not has_document:
        score += W_NO_DOCUMENT
        reasons.append(_("przesyłka nie ma jeszcze dokumentu"))
    return min(score, 1.0), reasons


def suggest_entries(
    *,
    unit_id: int,
    text: str,
    labelled: Iterable[int] = (),
    days: int = SUGGESTION_DAYS,
    limit: int = SUGGESTION_LIMIT,
) -> list[dict[str, Any]]:
    """Likely register entries for a scan: `[{"incoming_item", "score", "reason"}]`, best first.

    Candidates are the unit's entries received in the last `days` days (the newest
    `MAX_CANDIDATES`, restricted ones left out) and those whose labels were read.
    Each is scored by the evidence in the scan's text (`score_entry`); entries with no
    evidence fill the remaining places when they have no document yet, newest first
    ("registered recently, still waiting for its scan").
    """
    from garnizon.documents.models import Document

    labelled = set(labelled)
    since = timezone.now() - datetime.timedelta(days=days)
    candidates = list(
        IncomingItem.objects.filter(
            Q(received_at__gte=since, is_restricted=False) | Q(pk__in=labelled), unit_id=unit_id
        ).order_by("-id")[:MAX_CANDIDATES]
    )
    with_document = set(
        Document.objects.filter(incoming_item_id__in=[c.pk for c in candidates]).values_list(
            "incoming_item_id", flat=True
        )
    )
    evidence = _Evidence(text or "")
    scored = []
    for entry in candidates:
        score, reasons = score_entry(
            entry,
            evidence,
            labelled=entry.pk in labelled,
            has_document=entry.pk in with_document,
        )
        scored.append((score, entry.pk in with_document, entry, reasons))
    scored.sort(key=lambda row: (-row[0], row[1], -row[2].pk))
    found = [
        {"incoming_item": entry.pk, "score": round(score, 2), "reason": "; ".join(reasons)}
        for score, _doc, entry, reasons in scored
        if score > 0
    ][:limit]
    if len(found) < limit:
        for score, has_document, entry, _reasons in scored:
            if len(found) >= limit:
                break
            if score == 0 and not has_document:
                found.append(
                    {
                        "incoming_item": entry.pk,
                        "score": 0.0,
                        "reason": _("zarejestrowana niedawno, jeszcze bez dokumentu"),
                    }
                )
    return found
