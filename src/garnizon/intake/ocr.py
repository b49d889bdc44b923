"""OCR in Polish with OCRmyPDF and Tesseract (Debian `tesseract-ocr-pol`).

Only what a page needs: images (PNG, JPEG, TIFF) become a PDF with img2pdf
(lossless, their own resolution kept), and only pages with a picture but no
text are recognised. A PDF whose pages all have text, or that has no pictures
at all, is not OCRed: its own text is extracted as it is. No PDF/A, no
cleaning, no deskewing, no optimisation (images stay byte for byte).

Tesseract is given `OMP_THREAD_LIMIT=1` and OCRmyPDF works on as many pages at
once as there are cores: with Tesseract's own threads one page took anywhere
from 3.8 s to 25 s.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

LANGUAGE = "pol"
OCR_IMAGES = {"image/png", "image/jpeg", "image/tiff"}
PDF = "application/pdf"
# Characters of text (pdfminer) from which a page counts as having a text layer.
MIN_PAGE_TEXT = 1
DEBIAN_PACKAGES = "tesseract-ocr tesseract-ocr-pol ghostscript"


class OcrError(Exception):
    """OCR could not be done; `message` is Polish, for a clerk."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class OcrResult:
    pdf: Path | None  # the PDF to attach (None: attach the original as it is)
    text: str
    pages: int
    ocr_pages: int  # pages actually recognised
    seconds: float


def needs_ocr(mime: str) -> bool:
    return mime == PDF or mime in OCR_IMAGES


def ocr_file(source: Path, mime: str, workdir: Path) -> OcrResult:
    """Recognise `source` (a PDF or an image) into `workdir`; the original is not touched."""
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    if mime in OCR_IMAGES:
        pdf = image_to_pdf(source, workdir / "obraz.pdf")
    elif mime == PDF:
        pdf = source
    else:
        raise ValueError(f"not OCRable: {mime}")
    pages = page_needs(pdf)
    todo = [n for n, need in enumerate(pages) if need]
    if not todo and mime == PDF:
        return OcrResult(None, pdf_text(pdf), len(pages), 0, time.monotonic() - started)
    output = workdir / "ocr.pdf"
    sidecar = workdir / "ocr.txt"
    if todo:
        run_ocrmypdf(pdf, output, sidecar)
        text = _merge_sidecar(sidecar.read_text(encoding="utf-8"), output, todo, len(pages))
    else:  # an image without anything to read in it (e.g. blank)
        output = pdf
        text = ""
    return OcrResult(output, text, len(pages), len(todo), time.monotonic() - started)


def image_to_pdf(source: Path, target: Path) -> Path:
    """Every frame of the image as a PDF page, losslessly (alpha is flattened onto white)."""
    import img2pdf

    try:
        data = img2pdf.convert(str(source), rotation=img2pdf.Rotation.ifvalid)
    except img2pdf.AlphaChannelError:
        from PIL import Image

        flat = target.with_suffix(".png")
        with Image.open(source) as image:
            rgba = image.convert("RGBA")
            white = Image.new("RGB", rgba.size, "white")
            white.paste(rgba, mask=rgba.getchannel("A"))
            white.save(flat, "PNG", dpi=image.info.get("dpi", (300, 300)))
        data = img2pdf.convert(str(flat))
    target.write_bytes(data)
    return target


def page_needs(pdf: Path) -> list[bool]:
    """For each page: True when it has a picture and no text layer (so OCR may find text)."""
    import pikepdf

    needs = []
    texts = _page_texts(pdf)
    with pikepdf.open(pdf) as document:
        for index, page in enumerate(document.pages):
            has_text = len(texts[index].strip()) >= MIN_PAGE_TEXT if index < len(texts) else False
            needs.append(not has_text and _has_picture(page))
    return needs


def _has_picture(page) -> bool:
    import pikepdf

    if page.get_images():  # also inside form XObjects
        return True
    try:  # inline images
        return b"BI" in page.obj.Contents.read_bytes() if "/Contents" in page.obj else False
    except (pikepdf.PdfError, AttributeError):
        return True


def _page_texts(pdf: Path) -> list[str]:
    from pdfminer.high_level import extract_text

    text = extract_text(str(pdf))
    parts = text.split("\f")
    return parts


def pdf_text(pdf: Path) -> str:
    return _clean("\f".join(_page_texts(pdf)))


def _merge_sidecar(sidecar: str, output: Path, todo: list[int], pages: int) -> str:
    """The sidecar has Tesseract's text for recognised pages; other pages keep their own text."""
    if len(todo) == pages:
        return _clean(sidecar)
    recognised = sidecar.split("\f")
    own = _page_texts(output)
    merged = []
    for index in range(pages):
        if index in todo and index < len(recognised):
            merged.append(recognised[index])
        else:
            merged.append(own[index] if index < len(own) else "")
    return _clean("\f".join(merged))


_SKIPPED = re.compile(r"\[OCR skipped on page\(s\) [^\]]*\]")


def _clean(text: str) -> str:
    text = _SKIPPED.sub("", text)
    return "\f".join(page.strip() for page in text.split("\f")).strip("\f\n ")


def run_ocrmypdf(source: Path, output: Path, sidecar: Path) -> None:
    """OCRmyPDF in this process; failures become `OcrError` with a Polish message."""
    try:
        import ocrmypdf
        from ocrmypdf import exceptions as ocr_errors
    except ImportError as error:
        raise OcrError(
            "Brak biblioteki OCRmyPDF (pakiet Pythona ocrmypdf). Zgłoś to administratorowi."
        ) from error
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        ocrmypdf.ocr(
            source,
            output,
            language=LANGUAGE,
            output_type="pdf",
            jobs=os.cpu_count() or 1,
            skip_text=True,
            optimize=0,
            sidecar=sidecar,
            progress_bar=False,
        )
    except ocr_errors.MissingDependencyError as error:
        log.warning("OCR: missing dependency: %s", error)
        raise OcrError(
            "Nie można rozpoznać tekstu: brak programu Tesseract albo jego języka polskiego. "
            f"Administrator: zainstaluj pakiety Debiana {DEBIAN_PACKAGES} i ponów "
            "przetwarzanie."
        ) from error
    except ocr_errors.EncryptedPdfError as error:
        raise OcrError("PDF jest zaszyfrowany; poproś nadawcę o wersję bez hasła.") from error
    except ocr_errors.DpiError as error:
        raise OcrError(
            "Obraz nie ma poprawnej rozdzielczości (DPI); zeskanuj dokument ponownie."
        ) from error
    except ocr_errors.ExitCodeException as error:
        log.warning("OCR failed: %r", error)
        raise OcrError(
            "Rozpoznawanie tekstu (OCR) nie powiodło się. Oryginał jest zachowany; spróbuj "
            "ponownie, a gdy błąd się powtórzy, zgłoś go administratorowi."
        ) from error
