"""The audit trail: append-only, each event chained to the previous by a hash, and
keyed (issue 12 §6).

hash = sha256(canonical JSON of [id, at, actor, action, target, details, prev_hash]).
mac  = HMAC-SHA256(audit key, hash), with key_id naming the key; the key is a file
       (`[audit] key_file`, default `<data dir>/audit.key`, 0600), never in the database.

Editing, deleting or inserting a row breaks the hash chain at that row; but whoever can
write the database can also rewrite an event and recompute every later hash. The MAC
is what they cannot recompute without the key: every keyed event covers, through its
hash, all the events before it. So, with the key, `audit verify` detects any change to
an event up to the last keyed one — altered, inserted, deleted in the middle, a MAC
stripped (an IID event without a MAC once the trail is keyed). What it cannot see
alone is the newest events deleted: the head kept off the database (`--anchor`) does.

Who writes without the key: unit officers on their own hosts (they append their own
events, and must never hold the key); their events carry no MAC and are covered by the
next keyed event. Events written before the key existed (an older installation) are
checked by their hash chain only, up to the first keyed event: from there the trail is
keyed, and `audit verify` says since which event.

Ids are previous + 1, taken under a lock (PostgreSQL advisory lock; SQLite's write
lock), so several hosts appending at once still build one chain.
Details never contain passwords: callers pass only what is safe to keep for ever.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from dnmail.errors import Refused
from dnmail.i18n import _

if TYPE_CHECKING:
    from dnmail.config import Config
    from dnmail.db.models import AuditEvent

GENESIS = "0" * 64
_ADVISORY_KEY = 0x646E6D61  # "dnma"
_HEAD = "dnmail_audit_head"
#: Session.info key of this host's AuditKey (set by Runtime's Database).
KEY_INFO = "dnmail_audit_key"


@dataclass
class AuditKey:
    """The key of the trail's MACs, and its id (kept in each keyed event)."""

    secret: bytes = field(repr=False)
    path: str = ""
    #: Set once the trail was found keyed with this key (or not keyed at all).
    checked: bool = False
    _hmac: Any = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return hmac.new(self.secret, b"dnmail audit key id", hashlib.sha256).hexdigest()[:16]

    def mac(self, event_hash_hex: str) -> str:
        if self._hmac is None:  # keyed once; each MAC copies that state (a bulk of 100k)
            self._hmac = hmac.new(self.secret, digestmod=hashlib.sha256)
        h = self._hmac.copy()
        h.update(event_hash_hex.encode("ascii"))
        return h.hexdigest()


def session_info(config: Config) -> dict[str, Any]:
    """What a Runtime's units of work carry: this host's audit key, if it has one."""
    secret = config.audit_key()
    if secret is None:
        return {}
    return {KEY_INFO: AuditKey(secret, str(config.audit_key_path))}


def key_of(session: Session) -> AuditKey | None:
    return session.info.get(KEY_INFO)


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
    from dnmail.db.models import AuditEvent  # built by the commands that write

    head = session.info.get(_HEAD)
    if head is not None:
        return head
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
    key = key_of(session)
    if key is not None and not key.checked:
        _check_key(session, key)
    row = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else (0, GENESIS)


def trail_key_id(session: Session) -> tuple[int, str] | None:
    """(event id, key id) of the newest keyed event, or None for an unkeyed trail."""
    from dnmail.db.models import AuditEvent  # built by the commands that write

    row = session.execute(
        select(AuditEvent.id, AuditEvent.key_id)
        .where(AuditEvent.key_id.is_not(None))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if row is None or row[1] is None:
        return None
    return (row[0], row[1])


def _check_key(session: Session, key: AuditKey) -> None:
    """Refuse to append with a key that is not the trail's: the events of one trail
    must all verify with one key (copy it to every IID host)."""
    found = trail_key_id(session)
    if found is not None and found[1] != key.id:
        raise Refused(
            _(
                "the audit trail is keyed with another key (id {trail_key}, event #{event}) "
                "than this host's {path} (id {key}); nothing was changed"
            ).format(trail_key=found[1], event=found[0], path=key.path, key=key.id),
            hint=_(
                "copy the audit key file from the host that keys the trail (0600); "
                "docs/security.md"
            ),
        )
    key.checked = True


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
    from dnmail.db.models import AuditEvent  # built by the commands that write

    last_id, last_hash = _head(session)
    at = at.replace(microsecond=at.microsecond)  # keep as given
    body = _canonical_details(details)
    new_id = last_id + 1
    h = event_hash(new_id, at, actor, action, target, body, last_hash)
    key = key_of(session)
    ev = AuditEvent(
        id=new_id,
        at=at,
        actor=actor,
        action=action,
        target=target,
        details=body,
        prev_hash=last_hash,
        hash=h,
        mac=key.mac(h) if key else None,
        key_id=key.id if key else None,
    )
    session.add(ev)
    session.info[_HEAD] = (new_id, h)
    return ev


def record_many(events: list[dict], *, session: Session, at: datetime) -> None:
    """Append several events (dicts with actor, action, target, details) in one
    INSERT: the chain is computed here, exactly as `record` would one by one. The
    caller owns the transaction."""
    from dnmail.db.models import AuditEvent  # built by the commands that write

    if not events:
        return

    last_id, last_hash = _head(session)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    key = key_of(session)
    key_id = key.id if key else None
    rows = []
    for ev in events:
        body = _canonical_details(ev.get("details"))
        new_id = last_id + 1
        h = event_hash(
            new_id, at, ev["actor"], ev["action"], ev["target"], body, last_hash, stamp=stamp
        )
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
                "mac": key.mac(h) if key else None,
                "key_id": key_id,
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


@dataclass
class ChainWalk:
    """What a walk of the trail found."""

    checked: int = 0
    broken: ChainBreak | None = None
    keyed_since: int | None = None  # the first event with a MAC
    last_keyed: int | None = None  # the newest event with a MAC
    macs_checked: bool = False  # a key was there to check them
    officers_unkeyed: int = 0  # officers' events after keyed_since (no key on their hosts)


def verify_chain(
    *, session: Session, batch: int = 5000, officers: frozenset[str] = frozenset()
) -> ChainWalk:
    """Walk the whole trail: the hash chain; with this host's key, every MAC; and, key
    or not, that no event lacks a MAC once the trail is keyed unless its actor is a
    unit officer (`officers`: their official accounts). Stops at the first break."""
    key = key_of(session)
    walk = ChainWalk(macs_checked=key is not None)
    prev_id, prev_hash = 0, GENESIS
    for ev in _iter_events(session, batch):
        walk.checked += 1
        problem = _link_problem(ev, prev_id, prev_hash) or _mac_problem(ev, key, walk, officers)
        if problem:
            walk.broken = ChainBreak(ev.id, problem)
            return walk
        prev_id, prev_hash = ev.id, ev.hash
    return walk


def _link_problem(ev: AuditEvent, prev_id: int, prev_hash: str) -> str | None:
    if ev.id != prev_id + 1:
        if ev.id > prev_id + 1:
            return _("events {first}–{last} are missing (deleted)").format(
                first=prev_id + 1, last=ev.id - 1
            )
        return _("event out of order")
    if ev.prev_hash != prev_hash:
        return _(
            "its link to the previous event does not match (an event was removed or "
            "inserted before it)"
        )
    expected = event_hash(ev.id, ev.at, ev.actor, ev.action, ev.target, ev.details, ev.prev_hash)
    if expected != ev.hash:
        return _("its content was altered after it was written")
    return None


def _mac_problem(
    ev: AuditEvent, key: AuditKey | None, walk: ChainWalk, officers: frozenset[str]
) -> str | None:
    if ev.mac is None:
        if walk.keyed_since is not None:
            if ev.actor.lower() not in officers:
                return _(
                    "it carries no MAC although the trail is keyed since event "
                    "#{since}, and its actor {actor!r} is no unit officer: it "
                    "was written or rewritten without the audit key (or its MAC removed)"
                ).format(since=walk.keyed_since, actor=ev.actor)
            walk.officers_unkeyed += 1
        return None
    if walk.keyed_since is None:
        walk.keyed_since = ev.id
    walk.last_keyed = ev.id
    if key is None:
        return None
    if ev.key_id != key.id:
        return _(
            "it is keyed with another audit key (id {event_key}) than this host's "
            "(id {key}, {path}): verify with the trail's key"
        ).format(event_key=ev.key_id, key=key.id, path=key.path)
    if not hmac.compare_digest(ev.mac, key.mac(ev.hash)):
        return _(
            "its MAC does not match: the event (or one before it) was altered, inserted or "
            "rehashed by someone without the audit key"
        )
    return None


def _iter_events(session: Session, batch: int) -> Iterator[AuditEvent]:
    from dnmail.db.models import AuditEvent  # built by the commands that write

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
