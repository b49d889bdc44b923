"""A real clamd (Debian's /usr/sbin/clamd) for tests, with a test signature built from EICAR.

`ClamdServer(folder)` writes its own config (unix socket and a TCP port on
127.0.0.1, a database folder holding only `test.hdb` made by `sigtool --md5`
from the EICAR test file, `StreamMaxLength 1M`, no freshclam, no system config)
and runs clamd in the foreground. `start()` waits until PING answers PONG and
fails the test loudly if it cannot; `stop()` ends it. Fixtures: `clamd` (one per
test session) and `clamd_own` (one per test, for tests that stop it).
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from garnizon.intake.antivirus import ClamdAddress, ClamdClient, ClamdError

CLAMD = "/usr/sbin/clamd"
SIGTOOL = "/usr/bin/sigtool"
# The standard antivirus test file (harmless; every scanner must report it).
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# clamd names a signature from a .hdb file "<name>.UNOFFICIAL".
SIGNATURE = "eicar.com.UNOFFICIAL"
STREAM_MAX = 1024 * 1024
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ClamdServer:
    def __init__(self, folder: Path) -> None:
        for tool in (CLAMD, SIGTOOL):
            if not Path(tool).exists():
                pytest.fail(f"{tool} is missing: install Debian's clamav and clamav-daemon")
        self.folder = folder
        self.db = folder / "db"
        self.db.mkdir(parents=True, exist_ok=True)
        self.socket_path = folder / "clamd.ctl"
        self.port = free_port()
        self.log = folder / "clamd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._write_signature()
        self._write_config()

    @property
    def unix(self) -> str:
        return f"unix:{self.socket_path}"

    @property
    def tcp(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    def client(self) -> ClamdClient:
        return ClamdClient(ClamdAddress("unix", path=str(self.socket_path)))

    def _write_signature(self) -> None:
        eicar = self.folder / "eicar.com"
        eicar.write_bytes(EICAR)
        result = subprocess.run(
            [SIGTOOL, "--md5", eicar.name],
            cwd=self.folder,
            capture_output=True,
            check=False,
            timeout=30,
        )
        if result.returncode != 0 or b":eicar.com" not in result.stdout:
            pytest.fail(f"sigtool --md5 failed: {result.stderr.decode(errors='replace')}")
        (self.db / "test.hdb").write_bytes(result.stdout)

    def _write_config(self) -> None:
        lines = [
            f"LocalSocket {self.socket_path}",
            f"TCPSocket {self.port}",
            "TCPAddr 127.0.0.1",
            f"DatabaseDirectory {self.db}",
            f"TemporaryDirectory {self.folder}",
            f"LogFile {self.log}",
            "Foreground yes",
            f"StreamMaxLength {STREAM_MAX // 1024}K",
            "SelfCheck 0",
        ]
        if os.geteuid() == 0:
            # Started as root clamd drops to User; the test's folders belong to root.
            lines.append(f"User {getpass.getuser()}")
        self.config = self.folder / "clamd.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> ClamdServer:
        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [CLAMD, "--foreground", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT
        client = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if client.ping():
                    return self
            except ClamdError:
                pass
            time.sleep(0.1)
        self.stop()
        log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
        pytest.fail(f"clamd did not answer PING within {START_TIMEOUT:g} s.\n{log}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    server = ClamdServer(_short_dir(tmp_path_factory)).start()
    yield server
    server.stop()


@pytest.fixture
def clamd_own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClamdServer]:
    server = ClamdServer(_short_dir(tmp_path_factory)).start()
    yield server
    server.stop()


def _short_dir(factory: pytest.TempPathFactory) -> Path:
    """A folder whose socket path fits in a unix socket address (108 bytes)."""
    folder = factory.mktemp("clamd")
    if len(str(folder / "clamd.ctl")) < 100:
        return folder
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="clamd-"))
    shutil.rmtree(folder, ignore_errors=True)
    return short
