"""The JRWA filing plan: versioned classification schemes and archival categories."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ClassificationScheme(models.Model):
    """One version of the filing plan, imported from a file.

    A case keeps the scheme version it was opened under (through its class).
    """

    name = models.CharField(_("nazwa"), max_length=200)
    version = models.CharField(_("wersja"), max_length=50)
    valid_from = models.DateField(_("obowiązuje od"))
    is_example = models.BooleanField(
        _("przykładowy"), default=False, help_text=_("Wykaz przykładowy, nie urzędowy.")
    )
    is_active = models.BooleanField(_("bieżący"), default=False)
    source_name = models.CharField(max_length=255, blank=True)
    source_sha256 = models.CharField(max_length=64, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    imported_by = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-valid_from", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="scheme_version_unique")
        ]
        verbose_name = _("wersja JRWA")
        verbose_name_plural = _("wersje JRWA")

    def __str__(self) -> str:
        label = f"{self.name} {self.version}"
        return f"{label} [{_('PRZYKŁAD')}]" if self.is_example else label


class Classification(models.Model):
    """A JRWA class: symbol of one to four digits, heading, archival categories."""

    scheme = models.ForeignKey(
        ClassificationScheme, on_delete=models.PROTECT, related_name="classes"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    symbol = models.CharField(_("symbol"), max_length=4)
    heading = models.CharField(_("hasło klasyfikacyjne"), max_length=500)
    is_terminal = models.BooleanField(_("klasa końcowa"), default=False)
    category_owner = models.CharField(
        _("kategoria archiwalna w komórce merytorycznej"), max_length=10, blank=True
    )
    category_other = models.CharField(
        _("kategoria archiwalna w innych komórkach"), max_length=10, blank=True
    )
    remarks = models.TextField(_("uwagi"), blank=True)

    class Meta:
        ordering = ["scheme_id", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["scheme", "symbol"], name="classification_unique")
        ]
        verbose_name = _("klasa JRWA")
        verbose_name_plural = _("klasy JRWA")

    def __str__(self) -> str:
        return f"{self.symbol} {self.heading}"

    @property
    def level(self) -> int:
        return len(self.symbol)
