"""`sync`: a fresh HR roster becomes staff changes and change/cancel requests (DESIGN §1
step 6, §2 "The HR roster", §4 safety brake).

What is queued is decided from the roster against the *mailboxes*, not only against the
staff table: `staff import` may already have written the HR change, and the same roster
synced twice must queue nothing the second time.

* new HR id → a staff member without email (the unit asks for a mailbox, step 2);
* `Nghỉ hưu` / `Thôi việc` / `Chuyển công tác` with an active mailbox → a cancel
  request (lock reason retired / resigned / transferred); an open create or change
  request of that person is withdrawn first (the cancel supersedes it);
* `Mã đơn vị` different from the mailbox's unit → a change request (the entry moves to
  the new branch at the next `provision`, keeping its address);
* name, department, position or phone changed → a change request, so that the
  directory follows HR (people with an active mailbox only);
* a person of the roster's units missing from the roster → listed, never locked on
  that ground alone.

The database is read and written in the caller's transaction; `provision` carries the
requests out. The directory is touched only to mark the entries of people who moved
(`mark_transfers`), so that the old unit's officer loses them at once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dnmail.config import Config, SafetySettings
from dnmail.db import queries
from dnmail.db.models import Mailbox, Request, Staff
from dnmail.domain.states import (
    HrStatus,
    Labelled,
    LockReason,
    MailboxState,
    RequestKind,
)
from dnmail.errors import Problem, SafetyBrake
from dnmail.i18n import N_
from dnmail.services import audit
from dnmail.services.requests import NewRequest, create_requests, mark_withdrawn
from dnmail.services.staff import (
    TRACKED,
    FieldChange,
    RosterDiff,
    apply_roster_diff,
    diff_roster,
    read_roster_file,
    sha256_file,
)

if TYPE_CHECKING:
    from dnmail.readers.roster import Roster, RosterRow
    from dnmail.services.runtime import Runtime

class SyncActionKind(Labelled):
    """Kinds of action, in the order they are reported."""

    NEW_STAFF = "new-staff"
    MOVE = "move"
    UPDATE = "update"
    LOCK = "lock"
    WITHDRAW = "withdraw"
    MISSING = "missing"
    SKIPPED = "skipped"

    @classmethod
    def _labels(cls) -> dict[str, str]:
        return {
            "new-staff": N_("New staff"),
            "move": N_("Unit change"),
            "update": N_("Details updated"),
            "lock": N_("Mailbox lock"),
            "withdraw": N_("Request withdrawn"),
            "missing": N_("Not in the roster"),
            "skipped": N_("Skipped"),
        }

    @property
    def queues(self) -> RequestKind | None:
        """The kind of request this action queues (with --apply), if any."""
        return {
            "move": RequestKind.CHANGE,
            "update": RequestKind.CHANGE,
            "lock": RequestKind.CANCEL,
        }.get(self.value)


#: HR fields that the directory entry carries (cn/sn/givenName, ou, title, telephoneNumber).
DIRECTORY_FIELDS = ("full_name", "department", "position", "phone")


@dataclass(frozen=True)
class SyncAction:
    kind: SyncActionKind
    hr_id: str
    full_name: str
    unit: str
    address: str | None = None
    detail: str = ""
    lock_reason: LockReason | None = None
    row: int | None = None
    mailbox_unit: str | None = None  # the unit (branch) the mailbox is in now
    supersedes: int | None = None  # an open request withdrawn for this one
    request_id: int | None = None  # the request queued (with --apply)

    @property
    def queues(self) -> RequestKind | None:
        return self.kind.queues


@dataclass(frozen=True)
class SyncResult:
    file: str
    sha256: str
    applied: bool
    forced: bool
    actions: list[SyncAction]
    unchanged: int
    staff_added: int
    staff_changed: int
    warnings: list[Problem] = field(default_factory=list)
    brake: list[str] = field(default_factory=list)  # why the safety brake holds (or held)

    @property
    def counts(self) -> dict[SyncActionKind, int]:
        c = Counter(a.kind for a in self.actions)
        return {k: c.get(k, 0) for k in SyncActionKind}

    @property
    def queued(self) -> int:
        return sum(1 for a in self.actions if a.queues is not None)

    def json_extra(self) -> dict[str, object]:
        return {"counts": self.counts}


class _Box(NamedTuple):
    address: str
    unit_code: str
    state: str


class _Open(NamedTuple):
    id: int
    kind: str
    state: str


def _mailboxes(session: Session, hr_ids: list[str]) -> dict[str, _Box]:
    q = select(Mailbox.staff_hr_id, Mailbox.address, Mailbox.unit_code, Mailbox.state)
    if len(hr_ids) > 5000:  # one scan beats many IN lists for a city-wide roster
        return {r[0]: _Box(*r[1:]) for r in session.execute(q)}
    return {r[0]: _Box(*r[1:]) for r in queries.rows_where_in(session, q, Mailbox.staff_hr_id, hr_ids)}


def _open_requests(session: Session) -> dict[str, _Open]:
    """Every open request (few: the queue), by person; at most one each (unique index)."""
    q = select(Request.staff_hr_id, Request.id, Request.kind, Request.state).where(
        queries.is_open()
    )
    return {r[0]: _Open(*r[1:]) for r in session.execute(q)}


def _stale_in_directory(session: Session) -> set[str]:
    """People with an active mailbox whose HR record changed (an earlier `staff import`)
    after the mailbox was last brought in line and after their last request: the
    directory still shows the old values. One query, answered by the database; usually
    empty."""
    later_request = (
        select(Request.id)
        .where(Request.staff_hr_id == Mailbox.staff_hr_id, Request.created_at >= Staff.updated_at)
        .exists()
    )
    q = (
        select(Mailbox.staff_hr_id)
        .join(Staff, Staff.hr_id == Mailbox.staff_hr_id)
        .where(
            Mailbox.state == MailboxState.ACTIVE,
            Staff.updated_at > Mailbox.updated_at,
            ~later_request,
        )
    )
    return set(session.scalars(q))


def _changes_text(changes: Mapping[str, FieldChange], fields: list[str]) -> str:
    return "; ".join(
        f"{TRACKED[f]}: {changes[f][0] or '∅'} → {changes[f][1] or '∅'}" for f in fields
    )


class _Planner:
    """Decides the action of each roster row against the mailboxes and the queue."""

    def __init__(self, session: Session, roster: Roster, diff: RosterDiff, domain: str):
        self.session = session
        self.diff = diff
        self.domain = domain
        self.boxes = _mailboxes(session, [r.hr_id for r in roster.rows])
        self.open_reqs = _open_requests(session)
        self.changed = {r.hr_id: ch for r, ch in diff.changed}
        self.added = {r.hr_id for r in diff.added}
        self.stale = _stale_in_directory(session)
        self.actions: list[SyncAction] = []

    def plan(self, rows: list[RosterRow]) -> list[SyncAction]:
        for r in rows:
            if r.hr_id in self.added:
                status = "" if r.status == HrStatus.ACTIVE else f" ({r.status.label_vi})"
                self.actions.append(
                    SyncAction(
                        SyncActionKind.NEW_STAFF, r.hr_id, r.full_name, r.unit_code,
                        detail=f"new HR record{status}", row=r.row,
                    )
                )
            elif r.status != HrStatus.ACTIVE:
                self._inactive(r)
            else:
                self._active(r)
        self._missing()
        order = list(SyncActionKind)
        return sorted(self.actions, key=lambda a: order.index(a.kind))

    def _act(self, r: RosterRow, kind: SyncActionKind, detail: str, **kw) -> None:
        box = self.boxes.get(r.hr_id)
        self.actions.append(
            SyncAction(
                kind,
                r.hr_id,
                r.full_name,
                r.unit_code,
                f"{box.address}@{self.domain}" if box else None,
                detail,
                row=r.row,
                mailbox_unit=box.unit_code if box else None,
                **kw,
            )
        )

    def _inactive(self, r: RosterRow) -> None:
        """Nghỉ hưu / Thôi việc / Chuyển công tác: lock an active mailbox."""
        reason = r.status.lock_reason
        assert reason is not None
        box = self.boxes.get(r.hr_id)
        o = self.open_reqs.get(r.hr_id)
        status = r.status.label_vi
        if box is None or box.state != MailboxState.ACTIVE:
            # Nothing to lock; a create or change still waiting is now pointless.
            if o is not None and o.kind != RequestKind.CANCEL:
                self._act(
                    r, SyncActionKind.WITHDRAW,
                    f"HR status {status}: the open {o.kind} request #{o.id} is withdrawn",
                    supersedes=o.id,
                )
        elif o is None:
            self._act(
                r, SyncActionKind.LOCK, f"HR status {status}: lock ({reason})", lock_reason=reason
            )
        elif o.kind == RequestKind.CANCEL:
            self._act(r, SyncActionKind.SKIPPED, f"a cancel request #{o.id} is already open ({o.state})")
        else:
            self._act(
                r, SyncActionKind.LOCK,
                f"HR status {status}: lock ({reason}); supersedes the open "
                f"{o.kind} request #{o.id}, withdrawn",
                lock_reason=reason,
                supersedes=o.id,
            )

    def _active(self, r: RosterRow) -> None:
        """A move to another unit, or HR fields the directory entry carries."""
        box = self.boxes.get(r.hr_id)
        if box is None:
            return  # no mailbox: the directory has nothing to follow
        ch = self.changed.get(r.hr_id)
        changes = ch.changes if ch is not None else {}
        if box.state != MailboxState.ACTIVE:
            if "hr_status" in changes:
                self._act(
                    r, SyncActionKind.SKIPPED,
                    f"HR status is {HrStatus.ACTIVE.label_vi} again but the mailbox is locked "
                    "(unlock it with `dnmail unlock` if the person is back)",
                )
            return
        fields = [f for f in DIRECTORY_FIELDS if f in changes]
        moved = box.unit_code != r.unit_code
        if not (moved or fields or r.hr_id in self.stale):
            return
        if moved:
            kind = SyncActionKind.MOVE
            detail = (
                f"{TRACKED['unit_code']}: {box.unit_code} → {r.unit_code} "
                "(the mailbox moves at the next provision)"
            )
            if fields:
                detail += "; " + _changes_text(changes, fields)
        else:
            kind = SyncActionKind.UPDATE
            detail = (
                _changes_text(changes, fields)
                if fields
                else "the HR record changed since the directory entry was last updated"
            )
        o = self.open_reqs.get(r.hr_id)
        if o is not None:
            covered = " (it carries this change)" if o.kind == RequestKind.CHANGE else ""
            self._act(r, SyncActionKind.SKIPPED, f"{kind}: an open {o.kind} request #{o.id} exists{covered}")
            return
        self._act(r, kind, detail)

    def _missing(self) -> None:
        """People of the roster's units absent from it: listed, never locked."""
        missing = self.diff.missing
        if not missing:
            return
        people = queries.staff_by_ids(self.session, missing)
        boxes = _mailboxes(self.session, missing)
        for hr in missing:
            s = people[hr]
            box = boxes.get(hr)
            self.actions.append(
                SyncAction(
                    SyncActionKind.MISSING,
                    hr,
                    s.full_name,
                    s.unit_code,
                    f"{box.address}@{self.domain}" if box else None,
                    "not in the roster: left as it is (never locked on that ground)",
                )
            )


def plan_sync(
    path: Path, *, session: Session, config: Config, encoding: str | None = None
) -> tuple[RosterDiff, list[SyncAction]]:
    """Read the roster and decide every action; stores nothing (reads in the caller's
    transaction). `encoding`: the --encoding override (readers/legacy.py)."""
    roster = read_roster_file(path, limits=config.limits, encoding=encoding)
    diff = diff_roster(roster, session=session, sha256=sha256_file(path))
    planner = _Planner(session, roster, diff, config.directory.mail_domain)
    return diff, planner.plan(roster.rows)


def check_brake(
    actions: list[SyncAction], safety: SafetySettings, *, session: Session
) -> list[str]:
    """Why this run would lock too many mailboxes at once (DESIGN §4), or [] when it may."""
    # Counted per unit the mailbox is in (its branch), not the roster row's unit.
    by_mailbox_unit = Counter(
        a.mailbox_unit for a in actions if a.kind == SyncActionKind.LOCK and a.mailbox_unit
    )
    if not by_mailbox_unit:
        return []
    active = dict(
        session.execute(
            select(Mailbox.unit_code, func.count())
            .where(Mailbox.state == MailboxState.ACTIVE)
            .group_by(Mailbox.unit_code)
        ).all()
    )
    reasons = []
    share = safety.max_lock_share
    for unit, n in sorted(by_mailbox_unit.items()):
        total = active.get(unit, 0)
        if total >= safety.min_unit_size and n > share * total:
            reasons.append(
                f"unit {unit}: {n} of its {total} active mailboxes would be locked ({n / total:.0%}), "
                f"more than safety.max_lock_share = {share:.0%} "
                f"(for units with at least safety.min_unit_size = {safety.min_unit_size} mailboxes)"
            )
    n_locks = sum(by_mailbox_unit.values())
    if n_locks > safety.max_lock_count:
        reasons.append(
            f"{n_locks} mailboxes would be locked in this run, more than "
            f"safety.max_lock_count = {safety.max_lock_count}"
        )
    return reasons


def sync_roster(
    rt: Runtime,
    path: Path,
    *,
    apply: bool = False,
    force: bool = False,
    encoding: str | None = None,
) -> SyncResult:
    """Compare an HR roster with the database and, with `apply`, record the staff changes
    and queue the requests — in one transaction, so all or nothing.

    Without `apply` nothing is stored. With `apply`, a run that trips the safety brake
    raises SafetyBrake before anything is written, unless `force`; without `apply` the
    brake's reasons are returned in `brake` for the caller to report. `encoding`: the
    --encoding override of the roster's text (readers/legacy.py).
    """
    with rt.transaction(readonly=not apply) as s:
        diff, actions = plan_sync(path, session=s, config=rt.config, encoding=encoding)
        brake = check_brake(actions, rt.config.safety, session=s)
        result = SyncResult(
            file=str(path),
            sha256=diff.sha256,
            applied=False,
            forced=force,
            actions=actions,
            unchanged=diff.unchanged,
            staff_added=len(diff.added),
            staff_changed=len(diff.changed),
            warnings=list(diff.warnings),
            brake=brake,
        )
        if not apply:
            return result
        if brake and not force:
            raise brake_error(brake)
        return _apply(s, rt, path, diff, result)


def _apply(s: Session, rt: Runtime, path: Path, diff: RosterDiff, result: SyncResult) -> SyncResult:
    """Store the staff changes, withdraw superseded requests, queue the new ones."""
    actor, now = rt.actor, rt.now()
    actions = result.actions
    if diff.added or diff.changed:
        apply_roster_diff(diff, session=s, actor=actor, now=now, action="sync.staff")
    for a in actions:
        if a.supersedes is not None:
            mark_withdrawn(a.supersedes, session=s, actor=actor, now=now)
    per_unit: dict[str, list[SyncAction]] = defaultdict(list)
    for a in actions:
        if a.queues is not None:
            per_unit[a.unit].append(a)
    queued: dict[str, int] = {}
    name = Path(path).name
    for unit, items in per_unit.items():
        views = create_requests(
            session=s,
            config=rt.config,
            unit=unit,
            items=[
                NewRequest(
                    a.hr_id,
                    a.queues,
                    lock_reason=a.lock_reason,
                    note=f"HR roster {name}, row {a.row}: {a.detail}",
                )
                for a in items
                if a.queues is not None
            ],
            actor=actor,
            now=now,
        )
        queued.update({v.hr_id: v.id for v in views})
    final = [replace(a, request_id=queued.get(a.hr_id)) if a.queues else a for a in actions]
    applied = replace(result, applied=True, actions=final)
    marked = mark_transfers(
        rt, session=s, hr_ids=[a.hr_id for a in actions if a.kind is SyncActionKind.MOVE]
    )
    audit.record(
        session=s,
        actor=actor,
        action="sync.apply",
        target=f"file:{name}",
        at=now,
        details={
            "sha256": diff.sha256,
            "counts": applied.counts,
            # Reaching here with reasons means --force overrode the brake: say why it held.
            "forced": bool(result.brake),
            "brake": result.brake,
            "withdrawn": [a.supersedes for a in actions if a.supersedes is not None],
            "transfer_marked": marked,
        },
    )
    return applied


def mark_transfers(rt: Runtime, *, session: Session, hr_ids: list[str]) -> list[str]:
    """Rights follow HR: once a transfer is recorded, the old unit's officer may no
    longer reset the mailbox's password, although the entry moves to the new branch only
    at the next `provision`. dnmail's own check compares the person's unit
    (services/accounts.py); this marks the entry so that slapd refuses the officer too,
    whatever client it uses (TRANSFER_MARK). Done before the commit: a directory that
    cannot be reached stops the run (exit 4) with nothing recorded. Returns the DNs
    marked."""
    if not hr_ids:
        return []
    from dnmail.errors import NoSuchEntry

    d = rt.directory
    marked = []
    rows = list(queries.rows_where_in(
        session, select(Mailbox.staff_hr_id, Mailbox.dn), Mailbox.staff_hr_id, hr_ids
    ))
    for hr_id, dn in rows:
        try:
            d.mark_transfer(dn)
        except NoSuchEntry:
            # Moved already (a crash after a move), or missing: wherever its HR id is.
            found = d.find_by_hr_ids([hr_id]).get(hr_id, [])
            if len(found) != 1:
                continue  # `reconcile` reports a missing or doubled entry
            dn = found[0].dn
            d.mark_transfer(dn)
        marked.append(dn)
    return sorted(marked)


def brake_error(reasons: list[str]) -> SafetyBrake:
    return SafetyBrake(
        "safety brake: nothing was changed.\n  - " + "\n  - ".join(reasons),
        hint="a broken HR export must not lock a whole agency: check the file; if these "
        "locks are right, run again with --force",
    )
