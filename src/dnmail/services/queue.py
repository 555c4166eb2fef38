"""The queue, read: requests oldest first, one page at a time (`dnmail queue list`).

Core queries on the tables (db/tables.py), plain rows: the list a unit officer reads
most, so its command builds neither the mapped classes nor the services that write
requests (services/requests.py), only what it reads (issue 10, start-up).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Row, Table, func, select, union_all

from dnmail.db import tables
from dnmail.domain.messages import shown
from dnmail.domain.states import LockReason, RequestKind, RequestState

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dnmail.db.models import Request, Staff
    from dnmail.services.runtime import Runtime


@dataclass(frozen=True)
class RequestView:
    id: int
    kind: RequestKind
    unit: str
    hr_id: str
    full_name: str
    requested_address: str | None
    state: RequestState
    attempts: int
    created_at: datetime
    requested_by: str
    handled_by: str | None = None
    last_error: str | None = None
    lock_reason: LockReason | None = None
    slip_id: int | None = None
    address: str | None = None


@dataclass(frozen=True)
class QueuePage:
    total: int
    limit: int
    offset: int
    items: list[RequestView]


def list_queue(
    rt: Runtime,
    *,
    unit: str | None = None,
    states: Sequence[RequestState] | None = None,
    kind: RequestKind | None = None,
    limit: int = 100,
    offset: int = 0,
) -> QueuePage:
    """Requests oldest first (`states`: RequestFilter.states; None, every state), one
    page at a time. Core queries, plain rows: the list a unit officer reads most."""
    r, staff, boxes = tables.requests, tables.staff, tables.mailboxes
    conds = []
    if unit:
        conds.append(r.c.unit_code == unit)
    if kind:
        conds.append(r.c.kind == kind)
    counted = [*conds, r.c.state.in_(list(states))] if states else conds
    with rt.transaction(readonly=True) as s:
        total = s.scalar(select(func.count()).select_from(r).where(*counted))
        ids = _page_ids(s, r, states, conds, limit, offset)
        q = (
            select(*r.c, staff.c.full_name, boxes.c.address)
            .join(staff, staff.c.hr_id == r.c.staff_hr_id)
            .outerjoin(boxes, boxes.c.id == r.c.mailbox_id)
            .where(r.c.id.in_(ids))
            .order_by(r.c.created_at, r.c.id)
        )
        items = (
            [request_view(row, None, row.full_name, row.address) for row in s.execute(q)]
            if ids
            else []
        )
    return QueuePage(total or 0, limit, offset, items)


def _page_ids(
    s: Session,
    r: Table,
    states: Sequence[RequestState] | None,
    conds: list,
    limit: int,
    offset: int,
) -> list[int]:
    """The ids of one page, oldest first. Per state, the index (state, created_at, id)
    gives the oldest rows in order and the database stops after `offset + limit` of
    them; the page is taken from their union. One query over every open state would sort
    the whole queue for each page (a city's queue: 100,000 rows)."""
    page = select(r.c.id, r.c.created_at)
    if not states:
        q = page.where(*conds).order_by(r.c.created_at, r.c.id).limit(limit).offset(offset)
        return list(s.scalars(q))
    arms = [
        page.where(r.c.state == state, *conds)
        .order_by(r.c.created_at, r.c.id)
        .limit(offset + limit)
        .subquery()
        for state in states
    ]
    merged = union_all(*(select(a.c.id, a.c.created_at) for a in arms)).subquery()
    q = select(merged.c.id).order_by(merged.c.created_at, merged.c.id).limit(limit).offset(offset)
    return list(s.scalars(q))


def request_view(
    r: Request | Row, s: Staff | None, name: str | None = None, addr: str | None = None
) -> RequestView:
    """A request as services hand it out, from its row (or mapped object) and its
    person's name (`name`, else `s`'s)."""
    return RequestView(
        id=r.id,
        kind=RequestKind(r.kind),
        unit=r.unit_code,
        hr_id=r.staff_hr_id,
        full_name=name if name is not None else (s.full_name if s else ""),
        requested_address=r.requested_address,
        state=RequestState(r.state),
        attempts=r.attempts,
        created_at=r.created_at,
        requested_by=r.requested_by,
        handled_by=r.handled_by,
        last_error=shown(r.last_error),  # a failure reason, stored as its message id
        lock_reason=LockReason(r.lock_reason) if r.lock_reason else None,
        slip_id=r.slip_id,
        address=addr,
    )
