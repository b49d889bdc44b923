"""The staff search page: one box, results with fragments, facets and saved searches."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from garnizon.common.errors import DomainError
from garnizon.search.forms import FACET_PARAMS, FILTER_PARAMS, filters_from, page_from
from garnizon.search.models import ObjectType
from garnizon.search.services import (
    FACETS,
    saved_search_delete,
    saved_search_save,
    saved_searches,
    search,
)

FACET_TITLES = {
    "object_type": "Rodzaj",
    "unit": "Jednostka",
    "cell": "Komórka",
    "classification": "Klasa JRWA",
    "channel": "Kanał",
    "state": "Stan sprawy",
    "kind": "Rodzaj sprawy lub dokumentu",
}


@login_required
def search_page(request: HttpRequest) -> HttpResponse:
    """GET: search; POST: save the current search (`save`) or delete one (`delete`)."""
    if request.method == "POST":
        return _saved_post(request)
    params = request.GET
    query = params.get("q", "")
    error = ""
    results = None
    try:
        filters = filters_from(params)
        if query.strip() or filters:
            results = search(request.user, query, filters, page_from(params))
    except DomainError as exc:
        error = str(exc.message)
        filters = None
    if results and results.redirect_url and params.get("exact") != "0" and not results.filters:
        return redirect(results.redirect_url)
    current = {k: params[k] for k in ("q", *FILTER_PARAMS) if params.get(k)}
    facets = []
    if results:
        for name in FACETS:
            values = []
            for value in results.facets[name]:
                param = FACET_PARAMS[name]
                toggled = dict(current)
                if value.selected:
                    toggled.pop(param, None)
                else:
                    toggled[param] = value.value
                values.append((value, "?" + urlencode(toggled)))
            if values:
                facets.append((_(FACET_TITLES[name]), values))
    pages = []
    if results and results.pages > 1:
        for number in range(1, results.pages + 1):
            pages.append((number, "?" + urlencode({**current, "page": number})))
    return render(
        request,
        "search/search.html",
        {
            "q": query,
            "results": results,
            "error": error,
            "facets": facets,
            "pages": pages,
            "start": (results.page - 1) * results.page_size + 1 if results else 1,
            "current": current,
            "current_query": urlencode(current),
            "types": ObjectType.choices,
            "saved": saved_searches(request.user),
        },
    )


def _saved_post(request: HttpRequest) -> HttpResponse:
    data = request.POST
    try:
        if "delete" in data:
            saved_search_delete(person=request.user, saved_id=int(data["delete"]))
            messages.success(request, _("Usunięto zapisane wyszukiwanie."))
            return redirect("web:search")
        filters = filters_from(data)
        saved = saved_search_save(
            person=request.user, name=data.get("name", ""), query=data.get("q", ""), filters=filters
        )
        messages.success(request, _("Zapisano wyszukiwanie „%(n)s”.") % {"n": saved.name})
    except (DomainError, ValueError) as exc:
        messages.error(request, str(getattr(exc, "message", _("Nieprawidłowe dane."))))
    current = {k: data[k] for k in ("q", *FILTER_PARAMS) if data.get(k)}
    return redirect(f"{request.path}?{urlencode({**current, 'exact': '0'})}")
