"""Thumbnails: the first page of a document version as a small WebP image.

PDFs are rendered with pypdfium2, raster images (PNG, JPEG, GIF, TIFF) with
Pillow (`draft()` lets JPEG decode at a fraction of its size; only the first
frame is read; a picture over `MAX_IMAGE_PIXELS`, the intake preflight's limit,
is refused without decoding it). Every other format has no thumbnail. The
intake, which has already decoded an image's first frame to read its barcodes,
makes the picture from that frame (`thumbnail_of_frame`) and hands it to
`version_thumbnail`, so nothing is decoded or rendered twice.

The image is at most `WIDTH` px wide and `MAX_HEIGHT` px tall, stored in the
blob store, and its SHA-256 goes into `DocumentVersion.thumbnail_sha256`.
That column is derived data, the one thing written on a version after it was
created (by a queryset update, never by `save()`, which refuses).
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from garnizon.documents.blobstore import get_blob_store
from garnizon.documents.models import DocumentVersion

log = logging.getLogger(__name__)

WIDTH = 300
MAX_HEIGHT = 1200
MIME = "image/webp"
QUALITY = 80
# WebP encoder effort: 2 takes ~8 ms for a page's thumbnail, 4 took ~15 ms for a file
# of the same size and look (6: ~42 ms).
METHOD = 2
# The same limits as the intake preflight (`intake.steps.MAX_IMAGE_PIXELS`, Pillow's default).
MAX_IMAGE_PIXELS = 89_478_485
PDF = "application/pdf"
IMAGES = {"image/png", "image/jpeg", "image/gif", "image/tiff"}
SUPPORTED = {PDF, *IMAGES}
# PDFium is not thread-safe: one rendering at a time per process.
_PDFIUM = threading.Lock()


class ThumbnailError(Exception):
    """The file could not be rendered; `message` is Polish, for the item's history."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def render_thumbnail(path: str | Path, mime: str) -> bytes | None:
    """The thumbnail of a file as WebP bytes; None for formats that have none."""
    if mime == PDF:
        image = _render_pdf(Path(path))
    elif mime in IMAGES:
        image = _render_image(Path(path))
    else:
        return None
    return _webp(image)


def _webp(image) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=QUALITY, method=METHOD)
    return buffer.getvalue()


# EXIF orientation tag; a turned image's first PDF page is the turned picture.
ORIENTATION = 0x0112


def thumbnail_of_frame(frame, grey):  # type: ignore[no-untyped-def]
    """The thumbnail picture of an image's first frame that is already decoded, or None.

    `frame` is the frame as Pillow decoded it (own mode, `info` with the resolution);
    `grey` is its grey copy with square pixels, perhaps at a lower resolution (what the
    intake read barcodes from). Grey and 1-bit frames are shrunk from `grey`, others
    from `frame` itself, so colour stays; a frame that EXIF says is turned gets None
    (the caller renders the thumbnail the usual way). The result equals what
    `render_thumbnail` gives for the image file, up to resampling.
    """
    if frame.getexif().get(ORIENTATION, 1) not in (0, 1):
        return None
    width, height = frame.size
    xdpi, ydpi = _dpi(frame)
    stretch = xdpi / ydpi if xdpi and ydpi else 1.0  # a fax page is made square
    scale = min(1.0, WIDTH / width, MAX_HEIGHT / (height * stretch))
    size = (max(1, round(width * scale)), max(1, round(height * stretch * scale)))
    if frame.mode in ("1", "L"):
        return _shrink(grey, size).convert("RGB")
    source = frame if frame.mode == "RGB" else _flatten(frame)
    return _shrink(source, size)


def _shrink(image, size: tuple[int, int]):  # type: ignore[no-untyped-def]
    """`image` resized to `size`: whole-pixel averaging first, then Lanczos (fast, smooth)."""
    from PIL import Image

    if image.size == size:
        return image.copy()
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


def _render_pdf(path: Path):  # type: ignore[no-untyped-def]
    import pypdfium2

    with _PDFIUM:
        try:
            pdf = pypdfium2.PdfDocument(path)
        except pypdfium2.PdfiumError as error:
            raise ThumbnailError(
                _("PDF nie daje się otworzyć do miniatury (%(error)s).") % {"error": error}
            ) from error
        try:
            if len(pdf) == 0:
                raise ThumbnailError(_("PDF nie ma stron."))
            page = pdf[0]
            width, height = page.get_size()
            if width <= 0 or height <= 0:
                raise ThumbnailError(_("Pierwsza strona PDF ma zerowy rozmiar."))
            scale = min(WIDTH / width, MAX_HEIGHT / height)
            image = page.render(scale=scale, fill_color=(255, 255, 255, 255)).to_pil()
            page.close()
        except pypdfium2.PdfiumError as error:
            raise ThumbnailError(
                _("Nie udało się narysować pierwszej strony PDF (%(error)s).") % {"error": error}
            ) from error
        finally:
            pdf.close()
    return image.convert("RGB")


def _render_image(path: Path):  # type: ignore[no-untyped-def]
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ThumbnailError(
                        _("Obraz ma podejrzanie wielkie wymiary (%(w)s×%(h)s px); bez miniatury.")
                        % {"w": width, "h": height}
                    )
                xdpi, ydpi = _dpi(image)
                # A fax page (204×98 dpi) would look squashed: make the pixels square.
                stretch = xdpi / ydpi if xdpi and ydpi else 1.0
                scale = min(1.0, WIDTH / width, MAX_HEIGHT / (height * stretch))
                size = (max(1, round(width * scale)), max(1, round(height * stretch * scale)))
                image.draft(image.mode, size)  # JPEG: decode at 1/2, 1/4 or 1/8 of the size
                if image.mode in ("1", "L", "RGB"):
                    # Shrink first, in the image's own mode: converting a full page is slow.
                    frame = image.convert("L") if image.mode == "1" else image
                    frame = frame.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
                    return frame.convert("RGB")
                frame = _flatten(image)
        frame = frame.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    except Image.DecompressionBombError as error:
        raise ThumbnailError(_("Obraz ma podejrzanie wielkie wymiary; bez miniatury.")) from error
    except (UnidentifiedImageError, OSError, ValueError, EOFError) as error:
        raise ThumbnailError(
            _("Obraz nie daje się odczytać do miniatury (%(error)s).") % {"error": error}
        ) from error
    return frame


def _dpi(image) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    dpi = image.info.get("dpi")
    try:
        xdpi, ydpi = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError, IndexError):
        return 0.0, 0.0
    return (xdpi, ydpi) if xdpi > 0 and ydpi > 0 else (0.0, 0.0)


def _flatten(image):  # type: ignore[no-untyped-def]
    """RGB on a white background, whatever the mode (1-bit fax, palette, alpha, 16-bit)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return image.point(lambda v: v / 256).convert("L").convert("RGB")
    return image.convert("RGB")


def version_thumbnail(version: DocumentVersion, picture: Any = None) -> str | None:
    """Make the version's thumbnail if it has none; its SHA-256, or None (no thumbnail
    for this format). Safe to run twice or concurrently: the same picture gives the same
    blob, and the column is set only while it is still empty. `ThumbnailError` when
    the file cannot be rendered. `picture` (a PIL image from `thumbnail_of_frame`) is
    used instead of rendering the file: the intake has its first page decoded already."""
    if version.thumbnail_sha256:
        return version.thumbnail_sha256
    if version.mime_type not in SUPPORTED:
        return None
    store = get_blob_store()
    if picture is not None:
        data: bytes | None = _webp(picture)
    else:
        data = render_thumbnail(store.path(version.blob_sha256), version.mime_type)
    if data is None:
        return None
    ref = store.put(io.BytesIO(data))
    DocumentVersion.objects.filter(pk=version.pk, thumbnail_sha256="").update(
        thumbnail_sha256=ref.sha256
    )
    version.thumbnail_sha256 = (
        DocumentVersion.objects.filter(pk=version.pk)
        .values_list("thumbnail_sha256", flat=True)
        .get()
    )
    return version.thumbnail_sha256


def thumbnail_for_version_id(version_id: int) -> str | None:
    """`version_thumbnail` by id, for background tasks: failures are logged, not raised."""
    version = DocumentVersion.objects.filter(pk=version_id).first()
    if version is None:
        return None
    try:
        return version_thumbnail(version)
    except ThumbnailError as error:
        log.warning("document version %s: no thumbnail: %s", version_id, error.message)
    except Exception:
        log.exception("document version %s: thumbnail failed", version_id)
    return None
