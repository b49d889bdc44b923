"""documents/imagemeta.py: photos lose what identifies their maker, keep every pixel."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from garnizon.documents.imagemeta import NotAnImage, strip_image_metadata

GPS_IFD = 0x8825


def jpeg_with_metadata(orientation: int | None = 6) -> bytes:
    image = Image.new("RGB", (64, 48))
    for x in range(64):
        for y in range(48):
            image.putpixel((x, y), (x * 4, y * 5, (x + y) % 256))
    exif = Image.Exif()
    exif[0x010F] = "AcmePhone"  # Make
    exif[0x0110] = "X-1000"  # Model
    exif[0xA431] = "SN-123456789"  # BodySerialNumber
    exif[0x013B] = "Jan Kowalski"  # Artist
    if orientation is not None:
        exif[0x0112] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps[1] = "N"
    gps[2] = (51.0, 14.0, 42.5)
    gps[3] = "E"
    gps[4] = (22.0, 34.0, 7.25)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes(), comment=b"Jan's phone")
    data = buffer.getvalue()
    # An XMP packet too, as phones write it (APP1 after the EXIF one).
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>Jan Kowalski</x:xmpmeta>"
    segment = b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp
    return data[:2] + segment + data[2:]


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def test_a_jpeg_loses_gps_camera_owner_and_comments_and_keeps_every_pixel():
    original = jpeg_with_metadata()
    assert b"AcmePhone" in original and b"Jan Kowalski" in original
    cleaned = strip_image_metadata(original, "image/jpeg")
    for secret in (b"AcmePhone", b"X-1000", b"SN-123456789", b"Jan", b"xmpmeta"):
        assert secret not in cleaned
    assert pixels(cleaned) == pixels(original)  # the same compressed data, not re-encoded
    with Image.open(io.BytesIO(cleaned)) as image:
        exif = image.getexif()
        assert dict(exif) == {0x0112: 6}  # only the orientation
        assert not exif.get_ifd(GPS_IFD)
        assert "comment" not in image.info


def test_a_jpeg_without_orientation_gets_no_exif_at_all():
    cleaned = strip_image_metadata(jpeg_with_metadata(orientation=None), "image/jpeg")
    assert b"Exif" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as image:
        assert dict(image.getexif()) == {}


def test_a_png_loses_its_text_and_exif_chunks_and_keeps_its_pixels():
    image = Image.new("RGBA", (20, 10), (10, 200, 30, 255))
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jan Kowalski")
    info.add_itxt("Comment", "Zażółć, telefon Jana", zip=True)
    exif = Image.Exif()
    exif[0x010F] = "AcmePhone"
    buffer = io.BytesIO()
    image.save(buffer, "PNG", pnginfo=info, exif=exif.tobytes())
    original = buffer.getvalue()
    cleaned = strip_image_metadata(original, "image/png")
    assert b"Jan Kowalski" not in cleaned and b"AcmePhone" not in cleaned
    assert b"tEXt" not in cleaned and b"iTXt" not in cleaned and b"eXIf" not in cleaned
    assert pixels(cleaned) == pixels(original)


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (b"", "image/jpeg"),
        (b"\xff\xd8\xff\xe1\xff\xff" + b"x" * 10, "image/jpeg"),  # a segment past the end
        (b"\xff\xd8\xff\xd9", "image/jpeg"),  # no scan
        (b"\x89PNG\r\n\x1a\n" + struct.pack(">I4s", 5, b"tEXt") + b"ab", "image/png"),
        (b"GIF89a", "image/png"),
    ],
)
def test_a_cut_short_or_false_image_is_refused_not_passed_on(data, mime):
    with pytest.raises(NotAnImage):
        strip_image_metadata(data, mime)


def test_a_png_chunk_with_a_wrong_checksum_is_refused():
    body = b"IHDR" + struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + body + struct.pack(">I", zlib.crc32(body) ^ 1)
    with pytest.raises(NotAnImage):
        strip_image_metadata(b"\x89PNG\r\n\x1a\n" + chunk, "image/png")


def test_other_types_are_returned_unchanged():
    assert strip_image_metadata(b"%PDF-1.7 ...", "application/pdf") == b"%PDF-1.7 ..."
