"""taking over an existing directory: staff email, adopted mailboxes

Revision ID: 0003
Revises: 0002
Create Date: 2027-01-11

Issue 11 (DESIGN §7): `directory adopt` matches existing entries to staff by the
roster's optional email column, kept as `staff.email`; an adopted mailbox records
where it came from (`mailboxes.origin`: created | adopted) and the entry's attributes
as they were when it was taken over (`mailboxes.adopted_attrs`, JSON), which
`reconcile` compares the entry with. Existing rows: no email, created by dnmail.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("email", sa.String(255), nullable=False, server_default=""))
    with op.batch_alter_table("mailboxes") as batch:
        batch.add_column(
            sa.Column("origin", sa.String(16), nullable=False, server_default="created")
        )
        batch.add_column(sa.Column("adopted_attrs", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailboxes") as batch:
        batch.drop_column("adopted_attrs")
        batch.drop_column("origin")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("email")
