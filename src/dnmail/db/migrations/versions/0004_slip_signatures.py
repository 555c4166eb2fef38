"""slip_signatures: a signed slip is identified by what was signed

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

Issue 12 §2: "never imported twice" compared the SHA-256 of the whole file, so the same
signed slip with one appended byte, or a metadata-only incremental update, was imported
again. Each signature of an imported PDF slip is now kept by the digest of the bytes
its ByteRange covers and by the digest of its signature value, both unique.

Existing slips have no rows here (their signatures were not kept): a file imported
before this revision is still refused by its whole-file hash, a re-dressed copy of it
is not recognised; `signatures.max_age_days` refuses such old slips anyway.

PostgreSQL: row-level security as for `slips` (migration 0002): a unit role reads and
inserts the rows of its own unit; `dnmail db grant` gives it SELECT and INSERT.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OWN_UNIT = "(SELECT r.unit_code FROM unit_roles r WHERE r.role_name = current_user)"
POLICIES = [
    f"CREATE POLICY slip_signatures_unit_read ON slip_signatures FOR SELECT "
    f"USING (unit_code = {OWN_UNIT})",
    f"CREATE POLICY slip_signatures_unit_import ON slip_signatures FOR INSERT "
    f"WITH CHECK (unit_code = {OWN_UNIT})",
]


def upgrade() -> None:
    op.create_table(
        "slip_signatures",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
            nullable=False,
        ),
        sa.Column("slip_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("field_name", sa.String(length=255), nullable=False),
        sa.Column("signed_digest", sa.String(length=64), nullable=False),
        sa.Column("value_digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["slip_id"], ["slips.id"], name=op.f("fk_slip_signatures_slip_id_slips")
        ),
        sa.ForeignKeyConstraint(
            ["unit_code"], ["units.code"], name=op.f("fk_slip_signatures_unit_code_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slip_signatures")),
        sa.UniqueConstraint("signed_digest", name=op.f("uq_slip_signatures_signed_digest")),
        sa.UniqueConstraint("value_digest", name=op.f("uq_slip_signatures_value_digest")),
    )
    with op.batch_alter_table("slip_signatures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slip_signatures_slip_id"), ["slip_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_slip_signatures_unit_code"), ["unit_code"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE slip_signatures ENABLE ROW LEVEL SECURITY")
        for statement in POLICIES:
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("slip_signatures")
