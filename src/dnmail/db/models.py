"""SQLAlchemy 2 models: units, staff, mailboxes, slips, requests, audit events (DESIGN §2).

Timestamps are stored as naive UTC and handed back as aware UTC on every backend.
No column ever holds a password.
"""

# No `from __future__ import annotations`: the Mapped[...] annotations are then objects
# SQLAlchemy reads as they are, not strings it evaluates one by one (a start costs less).

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from dnmail.domain.states import OPEN_REQUEST_STATES

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Unit(Base):
    __tablename__ = "units"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    account: Mapped[str | None] = mapped_column(String(255), unique=True)
    branch_dn: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Staff(Base):
    __tablename__ = "staff"

    hr_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    full_name: Mapped[str] = mapped_column(String(255))
    name_key: Mapped[str] = mapped_column(String(255))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    department: Mapped[str] = mapped_column(String(255), default="")
    position: Mapped[str] = mapped_column(String(255), default="")
    phone: Mapped[str] = mapped_column(String(32), default="")
    hr_status: Mapped[str] = mapped_column(String(16), default="active")
    # The address the roster's optional email column gives (lower case, "" when none):
    # what `directory adopt` matches an existing entry's `mail` with (DESIGN §7).
    email: Mapped[str] = mapped_column(String(255), default="", server_default="")
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_staff_unit_name", "unit_code", "name_key"),)


class Mailbox(Base):
    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The local part; an address is never given to another person (DESIGN §2), so rows
    # are never deleted and the unique constraint holds for locked mailboxes too.
    address: Mapped[str] = mapped_column(String(64), unique=True)
    # The address without its numeric suffix: allocation looks up every address of a
    # base in one indexed query instead of probing candidates one by one.
    base: Mapped[str] = mapped_column(String(64), index=True)
    staff_hr_id: Mapped[str] = mapped_column(ForeignKey("staff.hr_id"), unique=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    dn: Mapped[str] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(16), default="active", index=True)
    lock_reason: Mapped[str | None] = mapped_column(String(16))
    lock_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "created" by dnmail, or "adopted": an entry that existed before dnmail took it over
    # (`directory adopt`, `directory link`; DESIGN §7).
    origin: Mapped[str] = mapped_column(String(16), default="created", server_default="created")
    # For an adopted mailbox, the entry's attributes as they were when it was taken
    # over (JSON: attribute → values): what `reconcile` compares the entry with, since
    # those values were never dnmail's to decide. Attributes dnmail writes later (a
    # transfer) replace their value here.
    adopted_attrs: Mapped[str | None] = mapped_column(Text)


class FormerAddress(Base):
    """An address a mailbox had before a rename (issue 14): [since, until). It stays the
    mailbox's alias in the directory, and it is never given to anyone else — the
    allocator and every requested-address check count it as taken, as a mailbox's
    current address. The current address is the mailbox's own row."""

    __tablename__ = "former_addresses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id"), index=True)
    address: Mapped[str] = mapped_column(String(64), unique=True)
    # As Mailbox.base: every address of a base in one indexed query.
    base: Mapped[str] = mapped_column(String(64), index=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    until: Mapped[datetime] = mapped_column(UTCDateTime())
    # The request that renamed it (None for a rename recorded otherwise).
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id"))


class Slip(Base):
    __tablename__ = "slips"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(512))
    format: Mapped[str] = mapped_column(String(8))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    verdict: Mapped[str] = mapped_column(String(32))
    signer_subject: Mapped[str | None] = mapped_column(Text)
    signer_issuer: Mapped[str | None] = mapped_column(Text)
    signer_serial: Mapped[str | None] = mapped_column(String(80))
    signer_fingerprint: Mapped[str | None] = mapped_column(String(64))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    requester_name: Mapped[str] = mapped_column(String(255), default="")
    requester_position: Mapped[str] = mapped_column(String(255), default="")
    requester_phone: Mapped[str] = mapped_column(String(32), default="")
    content: Mapped[str] = mapped_column(Text, default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    imported_by: Mapped[str] = mapped_column(String(255))


class SlipSignature(Base):
    """A signature a slip was imported with, by what it signed (issue 12 §2): the same
    signed slip in another file (bytes appended, metadata updated) is refused because
    one of these is taken. Every signature of a signed file gets a row."""

    __tablename__ = "slip_signatures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slip_id: Mapped[int] = mapped_column(ForeignKey("slips.id"), index=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    field_name: Mapped[str] = mapped_column(String(255))
    # sha256 hex of the bytes the signature's ByteRange covers, and of its value
    signed_digest: Mapped[str] = mapped_column(String(64), unique=True)
    value_digest: Mapped[str] = mapped_column(String(64), unique=True)


#: The open-request test as SQL, for the partial unique index (db.queries.is_open in queries).
OPEN_STATES_SQL = "state IN ({})".format(", ".join(f"'{s.value}'" for s in OPEN_REQUEST_STATES))


class Request(Base):
    __tablename__ = "requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    staff_hr_id: Mapped[str] = mapped_column(ForeignKey("staff.hr_id"), index=True)
    requested_address: Mapped[str | None] = mapped_column(String(64))
    lock_reason: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    slip_id: Mapped[int | None] = mapped_column(ForeignKey("slips.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(255))
    handled_by: Mapped[str | None] = mapped_column(String(255))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # The queue, oldest first, per state.
        Index("ix_requests_state_created", "state", "created_at", "id"),
        # At most one open request per person: a second one is refused with the reason,
        # and two admins (or cron and an admin) racing cannot both queue one. Partial on
        # both databases (migration 0001 creates it with the same WHERE on PostgreSQL);
        # only SQLite's is declared here, so that a command on SQLite never loads the
        # PostgreSQL dialect (Alembic does not compare the WHERE of an index).
        Index(
            "uq_requests_open_per_staff",
            "staff_hr_id",
            unique=True,
            sqlite_where=text(OPEN_STATES_SQL),
        ),
    )


class AuditEvent(Base):
    """Append-only; each event's hash covers the previous one's (DESIGN §2)."""

    __tablename__ = "audit_events"

    # Assigned as previous id + 1 under a lock, never by a sequence: a gap means a
    # deleted event, and the chain order is the id order.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(512), index=True)
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # HMAC-SHA256 of `hash` with the audit key, and the key's id (services/audit.py);
    # NULL for an event written without the key (a unit officer, or before the key).
    mac: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(16))
