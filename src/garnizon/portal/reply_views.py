"""The filer's side of replies (tracking page, file download) and the public petition list.

No staff login and no staff data: a reply is reached only through the filing's
tracking token (the citizen's own pages link to the same tracking page). Staff
names and case signs are never shown; the files are served as attachments.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from garnizon.documents.blobstore import BlobMissing, get_blob_store
from garnizon.portal.eservices import FLOWS
from garnizon.portal.models import PortalReply, Submission
from garnizon.portal.petitions import published_petitions_page
from garnizon.portal.replies import portal_reply_mark_opened
from garnizon.portal.services import submission_for_token, submission_status
from garnizon.portal.threats import threat_status_for


def tracking_context(submission: Submission, token: str) -> dict[str, Any]:
    """Status and replies for the tracking page; showing a reply is opening it (`opened_at`)."""
    # The outgoing item is read only for a reply not opened before (its first opening is
    # audited in its unit), not joined on every view of the page.
    replies = list(submission.replies.all())
    status = submission_status(submission, has_replies=bool(replies))
    for reply in replies:
        if reply.opened_at is None:
            portal_reply_mark_opened(reply=reply)
        reply.downloads = [
            {**file, "url": reverse("portal:reply_file", args=[token, reply.pk, index])}
            for index, file in enumerate(reply.files)
        ]
    return {
        "submission": submission,
        "item": submission.incoming_item,
        "status": status,
        "flow": FLOWS.get(submission.service),
        "replies": replies,
        "receipt_url": reverse("portal:receipt", args=[token]),
        "threat_status": threat_status_for(submission),
    }


def reply_file(request: HttpRequest, token: str, reply_id: int, index: int) -> HttpResponse:
    """One file of a reply, to the holder of the tracking token; the first download is delivery."""
    submission = submission_for_token(token)
    if submission is None:
        raise Http404
    reply = PortalReply.objects.filter(pk=reply_id, submission=submission).first()
    if reply is None or not 0 <= index < len(reply.files):
        raise Http404
    file = reply.files[index]
    try:
        reader = get_blob_store().open(file["sha256"])
    except BlobMissing as error:
        raise Http404 from error
    portal_reply_mark_opened(reply=reply)
    response = FileResponse(
        reader, as_attachment=True, filename=file["name"], content_type=file["mime"]
    )
    response["Cache-Control"] = "private, no-store"
    return response


def petitions(request: HttpRequest) -> HttpResponse:
    """Published petitions (art. 8 of the Petitions Act): subject, dates, text, name if agreed."""
    before = request.GET.get("przed", "")
    page = published_petitions_page(before_id=int(before) if before.isdigit() else None)
    return render(request, "portal/petitions.html", {"page": page})
