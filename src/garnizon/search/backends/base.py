"""The interface of a full-text backend.

A backend keeps the analysed text of each `SearchEntry` (by its id) and turns
a parsed query plus the person's access tokens into one condition and a score
on a `SearchEntry` queryset, so that filters, counts and facets stay ordinary
SQL around it and the index itself applies need-to-know.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from django.db.models import QuerySet

from garnizon.search.analysis import Analysed
from garnizon.search.query import ParsedQuery

# (object id, the entry's columns with `body`, the analysed text) of one object.
BuildRow = tuple[int, dict[str, Any], Analysed]


class SearchBackend(abc.ABC):
    vendor: str = ""

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Around the statements of one search (PostgreSQL tunes the transaction)."""
        yield

    @abc.abstractmethod
    def write(self, rows: Sequence[tuple[int, Analysed, str]]) -> None:
        """Replace the indexed text and access tokens of these entries (insert or update)."""

    @abc.abstractmethod
    def delete(self, entry_ids: Sequence[int]) -> None:
        """Drop the indexed text of these entries."""

    @abc.abstractmethod
    def visible(self, qs: QuerySet, tokens: Sequence[str]) -> QuerySet:
        """`qs` narrowed to entries holding one of the access `tokens` (no text)."""

    @abc.abstractmethod
    def matching(self, qs: QuerySet, query: ParsedQuery, *, tokens: Sequence[str]) -> QuerySet:
        """`qs` narrowed to visible entries matching `query` (its terms' exact forms,
        or the alternatives of a query unfolded by `garnizon.search.folding`)."""

    @abc.abstractmethod
    def ranked(
        self,
        qs: QuerySet,
        query: ParsedQuery,
        *,
        tokens: Sequence[str],
        min_id: int | None = None,
    ) -> QuerySet:
        """`matching(...)` with a `score` column, best first (only ids >= `min_id`)."""

    @abc.abstractmethod
    def newest_first(self, qs: QuerySet) -> QuerySet:
        """`matching(...)`'s queryset ordered newest (highest id) first, cheaply."""

    @abc.abstractmethod
    def raw_top(self, query: ParsedQuery, *, limit: int) -> list[int]:
        """The bare engine: best entry ids without permissions or filters (benchmarks)."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Drop everything indexed (before a full rebuild)."""

    # --- a full rebuild into fresh tables, swapped in at the end (search.rebuild) ---
    #
    # `rows` are (object_id, fields, analysed): the entry's columns
    # (indexing.ENTRY_FIELDS, body included) and its analysed text.

    @abc.abstractmethod
    def build_begin(self) -> None:
        """Create the empty tables of a new index (dropping those of an unfinished
        rebuild) and empty the change log; from now on changes are logged."""

    @abc.abstractmethod
    def build_write(self, object_type: str, rows: Sequence[BuildRow]) -> None:
        """Add these objects' entries to the new index (each object once)."""

    @abc.abstractmethod
    def build_forget(self, object_type: str, object_ids: Sequence[int]) -> None:
        """Remove these objects' entries from the new index (before writing them again)."""

    @abc.abstractmethod
    def build_finish(self, workers: int = 1) -> None:
        """Make the loaded index ready to serve (indexes, merges); outside the swap."""

    @abc.abstractmethod
    def build_lock(self) -> None:
        """In the swap's transaction, first: hold off changes until the swap commits."""

    @abc.abstractmethod
    def build_swap(self) -> None:
        """In the swap's transaction, last: put the new index in place of the old one."""

    @abc.abstractmethod
    def log_changes(self, object_type: str, object_ids: Sequence[int]) -> None:
        """Record these objects in the change log if a rebuild is running (the first
        statement of every transaction that writes the index in use)."""
