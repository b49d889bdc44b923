"""Text of documents without OCR (plain text, XML, DOCX, ODT) for search, with hostile input."""

from __future__ import annotations

import io
import zipfile

import pytest

from garnizon.documents import text as text_module
from garnizon.documents.text import DOCX, ODT, extract_text
from garnizon.intake.models import IntakeState
from garnizon.intake.services import intake_add_file
from garnizon.registry.models import Channel
from garnizon.search.services import search
from tests.test_intake import write

POLISH = "Zażółć gęślą jaźń: kradzież roweru w Puławach"


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx(paragraphs: list[str]) -> bytes:
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{ns}">'
        f"<w:body>{body}</w:body></w:document>"
    )
    return _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": xml.encode()})


def odt(paragraphs: list[str]) -> bytes:
    ns = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    body = "".join(f"<text:p>{p}</text:p>" for p in paragraphs)
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="{office}"'
        f' xmlns:text="{ns}"><office:body><office:text>{body}</office:text></office:body>'
        "</office:document-content>"
    )
    return _zip({"mimetype": ODT.encode(), "content.xml": xml.encode()})


@pytest.mark.parametrize(
    ("content", "mime"),
    [
        (POLISH.encode("utf-8"), "text/plain"),
        ("\ufeff".encode() + POLISH.encode("utf-8"), "text/plain"),  # a byte-order mark
        (POLISH.encode("cp1250"), "text/plain"),  # Windows Polish
        (
            f"<?xml version='1.0'?><pismo><tresc>{POLISH}</tresc></pismo>".encode(),
            "application/xml",
        ),
        (docx(["Wstęp", POLISH]), DOCX),
        (odt(["Wstęp", POLISH]), ODT),
    ],
)
def test_the_text_comes_out_with_every_polish_letter(tmp_path, content, mime):
    path = write(tmp_path, "plik", content)
    assert POLISH in extract_text(path, mime)


@pytest.mark.parametrize(
    ("content", "mime"),
    [
        # A billion-laughs entity bomb: defusedxml refuses the DTD, no text, no hang.
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            b"<lolz>&lol2;</lolz>",
            "application/xml",
        ),
        # An external entity (XXE) reading a local file.
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            "application/xml",
        ),
        (b"PK\x03\x04 not really a zip", DOCX),
        (_zip({"word/other.xml": b"<x/>"}), DOCX),  # no document part
        (b"<unclosed", "application/xml"),
    ],
)
def test_hostile_or_broken_files_give_no_text(tmp_path, content, mime):
    assert extract_text(write(tmp_path, "zly", content), mime) == ""


def test_an_office_file_whose_text_part_is_too_big_gives_no_text(tmp_path, monkeypatch):
    monkeypatch.setattr(text_module, "MAX_MEMBER", 1000)
    path = write(tmp_path, "bomba.docx", docx(["a" * 5000]))
    assert extract_text(path, DOCX) == ""


@pytest.mark.django_db
def test_a_text_file_taken_in_is_found_by_search(garrison, tmp_path, settings):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"
    path = write(tmp_path / "in", "pismo.docx", docx(["Szanowni Państwo,", POLISH]))
    item = intake_add_file(
        path=path,
        unit=garrison.kwp,
        channel=Channel.EMAIL,
        requested_by=garrison.people["clerk"],
        run_now=True,
    ).item
    assert item.state == IntakeState.DONE, item.error_message
    version = item.document.versions.get()
    assert POLISH in version.text
    found = search(garrison.people["clerk"], "kradzież rowerów", audit=False)
    assert ("version", version.pk) in {(h.object_type, h.object_id) for h in found.hits}
