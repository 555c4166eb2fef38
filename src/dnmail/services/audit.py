"""The audit trail: append-only, each event chained to the previous by a hash.

hash = sha256(canonical JSON of [id, at, actor, action, target, details, prev_hash]).
Editing, deleting or inserting a row breaks the chain at that row (`audit verify`).
Ids are previous + 1, taken under a lock (PostgreSQL advisory lock; SQLite's write
lock), so several hosts appending at once still build one chain.
Details never contain passwords: callers pass only what is safe to keep for ever.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from dnmail.db.models import AuditEvent

GENESIS = "0" * 64
_ADVISORY_KEY = 0x646E6D61  # "dnma"
_HEAD = "dnmail_audit_head"


# Built once: json.dumps makes a new encoder on every call with these options.
_PAYLOAD = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_DETAILS = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def event_hash(
    id: int, at: datetime, actor: str, action: str, target: str, details: str, prev_hash: str,
    *, stamp: str | None = None,
) -> str:
    """The event's hash; `stamp`: `at` already formatted (a batch shares one time)."""
    stamp = stamp or at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payload = _PAYLOAD.encode([id, stamp, actor, action, target, details, prev_hash])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _canonical_details(details: dict | None) -> str:
    return _DETAILS.encode(details or {})


def _head(session: Session) -> tuple[int, str]:
    head = session.info.get(_HEAD)
    if head is not None:
        return head
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
    row = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, GENESIS)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget_head(session, *args) -> None:
    session.info.pop(_HEAD, None)


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    target: str,
    at: datetime,
    details: dict | None = None,
) -> AuditEvent:
    """Append one event to the chain. The caller owns the transaction: the event is
    kept exactly when the change it records is."""
    last_id, last_hash = _head(session)
    at = at.replace(microsecond=at.microsecond)  # keep as given
    body = _canonical_details(details)
    new_id = last_id + 1
    h = event_hash(new_id, at, actor, action, target, body, last_hash)
    ev = AuditEvent(
        id=new_id,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=body,
        prev_hash=last_hash,
        hash=h,
    )
    session.add(ev)
    session.info[_HEAD] = (new_id, h)
    return ev


def record_many(events: list[dict], *, session: Session, at: datetime) -> None:
    """Append several events (dicts with actor, action, target, details) in one
    INSERT: the chain is computed here, exactly as `record` would one by one. The
    caller owns the transaction."""
    if not events:
        return

    last_id, last_hash = _head(session)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = []
    for ev in events:
        body = _canonical_details(ev.get("details"))
        new_id = last_id + 1
        h = event_hash(new_id, at, ev["actor"], ev["action"], ev["target"], body, last_hash, stamp=stamp)
        rows.append(
            {
                "id": new_id,
                "at": at,
                "actor": ev["actor"],
                "action": ev["action"],
                "target": ev["target"],
                "details": body,
                "prev_hash": last_hash,
                "hash": h,
            }
        )
        last_id, last_hash = new_id, h
    # Straight to the driver: SQLAlchemy's per-row parameter processing costs more than
    # the insert itself when a batch records 100,000 events (`directory adopt`).
    from dnmail.db.queries import insert_rows

    insert_rows(session, AuditEvent.__table__, rows)
    session.info[_HEAD] = (last_id, last_hash)


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    problem: str


def verify_chain(*, session: Session, batch: int = 5000) -> tuple[int, ChainBreak | None]:
    """Walk the whole chain. Returns (events checked, first break or None)."""
    prev_id, prev_hash = 0, GENESIS
    count = 0
    for ev in _iter_events(session, batch):
        count += 1
        if ev.id != prev_id + 1:
            return count, ChainBreak(
                ev.id, f"events {prev_id + 1}–{ev.id - 1} are missing (deleted)"
                if ev.id > prev_id + 1 else "event out of order"
            )
        if ev.prev_hash != prev_hash:
            return count, ChainBreak(
                ev.id, "its link to the previous event does not match (an event was removed or inserted before it)"
            )
        at = ev.at
        expected = event_hash(ev.id, at, ev.actor, ev.action, ev.target, ev.details, ev.prev_hash)
        if expected != ev.hash:
            return count, ChainBreak(ev.id, "its content was altered after it was written")
        prev_id, prev_hash = ev.id, ev.hash
    return count, None


def _iter_events(session: Session, batch: int) -> Iterator[AuditEvent]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.id > last).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.expunge_all()
