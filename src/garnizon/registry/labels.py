"""Barcode labels for incoming items: PDF for office printers, ZPL for label printers.

Every label carries the registration number twice in machine-readable form,
the pair that was read reliably down to fax resolution: Code128 with modules
of 0.5 mm (at least 0.4 mm is required; 0.5 mm leaves room for a printer's
"fit to page" shrinking) and a full-size QR code (segno, micro=False), plus
the unit symbol, the number and the date received in plain text.

See docs/labels.md.
"""

from __future__ import annotations

import io
import socket
from pathlib import Path

import segno
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.graphics.barcode.code128 import Code128
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

from garnizon.common.errors import DomainError
from garnizon.registry.models import IncomingItem

# --- PDF ----------

# The narrowest Code128 module (bar or space) in the PDF, in millimetres.
CODE128_MODULE_MM = 0.5
CODE128_HEIGHT_MM = 15.0
# Code128 needs a quiet zone of at least 10 modules on each side.
CODE128_QUIET_MODULES = 10
# One QR module in the PDF, in millimetres, and the quiet zone in modules.
QR_MODULE_MM = 1.0
QR_BORDER_MODULES = 4

# Page sizes (width, height) in millimetres; the label fills the page.
LABEL_SIZES: dict[str, tuple[float, float]] = {
    "a6": (148.0, 105.0),  # A6 landscape: a quarter of an A4 sheet
    "a4": (210.0, 297.0),  # an A4 sheet with the label at its top
}
DEFAULT_SIZE = "a6"
_MARGIN_MM = 8.0

# Fonts with Polish glyphs (Debian fonts-dejavu-core); the first one found is used.
_FONT_CANDIDATES = [
    (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    ),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
]
_FONT, _FONT_BOLD = "GarnizonLabelSans", "GarnizonLabelSans-Bold"


def _fonts() -> tuple[str, str]:
    if _FONT in pdfmetrics.getRegisteredFontNames():
        return _FONT, _FONT_BOLD
    for regular, bold in _FONT_CANDIDATES:
        if Path(regular).is_file() and Path(bold).is_file():
            pdfmetrics.registerFont(TTFont(_FONT, regular))
            pdfmetrics.registerFont(TTFont(_FONT_BOLD, bold))
            return _FONT, _FONT_BOLD
    raise DomainError(
        _("Brak czcionki z polskimi znakami do etykiet (pakiet fonts-dejavu-core)."),
        code="label_font",
    )


def _barcode_value(item: IncomingItem) -> str:
    value = item.registration_number
    if not value or not value.isascii() or not value.isprintable():
        raise DomainError(
            _("Numer %(n)s nie da się zapisać kodem Code128.") % {"n": value}, code="label_value"
        )
    return value


def _received(item: IncomingItem) -> str:
    return timezone.localtime(item.received_at).strftime("%d.%m.%Y %H:%M")


def _fit(text: str, font: str, size: float, width: float) -> str:
    """`text` cut with an ellipsis to `width` points."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def code128_flowable(value: str) -> Code128:
    """The Code128 drawing used on the PDF label (modules of CODE128_MODULE_MM)."""
    quiet = CODE128_QUIET_MODULES * CODE128_MODULE_MM * mm
    return Code128(
        value,
        barWidth=CODE128_MODULE_MM * mm,
        barHeight=CODE128_HEIGHT_MM * mm,
        quiet=1,
        lquiet=quiet,
        rquiet=quiet,
        humanReadable=False,
    )


def label_pdf(item: IncomingItem, *, size: str = DEFAULT_SIZE) -> bytes:
    """A one-page PDF label for `item`; `size` is a key of LABEL_SIZES."""
    if size not in LABEL_SIZES:
        raise DomainError(_("Nieznany rozmiar etykiety."), code="label_size", field="size")
    value = _barcode_value(item)
    regular, bold = _fonts()
    page_w, page_h = (d * mm for d in LABEL_SIZES[size])
    label_w = LABEL_SIZES["a6"][0] * mm  # on a bigger page the label takes its top
    left, top = _MARGIN_MM * mm, page_h - _MARGIN_MM * mm
    inner_w = min(page_w, label_w) - 2 * _MARGIN_MM * mm

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(page_w, page_h), pageCompression=1)
    pdf.setTitle(_("Etykieta %(n)s") % {"n": value})
    pdf.setAuthor("Garnizon")

    # The QR code at the top right, drawn module by module (no smoothing, exact size).
    qr = segno.make(value, micro=False, error="m")
    modules = qr.symbol_size(scale=1, border=QR_BORDER_MODULES)[0]
    module = QR_MODULE_MM * mm
    qr_x = left + inner_w - modules * module
    qr_top = top
    pdf.setFillColorRGB(0, 0, 0)
    for row, bits in enumerate(qr.matrix_iter(scale=1, border=QR_BORDER_MODULES)):
        y = qr_top - (row + 1) * module
        run_start = None
        for col, bit in enumerate([*bits, 0]):
            if bit and run_start is None:
                run_start = col
            elif not bit and run_start is not None:
                pdf.rect(qr_x + run_start * module, y, (col - run_start) * module, module, 0, 1)
                run_start = None

    # The text at the top left, beside the QR code.
    text_w = qr_x - left - 2 * mm
    y = top - 7 * mm
    pdf.setFont(bold, 16)
    pdf.drawString(left, y, _fit(item.unit.symbol, bold, 16, text_w))
    y -= 9 * mm
    pdf.setFont(bold, 14)
    pdf.drawString(left, y, _fit(value, bold, 14, text_w))
    y -= 7 * mm
    pdf.setFont(regular, 10)
    pdf.drawString(
        left, y, _fit(_("Wpłynęło: %(d)s") % {"d": _received(item)}, regular, 10, text_w)
    )
    y -= 6 * mm
    pdf.setFont(regular, 9)
    pdf.drawString(left, y, _fit(" ".join(item.subject.split()), regular, 9, text_w))

    # The Code128 below, centred in the label's width, with its quiet zones.
    barcode = code128_flowable(value)
    if barcode.width > min(page_w, label_w):
        raise DomainError(
            _("Numer %(n)s jest za długi na etykietę.") % {"n": value}, code="label_width"
        )
    bar_y = top - modules * module - 4 * mm - barcode.height
    barcode.drawOn(pdf, (min(page_w, label_w) - barcode.width) / 2, bar_y)
    pdf.setFont(regular, 10)
    pdf.drawCentredString(min(page_w, label_w) / 2, bar_y - 5 * mm, value)

    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


# --- ZPL ----------

# Label stock for ZPL: 4 x 6 inches at 203 dpi (8 dots per mm).
ZPL_DPI = 203
ZPL_WIDTH_DOTS = 812
ZPL_LENGTH_DOTS = 1218
# ^BY4: the narrowest module is 4 dots = 0.5 mm at 203 dpi (3 dots would be 0.375 mm).
ZPL_MODULE_DOTS = 4
ZPL_QR_MAGNIFICATION = 8  # dots per QR module: 1 mm

# ^FH takes "_" and two hex digits; "^" and "~" would start a command, "_" an escape.
_ZPL_SPECIAL = {"_": "_5F", "^": "_5E", "~": "_7E"}


def zpl_escape(text: str) -> str:
    """`text` for a ^FH^FD field: control characters become spaces, ^ ~ _ hex escapes."""
    text = "".join(" " if not ch.isprintable() else ch for ch in text)
    return "".join(_ZPL_SPECIAL.get(ch, ch) for ch in text)


def _zpl_text(x: int, y: int, height: int, width: int, text: str, *, lines: int = 1) -> str:
    return f"^FO{x},{y}^A0N,{height},{height}^FB{width},{lines},0,L,0^FH^FD{zpl_escape(text)}^FS"


def label_zpl(item: IncomingItem) -> str:
    """A ZPL II label for `item` (4 x 6 in, 203 dpi, UTF-8 text through ^CI28).

    The Code128 runs down the label's long side (^BCR): 0.5 mm modules and
    their quiet zones do not fit across a 4-inch print head.
    """
    value = _barcode_value(item)
    text_x, text_w = 280, ZPL_WIDTH_DOTS - 280 - 30
    subject = " ".join(item.subject.split())
    parts = [
        "^XA",
        "^CI28",
        f"^PW{ZPL_WIDTH_DOTS}",
        f"^LL{ZPL_LENGTH_DOTS}",
        "^LH0,0",
        # Code128, rotated, in automatic subset mode (A), without its own text line.
        f"^BY{ZPL_MODULE_DOTS},3.0,160",
        f"^FO60,100^BCR,160,N,N,N,A^FH^FD{zpl_escape(value)}^FS",
        _zpl_text(text_x, 60, 60, text_w, item.unit.symbol),
        _zpl_text(text_x, 140, 44, text_w, value, lines=2),
        _zpl_text(text_x, 250, 32, text_w, f"Wpłynęło: {_received(item)}"),
        _zpl_text(text_x, 310, 28, text_w, subject[:200], lines=4),
        # A full-size QR code (model 2), error correction M, automatic data mode.
        f"^FO{text_x},470^BQN,2,{ZPL_QR_MAGNIFICATION}^FH^FDMA,{zpl_escape(value)}^FS",
        "^PQ1",
        "^XZ",
    ]
    return "\n".join(parts) + "\n"


def send_zpl(zpl: str, host: str, port: int = 9100, timeout: float = 5) -> None:
    """Send `zpl` (UTF-8) to a label printer over raw TCP; refusals become DomainError."""
    data = zpl.encode("utf-8")
    where = f"{host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
    except TimeoutError as exc:
        raise DomainError(
            _("Drukarka etykiet %(p)s nie odpowiada (przekroczono czas %(t)s s).")
            % {"p": where, "t": timeout},
            code="printer_timeout",
        ) from exc
    except ConnectionRefusedError as exc:
        raise DomainError(
            _("Drukarka etykiet %(p)s odrzuciła połączenie — sprawdź, czy jest włączona.")
            % {"p": where},
            code="printer_refused",
        ) from exc
    except socket.gaierror as exc:
        raise DomainError(
            _("Nie znaleziono drukarki etykiet %(p)s (błędna nazwa hosta).") % {"p": where},
            code="printer_unknown",
        ) from exc
    except OSError as exc:
        raise DomainError(
            _("Nie udało się wysłać etykiety do drukarki %(p)s: %(e)s.")
            % {"p": where, "e": exc.strerror or exc},
            code="printer_error",
        ) from exc
