"""The intake step that makes the attached document's thumbnail (`documents/thumbnails.py`).

It runs after `attach`, on the attached document's newest version. For an image
item the `barcodes` step has already decoded the first frame and left its
thumbnail picture in `ctx.notes["thumbnail"]`: that picture is stored instead of
rendering the first page of the OCR PDF again (~40 ms of CPU a page). A file that
cannot be rendered is a note in the item's history, never a failure: the
document is registered either way. It follows the `Step` contract without
inheriting from it, so `steps.py` can import it at the top without a cycle.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from garnizon.intake.steps import IntakeContext, StepOutcome

log = logging.getLogger(__name__)


class Thumbnail:
    """The first page of the attached document as a small picture (once)."""

    name = "thumbnail"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        return ctx.item.document_id is not None

    def cleanup(self, ctx: IntakeContext) -> None:
        pass

    def run(self, ctx: IntakeContext) -> StepOutcome:
        from garnizon.documents.models import DocumentVersion
        from garnizon.documents.thumbnails import IMAGES, ThumbnailError, version_thumbnail
        from garnizon.intake.models import StepStatus
        from garnizon.intake.steps import StepOutcome

        version = (
            DocumentVersion.objects.filter(document_id=ctx.item.document_id)
            .order_by("-number")
            .first()
        )
        if version is None:
            return StepOutcome(StepStatus.SKIPPED, _("Dokument nie ma jeszcze wersji."))
        if version.thumbnail_sha256:
            return StepOutcome(StepStatus.SKIPPED, _("Miniatura już istnieje."))
        picture = None
        if version.number == 1 and ctx.item.mime_type in IMAGES:
            # Version 1 was made from this image: its first page is the first frame.
            picture = ctx.notes.pop("thumbnail", None)
        try:
            sha256 = version_thumbnail(version, picture)
        except ThumbnailError as error:
            return StepOutcome(
                StepStatus.SKIPPED,
                _("Nie utworzono miniatury: %(reason)s Dokument jest przyjęty bez niej.")
                % {"reason": error.message},
            )
        except Exception:
            log.exception("intake item %s: thumbnail failed", ctx.item.pk)
            return StepOutcome(
                StepStatus.SKIPPED,
                _("Nie utworzono miniatury (nieoczekiwany błąd); dokument jest przyjęty bez niej."),
            )
        if sha256 is None:
            return StepOutcome(
                StepStatus.SKIPPED,
                _("Dla plików %(mime)s nie tworzy się miniatur.") % {"mime": version.mime_type},
            )
        return StepOutcome.ok(_("Utworzono miniaturę pierwszej strony."))
