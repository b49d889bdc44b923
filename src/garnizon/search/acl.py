"""Need-to-know denormalised into the index as access tokens.

Every entry carries the tokens of the ways it can be seen (`SearchEntry.acl`,
and the same tokens inside the full-text index: a column of the FTS5 table, or
lexemes of the tsvectors on PostgreSQL); a person's scope becomes the set of
tokens they hold, and an entry is visible when it shares one with them. The
database intersects that with the text match from one index, so the cost
follows what the person may see, not the number of matches in the garrison.

The tokens mirror the registers' own conditions exactly
(`incoming_visibility_q`, `outgoing_visible_to`, `case_visibility_q`,
`document_visibility_q`):

- ``p<person>``: named on the object (incoming: personal assignee, registrar,
  current personal assignment; case: handler, current personal assignment;
  outgoing: registrar; unattached document: its creator), restricted or not;
- ``c<cell>``: by position in a cell, only when not restricted (incoming: the
  assigned cell; case: its cell and the cells of its current assignments); a
  scope holds the tokens of `Scope.visible_cells()`, so a cell head's sub-cells
  and a commander's unit are resolved at query time from the cell tree;
- ``u<unit>``: the unit's register, when not restricted (incoming; outgoing
  outside a restricted case); held for `Scope.register_unit_ids()`;
- ``r``: any unit's register (the same objects as ``u``), held by garrison-wide
  register roles, which would otherwise need every unit's token;
- ``o``: any unrestricted case, held by garrison-wide case roles;
- ``k<case>``: the case itself (case, its outgoing items, their and its
  documents); held for the cases shared with the person or their cells *today*,
  looked up at query time, so a share's end date needs no reindexing.

An outgoing item carries its case's tokens, a document version the tokens of
the item(s) and case its document belongs to. Whatever changes a token
(assignment, restriction, a case's cell or handler, an item's case, a
document's owner) re-indexes the affected entries through `signals`.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Q
from django.utils import timezone

from garnizon.org.access import UNIT_CASE_ROLES, Scope

REGISTER_ANY = "r"
CASE_ANY = "o"


def scope_tokens(scope: Scope) -> list[str]:
    """The access tokens `scope` holds (see the module's docstring)."""
    from garnizon.cases.models import CaseShare
    from garnizon.org.models import Cell

    tokens = {f"p{pid}" for pid in scope.person_ids}
    register_units = scope.register_unit_ids()
    if register_units is None:
        tokens.add(REGISTER_ANY)
    else:
        tokens |= {f"u{uid}" for uid in register_units}
    if scope.is_garrison_wide(UNIT_CASE_ROLES):
        # Every cell is visible: unrestricted cases by "o", unrestricted items by
        # "r" (these roles are also garrison-wide register roles).
        tokens.add(CASE_ANY)
        if register_units is not None:  # not reachable with today's roles; kept exact
            tokens |= {f"c{cid}" for cid in Cell.objects.values_list("pk", flat=True)}
    elif scope.grants:
        tokens |= {f"c{cid}" for cid in scope.visible_cells().values_list("pk", flat=True)}
    today = timezone.localdate()
    share_q = Q(person_id__in=scope.person_ids)
    if member_cells := scope.member_cell_ids():
        share_q |= Q(cell_id__in=member_cells)
    shared = CaseShare.objects.filter(share_q).filter(
        Q(valid_to__isnull=True) | Q(valid_to__gte=today)
    )
    tokens |= {f"k{cid}" for cid in shared.values_list("case_id", flat=True)}
    return sorted(tokens)


def _people(*ids: int | None) -> set[str]:
    return {f"p{i}" for i in ids if i is not None}


def incoming_tokens(ids: list[int]) -> dict[int, set[str]]:
    from garnizon.cases.models import Assignment
    from garnizon.registry.models import IncomingItem

    out: dict[int, set[str]] = {}
    rows = IncomingItem.objects.filter(pk__in=ids).values_list(
        "pk",
        "is_restricted",
        "assigned_cell_id",
        "unit_id",
        "assigned_person_id",
        "registered_by_id",
    )
    for pk, restricted, cell_id, unit_id, assignee_id, registrar_id in rows:
        tokens = _people(assignee_id, registrar_id)
        if not restricted:
            tokens |= {REGISTER_ANY, f"u{unit_id}"}
            if cell_id is not None:
                tokens.add(f"c{cell_id}")
        out[pk] = tokens
    assigned = Assignment.objects.filter(
        incoming_item_id__in=list(out), is_current=True, to_person__isnull=False
    ).values_list("incoming_item_id", "to_person_id")
    for item_id, person_id in assigned:
        out[item_id].add(f"p{person_id}")
    return out


def case_tokens(ids: list[int]) -> dict[int, set[str]]:
    from garnizon.cases.models import Assignment, Case

    out: dict[int, set[str]] = {}
    restricted: dict[int, bool] = {}
    rows = Case.objects.filter(pk__in=ids).values_list(
        "pk", "is_restricted", "cell_id", "handler_id"
    )
    for pk, is_restricted, cell_id, handler_id in rows:
        tokens = _people(handler_id) | {f"k{pk}"}
        if not is_restricted:
            tokens |= {CASE_ANY, f"c{cell_id}"}
        out[pk] = tokens
        restricted[pk] = is_restricted
    assigned = Assignment.objects.filter(case_id__in=list(out), is_current=True).values_list(
        "case_id", "to_person_id", "to_cell_id"
    )
    for case_id, person_id, cell_id in assigned:
        out[case_id] |= _people(person_id)
        if not restricted[case_id]:
            out[case_id].add(f"c{cell_id}")
    return out


def outgoing_tokens(ids: list[int]) -> dict[int, set[str]]:
    from garnizon.registry.models import OutgoingItem

    rows = list(
        OutgoingItem.objects.filter(pk__in=ids).values_list(
            "pk", "unit_id", "registered_by_id", "case_id", "case__is_restricted"
        )
    )
    cases = case_tokens([r[3] for r in rows if r[3] is not None])
    out: dict[int, set[str]] = {}
    for pk, unit_id, registrar_id, case_id, case_restricted in rows:
        tokens = _people(registrar_id)
        if case_id is None or not case_restricted:
            tokens |= {REGISTER_ANY, f"u{unit_id}"}
        if case_id is not None:
            tokens |= cases.get(case_id, set())
        out[pk] = tokens
    return out


def document_tokens(
    documents: list[tuple[int, int | None, int | None, int | None, int]],
) -> dict[int, set[str]]:
    """Tokens per document from (id, incoming_item_id, outgoing_item_id, case_id, created_by_id)."""
    incoming = incoming_tokens([d[1] for d in documents if d[1] is not None])
    outgoing = outgoing_tokens([d[2] for d in documents if d[2] is not None])
    cases = case_tokens([d[3] for d in documents if d[3] is not None])
    out: dict[int, set[str]] = defaultdict(set)
    for pk, incoming_id, outgoing_id, case_id, creator_id in documents:
        tokens: set[str] = set()
        if incoming_id is not None:
            tokens |= incoming.get(incoming_id, set())
        if outgoing_id is not None:
            tokens |= outgoing.get(outgoing_id, set())
        if case_id is not None:
            tokens |= cases.get(case_id, set())
        if incoming_id is None and outgoing_id is None and case_id is None:
            tokens |= _people(creator_id)
        out[pk] = tokens
    return out


def as_text(tokens: set[str]) -> str:
    return " ".join(sorted(tokens))


__all__ = [
    "as_text",
    "case_tokens",
    "document_tokens",
    "incoming_tokens",
    "outgoing_tokens",
    "scope_tokens",
]
