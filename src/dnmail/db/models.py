"""SQLAlchemy 2 models: units, staff, mailboxes, slips, requests, audit events (DESIGN §2).

Each class is mapped onto its table of db/tables.py (the columns, their types,
defaults and indexes are there); the annotations here say what an attribute holds.
Timestamps are handed back as aware UTC on every backend. No column ever holds a
password.
"""

# No `from __future__ import annotations`: the Mapped[...] annotations are then objects
# SQLAlchemy reads as they are, not strings it evaluates one by one (a start costs less).

from datetime import datetime

from sqlalchemy.orm import DeclarativeBase, Mapped

from dnmail.db import tables
from dnmail.db.tables import NAMING, OPEN_STATES_SQL, BigId, UTCDateTime

__all__ = [
    "NAMING", "OPEN_STATES_SQL", "AuditEvent", "Base", "BigId", "FormerAddress", "Mailbox",
    "Request", "Slip", "SlipSignature", "Staff", "UTCDateTime", "Unit",
]


class Base(DeclarativeBase):
    metadata = tables.metadata


class Unit(Base):
    __table__ = tables.units

    code: Mapped[str]
    name: Mapped[str]
    parent_code: Mapped[str | None]
    account: Mapped[str | None]
    branch_dn: Mapped[str]
    created_at: Mapped[datetime]


class Staff(Base):
    __table__ = tables.staff

    hr_id: Mapped[str]
    full_name: Mapped[str]
    name_key: Mapped[str]
    unit_code: Mapped[str]
    department: Mapped[str]
    position: Mapped[str]
    phone: Mapped[str]
    hr_status: Mapped[str]
    email: Mapped[str]
    status_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Mailbox(Base):
    __table__ = tables.mailboxes

    id: Mapped[int]
    address: Mapped[str]
    base: Mapped[str]
    staff_hr_id: Mapped[str]
    unit_code: Mapped[str]
    dn: Mapped[str]
    state: Mapped[str]
    lock_reason: Mapped[str | None]
    lock_note: Mapped[str | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    locked_at: Mapped[datetime | None]
    origin: Mapped[str]
    adopted_attrs: Mapped[str | None]


class FormerAddress(Base):
    """An address a mailbox had before a rename (tables.former_addresses)."""

    __table__ = tables.former_addresses

    id: Mapped[int]
    mailbox_id: Mapped[int]
    address: Mapped[str]
    base: Mapped[str]
    since: Mapped[datetime]
    until: Mapped[datetime]
    request_id: Mapped[int | None]


class Slip(Base):
    __table__ = tables.slips

    id: Mapped[int]
    sha256: Mapped[str]
    file_name: Mapped[str]
    format: Mapped[str]
    unit_code: Mapped[str]
    verdict: Mapped[str]
    signer_subject: Mapped[str | None]
    signer_issuer: Mapped[str | None]
    signer_serial: Mapped[str | None]
    signer_fingerprint: Mapped[str | None]
    signed_at: Mapped[datetime | None]
    requester_name: Mapped[str]
    requester_position: Mapped[str]
    requester_phone: Mapped[str]
    content: Mapped[str]
    imported_at: Mapped[datetime]
    imported_by: Mapped[str]


class SlipSignature(Base):
    """A signature a slip was imported with (tables.slip_signatures)."""

    __table__ = tables.slip_signatures

    id: Mapped[int]
    slip_id: Mapped[int]
    unit_code: Mapped[str]
    field_name: Mapped[str]
    signed_digest: Mapped[str]
    value_digest: Mapped[str]


class Request(Base):
    __table__ = tables.requests

    id: Mapped[int]
    kind: Mapped[str]
    unit_code: Mapped[str]
    staff_hr_id: Mapped[str]
    requested_address: Mapped[str | None]
    lock_reason: Mapped[str | None]
    note: Mapped[str | None]
    slip_id: Mapped[int | None]
    state: Mapped[str]
    attempts: Mapped[int]
    last_error: Mapped[str | None]
    requested_by: Mapped[str]
    handled_by: Mapped[str | None]
    mailbox_id: Mapped[int | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]


class AuditEvent(Base):
    """Append-only; each event's hash covers the previous one's (tables.audit_events)."""

    __table__ = tables.audit_events

    id: Mapped[int]
    at: Mapped[datetime]
    actor: Mapped[str]
    action: Mapped[str]
    target: Mapped[str]
    details: Mapped[str]
    prev_hash: Mapped[str]
    hash: Mapped[str]
    mac: Mapped[str | None]
    key_id: Mapped[str | None]
