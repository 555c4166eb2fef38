"""`directory adopt` and `directory link`: take over entries dnmail did not create
(DESIGN §7, issue 11; docs/takeover.md).

The city's directory has run since 2010. Taking it over must not disturb one mailbox:

* nothing changes a password, moves or renames an entry, and without `tag` nothing is
  written to the directory at all; `tag` writes `employeeNumber` (only) into the
  adopted entries that lack it;
* an entry becomes a mailbox of the person it matched (domain/adoption.py says how),
  with the address it has — whatever its convention — its DN as found, and its state
  (`locked`, reason `other`, when it carries pwdAccountLockedTime);
* the entry's attributes as they were are kept with the mailbox (`adopted_attrs`):
  `reconcile` compares the entry with them, since they were never dnmail's to decide;
* one transaction per chunk (`provision.chunk_size` entries), an audit event per
  adopted entry; a rerun adopts nothing twice and says so.

Without `apply` (the default) nothing changes anywhere: the verdicts are reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from dnmail.db import queries
from dnmail.db.models import FormerAddress, Mailbox, Staff
from dnmail.db.session import limit_page_cache
from dnmail.directory.gateway import Entry
from dnmail.domain.addresses import base_of
from dnmail.domain.adoption import (
    FoundEntry,
    Known,
    Matcher,
    MatchRule,
    StaffMember,
    Verdict,
    counts,
    entry_address,
)
from dnmail.domain.mailbox_attrs import SYNCED
from dnmail.domain.states import LockReason, MailboxState
from dnmail.domain.text import clean_text
from dnmail.errors import BadInput, NotFound, Refused
from dnmail.i18n import _
from dnmail.services import audit
from dnmail.services.runtime import Runtime

#: What is kept of an entry when it is taken over (reconcile compares with it).
SNAPSHOT = (*SYNCED, "employeeNumber")
LOCK_NOTE = "locked in the directory before dnmail took it over"
_BATCH = 5000  # rows fetched at a time when reading a whole table
_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)
_CACHE_MIB = 16  # SQLite page cache while adopting a whole city (limit_page_cache)


@dataclass(frozen=True, slots=True)
class AdoptItem:
    """One directory entry and what became of it (the JSON `items`)."""

    dn: str
    address: str
    match: MatchRule
    hr_id: str | None
    candidates: tuple[str, ...]
    adopted: bool  # recorded as a mailbox by this run
    already: bool  # a dnmail mailbox before this run
    locked: bool
    tagged: bool  # employeeNumber written by this run
    full_name: str
    unit: str | None  # what the entry's branch or unit attribute says
    detail: str = ""


@dataclass(frozen=True)
class AdoptResult:
    applied: bool
    tag: bool
    unit: str | None
    entries: int  # person entries read under people_dn
    items: list[AdoptItem] = field(default_factory=list)
    report: Path | None = None

    @property
    def counts(self) -> dict[MatchRule, int]:
        c = dict.fromkeys(MatchRule, 0)
        for i in self.items:
            c[i.match] += 1
        return c

    @property
    def adopted(self) -> int:
        return sum(1 for i in self.items if i.adopted)

    @property
    def already(self) -> int:
        return sum(1 for i in self.items if i.already)

    @property
    def tagged(self) -> int:
        return sum(1 for i in self.items if i.tagged)

    @property
    def left(self) -> list[AdoptItem]:
        """Entries left for IID: ambiguous, no-staff, taken."""
        return [
            i
            for i in self.items
            if not (i.already or i.match.matched or i.match is MatchRule.IGNORED)
        ]

    def json_extra(self) -> dict[str, object]:
        return {
            "counts": self.counts,
            "adopted_now": self.adopted,
            "already_adopted": self.already,
            "tagged_now": self.tagged,
            "left": len(self.left),
        }


# --- reading the directory and the database ------------------------------------------


class _Snapshot:
    """The entries read, compactly (a 100,000-entry directory is read in 250 MiB): a
    FoundEntry each, plus the values of the kept attributes it does not hold; values
    that repeat down the directory (units, departments, titles) are stored once."""

    def __init__(self, rt: Runtime, names: Sequence[str]):
        self.domain = rt.config.directory.mail_domain
        self.layout = rt.directory.layout
        self.names = tuple(names)
        self.extra = tuple(n for n in self.names if n not in _IN_FOUND)
        self.entries: list[FoundEntry] = []
        self.values: list[tuple[str, ...]] = []
        self._once: dict[str, str] = {}

    def _same(self, value: str) -> str:
        once = self._once
        got = once.get(value)
        if got is None:
            if len(once) >= 50_000:
                return value
            got = once[value] = value
        return got

    def add(self, e: Entry) -> None:
        self.entries.append(self.found(e))
        first = _first(e.attrs)
        self.values.append(tuple([self._same(first(n)) for n in self.extra]))

    def found(self, e: Entry) -> FoundEntry:
        """What matching needs of an entry (domain/adoption.py), values as found."""
        first = _first(e.attrs)
        unit = self.layout.unit_of(e.dn, e.attrs)
        return FoundEntry(
            dn=e.dn,
            address=entry_address(e.uid, e.attrs.get("mail", ()), self.domain),
            full_name=first("cn"),
            employee_number=first("employeeNumber"),
            mail=first("mail"),
            phone=first("telephoneNumber"),
            department=self._same(first("ou")),
            unit=self._same(unit) if unit else None,
            locked=e.locked,
        )

    def attrs(self, i: int) -> dict[str, str]:
        """Entry `i`'s first value of each attribute kept ("" when it had none)."""
        e = self.entries[i]
        held = dict(zip(self.extra, self.values[i], strict=True))
        held |= {"cn": e.full_name, "mail": e.mail, "telephoneNumber": e.phone,
                 "ou": e.department, "employeeNumber": e.employee_number}
        return {n: held[n] for n in self.names}


def _first(attrs):
    """name → the first value of that attribute ("" when absent): `Entry.first`, for a
    whole directory."""

    def first(name: str) -> str:
        values = attrs.get(name.lower())
        return values[0] if values else ""

    return first


#: Kept attributes a FoundEntry holds already (as the directory has them).
_IN_FOUND = ("cn", "mail", "telephoneNumber", "ou", "employeeNumber")


def _read_directory(rt: Runtime) -> _Snapshot:
    d = rt.directory
    unit_attr = rt.config.directory.unit_attribute
    names = (*SNAPSHOT, unit_attr) if unit_attr else SNAPSHOT
    snap = _Snapshot(rt, names)
    attributes = list(dict.fromkeys(["uid", "pwdAccountLockedTime", *names]))
    for e in d.iter_people(attributes=attributes):
        snap.add(e)
    return snap


def _known(s: Session) -> Known:
    address_of: dict[str, str] = {}
    owner_of_address: dict[str, str] = {}
    owner_of_dn: dict[str, str] = {}
    q = select(Mailbox.staff_hr_id, Mailbox.address, Mailbox.dn)
    for hr_id, address, dn in s.execute(q.execution_options(yield_per=_BATCH)):
        address_of[hr_id] = address
        owner_of_address[address] = hr_id
        owner_of_dn[dn.lower()] = hr_id
    return Known(address_of, owner_of_address, owner_of_dn)


def _former_addresses(s: Session) -> dict[str, tuple[str, str]]:
    """Every address given out before a rename (issue 14): address → (the mailbox's
    current address, its owner's HR id). Few: renames are rare."""
    q = select(FormerAddress.address, Mailbox.address, Mailbox.staff_hr_id).join(
        Mailbox, Mailbox.id == FormerAddress.mailbox_id
    )
    return {old: (now, hr) for old, now, hr in s.execute(q)}


def _former_text(address: str, holder: tuple[str, str], domain: str) -> str:
    return _(
        "the address {address} is a former address of {current} ({hr_id}'s mailbox, an "
        "alias since a rename): never given to anyone else"
    ).format(address=f"{address}@{domain}", current=f"{holder[0]}@{domain}", hr_id=holder[1])


def _refuse_former(
    verdicts: list[Verdict], former: dict[str, tuple[str, str]], domain: str
) -> None:
    """An entry whose address dnmail gave out before a rename is not adopted: the
    address stays the renamed mailbox's alias (`taken`, left to IID)."""
    if not former:
        return
    for i, v in enumerate(verdicts):
        holder = former.get(v.entry.address)
        if holder is not None and v.adoptable:
            verdicts[i] = replace(
                v, match=MatchRule.TAKEN, detail=_former_text(v.entry.address, holder, domain)
            )


def _staff(s: Session) -> Iterator[StaffMember]:
    """Every staff member, streamed (100,000 rows fetched at once would cost their
    weight twice over; the matcher keeps little of most)."""
    q = select(
        Staff.hr_id, Staff.name_key, Staff.unit_code, Staff.department, Staff.phone, Staff.email
    )
    once: dict[str, str] = {}  # units and departments repeat: one string each
    for hr, key, unit, dept, phone, email in s.execute(q.execution_options(yield_per=_BATCH)):
        yield StaffMember(
            hr, key, once.setdefault(unit, unit), once.setdefault(dept, dept), phone, email
        )


def _matcher(rt: Runtime, s: Session) -> Matcher:
    domain = rt.config.directory.mail_domain
    accounts = {
        a.split("@")[0]: code for a, code in queries.unit_accounts(s).items()
    }
    shared = set(
        s.scalars(select(Staff.name_key).group_by(Staff.name_key).having(func.count() > 1))
    )
    return Matcher(
        _staff(s), _known(s), domain=domain, ignore=rt.config.directory.ignore,
        unit_accounts=accounts, shared_names=shared,
    )


# --- adopting --------------------------------------------------------------------------


class _Adopter:
    def __init__(self, rt: Runtime, *, tag: bool, action: str):
        self.rt = rt
        self.tag = tag
        self.action = action
        self.tagged: set[str] = set()  # DNs
        self.problems: dict[str, str] = {}  # DN → why it was not adopted or tagged

    def record(
        self,
        s: Session,
        chosen: list[tuple[Verdict, dict[str, str]]],
        units: dict[str, str],
        *,
        check: bool = True,
    ) -> list[Verdict]:
        """Record `chosen` (verdict, attributes as found) as mailboxes in the caller's
        transaction, with one audit event each; returns those recorded. With `check`,
        those taken meanwhile by a concurrent run are left to the next one (without it,
        they make the unique indexes refuse the chunk: Conflict, retried with `check`).
        With `tag`, employeeNumber is written into those that lack it first (the
        directory first, then the database, as everywhere)."""
        busy_people: set[str] = set()
        busy_addresses: set[str] = set()
        if check:
            people = [v.hr_id for v, _attrs in chosen]
            addresses = [v.entry.address for v, _attrs in chosen]
            q = select(Mailbox.staff_hr_id)
            busy_people = {r[0] for r in queries.rows_where_in(s, q, Mailbox.staff_hr_id, people)}
            q = select(Mailbox.address)
            busy_addresses = {r[0] for r in queries.rows_where_in(s, q, Mailbox.address, addresses)}
        free = []
        for v, attrs in chosen:
            if v.hr_id in busy_people or v.entry.address in busy_addresses:
                self.problems[v.entry.dn] = _("taken meanwhile by another run: run adopt again")
            else:
                free.append((v, attrs))
        tagged = self.write_tags([v for v, _attrs in free]) if self.tag else set()
        now = self.rt.now()
        rows, events = [], []
        for v, attrs in free:
            e = v.entry
            assert v.hr_id is not None  # adoptable verdicts name their person
            locked = e.locked
            state = MailboxState.LOCKED if locked else MailboxState.ACTIVE
            snapshot: dict[str, object] = {"found": attrs}
            if e.dn in tagged:
                snapshot["dnmail"] = {"employeeNumber": v.hr_id}
            rows.append(
                {
                    "address": e.address,
                    "base": base_of(e.address),
                    "staff_hr_id": v.hr_id,
                    "unit_code": units[v.hr_id],
                    "dn": e.dn,
                    "state": state.value,
                    "lock_reason": LockReason.OTHER.value if locked else None,
                    "lock_note": LOCK_NOTE if locked else None,
                    "locked_at": now if locked else None,
                    "created_at": now,
                    "updated_at": now,
                    "origin": "adopted",
                    "adopted_attrs": _JSON.encode(snapshot),
                }
            )
            events.append(
                {
                    "actor": self.rt.actor,
                    "action": self.action,
                    "target": f"mailbox:{e.address}",
                    "details": {
                        "hr_id": v.hr_id, "dn": e.dn, "match": v.match.value,
                        "state": state.value, "tagged": e.dn in tagged,
                    },
                }
            )
        if rows:
            # Address order: two runs recording overlapping entries wait for each other
            # on the unique index instead of deadlocking (as provision reserves).
            rows.sort(key=lambda r: str(r["address"]))
            queries.insert_rows(s, Mailbox.__table__, rows)
            audit.record_many(events, session=s, at=now)
        return [v for v, _attrs in free]

    def tag_adopted(self, s: Session, verdicts: list[Verdict]) -> None:
        """employeeNumber into entries adopted by an earlier run that lack it, the
        mailboxes' snapshots updated and an audit event each (caller's transaction)."""
        tagged = self.write_tags(verdicts)
        if not tagged:
            return
        now = self.rt.now()
        boxes = {
            m.dn.lower(): m
            for m in s.scalars(select(Mailbox).where(Mailbox.dn.in_(sorted(tagged))))
        }
        events = []
        for v in verdicts:
            m = boxes.get(v.entry.dn.lower())
            if v.entry.dn not in tagged or m is None:
                continue
            m.adopted_attrs = with_written(m.adopted_attrs, {"employeeNumber": v.hr_id}, now)
            events.append({
                "actor": self.rt.actor, "action": "mailbox.tag", "target": f"mailbox:{m.address}",
                "details": {"hr_id": v.hr_id, "dn": v.entry.dn},
            })
        s.flush()
        audit.record_many(events, session=s, at=now)

    def write_tags(self, verdicts: list[Verdict]) -> set[str]:
        """employeeNumber into the entries of `verdicts` that lack it (pipelined): the
        DNs tagged; the others' problems are kept."""
        todo = [
            (v.entry.dn, {"employeeNumber": v.hr_id})
            for v in verdicts
            if not v.entry.employee_number
        ]
        if not todo:
            return set()
        errors = self.rt.directory.replace_many(todo)
        done = set()
        for (dn, _changes), err in zip(todo, errors, strict=True):
            if err is None:
                done.add(dn)
            else:
                self.problems[dn] = _("employeeNumber not written: {why}").format(
                    why=err.message
                )
        self.tagged |= done
        return done




#: The report IID works through in Excel (--report): one row per entry.
def _report_columns():
    from dnmail.exports.writers import Column

    return [
        Column("address", "Hộp thư", width=28),
        Column(
            "match", "Kết quả đối chiếu", labels={r.value: r.label_vi for r in MatchRule}, width=24
        ),
        Column("hr_id", "Mã hồ sơ", width=14),
        Column("candidates", "Ứng viên (mã hồ sơ)", width=24),
        Column("full_name", "Họ và tên (cn)", width=26),
        Column("unit", "Đơn vị (theo thư mục)", width=12),
        Column("state", "Trạng thái", width=12),
        Column("adopted", "Đã tiếp nhận", width=12),
        Column("detail", "Chi tiết", width=60),
        Column("dn", "DN", width=60),
    ]


def write_report(result: AdoptResult, path: Path, domain: str) -> Path:
    """The verdicts as a spreadsheet (.xlsx or .csv) for IID to work through: written
    whole or not at all (no audit event: a dry run records nothing anywhere)."""
    from dnmail.exports.writers import Sheet, atomic_output, write

    fmt = {".xlsx": "xlsx", ".csv": "csv"}.get(path.suffix.lower())
    if fmt is None:
        raise BadInput(_("{path}: the report is a .xlsx or .csv file").format(path=path))
    if not path.parent.is_dir():
        raise BadInput(
            _("{path}: the directory {parent} does not exist").format(
                path=path, parent=path.parent
            )
        )
    rows = (
        (
            f"{i.address}@{domain}" if i.address else "",
            i.match.value,
            i.hr_id or "",
            ", ".join(i.candidates),
            i.full_name,
            i.unit or "",
            "Đã khóa" if i.locked else "Hoạt động",
            "đã có" if i.already else ("có" if i.adopted else ""),
            i.detail,
            i.dn,
        )
        for i in result.items
    )
    try:
        with atomic_output(path) as tmp:
            write(tmp, fmt, Sheet(_report_columns(), rows, "Tiếp nhận hộp thư"))
    except OSError as e:
        from dnmail.errors import DnmailError

        raise DnmailError(
            _("{path}: cannot write the report: {why}").format(path=path, why=e.strerror or e)
        ) from None
    return path


def _in_scope(v: Verdict, unit: str | None, staff_units: dict[str, str]) -> bool:
    if unit is None:
        return True
    if v.entry.unit is not None:
        return v.entry.unit == unit
    return v.hr_id is not None and staff_units.get(v.hr_id) == unit


def adopt_directory(
    rt: Runtime,
    *,
    apply: bool = False,
    tag: bool = False,
    unit: str | None = None,
    report: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> AdoptResult:
    """Match every person entry under people_dn to staff; with `apply`, record each
    match as a mailbox (one transaction per chunk, an audit event each); with `tag` as
    well, write employeeNumber into the adopted entries that lack it. `unit` keeps to
    the entries of one unit (its branch or unit attribute, else the matched person's)."""
    with rt.transaction(readonly=True) as s:
        limit_page_cache(s, _CACHE_MIB)
        if unit is not None:
            from dnmail.services.units import get_unit

            unit = get_unit(unit, session=s).code
        matcher = _matcher(rt, s)
        former = _former_addresses(s)
    snap = _read_directory(rt)
    verdicts: list[Verdict] = matcher.classify(snap.entries)
    _refuse_former(verdicts, former, rt.config.directory.mail_domain)
    staff_units = matcher.unit_of
    del matcher  # the roster's indexes: not needed any more
    in_scope = [i for i, v in enumerate(verdicts) if _in_scope(v, unit, staff_units)]
    adopted: set[str] = set()
    adopter = _Adopter(rt, tag=tag, action="mailbox.adopt")
    if apply:
        chunk = rt.config.provision.chunk_size
        todo = [i for i in in_scope if verdicts[i].adoptable]
        for k in range(0, len(todo), chunk):
            part = todo[k : k + chunk]
            chosen = [(verdicts[i], snap.attrs(i)) for i in part]

            tries: list[int] = []

            def once(chosen=chosen, tries=tries):
                # Optimistic first: nothing else adopts these entries at the same time,
                # and looking 5,000 people up costs more than the insert. A Conflict
                # (another run was faster) sends the chunk again, checked.
                tries.append(1)
                with rt.transaction() as s:
                    limit_page_cache(s, _CACHE_MIB)
                    return adopter.record(s, chosen, staff_units, check=len(tries) > 1)

            adopted.update(v.entry.dn for v in rt.retrying(once))
            if progress:
                progress(len(part))
        # Entries adopted by an earlier run (or linked by hand) that lack the HR id.
        earlier = [
            verdicts[i]
            for i in in_scope
            if verdicts[i].already and not verdicts[i].entry.employee_number
        ]
        for k in range(0, len(earlier) if tag else 0, chunk):
            part_v = earlier[k : k + chunk]

            def tag_once(part_v=part_v):
                with rt.transaction() as s:
                    adopter.tag_adopted(s, part_v)

            rt.retrying(tag_once)
    entries = len(snap.entries)
    del snap  # the entries' values live on in the verdicts, as long as the items need them
    items = []
    for i in in_scope:
        items.append(_item(verdicts[i], adopted, adopter.tagged, adopter.problems))
        verdicts[i] = None  # type: ignore[call-overload]  # one of the two at a time
    result = AdoptResult(apply, tag, unit, entries, items)
    if report is not None:
        write_report(result, Path(report), rt.config.directory.mail_domain)
        result = replace(result, report=Path(report))
    return result


def _clean(text: str) -> str:
    """`clean_text`, keeping the very string when it is clean already (100,000 names)."""
    cleaned = clean_text(text)
    return text if cleaned == text else cleaned


def _item(v: Verdict, adopted: set[str], tagged: set[str], problems: dict[str, str]) -> AdoptItem:
    e = v.entry
    detail = problems.get(e.dn, v.detail)
    if e.dn in tagged:
        detail = (detail + "; " if detail else "") + _("employeeNumber written")
    return AdoptItem(
        dn=e.dn,
        address=e.address,
        match=v.match,
        hr_id=v.hr_id,
        candidates=v.candidates,
        adopted=e.dn in adopted,
        already=v.already,
        locked=e.locked,
        tagged=e.dn in tagged,
        full_name=_clean(e.full_name),
        unit=e.unit,
        detail=detail,
    )


# --- link: one entry by hand ---------------------------------------------------------


def link_entry(
    rt: Runtime, address: str, hr_id: str, *, dry_run: bool = False, tag: bool = False
) -> AdoptItem:
    """Take over the entry of `address` as the mailbox of `hr_id`, by hand (for the
    ambiguous and no-staff rows of `adopt`): the same guarantees as `adopt` — nothing
    changes in the directory (but employeeNumber with `tag`), the address and DN are
    kept, a locked entry stays locked."""
    from dnmail.services.accounts import local_part

    domain = rt.config.directory.mail_domain
    local = local_part(address, domain)
    if not local:
        raise BadInput(_("give the address of the entry (its local part or the full address)"))
    hr_id = clean_text(hr_id)
    d = rt.directory
    unit_attr = rt.config.directory.unit_attribute
    names = (*SNAPSHOT, unit_attr) if unit_attr else SNAPSHOT
    attributes = list(dict.fromkeys(["uid", "pwdAccountLockedTime", *names]))
    entries = d.people_with_address(local, attributes)
    if not entries:
        raise NotFound(
            _("no entry under {people} has the address {address} (uid or mail)").format(
                people=d.layout.people, address=f"{local}@{domain}"
            )
        )
    if len(entries) > 1:
        dns = "; ".join(e.dn for e in entries)
        raise Refused(
            _(
                "{n} entries have the address {address}: {dns}; keep one in the directory first"
            ).format(n=len(entries), address=f"{local}@{domain}", dns=dns)
        )
    e = entries[0]
    snapshot = _Snapshot(rt, names)
    snapshot.add(e)
    found = snapshot.entries[0]
    with rt.transaction(dry_run=dry_run) as s:
        person = s.get(Staff, hr_id)
        if person is None:
            raise NotFound(
                _("no staff member with HR id {hr_id} (import the HR roster first)").format(
                    hr_id=repr(hr_id)
                )
            )
        same_dn = s.scalar(
            select(Mailbox).where(or_(Mailbox.dn == e.dn, Mailbox.address == found.address))
        )
        adopter = _Adopter(rt, tag=tag and not dry_run, action="mailbox.link")
        if same_dn is not None:
            if same_dn.staff_hr_id == hr_id:
                verdict = Verdict(
                    found, MatchRule.HR_ID, hr_id, already=True,
                    detail=_("already this person's mailbox: nothing to do"),
                )
                if adopter.tag:
                    adopter.tag_adopted(s, [verdict])
                return _item(verdict, set(), adopter.tagged, adopter.problems)
            raise Refused(
                _("{address} ({dn}) is already the mailbox of {hr_id}").format(
                    address=f"{found.address}@{domain}", dn=e.dn, hr_id=same_dn.staff_hr_id
                )
            )
        has = s.scalar(select(Mailbox.address).where(Mailbox.staff_hr_id == hr_id))
        if has is not None:
            raise Refused(
                _("{hr_id} already has the mailbox {address}").format(
                    hr_id=hr_id, address=f"{has}@{domain}"
                )
            )
        holder = _former_addresses(s).get(found.address)
        if holder is not None:
            raise Refused(_former_text(found.address, holder, domain))
        # What `adopt` says of the entry (ambiguous, no-staff…), now settled by hand.
        said = _matcher(rt, s).first_verdict(found)
        verdict = Verdict(
            found, said.match, hr_id, said.candidates,
            _("linked by hand to {who}; adopt said: {match}").format(
                who=f"{hr_id} ({person.full_name})", match=said.match
            )
            + (f" ({said.detail})" if said.detail else ""),
        )
        if dry_run:
            would = _("would link to {who}").format(who=f"{hr_id} ({person.full_name})")
            return _item(verdict, set(), set(), {e.dn: would})
        adopter.record(s, [(verdict, snapshot.attrs(0))], {hr_id: person.unit_code})
    return _item(verdict, {e.dn}, adopter.tagged, adopter.problems)


def adopted_snapshot(text: str | None) -> dict[str, str]:
    """The attributes a mailbox's entry is compared with when it was taken over: as
    found, with what dnmail has written since (reconcile)."""
    if not text:
        return {}
    data = json.loads(text)
    return {**data.get("found", {}), **data.get("dnmail", {})}


def with_written(text: str | None, written: dict[str, object], now: datetime) -> str:
    """`adopted_attrs` after dnmail wrote `written` into the entry (a transfer)."""
    data = json.loads(text) if text else {"found": {}}
    mine = data.setdefault("dnmail", {})
    for k, v in written.items():
        mine[k] = "" if v is None else str(v)
    data["written_at"] = now.isoformat()
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


__all__ = ["AdoptItem", "AdoptResult", "adopt_directory", "counts", "link_entry"]
