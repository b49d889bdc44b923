"""Upload, download and preview of documents in the staff UI.

Anything the person may not see answers 404. Downloads are attachments;
previews (PDF and images only) are inline under `Content-Security-Policy:
sandbox`, so a crafted file cannot run script in Garnizon's origin.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from garnizon.cases.selectors import cases_visible_to
from garnizon.common.errors import DomainError, NotVisible
from garnizon.documents import services
from garnizon.documents.blobstore import BlobError, get_blob_store
from garnizon.documents.forms import DocumentUploadForm, VersionUploadForm
from garnizon.documents.metadata import PREVIEWABLE
from garnizon.documents.thumbnails import MIME as THUMBNAIL_MIME
from garnizon.org.access import Scope
from garnizon.registry.selectors import incoming_visible_to, outgoing_visible_to

log = logging.getLogger(__name__)

TARGETS = {
    "case": ("case", cases_visible_to, "web:case_detail", "case_id"),
    "incoming": ("incoming_item", incoming_visible_to, "web:incoming_detail", "item_id"),
    "outgoing": ("outgoing_item", outgoing_visible_to, "web:outgoing_detail", "item_id"),
}


@login_required
@require_POST
def document_upload(request: HttpRequest, target: str, target_id: int) -> HttpResponse:
    if target not in TARGETS:
        raise Http404()
    field, visible_to, page, page_kwarg = TARGETS[target]
    scope = Scope.for_person(request.user)
    obj = visible_to(request.user, scope=scope).filter(pk=target_id).first()
    if obj is None:
        raise Http404()
    back = reverse(page, kwargs={page_kwarg: obj.pk})
    form = DocumentUploadForm(request.POST, request.FILES)
    files = request.FILES.getlist("files")
    if getattr(request, "garnizon_upload_too_large", False):
        messages.error(request, _too_large())
        return redirect(back + "#documents")
    if not form.is_valid() or not files:
        messages.error(request, _("Wybierz co najmniej jeden plik."))
        return redirect(back + "#documents")
    title = form.cleaned_data["title"] if len(files) == 1 else ""
    added, failed = 0, []
    for upload in files:
        try:
            services.document_add(
                actor=request.user,
                file=upload,
                title=title,
                kind=form.cleaned_data["kind"],
                **{field: obj},
            )
            added += 1
        except NotVisible as exc:
            raise Http404() from exc
        except DomainError as exc:
            failed.append(f"{upload.name}: {exc.message}")
    if added:
        messages.success(
            request,
            ngettext("Dodano %(n)d dokument.", "Dodano %(n)d dokumenty.", added) % {"n": added},
        )
    for failure in failed:
        messages.error(request, failure)
    return redirect(back + "#documents")


@login_required
@require_GET
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    try:
        document = services.document_get_for_view(actor=request.user, document_id=document_id)
    except NotVisible as exc:
        raise Http404(str(exc.message)) from exc
    scope = Scope.for_person(request.user)
    can_add = services.can_add_document(
        scope,
        case=document.case,
        incoming_item=document.incoming_item,
        outgoing_item=document.outgoing_item,
    )
    return render(
        request,
        "documents/document_detail.html",
        {
            "document": document,
            "versions": document.versions.select_related("created_by", "on_behalf_of"),
            "version_form": VersionUploadForm() if can_add else None,
        },
    )


@login_required
@require_POST
def version_upload(request: HttpRequest, document_id: int) -> HttpResponse:
    try:
        document = services.document_get_for_view(actor=request.user, document_id=document_id)
    except NotVisible as exc:
        raise Http404() from exc
    upload = request.FILES.get("file")
    if getattr(request, "garnizon_upload_too_large", False):
        messages.error(request, _too_large())
    elif upload is None:
        messages.error(request, _("Wybierz plik."))
    else:
        try:
            version = services.document_add_version(
                actor=request.user, document=document, file=upload
            )
            messages.success(request, _("Dodano wersję %(number)d.") % {"number": version.number})
        except NotVisible as exc:
            raise Http404() from exc
        except DomainError as exc:
            messages.error(request, str(exc.message))
    return redirect("documents:detail", document_id=document.pk)


def _open(request: HttpRequest, version_id: int, purpose: str):
    try:
        return services.document_version_open_for_read(
            actor=request.user, version_id=version_id, purpose=purpose
        )
    except NotVisible as exc:
        raise Http404() from exc
    except BlobError:
        log.exception("document version %s: blob unreadable", version_id)
        return None


def _unavailable() -> HttpResponse:
    return HttpResponse(
        _("Plik jest niedostępny albo uszkodzony. Zgłoś to administratorowi."),
        status=503,
        content_type="text/plain; charset=utf-8",
    )


def file_response(version, reader, *, inline: bool) -> FileResponse:
    response = FileResponse(
        reader,
        as_attachment=not inline,
        filename=version.original_filename,
        content_type=version.mime_type,
    )
    response["Content-Length"] = str(version.size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    if inline:
        # Only PDF and raster images reach here (types detected by content). Images
        # get a sandbox; a PDF cannot, because Chromium's PDF viewer refuses to run in
        # a sandboxed document. A PDF's scripts run in the viewer's own isolated
        # engine, never in Garnizon's origin, and nothing may load from or frame it.
        response["Content-Security-Policy"] = (
            "default-src 'none'; frame-ancestors 'self'"
            if version.mime_type == "application/pdf"
            else "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
        )
    return response


@login_required
@require_GET
def version_download(request: HttpRequest, version_id: int) -> HttpResponse:
    opened = _open(request, version_id, "download")
    if opened is None:
        return _unavailable()
    version, reader = opened
    return file_response(version, reader, inline=False)


@login_required
@require_GET
def version_preview(request: HttpRequest, version_id: int) -> HttpResponse:
    # The type is checked before the read is opened (and audited).
    visible = services.versions_visible_to(request.user).filter(pk=version_id).first()
    if visible is None:
        raise Http404()
    if visible.mime_type not in PREVIEWABLE:
        raise Http404(_("Podgląd jest dostępny tylko dla PDF i obrazów."))
    opened = _open(request, version_id, "preview")
    if opened is None:
        return _unavailable()
    version, reader = opened
    return file_response(version, reader, inline=True)


@login_required
@require_GET
def version_thumbnail(request: HttpRequest, version_id: int) -> HttpResponse:
    """The first page as a small picture, for whoever may preview the version; 404 without one.

    Not audited (a list of documents would write an entry per row); the preview and the
    download are. Cached privately for a year: a version and its thumbnail never change.
    """
    visible = (
        services.versions_visible_to(request.user)
        .filter(pk=version_id)
        .values_list("thumbnail_sha256", flat=True)
        .first()
    )
    if not visible:
        raise Http404()
    store = get_blob_store()
    try:
        reader = store.open(visible)
    except BlobError as exc:
        log.warning("document version %s: thumbnail blob unreadable", version_id)
        raise Http404() from exc
    response = FileResponse(reader, content_type=THUMBNAIL_MIME)
    response["Content-Length"] = str(store.path(visible).stat().st_size)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


def _too_large() -> str:
    return _("Plik jest za duży: największy dopuszczalny rozmiar to %(mb)s MB.") % {
        "mb": settings.GARNIZON_MAX_UPLOAD_MB
    }
