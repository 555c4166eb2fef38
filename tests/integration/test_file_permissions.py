"""On one host (SQLite) the files' permissions are the boundary (docs/security.md):
dnmail refuses to run with a database other users may open, a configuration anyone may
rewrite, a secret in the configuration, or a secret file others may read. Each refusal
is exit 2, names the file and the chmod to run, and changes nothing."""

from __future__ import annotations

import os
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


# --- whose configuration (issue 12 §5) ------------------------------------------------

NOBODY = 65534


@pytest.fixture
def listener():
    """A TCP listener standing in for a hostile "directory": records who connected and
    what they sent (a simple bind carries the password in clear)."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.2)
    got: list[bytes] = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.settimeout(1)
            try:
                got.append(conn.recv(4096))
            except OSError:
                got.append(b"")
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[1], got
    stop.set()
    t.join()
    srv.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file to another user")
def test_a_configuration_of_another_user_is_refused_before_any_connection(tmp_path, capsys,
                                                                        monkeypatch, listener):
    """The attack: a configuration owned by another user redirected the directory URL
    to a listener that received the service bind password."""
    port, got = listener
    secret = tmp_path / "bind.secret"
    secret.write_text("Service-Secret-1\n")
    secret.chmod(0o600)
    config = write_config(tmp_path / "config.toml", db_url=f"sqlite:///{tmp_path / 'x.db'}")
    config.write_text(config.read_text(encoding="utf-8").replace(
        'url = "ldap://127.0.0.1:9"', f'url = "ldap://127.0.0.1:{port}"').replace(
        'bind_password_env = "DNMAIL_TEST_NOPE"', f'bind_password_file = "{secret}"'),
        encoding="utf-8")
    os.chown(config, NOBODY, NOBODY)
    r = cli_runner(capsys, monkeypatch, config)("init")
    assert r.code == 2, r
    assert f"configuration file {config} belongs to" in r.err and "uid 65534" in r.err
    assert got == []
    os.chown(config, os.geteuid(), os.getegid())  # its owner's: now it would be used
    r = cli_runner(capsys, monkeypatch, config)("init")
    assert r.code == 4 and got, r  # (the listener is no directory)


@pytest.mark.parametrize("bits", [0o777, 0o1777, 0o775])
def test_a_configuration_in_a_directory_others_may_write_is_refused(tmp_path, capsys,
                                                                    monkeypatch, bits):
    d = tmp_path / "etc"
    d.mkdir()
    config = write_config(d / "config.toml", db_url=f"sqlite:///{tmp_path / 'x.db'}")
    d.chmod(bits)
    r = cli_runner(capsys, monkeypatch, config)("unit", "list")
    assert r.code == 2, r
    assert f"the directory of the configuration file {d} is writable by other users" in r.err
    assert f"run: chmod go-w {d}" in r.err


def test_a_group_writable_configuration_is_refused(setup):
    _, config, run = setup
    config.chmod(0o664)
    r = run("unit", "list")
    assert r.code == 2, r
    assert f"configuration file {config} is writable by its group" in r.err
    assert f"run: chmod g-w {config}" in r.err


def test_a_configuration_fifo_is_refused_without_reading(tmp_path, capsys, monkeypatch):
    """A FIFO would block `open` and `read` for ever: refused at once."""
    import time

    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo, 0o600)
    started = time.monotonic()
    r = cli_runner(capsys, monkeypatch, fifo)("unit", "list")
    assert time.monotonic() - started < 5
    assert r.code == 2, r
    assert f"cannot read configuration file {fifo}: it is a FIFO, not a regular file" in r.err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the file to another user")
def test_a_bind_password_file_of_another_user_is_refused(setup, tmp_path):
    db, config, run = setup
    secret = tmp_path / "bind.secret"
    secret.write_text("Service-Secret-1\n")
    secret.chmod(0o600)
    os.chown(secret, NOBODY, NOBODY)
    text = config.read_text(encoding="utf-8").replace(
        'bind_password_env = "DNMAIL_TEST_NOPE"', f'bind_password_file = "{secret}"'
    )
    config.write_text(text, encoding="utf-8")
    assert run("init", "--skip-directory").code == 0
    r = run("reconcile")
    assert r.code == 2, r
    assert f"bind password file {secret} belongs to" in r.err
    assert "Service-Secret-1" not in r.err + r.out


# --- the audit key (issue 12 §6) ----------------------------------------------------------


def test_init_keys_every_installation(setup, tmp_path):
    db, config, run = setup
    key = tmp_path / "data" / "audit.key"
    r = run("init", "--skip-directory")
    assert r.code == 0, r
    assert mode(key) == 0o600 and len(key.read_text().strip()) == 64
    assert f"audit key created: {key}" in r.err
    assert run("unit", "add", "snv", "--name", "Sở Nội vụ").code == 0
    before = key.read_text()
    r = run("init", "--skip-directory")
    assert r.code == 0 and "audit key created" not in r.err and key.read_text() == before
    r = run("audit", "verify")
    assert r.code == 0 and "keyed since event #1" in r.err, r


def test_a_second_host_copies_the_key_rather_than_making_one(setup, tmp_path):
    db, config, run = setup
    assert run("init", "--skip-directory").code == 0
    assert run("unit", "add", "snv", "--name", "Sở Nội vụ").code == 0
    (tmp_path / "data" / "audit.key").unlink()  # a host without the key
    r = run("init", "--skip-directory")
    assert r.code == 1, r
    assert "the audit trail is keyed" in r.err and "copy the key file" in r.err
    assert not (tmp_path / "data" / "audit.key").exists()


def test_a_configured_key_file_must_exist(setup, tmp_path):
    db, config, run = setup
    with config.open("a", encoding="utf-8") as f:
        f.write(f'\n[audit]\nkey_file = "{tmp_path / "nowhere.key"}"\n')
    r = run("init", "--skip-directory")
    assert r.code == 2 and "audit key file" in r.err and "does not exist" in r.err, r
