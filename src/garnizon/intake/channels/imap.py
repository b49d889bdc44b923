"""IMAP mailboxes: each message becomes one intake item (the `mail` step does the rest).

Configuration: `GARNIZON_IMAP_MAILBOXES`, a JSON list, one object per mailbox:

    {"name": "kwp", "unit": "KWP", "host": "poczta.lu.policja.gov.pl", "port": 993,
     "security": "ssl", "user": "kancelaria", "password_env": "KWP_IMAP_PASSWORD",
     "folder": "INBOX", "done_folder": "Przyjęte", "requested_by": "kancelaria_kwp"}

`security` is `ssl` (default, port 993), `starttls` (143) or `none` (only to
127.0.0.1/localhost); `ca_file` names a CA bundle for an internal CA. The
password comes from an environment variable (`password_env`) or a file
(`password_file`, an absolute path outside the checkout), never from the
setting itself.

One poll (`poll_mailbox`): SELECT the folder, read UIDVALIDITY, UID SEARCH ALL;
for every message the key is `imap:<name>:<uidvalidity>:<uid>`:

- an intake item with that key exists → the message was taken before (the
  worker died before moving it): only move it;
- a message larger than GARNIZON_MAX_UPLOAD_MB (by RFC822.SIZE) is refused: it is
  not fetched (only its header, kept in the quarantine folder on disk), an intake
  item records it in state `quarantined` with the reason (size, limit, sender,
  subject) and the audit trail has it; then the message is moved to the
  mailbox's quarantine folder (`quarantine_folder`, default "Kwarantanna"), so it
  is kept and no later poll meets it again;
- otherwise fetch it in 4 MB pieces (`BODY.PEEK[]<offset.length>`, the \\Seen
  flag is left alone) into a temporary file, `intake_add_file(channel=email,
  source_key=key)`, and only after that has committed move the message to the
  done folder (UID MOVE when the server has MOVE; else COPY, \\Deleted, UID
  EXPUNGE).

Only one process on any machine polls a mailbox at a time: a poll takes the
mailbox's lease (`common/leases.py`, named `imap:<mailbox>`) with one
compare-and-set UPDATE (free, or its lease
older than GARNIZON_IMAP_LEASE_SECONDS, 10 minutes by default: its poller died),
renews the lease before every message, stops when it finds the lease taken over,
and clears it at the end. A mailbox another process holds is skipped
(`result.busy`).

A worker killed before `intake_add_file` commits leaves the message in the
folder: it is fetched again. Killed after it, before the move: the next poll
finds the key and only moves. If the server resets UIDVALIDITY (a rebuilt
mailbox renumbers every message), a message already taken from this mailbox is
recognised by the SHA-256 of its whole content (the item's blob) and only
moved. Message-ID is not used for that: a resent or list copy of a message can
carry the same Message-ID with other content.

This module is imported by the settings (to validate the configuration), so it
imports models only inside functions.
"""

from __future__ import annotations

import base64
import contextlib
import email.parser
import email.policy
import hashlib
import imaplib
import json
import logging
import os
import re
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from garnizon.common.leases import Lease
    from garnizon.intake.models import IntakeItem

log = logging.getLogger(__name__)

SECURITY = ("ssl", "starttls", "none")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
DEFAULT_DONE_FOLDER = "Przyjęte"
DEFAULT_QUARANTINE_FOLDER = "Kwarantanna"
# Of a refused (too large) message only this much of its header is read.
MAX_HEADER = 256 * 1024
# A poll that has not renewed its lease for this long is taken to be dead.
DEFAULT_LEASE_SECONDS = 600
# A message is fetched in pieces of this size (BODY.PEEK[]<offset.length>).
FETCH_CHUNK = 4 * 1024 * 1024
_REQUIRED = ("name", "unit", "host", "user", "requested_by")
_OPTIONAL = (
    "port",
    "security",
    "password_env",
    "password_file",
    "folder",
    "done_folder",
    "quarantine_folder",
    "ca_file",
    "timeout",
)
_CHECKOUT = Path(__file__).resolve().parents[4]  # the repository root in a checkout


@dataclass(frozen=True)
class MailboxConfig:
    name: str
    unit: str
    host: str
    user: str
    requested_by: str
    port: int = 993
    security: str = "ssl"
    password_env: str = ""
    password_file: str = ""
    folder: str = "INBOX"
    done_folder: str = DEFAULT_DONE_FOLDER
    quarantine_folder: str = DEFAULT_QUARANTINE_FOLDER
    ca_file: str = ""
    timeout: float = 60.0

    def password(self) -> str:
        """The password, read when needed (never kept in the settings)."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if not value:
                raise MailboxError(
                    _("Brak hasła do skrzynki „%(name)s”: zmienna środowiska %(env)s jest pusta.")
                    % {"name": self.name, "env": self.password_env}
                )
            return value
        try:
            return Path(self.password_file).read_text(encoding="utf-8").strip("\r\n")
        except OSError as error:
            raise MailboxError(
                _("Nie można odczytać hasła do skrzynki „%(name)s” z pliku %(path)s: %(error)s.")
                % {"name": self.name, "path": self.password_file, "error": error.strerror}
            ) from error


class MailboxError(Exception):
    """A mailbox could not be read; `message` is for a person (Polish)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_mailboxes(raw: str) -> list[MailboxConfig]:
    """`GARNIZON_IMAP_MAILBOXES` read and checked; ImproperlyConfigured names what is wrong.

    Called while the settings load, so the messages are plain (no translation yet)."""
    if not raw.strip():
        return []
    prefix = "GARNIZON_IMAP_MAILBOXES: "
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ImproperlyConfigured(f"{prefix}to nie jest poprawny JSON ({error}).") from error
    if not isinstance(data, list):
        raise ImproperlyConfigured(f"{prefix}oczekiwano listy skrzynek ([{{...}}, ...]).")
    mailboxes: list[MailboxConfig] = []
    for number, entry in enumerate(data, start=1):
        where = f"{prefix}skrzynka nr {number}: "
        if not isinstance(entry, dict):
            raise ImproperlyConfigured(f"{where}oczekiwano obiektu {{...}}.")
        unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
        if unknown:
            raise ImproperlyConfigured(f"{where}nieznane pola: {', '.join(unknown)}.")
        for key in _REQUIRED:
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ImproperlyConfigured(f"{where}brak pola „{key}”.")
        security = entry.get("security", "ssl")
        if security not in SECURITY:
            raise ImproperlyConfigured(
                f"{where}„security” musi mieć wartość ssl, starttls albo none."
            )
        host = entry["host"].strip()
        if security == "none" and host not in LOCAL_HOSTS:
            raise ImproperlyConfigured(
                f"{where}połączenie bez szyfrowania (security: none) wolno tylko z "
                "127.0.0.1 albo localhost; użyj ssl albo starttls."
            )
        port = entry.get("port", 993 if security == "ssl" else 143)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise ImproperlyConfigured(f"{where}„port” musi być liczbą od 1 do 65535.")
        password_env = entry.get("password_env", "")
        password_file = entry.get("password_file", "")
        if bool(password_env) == bool(password_file):
            raise ImproperlyConfigured(
                f"{where}podaj hasło przez „password_env” (nazwa zmiennej środowiska) albo "
                "„password_file” (ścieżka do pliku), dokładnie jedno z nich."
            )
        if password_file:
            path = Path(password_file)
            if not path.is_absolute():
                raise ImproperlyConfigured(f"{where}„password_file” musi być ścieżką bezwzględną.")
            if path.resolve().is_relative_to(_CHECKOUT) and (_CHECKOUT / "pyproject.toml").exists():
                raise ImproperlyConfigured(
                    f"{where}plik z hasłem nie może leżeć w katalogu z kodem ({_CHECKOUT})."
                )
        timeout = entry.get("timeout", 60)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise ImproperlyConfigured(f"{where}„timeout” musi być liczbą sekund większą od 0.")
        config = MailboxConfig(
            name=entry["name"].strip(),
            unit=entry["unit"].strip(),
            host=host,
            user=entry["user"],
            requested_by=entry["requested_by"].strip(),
            port=port,
            security=security,
            password_env=password_env,
            password_file=password_file,
            folder=entry.get("folder") or "INBOX",
            done_folder=entry.get("done_folder") or DEFAULT_DONE_FOLDER,
            quarantine_folder=entry.get("quarantine_folder") or DEFAULT_QUARANTINE_FOLDER,
            ca_file=entry.get("ca_file", ""),
            timeout=float(timeout),
        )
        if config.folder == config.done_folder:
            raise ImproperlyConfigured(
                f"{where}„done_folder” musi być innym folderem niż „folder”."
            )
        if config.quarantine_folder in (config.folder, config.done_folder):
            raise ImproperlyConfigured(
                f"{where}„quarantine_folder” musi być innym folderem niż „folder” i „done_folder”."
            )
        if any(m.name == config.name for m in mailboxes):
            raise ImproperlyConfigured(f"{where}nazwa „{config.name}” powtarza się.")
        mailboxes.append(config)
    return mailboxes


def configured_mailboxes() -> list[MailboxConfig]:
    from django.conf import settings

    return list(getattr(settings, "GARNIZON_IMAP_MAILBOXES", []))


# --- polling -----------------------------------------------------------------------------------


@dataclass(repr=False)
class PollResult:
    mailbox: str
    taken: list[IntakeItem] = field(default_factory=list)  # new items, one per message
    # Too large: not fetched, recorded as quarantined items, moved to the quarantine folder.
    refused: list[IntakeItem] = field(default_factory=list)
    moved_only: int = 0  # taken by an earlier poll that died before moving them
    failures: list[tuple[str, str]] = field(default_factory=list)  # (UID, reason)
    error: str = ""  # the mailbox could not be read at all (or the connection broke)
    busy: bool = False  # another process (on any machine) was polling it; skipped

    @property
    def ok(self) -> bool:
        return not self.error and not self.failures

    def __repr__(self) -> str:  # short, for the scheduler's record and logs
        return (
            f"PollResult({self.mailbox}: taken={len(self.taken)} refused={len(self.refused)} "
            f"moved_only={self.moved_only} failures={len(self.failures)} busy={self.busy} "
            f"error={self.error!r})"
        )


def poll_all(*, run_now: bool = False) -> list[PollResult]:
    """One poll of every configured mailbox; a broken one does not stop the others."""
    return [poll_mailbox(config, run_now=run_now) for config in configured_mailboxes()]


def poll_mailbox(
    config: MailboxConfig,
    *,
    run_now: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> PollResult:
    """Take every message of the mailbox's folder in once and move it to the done folder.

    Connection and login errors end the poll with `result.error` (Polish, also logged);
    nothing is written before the folder has been read. A mailbox another process (on this
    machine or another) is polling right now is skipped (`result.busy`).
    `progress(done, total)` is called after each message."""
    result = PollResult(mailbox=config.name)
    with _mailbox_lock(config) as lease:
        if lease is None:
            result.busy = True
            return result
        _poll_locked(config, result, run_now=run_now, progress=progress, lease=lease)
    return result


def _poll_locked(
    config: MailboxConfig,
    result: PollResult,
    *,
    run_now: bool,
    progress: Callable[[int, int], None] | None,
    lease: Lease | None = None,
) -> None:
    from garnizon.org.models import Person, Unit

    unit = Unit.objects.filter(symbol=config.unit).first()
    person = Person.objects.filter(username=config.requested_by, is_active=True).first()
    if unit is None or person is None:
        result.error = (
            _("Skrzynka „%(name)s”: nie ma jednostki %(unit)s.")
            if unit is None
            else _("Skrzynka „%(name)s”: nie ma aktywnego użytkownika %(user)s.")
        ) % {"name": config.name, "unit": config.unit, "user": config.requested_by}
        log.error("IMAP %s: %s", config.name, result.error)
        return
    try:
        conn = _connect(config)
    except MailboxError as error:
        result.error = error.message
        log.error("IMAP %s: %s", config.name, error.message)
        return
    try:
        _poll(_Session(conn, config, unit, person, result, run_now, lease), progress)
    except MailboxError as error:
        result.error = error.message
        log.error("IMAP %s: %s", config.name, error.message)
    except (imaplib.IMAP4.error, OSError) as error:
        result.error = _(
            "Połączenie ze skrzynką „%(name)s” przerwało się (%(error)s). Wiadomości "
            "przyjęte do tej chwili są zapisane; pozostałe zostaną pobrane przy następnym "
            "sprawdzeniu."
        ) % {"name": config.name, "error": _short(error)}
        log.error("IMAP %s: %s", config.name, result.error)
    finally:
        _logout(conn)


def lease_seconds() -> float:
    """How long a poll holds its mailbox without renewing (GARNIZON_IMAP_LEASE_SECONDS)."""
    from django.conf import settings

    return float(getattr(settings, "GARNIZON_IMAP_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))


def mailbox_lease(mailbox: str) -> Lease | None:
    """This poll's hold on a mailbox, on whatever machine it runs, or None when
    another poll holds it."""
    from garnizon.common.leases import Lease

    return Lease.acquire(f"imap:{mailbox}", lease_seconds())


@contextlib.contextmanager
def _mailbox_lock(config: MailboxConfig) -> Iterator[Lease | None]:
    """The mailbox's lease for the poll (released at the end), or None when another
    process, on this machine or another, holds it."""
    lease = mailbox_lease(config.name)
    if lease is None:
        log.info("IMAP %s: being polled by another process; skipped", config.name)
        yield None
        return
    try:
        yield lease
    finally:
        try:
            lease.release()
        except Exception:  # the database is gone: the lease expires by itself
            log.exception("IMAP %s: the mailbox's lease was not released", config.name)


def _connect(config: MailboxConfig) -> imaplib.IMAP4:
    """A logged-in connection, or MailboxError with the reason a clerk or admin can act on."""
    where = {"name": config.name, "host": config.host, "port": config.port, "user": config.user}
    password = config.password()
    context = None
    if config.security != "none":
        try:
            context = ssl.create_default_context(cafile=config.ca_file or None)
        except (OSError, ssl.SSLError) as error:
            raise MailboxError(
                _("Skrzynka „%(name)s”: nie można wczytać certyfikatów CA (%(error)s).")
                % {**where, "error": _short(error)}
            ) from error
    conn: imaplib.IMAP4 | None = None
    try:
        if config.security == "ssl":
            conn = imaplib.IMAP4_SSL(
                config.host, config.port, ssl_context=context, timeout=config.timeout
            )
        else:
            conn = imaplib.IMAP4(config.host, config.port, timeout=config.timeout)
            if config.security == "starttls":
                conn.starttls(ssl_context=context)
    except ssl.SSLError as error:
        _logout(conn)
        raise MailboxError(
            _(
                "Nie udało się nawiązać szyfrowanego połączenia ze skrzynką „%(name)s” "
                "(%(host)s:%(port)s): %(error)s. Sprawdź certyfikat serwera i ustawienie "
                "„security”."
            )
            % {**where, "error": _short(error)}
        ) from error
    except (OSError, imaplib.IMAP4.error) as error:
        _logout(conn)
        raise MailboxError(
            _(
                "Nie można połączyć się z serwerem poczty %(host)s:%(port)s (skrzynka "
                "„%(name)s”): %(error)s. Sprawdź adres serwera i połączenie sieciowe."
            )
            % {**where, "error": _short(error)}
        ) from error
    try:
        if (config.user + password).isascii():
            conn.login(config.user, password)
        else:  # LOGIN is ASCII only; SASL PLAIN carries UTF-8
            credentials = f"\0{config.user}\0{password}".encode()
            conn.authenticate("PLAIN", lambda _challenge: credentials)
    except (imaplib.IMAP4.error, OSError) as error:
        _logout(conn)
        raise MailboxError(
            _(
                "Serwer poczty odrzucił logowanie do skrzynki „%(name)s” (użytkownik %(user)s): "
                "%(error)s. Sprawdź nazwę użytkownika i hasło w ustawieniach skrzynki."
            )
            % {**where, "error": _short(error)}
        ) from error
    return conn


@dataclass
class _Session:
    """What one poll of one mailbox knows once the folder is selected."""

    conn: imaplib.IMAP4
    config: MailboxConfig
    unit: Any
    person: Any
    result: PollResult
    run_now: bool
    lease: Lease | None = None
    done_folder: str = ""
    quarantine_folder: str = ""  # created when the first message is refused
    capabilities: set[str] = field(default_factory=set)

    @property
    def prefix(self) -> str:
        return f"imap:{self.config.name}:"


def _poll(session: _Session, progress: Callable[[int, int], None] | None) -> None:
    from garnizon.intake.models import IntakeItem, IntakeState
    from garnizon.registry.models import Channel

    conn, config = session.conn, session.config
    typ, data = conn.select(quote(imap_utf7(config.folder)))
    if typ != "OK":
        raise MailboxError(
            _("W skrzynce „%(name)s” nie ma folderu „%(folder)s” (%(error)s).")
            % {"name": config.name, "folder": config.folder, "error": _text(data)}
        )
    uidvalidity = _uidvalidity(conn)
    session.capabilities = _capabilities(conn)
    session.done_folder = _ensure_folder(conn, config, config.done_folder)
    typ, data = conn.uid("SEARCH", "ALL")
    if typ != "OK":
        raise MailboxError(
            _("Skrzynka „%(name)s”: serwer nie podał listy wiadomości (%(error)s).")
            % {"name": config.name, "error": _text(data)}
        )
    uids = [uid.decode() for uid in (data[0] or b"").split()]
    flags = _flags(conn, uids)
    for done, uid in enumerate(uids, start=1):
        if session.lease is not None and not session.lease.renew():
            raise MailboxError(
                _(
                    "Sprawdzanie skrzynki „%(name)s” przerwano: przejął ją inny proces (ten "
                    "nie odnowił dzierżawy na czas). Wiadomości przyjęte do tej chwili są "
                    "zapisane; resztę pobierze tamten proces."
                )
                % {"name": config.name}
            )
        key = f"{session.prefix}{uidvalidity}:{uid}"
        earlier = (
            IntakeItem.objects.filter(channel=Channel.EMAIL, source_key=key)
            .values_list("state", "blob_sha256")
            .first()
        )
        if earlier is not None:
            refused = earlier == (IntakeState.QUARANTINED, "")  # too large, never fetched
            folder = _quarantine_folder(session) if refused else session.done_folder
            move_message(conn, uid, folder, session.capabilities, flags.get(uid, set()))
            session.result.moved_only += 1
        elif "\\Deleted" not in flags.get(uid, set()):  # else someone is deleting it
            _take(session, uid, key)
        if progress is not None:
            progress(done, len(uids))


def _take(session: _Session, uid: str, key: str) -> None:
    """One new message: fetched, into the intake, then (only then) moved."""
    from garnizon.common.errors import DomainError
    from garnizon.documents.blobstore import get_blob_store, max_upload_size
    from garnizon.intake.models import IntakeItem
    from garnizon.intake.services import intake_add_file
    from garnizon.registry.models import Channel

    conn, config = session.conn, session.config
    size = _size(conn, uid)
    if size is None:
        return  # expunged by someone else in the meantime
    if size > max_upload_size():
        _refuse(session, uid, key, size)
        return
    store = get_blob_store()
    store._makedirs(store.tmp_dir)
    with tempfile.NamedTemporaryFile(dir=store.tmp_dir, prefix="imap-", suffix=".eml") as handle:
        sha256 = _fetch(conn, uid, size, handle)
        if sha256 is None:
            return  # expunged by someone else in the meantime
        if IntakeItem.objects.filter(
            channel=Channel.EMAIL,
            parent__isnull=True,
            source_key__startswith=session.prefix,
            blob_sha256=sha256,
        ).exists():  # taken under another UIDVALIDITY (the server renumbered the mailbox)
            move_message(conn, uid, session.done_folder, session.capabilities, set())
            session.result.moved_only += 1
            return
        try:
            added = intake_add_file(
                path=handle.name,
                unit=session.unit,
                channel=Channel.EMAIL,
                requested_by=session.person,
                source=f"imap:{config.name}:{config.folder}:{uid}",
                filename=f"wiadomosc-{uid}.eml",
                run_now=session.run_now,
                source_key=key,
            )
        except DomainError as error:
            session.result.failures.append((uid, str(error.message)))
            return
    # Only now, with the item committed, does the message leave the folder.
    move_message(conn, uid, session.done_folder, session.capabilities, set())
    session.result.taken.append(added.item)


def _refuse(session: _Session, uid: str, key: str, size: int) -> None:
    """A message over the size limit: not fetched. Its header goes to the quarantine
    folder on disk, an intake item records it (`quarantined`, with the reason) and the
    audit trail too; then the message moves to the mailbox's quarantine folder."""
    from django.db import transaction
    from django.utils import timezone

    from garnizon.documents.blobstore import max_upload_size
    from garnizon.intake.models import IntakeItem, IntakeState, IntakeStepResult, StepStatus
    from garnizon.intake.pipeline import _audit_quarantine
    from garnizon.registry.models import Channel

    conn, config = session.conn, session.config
    header = _header(conn, uid)
    if header is None:
        return  # expunged by someone else in the meantime
    fields = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(header)
    folder = _quarantine_folder(session)
    reason = _(
        "Wiadomość ma %(size)s MB, więcej niż dopuszczalne %(limit)s MB, więc nie została "
        "pobrana. Zachowano ją w skrzynce „%(name)s”, w folderze „%(folder)s” (od: "
        "%(sender)s; temat: %(subject)s). Poproś nadawcę o przesłanie jej w częściach albo "
        "zapisz załączniki i przyjmij je poleceniem garnizon intake add."
    ) % {
        "size": f"{size / (1024 * 1024):.1f}".replace(".", ","),
        "limit": max_upload_size() // (1024 * 1024),
        "name": config.name,
        "folder": config.quarantine_folder,
        "sender": _header_value(fields, "From") or _("nieznany nadawca"),
        "subject": _header_value(fields, "Subject") or _("bez tematu"),
    }
    with transaction.atomic():
        item, created = IntakeItem.objects.get_or_create(
            channel=Channel.EMAIL,
            source_key=key[:200],
            defaults={
                "unit": session.unit,
                "source": f"imap:{config.name}:{config.folder}:{uid}"[:1000],
                "original_filename": f"wiadomosc-{uid}.eml",
                "mime_type": "message/rfc822",
                "size": size,
                "requested_by": session.person,
                "state": IntakeState.QUARANTINED,
                "error_message": reason,
                "finished_at": timezone.now(),
            },
        )
        if created:
            item.quarantine_path = str(_keep_header(item, header))
            item.save(update_fields=["quarantine_path"])
            IntakeStepResult.objects.create(
                item=item, step="mail", outcome=StepStatus.FAILED, message=reason
            )
    if created:
        _audit_quarantine(item, reason)
    log.warning("IMAP %s: UID %s refused: %s bytes over the limit", config.name, uid, size)
    # Only now, with the item committed, does the message leave the folder.
    move_message(conn, uid, folder, session.capabilities, set())
    session.result.refused.append(item)


def _header(conn: imaplib.IMAP4, uid: str) -> bytes | None:
    """The message's header (at most MAX_HEADER bytes; \\Seen is not set)."""
    typ, data = conn.uid("FETCH", uid, f"(BODY.PEEK[HEADER]<0.{MAX_HEADER}>)")
    if typ != "OK":
        return None
    return next(
        (p[1] for p in data or [] if isinstance(p, tuple) and b"BODY[HEADER]" in p[0]), None
    )


def _header_value(fields: Any, name: str) -> str:
    try:
        value = fields.get(name)
    except Exception:  # a malformed header: left out of the reason
        return ""
    return " ".join(str(value or "").split())[:200]


def _keep_header(item: IntakeItem, header: bytes) -> Path:
    """The refused message's header in the quarantine folder on disk (for the administrator)."""
    from django.utils import timezone

    from garnizon.documents.blobstore import DIR_MODE, FILE_MODE
    from garnizon.intake.steps import quarantine_dir

    folder = quarantine_dir() / timezone.localdate().isoformat()
    folder.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    target = folder / f"{item.pk}-{item.original_filename}-naglowek.txt"
    tmp = target.with_name(target.name + ".part")
    with tmp.open("wb") as out:
        out.write(header)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, target)
    return target


def _quarantine_folder(session: _Session) -> str:
    """The mailbox's quarantine folder (created when missing), quoted for commands."""
    if not session.quarantine_folder:
        session.quarantine_folder = _ensure_folder(
            session.conn, session.config, session.config.quarantine_folder
        )
    return session.quarantine_folder


def _size(conn: imaplib.IMAP4, uid: str) -> int | None:
    typ, data = conn.uid("FETCH", uid, "(RFC822.SIZE)")
    for line in data or []:
        raw = line[0] if isinstance(line, tuple) else line
        match = re.search(rb"RFC822\.SIZE (\d+)", raw) if isinstance(raw, bytes) else None
        if typ == "OK" and match:
            return int(match.group(1))
    return None


def _fetch(conn: imaplib.IMAP4, uid: str, size: int, out: IO[bytes]) -> str | None:
    """The message into `out` in FETCH_CHUNK pieces (memory stays bounded, \\Seen is not
    set); its SHA-256, or None when it disappeared meanwhile."""
    digest = hashlib.sha256()
    offset = 0
    while offset < size:
        typ, data = conn.uid("FETCH", uid, f"(BODY.PEEK[]<{offset}.{FETCH_CHUNK}>)")
        chunk = next(
            (p[1] for p in data or [] if isinstance(p, tuple) and b"BODY[]" in p[0]),
            None,
        )
        if typ != "OK" or chunk is None:
            return None
        out.write(chunk)
        digest.update(chunk)
        offset += len(chunk)
        if len(chunk) < FETCH_CHUNK:
            break
    out.flush()
    return digest.hexdigest()


def move_message(
    conn: imaplib.IMAP4, uid: str, folder: str, capabilities: set[str], flags: set[str] | None
) -> None:
    """The message to the done folder: UID MOVE, or COPY + \\Deleted + UID EXPUNGE.

    A message already flagged \\Deleted was copied by a poll that died before the
    expunge: it is not copied a second time."""
    if "MOVE" in capabilities:
        typ, data = conn.uid("MOVE", uid, folder)
        _check(typ, data, "MOVE")
        return
    if "\\Deleted" not in (flags or set()):
        typ, data = conn.uid("COPY", uid, folder)
        _check(typ, data, "COPY")
        typ, data = conn.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
        _check(typ, data, "STORE")
    if "UIDPLUS" in capabilities:
        typ, data = conn.uid("EXPUNGE", uid)
    else:  # removes every message flagged \Deleted in the folder, as any mail client would
        typ, data = conn.expunge()
    _check(typ, data, "EXPUNGE")


def _check(typ: str, data: Any, command: str) -> None:
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{command}: {_text(data)}")


def _uidvalidity(conn: imaplib.IMAP4) -> str:
    _typ, data = conn.response("UIDVALIDITY")
    value = (data or [b""])[0] or b""
    value = value.decode() if isinstance(value, bytes) else str(value)
    if not value.isdigit():
        raise MailboxError(_("Serwer poczty nie podał UIDVALIDITY folderu."))
    return value


def _capabilities(conn: imaplib.IMAP4) -> set[str]:
    typ, data = conn.capability()  # after login: servers announce more than before
    if typ != "OK":
        return set(conn.capabilities)
    return {cap.upper() for cap in b" ".join(d for d in data if d).decode().split()}


def _ensure_folder(conn: imaplib.IMAP4, config: MailboxConfig, folder: str) -> str:
    """`folder` of the mailbox (created when missing), quoted for commands."""
    name = quote(imap_utf7(folder))
    typ, data = conn.list('""', name)
    if typ == "OK" and any(item for item in data if item):
        return name
    typ, data = conn.create(name)
    if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(d for d in data if d):
        raise MailboxError(
            _("Nie można utworzyć folderu „%(folder)s” w skrzynce „%(name)s” (%(error)s).")
            % {"folder": folder, "name": config.name, "error": _text(data)}
        )
    return name


_FLAGS = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)|FLAGS \(([^)]*)\) UID (\d+)")


def _flags(conn: imaplib.IMAP4, uids: list[str]) -> dict[str, set[str]]:
    if not uids:
        return {}
    _typ, data = conn.uid("FETCH", "1:*", "(FLAGS)")
    found: dict[str, set[str]] = {}
    for line in data or []:
        raw = line[0] if isinstance(line, tuple) else line
        if not isinstance(raw, bytes):
            continue
        match = _FLAGS.search(raw)
        if match:
            uid = (match.group(1) or match.group(4)).decode()
            flags = (match.group(2) if match.group(1) else match.group(3)).decode()
            found[uid] = set(flags.split())
    return found


def imap_utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3): "Przyjęte" → "Przyj&ARk-te"."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            encoded = base64.b64encode("".join(pending).encode("utf-16-be")).decode()
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _logout(conn: imaplib.IMAP4 | None) -> None:
    if conn is None:
        return
    try:
        conn.logout()
    except Exception:  # the connection is already gone
        with contextlib.suppress(Exception):
            conn.shutdown()


def _short(error: BaseException) -> str:
    if isinstance(error, socket.timeout | TimeoutError):
        return _("przekroczono czas oczekiwania")
    if isinstance(error, ConnectionRefusedError):
        return _("serwer odmówił połączenia")
    text = str(error.args[0] if error.args else error)
    if isinstance(error.args[0] if error.args else None, bytes):
        text = error.args[0].decode("utf-8", "replace")
    return text.strip().rstrip(".")[:300] or error.__class__.__name__


def _text(data: Any) -> str:
    parts = []
    for item in data or []:
        if isinstance(item, bytes):
            parts.append(item.decode("utf-8", "replace"))
        elif isinstance(item, tuple):
            parts.append(item[0].decode("utf-8", "replace"))
    return " ".join(parts).strip()[:300]
