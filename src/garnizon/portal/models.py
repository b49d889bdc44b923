"""What a citizen filed through the portal, beside the register entry it created."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class EService(models.TextChoices):
    """The portal's services; the value is also the URL slug."""

    LETTER = "pismo", _("Pismo do jednostki Policji")
    COMPLAINT = "skarga", _("Skarga lub wniosek")


class Submission(models.Model):
    """One filing: the register entry, what exactly was filed and its hash, the tracking key.

    `canonical_json` is the filed form (with each attachment's SHA-256) serialised
    with sorted keys; `content_sha256` is its hash and is printed on the receipt.
    Only the SHA-256 of the tracking token is kept: the token itself is shown once.
    """

    service = models.CharField(max_length=20, choices=EService.choices)
    incoming_item = models.OneToOneField(
        "registry.IncomingItem", on_delete=models.PROTECT, related_name="portal_submission"
    )
    unit = models.ForeignKey("org.Unit", on_delete=models.PROTECT, related_name="+")
    client_token = models.CharField(max_length=64, unique=True)
    tracking_token_sha256 = models.CharField(max_length=64, unique=True)
    canonical_json = models.TextField()
    content_sha256 = models.CharField(max_length=64)
    attachments = models.JSONField(default=list)
    is_anonymous = models.BooleanField(default=False)
    language = models.CharField(max_length=10, default="pl")
    client_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("zgłoszenie z portalu")
        verbose_name_plural = _("zgłoszenia z portalu")

    def __str__(self) -> str:
        return f"{self.get_service_display()} {self.incoming_item_id}"
