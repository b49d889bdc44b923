"""E-mail messages in the intake: the `mail` step.

A message (`message/rfc822`, from an IMAP mailbox or a mailbox export) becomes
one incoming item:

- registered through `incoming_item_register` with the message's subject, the
  sender (a correspondent found by e-mail address or added to the address book),
  the date it reached our mail server (the topmost `Received:` header) and the
  date it was written (`Date:`), channel e-mail, token `intake:<id>` (so a
  rerun after a crash replays the same entry);
- the original message kept as its first document (`<subject>.eml`, kind
  `pismo`, the body's text as the version's text);
- one child intake item per attachment (`intake_add_file(parent=…,
  incoming_item=…)`, key `<message key>:part:<n>`), which then runs the whole
  pipeline on its own (preflight, OCR, attach). A ZIP is unpacked one level
  into children (`:part:<n>:<m>`) within limits; an archive inside it, an
  encrypted or broken ZIP, or one that would unpack to too much, becomes a
  quarantined child with a message saying so. A message without attachments
  keeps its body as a text document (child `:body`).

Images embedded in an HTML body (`multipart/related`, e.g. a logo in the
signature) are not separate documents; they stay in the kept original and the
step's message counts them. A forwarded message attached to the message is one
`.eml` document; its own attachments are not unpacked (one level only).

Every action looks first for what a previous run left (the entry by token, the
document by SHA-256, children by key), so the step can run again after a crash.

`Mail` follows the `Step` contract without inheriting from it (like
`Antivirus`), so that `steps.py` can import it at the top without an import
cycle; it runs right after `antivirus`, so an infected message is quarantined
before anything is registered.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import email
import email.policy
import email.utils
import logging
import mimetypes
import quopri
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from garnizon.common.errors import DomainError
from garnizon.documents.blobstore import CHUNK, get_blob_store, max_upload_size
from garnizon.documents.metadata import EXTENSIONS, detect_mime, safe_filename
from garnizon.documents.models import Document, DocumentKind
from garnizon.intake.models import IntakeItem, IntakeState, IntakeStepResult, StepStatus

if TYPE_CHECKING:
    from garnizon.intake.steps import IntakeContext, StepOutcome
    from garnizon.registry.models import Correspondent, IncomingItem

log = logging.getLogger(__name__)

MESSAGE = "message/rfc822"
# ZIP attachments: unpacked one level, within these limits (the whole archive is refused
# otherwise). The total is also capped by GARNIZON_MAX_UPLOAD_MB.
MAX_ZIP_ENTRIES = 100
MAX_ZIP_TOTAL = 500 * 1024 * 1024
MAX_ZIP_RATIO = 100
# Files smaller than this are never a bomb, whatever their ratio (a blank page compresses well).
ZIP_RATIO_FROM = 1024 * 1024
# The body's text kept with the message's document (for search), at most this many characters.
MAX_BODY_TEXT = 1_000_000
# Magic numbers of archives that are not unpacked inside a ZIP (or at all).
ARCHIVE_MAGIC = {
    b"PK\x03\x04": "ZIP",
    b"PK\x05\x06": "ZIP",
    b"Rar!\x1a\x07": "RAR",
    b"7z\xbc\xaf\x27\x1c": "7z",
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}

# --- parsing -----------------------------------------------------------------------------------


@dataclass
class Attachment:
    """One attachment of a message, in the order it appears (index from 1)."""

    index: int
    filename: str
    content_type: str
    payload: bytes


@dataclass
class ParsedMessage:
    subject: str
    sender_name: str
    sender_address: str
    message_id: str
    written_at: datetime.datetime | None
    received_at: datetime.datetime | None
    body_text: str
    attachments: list[Attachment] = field(default_factory=list)
    embedded: int = 0  # images of an HTML body (multipart/related), kept in the original only


def parse_message(path: Path) -> ParsedMessage:
    """What the intake needs from a stored .eml file (lenient: a damaged header is left empty)."""
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    name, address = _sender(message)
    parsed = ParsedMessage(
        subject=" ".join(_header(message, "Subject").split())[:500],
        sender_name=name,
        sender_address=address,
        message_id=_header(message, "Message-ID").strip()[:300],
        written_at=_date(_header(message, "Date")),
        received_at=_received(message),
        body_text="",
    )
    body = None
    with contextlib.suppress(Exception):
        body = message.get_body(preferencelist=("plain", "html"))
    if body is not None:
        parsed.body_text = _part_text(body)[:MAX_BODY_TEXT]
    for part, in_related in _leaves(message):
        disposition = part.get_content_disposition()
        ctype = part.get_content_type()
        filename = _filename(part)
        if disposition != "attachment":
            if ctype in ("text/plain", "text/html") and not filename:
                continue  # the body (or its other rendering)
            if in_related:
                parsed.embedded += 1
                continue
        index = len(parsed.attachments) + 1
        payload = _payload(part)
        parsed.attachments.append(
            Attachment(
                index=index,
                filename=safe_filename(filename or _default_name(ctype, payload, index)),
                content_type=ctype,
                payload=payload,
            )
        )
    return parsed


def _header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name, "") or "")
    except Exception:  # a header the parser cannot decode
        raw = message.get_all(name, failobj=[""])
        return str(raw[0]) if raw else ""


def _sender(message: EmailMessage) -> tuple[str, str]:
    """(display name, address) of the From header; empty strings when there is none."""
    try:
        header = message.get("From")
        addresses = getattr(header, "addresses", ()) if header is not None else ()
        if addresses:
            return addresses[0].display_name.strip(), addresses[0].addr_spec.strip()
    except Exception:
        pass
    name, address = email.utils.parseaddr(_header(message, "From"))
    return name.strip(), address.strip()


def _date(value: str) -> datetime.datetime | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


def _received(message: EmailMessage) -> datetime.datetime | None:
    """When our mail server took the message in: the date of the topmost Received header."""
    values = message.get_all("Received") or []
    if not values:
        return None
    return _date(str(values[0]).rpartition(";")[2])


def _leaves(part: EmailMessage, in_related: bool = False) -> Iterator[tuple[EmailMessage, bool]]:
    """The message's leaf parts (an attached message is one leaf), and whether each lies
    inside a multipart/related (an HTML body with its images)."""
    if part.get_content_maintype() == "multipart":
        related = in_related or part.get_content_subtype() == "related"
        for sub in part.iter_parts():
            yield from _leaves(sub, related)  # type: ignore[arg-type]
    else:
        yield part, in_related


def _filename(part: EmailMessage) -> str:
    try:
        return part.get_filename() or ""
    except Exception:
        return ""


def _default_name(ctype: str, payload: bytes, index: int) -> str:
    if ctype == MESSAGE:
        inner = email.message_from_bytes(payload, policy=email.policy.default)
        subject = " ".join(_header(inner, "Subject").split())[:100]  # type: ignore[arg-type]
        return f"{subject or _('wiadomość')} ({index}).eml"
    extension = EXTENSIONS.get(ctype) or mimetypes.guess_extension(ctype) or ".bin"
    return _("załącznik %(n)s") % {"n": index} + extension


def _payload(part: EmailMessage) -> bytes:
    if part.get_content_type() == MESSAGE and part.is_multipart():
        data = part.get_payload(0).as_bytes(policy=email.policy.default)
        # Some mailers encode an attached message (RFC 2046 forbids it); the parser then
        # sees a message without headers whose body is the encoded text.
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        with contextlib.suppress(binascii.Error, ValueError):
            if encoding == "base64":
                return base64.b64decode(b"".join(data.split()))
            if encoding == "quoted-printable":
                return quopri.decodestring(data.lstrip(b"\r\n"))
        return data
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _part_text(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except Exception:  # unknown charset and the like
        raw = part.get_payload(decode=True) or b""
        content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = html_to_text(content)
    return _tidy(content)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class _TextFromHtml(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr"}
    HIDDEN = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML body (scripts, styles and tags left out)."""
    parser = _TextFromHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return _tidy("\n".join(lines))


def archive_kind(path: Path) -> str | None:
    """The archive format of a file by its magic number ("ZIP", "RAR", …), or None.

    An OOXML or ODF document is a ZIP too but is a document, not an archive."""
    with path.open("rb") as handle:
        head = handle.read(8)
    for magic, kind in ARCHIVE_MAGIC.items():
        if head.startswith(magic):
            if kind == "ZIP" and detect_mime(path) != "application/zip":
                return None
            return kind
    return None


# --- the step ----------------------------------------------------------------------------------


class Mail:
    """A message: registered with its subject and sender, kept as `.eml`, its attachments
    taken in as child items."""

    name = "mail"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        item = ctx.item
        if item.mime_type != MESSAGE or item.parent_id is not None:
            return False  # not a message, or a message attached to one (kept as a document)
        # Done once: a later retry (a failure in another step) does not redo the children.
        return not IntakeStepResult.objects.filter(
            item=item, step=self.name, outcome=StepStatus.OK
        ).exists()

    def run(self, ctx: IntakeContext) -> StepOutcome:
        from garnizon.intake.steps import StepOutcome

        item = ctx.item
        parsed = parse_message(ctx.blob_path)
        ctx.store._makedirs(ctx.store.tmp_dir)
        workdir = Path(tempfile.mkdtemp(prefix="mail-", dir=ctx.store.tmp_dir))
        ctx.notes["mail_dir"] = workdir
        subject = parsed.subject or _("Wiadomość e-mail bez tematu")
        name = safe_filename(f"{subject[:140]}.eml")
        if item.original_filename != name:
            item.original_filename = name
            item.save(update_fields=["original_filename"])
        incoming = item.incoming_item or _register(item, parsed, subject)
        document = item.document or _keep_original(ctx, subject, parsed.body_text)
        notes = [
            _("Przesyłka %(number)s od %(sender)s; wiadomość zachowano jako dokument %(doc)s.")
            % {
                "number": incoming.registration_number,
                "sender": _sender_label(parsed) or _("nieznanego nadawcy"),
                "doc": document.identifier,
            }
        ]
        children = _Children(ctx, incoming, workdir)
        for attachment in parsed.attachments:
            children.attachment(attachment)
        if parsed.attachments:
            notes.append(
                _("Załączniki: %(n)s (pliki w przyjęciu: %(ids)s).")
                % {"n": len(parsed.attachments), "ids": children.ids()}
            )
        elif parsed.body_text:
            children.body(parsed.body_text)
            notes.append(
                _(
                    "Wiadomość nie ma załączników; jej treść zachowano jako dokument tekstowy "
                    "(plik w przyjęciu %(ids)s)."
                )
                % {"ids": children.ids()}
            )
        else:
            notes.append(_("Wiadomość nie ma załączników ani treści."))
        if parsed.embedded:
            notes.append(
                _(
                    "Obrazy osadzone w treści (np. logo w podpisie): %(n)s; są zachowane w "
                    "oryginale wiadomości."
                )
                % {"n": parsed.embedded}
            )
        notes.extend(children.remarks)
        return StepOutcome.ok(" ".join(notes))

    def cleanup(self, ctx: IntakeContext) -> None:
        workdir = ctx.notes.pop("mail_dir", None)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _sender_label(parsed: ParsedMessage) -> str:
    if parsed.sender_name and parsed.sender_address:
        return f"{parsed.sender_name} <{parsed.sender_address}>"
    return parsed.sender_name or parsed.sender_address


def _register(item: IntakeItem, parsed: ParsedMessage, subject: str) -> IncomingItem:
    from garnizon.registry.models import Channel
    from garnizon.registry.services import incoming_item_register

    sender = _correspondent(item, parsed)
    received_at = _sane_received(parsed.received_at, item.created_at)
    letter_date = None
    if parsed.written_at is not None:
        written_on = timezone.localdate(parsed.written_at)
        if written_on <= timezone.localdate(received_at):
            letter_date = written_on
    remarks = _("Przyjęto z poczty elektronicznej.")
    if parsed.message_id:
        remarks += " Message-ID: " + parsed.message_id
    incoming = incoming_item_register(
        actor=item.requested_by,
        unit=item.unit,
        subject=subject,
        channel=Channel.EMAIL,  # an .eml is an e-mail, even when imported from a folder
        received_at=received_at,
        sender=sender,
        sender_name="" if sender is not None else _sender_label(parsed),
        letter_date=letter_date,
        attachments_count=len(parsed.attachments),
        remarks=remarks,
        # The same token as the register step: a crash after the register but before the
        # link is saved replays the same entry.
        client_token=f"intake:{item.pk}",
    )
    item.incoming_item = incoming
    item.save(update_fields=["incoming_item"])
    return incoming


def _sane_received(
    received: datetime.datetime | None, taken: datetime.datetime
) -> datetime.datetime:
    """The Received date when the register accepts it (this or last year, not later than
    when we took the message), else the time the intake took the message."""
    if received is None or received > taken or received.year < taken.year - 1:
        return taken
    return received


def _correspondent(item: IntakeItem, parsed: ParsedMessage) -> Correspondent | None:
    """The address book entry with the sender's e-mail address, added when there is none."""
    from garnizon.registry.models import Correspondent, CorrespondentKind
    from garnizon.registry.services import correspondent_create

    address = parsed.sender_address
    if not address or "@" not in address:
        return None
    found = Correspondent.objects.filter(email__iexact=address).order_by("id").first()
    if found is not None:
        return found
    try:
        return correspondent_create(
            actor=item.requested_by,
            kind=CorrespondentKind.PERSON,
            name=parsed.sender_name or address,
            email=address,
        )
    except DomainError as error:  # e.g. an address the address book does not accept
        log.info("intake item %s: sender not added to the address book: %s", item.pk, error)
        return None


def _keep_original(ctx: IntakeContext, subject: str, text: str) -> Document:
    """The .eml as the entry's document (once: a document with the same first version is
    linked instead of adding a second one)."""
    from garnizon.documents.services import document_add
    from garnizon.intake.steps import _NamedReader

    item = ctx.item
    document = (
        Document.objects.filter(
            incoming_item_id=item.incoming_item_id,
            versions__number=1,
            versions__blob_sha256=item.blob_sha256,
        )
        .order_by("id")
        .first()
    )
    if document is None:
        reader = _NamedReader(ctx.store.open(item.blob_sha256), item.original_filename)
        try:
            with transaction.atomic():
                document = document_add(
                    actor=item.requested_by,
                    file=reader,
                    title=subject,
                    kind=DocumentKind.LETTER,
                    incoming_item=item.incoming_item,
                    text=text,
                )
                item.document = document
                item.save(update_fields=["document"])
        finally:
            reader.close()
    else:
        item.document = document
        item.save(update_fields=["document"])
    return document


class _Children:
    """Child intake items of one message (its attachments), created once each."""

    def __init__(self, ctx: IntakeContext, incoming: IncomingItem, workdir: Path) -> None:
        self.ctx = ctx
        self.incoming = incoming
        self.workdir = workdir
        self.items: list[IntakeItem] = []
        self.remarks: list[str] = []

    def ids(self) -> str:
        return ", ".join(f"#{child.pk}" for child in self.items) or "-"

    def _write(self, data: bytes) -> Path:
        with tempfile.NamedTemporaryFile(dir=self.workdir, prefix="part-", delete=False) as out:
            out.write(data)
        return Path(out.name)

    def _key(self, suffix: str) -> str:
        return f"{self.ctx.item.source_key}:{suffix}"

    def _source(self, key: str) -> str:
        """Where a part came from: the message's source and the part's place in it."""
        suffix = key[len(self.ctx.item.source_key) + 1 :]
        return f"{self.ctx.item.source}#{suffix}"[:1000]

    def body(self, text: str) -> None:
        path = self._write(text.encode("utf-8"))
        self._add(path, _("treść wiadomości.txt"), self._key("body"))

    def attachment(self, attachment: Attachment) -> None:
        key = self._key(f"part:{attachment.index}")
        path = self._write(attachment.payload)
        kind = archive_kind(path) if attachment.payload else None
        if kind == "ZIP":
            self._zip(attachment, path, key)
        elif kind is not None:
            self._refuse(
                path,
                attachment.filename,
                key,
                _(
                    "Załącznik „%(name)s” jest archiwum %(kind)s, którego system nie rozpakowuje; "
                    "przeniesiono go do kwarantanny. Poproś nadawcę o pliki wysłane osobno "
                    "albo w archiwum ZIP bez hasła."
                )
                % {"name": attachment.filename, "kind": kind},
            )
        else:
            self._add(path, attachment.filename, key)

    def _zip(self, attachment: Attachment, path: Path, key: str) -> None:
        entries, problem = _unpack_zip(path, self.workdir)
        if problem:
            self._refuse(path, attachment.filename, key, problem % {"name": attachment.filename})
            return
        if not entries:
            self._refuse(
                path,
                attachment.filename,
                key,
                _("Archiwum „%(name)s” jest puste; przeniesiono je do kwarantanny.")
                % {"name": attachment.filename},
            )
            return
        for number, (name, entry_path) in enumerate(entries, start=1):
            entry_key = f"{key}:{number}"
            kind = archive_kind(entry_path)
            if kind is not None:
                self._refuse(
                    entry_path,
                    name,
                    entry_key,
                    _(
                        "Plik „%(entry)s” z archiwum „%(name)s” jest kolejnym archiwum "
                        "(%(kind)s); system rozpakowuje tylko jeden poziom. Przeniesiono go do "
                        "kwarantanny; poproś nadawcę o pliki bez zagnieżdżonych archiwów."
                    )
                    % {"entry": name, "name": attachment.filename, "kind": kind},
                )
            else:
                self._add(entry_path, name, entry_key)
        self.remarks.append(
            _("Archiwum „%(name)s” rozpakowano: plików %(n)s.")
            % {"name": attachment.filename, "n": len(entries)}
        )

    def _add(self, path: Path, name: str, key: str) -> None:
        from garnizon.intake.services import dispatch, intake_add_file

        item = self.ctx.item
        try:
            result = intake_add_file(
                path=path,
                unit=item.unit,
                channel=item.channel,
                requested_by=item.requested_by,
                source=self._source(key),
                filename=name,
                source_key=key,
                parent=item,
                incoming_item=self.incoming,
            )
        except DomainError as error:
            self.remarks.append(
                _("Załącznika „%(name)s” nie przyjęto: %(error)s")
                % {"name": name, "error": error.message}
            )
            return
        if not result.created and result.item.state == IntakeState.RECEIVED:
            # Made before a crash but perhaps never queued: queue it again (the claim
            # makes a second task for it a no-op).
            dispatch(result.item)
        self.items.append(result.item)

    def _refuse(self, path: Path, name: str, key: str, message: str) -> None:
        """A part the pipeline must not open: a child item, quarantined at once with `message`."""
        from garnizon.intake.pipeline import _quarantine

        item = self.ctx.item
        with path.open("rb") as handle:
            ref = get_blob_store().put(handle, allow_empty=True)
        with transaction.atomic():
            child, created = IntakeItem.objects.get_or_create(
                channel=item.channel,
                source_key=key[:200],
                defaults={
                    "parent": item,
                    "incoming_item": self.incoming,
                    "unit": item.unit,
                    "source": self._source(key),
                    "original_filename": safe_filename(name),
                    "blob_sha256": ref.sha256,
                    "size": ref.size,
                    "mime_type": detect_mime(path),
                    "requested_by": item.requested_by,
                    "state": IntakeState.QUARANTINED,
                    "error_message": message,
                    "finished_at": timezone.now(),
                },
            )
            if created:
                IntakeStepResult.objects.create(
                    item=child, step="mail", outcome=StepStatus.FAILED, message=message
                )
        if not child.quarantine_path:  # also after a crash between the row and the copy
            child.quarantine_path = str(_quarantine(child))
            child.save(update_fields=["quarantine_path"])
        self.items.append(child)
        self.remarks.append(message)


def _unpack_zip(path: Path, workdir: Path) -> tuple[list[tuple[str, Path]], str]:
    """The files of a ZIP (name, extracted path), or a problem (a message with %(name)s).

    Limits: MAX_ZIP_ENTRIES files, MAX_ZIP_TOTAL bytes in all (and no more than the upload
    limit), each file at most MAX_ZIP_RATIO times its compressed size; the sizes written in
    the archive are not trusted, the bytes are counted while reading."""
    total_limit = min(MAX_ZIP_TOTAL, max_upload_size())
    bomb = _(
        "Archiwum „%(name)s” rozpakowałoby się do podejrzanie wielkich plików (możliwa "
        "„bomba dekompresyjna”). Przeniesiono je do kwarantanny; zgłoś to administratorowi."
    )
    broken = _(
        "Archiwum „%(name)s” jest uszkodzone i nie daje się rozpakować. Przeniesiono je do "
        "kwarantanny; poproś nadawcę o ponowne przesłanie."
    )
    try:
        with zipfile.ZipFile(path) as archive:
            infos = [info for info in archive.infolist() if not info.is_dir()]
            if any(info.flag_bits & 0x1 for info in infos):
                return [], _(
                    "Archiwum „%(name)s” jest zaszyfrowane (chronione hasłem). Przeniesiono je "
                    "do kwarantanny; poproś nadawcę o pliki bez hasła."
                )
            if len(infos) > MAX_ZIP_ENTRIES:
                return [], _(
                    "Archiwum „%(name)s” zawiera zbyt wiele plików (ponad %(max)s). Przeniesiono "
                    "je do kwarantanny; poproś nadawcę o podzielenie przesyłki."
                ) % {"max": MAX_ZIP_ENTRIES, "name": "%(name)s"}
            if sum(info.file_size for info in infos) > total_limit or any(
                info.file_size > _entry_limit(info) for info in infos
            ):
                return [], bomb
            entries: list[tuple[str, Path]] = []
            total = 0
            for number, info in enumerate(infos, start=1):
                target = workdir / f"zip-{number}"
                limit = min(_entry_limit(info), total_limit - total)
                written = 0
                with archive.open(info) as source, target.open("wb") as out:
                    while chunk := source.read(min(CHUNK, limit - written + 1)):
                        written += len(chunk)
                        if written > limit:
                            return [], bomb
                        out.write(chunk)
                total += written
                entries.append((safe_filename(_zip_name(info)), target))
            return entries, ""
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        return [], broken
    except NotImplementedError:  # a compression method zipfile does not know
        return [], _(
            "Archiwum „%(name)s” używa nieobsługiwanej metody kompresji. Przeniesiono je do "
            "kwarantanny; poproś nadawcę o zwykłe archiwum ZIP albo pliki osobno."
        )


def _entry_limit(info: zipfile.ZipInfo) -> int:
    return max(MAX_ZIP_RATIO * info.compress_size, ZIP_RATIO_FROM)


def _zip_name(info: zipfile.ZipInfo) -> str:
    """An entry's name; without the UTF-8 flag Polish Windows writes code page 852, not 437."""
    name = info.filename
    if not info.flag_bits & 0x800:
        with contextlib.suppress(UnicodeError):
            name = name.encode("cp437").decode("cp852")
    return name
