"""`dnmail init`: schema to head (Alembic), the audit key, and the directory branches
dnmail needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from dnmail.directory.layout import split_dn
from dnmail.services.runtime import Runtime


@dataclass(frozen=True)
class InitResult:
    database: str
    revision_before: str | None
    revision_after: str | None
    branches_created: list[str] = field(default_factory=list)
    directory_checked: bool = False
    accounts_created: list[str] = field(default_factory=list)
    audit_key_created: str | None = None  # the key file made by this run

    @property
    def changed(self) -> bool:
        return (
            self.revision_before != self.revision_after
            or bool(self.branches_created)
            or bool(self.accounts_created)
            or self.audit_key_created is not None
        )


def ensure_audit_key(rt: Runtime) -> str | None:
    """Every installation is keyed by default (issue 12 §6): with no `[audit] key_file`
    configured and no `<data dir>/audit.key`, make one (32 random bytes as hex, 0600, in
    a data dir only the user may write to). Refused when the trail is keyed already (by
    another host): that key must be copied here, not replaced. Returns the path made."""
    import os
    import secrets

    from dnmail.config import check_safe_directory
    from dnmail.errors import Refused
    from dnmail.i18n import _
    from dnmail.services.audit import session_info, trail_key_id

    cfg = rt.config
    path = cfg.audit_key_path
    if cfg.audit.key_file or os.path.lexists(path):
        return None  # configured (it must exist), or there already
    with rt.transaction(readonly=True) as s:
        keyed = trail_key_id(s)
    if keyed is not None:
        raise Refused(
            _(
                "the audit trail is keyed (key id {key}, event #{event}) but this host "
                "has no audit key: copy the key file from the host that made it to {path} "
                "(mode 0600), or name it with [audit] key_file; a new key would not verify the "
                "trail"
            ).format(key=keyed[1], event=keyed[0], path=path)
        )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    check_safe_directory(path.parent, what=_("data directory"))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, (secrets.token_hex(32) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    rt.db.session_info.update(session_info(cfg))  # this run's later events are keyed
    return str(path)


def ensure_branches(rt: Runtime, unit_codes: list[str]) -> list[str]:
    """Create people_dn, ou=units, ou=system, ou=admins and, in the by-unit layout, one
    branch per unit when missing (docs/directory-layout.md)."""
    d = rt.directory
    lay = d.layout
    created = []
    wanted = [(lay.people, split_dn(lay.people)[0][1]), (lay.units, "units"),
              (lay.system, "system"), (lay.admins, "admins")]
    wanted += [b for b in map(lay.branch_to_create, unit_codes) if b is not None]
    for dn, ou in wanted:
        if d.ensure_ou(dn, ou):
            created.append(dn)
    return created


def ensure_unit_accounts(rt: Runtime, units: list[tuple[str, str, str]]) -> list[str]:
    """Create each unit's official account `uid=<code>,ou=units,<base>` when missing
    (`units`: code, name, account). It has no password until `dnmail unit set-password`."""
    d = rt.directory
    created = []
    for code, name, account in units:
        dn = d.layout.unit_account_dn(code)
        if d.ensure_unit_account(dn, code=code, name=name, mail=account):
            created.append(dn)
    return created


def initialise(rt: Runtime, *, directory: bool = True) -> InitResult:
    """Create or upgrade the schema and, unless `directory` is False, the directory's
    base branches and each unit's branch and account. Running it twice changes nothing."""
    from dnmail.db.models import Unit
    from dnmail.db.session import redact_url

    before, after = rt.db.upgrade()
    key = ensure_audit_key(rt)
    created: list[str] = []
    accounts: list[str] = []
    if directory:
        with rt.transaction(readonly=True) as s:
            units = [
                (u.code, u.name, u.account or f"{u.code}@{rt.config.directory.mail_domain}")
                for u in s.scalars(select(Unit).order_by(Unit.code))
            ]
        created = ensure_branches(rt, [unit[0] for unit in units])
        accounts = ensure_unit_accounts(rt, units)
    return InitResult(redact_url(rt.db.url), before, after, created, directory, accounts, key)
