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

The database is read and written in the caller's transaction; the directory is not
touched (`provision` carries the requests out).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dnmail.config import Config, SafetySettings
from dnmail.db.models import Mailbox, Request, Staff
from dnmail.domain.states import (
    OPEN_REQUEST_STATES,
    HrStatus,
    LockReason,
    MailboxState,
    RequestKind,
)
from dnmail.errors import Problem, SafetyBrake
from dnmail.services import audit
from dnmail.services.requests import NewRequest, create_requests, withdraw_request
from dnmail.services.staff import (
    TRACKED,
    RosterDiff,
    apply_roster_diff,
    diff_roster,
    read_roster_file,
    sha256_file,
    staff_by_ids,
)

if TYPE_CHECKING:
    from dnmail.readers.roster import RosterRow

#: Kinds of action, in the order they are reported, with their Vietnamese labels.
ACTION_KINDS = {
    "new-staff": "Nhân sự mới",
    "move": "Chuyển đơn vị",
    "update": "Cập nhật thông tin",
    "lock": "Khóa hộp thư",
    "withdraw": "Rút yêu cầu",
    "missing": "Không có trong danh sách",
    "skipped": "Bỏ qua",
}
#: HR fields that the directory entry carries (cn/sn/givenName, ou, title, telephoneNumber).
DIRECTORY_FIELDS = ("full_name", "department", "position", "phone")
_OPEN = [s.value for s in OPEN_REQUEST_STATES]


@dataclass(frozen=True)
class SyncAction:
    kind: str  # one of ACTION_KINDS
    hr_id: str
    full_name: str
    unit: str
    address: str | None = None
    detail: str = ""
    lock_reason: str | None = None
    row: int | None = None
    mailbox_unit: str | None = None  # the unit (branch) the mailbox is in now
    supersedes: int | None = None  # an open request withdrawn for this one
    request_id: int | None = None  # the request queued (with --apply)

    @property
    def queues(self) -> RequestKind | None:
        return {
            "move": RequestKind.CHANGE,
            "update": RequestKind.CHANGE,
            "lock": RequestKind.CANCEL,
        }.get(self.kind)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


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
    def counts(self) -> dict[str, int]:
        c = Counter(a.kind for a in self.actions)
        return {k: c.get(k, 0) for k in ACTION_KINDS}

    @property
    def queued(self) -> int:
        return sum(1 for a in self.actions if a.queues is not None)

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "sha256": self.sha256,
            "applied": self.applied,
            "forced": self.forced,
            "counts": self.counts,
            "unchanged": self.unchanged,
            "staff_added": self.staff_added,
            "staff_changed": self.staff_changed,
            "brake": self.brake,
            "warnings": [w.as_dict() for w in self.warnings],
            "actions": [a.to_dict() for a in self.actions],
        }


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
    out = {}
    for i in range(0, len(hr_ids), 900):
        chunk = hr_ids[i : i + 900]
        out.update(
            {r[0]: _Box(*r[1:]) for r in session.execute(q.where(Mailbox.staff_hr_id.in_(chunk)))}
        )
    return out


def _open_requests(session: Session) -> dict[str, _Open]:
    """Every open request (few: the queue), by person; at most one each (unique index)."""
    q = select(Request.staff_hr_id, Request.id, Request.kind, Request.state).where(
        Request.state.in_(_OPEN)
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
            Mailbox.state == MailboxState.ACTIVE.value,
            Staff.updated_at > Mailbox.updated_at,
            ~later_request,
        )
    )
    return set(session.scalars(q))


def _changes_text(changes: dict[str, tuple[str, str]], fields) -> str:
    return "; ".join(
        f"{TRACKED[f]}: {changes[f][0] or '∅'} → {changes[f][1] or '∅'}" for f in fields
    )


def _action(
    out: list[SyncAction],
    r: RosterRow,
    address: str | None,
    mailbox_unit: str | None,
    kind: str,
    detail: str,
    **kw,
) -> None:
    out.append(
        SyncAction(
            kind,
            r.hr_id,
            r.full_name,
            r.unit_code,
            address,
            detail,
            row=r.row,
            mailbox_unit=mailbox_unit,
            **kw,
        )
    )


def plan_sync(
    session: Session, path: Path, *, config: Config
) -> tuple[RosterDiff, list[SyncAction]]:
    """Read the roster and decide every action; stores nothing."""
    roster = read_roster_file(path, max_uncompressed_mb=config.limits.max_uncompressed_mb)
    diff = diff_roster(session, roster, sha256=sha256_file(path))
    domain = config.directory.mail_domain
    hr_ids = [r.hr_id for r in roster.rows]
    boxes = _mailboxes(session, hr_ids)
    open_reqs = _open_requests(session)
    changed = {r.hr_id: ch for r, ch in diff.changed}
    added = {r.hr_id for r in diff.added}
    stale = _stale_in_directory(session)

    actions: list[SyncAction] = []
    for r in roster.rows:
        if r.hr_id in added:
            status = "" if r.status == HrStatus.ACTIVE else f" ({r.status.label_vi})"
            actions.append(
                SyncAction(
                    "new-staff",
                    r.hr_id,
                    r.full_name,
                    r.unit_code,
                    detail=f"new HR record{status}",
                    row=r.row,
                )
            )
            continue
        box = boxes.get(r.hr_id)
        o = open_reqs.get(r.hr_id)
        ch = changed.get(r.hr_id)
        act = partial(
            _action,
            actions,
            r,
            f"{box.address}@{domain}" if box else None,
            box.unit_code if box else None,
        )

        if r.status != HrStatus.ACTIVE:
            reason = r.status.lock_reason
            assert reason is not None
            if box is None or box.state != MailboxState.ACTIVE.value:
                # Nothing to lock; a create or change still waiting is now pointless.
                if o is not None and o.kind != RequestKind.CANCEL.value:
                    act(
                        "withdraw",
                        f"HR status {r.status.label_vi}: the open {o.kind} request #{o.id} is withdrawn",
                        supersedes=o.id,
                    )
                continue
            if o is None:
                act(
                    "lock",
                    f"HR status {r.status.label_vi}: lock ({reason.value})",
                    lock_reason=reason.value,
                )
            elif o.kind == RequestKind.CANCEL.value:
                act("skipped", f"a cancel request #{o.id} is already open ({o.state})")
            else:
                act(
                    "lock",
                    f"HR status {r.status.label_vi}: lock ({reason.value}); supersedes the open "
                    f"{o.kind} request #{o.id}, withdrawn",
                    lock_reason=reason.value,
                    supersedes=o.id,
                )
            continue

        if box is None:
            continue  # no mailbox: the directory has nothing to follow
        if box.state != MailboxState.ACTIVE.value:
            if ch is not None and "hr_status" in ch.changes:
                act(
                    "skipped",
                    f"HR status is {HrStatus.ACTIVE.label_vi} again but the mailbox is locked "
                    "(unlock it with `dnmail unlock` if the person is back)",
                )
            continue
        fields = [f for f in DIRECTORY_FIELDS if ch is not None and f in ch.changes]
        moved = box.unit_code != r.unit_code
        if not (moved or fields or r.hr_id in stale):
            continue
        if moved:
            kind = "move"
            detail = f"{TRACKED['unit_code']}: {box.unit_code} → {r.unit_code} (the mailbox moves at the next provision)"
        else:
            kind = "update"
            detail = (
                _changes_text(ch.changes, fields)
                if fields
                else "the HR record changed since the directory entry was last updated"
            )
        if moved and fields:
            detail += "; " + _changes_text(ch.changes, fields)
        if o is not None:
            covered = " (it carries this change)" if o.kind == RequestKind.CHANGE.value else ""
            act("skipped", f"{kind}: an open {o.kind} request #{o.id} exists{covered}")
            continue
        act(kind, detail)

    if diff.missing:
        people = staff_by_ids(session, diff.missing)
        missing_boxes = _mailboxes(session, diff.missing)
        for hr in diff.missing:
            s = people[hr]
            box = missing_boxes.get(hr)
            actions.append(
                SyncAction(
                    "missing",
                    hr,
                    s.full_name,
                    s.unit_code,
                    f"{box.address}@{domain}" if box else None,
                    "not in the roster: left as it is (never locked on that ground)",
                )
            )
    order = list(ACTION_KINDS)
    actions.sort(key=lambda a: order.index(a.kind))
    return diff, actions


def check_brake(session: Session, actions: list[SyncAction], safety: SafetySettings) -> list[str]:
    """Why this run would lock too many mailboxes at once (DESIGN §4), or [] when it may."""
    # Counted per unit the mailbox is in (its branch), not the roster row's unit.
    by_mailbox_unit = Counter(a.mailbox_unit for a in actions if a.kind == "lock")
    if not by_mailbox_unit:
        return []
    active = dict(
        session.execute(
            select(Mailbox.unit_code, func.count())
            .where(Mailbox.state == MailboxState.ACTIVE.value)
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
    session: Session,
    path: Path,
    *,
    config: Config,
    actor: str,
    now: datetime,
    apply: bool = False,
    force: bool = False,
) -> SyncResult:
    """Compare an HR roster with the database and, with `apply`, record the staff changes
    and queue the requests — all in the caller's transaction, so all or nothing.

    Without `apply` nothing is stored. With `apply`, a run that trips the safety brake
    raises SafetyBrake before anything is written, unless `force`; without `apply` the
    brake's reasons are returned in `brake` for the caller to report.
    """
    diff, actions = plan_sync(session, path, config=config)
    brake = check_brake(session, actions, config.safety)
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

    if diff.added or diff.changed:
        apply_roster_diff(session, diff, actor=actor, now=now, action="sync.staff")
    for a in actions:
        if a.supersedes is not None:
            withdraw_request(session, a.supersedes, actor=actor, now=now)
    per_unit: dict[str, list[SyncAction]] = defaultdict(list)
    for a in actions:
        if a.queues is not None:
            per_unit[a.unit].append(a)
    queued: dict[str, int] = {}
    name = Path(path).name
    for unit, items in per_unit.items():
        views = create_requests(
            session,
            config=config,
            unit=unit,
            items=[
                NewRequest(
                    a.hr_id,
                    a.queues,
                    lock_reason=LockReason(a.lock_reason) if a.lock_reason else None,
                    note=f"HR roster {name}, row {a.row}: {a.detail}",
                )
                for a in items
            ],
            actor=actor,
            now=now,
        )
        queued.update({v.hr_id: v.id for v in views})
    final = [
        SyncAction(**{**a.__dict__, "request_id": queued.get(a.hr_id)}) if a.queues else a
        for a in actions
    ]
    result = SyncResult(**{**result.__dict__, "applied": True, "actions": final})
    audit.record(
        session,
        actor=actor,
        action="sync.apply",
        target=f"file:{name}",
        at=now,
        details={
            "sha256": diff.sha256,
            "counts": result.counts,
            # Reaching here with reasons means --force overrode the brake: say why it held.
            "forced": bool(brake),
            "brake": brake,
            "withdrawn": [a.supersedes for a in actions if a.supersedes is not None],
        },
    )
    return result


def brake_error(reasons: list[str]) -> SafetyBrake:
    return SafetyBrake(
        "safety brake: nothing was changed.\n  - " + "\n  - ".join(reasons),
        hint="a broken HR export must not lock a whole agency: check the file; if these "
        "locks are right, run again with --force",
    )
