"""Neighbourhood officers: kept by the unit's commander or prevention head, found by citizens."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation

from garnizon.audit.models import AuditEntry
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.documents.blobstore import get_blob_store
from garnizon.org.models import Cell, Role
from garnizon.portal import geo
from garnizon.portal.officers.models import NeighbourhoodOfficer
from garnizon.portal.officers.selectors import officers_for_address, officers_for_point
from garnizon.portal.officers.services import (
    area_entries,
    officer_remove,
    officer_save,
    photo_store,
    polygon_parse,
)
from tests.factories import PASSWORD, make_person

FIND = "portal:portal_officers:find"


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    cache.clear()
    with translation.override("pl"):
        yield
    cache.clear()


@pytest.fixture
def world(garrison):
    prevention = Cell.objects.create(unit=garrison.kmp, name="Wydział Prewencji", symbol="WP")
    beat = Cell.objects.create(
        unit=garrison.kmp, parent=prevention, name="Rewir Dzielnicowych", symbol="RD"
    )
    people = dict(garrison.people)
    people["prevention_head"] = make_person("head_wp", garrison.kmp, prevention, Role.CELL_HEAD)
    people["beat_head"] = make_person("head_rd", garrison.kmp, beat, Role.CELL_HEAD)
    lipowa = officer_save(
        actor=people["kmp_commander"],
        unit=garrison.kmp,
        data={
            "name": "Jan Kowalski",
            "rank": "st. asp.",
            "phone": "47 811 22 33",
            "email": "dzielnicowy1@lublin.policja.invalid",
            "duty_hours": "wtorek 15:00–17:00",
            "area_description": "Śródmieście, okolice ulicy Lipowej",
            "streets": "Lublin, Lipowa 1-41\nLublin, ul. Narutowicza\nJastków",
            "latitude": "51.2440",
            "longitude": "22.5560",
        },
    )
    town = officer_save(
        actor=people["kmp_commander"],
        unit=garrison.kmp,
        data={"name": "Anna Nowak", "rank": "sierż. szt.", "streets": "Lublin"},
    )
    return {"g": garrison, "people": people, "lipowa": lipowa, "town": town}


def login(person) -> Client:
    client = Client()
    assert client.login(username=person.username, password=PASSWORD)
    return client


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (800, 600), **save) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, fmt, **save)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


# --- the area and the finder -------------------------------------------------------------


def test_area_lines_parse_and_bad_lines_are_refused():
    assert [e.line() for e in area_entries("Lublin, Lipowa 1-41\n\n Jastków \nLublin, Zana")] == [
        "Lublin, Lipowa 1-41",
        "Jastków",
        "Lublin, Zana",
    ]
    with pytest.raises(DomainError, match="od mniejszego do większego"):
        area_entries("Lublin, Lipowa 41-1")
    with pytest.raises(DomainError, match="zacznij od nazwy miejscowości"):
        area_entries(", Lipowa")


def test_an_address_finds_the_officer_of_its_street_and_number(world):
    assert [m.officer for m in officers_for_address("Lublin", "Lipowa", "5")] == [world["lipowa"]]
    # Accents, case, a street prefix and a small typo do not matter.
    assert [m.officer for m in officers_for_address("LUBLIN", "ul. lipowej", "12")] == [
        world["lipowa"]
    ]
    assert [m.officer for m in officers_for_address("lublin", "Narutowicz", "")] == [
        world["lipowa"]
    ]
    assert [m.officer for m in officers_for_address("jastkow")] == [world["lipowa"]]
    assert [m.officer for m in officers_for_address("Lubiln", "Lipoowa", "3")] == [world["lipowa"]]
    # A number outside the range, or another street: the officer of the whole town.
    assert [m.officer for m in officers_for_address("Lublin", "Lipowa", "99")] == [world["town"]]
    assert [m.officer for m in officers_for_address("Lublin", "Zana", "1")] == [world["town"]]
    assert officers_for_address("Chełm", "Lwowska", "1") == []
    assert officers_for_address("") == []


def test_a_point_finds_the_officer_whose_area_holds_it_else_the_nearest(world):
    near = officers_for_point(geo.Point(51.2450, 22.5570))
    assert [m.officer for m in near] == [world["lipowa"]] and near[0].distance_m < 200
    assert officers_for_point(geo.Point(50.7231, 23.2520)) == []  # Zamość: nobody within 15 km
    officer_save(
        actor=world["people"]["kmp_commander"],
        unit=world["g"].kmp,
        officer=world["town"],
        data={
            "name": "Anna Nowak",
            "polygon": "51.24, 22.55\n51.26, 22.55\n51.26, 22.58\n51.24, 22.58",
        },
    )
    inside = officers_for_point(geo.Point(51.2450, 22.5570))
    assert [m.officer for m in inside] == [world["town"]]


def test_the_finder_page_finds_by_address_and_shows_how_to_reach_the_officer(world):
    page = Client().get(
        reverse(FIND), {"miejscowosc": "lublin", "ulica": "Lipowa", "numer": "7", "szukaj": "1"}
    )
    body = page.content.decode()
    assert page.status_code == 200
    assert "st. asp. Jan Kowalski" in body and "47 811 22 33" in body
    assert "wtorek 15:00–17:00" in body and "Komenda Miejska Policji w Lublinie" in body
    assert "dzielnicowy1@lublin.policja.invalid" in body
    assert "Anna Nowak" not in body
    # The town was found in the gazetteer, so the zoomed map shows it.
    assert 'name="zoom"' in body


def test_the_finder_page_finds_by_a_click_on_the_map(world):
    x, y = geo.overview_xy(geo.Point(51.2440, 22.5560))
    page = Client().get(reverse(FIND), {"mapa.x": round(x), "mapa.y": round(y)})
    body = page.content.decode()
    assert "Jan Kowalski" in body
    assert 'name="lat"' in body and 'name="zoom"' in body
    # The zoomed map refines around the carried point.
    lat = body.split('name="lat" value="')[1].split('"')[0]
    lon = body.split('name="lon" value="')[1].split('"')[0]
    again = Client().get(
        reverse(FIND), {"lat": lat, "lon": lon, "z": "1", "zoom.x": "240", "zoom.y": "240"}
    )
    assert "Jan Kowalski" in again.content.decode()


def test_the_finder_says_so_when_nobody_is_found_and_names_the_unit(world):
    body = Client().get(reverse(FIND), {"miejscowosc": "Świdnik", "szukaj": "1"}).content.decode()
    assert "Nie znaleźliśmy dzielnicowego" in body
    empty = Client().get(reverse(FIND), {"miejscowosc": "", "szukaj": "1"})
    assert empty.status_code == 400
    assert 'href="#id_miejscowosc"' in empty.content.decode()
    outside = Client().get(reverse(FIND), {"mapa.x": "3", "mapa.y": "3"})
    assert outside.status_code == 400 and "poza województwem" in outside.content.decode()


def test_a_removed_officer_is_no_longer_found(world):
    officer_remove(actor=world["people"]["prevention_head"], officer=world["lipowa"])
    assert officers_for_address("Lublin", "Lipowa", "5")[0].officer == world["town"]
    assert AuditEntry.objects.filter(action="delete", object_id=str(world["lipowa"].pk)).exists()


# --- who keeps the officers ----------------------------------------------------------------


def test_the_commander_and_prevention_heads_keep_officers_with_an_audit_trail(world):
    g, people = world["g"], world["people"]
    for who in ("prevention_head", "beat_head", "kmp_commander"):
        officer = officer_save(actor=people[who], unit=g.kmp, data={"name": f"Dzielnicowy {who}"})
        entry = AuditEntry.objects.filter(object_id=str(officer.pk)).order_by("-seq").first()
        assert entry.action == "create" and entry.actor_id == people[who].pk
    officer_save(
        actor=people["prevention_head"],
        unit=g.kmp,
        officer=world["lipowa"],
        data={"name": "Jan Kowalski", "phone": "47 811 99 99"},
    )
    update = AuditEntry.objects.filter(action="update", object_id=str(world["lipowa"].pk)).get()
    assert update.details == {"fields": ["phone"]}


@pytest.mark.parametrize("who", ["kmp_handler", "kmp_clerk", "head", "auditor"])
def test_others_may_not_keep_the_units_officers(world, who):
    g, people = world["g"], world["people"]
    with pytest.raises(AccessDenied):
        officer_save(actor=people[who], unit=g.kmp, data={"name": "X"})
    with pytest.raises(NotVisible):
        officer_remove(actor=people[who], officer=world["lipowa"])
    assert not NeighbourhoodOfficer.objects.filter(name="X").exists()


def test_the_regional_commander_keeps_only_the_regional_hqs_officers(world):
    g, people = world["g"], world["people"]
    with pytest.raises(AccessDenied):
        officer_save(actor=people["commander"], unit=g.kmp, data={"name": "X"})
    client = login(people["commander"])
    response = client.post(reverse("staff_officers:create"), {"unit": g.kmp.pk, "name": "X"})
    assert response.status_code == 400
    assert not NeighbourhoodOfficer.objects.filter(name="X").exists()
    assert client.get(reverse("staff_officers:edit", args=[world["lipowa"].pk])).status_code == 404


def test_staff_pages_permissions(world):
    people = world["people"]
    lipowa = world["lipowa"]
    pages = {
        "list": reverse("staff_officers:list"),
        "create": reverse("staff_officers:create"),
        "edit": reverse("staff_officers:edit", args=[lipowa.pk]),
        "threats": reverse("staff_officers:threats"),
    }
    keepers_kmp = {"kmp_commander", "prevention_head", "beat_head"}
    keepers_any = keepers_kmp | {"commander"}
    for role, person in people.items():
        client = login(person)
        got = {name: client.get(url).status_code for name, url in pages.items()}
        expected = {
            "list": 200 if role in keepers_any else 404,
            "create": 200 if role in keepers_any else 404,
            "edit": 200 if role in keepers_kmp else 404,
            "threats": 200,
        }
        assert got == expected, role
    for url in pages.values():
        assert Client().get(url).status_code == 302


def test_the_staff_form_saves_an_officer_with_a_photo(world):
    client = login(world["people"]["prevention_head"])
    response = client.post(
        reverse("staff_officers:create"),
        {
            "unit": world["g"].kmp.pk,
            "name": "Piotr Zieliński",
            "rank": "asp.",
            "streets": "Lublin, Zana 1-20",
            "photo": SimpleUploadedFile("p.png", image_bytes(), content_type="image/png"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    officer = NeighbourhoodOfficer.objects.get(name="Piotr Zieliński")
    assert officer.photo_sha256
    photo = Client().get(reverse("portal:portal_officers:photo", args=[officer.pk]))
    assert photo.status_code == 200 and photo["Content-Type"] == "image/jpeg"
    bad = client.post(
        reverse("staff_officers:edit", args=[officer.pk]),
        {"unit": world["g"].kmp.pk, "name": "Piotr Zieliński", "polygon": "51.2, x"},
    )
    assert bad.status_code == 400 and "szerokość, długość" in bad.content.decode()
    officer_remove(actor=world["people"]["prevention_head"], officer=officer)
    assert (
        Client().get(reverse("portal:portal_officers:photo", args=[officer.pk])).status_code == 404
    )


# --- the photo --------------------------------------------------------------------------------


def test_a_photo_is_re_encoded_without_metadata_and_scaled_down():
    from PIL import Image

    exif = Image.Exif()
    exif[0x013B] = "Autor Zdjęcia"  # Artist
    exif[0x010F] = "Aparat"  # Make
    body = image_bytes("JPEG", size=(1600, 1200), exif=exif.tobytes())
    assert Image.open(io.BytesIO(body)).getexif()
    sha = photo_store(SimpleUploadedFile("a.jpg", body))
    stored = get_blob_store().open(sha).read()
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and image.size == (600, 450)
    assert not image.getexif() and b"Autor" not in stored


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<?php echo 1; ?> not an image", "JPG albo PNG"),
        (b"GIF89a" + image_bytes("GIF")[6:], "JPG albo PNG"),
        (png_claiming(100_000, 100_000), "za duże wymiary"),
        (png_claiming(8_000, 6_000), "za duże wymiary"),
        (image_bytes("PNG")[:200], "JPG albo PNG"),
    ],
    ids=["text", "gif", "bomb", "over-40-mpx", "truncated"],
)
def test_hostile_photos_are_refused_and_nothing_is_stored(body, message):
    with pytest.raises(DomainError, match=message):
        photo_store(SimpleUploadedFile("x.png", body))
    assert list(get_blob_store().iter_blobs()) == []


def test_a_photo_over_10_mb_is_refused():
    with pytest.raises(DomainError, match="10 MB"):
        photo_store(SimpleUploadedFile("x.png", b"\x89PNG" + b"0" * (10 * 1024 * 1024)))


def test_polygons_are_checked():
    assert polygon_parse("") is None
    square = polygon_parse("51.24, 22.55\n51.26, 22.55\n51.26, 22.58")
    assert square["type"] == "Polygon" and square["coordinates"][0][0] == [22.55, 51.24]
    assert len(square["coordinates"][0]) == 4  # closed
    assert (
        polygon_parse(
            '{"type": "Polygon", "coordinates": [[[22.5, 51.2], [22.6, 51.2], [22.6, 51.3]]]}'
        )["type"]
        == "Polygon"
    )
    for bad in ('{"type": "Point", "coordinates": [1, 2]}', "{nope", "51.2, 22.5\n51.3, 22.5"):
        with pytest.raises(DomainError):
            polygon_parse(bad)
