"""Documents (one logical document) and their immutable versions (stored renditions).

File bodies live in the blob store (`blobstore.py`), named by their SHA-256;
the database holds only metadata. A document belongs to at most one incoming
item, outgoing item or case, and is visible exactly when that is.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from garnizon.documents.metadata import PREVIEWABLE

ACCESS_LABELS = {False: _("wewnętrzny"), True: _("ograniczony")}


class DocumentKind(models.TextChoices):
    LETTER = "pismo", _("pismo")
    ATTACHMENT = "zalacznik", _("załącznik")
    NOTE = "notatka", _("notatka")
    SCAN = "skan", _("skan")
    OTHER = "inny", _("inny")


class Document(models.Model):
    """One logical document; `metadata` holds the 2006 regulation's elements
    (schema in `garnizon.documents.metadata`), refreshed with every version."""

    unit = models.ForeignKey("org.Unit", on_delete=models.PROTECT, related_name="+")
    identifier = models.CharField(_("identyfikator"), max_length=80, unique=True)
    title = models.CharField(_("tytuł"), max_length=500)
    kind = models.CharField(
        _("rodzaj"), max_length=20, choices=DocumentKind.choices, default=DocumentKind.ATTACHMENT
    )
    incoming_item = models.ForeignKey(
        "registry.IncomingItem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="documents",
    )
    outgoing_item = models.ForeignKey(
        "registry.OutgoingItem",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="documents",
    )
    case = models.ForeignKey(
        "cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )
    is_restricted = models.BooleanField(_("dostęp ograniczony"), default=False)
    language = models.CharField(_("język (ISO 639-2)"), max_length=3, default="pol")
    description = models.TextField(_("opis"), blank=True)
    rights = models.CharField(_("prawa"), max_length=300, blank=True)
    created_by = models.ForeignKey("org.Person", on_delete=models.PROTECT, related_name="+")
    creator_role = models.CharField(_("rola twórcy"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    metadata = models.JSONField(_("metadane"), default=dict, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(incoming_item__isnull=True, outgoing_item__isnull=True)
                    | models.Q(incoming_item__isnull=True, case__isnull=True)
                    | models.Q(outgoing_item__isnull=True, case__isnull=True)
                ),
                name="document_at_most_one_target",
            )
        ]
        verbose_name = _("dokument")
        verbose_name_plural = _("dokumenty")

    def __str__(self) -> str:
        return f"{self.identifier} {self.title}"

    @property
    def latest_version(self) -> DocumentVersion | None:
        """The newest version (from prefetched versions when there are any)."""
        versions = list(self.versions.all())
        return max(versions, key=lambda v: v.number) if versions else None


class DocumentVersion(models.Model):
    """One stored rendition. Never changed or deleted once written."""

    document = models.ForeignKey(Document, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("wersja"))
    blob_sha256 = models.CharField(max_length=64, db_index=True)
    size = models.BigIntegerField(_("rozmiar"))
    original_filename = models.CharField(_("nazwa pliku"), max_length=200)
    mime_type = models.CharField(_("format"), max_length=120)
    created_by = models.ForeignKey("org.Person", on_delete=models.PROTECT, related_name="+")
    on_behalf_of = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Text of the version (OCR or the PDF's own text layer), for search; set when it is written.
    text = models.TextField(_("tekst"), blank=True)
    # SHA-256 of the first page's thumbnail in the blob store (`documents/thumbnails.py`);
    # derived data, set once by a queryset update after the version was written.
    thumbnail_sha256 = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["document_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="document_version_unique")
        ]
        verbose_name = _("wersja dokumentu")
        verbose_name_plural = _("wersje dokumentów")

    def __str__(self) -> str:
        return f"{self.document.identifier} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("Document versions are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[override]
        raise PermissionError("Document versions are immutable.")

    @property
    def previewable(self) -> bool:
        return self.mime_type in PREVIEWABLE
