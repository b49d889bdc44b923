"""The intake steps and their contract.

A step is small and does one thing:

- `name`: a short identifier, recorded with every result;
- `able_to_run(ctx) -> bool`: whether there is anything to do (a step whose
  work is already done, e.g. after a crash or a retry, answers False and is
  recorded as skipped);
- `run(ctx) -> StepOutcome`: does the work; `StepOutcome.stop(...)` ends the
  chain with a reason and the item's final state (failed or quarantined). A
  `DomainError` raised by a service is a stop in state `failed` with its message;
- `cleanup(ctx)`: always called after the chain for every step that ran, in
  reverse order (temporary files and the like).

Every step must be safe to run twice: it checks what already exists before
creating anything.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import logging
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from garnizon.documents.blobstore import (
    CHUNK,
    FileSystemBlobStore,
    VerifyingReader,
    get_blob_store,
    max_upload_size,
)
from garnizon.documents.metadata import EXTENSIONS, OCTET_STREAM, detect_mime
from garnizon.documents.models import Document, DocumentKind
from garnizon.intake.antivirus import Antivirus
from garnizon.intake.mail import Mail
from garnizon.intake.models import IntakeItem, IntakeMode, IntakeState, StepStatus
from garnizon.intake.thumbnails import Thumbnail
from garnizon.search.steps import Index

PDF = "application/pdf"
IMAGES = {"image/png", "image/jpeg", "image/gif", "image/tiff"}
SUPPORTED = {
    PDF,
    *IMAGES,
    "application/xml",
    "text/plain",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    # An e-mail message (.eml) taken from an IMAP mailbox or a mailbox export.
    "message/rfc822",
    # Road-aggression recordings from the portal: kept as they are (no OCR, no thumbnail).
    "video/mp4",
    "video/x-msvideo",
}
# A PDF reader looks for the end-of-file marker in the last kilobyte.
PDF_TAIL = 1024
# Largest image (in pixels) decoded anywhere later (OCR, thumbnails); Pillow's default.
MAX_IMAGE_PIXELS = 89_478_485
MAX_IMAGE_FRAMES = 1000

log = logging.getLogger(__name__)


@dataclass
class IntakeContext:
    item: IntakeItem
    store: FileSystemBlobStore = field(default_factory=get_blob_store)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def blob_path(self) -> Path:
        return self.store.path(self.item.blob_sha256)


@dataclass(frozen=True)
class StepOutcome:
    status: str
    message: str = ""
    final_state: str | None = None  # set when the step stops the chain

    @property
    def stops(self) -> bool:
        return self.final_state is not None

    @classmethod
    def ok(cls, message: str = "") -> StepOutcome:
        return cls(StepStatus.OK, message)

    @classmethod
    def stop(cls, message: str, *, state: str = IntakeState.FAILED) -> StepOutcome:
        return cls(StepStatus.FAILED, message, final_state=state)

    @classmethod
    def quarantine(cls, message: str) -> StepOutcome:
        return cls.stop(message, state=IntakeState.QUARANTINED)

    @classmethod
    def finish(cls, message: str) -> StepOutcome:
        """The step did its work and the item is finished (`done`); later steps do not run."""
        return cls(StepStatus.OK, message, final_state=IntakeState.DONE)

    @classmethod
    def wait(cls, message: str) -> StepOutcome:
        """The item waits for a clerk's decision (`awaiting_match`); later steps do not run."""
        return cls(StepStatus.OK, message, final_state=IntakeState.AWAITING_MATCH)


class Step(abc.ABC):
    name: str = ""

    def able_to_run(self, ctx: IntakeContext) -> bool:
        return True

    @abc.abstractmethod
    def run(self, ctx: IntakeContext) -> StepOutcome: ...

    def cleanup(self, ctx: IntakeContext) -> None:  # noqa: B027  (optional hook)
        pass


# --- preflight ---------------------------------------------------------------------------------


class Preflight(Step):
    """The file is what its content says, within limits, whole and readable."""

    name = "preflight"

    def run(self, ctx: IntakeContext) -> StepOutcome:
        item = ctx.item
        limit = max_upload_size()
        if item.size > limit:
            return StepOutcome.stop(
                _(
                    "Plik jest za duży (%(size)s MB; najwięcej %(limit)s MB). Podziel go na "
                    "mniejsze części albo przekaż administratorowi."
                )
                % {"size": _mb(item.size), "limit": _mb(limit)}
            )
        if item.size == 0:
            return StepOutcome.stop(
                _("Plik jest pusty (0 bajtów). Zeskanuj lub wyślij dokument ponownie.")
            )
        problem = ctx.store.check(item.blob_sha256)
        if problem is not None:
            return StepOutcome.stop(
                _("Oryginał pliku w magazynie jest %(problem)s. Zgłoś to administratorowi.")
                % {"problem": _("niedostępny") if problem == "missing" else _("uszkodzony")}
            )
        mime = detect_mime(ctx.blob_path)
        item.mime_type = mime
        item.save(update_fields=["mime_type"])
        if mime not in SUPPORTED:
            what = _("nieznanego rodzaju") if mime == OCTET_STREAM else mime
            return StepOutcome.quarantine(
                _(
                    "Plik zawiera dane %(what)s, których system nie przyjmuje; przeniesiono go do "
                    "kwarantanny. Poproś nadawcę o PDF albo obraz (PNG, JPEG, TIFF)."
                )
                % {"what": what}
            )
        if mime == PDF:
            outcome = _check_pdf(ctx.blob_path)
        elif mime in IMAGES:
            outcome = _check_image(ctx.blob_path)
        else:
            outcome = StepOutcome.ok()
        if outcome.stops:
            return outcome
        note = _("Rodzaj pliku: %(mime)s.") % {"mime": mime}
        if _extension_lies(item.original_filename, mime):
            note += " " + _(
                "Rozszerzenie nazwy nie odpowiada zawartości; przyjęto rodzaj z treści."
            )
        return StepOutcome.ok(" ".join(filter(None, [note, outcome.message])))


def _check_pdf(path: Path) -> StepOutcome:
    import pikepdf

    with path.open("rb") as handle:
        handle.seek(max(path.stat().st_size - PDF_TAIL, 0))
        tail = handle.read()
    if b"%%EOF" not in tail:
        return StepOutcome.quarantine(
            _(
                "PDF jest niekompletny (ucięty w trakcie przesyłania lub skanowania). "
                "Przeniesiono go do kwarantanny; poproś o ponowne przesłanie."
            )
        )
    try:
        with pikepdf.open(path) as pdf:
            pages = len(pdf.pages)
            repaired = bool(pdf.get_warnings())
            restricted = pdf.is_encrypted
    except pikepdf.PasswordError:
        return StepOutcome.stop(
            _("PDF jest zabezpieczony hasłem. Poproś nadawcę o wersję bez hasła.")
        )
    except pikepdf.PdfError:
        return StepOutcome.quarantine(
            _("PDF jest uszkodzony i nie daje się odczytać. Przeniesiono go do kwarantanny.")
        )
    if pages == 0:
        return StepOutcome.quarantine(_("PDF nie zawiera żadnej strony."))
    message = _("Stron: %(pages)s.") % {"pages": pages}
    if repaired:
        message += " " + _("Plik był lekko uszkodzony; odczytano go po naprawie.")
    if restricted:
        message += " " + _("PDF ma ograniczenia uprawnień (bez hasła do otwarcia).")
    return StepOutcome.ok(message)


def _check_image(path: Path) -> StepOutcome:
    from PIL import Image, UnidentifiedImageError

    # Open reads the header only; nothing is decoded here.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                frames = getattr(image, "n_frames", 1)
                sizes = []
                for index in range(min(frames, MAX_IMAGE_FRAMES)):
                    image.seek(index)
                    sizes.append(image.size)
            if frames <= MAX_IMAGE_FRAMES and all(w * h <= MAX_IMAGE_PIXELS for w, h in sizes):
                # Walks the chunks and their checksums (PNG) without decoding the pixels.
                with Image.open(path) as image:
                    image.verify()
    except Image.DecompressionBombError:
        return _bomb()
    except (UnidentifiedImageError, OSError, ValueError, EOFError):
        return StepOutcome.quarantine(
            _("Obraz jest uszkodzony i nie daje się odczytać. Przeniesiono go do kwarantanny.")
        )
    if frames > MAX_IMAGE_FRAMES or any(w * h > MAX_IMAGE_PIXELS for w, h in sizes):
        return _bomb()
    width, height = sizes[0]
    return StepOutcome.ok(
        _("Obraz %(w)s×%(h)s px, stron: %(n)s.") % {"w": width, "h": height, "n": frames}
    )


def _bomb() -> StepOutcome:
    return StepOutcome.quarantine(
        _(
            "Obraz ma podejrzanie wielkie wymiary (możliwa „bomba dekompresyjna”). "
            "Przeniesiono go do kwarantanny; zgłoś to administratorowi."
        )
    )


def _extension_lies(filename: str, mime: str) -> bool:
    suffix = Path(filename).suffix.lower()
    expected = EXTENSIONS.get(mime)
    if not suffix or expected is None:
        return False
    aliases = {".jpg": {".jpg", ".jpeg"}, ".tif": {".tif", ".tiff"}}
    return suffix not in aliases.get(expected, {expected})


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


# --- barcodes and split ------------------------------------------------------------------------


def drop_blank_pages() -> bool:
    return bool(getattr(settings, "GARNIZON_INTAKE_DROP_BLANK_PAGES", True))


def _done_before(item: IntakeItem, step: str) -> bool:
    """Whether `step` already finished for the item in an earlier run (a retry or a match)."""
    return item.step_results.filter(step=step, outcome=StepStatus.OK).exists()


# Codes named in the step's message (all of them are in `item.barcodes`).
MAX_LISTED_CODES = 12


class Barcodes(Step):
    """Barcodes of every page (`intake/barcodes.py`) into `item.barcodes`.

    Skipped for files without pages (not PDF or image), for items that already have a
    document, and when an earlier run read them (a retry or a clerk's match). For an
    image, the first frame it decodes also gives the thumbnail picture
    (`ctx.notes["thumbnail"]`, used by the `thumbnail` step), so the picture is not
    decoded a second time.
    """

    name = "barcodes"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        item = ctx.item
        return (
            (item.mime_type == PDF or item.mime_type in IMAGES)
            and item.document_id is None
            and not _done_before(item, self.name)
        )

    def run(self, ctx: IntakeContext) -> StepOutcome:
        from garnizon.intake.barcodes import BarcodeError, is_separator, parse_label, read_pages

        item = ctx.item
        keep = _keep_thumbnail(ctx) if item.mime_type in IMAGES else None
        try:
            found_pages = read_pages(ctx.blob_path, item.mime_type, first_frame=keep)
        except BarcodeError as error:
            # Not fatal: without barcodes the scan is registered or waits for a clerk.
            item.barcodes = []
            item.blank_pages = []
            item.save(update_fields=["barcodes", "blank_pages"])
            return StepOutcome.ok(error.message)
        pages, codes = found_pages.pages, found_pages.codes
        item.barcodes = [code.as_json() for code in codes]
        item.blank_pages = found_pages.blank if drop_blank_pages() else []
        item.save(update_fields=["barcodes", "blank_pages"])
        blank = ""
        if item.blank_pages:
            blank = " " + _("Puste strony (zostaną pominięte): %(pages)s.") % {
                "pages": ", ".join(str(n) for n in item.blank_pages)
            }
        if not codes:
            return StepOutcome.ok(
                _("Stron: %(pages)s; nie znaleziono kodów kreskowych.") % {"pages": pages} + blank
            )
        found = []
        for code in codes:
            if is_separator(code.value):
                what = _("kartka rozdzielająca")
            elif parse_label(code.value) is not None:
                what = _("etykieta %(number)s") % {"number": code.value}
            else:
                what = _("kod %(value)s") % {"value": code.value[:60]}
            found.append(_("%(what)s (s. %(page)s)") % {"what": what, "page": code.page})
        listed = ", ".join(found[:MAX_LISTED_CODES])
        if len(found) > MAX_LISTED_CODES:
            listed += " " + _("i %(n)s innych") % {"n": len(found) - MAX_LISTED_CODES}
        return StepOutcome.ok(
            _("Stron: %(pages)s; odczytane kody: %(found)s.") % {"pages": pages, "found": listed}
            + blank
        )


def _keep_thumbnail(ctx: IntakeContext) -> Any:
    """A `read_codes` hook keeping the first frame's thumbnail picture in `ctx.notes`."""

    def keep(frame: Any, grey: Any) -> None:
        from garnizon.documents.thumbnails import thumbnail_of_frame

        try:
            picture = thumbnail_of_frame(frame, grey)
        except Exception:  # the thumbnail step renders it the usual way
            log.exception("intake item %s: thumbnail picture not made", ctx.item.pk)
            return
        if picture is not None:
            ctx.notes["thumbnail"] = picture

    return keep


class Split(Step):
    """A batch scan with separator sheets becomes one child item per letter.

    The pages between separator sheets go into a PDF of their own (images go
    through img2pdf first), which enters the intake as a child item
    (`source_key="split:<id>:<n>"`, so a rerun after a crash finds the children it
    already made instead of adding new ones). Separator pages and empty parts are
    dropped. The batch itself ends `done`, with the children named in its message;
    nothing is registered for it.
    """

    name = "split"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        from garnizon.intake.barcodes import separator_pages

        item = ctx.item
        return (
            (item.mime_type == PDF or item.mime_type in IMAGES)
            and item.document_id is None
            and bool(separator_pages(item.barcodes))
        )

    def run(self, ctx: IntakeContext) -> StepOutcome:
        import pikepdf

        from garnizon.intake.barcodes import image_to_pdf, separator_pages, split_ranges
        from garnizon.intake.services import dispatch, intake_add_file

        item = ctx.item
        separators = separator_pages(item.barcodes)
        ctx.store._makedirs(ctx.store.tmp_dir)
        workdir = Path(tempfile.mkdtemp(prefix="split-", dir=ctx.store.tmp_dir))
        ctx.notes["split_dir"] = workdir
        source = ctx.blob_path
        if item.mime_type in IMAGES:
            source = image_to_pdf(source, workdir / "obraz.pdf")
        stem = Path(item.original_filename).stem or _("skan")
        children: list[IntakeItem] = []
        with pikepdf.open(source) as pdf:
            blank = set(item.blank_pages)
            ranges = [
                kept
                for kept in (
                    [page for page in pages if page not in blank]
                    for pages in split_ranges(len(pdf.pages), separators)
                )
                if kept
            ]
            if not ranges:
                return StepOutcome.stop(
                    _(
                        "Skan zawiera same kartki rozdzielające (stron: %(pages)s), bez żadnego "
                        "pisma. Sprawdź, czy zeskanowano właściwy stos."
                    )
                    % {"pages": len(pdf.pages)}
                )
            for number, pages in enumerate(ranges, start=1):
                path = workdir / f"part-{number}.pdf"
                with pikepdf.new() as part:
                    for page in pages:
                        part.pages.append(pdf.pages[page - 1])
                    part.save(path, deterministic_id=True)
                result = intake_add_file(
                    path=path,
                    unit=item.unit,
                    channel=item.channel,
                    requested_by=item.requested_by,
                    source=f"split:{item.pk}",
                    filename=_("%(stem)s część %(n)s z %(total)s.pdf")
                    % {"stem": stem, "n": number, "total": len(ranges)},
                    source_key=f"split:{item.pk}:{number}",
                    mode=item.mode,
                    parent=item,
                    incoming_item=item.incoming_item,
                )
                if not result.created and result.item.state == IntakeState.RECEIVED:
                    # Made before a crash but perhaps never queued: queue it again (the
                    # claim makes a second task for it a no-op).
                    dispatch(result.item)
                children.append(result.item)
        return StepOutcome.finish(
            _("Podzielono na %(n)s części (kartki rozdzielające na stronach: %(pages)s): %(ids)s.")
            % {
                "n": len(children),
                "pages": ", ".join(str(p) for p in sorted(separators)),
                "ids": ", ".join(f"#{child.pk}" for child in children),
            }
        )

    def cleanup(self, ctx: IntakeContext) -> None:
        workdir = ctx.notes.pop("split_dir", None)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


# --- ocr ---------------------------------------------------------------------------------------


class Ocr(Step):
    """Polish text of a scan (`intake/ocr.py`): images become a PDF, pages without text are read.

    The result (a PDF in a temporary folder and the text) is kept in `ctx.notes["ocr"]` for
    `attach`; the original stays the item's blob. Skipped when the item already has a document.
    """

    name = "ocr"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        from garnizon.intake.ocr import needs_ocr

        return ctx.item.document_id is None and needs_ocr(ctx.item.mime_type)

    def run(self, ctx: IntakeContext) -> StepOutcome:
        from garnizon.intake.ocr import OcrError, ocr_file

        ctx.store._makedirs(ctx.store.tmp_dir)
        workdir = Path(tempfile.mkdtemp(prefix="ocr-", dir=ctx.store.tmp_dir))
        ctx.notes["ocr_dir"] = workdir
        try:
            result = ocr_file(
                ctx.blob_path, ctx.item.mime_type, workdir, drop_pages=ctx.item.blank_pages
            )
        except OcrError as error:
            return StepOutcome.stop(error.message)
        ctx.notes["ocr"] = result
        numbers = {
            "pages": result.pages,
            "ocr": result.ocr_pages,
            "s": f"{result.seconds:.1f}".replace(".", ","),
        }
        if result.ocr_pages and result.pdf is not None and ctx.item.blank_pages:
            return StepOutcome.ok(
                _(
                    "Stron: %(pages)s, rozpoznanych przez OCR: %(ocr)s; pominięto puste strony: "
                    "%(blank)s; czas: %(s)s s."
                )
                % {**numbers, "blank": ", ".join(str(n) for n in ctx.item.blank_pages)}
            )
        if result.ocr_pages:
            return StepOutcome.ok(
                _("Stron: %(pages)s, rozpoznanych przez OCR: %(ocr)s; czas: %(s)s s.") % numbers
            )
        return StepOutcome.ok(
            _(
                "Stron: %(pages)s; OCR niepotrzebny (PDF ma już tekst albo nie ma obrazów); "
                "czas: %(s)s s."
            )
            % numbers
        )

    def cleanup(self, ctx: IntakeContext) -> None:
        workdir = ctx.notes.pop("ocr_dir", None)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


# --- match -------------------------------------------------------------------------------------


class Match(Step):
    """Mode `match`: the scan goes to the register entry whose label it carries.

    In mode `register` too, a scan labelled with exactly one existing entry of its
    unit goes to that entry; any other label leaves it to be registered as new.

    A label of the item's unit that names an existing entry sets `item.incoming_item`
    (so `register` is skipped and `attach` attaches to it). Anything else (no label, a
    label of another unit, an unknown number, labels of several entries) stops the
    item in `awaiting_match` with a message for the clerk and `suggestions`: the
    unit's recent entries ranked by what the page text says about them
    (`selectors.suggest_entries`).
    """

    name = "match"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        from garnizon.intake.barcodes import labels_in

        item = ctx.item
        if item.incoming_item_id is not None:
            return False
        if item.mode == IntakeMode.MATCH:
            return True
        # Mode `register`: a scan labelled with an entry of its unit (a letter registered
        # by hand and scanned later) still goes to that entry instead of a new one.
        return any(label.unit_symbol == item.unit.symbol for label in labels_in(item.barcodes))

    def run(self, ctx: IntakeContext) -> StepOutcome:
        from garnizon.intake.barcodes import labels_in
        from garnizon.intake.selectors import suggest_entries
        from garnizon.registry.models import IncomingItem

        item = ctx.item
        labels = labels_in(item.barcodes)
        own = [label for label in labels if label.unit_symbol == item.unit.symbol]
        others = [label for label in labels if label.unit_symbol != item.unit.symbol]
        known = {
            entry.registration_number: entry
            for entry in IncomingItem.objects.filter(
                unit=item.unit, registration_number__in=[label.value for label in own]
            )
        }
        if item.mode == IntakeMode.REGISTER and len(known) != 1:
            return StepOutcome.ok(
                _(
                    "Etykiety na skanie (%(numbers)s) nie wskazują jednej przesyłki w rejestrze: "
                    "pismo zostanie zarejestrowane jako nowe."
                )
                % {"numbers": ", ".join(label.value for label in own)}
            )
        if len(known) == 1:
            entry = next(iter(known.values()))
            page = next(label.page for label in own if label.value in known)
            item.incoming_item = entry
            item.suggestions = []
            item.save(update_fields=["incoming_item", "suggestions"])
            return StepOutcome.ok(
                _("Etykieta %(number)s (s. %(page)s): skan trafi do tej przesyłki.")
                % {"number": entry.registration_number, "page": page}
            )
        ocr = ctx.notes.get("ocr")
        item.suggestions = suggest_entries(
            unit_id=item.unit_id,
            text=ocr.text if ocr is not None else "",
            labelled=[entry.pk for entry in known.values()],
        )
        item.save(update_fields=["suggestions"])
        if len(known) > 1:
            why = _(
                "Na skanie są etykiety kilku przesyłek (%(numbers)s). Wskaż tę, do której "
                "należy skan."
            ) % {"numbers": ", ".join(sorted(known))}
        elif own:
            why = _(
                "Etykieta %(number)s nie odpowiada żadnej przesyłce w rejestrze jednostki "
                "%(unit)s. Sprawdź numer na etykiecie i wskaż przesyłkę."
            ) % {"number": own[0].value, "unit": item.unit.symbol}
        elif others:
            why = _(
                "Etykieta %(number)s należy do innej jednostki (%(other)s), a skan przyjęto w "
                "jednostce %(unit)s. Wskaż przesyłkę tej jednostki, zarejestruj pismo jako "
                "nowe albo przekaż je jednostce %(other)s."
            ) % {
                "number": others[0].value,
                "other": others[0].unit_symbol,
                "unit": item.unit.symbol,
            }
        else:
            why = _(
                "Na skanie nie odczytano etykiety z numerem przesyłki. Wskaż przesyłkę "
                "(podpowiedzi poniżej) albo zarejestruj pismo jako nowe."
            )
        hint = (
            _("Podpowiedzi: %(n)s.") % {"n": len(item.suggestions)}
            if item.suggestions
            else _("Brak podpowiedzi.")
        )
        return StepOutcome.wait(f"{why} {hint}")


# --- register ----------------------------------------------------------------------------------


class Register(Step):
    """An incoming item in the unit's register (once: the intake item's token replays it)."""

    name = "register"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        return ctx.item.incoming_item_id is None

    def run(self, ctx: IntakeContext) -> StepOutcome:
        from garnizon.registry.services import incoming_item_register

        item = ctx.item
        incoming = incoming_item_register(
            actor=item.requested_by,
            unit=item.unit,
            subject=subject_from_filename(item.original_filename),
            channel=item.channel,
            # A crash after the register but before the link is saved replays the same entry.
            client_token=f"intake:{item.pk}",
        )
        item.incoming_item = incoming
        item.save(update_fields=["incoming_item"])
        return StepOutcome.ok(
            _("Zarejestrowano przesyłkę %(number)s.") % {"number": incoming.registration_number}
        )


def subject_from_filename(filename: str) -> str:
    stem = Path(filename).stem if "." in filename else filename
    stem = " ".join(stem.replace("_", " ").split())
    return (stem or _("Przesyłka przyjęta elektronicznie"))[:500]


# --- attach ------------------------------------------------------------------------------------


class Attach(Step):
    """The original as a document on the incoming item (once)."""

    name = "attach"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        return ctx.item.document_id is None and ctx.item.incoming_item_id is not None

    def run(self, ctx: IntakeContext) -> StepOutcome:
        from garnizon.documents.services import document_add

        item = ctx.item
        ocr = ctx.notes.get("ocr")
        filename, shas = item.original_filename, {item.blob_sha256}
        if ocr is not None and ocr.pdf is not None:
            filename = f"{Path(filename).stem or 'skan'}.pdf"
            shas.add(_sha256(ocr.pdf))
        document = (
            Document.objects.filter(
                incoming_item_id=item.incoming_item_id,
                versions__number=1,
                versions__blob_sha256__in=shas,
            )
            .order_by("id")
            .first()
        )
        if document is None:
            kind = (
                DocumentKind.SCAN
                if item.mime_type == PDF or item.mime_type in IMAGES
                else (DocumentKind.ATTACHMENT)
            )
            if ocr is not None and ocr.pdf is not None:
                reader = _PlainReader(ocr.pdf.open("rb"), filename)
            else:
                reader = _NamedReader(ctx.store.open(item.blob_sha256), filename)
            try:
                # The document (with its text) and the item's link commit together: a worker
                # killed half-way leaves either all of them or none, so a retry never
                # adds a second document (OCR output is not byte-identical between runs,
                # so the hash lookup above cannot be relied on for the OCRed PDF).
                with transaction.atomic():
                    document = document_add(
                        actor=item.requested_by,
                        file=reader,
                        title=subject_from_filename(item.original_filename),
                        kind=kind,
                        incoming_item=item.incoming_item,
                        text=ocr.text if ocr is not None else _text_of(ctx),
                        queue_thumbnail=False,  # the `thumbnail` step makes it
                    )
                    item.document = document
                    item.save(update_fields=["document"])
            finally:
                reader.close()
        else:
            item.document = document
            item.save(update_fields=["document"])
        return StepOutcome.ok(
            _("Dołączono dokument %(identifier)s.") % {"identifier": document.identifier}
        )


def _text_of(ctx: IntakeContext) -> str:
    """The text of a file that needs no OCR (plain text, XML, DOCX, ODT), for search."""
    from garnizon.documents.text import extract_text

    return extract_text(ctx.blob_path, ctx.item.mime_type)


class _NamedReader:
    """A blob reader with the file's name, read without seeking (the hash is checked at the end)."""

    def __init__(self, reader: VerifyingReader, name: str) -> None:
        self._reader = reader
        self.name = name

    def read(self, size: int = CHUNK) -> bytes:
        return self._reader.read(size)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._reader.close()


class _PlainReader(_NamedReader):
    """A local file (the OCRed PDF) read the same way."""

    def __init__(self, handle, name: str) -> None:  # type: ignore[no-untyped-def]
        self._reader = handle
        self.name = name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


STEPS: list[Step] = [
    Preflight(),
    Antivirus(),
    Mail(),
    Barcodes(),
    Split(),
    Ocr(),
    Match(),
    Register(),
    Attach(),
    Thumbnail(),
    Index(),
]


def quarantine_dir() -> Path:
    return Path(settings.GARNIZON_QUARANTINE_DIR)
