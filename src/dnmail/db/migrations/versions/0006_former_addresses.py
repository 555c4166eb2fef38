"""former addresses: every address a mailbox had before a rename

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

Issue 14. A rename (`request create --kind change --address NEW`, then `provision`)
keeps the old address as the entry's alias (mailLocalAddress) and records it here with
the dates it was the mailbox's address. An address once given out is never given to
anyone else: allocation and the requested-address checks count these as taken.

PostgreSQL: a unit role reads the former addresses of its own unit's mailboxes only
(the mailboxes policy applies inside the subquery); `db grant` gives it SELECT.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

POLICY = (
    "CREATE POLICY former_addresses_unit_read ON former_addresses FOR SELECT "
    "USING (EXISTS (SELECT 1 FROM mailboxes m WHERE m.id = former_addresses.mailbox_id))"
)


def upgrade() -> None:
    op.create_table(
        "former_addresses",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "mailbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("base", sa.String(length=64), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column(
            "request_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_former_addresses_mailbox_id_mailboxes"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["requests.id"],
            name=op.f("fk_former_addresses_request_id_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_former_addresses")),
        sa.UniqueConstraint("address", name=op.f("uq_former_addresses_address")),
    )
    op.create_index(op.f("ix_former_addresses_base"), "former_addresses", ["base"])
    op.create_index(op.f("ix_former_addresses_mailbox_id"), "former_addresses", ["mailbox_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE former_addresses ENABLE ROW LEVEL SECURITY")
        op.execute(POLICY)


def downgrade() -> None:
    op.drop_index(op.f("ix_former_addresses_mailbox_id"), table_name="former_addresses")
    op.drop_index(op.f("ix_former_addresses_base"), table_name="former_addresses")
    op.drop_table("former_addresses")
