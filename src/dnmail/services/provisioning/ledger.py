"""The database side of `provision`: claiming requests, reserving addresses, recording
outcomes. Every function works in the caller's transaction (one per chunk)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.orm import Session

from dnmail.db import queries
from dnmail.db.models import FormerAddress, Mailbox, Request, Staff
from dnmail.domain.messages import english, stored
from dnmail.domain.states import ItemOutcome, RequestState
from dnmail.services import audit
from dnmail.services.provisioning.items import ItemResult, NewMailbox, Work

_MAILBOX_COLUMNS = (
    "address",
    "base",
    "staff_hr_id",
    "unit_code",
    "dn",
    "state",
    "created_at",
    "updated_at",
)


def claim(
    s: Session,
    request_ids: Sequence[int],
    *,
    size: int,
    seen: set[int],
    max_attempts: int,
    lock: bool,
) -> list[Row]:
    """Up to `size` open requests, oldest first (those named, else those with attempts
    left), never one of `seen`. `lock`: held against other workers (FOR UPDATE SKIP
    LOCKED on PostgreSQL; SQLite's write lock is already held)."""
    q = select(*Request.__table__.columns).where(queries.is_open())
    if request_ids:
        q = q.where(Request.id.in_(list(request_ids)))
    else:
        q = q.where(Request.attempts < max_attempts)
    if seen:
        # In a dry run nothing changes state, and a failed item stays open: never take
        # the same request twice in one run.
        q = q.where(Request.id.not_in(list(seen)))
    q = q.order_by(Request.created_at, Request.id).limit(size)
    if lock:
        q = q.with_for_update(skip_locked=True)
    # Plain rows, not ORM objects: outcomes are written back in one bulk UPDATE.
    return list(s.execute(q))


def load(s: Session, reqs: list[Row]) -> list[Work]:
    """Each claimed request with its staff row and its mailbox, if any."""
    hr_ids = [r.staff_hr_id for r in reqs]
    staff_q = select(*Staff.__table__.columns)
    staff = {x.hr_id: x for x in queries.rows_where_in(s, staff_q, Staff.hr_id, hr_ids)}
    boxes = {
        m.staff_hr_id: m
        for (m,) in queries.rows_where_in(s, select(Mailbox), Mailbox.staff_hr_id, hr_ids)
    }
    return [Work(r, staff[r.staff_hr_id], boxes.get(r.staff_hr_id)) for r in reqs]


def taken_addresses(s: Session, bases: set[str]) -> set[str]:
    """Every address a mailbox ever had with one of these bases (`thanhnq`, `thanhnq1`…):
    its current one, and those it had before a rename (never given to anyone else)."""
    taken = {a for (a,) in s.execute(select(Mailbox.address).where(Mailbox.base.in_(bases)))}
    former = select(FormerAddress.address).where(FormerAddress.base.in_(bases))
    return taken | {a for (a,) in s.execute(former)}


def insert_reserved(s: Session, works: list[Work]) -> None:
    """Reserve the chunk's new addresses in one INSERT, before any LDAP write: two
    workers that picked one address collide on the unique index here."""
    if not works:
        return
    # Always in address order: two workers reserving overlapping addresses then wait
    # for each other in the same order (a unique-key wait, retried) instead of
    # deadlocking.
    rows = sorted(
        ({c: getattr(w.mailbox, c) for c in _MAILBOX_COLUMNS} for w in works),
        key=lambda r: r["address"],
    )
    s.execute(insert(Mailbox), rows)
    ids = queries.ids_by_key(s, Mailbox.address, Mailbox.id, [r["address"] for r in rows])
    for w in works:
        assert isinstance(w.mailbox, NewMailbox)
        w.mailbox.id = ids[w.mailbox.address]


def unreserve(s: Session, m: Mailbox | NewMailbox) -> None:
    """Give back an address whose entry could not be created."""
    if m.id is not None:
        s.execute(delete(Mailbox).where(Mailbox.id == m.id))


def record(s: Session, works: list[Work], *, actor: str, now: datetime) -> None:
    """Each request's outcome and its audit event: one bulk UPDATE, one INSERT."""
    s.flush()  # mailboxes changed through the ORM (moves, locks, adoptions)
    updates = []
    events = []
    for w in works:
        res = w.result
        assert res is not None
        values, attempt = _outcome(w, res, actor, now)
        updates.append(values)
        events.append(
            {
                "actor": actor,
                "action": (
                    f"provision.{w.req.kind}"
                    if res.state is ItemOutcome.DONE
                    else "provision.failed"
                ),
                "target": f"request:{w.req.id}",
                "details": {
                    "hr_id": res.hr_id,
                    "unit": res.unit,
                    "address": res.address,
                    "dn": res.dn,
                    "result": english(res.detail),  # the trail is the same in any language
                    "attempt": attempt,
                },
            }
        )
    s.execute(update(Request), updates)
    audit.record_many(events, session=s, at=now)


def _outcome(w: Work, res: ItemResult, actor: str, now: datetime) -> tuple[dict, int]:
    """The request row's new values, and the attempt this was."""
    r = w.req
    if res.state is ItemOutcome.DONE:
        return {
            "id": r.id,
            "state": RequestState.DONE.value,
            "handled_by": actor,
            "handled_at": now,
            "last_error": None,
            "mailbox_id": w.mailbox.id if w.mailbox is not None else None,
            "updated_at": now,
        }, r.attempts
    return {
        "id": r.id,
        "state": RequestState.FAILED.value,
        "attempts": r.attempts + 1,
        "last_error": stored(res.detail),  # translated where shown (domain/messages)
        "updated_at": now,
    }, r.attempts + 1
