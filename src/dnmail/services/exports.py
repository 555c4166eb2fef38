"""Exports (DESIGN §1 step 4).

The lists units and IID work from:

- issued  "Đã cấp email": active mailboxes, what a unit tells its staff (step 4);
- pending "Chờ cấp": open requests (pending, and failed ones waiting for a retry);
- locked  "Đã khóa": locked mailboxes with the reason and the date;
- audit: the audit events, in chain order.

Columns use the headers of the request slip (Phụ lục II) so that a unit recognises
its own table. Rows are read in batches (`yield_per`, a server-side cursor on
PostgreSQL) and written as they arrive: an export of the whole city runs in bounded
memory. No column ever holds a password: the database has none.

An export is itself recorded in the audit trail (`export.<kind>`): the lists carry
names and phone numbers, and who took them out is worth knowing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dnmail.clock import start_of_day
from dnmail.db import queries
from dnmail.db.models import AuditEvent, FormerAddress, Mailbox, Request, Staff
from dnmail.domain.messages import shown
from dnmail.domain.states import LockReason, MailboxState, RequestKind, RequestState
from dnmail.errors import BadInput, DnmailError
from dnmail.exports.writers import (
    Column,
    Sheet,
    atomic_output,
    heading_text,
    output_format,
    write,
)
from dnmail.i18n import _
from dnmail.services import audit
from dnmail.services.units import get_unit

if TYPE_CHECKING:
    from dnmail.services.runtime import Runtime

#: Rows fetched per round trip while streaming an export.
BATCH = 2000


class ExportKind(StrEnum):
    ISSUED = "issued"
    PENDING = "pending"
    LOCKED = "locked"
    AUDIT = "audit"

    @property
    def title_vi(self) -> str:
        return {
            "issued": "Đã cấp email",
            "pending": "Chờ cấp",
            "locked": "Đã khóa",
            "audit": "Nhật ký",
        }[self.value]


# --- columns ----------------------------------------------------------------------------

_MAILBOX_STATES = {s.value: s.label_vi for s in MailboxState}
_REQUEST_STATES = {s.value: s.label_vi for s in RequestState}
_KINDS = {k.value: k.label_vi for k in RequestKind}
_REASONS = {r.value: r.label_vi for r in LockReason}

# The slip's own columns (Phụ lục II), after STT.
_PERSON = (
    Column("full_name", "Họ và tên", width=28),
    Column("department", "Phòng ban/Đơn vị trực thuộc", width=30),
    Column("phone", "Số điện thoại", "code", width=15),
    Column("address", "Tên hộp thư", width=30),
    Column("hr_id", "Mã hồ sơ", "code", width=14),
    Column("unit", "Mã đơn vị", "code", width=11),
)

COLUMNS: dict[ExportKind, tuple[Column, ...]] = {
    ExportKind.ISSUED: (
        *_PERSON,
        Column("state", "Trạng thái", labels=_MAILBOX_STATES, width=15),
        Column("issued_at", "Ngày cấp", "datetime", width=17),
        # Former addresses (renames): still delivered to this mailbox (issue 14).
        Column("aliases", "Bí danh", width=30),
    ),
    ExportKind.LOCKED: (
        *_PERSON,
        Column("state", "Trạng thái", labels=_MAILBOX_STATES, width=12),
        Column("issued_at", "Ngày cấp", "datetime", width=17),
        Column("locked_at", "Ngày khóa", "datetime", width=17),
        Column("lock_reason", "Lý do", labels=_REASONS, width=16),
        Column("lock_note", "Ghi chú", width=30),
    ),
    ExportKind.PENDING: (
        *_PERSON,
        Column("kind", "Loại yêu cầu", labels=_KINDS, width=13),
        Column("state", "Trạng thái", labels=_REQUEST_STATES, width=17),
        Column("requested_at", "Ngày gửi", "datetime", width=17),
        Column("request_id", "Mã yêu cầu", "int", width=11),
        Column("last_error", "Lỗi gần nhất", width=40),
    ),
    ExportKind.AUDIT: (
        Column("id", "Mã sự kiện", "int", json_only=True),
        Column("at", "Thời điểm", "datetime", width=20, number_format="dd/mm/yyyy hh:mm:ss"),
        Column("actor", "Người thực hiện", width=24),
        Column("action", "Hành động", width=22),
        Column("target", "Đối tượng", width=30),
        Column("details", "Chi tiết", "json", width=60),
        Column("hash", "Hash", width=66),
        Column("prev_hash", "Hash trước", json_only=True),
        # The event's HMAC with the audit key: whoever holds the key can check an
        # exported trail away from the database (None: recorded without the key).
        Column("mac", "MAC", json_only=True),
    ),
}


# --- queries ----------------------------------------------------------------------------


def _address(local, domain: str):
    return local + "@" + domain


def _mailbox_query(
    domain: str, state: MailboxState, unit: str | None, since: datetime | None, *extra, since_column
) -> Select:
    """Mailboxes in one state with their owners, one unit's or all, by unit and address."""
    q = (
        select(
            Staff.full_name,
            Staff.department,
            Staff.phone,
            _address(Mailbox.address, domain),
            Staff.hr_id,
            Mailbox.unit_code,
            Mailbox.state,
            Mailbox.created_at,
            *extra,
        )
        .join(Staff, Staff.hr_id == Mailbox.staff_hr_id)
        .where(Mailbox.state == state)
        .order_by(Mailbox.unit_code, Mailbox.address)
    )
    if unit:
        q = q.where(Mailbox.unit_code == unit)
    if since:
        q = q.where(since_column >= since)
    return q


def _issued_query(domain: str, unit: str | None, since: datetime | None) -> Select:
    former = FormerAddress.__table__.alias("former")
    aliases = (
        select(func.aggregate_strings(_address(former.c.address, domain), ", "))
        .where(former.c.mailbox_id == Mailbox.id)
        .correlate(Mailbox)
        .scalar_subquery()
    )
    return _mailbox_query(
        domain, MailboxState.ACTIVE, unit, since, aliases, since_column=Mailbox.created_at
    )


def _locked_query(domain: str, unit: str | None, since: datetime | None) -> Select:
    return _mailbox_query(
        domain,
        MailboxState.LOCKED,
        unit,
        since,
        Mailbox.locked_at,
        Mailbox.lock_reason,
        Mailbox.lock_note,
        since_column=Mailbox.locked_at,
    )


def _pending_query(domain: str, unit: str | None, since: datetime | None) -> Select:
    # The mailbox name: the one the slip asks for, else (change, cancel) the person's
    # existing mailbox; empty for a create without a wish (IID picks the name).
    q = (
        select(
            Staff.full_name,
            Staff.department,
            Staff.phone,
            _address(func.coalesce(Request.requested_address, Mailbox.address), domain),
            Staff.hr_id,
            Request.unit_code,
            Request.kind,
            Request.state,
            Request.created_at,
            Request.id,
            Request.last_error,
        )
        .join(Staff, Staff.hr_id == Request.staff_hr_id)
        .outerjoin(Mailbox, Mailbox.staff_hr_id == Request.staff_hr_id)
        .where(queries.is_open())
        .order_by(Request.created_at, Request.id)  # the queue's order
    )
    if unit:
        q = q.where(Request.unit_code == unit)
    if since:
        q = q.where(Request.created_at >= since)
    return q


def _audit_query(since: datetime | None) -> Select:
    q = select(
        AuditEvent.id,
        AuditEvent.at,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.target,
        AuditEvent.details,
        AuditEvent.hash,
        AuditEvent.prev_hash,
        AuditEvent.mac,
    ).order_by(AuditEvent.id)
    if since:
        q = q.where(AuditEvent.at >= since)
    return q


# --- export -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    file: Path
    kind: ExportKind
    format: str
    rows: int
    unit: str | None = None
    since: date | None = None


#: What `--format` of an export may ask for.
FILE_FORMATS = ("xlsx", "csv", "json")


def export_target(path: Path, requested: str | None = None) -> tuple[Path, str]:
    """(the file to write, its format) from the name and `--format` (issue 13 §3).

    A workbook (.xlsx) unless the name or `--format` asks for CSV or JSON; a name
    without a suffix takes the format's; BadInput when the suffix names no format or
    another one than `--format`."""
    path = Path(path)
    by_name = output_format(path)
    if requested is not None and requested not in FILE_FORMATS:
        raise BadInput(
            _("unknown export format {format!r}; use xlsx, csv or json").format(format=requested)
        )
    if by_name is not None and requested is not None and by_name != requested:
        raise BadInput(
            _(
                "{path}: the name says {by_name} but --format says {requested}; "
                "name the file .{requested} or drop --format"
            ).format(path=path, by_name=by_name, requested=requested)
        )
    if by_name is not None:
        return path, by_name
    if path.suffix:
        raise BadInput(
            _(
                "{path}: {suffix!r} is not an export format; name the file .xlsx (a "
                "workbook, the default), .csv or .json"
            ).format(path=path, suffix=path.suffix)
        )
    fmt = requested or "xlsx"
    return path.with_name(f"{path.name}.{fmt}"), fmt


def export_format(path: Path, requested: str | None = None) -> str:
    """The format the file will be written in (see `export_target`)."""
    return export_target(path, requested)[1]


def _stream(session: Session, query: Select, batch: int) -> Iterator[tuple]:
    # yield_per: rows arrive `batch` at a time (a named, server-side cursor on
    # PostgreSQL; SQLite steps its cursor), never the whole result at once. Plain rows
    # through the session's connection (same transaction): the ORM's per-row layer
    # would add a third to the whole export's time and nothing these columns need.
    result = session.connection().execute(query.execution_options(yield_per=batch))
    try:
        for part in result.partitions():
            yield from part
    finally:
        result.close()


def export_list(
    rt: Runtime,
    *,
    kind: ExportKind | str,
    path: Path,
    unit: str | None = None,
    since: date | None = None,
    batch: int = BATCH,
    file_format: str | None = None,
) -> ExportResult:
    """Write one list to `path` (format from its suffix), streaming; returns what was written.

    `unit` keeps one unit's rows; `since` keeps rows whose date (issued, locked, sent,
    or the event's time) falls on that day (Vietnam time) or later. The file appears
    whole or not at all; an existing file of that name is replaced. `file_format`
    (--format) picks CSV or JSON for a name without suffix (see `export_target`).
    """
    kind = ExportKind(kind)
    path, fmt = export_target(Path(path), file_format)
    if not path.parent.is_dir():
        raise BadInput(
            _("{path}: the directory {directory} does not exist").format(
                path=path, directory=path.parent
            )
        )
    if os.path.isdir(path):
        raise BadInput(_("{path} is a directory; give a file name").format(path=path))
    if unit and kind == ExportKind.AUDIT:
        raise BadInput(
            _(
                "audit events are not kept per unit: drop --unit "
                "(use `dnmail audit list --actor/--target` to look at one unit's events)"
            )
        )
    now = rt.now()
    with rt.transaction() as s:
        unit_row = get_unit(unit, session=s) if unit else None
        unit_code = unit_row.code if unit_row else None
        query = _query(kind, rt.config.directory.mail_domain, unit_code, since)
        header = {
            "kind": kind.value,
            "title": kind.title_vi,
            "generated_at": now.astimezone(UTC).isoformat(),
            "unit": unit_code,
            "since": since.isoformat() if since else None,
        }
        heading = heading_text(
            kind.title_vi, f"{unit_row.name} ({unit_row.code})" if unit_row else None, now
        )
        rows_in = _stream(s, query, batch)
        if kind == ExportKind.PENDING:  # a failure reason is stored as its message id
            rows_in = ((*row[:-1], shown(row[-1], "vi")) for row in rows_in)
        sheet = Sheet(COLUMNS[kind], rows_in, kind.title_vi, header, heading)
        try:
            with atomic_output(path) as tmp:
                rows = write(tmp, fmt, sheet)
                # Recorded before the file takes its name: if the record fails, no file.
                audit.record(
                    session=s,
                    actor=rt.actor,
                    action=f"export.{kind}",
                    target=f"file:{path.name}",
                    at=now,
                    details={
                        "format": fmt, "rows": rows, "unit": unit_code, "since": header["since"],
                    },
                )
                s.flush()
        except OSError as e:
            raise DnmailError(
                _("{path}: cannot write the export: {error}; nothing was written").format(
                    path=path, error=e.strerror or e
                )
            ) from None
    return ExportResult(path, kind, fmt, rows, unit_code, since)


def _query(kind: ExportKind, domain: str, unit: str | None, since: date | None) -> Select:
    after = start_of_day(since) if since else None
    if kind == ExportKind.ISSUED:
        return _issued_query(domain, unit, after)
    if kind == ExportKind.LOCKED:
        return _locked_query(domain, unit, after)
    if kind == ExportKind.PENDING:
        return _pending_query(domain, unit, after)
    return _audit_query(after)
