"""Single-mailbox operations: password reset (step 5), lock and unlock (step 6).

Order of writes: the audit event is written (flushed, not committed), then the
directory changes, then the transaction commits. If the directory refuses, nothing is
recorded; if the database fails after the directory changed, `reconcile` reports the
drift and mends it.

A new password is never lost (`PasswordHandover`): its handout is written first under
a temporary name, then the directory sets it, then the handout is published. A failure
before the directory change changes nothing; a failure after it (the commit) still
shows the password or publishes its handout, and says that it was not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from dnmail.db.models import FormerAddress, Mailbox, Staff
from dnmail.domain.passwords import generate_password
from dnmail.domain.results import secret
from dnmail.domain.states import LockReason, MailboxState
from dnmail.domain.text import clean_text
from dnmail.errors import BadInput, DnmailError, NotFound, Refused
from dnmail.exports.handouts import (
    HandoutRow,
    StagedFile,
    check_handout_dir,
    handout_format,
    stage_single,
)
from dnmail.i18n import _
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
    #: Set when the password was changed but the database could not record it.
    unrecorded: str | None = None


class PasswordHandover:
    """The order of effects when one password is set (reset-password, unit
    set-password): the handout (if any) is written under a temporary name first, then
    the directory changes the password, then the handout is published.

    Usage: `stage(row)` before the directory change, `changed()` right after it,
    `published()` after the commit; `failed(exc)` from the handler of any failure:
    before the change it removes the staged file and re-raises; after it, it keeps the
    password (published handout, or shown) and returns the database's complaint.
    """

    def __init__(self, handout: Path | None):
        self.handout = Path(handout) if handout is not None else None
        self.staged: StagedFile | None = None
        self.done = False
        if self.handout is not None:  # refused before anything is looked at
            check_handout_dir(self.handout.parent)
            StagedFile.refuse_existing(self.handout)
            handout_format(self.handout)  # .xlsx or .csv: never CSV text in a workbook's name

    def stage(self, row: HandoutRow) -> None:
        if self.handout is not None:
            self.staged = stage_single(self.handout, row)

    def changed(self) -> None:
        self.done = True

    def published(self) -> Path | None:
        """Where the handout is now: its final name, or its temporary one when it could
        not be renamed (the password is in force: never remove it then)."""
        if self.staged is None:
            return None
        try:
            return self.staged.publish()
        except OSError:
            return self.staged.path
        finally:
            self.staged.close()

    def failed(self, exc: BaseException) -> str:
        if not self.done:
            if self.staged is not None:
                self.staged.discard()
            raise exc
        if self.staged is not None:
            self.published()
        if not isinstance(exc, DnmailError):
            raise exc
        return _(
            "the password WAS changed in the directory, but the database did not record it "
            "({why}); it is shown here or in its handout: hand it over, and tell IID so that "
            "the audit trail can be completed"
        ).format(why=exc.message)


def local_part(address: str, domain: str) -> str:
    a = clean_text(address).lower()
    if "@" in a:
        local, _at, dom = a.partition("@")
        if dom != domain:
            raise BadInput(
                _("{address} is not an address of {domain}").format(
                    address=f"{address!r:.80}", domain=domain
                )
            )
        return local
    return a


def former_owner(local: str, *, session: Session) -> Mailbox | None:
    """The mailbox that had `local` before a rename (an alias now), if any."""
    return session.scalar(
        select(Mailbox)
        .join(FormerAddress, FormerAddress.mailbox_id == Mailbox.id)
        .where(FormerAddress.address == local)
    )


def find_mailbox(
    address: str,
    domain: str,
    *,
    session: Session,
    lock: bool = True,
    unit: str | None = None,
) -> Mailbox:
    """The mailbox of `address` (NotFound otherwise), row-locked unless `lock` is False,
    in the caller's transaction.

    A former address (an alias since a rename) is refused, naming the current one: a
    reset, lock or unlock acts on the mailbox its owner logs in with, and the admin
    should see which that is before acting. `unit`: an officer's unit — another unit's
    current address is not disclosed."""
    local = local_part(address, domain)
    q = select(Mailbox).where(Mailbox.address == local)
    if lock:
        q = q.with_for_update()
    m = session.scalar(q)
    if m is not None:
        return m
    owner = former_owner(local, session=session)
    if owner is not None and (unit is None or owner.unit_code == unit):
        current = f"{owner.address}@{domain}"
        raise NotFound(
            _(
                "{address} is a former address of {current} (an alias since a rename); "
                "nothing was changed"
            ).format(address=f"{local}@{domain}", current=current),
            hint=_("give the current address: {current}").format(current=current),
        )
    raise NotFound(
        _("no mailbox {address} (see `dnmail export issued`)").format(
            address=f"{local}@{domain}"
        )
    )


def reset_password(
    rt: Runtime, address: str, *, handout: Path | None = None, unit: str | None = None
) -> AccountResult:
    """A new generated password through the Password Modify exop, must-change set.

    The password is returned (to be shown once) or written to `handout` (0600); the
    audit event records that a reset happened, never the password.
    """
    domain = rt.config.directory.mail_domain
    policy = rt.config.passwords.policy()
    hand = PasswordHandover(handout)
    result: AccountResult | None = None
    try:
        with rt.transaction() as s:
            # A unit officer (`unit` given) may not lock the row: on PostgreSQL its role
            # holds no UPDATE on mailboxes (row-level security, docs/security.md).
            m = find_mailbox(address, domain, session=s, lock=unit is None, unit=unit)
            staff = s.get(Staff, m.staff_hr_id)
            if unit is not None:
                check_officer_scope(m, staff, unit, actor=rt.actor, domain=domain)
            assert staff is not None
            if m.state == MailboxState.LOCKED:
                raise Refused(
                    _("{address} is locked ({reason}); unlock it first").format(
                        address=f"{m.address}@{domain}",
                        reason=LockReason(m.lock_reason or "other").label_vi,
                    )
                )
            password = generate_password(policy)
            full = f"{m.address}@{domain}"
            hand.stage(HandoutRow(staff.full_name, staff.department, staff.phone, full, password))
            # The mailbox row itself does not change: the audit event records the reset.
            audit.record(
                session=s,
                actor=rt.actor,
                action="mailbox.reset-password",
                target=f"mailbox:{m.address}",
                at=rt.now(),
                details={"hr_id": m.staff_hr_id, "handout": str(handout) if handout else None},
            )
            s.flush()  # anything the database refuses, it refuses before the change
            rt.directory.set_password(m.dn, password)
            hand.changed()
            result = AccountResult(
                full, m.staff_hr_id, staff.full_name, m.unit_code, MailboxState(m.state),
                "reset-password", _("must change at next login"),
                password=None if handout else password,
            )
    except BaseException as exc:
        why = hand.failed(exc)
        assert result is not None
        return replace(result, handout=hand.published(), unrecorded=why)
    return replace(result, handout=hand.published())


def check_officer_scope(
    m: Mailbox, staff: Staff | None, unit: str, *, actor: str, domain: str
) -> None:
    """A unit officer acts on its own unit's mailboxes, and only while HR keeps the
    person in that unit: once a transfer is recorded (`sync --apply`, `staff import`)
    the old unit loses the mailbox at once, although the entry moves only at the next
    `provision` (DESIGN §1 step 6). On PostgreSQL the officer's role does not even see
    the staff row of another unit (`staff` is None then)."""
    if m.unit_code != unit:
        raise other_unit(actor, unit, m.unit_code, what=f"{m.address}@{domain}")
    if staff is None or staff.unit_code != unit:
        moved_to = staff.unit_code if staff is not None else _("another unit")
        raise other_unit(
            actor, unit, moved_to,
            what=_("{address}: HR records its owner as transferred to {unit}").format(
                address=f"{m.address}@{domain}", unit=moved_to
            ),
        )


def lock_mailbox(
    rt: Runtime, address: str, *, reason: LockReason, note: str | None = None
) -> AccountResult:
    """Lock: every bind fails (IMAP, SMTP submission, webmail) while mail is still delivered."""
    domain = rt.config.directory.mail_domain
    with rt.transaction() as s:
        m = find_mailbox(address, domain, session=s)
        staff = s.get_one(Staff, m.staff_hr_id)
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
            session=s, actor=rt.actor, action="mailbox.lock", target=f"mailbox:{m.address}",
            at=now, details={"reason": reason, "note": m.lock_note, "was_locked": already},
        )
        detail = (
            _("already locked; reason updated to {reason}")
            if already
            else _("locked: {reason}")
        ).format(reason=reason.label_vi)
        return AccountResult(
            f"{m.address}@{domain}", m.staff_hr_id, staff.full_name, m.unit_code,
            MailboxState(m.state), "lock", detail,
        )


def unlock_mailbox(rt: Runtime, address: str) -> AccountResult:
    """Unlock: the password works again (directory first, then the row and its event)."""
    domain = rt.config.directory.mail_domain
    with rt.transaction() as s:
        m = find_mailbox(address, domain, session=s)
        staff = s.get_one(Staff, m.staff_hr_id)
        was = m.state
        rt.directory.unlock(m.dn)
        now = rt.now()
        m.state = MailboxState.ACTIVE
        m.lock_reason = None
        m.lock_note = None
        m.locked_at = None
        m.updated_at = now
        audit.record(
            session=s, actor=rt.actor, action="mailbox.unlock", target=f"mailbox:{m.address}",
            at=now, details={"was": was},
        )
        return AccountResult(
            f"{m.address}@{domain}", m.staff_hr_id, staff.full_name, m.unit_code,
            MailboxState(m.state), "unlock",
            _("unlocked") if was == MailboxState.LOCKED else _("was not locked"),
        )
