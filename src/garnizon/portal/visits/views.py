"""Citizen pages: unit → kind → day → time → details → check → the booking's own page.

The answers live in the session until the check page books the visit. No
login, no staff data: these views never read `request.user`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from garnizon.common.errors import DomainError
from garnizon.org.models import Unit
from garnizon.portal.forms import HONEYPOT, PortalForm, honeypot_message
from garnizon.portal.visits import services
from garnizon.portal.visits.forms import (
    DayForm,
    DetailsForm,
    KindForm,
    TimeForm,
    VisitUnitForm,
    day_text,
    time_label,
)
from garnizon.portal.visits.mail import booking_ics
from garnizon.portal.visits.models import AppointmentKind, Booking, BookingStatus, Slot

SESSION_KEY = "portal_visits_draft"
TITLE = gettext_lazy("Umów wizytę w jednostce Policji")
# Each step and the answers it sets; a changed answer clears the steps after it.
STEPS = ("jednostka", "rodzaj", "dzien", "godzina", "dane")
KEYS = {"jednostka": "unit", "rodzaj": "kind", "dzien": "day", "godzina": "slot", "dane": "details"}
STEP_TITLES = {
    "jednostka": gettext_lazy("Jednostka"),
    "rodzaj": gettext_lazy("Sprawa"),
    "dzien": gettext_lazy("Dzień"),
    "godzina": gettext_lazy("Godzina"),
    "dane": gettext_lazy("Twoje dane"),
}


def start(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal_visits/start.html",
        {"title": TITLE, "first": reverse("portal:portal_visits:step", args=[STEPS[0]])},
    )


@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, slug: str) -> HttpResponse:
    if slug not in STEPS:
        raise Http404
    draft = _draft(request)
    context = _context(draft)
    missing = context["missing"]
    if missing is not None and STEPS.index(missing) < STEPS.index(slug):
        return redirect("portal:portal_visits:step", missing)
    if request.method == "POST" and request.POST.get(HONEYPOT):
        return _refused(request)
    changing = request.GET.get("zmien") == "1"
    build: Callable[..., PortalForm] | None = PAGES[slug](context)
    if build is None:  # nothing to choose from (no free days, no free times)
        return _render_step(request, slug, None, context, changing, empty=True)
    data = request.POST if request.method == "POST" else None
    form = build(data, initial=_initial(slug, draft))
    if data is not None and form.is_valid():
        _save(request, draft, slug, form.serializable())
        # The answers changed: where to go next is read from the saved draft.
        return redirect(_next_url(_context(draft)["missing"], slug, changing))
    return _render_step(request, slug, form, context, changing)


@require_http_methods(["GET", "POST"])
def check(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        if request.POST.get(HONEYPOT):
            return _refused(request)
        # A resubmitted form (double click, back button) leads to the booking it made.
        done = Booking.objects.filter(client_token=request.POST.get("form_token", "")).first()
        if done is not None:
            return _to_booking(done)
    draft = _draft(request)
    context = _context(draft)
    if context["missing"] is not None:
        return redirect("portal:portal_visits:step", context["missing"])
    slot: Slot | None = context["slot"]
    error: str | None = None
    error_link: tuple[str, str] | None = None
    status = 200
    if request.method == "POST":
        if request.POST.get("form_token") != draft["token"]:
            error = _("Ten formularz wygasł. Sprawdź odpowiedzi i zarezerwuj jeszcze raz.")
            status = 400
        else:
            details = draft["details"]
            try:
                booking = services.booking_create(
                    slot_id=draft["slot"],
                    name=details["name"],
                    email=details["email"],
                    phone=details.get("phone", ""),
                    matter=details["matter"],
                    client_token=draft["token"],
                    language=translation.get_language() or "pl",
                    client_address=request.META.get("REMOTE_ADDR") or None,
                )
            except DomainError as problem:
                error = str(problem.message)
                status = 429 if problem.code == "rate_limited" else 409
                if problem.code in ("slot_full", "slot_gone"):
                    draft.pop("slot", None)
                    _store(request, draft)
                    error_link = (_step_url("godzina", False), _("Wybierz inną godzinę"))
                elif problem.code == "already_booked":
                    error_link = (_step_url("dane", True), _("Podaj inny adres e-mail"))
            else:
                request.session.pop(SESSION_KEY, None)
                return _to_booking(booking)
    if slot is None and error is None:
        return redirect("portal:portal_visits:step", "godzina")
    return render(
        request,
        "portal_visits/check.html",
        {
            "title": TITLE,
            "rows": _summary_rows(draft, context) if slot is not None else [],
            "form_token": draft["token"],
            "error": error,
            "error_link": error_link,
            "back": _step_url("dane", False),
        },
        status=status,
    )


def booking(request: HttpRequest, token: str) -> HttpResponse:
    """The booking's own page: what, when, where; the calendar file; the cancel link."""
    found = services.booking_for_token(token)
    if found is None:
        return render(request, "portal_visits/unknown.html", {"title": TITLE}, status=404)
    return render(
        request,
        "portal_visits/booking.html",
        {
            "title": TITLE,
            "booking": found,
            "slot": found.slot,
            "kind": found.slot.kind,
            "just_booked": request.GET.get("nowa") == "1",
            "past": found.slot.starts_at <= timezone.now(),
            "page_url": request.build_absolute_uri(
                reverse("portal:portal_visits:booking", args=[token])
            ),
            "ics_url": reverse("portal:portal_visits:ics", args=[token]),
            "cancel_url": reverse("portal:portal_visits:cancel", args=[token]),
            "cancelled_by_unit": found.status == BookingStatus.CANCELLED_BY_UNIT,
        },
    )


@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, token: str) -> HttpResponse:
    found = services.booking_for_token(token)
    if found is None:
        return render(request, "portal_visits/unknown.html", {"title": TITLE}, status=404)
    back = reverse("portal:portal_visits:booking", args=[token])
    if not found.is_active:
        return redirect(back)
    error = None
    if request.method == "POST":
        try:
            services.booking_cancel_by_citizen(token=token)
        except DomainError as problem:
            error = str(problem.message)
        else:
            return redirect(back)
    return render(
        request,
        "portal_visits/cancel.html",
        {"title": TITLE, "booking": found, "slot": found.slot, "back": back, "error": error},
        status=400 if error else 200,
    )


def ics(request: HttpRequest, token: str) -> HttpResponse:
    found = services.booking_for_token(token)
    if found is None:
        raise Http404
    response = HttpResponse(booking_ics(found), content_type="text/calendar; charset=utf-8")
    day = timezone.localtime(found.slot.starts_at)
    response["Content-Disposition"] = f'attachment; filename="wizyta-{day:%Y-%m-%d-%H%M}.ics"'
    return response


# --- the pages' forms ------------------------------------------------------------------------


def _unit_page(context: dict[str, Any]) -> Callable[..., PortalForm]:
    return lambda data, initial: VisitUnitForm(data, initial=initial)


def _kind_page(context: dict[str, Any]) -> Callable[..., PortalForm] | None:
    kinds = context["kinds"]
    if not kinds:
        return None
    return lambda data, initial: KindForm(data, initial=initial, kinds=kinds)


def _day_page(context: dict[str, Any]) -> Callable[..., PortalForm] | None:
    days = services.available_days(context["kind"])
    if not days:
        return None
    return lambda data, initial: DayForm(data, initial=initial, days=days)


def _time_page(context: dict[str, Any]) -> Callable[..., PortalForm] | None:
    slots = services.free_slots_on(context["kind"], context["day"])
    if not slots:
        return None
    return lambda data, initial: TimeForm(data, initial=initial, slots=slots)


def _details_page(context: dict[str, Any]) -> Callable[..., PortalForm]:
    return lambda data, initial: DetailsForm(data, initial=initial)


PAGES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "jednostka": _unit_page,
    "rodzaj": _kind_page,
    "dzien": _day_page,
    "godzina": _time_page,
    "dane": _details_page,
}


# --- the draft -----------------------------------------------------------------------------------


def _draft(request: HttpRequest) -> dict[str, Any]:
    draft = request.session.get(SESSION_KEY)
    if not isinstance(draft, dict) or "token" not in draft:
        draft = {"token": secrets.token_hex(16)}
        request.session[SESSION_KEY] = draft
    return draft


def _store(request: HttpRequest, draft: dict[str, Any]) -> None:
    request.session[SESSION_KEY] = draft
    request.session.modified = True


def _save(request: HttpRequest, draft: dict[str, Any], slug: str, answers: dict[str, Any]) -> None:
    key = KEYS[slug]
    value: Any = answers if key == "details" else next(iter(answers.values()))
    if key != "details" and draft.get(key) != value:
        for later in STEPS[STEPS.index(slug) + 1 :]:
            if KEYS[later] != "details":
                draft.pop(KEYS[later], None)
    draft[key] = value
    _store(request, draft)


def _context(draft: dict[str, Any]) -> dict[str, Any]:
    """The draft's answers as objects, and the first page still unanswered (`missing`).

    An answer no longer valid (an inactive unit or kind, a slot gone) reads as
    not given. Built once per request: the pages' forms and the page itself use it.
    """
    unit = Unit.objects.filter(pk=draft.get("unit"), is_active=True).first()
    kinds = (
        list(AppointmentKind.objects.filter(unit=unit, is_active=True).order_by("name", "id"))
        if unit
        else []
    )
    kind = next((k for k in kinds if k.pk == draft.get("kind")), None)
    day = parse_date(draft["day"]) if isinstance(draft.get("day"), str) else None
    slot = None
    if kind is not None and day is not None and draft.get("slot"):
        slot = Slot.objects.filter(pk=draft["slot"], kind=kind).first()
    present = {
        "unit": unit is not None,
        "kind": kind is not None,
        "day": day is not None and kind is not None,
        "slot": slot is not None,
        "details": bool(draft.get("details")),
    }
    missing = next((slug for slug in STEPS if not present[KEYS[slug]]), None)
    return {
        "unit": unit,
        "kinds": kinds,
        "kind": kind,
        "day": day,
        "slot": slot,
        "missing": missing,
    }


def _initial(slug: str, draft: dict[str, Any]) -> dict[str, Any]:
    key = KEYS[slug]
    if key == "details":
        return dict(draft.get("details") or {})
    return {key: draft[key]} if key in draft else {}


def _step_url(slug: str, changing: bool) -> str:
    url = reverse("portal:portal_visits:step", args=[slug])
    return f"{url}?zmien=1" if changing else url


def _next_url(missing: str | None, slug: str, changing: bool) -> str:
    """After answering `slug`: the first unanswered page, else the check page or the next."""
    if missing is not None:
        return _step_url(missing, changing)
    if changing or slug == STEPS[-1]:
        return reverse("portal:portal_visits:check")
    return _step_url(STEPS[STEPS.index(slug) + 1], False)


def _render_step(
    request: HttpRequest,
    slug: str,
    form: PortalForm | None,
    context: dict[str, Any],
    changing: bool,
    empty: bool = False,
) -> HttpResponse:
    index = STEPS.index(slug)
    if changing:
        back = reverse("portal:portal_visits:check")
    elif index > 0:
        back = _step_url(STEPS[index - 1], False)
    else:
        back = reverse("portal:portal_visits:start")
    return render(
        request,
        "portal_visits/step.html",
        {
            "title": TITLE,
            "slug": slug,
            "page_title": STEP_TITLES[slug],
            "form": form,
            "empty": empty,
            "back": back,
            "step_number": index + 1,
            "step_count": len(STEPS),
            "kind": context["kind"],
            "unit": context["unit"],
            "day_text": day_text(context["day"]) if context["day"] else "",
            "errors": [
                (form.anchor(name), message)
                for name, messages in form.errors.items()
                if name in form.fields
                for message in messages
            ]
            if form is not None and form.is_bound
            else [],
        },
        status=400 if form is not None and form.is_bound and form.errors else 200,
    )


def _summary_rows(draft: dict[str, Any], context: dict[str, Any]) -> list[dict[str, Any]]:
    slot: Slot = context["slot"]
    kind: AppointmentKind = context["kind"]
    details = draft["details"]
    rows = [
        (_("Jednostka"), context["unit"].name, "jednostka"),
        (_("Sprawa"), kind.name, "rodzaj"),
        (_("Miejsce"), kind.place, None),
        (_("Dzień"), day_text(context["day"]), "dzien"),
        (_("Godzina"), time_label(slot), "godzina"),
        (_("Imię i nazwisko"), details["name"], "dane"),
        (_("Adres e-mail"), details["email"], "dane"),
        (_("Numer telefonu"), details.get("phone") or _("nie podano"), "dane"),
        (_("Opis sprawy"), details["matter"], "dane"),
    ]
    return [
        {"label": label, "value": value, "url": _step_url(slug, True) if slug else None}
        for label, value, slug in rows
    ]


def _to_booking(found: Booking) -> HttpResponse:
    token = services.manage_token_for(found.client_token)
    return redirect(reverse("portal:portal_visits:booking", args=[token]) + "?nowa=1")


def _refused(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/refused.html", {"message": honeypot_message()}, status=400)
