"""Barcodes on scans, separator sheets and splitting, matching scans to register entries.

The scans are built the way a scanner makes them: an A4 letter page rendered at
300 dpi (and 200 dpi, and fax resolution, 1 bit) with Polish text, and a real
label from `registry/labels.py` (its PDF rendered with pypdfium2) pasted on it.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import img2pdf
import pikepdf
import pypdfium2 as pdfium
import pytest
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFont

from garnizon.audit.models import AuditEntry
from garnizon.common.errors import AccessDenied, DomainError
from garnizon.documents.models import Document
from garnizon.intake import barcodes
from garnizon.intake.barcodes import (
    PATCH_T,
    SEPARATOR_VALUE,
    labels_in,
    parse_label,
    read_codes,
    separator_pages,
    separator_sheet_pdf,
    split_ranges,
)
from garnizon.intake.models import IntakeItem, IntakeMode, IntakeState, IntakeStepResult
from garnizon.intake.pipeline import run_pipeline
from garnizon.intake.services import intake_add_file, intake_match, intake_register_new
from garnizon.registry.labels import label_pdf
from garnizon.registry.models import Channel, IncomingItem
from garnizon.registry.services import incoming_item_register
from tests.workers import run_db_worker_batch

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MM_PER_INCH = 25.4


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"


# --- realistic scans ---------------------------------------------------------------------------


def render_pdf_page(pdf: bytes, dpi: int, page: int = 0) -> Image.Image:
    document = pdfium.PdfDocument(pdf)
    try:
        return document[page].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    finally:
        document.close()


def letter_page(dpi: int, lines: list[str], *, label: bytes | None = None) -> Image.Image:
    """An A4 page at `dpi`: the label (a label PDF) stuck at the top, 12 pt text below."""
    width, height = round(210 / MM_PER_INCH * dpi), round(297 / MM_PER_INCH * dpi)
    page = Image.new("L", (width, height), 255)
    mm = dpi / MM_PER_INCH
    top = round(20 * mm)
    if label is not None:
        sticker = render_pdf_page(label, dpi)
        page.paste(sticker, (round(width - sticker.width - 15 * mm), round(10 * mm)))
        top = round(10 * mm) + sticker.height + round(10 * mm)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, round(12 / 72 * dpi))
    for number, line in enumerate(lines):
        draw.text((round(25 * mm), top + number * round(7 * mm)), line, font=font, fill=0)
    return page


def as_fax(page: Image.Image, dpi: int, *, vertical_dpi: int = 196) -> Image.Image:
    """A page rendered at `dpi` as a fax sees it: 204 dpi across, `vertical_dpi` down, 1 bit."""
    scale = 204 / dpi
    fax = page.resize((round(page.width * scale), round(page.height * scale * vertical_dpi / 204)))
    return fax.point(lambda v: 255 if v > 140 else 0).convert("1")


def save_image(image: Image.Image, path: Path, dpi: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kind = {".png": "PNG", ".jpg": "JPEG", ".tif": "TIFF"}[path.suffix]
    extra = {"compression": "group4"} if kind == "TIFF" and image.mode == "1" else {}
    image.save(path, kind, dpi=dpi, **extra)
    return path


def scan_pdf(pages: list[Image.Image], path: Path, dpi: int) -> Path:
    """Pages as a scanner's PDF (one image per page, lossless)."""
    blobs = []
    for image in pages:
        buffer = io.BytesIO()
        image.save(buffer, "PNG", dpi=(dpi, dpi))
        blobs.append(buffer.getvalue())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(img2pdf.convert(blobs))
    return path


def separator_page(dpi: int) -> Image.Image:
    return render_pdf_page(separator_sheet_pdf(), dpi)


LETTER = [
    "Komenda Wojewódzka Policji w Lublinie",
    "Szanowni Państwo, zwracam się z uprzejmą prośbą",
    "o udostępnienie informacji o zdarzeniu drogowym.",
    "Z poważaniem, Żaneta Gęślińska",
]


def register(g, *, unit=None, actor="clerk", **fields) -> IncomingItem:
    fields.setdefault("subject", "Pismo w sprawie zdarzenia")
    return incoming_item_register(
        actor=g.people[actor], unit=unit or g.kwp, channel=Channel.PAPER, **fields
    )


def take(g, path: Path, *, mode=IntakeMode.MATCH, unit=None, person="clerk", run_now=True):
    return intake_add_file(
        path=path,
        unit=unit or g.kwp,
        channel=Channel.PAPER,
        requested_by=g.people[person],
        mode=mode,
        run_now=run_now,
    ).item


def steps(item) -> list[tuple[str, str]]:
    return list(
        IntakeStepResult.objects.filter(item=item).order_by("id").values_list("step", "outcome")
    )


def page_count(document: Document) -> int:
    from garnizon.documents.blobstore import get_blob_store

    version = document.versions.get(number=1)
    with pikepdf.open(get_blob_store().path(version.blob_sha256)) as pdf:
        return len(pdf.pages)


# --- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "suffix"),
    [
        ("300 dpi grey", ".png"),
        ("300 dpi JPEG", ".jpg"),  # decoded at half size by libjpeg
        ("200 dpi JPEG", ".jpg"),
        ("fax 204x196", ".tif"),
    ],
)
def test_the_label_on_a_scanned_letter_is_read_at_every_resolution(
    garrison, tmp_path, variant, suffix
):
    entry = register(garrison)
    page = letter_page(300, LETTER, label=label_pdf(entry))
    if variant == "200 dpi JPEG":
        image, dpi = page.resize((page.width * 2 // 3, page.height * 2 // 3)), (200, 200)
    elif variant == "fax 204x196":
        image, dpi = as_fax(page, 300), (204, 196)
    else:
        image, dpi = page, (300, 300)
    path = save_image(image, tmp_path / f"scan{suffix}", dpi)
    mime = {".png": "image/png", ".jpg": "image/jpeg", ".tif": "image/tiff"}[suffix]
    pages, codes = read_codes(path, mime)
    assert pages == 1
    labels = labels_in(codes)
    assert [label.value for label in labels] == [entry.registration_number]
    assert (labels[0].unit_symbol, labels[0].number, labels[0].year) == (
        "KWP",
        entry.number,
        entry.year,
    )
    assert separator_pages(codes) == set()


def test_a_fax_at_standard_resolution_still_gives_the_separator_and_the_label(garrison, tmp_path):
    """204×98 dpi (half the lines) stretches nothing that zxing needs once pixels are squared."""
    entry = register(garrison)
    letter = as_fax(letter_page(300, LETTER, label=label_pdf(entry)), 300, vertical_dpi=98)
    separator = as_fax(separator_page(300), 300, vertical_dpi=98)
    path = tmp_path / "faks.tif"
    letter.save(
        path, "TIFF", dpi=(204, 98), compression="group4", save_all=True, append_images=[separator]
    )
    pages, codes = read_codes(path, "image/tiff")
    assert pages == 2
    assert separator_pages(codes) == {2}
    assert [label.value for label in labels_in(codes)] == [entry.registration_number]


def test_the_separator_sheet_is_two_a4_pages_that_read_as_separators(tmp_path):
    pdf = separator_sheet_pdf()
    path = tmp_path / "kartka.pdf"
    path.write_bytes(pdf)
    with pikepdf.open(path) as document:
        assert len(document.pages) == 2
        box = [float(v) for v in document.pages[0].mediabox]
        assert round(box[2] / 72 * MM_PER_INCH) == 210 and round(box[3] / 72 * MM_PER_INCH) == 297
    from garnizon.intake.ocr import pdf_text

    text = pdf_text(path)
    assert "KARTKA ROZDZIELAJĄCA" in text and "nie usuwać" in text
    pages, codes = read_codes(path, "application/pdf")
    assert pages == 2 and separator_pages(codes) == {1, 2}
    # Both symbols carry the value: the QR and the Code128 (read on its own).
    formats = {
        c.format for c in barcodes.read_image(render_pdf_page(pdf, 200).crop((0, 1000, 1654, 1400)))
    }
    assert formats == {"Code128"}


def test_values_are_parsed_strictly():
    label = parse_label("KMP-LU/RPW/17/2026")
    assert (label.unit_symbol, label.number, label.year) == ("KMP-LU", 17, 2026)
    for value in ["KWP/RPWych/1/2026", "KWP/RPW/0/2026", "KWP/RPW/1/26", "x KWP/RPW/1/2026", ""]:
        assert parse_label(value) is None
    assert barcodes.is_separator(SEPARATOR_VALUE) and barcodes.is_separator("patcht")
    assert barcodes.is_separator(PATCH_T) and not barcodes.is_separator("KWP/RPW/1/2026")
    # Separators at the start, twice in a row and at the end leave no empty parts.
    assert split_ranges(7, {1, 3, 4, 7}) == [[2], [5, 6]]
    assert split_ranges(3, {1, 2, 3}) == []
    assert split_ranges(2, set()) == [[1, 2]]


# --- the pipeline: matching by label -----------------------------------------------------------


@pytest.mark.parametrize("variant", ["300 dpi", "fax"])
def test_a_labelled_scan_in_match_mode_is_attached_to_its_entry(garrison, tmp_path, variant):
    other = register(garrison, subject="Inne pismo")
    entry = register(garrison, subject="Wniosek o informację", sender_name="Żaneta Gęślińska")
    page = letter_page(300, LETTER, label=label_pdf(entry))
    if variant == "fax":
        path = save_image(as_fax(page, 300), tmp_path / "faks.tif", (204, 196))
    else:
        path = save_image(page, tmp_path / "skan.png", (300, 300))
    item = take(garrison, path)
    assert item.state == IntakeState.DONE, item.error_message
    assert item.incoming_item_id == entry.pk
    assert item.document.incoming_item_id == entry.pk
    assert item.barcodes[0]["value"] == entry.registration_number
    assert IncomingItem.objects.count() == 2  # nothing new registered
    assert not Document.objects.filter(incoming_item=other).exists()
    assert steps(item)[-8:] == [
        ("barcodes", "ok"),
        ("split", "skipped"),
        ("ocr", "ok"),
        ("match", "ok"),
        ("register", "skipped"),
        ("attach", "ok"),
        ("thumbnail", "ok"),
        ("index", "ok"),
    ]
    version = item.document.versions.get()
    assert "Gęślińska" in version.text  # OCR text kept for search
    # ... and indexed by the pipeline: an inflected form finds the scanned letter.
    from garnizon.search.services import search

    found = search(garrison.people["clerk"], "zdarzenie drogowe", audit=False)
    assert ("version", version.pk) in {(h.object_type, h.object_id) for h in found.hits}


def test_a_labelled_scan_in_register_mode_goes_to_its_entry_not_a_new_one(garrison, tmp_path):
    """A letter registered by hand at the desk, labelled, then scanned into a hot folder
    in `register` mode: the label wins, no second entry."""
    entry = register(garrison, subject="Wniosek o informację", sender_name="Żaneta Gęślińska")
    page = letter_page(300, LETTER, label=label_pdf(entry))
    item = take(
        garrison, save_image(page, tmp_path / "skan.png", (300, 300)), mode=IntakeMode.REGISTER
    )
    assert item.state == IntakeState.DONE, item.error_message
    assert item.incoming_item_id == entry.pk
    assert IncomingItem.objects.count() == 1
    assert ("match", "ok") in steps(item) and ("register", "skipped") in steps(item)


def test_in_register_mode_an_unknown_label_still_registers_a_new_entry(garrison, tmp_path):
    entry = register(garrison, subject="Pismo", sender_name="Jan Kowalski")
    entry.registration_number = entry.registration_number.replace("/RPW/", "/RPW/9")
    page = letter_page(300, LETTER, label=label_pdf(entry))  # a number not in the register
    item = take(
        garrison, save_image(page, tmp_path / "skan.png", (300, 300)), mode=IntakeMode.REGISTER
    )
    assert item.state == IntakeState.DONE, item.error_message
    assert IncomingItem.objects.count() == 2 and item.incoming_item_id != entry.pk
    message = IntakeStepResult.objects.get(item=item, step="match").message
    assert "zostanie zarejestrowane jako nowe" in message


def test_a_label_pdf_sent_as_a_file_is_matched_without_ocr(garrison, tmp_path):
    """A born-digital PDF (vector barcodes, a text layer) is read the same way."""
    entry = register(garrison)
    path = tmp_path / "etykieta.pdf"
    path.write_bytes(label_pdf(entry, size="a4"))
    item = take(garrison, path)
    assert item.state == IntakeState.DONE, item.error_message
    assert item.incoming_item_id == entry.pk


# --- the pipeline: batch scans split at separator sheets ---------------------------------------


def _batch(garrison, tmp_path, dpi: int = 200) -> tuple[Path, list[IncomingItem]]:
    """Three labelled letters (the second has two pages) with two separator sheets between."""
    entries = [
        register(garrison, subject=f"Pismo numer {n}", sender_name=name)
        for n, name in [(1, "Jan Kowalski"), (2, "Anna Wiśniewska"), (3, "Łucja Żółkiewska")]
    ]
    letters = [letter_page(dpi, LETTER, label=label_pdf(e)) for e in entries]
    attachment = letter_page(dpi, ["Załącznik: szkic sytuacyjny miejsca zdarzenia."])
    pages = [letters[0], separator_page(dpi), letters[1], attachment]
    pages += [separator_page(dpi), letters[2]]
    return scan_pdf(pages, tmp_path / "in" / "poczta poranna.pdf", dpi), entries


def test_a_batch_with_separator_sheets_becomes_one_child_per_letter(garrison, tmp_path):
    path, entries = _batch(garrison, tmp_path)
    batch = take(garrison, path)
    assert batch.state == IntakeState.DONE, batch.error_message
    children = list(batch.children.order_by("pk"))
    assert len(children) == 3
    assert batch.error_message == (
        "Podzielono na 3 części (kartki rozdzielające na stronach: 2, 5): "
        + ", ".join(f"#{c.pk}" for c in children)
        + "."
    )
    assert batch.incoming_item is None and batch.document is None  # nothing for the batch
    assert separator_pages(batch.barcodes) == {2, 5}
    for child, entry, pages in zip(children, entries, [1, 2, 1], strict=True):
        assert child.state == IntakeState.DONE, child.error_message
        assert child.source_key == f"split:{batch.pk}:{children.index(child) + 1}"
        assert child.mode == IntakeMode.MATCH and child.unit == garrison.kwp
        assert child.requested_by == garrison.people["clerk"]
        assert child.incoming_item_id == entry.pk
        assert child.document.incoming_item_id == entry.pk
        assert page_count(child.document) == pages  # separator pages dropped
    assert children[0].original_filename == "poczta poranna część 1 z 3.pdf"
    assert IncomingItem.objects.count() == 3 and Document.objects.count() == 3
    assert steps(batch)[-2:] == [("barcodes", "ok"), ("split", "ok")]


def test_a_batch_in_register_mode_registers_each_letter(garrison, tmp_path):
    """Bulk import of text PDFs: each part becomes a new entry; no OCR needed."""
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for text in ["Pierwsze pismo", "Drugie pismo"]:
        pdf.drawString(100, 700, text)
        pdf.showPage()
    pdf.save()
    with (
        pikepdf.open(io.BytesIO(buffer.getvalue())) as letters,
        pikepdf.open(io.BytesIO(separator_sheet_pdf())) as sheet,
    ):
        batch = pikepdf.new()
        batch.pages.append(letters.pages[0])
        batch.pages.extend(sheet.pages)  # a sheet printed on both sides: two separator pages
        batch.pages.append(letters.pages[1])
        path = tmp_path / "import.pdf"
        batch.save(path)
    item = take(garrison, path, mode=IntakeMode.REGISTER)
    assert item.state == IntakeState.DONE, item.error_message
    children = list(item.children.order_by("pk"))
    assert [c.state for c in children] == [IntakeState.DONE] * 2
    assert [c.incoming_item.subject for c in children] == [
        "import część 1 z 2",
        "import część 2 z 2",
    ]
    assert [c.document.versions.get().text for c in children] == [
        "Pierwsze pismo",
        "Drugie pismo",
    ]


def test_a_scan_of_separator_sheets_only_fails_with_a_reason(garrison, tmp_path):
    path = tmp_path / "kartki.pdf"
    path.write_bytes(separator_sheet_pdf())
    item = take(garrison, path)
    assert item.state == IntakeState.FAILED
    assert "same kartki rozdzielające" in item.error_message
    assert not item.children.exists() and IncomingItem.objects.count() == 0


def test_a_crash_in_split_then_a_rerun_makes_no_duplicate_children(garrison, tmp_path, monkeypatch):
    from garnizon.intake import services

    path, entries = _batch(garrison, tmp_path)
    real_add = services.intake_add_file
    calls: list[int] = []

    def crash_on_third(**kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return real_add(**kwargs)

    monkeypatch.setattr(services, "intake_add_file", crash_on_third)
    batch = take(garrison, path, run_now=False)
    assert run_pipeline(batch.pk) == IntakeState.FAILED
    batch.refresh_from_db()
    assert "„split”" in batch.error_message
    assert batch.children.count() == 2
    monkeypatch.setattr(services, "intake_add_file", real_add)
    services.intake_retry(item_id=batch.pk, run_now=True)
    batch.refresh_from_db()
    assert batch.state == IntakeState.DONE, batch.error_message
    # A worker that died after the split but before writing the batch's state: run again.
    IntakeItem.objects.filter(pk=batch.pk).update(state=IntakeState.RECEIVED)
    assert run_pipeline(batch.pk) == IntakeState.DONE
    children = list(batch.children.order_by("pk"))
    assert len(children) == 3 and IntakeItem.objects.count() == 4
    assert [c.state for c in children] == [IntakeState.DONE] * 3
    assert [c.incoming_item_id for c in children] == [e.pk for e in entries]
    assert Document.objects.count() == 3 and IncomingItem.objects.count() == 3


# --- the pipeline: scans that wait for the clerk -----------------------------------------------


def _complaint_entries(garrison) -> dict[str, IncomingItem]:
    letter_date = timezone.localdate() - datetime.timedelta(days=3)
    entries = {
        "target": register(
            garrison,
            subject="Skarga na zachowanie funkcjonariusza",
            sender_name="Jan Kowalski",
            letter_reference="SK.0123.45.2026",
            letter_date=letter_date,
        ),
        "same subject": register(
            garrison, subject="Skarga na zachowanie funkcjonariusza", sender_name="Maria Nowak"
        ),
        "similar sender": register(
            garrison, subject="Wniosek o udostępnienie nagrania", sender_name="Jan Kowalczyk"
        ),
        "unrelated": register(garrison, subject="Faktura za paliwo", sender_name="Orlen S.A."),
        "restricted": register(
            garrison,
            subject="Skarga na zachowanie funkcjonariusza",
            sender_name="Jan Kowalski",
            letter_reference="SK.0123.45.2026",
            is_restricted=True,
            assigned_cell=garrison.cells["kwp_i_1"],
            assigned_person=garrison.people["handler"],
        ),
    }
    old = register(
        garrison,
        subject="Skarga na zachowanie funkcjonariusza",
        sender_name="Jan Kowalski",
        letter_reference="SK.0123.45.2026",
    )
    # Received long ago: outside the period that is searched.
    IncomingItem.objects.filter(pk=old.pk).update(
        received_at=timezone.now() - datetime.timedelta(days=45)
    )
    entries["old"] = old
    return entries


def _complaint_scan(tmp_path, entries, *, label: bytes | None = None) -> Path:
    date = entries["target"].letter_date.strftime("%d.%m.%Y")
    lines = [
        f"Lublin, dnia {date} r.",
        "Znak: SK.0123.45.2026",
        "Jan Kowalski",
        "ul. Lipowa 5, 20-001 Lublin",
        "Komendant Wojewódzki Policji w Lublinie",
        "Skarga na zachowanie funkcjonariusza",
        "podczas interwencji przy ulicy Żmigród.",
    ]
    return save_image(letter_page(300, lines, label=label), tmp_path / "skarga.png", (300, 300))


def test_an_unlabelled_scan_waits_with_the_right_entry_ranked_first(garrison, tmp_path):
    entries = _complaint_entries(garrison)
    item = take(garrison, _complaint_scan(tmp_path, entries))
    assert item.state == IntakeState.AWAITING_MATCH, item.error_message
    assert "nie odczytano etykiety" in item.error_message
    assert item.incoming_item is None and item.document is None
    suggested = [s["incoming_item"] for s in item.suggestions]
    assert suggested[0] == entries["target"].pk
    assert 1 < len(suggested) <= 5
    assert entries["old"].pk not in suggested and entries["restricted"].pk not in suggested
    scores = [s["score"] for s in item.suggestions]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    best = item.suggestions[0]["reason"]
    assert "znak pisma SK.0123.45.2026" in best and "nadawca: Jan Kowalski" in best
    assert "data pisma" in best
    # The same subject ranks above a similar sender's name only.
    assert suggested.index(entries["same subject"].pk) < suggested.index(
        entries["similar sender"].pk
    )
    assert IncomingItem.objects.count() == 6 and Document.objects.count() == 0
    assert steps(item)[-1] == ("match", "ok")


def test_a_label_of_another_unit_waits_with_a_message(garrison, tmp_path):
    kmp_entry = register(garrison, unit=garrison.kmp, actor="kmp_clerk", subject="Pismo KMP")
    path = save_image(
        letter_page(200, LETTER, label=label_pdf(kmp_entry)), tmp_path / "s.png", (200, 200)
    )
    item = take(garrison, path)
    assert item.state == IntakeState.AWAITING_MATCH
    assert (
        f"Etykieta {kmp_entry.registration_number} należy do innej jednostki (KMP-LU), "
        "a skan przyjęto w jednostce KWP"
    ) in item.error_message
    assert item.incoming_item is None
    assert kmp_entry.pk not in [s["incoming_item"] for s in item.suggestions]
    assert not Document.objects.exists()


def test_a_label_with_an_unknown_number_waits_with_a_message(garrison, tmp_path):
    year = timezone.localdate().year
    ghost = IncomingItem(
        unit=garrison.kwp,
        registration_number=f"KWP/RPW/999/{year}",
        received_at=timezone.now(),
        subject="Nie ma takiego pisma",
    )
    path = save_image(
        letter_page(200, LETTER, label=label_pdf(ghost)), tmp_path / "s.png", (200, 200)
    )
    item = take(garrison, path)
    assert item.state == IntakeState.AWAITING_MATCH
    assert (
        f"Etykieta KWP/RPW/999/{year} nie odpowiada żadnej przesyłce w rejestrze jednostki KWP"
        in item.error_message
    )


# --- the clerk's decisions (services) and the queue (selectors) --------------------------------


@pytest.fixture
def waiting(garrison, tmp_path) -> IntakeItem:
    path = save_image(letter_page(200, LETTER), tmp_path / "bez etykiety.png", (200, 200))
    item = take(garrison, path)
    assert item.state == IntakeState.AWAITING_MATCH, item.error_message
    return item


def _audit(item: IntakeItem) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_type="intake.intakeitem", object_id=str(item.pk)))


def test_the_clerk_matches_a_waiting_scan_to_an_entry(garrison, waiting):
    entry = register(garrison, subject="Wniosek o informację")
    item = intake_match(
        item_id=waiting.pk, incoming_item_id=entry.pk, actor=garrison.people["clerk"]
    )
    assert item.state == IntakeState.RECEIVED and item.incoming_item_id == entry.pk  # queued
    assert run_pipeline(item.pk) == IntakeState.DONE
    item.refresh_from_db()
    assert item.document.incoming_item_id == entry.pk
    assert IncomingItem.objects.count() == 1  # nothing new registered
    results = list(item.step_results.order_by("id").values_list("step", "outcome", "message"))
    assert (
        "match",
        "ok",
        f"Clerk Kwp przypisał(a) skan do przesyłki {entry.registration_number}.",
    ) in results
    # Steps done before the match are not done again; register is skipped (the entry exists).
    assert [r[:2] for r in results][-8:] == [
        ("barcodes", "skipped"),
        ("split", "skipped"),
        ("ocr", "ok"),
        ("match", "skipped"),
        ("register", "skipped"),
        ("attach", "ok"),
        ("thumbnail", "ok"),
        ("index", "ok"),
    ]
    (audit,) = _audit(item)
    assert audit.actor == garrison.people["clerk"] and audit.action == "update"
    assert audit.details["operation"] == "intake_match"
    assert audit.details["registration_number"] == entry.registration_number
    assert audit.unit_id == garrison.kwp.pk


def test_matching_runs_now_when_asked_and_refuses_a_second_time(garrison, waiting):
    entry = register(garrison)
    item = intake_match(
        item_id=waiting.pk,
        incoming_item_id=entry.pk,
        actor=garrison.people["commander"],
        run_now=True,
    )
    assert item.state == IntakeState.DONE and item.document.incoming_item_id == entry.pk
    with pytest.raises(DomainError, match="czeka na przypisanie") as error:
        intake_match(item_id=item.pk, incoming_item_id=entry.pk, actor=garrison.people["clerk"])
    assert error.value.code == "wrong_state"
    with pytest.raises(DomainError, match="czeka na przypisanie"):
        intake_register_new(item_id=item.pk, actor=garrison.people["clerk"])


def test_only_someone_who_registers_in_the_unit_may_match(garrison, waiting):
    entry = register(garrison)
    for person in ["kmp_clerk", "handler", "auditor"]:
        with pytest.raises(AccessDenied):
            intake_match(
                item_id=waiting.pk, incoming_item_id=entry.pk, actor=garrison.people[person]
            )
        with pytest.raises(AccessDenied):
            intake_register_new(item_id=waiting.pk, actor=garrison.people[person])
    kmp_entry = register(garrison, unit=garrison.kmp, actor="kmp_clerk")
    with pytest.raises(DomainError, match="nie ma takiej przesyłki"):
        intake_match(
            item_id=waiting.pk, incoming_item_id=kmp_entry.pk, actor=garrison.people["clerk"]
        )
    restricted = register(
        garrison,
        actor="head",
        is_restricted=True,
        assigned_cell=garrison.cells["kwp_i_1"],
        assigned_person=garrison.people["handler"],
    )
    with pytest.raises(DomainError, match="nie ma takiej przesyłki"):
        intake_match(
            item_id=waiting.pk, incoming_item_id=restricted.pk, actor=garrison.people["clerk"]
        )
    # A cell head registers in the unit but sees only his cells' entries.
    with pytest.raises(DomainError, match="nie ma takiej przesyłki"):
        intake_match(item_id=waiting.pk, incoming_item_id=entry.pk, actor=garrison.people["head"])
    with pytest.raises(DomainError, match="Nie ma pliku w przyjęciu"):
        intake_match(item_id=999_999, incoming_item_id=entry.pk, actor=garrison.people["clerk"])
    waiting.refresh_from_db()
    assert waiting.state == IntakeState.AWAITING_MATCH and waiting.incoming_item is None
    assert _audit(waiting) == []


def test_the_clerk_registers_a_waiting_scan_as_a_new_letter(garrison, waiting):
    item = intake_register_new(item_id=waiting.pk, actor=garrison.people["clerk"], run_now=True)
    assert item.state == IntakeState.DONE, item.error_message
    assert item.mode == IntakeMode.REGISTER
    assert item.incoming_item.subject == "bez etykiety"
    assert item.incoming_item.registered_by == garrison.people["clerk"]
    assert item.document.incoming_item_id == item.incoming_item_id
    (audit,) = _audit(item)
    assert audit.details["operation"] == "intake_register_new"


def test_the_queue_and_the_list_show_only_the_units_one_registers_in(garrison, tmp_path):
    from garnizon.intake.selectors import intake_items_page, matching_queue
    from garnizon.org.access import Scope

    entries = _complaint_entries(garrison)
    item = take(garrison, _complaint_scan(tmp_path, entries))
    kmp_item = take(
        garrison,
        save_image(letter_page(100, LETTER), tmp_path / "kmp.png", (100, 100)),
        unit=garrison.kmp,
        person="kmp_clerk",
    )
    assert kmp_item.state == IntakeState.AWAITING_MATCH
    clerk = Scope.for_person(garrison.people["clerk"])
    (queued,) = matching_queue(clerk)
    assert queued.pk == item.pk
    first = queued.resolved_suggestions[0]
    assert first.entry == entries["target"] and first.score == item.suggestions[0]["score"]
    assert "znak pisma" in first.reason
    assert matching_queue(clerk, unit_id=garrison.kmp.pk) == []
    assert [i.pk for i in matching_queue(Scope.for_person(garrison.people["kmp_clerk"]))] == [
        kmp_item.pk
    ]
    assert matching_queue(Scope.for_person(garrison.people["handler"])) == []
    page = intake_items_page(clerk, state=IntakeState.AWAITING_MATCH)
    assert [i.pk for i in page.rows] == [item.pk] and page.next_cursor is None
    assert intake_items_page(clerk, state=IntakeState.DONE).rows == []
    assert intake_items_page(Scope.for_person(garrison.people["auditor"])).rows == []
    # Keyset paging, newest first.
    everything = intake_items_page(Scope.for_person(garrison.people["kmp_clerk"]), limit=1)
    assert [i.pk for i in everything.rows] == [kmp_item.pk] and everything.next_cursor is None


# --- a real worker -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_queued_batch_and_its_parts_are_processed_by_a_real_db_worker(
    garrison, tmp_path, settings
):
    """The parts are queued by the split itself; the worker takes them in the same run."""

    entries = [register(garrison, subject=f"Pismo {n}") for n in (1, 2)]
    batch = pikepdf.new()
    sources = [pikepdf.open(io.BytesIO(label_pdf(e, size="a4"))) for e in entries]
    sheet = pikepdf.open(io.BytesIO(separator_sheet_pdf()))
    batch.pages.append(sources[0].pages[0])
    batch.pages.extend(sheet.pages)
    batch.pages.append(sources[1].pages[0])
    path = tmp_path / "partia.pdf"
    batch.save(path)
    item = take(garrison, path, run_now=False)
    assert item.state == IntakeState.RECEIVED
    result = run_db_worker_batch(
        timeout=180,
        GARNIZON_BLOB_DIR=str(settings.GARNIZON_BLOB_DIR),
        GARNIZON_QUARANTINE_DIR=str(settings.GARNIZON_QUARANTINE_DIR),
    )
    assert result.returncode == 0, result.stderr
    item.refresh_from_db()
    assert item.state == IntakeState.DONE, (item.error_message, result.stderr[-2000:])
    children = list(item.children.order_by("pk"))
    assert [c.state for c in children] == [IntakeState.DONE] * 2, result.stderr[-2000:]
    assert [c.incoming_item_id for c in children] == [e.pk for e in entries]
    assert Document.objects.count() == 2 and IncomingItem.objects.count() == 2


def test_a_symbol_seen_but_not_decoded_at_half_resolution_is_read_at_full(tmp_path, monkeypatch):
    """A 300 dpi frame is read at half resolution first; when zxing sees a symbol there it
    cannot decode, the whole frame is read again (thin third-party codes)."""
    page = Image.new("L", (2480, 3508), 255)
    path = tmp_path / "strona.png"
    page.save(path, dpi=(300, 300))
    calls: list[tuple[tuple[int, int], bool]] = []
    undecoded = type("Symbol", (), {"valid": False, "text": "", "format": None})()
    code128 = type("Format", (), {"name": "Code128"})()
    decoded = type("Symbol", (), {"valid": True, "text": "KWP/RPW/7/2026", "format": code128})()

    def fake_read(grey, *, half=False):
        calls.append((grey.size, half))
        return [undecoded] if half else [decoded]

    monkeypatch.setattr(barcodes, "_read", fake_read)
    count, codes = barcodes.read_codes(path, "image/png")
    assert count == 1
    assert calls == [((1240, 1754), True), ((2480, 3508), False)]
    assert [c.value for c in codes] == ["KWP/RPW/7/2026"]
    # Everything decoded at half resolution: the full frame is not read at all.
    calls.clear()
    monkeypatch.setattr(barcodes, "_read", lambda grey, *, half=False: calls.append(half) or [])
    barcodes.read_codes(path, "image/png")
    assert calls == [True]
