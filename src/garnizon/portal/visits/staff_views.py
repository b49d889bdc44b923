"""Staff pages for visits: kinds, weekly hours, closed days, slots, the day's bookings.

Thin: each view finds the object, checks that the person runs visits in its
unit (another unit's objects are 404, as elsewhere), and calls a service.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from garnizon.common.errors import AccessDenied, DomainError
from garnizon.org.access import Scope
from garnizon.org.models import Unit
from garnizon.portal.visits import services
from garnizon.portal.visits.forms import (
    WEEKDAYS,
    AppointmentKindForm,
    CancelForm,
    ClosedDayForm,
    OpeningRuleForm,
)
from garnizon.portal.visits.models import AppointmentKind, Booking, ClosedDay, OpeningRule, Slot


@login_required
def index(request: HttpRequest) -> HttpResponse:
    units = _managed_units(request)
    if not units:
        raise PermissionDenied(_("Wizytami zarządza komendant, kierownik komórki albo kancelaria."))
    chosen = request.GET.get("jednostka", "")
    unit = next((u for u in units if str(u.pk) == chosen), units[0])
    today = timezone.localdate()
    kinds = list(AppointmentKind.objects.filter(unit=unit).prefetch_related("rules"))
    return render(
        request,
        "staff_visits/index.html",
        {
            "units": units,
            "unit": unit,
            "kinds": kinds,
            "weekdays": dict(WEEKDAYS),
            "closed_days": ClosedDay.objects.filter(unit=unit, date__gte=today).select_related(
                "kind"
            ),
            "closed_form": ClosedDayForm(unit=unit),
            "today": today,
        },
    )


@login_required
def kind_new(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = get_object_or_404(Unit, pk=unit_id)
    _require(request, unit.pk)
    form = AppointmentKindForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        kind = _call(form, services.kind_create, actor=request.user, unit=unit, **form.cleaned_data)
        if kind is not None:
            messages.success(request, _("Dodano rodzaj wizyty. Ustaw teraz godziny przyjęć."))
            return redirect("staff_visits:kind", kind.pk)
    return render(
        request,
        "staff_visits/kind_form.html",
        {"form": form, "unit": unit, "title": _("Nowy rodzaj wizyty"), "back": _index_url(unit)},
        status=400 if form.errors else 200,
    )


@login_required
def kind_detail(request: HttpRequest, kind_id: int) -> HttpResponse:
    kind = get_object_or_404(AppointmentKind.objects.select_related("unit"), pk=kind_id)
    _require(request, kind.unit_id)
    form = AppointmentKindForm(request.POST or None, instance=kind)
    if request.method == "POST" and form.is_valid():
        fresh = AppointmentKind.objects.get(pk=kind.pk)  # the form changed `kind` in place
        if _call(form, services.kind_update, actor=request.user, kind=fresh, **form.cleaned_data):
            messages.success(request, _("Zapisano zmiany."))
            return redirect("staff_visits:kind", kind.pk)
    return _kind_page(request, kind, form=form, rule_form=OpeningRuleForm())


@login_required
@require_POST
def rule_add(request: HttpRequest, kind_id: int) -> HttpResponse:
    kind = get_object_or_404(AppointmentKind.objects.select_related("unit"), pk=kind_id)
    _require(request, kind.unit_id)
    rule_form = OpeningRuleForm(request.POST)
    if rule_form.is_valid() and _call(
        rule_form, services.rule_add, actor=request.user, kind=kind, **rule_form.cleaned_data
    ):
        messages.success(request, _("Dodano godziny. Wygeneruj terminy, aby je udostępnić."))
        return redirect("staff_visits:kind", kind.pk)
    return _kind_page(request, kind, form=AppointmentKindForm(instance=kind), rule_form=rule_form)


@login_required
@require_POST
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(OpeningRule.objects.select_related("kind"), pk=rule_id)
    _require(request, rule.kind.unit_id)
    services.rule_delete(actor=request.user, rule=rule)
    messages.success(request, _("Usunięto godziny. Wygeneruj terminy, aby usunąć wolne terminy."))
    return redirect("staff_visits:kind", rule.kind_id)


@login_required
@require_POST
def generate(request: HttpRequest, kind_id: int) -> HttpResponse:
    kind = get_object_or_404(AppointmentKind, pk=kind_id)
    _require(request, kind.unit_id)
    result = services.slots_generate(kind=kind, actor=request.user)
    messages.success(
        request,
        _("Terminy: nowe %(created)s, usunięte %(removed)s, zajęte pozostawione %(kept)s.")
        % {
            "created": result["created"],
            "removed": result["removed"],
            "kept": result["kept_booked"],
        },
    )
    return redirect("staff_visits:kind", kind.pk)


@login_required
@require_POST
def closed_day_add(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = get_object_or_404(Unit, pk=unit_id)
    _require(request, unit.pk)
    form = ClosedDayForm(request.POST, unit=unit)
    if form.is_valid():
        result = _call(
            form, services.closed_day_add, actor=request.user, unit=unit, **form.cleaned_data
        )
        if result is not None:
            messages.success(
                request,
                _("Zamknięto dzień. Odwołane wizyty: %(n)s (interesanci dostaną e-mail).")
                % {"n": result[1]},
            )
            return redirect(_index_url(unit))
    for error in form.errors.values():
        messages.error(request, " ".join(error))
    return redirect(_index_url(unit))


@login_required
@require_POST
def closed_day_delete(request: HttpRequest, closed_id: int) -> HttpResponse:
    closed = get_object_or_404(ClosedDay.objects.select_related("unit"), pk=closed_id)
    _require(request, closed.unit_id)
    services.closed_day_delete(actor=request.user, closed=closed)
    messages.success(request, _("Otwarto dzień ponownie."))
    return redirect(_index_url(closed.unit))


@login_required
def day(request: HttpRequest, unit_id: int) -> HttpResponse:
    """The day's slots and bookings, printable (the page has a print stylesheet)."""
    unit = get_object_or_404(Unit, pk=unit_id)
    _require(request, unit.pk)
    shown = parse_date(request.GET.get("data", "") or "") or timezone.localdate()
    slots = services.day_schedule(actor=request.user, unit=unit, day=shown)
    return render(
        request,
        "staff_visits/day.html",
        {
            "unit": unit,
            "day": shown,
            "slots": slots,
            "previous": shown - datetime.timedelta(days=1),
            "next": shown + datetime.timedelta(days=1),
            "back": _index_url(unit),
        },
    )


@login_required
def slot_cancel(request: HttpRequest, slot_id: int) -> HttpResponse:
    slot = get_object_or_404(Slot.objects.select_related("kind", "kind__unit"), pk=slot_id)
    _require(request, slot.kind.unit_id)
    form = CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        count = _call(
            form,
            services.slot_cancel,
            actor=request.user,
            slot=slot,
            reason=form.cleaned_data["reason"],
        )
        if count is not None:
            messages.success(request, _("Odwołano termin i wizyty: %(n)s.") % {"n": count})
            return redirect(_day_url(slot.kind.unit, slot.day))
    return render(
        request,
        "staff_visits/cancel.html",
        {
            "form": form,
            "title": _("Odwołaj termin"),
            "what": f"{slot.kind.name}, {timezone.localtime(slot.starts_at):%d.%m.%Y %H:%M}",
            "back": _day_url(slot.kind.unit, slot.day),
        },
        status=400 if form.errors else 200,
    )


@login_required
def booking_cancel(request: HttpRequest, booking_id: int) -> HttpResponse:
    booking = get_object_or_404(
        Booking.objects.select_related("slot", "slot__kind", "slot__kind__unit"), pk=booking_id
    )
    _require(request, booking.slot.kind.unit_id)
    form = CancelForm(request.POST or None)
    if (
        request.method == "POST"
        and form.is_valid()
        and _call(
            form,
            services.booking_cancel_by_staff,
            actor=request.user,
            booking=booking,
            reason=form.cleaned_data["reason"],
        )
    ):
        messages.success(request, _("Odwołano wizytę; interesant dostanie e-mail."))
        return redirect(_day_url(booking.slot.kind.unit, booking.slot.day))
    slot = booking.slot
    return render(
        request,
        "staff_visits/cancel.html",
        {
            "form": form,
            "title": _("Odwołaj wizytę"),
            "what": f"{booking.name}: {slot.kind.name}, "
            f"{timezone.localtime(slot.starts_at):%d.%m.%Y %H:%M}",
            "back": _day_url(slot.kind.unit, slot.day),
        },
        status=400 if form.errors else 200,
    )


# --- helpers -------------------------------------------------------------------------------------


def _managed_units(request: HttpRequest) -> list[Unit]:
    return list(services.managed_units(Scope.for_person(request.user)))  # type: ignore[arg-type]


def _require(request: HttpRequest, unit_id: int) -> None:
    """Another unit's objects do not exist for this person (404, never 403)."""
    if not services.can_manage(Scope.for_person(request.user), unit_id):  # type: ignore[arg-type]
        raise Http404


def _call(form: forms.Form, service: Any, **kwargs: Any) -> Any:
    try:
        return service(**kwargs)
    except AccessDenied as exc:
        raise PermissionDenied(str(exc.message)) from exc
    except DomainError as exc:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, str(exc.message))
    return None


def _kind_page(
    request: HttpRequest, kind: AppointmentKind, *, form: forms.Form, rule_form: forms.Form
) -> HttpResponse:
    now = timezone.now()
    upcoming = Slot.objects.filter(kind=kind, starts_at__gte=now, is_cancelled=False)
    return render(
        request,
        "staff_visits/kind.html",
        {
            "kind": kind,
            "form": form,
            "rule_form": rule_form,
            "rules": kind.rules.all(),
            "weekdays": dict(WEEKDAYS),
            "upcoming": upcoming.count(),
            "last_slot": upcoming.order_by("-starts_at").first(),
            "back": _index_url(kind.unit),
        },
        status=400 if form.errors or rule_form.errors else 200,
    )


def _index_url(unit: Unit) -> str:
    return f"{reverse('staff_visits:index')}?jednostka={unit.pk}"


def _day_url(unit: Unit, shown: datetime.date) -> str:
    return f"{reverse('staff_visits:day', args=[unit.pk])}?data={shown.isoformat()}"
