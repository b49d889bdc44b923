"""Cases, their signs and lists, assignment (dekretacja), sharing and the case record."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from garnizon.cases.deadlines import DeadlineKind


class CaseState(models.TextChoices):
    OPEN = "open", _("otwarta")
    SUSPENDED = "suspended", _("zawieszona")
    CLOSED = "closed", _("zakończona")
    REOPENED = "reopened", _("wznowiona")


class Case(models.Model):
    """A matter handled under one case sign (znak sprawy).

    The number runs per cell, JRWA class and year; the class pins the scheme
    version the case was opened under.
    """

    unit = models.ForeignKey("org.Unit", on_delete=models.PROTECT, related_name="cases")
    cell = models.ForeignKey("org.Cell", on_delete=models.PROTECT, related_name="cases")
    classification = models.ForeignKey(
        "jrwa.Classification", on_delete=models.PROTECT, related_name="cases"
    )
    year = models.PositiveIntegerField()
    number = models.PositiveIntegerField()
    sign = models.CharField(_("znak sprawy"), max_length=100, unique=True)
    subject = models.CharField(_("tytuł sprawy"), max_length=500)
    correspondent = models.ForeignKey(
        "registry.Correspondent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("od kogo wpłynęła"),
    )
    correspondent_name = models.CharField(_("od kogo wpłynęła"), max_length=300, blank=True)
    state = models.CharField(
        _("stan"), max_length=20, choices=CaseState.choices, default=CaseState.OPEN
    )
    kind = models.CharField(
        _("rodzaj sprawy"), max_length=40, choices=DeadlineKind.choices, default=DeadlineKind.NONE
    )
    handler = models.ForeignKey(
        "org.Person",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="handled_cases",
        verbose_name=_("prowadzący sprawę"),
    )
    opened_on = models.DateField(_("data wszczęcia"))
    closed_on = models.DateField(_("data zakończenia"), null=True, blank=True)
    due_date = models.DateField(_("termin"), null=True, blank=True)
    deadline_basis = models.CharField(_("podstawa terminu"), max_length=300, blank=True)
    deadline_explanation = models.TextField(_("sposób liczenia terminu"), blank=True)
    is_restricted = models.BooleanField(_("dostęp ograniczony"), default=False)
    remarks = models.TextField(_("uwagi"), blank=True)
    created_by = models.ForeignKey("org.Person", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    client_token = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cell", "classification", "year", "number"], name="case_number_unique"
            )
        ]
        indexes = [
            models.Index(fields=["cell", "-id"], name="case_cell_id"),
            models.Index(fields=["unit", "-id"], name="case_unit_id"),
            models.Index(fields=["handler", "-id"], name="case_handler_id"),
            models.Index(fields=["state", "due_date"], name="case_state_due"),
        ]
        verbose_name = _("sprawa")
        verbose_name_plural = _("sprawy")

    def __str__(self) -> str:
        return self.sign

    @property
    def is_active(self) -> bool:
        return self.state in (CaseState.OPEN, CaseState.REOPENED)


class AssignmentMethod(models.TextChoices):
    HANDLE = "handle", _("do załatwienia")
    INFORM = "inform", _("do wiadomości")
    OPINION = "opinion", _("do opinii")
    COOPERATE = "cooperate", _("do współpracy")


class Assignment(models.Model):
    """Dekretacja: routing an incoming item or a case to a cell or a person.

    `parent` is the assignment this one passes on inside the cell; such a
    further assignment inherits the method and deadline it may not change.
    """

    incoming_item = models.ForeignKey(
        "registry.IncomingItem",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="assignments",
    )
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.CASCADE, related_name="assignments"
    )
    to_cell = models.ForeignKey("org.Cell", on_delete=models.PROTECT, related_name="+")
    to_person = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="assignments"
    )
    method = models.CharField(
        _("sposób załatwienia"),
        max_length=20,
        choices=AssignmentMethod.choices,
        default=AssignmentMethod.HANDLE,
    )
    deadline = models.DateField(_("termin"), null=True, blank=True)
    note = models.TextField(_("polecenie"), blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    assigned_by = models.ForeignKey("org.Person", on_delete=models.PROTECT, related_name="+")
    on_behalf_of = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assigned_at = models.DateTimeField(auto_now_add=True)
    is_current = models.BooleanField(default=True)

    class Meta:
        ordering = ["-assigned_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(incoming_item__isnull=False, case__isnull=True)
                    | models.Q(incoming_item__isnull=True, case__isnull=False)
                ),
                name="assignment_one_target",
            )
        ]
        indexes = [
            # "What is assigned to me" for the register's personal branch.
            models.Index(
                fields=["to_person", "-incoming_item"],
                condition=models.Q(incoming_item__isnull=False, is_current=True),
                name="asg_person_item",
            ),
            # A case's assignments. The plain foreign-key index holds every
            # register item's assignment under NULL, so SQLite's statistics
            # (ANALYZE) made it look useless and a look-up by case scanned the
            # whole table (0.9 s for 1,000 cases among 9.4 million
            # assignments); this one holds only the cases' rows.
            models.Index(fields=["case"], condition=models.Q(case__isnull=False), name="asg_case"),
        ]
        verbose_name = _("dekretacja")
        verbose_name_plural = _("dekretacje")

    def __str__(self) -> str:
        return f"{self.to_person or self.to_cell}: {self.get_method_display()}"


class CaseShare(models.Model):
    """Explicit sharing of a case with a person or a whole cell (need-to-know)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="shares")
    person = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.CASCADE, related_name="case_shares"
    )
    cell = models.ForeignKey(
        "org.Cell", null=True, blank=True, on_delete=models.CASCADE, related_name="case_shares"
    )
    granted_by = models.ForeignKey("org.Person", on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(auto_now_add=True)
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(person__isnull=False, cell__isnull=True)
                    | models.Q(person__isnull=True, cell__isnull=False)
                ),
                name="share_one_target",
            )
        ]

    def __str__(self) -> str:
        return f"{self.case}: {self.person or self.cell}"


class CaseRecordAction(models.TextChoices):
    OPENED = "opened", _("wszczęcie sprawy")
    ITEM_ATTACHED = "item_attached", _("dołączenie przesyłki")
    ASSIGNED = "assigned", _("dekretacja")
    HANDLER_CHANGED = "handler_changed", _("zmiana prowadzącego")
    DEADLINE_SET = "deadline_set", _("ustalenie terminu")
    SUSPENDED = "suspended", _("zawieszenie")
    RESUMED = "resumed", _("podjęcie")
    CLOSED = "closed", _("zakończenie")
    REOPENED = "reopened", _("wznowienie")
    SHARED = "shared", _("udostępnienie")
    DOCUMENT_ADDED = "document_added", _("dodanie dokumentu")
    DISPATCHED = "dispatched", _("wysłanie pisma")
    NOTE = "note", _("adnotacja")


class CaseRecordEntry(models.Model):
    """One line of the automatic, immutable case record (metryka sprawy).

    The actor's name and position are copied at the time of the act, so the
    record stays true when people move. Rows are never updated or deleted:
    the model refuses it and database triggers refuse it too.
    """

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="record")
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey("org.Person", on_delete=models.PROTECT, related_name="+")
    actor_name = models.CharField(max_length=300)
    actor_position = models.CharField(max_length=300, blank=True)
    on_behalf_of = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    on_behalf_of_name = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=30, choices=CaseRecordAction.choices)
    description = models.TextField(blank=True)
    document_ref = models.CharField(_("dokument"), max_length=200, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name = _("wpis metryki sprawy")
        verbose_name_plural = _("metryka sprawy")

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M} {self.actor_name}: {self.get_action_display()}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise PermissionError("The case record is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[override]
        raise PermissionError("The case record is append-only.")
