"""A throw-away OpenLDAP server with dnmail's configuration (schemas, ppolicy, ACLs).

Tests (the ``slapd`` and ``ldap`` fixtures), CI, the demo and the benchmarks start
their directory through :class:`ThrowawaySlapd`, so they run against exactly the
configuration production renders from the same templates (:mod:`dnmail.local.render`).

A server is built offline (~0.1 s: ``slapadd``/``slapmodify``, no network), then
``slapd -d 0`` runs in the foreground of its own session: the caller owns its PID, and
it outlives the Python process when started by ``dnmail local start``::

    eval "$(dnmail local start --dir var/slapd)"   # prints export lines
    dnmail local status --dir var/slapd
    dnmail local stop --dir var/slapd
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from dnmail.errors import BadInput, DirectoryUnavailable
from dnmail.i18n import _
from dnmail.local.defaults import DEFAULT_DB_MAX_SIZE, DEFAULT_SUFFIX
from dnmail.local.openldap import Toolchain, load_offline
from dnmail.local.process import free_port, proc_alive, running_pid, terminate, write_private
from dnmail.local.render import (
    DirectoryLayout,
    TlsFiles,
    normalise_dn,
    render,
    render_files,
    ssha,
    template,
    template_values,
    tls_values,
)

log = logging.getLogger(__name__)


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
    layout: str = "by-unit"  # the access rules it was built with (DirectoryLayout)
    unit_attribute: str = ""

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
            "DNMAIL_TEST_LDAP_LAYOUT": self.layout,
            "DNMAIL_TEST_LDAP_UNIT_ATTRIBUTE": self.unit_attribute,
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

    def hashes(self) -> dict[str, str]:
        return {
            "root": ssha(self.root_password),
            "service": ssha(self.service_password),
            "mailauth": ssha(self.mailauth_password),
        }


class _PortInUse(Exception):
    pass


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
        layout: DirectoryLayout | None = None,
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
        #: None: by-unit for a new server, the built one's for a server built before.
        self._layout_given = layout
        self.layout = layout or DirectoryLayout()
        self.info: SlapdInfo | None = None
        self._proc: subprocess.Popen[bytes] | None = None

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
        if self.info is not None and proc_alive(self.info.pid):
            return self.info
        self.toolchain.check()
        self.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if running_pid(self.workdir) is not None:
            raise DirectoryUnavailable(
                _("a slapd already serves {dir}").format(dir=self.workdir),
                hint=f"dnmail local stop --dir {self.workdir}",
            )
        t0 = time.monotonic()
        creds = self._build()
        t_built = time.monotonic()
        info = self._launch_on_free_ports(creds, timeout)
        log.info(
            "slapd pid %s on %s (build %.3fs, start %.3fs)",
            info.pid,
            info.url,
            t_built - t0,
            time.monotonic() - t_built,
        )
        write_private(self.workdir / "info.json", info.to_json() + "\n")
        self.info = info
        return info

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
                terminate(pid)
        (self.workdir / "slapd.pid").unlink(missing_ok=True)
        self.info = None

    def __enter__(self) -> SlapdInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- building
    def _build(self) -> _Secrets:
        """Build cn=config and the base entries unless the workdir already has them."""
        secrets_file = self.workdir / "secrets.json"
        if (self.config_dir / "cn=config.ldif").exists() and secrets_file.exists():
            return self._reuse_build(secrets_file)
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
            password_hashes=creds.hashes(),
            db_directory=self.data_dir,
            run_dir=self.workdir,
            db_max_size=self.db_max_size,
            nosync=self.nosync,
            module_dir=self.toolchain.module_dir,
            schema_dir=self.toolchain.schema_dir,
            # The configuration administrator is whoever runs the server (over
            # ldapi:// with SASL EXTERNAL, were a socket configured).
            config_admin_dn=f"gidNumber={os.getgid()}+uidNumber={os.getuid()},"
            "cn=peercred,cn=external,cn=auth",
            log_level=self.log_level,
            tls=self.tls,
            layout=self.layout,
        )
        files = render_files(values, with_tls=self.tls is not None)
        load_offline(self.config_dir, files, self.workdir / "build", self.toolchain)
        return creds

    def _reuse_build(self, secrets_file: Path) -> _Secrets:
        """The secrets of a server built before; its TLS files replaced when given."""
        creds = _Secrets(**json.loads(secrets_file.read_text()))
        if normalise_dn(creds.suffix) != normalise_dn(self.suffix):
            raise BadInput(_("{dir} holds a server for {built}, not {suffix}").format(
                dir=self.workdir, built=creds.suffix, suffix=self.suffix
            ))
        before = read_info(self.workdir)
        if before is not None:
            built = DirectoryLayout(kind=before.layout, unit_attribute=before.unit_attribute)
            if self._layout_given is None:
                self.layout = built
            elif (built.kind, built.unit_attribute) != (
                self.layout.kind, self.layout.unit_attribute
            ):
                if built.unit_attribute:
                    text = _(
                        "{dir} holds a server built for the {built} layout on {attribute}, not "
                        "{layout}"
                    )
                else:
                    text = _("{dir} holds a server built for the {built} layout, not {layout}")
                raise BadInput(
                    text.format(
                        dir=self.workdir, built=built.kind, attribute=built.unit_attribute,
                        layout=self.layout.kind,
                    ),
                    hint=_(
                        "start it without --layout (or with the same one), or use another --dir"
                    ),
                )
        if self.tls is not None:
            self._check_tls_files()
            tls = render(template("tls.ldif.in"), tls_values(self.tls))
            load_offline(self.config_dir, {"tls.ldif": tls}, self.workdir / "build", self.toolchain)
        return creds

    def _check_tls_files(self) -> None:
        assert self.tls is not None
        for f in (self.tls.cert, self.tls.key, self.tls.ca):
            if not Path(f).is_file():
                raise DirectoryUnavailable(_("TLS file not found: {path}").format(path=f))

    # -- running
    def _launch_on_free_ports(self, creds: _Secrets, timeout: float) -> SlapdInfo:
        """Start slapd; a port picked here may be taken before slapd binds it, so pick
        again, a few times, rather than fail a whole test session."""
        attempts = 1 if (self.port and (self.tls is None or self.tls_port)) else 3
        for attempt in range(attempts):
            port = self.port or free_port(self.host)
            tls_port = (self.tls_port or free_port(self.host)) if self.tls else None
            try:
                return self._launch(creds, port, tls_port, timeout)
            except _PortInUse:
                if attempt == attempts - 1:
                    raise DirectoryUnavailable(
                        _("slapd could not listen on {host}:{port}").format(
                            host=self.host, port=port
                        )
                    ) from None
        raise AssertionError("unreachable")

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
            layout=self.layout.kind,
            unit_attribute=self.layout.unit_attribute,
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
        deadline = time.monotonic() + timeout
        while True:
            self._check_still_running()
            if _service_binds(info):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise DirectoryUnavailable(
                    _("slapd did not answer on {url} within {seconds} s; see {log}:").format(
                        url=info.url, seconds=f"{timeout:.0f}", log=self.log_file
                    ) + "\n" + self._log_tail()
                )
            time.sleep(0.01)

    def _check_still_running(self) -> None:
        """Raise when slapd has exited during its start (_PortInUse for a taken port)."""
        assert self._proc is not None
        code = self._proc.poll()
        if code is None:
            return
        self._proc = None
        (self.workdir / "slapd.pid").unlink(missing_ok=True)
        tail = self._log_tail()
        if "Address already in use" in tail:
            raise _PortInUse()
        raise DirectoryUnavailable(
            _("slapd exited with status {code} at start; see {log}:").format(
                code=code, log=self.log_file
            ) + "\n" + tail
        )


def _service_binds(info: SlapdInfo) -> bool:
    """Does the server of `info` accept a bind of the service identity now?"""
    import ldap3  # `dnmail local status` and `stop` do not need it

    host, port = info.url.rsplit("/", 1)[-1].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.2):
            pass
        server = ldap3.Server(info.url, get_info=ldap3.NONE, connect_timeout=1)
        conn = ldap3.Connection(server, info.service_dn, info.service_password, receive_timeout=2)
        bound = conn.bind()
        conn.unbind()
        return bound
    except (OSError, ldap3.core.exceptions.LDAPException):
        return False


# --- what `dnmail local` runs ---------------------------------------------------------


def read_info(workdir: Path) -> SlapdInfo | None:
    """The :class:`SlapdInfo` the last start in `workdir` wrote, if readable."""
    try:
        return SlapdInfo.from_json((Path(workdir) / "info.json").read_text())
    except (OSError, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Started:
    info: SlapdInfo
    reused: bool  # True: a server already ran from that directory


@dataclass(frozen=True)
class Status:
    workdir: Path
    pid: int | None  # None: no server runs from workdir
    info: SlapdInfo | None


def start_detached(
    workdir: Path,
    *,
    port: int | None = None,
    tls: TlsFiles | None = None,
    tls_port: int | None = None,
    suffix: str = DEFAULT_SUFFIX,
    db_max_size: int = DEFAULT_DB_MAX_SIZE,
    nosync: bool = True,
    timeout: float = 10,
    layout: DirectoryLayout | None = None,
) -> Started:
    """Start (building it the first time) the server of `workdir` and leave it running.

    A server already running from `workdir` is reused. slapd runs in its own session
    and outlives this process; :func:`stop_detached` ends it.
    """
    workdir = Path(workdir).resolve()
    info = read_info(workdir)
    if running_pid(workdir) is not None and info is not None:
        return Started(info, reused=True)
    server = ThrowawaySlapd(
        workdir,
        port=port,
        tls=tls,
        tls_port=tls_port,
        suffix=suffix,
        db_max_size=db_max_size,
        nosync=nosync,
        layout=layout,
    )
    return Started(server.start(timeout=timeout), reused=False)


def stop_detached(workdir: Path) -> int | None:
    """Stop the server of `workdir`; return its pid, or None when none ran."""
    workdir = Path(workdir).resolve()
    pid = running_pid(workdir)
    if pid is not None:
        terminate(pid)
    (workdir / "slapd.pid").unlink(missing_ok=True)
    return pid


def status(workdir: Path) -> Status:
    """Whether a server runs from `workdir`, and where it listens."""
    workdir = Path(workdir).resolve()
    pid = running_pid(workdir)
    return Status(workdir, pid, read_info(workdir) if pid is not None else None)
