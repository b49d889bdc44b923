"""The intake pages of the staff UI: what came in, its state, the clerk's queue.

Only people who may register items in a unit see that unit's intake; for
everyone else the pages and items do not exist (404). The views are thin: the
services check permissions again and own every change.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from garnizon.common.errors import DomainError
from garnizon.common.paging import DEFAULT_PAGE_SIZE
from garnizon.intake import selectors, services
from garnizon.intake.barcodes import separator_sheet_pdf
from garnizon.intake.forms import IntakeUploadForm, MatchForm
from garnizon.intake.models import IntakeItem, IntakeState
from garnizon.org.access import Scope, registering_units
from garnizon.org.models import Unit
from garnizon.web.views import _int

log = logging.getLogger(__name__)


def _units_or_404(scope: Scope) -> Any:
    """The active units the person may register in; 404 when there are none."""
    units = registering_units(scope)
    if not units.exists():
        raise Http404()
    return units


def _item_or_404(scope: Scope, item_id: int) -> IntakeItem:
    item = (
        selectors.intake_items(scope)
        .select_related("unit", "incoming_item", "document", "parent", "requested_by")
        .filter(pk=item_id)
        .first()
    )
    if item is None:
        raise Http404()
    return item


@login_required
@require_GET
def intake_list(request: HttpRequest) -> HttpResponse:
    scope = Scope.for_person(request.user)
    units = _units_or_404(scope)
    state = request.GET.get("state", "")
    if state not in IntakeState.values:
        state = ""
    unit_id = _int(request.GET.get("unit"))
    page = selectors.intake_items_page(
        scope,
        state=state or None,
        unit_id=unit_id,
        before_id=_int(request.GET.get("cursor")),
    )
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "intake/intake_list.html",
        {
            "page": page,
            "state": state,
            "unit_id": unit_id,
            "units": units,
            "states": IntakeState.choices,
            "query": query.urlencode(),
            "waiting": selectors.intake_items(scope)
            .filter(state=IntakeState.AWAITING_MATCH)
            .count(),
        },
    )


@login_required
@require_GET
def intake_queue(request: HttpRequest) -> HttpResponse:
    scope = Scope.for_person(request.user)
    _units_or_404(scope)
    queue = selectors.matching_queue(scope, before_id=_int(request.GET.get("cursor")))
    next_cursor = queue[-1].pk if len(queue) >= DEFAULT_PAGE_SIZE else None
    return render(
        request,
        "intake/intake_queue.html",
        {"queue": queue, "next_cursor": next_cursor, "form": MatchForm()},
    )


@login_required
@require_GET
def intake_detail(request: HttpRequest, item_id: int) -> HttpResponse:
    scope = Scope.for_person(request.user)
    item = _item_or_404(scope, item_id)
    if item.state == IntakeState.AWAITING_MATCH:
        selectors.resolve_suggestions(scope, [item])
    return render(
        request,
        "intake/intake_detail.html",
        {
            "item": item,
            "results": item.step_results.all(),
            "children": item.children.order_by("pk"),
            "suggestions": getattr(item, "resolved_suggestions", []),
            "form": MatchForm(),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def intake_upload(request: HttpRequest) -> HttpResponse:
    units = _units_or_404(Scope.for_person(request.user))
    if request.method == "POST":
        form = IntakeUploadForm(request.POST, request.FILES, units=units)
        files = request.FILES.getlist("files")
        if getattr(request, "garnizon_upload_too_large", False):
            form.add_error(
                None,
                _("Plik jest za duży: największy dopuszczalny rozmiar to %(mb)s MB.")
                % {"mb": settings.GARNIZON_MAX_UPLOAD_MB},
            )
        elif not files:
            form.add_error(None, _("Wybierz co najmniej jeden plik."))
        if form.is_valid() and files:
            return _take_uploads(request, form.cleaned_data, files)
    else:
        form = IntakeUploadForm(units=units, initial={"unit": units.order_by("pk").first()})
    return render(
        request,
        "intake/intake_upload.html",
        {"form": form, "max_mb": settings.GARNIZON_MAX_UPLOAD_MB},
    )


def _take_uploads(request: HttpRequest, data: dict[str, Any], files: list[UploadedFile]) -> Any:
    unit: Unit = data["unit"]
    taken, again, failed = [], 0, []
    for upload in files:
        try:
            with _as_path(upload) as path:
                result = services.intake_add_file(
                    path=path,
                    unit=unit,
                    channel=data["channel"],
                    requested_by=request.user,
                    source=f"web:{request.user.username}",
                    filename=upload.name,
                    mode=data["mode"],
                )
        except DomainError as error:
            failed.append(f"{upload.name}: {error.message}")
            continue
        if result.created:
            taken.append(result.item)
        else:
            again += 1
    if taken:
        messages.success(
            request,
            ngettext(
                "Przyjęto %(n)d plik; jego stan widać na liście poniżej.",
                "Przyjęto %(n)d pliki; ich stan widać na liście poniżej.",
                len(taken),
            )
            % {"n": len(taken)},
        )
    if again:
        messages.warning(
            request,
            ngettext(
                "%(n)d plik był już przyjęty wcześniej; nie dodano go drugi raz.",
                "%(n)d pliki były już przyjęte wcześniej; nie dodano ich drugi raz.",
                again,
            )
            % {"n": again},
        )
    for failure in failed:
        messages.error(request, failure)
    return redirect(reverse("intake:list") + f"?unit={unit.pk}")


@contextlib.contextmanager
def _as_path(upload: UploadedFile) -> Any:
    """The upload as a file on disk (intake takes paths); a temporary copy when in memory."""
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        yield Path(temporary())
        return
    handle, name = tempfile.mkstemp(prefix="upload-", dir=settings.FILE_UPLOAD_TEMP_DIR)
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


@login_required
@require_POST
def intake_retry(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _item_or_404(Scope.for_person(request.user), item_id)
    try:
        services.intake_retry(item_id=item.pk)
        messages.success(request, _("Plik wrócił do przetwarzania."))
    except DomainError as error:
        messages.error(request, error.message)
    return redirect("intake:detail", item_id=item.pk)


@login_required
@require_POST
def intake_match(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _item_or_404(Scope.for_person(request.user), item_id)
    form = MatchForm(request.POST)
    back = request.POST.get("back") == "queue"
    target = redirect("intake:queue") if back else redirect("intake:detail", item_id=item.pk)
    if not form.is_valid():
        for error in form.non_field_errors():
            messages.error(request, error)
        return target
    try:
        services.intake_match(
            item_id=item.pk,
            actor=request.user,
            incoming_item_id=form.cleaned_data.get("incoming_item"),
            registration_number=form.cleaned_data.get("registration_number") or "",
        )
        messages.success(request, _("Skan dołączono do pisma."))
    except DomainError as error:
        messages.error(request, error.message)
    return target


@login_required
@require_POST
def intake_register_new(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _item_or_404(Scope.for_person(request.user), item_id)
    try:
        services.intake_register_new(item_id=item.pk, actor=request.user)
        messages.success(request, _("Plik zostanie zarejestrowany jako nowe pismo."))
    except DomainError as error:
        messages.error(request, error.message)
    if request.POST.get("back") == "queue":
        return redirect("intake:queue")
    return redirect("intake:detail", item_id=item.pk)


@login_required
@require_GET
def separator_sheet(request: HttpRequest) -> HttpResponse:
    _units_or_404(Scope.for_person(request.user))
    response = HttpResponse(separator_sheet_pdf(), content_type="application/pdf")
    response["Content-Disposition"] = 'inline; filename="kartka-rozdzielajaca.pdf"'
    return response
