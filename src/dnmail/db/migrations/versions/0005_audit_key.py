"""keyed audit trail: MAC and key id per event; audit rows never updated or deleted

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Issue 12 §6. Each event gets `mac` (HMAC-SHA256 of its hash with the audit key, which
is a file and never in the database) and `key_id`. Existing events keep NULL: they
were written before the key, and are checked by their hash chain up to the first keyed
event, which covers them (services/audit.py); `audit verify` says since which event the
trail is keyed. No row is rewritten.

PostgreSQL: nobody may UPDATE, DELETE or TRUNCATE audit rows through privileges —
PUBLIC, and the tables' owner (IID's application role, which runs `dnmail init`) are
refused them; the trail is appended to only. The owner could grant them back to itself
(it owns the table) and a superuser ignores privileges: docs/security.md says what the
key detects then.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OWNER = (
    "SELECT tableowner FROM pg_tables WHERE tablename = 'audit_events' "
    "AND schemaname = current_schema()"
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        owner = bind.execute(sa.text(OWNER)).scalar_one()
        quoted = bind.dialect.identifier_preparer.quote(owner)
        op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC")
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM {quoted}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        owner = bind.execute(sa.text(OWNER)).scalar_one()
        quoted = bind.dialect.identifier_preparer.quote(owner)
        op.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON audit_events TO {quoted}")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_column("key_id")
        batch_op.drop_column("mac")
