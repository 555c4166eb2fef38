"""Single-mailbox operations: password reset (step 5), lock and unlock (step 6).

Order of writes: the directory first, then the database with its audit event in one
transaction. If the directory refuses, nothing is recorded; if the database fails
after the directory changed, `reconcile` reports the drift and mends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from dnmail.db.models import Mailbox, Staff
from dnmail.domain.passwords import generate_password
from dnmail.domain.results import secret
from dnmail.domain.states import LockReason, MailboxState
from dnmail.domain.text import clean_text
from dnmail.errors import BadInput, NotFound, Refused
from dnmail.exports.handouts import HandoutRow, write_single
from dnmail.services import audit
from dnmail.services.operators import other_unit
from dnmail.services.runtime import Runtime


@dataclass(frozen=True)
class AccountResult:
    address: str
    hr_id: str
    full_name: str
    unit: str
    state: MailboxState
    action: str
    detail: str = ""
    password: str | None = secret()  # shown once; None when written to `handout`
    handout: Path | None = None


def local_part(address: str, domain: str) -> str:
    a = clean_text(address).lower()
    if "@" in a:
        local, _, dom = a.partition("@")
        if dom != domain:
            raise BadInput(f"{address!r:.80} is not an address of {domain}")
        return local
    return a


def find_mailbox(address: str, domain: str, *, session: Session, lock: bool = True) -> Mailbox:
    """The mailbox of `address` (NotFound otherwise), row-locked unless `lock` is False,
    in the caller's transaction."""
    local = local_part(address, domain)
    q = select(Mailbox).where(Mailbox.address == local)
    if lock:
        q = q.with_for_update()
    m = session.scalar(q)
    if m is None:
        raise NotFound(f"no mailbox {local}@{domain} (see `dnmail export issued`)")
    return m


def reset_password(
    rt: Runtime, address: str, *, handout: Path | None = None, unit: str | None = None
) -> AccountResult:
    """A new generated password through the Password Modify exop, must-change set.

    The password is returned (to be shown once) or written to `handout` (0600); the
    audit event records that a reset happened, never the password.
    """
    domain = rt.config.directory.mail_domain
    policy = rt.config.passwords.policy()
    with rt.transaction() as s:
        # A unit officer (`unit` given) may not lock the row: on PostgreSQL its role
        # holds no UPDATE on mailboxes (row-level security, docs/security.md).
        m = find_mailbox(address, domain, session=s, lock=unit is None)
        if unit is not None and m.unit_code != unit:
            raise other_unit(rt.actor, unit, m.unit_code, what=f"{m.address}@{domain}")
        if m.state == MailboxState.LOCKED:
            raise Refused(
                f"{m.address}@{domain} is locked ({LockReason(m.lock_reason or 'other').label_vi}); "
                "unlock it first"
            )
        staff = s.get(Staff, m.staff_hr_id)
        password = generate_password(policy)
        rt.directory.set_password(m.dn, password)
        now = rt.now()
        # The mailbox row itself does not change: the audit event records the reset.
        audit.record(
            session=s, actor=rt.actor, action="mailbox.reset-password", target=f"mailbox:{m.address}",
            at=now, details={"hr_id": m.staff_hr_id, "handout": str(handout) if handout else None},
        )
        if handout is not None:
            write_single(
                handout,
                HandoutRow(staff.full_name, staff.department, staff.phone, f"{m.address}@{domain}", password),
            )
        return AccountResult(
            f"{m.address}@{domain}", m.staff_hr_id, staff.full_name, m.unit_code, MailboxState(m.state),
            "reset-password", "must change at next login",
            password=None if handout else password, handout=handout,
        )


def lock_mailbox(
    rt: Runtime, address: str, *, reason: LockReason, note: str | None = None
) -> AccountResult:
    """Lock: every bind fails (IMAP, SMTP submission, webmail) while mail is still delivered."""
    domain = rt.config.directory.mail_domain
    with rt.transaction() as s:
        m = find_mailbox(address, domain, session=s)
        staff = s.get(Staff, m.staff_hr_id)
        already = m.state == MailboxState.LOCKED
        rt.directory.lock(m.dn)  # idempotent: replaces the value
        now = rt.now()
        if not already:
            m.locked_at = now
        m.state = MailboxState.LOCKED
        m.lock_reason = reason
        m.lock_note = clean_text(note) if note else None
        m.updated_at = now
        audit.record(
            session=s, actor=rt.actor, action="mailbox.lock", target=f"mailbox:{m.address}", at=now,
            details={"reason": reason, "note": m.lock_note, "was_locked": already},
        )
        return AccountResult(
            f"{m.address}@{domain}", m.staff_hr_id, staff.full_name, m.unit_code, MailboxState(m.state), "lock",
            f"{'already locked; reason updated to' if already else 'locked:'} {reason.label_vi}",
        )


def unlock_mailbox(rt: Runtime, address: str) -> AccountResult:
    domain = rt.config.directory.mail_domain
    with rt.transaction() as s:
        m = find_mailbox(address, domain, session=s)
        staff = s.get(Staff, m.staff_hr_id)
        was = m.state
        rt.directory.unlock(m.dn)
        now = rt.now()
        m.state = MailboxState.ACTIVE
        m.lock_reason = None
        m.lock_note = None
        m.locked_at = None
        m.updated_at = now
        audit.record(
            session=s, actor=rt.actor, action="mailbox.unlock", target=f"mailbox:{m.address}", at=now,
            details={"was": was},
        )
        return AccountResult(
            f"{m.address}@{domain}", m.staff_hr_id, staff.full_name, m.unit_code, MailboxState(m.state), "unlock",
            "unlocked" if was == MailboxState.LOCKED else "was not locked",
        )
