"""Citizens: find the neighbourhood officer; map images. Staff: keep officers, threat reports.

Thin views: the rules live in `services`, `selectors` and `portal.threats`.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from garnizon.audit.services import audit_record
from garnizon.common.errors import DomainError, NotVisible
from garnizon.documents.blobstore import get_blob_store
from garnizon.portal import geo
from garnizon.portal.models import ThreatReport
from garnizon.portal.officers import selectors, services
from garnizon.portal.officers.forms import FinderForm, OfficerForm, ThreatStatusForm
from garnizon.portal.officers.mapwidget import OVERVIEW, ZOOM, click, map_context
from garnizon.portal.officers.models import NeighbourhoodOfficer
from garnizon.portal.threats import (
    threat_report_get,
    threat_reports_visible_to,
    threat_status_set,
    threat_unit_ids,
)

# --- citizens -------------------------------------------------------------------------------


@require_GET
def find(request: HttpRequest) -> HttpResponse:
    """Find by address (town, street, number) or by clicking the map; GET only, no session."""
    form = FinderForm(request.GET or None)
    point, level = _point_from(request)
    matches: list[selectors.Match] | None = None
    searched_by = ""
    errors: list[tuple[str, str]] = []
    if click(request.GET, OVERVIEW) or click(request.GET, ZOOM):
        if point is not None and not geo.in_voivodeship(point):
            errors.append(("id_mapa", _("To miejsce leży poza województwem lubelskim.")))
            point = None
        elif point is not None:
            matches = selectors.officers_for_point(point)
            searched_by = "map"
    elif form.is_bound and form.is_valid():
        town = form.cleaned_data["miejscowosc"]
        if town:
            matches = selectors.officers_for_address(
                town, form.cleaned_data["ulica"], form.cleaned_data["numer"]
            )
            searched_by = "address"
            place = geo.place_search(town)
            if len(place) == 1 and point is None:
                point, level = place[0].point, 1
        elif request.GET.get("szukaj") is not None:
            form.add_error("miejscowosc", _("Wpisz miejscowość albo wskaż miejsce na mapie."))
            errors.append(("id_miejscowosc", _("Wpisz miejscowość albo wskaż miejsce na mapie.")))
    unit = geo.unit_for(point) if point is not None and matches == [] else None
    return render(
        request,
        "portal_officers/find.html",
        {
            "form": form,
            **map_context(point, level),
            "matches": matches,
            "searched_by": searched_by,
            "unit": unit,
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def _point_from(request: HttpRequest) -> tuple[geo.Point | None, int]:
    """The point of this request: a click on a map, else the one carried from the last page."""
    try:
        current: geo.Point | None = geo.Point(float(request.GET["lat"]), float(request.GET["lon"]))
        level = int(request.GET.get("z", "1"))
    except (KeyError, ValueError):
        current, level = None, 1
    if current is not None and not geo.in_frame(current):
        current = None
    level = min(max(level, 1), geo.MAX_ZOOM)
    overview = click(request.GET, OVERVIEW)
    if overview:
        return geo.overview_point(*overview), 1
    zoom = click(request.GET, ZOOM)
    if zoom and current is not None:
        return geo.zoom_point(current, level, *zoom), min(level + 1, geo.MAX_ZOOM)
    return current, level


@require_GET
def map_overview(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(geo.overview_png(), content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@require_GET
def map_zoom(request: HttpRequest) -> HttpResponse:
    try:
        point = geo.Point(float(request.GET["lat"]), float(request.GET["lon"]))
        level = int(request.GET.get("z", "1"))
    except (KeyError, ValueError) as error:
        raise Http404 from error
    if not geo.in_frame(point) or level not in geo.ZOOM_LEVELS:
        raise Http404
    response = HttpResponse(geo.zoom_png(point, level), content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@require_GET
def photo(request: HttpRequest, officer_id: int) -> HttpResponse:
    officer = NeighbourhoodOfficer.objects.filter(pk=officer_id, is_active=True).first()
    if officer is None or not officer.photo_sha256:
        raise Http404
    store = get_blob_store()
    if not store.exists(officer.photo_sha256):
        raise Http404
    with store.open(officer.photo_sha256) as handle:
        body = handle.read()
    response = HttpResponse(body, content_type="image/jpeg")
    response["Cache-Control"] = "public, max-age=3600"
    return response


# --- staff: officers ----------------------------------------------------------------------------


@login_required
def officer_list(request: HttpRequest) -> HttpResponse:
    units = services.units_kept_by(request.user)
    if not units.exists():
        raise Http404
    officers = services.officers_kept_by(request.user).filter(is_active=True)
    return render(request, "portal_officers/staff_list.html", {"officers": officers})


@login_required
def officer_create(request: HttpRequest) -> HttpResponse:
    return _officer_form(request, None)


@login_required
def officer_edit(request: HttpRequest, officer_id: int) -> HttpResponse:
    try:
        officer = services.officer_get(request.user, officer_id)
    except NotVisible as error:
        raise Http404 from error
    return _officer_form(request, officer)


@login_required
@require_POST
def officer_delete(request: HttpRequest, officer_id: int) -> HttpResponse:
    try:
        officer = services.officer_get(request.user, officer_id)
        services.officer_remove(actor=request.user, officer=officer)
    except NotVisible as error:
        raise Http404 from error
    messages.success(request, _("Usunięto dzielnicowego z wyszukiwarki."))
    return redirect("staff_officers:list")


def _officer_form(request: HttpRequest, officer: NeighbourhoodOfficer | None) -> HttpResponse:
    units = services.units_kept_by(request.user)
    if not units.exists():
        raise Http404
    initial: dict[str, Any] = {}
    if officer is not None:
        initial = {name: getattr(officer, name) for name in services.FIELDS}
        initial["unit"] = officer.unit
        initial["polygon"] = _polygon_text(officer.polygon)
    form = OfficerForm(request.POST or None, request.FILES or None, units=units, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        unit = data.pop("unit")
        upload = data.pop("photo")
        try:
            saved = services.officer_save(
                actor=request.user, unit=unit, data=data, photo=upload, officer=officer
            )
        except NotVisible as error:
            raise Http404 from error
        except DomainError as error:
            field = error.field if error.field in form.fields else None
            form.add_error(field, str(error.message))
        else:
            messages.success(request, _("Zapisano dzielnicowego %(name)s.") % {"name": saved})
            return redirect("staff_officers:list")
    return render(
        request,
        "portal_officers/staff_form.html",
        {"form": form, "officer": officer},
        status=400 if form.is_bound and form.errors else 200,
    )


def _polygon_text(polygon: dict[str, Any] | None) -> str:
    if not polygon:
        return ""
    if polygon.get("type") != "Polygon":
        return json.dumps(polygon)
    return "\n".join(f"{lat}, {lon}" for lon, lat in polygon["coordinates"][0])


# --- staff: threat reports ---------------------------------------------------------------------


@login_required
def threat_list(request: HttpRequest) -> HttpResponse:
    """The threat-map reports of the person's units, newest first, with their status."""
    if threat_unit_ids(request.user) == set():
        raise Http404
    reports = threat_reports_visible_to(request.user)
    status = request.GET.get("status", "")
    if status in ThreatReport.Status.values:
        reports = reports.filter(status=status)
    page = Paginator(reports.order_by("-created_at", "-id"), 50).get_page(request.GET.get("page"))
    audit_record(
        actor=request.user,
        action="view",
        object_type="portal.threatreport",
        object_repr=f"lista zgłoszeń zagrożeń, strona {page.number}",
        details={"ids": [r.pk for r in page.object_list]},
    )
    return render(
        request,
        "portal_officers/staff_threats.html",
        {
            "page": page,
            "statuses": ThreatReport.Status.choices,
            "status": status,
            "form": ThreatStatusForm(),
        },
    )


@login_required
@require_POST
def threat_status(request: HttpRequest, report_id: int) -> HttpResponse:
    try:
        report = threat_report_get(request.user, report_id)
        form = ThreatStatusForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Wybierz status z listy."))
        else:
            threat_status_set(request.user, report, form.cleaned_data["status"])
            messages.success(request, _("Zmieniono status zgłoszenia."))
    except NotVisible as error:
        raise Http404 from error
    return redirect("staff_officers:threats")
