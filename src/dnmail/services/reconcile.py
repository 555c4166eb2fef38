"""`reconcile`: the mailboxes in the database against the entries in the directory.

The database is the source of truth (DESIGN §2): every mailbox row should have one
entry under its unit's branch, locked when the row is locked, carrying the HR record's
attributes. One paged search reads the whole of ou=people (or one unit's branch); the
comparison runs over dicts by DN, by employeeNumber and by uid, never one search per
mailbox.

Kinds of drift, and what ``--fix`` does (each mend with an audit event):

* ``missing-entry``: a mailbox without an entry → recreated with a random password
  nobody is told and must-change set; it cannot be logged into until
  `reset-password` hands a password out.
* ``lock-mismatch``: locked on one side only → locked or unlocked as the database says.
* ``attribute-drift``: cn/sn/givenName/mail/telephoneNumber/title/ou (or a missing
  employeeNumber) differ from the HR record → replaced.
* ``wrong-branch``: the entry is not in the branch of the person's unit → moved there
  (modify DN, the address is kept), and the database records the new DN.
* ``unknown-entry`` and ``duplicate-hr-id``: entries no mailbox record owns, or one HR
  id on several entries → reported only; a person decides (deleting an entry by hand,
  or a create request, which `provision` answers by adopting the entry).

People with an open request are only checked for a missing entry: `provision` is
about to bring the rest in line, and mending it here would race with it. Locked
mailboxes keep the attributes and branch they had when they were locked.

In the flat layout there are no branches: ``wrong-branch`` means an entry that is not
directly under people_dn, and the unit is the unit attribute's value (an
``attribute-drift`` when it differs).

Mailboxes taken over from the existing directory (`directory adopt`, DESIGN §7) are
compared with what their entry held when it was adopted (and what dnmail wrote since),
never with the HR record: their names, addresses and branches were never dnmail's to
decide. Their drift is reported only, except what is dnmail's since the takeover: the
lock state, and the attributes a transfer wrote. An entry found at another DN is
recorded there (``wrong-branch``, the database follows the entry; it is never moved);
a missing one is reported (restore it from the directory's backup).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from dnmail.db import queries
from dnmail.db.models import Mailbox, Request, Staff
from dnmail.directory.gateway import Entry
from dnmail.domain.mailbox_attrs import changed_attributes, mailbox_attributes
from dnmail.domain.messages import english, message
from dnmail.domain.passwords import generate_password
from dnmail.domain.states import Labelled, MailboxState
from dnmail.errors import DirectoryError, DirectoryUnavailable
from dnmail.i18n import N_
from dnmail.services import audit
from dnmail.services.runtime import Runtime


class DriftKind(Labelled):
    """Kinds of drift, in the order they are reported (the module docstring says what
    --fix does with each)."""

    MISSING_ENTRY = "missing-entry"
    UNKNOWN_ENTRY = "unknown-entry"  # reported only
    LOCK_MISMATCH = "lock-mismatch"
    ATTRIBUTE_DRIFT = "attribute-drift"
    WRONG_BRANCH = "wrong-branch"
    DUPLICATE_HR_ID = "duplicate-hr-id"  # reported only

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {
            "missing-entry": N_("Entry missing from the directory"),
            "unknown-entry": N_("Entry without a mailbox"),
            "lock-mismatch": N_("Lock state differs"),
            "attribute-drift": N_("Attributes differ"),
            "wrong-branch": N_("Wrong unit branch"),
            "duplicate-hr-id": N_("Duplicate HR id"),
        }


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    dn: str | None
    address: str | None
    hr_id: str | None
    detail: str
    fixed: bool = False
    fix: str = ""  # what --fix did, or why it could not


@dataclass(frozen=True)
class ReconcileResult:
    unit: str | None
    fix: bool
    mailboxes: int  # mailbox rows compared
    entries: int  # directory entries read
    pending: int  # mailboxes left to the open requests that will handle them
    items: list[Drift] = field(default_factory=list)

    @property
    def counts(self) -> dict[DriftKind, int]:
        c = Counter(i.kind for i in self.items)
        return {k: c.get(k, 0) for k in DriftKind}

    @property
    def fixed(self) -> int:
        return sum(1 for i in self.items if i.fixed)

    @property
    def unfixed(self) -> list[Drift]:
        return [i for i in self.items if not i.fixed]

    def json_extra(self) -> dict[str, object]:
        return {"counts": self.counts, "fixed": self.fixed}


class _Box(NamedTuple):
    """A mailbox row with its HR record; the HR fields carry Staff's names so that
    `mailbox_attributes` takes it as it takes a Staff."""

    id: int
    address: str
    dn: str
    mailbox_unit: str
    state: str
    hr_id: str
    full_name: str
    unit_code: str
    department: str
    position: str
    phone: str
    origin: str
    adopted_attrs: str | None

    @property
    def adopted(self) -> bool:
        return self.origin == "adopted"


_BOX_COLUMNS = (
    Mailbox.id,
    Mailbox.address,
    Mailbox.dn,
    Mailbox.unit_code,
    Mailbox.state,
    Staff.hr_id,
    Staff.full_name,
    Staff.unit_code,
    Staff.department,
    Staff.position,
    Staff.phone,
    Mailbox.origin,
    Mailbox.adopted_attrs,
)


class _Index:
    def __init__(self, entries: Iterable[Entry]):
        self.by_dn: dict[str, Entry] = {}
        self.by_hr: dict[str, list[Entry]] = defaultdict(list)
        self.by_uid: dict[str, list[Entry]] = defaultdict(list)
        self.by_mail: dict[str, list[Entry]] = defaultdict(list)
        self.add(entries)

    def add(self, entries: Iterable[Entry]) -> None:
        for e in entries:
            key = e.dn.lower()
            if key in self.by_dn:
                continue
            self.by_dn[key] = e
            if e.employee_number:
                self.by_hr[e.employee_number].append(e)
            if e.uid:
                self.by_uid[e.uid.lower()].append(e)
            for mail in e.attrs.get("mail", ()):
                self.by_mail[mail.lower()].append(e)

    def entry_of(self, b: _Box, domain: str) -> Entry | None:
        """The entry of a mailbox: at its recorded DN, else the one with its HR id, else
        the one with its address as uid (or mail) and no employeeNumber. None when absent
        or when the HR id is on several entries (a duplicate, reported on its own). An
        adopted entry may carry an employeeNumber of another numbering: it is the one
        at the recorded DN all the same, when it still carries the one it had."""
        e = self.by_dn.get(b.dn.lower())
        if e is not None and e.employee_number in ("", b.hr_id):
            return e
        if e is not None and b.adopted:
            from dnmail.services.adopt import adopted_snapshot

            if e.employee_number == adopted_snapshot(b.adopted_attrs).get("employeeNumber", ""):
                return e
        found = self.by_hr.get(b.hr_id, [])
        if len(found) == 1:
            return found[0]
        if found:
            return None
        bare = [x for x in self.by_uid.get(b.address, []) if not x.employee_number]
        if not bare:
            mail = f"{b.address}@{domain}"
            bare = [x for x in self.by_mail.get(mail, []) if not x.employee_number]
        return bare[0] if len(bare) == 1 else None


def _load_boxes(s: Session, unit: str | None, entries: list[Entry]) -> list[_Box]:
    q = select(*_BOX_COLUMNS).join(Staff, Staff.hr_id == Mailbox.staff_hr_id)
    if unit is None:
        return [_Box._make(r) for r in s.execute(q)]
    boxes = {
        r[0]: _Box._make(r)
        for r in s.execute(q.where(or_(Mailbox.unit_code == unit, Staff.unit_code == unit)))
    }
    # Entries of this branch that belong to mailboxes of other units: compare those too,
    # or they would look unknown.
    hr_ids = sorted({e.employee_number for e in entries if e.employee_number})
    uids = sorted({e.uid.lower() for e in entries if e.uid})
    for column, values in ((Mailbox.staff_hr_id, hr_ids), (Mailbox.address, uids)):
        boxes.update({r[0]: _Box(*r) for r in queries.rows_where_in(s, q, column, values)})
    return list(boxes.values())


def _open_hr_ids(s: Session) -> set[str]:
    return set(s.scalars(select(Request.staff_hr_id).where(queries.is_open())))


def _written_by_dnmail(text: str | None) -> set[str]:
    """The attributes of an adopted entry dnmail has written since (a transfer)."""
    import json

    return set(json.loads(text).get("dnmail", {})) if text else set()


def _attr_text(entry: Entry, changes: Mapping[str, object]) -> str:
    return "; ".join(
        f"{k}: {entry.first(k) or '∅'!s} → {v or '∅'!s}" for k, v in sorted(changes.items())
    )


class Reconciler:
    def __init__(self, rt: Runtime, *, fix: bool, unit: str | None):
        self.rt = rt
        self.fix = fix
        self.unit = unit
        self.d = rt.directory
        self.layout = self.d.layout
        self.domain = rt.config.directory.mail_domain
        self.items: list[Drift] = []

    # -- reading ------------------------------------------------------------------------
    def run(self) -> ReconcileResult:
        entries = list(self.d.iter_people(self.unit))
        with self.rt.transaction(readonly=True) as s:
            boxes = _load_boxes(s, self.unit, entries)
            open_hr = _open_hr_ids(s)
        index = _Index(entries)
        if self.unit is not None:
            # One branch shows part of the picture: a mailbox not at its recorded DN may
            # have its entry (or a second one) in another branch. Look those up by HR id.
            lost = [b.hr_id for b in boxes if b.dn.lower() not in index.by_dn]
            if lost:
                index.add(e for es in self.d.find_by_hr_ids(lost).values() for e in es)

        claimed: set[str] = set()
        for hr, found in sorted(index.by_hr.items()):
            if len(found) > 1:
                claimed.update(e.dn.lower() for e in found)
                dns = "; ".join(sorted(e.dn for e in found))
                self.items.append(
                    Drift(
                        DriftKind.DUPLICATE_HR_ID,
                        found[0].dn,
                        None,
                        hr,
                        message(
                            N_("employeeNumber {hr_id} is on {n} entries: {dns}"),
                            hr_id=hr, n=len(found), dns=dns,
                        ),
                        fix=message(
                            N_(
                                "reported only: decide which entry is the person's and "
                                "delete the other"
                            )
                        ),
                    )
                )
        pending = 0
        for b in sorted(boxes, key=lambda b: b.address):
            e = index.entry_of(b, self.domain)
            if e is None:
                if b.hr_id in index.by_hr:
                    continue  # a duplicate: reported above, nothing to compare with
                self._missing(b)
                continue
            claimed.add(e.dn.lower())
            if b.hr_id in open_hr:
                pending += 1
                continue
            self._compare(b, e)
        self._unknown(
            [e for key, e in index.by_dn.items() if key not in claimed and self._in_scope(e)]
        )
        order = list(DriftKind)
        self.items.sort(key=lambda i: (order.index(i.kind), i.address or "", i.dn or ""))
        return ReconcileResult(self.unit, self.fix, len(boxes), len(entries), pending, self.items)

    def _in_scope(self, e: Entry) -> bool:
        return self.unit is None or self.layout.unit_of(e.dn, e.attrs) == self.unit

    # -- comparing ----------------------------------------------------------------------
    def _missing(self, b: _Box) -> None:
        drift = Drift(
            DriftKind.MISSING_ENTRY,
            b.dn,
            self._addr(b),
            b.hr_id,
            message(
                N_("no entry at {dn} nor any with employeeNumber {hr_id}"), dn=b.dn, hr_id=b.hr_id
            ),
        )
        if b.adopted:
            # dnmail did not make it and cannot make it as it was (its password above all).
            self.items.append(replace(
                drift,
                fix=message(
                    N_(
                        "reported only: an entry taken over from the existing directory; "
                        "restore it from the directory's backup"
                    )
                ),
            ))
            return
        self._mend(drift, b, lambda: self._recreate(b))

    def _compare(self, b: _Box, e: Entry) -> None:
        if b.adopted:
            self._compare_adopted(b, e)
            return
        dn = e.dn
        locked = b.state == MailboxState.LOCKED
        if not locked:
            if not self.layout.in_place(dn, b.unit_code):
                branch = self.layout.branch_unit(dn)
                where = (
                    message(N_("not directly under {dn}"), dn=self.layout.people)
                    if self.layout.flat
                    else message(
                        N_("in the branch of {unit}"), unit=branch or message(N_("(no unit)"))
                    )
                )
                drift = Drift(
                    DriftKind.WRONG_BRANCH,
                    dn,
                    self._addr(b),
                    b.hr_id,
                    message(
                        N_("the entry is {where}; the HR unit is {unit} (database DN {dn})"),
                        where=where, unit=b.unit_code, dn=b.dn,
                    ),
                )
                dn = self._mend(drift, b, lambda: self._move(b, dn), default=dn)
            elif dn.lower() != b.dn.lower() or b.mailbox_unit != b.unit_code:
                drift = Drift(
                    DriftKind.WRONG_BRANCH,
                    dn,
                    self._addr(b),
                    b.hr_id,
                    message(
                        N_("the entry is in the right branch but the database records {dn}"),
                        dn=b.dn,
                    ),
                )
                self._mend(drift, b, lambda: (dn, message(N_("database record updated"))))
            changes = changed_attributes(
                e.first,
                mailbox_attributes(
                    b, b.address, self.domain, unit_values=self.layout.unit_values(b.unit_code)
                ),
            )
            if e.employee_number != b.hr_id:
                changes["employeeNumber"] = b.hr_id
            if changes:
                drift = Drift(
                    DriftKind.ATTRIBUTE_DRIFT, dn, self._addr(b), b.hr_id, _attr_text(e, changes)
                )
                target = dn
                self._mend(drift, b, lambda: self._replace(b, target, changes))
        self._compare_lock(b, e, dn)

    def _compare_adopted(self, b: _Box, e: Entry) -> None:
        """An entry taken over: compared with what it held when adopted (and what dnmail
        wrote since, which alone --fix restores); found elsewhere, the database follows."""
        from dnmail.services.adopt import adopted_snapshot

        dn = e.dn
        if dn.lower() != b.dn.lower():
            drift = Drift(
                DriftKind.WRONG_BRANCH, dn, self._addr(b), b.hr_id,
                message(
                    N_("the entry taken over at {old} is now at {new}"), old=b.dn, new=dn
                ),
            )
            moved = message(N_("database record updated (the entry is not moved)"))
            self._mend(drift, b, lambda: (dn, moved))
        if b.state != MailboxState.LOCKED:
            written = _written_by_dnmail(b.adopted_attrs)
            changed = {
                k: v or None
                for k, v in adopted_snapshot(b.adopted_attrs).items()
                if e.first(k) != v
            }
            ours = {k: v for k, v in changed.items() if k in written}
            theirs = {k: v for k, v in changed.items() if k not in written}
            if theirs:
                self.items.append(Drift(
                    DriftKind.ATTRIBUTE_DRIFT, dn, self._addr(b), b.hr_id,
                    message(
                        N_("changed since it was taken over: {changes}"),
                        changes=_attr_text(e, theirs),
                    ),
                    fix=message(
                        N_("reported only: values the entry had before dnmail took it over")
                    ),
                ))
            if ours:
                drift = Drift(
                    DriftKind.ATTRIBUTE_DRIFT, dn, self._addr(b), b.hr_id,
                    message(
                        N_("changed since dnmail wrote it: {changes}"), changes=_attr_text(e, ours)
                    ),
                )
                self._mend(drift, b, lambda: self._replace(b, dn, ours))
        self._compare_lock(b, e, dn)

    def _compare_lock(self, b: _Box, e: Entry, dn: str) -> None:
        locked = b.state == MailboxState.LOCKED
        if locked != e.locked:
            if locked:
                said = message(N_("the database says locked; the directory entry is not locked"))
            else:
                said = message(N_("the database says active; the directory entry is locked"))
            drift = Drift(DriftKind.LOCK_MISMATCH, dn, self._addr(b), b.hr_id, said)
            target = dn
            self._mend(drift, b, lambda: self._set_lock(b, target, locked))

    def _unknown(self, entries: list[Entry]) -> None:
        if not entries:
            return
        hr_ids = sorted({e.employee_number for e in entries if e.employee_number})
        people: dict[str, tuple[str, str]] = {}
        q = select(Staff.hr_id, Staff.full_name, Staff.unit_code)
        with self.rt.transaction(readonly=True) as s:
            rows = queries.rows_where_in(s, q, Staff.hr_id, hr_ids)
            people.update({hr: (name, unit) for hr, name, unit in rows})
        for e in entries:
            who = people.get(e.employee_number)
            if who:
                detail = message(
                    N_(
                        "no mailbox record; employeeNumber {hr_id} is {name} ({unit}): "
                        "a create request for this person makes `provision` adopt the entry"
                    ),
                    hr_id=e.employee_number, name=who[0], unit=who[1],
                )
            else:
                detail = message(
                    N_("no mailbox record and no staff member with employeeNumber {hr_id}"),
                    hr_id=e.employee_number or message(N_("(none)")),
                )
            self.items.append(
                Drift(
                    DriftKind.UNKNOWN_ENTRY,
                    e.dn,
                    f"{e.uid}@{self.domain}" if e.uid else None,
                    e.employee_number or None,
                    detail,
                    fix=message(N_("reported only")),
                )
            )

    # -- mending ------------------------------------------------------------------------
    def _mend(self, drift: Drift, b: _Box, action, default=None):
        """Record the drift; with --fix, carry out `action` (directory first, then the
        database with its audit event) and note what happened. Returns the action's
        value (a new DN for moves) or `default`."""
        if not self.fix:
            self.items.append(drift)
            return default
        try:
            value, what = action()
        except DirectoryUnavailable:
            raise
        except DirectoryError as e:
            self.items.append(
                replace(drift, fix=message(N_("not mended: {error}"), error=e.message))
            )
            return default
        self.items.append(replace(drift, fixed=True, fix=what))
        with self.rt.transaction() as s:
            m = s.get(Mailbox, b.id, with_for_update=True)
            if isinstance(value, str) and m is not None:
                m.dn = value
                if not b.adopted:
                    m.unit_code = self.layout.branch_unit(value) or b.unit_code
            if m is not None:
                m.updated_at = self.rt.now()
            audit.record(
                session=s,
                actor=self.rt.actor,
                action="reconcile.fix",
                target=f"mailbox:{b.address}",
                at=self.rt.now(),
                details={
                    "kind": drift.kind,
                    "dn": value if isinstance(value, str) else drift.dn,
                    "drift": english(drift.detail),  # the trail is the same in any language
                    "fix": english(what),
                },
            )
        return value if isinstance(value, str) else default

    def _recreate(self, b: _Box):
        locked = b.state == MailboxState.LOCKED
        # A locked mailbox comes back where it was; an active one in its HR unit's branch.
        unit = b.mailbox_unit if locked else b.unit_code
        dn = self.layout.mailbox_dn(unit, b.address)
        self._ensure_branch(unit)
        # The password is thrown away: nobody is told it (DESIGN §2, never stored).
        attrs = mailbox_attributes(
            b, b.address, self.domain, unit_values=self.layout.unit_values(unit)
        )
        self.d.add_mailbox(dn, attrs, generate_password(self.rt.config.passwords.policy()))
        if locked:
            self.d.lock(dn)
        if locked:
            what = N_(
                "recreated at {dn} and locked with a random password nobody knows and "
                "must-change set: it cannot be logged into until "
                "`dnmail reset-password {address}` hands a password out"
            )
        else:
            what = N_(
                "recreated at {dn} with a random password nobody knows and must-change set: "
                "it cannot be logged into until `dnmail reset-password {address}` hands a "
                "password out"
            )
        return dn, message(what, dn=dn, address=b.address)

    def _ensure_branch(self, unit: str) -> None:
        branch = self.layout.branch_to_create(unit)
        if branch is not None:
            self.d.ensure_ou(*branch)

    def _move(self, b: _Box, dn: str):
        branch = self.layout.unit_branch(b.unit_code)
        self._ensure_branch(b.unit_code)
        new_dn = self.d.move(dn, branch)
        return new_dn, message(N_("moved to {branch}"), branch=branch)

    def _replace(self, b: _Box, dn: str, changes: Mapping[str, object]):
        self.d.replace(dn, changes)
        return None, message(N_("replaced {attributes}"), attributes=", ".join(sorted(changes)))

    def _set_lock(self, b: _Box, dn: str, locked: bool):
        if locked:
            self.d.lock(dn)
            return None, message(N_("locked, as the database says"))
        self.d.unlock(dn)
        return None, message(N_("unlocked, as the database says"))

    def _addr(self, b: _Box) -> str:
        return f"{b.address}@{self.domain}"


def reconcile(rt: Runtime, *, fix: bool = False, unit: str | None = None) -> ReconcileResult:
    """Compare mailboxes with directory entries (all, or one unit's); with `fix`, mend
    each drift dnmail owns toward the database. Each mend commits on its own, after its
    directory write, so a run stopped half-way keeps what it mended."""
    if unit is not None:
        from dnmail.services.units import get_unit

        with rt.transaction(readonly=True) as s:
            unit = get_unit(unit, session=s).code
    return Reconciler(rt, fix=fix, unit=unit).run()
