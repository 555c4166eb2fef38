"""A throw-away OpenLDAP server built from the production templates in deploy/slapd/.

Tests (the `slapd` fixture), CI (.ci/run) and the README demo all start their
directory through :class:`ThrowawaySlapd`, so they run against exactly the
configuration (schemas, ppolicy, indexes, limits, ACLs) that production renders
from the same templates.

How a server is built (everything offline, no network, ~0.1 s), by
:func:`render_files` and :func:`load_offline`, the same steps production follows:

1. ``config.ldif.in`` → ``slapadd -n0``: global settings, schemas, the mdb database;
2. ``dnmail.ldif.in`` → ``slapmodify -n0`` twice: its module record alone first
   (``ppolicy-module.ldif``), because slapmodify records a new module without
   loading it, then the rest (``dnmail.ldif``: overlay, indexes, limits, ACLs);
3. ``tls.ldif.in`` → ``slapmodify -n0`` when TLS files are given;
4. ``base.ldif.in`` → ``slapadd -q -n1``: suffix, branches, service identities and
   the default password policy. slapadd bypasses overlays, so passwords are
   pre-hashed ({SSHA}) here, in Python; a cleartext one would stay cleartext.

Then ``slapd -d 0`` runs in the foreground of its own session: the caller owns its
PID, and it outlives the Python process when started from the module CLI::

    python -m dnmail.directory.server start --dir var/slapd   # prints export lines
    python -m dnmail.directory.server status --dir var/slapd
    python -m dnmail.directory.server stop --dir var/slapd
    python -m dnmail.directory.server render --out DIR         # production LDIF files
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from dnmail.errors import DirectoryUnavailable

log = logging.getLogger(__name__)

DEFAULT_SUFFIX = "dc=danang,dc=gov,dc=vn"
ORGANIZATION = "UBND thành phố Đà Nẵng"
DEFAULT_DB_MAX_SIZE = 4 * 1024**3
# Debian's peer-credential identity of the local root user: the configuration
# administrator over ldapi:// (ldapmodify -Y EXTERNAL -H ldapi:///).
ROOT_PEERCRED_DN = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
INSTALL_HINT = "install OpenLDAP: apt-get install slapd ldap-utils"

_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")
# POSIX extended regular expression metacharacters (regex(7)).
_ERE_SPECIAL = set(".[]()*+?{}|^$\\")


# --- plain data ------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for the server side of TLS (StartTLS and ldaps://)."""

    cert: Path
    key: Path
    ca: Path


@dataclass(frozen=True)
class SlapdInfo:
    """Everything a client needs to talk to a running server."""

    url: str
    ldaps_url: str | None
    suffix: str
    root_dn: str
    root_password: str
    service_dn: str
    service_password: str
    mailauth_dn: str
    mailauth_password: str
    workdir: Path
    pid: int

    @property
    def people_dn(self) -> str:
        return f"ou=people,{self.suffix}"

    @property
    def units_dn(self) -> str:
        return f"ou=units,{self.suffix}"

    def to_json(self) -> str:
        data = asdict(self)
        data["workdir"] = str(self.workdir)
        return json.dumps(data, indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SlapdInfo:
        data = json.loads(text)
        data["workdir"] = Path(data["workdir"])
        return cls(**data)

    def env(self) -> dict[str, str]:
        """Environment variables for tests, CI and the demo (values include passwords)."""
        env = {
            "DNMAIL_TEST_LDAP_URL": self.url,
            "DNMAIL_TEST_LDAP_BASE_DN": self.suffix,
            "DNMAIL_TEST_LDAP_ROOT_DN": self.root_dn,
            "DNMAIL_TEST_LDAP_ROOT_PASSWORD": self.root_password,
            "DNMAIL_TEST_LDAP_SERVICE_DN": self.service_dn,
            "DNMAIL_TEST_LDAP_MAILAUTH_DN": self.mailauth_dn,
            "DNMAIL_TEST_LDAP_MAILAUTH_PASSWORD": self.mailauth_password,
            "DNMAIL_TEST_SLAPD_DIR": str(self.workdir),
            # What a dnmail config points at: the service identity, whose rights
            # are the ones the ACLs give to dnmail (not the root DN).
            "DNMAIL_BIND_DN": self.service_dn,
            "DNMAIL_BIND_PASSWORD": self.service_password,
        }
        if self.ldaps_url:
            env["DNMAIL_TEST_LDAPS_URL"] = self.ldaps_url
        return env

    def shell_exports(self) -> str:
        """`export NAME=value` lines, quoted for sh, ready for `eval "$(...)"`."""
        return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.env().items())


@dataclass(frozen=True)
class Toolchain:
    """Where the OpenLDAP binaries, modules and schemas are (Debian paths by default).

    Each can be overridden by an argument or by DNMAIL_SLAPD_SBIN,
    DNMAIL_SLAPD_MODULE_DIR and DNMAIL_SLAPD_SCHEMA_DIR.
    """

    sbin_dir: Path = Path("/usr/sbin")
    module_dir: Path = Path("/usr/lib/ldap")
    schema_dir: Path = Path("/etc/ldap/schema")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Toolchain:
        env = os.environ if environ is None else environ
        default = cls()
        return cls(
            sbin_dir=Path(env.get("DNMAIL_SLAPD_SBIN", default.sbin_dir)),
            module_dir=Path(env.get("DNMAIL_SLAPD_MODULE_DIR", default.module_dir)),
            schema_dir=Path(env.get("DNMAIL_SLAPD_SCHEMA_DIR", default.schema_dir)),
        )

    def binary(self, name: str) -> Path:
        return self.sbin_dir / name

    def check(self) -> None:
        """Raise DirectoryUnavailable naming what is missing."""
        missing = [
            str(p)
            for p in (
                self.binary("slapd"),
                self.binary("slapadd"),
                self.binary("slapmodify"),
            )
            if not os.access(p, os.X_OK)
        ]
        for path in (
            self.module_dir / "back_mdb.so",
            self.module_dir / "ppolicy.so",
            *(self.schema_dir / f"{s}.ldif" for s in ("core", "cosine", "nis", "inetorgperson")),
        ):
            if not path.exists():
                missing.append(str(path))
        if missing:
            raise DirectoryUnavailable(
                "cannot build a throw-away directory server: missing " + ", ".join(missing),
                hint=INSTALL_HINT,
            )


# --- templates -------------------------------------------------------------------------


def templates_dir() -> Path:
    """deploy/slapd of this checkout, or $DNMAIL_DEPLOY_DIR/slapd."""
    base = os.environ.get("DNMAIL_DEPLOY_DIR")
    root = Path(base) if base else Path(__file__).resolve().parents[3] / "deploy"
    return root / "slapd"


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace every @NAME@ in `template`; a placeholder without a value is an error."""
    missing = sorted({m for m in _PLACEHOLDER.findall(template) if m not in values})
    if missing:
        raise KeyError(f"no value for placeholder(s) {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def ssha(password: str, *, salt: bytes | None = None) -> str:
    """An RFC 2307 {SSHA} hash as slapd makes it (SHA-1 over password+salt, salt appended).

    Only for the entries loaded offline with slapadd, which skips ppolicy's hashing.
    """
    salt = os.urandom(8) if salt is None else salt
    # SHA-1 because {SSHA} is defined with it; slapd hashes users' passwords the same way.
    digest = hashlib.sha1(password.encode("utf-8") + salt).digest()  # noqa: S324
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


def normalise_dn(dn: str) -> str:
    """The form slapd matches ACL regexes against: lower case, no spaces around , and =.

    Enough for the simple dc=/ou= suffixes dnmail uses; not a general DN parser.
    """
    rdns = [rdn.strip() for rdn in dn.split(",")]
    out = []
    for rdn in rdns:
        attr, _, value = rdn.partition("=")
        out.append(f"{attr.strip().lower()}={value.strip().lower()}")
    return ",".join(out)


def ere_escape(text: str) -> str:
    """Escape POSIX ERE metacharacters so `text` matches itself literally."""
    return "".join("\\" + ch if ch in _ERE_SPECIAL else ch for ch in text)


def template_values(
    *,
    suffix: str,
    password_hashes: Mapping[str, str],
    db_directory: Path,
    run_dir: Path,
    db_max_size: int = DEFAULT_DB_MAX_SIZE,
    nosync: bool = False,
    toolchain: Toolchain | None = None,
    config_admin_dn: str = ROOT_PEERCRED_DN,
    log_level: str = "stats",
    tls: TlsFiles | None = None,
    module_dn: str = "cn=module{0},cn=config",
    database_dn: str = "olcDatabase={1}mdb,cn=config",
) -> dict[str, str]:
    """The values of every placeholder in deploy/slapd/*.ldif.in.

    `password_hashes` maps ``root``, ``service`` and ``mailauth`` to hashes (see
    :func:`ssha`). Defaults are production's (fsync on, stats logging, Debian's
    module and database DNs); the throw-away server overrides some of them.
    """
    tools = toolchain or Toolchain()
    first_attr, _, first_value = suffix.split(",", 1)[0].partition("=")
    if first_attr.strip().lower() != "dc":
        raise ValueError(f"the suffix must start with a dc= component: {suffix!r}")
    values = {
        "SUFFIX": suffix,
        "SUFFIX_RE": ere_escape(normalise_dn(suffix)),
        "DC": first_value.strip(),
        "ORGANIZATION_B64": base64.b64encode(ORGANIZATION.encode("utf-8")).decode("ascii"),
        "ROOT_DN": f"cn=admin,{suffix}",
        "ROOT_PW_HASH": password_hashes["root"],
        "SERVICE_PW_HASH": password_hashes["service"],
        "MAILAUTH_PW_HASH": password_hashes["mailauth"],
        "DB_DIRECTORY": str(db_directory),
        "DB_MAX_SIZE": str(int(db_max_size)),
        "DB_NOSYNC": "TRUE" if nosync else "FALSE",
        "PID_FILE": str(run_dir / "slapd.pid"),
        "ARGS_FILE": str(run_dir / "slapd.args"),
        "LOG_LEVEL": log_level,
        "MODULE_DIR": str(tools.module_dir),
        "SCHEMA_DIR": str(tools.schema_dir),
        "CONFIG_ADMIN_DN": config_admin_dn,
        "MODULE_DN": module_dn,
        "DATABASE_DN": database_dn,
    }
    if tls is not None:
        values |= tls_values(tls)
    return values


def tls_values(tls: TlsFiles) -> dict[str, str]:
    """The placeholders of tls.ldif.in (absolute paths: slapd does not run from here)."""
    return {
        "TLS_CERT_FILE": str(Path(tls.cert).resolve()),
        "TLS_KEY_FILE": str(Path(tls.key).resolve()),
        "TLS_CA_FILE": str(Path(tls.ca).resolve()),
    }


def _split_records(text: str) -> list[str]:
    """LDIF text cut at blank lines; a comment-only chunk stays a chunk of its own."""
    return [c.strip("\n") + "\n" for c in re.split(r"\n[ \t]*\n", text) if c.strip()]


def _dn_of(chunk: str) -> str | None:
    for line in chunk.splitlines():
        if line.startswith("dn:"):
            return line[3:].strip()
    return None


def _read_template(name: str) -> str:
    path = templates_dir() / name
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DirectoryUnavailable(
            f"slapd template not found: {path}",
            hint="set DNMAIL_DEPLOY_DIR to the deploy/ directory of dnmail",
        ) from None


def render_files(values: Mapping[str, str], *, with_tls: bool = False) -> dict[str, str]:
    """Render deploy/slapd/ into {file name: LDIF}, in the order they are applied.

    ``config.ldif`` (slapadd -n0), ``ppolicy-module.ldif`` and ``dnmail.ldif``
    (slapmodify -n0 offline, ldapmodify online), ``tls.ldif`` when `with_tls`, and
    ``base.ldif`` (slapadd -n1). The module record of dnmail.ldif.in gets a file of
    its own: slapmodify records a new olcModuleLoad without loading the module, so
    the overlay, whose objectClass the module defines, must come in a later run.
    """
    dnmail = _split_records(render(_read_template("dnmail.ldif.in"), values))
    module = [c for c in dnmail if _dn_of(c) == values["MODULE_DN"]]
    files = {
        "config.ldif": render(_read_template("config.ldif.in"), values),
        "ppolicy-module.ldif": "\n".join(module),
        "dnmail.ldif": "\n".join(c for c in dnmail if c not in module),
    }
    if with_tls:
        files["tls.ldif"] = render(_read_template("tls.ldif.in"), values)
    files["base.ldif"] = render(_read_template("base.ldif.in"), values)
    return files


def load_offline(
    config_dir: Path, files: Mapping[str, str], build_dir: Path, toolchain: Toolchain
) -> None:
    """Apply rendered files to a stopped server's cn=config and database, in order.

    Each is written to `build_dir` (mode 0600: base.ldif holds password hashes)
    and given to slapadd or slapmodify. A failure raises DirectoryUnavailable
    with the tool's message (it names entries, never password values).
    """
    build_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, text in files.items():
        path = build_dir / name
        write_private(path, text)
        if name == "config.ldif":
            tool = ["slapadd", "-n0"]
        elif name == "base.ldif":
            tool = ["slapadd", "-q", "-n1"]  # -q: skips consistency checks, 3x faster
        else:
            tool = ["slapmodify", "-n0"]
        argv = [str(toolchain.binary(tool[0])), *tool[1:], "-F", str(config_dir), "-l", str(path)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            message = (done.stderr.strip() or done.stdout.strip())[-2000:]
            raise DirectoryUnavailable(
                f"{tool[0]} failed on {name} (exit {done.returncode}): {message}"
            )


def add_entries_offline(
    workdir: Path, ldif: Path, *, toolchain: Toolchain | None = None
) -> None:
    """Bulk-load the entries of `ldif` into the stopped throw-away server of `workdir`.

    For benchmarks and tests that need a large directory fast (100,000 mailboxes in
    seconds instead of minutes of adds): ``slapadd -q -n1`` straight into the database,
    the way base.ldif is loaded. The server must have been built (started once) and
    must not be running; start it again afterwards. slapadd bypasses the overlays, so
    `ldif` must carry what they would add: pre-hashed passwords (see :func:`ssha`) and
    ppolicy's operational attributes such as ``pwdReset`` as wanted. Parent entries
    must come before their children, in the file or already in the database.
    """
    workdir = Path(workdir).resolve()
    tools = toolchain or Toolchain.from_env()
    config_dir = workdir / "slapd.d"
    if not (config_dir / "cn=config.ldif").exists():
        raise DirectoryUnavailable(f"no throw-away slapd has been built in {workdir}")
    if running_pid(workdir) is not None:
        raise DirectoryUnavailable(
            f"the slapd of {workdir} is running; stop it before loading entries offline"
        )
    argv = [str(tools.binary("slapadd")), "-q", "-n1", "-F", str(config_dir), "-l", str(ldif)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip())[-2000:]
        raise DirectoryUnavailable(
            f"slapadd failed on {Path(ldif).name} (exit {done.returncode}): {message}"
        )


# --- processes ------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only the owner can read (mode 0600, also when it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)


def _proc_alive(pid: int, must_contain: str | None = None) -> bool:
    """Is `pid` a live (not zombie) process whose command line contains `must_contain`?

    The command-line check guards against a recycled PID in a stale pid file.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, UnicodeDecodeError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        return False
    return must_contain is None or must_contain in cmdline


def running_pid(workdir: Path) -> int | None:
    """PID of the slapd serving `workdir`, or None when none runs."""
    pid_file = Path(workdir) / "slapd.pid"
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    conf_dir = str((Path(workdir) / "slapd.d").resolve())
    return pid if _proc_alive(pid, conf_dir) else None


def _terminate(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM, wait for the process to go, SIGKILL if it does not."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _proc_alive(pid):
            return
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# --- the server -------------------------------------------------------------------------


@dataclass
class _Secrets:
    suffix: str
    root_password: str
    service_password: str
    mailauth_password: str

    @classmethod
    def generate(cls, suffix: str, given: Mapping[str, str] | None) -> _Secrets:
        given = dict(given or {})
        return cls(
            suffix=suffix,
            root_password=given.get("root") or secrets.token_urlsafe(24),
            service_password=given.get("service") or secrets.token_urlsafe(24),
            mailauth_password=given.get("mailauth") or secrets.token_urlsafe(24),
        )


class ThrowawaySlapd:
    """A private slapd in `workdir` for tests, CI and demos.

    ``start()`` builds the configuration and base entries on first use (a workdir
    that already holds a built server is restarted with its data and secrets),
    starts slapd on 127.0.0.1 and returns a :class:`SlapdInfo`. ``stop()`` ends it.
    As a context manager it stops the server on exit.

    ``passwords`` may give ``root``, ``service`` and ``mailauth``; the rest are
    random. They are kept in ``workdir/secrets.json`` (mode 0600).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        suffix: str = DEFAULT_SUFFIX,
        nosync: bool = True,
        db_max_size: int = DEFAULT_DB_MAX_SIZE,
        tls: TlsFiles | None = None,
        tls_port: int | None = None,
        host: str = "127.0.0.1",
        passwords: Mapping[str, str] | None = None,
        toolchain: Toolchain | None = None,
        log_level: str = "none",
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.port = port
        self.suffix = suffix
        self.nosync = nosync
        self.db_max_size = db_max_size
        self.tls = tls
        self.tls_port = tls_port
        self.host = host
        self.passwords = passwords
        self.toolchain = toolchain or Toolchain.from_env()
        self.log_level = log_level
        self.info = None
        self._proc = None

    # -- paths
    @property
    def config_dir(self) -> Path:
        return self.workdir / "slapd.d"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_file(self) -> Path:
        return self.workdir / "slapd.log"

    @property
    def pid(self) -> int | None:
        return self.info.pid if self.info else None

    # -- life cycle
    def start(self, timeout: float = 10) -> SlapdInfo:
        """Build (first time) and start slapd; return once it answers a bind."""
        if self.info is not None and _proc_alive(self.info.pid):
            return self.info
        self.toolchain.check()
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if running_pid(self.workdir) is not None:
            raise DirectoryUnavailable(
                f"a slapd already serves {self.workdir}",
                hint=f"python -m dnmail.directory.server stop --dir {self.workdir}",
            )
        t0 = time.monotonic()
        creds = self._build()
        t_built = time.monotonic()
        # A port we picked may be taken between free_port() and slapd's bind():
        # pick again, a few times, rather than fail a whole test session.
        attempts = 1 if (self.port and (self.tls is None or self.tls_port)) else 3
        for attempt in range(attempts):
            port = self.port or free_port(self.host)
            tls_port = (self.tls_port or free_port(self.host)) if self.tls else None
            try:
                self.info = self._launch(creds, port, tls_port, timeout)
                break
            except _PortInUse:
                if attempt == attempts - 1:
                    raise DirectoryUnavailable(
                        f"slapd could not listen on {self.host}:{port}"
                    ) from None
        log.info(
            "slapd pid %s on %s (build %.3fs, start %.3fs)",
            self.info.pid,
            self.info.url,
            t_built - t0,
            time.monotonic() - t_built,
        )
        write_private(self.workdir / "info.json", self.info.to_json() + "\n")
        return self.info

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s). Safe to call twice."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        else:
            pid = running_pid(self.workdir)
            if pid is not None:
                _terminate(pid)
        (self.workdir / "slapd.pid").unlink(missing_ok=True)
        self.info = None

    def __enter__(self) -> SlapdInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals
    def _secrets_file(self) -> Path:
        return self.workdir / "secrets.json"

    def _build(self) -> _Secrets:
        """Build cn=config and the base entries unless the workdir already has them."""
        secrets_file = self._secrets_file()
        if (self.config_dir / "cn=config.ldif").exists() and secrets_file.exists():
            creds = _Secrets(**json.loads(secrets_file.read_text()))
            if normalise_dn(creds.suffix) != normalise_dn(self.suffix):
                raise ValueError(
                    f"{self.workdir} holds a server for {creds.suffix}, not {self.suffix}"
                )
            if self.tls is not None:
                self._check_tls_files()
                tls = render(_read_template("tls.ldif.in"), tls_values(self.tls))
                load_offline(
                    self.config_dir, {"tls.ldif": tls}, self.workdir / "build", self.toolchain
                )
            return creds
        # Nothing built, or a build that was interrupted: start from scratch.
        for d in (self.config_dir, self.data_dir):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(mode=0o700)
        if self.tls is not None:
            self._check_tls_files()
        creds = _Secrets.generate(self.suffix, self.passwords)
        write_private(secrets_file, json.dumps(asdict(creds), indent=2) + "\n")
        values = template_values(
            suffix=self.suffix,
            password_hashes={
                "root": ssha(creds.root_password),
                "service": ssha(creds.service_password),
                "mailauth": ssha(creds.mailauth_password),
            },
            db_directory=self.data_dir,
            run_dir=self.workdir,
            db_max_size=self.db_max_size,
            nosync=self.nosync,
            toolchain=self.toolchain,
            # The configuration administrator is whoever runs the server (over
            # ldapi:// with SASL EXTERNAL, were a socket configured).
            config_admin_dn=f"gidNumber={os.getgid()}+uidNumber={os.getuid()},"
            "cn=peercred,cn=external,cn=auth",
            log_level=self.log_level,
            tls=self.tls,
        )
        files = render_files(values, with_tls=self.tls is not None)
        load_offline(self.config_dir, files, self.workdir / "build", self.toolchain)
        return creds

    def _check_tls_files(self) -> None:
        assert self.tls is not None
        for f in (self.tls.cert, self.tls.key, self.tls.ca):
            if not Path(f).is_file():
                raise DirectoryUnavailable(f"TLS file not found: {f}")

    def _launch(
        self, creds: _Secrets, port: int, tls_port: int | None, timeout: float
    ) -> SlapdInfo:
        url = f"ldap://{self.host}:{port}"
        ldaps_url = f"ldaps://{self.host}:{tls_port}" if tls_port else None
        urls = " ".join(f"{u}/" for u in (url, ldaps_url) if u)
        cmd = [
            str(self.toolchain.binary("slapd")),
            "-d", "0",  # foreground: we own the PID; no debug output
            "-h", urls,
            "-F", str(self.config_dir),
        ]  # fmt: skip
        with open(self.log_file, "ab") as logf:
            logf.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} slapd -h {urls}\n".encode())
            logf.flush()
            # A session of its own: Ctrl-C in a test run or the end of the CLI
            # process does not reach slapd; stop() does.
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        (self.workdir / "slapd.pid").write_text(f"{self._proc.pid}\n")
        info = SlapdInfo(
            url=url,
            ldaps_url=ldaps_url,
            suffix=self.suffix,
            root_dn=f"cn=admin,{self.suffix}",
            root_password=creds.root_password,
            service_dn=f"cn=dnmail,ou=system,{self.suffix}",
            service_password=creds.service_password,
            mailauth_dn=f"cn=mailauth,ou=system,{self.suffix}",
            mailauth_password=creds.mailauth_password,
            workdir=self.workdir,
            pid=self._proc.pid,
        )
        self._wait_ready(info, timeout)
        return info

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _wait_ready(self, info: SlapdInfo, timeout: float) -> None:
        """Wait until slapd accepts a bind of the service identity (proves DB + ACLs)."""
        import ldap3  # the module CLI's status/stop do not need it

        assert self._proc is not None
        host, port = info.url.rsplit("/", 1)[-1].rsplit(":", 1)
        deadline = time.monotonic() + timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                (self.workdir / "slapd.pid").unlink(missing_ok=True)
                tail = self._log_tail()
                if "Address already in use" in tail:
                    raise _PortInUse()
                raise DirectoryUnavailable(
                    f"slapd exited with status {code} at start; see {self.log_file}:\n{tail}"
                )
            try:
                with socket.create_connection((host, int(port)), timeout=0.2):
                    pass
                server = ldap3.Server(info.url, get_info=ldap3.NONE, connect_timeout=1)
                conn = ldap3.Connection(
                    server, info.service_dn, info.service_password, receive_timeout=2
                )
                if conn.bind():
                    conn.unbind()
                    return
                conn.unbind()
            except (OSError, ldap3.core.exceptions.LDAPException):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise DirectoryUnavailable(
                    f"slapd did not answer on {info.url} within {timeout:.0f} s; "
                    f"see {self.log_file}:\n{self._log_tail()}"
                )
            time.sleep(0.01)


class _PortInUse(Exception):
    pass


# --- module CLI -------------------------------------------------------------------------


def _read_info(workdir: Path) -> SlapdInfo | None:
    try:
        return SlapdInfo.from_json((workdir / "info.json").read_text())
    except (OSError, ValueError, TypeError):
        return None


def _cmd_start(args: argparse.Namespace) -> int:
    workdir = Path(args.dir).resolve()
    pid = running_pid(workdir)
    info = _read_info(workdir)
    if pid is not None and info is not None:
        print(f"slapd already running from {workdir} (pid {pid}); reusing it", file=sys.stderr)
        sys.stdout.write(info.shell_exports())
        return 0
    tls_args = (args.tls_cert, args.tls_key, args.tls_ca)
    if any(tls_args) and not all(tls_args):
        print("--tls-cert, --tls-key and --tls-ca go together", file=sys.stderr)
        return 2
    tls = TlsFiles(*(Path(p) for p in tls_args)) if all(tls_args) else None
    server = ThrowawaySlapd(
        workdir,
        port=args.port,
        tls=tls,
        tls_port=args.tls_port,
        suffix=args.suffix,
        db_max_size=args.db_max_size,
        nosync=not args.sync,
    )
    # Not stopped on exit: slapd runs in its own session and outlives this process.
    info = server.start(timeout=args.timeout)
    print(f"slapd started from {workdir} (pid {info.pid}) on {info.url}", file=sys.stderr)
    sys.stdout.write(info.shell_exports())
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    workdir = Path(args.dir).resolve()
    pid = running_pid(workdir)
    if pid is None:
        print(f"no slapd running from {workdir}", file=sys.stderr)
        (workdir / "slapd.pid").unlink(missing_ok=True)
        return 0
    _terminate(pid)
    (workdir / "slapd.pid").unlink(missing_ok=True)
    print(f"slapd (pid {pid}) stopped", file=sys.stderr)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    workdir = Path(args.dir).resolve()
    pid = running_pid(workdir)
    if pid is None:
        print(f"no slapd running from {workdir}", file=sys.stderr)
        return 1
    info = _read_info(workdir)
    where = f" on {info.url}" + (f" and {info.ldaps_url}" if info and info.ldaps_url else "")
    print(f"slapd running from {workdir} (pid {pid}){where if info else ''}")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    """Render the templates for a production server (fsync on, Debian paths)."""
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    tls_args = (args.tls_cert, args.tls_key, args.tls_ca)
    if any(tls_args) and not all(tls_args):
        print("--tls-cert, --tls-key and --tls-ca go together", file=sys.stderr)
        return 2
    tls = TlsFiles(*(Path(p) for p in tls_args)) if all(tls_args) else None
    # Passwords from the environment (a secret never goes on a command line),
    # else generated; either way kept in OUT/secrets.json (0600) for the operator
    # to hand to dnmail (service) and to the mail servers (mailauth).
    passwords = {}
    for who in ("root", "service", "mailauth"):
        given = os.environ.get(f"DNMAIL_{who.upper()}_PASSWORD")
        passwords[who] = given or secrets.token_urlsafe(24)
        print(f"{who} password: {'from the environment' if given else 'generated'}",
              file=sys.stderr)  # fmt: skip
    write_private(
        out / "secrets.json",
        json.dumps({"suffix": args.suffix, **passwords}, indent=2) + "\n",
    )
    values = template_values(
        suffix=args.suffix,
        password_hashes={who: ssha(pw) for who, pw in passwords.items()},
        db_directory=Path(args.db_dir),
        run_dir=Path(args.run_dir),
        db_max_size=args.db_max_size,
        nosync=False,
        toolchain=Toolchain.from_env(),
        log_level="stats",
        tls=tls,
        module_dn=args.module_dn,
        database_dn=args.database_dn,
    )
    for name, text in render_files(values, with_tls=tls is not None).items():
        write_private(out / name, text)
        print(out / name)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m dnmail.directory.server``."""
    parser = argparse.ArgumentParser(
        prog="python -m dnmail.directory.server",
        description="A throw-away OpenLDAP server with dnmail's configuration.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("start", help="build (first time) and start; print export lines")
    p.add_argument("--dir", required=True, help="working directory of the server")
    p.add_argument("--port", type=int, help="ldap:// port (default: a free one)")
    p.add_argument("--tls-port", type=int, help="ldaps:// port (default: a free one)")
    p.add_argument("--tls-cert", help="server certificate (PEM)")
    p.add_argument("--tls-key", help="server private key (PEM)")
    p.add_argument("--tls-ca", help="CA certificate(s) (PEM)")
    p.add_argument("--suffix", default=DEFAULT_SUFFIX)
    p.add_argument("--db-max-size", type=int, default=DEFAULT_DB_MAX_SIZE)
    p.add_argument("--sync", action="store_true", help="keep fsync on (production-like)")
    p.add_argument("--timeout", type=float, default=10)
    p.set_defaults(func=_cmd_start)
    p = sub.add_parser(
        "render",
        help="render deploy/slapd for a production server (see deploy/slapd/README.md)",
    )
    p.add_argument("--out", required=True, help="directory for the rendered LDIF files")
    p.add_argument("--suffix", default=DEFAULT_SUFFIX)
    p.add_argument("--db-dir", default="/var/lib/ldap", help="olcDbDirectory")
    p.add_argument("--run-dir", default="/var/run/slapd", help="where the pid/args files go")
    p.add_argument("--db-max-size", type=int, default=DEFAULT_DB_MAX_SIZE)
    p.add_argument("--module-dn", default="cn=module{0},cn=config")
    p.add_argument("--database-dn", default="olcDatabase={1}mdb,cn=config")
    p.add_argument("--tls-cert", help="server certificate (PEM) as slapd will read it")
    p.add_argument("--tls-key", help="server private key (PEM)")
    p.add_argument("--tls-ca", help="CA certificate(s) (PEM)")
    p.set_defaults(func=_cmd_render)
    for name, func, text in (
        ("stop", _cmd_stop, "stop the server of DIR"),
        ("status", _cmd_status, "exit 0 if the server of DIR runs"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--dir", required=True)
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DirectoryUnavailable as e:
        print(f"error: {e}" + (f"\nhint: {e.hint}" if e.hint else ""), file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
