"""Places without a map service: which unit covers a point, a tiny gazetteer, map images.

Everything works offline from data shipped in `portal/data/`:

- `gazetteer.csv`: the seats of the 21 units and the towns and commune seats of
  the voivodeship, each with the unit whose area it lies in and approximate
  coordinates (name, unit, lat, lon);
- `voivodeship.json`: a rough outline of the voivodeship, for drawing only.

Routing rule (documented in docs/portal-map.md): if unit areas are configured
(GARNIZON_UNIT_AREAS, a GeoJSON file of polygons with a `symbol` property), the
unit whose polygon contains the point. Otherwise the unit of the *nearest known
place* in the gazetteer (haversine). A city command covers its city and the
surrounding county, so every place of both is tagged with the city command; the
regional HQ (KWP) shares Lublin's seat but covers no area of its own and is
never chosen by a point (it only takes what no unit covers).
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

DATA_DIR = Path(__file__).resolve().parent / "data"
GAZETTEER_CSV = DATA_DIR / "gazetteer.csv"
OUTLINE_JSON = DATA_DIR / "voivodeship.json"

EARTH_RADIUS_M = 6_371_000.0

#: The counties (powiaty) each unit covers, to tell apart places of the same name.
COUNTY_LABELS: dict[str, str] = {
    "KMP-LU": "Lublin i powiat lubelski",
    "KMP-BP": "Biała Podlaska i powiat bialski",
    "KMP-CH": "Chełm i powiat chełmski",
    "KMP-ZA": "Zamość i powiat zamojski",
    "KPP-BI": "powiat biłgorajski",
    "KPP-HR": "powiat hrubieszowski",
    "KPP-JL": "powiat janowski",
    "KPP-KR": "powiat kraśnicki",
    "KPP-KS": "powiat krasnostawski",
    "KPP-LB": "powiat lubartowski",
    "KPP-LE": "powiat łęczyński",
    "KPP-LK": "powiat łukowski",
    "KPP-OL": "powiat opolski",
    "KPP-PA": "powiat parczewski",
    "KPP-PU": "powiat puławski",
    "KPP-RP": "powiat radzyński",
    "KPP-SW": "powiat świdnicki",
    "KPP-RY": "powiat rycki",
    "KPP-TL": "powiat tomaszowski",
    "KPP-WL": "powiat włodawski",
}


@dataclass(frozen=True)
class Point:
    lat: float
    lon: float

    def label(self) -> str:
        return f"{self.lat:.5f}, {self.lon:.5f}"


@dataclass(frozen=True)
class Place:
    """One gazetteer entry: a town or village and the unit whose area it lies in."""

    name: str
    unit_symbol: str
    lat: float
    lon: float

    @property
    def point(self) -> Point:
        return Point(self.lat, self.lon)

    @property
    def county(self) -> str:
        return COUNTY_LABELS.get(self.unit_symbol, self.unit_symbol)

    def label(self) -> str:
        return f"{self.name} ({self.county})"


# --- distances and shapes --------------------------------------------------------------


def distance_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat = lat2 - lat1
    dlon = math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def ring_contains(ring: list[list[float]], point: Point) -> bool:
    """Ray casting on one ring of [lon, lat] pairs (closed or not)."""
    inside = False
    x, y = point.lon, point.lat
    count = len(ring)
    for i in range(count):
        x1, y1 = ring[i][0], ring[i][1]
        x2, y2 = ring[(i + 1) % count][0], ring[(i + 1) % count][1]
        if (y1 > y) != (y2 > y):
            crossing = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < crossing:
                inside = not inside
    return inside


def polygon_contains(polygon: list[list[list[float]]], point: Point) -> bool:
    """A GeoJSON polygon (outer ring, then holes) contains the point."""
    if not polygon or not ring_contains(polygon[0], point):
        return False
    return not any(ring_contains(hole, point) for hole in polygon[1:])


def geometry_contains(geometry: dict[str, Any], point: Point) -> bool:
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates") or []
    if kind == "Polygon":
        return polygon_contains(coordinates, point)
    if kind == "MultiPolygon":
        return any(polygon_contains(polygon, point) for polygon in coordinates)
    return False


def geometry_valid(geometry: Any) -> bool:
    """A Polygon or MultiPolygon of numeric [lon, lat] rings of at least 3 distinct points."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return False
    polygons = geometry.get("coordinates")
    if not isinstance(polygons, list) or not polygons:
        return False
    if geometry["type"] == "Polygon":
        polygons = [polygons]
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            return False
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 3:
                return False
            for pair in ring:
                if not (
                    isinstance(pair, list | tuple)
                    and len(pair) >= 2
                    and all(isinstance(v, int | float) for v in pair[:2])
                    and -180 <= pair[0] <= 180
                    and -90 <= pair[1] <= 90
                ):
                    return False
            if len({(pair[0], pair[1]) for pair in ring}) < 3:
                return False
    return True


# --- the gazetteer ------------------------------------------------------------------------


def normalize(text: str) -> str:
    """Lower case, no diacritics (ł too), words separated by single spaces."""
    text = text.replace("ł", "l").replace("Ł", "L")
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", plain.lower()).split())


@lru_cache(maxsize=4)
def _gazetteer(path: str) -> tuple[Place, ...]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return tuple(
            Place(
                name=row["name"].strip(),
                unit_symbol=row["unit"].strip(),
                lat=float(row["lat"]),
                lon=float(row["lon"]),
            )
            for row in csv.DictReader(handle)
        )


def gazetteer() -> tuple[Place, ...]:
    return _gazetteer(str(GAZETTEER_CSV))


def place_search(text: str) -> list[Place]:
    """Places matching a typed name: exact (accent-insensitive), else one close spelling.

    "Lubartów", "lubartow" and "LUBARTÓW" match alike; a small typo ("Lubartw")
    still finds the place when only one name is that close. A county after a
    comma narrows same-named places: "Adamów, łukowski".
    """
    name, _, hint = text.partition(",")
    wanted = normalize(name)
    if not wanted:
        return []
    places = gazetteer()
    found = [p for p in places if normalize(p.name) == wanted]
    if not found:
        names = sorted({normalize(p.name) for p in places})
        close = difflib.get_close_matches(wanted, names, n=2, cutoff=0.8)
        if len(close) == 1 or (
            len(close) == 2
            and difflib.SequenceMatcher(None, wanted, close[0]).ratio()
            > difflib.SequenceMatcher(None, wanted, close[1]).ratio()
        ):
            found = [p for p in places if normalize(p.name) == close[0]]
    hint_words = normalize(hint).split()
    if hint_words and len(found) > 1:
        narrowed = [
            p
            for p in found
            if all(any(w in c for c in normalize(p.county).split()) for w in hint_words)
        ]
        found = narrowed or found
    return found


def nearest_place(point: Point) -> Place:
    return min(gazetteer(), key=lambda place: distance_m(point, place.point))


def parse_coordinates(text: str) -> Point | None:
    """ "51.2465, 22.5684" or "51,2465 22,5684" (decimal degrees, latitude first)."""
    numbers = re.findall(r"-?\d+(?:[.,]\d+)?", text)
    if len(numbers) != 2:
        return None
    lat, lon = (float(n.replace(",", ".")) for n in numbers)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return Point(lat, lon)


# --- unit areas --------------------------------------------------------------------------


def unit_areas_path() -> str:
    return str(
        getattr(settings, "GARNIZON_UNIT_AREAS", None) or os.environ.get("GARNIZON_UNIT_AREAS", "")
    )


@lru_cache(maxsize=4)
def _unit_areas(path: str, mtime: float) -> tuple[tuple[str, dict[str, Any]], ...]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    areas = []
    for feature in data.get("features", []):
        symbol = str((feature.get("properties") or {}).get("symbol", "")).strip()
        geometry = feature.get("geometry") or {}
        if symbol and geometry_valid(geometry):
            areas.append((symbol, geometry))
    return tuple(areas)


def unit_areas() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(unit symbol, GeoJSON geometry) pairs from GARNIZON_UNIT_AREAS, or none."""
    path = unit_areas_path()
    if not path:
        return ()
    return _unit_areas(path, os.path.getmtime(path))


def unit_symbol_for(point: Point) -> str:
    """The symbol of the unit whose area covers the point (see the module's rule)."""
    for symbol, geometry in unit_areas():
        if geometry_contains(geometry, point):
            return symbol
    return nearest_place(point).unit_symbol


def unit_for(point: Point) -> Any:
    """The active `Unit` covering the point.

    When the unit named by the rule is not in this installation (or inactive),
    the nearest active city or county command by its seat's coordinates; with
    none, the regional HQ, which forwards the matter.
    """
    from garnizon.org.models import Unit, UnitKind

    active = Unit.objects.filter(is_active=True)
    unit = active.filter(symbol=unit_symbol_for(point)).first()
    if unit is not None:
        return unit
    located = [
        u
        for u in active.exclude(kind=UnitKind.REGIONAL_HQ)
        if u.latitude is not None and u.longitude is not None
    ]
    if located:
        return min(
            located, key=lambda u: distance_m(point, Point(float(u.latitude), float(u.longitude)))
        )
    return active.filter(kind=UnitKind.REGIONAL_HQ).first() or active.order_by("id").first()


# --- the map images -----------------------------------------------------------------------

#: The overview map's frame: the voivodeship with a margin.
LAT_MAX, LAT_MIN = 52.40, 50.15
LON_MIN, LON_MAX = 21.55, 24.25
#: One degree of longitude is shorter than one of latitude by cos(51.3°).
LON_FACTOR = math.cos(math.radians(51.3))
OVERVIEW_WIDTH = 480
OVERVIEW_SCALE = OVERVIEW_WIDTH / ((LON_MAX - LON_MIN) * LON_FACTOR)  # px per degree lat
OVERVIEW_HEIGHT = round((LAT_MAX - LAT_MIN) * OVERVIEW_SCALE)

ZOOM_SIZE = 480
#: Zoom level -> (degrees of latitude shown, grid step in degrees).
ZOOM_LEVELS: dict[int, tuple[float, float]] = {1: (0.12, 0.02), 2: (0.03, 0.005)}
MAX_ZOOM = max(ZOOM_LEVELS)


def in_frame(point: Point) -> bool:
    return LAT_MIN <= point.lat <= LAT_MAX and LON_MIN <= point.lon <= LON_MAX


def in_voivodeship(point: Point) -> bool:
    """Inside the rough outline, or within 3 km of a gazetteer place (the outline is rough)."""
    if ring_contains(outline(), point):
        return True
    return any(distance_m(point, p.point) <= 3000 for p in gazetteer())


def overview_point(x: int, y: int) -> Point:
    """The point under pixel (x, y) of the overview map."""
    return Point(
        lat=LAT_MAX - y / OVERVIEW_SCALE,
        lon=LON_MIN + x / (OVERVIEW_SCALE * LON_FACTOR),
    )


def overview_xy(point: Point) -> tuple[float, float]:
    return (
        (point.lon - LON_MIN) * OVERVIEW_SCALE * LON_FACTOR,
        (LAT_MAX - point.lat) * OVERVIEW_SCALE,
    )


def zoom_scale(level: int) -> float:
    return ZOOM_SIZE / ZOOM_LEVELS[level][0]


def zoom_point(center: Point, level: int, x: int, y: int) -> Point:
    """The point under pixel (x, y) of the zoomed map centred on `center`."""
    scale = zoom_scale(level)
    return Point(
        lat=center.lat - (y - ZOOM_SIZE / 2) / scale,
        lon=center.lon + (x - ZOOM_SIZE / 2) / (scale * LON_FACTOR),
    )


def zoom_xy(center: Point, level: int, point: Point) -> tuple[float, float]:
    scale = zoom_scale(level)
    return (
        ZOOM_SIZE / 2 + (point.lon - center.lon) * scale * LON_FACTOR,
        ZOOM_SIZE / 2 - (point.lat - center.lat) * scale,
    )


@lru_cache(maxsize=1)
def outline() -> list[list[float]]:
    with OUTLINE_JSON.open(encoding="utf-8") as handle:
        return json.load(handle)["outline"]


def unit_seats() -> list[Place]:
    """The first gazetteer entry of each unit: its seat (file order)."""
    seats: dict[str, Place] = {}
    for place in gazetteer():
        seats.setdefault(place.unit_symbol, place)
    return list(seats.values())


def _font(size: int) -> Any:
    from PIL import ImageFont

    for path in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
    ):
        if os.path.exists(path):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default()


INK = (11, 12, 12)
LAND = (243, 242, 241)
WATER_EDGE = (29, 112, 184)
GRID = (177, 180, 182)
MARKER = (212, 53, 28)


@lru_cache(maxsize=1)
def overview_png() -> bytes:
    """The whole voivodeship: outline, a half-degree grid and the units' seats, labelled."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (OVERVIEW_WIDTH, OVERVIEW_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.polygon([overview_xy(Point(lat, lon)) for lon, lat in outline()], fill=LAND, outline=INK)
    small = _font(11)
    lat = math.ceil(LAT_MIN * 2) / 2
    while lat < LAT_MAX:
        y = overview_xy(Point(lat, LON_MIN))[1]
        draw.line([(0, y), (OVERVIEW_WIDTH, y)], fill=GRID)
        draw.text((2, y - 13), f"{lat:.1f}°N", fill=INK, font=small)
        lat += 0.5
    lon = math.ceil(LON_MIN * 2) / 2
    while lon < LON_MAX:
        x = overview_xy(Point(LAT_MIN, lon))[0]
        draw.line([(x, 0), (x, OVERVIEW_HEIGHT)], fill=GRID)
        draw.text((x + 2, OVERVIEW_HEIGHT - 14), f"{lon:.1f}°E", fill=INK, font=small)
        lon += 0.5
    font = _font(12)
    for seat in unit_seats():
        x, y = overview_xy(seat.point)
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=INK)
        width = draw.textlength(seat.name, font=font)
        left = x + 6 if x + 6 + width < OVERVIEW_WIDTH else x - 6 - width
        draw.text((left, y - 7), seat.name, fill=INK, font=font)
    return _png(image)


def zoom_png(center: Point, level: int) -> bytes:
    """A closer look around `center`: a labelled grid, nearby places and a marker."""
    return _zoom_png(round(center.lat, 5), round(center.lon, 5), level)


@lru_cache(maxsize=128)
def _zoom_png(lat: float, lon: float, level: int) -> bytes:
    from PIL import Image, ImageDraw

    center = Point(lat, lon)
    span, step = ZOOM_LEVELS[level]
    image = Image.new("RGB", (ZOOM_SIZE, ZOOM_SIZE), LAND)
    draw = ImageDraw.Draw(image)
    small = _font(11)
    half_lat = span / 2
    half_lon = span / 2 / LON_FACTOR
    value = math.floor((lat - half_lat) / step) * step
    while value <= lat + half_lat:
        y = zoom_xy(center, level, Point(value, lon))[1]
        draw.line([(0, y), (ZOOM_SIZE, y)], fill=GRID)
        draw.text((2, y - 13), f"{value:.3f}", fill=INK, font=small)
        value += step
    value = math.floor((lon - half_lon) / step) * step
    while value <= lon + half_lon:
        x = zoom_xy(center, level, Point(lat, value))[0]
        draw.line([(x, 0), (x, ZOOM_SIZE)], fill=GRID)
        draw.text((x + 2, ZOOM_SIZE - 14), f"{value:.3f}", fill=INK, font=small)
        value += step
    edge = [zoom_xy(center, level, Point(p_lat, p_lon)) for p_lon, p_lat in outline()]
    draw.line(edge, fill=WATER_EDGE, width=2)
    font = _font(13)
    for place in gazetteer():
        x, y = zoom_xy(center, level, place.point)
        if -50 <= x <= ZOOM_SIZE and 0 <= y <= ZOOM_SIZE:
            draw.rectangle([x - 5, y - 5, x + 5, y + 5], fill=INK)
            draw.text((x + 8, y - 8), place.name, fill=INK, font=font)
    c = ZOOM_SIZE / 2
    draw.ellipse([c - 9, c - 9, c + 9, c + 9], outline=MARKER, width=4)
    draw.line([(c - 16, c), (c + 16, c)], fill=MARKER, width=2)
    draw.line([(c, c - 16), (c, c + 16)], fill=MARKER, width=2)
    metres = span * 111_320 / 4
    bar = ZOOM_SIZE / 4
    draw.rectangle([10, 10, 10 + bar, 16], fill=INK)
    label = f"{metres / 1000:.1f} km" if metres >= 1000 else f"{metres:.0f} m"
    draw.text((14 + bar, 6), label, fill=INK, font=small)
    return _png(image)


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
