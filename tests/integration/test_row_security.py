"""PostgreSQL row-level security (migration 0002, `dnmail db grant`): a unit's own
database role reads and writes only its unit's rows, whatever client it uses.

The first tests are plain SQL through psycopg, connected as the unit role, outside
dnmail; the last ones run dnmail itself with a config holding the role's URL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import psycopg
import pytest
from psycopg import errors as pgerr
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import _pg_connect, cli_runner, seed_staff, seed_units, write_config
from dnmail.config import load_config
from dnmail.db.models import AuditEvent, Mailbox, Request, Slip
from dnmail.db.session import make_engine
from dnmail.domain.states import RequestKind
from dnmail.services.requests import NewRequest, create_requests

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
SNV = "snv@danang.gov.vn"


@pytest.fixture
def shared(pg_url, tmp_path, capsys, monkeypatch):
    """The shared database: two units with staff, a mailbox, a slip and an open request
    each; a role for each unit granted by `dnmail db grant` (as IID)."""
    engine = make_engine(pg_url)
    admin_cfg = write_config(tmp_path / "admin.toml", db_url=pg_url)
    cfg = load_config(admin_cfg)
    ids = {}
    with Session(engine) as s, s.begin():
        seed_units(s, config=cfg)
        seed_staff(s, [
            ("S1", "Nguyễn Văn An", "snv", "", "", "0905000001"),
            ("S2", "Lê Thị Bình", "snv", "", "", "0905000002"),
            ("S3", "Phạm Văn Cường", "snv", "", "", "0905000005"),
            ("G1", "Trần Văn Cường", "sgtvt", "", "", "0905000003"),
            ("G2", "Hoàng Thị Dung", "sgtvt", "", "", "0905000004"),
        ])
        for hr, local, unit in (("S2", "binhlt", "snv"), ("G2", "dunght", "sgtvt")):
            s.add(Mailbox(address=local, base=local, staff_hr_id=hr, unit_code=unit,
                          dn=f"uid={local},ou={unit},ou=people,dc=x", state="active",
                          created_at=NOW, updated_at=NOW))
            s.add(Slip(sha256=uuid.uuid4().hex * 2, file_name=f"{unit}.pdf", format="pdf",
                       unit_code=unit, verdict="valid", imported_at=NOW, imported_by="iid-admin"))
        s.flush()
        for unit, hr in (("snv", "S1"), ("sgtvt", "G1")):
            (v,) = create_requests(session=s, config=cfg, unit=unit,
                                   items=[NewRequest(hr, RequestKind.CREATE)],
                                   actor="iid-admin", now=NOW)
            ids[unit] = v.id
    run = cli_runner(capsys, monkeypatch, admin_cfg, explicit=True)
    tag = uuid.uuid4().hex[:8]
    roles = {unit: f"dnmail_{tag}_{unit}" for unit in ("snv", "sgtvt")}
    try:
        for unit, role in roles.items():
            r = run("db", "grant", unit, "--role", role, "--create-role")
            assert r.code == 0, r
        yield SimpleNamespace(
            url=pg_url, engine=engine, roles=roles, requests=ids, run=run, tmp=tmp_path,
            capsys=capsys, monkeypatch=monkeypatch,
            role_url=lambda unit: pg_url.replace("postgres@", f"{roles[unit]}@", 1),
        )
    finally:
        engine.dispose()
        dbname = pg_url.rsplit("/", 1)[1]
        with _pg_connect(dbname) as c:
            for role in roles.values():
                c.execute(f'DROP OWNED BY "{role}"')
        with _pg_connect() as c:
            for role in roles.values():
                c.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def snv(shared):
    """A plain psycopg connection as the snv role: no dnmail code in between."""
    with psycopg.connect(shared.role_url("snv"), autocommit=True) as conn:
        yield conn


def column(conn, sql, *args):
    return [r[0] for r in conn.execute(sql, args).fetchall()]


def owner_sees(shared, model, **where):
    with Session(shared.engine) as s:
        return s.scalars(select(model).filter_by(**where)).all()


# --- plain SQL as the unit role --------------------------------------------------------


def test_a_unit_role_reads_its_own_units_rows_only(shared, snv):
    assert set(column(snv, "SELECT unit_code FROM staff")) == {"snv"}
    assert column(snv, "SELECT address FROM mailboxes") == ["binhlt"]
    assert column(snv, "SELECT unit_code FROM requests") == ["snv"]
    assert column(snv, "SELECT unit_code FROM slips") == ["snv"]
    assert column(snv, "SELECT count(*) FROM staff WHERE hr_id = 'G1'") == [0]
    assert sorted(column(snv, "SELECT code FROM units")) == ["sgtvt", "snv"]  # names: public
    assert column(snv, "SELECT unit_code FROM unit_roles") == ["snv"]
    # The audit chain: the head's id and hash (to link to it), nothing else.
    assert len(snv.execute("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1")
               .fetchall()) == 1
    with pytest.raises(pgerr.InsufficientPrivilege):
        snv.execute("SELECT actor, details FROM audit_events")


def test_a_unit_role_cannot_change_another_units_rows(shared, snv):
    theirs = shared.requests["sgtvt"]
    cur = snv.execute("UPDATE requests SET state = 'withdrawn' WHERE id = %s", (theirs,))
    assert cur.rowcount == 0
    cur = snv.execute("UPDATE requests SET state = 'withdrawn' WHERE unit_code = 'sgtvt'")
    assert cur.rowcount == 0
    assert [r.state for r in owner_sees(shared, Request, unit_code="sgtvt")] == ["pending"]


@pytest.mark.parametrize("state", ["done", "rejected", "failed", "pending"])
def test_a_unit_role_cannot_mark_its_own_request_anything_but_withdrawn(shared, snv, state):
    ours = shared.requests["snv"]
    with pytest.raises(pgerr.InsufficientPrivilege, match="row-level security"):
        snv.execute("UPDATE requests SET state = %s WHERE id = %s", (state, ours))
    with pytest.raises(pgerr.InsufficientPrivilege, match="permission denied"):
        snv.execute("UPDATE requests SET attempts = 9, kind = 'cancel' WHERE id = %s", (ours,))
    assert snv.execute("UPDATE requests SET state = 'withdrawn', handled_by = %s "
                       "WHERE id = %s", (SNV, ours)).rowcount == 1
    # ... once: a withdrawn request is no longer open.
    assert snv.execute("UPDATE requests SET state = 'withdrawn' WHERE id = %s",
                       (ours,)).rowcount == 0


INSERT_REQUEST = (
    "INSERT INTO requests (kind, unit_code, staff_hr_id, state, attempts, requested_by, "
    "created_at, updated_at, slip_id) VALUES ('create', %s, %s, %s, 0, %s, now(), now(), %s)"
)


@pytest.mark.parametrize("unit, hr, state, slip_unit", [
    ("sgtvt", "G2", "pending", None),  # another unit's request
    ("snv", "G2", "pending", None),  # another unit's person under its own code
    ("snv", "S3", "done", None),  # its own, already "done"
    ("snv", "S3", "pending", "sgtvt"),  # its own, on another unit's slip
], ids=["other-unit", "other-units-staff", "done", "other-units-slip"])
def test_a_unit_role_cannot_insert_a_request_for_another_unit(shared, snv, unit, hr, state,
                                                            slip_unit):
    slip = owner_sees(shared, Slip, unit_code=slip_unit)[0].id if slip_unit else None
    with pytest.raises(pgerr.InsufficientPrivilege, match="row-level security"):
        snv.execute(INSERT_REQUEST, (unit, hr, state, SNV, slip))
    # The same insert for its own staff, pending, goes in.
    snv.execute(INSERT_REQUEST, ("snv", "S3", "pending", SNV, None))
    assert len(owner_sees(shared, Request, staff_hr_id="S3")) == 1


@pytest.mark.parametrize("sql", [
    "UPDATE mailboxes SET state = 'locked' WHERE address = 'binhlt'",
    "UPDATE mailboxes SET state = 'locked'",
    "DELETE FROM mailboxes",
    "INSERT INTO mailboxes (address, base, staff_hr_id, unit_code, dn, state, created_at, "
    "updated_at) VALUES ('x', 'x', 'S3', 'snv', 'uid=x', 'active', now(), now())",
    "UPDATE staff SET unit_code = 'snv' WHERE hr_id = 'G1'",
    "INSERT INTO staff (hr_id, full_name, name_key, unit_code, department, position, phone, "
    "hr_status, created_at, updated_at) VALUES ('X', 'X', 'x', 'snv', '', '', '', 'active', "
    "now(), now())",
    "DELETE FROM requests",
    "UPDATE units SET account = 'x@danang.gov.vn'",
    "INSERT INTO unit_roles (role_name, unit_code) VALUES (current_user || 'x', 'sgtvt')",
    "UPDATE unit_roles SET unit_code = 'sgtvt'",
    "UPDATE audit_events SET actor = 'x'",
    "DELETE FROM audit_events",
    "UPDATE slips SET unit_code = 'snv'",
], ids=lambda sql: " ".join(sql.split()[:3]))
def test_a_unit_role_cannot_write_what_is_iids(shared, snv, sql):
    with pytest.raises(pgerr.InsufficientPrivilege, match="permission denied"):
        snv.execute(sql)
    assert [m.state for m in owner_sees(shared, Mailbox)] == ["active", "active"]


def test_a_unit_role_appends_audit_events_in_its_own_name_only(shared, snv):
    head_id, head = snv.execute(
        "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1").fetchone()
    insert = ("INSERT INTO audit_events (id, at, actor, action, target, details, prev_hash, "
              "hash) VALUES (%s, now(), %s, 'mailbox.lock', 'mailbox:dunght', '{}', %s, %s)")
    with pytest.raises(pgerr.InsufficientPrivilege, match="row-level security"):
        snv.execute(insert, (head_id + 1, "iid-admin", head, "0" * 64))
    snv.execute(insert, (head_id + 1, SNV, head, "0" * 64))  # a forged hash: audit verify
    r = shared.run("audit", "verify")  # names it (exit 3)
    assert r.code == 3 and f"event #{head_id + 1}" in r.err, r


def test_a_temporary_table_cannot_change_what_unit_a_role_is(shared, snv):
    """Policies are stored parsed: `unit_roles` in them is dnmail's table, not whatever a
    role puts first on its search_path."""
    snv.execute("CREATE TEMP TABLE unit_roles (role_name text, unit_code text)")
    snv.execute("INSERT INTO pg_temp.unit_roles VALUES (current_user, 'sgtvt')")
    snv.execute("SET search_path = pg_temp, public")
    assert set(column(snv, "SELECT unit_code FROM staff")) == {"snv"}


def test_a_role_without_a_unit_sees_nothing(shared):
    """Privileges granted by hand, but no unit in unit_roles: refused or nothing."""
    role = f"{shared.roles['snv']}_x"
    dbname = shared.url.rsplit("/", 1)[1]
    with _pg_connect(dbname) as c:
        c.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            c.execute(f'GRANT SELECT ON staff, requests TO "{role}"')
            url = shared.url.replace("postgres@", f"{role}@", 1)
            with psycopg.connect(url, autocommit=True) as conn:
                with pytest.raises(pgerr.InsufficientPrivilege, match="unit_roles"):
                    conn.execute("SELECT hr_id FROM staff")
            c.execute(f'GRANT SELECT ON unit_roles TO "{role}"')
            with psycopg.connect(url, autocommit=True) as conn:
                assert column(conn, "SELECT hr_id FROM staff") == []
                assert column(conn, "SELECT id FROM requests") == []
        finally:
            c.execute(f'DROP OWNED BY "{role}"')
            c.execute(f'DROP ROLE "{role}"')


# --- dnmail, run as the unit role --------------------------------------------------------


@pytest.fixture
def as_unit(shared):
    """`dnmail` with the snv officer's own config: the role's URL, no password in it."""
    cfg = write_config(shared.tmp / "snv.toml", db_url=shared.role_url("snv"))
    return cli_runner(shared.capsys, shared.monkeypatch, cfg, explicit=True)


def test_dnmail_as_the_unit_role_lists_and_queues_for_its_unit(shared, as_unit):
    r = as_unit("--as", SNV, "--format", "json", "staff", "list")
    assert r.code == 0, r
    assert sorted(x["hr_id"] for x in r.json()) == ["S1", "S2", "S3"]
    r = as_unit("--as", SNV, "--format", "json", "request", "create", "--unit", "snv",
                "--staff", "S3")
    assert r.code == 0, r
    new = r.json()["requests"][0]["id"]
    r = as_unit("--as", SNV, "--format", "json", "queue", "list")
    assert r.code == 0, r
    assert [x["id"] for x in r.json()["items"]] == [shared.requests["snv"], new]
    assert as_unit("--as", SNV, "request", "withdraw", new).code == 0
    out = shared.tmp / "issued.csv"
    assert as_unit("--as", SNV, "export", "issued", "-o", out).code == 0
    assert "binhlt" in out.read_text(encoding="utf-8-sig")
    # Its events are in the one chain, in its name, and the chain holds.
    events = [e.actor for e in owner_sees(shared, AuditEvent)][-3:]
    assert events == [SNV, SNV, SNV]
    assert shared.run("audit", "verify").code == 0


def test_dnmail_as_the_unit_role_imports_its_units_slip(shared, as_unit):
    from support.workbooks import write_slip_xlsx

    slip = write_slip_xlsx(shared.tmp / "slip.xlsx", [("Phạm Văn Cường", "", "0905000005")])
    r = as_unit("--as", SNV, "--format", "json", "request", "import", slip)
    assert r.code == 0, r
    (made,) = r.json()["files"][0]["requests"]
    (stored,) = owner_sees(shared, Request, id=made["id"])
    assert (stored.unit_code, stored.staff_hr_id, stored.state) == ("snv", "S3", "pending")
    assert [s.unit_code for s in owner_sees(shared, Slip, id=stored.slip_id)] == ["snv"]
    assert shared.run("audit", "verify").code == 0


def test_dnmail_as_the_unit_role_cannot_reach_another_unit(shared, as_unit):
    # Another unit's request does not exist for this role: not found (exit 2).
    r = as_unit("--as", SNV, "request", "withdraw", shared.requests["sgtvt"])
    assert r.code == 2 and "does not exist" in r.err, r


@pytest.mark.parametrize("argv", [
    ["request", "reject", "REQ", "--reason", "x"],
    ["lock", "binhlt", "--reason", "retired"],
    ["unit", "add", "stttt", "--name", "Sở TTTT"],
    ["db", "grant", "snv", "--role", "dnmail_other", "--create-role"],
], ids=lambda a: a[0] + " " + a[1])
def test_claiming_to_be_iid_in_its_own_config_does_not_help(shared, as_unit, argv):
    """The unit's own config may list itself as an administrator: the database still
    says no (exit 1), and nothing changes."""
    argv = [str(shared.requests["snv"]) if a == "REQ" else a for a in argv]
    before = len(owner_sees(shared, AuditEvent))
    r = as_unit("--verbose", "--as", "iid-admin", *argv)
    assert r.code == 1, r
    assert "refused" in r.err and "Traceback" not in r.err
    assert len(owner_sees(shared, AuditEvent)) == before
    assert [m.state for m in owner_sees(shared, Mailbox)] == ["active", "active"]
    r = as_unit("--as", "iid-admin", "--format", "json", "queue", "list", "--status", "all")
    assert {x["unit"] for x in r.json()["items"]} == {"snv"}


# --- dnmail db grant -----------------------------------------------------------------------


def test_grant_is_idempotent_and_refuses_roles_rls_would_not_hold(shared):
    run, snv_role = shared.run, shared.roles["snv"]
    r = run("db", "grant", "snv", "--role", snv_role)
    assert r.code == 0 and "already did" in r.err, r
    r = run("db", "grant", "sgtvt", "--role", snv_role)
    assert r.code == 1 and "already acts for unit snv" in r.err, r
    r = run("db", "grant", "snv", "--role", "postgres")
    assert r.code == 1 and "superuser" in r.err, r
    r = run("db", "grant", "snv", "--role", f"{snv_role}_missing")
    assert r.code == 2 and "--create-role" in r.err, r
    r = run("db", "grant", "snv", "--role", 'x"; DROP TABLE staff; --')
    assert r.code == 2 and "not valid" in r.err, r
    r = run("db", "grant", "nosuch", "--role", snv_role)
    assert r.code == 2, r


# --- the audit trail is appended to only (issue 12 §6) ---------------------------------


@pytest.fixture
def app_role_database(tmp_path, capsys, monkeypatch):
    """A database owned by a plain LOGIN role — IID's application role, not a superuser
    — and initialised by dnmail connected as that role, as in production."""
    from conftest import PG_ADMIN_URL, _pg_connect

    try:
        _pg_connect().close()
    except Exception:
        pytest.skip("PostgreSQL is not available")
    tag = uuid.uuid4().hex[:8]
    role, db = f"dnmail_app_{tag}", f"dnmail_app_{tag}"
    with _pg_connect() as c:
        c.execute(f'CREATE ROLE "{role}" LOGIN')
        c.execute(f'CREATE DATABASE "{db}" OWNER "{role}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgres@", f"{role}@", 1) + "/" + db
    config = write_config(tmp_path / "app.toml", db_url=url)
    run = cli_runner(capsys, monkeypatch, config, explicit=True)
    try:
        yield url, run
    finally:
        with _pg_connect() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            c.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_the_application_role_cannot_update_or_delete_audit_events(app_role_database):
    url, run = app_role_database
    assert run("init", "--skip-directory").code == 0
    assert run("unit", "add", "snv", "--name", "Sở Nội vụ").code == 0  # it appends
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:
        assert conn.execute("SELECT tableowner = current_user FROM pg_tables "
                            "WHERE tablename = 'audit_events'").fetchone()[0] is True
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
                            ).fetchone()[0] is False
        for statement in ("UPDATE audit_events SET details = '{}'",
                          "DELETE FROM audit_events",
                          "TRUNCATE audit_events"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 1
    assert run("audit", "verify").code == 0
