"""Requests and the queue (DESIGN §1 steps 2–3): queue, reject, withdraw, list.

A request is created `pending`; `provision` takes it to `done`, or `failed` (retryable,
attempts counted); IID may `reject` it; the unit may `withdraw` its own open request.
At most one open request per person (a partial unique index holds it under races).

`check_requests` and `create_requests` are building blocks that `request import` and
`sync` compose inside their own transactions: they take `session` keyword-only and
never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dnmail.config import Config
from dnmail.db import queries
from dnmail.db.models import Mailbox, Request, Staff, Unit
from dnmail.db.session import savepoint
from dnmail.domain.addresses import DEFAULT_RESERVED, normalise_reserved, validate_local_part
from dnmail.domain.states import (
    HrStatus,
    LockReason,
    MailboxState,
    RequestKind,
    RequestState,
    can_transition,
)
from dnmail.domain.text import clean_text
from dnmail.errors import BadInput, Conflict, InvalidName, NotFound, Refused
from dnmail.i18n import _
from dnmail.services import audit
from dnmail.services.operators import other_unit
from dnmail.services.queue import QueuePage as QueuePage  # re-exported
from dnmail.services.queue import RequestView
from dnmail.services.queue import list_queue as list_queue  # re-exported
from dnmail.services.queue import request_view as _view
from dnmail.services.units import get_unit

if TYPE_CHECKING:
    from dnmail.services.runtime import Runtime


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


# --- checking -----------------------------------------------------------------------


class _Checker:
    """The rules of new requests for one unit, against what the database holds for the
    people named (loaded once for the whole batch)."""

    def __init__(self, session: Session, config: Config, unit: Unit, hr_ids: list[str]):
        self.session = session
        self.unit = unit
        self.domain = config.directory.mail_domain
        self.reserved = reserved_names(config)
        self.staff = queries.staff_by_ids(session, hr_ids)
        self.mailboxes = {
            m.staff_hr_id: m
            for (m,) in queries.rows_where_in(session, select(Mailbox), Mailbox.staff_hr_id, hr_ids)
        }
        self.open_requests = {
            r.staff_hr_id: r
            for (r,) in queries.rows_where_in(
                session, select(Request).where(queries.is_open()), Request.staff_hr_id, hr_ids
            )
        }
        self.accounts = queries.unit_account_names(session)
        self.seen: set[str] = set()
        self.wanted: dict[str, str] = {}

    def check(self, item: NewRequest) -> tuple[NewRequest, Staff | None, str | None]:
        """The item (its address made a local part), its staff, and why it is refused."""
        s = self.staff.get(item.hr_id)
        if s is None:
            return item, None, _(
                "{hr_id}: no staff member with this HR id (import the roster first)"
            ).format(hr_id=item.hr_id)
        who = f"{s.full_name} ({s.hr_id})"
        problem = self._person_problem(item, s)
        if problem is None and item.kind == RequestKind.CREATE:
            problem = self._create_problem(s)
            if problem is None and item.requested_address:
                local, problem = self._address_problem(item.requested_address)
                if problem is None:
                    self.wanted[local] = item.hr_id
                    item = NewRequest(item.hr_id, item.kind, local, item.lock_reason, item.note)
        elif problem is None:
            problem = self._mailbox_problem(item, s)
            if problem is None and item.kind == RequestKind.CHANGE and item.requested_address:
                local, problem = self._rename_problem(item.requested_address, s)
                if problem is None:
                    self.wanted[local] = item.hr_id
                    item = NewRequest(item.hr_id, item.kind, local, item.lock_reason, item.note)
        return item, s, f"{who}: {problem}" if problem else None

    def _rename_problem(self, requested: str, s: Staff) -> tuple[str, str | None]:
        """A change that renames the mailbox: the new name is checked exactly as a
        create's requested name (issue 14 §1), and must be a change."""
        m = self.mailboxes[s.hr_id]
        try:
            same = validate_local_part(requested, domain=self.domain) == m.address
        except InvalidName:
            same = False
        if same:
            return m.address, _(
                "requested address {address} is already this mailbox's address; nothing to "
                "rename"
            ).format(address=f"{m.address}@{self.domain}")
        if m.state == MailboxState.LOCKED:
            return requested, _(
                "mailbox {address} is locked; a locked mailbox is not renamed"
            ).format(address=f"{m.address}@{self.domain}")
        return self._address_problem(requested)

    def _person_problem(self, item: NewRequest, s: Staff) -> str | None:
        if item.hr_id in self.seen:
            return _("named twice")
        self.seen.add(item.hr_id)
        if s.unit_code != self.unit.code:
            return _("belongs to unit {unit}, not {asked}").format(
                unit=s.unit_code, asked=self.unit.code
            )
        r = self.open_requests.get(item.hr_id)
        if r is not None:
            return _("already has an open {kind} request #{id} ({state})").format(
                kind=RequestKind(r.kind).word, id=r.id, state=RequestState(r.state).word
            )
        return None

    def _create_problem(self, s: Staff) -> str | None:
        m = self.mailboxes.get(s.hr_id)
        if m is not None:
            state = MailboxState(m.state).label_vi
            return _("already has the mailbox {address} ({state})").format(
                address=f"{m.address}@{self.domain}", state=state
            )
        if s.hr_status != HrStatus.ACTIVE:
            return _("HR status is {status}, not active").format(
                status=HrStatus(s.hr_status).label_vi
            )
        return None

    def _address_problem(self, requested: str) -> tuple[str, str | None]:
        try:
            local = validate_local_part(requested, domain=self.domain)
        except InvalidName as e:
            return requested, _("requested address refused: {why}").format(why=e.message)
        if local in self.reserved:
            return local, _("requested address {local} is a reserved name").format(local=local)
        if local in self.accounts:
            return local, _("requested address {local} is a unit's official account").format(
                local=local
            )
        if local in self.wanted or self._taken(local):
            return local, _(
                "requested address {address} is already taken (an address is never given "
                "to another person)"
            ).format(address=f"{local}@{self.domain}")
        return local, None

    def _taken(self, local: str) -> bool:
        return queries.address_taken(self.session, local)

    def _mailbox_problem(self, item: NewRequest, s: Staff) -> str | None:
        m = self.mailboxes.get(s.hr_id)
        if m is None:
            return _("has no mailbox to {kind}").format(kind=item.kind)
        if item.kind == RequestKind.CANCEL and m.state == MailboxState.LOCKED:
            return _("mailbox {address} is already locked").format(
                address=f"{m.address}@{self.domain}"
            )
        return None


def check_requests(
    *,
    session: Session,
    config: Config,
    unit: Unit,
    items: Sequence[NewRequest],
) -> tuple[list[tuple[NewRequest, Staff]], list[str]]:
    """Check requests against the rules; returns (ok items with their staff, reasons refused).

    Rules: the person belongs to the unit; a create needs an active person with no
    mailbox and no open request, and a requested address that is valid and free; a
    change or cancel needs a mailbox; a change with an address (a rename) needs an
    active mailbox and a new address checked as a create's; nobody gets two open
    requests. Reads only, in
    the caller's transaction.
    """
    checker = _Checker(session, config, unit, [i.hr_id for i in items])
    ok: list[tuple[NewRequest, Staff]] = []
    problems: list[str] = []
    for item in items:
        checked, staff, problem = checker.check(item)
        if problem is not None:
            problems.append(problem)
        elif staff is not None:
            ok.append((checked, staff))
    return ok, problems


# --- creating -----------------------------------------------------------------------


def queue_requests(
    rt: Runtime, *, unit: str, items: Sequence[NewRequest], dry_run: bool = False
) -> list[RequestView]:
    """Queue requests for staff of one unit: all of them, or none (Refused lists every
    reason). `dry_run` checks and reports them, and keeps nothing."""
    with rt.transaction(dry_run=dry_run) as s:
        return create_requests(
            session=s, config=rt.config, unit=unit, items=items, actor=rt.actor, now=rt.now()
        )


def create_requests(
    *,
    session: Session,
    config: Config,
    unit: str,
    items: Sequence[NewRequest],
    actor: str,
    now: datetime,
    slip_id: int | None = None,
) -> list[RequestView]:
    """Queue requests for one unit: all of them, or none (Refused lists every reason).
    The caller owns the transaction (`queue_requests`, `request import`, `sync`)."""
    if not items:
        raise BadInput(_("no staff named (use --staff HRID)"))
    u = get_unit(unit, session=session)
    ok, problems = check_requests(session=session, config=config, unit=u, items=items)
    if problems:
        raise Refused(
            _("request refused, nothing queued:") + "\n  - " + "\n  - ".join(problems)
            if len(problems) > 1 or len(items) > 1
            else _("request refused: {why}").format(why=problems[0])
        )
    rows = [_new_row(item, u.code, actor, now, slip_id) for item, _staff in ok]
    ids = _insert(session, rows)
    audit.record_many(
        [_created_event(rid, row, actor) for rid, row in zip(ids, rows, strict=True)],
        session=session,
        at=now,
    )
    return [
        _view(Request(id=rid, **row), st)
        for rid, row, (_item, st) in zip(ids, rows, ok, strict=True)
    ]


def _new_row(
    item: NewRequest, unit: str, actor: str, now: datetime, slip_id: int | None
) -> dict:
    cancel = item.kind == RequestKind.CANCEL
    return {
        "kind": item.kind.value,
        "unit_code": unit,
        "staff_hr_id": item.hr_id,
        "requested_address": item.requested_address,
        "lock_reason": (item.lock_reason or LockReason.OTHER).value if cancel else None,
        "note": clean_text(item.note) if item.note else None,
        "slip_id": slip_id,
        "state": RequestState.PENDING.value,
        "attempts": 0,
        "requested_by": actor,
        "created_at": now,
        "updated_at": now,
    }


def _insert(session: Session, rows: list[dict]) -> list[int]:
    """Insert the rows; their ids in the same order."""
    hr_ids = [row["staff_hr_id"] for row in rows]
    try:
        with savepoint(session):
            session.execute(insert(Request), rows)
            # One open request per person: the pending one is the row just inserted.
            by_staff = queries.ids_by_key(
                session, Request.staff_hr_id, Request.id, hr_ids,
                Request.state == RequestState.PENDING,
            )
    except Conflict:
        raise Refused(
            _(
                "request refused: another request for one of these people was queued at the "
                "same moment; run `dnmail queue list` and try again"
            )
        ) from None
    return [by_staff[h] for h in hr_ids]


def _created_event(rid: int, row: dict, actor: str) -> dict:
    return {
        "actor": actor,
        "action": "request.create",
        "target": f"request:{rid}",
        "details": {
            "kind": row["kind"],
            "unit": row["unit_code"],
            "hr_id": row["staff_hr_id"],
            "requested_address": row["requested_address"],
            "lock_reason": row["lock_reason"],
            "slip_id": row["slip_id"],
        },
    }


# --- rejecting and withdrawing --------------------------------------------------------


def reject_request(rt: Runtime, request_id: int, *, reason: str) -> RequestView:
    """IID refuses a request (it stays in the queue's history as rejected)."""
    reason = clean_text(reason)
    if not reason:
        raise BadInput(_("a rejection needs a reason (--reason)"))
    with rt.transaction() as s:
        r = s.get(Request, request_id, with_for_update=True)
        if r is None:
            raise NotFound(_("request #{id} does not exist").format(id=request_id))
        if not can_transition(r.state, RequestState.REJECTED):
            raise Refused(
                _("request #{id} is {state}; only open requests can be rejected").format(
                    id=r.id, state=r.state
                )
            )
        now = rt.now()
        _close(r, RequestState.REJECTED, rt.actor, now)
        r.last_error = reason
        audit.record(
            session=s, actor=rt.actor, action="request.reject", target=f"request:{r.id}",
            at=now, details={"reason": reason},
        )
        return _view(r, s.get(Staff, r.staff_hr_id))


def withdraw_request(rt: Runtime, request_id: int, *, unit: str | None = None) -> RequestView:
    """The unit takes back its own open request (`unit`: the officer's unit, if any)."""
    with rt.transaction() as s:
        return mark_withdrawn(request_id, session=s, actor=rt.actor, now=rt.now(), unit=unit)


def mark_withdrawn(
    request_id: int,
    *,
    session: Session,
    actor: str,
    now: datetime,
    unit: str | None = None,
    details: dict | None = None,
) -> RequestView:
    """Withdraw an open request in the caller's transaction (`withdraw_request`, and
    `sync` when a cancel supersedes an open request or HR's roster contradicts it).
    `details` go into the audit event (sync names its roster and why)."""
    r = session.get(Request, request_id, with_for_update=True)
    if r is None:
        # On PostgreSQL a unit role may lock only its unit's open requests (row-level
        # security): read it without the lock to say why it cannot be withdrawn.
        r = session.get(Request, request_id)
    if r is None:
        raise NotFound(_("request #{id} does not exist").format(id=request_id))
    if unit is not None and r.unit_code != unit:
        raise other_unit(actor, unit, r.unit_code, what=_("request #{id}").format(id=r.id))
    if not can_transition(r.state, RequestState.WITHDRAWN):
        raise Refused(
            _("request #{id} is {state}; only open requests can be withdrawn").format(
                id=r.id, state=r.state
            )
        )
    _close(r, RequestState.WITHDRAWN, actor, now)
    audit.record(
        session=session,
        actor=actor,
        action="request.withdraw",
        target=f"request:{r.id}",
        at=now,
        details=details,
    )
    return _view(r, session.get(Staff, r.staff_hr_id))


def _close(r: Request, state: RequestState, actor: str, now: datetime) -> None:
    r.state = state
    r.handled_by = actor
    r.handled_at = now
    r.updated_at = now
