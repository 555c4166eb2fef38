"""No password and no bind secret anywhere but the handout files (DESIGN §2 Passwords):
after a full run — provision, reset-password, unit set-password, an officer's reset,
failing binds — every table, the raw SQLite file, the audit trail, the logs and every
output (run with --verbose) are searched for every secret. SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from conftest import cli_runner
from dnmail.db.models import Base
from dnmail.db.session import sqlite_path
from support.handouts import handout_rows

pytestmark = pytest.mark.slapd

ROSTER = (
    "Mã hồ sơ,Họ và tên,Mã đơn vị,Phòng ban,Chức vụ,Số điện thoại,Trạng thái\n"
    "HR001,Nguyễn Quang Thanh,snv,Văn phòng,Chánh văn phòng,0905123456,Đang công tác\n"
    "HR002,Lê Thị Mỹ Hạnh,snv,Phòng Tổ chức,Chuyên viên,0905000111,Đang công tác\n"
    "HR003,Trần Đức,sgtvt,Văn phòng,Kế toán,02363822222,Đang công tác\n"
)
WRONG_BIND = "Wrong-Bind-Secret-42"
WRONG_OFFICER = "Wrong-Officer-Secret-43"


def handout_passwords(path) -> list[str]:
    return [str(row["Mật khẩu"]) for row in handout_rows(path)]


def dump_tables(rt) -> str:
    """Every row of every table (and the unit-role map on PostgreSQL), as text."""
    out = []
    with rt.engine.connect() as conn:
        tables = [t.name for t in Base.metadata.sorted_tables] + ["alembic_version"]
        if conn.dialect.name == "postgresql":
            tables.append("unit_roles")
        for table in tables:
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                out.append(f"{table}: {tuple(row)!r}")
    return "\n".join(out)


def test_no_secret_outside_the_handouts(rt, cli, ldap, tmp_path, monkeypatch, caplog,
                                        capsys, config_file):
    caplog.set_level(logging.DEBUG)  # every logger, SQLAlchemy's statements included
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
    handouts = tmp_path / "handouts"
    outputs = []

    def run(*args, code=0, runner=cli):
        r = runner("--verbose", *args)
        outputs.append(r.out + r.err)
        assert r.code == code, r
        return r

    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    run("unit", "add", "snv", "--name", "Sở Nội vụ")
    run("unit", "add", "sgtvt", "--name", "Sở Giao thông Vận tải")
    run("init")
    run("staff", "import", roster)
    run("request", "create", "--unit", "snv", "--staff", "HR001", "--staff", "HR002")
    run("request", "create", "--unit", "sgtvt", "--staff", "HR003")
    run("--format", "json", "provision", "--handout-dir", handouts)
    run("reset-password", "thanhnq", "--handout", tmp_path / "reset.csv")
    run("unit", "set-password", "snv", "--handout", tmp_path / "snv-account.csv")
    (officer,) = handout_passwords(tmp_path / "snv-account.csv")
    monkeypatch.setenv("DNMAIL_OPERATOR_PASSWORD", officer)
    run("--as", "snv@danang.gov.vn", "--format", "json", "reset-password", "hanhltm",
        "--handout", tmp_path / "officer-reset.csv")
    # Failing binds: the officer's, then the service's (a wrong bind password file).
    monkeypatch.setenv("DNMAIL_OPERATOR_PASSWORD", WRONG_OFFICER)
    run("--as", "snv@danang.gov.vn", "reset-password", "hanhltm", code=4)
    wrong = tmp_path / "wrong.secret"
    wrong.write_text(WRONG_BIND)
    wrong.chmod(0o600)
    bad_config = tmp_path / "bad.toml"
    bad_config.write_text(config_file.read_text(encoding="utf-8").replace(
        str(tmp_path / "bind.secret"), str(wrong)), encoding="utf-8")
    bad = cli_runner(capsys, monkeypatch, bad_config, explicit=True)
    run("lock", "duct", "--reason", "retired", code=4, runner=bad)
    run("reconcile", code=4, runner=bad)
    # A bug in the middle of a reset, with --verbose: a traceback, but no password in it.
    import dnmail.services.accounts as accounts
    from dnmail.directory.gateway import Directory

    monkeypatch.setattr(accounts, "generate_password", lambda policy: "Known-Secret-Pw9")
    monkeypatch.setattr(Directory, "set_password",
                        lambda self, dn, pw, **kw: (_ for _ in ()).throw(RuntimeError("boom")))
    r = run("reset-password", "duct", code=1, runner=cli)
    assert "Traceback" in r.err and "internal error (RuntimeError)" in r.err

    passwords = [p for f in sorted(handouts.iterdir()) for p in handout_passwords(f)]
    passwords += handout_passwords(tmp_path / "reset.csv")
    passwords += handout_passwords(tmp_path / "officer-reset.csv")
    assert len(passwords) == 5 and all(len(p) >= 14 for p in passwords)
    secrets = {
        **{f"password {i}": p for i, p in enumerate(passwords)},
        "officer password": officer,
        "service bind password": ldap.service_password,
        "root password": ldap.root_password,
        "wrong officer password": WRONG_OFFICER,
        "wrong bind password": WRONG_BIND,
        "password of the bug": "Known-Secret-Pw9",
    }
    places = {
        "outputs (stdout and stderr, --verbose)": "\n".join(outputs),
        "logs": caplog.text,
        "tables (the audit trail included)": dump_tables(rt),
    }
    path = sqlite_path(rt.config.database.url)
    if path is not None:  # the raw file and its write-ahead log, free pages included
        places["database file"] = "".join(
            p.read_bytes().decode("utf-8", "replace") for p in path.parent.glob(path.name + "*")
        )
    # The places searched hold what they should: the events, the statements, the errors.
    assert places["tables (the audit trail included)"].count("mailbox.reset-password") == 2
    assert "unit.set-password" in places["tables (the audit trail included)"]
    assert "INSERT INTO audit_events" in places["logs"]
    assert "bind as cn=dnmail,ou=system" in places["outputs (stdout and stderr, --verbose)"]
    assert "bind as uid=snv,ou=units" in places["outputs (stdout and stderr, --verbose)"]
    for where, haystack in places.items():
        for what, secret in secrets.items():
            assert secret not in haystack, f"{what} found in {where}"
    # ... and the handouts hold them, mode 0600.
    for f in [*handouts.iterdir(), tmp_path / "reset.csv", tmp_path / "snv-account.csv"]:
        assert f.stat().st_mode & 0o077 == 0, f
