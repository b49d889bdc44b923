"""OCR in Polish with Tesseract (Debian `tesseract-ocr-pol`), OCRmyPDF for scanned PDFs.

Only what a page needs. Images (PNG, JPEG, TIFF, every frame) go straight to
Tesseract, what `tesseract ... -l pol pdf txt` does: one pass writes the text
and a PDF page (its text layer laid over the image embedded as it is: JPEG
untouched, others lossless), with none of OCRmyPDF's per-file work
(re-rasterising, hOCR, grafting), which cost ~0.4 s a page. Tesseract runs in
this process (`_Library`: libtesseract's C API, the Polish model loaded once
and kept; the same text byte for byte), else as the `tesseract` program.
Frames of a multi-page image are read in parallel, one Tesseract per core.
PDFs go through OCRmyPDF, and only pages with a picture but no text
are recognised; a PDF whose pages all have text, or that has no pictures at
all, is not OCRed: its own text is extracted as it is. No PDF/A, no cleaning,
no deskewing, no optimisation.

Tesseract always runs with `OMP_THREAD_LIMIT=1`: with its own threads one page
took anywhere from 3.8 s to 25 s. Throughput across items comes from running as
many intake workers as cores (GARNIZON_WORKERS, `./dev start`).

Every work folder gets an `.owner` file (host and process id), so that
`intake.maintenance.remove_orphaned_workdirs` can remove the folder of a worker
that was killed in the middle of OCR.
"""

from __future__ import annotations

import atexit
import ctypes
import io
import logging
import os
import re
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

LANGUAGE = "pol"
OCR_IMAGES = {"image/png", "image/jpeg", "image/tiff"}
PDF = "application/pdf"
# Characters of text (pdfminer) from which a page counts as having a text layer.
MIN_PAGE_TEXT = 1
DEBIAN_PACKAGES = "tesseract-ocr tesseract-ocr-pol ghostscript"
OWNER_FILE = ".owner"
ORIENTATION = 0x0112  # the EXIF tag
# An image without a resolution is taken to be a 300 dpi scan (Tesseract would assume 70).
DEFAULT_DPI = 300
# Tesseract's PDF page size comes from one resolution; pages of non-square images
# (fax: 204x196 dpi) are rescaled afterwards by more than this relative difference.
SQUARE_TOLERANCE = 0.01


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


def ocr_file(
    source: Path, mime: str, workdir: Path, *, drop_pages: Collection[int] = ()
) -> OcrResult:
    """Recognise `source` (a PDF or an image) into `workdir`; the original is not touched.

    `drop_pages` (1-based; blank backs of a duplex scan) are left out of the result,
    unless that would leave no page. A PDF that needs no OCR is attached as it is,
    with all its pages.
    """
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    mark_owner(workdir)
    if mime in OCR_IMAGES:
        pdf, text, pages = ocr_image(source, workdir, drop_pages=drop_pages)
        return OcrResult(pdf, text, pages, pages, time.monotonic() - started)
    if mime != PDF:
        raise ValueError(f"not OCRable: {mime}")
    if drop_pages:
        source = _without_pages(source, drop_pages, workdir / "bez-pustych.pdf")
    texts = _page_texts(source)
    pages = page_needs(source, texts)
    todo = [n for n, need in enumerate(pages) if need]
    if not todo:
        text = _clean("\f".join(texts))
        return OcrResult(None, text, len(pages), 0, time.monotonic() - started)
    output = workdir / "ocr.pdf"
    sidecar = workdir / "ocr.txt"
    run_ocrmypdf(source, output, sidecar, workdir)
    text = _merge_sidecar(sidecar.read_text(encoding="utf-8"), output, todo, len(pages))
    return OcrResult(output, text, len(pages), len(todo), time.monotonic() - started)


def mark_owner(workdir: Path) -> None:
    """Record which process works in `workdir` (for the clean-up after a killed worker)."""
    (workdir / OWNER_FILE).write_text(f"{socket.gethostname()} {os.getpid()}\n")


def _without_pages(source: Path, drop: Collection[int], target: Path) -> Path:
    """A copy of the PDF without pages `drop` (1-based); the PDF itself if none would be left."""
    import pikepdf

    with pikepdf.open(source) as pdf:
        keep = [n for n in range(1, len(pdf.pages) + 1) if n not in drop]
        if not keep or len(keep) == len(pdf.pages):
            return source
        with pikepdf.new() as part:
            for n in keep:
                part.pages.append(pdf.pages[n - 1])
            part.save(target, deterministic_id=True)
    return target


def ocr_image(
    source: Path, workdir: Path, *, drop_pages: Collection[int] = ()
) -> tuple[Path, str, int]:
    """Every frame of an image (but `drop_pages`) through Tesseract: (PDF, text, pages)."""
    frames = _frames(source, workdir, skip=drop_pages)
    jobs = min(len(frames), os.cpu_count() or 1)
    outputs = [workdir / f"page-{index:04d}" for index in range(len(frames))]
    try:
        if jobs == 1:
            _recognise(frames[0], outputs[0])
        else:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                list(pool.map(_recognise, frames, outputs))
    except OcrError:
        if frames[0].path != source:
            raise
        # Leptonica could not read the file as it is (an unusual TIFF compression, ...):
        # once more from Pillow's lossless copy.
        frames = _frames(source, workdir, as_is=False, skip=drop_pages)
        _recognise(frames[0], outputs[0])
    for frame, output in zip(frames, outputs, strict=True):
        _square_page(output.with_suffix(".pdf"), frame.dpi)
        if not frame.bilevel:
            _under_the_text(frame, output)
    texts = [output.with_suffix(".txt").read_text(encoding="utf-8") for output in outputs]
    if len(outputs) == 1:
        pdf = outputs[0].with_suffix(".pdf")
    else:
        pdf = _concatenate([output.with_suffix(".pdf") for output in outputs], workdir / "ocr.pdf")
    return pdf, _clean("\f".join(text.strip("\f") for text in texts)), len(frames)


def _recognise(frame: Frame, output: Path) -> None:
    """One frame through Tesseract. A 1-bit frame (fax, bitonal scan) is embedded by
    Tesseract itself (CCITT G4, a few ms); img2pdf would decode and encode again a G4
    TIFF stored in several strips (~30 ms a page). Other frames get only the text layer,
    laid over the picture by `_under_the_text`."""
    run_tesseract(frame, output, text_only=not frame.bilevel)


@dataclass(frozen=True)
class Frame:
    path: Path
    dpi: tuple[float, float]  # (x, y)
    declared: bool  # the file states its resolution (else DEFAULT_DPI is assumed)
    bilevel: bool = False  # 1 bit a pixel


def _frames(
    source: Path, workdir: Path, *, as_is: bool = True, skip: Collection[int] = ()
) -> list[Frame]:
    """The image's frames as files Tesseract reads, with their resolution.

    Frames numbered in `skip` (1-based) are left out, unless that would leave none.

    A single-frame image without alpha or EXIF rotation is used as it is (a JPEG is
    then embedded in the PDF byte for byte); other frames are written out losslessly
    (PNG, or G4 TIFF for 1-bit), alpha flattened onto white, EXIF rotation applied.
    """
    from PIL import Image, ImageOps

    frames = []
    with Image.open(source) as image:
        count = getattr(image, "n_frames", 1)
        if all(index + 1 in skip for index in range(count)):
            skip = ()
        for index in range(count):
            if index + 1 in skip:
                continue
            image.seek(index)
            dpi, declared = _dpi(image.info.get("dpi"))
            alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            orientation = _orientation(image, source)
            rotated = orientation not in (0, 1)
            plain = image.format in ("JPEG", "PNG", "TIFF")
            if as_is and count == 1 and plain and not alpha and not rotated:
                frames.append(Frame(source, dpi, declared, bilevel=image.mode == "1"))
                continue
            frame = image.convert("RGBA") if alpha else image.copy()
            if rotated:
                frame = ImageOps.exif_transpose(frame)
                if orientation in (5, 6, 7, 8):  # turned by 90°: the resolutions swap
                    dpi = (dpi[1], dpi[0])
            if alpha:
                white = Image.new("RGB", frame.size, "white")
                white.paste(frame, mask=frame.getchannel("A"))
                frame = white
            if frame.mode == "1":
                path = workdir / f"frame-{index:04d}.tif"
                frame.save(path, "TIFF", compression="group4", dpi=dpi)
            else:
                if frame.mode not in ("L", "RGB"):
                    frame = frame.convert("RGB")
                path = workdir / f"frame-{index:04d}.png"
                frame.save(path, "PNG", dpi=dpi)
            frames.append(Frame(path, dpi, declared, bilevel=frame.mode == "1"))
    return frames


def _orientation(image: Any, source: Path) -> int:
    """The frame's EXIF orientation (1: as stored).

    Pillow finds a PNG's EXIF by decoding the whole picture (an `eXIf` chunk may follow
    the pixel data): ~45 ms for a 300 dpi page, only to learn there is none. A PNG's
    chunks are walked here instead, reading their headers only.
    """
    if image.format != "PNG" or "exif" in image.info:
        return int(image.getexif().get(ORIENTATION, 1))
    data = _png_chunk(source, b"eXIf")
    if data is None:
        return 1
    from PIL import Image

    exif = Image.Exif()
    try:
        exif.load(data)
    except Exception:  # a broken eXIf chunk: as stored (as Pillow's own reading would fail)
        return 1
    return int(exif.get(ORIENTATION, 1))


def _png_chunk(path: Path, kind: bytes) -> bytes | None:
    """The data of the first PNG chunk of type `kind`, found by its headers (no decoding)."""
    with path.open("rb") as handle:
        if handle.read(8) != b"\x89PNG\r\n\x1a\n":
            return None
        while header := handle.read(8):
            if len(header) < 8:
                return None
            length, found = int.from_bytes(header[:4], "big"), header[4:]
            if found == kind:
                return handle.read(length)
            if found == b"IEND":
                return None
            handle.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    return None


def _dpi(value: object) -> tuple[tuple[float, float], bool]:
    """The (x, y) resolution and whether the file stated a plausible one."""
    try:
        x, y = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return (DEFAULT_DPI, DEFAULT_DPI), False
    if x < 50 or y < 50:
        return (DEFAULT_DPI, DEFAULT_DPI), False
    return (x, y), True


def run_tesseract(frame: Frame, output: Path, *, text_only: bool = True) -> None:
    """`tesseract IMAGE OUTPUT -l pol pdf txt` (OUTPUT.pdf and OUTPUT.txt), one thread: in
    this process with the model already loaded (`_Library`), else the `tesseract` program.

    With `text_only` the PDF holds only the invisible text layer
    (`textonly_pdf=1`): Tesseract's own embedding of the picture costs ~70 ms a
    page, img2pdf's lossless one and the overlay (`_under_the_text`) ~20 ms.
    """
    library = _tesseract_library()
    if library is not None:
        dpi = 0 if frame.declared else DEFAULT_DPI  # 0: the picture's own resolution
        if not library.recognise(frame.path, output, dpi=dpi, text_only=text_only) or not (
            output.with_suffix(".pdf").exists()
        ):
            log.warning("OCR: tesseract (library) could not read %s", frame.path)
            raise OcrError(_failed_message())
        return
    command = ["tesseract", str(frame.path), str(output), "-l", LANGUAGE]
    if not frame.declared:
        command += ["--dpi", str(DEFAULT_DPI)]
    if text_only:
        command += ["-c", "textonly_pdf=1"]
    command += ["pdf", "txt"]
    env = os.environ | {"OMP_THREAD_LIMIT": "1"}
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        log.warning("OCR: tesseract not found: %s", error)
        raise OcrError(_missing_message()) from error
    if done.returncode != 0 or not output.with_suffix(".pdf").exists():
        log.warning("OCR: tesseract failed (%s): %s", done.returncode, done.stderr[-2000:])
        if "Failed loading language" in done.stderr or "Error opening data file" in done.stderr:
            raise OcrError(_missing_message())
        raise OcrError(_failed_message())


# --- Tesseract in this process ---------------------------------------------------------------


class _Library:
    """libtesseract (Debian's `libtesseract5`, which `tesseract-ocr` depends on) through its C
    API, with the Polish model loaded once per engine instead of once per page.

    `tesseract IMAGE OUT -l pol pdf txt` spends ~0.08-0.15 s of CPU a page starting up and
    loading `pol.traineddata` before it reads anything; an engine kept in the worker pays
    that once. The page itself goes through the same call the command line makes
    (`TessBaseAPI::ProcessPages` with the PDF and text renderers, page segmentation
    `PSM_AUTO`, `user_defined_dpi` for a picture without a resolution), so the text is the
    same byte for byte. One engine serves one page at a time; idle engines are kept for
    the next page (at most one per thread that OCRs at the same time, ~20 MB each).
    """

    PSM_AUTO = 3

    def __init__(self, lib: ctypes.CDLL) -> None:
        c_void_p, c_char_p, c_int = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        signatures: dict[str, tuple[list[Any], Any]] = {
            "TessBaseAPICreate": ([], c_void_p),
            "TessBaseAPIDelete": ([c_void_p], None),
            "TessBaseAPIInit3": ([c_void_p, c_char_p, c_char_p], c_int),
            "TessBaseAPISetPageSegMode": ([c_void_p, c_int], None),
            "TessBaseAPISetVariable": ([c_void_p, c_char_p, c_char_p], c_int),
            "TessBaseAPIGetDatapath": ([c_void_p], c_char_p),
            "TessBaseAPIProcessPages": ([c_void_p, c_char_p, c_char_p, c_int, c_void_p], c_int),
            "TessPDFRendererCreate": ([c_char_p, c_char_p, c_int], c_void_p),
            "TessTextRendererCreate": ([c_char_p], c_void_p),
            "TessResultRendererInsert": ([c_void_p, c_void_p], None),
            "TessDeleteResultRenderer": ([c_void_p], None),
        }
        for name, (argtypes, restype) in signatures.items():
            function = getattr(lib, name)
            function.argtypes, function.restype = argtypes, restype
        self._lib = lib
        self._idle: list[int] = []
        self._lock = threading.Lock()
        atexit.register(self.close)

    def _engine(self) -> int:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        handle = self._lib.TessBaseAPICreate()
        if not handle or self._lib.TessBaseAPIInit3(handle, None, LANGUAGE.encode()) != 0:
            if handle:
                self._lib.TessBaseAPIDelete(handle)
            raise OcrError(_missing_message())
        # The command line's default; the library's own is a single block of text.
        self._lib.TessBaseAPISetPageSegMode(handle, self.PSM_AUTO)
        return handle

    def recognise(self, image: Path, output: Path, *, dpi: int, text_only: bool = True) -> bool:
        """`image` into OUTPUT.pdf and OUTPUT.txt; False when Tesseract could not do it."""
        lib = self._lib
        handle = self._engine()
        renderer = None
        try:
            lib.TessBaseAPISetVariable(handle, b"user_defined_dpi", str(dpi).encode())
            lib.TessBaseAPISetVariable(handle, b"textonly_pdf", b"1" if text_only else b"0")
            base = os.fsencode(output)
            renderer = lib.TessPDFRendererCreate(
                base, lib.TessBaseAPIGetDatapath(handle), 1 if text_only else 0
            )
            text = lib.TessTextRendererCreate(base)
            if not renderer or not text:
                if text:
                    lib.TessDeleteResultRenderer(text)
                return False
            lib.TessResultRendererInsert(renderer, text)  # the chain owns it now
            # ctypes lets go of the GIL for the call: frames in threads run in parallel.
            return bool(lib.TessBaseAPIProcessPages(handle, os.fsencode(image), None, 0, renderer))
        finally:
            if renderer:
                lib.TessDeleteResultRenderer(renderer)
            with self._lock:
                self._idle.append(handle)

    def close(self) -> None:
        """Free the idle engines (at exit: Tesseract otherwise reports its models as leaked)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for handle in idle:
            self._lib.TessBaseAPIDelete(handle)


_library: _Library | None = None
_library_checked = False
_library_lock = threading.Lock()


def ocr_engine() -> str:
    """`library` (Tesseract in this process, the default) or `cli` (a `tesseract` process a
    page): GARNIZON_OCR_ENGINE in the settings or the environment."""
    from django.conf import settings

    value = getattr(settings, "GARNIZON_OCR_ENGINE", None) or os.environ.get(
        "GARNIZON_OCR_ENGINE", "library"
    )
    return "cli" if str(value).lower() == "cli" else "library"


def _tesseract_library() -> _Library | None:
    """The in-process engine, or None (then every page runs the `tesseract` program).

    None when the library is missing, or when OpenMP was already started in this process
    without OMP_THREAD_LIMIT=1: Tesseract would then use several threads per page, which
    made a page take anywhere from 3.8 s to 25 s.
    """
    global _library, _library_checked
    if ocr_engine() != "library":
        return None
    with _library_lock:
        if _library_checked:
            return _library
        _library_checked = True
        # Read by libgomp when it is loaded, which loading libtesseract does.
        os.environ["OMP_THREAD_LIMIT"] = "1"
        try:
            lib = ctypes.CDLL("libtesseract.so.5")
            gomp = ctypes.CDLL("libgomp.so.1")
        except OSError as error:
            log.info("OCR: libtesseract not loadable (%s); running the tesseract program", error)
            return None
        try:
            limit = gomp.omp_get_thread_limit()
        except AttributeError:
            limit = 1
        if limit != 1:
            log.warning(
                "OCR: OpenMP started before OMP_THREAD_LIMIT=1 (limit %s); running the tesseract "
                "program instead of the library",
                limit,
            )
            return None
        try:
            _library = _Library(lib)
        except AttributeError as error:  # an unexpected libtesseract without the C API
            log.warning("OCR: libtesseract lacks %s; running the tesseract program", error)
        return _library


def _square_page(pdf: Path, dpi: tuple[float, float]) -> None:
    """Tesseract sizes a page by the vertical resolution: stretch a fax page back to shape."""
    x, y = dpi
    if abs(x - y) / y <= SQUARE_TOLERANCE:
        return
    import pikepdf

    scale = y / x
    with pikepdf.open(pdf, allow_overwriting_input=True) as document:
        for page in document.pages:
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            page.contents_add(f"q {scale:.6f} 0 0 1 0 0 cm\n".encode(), prepend=True)
            page.contents_add(b"\nQ")
            page.mediabox = [x0, y0, x0 + (x1 - x0) * scale, y1]
            if "/CropBox" in page.obj:
                del page.obj["/CropBox"]
        document.save(pdf)


def _under_the_text(frame: Frame, output: Path) -> None:
    """Put the frame's picture (img2pdf, lossless) under Tesseract's text-only page.

    The picture's page is sized by the frame's own resolution; the text layer
    (already stretched to the same shape by `_square_page`) is scaled onto it.
    A picture img2pdf cannot embed as it is is left to Tesseract: the frame is
    recognised again with the picture in its PDF.
    """
    import img2pdf
    import pikepdf

    pdf = output.with_suffix(".pdf")
    try:
        layout = img2pdf.get_fixed_dpi_layout_fun(frame.dpi)
        # The frame is upright already (`_frames` applied any EXIF rotation); not asking
        # img2pdf to look saves it decoding a PNG's pixels only to find no EXIF (~45 ms).
        picture = img2pdf.convert(
            str(frame.path), layout_fun=layout, rotation=img2pdf.Rotation.none
        )
    except Exception as error:  # img2pdf refuses some pictures (16-bit, odd TIFFs, ...)
        log.info("OCR: img2pdf could not embed %s (%s); Tesseract embeds it", frame.path, error)
        run_tesseract(frame, output, text_only=False)
        _square_page(pdf, frame.dpi)
        return
    with pikepdf.open(io.BytesIO(picture)) as base, pikepdf.open(pdf) as text:
        page = pikepdf.Page(base.pages[0])
        box = pikepdf.Rectangle(*(float(v) for v in base.pages[0].mediabox))
        page.add_overlay(pikepdf.Page(text.pages[0]), box)
        base.save(pdf.with_suffix(".page.pdf"))
    pdf.with_suffix(".page.pdf").replace(pdf)


def _concatenate(parts: list[Path], target: Path) -> Path:
    import pikepdf

    with pikepdf.new() as document:
        for part in parts:
            with pikepdf.open(part) as source:
                document.pages.extend(source.pages)
        document.save(target)
    return target


def page_needs(pdf: Path, texts: list[str] | None = None) -> list[bool]:
    """For each page: True when it has a picture and no text layer (so OCR may find text)."""
    import pikepdf

    needs = []
    texts = _page_texts(pdf) if texts is None else texts
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
    """The text layer of every page: PDFium (~8 ms for 2 pages), pdfminer if PDFium fails
    (~175 ms for the same pages; both read the same text in a comparison)."""
    try:
        import pypdfium2 as pdfium

        document = pdfium.PdfDocument(str(pdf))
        try:
            texts = []
            for page in document:
                textpage = page.get_textpage()
                texts.append(textpage.get_text_bounded().replace("\r\n", "\n"))
                textpage.close()
                page.close()
            return texts
        finally:
            document.close()
    except Exception as error:  # an odd file pikepdf repaired: try pdfminer
        log.info("PDFium could not read the text of %s (%r); using pdfminer", pdf, error)
    from pdfminer.high_level import extract_text

    return extract_text(str(pdf)).split("\f")


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


def run_ocrmypdf(source: Path, output: Path, sidecar: Path, workdir: Path | None = None) -> None:
    """OCRmyPDF in this process (its temporary files inside `workdir`); failures become
    `OcrError` with a Polish message."""
    try:
        import ocrmypdf
        from ocrmypdf import exceptions as ocr_errors
    except ImportError as error:
        raise OcrError(
            "Brak biblioteki OCRmyPDF (pakiet Pythona ocrmypdf). Zgłoś to administratorowi."
        ) from error
    os.environ["OMP_THREAD_LIMIT"] = "1"
    previous_tempdir = tempfile.tempdir
    if workdir is not None:  # so that a killed worker leaves nothing outside its work folder
        tempfile.tempdir = str(workdir)
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
        raise OcrError(_missing_message()) from error
    except ocr_errors.EncryptedPdfError as error:
        raise OcrError("PDF jest zaszyfrowany; poproś nadawcę o wersję bez hasła.") from error
    except ocr_errors.DpiError as error:
        raise OcrError(
            "Obraz nie ma poprawnej rozdzielczości (DPI); zeskanuj dokument ponownie."
        ) from error
    except ocr_errors.ExitCodeException as error:
        log.warning("OCR failed: %r", error)
        raise OcrError(_failed_message()) from error
    finally:
        tempfile.tempdir = previous_tempdir


def _missing_message() -> str:
    return (
        "Nie można rozpoznać tekstu: brak programu Tesseract albo jego języka polskiego. "
        f"Administrator: zainstaluj pakiety Debiana {DEBIAN_PACKAGES} i ponów "
        "przetwarzanie."
    )


def _failed_message() -> str:
    return (
        "Rozpoznawanie tekstu (OCR) nie powiodło się. Oryginał jest zachowany; spróbuj "
        "ponownie, a gdy błąd się powtórzy, zgłoś go administratorowi."
    )
