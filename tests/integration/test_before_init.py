"""Before `dnmail init`, on an empty SQLite file or an empty PostgreSQL database, every
command says to run `dnmail init` (bad usage, exit 2) before it touches anything —
never "cannot reach the database … no such table" (exit 4) — and `init` then works."""

from __future__ import annotations

import pytest

from conftest import _fresh_pg, cli_runner, write_config

COMMANDS = [
    ["unit", "list"],
    ["unit", "add", "snv", "--name", "Sở Nội vụ"],
    ["unit", "set-password", "snv"],
    ["staff", "list"],
    ["staff", "import", "roster.xlsx"],
    ["request", "create", "--unit", "snv", "--staff", "HR001"],
    ["request", "import", "--unit", "snv", "slip.xlsx"],
    ["request", "reject", "1", "--reason", "thiếu chữ ký"],
    ["request", "withdraw", "1"],
    ["queue", "list"],
    ["provision"],
    ["reset-password", "thanhnq"],
    ["lock", "thanhnq", "--reason", "retired"],
    ["unlock", "thanhnq"],
    ["sync", "roster.xlsx"],
    ["reconcile"],
    ["export", "issued", "-o", "issued.xlsx"],
    ["audit", "list"],
    ["audit", "verify"],
    ["db", "grant", "snv", "--role", "dnmail_snv"],
]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """A database with no tables at all: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("pg_template")  # skips (or fails on CI) without PostgreSQL
    url, drop = _fresh_pg(None)
    yield url
    drop()


def test_every_command_asks_for_init_first(empty_url, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path / "config.toml", db_url=empty_url, ldap=None)
    run = cli_runner(capsys, monkeypatch, config)
    for argv in COMMANDS:
        r = run(*argv)
        assert r.code == 2, (argv, r)
        assert "run `dnmail init`" in r.err, (argv, r)
        assert "cannot reach" not in r.err and "no such table" not in r.err, (argv, r)
    assert not list(tmp_path.glob("issued*")), "nothing is written before init"
    r = run("init", "--skip-directory")
    assert r.code == 0, r
    r = run("--format", "json", "queue", "list")
    assert r.code == 0 and r.json()["total"] == 0, r
