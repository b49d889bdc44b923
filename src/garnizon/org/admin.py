"""The administrators' console: units, cells, people, positions, substitutions.

Django's admin, but open only to people holding an administrator position, and
scoped like everything else: an administrator manages their own unit (the whole
garrison only with a garrison-wide position). Every change goes to the audit trail.
"""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Model, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from garnizon.audit.services import audit_record
from garnizon.jrwa.models import Classification, ClassificationScheme
from garnizon.org.access import Scope
from garnizon.org.models import Cell, CellDesignation, Person, Position, Role, Substitution, Unit


class GarnizonAdminSite(admin.AdminSite):
    site_header = _("Garnizon – administracja")
    site_title = _("Garnizon – administracja")
    index_title = _("Organizacja i konta")

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not (user.is_active and user.is_authenticated):
            return False
        return user.is_superuser or Scope.for_person(user).own_only().has_role(Role.ADMINISTRATOR)


site = GarnizonAdminSite(name="garnizon_admin")


def admin_unit_ids(request: HttpRequest) -> set[int] | None:
    """Units the administrator manages; None means all of them (read once per request)."""
    if request.user.is_superuser:
        return None
    cached = getattr(request, "_garnizon_admin_units", False)
    if cached is not False:
        return cached
    scope = Scope.for_person(request.user).own_only()
    unit_ids = (
        None
        if scope.is_garrison_wide({Role.ADMINISTRATOR})
        else scope.unit_ids({Role.ADMINISTRATOR})
    )
    request._garnizon_admin_units = unit_ids  # type: ignore[attr-defined]
    return unit_ids


class ScopedAdmin(admin.ModelAdmin):
    """Model admin whose rows and rights follow the administrator's units."""

    unit_path = "unit_id"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        unit_ids = admin_unit_ids(request)
        return qs if unit_ids is None else qs.filter(**{f"{self.unit_path}__in": unit_ids})

    def _allowed(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not self.admin_site.has_permission(request):
            return False
        if obj is None:
            return True
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.admin_site.has_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Organisation records are referenced by registers and cases: deactivate instead.
        return False

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        unit_ids = admin_unit_ids(request)
        unit_id = self._unit_of(obj)
        if unit_ids is not None and unit_id not in unit_ids:
            # The form's choices are already limited to these units; a forged POST
            # gets a plain 403 rather than a server error.
            raise PermissionDenied
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action="update" if change else "create",
            obj=obj,
            unit_id=unit_id,
            details={"changed": list(form.changed_data)},
        )

    def _unit_of(self, obj: Model) -> int | None:
        value: Any = obj
        for part in self.unit_path.split("__"):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        unit_ids = admin_unit_ids(request)
        if unit_ids is not None:
            if db_field.related_model is Cell:
                kwargs["queryset"] = Cell.objects.filter(unit_id__in=unit_ids)
            elif db_field.related_model is Unit:
                kwargs["queryset"] = Unit.objects.filter(pk__in=unit_ids)
            elif db_field.related_model is Person:
                kwargs["queryset"] = Person.objects.filter(unit_id__in=unit_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Unit, site=site)
class UnitAdmin(ScopedAdmin):
    unit_path = "id"
    list_display = ["symbol", "name", "kind", "seat", "is_active"]
    search_fields = ["symbol", "name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return admin_unit_ids(request) is None and self._allowed(request)


class ScopedInline(admin.TabularInline):
    """An inline whose rights follow the administrator's units (the parent's `unit_id`),
    not Django's model permissions, which administrators do not hold."""

    extra = 0

    def _manages(self, request: HttpRequest, obj: Any) -> bool:
        if not self.admin_site.has_permission(request):
            return False
        if obj is None:
            return True
        unit_ids = admin_unit_ids(request)
        return unit_ids is None or obj.unit_id in unit_ids

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._manages(request, obj)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._manages(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._manages(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._manages(request, obj)


class CellDesignationInline(ScopedInline):
    """A designation holds for a whole year: it is changed (and checked for collisions
    in `CellDesignation.clean`), not deleted, which would switch the cell back to its
    default designation unchecked."""

    model = CellDesignation

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Cell, site=site)
class CellAdmin(ScopedAdmin):
    list_display = ["__str__", "name", "unit", "parent", "is_active"]
    list_filter = ["unit", "is_active"]
    search_fields = ["name", "symbol"]
    inlines = [CellDesignationInline]


# Roles only an administrator of the whole garrison (or a superuser) hands out: a
# unit's administrator must not make anyone (themselves through a colleague
# included) an administrator, an auditor or the commander.
RESERVED_ROLES = frozenset({Role.ADMINISTRATOR, Role.AUDITOR, Role.UNIT_COMMANDER})
EARLIEST_DATE = datetime.date(1990, 1, 1)
LATEST_DATE = datetime.date(2100, 12, 31)


class PositionFormSet(BaseInlineFormSet):
    """Positions of one person; refuses roles the administrator may not hand out."""

    may_grant_reserved_roles = False  # set per request in `PositionInline.get_formset`

    def clean(self) -> None:
        super().clean()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.has_changed():
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            data = form.cleaned_data
            for name in ("valid_from", "valid_to"):
                value = data.get(name)
                if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
                    form.add_error(
                        name,
                        gettext("Podaj datę z lat %(first)d–%(last)d.")
                        % {"first": EARLIEST_DATE.year, "last": LATEST_DATE.year},
                    )
            valid_from, valid_to = data.get("valid_from"), data.get("valid_to")
            if valid_from and valid_to and valid_to < valid_from:
                form.add_error(
                    "valid_to", gettext("Data końcowa jest wcześniejsza niż początkowa.")
                )
            role = data.get("role")
            if (
                self.may_grant_reserved_roles
                or role not in RESERVED_ROLES
                or self._only_shortened(form)
            ):
                continue
            form.add_error(
                "role",
                gettext(
                    "Rolę „%(role)s” nadaje tylko administrator całego garnizonu. Możesz "
                    "najwyżej zakończyć takie stanowisko, wpisując datę końcową."
                )
                % {"role": Role(role).label},
            )

    @staticmethod
    def _only_shortened(form: forms.ModelForm) -> bool:
        """An existing position whose only change is an earlier end: ending it is allowed."""
        if form.instance.pk is None or form.changed_data != ["valid_to"]:
            return False
        new, old = form.cleaned_data.get("valid_to"), form.initial.get("valid_to")
        return new is not None and (old is None or new <= old)


class PositionInline(ScopedInline):
    """A person's positions. The administrator of a unit manages the positions of its
    people, but not their own, and hands out no role in `RESERVED_ROLES`; positions
    are ended (a date in "valid_to"), and only a garrison-wide administrator deletes one."""

    model = Position
    formset = PositionFormSet
    fields = ["cell", "title", "role", "garrison_wide", "valid_from", "valid_to"]

    def _may_edit(self, request: HttpRequest, obj: Person | None) -> bool:
        if not self._manages(request, obj):
            return False
        # Nobody raises their own rights: a colleague edits an administrator's posts.
        return obj is None or request.user.is_superuser or obj.pk != request.user.pk

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_edit(request, obj) and admin_unit_ids(request) is None

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):
        formset = super().get_formset(request, obj, **kwargs)
        formset.may_grant_reserved_roles = admin_unit_ids(request) is None
        return formset

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        unit_ids = admin_unit_ids(request)
        if unit_ids is not None and db_field.related_model is Cell:
            kwargs["queryset"] = Cell.objects.filter(unit_id__in=unit_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Only a garrison-wide administrator hands out garrison-wide positions.
        return [] if admin_unit_ids(request) is None else ["garrison_wide"]


def _position_details(position: Position) -> dict[str, Any]:
    return {
        "person": position.person.username,
        "cell": position.cell_id,
        "title": position.title,
        "role": position.role,
        "garrison_wide": position.garrison_wide,
        "valid_from": position.valid_from.isoformat() if position.valid_from else None,
        "valid_to": position.valid_to.isoformat() if position.valid_to else None,
    }


@admin.register(Person, site=site)
class PersonAdmin(ScopedAdmin, UserAdmin):
    list_display = ["username", "last_name", "first_name", "unit", "is_active"]
    list_filter = ["unit", "is_active"]
    search_fields = ["username", "last_name", "first_name"]
    inlines = [PositionInline]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Dane osobowe"), {"fields": ("first_name", "last_name", "email", "unit")}),
        (_("Stan konta"), {"fields": ("is_active", "last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"fields": ("username", "unit", "usable_password", "password1", "password2")}),
    )
    readonly_fields = ["last_login", "date_joined"]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        """A unit administrator may not reset the password of, or deactivate, someone who
        holds a reserved role (commander, auditor, administrator) or a garrison-wide post:
        that would be a way into their rights."""
        if not super().has_change_permission(request, obj):
            return False
        if obj is None or admin_unit_ids(request) is None:
            return True
        return (
            not Position.objects.active()
            .filter(person=obj)
            .filter(Q(role__in=RESERVED_ROLES) | Q(garrison_wide=True))
            .exists()
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Save the positions, one audit entry for each created, changed or deleted one."""
        if formset.model is not Position:
            super().save_formset(request, form, formset, change)
            return
        person = form.instance
        formset.save(commit=False)
        for position in formset.deleted_objects:
            audit_record(
                actor=request.user,
                action="delete",
                obj=position,
                unit_id=person.unit_id,
                details=_position_details(position),
            )
            position.delete()
        for position in formset.new_objects:
            position.save()
            audit_record(
                actor=request.user,
                action="create",
                obj=position,
                unit_id=person.unit_id,
                details=_position_details(position),
            )
        for position, changed in formset.changed_objects:
            position.save()
            audit_record(
                actor=request.user,
                action="update",
                obj=position,
                unit_id=person.unit_id,
                details={**_position_details(position), "changed": list(changed)},
            )
        formset.save_m2m()


@admin.register(Substitution, site=site)
class SubstitutionAdmin(ScopedAdmin):
    """Read-only: substitutions are arranged and ended on the substitutions page, through
    `garnizon.org.services.substitution_create`, whose rules (who may arrange one, no
    backdating, at most a year, the same unit) and audit entry the console would skip."""

    unit_path = "absent__unit_id"
    list_display = ["absent", "substitute", "date_from", "date_to", "reason", "created_by"]
    list_filter = ["date_from"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(ClassificationScheme, site=site)
class ClassificationSchemeAdmin(admin.ModelAdmin):
    """Read-only here: versions are imported with `garnizon jrwa import`."""

    list_display = ["name", "version", "valid_from", "is_example", "is_active", "imported_at"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.admin_site.has_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.admin_site.has_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Classification, site=site)
class ClassificationAdmin(ClassificationSchemeAdmin):
    list_display = [
        "symbol",
        "heading",
        "is_terminal",
        "category_owner",
        "category_other",
        "scheme",
    ]
    list_filter = ["scheme", "is_terminal"]
    search_fields = ["symbol", "heading"]
