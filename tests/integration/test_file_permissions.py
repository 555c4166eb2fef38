"""On one host (SQLite) the files' permissions are the boundary (docs/security.md):
dnmail refuses to run with a database other users may open, a configuration anyone may
rewrite, a secret in the configuration, or a secret file others may read. Each refusal
is exit 2, names the file and the chmod to run, and changes nothing."""

from __future__ import annotations

import stat

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conftest import cli_runner, write_config
from dnmail.db import migrate
from dnmail.db.models import AuditEvent
from dnmail.db.session import make_engine


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def setup(tmp_path, capsys, monkeypatch):
    db = tmp_path / "dnmail.db"
    config = write_config(tmp_path / "config.toml", db_url=f"sqlite:///{db}")
    return db, config, cli_runner(capsys, monkeypatch, config)


def events(db) -> int:
    engine = make_engine(f"sqlite:///{db}")
    with Session(engine) as s:
        n = s.scalar(select(func.count()).select_from(AuditEvent))
    engine.dispose()
    return n


def test_dnmail_makes_its_sqlite_database_private(setup):
    db, _, run = setup
    r = run("init", "--skip-directory")
    assert r.code == 0, r
    assert mode(db) == 0o600
    assert run("unit", "add", "snv", "--name", "Sở Nội vụ").code == 0
    for p in db.parent.glob("dnmail.db*"):  # the WAL and shared memory files too
        assert mode(p) & 0o077 == 0, p


@pytest.mark.parametrize("bits", [0o604, 0o606, 0o602])
def test_a_database_others_may_open_is_refused(setup, bits):
    db, _, run = setup
    assert run("init", "--skip-directory").code == 0
    before = events(db)
    db.chmod(bits)
    r = run("--verbose", "unit", "add", "snv", "--name", "Sở Nội vụ")
    assert r.code == 2, r
    assert f"database file {db} is readable or writable by other users" in r.err
    assert f"run: chmod o-rwx {db}" in r.err and "Traceback" not in r.err
    db.chmod(0o600)
    assert events(db) == before


def test_a_write_ahead_log_others_may_read_is_refused(setup):
    db, _, run = setup
    engine = make_engine(f"sqlite:///{db}")
    migrate.upgrade(engine)
    with engine.connect() as conn:  # keep the WAL from being checkpointed away
        conn.exec_driver_sql("SELECT 1")
        wal = db.with_name("dnmail.db-wal")
        wal.touch()
        wal.chmod(0o644)
        r = run("unit", "list")
    engine.dispose()
    assert r.code == 2 and f"run: chmod o-rwx {wal}" in r.err, r


def test_a_group_may_share_the_database(setup):
    """IID's administrators may share the file through a group; others may not."""
    db, _, run = setup
    assert run("init", "--skip-directory").code == 0
    db.chmod(0o660)
    assert run("unit", "list").code == 0


def test_a_configuration_anyone_may_rewrite_is_refused(setup):
    _, config, run = setup
    config.chmod(0o666)
    r = run("unit", "list")
    assert r.code == 2, r
    assert f"configuration file {config} is writable by every user" in r.err
    assert f"run: chmod o-w {config}" in r.err


def test_a_password_in_the_database_url_is_refused_and_not_echoed(tmp_path, capsys,
                                                                   monkeypatch):
    config = write_config(
        tmp_path / "config.toml", db_url="postgresql://dnmail:S3cret-In-Url@127.0.0.1/dnmail"
    )
    r = cli_runner(capsys, monkeypatch, config)("--verbose", "queue", "list")
    assert r.code == 2, r
    assert "database.url holds a password" in r.err and ".pgpass" in r.err
    assert "S3cret-In-Url" not in r.err + r.out


@pytest.mark.parametrize("bits", [0o644, 0o640, 0o604])
def test_a_bind_password_file_others_may_read_is_refused(setup, tmp_path, bits):
    db, config, run = setup
    secret = tmp_path / "bind.secret"
    secret.write_text("Service-Secret-1\n")
    secret.chmod(bits)
    text = config.read_text(encoding="utf-8").replace(
        'bind_password_env = "DNMAIL_TEST_NOPE"', f'bind_password_file = "{secret}"'
    )
    config.write_text(text, encoding="utf-8")
    assert run("init", "--skip-directory").code == 0
    r = run("--verbose", "reconcile")
    assert r.code == 2, r
    assert f"bind password file {secret} is readable by other users" in r.err
    assert f"run: chmod 600 {secret}" in r.err
    assert "Service-Secret-1" not in r.err + r.out
