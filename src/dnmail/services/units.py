"""Units (sở, ban, quận…): code, name, parent, official account, directory branch."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dnmail.config import Config
from dnmail.db.models import Mailbox, Staff, Unit
from dnmail.directory.layout import Layout
from dnmail.domain.results import secret
from dnmail.domain.states import MailboxState
from dnmail.domain.text import clean_text
from dnmail.errors import BadInput, NotFound, Refused
from dnmail.i18n import _
from dnmail.services import audit

if TYPE_CHECKING:
    from dnmail.services.runtime import Runtime

_CODE = re.compile(r"^[a-z][a-z0-9]{0,31}$")


@dataclass(frozen=True)
class UnitView:
    code: str
    name: str
    parent: str | None
    account: str | None
    branch_dn: str
    staff: int = 0
    mailboxes: int = 0


@dataclass(frozen=True)
class UnitAdded:
    unit: UnitView
    created: bool  # False: it existed already with the same values


def normalise_code(code: str) -> str:
    c = clean_text(code).lower()
    if not _CODE.match(c):
        raise BadInput(
            _(
                "unit code {code!r:.40} is not valid: use 1–32 lower-case letters and digits, "
                "starting with a letter (e.g. snv, sgtvt)"
            ).format(code=code)
        )
    return c


def add_unit(
    rt: Runtime, code: str, *, name: str, parent: str | None = None, account: str | None = None
) -> UnitAdded:
    """Add a unit; adding the same unit again with the same values changes nothing."""
    with rt.transaction() as s:
        return insert_unit(
            session=s, config=rt.config, code=code, name=name, parent=parent, account=account,
            actor=rt.actor, now=rt.now(),
        )


def insert_unit(
    *,
    session: Session,
    config: Config,
    code: str,
    name: str,
    parent: str | None,
    account: str | None,
    actor: str,
    now: datetime,
) -> UnitAdded:
    """`add_unit` inside the caller's transaction (the caller owns it)."""
    code = normalise_code(code)
    name = clean_text(name)
    if not name:
        raise BadInput(_("a unit needs a name (--name)"))
    parent_code = normalise_code(parent) if parent else None
    domain = config.directory.mail_domain
    if account is None:
        account = f"{code}@{domain}"
    account = clean_text(account).lower()
    if "@" not in account:
        account = f"{account}@{domain}"
    local, _at, dom = account.partition("@")
    if dom != domain or not re.fullmatch(r"[a-z0-9]{1,64}", local):
        raise BadInput(
            _("unit account {account!r:.80} must be a plain address of {domain}").format(
                account=account, domain=domain
            )
        )
    if parent_code and session.get(Unit, parent_code) is None:
        raise NotFound(
            _("parent unit {code!r} does not exist (add it first)").format(code=parent_code)
        )
    layout = Layout.of(config.directory)
    existing = session.get(Unit, code)
    if existing is not None:
        if (existing.name, existing.parent_code, existing.account) == (name, parent_code, account):
            return UnitAdded(_view(existing), created=False)
        raise Refused(
            _(
                "unit {code} exists already as {name!r} ({account}); "
                "units are not renamed by `unit add`"
            ).format(code=code, name=existing.name, account=existing.account)
        )
    clash = session.scalar(select(Unit.code).where(Unit.account == account))
    if clash:
        raise Refused(
            _("account {account} already belongs to unit {code}").format(
                account=account, code=clash
            )
        )
    unit = Unit(
        code=code,
        name=name,
        parent_code=parent_code,
        account=account,
        branch_dn=layout.unit_branch(code),
        created_at=now,
    )
    session.add(unit)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="unit.add",
        target=f"unit:{code}",
        at=now,
        details={"name": name, "parent": parent_code, "account": account},
    )
    return UnitAdded(_view(unit), created=True)


def list_units(rt: Runtime) -> list[UnitView]:
    """Every unit with its staff and active mailbox counts."""
    with rt.transaction(readonly=True) as s:
        staff_counts = dict(
            s.execute(select(Staff.unit_code, func.count()).group_by(Staff.unit_code)).all()
        )
        mbx_counts = dict(
            s.execute(
                select(Mailbox.unit_code, func.count())
                .where(Mailbox.state == MailboxState.ACTIVE)
                .group_by(Mailbox.unit_code)
            ).all()
        )
        units = s.scalars(select(Unit).order_by(Unit.code)).all()
        return [_view(u, staff_counts.get(u.code, 0), mbx_counts.get(u.code, 0)) for u in units]


def get_unit(code: str, *, session: Session) -> Unit:
    """The unit of `code` (NotFound otherwise), in the caller's transaction."""
    unit = session.get(Unit, normalise_code(code))
    if unit is None:
        raise NotFound(
            _("unit {code!r:.40} does not exist (see `dnmail unit list`)").format(code=code)
        )
    return unit


def _view(u: Unit, staff: int = 0, mailboxes: int = 0) -> UnitView:
    return UnitView(u.code, u.name, u.parent_code, u.account, u.branch_dn, staff, mailboxes)


@dataclass(frozen=True)
class UnitPassword:
    code: str
    account: str
    dn: str
    created: bool  # the directory entry did not exist before
    password: str | None = secret()  # shown once; None when written to `handout`
    handout: Path | None = None
    #: Set when the password was changed but the database could not record it.
    unrecorded: str | None = None


def set_unit_password(rt: Runtime, code: str, *, handout: Path | None = None) -> UnitPassword:
    """A new generated password for the unit's own account `uid=<code>,ou=units,<base>`
    (created when missing), so that its officer can bind (letter 271: each unit logs in
    with its official account). Through Password Modify, hashed by the server; not
    marked must-change. Shown once or written to `handout` (0600); the audit event
    records that it happened, never the password.
    """
    from dataclasses import replace

    from dnmail.domain.passwords import generate_password
    from dnmail.exports.handouts import HandoutRow
    from dnmail.services.accounts import PasswordHandover

    domain = rt.config.directory.mail_domain
    hand = PasswordHandover(handout)
    result: UnitPassword | None = None
    try:
        with rt.transaction() as s:
            unit = get_unit(code, session=s)
            account = unit.account or f"{unit.code}@{domain}"
            d = rt.directory
            d.ensure_ou(d.layout.units, "units")
            dn = d.layout.unit_account_dn(unit.code)
            created = d.ensure_unit_account(dn, code=unit.code, name=unit.name, mail=account)
            password = generate_password(rt.config.passwords.policy())
            hand.stage(HandoutRow(unit.name, "", "", account, password))
            audit.record(
                session=s, actor=rt.actor, action="unit.set-password",
                target=f"unit:{unit.code}", at=rt.now(),
                details={
                    "dn": dn, "created": created, "handout": str(handout) if handout else None,
                },
            )
            s.flush()
            d.set_password(dn, password, must_change=False)
            hand.changed()
            result = UnitPassword(
                unit.code, account, dn, created, password=None if handout else password
            )
    except BaseException as exc:
        why = hand.failed(exc)
        assert result is not None
        return replace(result, handout=hand.published(), unrecorded=why)
    return replace(result, handout=hand.published())
