"""Threat-map reports (KMZB-style): nearby duplicates, public status, the units' handling.

Selectors read (`threat_reports_nearby`, `threat_reports_visible_to`), services
write (`threat_report_create`, `threat_status_set`: audited, only the unit's staff).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.common.errors import DomainError, NotVisible
from garnizon.org.access import Scope
from garnizon.org.models import Cell, Person, Unit
from garnizon.portal.geo import Point, distance_m
from garnizon.portal.models import EService, Submission, ThreatReport

NEARBY_RADIUS_M = 500
NEARBY_DAYS = 30


@dataclass(frozen=True)
class NearbyReport:
    """What the next filer may see of an earlier report: never its text or its filer."""

    id: int
    category: str
    category_label: str
    place: str
    distance_m: int
    created_at: datetime.datetime
    status_label: str


def threat_reports_nearby(
    *,
    point: Point,
    category: str,
    radius_m: float = NEARBY_RADIUS_M,
    days: int = NEARBY_DAYS,
    now: datetime.datetime | None = None,
) -> list[NearbyReport]:
    """Unresolved reports of the same category within `radius_m`, filed in the last `days`.

    A bounding box narrows the rows in SQL (an index on latitude, longitude);
    the exact distance is then computed for the few left.
    """
    now = now or timezone.now()
    dlat = radius_m / 111_320
    dlon = radius_m / (111_320 * max(0.01, math.cos(math.radians(point.lat))))
    rows = (
        ThreatReport.objects.filter(
            category=category,
            created_at__gte=now - datetime.timedelta(days=days),
            latitude__gte=_dec(point.lat - dlat),
            latitude__lte=_dec(point.lat + dlat),
            longitude__gte=_dec(point.lon - dlon),
            longitude__lte=_dec(point.lon + dlon),
        )
        .exclude(status=ThreatReport.Status.RESOLVED)
        .order_by("-created_at")
    )
    found = []
    for row in rows:
        distance = distance_m(point, Point(float(row.latitude), float(row.longitude)))
        if distance <= radius_m:
            found.append(
                NearbyReport(
                    id=row.pk,
                    category=row.category,
                    category_label=str(row.get_category_display()),
                    place=row.place,
                    distance_m=round(distance),
                    created_at=row.created_at,
                    status_label=str(row.get_status_display()),
                )
            )
    return sorted(found, key=lambda r: r.distance_m)


def threat_status_for(submission: Submission) -> str | None:
    """The public status of a threat report filed as `submission` (for the tracking page)."""
    if submission.service != EService.THREAT:
        return None
    report = ThreatReport.objects.filter(submission=submission).first()
    return str(report.get_status_display()) if report is not None else None


def prevention_cell(unit: Unit) -> Cell | None:
    """The unit's prevention department (Wydział/Zespół Prewencji), top-level first."""
    return (
        Cell.objects.filter(unit=unit, is_active=True, name__icontains="prewencji")
        .order_by("path")
        .first()
    )


@transaction.atomic
def threat_report_create(
    *, submission: Submission, category: str, point: Point, place: str
) -> ThreatReport:
    return ThreatReport.objects.create(
        submission=submission,
        unit=submission.unit,
        category=category,
        latitude=_dec(point.lat),
        longitude=_dec(point.lon),
        place=place[:300],
    )


# --- staff ---------------------------------------------------------------------------------


def threat_unit_ids(actor: Person) -> set[int] | None:
    """Units whose threat reports `actor` handles: every unit they hold a position in
    (own or by substitution); None for a garrison-wide position (every unit)."""
    scope = Scope.for_person(actor)
    if any(g.position.garrison_wide for g in scope.grants):
        return None
    return {g.position.cell.unit_id for g in scope.grants}


def threat_reports_visible_to(actor: Person) -> QuerySet[ThreatReport]:
    unit_ids = threat_unit_ids(actor)
    reports = ThreatReport.objects.select_related("unit", "submission__incoming_item")
    if unit_ids is None:
        return reports.all()
    return reports.filter(unit_id__in=unit_ids)


def threat_report_get(actor: Person, report_id: int) -> ThreatReport:
    report = threat_reports_visible_to(actor).filter(pk=report_id).first()
    if report is None:
        raise NotVisible()
    return report


@transaction.atomic
def threat_status_set(actor: Person, report: ThreatReport, status: str) -> ThreatReport:
    """Change a report's public status; only the unit's staff may, and it is audited."""
    if not threat_reports_visible_to(actor).filter(pk=report.pk).exists():
        raise NotVisible()
    if status not in ThreatReport.Status.values:
        raise DomainError(_("Wybierz status z listy."), field="status")
    report = ThreatReport.objects.select_for_update().get(pk=report.pk)
    previous = report.status
    if previous == status:
        return report
    report.status = status
    report.status_changed_at = timezone.now()
    report.save(update_fields=["status", "status_changed_at"])
    audit_record(
        actor=actor,
        action="update",
        obj=report,
        details={"status": {"from": previous, "to": status}},
    )
    return report


def _dec(value: float) -> Decimal:
    return Decimal(f"{value:.6f}")
