"""Antivirus in the intake pipeline through a real clamd (tests/clamd.py) and the reply parser."""

from __future__ import annotations

import io
import socket
import zipfile
from pathlib import Path

import pikepdf
import pytest

from garnizon.intake import antivirus
from garnizon.intake.antivirus import (
    ClamdAddress,
    ClamdClient,
    ClamdConfigError,
    ClamdError,
    parse_address,
    parse_reply,
)
from garnizon.intake.models import IntakeState
from garnizon.intake.services import intake_add_file, intake_retry
from garnizon.registry.models import IncomingItem
from tests import clamd as clamd_fixtures
from tests.clamd import EICAR, SIGNATURE, STREAM_MAX
from tests.test_intake import add, pdf_bytes, steps, write

clamd = clamd_fixtures.clamd
clamd_own = clamd_fixtures.clamd_own


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"
    settings.GARNIZON_CLAMD = ""


@pytest.fixture
def scanning(settings, clamd):
    settings.GARNIZON_CLAMD = clamd.unix
    return clamd


def eicar_zip(name: str = "eicar.com", docx: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if docx:
            archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
            archive.writestr("word/document.xml", '<?xml version="1.0"?><document/>')
            name = "word/media/" + name
        archive.writestr(name, EICAR)
    return buffer.getvalue()


def eicar_pdf() -> bytes:
    """A valid one-page PDF whose page content stream (Flate-compressed) is EICAR."""
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].Contents = pdf.make_stream(EICAR)
    buffer = io.BytesIO()
    pdf.save(buffer, compress_streams=True)
    data = buffer.getvalue()
    assert EICAR not in data  # only clamd's PDF parser can see it
    return data


# --- the reply and address parsers --------------------------------------------------------------


def test_parse_reply_ok():
    result = parse_reply(b"stream: OK\x00")
    assert result.clean and result.signature is None


def test_parse_reply_found():
    result = parse_reply(b"stream: Win.Test.EICAR_HDB-1 FOUND\x00")
    assert not result.clean and result.signature == "Win.Test.EICAR_HDB-1"


def test_parse_reply_found_in_a_session_with_an_odd_name():
    assert parse_reply("1: stream: Heuristics.Encrypted.PDF FOUND").signature == (
        "Heuristics.Encrypted.PDF"
    )


def test_parse_reply_size_limit():
    with pytest.raises(ClamdError) as caught:
        parse_reply(b"INSTREAM size limit exceeded. ERROR\x00")
    assert caught.value.kind == "size_limit"


@pytest.mark.parametrize(
    "reply",
    [b"stream: Can't allocate memory ERROR\x00", b"UNKNOWN COMMAND\x00", b"", b"stream: FOUND"],
)
def test_parse_reply_errors_and_nonsense(reply):
    with pytest.raises(ClamdError) as caught:
        parse_reply(reply)
    assert caught.value.kind == "error"


def test_parse_address():
    assert parse_address("") is None
    assert parse_address("unix:/run/clamav/clamd.ctl") == ClamdAddress(
        "unix", path="/run/clamav/clamd.ctl"
    )
    assert parse_address("/run/clamd.ctl") == ClamdAddress("unix", path="/run/clamd.ctl")
    assert parse_address("tcp:127.0.0.1:3310") == ClamdAddress("tcp", host="127.0.0.1", port=3310)
    assert parse_address("tcp:[::1]:3310") == ClamdAddress("tcp", host="::1", port=3310)
    for bad in ("tcp:host", "tcp:host:99999", "http://x", "unix:"):
        with pytest.raises(ClamdConfigError):
            parse_address(bad)


# --- the client against the real clamd ----------------------------------------------------------


@pytest.mark.parametrize("family", ["unix", "tcp"])
def test_ping_version_and_scan_over_unix_socket_and_tcp(clamd, family):
    client = ClamdClient(parse_address(clamd.unix if family == "unix" else clamd.tcp))
    assert client.ping() is True
    assert client.version().startswith("ClamAV ")
    assert client.instream(io.BytesIO(b"zwykle pismo")).clean
    assert client.instream(io.BytesIO(EICAR)).signature == SIGNATURE


def test_eicar_inside_a_zip_is_found(clamd):
    assert clamd.client().instream(io.BytesIO(eicar_zip())).signature == SIGNATURE


def test_a_stream_over_clamds_limit_is_a_size_error(clamd):
    with pytest.raises(ClamdError) as caught:
        clamd.client().instream(io.BytesIO(b"x" * (STREAM_MAX * 3)))
    assert caught.value.kind == "size_limit"


def test_a_silent_server_times_out(tmp_path):
    # Listening but never answering: the connection is accepted by the kernel's backlog.
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "silent.ctl"))
        server.listen(1)
        client = ClamdClient(ClamdAddress("unix", path=str(tmp_path / "silent.ctl")), timeout=0.3)
        with pytest.raises(ClamdError) as caught:
            client.ping()
    assert caught.value.kind == "timeout"


@pytest.mark.parametrize(
    "address", ["unix:{tmp}/none.ctl", "tcp:127.0.0.1:{port}", "tcp:clamd.invalid:3310"]
)
def test_nobody_listening_is_unreachable(tmp_path, address):
    from tests.clamd import free_port

    address = address.format(tmp=tmp_path, port=free_port())
    with pytest.raises(ClamdError) as caught:
        ClamdClient(parse_address(address)).instream(io.BytesIO(b"x"))
    assert caught.value.kind == "unreachable"


# --- the step in the pipeline -------------------------------------------------------------------


def _assert_quarantined(item, content: bytes) -> None:
    assert item.state == IntakeState.QUARANTINED
    assert SIGNATURE in item.error_message
    assert "złośliwe oprogramowanie" in item.error_message
    assert "powiadom administratora" in item.error_message
    assert ("antivirus", "failed") in steps(item)
    assert item.incoming_item_id is None and item.document_id is None
    assert not IncomingItem.objects.exists()
    copy = Path(item.quarantine_path)
    assert copy.is_file() and copy.read_bytes() == content


def test_eicar_is_quarantined_with_the_signature_name(garrison, tmp_path, scanning):
    item = add(garrison, write(tmp_path / "in", "pismo.txt", EICAR))
    _assert_quarantined(item, EICAR)


def test_eicar_inside_a_docx_is_quarantined(garrison, tmp_path, scanning):
    content = eicar_zip(docx=True)
    item = add(garrison, write(tmp_path / "in", "wniosek.docx", content))
    assert item.mime_type.endswith("wordprocessingml.document")  # preflight let it through
    _assert_quarantined(item, content)


def test_eicar_inside_a_pdf_is_quarantined(garrison, tmp_path, scanning):
    content = eicar_pdf()
    item = add(garrison, write(tmp_path / "in", "skan.pdf", content))
    assert item.mime_type == "application/pdf"
    _assert_quarantined(item, content)


def test_an_infected_attachment_of_a_message_is_scanned_too(garrison, tmp_path, scanning):
    parent = add(garrison, write(tmp_path / "in", "list.pdf", pdf_bytes()))
    assert parent.state == IntakeState.DONE
    child = intake_add_file(
        path=write(tmp_path / "in", "zalacznik.txt", EICAR),
        unit=garrison.kwp,
        channel="email",
        requested_by=garrison.people["clerk"],
        parent=parent,
        run_now=True,
    ).item
    assert child.parent_id == parent.pk
    assert child.state == IntakeState.QUARANTINED and SIGNATURE in child.error_message


def test_a_clean_pdf_goes_through_with_the_engine_version(garrison, tmp_path, scanning):
    item = add(garrison, write(tmp_path / "in", "pismo.pdf", pdf_bytes()))
    assert item.state == IntakeState.DONE
    result = item.step_results.get(step="antivirus")
    assert result.outcome == "ok"
    assert "nie wykrył zagrożeń" in result.message and "ClamAV" in result.message
    assert steps(item)[:2] == [("preflight", "ok"), ("antivirus", "ok")]


def test_clamd_down_fails_the_item_and_a_retry_scans_it(garrison, tmp_path, settings, clamd_own):
    settings.GARNIZON_CLAMD = clamd_own.unix
    clamd_own.stop()
    item = add(garrison, write(tmp_path / "in", "pismo.pdf", pdf_bytes()))
    assert item.state == IntakeState.FAILED
    assert "Pliku nie sprawdzono programem antywirusowym" in item.error_message
    assert "niedostępny" in item.error_message
    assert f"garnizon intake retry {item.pk}" in item.error_message
    assert steps(item) == [("preflight", "ok"), ("antivirus", "failed")]
    assert not IncomingItem.objects.exists()  # never passed through unscanned

    clamd_own.start()
    item = intake_retry(item_id=item.pk, run_now=True)
    assert item.state == IntakeState.DONE
    assert item.incoming_item_id is not None and item.document_id is not None
    latest = item.step_results.filter(attempt=item.attempts).values_list("step", "outcome")
    assert list(latest)[:2] == [("preflight", "ok"), ("antivirus", "ok")]


def test_a_file_over_clamds_limit_fails_not_scanned(garrison, tmp_path, scanning):
    item = add(garrison, write(tmp_path / "in", "duzy.txt", b"a\n" * STREAM_MAX))
    assert item.state == IntakeState.FAILED
    assert "Pliku nie sprawdzono" in item.error_message
    assert "StreamMaxLength" in item.error_message
    assert not IncomingItem.objects.exists()


def test_a_silent_clamd_fails_the_item_as_timed_out(garrison, tmp_path, settings, monkeypatch):
    sock_path = tmp_path / "silent.ctl"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock_path))
        server.listen(1)
        settings.GARNIZON_CLAMD = f"unix:{sock_path}"
        monkeypatch.setattr(antivirus, "SCAN_TIMEOUT", 0.3)
        item = add(garrison, write(tmp_path / "in", "pismo.pdf", pdf_bytes()))
    assert item.state == IntakeState.FAILED
    assert "nie odpowiedział w ciągu 0.3 s" in item.error_message


def test_scanning_off_is_recorded_as_skipped_with_a_note(garrison, tmp_path):
    item = add(garrison, write(tmp_path / "in", "pismo.pdf", pdf_bytes()))
    assert item.state == IntakeState.DONE
    result = item.step_results.get(step="antivirus")
    assert result.outcome == "skipped"
    assert "Skanowanie antywirusowe jest wyłączone" in result.message


def test_a_wrong_address_fails_the_item(garrison, tmp_path, settings):
    settings.GARNIZON_CLAMD = "clamd.example:3310"
    item = add(garrison, write(tmp_path / "in", "pismo.pdf", pdf_bytes()))
    assert item.state == IntakeState.FAILED
    assert "błędny adres skanera" in item.error_message
