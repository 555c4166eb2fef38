"""The directory side of `provision`: create, adopt, change (move), cancel (lock).

Every action is idempotent on a rerun (a move or a lock already done is recognised, an
entry already carrying the HR id is adopted) and, in a dry run, only says what it would
do. The mailbox rows it touches are written in the chunk's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dnmail.db.models import FormerAddress, Mailbox
from dnmail.db.session import savepoint
from dnmail.directory.gateway import Directory, Entry
from dnmail.directory.layout import split_dn
from dnmail.domain.addresses import base_of, validate_local_part
from dnmail.domain.mailbox_attrs import changed_attributes, mailbox_attributes
from dnmail.domain.messages import joined, label_of, message
from dnmail.domain.passwords import PasswordPolicy, generate_password
from dnmail.domain.states import LockReason, MailboxState
from dnmail.errors import Conflict, DirectoryError, InvalidName, NoSuchEntry, Refused
from dnmail.i18n import N_
from dnmail.services.provisioning import ledger
from dnmail.services.provisioning.items import Work


class Actions:
    """One worker's directory actions (its branches ensured once per run)."""

    def __init__(
        self,
        directory: Directory,
        *,
        domain: str,
        policy: PasswordPolicy,
        dry_run: bool,
        reserved: frozenset[str] = frozenset(),
        accounts: frozenset[str] | set[str] = frozenset(),
    ):
        self.d = directory
        self.reserved = reserved  # names never given to a person (a rename's check)
        self.accounts = accounts  # the units' official accounts
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

    def changes(self, e: Entry, st, m: Mailbox, address: str | None = None) -> dict[str, object]:
        """What a change request writes: the attributes that follow the HR record (with
        `mail` of `address`, a rename's new name); for an entry taken over from the
        existing directory only those that follow the job (department, position, phone,
        the unit attribute) — its names and address were never dnmail's to decide
        (DESIGN §7) — and the mail of a rename its unit asked for."""
        address = address or m.address
        wanted = self.attributes(st, address)
        if m.origin == "adopted":
            keep = {"ou", "title", "telephoneNumber", *self.d.layout.unit_values(st.unit_code)}
            if address != m.address:
                keep.add("mail")
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
                w.succeed(message(N_("would create at {dn}"), dn=m.dn), dry_run=True)
                continue
            w.password = generate_password(self.policy)
            items.append((m.dn, self.attributes(w.staff, m.address), w.password))
        if self.dry_run:
            return
        errors = self.d.add_mailboxes(items)
        for w, err in zip(works, errors, strict=True):
            if err is None:
                w.succeed(message(N_("created")), dry_run=False, password=w.password)
                continue
            assert w.mailbox is not None
            address = w.mailbox.address
            ledger.unreserve(s, w.mailbox)
            w.mailbox = None
            w.password = None
            w.fail(
                message(N_("cannot create {address}: {error}"), address=address, error=err.message)
            )

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
                message(
                    N_(
                        "directory entry {dn} carries HR id {hr_id} but its address {local} "
                        "belongs to {holder} in the database; run `dnmail reconcile`"
                    ),
                    dn=e.dn, hr_id=st.hr_id, local=local, holder=holder,
                )
            )
        branch = self.ensure_branch(st.unit_code)
        if self.dry_run:
            w.mailbox = Mailbox(address=local, dn=e.dn)
            w.succeed(message(N_("would adopt the existing entry {dn}"), dn=e.dn), dry_run=True)
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
            message(N_("adopted the existing directory entry; new password")),
            dry_run=False,
            password=password,
        )

    # -- change and cancel ------------------------------------------------------------
    def change(self, s: Session, w: Work, now: datetime) -> None:
        """A transfer, HR changes and a rename: by-unit, the entry moves to the branch
        of the person's unit (modify DN); flat, only attributes change (the unit
        attribute with them). Its attributes are brought in line with the HR record.
        A requested address renames the mailbox (`_rename`)."""
        m = w.mailbox
        st = w.staff
        if not isinstance(m, Mailbox):
            raise DirectoryError(
                message(
                    N_("{name} ({hr_id}) has no mailbox to change"),
                    name=st.full_name, hr_id=st.hr_id,
                )
            )
        e = self._locate(w, m)
        old = m.address
        new = w.req.requested_address
        if new:
            self._check_rename(s, m, e, new)
        address = new or m.address
        branch = self.d.layout.unit_branch(st.unit_code)
        moves = not self.d.layout.flat and not self.d.layout.in_place(e.dn, st.unit_code)
        changes = self.changes(e, st, m, address)
        if self.dry_run:
            w.succeed(self._would(m, new, branch if moves else None, changes), dry_run=True)
            return
        done: list[str] = []
        dn = e.dn
        if new:
            dn = self._rename(s, w, m, e, new, branch if moves else None, now)
            done.append(
                message(
                    N_("renamed from {old} to {new} ({old} kept as alias)"), old=old, new=new
                )
            )
        elif moves:
            self.ensure_branch(st.unit_code)
            dn = self.d.move(dn, branch)
        if moves:
            done.append(message(N_("moved from {old} to {new}"), old=m.unit_code, new=st.unit_code))
        elif m.unit_code != st.unit_code:
            done.append(
                message(N_("transferred from {old} to {new}"), old=m.unit_code, new=st.unit_code)
            )
        if changes:
            self.d.replace(dn, changes)
            done.append(message(N_("updated {attributes}"), attributes=", ".join(sorted(changes))))
            if m.origin == "adopted":
                from dnmail.services.adopt import with_written

                written = {**changes, "uid": new} if new else changes
                m.adopted_attrs = with_written(m.adopted_attrs, written, now)
        if e.transfer_marked:
            # In its new unit's branch now: that unit's officer has it (rule {2}).
            self.d.mark_transfer(dn, on=False)
        if new:
            self._record_rename(s, w, m, old, now)
        m.dn = dn
        m.unit_code = st.unit_code
        m.updated_at = now
        w.succeed(joined(done) if done else message(N_("already up to date")), dry_run=False)

    def _would(
        self, m: Mailbox, new: str | None, move_to: str | None, changes: dict[str, object]
    ) -> str:
        """What a change would do (a dry run)."""
        done: list[str] = []
        if new:
            done.append(
                message(
                    N_("would rename to {new}@{domain} ({old} kept as alias)"),
                    new=new, domain=self.domain, old=m.address,
                )
            )
        if move_to:
            done.append(message(N_("would move to {branch}"), branch=move_to))
        if changes:
            done.append(
                message(N_("would update {attributes}"), attributes=", ".join(sorted(changes)))
            )
        return joined(done) if done else message(N_("nothing to change"))

    def _check_rename(self, s: Session, m: Mailbox, e: Entry, new: str) -> None:
        """The new name is checked again as when it was queued — the rule, reserved
        names, the units' accounts, taken in the database (now or ever) or anywhere in
        the directory — and refused with the reason (the request fails, never `done`).
        The entry itself may hold it already: a rename that crashed before its commit."""
        try:
            local = validate_local_part(new, domain=self.domain)
        except InvalidName as e_:
            raise Refused(
                message(N_("requested address refused: {error}"), error=e_.message)
            ) from None
        if local == m.address:
            raise Refused(
                message(
                    N_(
                        "requested address {local}@{domain} is already this mailbox's "
                        "address; nothing to rename"
                    ),
                    local=local, domain=self.domain,
                )
            )
        if local in self.reserved:
            raise Refused(message(N_("requested address {local} is a reserved name"), local=local))
        if local in self.accounts:
            raise Refused(
                message(N_("requested address {local} is a unit's official account"), local=local)
            )
        taken = s.scalar(
            select(Mailbox.id).where(Mailbox.address == local, Mailbox.id != m.id)
        ) or s.scalar(select(FormerAddress.id).where(FormerAddress.address == local))
        if taken:
            raise Refused(
                message(
                    N_(
                        "requested address {local}@{domain} is already taken or was given out "
                        "before (an address is never given to another person)"
                    ),
                    local=local, domain=self.domain,
                )
            )
        own = split_dn(e.dn)
        others = [x.dn for x in self.d.address_holders(local) if split_dn(x.dn) != own]
        if others:
            raise Refused(
                message(
                    N_(
                        "requested address {local}@{domain} is taken in the directory by "
                        "{holder} (as its uid, mail or an alias)"
                    ),
                    local=local, domain=self.domain, holder=others[0],
                )
            )

    def _rename(
        self,
        s: Session,
        w: Work,
        m: Mailbox,
        e: Entry,
        new: str,
        move_to: str | None,
        now: datetime,
    ) -> str:
        """The directory side of a rename, each step idempotent (a rerun after a crash
        finds what is done): the new address reserved in the database first (two
        renames to one name collide on the unique index, before any directory write),
        the old address added as an alias, then uid/RDN (and branch) in one modify DN.
        `mail` follows with the other attributes. The password is not touched."""
        old = m.address
        m.address, m.base = new, base_of(new)
        try:
            with savepoint(s):
                s.flush()
        except Conflict:
            m.address, m.base = old, base_of(old)
            raise Refused(
                message(
                    N_(
                        "requested address {new}@{domain} was taken by another run at the "
                        "same moment"
                    ),
                    new=new, domain=self.domain,
                )
            ) from None
        self.d.add_aliases(e.dn, [f"{old}@{self.domain}"])
        if move_to is not None:
            self.ensure_branch(w.staff.unit_code)
        if e.uid.lower() == new:  # renamed before a crash; only the move may remain
            return e.dn if move_to is None else self.d.move(e.dn, move_to)
        return self.d.rename(e.dn, new, move_to)

    def _record_rename(self, s: Session, w: Work, m: Mailbox, old: str, now: datetime) -> None:
        """The old address into the mailbox's history (never given to anyone else)."""
        last = s.scalar(
            select(func.max(FormerAddress.until)).where(FormerAddress.mailbox_id == m.id)
        )
        s.add(
            FormerAddress(
                mailbox_id=m.id,
                address=old,
                base=base_of(old),
                since=last or m.created_at,
                until=now,
                request_id=w.req.id,
            )
        )

    def cancel(self, w: Work, now: datetime) -> None:
        """Lock the mailbox: every bind fails while mail is still delivered."""
        m = w.mailbox
        if not isinstance(m, Mailbox):
            # Asked to lock a mailbox that does not exist: nothing was done, so it is
            # not `done` (issue 14).
            raise Refused(
                message(
                    N_("{name} ({hr_id}) has no mailbox to lock"),
                    name=w.staff.full_name, hr_id=w.staff.hr_id,
                )
            )
        reason = LockReason(w.req.lock_reason or LockReason.OTHER)
        if self.dry_run:
            w.succeed(message(N_("would lock ({reason})"), reason=label_of(reason)), dry_run=True)
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
        w.succeed(message(N_("locked ({reason})"), reason=label_of(reason)), dry_run=False)

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
                message(
                    N_(
                        "the entry of {address}@{domain} ({dn}) is missing from the "
                        "directory; run `dnmail reconcile --fix`"
                    ),
                    address=m.address, domain=self.domain, dn=m.dn,
                )
            )
        raise DirectoryError(
            message(
                N_("HR id {hr_id} is on several entries; run `dnmail reconcile`"),
                hr_id=w.staff.hr_id,
            )
        )
