"""Citizen e-services portal: thin views over `flows` (the pages) and `services` (filing).

No staff login and no staff data: these views never read `request.user`.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

from django import forms as django_forms
from django.conf import settings
from django.core.cache import cache
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from garnizon.common.errors import DomainError
from garnizon.portal import conf
from garnizon.portal.eservices import FLOWS
from garnizon.portal.flows import (
    ATTACHMENTS,
    Flow,
    Step,
    draft_clear,
    draft_get,
    draft_peek,
    draft_save,
    merged,
)
from garnizon.portal.forms import HONEYPOT, AttachmentsForm, PortalForm, honeypot_message
from garnizon.portal.group_commit import FilingBatchError
from garnizon.portal.identity import (
    NAME_KEY,
    FilingLimited,
    citizen_from_session,
    filing_email,
    portal_filing_limit_checks,
)
from garnizon.portal.receipts import receipt_pdf
from garnizon.portal.services import (
    portal_attachment_store,
    portal_submission_file,
    submission_for_token,
    tracking_token_for,
)

log = logging.getLogger(__name__)

# When the accessibility statement was prepared; update it with the yearly review.
STATEMENT_DATE = datetime.date(2026, 11, 26)


PUBLIC_PAGE_SECONDS = 60


def public_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve a page that is the same for every anonymous visitor from the cache.

    Used for pages without forms or personal data (the start page, a service's
    start page, the accessibility statement): kept per path and language for
    `PUBLIC_PAGE_SECONDS` in this process's cache. A logged-in citizen (whose
    name is in the header), a query string, or anything but GET skip the cache.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        cacheable = (
            request.method == "GET"
            and not request.GET
            and not (
                settings.SESSION_COOKIE_NAME in request.COOKIES and request.session.get(NAME_KEY)
            )
        )
        if not cacheable:
            return view(request, *args, **kwargs)
        key = f"portal:page:{translation.get_language()}:{request.path}"
        cached = cache.get(key)
        if cached is not None:
            return HttpResponse(cached, content_type="text/html; charset=utf-8")
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming:
            cache.set(key, response.content, PUBLIC_PAGE_SECONDS)
        return response

    return wrapper


# The CSRF field in a rendered question page, and what stands for its token in the cache.
_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')
_CSRF_PLACEHOLDER = "\x00csrf\x00"


def _blank_page_key(request: HttpRequest, position: tuple[str, int, int]) -> str | None:
    """The cache key of a blank question page, or None where the page must be drawn.

    A question page not yet answered, for a visitor not logged in, is the same
    for every filer at the same place in the same service but for the CSRF
    token: its path, language, back link and "step n of m" are the key. Only
    the plain path and the change link (``?zmien=1``) are kept, so no query
    string can fill the cache.
    """
    if request.META.get("QUERY_STRING", "") not in ("", "zmien=1"):
        return None
    if request.session.get(NAME_KEY):
        return None
    parts = f"{translation.get_language()}\0{request.get_full_path()}\0{position!r}"
    return "portal:blank:" + hashlib.sha256(parts.encode()).hexdigest()


def _blank_page_kept(request: HttpRequest, key: str | None) -> HttpResponse | None:
    """The kept blank page under `key` with this visitor's own CSRF token, or None."""
    kept = cache.get(key) if key else None
    if kept is None:
        return None
    return HttpResponse(
        kept.replace(_CSRF_PLACEHOLDER, get_token(request)),
        content_type="text/html; charset=utf-8",
    )


def _blank_page_keep(key: str | None, response: HttpResponse) -> None:
    """Keep a freshly drawn blank page under `key`, its one CSRF token taken out."""
    if key is None or response.status_code != 200:
        return
    blank, fields = _CSRF_FIELD.subn(
        f'name="csrfmiddlewaretoken" value="{_CSRF_PLACEHOLDER}"', response.content.decode()
    )
    if fields == 1:
        cache.set(key, blank, PUBLIC_PAGE_SECONDS)


def language(request: HttpRequest, code: str) -> HttpResponse:
    """Switch the portal's language by a plain link (no form, so pages stay cacheable)."""
    if code not in dict(settings.LANGUAGES):
        raise Http404
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ) or not target.startswith("/"):
        target = reverse("portal:start")
    response = redirect(target)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    response["Cache-Control"] = "no-store"
    return response


@public_page
def start(request: HttpRequest) -> HttpResponse:
    """The start page: what the portal offers."""
    return render(request, "portal/start.html", {"flows": FLOWS.values()})


@public_page
def accessibility(request: HttpRequest) -> HttpResponse:
    """Deklaracja dostępności (accessibility statement)."""
    return render(
        request,
        "portal/accessibility.html",
        {
            "published": STATEMENT_DATE,
            "updated": STATEMENT_DATE,
            "prepared": STATEMENT_DATE,
            "contact": conf.accessibility_contact(),
        },
    )


@public_page
def service_start(request: HttpRequest, service: str) -> HttpResponse:
    flow = _flow(service)
    return render(
        request,
        "portal/service_start.html",
        {"flow": flow, "first": reverse("portal:step", args=[service, flow.steps[0].slug])},
    )


@require_http_methods(["GET", "POST"])
def step(request: HttpRequest, service: str, slug: str) -> HttpResponse:
    """One question page: GET shows the saved answers, POST saves and moves on."""
    flow = _flow(service)
    page = flow.step(slug)
    if page is None:
        raise Http404
    draft = draft_get(request.session, service)
    missing = flow.first_missing(draft)
    order = [s.slug for s in flow.steps]
    if missing is not None and order.index(missing.slug) < order.index(slug):
        return redirect("portal:step", service, missing.slug)
    if not page.when(merged(draft)):
        return redirect(_next_url(flow, page, draft, changing=False))
    changing = request.GET.get("zmien") == "1"
    if request.method == "POST" and request.POST.get(HONEYPOT):
        return _refused(request, honeypot_message(), status=400)
    if page.slug == ATTACHMENTS:
        return _attachments(request, flow, page, draft, changing)
    # A page may read the earlier answers (the threat map: the point picked so far).
    extra = {"answers": merged(draft)} if getattr(page.form, "takes_answers", False) else {}
    if request.method == "POST":
        form = page.form(request.POST, **extra)
        if form.is_valid():
            draft["pages"][page.slug] = form.serializable()
            draft_save(request.session, service, draft)
            if getattr(form, "stay", False):  # say, a click on the map: show the zoomed map
                return redirect(request.get_full_path())
            return redirect(_next_url(flow, page, draft, changing))
    else:
        initial = draft["pages"].get(page.slug) or _from_account(request, page.form)
        position = _position(flow, page, draft, changing)
        key = None if initial or extra else _blank_page_key(request, position)
        kept = _blank_page_kept(request, key)
        if kept is not None:
            return kept
        form = page.form(initial=initial, **extra)
        response = _render_step(request, flow, page, draft, form, changing, position)
        _blank_page_keep(key, response)
        return response
    return _render_step(request, flow, page, draft, form, changing)


def _from_account(request: HttpRequest, form_class: type[PortalForm]) -> dict[str, Any] | None:
    """A logged-in citizen's name and e-mail for a page that asks for them, not yet answered."""
    if not request.session.get(NAME_KEY):
        return None
    fields = form_class.base_fields
    if "email" not in fields and "name" not in fields:
        return None
    citizen = citizen_from_session(request.session)
    if citizen is None:
        return None
    known = {"email": citizen.email, "name": f"{citizen.first_name} {citizen.last_name}".strip()}
    return {key: value for key, value in known.items() if key in fields and value}


def _attachments(
    request: HttpRequest, flow: Flow, page: Step, draft: dict[str, Any], changing: bool
) -> HttpResponse:
    """Upload files one batch at a time; each is stored and listed; `usun` removes one."""
    limits = {"types": flow.attachment_types, "max_bytes": flow.max_bytes}
    form_class = page.form if issubclass(page.form, AttachmentsForm) else AttachmentsForm
    form = form_class(**limits)
    if request.method == "POST":
        form = form_class(request.POST, **limits)
        form.is_valid()
        if "usun" in request.POST:
            index = request.POST.get("usun", "")
            if index.isdigit() and int(index) < len(draft["attachments"]):
                draft["attachments"].pop(int(index))
                draft_save(request.session, flow.service, draft)
            return redirect(request.get_full_path())
        if getattr(request, "garnizon_upload_too_large", False):
            form.add_error(
                "files",
                _("Plik jest za duży. Plik może mieć najwyżej %(mb)s MB.")
                % {"mb": flow.max_bytes // (1024 * 1024)},
            )
        uploads = request.FILES.getlist("files")
        if len(draft["attachments"]) + len(uploads) > conf.max_attachments():
            form.add_error(
                "files",
                _("Możesz dodać najwyżej %(n)s plików.") % {"n": conf.max_attachments()},
            )
            uploads = []
        for upload in uploads:
            try:
                draft["attachments"].append(
                    portal_attachment_store(
                        upload=upload,
                        types=flow.attachment_types,
                        max_bytes=flow.max_bytes,
                        strip_metadata=flow.strip_photo_metadata,
                    )
                )
            except DomainError as error:
                form.add_error("files", error.message)
        draft_save(request.session, flow.service, draft)
        if not form.errors and "dodaj" not in request.POST:
            return redirect(_next_url(flow, page, draft, changing))
        if not form.errors:
            return redirect(request.get_full_path())
    return _render_step(request, flow, page, draft, form, changing)


@require_http_methods(["GET", "POST"])
def check(request: HttpRequest, service: str) -> HttpResponse:
    """Check your answers; POST files the submission."""
    flow = _flow(service)
    if request.method == "POST":
        if request.POST.get(HONEYPOT):
            return _refused(request, honeypot_message(), status=400)
        # A resubmitted form (double click, back button) carries a token already filed.
        # The form of the draft still in the session is not looked up: if it was
        # filed meanwhile, the register's replay check gives the first filing.
        token = request.POST.get("form_token", "")
        pending = draft_peek(request.session, service)
        if pending is None or pending.get("token") != token:
            done = _filed(token)
            if done is not None:
                return done
    draft = draft_get(request.session, service)
    missing = flow.first_missing(draft)
    if missing is not None:
        return redirect("portal:step", service, missing.slug)
    unit = flow.unit(draft)
    if unit is None:
        return redirect("portal:step", service, flow.steps[0].slug)
    error = _validation_error(flow, draft)
    if request.method == "POST" and error is None:
        if request.POST.get("form_token") != draft["token"]:
            error = _("Ten formularz wygasł. Sprawdź odpowiedzi i wyślij go jeszcze raz.")
        else:
            try:
                submission = portal_submission_file(
                    service=service,
                    unit=unit,
                    fields=flow.fields(draft),
                    attachments=draft["attachments"],
                    client_token=draft["token"],
                    language=translation.get_language() or "pl",
                    client_address=_client_address(request),
                    citizen=citizen_from_session(request.session),
                    limits=portal_filing_limit_checks(
                        client_address=_client_address(request),
                        email=filing_email(request.session, flow.fields(draft)),
                    ),
                )
            except FilingLimited as problem:
                return _refused(request, problem.message, status=429)
            except DomainError as problem:
                error = problem.message
            except (OperationalError, FilingBatchError):
                # The register did not get its turn in time (the database busy or
                # gone): nothing was filed, and the draft stays for another try.
                log.exception("Portal: a filing could not be registered")
                return _refused(request, _register_busy_message(), status=503)
            else:
                draft_clear(request.session, service)
                return redirect("portal:confirmation", tracking_token_for(submission.client_token))
    return render(
        request,
        "portal/check.html",
        {
            "flow": flow,
            "rows": _summary_rows(flow, draft, unit),
            "attachments": draft["attachments"],
            "attachments_url": _step_url(flow, ATTACHMENTS, changing=True),
            "form_token": draft["token"],
            "error": error,
            "back": _step_url(flow, flow.active_steps(merged(draft))[-1].slug, changing=False),
        },
        status=400 if error else 200,
    )


def confirmation(request: HttpRequest, token: str) -> HttpResponse:
    submission = submission_for_token(token)
    if submission is None:
        raise Http404
    return render(
        request,
        "portal/confirmation.html",
        {
            "submission": submission,
            "item": submission.incoming_item,
            "flow": FLOWS[submission.service],
            "tracking_url": request.build_absolute_uri(reverse("portal:tracking", args=[token])),
            "receipt_url": reverse("portal:receipt", args=[token]),
        },
    )


def tracking(request: HttpRequest, token: str) -> HttpResponse:
    """What the filer may see: status, deadline, receipt, replies. No staff names, no case sign."""
    submission = submission_for_token(token)
    if submission is None:
        return render(request, "portal/tracking_unknown.html", status=404)
    from garnizon.portal.reply_views import tracking_context

    return render(
        request,
        "portal/tracking.html",
        tracking_context(submission, token),
    )


def receipt(request: HttpRequest, token: str) -> HttpResponse:
    submission = submission_for_token(token)
    if submission is None:
        raise Http404
    response = HttpResponse(receipt_pdf(submission), content_type="application/pdf")
    name = submission.incoming_item.registration_number.replace("/", "-")
    response["Content-Disposition"] = f'attachment; filename="potwierdzenie-{name}.pdf"'
    return response


# --- helpers ---------------------------------------------------------------------------


def _flow(service: str) -> Flow:
    flow = FLOWS.get(service)
    if flow is None:
        raise Http404
    return flow


def _validation_error(flow: Flow, draft: dict[str, Any]) -> str | None:
    """The flow's own check of the answers and files together, as a message, or None."""
    if flow.validate is None:
        return None
    try:
        flow.validate(flow.fields(draft), draft["attachments"])
    except DomainError as problem:
        return problem.message
    return None


def _step_url(flow: Flow, slug: str, *, changing: bool) -> str:
    url = reverse("portal:step", args=[flow.service, slug])
    return f"{url}?zmien=1" if changing else url


def _next_url(flow: Flow, page: Step, draft: dict[str, Any], changing: bool) -> str:
    # A change link returns to the check page, unless the change opened a new page.
    missing = flow.first_missing(draft)
    if missing is not None:
        return _step_url(flow, missing.slug, changing=changing)
    following = flow.next_after(page.slug, draft)
    if changing or following is None:
        return reverse("portal:check", args=[flow.service])
    return _step_url(flow, following.slug, changing=False)


def _position(
    flow: Flow, page: Step, draft: dict[str, Any], changing: bool
) -> tuple[str, int, int]:
    """Where a question page stands: its back link, its number and the number of pages."""
    previous = flow.previous_before(page.slug, draft)
    if changing:
        back = reverse("portal:check", args=[flow.service])
    elif previous is not None:
        back = _step_url(flow, previous.slug, changing=False)
    else:
        back = reverse("portal:service", args=[flow.service])
    steps = flow.active_steps(merged(draft))
    number = [s.slug for s in steps].index(page.slug) + 1 if page in steps else 1
    return back, number, len(steps)


def _render_step(
    request: HttpRequest,
    flow: Flow,
    page: Step,
    draft: dict[str, Any],
    form: PortalForm,
    changing: bool,
    position: tuple[str, int, int] | None = None,
) -> HttpResponse:
    back, number, count = position or _position(flow, page, draft, changing)
    return render(
        request,
        "portal/attachments.html" if page.slug == ATTACHMENTS else "portal/step.html",
        {
            "flow": flow,
            "page": page,
            "form": form,
            "back": back,
            "step_number": number,
            "step_count": count,
            "attachments": draft["attachments"],
            "errors": [
                (form.anchor(name), message)
                for name, messages in form.errors.items()
                if name in form.fields
                for message in messages
            ],
        },
        status=400 if form.is_bound and form.errors else 200,
    )


def _summary_rows(flow: Flow, draft: dict[str, Any], unit: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in flow.active_steps(merged(draft)):
        if page.slug == ATTACHMENTS:
            continue
        answers = draft["pages"].get(page.slug, {})
        form = page.form()
        for name, field in form.fields.items():
            value = answers.get(name)
            if name == "unit":
                shown: Any = unit.name
            elif isinstance(field, django_forms.BooleanField) or isinstance(value, bool):
                shown = _("Tak") if value else _("Nie")
                if name == "anonymous":
                    shown = _("Nie, anonimowo") if value else _("Tak")
            elif isinstance(field, django_forms.ChoiceField):
                shown = dict(field.choices).get(value, value)
            elif isinstance(field, django_forms.DateField | django_forms.TimeField) and value:
                shown = _localized(value)
            else:
                shown = value or _("nie podano")
            rows.append(
                {
                    "label": field.label,
                    "value": shown,
                    "url": _step_url(flow, page.slug, changing=True),
                }
            )
    return rows


def _localized(value: str) -> str:
    """A date or time the session keeps as ISO text, in the page's language."""
    try:
        if ":" in value:
            return formats.time_format(datetime.time.fromisoformat(value), "TIME_FORMAT")
        return formats.date_format(datetime.date.fromisoformat(value), "DATE_FORMAT")
    except ValueError:
        return value


def _filed(token: str) -> HttpResponse | None:
    from garnizon.portal.models import Submission

    if not token or not Submission.objects.filter(client_token=token).exists():
        return None
    return redirect("portal:confirmation", tracking_token_for(token))


def _client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"


def _register_busy_message() -> str:
    return _(
        "Nie udało się teraz zarejestrować zgłoszenia: rejestr jest chwilowo zajęty. Nic nie "
        "zostało wysłane, a Twoje odpowiedzi są zapisane. Wróć i wyślij formularz jeszcze raz "
        "za kilka minut."
    )


def _refused(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "portal/refused.html", {"message": message}, status=status)
