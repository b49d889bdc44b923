"""The administrators' console: units, cells, people, positions, substitutions.

Django's admin, but open only to people holding an administrator position, and
scoped like everything else: an administrator manages their own unit (the whole
garrison only with a garrison-wide position). Every change goes to the audit trail.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import Model, QuerySet
from django.http import HttpRequest
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
    """Units the administrator manages; None means all of them."""
    if request.user.is_superuser:
        return None
    scope = Scope.for_person(request.user).own_only()
    if scope.is_garrison_wide({Role.ADMINISTRATOR}):
        return None
    return scope.unit_ids({Role.ADMINISTRATOR})


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
            raise PermissionError("outside the administrator's units")
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


class CellDesignationInline(admin.TabularInline):
    model = CellDesignation
    extra = 0


@admin.register(Cell, site=site)
class CellAdmin(ScopedAdmin):
    list_display = ["__str__", "name", "unit", "parent", "is_active"]
    list_filter = ["unit", "is_active"]
    search_fields = ["name", "symbol"]
    inlines = [CellDesignationInline]


class PositionInline(admin.TabularInline):
    model = Position
    extra = 0
    fields = ["cell", "title", "role", "garrison_wide", "valid_from", "valid_to"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any):
        unit_ids = admin_unit_ids(request)
        if unit_ids is not None and db_field.related_model is Cell:
            kwargs["queryset"] = Cell.objects.filter(unit_id__in=unit_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # Only a garrison-wide administrator hands out garrison-wide positions.
        return [] if admin_unit_ids(request) is None else ["garrison_wide"]


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


@admin.register(Substitution, site=site)
class SubstitutionAdmin(ScopedAdmin):
    unit_path = "absent__unit_id"
    list_display = ["absent", "substitute", "date_from", "date_to", "reason"]
    list_filter = ["date_from"]

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # arranged through the substitutions page, with its rules


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
