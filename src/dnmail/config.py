"""Loading and validating the TOML configuration (DESIGN §4).

Where the file comes from: ``--config``, else ``$DNMAIL_CONFIG``, else
``<user config dir>/dnmail/config.toml``; with none of them, the embedded defaults
(SQLite in the user's data dir, a directory on ldap://127.0.0.1:389).

Every key is checked: an unknown key or a value of the wrong type is refused with a
message naming the key, so a typo never silently falls back to a default. Secrets
(the bind password) are never in this file: it names an environment variable or a
file that holds them.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnmail.errors import ConfigError
from dnmail.i18n import N_, _, later

if TYPE_CHECKING:
    from dnmail.domain.passwords import PasswordPolicy

ENV_CONFIG = "DNMAIL_CONFIG"
ENV_DATA_DIR = "DNMAIL_DATA_DIR"
ENV_CONFIG_DIR = "DNMAIL_CONFIG_DIR"
AUDIT_KEY_NAME = "audit.key"


def user_config_dir() -> Path:
    if os.environ.get(ENV_CONFIG_DIR):
        return Path(os.environ[ENV_CONFIG_DIR])
    from platformdirs import user_config_dir as _ucd

    return Path(_ucd("dnmail", appauthor=False))


def user_data_dir() -> Path:
    if os.environ.get(ENV_DATA_DIR):
        return Path(os.environ[ENV_DATA_DIR])
    from platformdirs import user_data_dir as _udd

    return Path(_udd("dnmail", appauthor=False))


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = ""  # resolved in load_config: sqlite file in the data dir by default
    echo: bool = False


@dataclass(frozen=True)
class DirectorySettings:
    url: str = "ldap://127.0.0.1:389"
    base_dn: str = "dc=danang,dc=gov,dc=vn"
    bind_dn: str = "cn=admin,dc=danang,dc=gov,dc=vn"
    bind_password_env: str = "DNMAIL_BIND_PASSWORD"
    bind_password_file: str = ""
    mail_domain: str = "danang.gov.vn"
    timeout: float = 10.0
    start_tls: bool = False
    ca_file: str = ""
    allow_insecure: bool = False
    page_size: int = 1000
    # Where the mailboxes are (docs/directory-layout.md): "by-unit" (a branch per unit
    # under people_dn) or "flat" (all directly under people_dn).
    layout: str = "by-unit"
    people_dn: str = ""  # resolved in load_config: ou=people,<base_dn> by default
    unit_attribute: str = ""  # e.g. "departmentNumber": the attribute naming the unit
    # Glob patterns on addresses that `directory adopt` leaves alone (docs/takeover.md).
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddressSettings:
    pattern: str = "{given}{initials}"
    reserved: tuple[str, ...] = ()  # added to the built-in reserved names


@dataclass(frozen=True)
class PasswordSettings:
    length: int = 14
    alphabet: str = ""  # empty: the built-in alphabet without look-alikes
    min_classes: int = 3

    def policy(self) -> PasswordPolicy:
        """The policy passwords are generated with; ConfigError when it cannot be met."""
        from dnmail.domain.passwords import PasswordPolicy

        table: dict[str, object] = {"length": self.length, "min_classes": self.min_classes}
        if self.alphabet:
            table["alphabet"] = self.alphabet
        return PasswordPolicy.from_config(table)


@dataclass(frozen=True)
class ProvisionSettings:
    chunk_size: int = 200
    workers: int = 1
    handout_dir: str = ""  # empty: <data dir>/handouts
    max_attempts: int = 5


@dataclass(frozen=True)
class SafetySettings:
    max_lock_share: float = 0.25  # of a unit's active mailboxes in one run
    max_lock_count: int = 100  # in total in one run
    min_unit_size: int = 8  # below this many mailboxes the share rule does not apply


@dataclass(frozen=True)
class SignatureSettings:
    trust_roots: tuple[str, ...] = ()
    crls: tuple[str, ...] = ()
    revocation: str = "soft-fail"
    max_age_days: int = 30  # a slip signed longer ago is refused (signatures/freshness.py)


@dataclass(frozen=True)
class LimitSettings:
    """What one untrusted file (roster, slip) may cost to read (issue 12 §3).

    A 5,000-row roster unpacks to 2.3 MiB and a 50,000-row one to 23 MiB; reading the
    latter adds ~26 MiB and 5 s of CPU, a 20-page PDF slip ~75 MiB and 3 s.
    """

    max_uncompressed_mb: int = 50  # an .xlsx unpacking to more, or a bigger PDF, is refused
    max_rows: int = 200_000
    memory_mb: int = 300  # what the reader process may add to its address space
    cpu_seconds: int = 10  # processor time of the reader
    wall_seconds: int = 20  # elapsed time of the reader


@dataclass(frozen=True)
class UnitSettings:
    signers: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuditSettings:
    """The key of the audit trail's MACs (services/audit.py): a file of 64 hex digits,
    0600, never in the database. Empty: `<data dir>/audit.key`, which `dnmail init`
    creates when it is missing."""

    key_file: str = ""


@dataclass(frozen=True)
class OperatorSettings:
    """Who runs the commands (services/operators.py) and where a unit officer's
    directory password comes from (a prompt on a terminal otherwise)."""

    account: str = ""  # who runs commands when --as is not given
    admins: tuple[str, ...] = ("iid-admin",)  # IID administrators and the cron identity
    password_env: str = "DNMAIL_OPERATOR_PASSWORD"
    password_file: str = ""


@dataclass(frozen=True)
class InterfaceSettings:
    """How dnmail speaks to people (dnmail/i18n.py); --lang and $DNMAIL_LANG win."""

    language: str = "vi"  # "vi" or "en"


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    directory: DirectorySettings = field(default_factory=DirectorySettings)
    addresses: AddressSettings = field(default_factory=AddressSettings)
    passwords: PasswordSettings = field(default_factory=PasswordSettings)
    provision: ProvisionSettings = field(default_factory=ProvisionSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    signatures: SignatureSettings = field(default_factory=SignatureSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    units: Mapping[str, UnitSettings] = field(default_factory=dict)
    operator: OperatorSettings = field(default_factory=OperatorSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    interface: InterfaceSettings = field(default_factory=InterfaceSettings)
    data_dir: Path = field(default_factory=user_data_dir)

    # -- derived values -------------------------------------------------------------
    def resolve_path(self, value: str) -> Path:
        """A path from the config: relative paths are relative to the config file."""
        p = Path(value).expanduser()
        if not p.is_absolute():
            base = self.path.parent if self.path else Path.cwd()
            p = base / p
        return p

    @property
    def handout_dir(self) -> Path:
        if self.provision.handout_dir:
            return self.resolve_path(self.provision.handout_dir)
        return self.data_dir / "handouts"

    def _secret_file(self, key: str, value: str, what: str) -> str:
        """A secret kept in a file only its owner can read (first line, no newline)."""
        p = self.resolve_path(value)
        data = read_trusted_file(p, what=what, private=True)
        try:
            return data.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise ConfigError(
                _("{key}: {path} is not UTF-8 text").format(key=key, path=p)
            ) from None

    def bind_password(self) -> str:
        """The directory bind secret, from the environment or a file (never the CLI)."""
        d = self.directory
        if d.bind_password_file:
            return self._secret_file(
                "directory.bind_password_file", d.bind_password_file, BIND_PASSWORD_FILE
            )
        if d.bind_password_env:
            value = os.environ.get(d.bind_password_env)
            if value:
                return value
        if d.bind_password_env:
            raise ConfigError(_(
                "no directory bind password: set the environment variable {name} or "
                "directory.bind_password_file"
            ).format(name=d.bind_password_env))
        raise ConfigError(_(
            "no directory bind password: set the environment variable named by "
            "directory.bind_password_env or directory.bind_password_file"
        ))

    @property
    def audit_key_path(self) -> Path:
        """Where the audit key is: `[audit] key_file`, else `<data dir>/audit.key`."""
        if self.audit.key_file:
            return self.resolve_path(self.audit.key_file)
        return self.data_dir / AUDIT_KEY_NAME

    def audit_key(self) -> bytes | None:
        """The audit trail's MAC key (32 bytes), or None when this host has none: the
        default file does not exist (a unit officer's host; or before `dnmail init`).
        A configured `[audit] key_file` must exist. Either way it must be the user's
        (or root's) and 0600 (read_trusted_file)."""
        path = self.audit_key_path
        if not self.audit.key_file and not os.path.lexists(path):
            return None
        text = read_trusted_file(path, what=AUDIT_KEY_FILE, private=True).strip()
        try:
            key = bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            key = b""
        if len(key) != 32:
            raise ConfigError(
                _(
                    "audit key file {path} does not hold an audit key (64 hexadecimal digits)"
                ).format(path=path),
                hint=_(
                    "restore it from its copy; `dnmail init` makes a new one only where none "
                    "exists (docs/security.md)"
                ),
            )
        return key

    def operator_password(self, account: str, bind_dn: str) -> str:
        """A unit officer's directory password: from `operator.password_env`, else
        `operator.password_file` (0600), else a prompt on a terminal — never the
        command line, never this file."""
        o = self.operator
        if o.password_env:
            value = os.environ.get(o.password_env)
            if value:
                return value
        if o.password_file:
            return self._secret_file(
                "operator.password_file", o.password_file, OPERATOR_PASSWORD_FILE
            )
        import sys

        if sys.stdin.isatty():
            import getpass

            prompt = _("directory password of {account} ({dn}): ")
            value = getpass.getpass(prompt.format(account=account, dn=bind_dn))
            if value:
                return value
        if o.password_env:
            raise ConfigError(_(
                "no directory password for {account}: set the environment variable {name}, "
                "operator.password_file, or run on a terminal to be asked"
            ).format(account=account, name=o.password_env))
        raise ConfigError(_(
            "no directory password for {account}: set the environment variable named by "
            "operator.password_env, operator.password_file, or run on a terminal to be asked"
        ).format(account=account))


#: What a file or directory dnmail checks is (`what=` of read_trusted_file and
#: check_safe_directory), in the messages: English message ids, shown translated.
CONFIGURATION_FILE = N_("configuration file")
CONFIGURATION_DIRECTORY = N_("the directory of the configuration file")
AUDIT_KEY_FILE = N_("audit key file")
BIND_PASSWORD_FILE = N_("bind password file")
OPERATOR_PASSWORD_FILE = N_("operator password file")
DATA_DIRECTORY = N_("data directory")
HANDOUT_DIRECTORY = N_("handout directory")


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _trusted_owner(uid: int) -> bool:
    """Files dnmail takes orders from belong to whoever runs it, or to root (as ssh)."""
    return uid in (os.geteuid(), 0)


def check_safe_directory(path: Path, *, what: str) -> None:
    """Refuse a directory that other users could write into (swap, plant or remove a
    file there) or that belongs to someone else: group or other may not write to it,
    and it belongs to whoever runs dnmail or to root (as ssh checks ~/.ssh)."""
    what = later(what)
    try:
        st = path.stat()
    except OSError as e:
        raise ConfigError(f"{what} {path}: {e.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(_("{what} {path} is not a directory").format(what=what, path=path))
    if not _trusted_owner(st.st_uid):
        raise ConfigError(
            _(
                "{what} {path} belongs to {owner}: dnmail only uses a directory of its own "
                "user or of root"
            ).format(what=what, path=path, owner=_owner(st.st_uid)),
            hint=_("use a directory of your own, or run: chown {uid} {path}").format(
                uid=os.geteuid(), path=path
            ),
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            _(
                "{what} {path} is writable by other users (mode {mode}); run: chmod go-w {path}"
            ).format(what=what, path=path, mode=f"{stat.S_IMODE(st.st_mode):o}"),
            hint=_(
                "whoever can write into it can replace or plant the files dnmail reads or "
                "writes there"
            ),
        )


def read_trusted_file(path: Path, *, what: str, private: bool = False,
                      max_bytes: int = 1024**2) -> bytes:
    """The bytes of a file dnmail takes orders or secrets from, after checks made on
    the open file itself (no race between the check and the read):

    - a regular file: a FIFO, a device or a directory is refused without being read
      (a FIFO would block the command for ever);
    - owned by the user running dnmail or by root (as ssh requires of its files);
    - writable by nobody else (`private`: readable by nobody else either).
    """
    what = later(what)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ConfigError(_("{what} {path} does not exist").format(what=what, path=path)) from None
    except OSError as e:
        raise ConfigError(_unreadable(what, path, e.strerror)) from None
    try:
        _check_trusted(fd, path, what=what, private=private, max_bytes=max_bytes)
        chunks = []
        while data := os.read(fd, 65536):
            chunks.append(data)
        return b"".join(chunks)
    except OSError as e:
        raise ConfigError(_unreadable(what, path, e.strerror)) from None
    finally:
        os.close(fd)


def _unreadable(what: str, path: Path, reason: str | None) -> str:
    return _("cannot read {what} {path}: {reason}").format(what=what, path=path, reason=reason)


def _check_trusted(fd: int, path: Path, *, what: str, private: bool, max_bytes: int) -> None:
    """The checks of read_trusted_file, on the open file (`what` already translated)."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(_(
            "cannot read {what} {path}: it is {kind}, not a regular file (refused without "
            "reading it)"
        ).format(what=what, path=path, kind=later(_file_kind(st.st_mode))))
    if not _trusted_owner(st.st_uid):
        raise ConfigError(
            _(
                "{what} {path} belongs to {owner}: dnmail only reads a file of its own user "
                "or of root"
            ).format(what=what, path=path, owner=_owner(st.st_uid)),
            hint=_(
                "whoever owns it chooses the servers and where secrets go: use your own copy"
            ),
        )
    mode = stat.S_IMODE(st.st_mode)
    where = {"what": what, "path": path, "mode": f"{mode:o}"}
    if private and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(_(
            "{what} {path} is readable by other users (mode {mode}); run: chmod 600 {path}"
        ).format(**where))
    if mode & stat.S_IWOTH:
        raise ConfigError(_(
            "{what} {path} is writable by every user (mode {mode}); run: chmod o-w {path}"
        ).format(**where))
    if mode & stat.S_IWGRP:
        raise ConfigError(_(
            "{what} {path} is writable by its group (mode {mode}); run: chmod g-w {path}"
        ).format(**where))
    if st.st_size > max_bytes:
        raise ConfigError(_("{what} {path} is {size} bytes: not a {what}").format(
            what=what, path=path, size=f"{st.st_size:,}"
        ))


def _file_kind(mode: int) -> str:
    """What a file that is no regular file is (a message id: translate with `later`)."""
    for test, name in (
        (stat.S_ISFIFO, N_("a FIFO")),
        (stat.S_ISDIR, N_("a directory")),
        (stat.S_ISCHR, N_("a character device")),
        (stat.S_ISBLK, N_("a block device")),
        (stat.S_ISSOCK, N_("a socket")),
    ):
        if test(mode):
            return name
    return N_("not a plain file")


def check_database_file(path: Path) -> None:
    """On SQLite the file's permissions are the boundary (docs/security.md): refuse a
    database (or its write-ahead log) that other users may read or write."""
    for p in (path, path.with_name(path.name + "-wal")):
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            continue
        except OSError as e:
            raise ConfigError(
                _("database file {path}: {reason}").format(path=p, reason=e.strerror)
            ) from None
        if mode & stat.S_IRWXO:
            raise ConfigError(
                _(
                    "database file {path} is readable or writable by other users (mode "
                    "{mode}); run: chmod o-rwx {path}"
                ).format(path=p, mode=f"{stat.S_IMODE(mode):o}"),
                hint=_(
                    "the SQLite file holds every unit's records: only IID's accounts may open "
                    "it (docs/security.md)"
                ),
            )


def url_password(url: str) -> bool:
    """True when a database URL carries a password (user:password@host)."""
    return re.match(r"^[a-z0-9+]+://[^/@:]*:[^/@]*@", url, flags=re.I) is not None


# --- parsing ----------------------------------------------------------------------

_SECTIONS: dict[str, type] = {
    "database": DatabaseSettings,
    "directory": DirectorySettings,
    "addresses": AddressSettings,
    "passwords": PasswordSettings,
    "provision": ProvisionSettings,
    "safety": SafetySettings,
    "signatures": SignatureSettings,
    "limits": LimitSettings,
    "operator": OperatorSettings,
    "audit": AuditSettings,
    "interface": InterfaceSettings,
}


def _typename(t: Any) -> str:
    names = {
        str: N_("a string"), int: N_("an integer"), float: N_("a number"),
        bool: N_("true or false"),
    }
    return later(names.get(t, N_("a list of strings")))


def _coerce_section(name: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(_("[{name}] must be a table").format(name=name))
    defaults = cls()
    values = {}
    fields = {f.name: f for f in dataclass_fields(cls)}
    for key, value in table.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(_("unknown key {key} (known keys: {known})").format(
                key=f"{name}.{key}", known=known
            ))
        default = getattr(defaults, key)
        full = f"{name}.{key}"
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        elif isinstance(default, tuple):
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            value = tuple(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ConfigError(_("{key} must be {type}, not {value}").format(
                key=full, type=_typename(type(default)), value=f"{value!r:.60}"
            ))
        values[key] = value
    return replace(defaults, **values)


def parse_config(data: Mapping[str, Any], *, path: Path | None = None) -> Config:
    kwargs: dict[str, Any] = {"path": path}
    for key, value in data.items():
        if key in _SECTIONS:
            kwargs[key] = _coerce_section(key, _SECTIONS[key], value)
        elif key == "units":
            if not isinstance(value, dict):
                raise ConfigError(_("[units] must hold tables like [units.snv]"))
            units = {}
            for code, table in value.items():
                units[code.lower()] = _coerce_section(f"units.{code}", UnitSettings, table)
            kwargs["units"] = units
        elif key == "data_dir":
            if not isinstance(value, str):
                raise ConfigError(_("data_dir must be a string"))
            kwargs["data_dir"] = value
        else:
            known = ", ".join([*_SECTIONS, "units", "data_dir"])
            raise ConfigError(_("unknown section or key {key} (known: {known})").format(
                key=repr(key), known=known
            ))
    if "data_dir" in kwargs:  # relative to the config file, like every path in it
        kwargs["data_dir"] = Config(path=path, data_dir=Path()).resolve_path(kwargs["data_dir"])
    return _validate(Config(**kwargs))


def _validate(cfg: Config) -> Config:
    """Refuse values that cannot work (ConfigError names the key); resolve paths."""
    _check_connections(cfg)
    _check_batches(cfg)
    _check_rules(cfg)
    return _check_layout(_resolve_paths(cfg))


def _check_connections(cfg: Config) -> None:
    d = cfg.directory
    if url_password(cfg.database.url):
        raise ConfigError(
            _("database.url holds a password: the configuration never holds a secret"),
            hint=_(
                "put it in ~/.pgpass (mode 0600) or $PGPASSWORD, or use client certificates "
                "(docs/security.md)"
            ),
        )
    if not d.url.startswith(("ldap://", "ldaps://")):
        raise ConfigError(_(
            "directory.url must start with ldap:// or ldaps://, not {value}"
        ).format(value=f"{d.url!r:.80}"))
    if "=" not in d.base_dn:
        raise ConfigError(_("directory.base_dn {value} is not a DN").format(
            value=f"{d.base_dn!r:.80}"
        ))
    if d.timeout <= 0:
        raise ConfigError(_("directory.timeout must be positive"))
    if not any(a.strip() for a in cfg.operator.admins):
        raise ConfigError(_("operator.admins must name at least one IID administrator"))
    if not 1 <= d.page_size <= 100_000:
        raise ConfigError(_("directory.page_size must be between 1 and 100000"))
    if cfg.signatures.revocation not in ("soft-fail", "require"):
        raise ConfigError(_('signatures.revocation must be "soft-fail" or "require"'))
    if cfg.interface.language not in ("vi", "en"):
        raise ConfigError(_('interface.language must be "vi" or "en", not {value}').format(
            value=f"{cfg.interface.language!r:.40}"
        ))
    if not 1 <= cfg.signatures.max_age_days <= 3660:
        raise ConfigError(_("signatures.max_age_days must be between 1 and 3660"))


def _check_batches(cfg: Config) -> None:
    p = cfg.provision
    if not 1 <= p.chunk_size <= 10_000:
        raise ConfigError(_("provision.chunk_size must be between 1 and 10000"))
    if not 1 <= p.workers <= 64:
        raise ConfigError(_("provision.workers must be between 1 and 64"))
    if p.max_attempts < 1:
        raise ConfigError(_("provision.max_attempts must be at least 1"))
    s = cfg.safety
    if not 0 < s.max_lock_share <= 1:
        raise ConfigError(_("safety.max_lock_share must be in (0, 1]"))
    if s.max_lock_count < 0:
        raise ConfigError(_("safety.max_lock_count must be ≥ 0"))


def _check_rules(cfg: Config) -> None:
    from dnmail.domain.addresses import check_pattern

    check_pattern(cfg.addresses.pattern)
    cfg.passwords.policy()
    lim = cfg.limits
    if lim.max_uncompressed_mb < 1:
        raise ConfigError(_("limits.max_uncompressed_mb must be at least 1"))
    if lim.memory_mb < 64:
        raise ConfigError(_("limits.memory_mb must be at least 64"))
    if lim.cpu_seconds < 1 or lim.wall_seconds < 1:
        raise ConfigError(_("limits.cpu_seconds and limits.wall_seconds must be at least 1"))


def _resolve_paths(cfg: Config) -> Config:
    """A relative CA file or SQLite path is relative to the config file; no database
    URL means a SQLite file in the data dir."""
    d = cfg.directory
    if d.ca_file and not Path(d.ca_file).expanduser().is_absolute():
        cfg = replace(cfg, directory=replace(d, ca_file=str(cfg.resolve_path(d.ca_file))))
    url = cfg.database.url
    if not url:
        url = f"sqlite:///{cfg.data_dir / 'dnmail.db'}"
    elif url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///") :]
        if rel and rel != ":memory:":
            url = f"sqlite:///{cfg.resolve_path(rel)}"
    if url != cfg.database.url:
        cfg = replace(cfg, database=replace(cfg.database, url=url))
    return cfg


_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,63}$")


def _check_layout(cfg: Config) -> Config:
    """directory.layout, people_dn (default ou=people,<base_dn>), unit_attribute, ignore."""
    d = cfg.directory
    if d.layout not in ("by-unit", "flat"):
        raise ConfigError(_('directory.layout must be "by-unit" or "flat", not {value}').format(
            value=f"{d.layout!r:.40}"
        ))
    if d.unit_attribute and not _ATTRIBUTE_NAME.match(d.unit_attribute):
        raise ConfigError(_(
            "directory.unit_attribute {value} is not an attribute name (e.g. departmentNumber)"
        ).format(value=f"{d.unit_attribute!r:.80}"))
    if d.unit_attribute.lower() in ("uid", "mail", "cn", "sn", "givenname", "employeenumber",
                                    "ou", "title", "telephonenumber", "userpassword"):
        raise ConfigError(_(
            "directory.unit_attribute {value} already holds something else: name an "
            "attribute of its own (e.g. departmentNumber)"
        ).format(value=d.unit_attribute))
    for pattern in d.ignore:
        if not pattern.strip():
            raise ConfigError(_("directory.ignore holds an empty pattern"))
    people = d.people_dn.strip() or f"ou=people,{d.base_dn}"
    if "=" not in people or not people.lower().endswith(d.base_dn.lower()):
        raise ConfigError(_("directory.people_dn {value} is not a DN under {base}").format(
            value=f"{people!r:.80}", base=d.base_dn
        ))
    if people != d.people_dn:
        cfg = replace(cfg, directory=replace(d, people_dn=people))
    return cfg


def find_config_file(explicit: str | os.PathLike | None) -> Path | None:
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    candidate = user_config_dir() / "config.toml"
    return candidate if candidate.exists() else None


def load_config(explicit: str | os.PathLike | None = None) -> Config:
    """Load the configuration; see the module docstring for where it is looked for."""
    path = find_config_file(explicit)
    if path is None:
        return parse_config({})
    # Whoever may write the configuration chooses the database, the directory and
    # where the bind password is sent: its file and its directory must be the user's
    # (or root's) and writable by nobody else, as ssh requires of its own files.
    raw = read_trusted_file(path, what=CONFIGURATION_FILE)
    check_safe_directory(Path(os.path.realpath(path)).parent, what=CONFIGURATION_DIRECTORY)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(_("{path}: not UTF-8 text").format(path=path)) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(_("{path}: not valid TOML: {error}").format(path=path, error=e)) from None
    try:
        return parse_config(data, path=path.resolve())
    except ConfigError as e:
        raise ConfigError(f"{path}: {e.message}", hint=e.hint) from None
