"""Driver errors translated once (db/session.py): only a unique key taken by a racing run
is a Conflict and retried; any other constraint is reported at once. A PostgreSQL URL
without its driver is a configuration error naming the extra to install."""

from __future__ import annotations

import sys

import pytest
from sqlalchemy import text

from dnmail.db.session import Database, make_engine
from dnmail.errors import ConfigError, Conflict, ExitCode, Refused


def _probe(db: Database) -> None:
    with db.transaction() as s:
        s.execute(text("CREATE TABLE probe (k INTEGER PRIMARY KEY, v VARCHAR(20) NOT NULL UNIQUE)"))
        s.execute(text("INSERT INTO probe (k, v) VALUES (1, 'taken')"))


def _runs(db: Database, sql: str) -> tuple[BaseException, int]:
    calls = []

    def work():
        calls.append(1)
        with db.transaction() as s:
            s.execute(text(sql))

    with pytest.raises((Conflict, Refused)) as caught:
        db.retrying(work, attempts=3)
    return caught.value, len(calls)


def test_unique_key_taken_is_a_conflict_and_retried(db_url):
    db = Database(db_url)
    _probe(db)
    error, calls = _runs(db, "INSERT INTO probe (k, v) VALUES (2, 'taken')")
    db.close()
    assert type(error) is Conflict
    assert calls == 3


def test_other_constraints_are_refused_at_once(db_url):
    db = Database(db_url)
    _probe(db)
    error, calls = _runs(db, "INSERT INTO probe (k, v) VALUES (3, NULL)")
    db.close()
    assert type(error) is Refused
    assert calls == 1
    assert "refused the rows" in error.message and "nothing was kept" in error.message


def test_postgresql_without_its_driver_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "psycopg" or m.startswith("psycopg.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what an install without it imports
    with pytest.raises(ConfigError) as caught:
        make_engine("postgresql://dnmail:secret@127.0.0.1:5432/dnmail")
    assert "pip install 'dnmail[postgres]'" in caught.value.message
    assert "secret" not in caught.value.message
    assert caught.value.exit_code == ExitCode.BAD_INPUT
