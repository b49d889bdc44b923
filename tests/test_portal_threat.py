"""Threat reports on the map: routing by point and by place, the no-JS map, duplicates, staff."""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from garnizon.audit.models import AuditEntry
from garnizon.org.models import Cell, Unit, UnitKind
from garnizon.portal import geo
from garnizon.portal.models import Submission, ThreatReport
from garnizon.portal.threats import (
    threat_reports_nearby,
    threat_status_for,
    threat_status_set,
)
from garnizon.registry.models import IncomingItem
from tests.factories import PASSWORD

SERVICE = "zagrozenie"
LUBLIN = geo.Point(51.2465, 22.5684)
SWIDNIK = geo.Point(51.2197, 22.6965)


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_UNIT_AREAS = ""
    cache.clear()
    with translation.override("pl"):
        yield
    cache.clear()


@pytest.fixture
def units(garrison):
    """The test garrison's KMP-LU with a prevention department, plus KPP-SW (Świdnik)."""
    prevention = Cell.objects.create(unit=garrison.kmp, name="Wydział Prewencji", symbol="WP")
    swidnik = Unit.objects.create(
        symbol="KPP-SW",
        name="Komenda Powiatowa Policji w Świdniku",
        kind=UnitKind.COUNTY,
        superior=garrison.kwp,
        latitude="51.2197",
        longitude="22.6965",
    )
    Cell.objects.create(unit=swidnik, name="Kancelaria", symbol="KAN")
    return {"kmp": garrison.kmp, "prevention": prevention, "swidnik": swidnik}


def step_url(slug: str) -> str:
    return reverse("portal:step", args=[SERVICE, slug])


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, "PNG")
    return buffer.getvalue()


def upload(name: str, content: bytes) -> io.BytesIO:
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def click_data(point: geo.Point) -> dict[str, str]:
    x, y = geo.overview_xy(point)
    return {"mapa.x": str(round(x)), "mapa.y": str(round(y))}


def post(client: Client, slug: str, data: dict, status: int = 302):
    response = client.post(step_url(slug), data)
    assert response.status_code == status, response.content.decode()[:3000]
    return response


def fill(
    client: Client,
    *,
    place: dict,
    category: str = "odpady",
    anonymous: bool = True,
    duplicate: str | None = None,
    files: list | None = None,
) -> None:
    post(client, "miejsce", place)
    post(client, "rodzaj", {"category": category})
    if duplicate is not None:
        post(client, "podobne", {"duplicate": duplicate})
    post(client, "opis", {"text": "Worki ze śmieciami w rowie przy drodze."})
    post(client, "anonimowosc", {"anonymous": "yes" if anonymous else "no"})
    if not anonymous:
        post(client, "kontakt", {"email": "anna@example.pl", "name": "Anna Nowak"})
    post(client, "zalaczniki", {"files": files or []})


def file(client: Client) -> IncomingItem:
    page = client.get(reverse("portal:check", args=[SERVICE]))
    assert page.status_code == 200, page.content.decode()[:3000]
    token = re.search(r'name="form_token" value="([0-9a-f]+)"', page.content.decode()).group(1)
    response = client.post(reverse("portal:check", args=[SERVICE]), {"form_token": token})
    assert response.status_code == 302, response.content.decode()[:3000]
    return IncomingItem.objects.order_by("-pk").first()


# --- geo: routing, gazetteer, map arithmetic ---------------------------------------------------


def test_a_point_goes_to_the_unit_of_the_nearest_known_place():
    assert geo.unit_symbol_for(LUBLIN) == "KMP-LU"
    # East Lublin (Felin) is nearer Świdnik's seat than Lublin's, but Lublin's places are nearer.
    felin = geo.Point(51.2350, 22.6450)
    seat = min(geo.unit_seats(), key=lambda s: geo.distance_m(felin, s.point))
    assert seat.unit_symbol == "KPP-SW"
    assert geo.unit_symbol_for(felin) == "KMP-LU"
    assert geo.unit_symbol_for(geo.Point(51.2210, 22.7000)) == "KPP-SW"
    assert geo.unit_symbol_for(geo.Point(51.4600, 22.6100)) == "KPP-LB"
    # A village of Lublin county routes to the city command, which covers the county.
    assert geo.unit_symbol_for(geo.Point(51.0160, 22.5350)) == "KMP-LU"


def test_the_regional_hq_is_never_picked_by_a_point():
    symbols = {geo.unit_symbol_for(place.point) for place in geo.gazetteer()}
    assert "KWP" not in symbols
    assert symbols == set(geo.COUNTY_LABELS)


def test_configured_unit_areas_win_over_the_nearest_place(settings, tmp_path):
    # A square around Lublin's centre given to Świdnik, with a hole in the middle.
    square = [[22.50, 51.20], [22.65, 51.20], [22.65, 51.30], [22.50, 51.30], [22.50, 51.20]]
    hole = [[22.56, 51.24], [22.58, 51.24], [22.58, 51.25], [22.56, 51.25], [22.56, 51.24]]
    areas = tmp_path / "areas.geojson"
    areas.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"symbol": "KPP-SW"},
                        "geometry": {"type": "Polygon", "coordinates": [square, hole]},
                    },
                    {"type": "Feature", "properties": {"symbol": "BROKEN"}, "geometry": {}},
                ],
            }
        )
    )
    settings.GARNIZON_UNIT_AREAS = str(areas)
    assert geo.unit_symbol_for(geo.Point(51.2200, 22.5200)) == "KPP-SW"
    # In the hole, and outside every polygon: the nearest place decides.
    assert geo.unit_symbol_for(geo.Point(51.2450, 22.5700)) == "KMP-LU"
    assert geo.unit_symbol_for(geo.Point(51.4600, 22.6100)) == "KPP-LB"


def test_a_unit_missing_from_the_installation_falls_back_to_the_nearest_seat(units, garrison):
    # Lubartów's command is not in this installation: the nearest located unit is Świdnik.
    assert geo.unit_for(geo.Point(51.4600, 22.6100)) == units["swidnik"]
    units["swidnik"].is_active = False
    units["swidnik"].save()
    assert geo.unit_for(geo.Point(51.4600, 22.6100)) == garrison.kwp
    assert geo.unit_for(LUBLIN) == garrison.kmp


def test_the_gazetteer_matches_without_accents_with_a_small_typo_and_by_county():
    assert [p.name for p in geo.place_search("LUBARTOW")] == ["Lubartów"]
    assert [p.name for p in geo.place_search("łęczna")] == ["Łęczna"]
    assert [p.name for p in geo.place_search("leczna")] == ["Łęczna"]
    assert [p.name for p in geo.place_search("Lubartw")] == ["Lubartów"]
    assert geo.place_search("Xyzzyvo") == []
    both = geo.place_search("Adamów")
    assert {p.unit_symbol for p in both} == {"KMP-ZA", "KPP-LK"}
    assert [p.unit_symbol for p in geo.place_search("adamow, lukowski")] == ["KPP-LK"]


def test_every_gazetteer_place_lies_inside_the_outline_and_seats_cover_all_units():
    for place in geo.gazetteer():
        assert geo.ring_contains(geo.outline(), place.point), place
    assert {seat.unit_symbol for seat in geo.unit_seats()} == set(geo.COUNTY_LABELS)
    assert len(geo.gazetteer()) >= 200
    assert [p.name for p in geo.place_search("felin")] == ["Felin"]


def test_map_pixels_and_points_convert_both_ways():
    x, y = geo.overview_xy(LUBLIN)
    back = geo.overview_point(round(x), round(y))
    assert geo.distance_m(back, LUBLIN) < 300  # one overview pixel is about 390 m
    for level in geo.ZOOM_LEVELS:
        zx, zy = geo.zoom_xy(LUBLIN, level, SWIDNIK if level == 1 else LUBLIN)
        back = geo.zoom_point(LUBLIN, level, round(zx), round(zy))
        target = SWIDNIK if level == 1 else LUBLIN
        assert geo.distance_m(back, target) < 30
    assert geo.zoom_point(LUBLIN, 2, geo.ZOOM_SIZE // 2, geo.ZOOM_SIZE // 2) == LUBLIN


def test_coordinates_parse_with_dots_or_commas():
    assert geo.parse_coordinates("51.2465, 22.5684") == geo.Point(51.2465, 22.5684)
    assert geo.parse_coordinates("51,2465 22,5684") == geo.Point(51.2465, 22.5684)
    assert geo.parse_coordinates("51.2") is None
    assert geo.parse_coordinates("951.2, 22.5") is None


def test_the_map_images_are_pngs_and_bad_requests_are_refused():
    client = Client()
    overview = client.get(reverse("portal:portal_officers:map_overview"))
    assert overview.status_code == 200 and overview["Content-Type"] == "image/png"
    assert overview.content.startswith(b"\x89PNG")
    from PIL import Image

    image = Image.open(io.BytesIO(overview.content))
    assert image.size == (geo.OVERVIEW_WIDTH, geo.OVERVIEW_HEIGHT)
    url = reverse("portal:portal_officers:map_zoom")
    zoom = client.get(url, {"lat": "51.24650", "lon": "22.56840", "z": "2"})
    assert zoom.status_code == 200
    assert Image.open(io.BytesIO(zoom.content)).size == (geo.ZOOM_SIZE, geo.ZOOM_SIZE)
    assert client.get(url, {"lat": "10", "lon": "10", "z": "1"}).status_code == 404
    assert client.get(url, {"lat": "51.2", "lon": "22.5", "z": "9"}).status_code == 404
    assert client.get(url, {"lat": "x", "lon": "22.5"}).status_code == 404


# --- the flow ---------------------------------------------------------------------------------


def test_a_click_shows_the_zoomed_map_a_second_click_refines_and_the_report_is_filed(units):
    client = Client()
    first = post(client, "miejsce", click_data(LUBLIN))
    # A click keeps the filer on the page, now with the zoomed map centred on the point.
    assert first["Location"] == step_url("miejsce")
    page = client.get(step_url("miejsce")).content.decode()
    assert 'name="zoom"' in page and "mapa-powiekszenie.png?lat=51.2" in page
    saved = client.session[f"portal:{SERVICE}"]["pages"]["miejsce"]
    centre = geo.Point(saved["lat"], saved["lon"])
    assert geo.distance_m(centre, LUBLIN) < 300
    # 60 px right and 40 px down on the level-1 map.
    post(client, "miejsce", {"zoom.x": "300", "zoom.y": "280"})
    refined = client.session[f"portal:{SERVICE}"]["pages"]["miejsce"]
    expected = geo.zoom_point(centre, 1, 300, 280)
    assert (refined["lat"], refined["lon"]) == (round(expected.lat, 6), round(expected.lon, 6))
    assert refined["zoom"] == 2
    # "Dalej" without a click accepts the point.
    response = post(client, "miejsce", {"opis_miejsca": "ul. Lipowa, przy przystanku"})
    assert response["Location"] == step_url("rodzaj")
    post(client, "rodzaj", {"category": "odpady"})
    post(client, "opis", {"text": "Worki ze śmieciami w rowie."})
    post(client, "anonimowosc", {"anonymous": "yes"})
    post(client, "zalaczniki", {"files": [upload("zdjecie.png", png_bytes())]})
    item = file(client)

    report = ThreatReport.objects.get()
    assert report.unit == units["kmp"] and item.unit == units["kmp"]
    assert item.assigned_cell == units["prevention"]
    assert item.due_date is None and item.attachments_count == 1
    assert item.sender_name == "brak danych (anonimowo)"
    assert "dzikie wysypiska śmieci" in item.subject and "ul. Lipowa" in item.subject
    assert float(report.latitude) == pytest.approx(expected.lat, abs=1e-6)
    assert report.category == "odpady" and report.status == ThreatReport.Status.REPORTED
    submission = Submission.objects.get()
    assert submission.is_anonymous and submission.email == ""
    assert threat_status_for(submission) == "zgłoszone"


def test_a_typed_place_routes_to_its_unit_which_has_no_prevention_cell(units):
    client = Client()
    fill(client, place={"miejsce": "swidnik"})
    item = file(client)
    assert item.unit == units["swidnik"] and item.assigned_cell is None
    report = ThreatReport.objects.get()
    assert report.place == "Świdnik"
    assert geo.Point(float(report.latitude), float(report.longitude)) == SWIDNIK


def test_enter_in_the_place_field_sends_no_click_and_the_typed_place_counts(units):
    """Enter presses the first submit button, the map, which then sends (0, 0)."""
    client = Client()
    response = post(client, "miejsce", {"mapa.x": "0", "mapa.y": "0", "miejsce": "Lublin"})
    assert response["Location"] == step_url("rodzaj")
    saved = client.session[f"portal:{SERVICE}"]["pages"]["miejsce"]
    assert (saved["lat"], saved["lon"], saved["source"]) == (51.2465, 22.5684, "miejsce")


def test_typed_coordinates_and_an_email_make_a_report_the_filer_can_follow(units):
    client = Client()
    fill(client, place={"wspolrzedne": "51,2200 22,7000"}, anonymous=False)
    item = file(client)
    assert item.unit == units["swidnik"]
    submission = Submission.objects.get()
    assert not submission.is_anonymous and submission.email == "anna@example.pl"
    assert item.sender_name == "Anna Nowak"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "miejsce", "Wskaż miejsce na mapie albo wpisz"),
        ({"miejsce": "Xyzzyvo"}, "miejsce", "Nie znamy miejscowości"),
        ({"miejsce": "Adamów"}, "miejsce", "Jest kilka miejscowości o tej nazwie"),
        ({"wspolrzedne": "51.2"}, "wspolrzedne", "Wpisz dwie liczby"),
        ({"wspolrzedne": "52.2297, 21.0122"}, "wspolrzedne", "poza województwem lubelskim"),
        ({"mapa.x": "3", "mapa.y": "3"}, "punkt", "poza województwem lubelskim"),
    ],
)
def test_a_place_that_cannot_be_used_is_refused_with_a_linked_message(units, data, field, message):
    client = Client()
    body = post(client, "miejsce", data, status=400).content.decode()
    assert message in body
    assert f'href="#id_{field}"' in body
    assert f'id="id_{field}"' in body
    assert "miejsce" not in client.session.get(f"portal:{SERVICE}", {}).get("pages", {})


def test_the_place_page_offers_the_map_and_the_typed_alternatives(units):
    body = Client().get(step_url("miejsce")).content.decode()
    assert '<input type="image" name="mapa" id="id_punkt"' in body
    assert 'alt="Mapa województwa lubelskiego' in body
    assert 'name="miejsce"' in body and 'name="wspolrzedne"' in body
    assert 'name="zoom"' not in body  # no point yet, no zoomed map


def test_only_photos_are_accepted(units):
    client = Client()
    post(client, "miejsce", {"miejsce": "Lublin"})
    post(client, "rodzaj", {"category": "odpady"})
    post(client, "opis", {"text": "Opis."})
    post(client, "anonimowosc", {"anonymous": "yes"})
    response = client.post(
        step_url("zalaczniki"), {"files": [upload("a.txt", b"just text, not a photo")]}
    )
    assert response.status_code == 400
    assert "Dodaj plik: JPG, PNG" in response.content.decode()


def test_a_photos_gps_position_and_camera_do_not_reach_the_register(units):
    """An anonymous filer's photo is filed without its EXIF, pixels unchanged."""
    from garnizon.documents.blobstore import get_blob_store
    from garnizon.portal.models import Submission
    from tests.test_imagemeta import jpeg_with_metadata, pixels

    original = jpeg_with_metadata()
    client = Client()
    fill(client, place={"miejsce": "Lublin"}, files=[upload("zdjecie.jpg", original)])
    file(client)
    [attachment] = Submission.objects.get().attachments
    stored = get_blob_store().open(attachment["sha256"]).read()
    assert b"AcmePhone" not in stored and b"SN-123456789" not in stored
    assert pixels(stored) == pixels(original)
    assert attachment["sha256"] == hashlib.sha256(stored).hexdigest()  # the receipt's hash


def test_a_cut_short_photo_is_refused_with_a_message(units):
    client = Client()
    post(client, "miejsce", {"miejsce": "Lublin"})
    post(client, "rodzaj", {"category": "odpady"})
    post(client, "opis", {"text": "Opis."})
    post(client, "anonimowosc", {"anonymous": "yes"})
    broken = jpeg_with_metadata_cut()
    response = client.post(step_url("zalaczniki"), {"files": [upload("zdjecie.jpg", broken)]})
    assert response.status_code == 400
    assert "jest uszkodzony" in response.content.decode()


def jpeg_with_metadata_cut() -> bytes:
    from tests.test_imagemeta import jpeg_with_metadata

    data = jpeg_with_metadata()
    return data[: data.index(b"\xff\xdb")] + b"\xff\xdb\x00"  # ends inside a segment


# --- nearby duplicates ------------------------------------------------------------------------


def _report(units, point: geo.Point, category: str = "odpady") -> ThreatReport:
    client = Client()
    fill(client, place={"wspolrzedne": f"{point.lat}, {point.lon}"}, category=category)
    file(client)
    return ThreatReport.objects.order_by("-pk").first()


def test_nearby_reports_are_same_category_close_recent_and_unresolved(units, garrison):
    here = geo.Point(51.2400, 22.5600)
    near = _report(units, geo.Point(51.2430, 22.5600))  # ~330 m north
    far = _report(units, geo.Point(51.2500, 22.5600))  # ~1.1 km
    other = _report(units, geo.Point(51.2401, 22.5601), category="psy")
    found = threat_reports_nearby(point=here, category="odpady")
    assert [r.id for r in found] == [near.pk]
    assert 300 < found[0].distance_m < 360
    assert far.pk not in [r.id for r in threat_reports_nearby(point=here, category="odpady")]
    assert [r.id for r in threat_reports_nearby(point=here, category="psy")] == [other.pk]
    threat_status_set(garrison.people["kmp_handler"], near, ThreatReport.Status.RESOLVED)
    assert threat_reports_nearby(point=here, category="odpady") == []
    threat_status_set(garrison.people["kmp_handler"], near, ThreatReport.Status.CONFIRMED)
    ThreatReport.objects.filter(pk=near.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=31)
    )
    assert threat_reports_nearby(point=here, category="odpady") == []


def test_the_filer_sees_reports_nearby_before_filing_and_may_confirm_one(units):
    earlier = _report(units, geo.Point(51.2430, 22.5600))
    client = Client()
    post(client, "miejsce", {"wspolrzedne": "51.2400, 22.5600"})
    response = post(client, "rodzaj", {"category": "odpady"})
    assert response["Location"] == step_url("podobne")
    page = client.get(step_url("podobne")).content.decode()
    assert "To zagrożenie może być już zgłoszone" in page
    assert "dzikie wysypiska śmieci" in page and earlier.created_at.strftime("%d.%m.%Y") in page
    assert "Worki ze śmieciami" not in page  # an earlier report's text is never shown
    post(client, "podobne", {}, status=400)
    post(client, "podobne", {"duplicate": "same"})
    post(client, "opis", {"text": "Nadal leżą."})
    post(client, "anonimowosc", {"anonymous": "yes"})
    post(client, "zalaczniki", {})
    item = file(client)
    assert "potwierdza zagrożenie zgłoszone już w pobliżu" in item.remarks
    # A different category skips the page.
    client = Client()
    post(client, "miejsce", {"wspolrzedne": "51.2400, 22.5600"})
    assert post(client, "rodzaj", {"category": "psy"})["Location"] == step_url("opis")


# --- staff ------------------------------------------------------------------------------------


def login(person) -> Client:
    client = Client()
    assert client.login(username=person.username, password=PASSWORD)
    return client


def test_the_units_staff_list_and_change_the_status_with_an_audit_entry(units, garrison):
    report = _report(units, LUBLIN)
    submission = report.submission
    client = login(garrison.people["kmp_handler"])
    page = client.get(reverse("staff_officers:threats"))
    assert page.status_code == 200
    assert submission.incoming_item.registration_number in page.content.decode()
    before = AuditEntry.objects.count()
    response = client.post(
        reverse("staff_officers:threat_status", args=[report.pk]), {"status": "confirmed"}
    )
    assert response.status_code == 302
    report.refresh_from_db()
    assert report.status == "confirmed" and report.status_changed_at is not None
    entry = AuditEntry.objects.filter(action="update").order_by("-seq").first()
    assert AuditEntry.objects.count() > before
    assert entry.object_id == str(report.pk) and entry.actor_id == garrison.people["kmp_handler"].pk
    assert threat_status_for(submission) == "potwierdzone"
    bad = client.post(reverse("staff_officers:threat_status", args=[report.pk]), {"status": "x"})
    assert bad.status_code == 302
    report.refresh_from_db()
    assert report.status == "confirmed"


def test_other_units_staff_neither_see_nor_change_a_report(units, garrison):
    report = _report(units, LUBLIN)
    client = login(garrison.people["handler"])  # KWP, not garrison-wide
    page = client.get(reverse("staff_officers:threats"))
    assert page.status_code == 200
    assert report.submission.incoming_item.registration_number not in page.content.decode()
    response = client.post(
        reverse("staff_officers:threat_status", args=[report.pk]), {"status": "resolved"}
    )
    assert response.status_code == 404
    report.refresh_from_db()
    assert report.status == "reported"
    assert Client().get(reverse("staff_officers:threats")).status_code == 302  # to log in
