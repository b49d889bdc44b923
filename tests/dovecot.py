"""A real IMAP server for tests: Debian's Dovecot with a throw-away configuration.

`start_dovecot()` writes a configuration under a fresh folder (no system config is
read), a passwd-file user and a Maildir, a self-signed CA and server
certificate (openssl), and starts `/usr/sbin/dovecot -F -c <config>` listening
on free 127.0.0.1 ports: plain IMAP (with STARTTLS) and IMAPS. It fails the test
loudly when Dovecot or openssl is missing or the server does not answer.

Dovecot refuses to run mail processes as root, so when the tests run as root
the mail files belong to `nobody`; otherwise to the current user.
"""

from __future__ import annotations

import contextlib
import getpass
import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

DOVECOT = "/usr/sbin/dovecot"
USER = "kancelaria"
PASSWORD = "tajne-hasło-1"


@dataclass
class Dovecot:
    root: Path
    port: int  # plain IMAP, STARTTLS offered
    ssl_port: int  # IMAPS
    ca_file: Path
    process: subprocess.Popen
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD

    def client(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        # LOGIN is ASCII only; the password has a Polish letter.
        credentials = f"\0{self.user}\0{self.password}".encode()
        conn.authenticate("PLAIN", lambda _challenge: credentials)
        return conn

    def append(self, message: bytes, folder: str = "INBOX") -> None:
        """Deliver a message the way a mail client files one: IMAP APPEND."""
        conn = self.client()
        try:
            typ, data = conn.append(folder, None, None, message)
            assert typ == "OK", data
        finally:
            conn.logout()

    def uids(self, folder: str = "INBOX") -> list[int]:
        """UIDs in a folder (an absent folder has none)."""
        conn = self.client()
        try:
            typ, _data = conn.select(folder, readonly=True)
            if typ != "OK":
                return []
            typ, data = conn.uid("SEARCH", "ALL")
            return [int(uid) for uid in data[0].split()]
        finally:
            conn.logout()

    def reset(self) -> None:
        """An empty INBOX and no other folders (between tests sharing one server)."""
        conn = self.client()
        try:
            _typ, folders = conn.list()
            for line in folders or []:
                match = re.match(r'\(.*?\) (?:NIL|"[^"]*") "?(.*?)"?$', line.decode())
                name = match.group(1) if match else "INBOX"
                if name.upper() != "INBOX":
                    conn.delete(f'"{name}"')
            _typ, data = conn.select("INBOX")
            if int(data[0]):
                conn.store("1:*", "+FLAGS.SILENT", "(\\Deleted)")
                conn.expunge()
        finally:
            conn.logout()

    def uidvalidity(self, folder: str = "INBOX") -> int:
        conn = self.client()
        try:
            conn.select(folder, readonly=True)
            return int(conn.response("UIDVALIDITY")[1][0])
        finally:
            conn.logout()

    def renumber_inbox(self) -> int:
        """What a rebuilt mailbox does: the INBOX gets a new UIDVALIDITY (Dovecot's uid list
        and indexes removed, so it numbers the messages afresh). The new value."""
        before = self.uidvalidity()
        maildir = self.root / "mail" / self.user
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for path in maildir.glob("dovecot*"):
                path.unlink()
            after = self.uidvalidity()
            if after != before:
                return after
            time.sleep(0.2)  # Dovecot derives the value from the clock
        pytest.fail("Dovecot kept the INBOX's UIDVALIDITY after its uid list was removed.")

    def password_file(self) -> Path:
        path = self.root / "password"
        path.write_text(self.password + "\n", encoding="utf-8")
        path.chmod(0o600)
        return path

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _certificates(root: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1/localhost signed by it; the CA's path."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed (Debian package openssl); it makes the test CA.")
    tls = root / "tls"
    tls.mkdir()
    (tls / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    commands = [
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=Garnizon-test-CA "
        "-keyout ca.key -out ca.pem",
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key "
        "-out server.csr",
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile san.cnf -out server.pem",
    ]
    for command in commands:
        done = subprocess.run(command.split(), cwd=tls, capture_output=True, text=True)
        if done.returncode:
            pytest.fail(f"openssl failed: {command}\n{done.stderr}")
    return tls / "ca.pem"


def start_dovecot() -> Dovecot:
    """A running server in a fresh folder under /tmp (Dovecot's own users must be able to
    reach it, which pytest's 0700 tmp_path does not allow); `stop()` removes it."""
    if not os.access(DOVECOT, os.X_OK):
        pytest.fail(f"{DOVECOT} is missing: install Debian's dovecot-imapd to run these tests.")
    root = Path(tempfile.mkdtemp(prefix="garnizon-dovecot-"))
    root.chmod(0o711)
    ca_file = _certificates(root)
    for name in ("run", "state", "mail"):
        (root / name).mkdir()
    if os.geteuid() == 0:
        # Dovecot will not run mail processes as root.
        account = pwd.getpwnam("nobody")
        os.chown(root / "mail", account.pw_uid, account.pw_gid)
        mail_uid, mail_gid = account.pw_uid, account.pw_gid
        service_users = ""
    else:
        mail_uid, mail_gid = os.getuid(), os.getgid()
        me = getpass.getuser()
        service_users = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n", encoding="utf-8")
    (root / "passwd").chmod(0o644)  # read by Dovecot's auth process (user dovecot)
    port, ssl_port = _free_port(), _free_port()
    config = root / "dovecot.conf"
    config.write_text(
        f"""
base_dir = {root}/run
state_dir = {root}/state
instance_name = garnizon-test-{port}
protocols = imap
listen = 127.0.0.1
log_path = {root}/dovecot.log
{service_users}
ssl = yes
ssl_cert = <{root}/tls/server.pem
ssl_key = <{root}/tls/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
  }}
}}
service anvil {{
  chroot =
}}
""",
        encoding="utf-8",
    )
    log = (root / "dovecot.out").open("wb")
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    server = Dovecot(root=root, port=port, ssl_port=ssl_port, ca_file=ca_file, process=process)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            server.client().logout()
            return server
        time.sleep(0.05)
    output = (root / "dovecot.out").read_text(errors="replace") + server.log()
    server.stop()
    pytest.fail(f"Dovecot did not start on 127.0.0.1:{port}.\n{output}")
