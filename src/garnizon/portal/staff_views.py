"""Staff pages for portal filings (`/e-uslugi/`): the list, a filing, the reply, publication.

Thin views over `replies`, `petitions` and `staff_selectors`. What a person may
not see is a 404 (its existence does not leak); what they see but may not do is a 403.
"""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from garnizon.audit.services import audit_record
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.org.access import Scope, acting_on_behalf
from garnizon.portal.eservices import FLOWS
from garnizon.portal.forms import MultipleFileInput
from garnizon.portal.models import EService, Submission
from garnizon.portal.petitions import can_publish_petition, name_consented, petition_publish
from garnizon.portal.replies import can_reply, can_see_submission, portal_reply_send
from garnizon.portal.services import submission_status
from garnizon.portal.staff_selectors import STATES, SubmissionFilters, submissions_page

MAX_ID = 2**63 - 1


# --- forms -------------------------------------------------------------------------------------


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        if not data:
            return []
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


class ReplyForm(forms.Form):
    subject = forms.CharField(label=gettext_lazy("Temat"), max_length=500)
    body = forms.CharField(
        label=gettext_lazy("Treść odpowiedzi"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=gettext_lazy(
            "Zgłaszający zobaczy ją na stronie sprawy w portalu; e-mail zawiera tylko link."
        ),
    )
    files = MultipleFileField(
        label=gettext_lazy("Pliki (np. pismo lub zaświadczenie w PDF)"), required=False
    )
    form_token = forms.CharField(widget=forms.HiddenInput)


class PublishForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Tekst petycji do publikacji"),
        widget=forms.Textarea(attrs={"rows": 14}),
        help_text=gettext_lazy(
            "Sprawdź, czy tekst nie zawiera danych osób trzecich. Imię i nazwisko wnoszącego "
            "pokażemy tylko, jeśli wyraził zgodę."
        ),
    )


# --- views -----------------------------------------------------------------------------------


@login_required
def submission_list(request: HttpRequest) -> HttpResponse:
    g = request.GET
    filters = SubmissionFilters(
        service=g.get("service", "") if g.get("service", "") in EService.values else "",
        state=g.get("state", "") if g.get("state", "") in STATES else "",
    )
    page = submissions_page(person=request.user, filters=filters, before_id=_int(g.get("cursor")))
    query = g.copy()
    query.pop("cursor", None)
    return render(
        request,
        "portal/staff/submission_list.html",
        {
            "page": page,
            "filters": filters,
            "services": EService.choices,
            "states": STATES.items(),
            "query": query.urlencode(),
        },
    )


@login_required
def submission_detail(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission, scope = _visible(request, submission_id)
    item = submission.incoming_item
    may_publish = can_publish_petition(scope, submission)
    return render(
        request,
        "portal/staff/submission_detail.html",
        {
            "submission": submission,
            "item": item,
            "status": submission_status(submission),
            "fields": _fields(submission),
            "replies": submission.replies.select_related("outgoing_item"),
            "may_reply": can_reply(scope, submission),
            "may_publish": may_publish and submission.published_at is None,
            "publish_form": PublishForm(initial={"text": _filed_text(submission)})
            if may_publish
            else None,
            "name_consented": name_consented(submission),
            "is_petition": submission.service == EService.PETITION,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def reply_new(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission, scope = _visible(request, submission_id)
    if not can_reply(scope, submission):
        raise PermissionDenied
    if request.method == "POST":
        form = ReplyForm(request.POST, request.FILES)
        if form.is_valid():
            d = form.cleaned_data
            reply = _call(
                form,
                portal_reply_send,
                actor=request.user,
                submission=submission,
                subject=d["subject"],
                body=d["body"],
                files=d["files"],
                client_token=f"portal-reply:{d['form_token'][:40]}",
            )
            if reply is not None:
                messages.success(
                    request,
                    _("Wysłano odpowiedź przez portal (%(number)s).")
                    % {"number": reply.outgoing_item.registration_number},
                )
                return redirect("portal_staff:submission_detail", submission.pk)
    else:
        subject = _("Odpowiedź: %(subject)s") % {"subject": submission.incoming_item.subject}
        form = ReplyForm(initial={"subject": subject, "form_token": secrets.token_hex(16)})
    return render(
        request,
        "portal/staff/reply_form.html",
        {"form": form, "submission": submission, "item": submission.incoming_item},
        status=400 if form.is_bound and form.errors else 200,
    )


@login_required
@require_http_methods(["POST"])
def publish(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission, scope = _visible(request, submission_id)
    if submission.service != EService.PETITION:
        raise Http404
    if not can_publish_petition(scope, submission):
        raise PermissionDenied
    form = PublishForm(request.POST)
    if form.is_valid() and _call(
        form,
        petition_publish,
        actor=request.user,
        submission=submission,
        text=form.cleaned_data["text"],
    ):
        messages.success(request, _("Petycję opublikowano w portalu."))
        return redirect("portal_staff:submission_detail", submission.pk)
    return render(
        request,
        "portal/staff/publish_form.html",
        {"form": form, "submission": submission, "item": submission.incoming_item},
        status=400,
    )


# --- helpers ---------------------------------------------------------------------------------


def _visible(request: HttpRequest, submission_id: int) -> tuple[Submission, Scope]:
    """The filing if the user sees its item or case (the view is audited), else 404."""
    submission = (
        Submission.objects.select_related("incoming_item", "incoming_item__case", "unit")
        .filter(pk=submission_id)
        .first()
    )
    scope = Scope.for_person(request.user)
    if submission is None or not can_see_submission(scope, submission):
        raise Http404
    on_behalf = acting_on_behalf(scope, lambda s: can_see_submission(s, submission))
    audit_record(actor=request.user, action="view", obj=submission, on_behalf_of=on_behalf)
    return submission, scope


def _call(form: forms.Form, service: Any, **kwargs: Any) -> Any:
    try:
        return service(**kwargs)
    except NotVisible as error:
        raise Http404 from error
    except AccessDenied as error:
        form.add_error(None, str(error.message))
    except DomainError as error:
        form.add_error(error.field if error.field in form.fields else None, str(error.message))
    return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 0 < int(value) <= MAX_ID else None


def _fields(submission: Submission) -> list[tuple[str, str]]:
    """The filed answers with the flow's labels, as the staff's plain-text copy shows them."""
    flow = FLOWS.get(submission.service)
    labels = dict(flow.labels) if flow is not None else {}
    rows = []
    for key, value in submission.filed_fields().items():
        if isinstance(value, bool):
            value = _("tak") if value else _("nie")
        rows.append((str(labels.get(key, key)), str(value) if value not in ("", None) else "–"))
    return rows


def _filed_text(submission: Submission) -> str:
    text = submission.filed_fields().get("text")  # every flow names its text field `text`
    return text if isinstance(text, str) else ""
