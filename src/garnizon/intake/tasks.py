"""Background tasks of the intake pipeline (django.tasks; safe to run twice)."""

from __future__ import annotations

from django.tasks import task

from garnizon.intake.pipeline import run_pipeline


@task()
def process_intake_item(item_id: int) -> str | None:
    """Run the pipeline for one item; its final state, or None if it was not free."""
    return run_pipeline(item_id)
