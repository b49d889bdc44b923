"""Antivirus through clamd (ClamAV's daemon) and the intake step that uses it.

The client speaks clamd's own socket protocol (no extra library): `zPING`,
`zVERSION` and `zINSTREAM`, each a command ended by a NUL byte on a new
connection; INSTREAM then sends the file in chunks, each prefixed by its length
as a 4-byte big-endian integer, and a zero-length chunk at the end. Replies end
with NUL: `stream: OK`, `stream: <Signature> FOUND`, or `... ERROR` (e.g.
`INSTREAM size limit exceeded. ERROR` when the file is over clamd's
`StreamMaxLength`; clamd then closes the connection while we are still sending).

`GARNIZON_CLAMD` says where clamd listens: `unix:/run/clamav/clamd.ctl` or
`tcp:127.0.0.1:3310`; empty means scanning is off (recorded on every item).
A file that could not be scanned is never passed through: the item fails and
can be retried once clamd works again.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from garnizon.intake.steps import IntakeContext, StepOutcome

# Seconds to connect, and to wait for any single reply or send (a scan of a large
# archive can take a while; clamd's own limit, MaxScanTime, is 120 s by default).
CONNECT_TIMEOUT = 5.0
SCAN_TIMEOUT = 180.0
# Bytes per INSTREAM chunk (clamd's StreamMaxLength counts the sum, not the chunk).
CHUNK = 256 * 1024
REPLY_LIMIT = 64 * 1024


class ClamdError(Exception):
    """clamd could not scan the file; `kind` is unreachable, timeout, size_limit or error."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


class ClamdConfigError(ValueError):
    """`GARNIZON_CLAMD` is not `unix:PATH` or `tcp:HOST:PORT`."""


@dataclass(frozen=True)
class ClamdAddress:
    family: str  # "unix" or "tcp"
    path: str = ""
    host: str = ""
    port: int = 0

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.family == "unix" else f"tcp:{self.host}:{self.port}"


@dataclass(frozen=True)
class ScanResult:
    signature: str | None  # None when the file is clean

    @property
    def clean(self) -> bool:
        return self.signature is None


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def parse_address(value: str) -> ClamdAddress | None:
    """`unix:/path` or `tcp:host:port` (a bare `/path` is a unix socket); "" → None."""
    value = (value or "").strip()
    if not value:
        return None
    if value.startswith("/"):
        value = "unix:" + value
    scheme, _sep, rest = value.partition(":")
    if scheme == "unix" and rest:
        return ClamdAddress("unix", path=rest)
    if scheme == "tcp":
        host, _sep, port = rest.rpartition(":")
        host = host.strip("[]")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return ClamdAddress("tcp", host=host, port=int(port))
    raise ClamdConfigError(f"GARNIZON_CLAMD={value!r}: expected unix:/path or tcp:host:port")


def parse_reply(reply: bytes | str) -> ScanResult:
    """The result of one INSTREAM reply; `ClamdError` for anything but OK and FOUND."""
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    text = reply.strip("\x00\r\n ")
    if text.endswith("ERROR"):
        if "size limit exceeded" in text:
            raise ClamdError("size_limit", text)
        raise ClamdError("error", text)
    # "stream: ..." (or "1: stream: ..." in a session); the name may contain ": ".
    _prefix, sep, result = text.partition("stream: ")
    if sep and result == "OK":
        return ScanResult(None)
    if sep and result.endswith(" FOUND") and len(result) > len(" FOUND"):
        return ScanResult(result[: -len(" FOUND")].strip())
    raise ClamdError("error", f"unexpected reply: {text[:200]!r}")


class ClamdClient:
    """One clamd; every call opens its own connection (clamd's recommended way)."""

    def __init__(
        self,
        address: ClamdAddress,
        *,
        connect_timeout: float | None = None,
        timeout: float | None = None,
    ) -> None:
        self.address = address
        self.connect_timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        self.timeout = SCAN_TIMEOUT if timeout is None else timeout

    def ping(self) -> bool:
        """True when clamd answers PONG."""
        return self._command(b"PING") == "PONG"

    def version(self) -> str:
        """The engine and signature version, e.g. `ClamAV 1.4.6/27834/Tue Nov 25 2026`."""
        return self._command(b"VERSION")

    def instream(self, stream: Readable, *, chunk_size: int = CHUNK) -> ScanResult:
        """Scan what `stream.read()` returns; `ClamdError` when it could not be scanned.

        Exceptions of the stream itself (e.g. a blob found corrupted) pass through.
        """
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\x00")
                while chunk := stream.read(chunk_size):
                    sock.sendall(struct.pack(">I", len(chunk)) + chunk)
                sock.sendall(struct.pack(">I", 0))
            except TimeoutError as error:
                raise ClamdError("timeout", "sending") from error
            except OSError as error:
                # clamd stops reading (and says why) when the stream is over its limit.
                reply = self._read_reply(sock, quiet=True)
                if reply:
                    return parse_reply(reply)
                raise ClamdError("unreachable", str(error)) from error
            return parse_reply(self._read_reply(sock))

    def _command(self, command: bytes) -> str:
        with self._connect() as sock:
            try:
                sock.sendall(b"z" + command + b"\x00")
            except TimeoutError as error:
                raise ClamdError("timeout", command.decode()) from error
            except OSError as error:
                raise ClamdError("unreachable", str(error)) from error
            return self._read_reply(sock).decode("utf-8", "replace").strip("\x00\r\n ")

    def _connect(self) -> socket.socket:
        if self.address.family == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = self.address.path
        else:
            try:
                info = socket.getaddrinfo(
                    self.address.host, self.address.port, type=socket.SOCK_STREAM
                )
            except OSError as error:  # the host name does not resolve
                raise ClamdError("unreachable", f"{self.address}: {error}") from error
            family, _type, _proto, _name, target = info[0]
            sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(self.connect_timeout)
        try:
            sock.connect(target)
        except TimeoutError as error:
            sock.close()
            raise ClamdError("timeout", f"connect {self.address}") from error
        except OSError as error:
            sock.close()
            raise ClamdError("unreachable", f"{self.address}: {error.strerror or error}") from error
        sock.settimeout(self.timeout)
        return sock

    def _read_reply(self, sock: socket.socket, *, quiet: bool = False) -> bytes:
        reply = b""
        try:
            while not reply.endswith(b"\x00") and len(reply) < REPLY_LIMIT:
                data = sock.recv(4096)
                if not data:
                    break
                reply += data
        except TimeoutError as error:
            if quiet:
                return reply
            raise ClamdError("timeout", "waiting for the reply") from error
        except OSError as error:
            if quiet:
                return reply
            raise ClamdError("unreachable", str(error)) from error
        if not reply and not quiet:
            raise ClamdError("unreachable", "connection closed without a reply")
        return reply


def client_from_settings() -> ClamdClient | None:
    """The configured clamd, or None when `GARNIZON_CLAMD` is empty."""
    address = parse_address(getattr(settings, "GARNIZON_CLAMD", ""))
    return ClamdClient(address) if address is not None else None


# --- the intake step ---------------------------------------------------------------------------


class Antivirus:
    """The original streamed to clamd: clean → ok, a signature → quarantine, no answer → failed.

    Parts of an item (e-mail attachments, split scans) are items of their own and are
    scanned the same way. Scanning again on a retry is deliberate: signatures change.
    It follows the `Step` contract without inheriting from it, so that `steps.py` can
    import it at the top without an import cycle.
    """

    name = "antivirus"

    def able_to_run(self, ctx: IntakeContext) -> bool:
        return True

    def cleanup(self, ctx: IntakeContext) -> None:
        pass

    def run(self, ctx: IntakeContext) -> StepOutcome:
        from garnizon.intake.models import StepStatus
        from garnizon.intake.steps import StepOutcome

        item = ctx.item
        try:
            client = client_from_settings()
        except ClamdConfigError:
            return StepOutcome.stop(_not_scanned(item.pk, _("błędny adres skanera w ustawieniach")))
        if client is None:
            return StepOutcome(
                StepStatus.SKIPPED,
                _(
                    "Skanowanie antywirusowe jest wyłączone (nie skonfigurowano clamd); "
                    "pliku nie sprawdzono."
                ),
            )
        try:
            version = client.version()
            with ctx.store.open(item.blob_sha256) as reader:
                result = client.instream(reader)
        except ClamdError as error:
            return StepOutcome.stop(_not_scanned(item.pk, _reason(error, client)))
        if not result.clean:
            return StepOutcome.quarantine(
                _(
                    "Plik zawiera złośliwe oprogramowanie (%(signature)s); nie otwieraj go, "
                    "powiadom administratora. Plik przeniesiono do kwarantanny."
                )
                % {"signature": result.signature}
            )
        return StepOutcome.ok(
            _("Skaner antywirusowy nie wykrył zagrożeń (%(version)s).") % {"version": version}
        )


def _reason(error: ClamdError, client: ClamdClient) -> str:
    if error.kind == "size_limit":
        return _(
            "plik jest większy, niż skaner przyjmuje (StreamMaxLength w konfiguracji clamd); "
            "administrator musi podnieść ten limit"
        )
    if error.kind == "timeout":
        return _("skaner nie odpowiedział w ciągu %(seconds)s s") % {
            "seconds": f"{client.timeout:g}"
        }
    if error.kind == "unreachable":
        return _("skaner (clamd) jest niedostępny")
    return _("skaner zgłosił błąd: %(detail)s") % {"detail": error.detail[:200]}


def _not_scanned(item_id: int, reason: str) -> str:
    return _(
        "Pliku nie sprawdzono programem antywirusowym: %(reason)s. Oryginał jest zachowany "
        "i nie został przepuszczony dalej; gdy skaner zadziała, ponów przyjęcie "
        "(garnizon intake retry %(id)s)."
    ) % {"reason": reason, "id": item_id}
