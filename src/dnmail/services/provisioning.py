"""`provision`: carry out the queue against the directory (DESIGN §1 steps 3 and 6, §5).

Crash safety and exactly-once, the way it is achieved:

* Requests are taken a chunk at a time inside one database transaction that holds
  them: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (another worker skips them; a killed
  worker's locks vanish with its connection), ``BEGIN IMMEDIATE`` on SQLite (writers
  are serialised).
* Addresses are reserved by inserting the mailbox rows and flushing *before* any
  directory write: two workers that picked the same address collide on the unique
  index here, while nothing has been written to the directory yet, and the chunk is
  retried.
* Directory writes are idempotent on a rerun: an entry that already carries the
  person's HR id (employeeNumber) is adopted, not duplicated — it is moved to the
  right branch, its attributes brought in line and a new password handed out (the
  first one may never have reached anybody). A move or a lock already done is
  recognised.
* The chunk commits once, with every request's outcome and its audit event: a crash
  before the commit leaves the requests open, and the rerun adopts what the directory
  already has. A crash after it loses nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from dnmail.db import queries
from dnmail.db.models import Mailbox, Request, Staff
from dnmail.directory.gateway import Entry
from dnmail.domain.addresses import address_base, allocate_many
from dnmail.domain.mailbox_attrs import changed_attributes, mailbox_attributes
from dnmail.domain.passwords import generate_password
from dnmail.domain.results import secret
from dnmail.domain.states import (
    HrStatus,
    ItemOutcome,
    LockReason,
    MailboxState,
    RequestKind,
    RequestState,
)
from dnmail.errors import (
    DirectoryError,
    DirectoryUnavailable,
    DnmailError,
    NoSuchEntry,
)
from dnmail.exports.handouts import HandoutRow, HandoutWriter
from dnmail.services import audit
from dnmail.services.requests import reserved_names
from dnmail.services.runtime import Runtime

_TRAILING_DIGITS = re.compile(r"\d+$")
_MAILBOX_COLUMNS = ("address", "base", "staff_hr_id", "unit_code", "dn", "state", "created_at", "updated_at")


def base_of(address: str) -> str:
    return _TRAILING_DIGITS.sub("", address) or address


@dataclass(frozen=True)
class ItemResult:
    request_id: int
    kind: RequestKind
    unit: str
    hr_id: str
    full_name: str
    state: ItemOutcome
    address: str | None = None
    dn: str | None = None
    detail: str = ""  # what was done (created, adopted, moved, locked…) or why it failed
    password: str | None = secret()  # shown once, never stored
    handed_out: bool = False  # the password is in a handout file (shown only if one was not)


@dataclass(frozen=True)
class ProvisionSummary:
    items: list[ItemResult]
    handouts: list[Path]
    dry_run: bool = False
    #: Why some passwords could not be written to their handout (they are in `items`).
    handout_problem: str | None = None

    @property
    def done(self) -> list[ItemResult]:
        return [i for i in self.items if i.state is ItemOutcome.DONE]

    @property
    def failed(self) -> list[ItemResult]:
        return [i for i in self.items if i.state is ItemOutcome.FAILED]

    def json_extra(self) -> dict[str, object]:
        return {"done": len(self.done), "failed": len(self.failed)}


@dataclass(slots=True)
class _NewMailbox:
    """A mailbox being created: its row is inserted in bulk (`_insert_reserved`), so a
    plain record is enough (an ORM instance per account costs more than the add)."""

    address: str
    base: str
    staff_hr_id: str
    unit_code: str
    dn: str
    state: str
    created_at: datetime
    updated_at: datetime
    id: int | None = None


@dataclass
class _Work:
    req: Row  # a requests row (claimed)
    staff: Row  # a staff row
    mailbox: Mailbox | None
    result: ItemResult | None = None
    password: str | None = None
    new_mailbox: bool = False
    adopted: Entry | None = None


class Provisioner:
    """One run of `provision` (or one worker of it)."""

    def __init__(
        self,
        rt: Runtime,
        *,
        handout_dir: Path | None,
        progress: Callable[[int], None] | None = None,
        dry_run: bool = False,
    ):
        self.rt = rt
        self.cfg = rt.config
        self.domain = rt.config.directory.mail_domain
        self.policy = rt.config.passwords.policy()
        self.reserved = reserved_names(rt.config)
        self.pattern = rt.config.addresses.pattern
        # The handout directory is checked (and refused) before anything is changed.
        self.handouts = (
            HandoutWriter(handout_dir, stamp=rt.now()) if handout_dir and not dry_run else None
        )
        self.handout_problem: str | None = None
        self.progress = progress or (lambda n: None)
        self.dry_run = dry_run
        self._branches: set[str] = set()
        self._accounts: set[str] | None = None
        self._now = rt.now()

    # -- the loop ------------------------------------------------------------------
    def run(self, request_ids: Sequence[int] = (), *, limit: int | None = None) -> ProvisionSummary:
        results: list[ItemResult] = []
        seen: set[int] = set()
        remaining = limit
        chunk = self.cfg.provision.chunk_size
        try:
            while remaining is None or remaining > 0:
                size = chunk if remaining is None else min(chunk, remaining)
                batch = self._run_chunk(request_ids, size, seen)
                if batch is None:
                    break
                results.extend(batch)
                seen.update(r.request_id for r in batch)
                if remaining is not None:
                    remaining -= len(batch)
                self.progress(len(batch))
                if self.dry_run and not batch:
                    break
        finally:
            if self.handouts is not None:
                self.handouts.close()  # files that never got a row are removed
        paths = sorted(self.handouts.paths.values()) if self.handouts else []
        return ProvisionSummary(results, paths, self.dry_run, self.handout_problem)

    def _run_chunk(
        self, request_ids: Sequence[int], size: int, seen: set[int]
    ) -> list[ItemResult] | None:
        # A Conflict: another worker reserved one of our addresses at the same moment,
        # or PostgreSQL broke a deadlock by failing us. Nothing was written to the
        # directory (addresses are reserved before any write): take the chunk again, the
        # other worker has committed by now and its addresses count as taken.
        return self.rt.retrying(lambda: self._chunk_once(request_ids, size, seen))

    def _claim(self, s: Session, request_ids: Sequence[int], size: int, seen: set[int]):
        q = select(Request).where(queries.is_open())
        if request_ids:
            q = q.where(Request.id.in_(list(request_ids)))
        else:
            q = q.where(Request.attempts < self.cfg.provision.max_attempts)
        if seen:
            # In a dry run nothing changes state, and a failed item stays open: never
            # take the same request twice in one run.
            q = q.where(Request.id.not_in(list(seen)))
        q = q.order_by(Request.created_at, Request.id).limit(size)
        if not self.dry_run:
            q = q.with_for_update(skip_locked=True)
        # Plain rows, not ORM objects: outcomes are written back in one bulk UPDATE.
        return list(s.execute(q.with_only_columns(*Request.__table__.columns)))

    def _chunk_once(
        self, request_ids: Sequence[int], size: int, seen: set[int]
    ) -> list[ItemResult] | None:
        now = self._now = self.rt.now()
        with self.rt.db.transaction(dry_run=self.dry_run, autoflush=False) as s:
            reqs = self._claim(s, request_ids, size, seen)
            if not reqs:
                return None
            works = self._load(s, reqs)
            if self.handouts is not None:
                # Each unit's handout exists (created new, 0600) before any password of
                # this chunk is set: a handout that cannot be made changes nothing.
                self.handouts.prepare(
                    w.staff.unit_code for w in works if w.req.kind == RequestKind.CREATE.value
                )
            self._handle_all(s, works, now)
            if self.dry_run:
                return [w.result for w in works if w.result is not None]  # rolled back
            self._record(s, works, now)
            # Passwords reach disk, under the handout's final name, before the commit
            # that marks them issued.
            self._write_handouts(works)
        return [w.result for w in works if w.result is not None]

    # -- loading ----------------------------------------------------------------------
    def _load(self, s: Session, reqs: list[Row]) -> list[_Work]:
        hr_ids = [r.staff_hr_id for r in reqs]
        staff = {
            x.hr_id: x
            for x in queries.rows_where_in(
                s, select(*Staff.__table__.columns), Staff.hr_id, hr_ids
            )
        }
        boxes = {
            m.staff_hr_id: m
            for (m,) in queries.rows_where_in(s, select(Mailbox), Mailbox.staff_hr_id, hr_ids)
        }
        return [_Work(r, staff[r.staff_hr_id], boxes.get(r.staff_hr_id)) for r in reqs]

    def _unit_accounts(self, s: Session) -> set[str]:
        if self._accounts is None:
            self._accounts = queries.unit_account_names(s)
        return self._accounts

    def _ensure_branch(self, unit: str) -> str:
        d = self.rt.directory
        branch = d.layout.unit_branch(unit)
        if unit not in self._branches:
            if not self.dry_run:
                d.ensure_ou(branch, unit)
            self._branches.add(unit)
        return branch

    # -- handling ---------------------------------------------------------------------
    def _handle_all(self, s: Session, works: list[_Work], now: datetime) -> None:
        creates = [w for w in works if w.req.kind == RequestKind.CREATE.value]
        if creates:
            self._prepare_creates(s, creates)
        fresh: list[_Work] = []
        for w in works:
            if w.result is not None:
                continue
            try:
                if w.req.kind == RequestKind.CREATE.value:
                    if w.adopted is not None:
                        self._adopt(s, w)
                    else:
                        fresh.append(w)
                elif w.req.kind == RequestKind.CHANGE.value:
                    self._change(s, w)
                else:
                    self._cancel(s, w, now)
            except DirectoryUnavailable:
                raise
            except DirectoryError as e:
                self._fail(w, e.message)
            except DnmailError as e:
                self._fail(w, e.message)
        if fresh:
            self._add_fresh(s, fresh)

    def _fail(self, w: _Work, reason: str) -> None:
        w.result = ItemResult(
            w.req.id, RequestKind(w.req.kind), w.req.unit_code, w.staff.hr_id, w.staff.full_name,
            ItemOutcome.FAILED,
            w.mailbox.address if w.mailbox else None, None, reason,
        )

    def _done(self, w: _Work, detail: str, *, password: str | None = None) -> None:
        m = w.mailbox
        w.password = password
        w.result = ItemResult(
            w.req.id, RequestKind(w.req.kind), w.req.unit_code, w.staff.hr_id, w.staff.full_name,
            ItemOutcome.WOULD_DO if self.dry_run else ItemOutcome.DONE,
            m.address if m else None, m.dn if m else None, detail, password,
        )

    def _prepare_creates(self, s: Session, creates: list[_Work]) -> None:
        """Adoption lookups and address allocation for a chunk: one directory search per
        200 HR ids, one per 200 chosen addresses and one SQL query, whatever the size of
        the city — never one search per candidate."""
        d = self.rt.directory
        existing = d.find_by_hr_ids([w.staff.hr_id for w in creates])
        need_address: list[_Work] = []
        for w in creates:
            st = w.staff
            if w.mailbox is not None:
                self._fail(w, f"already has the mailbox {w.mailbox.address}@{self.domain}")
                continue
            if st.hr_status != HrStatus.ACTIVE.value:
                self._fail(w, f"HR status is {HrStatus(st.hr_status).label_vi}; no mailbox is created")
                continue
            entries = existing.get(st.hr_id, [])
            if len(entries) > 1:
                dns = "; ".join(e.dn for e in entries)
                self._fail(w, f"HR id {st.hr_id} is on several directory entries ({dns}); run `dnmail reconcile`")
                continue
            if entries:
                w.adopted = entries[0]
                continue
            need_address.append(w)
        if not need_address:
            return
        wanted: dict[int, str] = {}
        bases: dict[int, str] = {}
        for w in need_address:
            if w.req.requested_address:
                wanted[w.req.id] = w.req.requested_address
                bases[w.req.id] = base_of(w.req.requested_address)
            else:
                try:
                    bases[w.req.id] = address_base(w.staff.full_name, self.pattern)
                except DnmailError as e:
                    self._fail(w, f"no address can be made from the name: {e.message}")
        all_bases = set(bases.values())
        if not all_bases:
            return
        accounts = self._unit_accounts(s)
        taken_db = {
            a for (a,) in s.execute(select(Mailbox.address).where(Mailbox.base.in_(all_bases)))
        }
        taken = taken_db | accounts
        requested = [w for w in need_address if w.result is None and w.req.id in wanted]
        auto = [w for w in need_address if w.result is None and w.req.id not in wanted]
        # Requested addresses: "used when valid and free; otherwise refused with the
        # reason, not silently renamed" (DESIGN §2).
        in_dir = d.existing_uids(wanted[w.req.id] for w in requested) if requested else {}
        for w in requested:
            local = wanted[w.req.id]
            if local in self.reserved:
                self._fail(w, f"requested address {local} is a reserved name")
            elif local in taken:
                self._fail(w, f"requested address {local}@{self.domain} is already taken")
            elif local in in_dir:
                self._fail(
                    w,
                    f"requested address {local}@{self.domain} is taken in the directory by an "
                    f"entry that is not this person's (employeeNumber {in_dir[local] or 'none'})",
                )
            else:
                taken.add(local)
                self._reserve(s, w, local)
        # Generated addresses: allocate against what the database knows, then check the
        # chosen ones in the directory with equality filters; an address held there by an
        # entry dnmail does not know is skipped and the person gets the next one.
        todo = auto
        for _ in range(20):
            if not todo:
                break
            chosen = allocate_many([bases[w.req.id] for w in todo], set(taken), reserved=self.reserved)
            clash = d.existing_uids(chosen)
            retry = []
            for w, local in zip(todo, chosen, strict=True):
                if local in clash:
                    taken.add(local)
                    retry.append(w)
                else:
                    taken.add(local)
                    self._reserve(s, w, local)
            todo = retry
        for w in todo:
            self._fail(w, "no free address found after repeated clashes with directory entries")
        self._insert_reserved(s, [w for w in need_address if w.new_mailbox])

    def _insert_reserved(self, s: Session, works: list[_Work]) -> None:
        """Reserve the chunk's new addresses in one INSERT … RETURNING, before any LDAP
        write: two workers that picked one address collide on the unique index here."""
        if self.dry_run or not works:
            return
        from sqlalchemy import insert

        # Always in address order: two workers reserving overlapping addresses then wait
        # for each other in the same order (a unique-key wait, retried) instead of
        # deadlocking.
        rows = sorted(
            ({c: getattr(w.mailbox, c) for c in _MAILBOX_COLUMNS} for w in works),
            key=lambda r: r["address"],
        )
        # A plain executemany, then the ids by address (unique): an ordered
        # INSERT … RETURNING runs row by row on SQLite.
        s.execute(insert(Mailbox), rows)
        ids = queries.ids_by_key(s, Mailbox.address, Mailbox.id, [r["address"] for r in rows])
        for w in works:
            w.mailbox.id = ids[w.mailbox.address]

    def _reserve(self, s: Session, w: _Work, local: str) -> None:
        now = self._now
        m = _NewMailbox(
            address=local,
            base=base_of(local),
            staff_hr_id=w.staff.hr_id,
            unit_code=w.staff.unit_code,
            dn=self.rt.directory.layout.mailbox_dn(w.staff.unit_code, local),
            state=MailboxState.ACTIVE.value,
            created_at=now,
            updated_at=now,
        )
        w.mailbox = m  # transient: inserted in bulk by _insert_reserved
        w.new_mailbox = True

    def _unreserve(self, s: Session, m: Mailbox) -> None:
        from sqlalchemy import delete

        if m.id is not None:
            s.execute(delete(Mailbox).where(Mailbox.id == m.id))

    def _add_fresh(self, s: Session, works: list[_Work]) -> None:
        """New entries of a chunk in one pipelined batch, one operation per account: the
        add carries the cleartext password for ppolicy to hash, and pwdReset."""
        items = []
        for w in works:
            m = w.mailbox
            assert m is not None
            self._ensure_branch(w.staff.unit_code)
            if self.dry_run:
                self._done(w, f"would create under ou={w.staff.unit_code}")
                continue
            w.password = generate_password(self.policy)
            items.append((m.dn, mailbox_attributes(w.staff, m.address, self.domain), w.password))
        if self.dry_run:
            return
        errors = self.rt.directory.add_mailboxes(items)
        for w, err in zip(works, errors, strict=True):
            if err is None:
                self._done(w, "created", password=w.password)
            else:
                assert w.mailbox is not None
                address = w.mailbox.address
                self._unreserve(s, w.mailbox)
                w.mailbox = None
                w.password = None
                self._fail(w, f"cannot create {address}: {err.message}")

    def _adopt(self, s: Session, w: _Work) -> None:
        """An entry for this HR id exists already (a crash after the add, or made by
        hand): take it over instead of creating a second one."""
        d = self.rt.directory
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
        branch = self._ensure_branch(st.unit_code)
        want_dn = d.layout.mailbox_dn(st.unit_code, local)
        if self.dry_run:
            w.mailbox = Mailbox(address=local, dn=want_dn)
            self._done(w, f"would adopt the existing entry {e.dn}")
            return
        dn = e.dn
        if dn.lower() != want_dn.lower():
            dn = d.move(dn, branch)
        changes = changed_attributes(e.first, mailbox_attributes(st, local, self.domain))
        if e.locked:
            changes["pwdAccountLockedTime"] = None
        if changes:
            d.replace(dn, changes)
        password = generate_password(self.policy)
        d.set_password(dn, password)
        now = self.rt.now()
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
        self._done(w, "adopted the existing directory entry; new password", password=password)

    def _locate(self, w: _Work) -> Entry:
        """The entry of a mailbox: at its recorded DN, or (after a move that crashed
        before the commit) wherever its HR id is."""
        d = self.rt.directory
        m = w.mailbox
        assert m is not None
        e = d.get(m.dn)
        if e is not None:
            return e
        found = d.find_by_hr_ids([w.staff.hr_id]).get(w.staff.hr_id, [])
        if len(found) == 1:
            return found[0]
        if not found:
            raise NoSuchEntry(
                f"the entry of {m.address}@{self.domain} ({m.dn}) is missing from the "
                "directory; run `dnmail reconcile --fix`"
            )
        raise DirectoryError(f"HR id {w.staff.hr_id} is on several entries; run `dnmail reconcile`")

    def _change(self, s: Session, w: _Work) -> None:
        d = self.rt.directory
        m = w.mailbox
        st = w.staff
        if m is None:
            raise DirectoryError(f"{st.full_name} ({st.hr_id}) has no mailbox to change")
        e = self._locate(w)
        done = []
        branch = d.layout.unit_branch(st.unit_code)
        want_dn = d.layout.mailbox_dn(st.unit_code, m.address)
        if self.dry_run:
            if e.dn.lower() != want_dn.lower():
                done.append(f"would move to {branch}")
            changes = changed_attributes(e.first, mailbox_attributes(st, m.address, self.domain))
            if changes:
                done.append("would update " + ", ".join(sorted(changes)))
            self._done(w, "; ".join(done) or "nothing to change")
            return
        dn = e.dn
        if dn.lower() != want_dn.lower():
            self._ensure_branch(st.unit_code)
            dn = d.move(dn, branch)
            done.append(f"moved from {m.unit_code} to {st.unit_code}")
        changes = changed_attributes(e.first, mailbox_attributes(st, m.address, self.domain))
        if changes:
            d.replace(dn, changes)
            done.append("updated " + ", ".join(sorted(changes)))
        m.dn = dn
        m.unit_code = st.unit_code
        m.updated_at = self.rt.now()
        self._done(w, "; ".join(done) or "already up to date")

    def _cancel(self, s: Session, w: _Work, now: datetime) -> None:
        d = self.rt.directory
        m = w.mailbox
        if m is None:
            self._done(w, "no mailbox; nothing to lock")
            return
        reason = LockReason(w.req.lock_reason or LockReason.OTHER.value)
        if self.dry_run:
            self._done(w, f"would lock ({reason.label_vi})")
            return
        e = self._locate(w)
        if not e.locked:
            d.lock(e.dn)
        m.dn = e.dn
        m.state = MailboxState.LOCKED.value
        m.lock_reason = reason.value
        m.lock_note = w.req.note
        m.locked_at = now
        m.updated_at = now
        self._done(w, f"locked ({reason.label_vi})")

    # -- recording ------------------------------------------------------------------
    def _record(self, s: Session, works: list[_Work], now: datetime) -> None:
        """Each request's outcome and its audit event: one bulk UPDATE, one INSERT."""
        actor = self.rt.actor
        s.flush()  # mailboxes changed through the ORM (moves, locks, adoptions)
        updates = []
        events = []
        for w in works:
            r = w.req
            res = w.result
            assert res is not None
            if res.state is ItemOutcome.DONE:
                values = {
                    "id": r.id,
                    "state": RequestState.DONE.value,
                    "handled_by": actor,
                    "handled_at": now,
                    "last_error": None,
                    "mailbox_id": w.mailbox.id if w.mailbox is not None else None,
                    "updated_at": now,
                }
                attempt = r.attempts
            else:
                attempt = r.attempts + 1
                values = {
                    "id": r.id,
                    "state": RequestState.FAILED.value,
                    "attempts": attempt,
                    "last_error": res.detail,
                    "updated_at": now,
                }
            updates.append(values)
            events.append(
                {
                    "actor": actor,
                    "action": f"provision.{r.kind}" if res.state is ItemOutcome.DONE else "provision.failed",
                    "target": f"request:{r.id}",
                    "details": {
                        "hr_id": res.hr_id,
                        "unit": res.unit,
                        "address": res.address,
                        "dn": res.dn,
                        "result": res.detail,
                        "attempt": attempt,
                    },
                }
            )
        s.execute(update(Request), updates)
        audit.record_many(events, session=s, at=now)

    def _write_handouts(self, works: list[_Work]) -> None:
        """Each new password into its unit's handout (then marked `handed_out`, never
        shown). When the handout cannot be written (a full
        disk), the passwords are returned to be shown, and the chunk is still recorded:
        they are in force, and never lost."""
        if self.handouts is None:
            return
        per_unit: dict[str, list[HandoutRow]] = {}
        for w in works:
            if w.password and w.mailbox is not None:
                per_unit.setdefault(w.staff.unit_code, []).append(
                    HandoutRow(
                        w.staff.full_name,
                        w.staff.department,
                        w.staff.phone,
                        f"{w.mailbox.address}@{self.domain}",
                        w.password,
                    )
                )
        try:
            self.handouts.write_many(per_unit)
            self.handouts.publish()
        except OSError as e:
            self.handout_problem = (
                f"the handouts in {self.handouts.directory} could not be written "
                f"({e.strerror or e}): the passwords are shown instead; hand them over now"
            )
            return
        for w in works:
            if w.password and w.result is not None:
                w.result = replace(w.result, handed_out=True)


def provision(
    rt: Runtime,
    request_ids: Sequence[int] = (),
    *,
    limit: int | None = None,
    dry_run: bool = False,
    handout_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> ProvisionSummary:
    """Carry out open requests (all, or those named), a chunk per transaction.

    With several workers (``provision.workers`` or ``workers=``), as many processes take
    chunks from the same queue; the row claims keep them from ever taking the same
    request (DESIGN §5), exactly as two hosts running `provision` at once.
    """
    n = workers if workers is not None else rt.config.provision.workers
    if n > 1 and not dry_run and not request_ids and limit is None:
        return _provision_parallel(rt, n, handout_dir=handout_dir, progress=progress)
    p = Provisioner(rt, handout_dir=handout_dir, progress=progress, dry_run=dry_run)
    return p.run(request_ids, limit=limit)


class WorkerError(DnmailError):
    """An error raised in a worker process, carried back with its exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _worker(config, actor: str, handout_dir: Path | None, tag: str, queue) -> None:
    rt = Runtime(config, actor=actor)
    try:
        p = Provisioner(
            rt,
            handout_dir=handout_dir,
            progress=lambda k: queue.put(("progress", k)),
        )
        if p.handouts is not None:
            p.handouts.stamp += f"-{tag}"
        queue.put(("done", p.run()))
    except DnmailError as e:
        queue.put(("error", e.message, e.exit_code))
    except BaseException as e:  # a bug in a worker: report it, never hang the parent
        queue.put(("error", f"worker {tag} failed: {type(e).__name__}: {e}", 1))
    finally:
        rt.close()


def _provision_parallel(
    rt: Runtime, n: int, *, handout_dir: Path | None, progress: Callable[[int], None] | None
) -> ProvisionSummary:
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    rt.close()  # never share a connection or a pool across fork
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(rt.config, rt.actor, handout_dir, f"w{i + 1}", queue))
        for i in range(n)
    ]
    for proc in procs:
        proc.start()
    items: list[ItemResult] = []
    handouts: list[Path] = []
    handout_problems: list[str] = []
    errors: list[tuple[str, int]] = []
    finished = 0
    while finished < n:
        try:
            msg = queue.get(timeout=1.0)
        except Exception:  # queue.Empty: check the workers are alive
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead and queue.empty():
                errors.append((f"{len(dead)} worker(s) died (exit {dead[0].exitcode})", 1))
                finished += len(dead)
                for p in dead:
                    procs.remove(p)
                    p.exitcode  # noqa: B018
            continue
        if msg[0] == "progress":
            if progress:
                progress(msg[1])
        elif msg[0] == "done":
            items.extend(msg[1].items)
            handouts.extend(msg[1].handouts)
            if msg[1].handout_problem:
                handout_problems.append(msg[1].handout_problem)
            finished += 1
        else:
            errors.append((msg[1], msg[2]))
            finished += 1
    for proc in procs:
        proc.join()
    if errors:
        message, code = max(errors, key=lambda e: e[1])
        raise WorkerError(message, code)
    items.sort(key=lambda i: i.request_id)
    return ProvisionSummary(
        items, sorted(handouts), False, handout_problems[0] if handout_problems else None
    )


def count_open(rt: Runtime, request_ids: Sequence[int] = ()) -> int:
    """How many requests `provision` would take (for a progress bar)."""
    from sqlalchemy import func

    q = select(func.count()).select_from(Request).where(queries.is_open())
    if request_ids:
        q = q.where(Request.id.in_(list(request_ids)))
    else:
        q = q.where(Request.attempts < rt.config.provision.max_attempts)
    with rt.transaction(readonly=True) as s:
        return s.scalar(q) or 0
