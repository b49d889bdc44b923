"""Text of documents that need no OCR: plain text, XML, DOCX and ODT, for search.

Every reader is bounded: at most `MAX_TEXT` characters come out, a member of an
office file is read only up to `MAX_MEMBER` uncompressed bytes (a zip bomb stops
there), and XML is parsed with defusedxml (no entities, no external references).
A file that cannot be read gives an empty text; it is never an error, since the
document itself is registered either way.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

from defusedxml import ElementTree

log = logging.getLogger(__name__)

MAX_TEXT = 2_000_000
MAX_MEMBER = 50 * 1024 * 1024
# Polish text written on Windows is often CP-1250; older Unix mail ISO-8859-2.
ENCODINGS = ("utf-8-sig", "cp1250", "iso-8859-2")

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"
W_NS = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
TEXT_NS = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"


def extract_text(path: str | Path, mime: str) -> str:
    """The text of the file for the search index, or "" when it has none we can read."""
    path = Path(path)
    try:
        if mime == "text/plain":
            return decode(path.read_bytes()[: MAX_TEXT * 2])[:MAX_TEXT]
        if mime == "application/xml":
            return _xml_text(path.read_bytes())
        if mime == DOCX:
            return _office_text(path, "word/document.xml", paragraph=f"{W_NS}p")
        if mime == ODT:
            return _office_text(path, "content.xml", paragraph=f"{TEXT_NS}p")
    except Exception:  # hostile or broken input: no text, the file is still kept
        log.warning("no text extracted from %s (%s)", path.name, mime, exc_info=True)
    return ""


def decode(data: bytes) -> str:
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def _xml_text(data: bytes) -> str:
    root = ElementTree.fromstring(data, forbid_dtd=True)
    return _joined(" ".join(t.strip() for t in root.itertext() if t.strip()))


def _office_text(path: Path, member: str, *, paragraph: str) -> str:
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
        if info.file_size > MAX_MEMBER:
            return ""
        with archive.open(info) as handle:
            data = handle.read(MAX_MEMBER + 1)
    if len(data) > MAX_MEMBER:
        return ""
    root = ElementTree.fromstring(data, forbid_dtd=True)
    paragraphs = ("".join(p.itertext()).strip() for p in root.iter(paragraph))
    return _joined("\n".join(p for p in paragraphs if p))


def _joined(text: str) -> str:
    return text[:MAX_TEXT]
