"""Removing what a photo says about its maker, without touching its pixels.

A phone's JPEG carries EXIF: the GPS position where it was taken, the make,
model and serial number of the camera, the owner's name, the time. A citizen
who reports a threat anonymously (portal, `eservices/threat.py`) would be
identified by it. The picture itself is kept bit for bit: the file's segments
(JPEG) or chunks (PNG) that hold metadata are dropped and the rest is copied,
so nothing is decoded (no decompression bomb can go off here) and nothing is
re-compressed. Only the orientation is kept, as a minimal EXIF block of its
own, so the photo still shows the right way up.

Kept in a JPEG: JFIF (APP0), the ICC colour profile (APP2), Adobe's colour
transform (APP14), every non-APP segment and the image data. Dropped: EXIF and
XMP (APP1), IPTC/Photoshop (APP13), the other APPn and comments (COM).
Kept in a PNG: every chunk but eXIf, tEXt, zTXt, iTXt and tIME.
"""

from __future__ import annotations

import io
import struct
import zlib

JPEG_KEPT_APP = {0xE0, 0xE2, 0xEE}  # JFIF, ICC profile, Adobe
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_DROPPED = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
ORIENTATION_TAG = 0x0112


class NotAnImage(ValueError):
    """The bytes are not a well-formed JPEG or PNG; the caller refuses the file."""


def strip_image_metadata(data: bytes, mime: str) -> bytes:
    """The same image without its metadata (see the module); other types are returned as given."""
    if mime == "image/jpeg":
        return _strip_jpeg(data)
    if mime == "image/png":
        return _strip_png(data)
    return data


def _strip_jpeg(data: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise NotAnImage("no JPEG start marker")
    kept: list[bytes] = []  # whole segments, marker included
    orientation = None
    position = 2
    while True:
        # Markers may be padded with fill bytes (0xFF).
        if position >= len(data) or data[position] != 0xFF:
            raise NotAnImage(f"no marker at byte {position}")
        while position < len(data) and data[position] == 0xFF:
            position += 1
        if position >= len(data):
            raise NotAnImage("the file ends inside a marker")
        marker = data[position]
        position += 1
        if marker == 0xD9:  # end of image without any scan
            raise NotAnImage("no image data")
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            kept.append(bytes((0xFF, marker)))
            continue
        if position + 2 > len(data):
            raise NotAnImage("the file ends inside a segment header")
        (length,) = struct.unpack(">H", data[position : position + 2])
        end = position + length
        if length < 2 or end > len(data):
            raise NotAnImage("a segment runs past the end of the file")
        if marker == 0xDA:  # start of scan: the image data follows to the end
            # The orientation goes where EXIF belongs: after SOI and JFIF's APP0.
            head = 1 if kept and kept[0][1] == 0xE0 else 0
            if orientation is not None:
                kept.insert(head, _exif_with_orientation(orientation))
            return b"\xff\xd8" + b"".join(kept) + b"\xff\xda" + data[position:]
        payload = data[position + 2 : end]
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00") and orientation is None:
            orientation = _orientation(payload[6:])
        dropped = (0xE0 <= marker <= 0xEF and marker not in JPEG_KEPT_APP) or marker == 0xFE
        if not dropped:
            kept.append(bytes((0xFF, marker)) + data[position:end])
        position = end


def _orientation(tiff: bytes) -> int | None:
    """The Orientation tag of IFD0 in an EXIF block's TIFF structure, if it is sane."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return None
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for index in range(min(count, 512)):
        entry = ifd + 2 + 12 * index
        if entry + 12 > len(tiff):
            return None
        tag, kind, _count = struct.unpack(order + "HHI", tiff[entry : entry + 8])
        if tag == ORIENTATION_TAG and kind == 3:  # SHORT
            (value,) = struct.unpack(order + "H", tiff[entry + 8 : entry + 10])
            return value if 1 <= value <= 8 else None
    return None


def _exif_with_orientation(orientation: int) -> bytes:
    """An APP1 segment whose EXIF holds only the orientation."""
    tiff = b"II*\x00" + struct.pack("<I", 8)
    tiff += struct.pack("<H", 1) + struct.pack("<HHIHH", ORIENTATION_TAG, 3, 1, orientation, 0)
    tiff += struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def _strip_png(data: bytes) -> bytes:
    if not data.startswith(PNG_SIGNATURE):
        raise NotAnImage("no PNG signature")
    out = io.BytesIO()
    out.write(PNG_SIGNATURE)
    position = len(PNG_SIGNATURE)
    while position < len(data):
        if position + 8 > len(data):
            raise NotAnImage("the file ends inside a chunk header")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        if end > len(data):
            raise NotAnImage("a chunk runs past the end of the file")
        body = data[position + 4 : end - 4]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(body) != crc:
            raise NotAnImage(f"chunk {kind!r} is damaged")
        if kind not in PNG_DROPPED:
            out.write(data[position:end])
        position = end
        if kind == b"IEND":
            return out.getvalue()
    raise NotAnImage("no PNG end chunk")
