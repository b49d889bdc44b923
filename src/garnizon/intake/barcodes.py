"""Barcodes on scans: Garnizon labels, separator sheets, and the printable separator sheet.

Pages are read with zxing-cpp: PDF pages are rendered grey with pypdfium2 at
`RENDER_DPI`; images are read frame by frame, each decoded once (a fax's
non-square pixels are stretched to square first). A frame of `REDUCE_FROM_DPI`
or more is read at half its resolution (`Image.reduce(2)`, a 300 dpi page as
150 dpi: 7 ms instead of 38 ms for zxing, and a label's 0.5 mm Code128 modules
are still ~3 px; a JPEG is decoded at half size by libjpeg itself); when that
read sees a symbol it cannot decode, the frame is read again at full resolution.
Only the formats Garnizon prints are looked for (Code128 and QR) plus Code39,
which separator sheets of other systems use; that keeps a page at a fraction of
a second.

Two kinds of values mean something:

- a label's registration number, as `registry/labels.py` encodes it
  (`incoming_registration_number`: `<unit symbol>/RPW/<number>/<year>`);
- a separator sheet: `SEPARATOR_VALUE`, or `PATCHT` (the value Paperless-ngx
  and several scanner vendors print on their patch-T separator sheets).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

PDF = "application/pdf"
IMAGES = {"image/png", "image/jpeg", "image/gif", "image/tiff"}

# Resolution PDF pages are rendered at: a 0.5 mm Code128 module is ~3.9 px, a 1 mm
# QR module ~7.9 px; enough for zxing and about half the pixels of 300 dpi.
RENDER_DPI = 200
# A page bigger than this (in pixels at RENDER_DPI) is rendered at a lower resolution.
MAX_RENDER_PIXELS = 40_000_000
# Image frames of at least this resolution are read at half of it first.
REDUCE_FROM_DPI = 280

# Blank pages (the empty backs of a duplex scan): the page without 5 % margins (edge
# shadows), averaged over 4x4 pixels (a speck of dust fades, a 2 px stroke stays
# darker than BLANK_INK_LEVEL), has at most BLANK_MAX_INK of such pixels. A short
# handwritten word or a signature is several times more than that.
BLANK_MARGIN = 0.05
BLANK_INK_LEVEL = 200
BLANK_MAX_INK = 0.0003

SEPARATOR_VALUE = "GARNIZON-SEPARATOR"
PATCH_T = "PATCHT"
SEPARATOR_VALUES = frozenset({SEPARATOR_VALUE, PATCH_T})

# `<unit symbol>/RPW/<number>/<year>` (registry.services.incoming_registration_number).
LABEL_RE = re.compile(r"^(?P<unit>[^/\s]+)/RPW/(?P<number>[1-9]\d{0,8})/(?P<year>\d{4})$")


@dataclass(frozen=True)
class Code:
    page: int  # 1-based
    value: str
    format: str

    def as_json(self) -> dict[str, Any]:
        return {"page": self.page, "value": self.value, "format": self.format}


@dataclass(frozen=True)
class Label:
    """A Garnizon label: the registration number and its parts."""

    value: str
    unit_symbol: str
    number: int
    year: int
    page: int = 0


class BarcodeError(Exception):
    """The file could not be rendered for reading; `message` is Polish, for a clerk."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _formats() -> Any:
    import zxingcpp

    f = zxingcpp.BarcodeFormat
    return (f.Code128, f.QRCode, f.Code39)


@dataclass(frozen=True)
class PagesRead:
    """What reading a scan's pages found: the page count, the barcodes, the blank pages."""

    pages: int
    codes: list[Code]
    blank: list[int]  # 1-based page numbers, in order


def read_codes(
    path: Path, mime: str, *, first_frame: Callable[[Any, Any], None] | None = None
) -> tuple[int, list[Code]]:
    """The page count and the barcodes on every page of a PDF or image, in page order."""
    found = read_pages(path, mime, first_frame=first_frame)
    return found.pages, found.codes


def read_pages(
    path: Path, mime: str, *, first_frame: Callable[[Any, Any], None] | None = None
) -> PagesRead:
    """The barcodes on every page of a PDF or image, in page order, and the blank pages.

    The same value twice on one page (a label's Code128 and QR) is kept once. A page
    with a barcode is never blank. `first_frame(frame, grey)`, for images only, gets
    the first frame as decoded (its own mode and `info`) and the grey, square-pixel
    picture it was read from (perhaps at half resolution), so that the intake can make
    the thumbnail without decoding the image again.
    """
    if mime == PDF:
        codes: list[Code] = []
        blank: list[int] = []
        count = 0
        for count, image in enumerate(_pdf_pages(path), start=1):
            grey = image if image.mode == "L" else image.convert("L")
            page_codes = _codes(_read(grey), count)
            codes.extend(page_codes)
            if not page_codes and is_blank(grey):
                blank.append(count)
        return PagesRead(count, codes, blank)
    if mime in IMAGES:
        return _read_image_file(path, first_frame)
    raise ValueError(f"no pages to read in {mime}")


def is_blank(grey: Any) -> bool:
    """Whether a grey page picture carries nothing (see BLANK_MAX_INK)."""
    width, height = grey.size
    dx, dy = int(width * BLANK_MARGIN), int(height * BLANK_MARGIN)
    inner = grey.crop((dx, dy, width - dx, height - dy))
    if min(inner.size) >= 64:
        inner = inner.reduce(4)
    histogram = inner.histogram()
    ink = sum(histogram[:BLANK_INK_LEVEL])
    return ink <= BLANK_MAX_INK * inner.width * inner.height


def read_image(image: Any, *, page: int = 1) -> list[Code]:
    """The barcodes in one PIL image (any mode), each value once."""
    grey = image if image.mode == "L" else image.convert("L")
    return _codes(_read(grey), page)


def _read(grey: Any, *, half: bool = False) -> list[Any]:
    """zxing on a grey picture. `half`: the picture is a frame at half resolution, which
    is zxing's own downscaled try already (not repeated: ~4 ms a page), and symbols it
    sees but cannot decode are returned too (not `valid`), to read the frame again."""
    import zxingcpp

    return zxingcpp.read_barcodes(
        grey, formats=_formats(), try_downscale=not half, return_errors=half
    )


def _codes(found: Iterable[Any], page: int) -> list[Code]:
    seen: dict[str, Code] = {}
    for symbol in found:
        value = symbol.text.strip()
        if symbol.valid and value and value not in seen:
            seen[value] = Code(page, value, symbol.format.name)
    return list(seen.values())


def _read_image_file(path: Path, first_frame: Callable[[Any, Any], None] | None) -> PagesRead:
    """Every frame of an image, each decoded once; big frames read at half resolution."""
    from PIL import Image, ImageSequence

    codes: list[Code] = []
    blank: list[int] = []
    count = 0
    with Image.open(path) as image:
        halved = _decode_at_half(image)
        for count, frame in enumerate(ImageSequence.Iterator(image), start=1):
            grey = _square_pixels(frame)
            if halved or _resolution(frame) >= REDUCE_FROM_DPI:
                half = grey if halved else grey.reduce(2)
                found = _read(half, half=True)
                if all(symbol.valid for symbol in found):
                    page_codes = _codes(found, count)
                    grey = half
                else:  # a symbol too fine for half the pixels: the whole frame
                    whole = _whole_grey(path) if halved else grey
                    page_codes = _codes(_read(whole), count)
            else:
                page_codes = _codes(_read(grey), count)
            codes.extend(page_codes)
            if not page_codes and is_blank(grey):
                blank.append(count)
            if count == 1 and first_frame is not None:
                first_frame(frame, grey)
    return PagesRead(count, codes, blank)


def _decode_at_half(image: Any) -> bool:
    """Whether a JPEG of REDUCE_FROM_DPI or more was set to decode at half its size.

    libjpeg scales while decoding (the DCT at 1/2): about a quarter of the work of
    decoding the whole picture and halving it (~6 ms instead of ~25 ms for a
    300 dpi A4 page). Other formats cannot; they are halved after decoding.
    """
    if image.format != "JPEG" or _resolution(image) < REDUCE_FROM_DPI:
        return False
    width, height = image.size
    image.draft(image.mode, (width // 2, height // 2))
    return image.size != (width, height)


def _whole_grey(path: Path) -> Any:
    """The first frame of an image decoded whole, grey with square pixels."""
    from PIL import Image

    with Image.open(path) as image:
        return _square_pixels(image)


def _resolution(frame: Any) -> float:
    """The frame's horizontal resolution in dpi (after `_square_pixels`), 0 when unknown."""
    try:
        return float(frame.info.get("dpi", (0, 0))[0])
    except (TypeError, ValueError, IndexError):
        return 0.0


def _pdf_pages(path: Path) -> Iterator[Any]:
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        raise BarcodeError(
            _("Nie można odczytać stron PDF, by poszukać kodów kreskowych: %(e)s.") % {"e": error}
        ) from error
    try:
        for index in range(len(document)):
            page = document[index]
            try:
                width, height = page.get_size()  # points
                scale = RENDER_DPI / 72
                pixels = width * scale * height * scale
                if pixels > MAX_RENDER_PIXELS:
                    scale *= (MAX_RENDER_PIXELS / pixels) ** 0.5
                image = page.render(scale=scale, grayscale=True).to_pil()
            except pdfium.PdfiumError as error:
                raise BarcodeError(
                    _("Nie można odczytać strony %(n)s PDF, by poszukać kodów kreskowych: %(e)s.")
                    % {"n": index + 1, "e": error}
                ) from error
            finally:
                page.close()
            yield image
    finally:
        document.close()


def _square_pixels(frame: Any) -> Any:
    """A frame with equal horizontal and vertical resolution (fax: 204×98 or 204×196 dpi)."""
    grey = frame.convert("L")
    dpi = frame.info.get("dpi")
    try:
        x_dpi, y_dpi = (float(d) for d in dpi) if dpi else (0.0, 0.0)
    except (TypeError, ValueError):
        return grey
    if x_dpi > 0 and y_dpi > 0 and abs(x_dpi - y_dpi) / x_dpi > 0.05:
        height = max(1, round(grey.height * x_dpi / y_dpi))
        grey = grey.resize((grey.width, height))
    return grey


def is_separator(value: str) -> bool:
    return value.strip().upper() in SEPARATOR_VALUES


def parse_label(value: str, *, page: int = 0) -> Label | None:
    """The registration number in a label's barcode, or None for any other value."""
    match = LABEL_RE.match(value.strip())
    if match is None:
        return None
    return Label(
        value=value.strip(),
        unit_symbol=match["unit"],
        number=int(match["number"]),
        year=int(match["year"]),
        page=page,
    )


def separator_pages(codes: Iterable[dict[str, Any] | Code]) -> set[int]:
    """Pages (1-based) that are separator sheets; `codes` as stored in `IntakeItem.barcodes`."""
    return {c.page for c in _as_codes(codes) if is_separator(c.value)}


def labels_in(codes: Iterable[dict[str, Any] | Code]) -> list[Label]:
    """The labels among `codes`, in page order, each registration number once."""
    labels: dict[str, Label] = {}
    for code in _as_codes(codes):
        label = parse_label(code.value, page=code.page)
        if label is not None and label.value not in labels:
            labels[label.value] = label
    return list(labels.values())


def split_ranges(page_count: int, separators: set[int]) -> list[list[int]]:
    """Runs of pages between separator pages (1-based), empty runs dropped."""
    parts: list[list[int]] = [[]]
    for page in range(1, page_count + 1):
        if page in separators:
            parts.append([])
        else:
            parts[-1].append(page)
    return [part for part in parts if part]


def _as_codes(codes: Iterable[dict[str, Any] | Code]) -> Iterator[Code]:
    for code in codes:
        if isinstance(code, Code):
            yield code
        else:
            yield Code(int(code.get("page", 0)), str(code.get("value", "")), code.get("format", ""))


def image_to_pdf(source: Path, target: Path) -> Path:
    """Every frame of an image as a PDF page, losslessly, at its own resolution (img2pdf).

    An alpha channel (which img2pdf refuses) is flattened onto white first. Used to
    split a multi-page image (a fax TIFF) at separator sheets.
    """
    import img2pdf

    try:
        data = img2pdf.convert(str(source), rotation=img2pdf.Rotation.ifvalid)
    except img2pdf.AlphaChannelError:
        from PIL import Image, ImageSequence

        flat = []
        with Image.open(source) as image:
            dpi = image.info.get("dpi", (300, 300))
            for frame in ImageSequence.Iterator(image):
                rgba = frame.convert("RGBA")
                white = Image.new("RGB", rgba.size, "white")
                white.paste(rgba, mask=rgba.getchannel("A"))
                buffer = io.BytesIO()
                white.save(buffer, "PNG", dpi=dpi)
                flat.append(buffer.getvalue())
        data = img2pdf.convert(flat)
    target.write_bytes(data)
    return target


# --- the separator sheet -----------------------------------------------------------------------

# QR modules of 2.5 mm: read at fax resolution and from a crumpled sheet.
SEPARATOR_QR_MODULE_MM = 2.5


def separator_sheet_pdf() -> bytes:
    """A printable A4 separator sheet, two identical pages (print both sides for duplex).

    Each side carries the separator value as a big QR code and as Code128
    (0.5 mm modules) with a bold Polish instruction.
    """
    import segno
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    from garnizon.registry.labels import _fonts, code128_flowable

    regular, bold = _fonts()
    page_w, page_h = 210 * mm, 297 * mm
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(page_w, page_h), pageCompression=1)
    pdf.setTitle(_("Kartka rozdzielająca"))
    pdf.setAuthor("Garnizon")
    qr = segno.make(SEPARATOR_VALUE, micro=False, error="h")
    border = 4
    modules = qr.symbol_size(scale=1, border=border)[0]
    module = SEPARATOR_QR_MODULE_MM * mm
    lines = [
        _("Włóż tę kartkę między pisma skanowane razem w jednym stosie."),
        _("System podzieli skan w miejscu tej kartki; jej strony nie trafią do akt."),
        _("Kartkę można używać wielokrotnie. Drukuj dwustronnie albo zeskanuj jednostronnie."),
        _("Nie zaginaj i nie zasłaniaj kodów."),
    ]
    for _side in range(2):
        pdf.setFillColorRGB(0, 0, 0)
        pdf.setFont(bold, 30)
        pdf.drawCentredString(page_w / 2, page_h - 30 * mm, _("KARTKA ROZDZIELAJĄCA"))
        pdf.setFont(bold, 22)
        pdf.drawCentredString(page_w / 2, page_h - 42 * mm, _("— nie usuwać —"))
        qr_size = modules * module
        qr_x, qr_top = (page_w - qr_size) / 2, page_h - 52 * mm
        for row, bits in enumerate(qr.matrix_iter(scale=1, border=border)):
            y = qr_top - (row + 1) * module
            start = None
            for col, bit in enumerate([*bits, 0]):
                if bit and start is None:
                    start = col
                elif not bit and start is not None:
                    pdf.rect(qr_x + start * module, y, (col - start) * module, module, 0, 1)
                    start = None
        barcode = code128_flowable(SEPARATOR_VALUE)
        bar_y = qr_top - qr_size - 8 * mm - barcode.height
        barcode.drawOn(pdf, (page_w - barcode.width) / 2, bar_y)
        pdf.setFont(regular, 11)
        pdf.drawCentredString(page_w / 2, bar_y - 6 * mm, SEPARATOR_VALUE)
        y = bar_y - 20 * mm
        pdf.setFont(regular, 13)
        for line in lines:
            pdf.drawCentredString(page_w / 2, y, line)
            y -= 8 * mm
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()
