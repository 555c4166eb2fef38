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

HR's latest word wins (issue 14 §2): an *open* request (pending or failed) that the
roster contradicts is withdrawn — a cancel stating an HR status for someone HR says is
working again, a move to a unit the person is no longer going to, a change whose values
HR has taken back, a cancel for another HR reason — with an audit event naming the
roster file and its sha256, and replaced by what the roster asks, if anything. A done
request is not undone: a locked person active again is reported for `dnmail unlock`.

The database is read and written in the caller's transaction; `provision` carries the
requests out. The directory is touched only to mark the entries of people who moved
(`mark_transfers`), so that the old unit's officer loses them at once, and to clear that
mark when the move is withdrawn.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dnmail.config import Config, SafetySettings
from dnmail.db import queries
from dnmail.db.models import AuditEvent, Mailbox, Request, Staff
from dnmail.domain.states import (
    HrStatus,
    Labelled,
    LockReason,
    MailboxState,
    RequestKind,
    RequestState,
)
from dnmail.errors import Problem, SafetyBrake
from dnmail.i18n import N_, _
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
    # An open request HR's latest roster contradicts (issue 14 §2): withdrawn, and
    # replaced by what the roster asks, if anything (a separate action).
    CONTRADICTED = "withdraw-contradicted"
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
            "withdraw-contradicted": N_("Withdrawn: HR says otherwise"),
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


class Contradiction(StrEnum):
    """Why HR's latest roster contradicts an open request (audit and JSON codes)."""

    ACTIVE_AGAIN = "hr-active-again"  # a cancel for someone HR says is working
    UNIT_CHANGED = "unit-changed"  # a move to a unit the person is no longer going to
    VALUES_REVERTED = "values-reverted"  # a change whose values HR has taken back
    LOCK_REASON = "lock-reason-changed"  # a cancel for another reason than HR now says


#: HR fields that the directory entry carries (cn/sn/givenName, ou, title, telephoneNumber).
DIRECTORY_FIELDS = ("full_name", "department", "position", "phone")
#: The lock reasons that state an HR status (a cancel with "other" is the unit's own ask).
HR_LOCK_REASONS = frozenset(
    {LockReason.RETIRED.value, LockReason.RESIGNED.value, LockReason.TRANSFERRED.value}
)


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
    contradiction: Contradiction | None = None  # why `supersedes` is withdrawn (CONTRADICTED)
    replaces: int | None = None  # the contradicted request this action's request replaces

    @property
    def queues(self) -> RequestKind | None:
        return self.kind.queues

    @property
    def braked(self) -> bool:
        """Counted by the safety brake: a lock that takes a mailbox away. A lock that
        only replaces an open cancel (HR changed the reason) adds none."""
        return self.kind is SyncActionKind.LOCK and self.replaces is None


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
    updated_at: datetime


class _Open(NamedTuple):
    id: int
    kind: str
    state: str
    unit_code: str
    lock_reason: str | None
    requested_address: str | None
    created_at: datetime


def _mailboxes(session: Session, hr_ids: list[str]) -> dict[str, _Box]:
    q = select(
        Mailbox.staff_hr_id, Mailbox.address, Mailbox.unit_code, Mailbox.state, Mailbox.updated_at
    )
    if len(hr_ids) > 5000:  # one scan beats many IN lists for a city-wide roster
        return {r[0]: _Box(*r[1:]) for r in session.execute(q)}
    rows = queries.rows_where_in(session, q, Mailbox.staff_hr_id, hr_ids)
    return {r[0]: _Box(*r[1:]) for r in rows}


def _open_requests(session: Session) -> dict[str, _Open]:
    """Every open request (few: the queue), by person; at most one each (unique index)."""
    q = select(
        Request.staff_hr_id,
        Request.id,
        Request.kind,
        Request.state,
        Request.unit_code,
        Request.lock_reason,
        Request.requested_address,
        Request.created_at,
    ).where(queries.is_open())
    return {r[0]: _Open(*r[1:]) for r in session.execute(q)}


def _drifting(session: Session) -> dict[str, bool]:
    """People with an active mailbox whose HR record changed (an earlier `staff import`
    or `sync`) after the mailbox was last brought in line, and whether a request was
    queued after that change (it carries it). One query, answered by the database;
    usually few."""
    later_request = (
        select(Request.id)
        .where(Request.staff_hr_id == Mailbox.staff_hr_id, Request.created_at >= Staff.updated_at)
        .exists()
    )
    q = (
        select(Mailbox.staff_hr_id, later_request)
        .join(Staff, Staff.hr_id == Mailbox.staff_hr_id)
        .where(Mailbox.state == MailboxState.ACTIVE, Staff.updated_at > Mailbox.updated_at)
    )
    return {hr: bool(later) for hr, later in session.execute(q)}


def _first_values(
    session: Session, since: Mapping[str, datetime]
) -> dict[str, dict[str, str]]:
    """For each person, the value each HR field had before its first change recorded
    after `since[hr_id]` (the audit trail's `staff.update` events, the only writer of
    HR records): what the directory entry says, when it was last brought in line then.
    A person with no such event is absent."""
    if not since:
        return {}
    targets = {f"staff:{hr}": hr for hr in since}
    q = (
        select(AuditEvent.target, AuditEvent.at, AuditEvent.details)
        .where(AuditEvent.action == "staff.update")
        .order_by(AuditEvent.id)
    )
    out: dict[str, dict[str, str]] = {}
    for target, at, details in queries.rows_where_in(session, q, AuditEvent.target, targets):
        hr = targets[target]
        if at <= since[hr]:
            continue
        first = out.setdefault(hr, {})
        for f, (old, _new) in json.loads(details).get("changes", {}).items():
            first.setdefault(f, old)
    return out


def _changes_text(changes: Mapping[str, tuple[str, str]], fields: list[str]) -> str:
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
        in_roster = {r.hr_id for r in roster.rows}
        drifting = {hr: later for hr, later in _drifting(session).items() if hr in in_roster}
        # What the directory entries of those people say (their HR values when the
        # mailbox was last brought in line), to tell a revert from a change.
        self.first = _first_values(
            session, {hr: self.boxes[hr].updated_at for hr in drifting if hr in self.boxes}
        )
        # No request carries their HR change yet. One whose recorded changes cancel out
        # (a status that came back, a value taken back) leaves the directory right.
        unsure = [hr for hr, later in drifting.items() if not later and hr in self.first]
        records = queries.staff_by_ids(session, unsure)
        self.stale = {
            hr
            for hr, later in drifting.items()
            if not later and (hr not in self.first or self._net_of_staff(records.get(hr)))
        }
        cancels = [h for h, o in self.open_reqs.items() if h in in_roster and o.kind == "cancel"]
        self.staff = queries.staff_by_ids(session, cancels)
        self.actions: list[SyncAction] = []

    def _net_of_staff(self, st: Staff | None) -> bool:
        """Whether the staff record differs from its recorded first values in a field
        the directory carries."""
        if st is None:
            return False
        first = self.first.get(st.hr_id, {})
        return any(f in first and first[f] != getattr(st, f) for f in DIRECTORY_FIELDS)

    def _net(self, r: RosterRow) -> list[str]:
        """The directory fields whose roster value differs from what the entry says."""
        first = self.first.get(r.hr_id, {})
        ch = self.changed.get(r.hr_id)
        changes = ch.changes if ch is not None else {}
        out = []
        for f in DIRECTORY_FIELDS:
            now = getattr(r, f)
            was = first.get(f, changes[f][0] if f in changes else now)
            if (was or "") != (now or ""):
                out.append(f)
        return out

    def plan(self, rows: list[RosterRow]) -> list[SyncAction]:
        for r in rows:
            if r.hr_id in self.added:
                status = "" if r.status == HrStatus.ACTIVE else f" ({r.status.label_vi})"
                self.actions.append(
                    SyncAction(
                        SyncActionKind.NEW_STAFF, r.hr_id, r.full_name, r.unit_code,
                        detail=_("new HR record{status}").format(status=status), row=r.row,
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

    def _withdraw_contradicted(
        self, r: RosterRow, o: _Open, why: Contradiction, detail: str
    ) -> None:
        self._act(
            r, SyncActionKind.CONTRADICTED, detail, supersedes=o.id, contradiction=why
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
                    _("HR status {status}: the open {kind} request #{id} is withdrawn").format(
                        status=status, kind=RequestKind(o.kind).word, id=o.id
                    ),
                    supersedes=o.id,
                )
        elif o is None:
            self._act(
                r, SyncActionKind.LOCK,
                _("HR status {status}: lock ({reason})").format(
                    status=status, reason=reason.word
                ),
                lock_reason=reason,
            )
        elif o.kind == RequestKind.CANCEL:
            self._open_cancel(r, o, reason)
        else:
            self._act(
                r, SyncActionKind.LOCK,
                _(
                    "HR status {status}: lock ({reason}); supersedes the open {kind} "
                    "request #{id}, withdrawn"
                ).format(
                    status=status, reason=reason.word, kind=RequestKind(o.kind).word, id=o.id
                ),
                lock_reason=reason,
                supersedes=o.id,
            )

    def _open_cancel(self, r: RosterRow, o: _Open, reason: LockReason) -> None:
        """HR says the person left and a cancel is open: kept, unless it states another
        HR reason than HR now does (then replaced; not a new lock for the brake)."""
        if o.lock_reason in HR_LOCK_REASONS and o.lock_reason != reason:
            self._withdraw_contradicted(
                r, o, Contradiction.LOCK_REASON,
                _(
                    "HR status {status}: the open cancel request #{id} ({old}) is withdrawn "
                    "and replaced by a cancel ({reason})"
                ).format(
                    status=r.status.label_vi, id=o.id, old=_reason_word(o.lock_reason),
                    reason=reason.word,
                ),
            )
            self._act(
                r, SyncActionKind.LOCK,
                _("HR status {status}: lock ({reason}); replaces request #{id}").format(
                    status=r.status.label_vi, reason=reason.word, id=o.id
                ),
                lock_reason=reason,
                replaces=o.id,
            )
            return
        self._act(
            r, SyncActionKind.SKIPPED,
            _("a cancel request #{id} is already open ({state})").format(
                id=o.id, state=RequestState(o.state).word
            ),
        )

    def _active(self, r: RosterRow) -> None:
        """A move to another unit, or HR fields the directory entry carries; an open
        request the roster contradicts is withdrawn first."""
        box = self.boxes.get(r.hr_id)
        if box is None:
            return  # no mailbox: the directory has nothing to follow
        ch = self.changed.get(r.hr_id)
        changes = ch.changes if ch is not None else {}
        if box.state != MailboxState.ACTIVE:
            if "hr_status" in changes:
                # A done cancel is not undone: unlocking is a person's decision.
                self._act(
                    r, SyncActionKind.SKIPPED,
                    _(
                        "HR status is {status} again but the mailbox is locked "
                        "(unlock it with `dnmail unlock` if the person is back)"
                    ).format(status=HrStatus.ACTIVE.label_vi),
                )
            return
        o = self.open_reqs.get(r.hr_id)
        replaces = None
        if o is not None and self._contradicted(r, o, box, changes):
            replaces, o = o.id, None
        if replaces is not None:
            fields = self._net(r)  # what the entry lacks, whatever HR said in between
            stale = False
        else:
            fields = [f for f in DIRECTORY_FIELDS if f in changes]
            stale = r.hr_id in self.stale
        moved = box.unit_code != r.unit_code
        if not (moved or fields or stale):
            return
        kind, detail = self._move_or_update(r, box, changes, fields, replaces)
        if o is not None:
            covered = _(" (it carries this change)") if o.kind == RequestKind.CHANGE else ""
            self._act(
                r, SyncActionKind.SKIPPED,
                _("{action}: an open {kind} request #{id} exists{covered}").format(
                    action=SyncActionKind(kind).label, kind=RequestKind(o.kind).word, id=o.id,
                    covered=covered,
                ),
            )
            return
        self._act(r, kind, detail, replaces=replaces)

    def _move_or_update(
        self,
        r: RosterRow,
        box: _Box,
        changes: Mapping[str, FieldChange],
        fields: list[str],
        replaces: int | None,
    ) -> tuple[SyncActionKind, str]:
        first = self.first.get(r.hr_id, {})
        values = {
            f: (first.get(f, changes[f][0] if f in changes else getattr(r, f)), getattr(r, f))
            for f in fields
        }
        if box.unit_code != r.unit_code:
            kind = SyncActionKind.MOVE
            detail = _(
                "{unit_label}: {old} → {new} (the mailbox moves at the next provision)"
            ).format(unit_label=TRACKED["unit_code"], old=box.unit_code, new=r.unit_code)
            if fields:
                detail += "; " + _changes_text(values, fields)
        else:
            kind = SyncActionKind.UPDATE
            detail = (
                _changes_text(values, fields)
                if fields
                else _("the HR record changed since the directory entry was last updated")
            )
        if replaces is not None:
            detail += "; " + _("replaces request #{id}").format(id=replaces)
        return kind, detail

    def _contradicted(
        self, r: RosterRow, o: _Open, box: _Box, changes: Mapping[str, FieldChange]
    ) -> bool:
        """Whether the roster (the person is working) contradicts the open request `o`;
        if so, its withdrawal is planned (issue 14 §2, "HR's latest word wins")."""
        status = HrStatus.ACTIVE.label_vi
        if o.kind == RequestKind.CANCEL:
            st = self.staff.get(r.hr_id)
            # The cancel states an HR status that HR has since taken back (in this
            # roster, or in a `staff import` after the cancel was queued).
            taken_back = "hr_status" in changes or (
                st is not None
                and st.status_changed_at is not None
                and st.status_changed_at > o.created_at
            )
            if o.lock_reason not in HR_LOCK_REASONS or not taken_back:
                return False
            self._withdraw_contradicted(
                r, o, Contradiction.ACTIVE_AGAIN,
                _(
                    "HR status is {status} again: the open cancel request #{id} ({reason}) "
                    "is withdrawn; the mailbox stays open"
                ).format(status=status, id=o.id, reason=_reason_word(o.lock_reason)),
            )
            return True
        if o.kind != RequestKind.CHANGE:
            return False
        if o.unit_code != box.unit_code:  # a move (to o.unit_code)
            if o.unit_code == r.unit_code:
                return False
            self._withdraw_contradicted(
                r, o, Contradiction.UNIT_CHANGED,
                _(
                    "HR now says unit {unit}: the open change request #{id} moving the "
                    "mailbox to {target} is withdrawn"
                ).format(unit=r.unit_code, id=o.id, target=o.unit_code),
            )
            return True
        if o.requested_address or box.unit_code != r.unit_code:
            return False  # a rename is the unit's ask, not HR's; a move carries on
        hr_changed = r.hr_id in self.first or any(f in changes for f in DIRECTORY_FIELDS)
        if not hr_changed or self._net(r):
            return False
        self._withdraw_contradicted(
            r, o, Contradiction.VALUES_REVERTED,
            _(
                "HR has taken back what the open change request #{id} was to write: "
                "withdrawn (the directory entry already says what HR says)"
            ).format(id=o.id),
        )
        return True

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
                    _("not in the roster: left as it is (never locked on that ground)"),
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
    # Counted per unit the mailbox is in (its branch), not the roster row's unit. Only
    # what takes mailboxes away: a withdrawn cancel keeps a person working.
    by_mailbox_unit = Counter(a.mailbox_unit for a in actions if a.braked and a.mailbox_unit)
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
                _(
                    "unit {unit}: {n} of its {total} active mailboxes would be locked "
                    "({pct}), more than safety.max_lock_share = {share} (for units with at "
                    "least safety.min_unit_size = {size} mailboxes)"
                ).format(
                    unit=unit, n=n, total=total, pct=f"{n / total:.0%}", share=f"{share:.0%}",
                    size=safety.min_unit_size,
                )
            )
    n_locks = sum(by_mailbox_unit.values())
    if n_locks > safety.max_lock_count:
        reasons.append(
            _(
                "{n} mailboxes would be locked in this run, more than "
                "safety.max_lock_count = {max}"
            ).format(n=n_locks, max=safety.max_lock_count)
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


def _apply(
    s: Session, rt: Runtime, path: Path, diff: RosterDiff, result: SyncResult
) -> SyncResult:
    """Store the staff changes, withdraw superseded and contradicted requests, queue the
    new ones."""
    actor, now = rt.actor, rt.now()
    actions = result.actions
    name = Path(path).name
    if diff.added or diff.changed:
        apply_roster_diff(diff, session=s, actor=actor, now=now, action="sync.staff")
    for a in actions:
        if a.supersedes is not None:
            # The event names the roster that withdrew it, and why (machine codes).
            why = a.contradiction.value if a.contradiction else "superseded"
            details = {"by": "sync", "file": name, "sha256": diff.sha256, "reason": why}
            mark_withdrawn(a.supersedes, session=s, actor=actor, now=now, details=details)
    per_unit: dict[str, list[SyncAction]] = defaultdict(list)
    for a in actions:
        if a.queues is not None:
            per_unit[a.unit].append(a)
    queued: dict[str, int] = {}
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
                    note=_("HR roster {file}, row {row}: {detail}").format(
                        file=name, row=a.row, detail=a.detail
                    ),
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
    moves = {a.hr_id for a in actions if a.kind is SyncActionKind.MOVE}
    marked = mark_transfers(rt, session=s, hr_ids=sorted(moves))
    # A move withdrawn with none in its place: the person stays in the mailbox's unit,
    # whose officer has them again.
    back = {
        a.hr_id for a in actions if a.contradiction is Contradiction.UNIT_CHANGED
    } - moves
    cleared = mark_transfers(rt, session=s, hr_ids=sorted(back), on=False)
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
            "contradicted": [a.supersedes for a in actions if a.contradiction is not None],
            "transfer_marked": marked,
            "transfer_cleared": cleared,
        },
    )
    return applied


def mark_transfers(
    rt: Runtime, *, session: Session, hr_ids: list[str], on: bool = True
) -> list[str]:
    """Rights follow HR: once a transfer is recorded, the old unit's officer may no
    longer reset the mailbox's password, although the entry moves to the new branch only
    at the next `provision`. dnmail's own check compares the person's unit
    (services/accounts.py); this marks the entry so that slapd refuses the officer too,
    whatever client it uses (TRANSFER_MARK). Done before the commit: a directory that
    cannot be reached stops the run (exit 4) with nothing recorded. `on=False` clears
    the mark (a move withdrawn). Returns the DNs marked (or cleared)."""
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
            d.mark_transfer(dn, on=on)
        except NoSuchEntry:
            # Moved already (a crash after a move), or missing: wherever its HR id is.
            found = d.find_by_hr_ids([hr_id]).get(hr_id, [])
            if len(found) != 1:
                continue  # `reconcile` reports a missing or doubled entry
            dn = found[0].dn
            d.mark_transfer(dn, on=on)
        marked.append(dn)
    return sorted(marked)


def brake_error(reasons: list[str]) -> SafetyBrake:
    return SafetyBrake(
        _("safety brake: nothing was changed.") + "\n  - " + "\n  - ".join(reasons),
        hint=_(
            "a broken HR export must not lock a whole agency: check the file; if these "
            "locks are right, run again with --force"
        ),
    )


def _reason_word(reason: str | None) -> str:
    """A stored lock reason inside a sentence (LockReason.word); none stored: other."""
    return LockReason(reason or LockReason.OTHER).word
