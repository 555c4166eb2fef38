"""Guard rules that a one-line slip would open, held through the CLI on real servers.

Each test here was checked by hand against the mutation named in its docstring: the
mutated code fails it (docs/testing.md lists them). They drive `dnmail` itself (in
process, or as two racing subprocesses), so they test the rule where users meet it.

- the safety brake (DESIGN §4): "more than" a share or a count, of ACTIVE mailboxes;
- one open request per person: a failed request is open too, and the partial unique
  index holds the rule when two processes create at the same instant (PostgreSQL);
- `db grant` refuses every role that row-level security would not hold.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conftest import _pg_connect, cli_runner, seed_staff, seed_units, write_config
from dnmail.config import load_config
from dnmail.db.models import Request
from dnmail.db.session import make_engine

HEADERS = ["Mã hồ sơ", "Họ và tên", "Mã đơn vị", "Phòng ban", "Chức vụ", "Số điện thoại",
           "Trạng thái"]
ACTIVE, RETIRED = "Đang công tác", "Nghỉ hưu"
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Khoa", "Linh", "Minh", "Nam", "Oanh",
         "Phúc", "Quân", "Sơn", "Tâm", "Uyên"]
PEOPLE = [(f"B{i:02d}", f"Nguyễn Văn {g}") for i, g in enumerate(GIVEN)]  # 16 people of snv


def write_roster(path: Path, statuses: dict[str, str]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADERS)
        for hr, name in PEOPLE:
            w.writerow([hr, name, "snv", "Văn phòng", "Chuyên viên", "", statuses.get(hr, ACTIVE)])
    return path


# --- the safety brake --------------------------------------------------------------------


@pytest.fixture
def unit_of_sixteen(rt, cli, config_file, tmp_path):
    """Unit snv: 16 mailboxes, 12 active and 4 locked (B12–B15, retired); the brake set to
    max_lock_share 25 % (the default), max_lock_count 3, min_unit_size 12."""
    assert cli("unit", "add", "snv", "--name", "Sở Nội vụ").code == 0
    r = cli("staff", "import", write_roster(tmp_path / "all-active.csv", {}))
    assert r.code == 0, r
    staff = [a for hr, _ in PEOPLE for a in ("--staff", hr)]
    assert cli("request", "create", "--unit", "snv", *staff).code == 0
    r = cli("--format", "json", "provision", "--handout-dir", tmp_path / "handouts")
    assert r.code == 0, r
    address = {i["hr_id"]: i["address"] for i in r.json()["items"]}
    assert len(address) == 16
    for hr in ("B12", "B13", "B14", "B15"):
        r = cli("lock", address[hr], "--reason", "retired")
        assert r.code == 0, r
    with config_file.open("a", encoding="utf-8") as f:
        f.write("\n[safety]\nmax_lock_count = 3\nmin_unit_size = 12\n")
    return {hr: RETIRED for hr in ("B12", "B13", "B14", "B15")}  # the locked, as HR has them


def test_the_brake_holds_at_more_than_the_share_not_at_it(unit_of_sixteen, cli, tmp_path):
    """Mutations: `n > share * total` → `>=`; `n_locks > max_lock_count` → `>=`.

    3 of the 12 active mailboxes is exactly 25 % and exactly max_lock_count: not more."""
    roster = write_roster(tmp_path / "three.csv",
                          {**unit_of_sixteen, "B00": RETIRED, "B01": RETIRED, "B02": RETIRED})
    dry = cli("--format", "json", "sync", roster)
    assert dry.code == 0, dry
    assert dry.json()["brake"] == [] and dry.json()["counts"]["lock"] == 3
    applied = cli("--format", "json", "sync", roster, "--apply")
    assert applied.code == 0, applied
    assert [a["hr_id"] for a in applied.json()["actions"] if a["kind"] == "lock"] == [
        "B00", "B01", "B02"]
    assert all(a["request_id"] for a in applied.json()["actions"] if a["kind"] == "lock")


def test_the_brake_counts_active_mailboxes_only(unit_of_sixteen, cli, tmp_path):
    """Mutations: locked mailboxes counted in the unit's total (4 of 16 is 25 %, not
    more); `total >= min_unit_size` → `>` (a unit of exactly min_unit_size is held)."""
    roster = write_roster(tmp_path / "four.csv", {**unit_of_sixteen, **dict.fromkeys(
        ("B00", "B01", "B02", "B03"), RETIRED)})
    dry = cli("--format", "json", "sync", roster)
    assert dry.code == 1, dry
    reasons = dry.json()["brake"]
    assert any(r.startswith("unit snv: 4 of its 12 active mailboxes would be locked (33%), "
                            "more than safety.max_lock_share = 25%") for r in reasons), reasons
    assert "4 mailboxes would be locked in this run, more than safety.max_lock_count = 3" in reasons
    r = cli("sync", roster, "--apply")
    assert r.code == 1 and "unit snv: 4 of its 12 active mailboxes" in r.err, r


# --- one open request per person -----------------------------------------------------------


@pytest.fixture
def snv_staff(rt, cli, tmp_path):
    assert cli("unit", "add", "snv", "--name", "Sở Nội vụ").code == 0
    r = cli("staff", "import", write_roster(tmp_path / "roster.csv", {}))
    assert r.code == 0, r


def test_a_failed_request_is_still_open(snv_staff, cli, db_url):
    """Mutation: only `pending` counted as open. A failed request waits for a retry;
    a second request for the same person is refused with the first one named."""
    r = cli("--format", "json", "request", "create", "--unit", "snv", "--staff", "B00")
    assert r.code == 0, r
    [first] = r.json()["requests"]
    engine = make_engine(db_url)
    with engine.begin() as c:
        c.execute(update(Request).where(Request.id == first["id"])
                  .values(state="failed", attempts=1, last_error="directory unreachable"))
    engine.dispose()
    for kind in ("create", "change", "cancel"):
        r = cli("request", "create", "--unit", "snv", "--staff", "B00", "--kind", kind)
        assert r.code == 1, r
        assert f"already has an open create request #{first['id']} (failed)" in r.err, r
    r = cli("--format", "json", "queue", "list", "--status", "failed")
    assert [q["id"] for q in r.json()["items"]] == [first["id"]]


def _request_row(hr: str, state: str) -> dict:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return dict(kind="create", unit_code="snv", staff_hr_id=hr, state=state, attempts=0,
                requested_by="test", created_at=now, updated_at=now)


@pytest.mark.parametrize("first_state", ["pending", "failed"])
def test_the_unique_index_holds_open_requests_of_either_state(snv_staff, db_url, first_state):
    """The partial unique index itself (what holds the rule under a race): a second open
    request beside a pending or failed one is refused by the database; beside a done or
    rejected one it is not."""
    engine = make_engine(db_url)
    try:
        with engine.begin() as c:
            c.execute(insert(Request), [_request_row("B01", "done"),
                                        _request_row("B01", "rejected"),
                                        _request_row("B01", first_state)])
        for state in ("pending", "failed"):
            with pytest.raises(IntegrityError), engine.begin() as c:
                c.execute(insert(Request), [_request_row("B01", state)])
    finally:
        engine.dispose()


# --- the same, raced by two processes on PostgreSQL ----------------------------------------


@pytest.fixture
def pg_world(pg_url, tmp_path):
    """A PostgreSQL database with unit snv and its 16 people; a config without directory."""
    config = write_config(tmp_path / "config.toml", db_url=pg_url)
    engine = make_engine(pg_url)
    with Session(engine) as s, s.begin():
        seed_units(s, ("snv",), config=load_config(config))
        seed_staff(s, [(hr, name, "snv", "Văn phòng", "Chuyên viên", "") for hr, name in PEOPLE])
    engine.dispose()
    return config


def _start_create(config: Path, hr: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dnmail", "--config", str(config), "request", "create",
         "--unit", "snv", "--staff", hr],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def _one_wins(procs: list[subprocess.Popen]) -> str:
    """Exactly one exits 0; the other exits 1 with a clear refusal. Returns that message."""
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append((p.returncode, out, err))
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    [(_, _, err)] = [r for r in results if r[0] == 1]
    assert "Traceback" not in err and "internal error" not in err, err
    assert ("already has an open create request" in err
            or "another request for one of these people was queued at the same moment" in err), err
    return err


def _open_requests(pg_url: str, hr: str) -> int:
    dbname = pg_url.rsplit("/", 1)[1]
    with _pg_connect(dbname) as c:
        return c.execute("SELECT count(*) FROM requests WHERE staff_hr_id = %s "
                         "AND state IN ('pending', 'failed')", (hr,)).fetchone()[0]


@pytest.mark.postgres
@pytest.mark.slow
def test_two_processes_creating_at_once_queue_one_request(pg_world, pg_url):
    """Two `dnmail request create` for the same person started together, five times."""
    for hr in ("B00", "B01", "B02", "B03", "B04"):
        _one_wins([_start_create(pg_world, hr), _start_create(pg_world, hr)])
        assert _open_requests(pg_url, hr) == 1


@pytest.mark.postgres
@pytest.mark.slow
def test_the_index_decides_when_both_checks_pass(pg_world, pg_url):
    """The worst interleaving, forced: both processes have checked that the person has no
    open request and are about to insert (held by a lock this test takes on the table);
    then both insert. The partial unique index refuses the second, which reports the
    race in words (exit 1), never a database error (exit 4). Mutation: the index gone,
    or not counting one of the open states — two open requests."""
    dbname = pg_url.rsplit("/", 1)[1]
    for hr in ("B05", "B06", "B07"):
        with _pg_connect(dbname) as gate:
            gate.autocommit = False
            # SELECT goes through (ACCESS SHARE), INSERT waits (ROW EXCLUSIVE)
            gate.execute("LOCK TABLE requests IN SHARE ROW EXCLUSIVE MODE")
            procs = [_start_create(pg_world, hr), _start_create(pg_world, hr)]
            try:
                _wait_for_inserts_blocked(dbname, 2, procs)
            finally:
                gate.rollback()  # the gate opens: both insert now
        err = _one_wins(procs)
        assert "another request for one of these people was queued at the same moment" in err
        assert _open_requests(pg_url, hr) == 1


def _wait_for_inserts_blocked(dbname: str, n: int, procs, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with _pg_connect(dbname) as c:
        while time.monotonic() < deadline:
            waiting = c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO requests%%'",
                (dbname,),
            ).fetchone()[0]
            if waiting >= n:
                return
            if any(p.poll() is not None for p in procs):
                outs = [p.communicate() for p in procs]
                pytest.fail(f"a process ended before inserting: {outs}")
            time.sleep(0.05)
    pytest.fail(f"the two processes never reached their INSERT within {timeout} s")


# --- db grant: only roles that row-level security holds ---------------------------------------


@pytest.fixture
def grant(pg_url, tmp_path, capsys, monkeypatch):
    """`dnmail db grant …` as IID on a database with unit snv; roles made here are dropped."""
    config = write_config(tmp_path / "admin.toml", db_url=pg_url)
    engine = make_engine(pg_url)
    with Session(engine) as s, s.begin():
        seed_units(s, ("snv",), config=load_config(config))
    engine.dispose()
    run = cli_runner(capsys, monkeypatch, config, explicit=True)
    tag = uuid.uuid4().hex[:8]
    made: list[str] = []
    dbname = pg_url.rsplit("/", 1)[1]

    def make_role(suffix: str, attributes: str = "") -> str:
        role = f"dnmail_{tag}_{suffix}"
        with _pg_connect() as c:
            c.execute(f'CREATE ROLE "{role}" LOGIN {attributes}')
        made.append(role)
        return role

    yield run, make_role, dbname
    with _pg_connect(dbname) as c:
        c.execute("ALTER TABLE requests OWNER TO CURRENT_USER")
        for role in made:
            c.execute(f'DROP OWNED BY "{role}"')
    with _pg_connect() as c:
        for role in made:
            c.execute(f'DROP ROLE IF EXISTS "{role}"')


def _unit_roles(dbname: str) -> list[tuple[str, str]]:
    with _pg_connect(dbname) as c:
        return c.execute("SELECT role_name, unit_code FROM unit_roles").fetchall()


@pytest.mark.postgres
def test_grant_refuses_a_bypassrls_role(grant):
    """Mutation: only `rolsuper` checked (BYPASSRLS forgotten)."""
    run, make_role, dbname = grant
    role = make_role("bypass", "NOSUPERUSER BYPASSRLS")
    r = run("db", "grant", "snv", "--role", role)
    assert r.code == 1, r
    assert f"database role {role} is a superuser or has BYPASSRLS" in r.err, r
    assert _unit_roles(dbname) == []
    with _pg_connect(dbname) as c:
        assert not c.execute("SELECT has_table_privilege(%s, 'staff', 'SELECT')",
                             (role,)).fetchone()[0]


@pytest.mark.postgres
def test_grant_refuses_the_tables_owner(grant):
    """Mutation: the owner check removed (the owner is not subject to row-level
    security unless FORCE is set). IID's service role owns the tables; it is neither a
    superuser nor BYPASSRLS."""
    run, make_role, dbname = grant
    owner = make_role("owner", "NOSUPERUSER NOBYPASSRLS")
    with _pg_connect(dbname) as c:
        c.execute(f'ALTER TABLE requests OWNER TO "{owner}"')
    r = run("db", "grant", "snv", "--role", owner)
    assert r.code == 1, r
    assert f"database role {owner} owns dnmail's tables" in r.err, r
    assert _unit_roles(dbname) == []
    # an ordinary role is granted (the refusals above are not a refusal of everything)
    plain = make_role("plain", "NOSUPERUSER NOBYPASSRLS")
    r = run("db", "grant", "snv", "--role", plain)
    assert r.code == 0, r
    assert _unit_roles(dbname) == [(plain, "snv")]
