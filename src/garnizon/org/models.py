"""The organisation: units, nested cells, people, positions, roles, substitutions."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models, transaction
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.translation import gettext
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


# A cell's designation is its unit's and its chain's symbols joined by "-", and a
# case sign joins the designation and the JRWA symbol by "."; a symbol holding
# either (or a space) could make two cells' designations, and so two signs, equal.
cell_symbol_validator = RegexValidator(
    r"\A[^\s.\-]+\Z",
    message=_(
        "Symbol komórki nie może zawierać łącznika „-”, kropki ani spacji "
        "(z symboli składa się oznaczenie komórki w znaku sprawy)."
    ),
    code="invalid_symbol",
)
designation_validator = RegexValidator(
    r"\A[^\s.]+\Z",
    message=_("Oznaczenie komórki nie może zawierać kropki ani spacji."),
    code="invalid_designation",
)


class Cell(models.Model):
    """An organisational cell (komórka): department, section or post; may nest.

    `path` is the materialised chain of ids ("/4/17/"), so a cell head's
    sub-cells are one indexed prefix query. Saving a cell under another parent
    rewrites the paths of its whole subtree in the same transaction.

    Designations must not collide: no two cells may use the same designation
    in the same year (`clean` here and in `CellDesignation` check it), or they
    would number their cases under the same signs.
    """

    unit = models.ForeignKey(Unit, on_delete=models.PROTECT, related_name="cells")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(_("nazwa"), max_length=200)
    symbol = models.CharField(
        _("symbol"),
        max_length=30,
        validators=[cell_symbol_validator],
        help_text=_("Symbol komórki, np. „I” albo „WK”."),
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
        with transaction.atomic():
            super().save(*args, **kwargs)
            parent_path = "/"
            if self.parent_id:
                parent_path = (
                    Cell.objects.filter(pk=self.parent_id).values_list("path", flat=True).get()
                )
                if f"/{self.pk}/" in parent_path:
                    raise ValidationError(
                        {"parent": gettext("Komórka nie może podlegać samej sobie.")},
                        code="cycle",
                    )
            path = f"{parent_path}{self.pk}/"
            old_path = Cell.objects.filter(pk=self.pk).values_list("path", flat=True).get()
            if path != old_path:
                Cell.objects.filter(pk=self.pk).update(path=path)
                if old_path:
                    # The subtree follows in one statement: the new prefix + the rest.
                    Cell.objects.filter(path__startswith=old_path).exclude(pk=self.pk).update(
                        path=Concat(
                            models.Value(path),
                            Substr("path", len(old_path) + 1),
                            output_field=models.CharField(),
                        )
                    )
            self.path = path

    def clean(self) -> None:
        super().clean()
        if self.pk is not None and self.unit_id is not None:
            old_unit = Cell.objects.filter(pk=self.pk).values_list("unit_id", flat=True).first()
            if old_unit not in (None, self.unit_id) and Cell.objects.filter(parent=self).exists():
                raise ValidationError(
                    {
                        "unit": gettext(
                            "Komórki z komórkami podrzędnymi nie przenosi się do innej jednostki."
                        )
                    },
                    code="other_unit",
                )
        parent = None
        if self.parent_id is not None:
            parent = Cell.objects.filter(pk=self.parent_id).values("path", "unit_id").first()
        if parent is None:
            self.validate_designations()
            return
        if self.pk is not None and f"/{self.pk}/" in parent["path"]:
            raise ValidationError(
                {
                    "parent": gettext(
                        "Komórka nie może podlegać samej sobie ani żadnej ze swoich "
                        "komórek podrzędnych."
                    )
                },
                code="cycle",
            )
        if self.unit_id is not None and parent["unit_id"] != self.unit_id:
            raise ValidationError(
                {"parent": gettext("Komórka nadrzędna musi należeć do tej samej jednostki.")},
                code="other_unit",
            )
        self.validate_designations()

    def validate_designations(self) -> None:
        """Refuse a default designation (of this cell or its sub-cells) another cell uses."""
        if self.unit_id is None or not self.symbol:
            return
        unit_symbol = Unit.objects.filter(pk=self.unit_id).values_list("symbol", flat=True).get()
        chain = [self.symbol]
        if self.parent_id:
            parent = Cell.objects.filter(pk=self.parent_id).values("path").first()
            if parent is None:
                return
            symbols = dict(
                Cell.objects.filter(pk__in=_path_ids(parent["path"])).values_list("pk", "symbol")
            )
            chain = [symbols.get(pk, "") for pk in _path_ids(parent["path"])] + chain
        own = "-".join([unit_symbol, *chain])
        # The designations the change gives: this cell's and each sub-cell's.
        new: dict[int | None, str] = {self.pk: own}
        if self.pk is not None:
            old_path = Cell.objects.filter(pk=self.pk).values_list("path", flat=True).first()
            if old_path:
                below = Cell.objects.filter(path__startswith=old_path).exclude(pk=self.pk)
                rows = list(below.values_list("pk", "symbol", "path"))
                symbols = {pk: symbol for pk, symbol, _path in rows}
                for pk, _symbol, path in rows:
                    ids = _path_ids(path)
                    rest = ids[ids.index(self.pk) + 1 :] if self.pk in ids else [pk]
                    new[pk] = "-".join([own, *(symbols.get(i, "") for i in rest)])
        subtree = {pk for pk in new if pk is not None}
        explicit_years: dict[int, set[int]] = {}
        for cell_id, year in CellDesignation.objects.filter(cell_id__in=subtree).values_list(
            "cell_id", "year"
        ):
            explicit_years.setdefault(cell_id, set()).add(year)
        defaults = _cells_by_default(set(new.values()), exclude=subtree)
        explicit = (
            CellDesignation.objects.filter(designation__in=set(new.values()))
            .exclude(cell_id__in=subtree)
            .select_related("cell")
            .order_by("year", "pk")
        )
        for cell_id, designation in new.items():
            if defaults.get(designation):
                raise ValidationError(
                    {"symbol": _designation_taken(designation, defaults[designation][0])},
                    code="designation_taken",
                )
            for row in explicit:
                if row.designation == designation and row.year not in explicit_years.get(
                    cell_id, set()
                ):
                    raise ValidationError(
                        {"symbol": _designation_taken(designation, row.cell, row.year)},
                        code="designation_taken",
                    )

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


def _path_ids(path: str) -> list[int]:
    return [int(part) for part in path.strip("/").split("/") if part]


def default_designations(cells: Iterable[int] | models.QuerySet) -> dict[int, str]:
    """{cell id: default designation} for cell ids (or a queryset), in two queries.

    What `str(cell)` gives for each, without walking every cell's parents one
    query at a time: list pages print dozens of cells.
    """
    if isinstance(cells, models.QuerySet):
        cells = cells.values("pk")
    rows = list(
        Cell.objects.filter(pk__in=cells).values_list("pk", "symbol", "path", "unit__symbol")
    )
    if not rows:
        return {}
    chains = {pk: _path_ids(path) or [pk] for pk, _symbol, path, _unit in rows}
    ancestors = {i for chain in chains.values() for i in chain} - set(chains)
    symbols = {pk: symbol for pk, symbol, _path, _unit in rows}
    if ancestors:
        symbols.update(Cell.objects.filter(pk__in=ancestors).values_list("pk", "symbol"))
    return {
        pk: "-".join([unit_symbol, *(symbols.get(i, "") for i in chains[pk])])
        for pk, _symbol, _path, unit_symbol in rows
    }


def _cells_by_default(
    designations: set[str], *, exclude: Iterable[int] = ()
) -> dict[str, list[Cell]]:
    """The cells (outside `exclude`) whose default designation is one of `designations`.

    A default designation starts with its unit's symbol and a hyphen, so only
    the units whose symbol starts one of the designations are read.
    """
    units = [
        pk
        for pk, symbol in Unit.objects.values_list("pk", "symbol")
        if any(d.startswith(f"{symbol}-") for d in designations)
    ]
    if not units:
        return {}
    rows = list(
        Cell.objects.filter(unit_id__in=units).values_list("pk", "symbol", "path", "unit__symbol")
    )
    symbols = {pk: symbol for pk, symbol, _path, _unit in rows}
    excluded = set(exclude)
    found: dict[int, str] = {}
    for pk, _symbol, path, unit_symbol in rows:
        if pk in excluded:
            continue
        default = "-".join([unit_symbol, *(symbols.get(i, "") for i in _path_ids(path))])
        if default in designations:
            found[pk] = default
    result: dict[str, list[Cell]] = {}
    for cell in Cell.objects.filter(pk__in=found).order_by("pk"):
        result.setdefault(found[cell.pk], []).append(cell)
    return result


def _designation_taken(designation: str, cell: Cell, year: int | None = None) -> str:
    if year is None:
        return gettext(
            "Oznaczenie %(designation)s ma już komórka „%(name)s”; wybierz inny symbol, "
            "bo sprawy obu komórek dostałyby te same znaki."
        ) % {"designation": designation, "name": cell.name}
    return gettext(
        "Oznaczenie %(designation)s ma w roku %(year)s komórka „%(name)s”; wybierz inne, "
        "bo sprawy obu komórek dostałyby te same znaki."
    ) % {"designation": designation, "year": year, "name": cell.name}


class CellDesignation(models.Model):
    """A cell's designation for one calendar year (configurable symbols)."""

    cell = models.ForeignKey(Cell, on_delete=models.CASCADE, related_name="designations")
    year = models.PositiveIntegerField()
    designation = models.CharField(max_length=60, validators=[designation_validator])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cell", "year"], name="cell_designation_year_unique")
        ]

    def __str__(self) -> str:
        return f"{self.designation} ({self.year})"

    def clean(self) -> None:
        """Refuse a designation another cell uses in the same year (explicitly or by default)."""
        super().clean()
        if not self.designation or not self.year:
            return
        own = {self.cell_id} if self.cell_id else set()
        taken = (
            CellDesignation.objects.filter(designation=self.designation, year=self.year)
            .exclude(cell_id__in=own)
            .select_related("cell")
            .first()
        )
        if taken is not None:
            raise ValidationError(
                {"designation": _designation_taken(self.designation, taken.cell, self.year)},
                code="designation_taken",
            )
        for other in _cells_by_default({self.designation}, exclude=own).get(self.designation, []):
            if not other.designations.filter(year=self.year).exists():
                raise ValidationError(
                    {"designation": _designation_taken(self.designation, other, self.year)},
                    code="designation_taken",
                )


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
