"""The organisation: units, nested cells, people, positions, roles, substitutions."""

from __future__ import annotations

import datetime

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UnitKind(models.TextChoices):
    REGIONAL_HQ = "regional_hq", _("komenda wojewódzka")
    CITY = "city", _("komenda miejska")
    COUNTY = "county", _("komenda powiatowa")


class Unit(models.Model):
    """One of the 21 commands of the garrison."""

    symbol = models.CharField(_("symbol"), max_length=20, unique=True)
    name = models.CharField(_("nazwa"), max_length=200)
    kind = models.CharField(_("rodzaj"), max_length=20, choices=UnitKind.choices)
    seat = models.CharField(_("siedziba"), max_length=100, blank=True)
    superior = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="subordinates"
    )
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("jednostka")
        verbose_name_plural = _("jednostki")

    def __str__(self) -> str:
        return self.symbol


class Cell(models.Model):
    """An organisational cell (komórka): department, section or post; may nest.

    `path` is the materialised chain of ids ("/4/17/"), so a cell head's
    sub-cells are one indexed prefix query.
    """

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="cells")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(_("nazwa"), max_length=200)
    symbol = models.CharField(
        _("symbol"), max_length=30, help_text=_("Symbol komórki, np. „I” albo „WK”.")
    )
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["unit_id", "path"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "parent", "symbol"], name="cell_symbol_unique")
        ]
        verbose_name = _("komórka organizacyjna")
        verbose_name_plural = _("komórki organizacyjne")

    def __str__(self) -> str:
        return self.default_designation()

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        parent_path = self.parent.path if self.parent_id else "/"
        path = f"{parent_path}{self.pk}/"
        if path != self.path:
            self.path = path
            Cell.objects.filter(pk=self.pk).update(path=path)

    def default_designation(self) -> str:
        """Unit symbol, then each cell's symbol joined by hyphens: KWP-I, KWP-I-1."""
        chain: list[str] = []
        cell: Cell | None = self
        while cell is not None:
            chain.append(cell.symbol)
            cell = cell.parent
        return "-".join([self.unit.symbol, *reversed(chain)])

    def designation(self, year: int | None = None) -> str:
        """The designation used in case signs for `year` (it holds for a whole year)."""
        year = year or timezone.localdate().year
        row = self.designations.filter(year=year).only("designation").first()
        return row.designation if row else self.default_designation()


class CellDesignation(models.Model):
    """A cell's designation for one calendar year (configurable symbols)."""

    cell = models.ForeignKey(Cell, on_delete=models.CASCADE, related_name="designations")
    year = models.PositiveIntegerField()
    designation = models.CharField(max_length=60)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cell", "year"], name="cell_designation_year_unique")
        ]

    def __str__(self) -> str:
        return f"{self.designation} ({self.year})"


class Role(models.TextChoices):
    REGISTRY_CLERK = "registry_clerk", _("pracownik kancelarii")
    CASE_HANDLER = "case_handler", _("referent")
    CELL_HEAD = "cell_head", _("kierownik komórki")
    UNIT_COMMANDER = "unit_commander", _("komendant jednostki")
    ARCHIVIST = "archivist", _("archiwista")
    ADMINISTRATOR = "administrator", _("administrator")
    AUDITOR = "auditor", _("audytor")


class Person(AbstractUser):
    """A member of staff. Log-in identity and the holder of positions."""

    unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="people"
    )

    class Meta:
        ordering = ["last_name", "first_name", "username"]
        verbose_name = _("osoba")
        verbose_name_plural = _("osoby")

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def active_positions(self, on: datetime.date | None = None) -> models.QuerySet[Position]:
        return Position.objects.active(on).filter(person=self)

    def position_title(self) -> str:
        position = self.active_positions().select_related("cell").first()
        return f"{position.title}, {position.cell}" if position else ""


class PositionQuerySet(models.QuerySet["Position"]):
    def active(self, on: datetime.date | None = None) -> PositionQuerySet:
        on = on or timezone.localdate()
        return self.filter(
            models.Q(valid_from__lte=on)
            & (models.Q(valid_to__isnull=True) | models.Q(valid_to__gte=on))
        )


class Position(models.Model):
    """A post a person holds in a cell, with the role it carries.

    `garrison_wide` is set only on the regional HQ's designated roles: their
    scope is the whole garrison instead of their own unit.
    """

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="positions")
    cell = models.ForeignKey(Cell, on_delete=models.PROTECT, related_name="positions")
    title = models.CharField(_("stanowisko"), max_length=150)
    role = models.CharField(_("rola"), max_length=30, choices=Role.choices)
    garrison_wide = models.BooleanField(_("zasięg całego garnizonu"), default=False)
    valid_from = models.DateField(default=datetime.date(2000, 1, 1))
    valid_to = models.DateField(null=True, blank=True)

    objects = PositionQuerySet.as_manager()

    class Meta:
        ordering = ["person_id", "id"]
        verbose_name = _("stanowisko")
        verbose_name_plural = _("stanowiska")

    def __str__(self) -> str:
        return f"{self.person}: {self.title} ({self.get_role_display()}, {self.cell})"


class SubstitutionQuerySet(models.QuerySet["Substitution"]):
    def active(self, on: datetime.date | None = None) -> SubstitutionQuerySet:
        on = on or timezone.localdate()
        return self.filter(date_from__lte=on, date_to__gte=on)


class Substitution(models.Model):
    """`substitute` acts for `absent` from `date_from` to `date_to` inclusive.

    The right ends by itself: every check compares today with the range.
    """

    absent = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="substituted_by")
    substitute = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="substitutions")
    date_from = models.DateField(_("od"))
    date_to = models.DateField(_("do"))
    reason = models.CharField(_("powód"), max_length=200, blank=True)
    created_by = models.ForeignKey(Person, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SubstitutionQuerySet.as_manager()

    class Meta:
        ordering = ["-date_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(date_to__gte=models.F("date_from")), name="substitution_range"
            ),
            models.CheckConstraint(
                condition=~models.Q(absent=models.F("substitute")), name="substitution_not_self"
            ),
        ]
        verbose_name = _("zastępstwo")
        verbose_name_plural = _("zastępstwa")

    def __str__(self) -> str:
        return f"{self.substitute} za {self.absent} ({self.date_from}–{self.date_to})"
