"""Keyset paging: pages are fetched by "after this id", so page 1,000 costs what page 1 does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass
class Page[M: Model]:
    rows: list[M]
    next_cursor: int | None
    page_size: int


def keyset_page[M: Model](
    queryset: QuerySet[M], *, before_id: int | None = None, limit: int = DEFAULT_PAGE_SIZE
) -> Page[M]:
    """Newest first; `before_id` is the cursor returned with the previous page."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    if before_id is not None:
        queryset = queryset.filter(pk__lt=before_id)
    rows = list(queryset.order_by("-pk")[: limit + 1])
    next_cursor = rows[limit - 1].pk if len(rows) > limit else None
    return Page(rows=rows[:limit], next_cursor=next_cursor, page_size=limit)
