"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "audit_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=512), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_target"), ["target"], unique=False)

    op.create_table(
        "units",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column("account", sa.String(length=255), nullable=True),
        sa.Column("branch_dn", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["units.code"], name=op.f("fk_units_parent_code_units")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_units")),
        sa.UniqueConstraint("account", name=op.f("uq_units_account")),
    )
    op.create_table(
        "slips",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=512), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("signer_subject", sa.Text(), nullable=True),
        sa.Column("signer_issuer", sa.Text(), nullable=True),
        sa.Column("signer_serial", sa.String(length=80), nullable=True),
        sa.Column("signer_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("signed_at", sa.DateTime(), nullable=True),
        sa.Column("requester_name", sa.String(length=255), nullable=False),
        sa.Column("requester_position", sa.String(length=255), nullable=False),
        sa.Column("requester_phone", sa.String(length=32), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.Column("imported_by", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["units.code"], name=op.f("fk_slips_unit_code_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slips")),
        sa.UniqueConstraint("sha256", name=op.f("uq_slips_sha256")),
    )
    with op.batch_alter_table("slips", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slips_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "staff",
        sa.Column("hr_id", sa.String(length=64), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=False),
        sa.Column("name_key", sa.String(length=255), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=255), nullable=False),
        sa.Column("position", sa.String(length=255), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("hr_status", sa.String(length=16), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["units.code"], name=op.f("fk_staff_unit_code_units")
        ),
        sa.PrimaryKeyConstraint("hr_id", name=op.f("pk_staff")),
    )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.create_index("ix_staff_unit_name", ["unit_code", "name_key"], unique=False)

    op.create_table(
        "mailboxes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("base", sa.String(length=64), nullable=False),
        sa.Column("staff_hr_id", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("dn", sa.String(length=512), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lock_reason", sa.String(length=16), nullable=True),
        sa.Column("lock_note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("locked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_hr_id"], ["staff.hr_id"], name=op.f("fk_mailboxes_staff_hr_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["units.code"], name=op.f("fk_mailboxes_unit_code_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailboxes")),
        sa.UniqueConstraint("address", name=op.f("uq_mailboxes_address")),
        sa.UniqueConstraint("staff_hr_id", name=op.f("uq_mailboxes_staff_hr_id")),
    )
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mailboxes_base"), ["base"], unique=False)
        batch_op.create_index(batch_op.f("ix_mailboxes_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_mailboxes_unit_code"), ["unit_code"], unique=False)

    op.create_table(
        "requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("staff_hr_id", sa.String(length=64), nullable=False),
        sa.Column("requested_address", sa.String(length=64), nullable=True),
        sa.Column("lock_reason", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("slip_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("handled_by", sa.String(length=255), nullable=True),
        sa.Column(
            "mailbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("handled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"], ["mailboxes.id"], name=op.f("fk_requests_mailbox_id_mailboxes")
        ),
        sa.ForeignKeyConstraint(["slip_id"], ["slips.id"], name=op.f("fk_requests_slip_id_slips")),
        sa.ForeignKeyConstraint(
            ["staff_hr_id"], ["staff.hr_id"], name=op.f("fk_requests_staff_hr_id_staff")
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["units.code"], name=op.f("fk_requests_unit_code_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_requests")),
    )
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_requests_slip_id"), ["slip_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_requests_staff_hr_id"), ["staff_hr_id"], unique=False)
        batch_op.create_index(
            "ix_requests_state_created", ["state", "created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_requests_unit_code"), ["unit_code"], unique=False)
        batch_op.create_index(
            "uq_requests_open_per_staff",
            ["staff_hr_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('pending', 'failed')"),
            postgresql_where=sa.text("state IN ('pending', 'failed')"),
        )


def downgrade() -> None:

    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_requests_open_per_staff",
            sqlite_where=sa.text("state IN ('pending', 'failed')"),
            postgresql_where=sa.text("state IN ('pending', 'failed')"),
        )
        batch_op.drop_index(batch_op.f("ix_requests_unit_code"))
        batch_op.drop_index("ix_requests_state_created")
        batch_op.drop_index(batch_op.f("ix_requests_staff_hr_id"))
        batch_op.drop_index(batch_op.f("ix_requests_slip_id"))

    op.drop_table("requests")
    with op.batch_alter_table("mailboxes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mailboxes_unit_code"))
        batch_op.drop_index(batch_op.f("ix_mailboxes_state"))
        batch_op.drop_index(batch_op.f("ix_mailboxes_base"))

    op.drop_table("mailboxes")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_unit_name")

    op.drop_table("staff")
    with op.batch_alter_table("slips", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slips_unit_code"))

    op.drop_table("slips")
    op.drop_table("units")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_target"))
        batch_op.drop_index(batch_op.f("ix_audit_events_at"))
        batch_op.drop_index(batch_op.f("ix_audit_events_actor"))

    op.drop_table("audit_events")
