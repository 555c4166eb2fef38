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

DEFAULT_ADMINS = ("iid-admin",)


class Role(StrEnum):
    ADMIN = "iid-admin"
    OFFICER = "unit-officer"


class Right(StrEnum):
    """One thing a command does; the value is how refusals name it."""

    INIT = "initialising the database and the directory"
    ADD_UNIT = "adding units"
    LIST_UNITS = "listing units"
    SET_UNIT_PASSWORD = "setting a unit account's password"
    GRANT_DATABASE_ROLE = "granting database roles"
    IMPORT_ROSTER = "importing the HR roster"
    LIST_STAFF = "listing staff"
    CREATE_REQUEST = "creating requests"
    IMPORT_SLIPS = "importing request slips"
    REJECT_REQUEST = "rejecting requests"
    WITHDRAW_REQUEST = "withdrawing requests"
    LIST_QUEUE = "listing the queue"
    PROVISION = "provisioning"
    RESET_PASSWORD = "resetting passwords"
    LOCK = "locking mailboxes"
    UNLOCK = "unlocking mailboxes"
    SYNC = "syncing the HR roster"
    RECONCILE = "reconciling the database with the directory"
    EXPORT_LIST = "exporting lists"
    EXPORT_AUDIT = "exporting the audit trail"
    READ_AUDIT = "reading the audit trail"
    ADOPT = "taking over directory entries"


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
            return f"{self.account} is a unit officer of {self.unit}"
        return f"{self.account} is an IID administrator"


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
        raise PermissionDenied("no operator named: pass --as ACCOUNT or set [operator] account")
    for candidate in (key, f"{key}@{mail_domain.lower()}" if "@" not in key else None):
        if candidate and candidate in unit_accounts:
            return Operator(candidate, Role.OFFICER, unit_accounts[candidate])
    if key in {a.strip().lower() for a in admins}:
        return Operator(given, Role.ADMIN)
    raise PermissionDenied(
        f"{given!r:.80} is neither a unit's official account nor an IID administrator",
        hint="a unit officer gives its unit's account (e.g. --as snv@danang.gov.vn; "
        "see `dnmail unit list`); IID administrators are listed in [operator] admins",
    )


def authorize(operator: Operator, right: Right, *, unit: str | None = None) -> str | None:
    """Refuse (PermissionDenied, exit 1) unless `operator` holds `right` for `unit`.

    Returns the unit the command must keep to: an officer's own unit (whether or not
    `unit` was given), or `unit` as given for an administrator (None: every unit).
    """
    if operator.is_admin:
        return unit
    if not RIGHTS[right]:
        raise PermissionDenied(f"{operator.describe()}: {right.value} is for IID administrators")
    asked = unit.strip().lower() if unit is not None else None
    if asked is not None and asked != operator.unit:
        raise PermissionDenied(f"{operator.describe()}: cannot act for unit {asked:.40}")
    return operator.unit


def other_unit(account: str, own: str, other: str, *, what: str = "") -> PermissionDenied:
    """The refusal for an officer who reaches a record (a mailbox, a request) of another
    unit: services raise it once they know which unit the record belongs to."""
    suffix = f" ({what})" if what else ""
    return PermissionDenied(
        f"{Operator(account, Role.OFFICER, own).describe()}: cannot act for unit {other}{suffix}"
    )
