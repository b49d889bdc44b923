"""The intake pipeline's indexing step (wired into the pipeline's STEPS by its owner)."""

from __future__ import annotations

from garnizon.documents.models import DocumentVersion
from garnizon.intake.steps import IntakeContext, Step, StepOutcome
from garnizon.search.indexing import index_objects
from garnizon.search.models import ObjectType


class Index(Step):
    """Index the item's register entry and its document (with the OCR text) for search."""

    name = "index"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        return bool(ctx.item.incoming_item_id or ctx.item.document_id)

    def run(self, ctx: IntakeContext) -> StepOutcome:
        written = 0
        if ctx.item.incoming_item_id:
            written += index_objects(ObjectType.INCOMING, [ctx.item.incoming_item_id])
        if ctx.item.document_id:
            versions = DocumentVersion.objects.filter(document_id=ctx.item.document_id)
            written += index_objects(
                ObjectType.VERSION, list(versions.values_list("pk", flat=True))
            )
        return StepOutcome.ok(f"{written}")
