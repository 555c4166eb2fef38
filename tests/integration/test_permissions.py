"""Operators through the real CLI: a unit officer (its unit's official account) lists,
exports, requests, withdraws and resets for its own unit only; everything else is for
IID administrators. A refusal exits 1, names the missing right, and changes nothing.

SQLite with no directory behind: every refusal happens before the directory is needed.
What the servers enforce on their own is in test_directory_acl.py, test_unit_officers.py
(slapd) and test_row_security.py (PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import cli_runner, seed_staff, seed_units, write_config
from dnmail.config import load_config
from dnmail.db import migrate
from dnmail.db.models import AuditEvent, Base, Mailbox, Request
from dnmail.db.session import make_engine
from dnmail.domain.states import RequestKind
from dnmail.services.requests import NewRequest, create_requests
from support.commands import all_commands
from support.workbooks import write_slip_xlsx

SNV = "snv@danang.gov.vn"
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path):
    url = f"sqlite:///{tmp_path / 'dnmail.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    config = write_config(
        tmp_path / "config.toml", db_url=url,
        extra='[operator]\nadmins = ["iid-admin", "cron"]\n',
    )
    cfg = load_config(config)
    with Session(engine) as s, s.begin():
        seed_units(s, config=cfg)
        seed_staff(s, [
            ("S1", "Nguyễn Văn An", "snv", "Văn phòng", "Chuyên viên", "0905000001"),
            ("S2", "Lê Thị Bình", "snv", "Văn phòng", "Chuyên viên", "0905000002"),
            ("S3", "Phạm Văn Cường", "snv", "Văn phòng", "Chuyên viên", "0905000005"),
            ("G1", "Trần Văn Cường", "sgtvt", "Phòng Kế hoạch", "Chuyên viên", "0905000003"),
            ("G2", "Hoàng Thị Dung", "sgtvt", "Văn phòng", "Kế toán", "0905000004"),
        ])
        for hr, local, unit in (("S2", "binhlt", "snv"), ("G2", "dunght", "sgtvt")):
            s.add(Mailbox(
                address=local, base=local, staff_hr_id=hr, unit_code=unit,
                dn=f"uid={local},ou={unit},ou=people,dc=danang,dc=gov,dc=vn", state="active",
                created_at=NOW, updated_at=NOW,
            ))
        s.flush()
        for unit, hr in (("sgtvt", "G1"), ("snv", "S1")):
            create_requests(
                session=s,
                config=cfg,
                unit=unit,
                items=[NewRequest(hr, RequestKind.CREATE)],
                actor="iid-admin",
                now=NOW,
            )
    yield engine, config, tmp_path
    engine.dispose()


@pytest.fixture
def run(world, capsys, monkeypatch):
    return cli_runner(capsys, monkeypatch, world[1])


def counts(engine) -> dict[str, int]:
    with Session(engine) as s:
        return {
            t.name: s.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
        }


def request_of(engine, unit: str) -> int:
    with Session(engine) as s:
        return s.scalar(select(Request.id).where(Request.unit_code == unit))


def admin_only_commands(tmp_path) -> dict[str, list[str]]:
    roster = tmp_path / "roster.csv"
    roster.write_text("Mã hồ sơ,Họ và tên\n", encoding="utf-8")
    return {
        "dnmail init": ["init"],
        "dnmail unit add": ["unit", "add", "stttt", "--name", "Sở TTTT"],
        "dnmail unit set-password": ["unit", "set-password", "snv"],
        "dnmail db grant": ["db", "grant", "snv", "--role", "dnmail_snv"],
        "dnmail staff import": ["staff", "import", roster],
        "dnmail request reject": ["request", "reject", "1", "--reason", "thiếu chữ ký"],
        "dnmail provision": ["provision"],
        "dnmail lock": ["lock", "binhlt", "--reason", "retired"],
        "dnmail unlock": ["unlock", "binhlt"],
        "dnmail sync": ["sync", roster, "--apply"],
        "dnmail reconcile": ["reconcile", "--unit", "snv"],
        "dnmail export audit": ["export", "audit", "-o", tmp_path / "audit.csv"],
        "dnmail audit list": ["audit", "list"],
        "dnmail audit verify": ["audit", "verify"],
        "dnmail directory adopt": ["directory", "adopt", "--apply", "--tag"],
        "dnmail directory link": ["directory", "link", "binhlt", "G1"],
    }


LABELS = {
    "dnmail init": "initialising the database and the directory",
    "dnmail unit add": "adding units",
    "dnmail unit set-password": "setting a unit account's password",
    "dnmail db grant": "granting database roles",
    "dnmail staff import": "importing the HR roster",
    "dnmail request reject": "rejecting requests",
    "dnmail provision": "provisioning",
    "dnmail lock": "locking mailboxes",
    "dnmail unlock": "unlocking mailboxes",
    "dnmail sync": "syncing the HR roster",
    "dnmail reconcile": "reconciling the database with the directory",
    "dnmail export audit": "exporting the audit trail",
    "dnmail audit list": "reading the audit trail",
    "dnmail audit verify": "reading the audit trail",
    "dnmail directory adopt": "taking over directory entries",
    "dnmail directory link": "taking over directory entries",
}

#: Commands a unit officer may run (for its own unit), and the blank form anyone may.
OFFICER_COMMANDS = {
    "dnmail unit list",
    "dnmail staff list",
    "dnmail request create",
    "dnmail request import",
    "dnmail request withdraw",
    "dnmail queue list",
    "dnmail reset-password",
    "dnmail export issued",
    "dnmail export pending",
    "dnmail export locked",
    "dnmail mailbox show",
}
#: Neither database nor directory of the configuration: a throw-away server, files to write.
NO_DATA = {
    "dnmail template slip",
    "dnmail local start",
    "dnmail local stop",
    "dnmail local status",
    "dnmail deploy render",
}


def test_every_command_is_classified(tmp_path):
    """A new command must be placed here, with its right (services/operators.py)."""
    from dnmail.cli.main import app

    listed = set(admin_only_commands(tmp_path)) | OFFICER_COMMANDS | NO_DATA
    assert {path for path, _ in all_commands(app)} == listed


@pytest.mark.parametrize("command", sorted(LABELS))
def test_an_officer_is_refused_every_iid_command_and_nothing_changes(world, run, command):
    engine, _, tmp_path = world
    argv = admin_only_commands(tmp_path)[command]
    before = counts(engine)
    r = run("--verbose", "--as", SNV, *argv)
    assert r.code == 1, r
    assert (
        f"error: {SNV} is a unit officer of snv: {LABELS[command]} is for IID administrators"
        in " ".join(r.err.split())
    )
    assert "Traceback" not in r.err
    assert counts(engine) == before
    assert not (tmp_path / "audit.csv").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["staff", "list", "--unit", "sgtvt"],
        ["queue", "list", "--unit", "SGTVT"],
        ["request", "create", "--unit", "sgtvt", "--staff", "G2", "--kind", "cancel"],
        ["request", "import", "SLIP", "--unit", "sgtvt"],
        ["export", "issued", "--unit", "sgtvt", "-o", "OUT"],
        ["export", "pending", "--unit", "sgtvt", "-o", "OUT"],
        ["export", "locked", "--unit", "sgtvt", "-o", "OUT"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_an_officer_cannot_act_for_another_unit(world, run, argv):
    engine, _, tmp_path = world
    slip = write_slip_xlsx(tmp_path / "slip.xlsx", [("Trần Văn Cường", "Phòng Kế hoạch")])
    out = tmp_path / "out.csv"
    argv = [slip if a == "SLIP" else out if a == "OUT" else a for a in argv]
    before = counts(engine)
    r = run("--as", SNV, *argv)
    assert r.code == 1, r
    assert f"{SNV} is a unit officer of snv: cannot act for unit sgtvt" in " ".join(r.err.split())
    assert counts(engine) == before and not out.exists()


def test_an_officer_cannot_withdraw_reset_or_show_for_another_unit(world, run):
    engine, _, _ = world
    theirs = request_of(engine, "sgtvt")
    before = counts(engine)
    r = run("--as", SNV, "request", "withdraw", theirs)
    assert r.code == 1, r
    assert f"cannot act for unit sgtvt (request #{theirs})" in r.err
    r = run("--as", SNV, "reset-password", "dunght@danang.gov.vn")
    assert r.code == 1, r
    assert "unit officer of snv: cannot act for unit sgtvt (dunght@danang.gov.vn)" in r.err
    r = run("--as", SNV, "mailbox", "show", "dunght@danang.gov.vn")
    assert r.code == 1, r
    assert "cannot act for unit sgtvt (mailbox dunght@danang.gov.vn)" in " ".join(r.err.split())
    assert "dunght" not in r.out
    r = run("--as", SNV, "--format", "json", "mailbox", "show", "binhlt")
    assert r.code == 0, r
    assert r.json()["address"] == "binhlt@danang.gov.vn" and r.json()["unit"] == "snv"
    assert counts(engine) == before


def test_an_officer_sees_and_exports_its_own_unit_only(world, run):
    _, _, tmp_path = world
    r = run("--as", SNV, "--format", "json", "staff", "list")
    assert r.code == 0, r
    assert {x["unit"] for x in r.json()} == {"snv"} and len(r.json()) == 3
    r = run("--as", SNV, "--format", "json", "queue", "list", "--status", "all")
    assert r.code == 0, r
    assert [x["unit"] for x in r.json()["items"]] == ["snv"]
    out = tmp_path / "issued.csv"
    assert run("--as", SNV, "export", "issued", "-o", out).code == 0
    text = out.read_text(encoding="utf-8-sig")
    assert "binhlt@danang.gov.vn" in text and "dunght" not in text
    assert run("--as", SNV, "unit", "list").code == 0


def test_an_officer_queues_and_withdraws_for_its_unit_and_the_audit_names_it(world, run):
    engine, _, _ = world
    r = run(
        "--as",
        "SNV@danang.gov.vn",
        "--format",
        "json",
        "request",
        "create",
        "--unit",
        "snv",
        "--staff",
        "S3",
    )
    assert r.code == 0, r
    rid = r.json()["requests"][0]["id"]
    assert run("--as", SNV, "request", "withdraw", rid).code == 0
    with Session(engine) as s:
        events = s.execute(
            select(AuditEvent.actor, AuditEvent.action).order_by(AuditEvent.id.desc()).limit(2)
        ).all()
    assert events == [(SNV, "request.withdraw"), (SNV, "request.create")]


def test_the_configured_account_is_the_operator(world, capsys, monkeypatch):
    engine, config, tmp_path = world
    text = config.read_text(encoding="utf-8").replace(
        "[operator]\n", f'[operator]\naccount = "{SNV}"\n'
    )
    other = tmp_path / "officer.toml"
    other.write_text(text, encoding="utf-8")
    run = cli_runner(capsys, monkeypatch, other)
    r = run("provision")
    assert r.code == 1 and "provisioning is for IID administrators" in r.err
    assert run("--as", "cron", "queue", "list").code == 0  # --as wins over the config


@pytest.mark.parametrize("account", ["stranger", "snvx@danang.gov.vn", "iid-hanh"])
def test_an_unknown_operator_is_refused_before_anything(world, run, account):
    engine, _, _ = world
    before = counts(engine)
    r = run("--as", account, "queue", "list")
    assert r.code == 1, r
    assert "is neither a unit's official account nor an IID administrator" in r.err
    assert "[operator] admins" in r.err
    assert counts(engine) == before


def test_admins_do_everything_for_every_unit(world, run):
    assert run("--as", "cron", "staff", "list", "--unit", "sgtvt").code == 0
    assert run("--as", "iid-admin", "request", "reject", "1", "--reason", "thiếu chữ ký").code == 0
    assert run("audit", "verify").code == 0  # default operator: iid-admin


def test_db_grant_is_for_postgresql(world, run):
    r = run("db", "grant", "snv", "--role", "dnmail_snv")
    assert r.code == 2, r
    assert "is for PostgreSQL" in r.err and "file's permissions" in r.err
