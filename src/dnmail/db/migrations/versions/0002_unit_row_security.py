"""unit roles and row-level security (PostgreSQL only)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05

Letter 271/STTTT-CNTT: each unit acts for its own staff only. On a shared PostgreSQL a
unit officer connects with a database role of its own (`dnmail db grant UNIT --role
NAME`), and the server itself keeps it to its unit's rows, whatever client it uses:

- `unit_roles` maps a role to its unit; each role sees only its own mapping row;
- staff, mailboxes, requests, slips: a unit role reads its unit's rows only;
- requests: it inserts pending requests for its own staff (and its own slips), and
  updates only its unit's open requests, only to `withdrawn`;
- slips: it inserts slips of its own unit;
- audit_events: it appends events in its unit account's name; it reads every row
  (the chain needs the head), but `db grant` gives it the columns id and hash only.

What a unit role may do at all (SELECT, INSERT, UPDATE of which columns) is given by
`db grant`; these policies narrow it to rows. The tables' owner (IID's service role)
is not subject to them (no FORCE ROW LEVEL SECURITY), nor is a superuser.

Policy expressions are stored parsed: the `unit_roles` they name is this schema's
table, whatever search_path (or temporary table) a unit role later sets up.

SQLite: nothing to do. One file on one host; its permissions are the boundary
(docs/security.md).
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: The unit of the role running the statement (NULL for a role with no mapping).
OWN_UNIT = "(SELECT r.unit_code FROM unit_roles r WHERE r.role_name = current_user)"
OPEN_STATES = "('pending', 'failed')"

TABLES = ("staff", "mailboxes", "requests", "slips", "audit_events", "unit_roles")

POLICIES = {
    "unit_roles": [
        "CREATE POLICY unit_roles_own ON unit_roles FOR SELECT USING (role_name = current_user)",
    ],
    "staff": [
        f"CREATE POLICY staff_unit_read ON staff FOR SELECT USING (unit_code = {OWN_UNIT})",
    ],
    "mailboxes": [
        f"CREATE POLICY mailboxes_unit_read ON mailboxes FOR SELECT "
        f"USING (unit_code = {OWN_UNIT})",
    ],
    "slips": [
        f"CREATE POLICY slips_unit_read ON slips FOR SELECT USING (unit_code = {OWN_UNIT})",
        f"CREATE POLICY slips_unit_import ON slips FOR INSERT "
        f"WITH CHECK (unit_code = {OWN_UNIT})",
    ],
    "requests": [
        f"CREATE POLICY requests_unit_read ON requests FOR SELECT "
        f"USING (unit_code = {OWN_UNIT})",
        # Step 2 of the letter: a unit sends requests for its own staff, pending.
        f"CREATE POLICY requests_unit_create ON requests FOR INSERT WITH CHECK ("
        f"unit_code = {OWN_UNIT} AND state = 'pending' AND attempts = 0 "
        f"AND mailbox_id IS NULL AND handled_by IS NULL AND handled_at IS NULL "
        f"AND EXISTS (SELECT 1 FROM staff s WHERE s.hr_id = requests.staff_hr_id "
        f"AND s.unit_code = {OWN_UNIT}) "
        f"AND (requests.slip_id IS NULL OR EXISTS (SELECT 1 FROM slips sl "
        f"WHERE sl.id = requests.slip_id AND sl.unit_code = {OWN_UNIT})))",
        # ... and may take back its own open request; nothing else (done, failed,
        # rejected are IID's).
        f"CREATE POLICY requests_unit_withdraw ON requests FOR UPDATE "
        f"USING (unit_code = {OWN_UNIT} AND state IN {OPEN_STATES}) "
        f"WITH CHECK (unit_code = {OWN_UNIT} AND state = 'withdrawn')",
    ],
    "audit_events": [
        "CREATE POLICY audit_chain_read ON audit_events FOR SELECT USING (true)",
        f"CREATE POLICY audit_unit_append ON audit_events FOR INSERT WITH CHECK ("
        f"actor = (SELECT u.account FROM units u WHERE u.code = {OWN_UNIT}))",
    ],
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE unit_roles ("
        " role_name VARCHAR(63) NOT NULL,"
        " unit_code VARCHAR(32) NOT NULL,"
        " CONSTRAINT pk_unit_roles PRIMARY KEY (role_name),"
        " CONSTRAINT fk_unit_roles_unit_code_units FOREIGN KEY (unit_code)"
        " REFERENCES units (code))"
    )
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        for statement in POLICIES[table]:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        for statement in POLICIES[table]:
            name = statement.split()[2]
            op.execute(f"DROP POLICY IF EXISTS {name} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute("DROP TABLE unit_roles")
