"""A throw-away PostgreSQL cluster: initdb in a temporary directory, on a free port of
127.0.0.1, with or without TLS — for the tests that need a server configured in a way
the machine's own one is not (tests/integration/test_tls.py: `ssl = on` and `off`).

It uses the machine's PostgreSQL binaries (`initdb`, `pg_ctl`; Debian puts them under
/usr/lib/postgresql/VERSION/bin, or set DNMAIL_TEST_PG_BIN). initdb refuses to run as
root, so as root (CI) the cluster belongs to the `postgres` OS user and the commands run
through `runuser -u postgres`; as anyone else, it belongs to that user::

    cluster = ThrowawayPostgres.create()          # about 2 s (no fsync)
    with cluster.running(tls=TlsFiles(...)) as url:
        ...                                       # postgresql://postgres@127.0.0.1:PORT/postgres
    cluster.remove()
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dnmail.local.process import free_port

OS_USER = "postgres"  # the cluster's owner when the tests run as root


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL binaries, or no user to run them as."""


def find_bindir() -> Path:
    env = os.environ.get("DNMAIL_TEST_PG_BIN")
    candidates = [Path(env)] if env else sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True,
    )
    for d in candidates:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    raise PostgresUnavailable(
        "no initdb/pg_ctl (apt-get install postgresql, or set DNMAIL_TEST_PG_BIN)"
    )


class ThrowawayPostgres:
    def __init__(self, bindir: Path, root: Path, owner: pwd.struct_passwd | None):
        self.bindir, self.root, self.owner = bindir, root, owner
        self.data = root / "data"
        self.port = 0

    @classmethod
    def create(cls) -> ThrowawayPostgres:
        bindir = find_bindir()
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam(OS_USER)
            except KeyError:
                raise PostgresUnavailable(f"running as root and no {OS_USER!r} OS user") from None
        # Not under pytest's tmp_path: its directories are 0700 root, closed to `postgres`.
        root = Path(tempfile.mkdtemp(prefix="dnmail-pg-"))
        cluster = cls(bindir, root, owner)
        try:
            cluster._chown(root)
            cluster._run(
                "initdb",
                "-D",
                str(cluster.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            )
        except BaseException:
            cluster.remove()
            raise
        return cluster

    def _chown(self, path: Path) -> None:
        if self.owner is not None:
            os.chown(path, self.owner.pw_uid, self.owner.pw_gid)

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / tool), *args]
        if self.owner is not None:
            cmd = ["runuser", "-u", self.owner.pw_name, "--", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.root)
        if p.returncode != 0:
            raise PostgresUnavailable(f"{tool} failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
        return p

    def _install(self, source: Path, name: str) -> Path:
        """A copy of a certificate or key the server can read (and that it accepts: a
        key must be private to its owner)."""
        target = self.root / name
        shutil.copyfile(source, target)
        target.chmod(0o600)
        self._chown(target)
        return target

    @contextmanager
    def running(self, *, tls=None) -> Iterator[str]:
        """Start the cluster (`tls`: a TlsFiles with cert and key → `ssl = on`; None →
        `ssl = off`), yield its admin URL, stop it."""
        self.port = free_port()
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.root}",
            "-c fsync=off",
        ]
        if tls is not None:
            cert = self._install(Path(tls.cert), "server.crt")
            key = self._install(Path(tls.key), "server.key")
            options += ["-c ssl=on", f"-c ssl_cert_file={cert}", f"-c ssl_key_file={key}"]
        else:
            options += ["-c ssl=off"]
        log = self.root / "server.log"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            " ".join(options),
            "start",
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        finally:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
