"""The receipt (potwierdzenie złożenia) as a PDF, in the language the filer used."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import translation

from garnizon.portal.models import Submission
from garnizon.portal.services import submission_status


def receipt_pdf(submission: Submission) -> bytes:
    """Registration number, unit, date and time, SHA-256 of what was filed, attachments, deadline.

    Rendered from the stored submission each time, so it always says the same;
    DejaVu fonts carry the Polish and Ukrainian letters.
    """
    from weasyprint import HTML

    with translation.override(submission.language or "pl"):
        html = render_to_string(
            "portal/receipt.html",
            {
                "submission": submission,
                "item": submission.incoming_item,
                "status": submission_status(submission),
                "hash_lines": _split(submission.content_sha256),
            },
        )
    return HTML(string=html).write_pdf()


def _split(digest: str) -> list[str]:
    """A 64-character hash in two halves, so it never wraps mid-line in the PDF."""
    return [digest[:32], digest[32:]]
