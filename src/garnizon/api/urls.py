"""The REST API under /api/ (guide: docs/api.md; schema: /api/schema/, browsable: /api/docs/)."""

from django.contrib.auth.decorators import login_required
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import SimpleRouter

from garnizon.api import documents, views
from garnizon.search import api as search_api

app_name = "api"

router = SimpleRouter(use_regex_path=False)
router.register("incoming", views.IncomingViewSet, basename="incoming")
router.register("outgoing", views.OutgoingViewSet, basename="outgoing")
router.register("cases", views.CaseViewSet, basename="case")
router.register("correspondents", views.CorrespondentViewSet, basename="correspondent")

urlpatterns = [
    path("auth/token/", views.AuthTokenView.as_view(), name="auth-token"),
    path("case-list/", views.CaseListView.as_view(), name="case-list"),
    *[
        path(
            f"{target}/<int:pk>/documents/",
            documents.ObjectDocumentsView.as_view(target=target),
            name=f"{target}-documents",
        )
        for target in documents.TARGETS
    ],
    path("documents/<int:pk>/", documents.DocumentView.as_view(), name="document-detail"),
    path(
        "documents/<int:pk>/versions/",
        documents.DocumentVersionsView.as_view(),
        name="document-versions",
    ),
    path(
        "document-versions/<int:pk>/download/",
        documents.DocumentVersionDownloadView.as_view(),
        name="document-version-download",
    ),
    path("search/", search_api.SearchView.as_view(), name="search"),
    path("search/saved/", search_api.SavedSearchListView.as_view(), name="saved-searches"),
    path(
        "search/saved/<int:saved_id>/",
        search_api.SavedSearchDetailView.as_view(),
        name="saved-search",
    ),
    path(
        "search/saved/<int:saved_id>/results/",
        search_api.SavedSearchResultsView.as_view(),
        name="saved-search-results",
    ),
    *router.urls,
    # The schema describes an internal system: only for those who may use it.
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]),
        name="schema",
    ),
    # A page for people in a browser: without a session, the log-in form first.
    path(
        "docs/",
        login_required(SpectacularSwaggerView.as_view(url_name="api:schema")),
        name="docs",
    ),
    re_path(r"^", views.UnknownPathView.as_view(), name="unknown"),
]
