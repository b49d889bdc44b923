"""Neighbourhood officers: who may keep them, saving with an audited trail, the photo.

The unit's commander and the head of its prevention department (or of a cell
inside it, e.g. Rewir Dzielnicowych) keep the unit's officers; a garrison-wide
commander keeps every unit's.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from garnizon.audit.services import audit_record
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.documents.blobstore import BlobTooLarge, get_blob_store
from garnizon.org.access import Scope
from garnizon.org.models import Cell, Person, Role, Unit
from garnizon.portal import geo
from garnizon.portal.officers.models import NeighbourhoodOfficer

PHOTO_MAX_BYTES = 10 * 1024 * 1024
#: Larger images are refused before they are decoded (a decompression bomb is small on disk).
PHOTO_MAX_PIXELS = 40_000_000
PHOTO_SIZE = (600, 800)
PREVENTION = "prewencji"

FIELDS = (
    "name",
    "rank",
    "person",
    "phone",
    "email",
    "duty_hours",
    "area_description",
    "streets",
    "polygon",
    "latitude",
    "longitude",
)


# --- who may keep the officers -------------------------------------------------------------


def officer_unit_ids(actor: Person) -> set[int] | None:
    """Units whose officers `actor` keeps; None means every unit."""
    scope = Scope.for_person(actor)
    units: set[int] = set()
    for grant in scope.grants:
        position = grant.position
        if position.role == Role.UNIT_COMMANDER:
            if position.garrison_wide:
                return None
            units.add(position.cell.unit_id)
        elif position.role == Role.CELL_HEAD and _in_prevention(position.cell):
            units.add(position.cell.unit_id)
    return units


def officers_kept_by(actor: Person) -> QuerySet[NeighbourhoodOfficer]:
    unit_ids = officer_unit_ids(actor)
    officers = NeighbourhoodOfficer.objects.select_related("unit")
    return officers.all() if unit_ids is None else officers.filter(unit_id__in=unit_ids)


def units_kept_by(actor: Person) -> QuerySet[Unit]:
    unit_ids = officer_unit_ids(actor)
    units = Unit.objects.filter(is_active=True).order_by("id")
    return units if unit_ids is None else units.filter(pk__in=unit_ids)


def officer_get(actor: Person, officer_id: int) -> NeighbourhoodOfficer:
    officer = officers_kept_by(actor).filter(pk=officer_id).first()
    if officer is None:
        raise NotVisible()
    return officer


def _in_prevention(cell: Cell) -> bool:
    """The cell is a prevention department or lies inside one."""
    if PREVENTION in cell.name.lower():
        return True
    ancestors = [int(part) for part in cell.path.split("/") if part.isdigit()]
    return Cell.objects.filter(pk__in=ancestors, name__icontains=PREVENTION).exists()


# --- saving ---------------------------------------------------------------------------------


@transaction.atomic
def officer_save(
    *,
    actor: Person,
    unit: Unit,
    data: dict[str, Any],
    photo: UploadedFile | None = None,
    officer: NeighbourhoodOfficer | None = None,
) -> NeighbourhoodOfficer:
    """Create or change an officer's post; the change is audited field by field."""
    unit_ids = officer_unit_ids(actor)
    allowed = unit_ids is None or unit.pk in unit_ids
    if officer is not None and not (unit_ids is None or officer.unit_id in unit_ids):
        raise NotVisible()
    if not allowed:
        raise AccessDenied(
            _("Dzielnicowych jednostki prowadzi jej komendant albo kierownik prewencji.")
        )
    values = _clean(data)
    person = values.get("person")
    if person is not None and person.unit_id not in (None, unit.pk):
        raise DomainError(_("Wybierz policjanta tej jednostki."), field="person")
    if photo is not None:
        values["photo_sha256"] = photo_store(photo)
    created = officer is None
    officer = officer or NeighbourhoodOfficer(unit=unit)
    changes = {}
    for name, value in values.items():
        old = getattr(officer, name)
        if old != value:
            changes[name] = {"from": _plain(old), "to": _plain(value)}
            setattr(officer, name, value)
    if unit.pk != officer.unit_id:
        changes["unit"] = {"from": officer.unit_id, "to": unit.pk}
        officer.unit = unit
    officer.save()
    if created or changes:
        audit_record(
            actor=actor,
            action="create" if created else "update",
            obj=officer,
            details={"fields": sorted(changes)},
        )
    return officer


@transaction.atomic
def officer_remove(*, actor: Person, officer: NeighbourhoodOfficer) -> None:
    """Take an officer off the citizens' finder (the record stays for the audit trail)."""
    officer = officer_get(actor, officer.pk)
    officer.is_active = False
    officer.save(update_fields=["is_active", "updated_at"])
    audit_record(actor=actor, action="delete", obj=officer)


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    values = {name: data[name] for name in FIELDS if name in data}
    for name in ("name", "rank", "phone", "email", "duty_hours", "area_description"):
        if name in values:
            values[name] = str(values[name] or "").strip()
    if not values.get("name"):
        raise DomainError(_("Podaj imię i nazwisko dzielnicowego."), field="name")
    if "streets" in values:
        entries = area_entries(str(values["streets"] or ""))
        values["streets"] = "\n".join(entry.line() for entry in entries)
    if "polygon" in values:
        values["polygon"] = polygon_parse(values["polygon"])
    lat, lon = values.get("latitude"), values.get("longitude")
    if (lat is None) != (lon is None):
        raise DomainError(_("Podaj obie współrzędne punktu rejonu albo żadnej."), field="latitude")
    if lat is not None and not geo.in_frame(geo.Point(float(lat), float(lon))):
        raise DomainError(_("Punkt rejonu leży poza województwem lubelskim."), field="latitude")
    for name in ("latitude", "longitude"):
        if values.get(name) is not None:
            values[name] = Decimal(f"{float(values[name]):.6f}")
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Person):
        return value.pk
    return value


# --- the area -----------------------------------------------------------------------------

STREET_PREFIX = re.compile(r"^(ul|ulica|al|aleja|aleje|pl|plac|os|osiedle)\b\.?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class AreaEntry:
    """One line of an officer's area: a town, or a street in it with optional numbers."""

    town: str
    street: str = ""
    first: int | None = None
    last: int | None = None

    def line(self) -> str:
        if not self.street:
            return self.town
        numbers = f" {self.first}-{self.last}" if self.first is not None else ""
        return f"{self.town}, {self.street}{numbers}"


def area_entries(text: str) -> list[AreaEntry]:
    """Parse "Town" / "Town, Street" / "Town, Street 1-41" lines; refuse what does not parse."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        town, _sep, street = (part.strip() for part in line.partition(","))
        if not town:
            raise DomainError(
                _("Wiersz %(n)s: zacznij od nazwy miejscowości.") % {"n": number},
                field="streets",
            )
        first = last = None
        match = re.match(r"^(.*?)\s+(\d+)\s*-\s*(\d+)$", street)
        if match:
            street, first, last = match.group(1).strip(), int(match.group(2)), int(match.group(3))
            if first > last:
                raise DomainError(
                    _("Wiersz %(n)s: zakres numerów od mniejszego do większego, np. 1-41.")
                    % {"n": number},
                    field="streets",
                )
        entries.append(AreaEntry(town, street, first, last))
    return entries


def polygon_parse(value: Any) -> dict[str, Any] | None:
    """A GeoJSON Polygon/MultiPolygon (text or dict), or lines of "lat, lon"; None when empty."""
    if value in (None, "", {}):
        return None
    geometry: Any = value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("{"):
            try:
                geometry = json.loads(text)
            except ValueError as error:
                raise DomainError(
                    _("Obszar: to nie jest poprawny GeoJSON."), field="polygon"
                ) from error
        else:
            ring = []
            for line in text.splitlines():
                if not line.strip():
                    continue
                point = geo.parse_coordinates(line)
                if point is None:
                    raise DomainError(
                        _("Obszar: każdy wiersz to „szerokość, długość”, np. 51.25, 22.57."),
                        field="polygon",
                    )
                ring.append([point.lon, point.lat])
            if ring and ring[0] != ring[-1]:
                ring.append(ring[0])
            geometry = {"type": "Polygon", "coordinates": [ring]}
    if not geo.geometry_valid(geometry):
        raise DomainError(
            _("Obszar musi mieć co najmniej 3 punkty (GeoJSON Polygon lub MultiPolygon)."),
            field="polygon",
        )
    return {"type": geometry["type"], "coordinates": geometry["coordinates"]}


# --- the photo ----------------------------------------------------------------------------


def photo_store(upload: UploadedFile) -> str:
    """Check an uploaded photo is a JPG or PNG image, re-encode it without metadata, store it.

    The pixel count is checked from the header before anything is decoded, so a
    decompression bomb (a few KB claiming gigapixels) is refused cheaply.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if upload.size is not None and upload.size > PHOTO_MAX_BYTES:
        raise DomainError(_too_big(), field="photo")
    upload.seek(0)
    body = upload.read(PHOTO_MAX_BYTES + 1)
    if len(body) > PHOTO_MAX_BYTES:
        raise DomainError(_too_big(), field="photo")
    refused = DomainError(_("Zdjęcie musi być plikiem JPG albo PNG."), field="photo")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(body))
            if image.format not in ("JPEG", "PNG"):
                raise refused
            if image.width * image.height > PHOTO_MAX_PIXELS:
                raise DomainError(
                    _("Zdjęcie ma za duże wymiary. Zmniejsz je do najwyżej 40 megapikseli."),
                    field="photo",
                )
            with _strict_decoding():
                image.load()
            image = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise refused from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DomainError(
            _("Zdjęcie ma za duże wymiary. Zmniejsz je do najwyżej 40 megapikseli."),
            field="photo",
        ) from error
    image = image.convert("RGB")
    image.thumbnail(PHOTO_SIZE)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85, optimize=True)
    out.seek(0)
    try:
        return get_blob_store().put(out, max_size=PHOTO_MAX_BYTES).sha256
    except BlobTooLarge as error:  # pragma: no cover - a re-encoded 600x800 JPEG is small
        raise DomainError(_too_big(), field="photo") from error


@contextlib.contextmanager
def _strict_decoding() -> Iterator[None]:
    """Refuse a truncated image while decoding it.

    WeasyPrint sets Pillow's global `LOAD_TRUNCATED_IMAGES` on import (so a cut
    image in a letter still renders); a photo that is cut short must be refused.
    """
    from PIL import ImageFile

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _too_big() -> str:
    return _("Zdjęcie jest za duże. Plik może mieć najwyżej 10 MB.")
