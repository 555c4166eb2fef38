"""A throw-away Dovecot IMAP server that logs users in against the dnmail directory.

It proves, with a real mail client protocol, what the directory promises the mail
servers: a mailbox logs in with its password (checked by a bind, so ppolicy
decides), a locked one does not, and a mailbox moved to another unit's branch
still does (the entry is found by a search, not by a fixed DN).

A test-only server: the configuration comes from deploy/dovecot/*.in of this source
tree, the production examples. Used by tests/integration/test_dovecot_auth.py and
test_mail_client.py::

    with ThrowawayDovecot(tmp / "dovecot", slapd_info) as imap:
        imaplib.IMAP4("127.0.0.1", imap.imap_port)
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from dnmail.errors import DirectoryUnavailable
from dnmail.local.process import free_port, write_private
from dnmail.local.render import render
from dnmail.local.slapd import SlapdInfo

DOVECOT_BINARY = Path("/usr/sbin/dovecot")
LDA_BINARY = Path("/usr/lib/dovecot/dovecot-lda")
MAIL_DOMAIN = "danang.gov.vn"
TEMPLATES = Path(__file__).resolve().parents[2] / "deploy" / "dovecot"


def imap_login(server: ThrowawayDovecot, user: str, password: str) -> bool:
    """Log in over IMAP (AUTHENTICATE PLAIN: UTF-8 passwords) and open the INBOX."""
    import imaplib

    conn = imaplib.IMAP4("127.0.0.1", server.imap_port)
    try:
        conn.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode())
        typ, _ = conn.select("INBOX")
        return typ == "OK"
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            conn.logout()
        except Exception:  # noqa: BLE001
            pass


def deliver(server: ThrowawayDovecot, recipient: str, subject: str) -> subprocess.CompletedProcess:
    """Deliver one message to `recipient` with dovecot-lda (what Postfix runs for local
    delivery): the userdb lookup resolves the address — or an alias — to a mailbox."""
    message = (
        f"From: test@example.org\r\nTo: {recipient}\r\nSubject: {subject}\r\n\r\nbody\r\n"
    )
    return subprocess.run(
        [str(LDA_BINARY), "-c", str(server.config_file), "-d", recipient, "-f", "test@example.org"],
        input=message.encode(), capture_output=True, timeout=30, check=False,
    )


def inbox_subjects(server: ThrowawayDovecot, user: str, password: str) -> list[str]:
    """The subjects in the INBOX of `user` (AUTHENTICATE PLAIN), oldest first."""
    import email
    import imaplib

    conn = imaplib.IMAP4("127.0.0.1", server.imap_port)
    try:
        conn.authenticate("PLAIN", lambda _: f"\0{user}\0{password}".encode())
        conn.select("INBOX")
        _, data = conn.search(None, "ALL")
        subjects = []
        for num in data[0].split():
            _, parts = conn.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            subjects.append(str(email.message_from_bytes(parts[0][1])["Subject"]))
        return subjects
    finally:
        conn.logout()


def _traversable_by(path: Path, uid: int, gid: int) -> bool:
    """Can a process running as uid/gid reach `path` (x on every ancestor)?"""
    for p in [path, *path.parents]:
        try:
            st = p.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            bit = 0o100
        elif st.st_gid == gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return False
    return True


class ThrowawayDovecot:
    """Dovecot (IMAP only, no TLS) on 127.0.0.1 checking passwords against `slapd`.

    Run as root (CI) it uses Dovecot's own users (dovecot, dovenull) and stores
    mail as nobody; run as an ordinary user, everything runs as that user.
    """

    def __init__(
        self,
        workdir: Path,
        slapd: SlapdInfo,
        port: int | None = None,
        *,
        mail_domain: str = MAIL_DOMAIN,
        binary: Path = DOVECOT_BINARY,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.slapd = slapd
        self.imap_port = port or 0
        self.mail_domain = mail_domain
        self.binary = Path(binary)
        self._proc: subprocess.Popen | None = None
        self._mail_root: Path | None = None
        self._own_mail_root = False

    @property
    def config_file(self) -> Path:
        return self.workdir / "dovecot.conf"

    @property
    def log_file(self) -> Path:
        return self.workdir / "dovecot.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 10) -> ThrowawayDovecot:
        """Write the configuration, start `dovecot -F`, wait for the IMAP greeting."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        if not os.access(self.binary, os.X_OK):
            raise DirectoryUnavailable(
                f"{self.binary} not found",
                hint="apt-get install dovecot-imapd dovecot-ldap",
            )
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self.imap_port:
            self.imap_port = free_port()
        self._write_config()
        with open(self.log_file, "ab") as logf:
            # Its own session: a Ctrl-C in the test run does not reach it; stop() does.
            self._proc = subprocess.Popen(
                [str(self.binary), "-F", "-c", str(self.config_file)],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_greeting(timeout)
        return self

    def stop(self) -> None:
        """Stop the master (it ends its children) and remove a mail root made in /tmp."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                    self._proc.wait()
            self._proc = None
        if self._own_mail_root and self._mail_root is not None:
            shutil.rmtree(self._mail_root, ignore_errors=True)
            self._mail_root = None
            self._own_mail_root = False

    def __enter__(self) -> ThrowawayDovecot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals
    def _users(self) -> dict[str, str]:
        if os.geteuid() == 0:
            # Dovecot's packaged users; mail stored as nobody (never uid 0).
            nobody = pwd.getpwnam("nobody")
            return {
                "INTERNAL_USER": "dovecot",
                "INTERNAL_GROUP": "dovecot",
                "LOGIN_USER": "dovenull",
                "LOGIN_CHROOT": "login",
                "ANVIL_CHROOT": "empty",
                "MAIL_UID": str(nobody.pw_uid),
                "MAIL_GID": str(nobody.pw_gid),
            }
        # Unprivileged: everything as the current user, no chroot (needs root).
        me = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        return {
            "INTERNAL_USER": me,
            "INTERNAL_GROUP": group,
            "LOGIN_USER": me,
            "LOGIN_CHROOT": "",
            "ANVIL_CHROOT": "",
            "MAIL_UID": str(os.getuid()),
            "MAIL_GID": str(os.getgid()),
        }

    def _prepare_mail_root(self, uid: int, gid: int) -> Path:
        root = self.workdir / "mail"
        if _traversable_by(self.workdir, uid, gid):
            root.mkdir(exist_ok=True, mode=0o700)
        else:
            # pytest's tmp dirs are 0700 root: the mail user could not reach a
            # maildir there, so it gets its own directory under /tmp.
            root = Path(tempfile.mkdtemp(prefix="dnmail-dovecot-mail-"))
            self._own_mail_root = True
        os.chown(root, uid, gid)
        self._mail_root = root
        return root

    def _write_config(self) -> None:
        users = self._users()
        mail_root = self._prepare_mail_root(int(users["MAIL_UID"]), int(users["MAIL_GID"]))
        base_dir = self.workdir / "run"
        state_dir = self.workdir / "state"
        for d in (base_dir, state_dir):
            d.mkdir(exist_ok=True, mode=0o755)
        values = {
            **users,
            "INSTANCE_NAME": f"dnmail-test-{self.imap_port}",
            "BASE_DIR": str(base_dir),
            "STATE_DIR": str(state_dir),
            "LOG_PATH": str(self.log_file),
            "LISTEN": "127.0.0.1",
            "SSL": "no",
            "DISABLE_PLAINTEXT_AUTH": "no",
            "MAIL_DOMAIN": self.mail_domain,
            "AUTH_FAILURE_DELAY": "0",
            "LDAP_CONF": str(self.workdir / "dovecot-ldap.conf.ext"),
            "MAIL_ROOT": str(mail_root),
            "IMAP_PORT": str(self.imap_port),
            "AUTH_PENALTY_MODE": "0",
            "LDAP_URIS": self.slapd.url,
            "MAILAUTH_DN": self.slapd.mailauth_dn,
            "MAILAUTH_PASSWORD": self.slapd.mailauth_password,
            "SUFFIX": self.slapd.suffix,
            "LDAP_STARTTLS": "no",
        }
        for name in ("dovecot.conf", "dovecot-ldap.conf.ext"):
            text = render((TEMPLATES / f"{name}.in").read_text(encoding="utf-8"), values)
            # The LDAP file holds the mailauth password: 0600 for both, to be safe.
            write_private(self.workdir / name, text)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait_greeting(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise DirectoryUnavailable(
                    f"dovecot exited with status {code} at start; see {self.log_file}:\n"
                    + self._log_tail()
                )
            try:
                with socket.create_connection(("127.0.0.1", self.imap_port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(200).startswith(b"* OK"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise DirectoryUnavailable(
                    f"dovecot did not greet on 127.0.0.1:{self.imap_port} within {timeout:.0f} s;"
                    f" see {self.log_file}:\n{self._log_tail()}"
                )
            time.sleep(0.02)
