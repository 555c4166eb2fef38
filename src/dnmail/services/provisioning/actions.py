"""The directory side of `provision`: create, adopt, change (move), cancel (lock).

Every action is idempotent on a rerun (a move or a lock already done is recognised, an
entry already carrying the HR id is adopted) and, in a dry run, only says what it would
do. The mailbox rows it touches are written in the chunk's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dnmail.db.models import Mailbox
from dnmail.directory.gateway import Directory, Entry
from dnmail.domain.addresses import base_of
from dnmail.domain.mailbox_attrs import changed_attributes, mailbox_attributes
from dnmail.domain.passwords import PasswordPolicy, generate_password
from dnmail.domain.states import LockReason, MailboxState
from dnmail.errors import DirectoryError, NoSuchEntry
from dnmail.services.provisioning import ledger
from dnmail.services.provisioning.items import Work


class Actions:
    """One worker's directory actions (its branches ensured once per run)."""

    def __init__(
        self, directory: Directory, *, domain: str, policy: PasswordPolicy, dry_run: bool
    ):
        self.d = directory
        self.domain = domain
        self.policy = policy
        self.dry_run = dry_run
        self._branches: set[str] = set()

    def ensure_branch(self, unit: str) -> str:
        """The unit's branch (people_dn in the flat layout), created when missing."""
        branch = self.d.layout.unit_branch(unit)
        if unit not in self._branches:
            to_create = self.d.layout.branch_to_create(unit)
            if not self.dry_run and to_create is not None:
                self.d.ensure_ou(*to_create)
            self._branches.add(unit)
        return branch

    def attributes(self, st, address: str) -> dict[str, object]:
        """The entry's attributes from the HR record, the unit attribute with them."""
        return mailbox_attributes(
            st, address, self.domain, unit_values=self.d.layout.unit_values(st.unit_code)
        )

    def changes(self, e: Entry, st, m: Mailbox) -> dict[str, object]:
        """What a change request writes: the attributes that follow the HR record; for
        an entry taken over from the existing directory only those that follow the
        job (department, position, phone, the unit attribute) — its names and address
        were never dnmail's to decide (DESIGN §7)."""
        wanted = self.attributes(st, m.address)
        if m.origin == "adopted":
            keep = {"ou", "title", "telephoneNumber", *self.d.layout.unit_values(st.unit_code)}
            wanted = {k: v for k, v in wanted.items() if k in keep}
        return changed_attributes(e.first, wanted)

    # -- create -----------------------------------------------------------------------
    def create(self, s: Session, works: list[Work]) -> None:
        """New entries of a chunk in one pipelined batch, one operation per account: the
        add carries the cleartext password for ppolicy to hash, and pwdReset."""
        items: list[tuple[str, Mapping[str, object], str]] = []
        for w in works:
            m = w.mailbox
            assert m is not None
            self.ensure_branch(w.staff.unit_code)
            if self.dry_run:
                w.succeed(f"would create at {m.dn}", dry_run=True)
                continue
            w.password = generate_password(self.policy)
            items.append((m.dn, self.attributes(w.staff, m.address), w.password))
        if self.dry_run:
            return
        errors = self.d.add_mailboxes(items)
        for w, err in zip(works, errors, strict=True):
            if err is None:
                w.succeed("created", dry_run=False, password=w.password)
                continue
            assert w.mailbox is not None
            address = w.mailbox.address
            ledger.unreserve(s, w.mailbox)
            w.mailbox = None
            w.password = None
            w.fail(f"cannot create {address}: {err.message}")

    def adopt(self, s: Session, w: Work, now: datetime) -> None:
        """An entry for this HR id exists already (a crash after the add, or made by
        hand): take it over instead of creating a second one."""
        st = w.staff
        e = w.adopted
        assert e is not None
        local = e.uid.lower()
        holder = s.scalar(select(Mailbox.staff_hr_id).where(Mailbox.address == local))
        if holder and holder != st.hr_id:
            raise DirectoryError(
                f"directory entry {e.dn} carries HR id {st.hr_id} but its address {local} "
                f"belongs to {holder} in the database; run `dnmail reconcile`"
            )
        branch = self.ensure_branch(st.unit_code)
        if self.dry_run:
            w.mailbox = Mailbox(address=local, dn=e.dn)
            w.succeed(f"would adopt the existing entry {e.dn}", dry_run=True)
            return
        # Put where the layout wants it (its RDN kept), its attributes the HR record's.
        dn = e.dn if self.d.layout.in_place(e.dn, st.unit_code) else self.d.move(e.dn, branch)
        changes = changed_attributes(e.first, self.attributes(st, local))
        if e.locked:
            changes["pwdAccountLockedTime"] = None
        if changes:
            self.d.replace(dn, changes)
        if e.transfer_marked:
            self.d.mark_transfer(dn, on=False)
        password = generate_password(self.policy)
        self.d.set_password(dn, password)
        m = Mailbox(
            address=local,
            base=base_of(local),
            staff_hr_id=st.hr_id,
            unit_code=st.unit_code,
            dn=dn,
            state=MailboxState.ACTIVE.value,
            created_at=now,
            updated_at=now,
        )
        s.add(m)
        s.flush()
        w.mailbox = m
        w.new_mailbox = True
        w.succeed(
            "adopted the existing directory entry; new password", dry_run=False, password=password
        )

    # -- change and cancel ------------------------------------------------------------
    def change(self, w: Work, now: datetime) -> None:
        """A transfer and HR changes: by-unit, the entry moves to the branch of the
        person's unit (modify DN, the RDN kept); flat, only attributes change (the unit
        attribute with them). Its attributes are brought in line with the HR record."""
        m = w.mailbox
        st = w.staff
        if not isinstance(m, Mailbox):
            raise DirectoryError(f"{st.full_name} ({st.hr_id}) has no mailbox to change")
        e = self._locate(w, m)
        branch = self.d.layout.unit_branch(st.unit_code)
        moves = not self.d.layout.flat and not self.d.layout.in_place(e.dn, st.unit_code)
        changes = self.changes(e, st, m)
        if self.dry_run:
            done = [f"would move to {branch}"] if moves else []
            if changes:
                done.append("would update " + ", ".join(sorted(changes)))
            w.succeed("; ".join(done) or "nothing to change", dry_run=True)
            return
        done = []
        dn = e.dn
        if moves:
            self.ensure_branch(st.unit_code)
            dn = self.d.move(dn, branch)
            done.append(f"moved from {m.unit_code} to {st.unit_code}")
        elif m.unit_code != st.unit_code:
            done.append(f"transferred from {m.unit_code} to {st.unit_code}")
        if changes:
            self.d.replace(dn, changes)
            done.append("updated " + ", ".join(sorted(changes)))
            if m.origin == "adopted":
                from dnmail.services.adopt import with_written

                m.adopted_attrs = with_written(m.adopted_attrs, changes, now)
        if e.transfer_marked:
            # In its new unit's branch now: that unit's officer has it (rule {2}).
            self.d.mark_transfer(dn, on=False)
        m.dn = dn
        m.unit_code = st.unit_code
        m.updated_at = now
        w.succeed("; ".join(done) or "already up to date", dry_run=False)

    def cancel(self, w: Work, now: datetime) -> None:
        """Lock the mailbox: every bind fails while mail is still delivered."""
        m = w.mailbox
        if not isinstance(m, Mailbox):
            w.succeed("no mailbox; nothing to lock", dry_run=self.dry_run)
            return
        reason = LockReason(w.req.lock_reason or LockReason.OTHER)
        if self.dry_run:
            w.succeed(f"would lock ({reason.label_vi})", dry_run=True)
            return
        e = self._locate(w, m)
        if not e.locked:
            self.d.lock(e.dn)
        m.dn = e.dn
        m.state = MailboxState.LOCKED
        m.lock_reason = reason
        m.lock_note = w.req.note
        m.locked_at = now
        m.updated_at = now
        w.succeed(f"locked ({reason.label_vi})", dry_run=False)

    def _locate(self, w: Work, m: Mailbox) -> Entry:
        """The entry of a mailbox: at its recorded DN, or (after a move that crashed
        before the commit) wherever its HR id is."""
        e = self.d.get(m.dn)
        if e is not None:
            return e
        found = self.d.find_by_hr_ids([w.staff.hr_id]).get(w.staff.hr_id, [])
        if len(found) == 1:
            return found[0]
        if not found:
            raise NoSuchEntry(
                f"the entry of {m.address}@{self.domain} ({m.dn}) is missing from the "
                "directory; run `dnmail reconcile --fix`"
            )
        raise DirectoryError(
            f"HR id {w.staff.hr_id} is on several entries; run `dnmail reconcile`"
        )
