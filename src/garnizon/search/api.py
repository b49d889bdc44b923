"""`GET /api/search/`: the same search as the staff page, as JSON."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from garnizon.api.views import error_responses, validated
from garnizon.search.models import ObjectType
from garnizon.search.services import MAX_PAGE, MAX_QUERY_LENGTH, SearchFilters, search


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=MAX_QUERY_LENGTH,
        help_text=_(
            'Słowa w dowolnej odmianie, "fraza", prefiks*, znak sprawy, numer z rejestru, '
            "adres do e-Doręczeń lub telefon."
        ),
    )
    type = serializers.ChoiceField(choices=ObjectType.choices, required=False)
    unit = serializers.IntegerField(required=False, min_value=1)
    cell = serializers.IntegerField(required=False, min_value=1)
    classification = serializers.IntegerField(required=False, min_value=1)
    channel = serializers.CharField(required=False, max_length=20)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    state = serializers.CharField(required=False, max_length=20)
    kind = serializers.CharField(required=False, max_length=40)
    page = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE, default=1)


class SearchHitSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ObjectType.choices, source="object_type")
    id = serializers.IntegerField(source="object_id")
    reference = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField(help_text=_("Strona obiektu w interfejsie."))
    date = serializers.DateField(allow_null=True)
    fragment = serializers.CharField(
        help_text=_("Fragment tekstu (HTML: tekst escapowany, trafienia w <mark>).")
    )


class FacetValueSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField()
    selected = serializers.BooleanField()


class FacetsSerializer(serializers.Serializer):
    object_type = FacetValueSerializer(many=True)
    unit = FacetValueSerializer(many=True)
    cell = FacetValueSerializer(many=True)
    classification = FacetValueSerializer(many=True)
    channel = FacetValueSerializer(many=True)
    state = FacetValueSerializer(many=True)
    kind = FacetValueSerializer(many=True)


class SearchResultsSerializer(serializers.Serializer):
    query = serializers.CharField()
    total = serializers.IntegerField()
    total_is_estimate = serializers.BooleanField(
        help_text=_("Prawda, gdy wyników jest więcej niż `total` (liczba szacunkowa).")
    )
    fallback = serializers.BooleanField(
        help_text=_("Prawda, gdy wyniki znaleziono bez rozróżniania polskich znaków.")
    )
    ranked_newest = serializers.IntegerField(
        allow_null=True,
        help_text=_(
            "Przy bardzo wielu wynikach: ranking trafności obejmuje tylu najnowszych; inaczej null."
        ),
    )
    page = serializers.IntegerField()
    pages = serializers.IntegerField()
    exact = SearchHitSerializer(many=True)
    results = SearchHitSerializer(many=True, source="hits")
    facets = FacetsSerializer()


class SearchView(APIView):
    """Full-text search over the registers, cases and documents the caller may open."""

    @extend_schema(
        tags=["search"],
        summary="Wyszukiwanie pełnotekstowe",
        parameters=[SearchQuerySerializer],
        responses={200: SearchResultsSerializer, **error_responses(400, 401)},
    )
    def get(self, request: Request) -> Response:
        q = validated(SearchQuerySerializer, request.query_params, request)
        filters = SearchFilters(
            object_type=q.get("type", ""),
            unit_id=q.get("unit"),
            cell_id=q.get("cell"),
            classification_id=q.get("classification"),
            channel=q.get("channel", ""),
            date_from=q.get("date_from"),
            date_to=q.get("date_to"),
            state=q.get("state", ""),
            kind=q.get("kind", ""),
        )
        results = search(request.user, q.get("q", ""), filters, q["page"])
        return Response(SearchResultsSerializer(results).data)
