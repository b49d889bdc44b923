"""Keyset paging for API lists: `?cursor=<id>&limit=<n>` in, `{"results", "next_cursor"}` out.

The cursor is the id of the last row of the previous page (the selectors page
newest first with `garnizon.common.paging.keyset_page`), so a page costs the
same wherever it is, and rows added meanwhile never shift a page.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from garnizon.common.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page

# The largest id both databases store (bigint); no row has a bigger one.
MAX_ID = 2**63 - 1


class PageQuerySerializer(serializers.Serializer):
    cursor = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text=_("Wartość next_cursor z poprzedniej strony; bez niego pierwsza strona."),
    )
    limit = serializers.IntegerField(
        required=False,
        default=DEFAULT_PAGE_SIZE,
        min_value=1,
        max_value=MAX_PAGE_SIZE,
        help_text=_("Liczba wierszy na stronie."),
    )


def paged(name: str, item: serializers.Serializer) -> serializers.Serializer:
    """The schema of one page of `item`s, as component `name`."""
    return inline_serializer(
        name=name,
        fields={
            "results": item.__class__(many=True),
            "next_cursor": serializers.IntegerField(
                allow_null=True,
                help_text=_("Kursor następnej strony; null na ostatniej stronie."),
            ),
        },
    )


def page_response(
    page: Page[Any], serializer_class: type[serializers.Serializer], context: dict[str, Any]
) -> Response:
    rows = serializer_class(page.rows, many=True, context=context).data
    return Response({"results": rows, "next_cursor": page.next_cursor})
