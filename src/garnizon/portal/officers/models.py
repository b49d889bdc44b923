"""A neighbourhood officer's post (dzielnicowy): who serves which area and how to reach them."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class NeighbourhoodOfficer(models.Model):
    """One officer's post, kept by the unit's prevention head or commander.

    `streets` lists the area one entry a line: a town ("Jastków"), or a town and
    a street with an optional house-number range ("Lublin, Lipowa 1-41").
    `polygon` is an optional GeoJSON Polygon/MultiPolygon ([lon, lat] pairs);
    `latitude`/`longitude` an optional point of the area (its middle, or the
    post's office) used to find the nearest officer from the map.
    The photo is stored re-encoded (no metadata) in the blob store by its SHA-256.
    """

    unit = models.ForeignKey("org.Unit", on_delete=models.PROTECT, related_name="+")
    person = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(_("imię i nazwisko"), max_length=150)
    rank = models.CharField(_("stopień"), max_length=80, blank=True)
    photo_sha256 = models.CharField(max_length=64, blank=True)
    phone = models.CharField(_("telefon"), max_length=40, blank=True)
    email = models.EmailField(_("e-mail"), max_length=254, blank=True)
    duty_hours = models.TextField(_("dyżury"), blank=True)
    area_description = models.TextField(_("opis rejonu"), blank=True)
    streets = models.TextField(_("miejscowości i ulice"), blank=True)
    polygon = models.JSONField(null=True, blank=True)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["unit_id", "name", "id"]
        verbose_name = _("dzielnicowy")
        verbose_name_plural = _("dzielnicowi")

    def __str__(self) -> str:
        return f"{self.rank} {self.name}".strip()
