"""Requests and the queue (DESIGN §1 steps 2–3): create, reject, withdraw, list.

A request is created `pending`; `provision` takes it to `done`, or `failed` (retryable,
attempts counted); IID may `reject` it; the unit may `withdraw` its own open request.
At most one open request per person (a partial unique index holds it under races).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dnmail.config import Config
from dnmail.db.models import Mailbox, Request, Staff, Unit
from dnmail.domain.addresses import DEFAULT_RESERVED, normalise_reserved, validate_local_part
from dnmail.domain.states import (
    OPEN_REQUEST_STATES,
    HrStatus,
    LockReason,
    MailboxState,
    RequestKind,
    RequestState,
    can_transition,
)
from dnmail.domain.text import clean_text
from dnmail.errors import BadInput, InvalidName, NotFound, Refused
from dnmail.services import audit
from dnmail.services.operators import other_unit
from dnmail.services.units import get_unit

OPEN = [s.value for s in OPEN_REQUEST_STATES]


@dataclass(frozen=True)
class RequestView:
    id: int
    kind: str
    unit: str
    hr_id: str
    full_name: str
    requested_address: str | None
    state: str
    attempts: int
    created_at: datetime
    requested_by: str
    handled_by: str | None = None
    last_error: str | None = None
    lock_reason: str | None = None
    slip_id: int | None = None
    address: str | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class NewRequest:
    """One request to create (the CLI or a slip row)."""

    hr_id: str
    kind: RequestKind
    requested_address: str | None = None
    lock_reason: LockReason | None = None
    note: str | None = None


def reserved_names(config: Config) -> frozenset[str]:
    return DEFAULT_RESERVED | normalise_reserved(config.addresses.reserved)


def check_requests(
    session: Session,
    *,
    config: Config,
    unit: Unit,
    items: Sequence[NewRequest],
) -> tuple[list[tuple[NewRequest, Staff]], list[str]]:
    """Check requests against the rules; returns (ok items with their staff, reasons refused).

    Rules: the person belongs to the unit; a create needs an active person with no
    mailbox and no open request, and a requested address that is valid and free; a
    change or cancel needs a mailbox; nobody gets two open requests.
    """
    hr_ids = [i.hr_id for i in items]
    staff = {
        s.hr_id: s for s in session.scalars(select(Staff).where(Staff.hr_id.in_(hr_ids)))
    } if hr_ids else {}
    mailboxes = {
        m.staff_hr_id: m
        for m in session.scalars(select(Mailbox).where(Mailbox.staff_hr_id.in_(hr_ids)))
    } if hr_ids else {}
    open_reqs = {
        r.staff_hr_id: r
        for r in session.scalars(
            select(Request).where(Request.staff_hr_id.in_(hr_ids), Request.state.in_(OPEN))
        )
    } if hr_ids else {}
    reserved = reserved_names(config)
    domain = config.directory.mail_domain
    accounts = {a.split("@")[0] for a in session.scalars(select(Unit.account)) if a}
    seen: set[str] = set()
    wanted: dict[str, str] = {}
    ok, problems = [], []
    for item in items:
        s = staff.get(item.hr_id)
        who = f"{item.hr_id}"
        if s is None:
            problems.append(f"{who}: no staff member with this HR id (import the roster first)")
            continue
        who = f"{s.full_name} ({s.hr_id})"
        if item.hr_id in seen:
            problems.append(f"{who}: named twice")
            continue
        seen.add(item.hr_id)
        if s.unit_code != unit.code:
            problems.append(f"{who}: belongs to unit {s.unit_code}, not {unit.code}")
            continue
        if item.hr_id in open_reqs:
            r = open_reqs[item.hr_id]
            problems.append(f"{who}: already has an open {r.kind} request #{r.id} ({r.state})")
            continue
        m = mailboxes.get(item.hr_id)
        if item.kind == RequestKind.CREATE:
            if m is not None:
                state = MailboxState(m.state).label_vi
                problems.append(f"{who}: already has the mailbox {m.address}@{domain} ({state})")
                continue
            if s.hr_status != HrStatus.ACTIVE.value:
                problems.append(f"{who}: HR status is {HrStatus(s.hr_status).label_vi}, not active")
                continue
            if item.requested_address:
                try:
                    local = validate_local_part(item.requested_address, domain=domain)
                except InvalidName as e:
                    problems.append(f"{who}: requested address refused: {e.message}")
                    continue
                if local in reserved:
                    problems.append(f"{who}: requested address {local} is a reserved name")
                    continue
                if local in accounts:
                    problems.append(f"{who}: requested address {local} is a unit's official account")
                    continue
                holder = session.scalar(select(Mailbox.staff_hr_id).where(Mailbox.address == local))
                asked = session.scalar(
                    select(Request.id).where(
                        Request.requested_address == local, Request.state.in_(OPEN)
                    )
                )
                if holder or asked or local in wanted:
                    problems.append(
                        f"{who}: requested address {local}@{domain} is already taken"
                        " (an address is never given to another person)"
                    )
                    continue
                wanted[local] = item.hr_id
                item = NewRequest(item.hr_id, item.kind, local, item.lock_reason, item.note)
        else:
            if m is None:
                problems.append(f"{who}: has no mailbox to {item.kind.value}")
                continue
            if item.kind == RequestKind.CANCEL and m.state == MailboxState.LOCKED.value:
                problems.append(f"{who}: mailbox {m.address}@{domain} is already locked")
                continue
        ok.append((item, s))
    return ok, problems


def create_requests(
    session: Session,
    *,
    config: Config,
    unit: str,
    items: Sequence[NewRequest],
    actor: str,
    now: datetime,
    slip_id: int | None = None,
) -> list[RequestView]:
    """Queue requests for one unit: all of them, or none (Refused lists every reason)."""
    if not items:
        raise BadInput("no staff named (use --staff HRID)")
    u = get_unit(session, unit)
    ok, problems = check_requests(session, config=config, unit=u, items=items)
    if problems:
        raise Refused(
            "request refused, nothing queued:\n  - " + "\n  - ".join(problems)
            if len(problems) > 1 or len(items) > 1
            else f"request refused: {problems[0]}"
        )
    rows = [
        {
            "kind": item.kind.value,
            "unit_code": u.code,
            "staff_hr_id": st.hr_id,
            "requested_address": item.requested_address,
            "lock_reason": (item.lock_reason or LockReason.OTHER).value
            if item.kind == RequestKind.CANCEL
            else None,
            "note": clean_text(item.note) if item.note else None,
            "slip_id": slip_id,
            "state": RequestState.PENDING.value,
            "attempts": 0,
            "requested_by": actor,
            "created_at": now,
            "updated_at": now,
        }
        for item, st in ok
    ]
    from sqlalchemy import insert

    try:
        with session.begin_nested():
            # A plain executemany, then the ids by person (one open request per person):
            # an ordered INSERT … RETURNING runs row by row on SQLite.
            session.execute(insert(Request), rows)
            by_staff: dict[str, int] = {}
            hr_ids = [row["staff_hr_id"] for row in rows]
            for i in range(0, len(hr_ids), 900):
                by_staff.update(
                    session.execute(
                        select(Request.staff_hr_id, Request.id).where(
                            Request.staff_hr_id.in_(hr_ids[i : i + 900]),
                            Request.state == RequestState.PENDING.value,
                        )
                    ).all()
                )
            ids = [by_staff[h] for h in hr_ids]
    except IntegrityError:
        raise Refused(
            "request refused: another request for one of these people was queued at the "
            "same moment; run `dnmail queue list` and try again"
        ) from None
    audit.record_many(
        session,
        [
            {
                "actor": actor,
                "action": "request.create",
                "target": f"request:{rid}",
                "details": {
                    "kind": row["kind"],
                    "unit": row["unit_code"],
                    "hr_id": row["staff_hr_id"],
                    "requested_address": row["requested_address"],
                    "lock_reason": row["lock_reason"],
                    "slip_id": slip_id,
                },
            }
            for rid, row in zip(ids, rows, strict=True)
        ],
        at=now,
    )
    created = []
    for rid, row, (_item, st) in zip(ids, rows, ok, strict=True):
        r = Request(id=rid, **row)
        created.append((r, st))
    return [_view(r, s) for r, s in created]


def _get_request(session: Session, request_id: int) -> Request:
    r = session.get(Request, request_id, with_for_update=True)
    if r is None:
        raise NotFound(f"request #{request_id} does not exist")
    return r


def reject_request(
    session: Session, request_id: int, *, reason: str, actor: str, now: datetime
) -> RequestView:
    """IID refuses a request (it stays in the queue's history as rejected)."""
    reason = clean_text(reason)
    if not reason:
        raise BadInput("a rejection needs a reason (--reason)")
    r = _get_request(session, request_id)
    if not can_transition(r.state, RequestState.REJECTED):
        raise Refused(f"request #{r.id} is {r.state}; only open requests can be rejected")
    r.state = RequestState.REJECTED.value
    r.handled_by = actor
    r.handled_at = now
    r.updated_at = now
    r.last_error = reason
    audit.record(
        session, actor=actor, action="request.reject", target=f"request:{r.id}", at=now,
        details={"reason": reason},
    )
    return _view(r, session.get(Staff, r.staff_hr_id))


def withdraw_request(
    session: Session, request_id: int, *, actor: str, now: datetime, unit: str | None = None
) -> RequestView:
    """The unit takes back its own open request (`unit`: the officer's unit, if any)."""
    r = session.get(Request, request_id, with_for_update=True)
    if r is None:
        # On PostgreSQL a unit role may lock only its unit's open requests (row-level
        # security): read it without the lock to say why it cannot be withdrawn.
        r = session.get(Request, request_id)
    if r is None:
        raise NotFound(f"request #{request_id} does not exist")
    if unit is not None and r.unit_code != unit:
        raise other_unit(actor, unit, r.unit_code, what=f"request #{r.id}")
    if not can_transition(r.state, RequestState.WITHDRAWN):
        raise Refused(f"request #{r.id} is {r.state}; only open requests can be withdrawn")
    r.state = RequestState.WITHDRAWN.value
    r.handled_by = actor
    r.handled_at = now
    r.updated_at = now
    audit.record(
        session, actor=actor, action="request.withdraw", target=f"request:{r.id}", at=now
    )
    return _view(r, session.get(Staff, r.staff_hr_id))


@dataclass(frozen=True)
class QueuePage:
    items: list[RequestView]
    total: int
    limit: int
    offset: int

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "items": [i.to_dict() for i in self.items],
        }


def list_queue(
    session: Session,
    *,
    unit: str | None = None,
    states: Sequence[str] | None = None,
    kind: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> QueuePage:
    """Requests oldest first (default: the open ones), one page at a time."""
    conds = []
    if unit:
        conds.append(Request.unit_code == unit)
    if states:
        conds.append(Request.state.in_(list(states)))
    if kind:
        conds.append(Request.kind == kind)
    total = session.scalar(select(func.count()).select_from(Request).where(*conds))
    q = (
        select(Request, Staff.full_name, Mailbox.address)
        .join(Staff, Staff.hr_id == Request.staff_hr_id)
        .outerjoin(Mailbox, Mailbox.id == Request.mailbox_id)
        .where(*conds)
        .order_by(Request.created_at, Request.id)
        .limit(limit)
        .offset(offset)
    )
    items = [_view(r, None, name, addr) for r, name, addr in session.execute(q)]
    return QueuePage(items, total or 0, limit, offset)


def _view(r: Request, s: Staff | None, name: str | None = None, addr: str | None = None) -> RequestView:
    return RequestView(
        id=r.id,
        kind=r.kind,
        unit=r.unit_code,
        hr_id=r.staff_hr_id,
        full_name=name if name is not None else (s.full_name if s else ""),
        requested_address=r.requested_address,
        state=r.state,
        attempts=r.attempts,
        created_at=r.created_at,
        requested_by=r.requested_by,
        handled_by=r.handled_by,
        last_error=r.last_error,
        lock_reason=r.lock_reason,
        slip_id=r.slip_id,
        address=addr,
    )
