"""What the system knows about a file: its type by content, a safe name, and
the 2006 regulation's metadata of a document.

The metadata schema (`Document.metadata`, a JSON object; names follow the
regulation, values are filled by `document_metadata`):

    identyfikator   str   the document's identifier, e.g. "KWP/DOK/12/2026"
    tworca          {"nazwa": str, "rola": str}        creator and role
    tytul           str
    data            [{"typ": "utworzenie"|"modyfikacja", "data": ISO 8601}]
    format          str   MIME type of the newest version, detected by content
    dostep          {"dostepnosc": "niepubliczny", "ograniczony": bool}
    typ             {"klasa": "tekst"|"obraz"|"dane", "rodzaj": str}
    relacja         [{"typ": "dotyczy", "identyfikator": str}]  the item or case
    odbiorca        str   addressee (outgoing items), else ""
    grupowanie      str   the case sign, else ""
    kwalifikacja    str   archival category of the case's JRWA class, else ""
    jezyk           str   ISO 639-2, default "pol"
    opis            str
    prawa           str
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from garnizon.documents.models import Document

MAX_FILENAME = 150
OCTET_STREAM = "application/octet-stream"
HEAD_SIZE = 8192

PREVIEWABLE = {"application/pdf", "image/png", "image/jpeg", "image/gif"}

_OOXML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/tiff": ".tif",
    "application/xml": ".xml",
    "text/plain": ".txt",
    "application/zip": ".zip",
    "video/mp4": ".mp4",
    "video/x-msvideo": ".avi",
    "message/rfc822": ".eml",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    _OOXML["word/"]: ".docx",
    _OOXML["xl/"]: ".xlsx",
    _OOXML["ppt/"]: ".pptx",
}


def detect_mime(path: str | Path) -> str:
    """The type of a stored file by its content (the name the uploader gave is ignored)."""
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(HEAD_SIZE)
    return detect_mime_from_head(head, zip_path=path)


def detect_mime_from_head(head: bytes, *, zip_path: Path | None = None) -> str:
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"PK\x03\x04"):
        return _zip_type(head, zip_path)
    if head[4:8] == b"ftyp" and head[8:12] in _MP4_BRANDS:
        return "video/mp4"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if _looks_like_message(head):
        return "message/rfc822"
    text = _as_text(head)
    if text is not None:
        if re.match(r"\s*<\?xml[\s?]", text):
            return "application/xml"
        return "text/plain"
    return OCTET_STREAM


# Major brands of an ISO base media file (its "ftyp" box) that are MP4 video; others
# (QuickTime "qt  ", HEIF "heic"/"mif1", 3GP…) stay unrecognised.
_MP4_BRANDS = frozenset(
    (b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash")
)


def _zip_type(head: bytes, zip_path: Path | None) -> str:
    # ODF: the first entry is an uncompressed "mimetype" holding the type.
    if head[30:38] == b"mimetype":
        match = re.match(rb"application/vnd\.oasis\.opendocument\.[a-z.-]+", head[38:120])
        if match:
            return match.group().decode()
    names: list[str] = []
    try:
        source = zip_path if zip_path is not None else io.BytesIO(head)
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return "application/zip"
    if "[Content_Types].xml" in names:
        for prefix, mime in _OOXML.items():
            if any(name.startswith(prefix) for name in names):
                return mime
    return "application/zip"


_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_MESSAGE_HEADERS = {
    b"received",
    b"from",
    b"return-path",
    b"message-id",
    b"mime-version",
    b"date",
    b"subject",
    b"to",
    b"delivered-to",
    b"reply-to",
    b"sender",
}


def _looks_like_message(head: bytes) -> bool:
    """An RFC 822 message (.eml): the sample starts with header lines (any charset), among
    them at least three usual ones including From, Received or Return-Path."""
    if b"\x00" in head:
        return False
    block = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    lines = block.splitlines()
    if len(lines) > 1 and len(block) == len(head):
        lines = lines[:-1]  # the header block goes on past the sample: its last line is cut
    names = set()
    for index, line in enumerate(lines):
        if line[:1] in (b" ", b"\t") and index:
            continue  # a folded header's continuation
        match = _HEADER_LINE.match(line)
        if match is None:
            return False
        names.add(match.group()[:-1].lower())
    known = names & _MESSAGE_HEADERS
    return len(known) >= 3 and bool(known & {b"from", b"received", b"return-path"})


def _as_text(head: bytes) -> str | None:
    if not head or b"\x00" in head:
        return None
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut by the end of the sample is still text.
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n\f")
    return text if printable >= 0.95 * max(len(text), 1) else None


def safe_filename(name: str, *, fallback: str = "plik") -> str:
    """The uploader's file name made safe to store and to send back.

    Only the last path component is kept (both / and \\), control and format
    characters (including bidirectional overrides) are removed, leading dots
    and spaces dropped, and the name cut to MAX_FILENAME characters keeping
    its extension.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Cs"})
    name = " ".join(name.split()).strip(" .")
    if not name:
        return fallback
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10 and stem:
            name = stem[: MAX_FILENAME - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_FILENAME].rstrip(" .")
    return name or fallback


def type_class(mime: str) -> str:
    if mime.startswith("image/"):
        return "obraz"
    if (
        mime.startswith("text/")
        or mime in {"application/pdf", "application/xml", "message/rfc822"}
        or ("document" in mime or "opendocument.text" in mime)
    ):
        return "tekst"
    return "dane"


def document_metadata(document: Document) -> dict[str, Any]:
    """The regulation's elements for `document`, from what the system knows."""
    from garnizon.documents.models import ACCESS_LABELS

    versions = list(document.versions.order_by("number"))
    newest = versions[-1] if versions else None
    dates = [{"typ": "utworzenie", "data": document.created_at.isoformat()}]
    dates += [{"typ": "modyfikacja", "data": v.created_at.isoformat()} for v in versions[1:]]
    case = document.case
    if case is None and document.incoming_item_id:
        case = document.incoming_item.case
    if case is None and document.outgoing_item_id:
        case = document.outgoing_item.case
    relation = []
    if document.incoming_item_id:
        relation.append(
            {"typ": "dotyczy", "identyfikator": document.incoming_item.registration_number}
        )
    if document.outgoing_item_id:
        relation.append(
            {"typ": "dotyczy", "identyfikator": document.outgoing_item.registration_number}
        )
    if document.case_id:
        relation.append({"typ": "dotyczy", "identyfikator": document.case.sign})
    mime = newest.mime_type if newest else ""
    return {
        "identyfikator": document.identifier,
        "tworca": {"nazwa": str(document.created_by), "rola": document.creator_role},
        "tytul": document.title,
        "data": dates,
        "format": mime,
        "dostep": {
            "dostepnosc": "niepubliczny",
            "ograniczony": document.is_restricted,
            "opis": str(ACCESS_LABELS[document.is_restricted]),
        },
        "typ": {"klasa": type_class(mime), "rodzaj": document.kind},
        "relacja": relation,
        "odbiorca": document.outgoing_item.addressee_name if document.outgoing_item_id else "",
        "grupowanie": case.sign if case else "",
        "kwalifikacja": case.classification.category_owner if case else "",
        "jezyk": document.language,
        "opis": document.description,
        "prawa": document.rights,
    }
