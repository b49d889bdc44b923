"""A content-addressed blob store on the local file system.

Contract (a later S3-compatible backend implements the same methods):

- `put(stream) -> BlobRef(sha256, size)`: reads `stream` (anything with
  `read(n)`) in chunks into a temporary file under `<root>/tmp/`, hashing as it
  goes; fsyncs the file, renames it atomically to `<root>/ab/cd/<sha256>` and
  fsyncs the directory. A blob already present is not written again. On any
  error (too large, empty, I/O) the temporary file is removed and nothing is
  left behind.
- `open(sha256)`: a reader that hashes what it returns and raises
  `BlobCorrupted` at the end of the file if the content does not match its name
  (or `BlobMissing` at once if the blob is absent).
- `verify_all()`: yields a `BlobProblem` for every blob whose content does not
  match its name (and for temporary files left by a crash).

Files are created 0640, directories 0750. The store never deletes a blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from garnizon.common.errors import DomainError

CHUNK = 1024 * 1024
FILE_MODE = 0o640
DIR_MODE = 0o750
STRAY_AFTER_SECONDS = 3600
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class BlobRef:
    sha256: str
    size: int


@dataclass(frozen=True)
class BlobProblem:
    sha256: str
    problem: str  # "corrupted", "missing", "stray"
    path: str = ""


class BlobError(Exception):
    """The store is not in the state its names promise (an operator's problem)."""

    def __init__(self, sha256: str, message: str = "") -> None:
        super().__init__(message or sha256)
        self.sha256 = sha256


class BlobMissing(BlobError):
    pass


class BlobCorrupted(BlobError):
    pass


class BlobTooLarge(DomainError):
    def __init__(self, max_size: int) -> None:
        super().__init__(
            _("Plik jest za duży: największy dopuszczalny rozmiar to %(mb)s MB.")
            % {"mb": _megabytes(max_size)},
            code="too_large",
        )


class BlobEmpty(DomainError):
    def __init__(self) -> None:
        super().__init__(_("Plik jest pusty."), code="empty")


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


def _is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


class VerifyingReader(io.RawIOBase):
    """Reads a blob and checks its SHA-256 when the end is reached."""

    def __init__(self, handle: BinaryIO, sha256: str) -> None:
        super().__init__()
        self._handle = handle
        self._expected = sha256
        self._hash = hashlib.sha256()
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self._handle.readinto(buffer)
        if n:
            self._hash.update(memoryview(buffer)[:n])
            return n
        if not self._checked:
            self._checked = True
            if self._hash.hexdigest() != self._expected:
                raise BlobCorrupted(self._expected, f"blob {self._expected}: hash mismatch")
        return 0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._handle.close()
        super().close()


class FileSystemBlobStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # -- paths ----------------------------------------------------------------------
    def path(self, sha256: str) -> Path:
        if not _is_sha256(sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def _makedirs(self, directory: Path) -> None:
        missing = []
        d = directory
        while not d.exists():
            missing.append(d)
            d = d.parent
        for d in reversed(missing):
            with contextlib.suppress(FileExistsError):
                d.mkdir(mode=DIR_MODE)
                os.chmod(d, DIR_MODE)  # whatever the umask
                _fsync_dir(d.parent)

    # -- writing ----------------------------------------------------------------------
    def put(
        self, stream: Readable, *, max_size: int | None = None, allow_empty: bool = False
    ) -> BlobRef:
        self._makedirs(self.tmp_dir)
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir, prefix="put-", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            os.fchmod(fd, FILE_MODE)
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise BlobTooLarge(max_size)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0 and not allow_empty:
                raise BlobEmpty()
            ref = BlobRef(digest.hexdigest(), size)
            final = self.path(ref.sha256)
            if final.exists() and final.stat().st_size == size:
                tmp.unlink()  # dedup: the same content is already stored
                return ref
            self._makedirs(final.parent)
            os.replace(tmp, final)  # atomic; also repairs a truncated earlier copy
            _fsync_dir(final.parent)
            return ref
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    # -- reading ------------------------------------------------------------------------
    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> VerifyingReader:
        try:
            handle = self.path(sha256).open("rb")
        except FileNotFoundError:
            raise BlobMissing(sha256, f"blob {sha256}: missing") from None
        return VerifyingReader(handle, sha256)

    def check(self, sha256: str) -> str | None:
        """None if the blob is present and whole; otherwise "missing" or "corrupted"."""
        try:
            with self.open(sha256) as reader:
                while reader.read(CHUNK):
                    pass
        except BlobMissing:
            return "missing"
        except BlobCorrupted:
            return "corrupted"
        return None

    def iter_blobs(self) -> Iterator[str]:
        """Every stored blob's name (not the temporary files)."""
        if not self.root.exists():
            return
        for first in sorted(self.root.iterdir()):
            if not first.is_dir() or len(first.name) != 2 or first.name == "tmp":
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for blob in sorted(second.iterdir()):
                    if _is_sha256(blob.name) and blob.name.startswith(first.name + second.name):
                        yield blob.name

    def verify_all(self) -> Iterator[BlobProblem]:
        for sha256 in self.iter_blobs():
            if (problem := self.check(sha256)) is not None:
                yield BlobProblem(sha256, problem, str(self.path(sha256)))
        if self.tmp_dir.exists():
            # A temporary file older than an hour is a leftover of a crash, not an upload.
            cutoff = time.time() - STRAY_AFTER_SECONDS
            for stray in sorted(self.tmp_dir.iterdir()):
                if stray.stat().st_mtime < cutoff:
                    yield BlobProblem("", "stray", str(stray))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def get_blob_store() -> FileSystemBlobStore:
    """The configured store (`GARNIZON_BLOB_DIR`); read each time so tests can move it."""
    return FileSystemBlobStore(settings.GARNIZON_BLOB_DIR)


def max_upload_size() -> int:
    return int(settings.GARNIZON_MAX_UPLOAD_MB) * 1024 * 1024
