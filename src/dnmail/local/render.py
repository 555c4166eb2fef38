"""The slapd templates (package data) and how they become LDIF.

``templates/*.ldif.in`` are the one source of the directory's configuration: the
throw-away server of tests, CI and the demo (:mod:`dnmail.local.slapd`) and a
production server (``dnmail deploy render``, deploy/slapd/README.md) are rendered from
them, so what the tests prove about locking, must-change and the access rules is
what production gets. Rendering is plain text work: no process, no network.

Files, in the order they are applied:

1. ``config.ldif`` (``slapadd -n0``): global settings, schemas, the mdb database;
2. ``ppolicy-module.ldif`` then ``dnmail.ldif`` (``slapmodify -n0`` offline,
   ``ldapmodify`` online), both from ``dnmail.ldif.in``: its module record alone
   first, because slapmodify records a new module without loading it, then the
   rest (overlay, indexes, limits, ACLs);
3. ``tls.ldif`` when TLS files are given;
4. ``base.ldif`` (``slapadd -q -n1``): suffix, branches, service identities and the
   default password policy. slapadd bypasses overlays, so passwords are pre-hashed
   ({SSHA}, :func:`ssha`); a cleartext one would stay cleartext.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from dnmail.i18n import _
from dnmail.local.defaults import (
    DEFAULT_DATABASE_DN,
    DEFAULT_DB_MAX_SIZE,
    DEFAULT_MODULE_DIR,
    DEFAULT_MODULE_DN,
    DEFAULT_SCHEMA_DIR,
    DEFAULT_SUFFIX,
    PRODUCTION_DB_DIR,
    PRODUCTION_RUN_DIR,
)
from dnmail.local.process import write_private

ORGANIZATION = "UBND thành phố Đà Nẵng"
# Debian's peer-credential identity of the local root user: the configuration
# administrator over ldapi:// (ldapmodify -Y EXTERNAL -H ldapi:///).
ROOT_PEERCRED_DN = "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
# The identities whose passwords base.ldif carries: the root DN, dnmail's service
# identity (cn=dnmail) and the mail servers' read-only one (cn=mailauth).
IDENTITIES = ("root", "service", "mailauth")

_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")
# POSIX extended regular expression metacharacters (regex(7)).
_ERE_SPECIAL = set(".[]()*+?{}|^$\\")


@dataclass(frozen=True)
class DirectoryLayout:
    """Where the mailboxes are (docs/directory-layout.md): "by-unit" (a branch per unit;
    officers' rights follow the branch) or "flat" (all under people_dn; officers' rights
    follow `unit_attribute`, which the flat layout requires). people_dn "" means
    ou=people,<suffix>."""

    kind: str = "by-unit"
    unit_attribute: str = ""
    people_dn: str = ""

    def __post_init__(self) -> None:
        if self.kind not in ("by-unit", "flat"):
            raise ValueError(
                _('the layout is "by-unit" or "flat", not {value}').format(value=repr(self.kind))
            )
        if self.kind == "flat" and not self.unit_attribute:
            object.__setattr__(self, "unit_attribute", DEFAULT_UNIT_ATTRIBUTE)
        attribute = self.unit_attribute
        if attribute and not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,63}", attribute):
            raise ValueError(
                _("{value} is not an attribute name").format(value=repr(attribute))
            )


#: The attribute naming a mailbox's unit in the flat layout unless told otherwise: part
#: of inetOrgPerson (RFC 2798), so no schema is added to the city's server.
DEFAULT_UNIT_ATTRIBUTE = "departmentNumber"


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for the server side of TLS (StartTLS and ldaps://)."""

    cert: Path
    key: Path
    ca: Path


def template(name: str) -> str:
    """The text of ``templates/<name>`` (package data: works from an installed wheel)."""
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def render(text: str, values: Mapping[str, str]) -> str:
    """Replace every @NAME@ in `text`; a placeholder without a value is an error."""
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise KeyError(f"no value for placeholder(s) {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


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
    out = []
    for rdn in dn.split(","):
        attr, _eq, value = rdn.strip().partition("=")
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
    module_dir: Path = DEFAULT_MODULE_DIR,
    schema_dir: Path = DEFAULT_SCHEMA_DIR,
    config_admin_dn: str = ROOT_PEERCRED_DN,
    log_level: str = "stats",
    tls: TlsFiles | None = None,
    module_dn: str = DEFAULT_MODULE_DN,
    database_dn: str = DEFAULT_DATABASE_DN,
    layout: DirectoryLayout | None = None,
) -> dict[str, str]:
    """The values of every placeholder in templates/*.ldif.in.

    `password_hashes` maps ``root``, ``service`` and ``mailauth`` to hashes (see
    :func:`ssha`). Defaults are production's (fsync on, stats logging, Debian's
    paths, module and database DNs, the by-unit layout); the throw-away server
    overrides some of them.
    """
    first_attr, _eq, first_value = suffix.split(",", 1)[0].partition("=")
    if first_attr.strip().lower() != "dc":
        raise ValueError(
            _("the suffix must start with a dc= component: {suffix}").format(suffix=repr(suffix))
        )
    layout = layout or DirectoryLayout()
    people = layout.people_dn or f"ou=people,{suffix}"
    if not normalise_dn(people).endswith(normalise_dn(suffix)):
        raise ValueError(_("the people branch {dn} is not under the suffix {suffix}").format(
            dn=repr(people), suffix=repr(suffix)
        ))
    values = {
        "SUFFIX": suffix,
        "SUFFIX_RE": ere_escape(normalise_dn(suffix)),
        "LAYOUT": layout.kind,
        "PEOPLE_DN": people,
        "PEOPLE_RE": ere_escape(normalise_dn(people)),
        "UNIT_ATTRIBUTE": layout.unit_attribute,
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
        "MODULE_DIR": str(module_dir),
        "SCHEMA_DIR": str(schema_dir),
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


def render_files(values: Mapping[str, str], *, with_tls: bool = False) -> dict[str, str]:
    """Render the templates into {file name: LDIF}, in the order they are applied.

    ``config.ldif`` (slapadd -n0), ``ppolicy-module.ldif`` and ``dnmail.ldif``
    (slapmodify -n0 offline, ldapmodify online; the access rules of the layout,
    ``access-<layout>.ldif.in``, at its end), ``tls.ldif`` when `with_tls`, and
    ``base.ldif`` (slapadd -n1). The module record of dnmail.ldif.in gets a file of
    its own: slapmodify records a new olcModuleLoad without loading the module, so
    the overlay, whose objectClass the module defines, must come in a later run.
    """
    dnmail = _split_records(render(template("dnmail.ldif.in"), values))
    dnmail += _split_records(render(template(f"access-{values['LAYOUT']}.ldif.in"), values))
    module = [c for c in dnmail if _dn_of(c) == values["MODULE_DN"]]
    files = {
        "config.ldif": render(template("config.ldif.in"), values),
        "ppolicy-module.ldif": "\n".join(module),
        "dnmail.ldif": "\n".join(c for c in dnmail if c not in module),
    }
    if with_tls:
        files["tls.ldif"] = render(template("tls.ldif.in"), values)
    files["base.ldif"] = render(template("base.ldif.in"), values)
    return files


# --- production (dnmail deploy render) ------------------------------------------------


@dataclass(frozen=True)
class ProductionSettings:
    """What `dnmail deploy render` asks: production defaults are Debian 12's."""

    suffix: str = DEFAULT_SUFFIX
    db_dir: Path = PRODUCTION_DB_DIR
    run_dir: Path = PRODUCTION_RUN_DIR
    db_max_size: int = DEFAULT_DB_MAX_SIZE
    module_dn: str = DEFAULT_MODULE_DN
    database_dn: str = DEFAULT_DATABASE_DN
    module_dir: Path = DEFAULT_MODULE_DIR
    schema_dir: Path = DEFAULT_SCHEMA_DIR
    tls: TlsFiles | None = None
    layout: DirectoryLayout = field(default_factory=DirectoryLayout)

    def values(self, password_hashes: Mapping[str, str]) -> dict[str, str]:
        """Every placeholder for a production server: fsync on, stats logging, the
        local root user (ldapi://, SASL EXTERNAL) as configuration administrator."""
        return template_values(
            suffix=self.suffix,
            password_hashes=password_hashes,
            db_directory=self.db_dir,
            run_dir=self.run_dir,
            db_max_size=self.db_max_size,
            nosync=False,
            module_dir=self.module_dir,
            schema_dir=self.schema_dir,
            config_admin_dn=ROOT_PEERCRED_DN,
            log_level="stats",
            tls=self.tls,
            module_dn=self.module_dn,
            database_dn=self.database_dn,
            layout=self.layout,
        )

    def files(self, password_hashes: Mapping[str, str]) -> dict[str, str]:
        """{file name: LDIF} for this production server, in the order they are applied."""
        return render_files(self.values(password_hashes), with_tls=self.tls is not None)


@dataclass(frozen=True)
class RenderedServer:
    """What `render_for_production` wrote."""

    files: tuple[Path, ...]
    secrets_file: Path
    # For each of IDENTITIES: True when its password came from the environment.
    from_environment: dict[str, bool] = field(default_factory=dict)


def render_for_production(
    out: Path, settings: ProductionSettings, environ: Mapping[str, str] | None = None
) -> RenderedServer:
    """Write the LDIF files of a production server and its passwords into `out`.

    Passwords come from DNMAIL_ROOT_PASSWORD, DNMAIL_SERVICE_PASSWORD and
    DNMAIL_MAILAUTH_PASSWORD (a secret never goes on a command line), else they are
    generated; either way they are kept in ``out/secrets.json`` for the operator to
    hand to dnmail (service) and to the mail servers (mailauth). Every file is 0600:
    base.ldif holds password hashes.
    """
    env = os.environ if environ is None else environ
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    given = {who: env.get(f"DNMAIL_{who.upper()}_PASSWORD") or "" for who in IDENTITIES}
    passwords = {who: given[who] or secrets.token_urlsafe(24) for who in IDENTITIES}
    secrets_file = out / "secrets.json"
    write_private(
        secrets_file, json.dumps({"suffix": settings.suffix, **passwords}, indent=2) + "\n"
    )
    written = []
    for name, text in settings.files({w: ssha(pw) for w, pw in passwords.items()}).items():
        write_private(out / name, text)
        written.append(out / name)
    return RenderedServer(
        files=tuple(written),
        secrets_file=secrets_file,
        from_environment={who: bool(given[who]) for who in IDENTITIES},
    )
