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
from garnizon.search.services import (
    MAX_PAGE,
    MAX_QUERY_LENGTH,
    SearchFilters,
    saved_search_delete,
    saved_search_save,
    saved_searches,
    search,
)


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


def _filters(q: dict) -> SearchFilters:
    return SearchFilters(
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
        results = search(request.user, q.get("q", ""), _filters(q), q["page"])
        return Response(SearchResultsSerializer(results).data)


# --- saved searches ----------------------------------------------------------------------------


class SavedSearchSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    q = serializers.CharField(source="query", allow_blank=True)
    filters = serializers.DictField(
        help_text=_(
            "Filtry wyszukiwania (te same nazwy co w SearchFilters: object_type, unit_id…)."
        )
    )
    created_at = serializers.DateTimeField()


class SavedSearchCreateSerializer(SearchQuerySerializer):
    name = serializers.CharField(max_length=100, help_text=_("Ta sama nazwa nadpisuje zapisane."))
    page = None  # type: ignore[assignment]


class SavedSearchPageSerializer(serializers.Serializer):
    page = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE, default=1)


def _own_saved(request: Request, saved_id: int):
    from garnizon.common.errors import NotVisible

    saved = saved_searches(request.user).filter(pk=saved_id).first()
    if saved is None:
        raise NotVisible(_("Nie ma takiego zapisanego wyszukiwania."))
    return saved


class SavedSearchListView(APIView):
    """The caller's own saved searches; POST saves one (the same name overwrites)."""

    @extend_schema(
        tags=["search"],
        summary="Zapisane wyszukiwania",
        responses={200: SavedSearchSerializer(many=True), **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(SavedSearchSerializer(saved_searches(request.user), many=True).data)

    @extend_schema(
        tags=["search"],
        summary="Zapisz wyszukiwanie",
        request=SavedSearchCreateSerializer,
        responses={
            201: SavedSearchSerializer,
            200: SavedSearchSerializer,
            **error_responses(400, 401),
        },
    )
    def post(self, request: Request) -> Response:
        q = validated(SavedSearchCreateSerializer, request.data, request)
        existed = saved_searches(request.user).filter(name=q["name"].strip()).exists()
        saved = saved_search_save(
            person=request.user, name=q["name"], query=q.get("q", ""), filters=_filters(q)
        )
        return Response(SavedSearchSerializer(saved).data, status=200 if existed else 201)


class SavedSearchDetailView(APIView):
    @extend_schema(
        tags=["search"],
        summary="Zapisane wyszukiwanie",
        responses={200: SavedSearchSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, saved_id: int) -> Response:
        return Response(SavedSearchSerializer(_own_saved(request, saved_id)).data)

    @extend_schema(
        tags=["search"],
        summary="Usuń zapisane wyszukiwanie",
        responses={204: None, **error_responses(401, 404)},
    )
    def delete(self, request: Request, saved_id: int) -> Response:
        saved_search_delete(person=request.user, saved_id=saved_id)
        return Response(status=204)


class SavedSearchResultsView(APIView):
    """Run a saved search now: the results the caller may see today."""

    @extend_schema(
        tags=["search"],
        summary="Wyniki zapisanego wyszukiwania",
        parameters=[SavedSearchPageSerializer],
        responses={200: SearchResultsSerializer, **error_responses(400, 401, 404)},
    )
    def get(self, request: Request, saved_id: int) -> Response:
        saved = _own_saved(request, saved_id)
        page = validated(SavedSearchPageSerializer, request.query_params, request)["page"]
        filters = SearchFilters.from_dict(saved.filters)
        results = search(request.user, saved.query, filters, page)
        return Response(SearchResultsSerializer(results).data)
