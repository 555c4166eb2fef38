"""Who runs a command, and what each operator may do (pure rules, no I/O).

Letter 271/STTTT-CNTT: each unit logs in with its official account (Sở Nội vụ with
snv@danang.gov.vn) and acts for its own staff only; IID runs the mailboxes. So two
roles:

- an IID administrator (and the cron service identity), named in `[operator] admins`,
  does everything;
- a unit officer — an account equal to a unit's official account (`units.account`) —
  lists and exports its own unit's staff and mailboxes, creates and imports requests,
  withdraws its own open requests and resets passwords, for its own unit only.

The CLI checks RIGHTS once per command (`authorize`); the servers enforce the same
split whatever client is used: slapd's ACLs (a unit account may only reset passwords
in its own branch) and PostgreSQL's row-level security (a unit role sees and writes
only its unit's rows; migration 0002). See docs/security.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from dnmail.errors import PermissionDenied
from dnmail.i18n import N_, _, later

DEFAULT_ADMINS = ("iid-admin",)


class Role(StrEnum):
    ADMIN = "iid-admin"
    OFFICER = "unit-officer"


class Right(StrEnum):
    """One thing a command does; the value (English) is how refusals name it, `label`
    in the interface's language."""

    INIT = N_("initialising the database and the directory")
    ADD_UNIT = N_("adding units")
    LIST_UNITS = N_("listing units")
    SET_UNIT_PASSWORD = N_("setting a unit account's password")
    GRANT_DATABASE_ROLE = N_("granting database roles")
    IMPORT_ROSTER = N_("importing the HR roster")
    LIST_STAFF = N_("listing staff")
    CREATE_REQUEST = N_("creating requests")
    IMPORT_SLIPS = N_("importing request slips")
    REJECT_REQUEST = N_("rejecting requests")
    WITHDRAW_REQUEST = N_("withdrawing requests")
    LIST_QUEUE = N_("listing the queue")
    PROVISION = N_("provisioning")
    RESET_PASSWORD = N_("resetting passwords")
    LOCK = N_("locking mailboxes")
    UNLOCK = N_("unlocking mailboxes")
    SYNC = N_("syncing the HR roster")
    RECONCILE = N_("reconciling the database with the directory")
    EXPORT_LIST = N_("exporting lists")
    EXPORT_AUDIT = N_("exporting the audit trail")
    READ_AUDIT = N_("reading the audit trail")
    ADOPT = N_("taking over directory entries")

    @property
    def label(self) -> str:
        return later(self.value)


#: right → whether unit officers hold it (for their own unit). IID administrators hold
#: every right. Rights held by officers are unit-scoped: `authorize` narrows them to
#: the officer's unit.
RIGHTS: Mapping[Right, bool] = {
    Right.INIT: False,
    Right.ADD_UNIT: False,
    Right.LIST_UNITS: True,
    Right.SET_UNIT_PASSWORD: False,
    Right.GRANT_DATABASE_ROLE: False,
    Right.IMPORT_ROSTER: False,
    Right.LIST_STAFF: True,
    Right.CREATE_REQUEST: True,
    Right.IMPORT_SLIPS: True,
    Right.REJECT_REQUEST: False,
    Right.WITHDRAW_REQUEST: True,
    Right.LIST_QUEUE: True,
    Right.PROVISION: False,
    Right.RESET_PASSWORD: True,
    Right.LOCK: False,
    Right.UNLOCK: False,
    Right.SYNC: False,
    Right.RECONCILE: False,
    Right.EXPORT_LIST: True,
    Right.EXPORT_AUDIT: False,
    Right.READ_AUDIT: False,
    Right.ADOPT: False,
}


@dataclass(frozen=True)
class Operator:
    """Who runs the command: `account` is what the audit trail records."""

    account: str
    role: Role
    unit: str | None = None  # the officer's unit code

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_officer(self) -> bool:
        return self.role is Role.OFFICER

    def describe(self) -> str:
        if self.is_officer:
            return _("{account} is a unit officer of {unit}").format(
                account=self.account, unit=self.unit
            )
        return _("{account} is an IID administrator").format(account=self.account)


def identify(
    account: str,
    *,
    admins: Iterable[str],
    unit_accounts: Mapping[str, str],
    mail_domain: str,
) -> Operator:
    """The operator behind `account` (from --as or `[operator] account`).

    `unit_accounts` maps each unit's official account (lower case) to its code. An
    account equal to one of them — or its local part, `snv` for snv@danang.gov.vn —
    is that unit's officer (the narrower role wins over a listing in `admins`); an
    account listed in `admins` is an IID administrator; anything else is refused.
    """
    given = account.strip()
    key = given.lower()
    if not key:
        raise PermissionDenied(
            _("no operator named: pass --as ACCOUNT or set [operator] account")
        )
    for candidate in (key, f"{key}@{mail_domain.lower()}" if "@" not in key else None):
        if candidate and candidate in unit_accounts:
            return Operator(candidate, Role.OFFICER, unit_accounts[candidate])
    if key in {a.strip().lower() for a in admins}:
        return Operator(given, Role.ADMIN)
    raise PermissionDenied(
        _("{account!r:.80} is neither a unit's official account nor an IID administrator").format(
            account=given
        ),
        hint=_(
            "a unit officer gives its unit's account (e.g. --as snv@danang.gov.vn; "
            "see `dnmail unit list`); IID administrators are listed in [operator] admins"
        ),
    )


def authorize(operator: Operator, right: Right, *, unit: str | None = None) -> str | None:
    """Refuse (PermissionDenied, exit 1) unless `operator` holds `right` for `unit`.

    Returns the unit the command must keep to: an officer's own unit (whether or not
    `unit` was given), or `unit` as given for an administrator (None: every unit).
    """
    if operator.is_admin:
        return unit
    if not RIGHTS[right]:
        raise PermissionDenied(
            _("{who}: {right} is for IID administrators").format(
                who=operator.describe(), right=right.label
            )
        )
    asked = unit.strip().lower() if unit is not None else None
    if asked is not None and asked != operator.unit:
        raise PermissionDenied(
            _("{who}: cannot act for unit {unit:.40}").format(who=operator.describe(), unit=asked)
        )
    return operator.unit


def other_unit(account: str, own: str, other: str, *, what: str = "") -> PermissionDenied:
    """The refusal for an officer who reaches a record (a mailbox, a request) of another
    unit: services raise it once they know which unit the record belongs to."""
    who = Operator(account, Role.OFFICER, own).describe()
    if what:
        return PermissionDenied(
            _("{who}: cannot act for unit {unit} ({what})").format(who=who, unit=other, what=what)
        )
    return PermissionDenied(
        _("{who}: cannot act for unit {unit:.40}").format(who=who, unit=other)
    )
