"""Documents: the blob store, versions, metadata, need-to-know on download and preview,
the audit trail, the case record and `garnizon blobs verify`."""

from __future__ import annotations

import io
import os
import stat
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from garnizon.audit.models import AuditEntry
from garnizon.cases.models import CaseRecordAction, CaseRecordEntry
from garnizon.cases.services import case_open
from garnizon.common.errors import AccessDenied, DomainError, NotVisible
from garnizon.documents import services
from garnizon.documents.blobstore import (
    BlobCorrupted,
    BlobEmpty,
    BlobMissing,
    BlobTooLarge,
    FileSystemBlobStore,
    get_blob_store,
)
from garnizon.documents.metadata import MAX_FILENAME, detect_mime_from_head, safe_filename
from garnizon.documents.models import Document, DocumentVersion
from garnizon.registry.models import Channel
from garnizon.registry.services import incoming_item_register
from tests.factories import PASSWORD

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _blob_dir(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_MAX_UPLOAD_MB = 1


@pytest.fixture
def world(garrison):
    g = garrison
    case = case_open(
        actor=g.people["handler"],
        cell=g.cells["kwp_i_1"],
        classification=g.classes["052"],
        subject="Skarga na hałas",
    )
    item = incoming_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Skarga",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
    )
    secret = incoming_item_register(
        actor=g.people["head"],
        unit=g.kwp,
        subject="Zgłoszenie sygnalisty",
        channel=Channel.PAPER,
        assigned_cell=g.cells["kwp_i_1"],
        assigned_person=g.people["handler"],
        is_restricted=True,
    )
    return {"g": g, "case": case, "item": item, "secret": secret}


def upload(content: bytes, name: str = "pismo.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def client_for(person) -> Client:
    client = Client()
    assert client.login(username=person.username, password=PASSWORD)
    return client


def files_under(root) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs
    )


# --- the blob store ---------------------------------------------------------------------------


def test_put_stores_by_hash_with_modes_and_deduplicates(tmp_path):
    store = FileSystemBlobStore(tmp_path / "store")
    ref = store.put(io.BytesIO(b"ala ma kota"))
    assert ref.size == 11
    path = store.path(ref.sha256)
    assert path == tmp_path / "store" / ref.sha256[:2] / ref.sha256[2:4] / ref.sha256
    assert path.read_bytes() == b"ala ma kota"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o750
    mtime = path.stat().st_mtime_ns
    again = store.put(io.BytesIO(b"ala ma kota"))
    assert again == ref and path.stat().st_mtime_ns == mtime
    assert list(store.iter_blobs()) == [ref.sha256]
    assert list(store.tmp_dir.iterdir()) == []  # no temporary file left
    assert list(store.verify_all()) == []


class _Exploding(io.RawIOBase):
    def __init__(self) -> None:
        self.calls = 0

    def read(self, size=-1):
        self.calls += 1
        if self.calls > 2:
            raise OSError("connection reset")
        return b"x" * 1000


def test_put_leaves_nothing_behind_when_it_fails(tmp_path):
    store = FileSystemBlobStore(tmp_path / "store")
    with pytest.raises(BlobTooLarge) as too_large:
        store.put(io.BytesIO(b"x" * 101), max_size=100)
    assert "za duży" in str(too_large.value.message)
    with pytest.raises(BlobEmpty):
        store.put(io.BytesIO(b""))
    with pytest.raises(OSError):
        store.put(_Exploding())
    assert files_under(tmp_path / "store") == []
    ref = store.put(io.BytesIO(b"x" * 100), max_size=100)  # exactly the limit is fine
    assert files_under(tmp_path / "store") == [
        os.path.join(ref.sha256[:2], ref.sha256[2:4], ref.sha256)
    ]


def test_reading_verifies_the_hash_and_reports_missing_blobs(tmp_path):
    store = FileSystemBlobStore(tmp_path / "store")
    ref = store.put(io.BytesIO(b"0123456789" * 1000))
    with store.open(ref.sha256) as reader:
        assert reader.read() == b"0123456789" * 1000
    path = store.path(ref.sha256)
    data = bytearray(path.read_bytes())
    data[5000] ^= 0x01
    path.write_bytes(bytes(data))
    reader = store.open(ref.sha256)
    assert len(reader.read(4096)) == 4096  # the mismatch shows at the end
    with pytest.raises(BlobCorrupted):
        while reader.read(4096):
            pass
    assert [p.problem for p in store.verify_all()] == ["corrupted"]
    path.unlink()
    with pytest.raises(BlobMissing):
        store.open(ref.sha256)
    assert store.check(ref.sha256) == "missing"


# --- names and types ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\jan\\skarga.pdf", "skarga.pdf"),
        ("pis\x00mo\x1b[31m.pdf", "pismo[31m.pdf"),
        ("faktura\u202efdp.exe", "fakturafdp.exe"),
        ("  .ukryty  ", "ukryty"),
        ("", "plik"),
        ("/", "plik"),
        ("Zażółć gęślą jaźń.odt", "Zażółć gęślą jaźń.odt"),
    ],
)
def test_file_names_are_made_safe(given, expected):
    assert safe_filename(given) == expected


def test_very_long_file_names_are_cut_keeping_the_extension():
    name = safe_filename("ą" * 500 + ".pdf")
    assert len(name) == MAX_FILENAME and name.endswith(".pdf")
    assert len(safe_filename("x" * 1000)) == MAX_FILENAME


def _zip(entries: dict[str, bytes], *, stored_first: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            compress = zipfile.ZIP_STORED if name == stored_first else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=compress)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "mime"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"II*\x00\x08\x00\x00\x00", "image/tiff"),
        (b"MM\x00*\x00\x00\x00\x08", "image/tiff"),
        ('<?xml version="1.0"?><a>zażółć</a>'.encode(), "application/xml"),
        ("Zwykły tekst, zażółć gęślą jaźń.\n".encode(), "text/plain"),
        (b"\x00\x01\x02\x03binary", "application/octet-stream"),
        (
            _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            _zip(
                {"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"},
                stored_first="mimetype",
            ),
            "application/vnd.oasis.opendocument.text",
        ),
        (_zip({"a.txt": b"a"}), "application/zip"),
    ],
)
def test_types_are_detected_by_content(content, mime):
    assert detect_mime_from_head(content) == mime


def test_the_type_comes_from_the_content_not_the_name(world):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(PNG, "to-nie-jest.pdf"), case=world["case"]
    )
    version = document.versions.get()
    assert version.mime_type == "image/png"
    assert version.original_filename == "to-nie-jest.pdf"
    assert document.metadata["format"] == "image/png"
    # Previewed as what it is: an image, in a sandbox.
    preview = client_for(g.people["handler"]).get(reverse("documents:preview", args=[version.pk]))
    assert preview["Content-Type"] == "image/png"
    assert preview["Content-Security-Policy"].startswith("sandbox;")


# --- adding documents ---------------------------------------------------------------------------


def test_a_document_in_a_case_has_metadata_a_record_entry_and_an_audit_entry(world):
    g, case = world["g"], world["case"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(PDF, "../skarga.pdf"), case=case
    )
    assert document.title == "skarga"
    assert document.identifier.startswith("KWP/DOK/1/")
    version = document.versions.get()
    assert (version.number, version.size, version.original_filename) == (1, len(PDF), "skarga.pdf")
    assert get_blob_store().path(version.blob_sha256).read_bytes() == PDF
    m = document.metadata
    assert m["identyfikator"] == document.identifier
    assert m["tworca"]["nazwa"] == str(g.people["handler"])
    assert m["data"][0]["typ"] == "utworzenie"
    assert m["format"] == "application/pdf"
    assert m["grupowanie"] == case.sign
    assert m["kwalifikacja"] == "A"
    assert m["jezyk"] == "pol"
    assert m["dostep"]["ograniczony"] is False
    assert m["typ"]["klasa"] == "tekst"
    entry = CaseRecordEntry.objects.get(case=case, action=CaseRecordAction.DOCUMENT_ADDED)
    assert entry.document_ref == document.identifier
    audit = AuditEntry.objects.filter(object_type="documents.document").get()
    assert (audit.action, audit.object_id) == ("create", str(document.pk))
    assert audit.details["sha256"] == version.blob_sha256


def test_versions_are_numbered_without_gaps_and_immutable(world):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(b"wersja 1", "a.txt"), case=world["case"]
    )
    for n in (2, 3):
        services.document_add_version(
            actor=g.people["handler2"], document=document, file=upload(f"wersja {n}".encode())
        )
    versions = list(document.versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2, 3]
    document.refresh_from_db()
    assert [d["typ"] for d in document.metadata["data"]] == [
        "utworzenie",
        "modyfikacja",
        "modyfikacja",
    ]
    assert CaseRecordEntry.objects.filter(action=CaseRecordAction.DOCUMENT_ADDED).count() == 3
    versions[0].original_filename = "zmiana.txt"
    with pytest.raises(PermissionError):
        versions[0].save()
    with pytest.raises(PermissionError):
        versions[0].delete()
    assert DocumentVersion.objects.get(pk=versions[0].pk).original_filename == "a.txt"


def test_bad_input_writes_nothing(world, settings):
    g = world["g"]
    blobs = settings.GARNIZON_BLOB_DIR
    with pytest.raises(DomainError) as empty:
        services.document_add(actor=g.people["handler"], file=upload(b""), case=world["case"])
    assert "pusty" in str(empty.value.message)
    with pytest.raises(DomainError) as large:
        services.document_add(
            actor=g.people["handler"], file=upload(b"x" * (1024 * 1024 + 1)), case=world["case"]
        )
    assert "za duży" in str(large.value.message)
    assert not Document.objects.exists()
    assert not CaseRecordEntry.objects.filter(action=CaseRecordAction.DOCUMENT_ADDED).exists()
    assert files_under(blobs) == []


def test_who_may_add_documents(world):
    g, case, item, secret = world["g"], world["case"], world["item"], world["secret"]
    with pytest.raises(AccessDenied):  # sees the case but only reads it
        services.document_add(actor=g.people["archivist"], file=upload(PDF), case=case)
    with pytest.raises(NotVisible):
        services.document_add(actor=g.people["kadry"], file=upload(PDF), case=case)
    with pytest.raises(NotVisible):
        services.document_add(actor=g.people["kmp_clerk"], file=upload(PDF), incoming_item=item)
    with pytest.raises(NotVisible):  # restricted: the cell's other handler does not see it
        services.document_add(actor=g.people["handler2"], file=upload(PDF), incoming_item=secret)
    services.document_add(actor=g.people["clerk"], file=upload(PDF), incoming_item=item)
    services.document_add(actor=g.people["handler"], file=upload(PDF), incoming_item=item)
    services.document_add(actor=g.people["head"], file=upload(PDF), case=case)
    doc = services.document_add(actor=g.people["handler"], file=upload(PDF), incoming_item=secret)
    assert doc.is_restricted and doc.metadata["dostep"]["ograniczony"] is True
    assert Document.objects.count() == 4
    assert DocumentVersion.objects.values("blob_sha256").distinct().count() == 1  # dedup
    assert len(list(get_blob_store().iter_blobs())) == 1


# --- reading: need-to-know, headers, audit -----------------------------------------------------

CASE_READERS = {
    "handler": 200,
    "handler2": 200,
    "head": 200,
    "commander": 200,
    "archivist": 200,
    "clerk": 404,
    "kadry": 404,
    "auditor": 404,
    "kmp_handler": 404,
    "kmp_commander": 404,
}
SECRET_READERS = {"handler": 200, "head": 200, "handler2": 404, "commander": 404, "clerk": 404}


@pytest.mark.parametrize(("role", "status"), CASE_READERS.items())
def test_downloading_a_case_document_follows_the_case(world, role, status):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(PDF), case=world["case"]
    )
    version = document.versions.get()
    client = client_for(g.people[role])
    for name in ("download", "preview"):
        response = client.get(reverse(f"documents:{name}", args=[version.pk]))
        assert response.status_code == status, name
    assert client.get(reverse("documents:detail", args=[document.pk])).status_code == status


@pytest.mark.parametrize(("role", "status"), SECRET_READERS.items())
def test_a_restricted_items_documents_are_seen_only_by_those_named(world, role, status):
    g = world["g"]
    document = services.document_add(
        actor=g.people["head"], file=upload(PNG, "skan.png"), incoming_item=world["secret"]
    )
    version = document.versions.get()
    response = client_for(g.people[role]).get(reverse("documents:download", args=[version.pk]))
    assert response.status_code == status


def test_download_headers_body_and_audit(world):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(PDF, "skarga ąę.pdf"), case=world["case"]
    )
    version = document.versions.get()
    response = client_for(g.people["head"]).get(reverse("documents:download", args=[version.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"].startswith("attachment;")
    assert "skarga" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Length"] == str(len(PDF))
    view = AuditEntry.objects.filter(object_type="documents.document", action="view").get()
    assert view.actor == g.people["head"]
    assert view.details["purpose"] == "download" and view.details["version"] == 1

    preview = client_for(g.people["head"]).get(reverse("documents:preview", args=[version.pk]))
    assert preview.status_code == 200
    assert preview["Content-Disposition"].startswith("inline;")
    assert preview["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'self'"
    assert preview["Content-Type"] == "application/pdf"
    assert AuditEntry.objects.filter(object_type="documents.document", action="view").count() == 2


def test_no_inline_preview_for_other_types(world):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"],
        file=upload(b"<html><script>alert(1)</script>", "x.html"),
        case=world["case"],
    )
    version = document.versions.get()
    assert version.mime_type == "text/plain"
    client = client_for(g.people["handler"])
    assert client.get(reverse("documents:preview", args=[version.pk])).status_code == 404
    response = client.get(reverse("documents:download", args=[version.pk]))
    assert response["Content-Disposition"].startswith("attachment;")


def test_a_corrupted_blob_fails_the_download(world):
    g = world["g"]
    document = services.document_add(
        actor=g.people["handler"], file=upload(PDF), case=world["case"]
    )
    version = document.versions.get()
    path = get_blob_store().path(version.blob_sha256)
    path.write_bytes(PDF.replace(b"1.7", b"1.6"))
    response = client_for(g.people["handler"]).get(reverse("documents:download", args=[version.pk]))
    with pytest.raises(BlobCorrupted):
        b"".join(response.streaming_content)
    path.unlink()
    response = client_for(g.people["handler"]).get(reverse("documents:download", args=[version.pk]))
    assert response.status_code == 503


# --- the web pages -------------------------------------------------------------------------------


def test_uploading_several_files_from_the_case_page(world):
    g, case = world["g"], world["case"]
    client = client_for(g.people["handler"])
    page = client.get(reverse("web:case_detail", args=[case.pk])).content.decode()
    url = reverse("documents:upload", args=["case", case.pk])
    assert url in page and 'type="file" name="files"' in page and "multiple" in page
    response = client.post(
        url, {"files": [upload(PDF, "a.pdf"), upload(PNG, "b.png")], "kind": "zalacznik"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith(reverse("web:case_detail", args=[case.pk]) + "#documents")
    assert sorted(Document.objects.values_list("title", flat=True)) == ["a", "b"]
    page = client.get(reverse("web:case_detail", args=[case.pk])).content.decode()
    assert "a.pdf" in page and "b.png" in page
    # An archivist reads the case but gets no upload form and cannot post one.
    archivist = client_for(g.people["archivist"])
    page = archivist.get(reverse("web:case_detail", args=[case.pk])).content.decode()
    assert "a.pdf" in page and url not in page
    archivist.post(url, {"files": [upload(PDF, "c.pdf")], "kind": "zalacznik"})
    assert Document.objects.count() == 2
    # Someone who cannot see the case gets 404.
    response = client_for(g.people["kadry"]).post(url, {"files": [upload(PDF)]})
    assert response.status_code == 404


def test_the_incoming_item_page_lists_its_documents(world):
    g, item = world["g"], world["item"]
    client = client_for(g.people["clerk"])
    response = client.post(
        reverse("documents:upload", args=["incoming", item.pk]),
        {"files": [upload(PDF, "skan.pdf")], "title": "Skan pisma", "kind": "skan"},
    )
    assert response.status_code == 302
    page = client.get(reverse("web:incoming_detail", args=[item.pk])).content.decode()
    assert "Skan pisma" in page and "skan.pdf" in page


# --- garnizon blobs verify ---------------------------------------------------------------------


def _verify() -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("blobs", "verify", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), out.getvalue() + err.getvalue()
    return 0, out.getvalue() + err.getvalue()


def test_blobs_verify_clean_corrupted_missing_and_orphaned(world):
    g = world["g"]
    first = services.document_add(actor=g.people["handler"], file=upload(PDF), case=world["case"])
    services.document_add(actor=g.people["handler"], file=upload(PNG), case=world["case"])
    code, output = _verify()
    assert code == 0, output
    assert "Sprawdzono plików: 2" in output and "spójny" in output

    store = get_blob_store()
    path = store.path(first.versions.get().blob_sha256)
    path.write_bytes(b"%PDF-zmieniony")
    code, output = _verify()
    assert code == 1 and "uszkodzonych: 1" in output and "USZKODZONY" in output

    path.unlink()
    code, output = _verify()
    assert code == 1 and "brakujących: 1" in output

    path.write_bytes(PDF)
    store.put(io.BytesIO(b"nikt mnie nie zna"))
    code, output = _verify()
    assert code == 1 and "osieroconych: 1" in output and "brakujących: 0" in output


def test_an_oversized_upload_is_cut_off_while_it_streams(world, settings):
    from django.core.files.uploadhandler import StopUpload

    from garnizon.documents.uploads import MaxSizeUploadHandler

    g, case = world["g"], world["case"]
    # The handler stops counting at the limit (1 MB in these tests) ...
    handler = MaxSizeUploadHandler()
    handler.new_file("files", "big.pdf", "application/pdf", None)
    handler.receive_data_chunk(b"x" * 1024 * 1024, 0)
    with pytest.raises(StopUpload):
        handler.receive_data_chunk(b"x", 1024 * 1024)
    # ... and the page says so instead of keeping a partial file.
    client = client_for(g.people["handler"])
    big = upload(PDF + b"0" * (2 * 1024 * 1024), "duzy.pdf")
    response = client.post(
        reverse("documents:upload", args=["case", case.pk]),
        {"files": [big], "kind": "zalacznik"},
        follow=True,
    )
    body = response.content.decode()
    # Cut off by the handler: the view never saw the file (a per-file refusal by
    # the blob store would name it: "duzy.pdf: ...").
    assert "za duży" in body and "duzy.pdf:" not in body
    assert Document.objects.count() == 0
    assert settings.FILE_UPLOAD_HANDLERS[0] == "garnizon.documents.uploads.MaxSizeUploadHandler"


def test_the_outgoing_items_page_lists_and_takes_documents(world):
    from garnizon.registry.services import outgoing_item_register

    g = world["g"]
    outgoing = outgoing_item_register(
        actor=g.people["clerk"],
        unit=g.kwp,
        subject="Odpowiedź",
        channel=Channel.EMAIL,
        addressee_name="Jan Kowalski",
    )
    clerk = client_for(g.people["clerk"])
    page = reverse("web:outgoing_detail", args=[outgoing.pk])
    upload_url = reverse("documents:upload", args=["outgoing", outgoing.pk])
    assert upload_url in clerk.get(page).content.decode()
    files = [upload(b"%PDF-1.4\n%%EOF\n", "odpowiedz.pdf")]
    clerk.post(upload_url, {"files": files, "kind": "pismo"})
    document = Document.objects.get(outgoing_item=outgoing)
    assert document.versions.get().original_filename == "odpowiedz.pdf"
    assert "odpowiedz.pdf" in clerk.get(page).content.decode()
    # The archivist reads the register but does not add documents to it.
    archivist_page = client_for(g.people["archivist"]).get(page).content.decode()
    assert "odpowiedz.pdf" in archivist_page and upload_url not in archivist_page
