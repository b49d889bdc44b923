"""The citizen's account pages: log in (national login node or e-mail link), my filings,
add documents to a filing, log out. Thin views over `identity` and `saml`.

No staff data: a citizen sees their filings' numbers, status and deadlines, never
staff names or case signs. Someone else's filing is a 404, as a missing one is.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from garnizon.common.errors import DomainError
from garnizon.common.ratelimit import first_use
from garnizon.portal import identity, saml
from garnizon.portal.additions import AdditionLimits, addition_limits
from garnizon.portal.eservices import FLOWS
from garnizon.portal.forms import AttachmentsForm, PortalForm
from garnizon.portal.services import (
    portal_attachment_store,
    submission_status,
    tracking_token_for,
)

# A cookie that carries the pending request id to the ACS: the node posts the response
# cross-site, and a SameSite=Lax session cookie is not sent with such a POST.
SAML_COOKIE = "garnizon_saml"
SAML_COOKIE_MAX_AGE = 600
_SAML_COOKIE_SALT = "garnizon.portal.saml-pending"
# How long a resolved artifact is remembered as used (the node's own lifetime is minutes).
SAML_ARTIFACT_KEEP_SECONDS = 24 * 3600
ADDED_KEY = "portal_added"


class LoginEmailForm(PortalForm):
    single_question = True
    email = forms.EmailField(
        label=gettext_lazy("Podaj swój adres e-mail"),
        max_length=254,
        help_text=gettext_lazy("Wyślemy na niego link do logowania. Link działa tylko raz."),
        error_messages={
            "required": gettext_lazy("Podaj adres e-mail."),
            "invalid": gettext_lazy(
                "Podaj adres e-mail w poprawnym formacie, np. jan.kowalski@example.pl."
            ),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email", "spellcheck": "false"}),
    )


# --- login -------------------------------------------------------------------------------


@never_cache
def login(request: HttpRequest) -> HttpResponse:
    """Choose how to log in: the national login node (when configured) or an e-mail link."""
    _remember_next(request)
    if identity.citizen_from_session(request.session) is not None:
        return redirect(_next_url(request))
    return render(
        request,
        "portal/account/login.html",
        {"saml": saml.is_configured(), "back": reverse("portal:start")},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def login_email(request: HttpRequest) -> HttpResponse:
    """Ask for the address; send the link; the next page looks the same for every address."""
    if request.method == "POST":
        form = LoginEmailForm(request.POST)
        if form.is_valid():
            email = form.cleaned_data["email"]
            try:
                identity.email_login_request(
                    email=email,
                    link_base=saml.portal_base_url()
                    + reverse("portal:login_email_link", args=["T"]).removesuffix("T/"),
                    client_address=_client_address(request),
                )
            except DomainError as problem:
                return render(
                    request,
                    "portal/refused.html",
                    {"message": problem.message},
                    status={"rate": 429, "mail": 503}.get(problem.code, 400),
                )
            request.session["portal_login_email"] = email
            return redirect("portal:login_email_sent")
    else:
        form = LoginEmailForm()
    return render(
        request,
        "portal/account/email.html",
        {
            "form": form,
            "back": reverse("portal:login"),
            "errors": [
                (form.anchor(name), message)
                for name, messages in form.errors.items()
                for message in messages
            ],
        },
        status=400 if form.is_bound and form.errors else 200,
    )


@never_cache
def login_email_sent(request: HttpRequest) -> HttpResponse:
    """Check your inbox."""
    return render(
        request,
        "portal/account/email_sent.html",
        {
            "email": request.session.get("portal_login_email", ""),
            "minutes": identity.email_link_minutes(),
            "again": reverse("portal:login_email"),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def login_email_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the e-mail: GET asks to confirm (mail scanners only GET), POST logs in."""
    try:
        email = identity.email_login_check(token)
    except DomainError as problem:
        return _link_refused(request, problem)
    if request.method == "POST":
        try:
            citizen = identity.citizen_login_email(
                token, client_address=_client_address(request), language=_language()
            )
        except DomainError as problem:
            return _link_refused(request, problem)
        next_url = _next_url(request)
        identity.citizen_session_start(request.session, citizen)
        return redirect(next_url)
    return render(request, "portal/account/email_link.html", {"email": email})


def _link_refused(request: HttpRequest, problem: DomainError) -> HttpResponse:
    return render(
        request,
        "portal/account/email_link_refused.html",
        {"message": problem.message, "again": reverse("portal:login_email")},
        status=400,
    )


@never_cache
def saml_login(request: HttpRequest) -> HttpResponse:
    """Send the browser to the node with a signed AuthnRequest (HTTP-Redirect binding)."""
    if not saml.is_configured():
        raise Http404
    _remember_next(request)
    try:
        request_id, location = saml.authn_request_redirect()
    except saml.SamlError as problem:
        identity.saml_login_failed(problem.reason, client_address=_client_address(request))
        return _saml_failed(request, status=503)
    outstanding = dict(request.session.get(identity.SAML_OUTSTANDING_KEY) or {})
    # Keep only the last few attempts of this browser.
    outstanding = dict(list(outstanding.items())[-4:])
    outstanding[request_id] = "1"
    request.session[identity.SAML_OUTSTANDING_KEY] = outstanding
    response = redirect(location)
    response.set_cookie(
        SAML_COOKIE,
        signing.dumps(request_id, salt=_SAML_COOKIE_SALT),
        max_age=SAML_COOKIE_MAX_AGE,
        path=saml.ACS_PATH,
        secure=request.is_secure(),
        httponly=True,
        samesite="None" if request.is_secure() else "Lax",
    )
    return response


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def saml_acs(request: HttpRequest) -> HttpResponse:
    """The assertion consumer service: HTTP-POST (SAMLResponse) or HTTP-Artifact (SAMLart).

    An artifact (GET or POST) is resolved at the node over the back channel; the Response
    it stands for then goes through exactly the checks of a POSTed one.
    """
    if not saml.is_configured():
        raise Http404
    data = request.POST if request.method == "POST" else request.GET
    outstanding = dict(request.session.get(identity.SAML_OUTSTANDING_KEY) or {})
    pending = _pending_from_cookie(request)
    if pending:
        outstanding.setdefault(pending, "1")
    saml_art = data.get("SAMLart", "")
    if saml_art:
        return _saml_acs_artifact(request, saml_art, outstanding)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    saml_response = request.POST.get("SAMLResponse", "")
    if not outstanding and saml_response and request.POST.get("kontynuuj") != "1":
        # No session cookie came with the node's cross-site POST and no pending cookie
        # either: post the response again from our own page, where the session is sent.
        return render(
            request, "portal/account/saml_continue.html", {"saml_response": saml_response}
        )
    return _saml_acs_finish(request, saml_response, outstanding)


def _saml_acs_artifact(
    request: HttpRequest, saml_art: str, outstanding: dict[str, str]
) -> HttpResponse:
    """Resolve the artifact (once), then log in as for a POSTed response."""
    if not outstanding and request.method == "POST":
        # A cross-site POST brings no SameSite=Lax session cookie; a top-level GET does.
        # The artifact is not resolved yet (it is single use): send it to ourselves.
        return redirect(f"{reverse('portal:saml_acs')}?{urlencode({'SAMLart': saml_art})}")
    address = _client_address(request)
    try:
        if not outstanding:
            # Nothing this browser asked for: do not spend the node's artifact on it.
            raise saml.SamlError("unsolicited_artifact")
        if not first_use(
            "portal.saml.artifact",
            saml.artifact_fingerprint(saml_art),
            keep_seconds=SAML_ARTIFACT_KEEP_SECONDS,
        ):
            raise saml.SamlError("artifact_reused")
        saml_response = saml.resolve_artifact(saml_art)
    except saml.SamlError as problem:
        return _saml_acs_refused(request, problem.reason, address)
    return _saml_acs_finish(request, saml_response, outstanding)


def _saml_acs_finish(
    request: HttpRequest, saml_response: str, outstanding: dict[str, str]
) -> HttpResponse:
    """Check the response (POSTed or resolved from an artifact) and start the session."""
    address = _client_address(request)
    try:
        found = saml.parse_response(saml_response, outstanding)
        if identity.saml_response_seen(found.in_response_to, found.assertion_id):
            raise saml.SamlError("replayed")
    except saml.SamlError as problem:
        return _saml_acs_refused(request, problem.reason, address)
    try:
        citizen = identity.citizen_login_saml(found, client_address=address, language=_language())
    except DomainError:
        identity.saml_login_failed("no_subject", client_address=address)
        return _saml_failed(request, status=400)
    next_url = _next_url(request)
    identity.citizen_session_start(request.session, citizen, found.logout_session())
    response = redirect(next_url)
    response.delete_cookie(SAML_COOKIE, path=saml.ACS_PATH)
    return response


def _saml_acs_refused(request: HttpRequest, reason: str, address: str) -> HttpResponse:
    identity.saml_login_failed(reason, client_address=address)
    response = _saml_failed(request, status=400)
    response.delete_cookie(SAML_COOKIE, path=saml.ACS_PATH)
    return response


def _pending_from_cookie(request: HttpRequest) -> str:
    value = request.COOKIES.get(SAML_COOKIE, "")
    if not value:
        return ""
    try:
        request_id = signing.loads(value, salt=_SAML_COOKIE_SALT, max_age=SAML_COOKIE_MAX_AGE)
    except signing.BadSignature:
        return ""
    return request_id if isinstance(request_id, str) else ""


def _saml_failed(request: HttpRequest, *, status: int) -> HttpResponse:
    return render(
        request,
        "portal/account/saml_failed.html",
        {"login_url": reverse("portal:login")},
        status=status,
    )


def saml_metadata(request: HttpRequest) -> HttpResponse:
    """The portal's SP metadata, to register it with the node."""
    if not saml.is_configured():
        raise Http404
    return HttpResponse(saml.sp_metadata_xml(), content_type="application/samlmetadata+xml")


@never_cache
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Log out here; after a SAML login also at the node (SP-initiated single logout).

    The local session ends first, whatever happens next: a lost or refused answer
    from the node never leaves the citizen logged in here. With a SAML login and an
    IdP that has a SingleLogoutService, the browser then takes our signed
    LogoutRequest to the node, which answers at `saml_slo`.
    """
    address = _client_address(request)
    saml_session = identity.citizen_saml_session(request.session)
    sent: tuple[str, str] | None = None
    failure = ""
    if saml_session is not None and saml.is_configured():
        try:
            sent = saml.logout_request_redirect(saml_session)
        except saml.SamlError as problem:
            failure = problem.reason
    if sent is None:
        # Nothing is recorded before the session has ended.
        citizen = identity.citizen_logout(request.session, client_address=address)
        if failure:
            identity.saml_logout_failed(
                failure,
                slo="sp",
                citizen_id=citizen.pk if citizen is not None else None,
                client_address=address,
            )
        return redirect("portal:logged_out")
    request_id, location = sent
    citizen = identity.citizen_logout(
        request.session, client_address=address, slo="sp", slo_request=request_id
    )
    if citizen is not None:
        identity.saml_logout_pending(request.session, request_id, citizen)
    return redirect(location)


@never_cache
def logged_out(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/account/logged_out.html")


@never_cache
@require_GET
def saml_slo(request: HttpRequest) -> HttpResponse:
    """Our SingleLogoutService (HTTP-Redirect): the node's LogoutResponse or LogoutRequest."""
    if not saml.is_configured():
        raise Http404
    if "SAMLResponse" in request.GET:
        return _slo_response(request)
    if "SAMLRequest" in request.GET:
        return _slo_request(request)
    return _slo_refused(request)


def _slo_response(request: HttpRequest) -> HttpResponse:
    """The node's answer to our LogoutRequest; the local session has already ended."""
    address = _client_address(request)
    request_id, citizen_id = identity.saml_logout_pending_pop(request.session)
    try:
        saml.parse_logout_response(request.META.get("QUERY_STRING", ""), request_id)
    except saml.SamlError as problem:
        identity.saml_logout_failed(
            problem.reason,
            slo="sp",
            citizen_id=citizen_id,
            slo_request=request_id,
            client_address=address,
        )
        return render(request, "portal/account/slo_failed.html", status=400)
    identity.saml_logout_confirmed(request_id, citizen_id, client_address=address)
    return redirect("portal:logged_out")


def _slo_request(request: HttpRequest) -> HttpResponse:
    """The node asks us to end the session of one of its logins (IdP-initiated)."""
    address = _client_address(request)
    current = request.session.get(identity.SESSION_KEY)
    try:
        found = saml.parse_logout_request(request.META.get("QUERY_STRING", ""))
        if identity.saml_logout_request_seen(found.request_id):
            raise saml.SamlError("replayed")
    except saml.SamlError as problem:
        identity.saml_logout_failed(
            problem.reason,
            slo="idp",
            citizen_id=current if isinstance(current, int) else None,
            client_address=address,
        )
        return _slo_refused(request)
    outcome = identity.citizen_logout_by_idp(request.session, found, client_address=address)
    try:
        if outcome == "mismatch":
            location = saml.logout_response_redirect(
                found, status=saml.STATUS_REQUESTER, sub_status=saml.STATUS_UNKNOWN_PRINCIPAL
            )
        else:
            location = saml.logout_response_redirect(found)
    except saml.SamlError as problem:
        # The session has ended (or stays, for a mismatch); only the answer is lost.
        identity.saml_logout_failed(
            problem.reason, slo="idp", slo_request=found.request_id, client_address=address
        )
        if outcome == "mismatch":
            return _slo_refused(request)
        return redirect("portal:logged_out")
    return redirect(location)


def _slo_refused(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/account/slo_refused.html",
        {"logged_in": identity.citizen_from_session(request.session) is not None},
        status=400,
    )


# --- the citizen's filings ------------------------------------------------------------------


@never_cache
def account(request: HttpRequest) -> HttpResponse:
    """My filings, newest first."""
    citizen = identity.citizen_from_session(request.session)
    if citizen is None:
        return _to_login(request)
    rows = []
    for submission in identity.citizen_submissions(citizen):
        token = tracking_token_for(submission.client_token)
        rows.append(
            {
                "submission": submission,
                "item": submission.incoming_item,
                "flow": FLOWS.get(submission.service),
                "status": submission_status(submission),
                "tracking_url": reverse("portal:tracking", args=[token]),
                "add_url": reverse("portal:add_documents", args=[submission.pk]),
            }
        )
    return render(request, "portal/account/account.html", {"citizen": citizen, "rows": rows})


@never_cache
@require_http_methods(["GET", "POST"])
def add_documents(request: HttpRequest, pk: int) -> HttpResponse:
    """Add documents to one of my filings: each goes to intake on its register entry."""
    citizen = identity.citizen_from_session(request.session)
    if citizen is None:
        return _to_login(request)
    submission = identity.citizen_submission(citizen, pk)
    if submission is None:
        raise Http404
    flow = FLOWS.get(submission.service)
    # The service's limits, in the hint and in the early checks (before storing files).
    limits = addition_limits(submission)
    form = _files_form(limits, None)
    added_names: list[str] = request.session.pop(ADDED_KEY, None) or []
    if request.method == "POST":
        form = _files_form(limits, request.POST)
        form.is_valid()
        uploads = request.FILES.getlist("files")
        stored: list[dict[str, Any]] = []
        try:
            if getattr(request, "garnizon_upload_too_large", False):
                raise DomainError(
                    _("Plik jest za duży. Plik może mieć najwyżej %(mb)s MB.")
                    % {"mb": limits.max_mb},
                    field="files",
                )
            limits.check_count(len(uploads))
        except DomainError as problem:
            form.add_error("files", problem.message)
        else:
            for upload in uploads:
                try:
                    stored.append(
                        portal_attachment_store(
                            upload=upload,
                            types=limits.types,
                            max_bytes=limits.max_bytes,
                            strip_metadata=limits.strip_metadata,
                        )
                    )
                except DomainError as problem:
                    form.add_error("files", problem.message)
        if not form.errors:
            try:
                added = identity.submission_addition_add(
                    citizen=citizen,
                    submission=submission,
                    attachments=stored,
                    client_address=_client_address(request),
                )
            except DomainError as problem:
                form.add_error("files", problem.message)
            else:
                request.session[ADDED_KEY] = [a.name for a in added]
                return redirect("portal:add_documents", submission.pk)
    return render(
        request,
        "portal/account/add_documents.html",
        {
            "submission": submission,
            "item": submission.incoming_item,
            "flow": flow,
            "form": form,
            "additions": list(submission.additions.all()),
            "added_names": added_names,
            "back": reverse("portal:account"),
            "errors": [
                (form.anchor(name), message)
                for name, messages in form.errors.items()
                for message in messages
            ],
        },
        status=400 if form.errors else 200,
    )


# --- helpers -----------------------------------------------------------------------------


def _files_form(limits: AdditionLimits, data: Any) -> AttachmentsForm:
    form = AttachmentsForm(data, types=limits.types, max_bytes=limits.max_bytes)
    form.fields["files"].label = _("Wybierz pliki")
    form.fields["files"].help_text = limits.hint()
    return form


def _language() -> str:
    return (translation.get_language() or "pl")[:10]


def _client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "0.0.0.0"


def _safe_next(request: HttpRequest, value: str) -> str | None:
    if (
        value
        and value.startswith("/portal/")
        and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()})
    ):
        return value
    return None


def _remember_next(request: HttpRequest) -> None:
    wanted = _safe_next(request, request.GET.get("next", ""))
    if wanted:
        request.session[identity.NEXT_KEY] = wanted


def _next_url(request: HttpRequest) -> str:
    wanted = _safe_next(request, request.session.pop(identity.NEXT_KEY, "") or "")
    return wanted or reverse("portal:account")


def _to_login(request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse('portal:login')}?next={request.path}")
