"""Intake items (one file entering Garnizon through any channel) and their step results.

An item moves `received` → `processing` → `done` | `failed` | `quarantined`.
The original is stored in the blob store before the item row is written, so
nothing is lost whatever happens later; `(channel, source_key)` is unique, so
the same file from the same channel is taken in once.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from garnizon.registry.models import Channel


class IntakeState(models.TextChoices):
    RECEIVED = "received", _("przyjęty")
    PROCESSING = "processing", _("w przetwarzaniu")
    DONE = "done", _("zarejestrowany")
    FAILED = "failed", _("niepowodzenie")
    QUARANTINED = "quarantined", _("kwarantanna")
    # A scan without a readable label, waiting for a clerk to pick its register entry.
    AWAITING_MATCH = "awaiting_match", _("czeka na przypisanie")


class IntakeMode(models.TextChoices):
    # Register a new incoming item for the file (bulk import, e-mail, upload).
    REGISTER = "register", _("rejestracja nowego pisma")
    # Attach the scan to the entry whose label it carries; without a label the
    # item waits for a clerk (scanner hot folders of the morning post).
    MATCH = "match", _("dołączenie do zarejestrowanego pisma")


class StepStatus(models.TextChoices):
    OK = "ok", _("wykonany")
    SKIPPED = "skipped", _("pominięty")
    FAILED = "failed", _("nieudany")


class IntakeItem(models.Model):
    unit = models.ForeignKey("org.Unit", on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("kanał"), max_length=20, choices=Channel.choices)
    source_key = models.CharField(_("klucz źródła"), max_length=200)
    source = models.CharField(_("źródło"), max_length=1000, blank=True)
    original_filename = models.CharField(_("nazwa pliku"), max_length=200)
    blob_sha256 = models.CharField(max_length=64, blank=True)
    size = models.BigIntegerField(_("rozmiar"), default=0)
    mime_type = models.CharField(_("format"), max_length=120, blank=True)
    state = models.CharField(
        _("stan"), max_length=20, choices=IntakeState.choices, default=IntakeState.RECEIVED
    )
    attempts = models.PositiveIntegerField(_("próby"), default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    current_step = models.CharField(_("bieżący krok"), max_length=40, blank=True)
    error_message = models.TextField(_("komunikat"), blank=True)
    quarantine_path = models.CharField(max_length=1000, blank=True)
    incoming_item = models.ForeignKey(
        "registry.IncomingItem", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    document = models.ForeignKey(
        "documents.Document", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_by = models.ForeignKey("org.Person", on_delete=models.PROTECT, related_name="+")
    mode = models.CharField(
        _("tryb"), max_length=20, choices=IntakeMode.choices, default=IntakeMode.REGISTER
    )
    # A part of a batch scan split at separator sheets, or an e-mail's attachment.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # Values of the barcodes read on the pages (registration numbers from labels).
    barcodes = models.JSONField(default=list, blank=True)
    # Pages found blank (1-based): left out of the letter's PDF and of split parts.
    blank_pages = models.JSONField(default=list, blank=True)
    # Likely register entries for the clerk: [{"incoming_item": id, "score": 0..1, "reason": str}].
    suggestions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "source_key"], name="intake_item_unique_source"
            )
        ]
        indexes = [
            models.Index(fields=["state", "claimed_at"]),
            models.Index(fields=["unit", "state", "id"]),
        ]
        verbose_name = _("plik w przyjęciu")
        verbose_name_plural = _("pliki w przyjęciu")

    def __str__(self) -> str:
        return f"#{self.pk} {self.original_filename} ({self.state})"


class IntakeStepResult(models.Model):
    item = models.ForeignKey(IntakeItem, on_delete=models.CASCADE, related_name="step_results")
    attempt = models.PositiveIntegerField(default=0)
    step = models.CharField(_("krok"), max_length=40)
    outcome = models.CharField(_("wynik"), max_length=10, choices=StepStatus.choices)
    message = models.TextField(_("komunikat"), blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("wynik kroku")
        verbose_name_plural = _("wyniki kroków")

    def __str__(self) -> str:
        return f"{self.step}: {self.outcome}"
