"""Documents in the REST API: the permission matrix of upload and listing per role,
upload / list / new version / download, structured errors, the audit trail, and
the schema (every new path, no anonymous access).

The matrix is written out by hand from the rules in `garnizon.documents.services`
(`can_add_document`) and the visibility of the case or item, as in tests/test_api.py.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from garnizon.audit.models import AuditEntry
from garnizon.cases.models import CaseRecordAction, CaseRecordEntry
from garnizon.cases.services import case_open
from garnizon.documents import services
from garnizon.documents.blobstore import get_blob_store
from garnizon.documents.models import Document, DocumentVersion
from garnizon.org.models import Person
from garnizon.registry.models import Channel
from garnizon.registry.services import incoming_item_register, outgoing_item_register
from tests.factories import Garrison

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


@pytest.fixture(autouse=True)
def _blob_dir(settings, tmp_path) -> None:
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_MAX_UPLOAD_MB = 1


def client_for(person: Person) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=person)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def pdf(name: str = "pismo.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


@pytest.fixture
def world(garrison: Garrison) -> dict[str, Any]:
    g, p = garrison, garrison.people
    case = case_open(
        actor=p["handler"],
        cell=g.cells["kwp_i_1"],
        classification=g.classes["052"],
        subject="Skarga na funkcjonariusza",
    )
    item = incoming_item_register(
        actor=p["clerk"],
        unit=g.kwp,
        subject="Skarga na hałas",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
    )
    outgoing = outgoing_item_register(
        actor=p["clerk"],
        unit=g.kwp,
        subject="Odpowiedź",
        channel=Channel.EMAIL,
        addressee_name="Jan Kowalski",
    )
    return {"g": g, "cases": case, "incoming": item, "outgoing": outgoing}


# --- the permission matrix ----------------------------------------------------------------

# Per role: (GET list, POST upload) on the case "Skarga na funkcjonariusza" (KWP-I-1),
# the incoming item assigned to KWP-I-1 (registered by the clerk) and the outgoing
# item the clerk registered without a case. 404 = not visible; 403 = sees it, only reads.
MATRIX_ROLES = ["clerk", "handler", "handler2", "head", "commander", "archivist", "kadry",
                "kmp_commander"]  # fmt: skip
#                   case          incoming      outgoing
DOCUMENT_STATUS: dict[str, tuple[int, ...]] = {
    "clerk":         (404, 404,   200, 201,     200, 201),
    "handler":       (200, 201,   200, 201,     404, 404),
    "handler2":      (200, 201,   200, 201,     404, 404),
    "head":          (200, 201,   200, 201,     404, 404),
    "commander":     (200, 201,   200, 201,     200, 403),
    "archivist":     (200, 403,   200, 403,     200, 403),
    "kadry":         (404, 404,   404, 404,     404, 404),
    "kmp_commander": (404, 404,   404, 404,     404, 404),
}  # fmt: skip
TARGETS = ["cases", "incoming", "outgoing"]


@pytest.mark.parametrize("role", MATRIX_ROLES)
def test_permission_matrix_for_listing_and_uploading(world: dict[str, Any], role: str) -> None:
    client = client_for(world["g"].people[role])
    statuses: list[int] = []
    for target in TARGETS:
        url = f"/api/{target}/{world[target].pk}/documents/"
        statuses.append(client.get(url).status_code)
        response = client.post(url, {"file": pdf()}, format="multipart")
        statuses.append(response.status_code)
        if response.status_code >= 400:
            assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert tuple(statuses) == DOCUMENT_STATUS[role]
    # Exactly the successful uploads made documents, each audited once.
    assert Document.objects.count() == statuses.count(201)
    assert AuditEntry.objects.filter(
        object_type="documents.document", action="create"
    ).count() == statuses.count(201)


@pytest.mark.parametrize(
    ("role", "expected"),
    [("handler", 200), ("archivist", 200), ("clerk", 404), ("kadry", 404), ("kmp_commander", 404)],
)
def test_reading_a_case_document_follows_the_case(
    world: dict[str, Any], role: str, expected: int
) -> None:
    g = world["g"]
    document = services.document_add(actor=g.people["handler"], file=pdf(), case=world["cases"])
    version = document.versions.get()
    client = client_for(g.people[role])
    assert client.get(f"/api/documents/{document.pk}/").status_code == expected
    download = client.get(f"/api/document-versions/{version.pk}/download/")
    assert download.status_code == expected
    if expected == 404:
        assert download.json()["error"]["code"] == "not_found"
    new_version = client.post(
        f"/api/documents/{document.pk}/versions/", {"file": pdf()}, format="multipart"
    )
    assert new_version.status_code == {"handler": 201, "archivist": 403}.get(role, 404)


# --- happy paths ----------------------------------------------------------------------------


def test_upload_list_new_version_and_download(world: dict[str, Any]) -> None:
    g, case = world["g"], world["cases"]
    handler = client_for(g.people["handler"])
    url = f"/api/cases/{case.pk}/documents/"
    response = handler.post(
        url,
        {"file": pdf("skarga ąę.pdf"), "title": "Skarga", "kind": "pismo"},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    doc = response.json()
    assert doc["identifier"].startswith(f"{g.kwp.symbol}/DOK/")
    assert doc["title"] == "Skarga"
    assert (doc["kind"], doc["kind_label"]) == ("pismo", "pismo")
    assert doc["case"] == {"id": case.pk, "label": case.sign}
    assert doc["incoming_item"] is None and doc["outgoing_item"] is None
    assert doc["metadata"]["identyfikator"] == doc["identifier"]
    [v1] = doc["versions"]
    assert v1["number"] == 1 and v1["size"] == len(PDF)
    assert v1["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert v1["mime_type"] == "application/pdf"
    assert v1["original_filename"] == "skarga ąę.pdf"
    assert v1["created_by"]["id"] == g.people["handler"].pk
    assert v1["download_url"] == (f"http://testserver/api/document-versions/{v1['id']}/download/")
    # The same trail as an upload in the UI: audit entry and case record.
    created = AuditEntry.objects.get(object_type="documents.document", action="create")
    assert created.actor == g.people["handler"]
    assert created.details["sha256"] == v1["sha256"] and created.details["version"] == 1
    assert CaseRecordEntry.objects.filter(
        case=case, action=CaseRecordAction.DOCUMENT_ADDED, document_ref=doc["identifier"]
    ).exists()

    listed = handler.get(url).json()["results"]
    assert [d["id"] for d in listed] == [doc["id"]]

    # Without a title the file name is used; the default kind is an attachment.
    second = handler.post(url, {"file": pdf("wniosek.pdf")}, format="multipart").json()
    assert (second["title"], second["kind"]) == ("wniosek", "zalacznik")

    response = handler.post(
        f"/api/documents/{doc['id']}/versions/",
        {"file": SimpleUploadedFile("skan.png", PNG)},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    v2 = response.json()
    assert v2["number"] == 2 and v2["mime_type"] == "image/png"
    detail = handler.get(f"/api/documents/{doc['id']}/").json()
    assert [v["number"] for v in detail["versions"]] == [1, 2]
    assert AuditEntry.objects.filter(object_type="documents.document", action="create").count() == 3

    # Another reader downloads version 1: the verified bytes, as an attachment, audited.
    head = client_for(g.people["head"])
    download = head.get(v1["download_url"], HTTP_ACCEPT="application/octet-stream")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PDF
    assert download["Content-Disposition"].startswith("attachment;")
    assert "skarga" in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Length"] == str(len(PDF))
    view = AuditEntry.objects.get(object_type="documents.document", action="view")
    assert view.actor == g.people["head"]
    assert view.details["purpose"] == "download" and view.details["version"] == 1


def test_documents_of_incoming_and_outgoing_items(world: dict[str, Any]) -> None:
    clerk = client_for(world["g"].people["clerk"])
    for target, field in [("incoming", "incoming_item"), ("outgoing", "outgoing_item")]:
        obj = world[target]
        url = f"/api/{target}/{obj.pk}/documents/"
        doc = clerk.post(url, {"file": pdf(), "kind": "skan"}, format="multipart").json()
        assert doc[field]["id"] == obj.pk and doc["kind"] == "skan"
        assert [d["id"] for d in clerk.get(url).json()["results"]] == [doc["id"]]


# --- errors ---------------------------------------------------------------------------------


def test_bad_uploads_get_a_structured_400_in_polish_and_write_nothing(
    world: dict[str, Any], settings
) -> None:
    handler = client_for(world["g"].people["handler"])
    url = f"/api/cases/{world['cases'].pk}/documents/"

    empty = handler.post(url, {"file": pdf(content=b"")}, format="multipart")
    assert empty.status_code == 400
    error = empty.json()["error"]
    assert error["code"] == "empty" and "pusty" in error["message"]
    assert list(error["fields"]) == ["file"]

    big = pdf("duzy.pdf", PDF + b"0" * (1024 * 1024))
    too_large = handler.post(url, {"file": big}, format="multipart")
    assert too_large.status_code == 400
    error = too_large.json()["error"]
    assert error["code"] == "too_large" and "za duży" in error["message"]
    assert list(error["fields"]) == ["file"]

    missing = handler.post(url, {"title": "Bez pliku"}, format="multipart")
    assert missing.status_code == 400
    assert set(missing.json()["error"]["fields"]) == {"file"}

    bad_kind = handler.post(url, {"file": pdf(), "kind": "list"}, format="multipart")
    assert bad_kind.status_code == 400
    assert bad_kind.json()["error"]["fields"]["kind"] == ['"list" nie jest poprawnym wyborem.']

    as_json = handler.post(url, {"title": "x"}, format="json")
    assert as_json.status_code == 415
    assert set(as_json.json()["error"]) == {"code", "message", "fields"}

    assert not Document.objects.exists() and not DocumentVersion.objects.exists()
    assert not AuditEntry.objects.filter(object_type="documents.document").exists()
    blobs = settings.GARNIZON_BLOB_DIR
    assert not blobs.exists() or not [p for p in blobs.rglob("*") if p.is_file()]


def test_a_reader_gets_403_before_the_file_is_even_looked_at(world: dict[str, Any]) -> None:
    archivist = client_for(world["g"].people["archivist"])
    url = f"/api/cases/{world['cases'].pk}/documents/"
    response = archivist.post(url, {"file": pdf(content=b"")}, format="multipart")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_a_missing_blob_answers_503_as_json(world: dict[str, Any]) -> None:
    g = world["g"]
    document = services.document_add(actor=g.people["handler"], file=pdf(), case=world["cases"])
    version = document.versions.get()
    get_blob_store().path(version.blob_sha256).unlink()
    response = client_for(g.people["handler"]).get(f"/api/document-versions/{version.pk}/download/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "file_unavailable"


def test_unknown_ids_are_404(world: dict[str, Any]) -> None:
    client = client_for(world["g"].people["handler"])
    for url in [
        "/api/cases/999999/documents/",
        "/api/documents/999999/",
        "/api/document-versions/999999/download/",
    ]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"


# --- schema and anonymous access ------------------------------------------------------------

DOCUMENT_PATHS = {
    "/api/cases/{id}/documents/",
    "/api/incoming/{id}/documents/",
    "/api/outgoing/{id}/documents/",
    "/api/documents/{id}/",
    "/api/documents/{id}/versions/",
    "/api/document-versions/{id}/download/",
}
DOCUMENT_ENDPOINTS = [
    ("get", "/api/cases/1/documents/"),
    ("post", "/api/cases/1/documents/"),
    ("get", "/api/incoming/1/documents/"),
    ("post", "/api/incoming/1/documents/"),
    ("get", "/api/outgoing/1/documents/"),
    ("post", "/api/outgoing/1/documents/"),
    ("get", "/api/documents/1/"),
    ("post", "/api/documents/1/versions/"),
    ("get", "/api/document-versions/1/download/"),
]


def test_the_schema_has_the_document_paths_with_multipart_uploads(garrison: Garrison) -> None:
    response = client_for(garrison.people["clerk"]).get("/api/schema/", {"format": "json"})
    schema = json.loads(response.content)
    assert set(schema["paths"]) >= DOCUMENT_PATHS
    upload = schema["paths"]["/api/cases/{id}/documents/"]["post"]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]
    download = schema["paths"]["/api/document-versions/{id}/download/"]["get"]["responses"]
    assert "application/octet-stream" in download["200"]["content"]


@pytest.mark.parametrize(
    ("method", "url"), DOCUMENT_ENDPOINTS, ids=[f"{m} {u}" for m, u in DOCUMENT_ENDPOINTS]
)
def test_anonymous_requests_get_401(world: dict[str, Any], method: str, url: str) -> None:
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"
