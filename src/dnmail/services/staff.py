"""HR records: the roster import (DESIGN §1 step 1, §2 "The HR roster") and staff lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import exists, insert, select, update
from sqlalchemy.orm import Session

from dnmail.db import queries
from dnmail.db.models import Mailbox, Request, Staff, Unit
from dnmail.domain.states import HrStatus, MailboxState
from dnmail.domain.text import name_key
from dnmail.errors import InvalidFile, Problem
from dnmail.i18n import _
from dnmail.readers.safety import sha256_file
from dnmail.services import audit
from dnmail.services.units import get_unit

if TYPE_CHECKING:
    from dnmail.config import LimitSettings
    from dnmail.readers.roster import Roster, RosterRow
    from dnmail.services.runtime import Runtime

#: Fields compared between the roster and the database, with their Vietnamese labels.
TRACKED = {
    "full_name": "Họ và tên",
    "unit_code": "Mã đơn vị",
    "department": "Phòng ban",
    "position": "Chức vụ",
    "phone": "Số điện thoại",
    "hr_status": "Trạng thái",
    "email": "Email",
}


class FieldChange(NamedTuple):
    old: str
    new: str


@dataclass(frozen=True)
class StaffChange:
    hr_id: str
    full_name: str
    row: int
    changes: dict[str, FieldChange]  # a TRACKED field → its old and new value


@dataclass(frozen=True)
class RosterDiff:
    file_name: str
    sha256: str
    added: list[RosterRow]
    changed: list[tuple[RosterRow, StaffChange]]
    unchanged: int
    missing: list[str]  # HR ids of the roster's units absent from the roster
    warnings: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class RosterImportResult:
    file: str
    sha256: str
    added: int
    changed: list[StaffChange]
    unchanged: int
    missing: list[str]
    warnings: list[Problem]
    dry_run: bool = False

    @property
    def nothing_changed(self) -> bool:
        return self.added == 0 and not self.changed


def read_roster_file(
    path: Path, *, limits: LimitSettings, encoding: str | None = None
) -> Roster:
    """Read an HR roster in a child process bounded by `[limits]` (readers/sandbox.py).
    `encoding`: the --encoding override (readers/legacy.py), None to detect."""
    from dnmail.readers.roster import read_roster
    from dnmail.readers.sandbox import Limits, run_bounded

    return run_bounded(read_roster, (path,),
                       {"max_uncompressed": limits.max_uncompressed_mb * 1024 * 1024,
                        "encoding": encoding},
                       file_name=path.name, limits=Limits.of(limits))


_COLUMNS = (
    Staff.hr_id,
    Staff.full_name,
    Staff.unit_code,
    Staff.department,
    Staff.position,
    Staff.phone,
    Staff.hr_status,
    Staff.email,
)


def _existing(session: Session, hr_ids: list[str]) -> dict[str, tuple]:
    if len(hr_ids) > 5000:  # one scan beats many IN lists for a city-wide roster
        return {r[0]: r for r in session.execute(select(*_COLUMNS))}
    rows = queries.rows_where_in(session, select(*_COLUMNS), Staff.hr_id, hr_ids)
    return {r[0]: r for r in rows}


def diff_roster(roster: Roster, *, session: Session, sha256: str) -> RosterDiff:
    """Compare a parsed roster with the database (in the caller's transaction).
    Unknown unit codes refuse the file."""
    known_units = set(session.scalars(select(Unit.code)))
    problems = [
        Problem(
            _("unknown unit code {code!r} (add it with `dnmail unit add`)").format(
                code=r.unit_code
            ),
            file=roster.file_name,
            row=r.row,
            column="Mã đơn vị",
        )
        for r in roster.rows
        if r.unit_code not in known_units
    ]
    if problems:
        raise InvalidFile(roster.file_name, problems)
    existing = _existing(session, [r.hr_id for r in roster.rows])
    added: list = []
    changed: list = []
    unchanged = 0
    for r in roster.rows:
        old = existing.get(r.hr_id)
        if old is None:
            added.append(r)
            continue
        # A roster without the email column leaves the addresses stored before.
        email = old[7] if r.email is None else r.email
        new_values = (
            r.full_name, r.unit_code, r.department, r.position, r.phone, r.status.value, email
        )
        if old[1:] == new_values:
            unchanged += 1
            continue
        changes = {
            f: FieldChange(o or "", n or "")
            for f, o, n in zip(TRACKED, old[1:], new_values, strict=True)
            if (o or "") != (n or "")
        }
        changed.append((r, StaffChange(r.hr_id, r.full_name, r.row, changes)))
    units_in_roster = {r.unit_code for r in roster.rows}
    seen = {r.hr_id for r in roster.rows}
    missing = sorted(
        hr
        for hr, unit in session.execute(
            select(Staff.hr_id, Staff.unit_code).where(
                Staff.unit_code.in_(units_in_roster), Staff.hr_status == HrStatus.ACTIVE
            )
        )
        if hr not in seen
    )
    return RosterDiff(
        roster.file_name, sha256, added, changed, unchanged, missing, list(roster.warnings)
    )


def apply_roster_diff(
    diff: RosterDiff, *, session: Session, actor: str, now: datetime, action: str = "staff.import"
) -> None:
    """Write a diff: bulk inserts and updates, one audit event per changed person plus
    one for the import as a whole (additions are counted there, not one event each).
    The caller owns the transaction (`staff import`, `sync --apply`)."""

    def values(r: RosterRow) -> dict:
        row = {
            "hr_id": r.hr_id,
            "full_name": r.full_name,
            "name_key": name_key(r.full_name),
            "unit_code": r.unit_code,
            "department": r.department,
            "position": r.position,
            "phone": r.phone,
            "hr_status": r.status.value,
        }
        if r.email is not None:
            row["email"] = r.email
        return row

    if diff.added:
        # Core insert on the session's connection: the ORM's bulk path costs a third of
        # the write for 50,000 rows, and one naive-UTC `now` is converted once, not per row.
        naive = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
        stamps = {"status_changed_at": naive, "created_at": naive, "updated_at": naive}
        rows = [{"email": ""} | values(r) | stamps for r in diff.added]
        conn = session.connection()
        for i in range(0, len(rows), 5000):
            conn.execute(insert(Staff), rows[i : i + 5000])
    if diff.changed:
        updates = []
        for r, ch in diff.changed:
            row = values(r)
            # A new email alone is no HR change the directory must follow (sync
            # compares updated_at with the mailbox's): the record's time stays.
            if set(ch.changes) != {"email"}:
                row["updated_at"] = now
            if "hr_status" in ch.changes:
                row["status_changed_at"] = now
            updates.append(row)
        for i in range(0, len(updates), 5000):
            session.execute(update(Staff), updates[i : i + 5000])
        audit.record_many(
            [
                {
                    "actor": actor,
                    "action": "staff.update",
                    "target": f"staff:{ch.hr_id}",
                    "details": {"changes": {k: [o, n] for k, (o, n) in ch.changes.items()}},
                }
                for _r, ch in diff.changed
            ],
            session=session,
            at=now,
        )
    audit.record(
        session=session,
        actor=actor,
        action=action,
        target=f"file:{diff.file_name}",
        at=now,
        details={
            "sha256": diff.sha256,
            "added": len(diff.added),
            "changed": len(diff.changed),
            "unchanged": diff.unchanged,
            "missing": len(diff.missing),
        },
    )


def import_roster(
    rt: Runtime, path: Path, *, dry_run: bool = False, encoding: str | None = None
) -> RosterImportResult:
    """Upsert HR records by HR id. The whole file or nothing: any problem refuses it.
    `dry_run` reports what would change and stores nothing. `encoding` overrides the
    detection of TCVN3/VNI text and of a CSV file's encoding (readers/legacy.py)."""
    roster = read_roster_file(path, limits=rt.config.limits, encoding=encoding)
    digest = sha256_file(path)
    with rt.transaction(readonly=dry_run) as s:
        diff = diff_roster(roster, session=s, sha256=digest)
        if not dry_run and (diff.added or diff.changed):
            apply_roster_diff(diff, session=s, actor=rt.actor, now=rt.now())
    return RosterImportResult(
        file=str(path),
        sha256=digest,
        added=len(diff.added),
        changed=[c for _r, c in diff.changed],
        unchanged=diff.unchanged,
        missing=diff.missing,
        warnings=diff.warnings,
        dry_run=dry_run,
    )


# --- lists ------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffView:
    hr_id: str
    full_name: str
    unit: str
    department: str
    position: str
    phone: str
    hr_status: HrStatus
    address: str | None
    mailbox_state: MailboxState | None


def list_staff(
    rt: Runtime,
    *,
    unit: str | None = None,
    without_email: bool = False,
    status: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[StaffView]:
    """Staff, optionally of one unit; `without_email`: active staff with no mailbox and
    no open request (the list a unit picks from before "Gửi cấp email", step 2)."""
    q = (
        select(Staff, Mailbox.address, Mailbox.state)
        .outerjoin(Mailbox, Mailbox.staff_hr_id == Staff.hr_id)
        .order_by(Staff.unit_code, Staff.full_name, Staff.hr_id)
    )
    if status:
        q = q.where(Staff.hr_status == status)
    if without_email:
        q = q.where(
            Mailbox.id.is_(None),
            Staff.hr_status == HrStatus.ACTIVE,
            ~exists().where(Request.staff_hr_id == Staff.hr_id, queries.is_open()),
        )
    if limit:
        q = q.limit(limit).offset(offset)
    with rt.transaction(readonly=True) as session:
        if unit:
            q = q.where(Staff.unit_code == get_unit(unit, session=session).code)
        return [
            StaffView(
                s.hr_id,
                s.full_name,
                s.unit_code,
                s.department,
                s.position,
                s.phone,
                HrStatus(s.hr_status),
                addr,
                MailboxState(st) if st else None,
            )
            for s, addr, st in session.execute(q)
        ]
