"""OpenLDAP's programs, and loading rendered LDIF into a stopped server with them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dnmail.errors import DirectoryUnavailable
from dnmail.i18n import _
from dnmail.local.defaults import DEFAULT_MODULE_DIR, DEFAULT_SCHEMA_DIR
from dnmail.local.process import running_pid, write_private


def install_hint() -> str:
    return _("install OpenLDAP: apt-get install slapd ldap-utils")
# How each rendered file is applied to a stopped server (deploy/slapd/README.md).
_OFFLINE_TOOL = {
    "config.ldif": ("slapadd", "-n0"),
    "base.ldif": ("slapadd", "-q", "-n1"),  # -q: skips consistency checks, 3x faster
}
_MODIFY_CONFIG = ("slapmodify", "-n0")


@dataclass(frozen=True)
class Toolchain:
    """Where the OpenLDAP binaries, modules and schemas are (Debian paths by default).

    Each can be overridden by an argument or by DNMAIL_SLAPD_SBIN,
    DNMAIL_SLAPD_MODULE_DIR and DNMAIL_SLAPD_SCHEMA_DIR.
    """

    sbin_dir: Path = Path("/usr/sbin")
    module_dir: Path = DEFAULT_MODULE_DIR
    schema_dir: Path = DEFAULT_SCHEMA_DIR

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
        programs = [self.binary(p) for p in ("slapd", "slapadd", "slapmodify")]
        missing = [str(p) for p in programs if not os.access(p, os.X_OK)]
        for path in (
            self.module_dir / "back_mdb.so",
            self.module_dir / "ppolicy.so",
            *(self.schema_dir / f"{s}.ldif" for s in ("core", "cosine", "nis", "inetorgperson")),
        ):
            if not path.exists():
                missing.append(str(path))
        if missing:
            raise DirectoryUnavailable(
                _("cannot build a throw-away directory server: missing {files}").format(
                    files=", ".join(missing)
                ),
                hint=install_hint(),
            )

    def run_offline(self, tool: tuple[str, ...], config_dir: Path, ldif: Path) -> None:
        """Run slapadd/slapmodify `tool` on `ldif` against the configuration `config_dir`.

        A failure raises DirectoryUnavailable with the tool's message (it names
        entries, never password values).
        """
        argv = [str(self.binary(tool[0])), *tool[1:], "-F", str(config_dir), "-l", str(ldif)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            message = (done.stderr.strip() or done.stdout.strip())[-2000:]
            raise DirectoryUnavailable(
                _("{tool} failed on {file} (exit {code}): {message}").format(
                    tool=tool[0], file=Path(ldif).name, code=done.returncode, message=message
                )
            )


def load_offline(
    config_dir: Path, files: Mapping[str, str], build_dir: Path, toolchain: Toolchain
) -> None:
    """Apply rendered files to a stopped server's cn=config and database, in order.

    Each is written to `build_dir` (mode 0600: base.ldif holds password hashes) and
    given to slapadd (config.ldif, base.ldif) or slapmodify (the others).
    """
    build_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, text in files.items():
        path = build_dir / name
        write_private(path, text)
        toolchain.run_offline(_OFFLINE_TOOL.get(name, _MODIFY_CONFIG), config_dir, path)


def add_entries_offline(workdir: Path, ldif: Path, *, toolchain: Toolchain | None = None) -> None:
    """Bulk-load the entries of `ldif` into the stopped throw-away server of `workdir`.

    For benchmarks and tests that need a large directory fast (100,000 mailboxes in
    seconds instead of minutes of adds): ``slapadd -q -n1`` straight into the database,
    the way base.ldif is loaded. The server must have been built (started once) and
    must not be running; start it again afterwards. slapadd bypasses the overlays, so
    `ldif` must carry what they would add: pre-hashed passwords (see
    :func:`dnmail.local.render.ssha`) and ppolicy's operational attributes such as
    ``pwdReset`` as wanted. Parent entries must come before their children, in the
    file or already in the database.
    """
    workdir = Path(workdir).resolve()
    tools = toolchain or Toolchain.from_env()
    config_dir = workdir / "slapd.d"
    if not (config_dir / "cn=config.ldif").exists():
        raise DirectoryUnavailable(
            _("no throw-away slapd has been built in {dir}").format(dir=workdir)
        )
    if running_pid(workdir) is not None:
        raise DirectoryUnavailable(
            _("the slapd of {dir} is running; stop it before loading entries offline").format(
                dir=workdir
            )
        )
    tools.run_offline(_OFFLINE_TOOL["base.ldif"], config_dir, ldif)
