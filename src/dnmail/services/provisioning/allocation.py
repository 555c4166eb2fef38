"""The create requests of a chunk: which entries to adopt, and the addresses of the new
mailboxes — one directory search per 200 HR ids, one per 200 chosen addresses and one
SQL query, whatever the size of the city; never one search per candidate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from dnmail.directory.gateway import Directory
from dnmail.domain.addresses import address_base, allocate_many, base_of
from dnmail.domain.messages import label_of, message
from dnmail.domain.states import HrStatus, MailboxState
from dnmail.errors import DnmailError
from dnmail.i18n import N_
from dnmail.services.provisioning import ledger
from dnmail.services.provisioning.items import NewMailbox, Work

#: Rounds of "allocate, then check the chosen addresses in the directory".
ROUNDS = 20


class Allocation:
    """Prepares a chunk's creates: fails those that cannot be, marks those to adopt,
    reserves an address for the others (inserted before any directory write)."""

    def __init__(
        self,
        s: Session,
        directory: Directory,
        *,
        domain: str,
        pattern: str,
        reserved: frozenset[str],
        accounts: set[str],
        now: datetime,
        reserve: bool,
    ):
        self.s = s
        self.d = directory
        self.domain = domain
        self.pattern = pattern
        self.reserved = reserved
        self.accounts = accounts  # the units' official accounts: never a person's
        self.now = now
        self.reserve = reserve  # False in a dry run: nothing is inserted
        self.taken: set[str] = set()

    def prepare(self, creates: list[Work]) -> None:
        need_address = self._adoptions(creates)
        wanted, bases = self._bases(need_address)
        if not bases:
            return
        self.taken = ledger.taken_addresses(self.s, set(bases.values())) | self.accounts
        open_ = [w for w in need_address if w.result is None]
        self._requested([w for w in open_ if w.req.id in wanted], wanted)
        self._generated([w for w in open_ if w.req.id not in wanted], bases)
        if self.reserve:
            ledger.insert_reserved(self.s, [w for w in need_address if w.new_mailbox])

    def _adoptions(self, creates: list[Work]) -> list[Work]:
        """Fail what cannot be created, mark entries to adopt (one already carries the
        HR id); the rest need an address."""
        existing = self.d.find_by_hr_ids([w.staff.hr_id for w in creates])
        need_address: list[Work] = []
        for w in creates:
            st = w.staff
            entries = existing.get(st.hr_id, [])
            if w.mailbox is not None:
                w.fail(
                    message(
                        N_("already has the mailbox {address}@{domain}"),
                        address=w.mailbox.address, domain=self.domain,
                    )
                )
            elif st.hr_status != HrStatus.ACTIVE:
                w.fail(
                    message(
                        N_("HR status is {status}; no mailbox is created"),
                        status=label_of(HrStatus(st.hr_status)),
                    )
                )
            elif len(entries) > 1:
                dns = "; ".join(e.dn for e in entries)
                w.fail(
                    message(
                        N_(
                            "HR id {hr_id} is on several directory entries ({dns}); "
                            "run `dnmail reconcile`"
                        ),
                        hr_id=st.hr_id, dns=dns,
                    )
                )
            elif entries:
                w.adopted = entries[0]
            else:
                need_address.append(w)
        return need_address

    def _bases(self, works: list[Work]) -> tuple[dict[int, str], dict[int, str]]:
        """The requested address of each request that has one, and every base."""
        wanted: dict[int, str] = {}
        bases: dict[int, str] = {}
        for w in works:
            if w.req.requested_address:
                wanted[w.req.id] = w.req.requested_address
                bases[w.req.id] = base_of(w.req.requested_address)
                continue
            try:
                bases[w.req.id] = address_base(w.staff.full_name, self.pattern)
            except DnmailError as e:
                w.fail(
                    message(N_("no address can be made from the name: {error}"), error=e.message)
                )
        return wanted, bases

    def _requested(self, works: list[Work], wanted: dict[int, str]) -> None:
        """Requested addresses: "used when valid and free; otherwise refused with the
        reason, not silently renamed" (DESIGN §2)."""
        if not works:
            return
        # Taken in the directory: as a uid, a mail or an alias, by any entry (DESIGN §7).
        in_dir = self.d.taken_addresses(wanted[w.req.id] for w in works)
        for w in works:
            local = wanted[w.req.id]
            if local in self.reserved:
                w.fail(message(N_("requested address {local} is a reserved name"), local=local))
            elif local in self.taken:
                w.fail(
                    message(
                        N_("requested address {local}@{domain} is already taken"),
                        local=local, domain=self.domain,
                    )
                )
            elif local in in_dir:
                w.fail(
                    message(
                        N_(
                            "requested address {local}@{domain} is taken in the directory by an "
                            "entry that is not this person's (as its uid, mail or an alias)"
                        ),
                        local=local, domain=self.domain,
                    )
                )
            else:
                self._take(w, local)

    def _generated(self, works: list[Work], bases: dict[int, str]) -> None:
        """Generated addresses: allocated against what the database knows, then the
        chosen ones checked in the directory with equality filters (uid, mail, aliases);
        an address held there by any entry — adopted or not — is skipped and the person
        gets the next: a new Nguyễn Quang Thanh gets thanhnq1 when thanhnq exists."""
        todo = works
        for _ in range(ROUNDS):
            if not todo:
                break
            chosen = allocate_many(
                [bases[w.req.id] for w in todo], set(self.taken), reserved=self.reserved
            )
            clash = self.d.taken_addresses(chosen)
            retry = []
            for w, local in zip(todo, chosen, strict=True):
                if local in clash:
                    self.taken.add(local)
                    retry.append(w)
                else:
                    self._take(w, local)
            todo = retry
        for w in todo:
            w.fail(
                message(N_("no free address found after repeated clashes with directory entries"))
            )

    def _take(self, w: Work, local: str) -> None:
        self.taken.add(local)
        w.mailbox = NewMailbox(
            address=local,
            base=base_of(local),
            staff_hr_id=w.staff.hr_id,
            unit_code=w.staff.unit_code,
            dn=self.d.layout.mailbox_dn(w.staff.unit_code, local),
            state=MailboxState.ACTIVE.value,
            created_at=self.now,
            updated_at=self.now,
        )  # inserted in bulk by ledger.insert_reserved
        w.new_mailbox = True

