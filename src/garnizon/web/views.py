"""Staff UI views: parse the request, call a service or selector, render.

No business rule lives here; `_call` maps the services' errors onto the form.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Q, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.http import require_POST

from garnizon.audit.selectors import audit_entries_visible_to
from garnizon.audit.services import audit_record
from garnizon.cases import services as case_services
from garnizon.cases.deadlines import DeadlineKind, compute_deadline, deadline_status
from garnizon.cases.models import CaseState
from garnizon.cases.selectors import (
    CaseFilters,
    case_list,
    cases_page,
    cases_visible_to,
    workload_by_cell,
)
from garnizon.cases.selectors import (
    my_work as my_work_selector,
)
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.documents.selectors import document_section
from garnizon.jrwa.models import Classification
from garnizon.org.access import Scope, registering_units
from garnizon.org.models import Cell, Substitution, Unit, default_designations
from garnizon.org.services import substitution_create
from garnizon.org.services import substitution_end as substitution_end_service
from garnizon.registry import services as registry_services
from garnizon.registry.models import Channel, Correspondent, IncomingItem
from garnizon.registry.selectors import (
    IncomingFilters,
    correspondents_search,
    incoming_register_page,
    incoming_visible_to,
    outgoing_register_page,
    outgoing_visible_to,
)
from garnizon.web import forms as web_forms

# --- helpers ----------


def _call[T](form: forms.Form, service: Callable[..., T], **kwargs: Any) -> T | None:
    """Run a service; put its refusal on the form (field or summary) instead of raising."""
    try:
        return service(**kwargs)
    except NotVisible as exc:
        raise Http404(str(exc.message)) from exc
    except AccessDenied as exc:
        form.add_error(None, str(exc.message))
    except DomainError as exc:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, str(exc.message))
    return None


# The largest id both databases store (bigint), as in the API's cursors.
MAX_ID = 2**63 - 1


def _int(value: str | None, *, low: int = 1, high: int = MAX_ID) -> int | None:
    """A whole number from the query string, or None when absent, malformed or out of
    `low`–`high` (an id or cursor no row can have would overflow the database)."""
    try:
        number = int(value) if value else None
    except ValueError:
        return None
    return number if number is not None and low <= number <= high else None


def _year(value: str | None) -> int | None:
    return _int(value, low=1900, high=9999)


def _label_cells(rows: Any, cell_attr: str, label_attr: str = "cell_label") -> None:
    """Set `label_attr` on each row to its cell's designation, read in one go.

    `str(cell)` walks the cell's parents and unit one query at a time; for a list
    page that is several queries a row.
    """
    rows = list(rows)
    labels = default_designations({getattr(row, cell_attr) for row in rows} - {None})
    for row in rows:
        setattr(row, label_attr, labels.get(getattr(row, cell_attr), ""))


def _date(value: str | None):
    field = forms.DateField(required=False)
    try:
        return field.clean(value)
    except forms.ValidationError:
        return None


def _registering_units(request: HttpRequest) -> Any:
    """The units the user may register in: the rule is `org.access.registering_units`."""
    return registering_units(Scope.for_person(request.user))


def _status(obj: Any) -> str:
    return deadline_status(obj.due_date, timezone.localdate(), settings.GARNIZON_DUE_SOON_DAYS)


def _correspondent_names() -> list[str]:
    return list(Correspondent.objects.order_by("name").values_list("name", flat=True)[:500])


# --- my work and overview ----------


@login_required
def my_work(request: HttpRequest) -> HttpResponse:
    work = my_work_selector(request.user)
    sections = {name: list(qs[:100]) for name, qs in work.items()}
    for rows in (sections["items"], sections["cases"], sections["cell_inbox"]):
        for row in rows:
            row.status = _status(row)
    _label_cells(sections["cell_inbox"], "assigned_cell_id")
    return render(request, "web/my_work.html", sections)


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    lines = workload_by_cell(request.user, soon_days=settings.GARNIZON_DUE_SOON_DAYS)
    units: dict[int, dict[str, Any]] = {}
    for line in lines:
        total = units.setdefault(
            line.cell.unit_id,
            {"unit": line.cell.unit, "active": 0, "due_soon": 0, "overdue": 0, "items": 0},
        )
        total["active"] += line.active_cases
        total["due_soon"] += line.due_soon_cases
        total["overdue"] += line.overdue_cases
        total["items"] += line.overdue_items
    _label_cells([line.cell for line in lines], "pk")
    overdue = cases_page(person=request.user, filters=CaseFilters(overdue=True), limit=100)
    for case in overdue.rows:
        case.status = _status(case)
    return render(
        request,
        "web/overview.html",
        {
            "lines": lines,
            "units": sorted(units.values(), key=lambda u: u["unit"].pk),
            "overdue": overdue.rows,
            "soon_days": settings.GARNIZON_DUE_SOON_DAYS,
        },
    )


# --- incoming register ----------


@login_required
def incoming_list(request: HttpRequest) -> HttpResponse:
    g = request.GET
    filters = IncomingFilters(
        unit_id=_int(g.get("unit")),
        year=_year(g.get("year")),
        channel=g.get("channel", ""),
        kind=g.get("kind", ""),
        cell_id=_int(g.get("cell")),
        received_from=_date(g.get("from")),
        received_to=_date(g.get("to")),
        text=g.get("q", "")[:200],
        without_case=g.get("without_case") == "1",
        overdue=g.get("overdue") == "1",
    )
    page = incoming_register_page(
        person=request.user, filters=filters, before_id=_int(g.get("cursor"))
    )
    for item in page.rows:
        item.status = _status(item)
    _label_cells(page.rows, "assigned_cell_id")
    query = g.copy()
    query.pop("cursor", None)

    return render(
        request,
        "web/incoming_list.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "channels": Channel.choices,
            "kinds": DeadlineKind.choices,
            "can_register": _registering_units(request).exists(),
        },
    )


@login_required
def incoming_new(request: HttpRequest) -> HttpResponse:
    units = _registering_units(request)
    if not units.exists():
        raise Http404(_("Nie masz uprawnień do rejestrowania przesyłek."))
    form = web_forms.IncomingItemForm(request.POST or None, units=units)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        sender = (
            Correspondent.objects.filter(name=data["sender_name"]).first()
            if data["sender_name"]
            else None
        )
        # The form's fields are the service's arguments, by name.
        item = _call(
            form,
            registry_services.incoming_item_register,
            actor=request.user,
            sender=sender,
            **data,
        )
        if item is not None:
            messages.success(
                request, _("Zarejestrowano %(number)s.") % {"number": item.registration_number}
            )
            if "next" in request.POST:
                return redirect("web:incoming_new")
            return redirect("web:incoming_detail", item_id=item.pk)
    return render(
        request, "web/incoming_form.html", {"form": form, "correspondents": _correspondent_names()}
    )


@login_required
def incoming_detail(request: HttpRequest, item_id: int) -> HttpResponse:
    try:
        item = registry_services.incoming_item_get_for_view(actor=request.user, item_id=item_id)
    except NotVisible as exc:
        raise Http404(str(exc.message)) from exc
    item.status = _status(item)
    scope = Scope.for_person(request.user)
    open_cells = Cell.objects.filter(unit_id=item.unit_id, is_active=True)
    open_cells = open_cells.filter(
        pk__in=[c.pk for c in open_cells if case_services.can_work_in_cell(scope, c)]
    )
    return render(
        request,
        "web/incoming_detail.html",
        {
            "item": item,
            "assignments": item.assignments.select_related(
                "to_cell", "to_person", "assigned_by", "on_behalf_of"
            ),
            "assign_form": web_forms.AssignForm(
                unit_id=item.unit_id, initial={"to_cell": item.assigned_cell_id}
            ),
            "open_form": web_forms.CaseOpenForm(cells=open_cells) if open_cells else None,
            **document_section(request.user, scope=scope, incoming_item=item),
        },
    )


@login_required
@require_POST
def incoming_assign(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _visible_item(request, item_id)
    form = web_forms.AssignForm(request.POST, unit_id=item.unit_id)
    if form.is_valid():
        d = form.cleaned_data
        if _call(
            form,
            case_services.assign,
            actor=request.user,
            incoming_item=item,
            to_cell=d["to_cell"],
            to_person=d["to_person"],
            method=d["method"] or None,
            deadline=d["deadline"],
            note=d["note"],
        ):
            messages.success(request, _("Zadekretowano."))
            return redirect("web:incoming_detail", item_id=item.pk)
    return _form_error_page(
        request,
        form,
        _("Dekretacja przesyłki %(n)s") % {"n": item.registration_number},
        back=reverse("web:incoming_detail", args=[item.pk]),
    )


@login_required
@require_POST
def incoming_open_case(request: HttpRequest, item_id: int) -> HttpResponse:
    item = _visible_item(request, item_id)
    form = web_forms.CaseOpenForm(request.POST, cells=Cell.objects.filter(unit_id=item.unit_id))
    if form.is_valid():
        d = form.cleaned_data
        case = _call(
            form,
            case_services.case_open,
            actor=request.user,
            cell=d["cell"],
            classification=d["classification"],
            subject=d["subject"],
            incoming_item=item,
            kind=d["kind"] or None,
            client_token=d["client_token"],
        )
        if case is not None:
            messages.success(request, _("Założono sprawę %(sign)s.") % {"sign": case.sign})
            return redirect("web:case_detail", case_id=case.pk)
    return _form_error_page(
        request,
        form,
        _("Założenie sprawy z przesyłki %(n)s") % {"n": item.registration_number},
        back=reverse("web:incoming_detail", args=[item.pk]),
    )


def _visible_item(request: HttpRequest, item_id: int) -> IncomingItem:
    item = incoming_visible_to(request.user).filter(pk=item_id).first()
    if item is None:
        raise Http404(_("Nie ma takiej przesyłki albo nie masz do niej dostępu."))
    return item


def _form_error_page(
    request: HttpRequest, form: forms.Form, title: str, *, back: str
) -> HttpResponse:
    """The action's form again, with its errors, and the way back to the page it came from."""
    return render(
        request, "web/form_errors.html", {"form": form, "title": title, "back": back}, status=400
    )


# --- outgoing register ----------


@login_required
def outgoing_list(request: HttpRequest) -> HttpResponse:
    g = request.GET
    page = outgoing_register_page(
        person=request.user,
        before_id=_int(g.get("cursor")),
        channel=g.get("channel", ""),
        text=g.get("q", "")[:200],
        year=_year(g.get("year")),
    )
    query = g.copy()
    query.pop("cursor", None)

    return render(
        request,
        "web/outgoing_list.html",
        {"page": page, "query": query.urlencode(), "channels": Channel.choices},
    )


@login_required
def outgoing_new(request: HttpRequest) -> HttpResponse:
    scope = Scope.for_person(request.user)
    # Without a case the registry's rule; with a case from one's own cell, one's own units.
    units = registering_units(scope) | Unit.objects.filter(
        is_active=True, pk__in={g.position.cell.unit_id for g in scope.grants}
    )
    form = web_forms.OutgoingItemForm(
        request.POST or None, units=units, initial={"case_sign": request.GET.get("case", "")}
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        case = None
        if d["case_sign"]:
            case = cases_visible_to(request.user).filter(sign=d["case_sign"].strip()).first()
            if case is None:
                form.add_error(
                    "case_sign", _("Nie ma takiej sprawy albo nie masz do niej dostępu.")
                )
        addressee = Correspondent.objects.filter(name=d["addressee_name"]).first()
        if not form.errors:
            fields = {k: v for k, v in d.items() if k != "case_sign"}
            item = _call(
                form,
                registry_services.outgoing_item_register,
                actor=request.user,
                case=case,
                addressee=addressee,
                **fields,
            )
            if item is not None:
                messages.success(
                    request,
                    _("Zarejestrowano wysyłkę %(number)s.") % {"number": item.registration_number},
                )
                if case is not None:
                    return redirect("web:case_detail", case_id=case.pk)
                return redirect("web:outgoing_list")
    return render(
        request, "web/outgoing_form.html", {"form": form, "correspondents": _correspondent_names()}
    )


@login_required
def outgoing_detail(request: HttpRequest, item_id: int) -> HttpResponse:
    try:
        item = registry_services.outgoing_item_get_for_view(actor=request.user, item_id=item_id)
    except NotVisible as exc:
        raise Http404(str(exc.message)) from exc
    return render(
        request,
        "web/outgoing_detail.html",
        {"item": item, **document_section(request.user, outgoing_item=item)},
    )


# --- cases ----------


@login_required
def case_search(request: HttpRequest) -> HttpResponse:
    g = request.GET
    filters = CaseFilters(
        cell_id=_int(g.get("cell")),
        classification_id=_int(g.get("classification")),
        year=_year(g.get("year")),
        state=g.get("state", ""),
        text=g.get("q", "")[:200],
        overdue=g.get("overdue") == "1",
    )
    if filters.text and (
        exact := cases_visible_to(request.user).filter(sign__iexact=filters.text.strip()).first()
    ):
        return redirect("web:case_detail", case_id=exact.pk)
    page = cases_page(person=request.user, filters=filters, before_id=_int(g.get("cursor")))
    for case in page.rows:
        case.status = _status(case)
    query = g.copy()
    query.pop("cursor", None)

    scope = Scope.for_person(request.user)
    cells = list(scope.visible_cells().select_related("unit"))
    _label_cells(cells, "pk")
    return render(
        request,
        "web/case_list.html",
        {
            "page": page,
            "filters": filters,
            "query": query.urlencode(),
            "states": CaseState.choices,
            "cells": cells,
            "classes": Classification.objects.filter(is_terminal=True, scheme__is_active=True),
        },
    )


@login_required
def case_new(request: HttpRequest) -> HttpResponse:
    scope = Scope.for_person(request.user)
    cells = Cell.objects.filter(is_active=True).select_related("unit")
    cells = cells.filter(
        pk__in=[
            c.pk
            for c in scope.visible_cells().select_related("unit")
            if case_services.can_work_in_cell(scope, c)
        ]
    )
    form = web_forms.CaseOpenForm(request.POST or None, cells=cells)
    form.fields["subject"].required = True
    form.fields["subject"].help_text = ""
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        case = _call(
            form,
            case_services.case_open,
            actor=request.user,
            cell=d["cell"],
            classification=d["classification"],
            subject=d["subject"],
            kind=d["kind"] or None,
            client_token=d["client_token"],
        )
        if case is not None:
            messages.success(request, _("Założono sprawę %(sign)s.") % {"sign": case.sign})
            return redirect("web:case_detail", case_id=case.pk)
    return render(request, "web/case_form.html", {"form": form})


@login_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    try:
        case = case_services.case_get_for_view(actor=request.user, case_id=case_id)
    except NotVisible as exc:
        raise Http404(str(exc.message)) from exc
    case.status = _status(case)
    scope = Scope.for_person(request.user)
    can_manage = case_services.can_manage_case(scope, case)
    # Only the letters the viewer may see: a restricted letter attached to an
    # ordinary case stays with the people named on it.
    items = (
        incoming_visible_to(request.user, scope=scope)
        .filter(case=case)
        .order_by("received_at", "id")
    )
    outgoing = (
        outgoing_visible_to(request.user, scope=scope).filter(case=case).order_by("sent_on", "id")
    )
    return render(
        request,
        "web/case_detail.html",
        {
            "case": case,
            "record": case.record.select_related("actor", "on_behalf_of"),
            "items": items,
            "outgoing": outgoing,
            "shares": case.shares.select_related("person", "cell"),
            "can_manage": can_manage,
            "assign_form": web_forms.AssignForm(
                unit_id=case.unit_id, initial={"to_cell": case.cell_id}
            ),
            "state_form": web_forms.CaseStateForm(),
            "share_form": web_forms.CaseShareForm(unit_id=case.unit_id),
            "kind_form": web_forms.CaseKindForm(initial={"kind": case.kind}),
            "extend_form": web_forms.CaseExtendForm(),
            "can_extend": case.kind in case_services.EXTENDABLE_KINDS and case.is_active,
            **document_section(request.user, scope=scope, case=case),
        },
    )


def _case_action_view(
    form_class: type[forms.Form], service: Callable[..., Any], title: Promise, done: Promise
) -> Callable[[HttpRequest, int], HttpResponse]:
    """A POST-only view running one case service with the form's fields as arguments."""

    @login_required
    @require_POST
    def view(request: HttpRequest, case_id: int) -> HttpResponse:
        case = cases_visible_to(request.user).filter(pk=case_id).first()
        if case is None:
            raise Http404(_("Nie ma takiej sprawy albo nie masz do niej dostępu."))
        kwargs: dict[str, Any] = {}
        if form_class in (web_forms.AssignForm, web_forms.CaseShareForm):
            kwargs["unit_id"] = case.unit_id
        form = form_class(request.POST, **kwargs)
        if form.is_valid() and (
            _call(form, service, actor=request.user, case=case, **form.cleaned_data) is not None
        ):
            messages.success(request, str(done))
            return redirect("web:case_detail", case_id=case.pk)
        return _form_error_page(
            request,
            form,
            f"{title} {case.sign}",
            back=reverse("web:case_detail", args=[case.pk]),
        )

    return view


case_assign = _case_action_view(
    web_forms.AssignForm, case_services.assign, _lazy("Dekretacja sprawy"), _lazy("Zadekretowano.")
)
case_state = _case_action_view(
    web_forms.CaseStateForm,
    case_services.case_change_state,
    _lazy("Zmiana stanu sprawy"),
    _lazy("Zmieniono stan sprawy."),
)
case_share = _case_action_view(
    web_forms.CaseShareForm,
    case_services.case_share,
    _lazy("Udostępnienie sprawy"),
    _lazy("Udostępniono sprawę."),
)
case_kind = _case_action_view(
    web_forms.CaseKindForm,
    case_services.case_set_kind,
    _lazy("Rodzaj sprawy"),
    _lazy("Zmieniono rodzaj sprawy i przeliczono termin."),
)
case_extend = _case_action_view(
    web_forms.CaseExtendForm,
    case_services.case_extend_deadline,
    _lazy("Przedłużenie terminu"),
    _lazy("Przedłużono termin; zawiadom stronę."),
)


@login_required
def case_list_export(request: HttpRequest) -> HttpResponse:
    """The case list (spis spraw) of one cell, JRWA class and year: HTML, CSV or PDF."""
    g = request.GET
    cell = get_object_or_404(Cell.objects.select_related("unit"), pk=_int(g.get("cell")) or 0)
    classification = get_object_or_404(
        Classification.objects.select_related("scheme"), pk=_int(g.get("classification")) or 0
    )
    year = _year(g.get("year")) or timezone.localdate().year
    # The first letter of each case, of those the viewer may see, read with the list.
    first_letter = (
        incoming_visible_to(request.user)
        .filter(case_id=OuterRef("pk"))
        .order_by("received_at", "id")
    )
    rows = list(
        case_list(
            person=request.user, cell_id=cell.pk, classification_id=classification.pk, year=year
        ).annotate(
            first_letter_reference=Subquery(first_letter.values("letter_reference")[:1]),
            first_letter_date=Subquery(first_letter.values("letter_date")[:1]),
        )
    )
    fmt = g.get("format", "html")
    context = {
        "cell": cell,
        "classification": classification,
        "year": year,
        "rows": rows,
        "designation": cell.designation(year),
        "generated": timezone.localtime(),
    }
    audit_record(
        actor=request.user,
        action="export",
        object_type="cases.caselist",
        object_id=f"{cell.pk}:{classification.symbol}:{year}",
        object_repr=f"{cell.designation(year)}.{classification.symbol} {year}",
        unit_id=cell.unit_id,
        details={"format": fmt, "rows": len(rows)},
    )
    filename = f"spis-spraw-{cell.designation(year)}-{classification.symbol}-{year}"
    if fmt == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
        response.write("\ufeff")
        writer = csv.writer(response, delimiter=";")
        writer.writerow(
            [
                _("Lp."),
                _("Znak sprawy"),
                _("Sprawa"),
                _("Od kogo wpłynęła"),
                _("Znak pisma"),
                _("Data pisma"),
                _("Data wszczęcia"),
                _("Data ostatecznego załatwienia"),
                _("Uwagi"),
            ]
        )
        for case in rows:
            writer.writerow(
                [
                    case.number,
                    case.sign,
                    case.subject,
                    case.correspondent_name or _("brak danych"),
                    case.first_letter_reference or "",
                    case.first_letter_date.strftime("%d.%m.%Y") if case.first_letter_date else "",
                    case.opened_on.strftime("%d.%m.%Y"),
                    case.closed_on.strftime("%d.%m.%Y") if case.closed_on else "",
                    case.remarks,
                ]
            )
        return response
    if fmt == "pdf":
        from weasyprint import HTML

        html = render_to_string("web/case_list_pdf.html", context, request=request)
        pdf = HTML(string=html, base_url=request.build_absolute_uri("/")).write_pdf()
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{filename}.pdf"'
        return response
    return render(request, "web/case_list_export.html", context)


# --- address book and deadlines ----------


@login_required
def correspondent_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")[:200]
    rows = list(correspondents_search(query=q)[:200])
    return render(request, "web/correspondent_list.html", {"rows": rows, "q": q})


@login_required
def correspondent_new(request: HttpRequest) -> HttpResponse:
    form = web_forms.CorrespondentForm(request.POST or None)
    if (
        request.method == "POST"
        and form.is_valid()
        and _call(
            form, registry_services.correspondent_create, actor=request.user, **form.cleaned_data
        )
    ):
        messages.success(request, _("Dodano do książki adresowej."))
        return redirect("web:correspondent_list")
    return render(request, "web/correspondent_form.html", {"form": form})


@login_required
def deadline_calculator(request: HttpRequest) -> HttpResponse:
    form = web_forms.DeadlineForm(request.GET or None)
    result = None
    if request.GET and form.is_valid():
        try:
            result = compute_deadline(form.cleaned_data["kind"], form.cleaned_data["start"])
        except ValueError as exc:  # a date the count cannot handle
            form.add_error("start", str(exc))
    return render(request, "web/deadline.html", {"form": form, "result": result})


# --- substitutions and the audit trail ----------


@login_required
def substitutions(request: HttpRequest) -> HttpResponse:

    me = request.user
    unit_ids = [me.unit_id] if me.unit_id else []
    form = web_forms.SubstitutionForm(
        request.POST or None,
        unit_ids=unit_ids,
        initial={"absent": me.pk, "date_from": timezone.localdate()},
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        if _call(
            form,
            substitution_create,
            actor=me,
            absent=d["absent"],
            substitute=d["substitute"],
            date_from=d["date_from"],
            date_to=d["date_to"],
            reason=d["reason"],
        ):
            messages.success(request, _("Ustanowiono zastępstwo."))
            return redirect("web:substitutions")
    rows = (
        Substitution.objects.filter(Q(absent=me) | Q(substitute=me) | Q(created_by=me))
        .filter(date_to__gte=timezone.localdate())
        .select_related("absent", "substitute")
    )
    return render(
        request,
        "web/substitutions.html",
        {"form": form, "rows": rows, "today": timezone.localdate()},
    )


@login_required
@require_POST
def substitution_end(request: HttpRequest, substitution_id: int) -> HttpResponse:

    substitution = (
        Substitution.objects.filter(
            Q(absent=request.user)
            | Q(substitute=request.user)
            | Q(created_by=request.user)
            | Q(absent__unit_id=request.user.unit_id),
            pk=substitution_id,
        )
        .select_related("absent")
        .first()
    )
    if substitution is None:
        raise Http404()
    try:
        substitution_end_service(actor=request.user, substitution=substitution)
        messages.success(request, _("Zakończono zastępstwo."))
    except AccessDenied as exc:
        messages.error(request, str(exc.message))
    return redirect("web:substitutions")


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit trail as an auditor may read it (their units; the garrison if so designated)."""

    form = web_forms.AuditFilterForm(request.GET or None)
    qs = audit_entries_visible_to(request.user)
    if not Scope.for_person(request.user).has_role("auditor"):
        raise Http404()
    if form.is_valid():
        d = form.cleaned_data
        if d["object_type"]:
            qs = qs.filter(object_type=d["object_type"])
        if d["object_id"]:
            qs = qs.filter(object_id=d["object_id"])
        if d["username"]:
            qs = qs.filter(actor_username=d["username"])
        if d["action"]:
            qs = qs.filter(action=d["action"])
    before = _int(request.GET.get("cursor"))
    if before:
        qs = qs.filter(seq__lt=before)
    rows = list(qs.order_by("-seq")[:101])
    next_cursor = rows[99].seq if len(rows) > 100 else None
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "web/audit_log.html",
        {"form": form, "rows": rows[:100], "next_cursor": next_cursor, "query": query.urlencode()},
    )
