"""The intake pipeline's indexing step: the item's entry and document become searchable.

The registers and documents are also indexed on every change (`search/signals.py`);
the step makes the indexing part of the item's recorded history and catches up
an entry whose signal-driven indexing failed. Like the antivirus and thumbnail
steps it follows the `Step` contract without inheriting from it, so `intake/steps.py`
can import it at the top without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from garnizon.intake.steps import IntakeContext, StepOutcome


class Index:
    """Index the item's register entry and its document (with the OCR text) for search."""

    name = "index"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        return bool(ctx.item.incoming_item_id or ctx.item.document_id)

    def cleanup(self, ctx: IntakeContext) -> None:
        pass

    def run(self, ctx: IntakeContext) -> StepOutcome:
        from garnizon.documents.models import DocumentVersion
        from garnizon.intake.steps import StepOutcome
        from garnizon.search.indexing import index_objects
        from garnizon.search.models import ObjectType, SearchEntry

        wanted: dict[str, list[int]] = {ObjectType.INCOMING: [], ObjectType.VERSION: []}
        if ctx.item.incoming_item_id:
            wanted[ObjectType.INCOMING].append(ctx.item.incoming_item_id)
        if ctx.item.document_id:
            versions = DocumentVersion.objects.filter(document_id=ctx.item.document_id)
            wanted[ObjectType.VERSION] = list(versions.values_list("pk", flat=True))
        # The save signals have usually indexed them already (after the commit);
        # only what is missing is written, so the text is not analysed twice.
        written = present = 0
        for object_type, ids in wanted.items():
            have = set(
                SearchEntry.objects.filter(object_type=object_type, object_id__in=ids).values_list(
                    "object_id", flat=True
                )
            )
            present += len(have)
            written += index_objects(object_type, [i for i in ids if i not in have])
        return StepOutcome.ok(
            _("Zaindeksowano do wyszukiwania: %(n)s (już w indeksie: %(present)s).")
            % {"n": written, "present": present}
        )
