"""OCR in Polish (Tesseract `pol`, OCRmyPDF for PDFs): accuracy on generated scans (a strip and
full A4 letters, in three variants), multi-frame and fax images, and the intake step."""

from __future__ import annotations

import io
import shutil
import time
from collections import Counter
from pathlib import Path

import pikepdf
import pytest
from bench.bench_ocr import MIME, VARIANTS, make_pages
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from garnizon.intake.models import IntakeState, IntakeStepResult
from garnizon.intake.ocr import OcrError, ocr_file, pdf_text
from garnizon.intake.services import intake_add_file

pytestmark = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="Tesseract (tesseract-ocr-pol) is not installed"
)

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = [
    "Zażółć gęślą jaźń. Komenda Powiatowa Policji w Łęcznej przyjęła",
    "zgłoszenie kradzieży samochodu marki Skoda przy ulicy Źródlanej 5.",
    "OŚWIADCZENIE: ŻÓŁTY SAMOCHÓD ODJECHAŁ W STRONĘ KOŃCA UL. ŹRÓDLANEJ,",
    "IDĄC ZA NIM, ŚWIADEK NIE MIAŁ MOŻLIWOŚĆ DOGONIENIA GO. Ćwik, Łucja.",
]
SOURCE = "\n".join(LINES)
DIACRITICS = set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")


@pytest.fixture(autouse=True)
def _dirs(settings, tmp_path):
    settings.GARNIZON_BLOB_DIR = tmp_path / "blobs"
    settings.GARNIZON_INTAKE_DIR = tmp_path / "intake"
    settings.GARNIZON_QUARANTINE_DIR = tmp_path / "quarantine"


def page(dpi=(300, 300)) -> Image.Image:
    """A short A4-wide strip of text, ~12 pt, at the given resolution (grey, 8-bit)."""
    xdpi, ydpi = dpi
    font = ImageFont.truetype(FONT, round(12 / 72 * ydpi))
    image = Image.new("L", (round(8.27 * xdpi), round(2.6 * ydpi)), 255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(LINES):
        draw.text((round(0.5 * xdpi), round((0.3 + index * 0.5) * ydpi)), line, font=font, fill=0)
    if xdpi != ydpi:  # drawn with square pixels, then squeezed like a fax line
        image = image.resize((round(image.width * xdpi / ydpi), image.height), Image.LANCZOS)
    return image


def clean_scan() -> Image.Image:
    return page()


def skewed_noisy_scan() -> Image.Image:
    import random

    rng = random.Random(7)
    image = page().rotate(2, resample=Image.BICUBIC, expand=True, fillcolor=255)
    pixels = image.load()
    for _ in range(image.width * image.height // 200):  # 0.5 % salt and pepper
        x, y = rng.randrange(image.width), rng.randrange(image.height)
        pixels[x, y] = 0 if rng.random() < 0.5 else 255
    return image.filter(ImageFilter.GaussianBlur(0.6))


def fax() -> Image.Image:
    return page(dpi=(204, 196)).convert("1")


def save(image: Image.Image, path: Path, fmt="PNG", dpi=(300, 300)) -> Path:
    image.save(path, fmt, dpi=dpi)
    return path


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def cer(expected: str, got: str) -> float:
    """Character error rate, whitespace runs counted as one space."""
    expected, got = " ".join(expected.split()), " ".join(got.split())
    return levenshtein(expected, got) / len(expected)


def test_levenshtein():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3 and levenshtein("żółw", "żółw") == 0
    assert cer("ab  c", "ab c") == 0


@pytest.mark.parametrize(
    ("variant", "make", "fmt", "dpi"),
    [
        ("clean", clean_scan, "PNG", (300, 300)),
        ("skewed+noisy", skewed_noisy_scan, "JPEG", (300, 300)),
        ("fax", fax, "TIFF", (204, 196)),
    ],
)
def test_polish_scans_are_read_with_every_diacritic(tmp_path, variant, make, fmt, dpi):
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "TIFF": "image/tiff"}[fmt]
    source = save(make(), tmp_path / f"scan.{fmt.lower()}", fmt, dpi)
    started = time.monotonic()
    result = ocr_file(source, mime, tmp_path / "work")
    seconds = time.monotonic() - started
    rate = cer(SOURCE, result.text)
    print(f"\nOCR {variant}: CER {rate:.4%}, {seconds:.2f} s/page")
    assert result.pages == 1 and result.ocr_pages == 1
    assert rate < 0.01, result.text
    assert set(result.text) >= DIACRITICS, DIACRITICS - set(result.text)
    with pikepdf.open(result.pdf) as pdf:
        assert len(pdf.pages) == 1
    assert "gęślą jaźń" in " ".join(pdf_text(result.pdf).split())  # the PDF has the text layer


def lost_diacritics(expected: str, got: str) -> dict[str, int]:
    """Diacritics (case ignored) the output has fewer of than the source: a letter read
    without its mark (`ł` → `l`) is lost; `Ź` read as `ź` is a case error, not a loss."""
    want = Counter(c for c in expected.lower() if c in DIACRITICS)
    have = Counter(got.lower())
    return {c: want[c] - have[c] for c in want if want[c] > have[c]}


def test_lost_diacritics_counts_a_missing_mark_but_not_a_case_error():
    assert lost_diacritics("Źródło, łąka", "źródło, łąka") == {}
    assert lost_diacritics("Źródło, łąka", "Zrodło, laka") == {"ź": 1, "ó": 1, "ł": 1, "ą": 1}


@pytest.mark.parametrize("variant", VARIANTS)
def test_full_a4_letters_are_read_under_one_percent_with_no_diacritic_lost(tmp_path, variant):
    """A whole generated A4 letter (bench/bench_ocr.py: letterhead, address block, 25 lines
    of 11 pt text, ~2,300 characters) per variant, read by the intake's OCR."""
    pages = make_pages(tmp_path, 1, variants=(variant,))
    path, source = pages[variant][0]
    started = time.monotonic()
    result = ocr_file(path, MIME[path.suffix], tmp_path / "work")
    seconds = time.monotonic() - started
    rate = cer(source, result.text)
    lost = lost_diacritics(source, result.text)
    print(f"\nOCR full A4 {variant}: CER {rate:.3%}, lost {lost}, {seconds:.2f} s")
    assert result.pages == 1 and result.ocr_pages == 1
    assert rate < 0.01, result.text
    assert lost == {}, result.text
    assert sum(c in DIACRITICS for c in source.lower()) > 100  # the page is full of them


def test_a_multi_frame_tiff_becomes_one_pdf_with_the_text_of_every_page(tmp_path):
    first, second = clean_scan(), fax().convert("L").resize(clean_scan().size)
    path = tmp_path / "wsad.tif"
    first.save(path, "TIFF", dpi=(300, 300), save_all=True, append_images=[second])
    result = ocr_file(path, "image/tiff", tmp_path / "work")
    assert result.pages == result.ocr_pages == 2
    assert result.text.count("\f") == 1 and result.text.count("Zażółć") == 2
    with pikepdf.open(result.pdf) as pdf:
        assert len(pdf.pages) == 2


def test_a_fax_page_keeps_its_shape_in_the_pdf(tmp_path):
    """Tesseract sizes a PDF page by one resolution; a 204x196 dpi page is stretched back."""
    image = fax()
    source = save(image, tmp_path / "faks.tif", "TIFF", (204, 196))
    result = ocr_file(source, "image/tiff", tmp_path / "work")
    with pikepdf.open(result.pdf) as pdf:
        box = [float(v) for v in pdf.pages[0].mediabox]
    width_in, height_in = (box[2] - box[0]) / 72, (box[3] - box[1]) / 72
    assert width_in == pytest.approx(image.width / 204, rel=0.005)
    assert height_in == pytest.approx(image.height / 196, rel=0.005)
    assert "gęślą jaźń" in " ".join(pdf_text(result.pdf).split())


def test_an_image_without_a_resolution_is_read_as_300_dpi(tmp_path):
    path = tmp_path / "bez-dpi.png"
    clean_scan().save(path, "PNG")  # no pHYs chunk
    result = ocr_file(path, "image/png", tmp_path / "work")
    assert cer(SOURCE, result.text) < 0.01
    with pikepdf.open(result.pdf) as pdf:
        box = [float(v) for v in pdf.pages[0].mediabox]
    assert (box[2] - box[0]) / 72 == pytest.approx(8.27, rel=0.01)


def test_an_rgba_image_is_flattened_and_read(tmp_path):
    rgba = clean_scan().convert("RGBA")
    path = save(rgba, tmp_path / "przezroczysty.png")
    result = ocr_file(path, "image/png", tmp_path / "work")
    assert cer(SOURCE, result.text) < 0.01


def test_a_photo_with_an_exif_rotation_is_read_upright(tmp_path):
    stored = clean_scan().rotate(90, expand=True)  # as a phone stores a portrait shot
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "zdjecie.jpg"
    stored.save(path, "JPEG", quality=92, dpi=(300, 300), exif=exif)
    result = ocr_file(path, "image/jpeg", tmp_path / "work")
    assert cer(SOURCE, result.text) < 0.01, result.text


def test_the_work_folder_names_its_owner(tmp_path):
    import os
    import socket

    result = ocr_file(save(clean_scan(), tmp_path / "a.png"), "image/png", tmp_path / "work")
    assert result.pdf is not None
    owner = (tmp_path / "work" / ".owner").read_text().split()
    assert owner == [socket.gethostname(), str(os.getpid())]


def test_a_pdf_with_a_text_layer_is_not_ocred(tmp_path):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(TTFont("DejaVu", FONT))
    path = tmp_path / "pismo.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setFont("DejaVu", 12)
    for index, line in enumerate(LINES):
        pdf.drawString(60, 780 - index * 20, line)
    pdf.save()
    started = time.monotonic()
    result = ocr_file(path, "application/pdf", tmp_path / "work")
    assert time.monotonic() - started < 2
    assert result.pdf is None and result.ocr_pages == 0 and result.pages == 1
    assert cer(SOURCE, result.text) == 0


def test_a_png_with_its_exif_after_the_pixels_is_read_upright(tmp_path):
    """An `eXIf` chunk after the pixel data (allowed, and what some phones write) is
    found without decoding the picture, and its rotation applied."""
    stored = clean_scan().rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    stored.save(buffer, "PNG", dpi=(300, 300), exif=exif)
    data = buffer.getvalue()
    chunks, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        chunks.append(data[offset : offset + 12 + length])
        offset += 12 + length
    kinds = [chunk[4:8] for chunk in chunks]
    assert b"eXIf" in kinds and kinds.index(b"eXIf") < kinds.index(b"IDAT")
    exif_chunk = chunks.pop(kinds.index(b"eXIf"))
    chunks.insert(len(chunks) - 1, exif_chunk)  # just before IEND
    path = tmp_path / "zdjecie.png"
    path.write_bytes(data[:8] + b"".join(chunks))
    with Image.open(path) as image:
        assert "exif" not in image.info  # Pillow would have to decode the pixels to see it
    result = ocr_file(path, "image/png", tmp_path / "work")
    assert cer(SOURCE, result.text) < 0.01, result.text


def test_tesseract_in_the_worker_reads_what_the_tesseract_program_reads(tmp_path):
    """The in-process engine (the model loaded once) gives the program's text byte for byte."""
    import subprocess

    from garnizon.intake import ocr

    if ocr._tesseract_library() is None:
        pytest.skip("libtesseract is not loadable here: the program is used anyway")
    pages = make_pages(tmp_path, 1)
    for variant in VARIANTS:
        source, _text = pages[variant][0]
        frame = ocr._frames(source, tmp_path)[0]
        ocr.run_tesseract(frame, tmp_path / f"lib-{variant}")
        subprocess.run(
            ["tesseract", str(source), str(tmp_path / f"cli-{variant}"), "-l", "pol"],
            env={"PATH": "/usr/bin:/bin", "OMP_THREAD_LIMIT": "1"},
            capture_output=True,
            check=True,
        )
        library = (tmp_path / f"lib-{variant}.txt").read_text(encoding="utf-8")
        program = (tmp_path / f"cli-{variant}.txt").read_text(encoding="utf-8")
        assert library == program and len(library) > 1000, variant
        with pikepdf.open(tmp_path / f"lib-{variant}.pdf") as pdf:
            assert len(pdf.pages) == 1


def test_a_missing_polish_model_is_a_clear_polish_failure(tmp_path, monkeypatch):
    """The in-process engine without `pol.traineddata` fails with the same message."""
    import ctypes

    from garnizon.intake import ocr

    if ocr._tesseract_library() is None:
        pytest.skip("libtesseract is not loadable here")
    (tmp_path / "tessdata").mkdir()
    monkeypatch.setenv("TESSDATA_PREFIX", str(tmp_path / "tessdata"))
    engine = ocr._Library(ctypes.CDLL("libtesseract.so.5"))  # no idle engine yet
    with pytest.raises(OcrError) as error:
        engine.recognise(save(clean_scan(), tmp_path / "a.png"), tmp_path / "out", dpi=0)
    assert "tesseract-ocr-pol" in error.value.message


def test_a_missing_tesseract_is_a_clear_polish_failure(tmp_path, monkeypatch, settings):
    settings.GARNIZON_OCR_ENGINE = "cli"  # the program, as when libtesseract is missing
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    source = save(clean_scan(), tmp_path / "scan.png")
    with pytest.raises(OcrError) as error:
        ocr_file(source, "image/png", tmp_path / "work")
    assert "tesseract-ocr-pol" in error.value.message


def test_a_png_scan_goes_through_the_intake_and_is_stored_with_its_text(garrison, tmp_path):
    buffer = io.BytesIO()
    clean_scan().save(buffer, "PNG", dpi=(300, 300))
    path = tmp_path / "in" / "zgłoszenie.png"
    path.parent.mkdir()
    path.write_bytes(buffer.getvalue())
    item = intake_add_file(
        path=path,
        unit=garrison.kwp,
        channel="paper",
        requested_by=garrison.people["clerk"],
        run_now=True,
    ).item
    assert item.state == IntakeState.DONE, item.error_message
    version = item.document.versions.get()
    assert version.mime_type == "application/pdf"
    assert version.original_filename == "zgłoszenie.pdf"
    assert version.blob_sha256 != item.blob_sha256  # the original stays as the item's blob
    assert "Zażółć" in version.text
    from garnizon.documents.blobstore import get_blob_store

    assert "Zażółć" in pdf_text(get_blob_store().path(version.blob_sha256))
    message = IntakeStepResult.objects.get(item=item, step="ocr").message
    assert "Stron: 1" in message and " s" in message
