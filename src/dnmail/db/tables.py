"""The tables: units, staff, mailboxes, slips, requests, audit events (DESIGN §2).

SQLAlchemy Core only, so that a command that reads plain rows (the queue's first page,
the units' accounts) builds these and not the ORM's mapped classes, which cost a start
several times more (issue 10). db/models.py maps its classes onto these tables; the
migrations (db/migrations) are what creates them in a database.

Timestamps are stored as naive UTC and handed back as aware UTC on every backend.
No column ever holds a password.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
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

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(naming_convention=NAMING)


def _id() -> Column:
    return Column("id", BigId, primary_key=True, autoincrement=True)


def _at(name: str, *, nullable: bool = False, **kw: Any) -> Column:
    return Column(name, UTCDateTime(), nullable=nullable, **kw)


units = Table(
    "units", metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("parent_code", ForeignKey("units.code"), nullable=True),
    Column("account", String(255), nullable=True, unique=True),
    Column("branch_dn", String(512), nullable=False),
    _at("created_at"),
)

staff = Table(
    "staff", metadata,
    Column("hr_id", String(64), primary_key=True),
    Column("full_name", String(255), nullable=False),
    Column("name_key", String(255), nullable=False),
    Column("unit_code", ForeignKey("units.code"), nullable=False),
    Column("department", String(255), nullable=False, default=""),
    Column("position", String(255), nullable=False, default=""),
    Column("phone", String(32), nullable=False, default=""),
    Column("hr_status", String(16), nullable=False, default="active"),
    # The address the roster's optional email column gives (lower case, "" when none):
    # what `directory adopt` matches an existing entry's `mail` with (DESIGN §7).
    Column("email", String(255), nullable=False, default="", server_default=""),
    _at("status_changed_at", nullable=True),
    _at("created_at"),
    _at("updated_at"),
    Index("ix_staff_unit_name", "unit_code", "name_key"),
)

mailboxes = Table(
    "mailboxes", metadata,
    _id(),
    # The local part; an address is never given to another person (DESIGN §2), so rows
    # are never deleted and the unique constraint holds for locked mailboxes too.
    Column("address", String(64), nullable=False, unique=True),
    # The address without its numeric suffix: allocation looks up every address of a
    # base in one indexed query instead of probing candidates one by one.
    Column("base", String(64), nullable=False, index=True),
    Column("staff_hr_id", ForeignKey("staff.hr_id"), nullable=False, unique=True),
    Column("unit_code", ForeignKey("units.code"), nullable=False, index=True),
    Column("dn", String(512), nullable=False),
    Column("state", String(16), nullable=False, default="active", index=True),
    Column("lock_reason", String(16), nullable=True),
    Column("lock_note", Text, nullable=True),
    _at("created_at"),
    _at("updated_at"),
    _at("locked_at", nullable=True),
    # "created" by dnmail, or "adopted": an entry that existed before dnmail took it over
    # (`directory adopt`, `directory link`; DESIGN §7).
    Column("origin", String(16), nullable=False, default="created", server_default="created"),
    # For an adopted mailbox, the entry's attributes as they were when it was taken
    # over (JSON: attribute → values): what `reconcile` compares the entry with, since
    # those values were never dnmail's to decide. Attributes dnmail writes later (a
    # transfer) replace their value here.
    Column("adopted_attrs", Text, nullable=True),
)

#: An address a mailbox had before a rename (issue 14): [since, until). It stays the
#: mailbox's alias in the directory, and it is never given to anyone else — the
#: allocator and every requested-address check count it as taken, as a mailbox's
#: current address. The current address is the mailbox's own row.
former_addresses = Table(
    "former_addresses", metadata,
    _id(),
    Column("mailbox_id", ForeignKey("mailboxes.id"), nullable=False, index=True),
    Column("address", String(64), nullable=False, unique=True),
    # As mailboxes.base: every address of a base in one indexed query.
    Column("base", String(64), nullable=False, index=True),
    _at("since"),
    _at("until"),
    # The request that renamed it (None for a rename recorded otherwise).
    Column("request_id", ForeignKey("requests.id"), nullable=True),
)

slips = Table(
    "slips", metadata,
    _id(),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("file_name", String(512), nullable=False),
    Column("format", String(8), nullable=False),
    Column("unit_code", ForeignKey("units.code"), nullable=False, index=True),
    Column("verdict", String(32), nullable=False),
    Column("signer_subject", Text, nullable=True),
    Column("signer_issuer", Text, nullable=True),
    Column("signer_serial", String(80), nullable=True),
    Column("signer_fingerprint", String(64), nullable=True),
    _at("signed_at", nullable=True),
    Column("requester_name", String(255), nullable=False, default=""),
    Column("requester_position", String(255), nullable=False, default=""),
    Column("requester_phone", String(32), nullable=False, default=""),
    Column("content", Text, nullable=False, default=""),
    _at("imported_at"),
    Column("imported_by", String(255), nullable=False),
)

#: A signature a slip was imported with, by what it signed (issue 12 §2): the same
#: signed slip in another file (bytes appended, metadata updated) is refused because
#: one of these is taken. Every signature of a signed file gets a row.
slip_signatures = Table(
    "slip_signatures", metadata,
    _id(),
    Column("slip_id", ForeignKey("slips.id"), nullable=False, index=True),
    Column("unit_code", ForeignKey("units.code"), nullable=False, index=True),
    Column("field_name", String(255), nullable=False),
    # sha256 hex of the bytes the signature's ByteRange covers, and of its value
    Column("signed_digest", String(64), nullable=False, unique=True),
    Column("value_digest", String(64), nullable=False, unique=True),
)

#: The open-request test as SQL, for the partial unique index (db.queries.is_open in queries).
OPEN_STATES_SQL = "state IN ({})".format(", ".join(f"'{s.value}'" for s in OPEN_REQUEST_STATES))

requests = Table(
    "requests", metadata,
    _id(),
    Column("kind", String(8), nullable=False),
    Column("unit_code", ForeignKey("units.code"), nullable=False, index=True),
    Column("staff_hr_id", ForeignKey("staff.hr_id"), nullable=False, index=True),
    Column("requested_address", String(64), nullable=True),
    Column("lock_reason", String(16), nullable=True),
    Column("note", Text, nullable=True),
    Column("slip_id", ForeignKey("slips.id"), nullable=True, index=True),
    Column("state", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("requested_by", String(255), nullable=False),
    Column("handled_by", String(255), nullable=True),
    Column("mailbox_id", ForeignKey("mailboxes.id"), nullable=True),
    _at("created_at"),
    _at("updated_at"),
    _at("handled_at", nullable=True),
    # The queue, oldest first, per state.
    Index("ix_requests_state_created", "state", "created_at", "id"),
    # At most one open request per person: a second one is refused with the reason,
    # and two admins (or cron and an admin) racing cannot both queue one. Partial on
    # both databases (migration 0001 creates it with the same WHERE on PostgreSQL);
    # only SQLite's is declared here, so that a command on SQLite never loads the
    # PostgreSQL dialect (Alembic does not compare the WHERE of an index).
    Index("uq_requests_open_per_staff", "staff_hr_id", unique=True,
          sqlite_where=text(OPEN_STATES_SQL)),
)

#: Append-only; each event's hash covers the previous one's (DESIGN §2).
audit_events = Table(
    "audit_events", metadata,
    # Assigned as previous id + 1 under a lock, never by a sequence: a gap means a
    # deleted event, and the chain order is the id order.
    Column("id", BigId, primary_key=True, autoincrement=False),
    _at("at", index=True),
    Column("actor", String(255), nullable=False, index=True),
    Column("action", String(64), nullable=False),
    Column("target", String(512), nullable=False, index=True),
    Column("details", Text, nullable=False, default="{}"),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # HMAC-SHA256 of `hash` with the audit key, and the key's id (services/audit.py);
    # NULL for an event written without the key (a unit officer, or before the key).
    Column("mac", String(64), nullable=True),
    Column("key_id", String(16), nullable=True),
)
