"""`garnizon intake add --mode match` on a morning-post batch, and `intake separator`."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from garnizon.intake.barcodes import read_codes, separator_pages
from garnizon.intake.models import IntakeItem, IntakeState
from tests.test_intake_barcodes import _batch, letter_page, scan_pdf

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("intake", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_batch_and_an_unlabelled_scan_are_summed_up_by_what_became_of_them(garrison, tmp_path):
    batch, entries = _batch(garrison, tmp_path)
    registered = {e.pk for e in entries}
    lone = scan_pdf(
        [letter_page(200, ["Pismo bez etykiety, które ktoś musi przypisać."])],
        tmp_path / "in" / "bez etykiety.pdf",
        200,
    )
    out = run(
        "add",
        str(batch),
        str(lone),
        "--unit",
        "KWP",
        "--as",
        "clerk_kwp",
        "--mode",
        "match",
        "--sync",
    )
    lines = out.splitlines()
    # The three letters of the batch are attached to their entries; nothing new registered.
    assert "Zarejestrowano: 3" in lines
    assert "Podzielono na części (kartki rozdzielające): 1" in lines
    assert "Czeka na przypisanie przez kancelarię: 1" in lines
    waiting = IntakeItem.objects.get(state=IntakeState.AWAITING_MATCH)
    assert any(line.startswith(f"  bez etykiety.pdf: #{waiting.pk}:") for line in lines)
    assert "Niepowodzenia: 0" in lines
    assert waiting.original_filename == "bez etykiety.pdf"
    attached = set(
        IntakeItem.objects.filter(parent__isnull=False).values_list("incoming_item", flat=True)
    )
    assert attached == registered


def test_a_failed_file_is_reported_and_the_exit_status_says_so(garrison, tmp_path):
    empty = tmp_path / "in" / "pusty.pdf"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_bytes(b"")
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(
            "intake",
            "add",
            str(empty),
            "--unit",
            "KWP",
            "--as",
            "clerk_kwp",
            "--sync",
            stdout=out,
            stderr=io.StringIO(),
        )
    assert raised.value.returncode == 1
    assert "Nie wszystkie pliki" in str(raised.value)
    lines = out.getvalue().splitlines()
    assert "Zarejestrowano: 0" in lines and "Niepowodzenia: 1" in lines
    item = IntakeItem.objects.get()
    assert f"  pusty.pdf: #{item.pk} {item.get_state_display()}: {item.error_message}" in lines


def test_the_separator_sheet_is_written_and_reads_as_a_separator(tmp_path):
    out_path = tmp_path / "kartka.pdf"
    out = run("separator", "--out", str(out_path))
    assert str(out_path) in out
    count, codes = read_codes(out_path, "application/pdf")
    assert count == 2 and separator_pages(codes) == {1, 2}
