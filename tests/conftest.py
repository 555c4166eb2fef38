"""Shared fixtures: real databases (SQLite and PostgreSQL) and real slapd servers.

On CI (CI=true) a missing PostgreSQL or slapd is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

ON_CI = os.environ.get("CI") == "true"
PG_ADMIN_URL = os.environ.get("DNMAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _unavailable(what: str) -> None:
    if ON_CI:
        pytest.fail(f"{what} is not available on CI", pytrace=False)
    pytest.skip(f"{what} is not available")


# --- PostgreSQL ---------------------------------------------------------------------


def _pg_connect(dbname: str | None = None):
    import psycopg

    url = PG_ADMIN_URL
    if dbname:
        url = url.rsplit("/", 1)[0] + "/" + dbname
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_template():
    """A database migrated once; each test gets a copy (CREATE DATABASE … TEMPLATE)."""
    try:
        conn = _pg_connect()
    except Exception as e:  # noqa: BLE001
        _unavailable(f"PostgreSQL at {PG_ADMIN_URL} ({e.__class__.__name__})")
    name = f"dnmail_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    from dnmail.db import migrate
    from dnmail.db.session import make_engine

    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def _fresh_pg(template: str) -> tuple[str, callable]:
    name = f"dnmail_t_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as c:
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')

    def drop():
        with _pg_connect() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name, drop


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'dnmail.db'}"
        from dnmail.db import migrate
        from dnmail.db.session import make_engine

        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
        return
    template = request.getfixturevalue("pg_template")
    url, drop = _fresh_pg(template)
    yield url
    drop()


@pytest.fixture
def pg_url(pg_template):
    url, drop = _fresh_pg(pg_template)
    yield url
    drop()


# --- configuration and runtime --------------------------------------------------------


def write_config(path: Path, *, db_url: str, ldap=None, extra: str = "") -> Path:
    """A config file for tests; `ldap` is a SlapdInfo (or None for a dead server)."""
    lines = [f'data_dir = "{path.parent / "data"}"', "", "[database]", f'url = "{db_url}"', "", "[directory]"]
    if ldap is not None:
        pw = path.parent / "bind.secret"
        pw.write_text(ldap.service_password)
        pw.chmod(0o600)
        lines += [
            f'url = "{ldap.url}"',
            f'base_dn = "{ldap.suffix}"',
            f'bind_dn = "{ldap.service_dn}"',
            f'bind_password_file = "{pw}"',
        ]
    else:
        lines += ['url = "ldap://127.0.0.1:9"', 'bind_password_env = "DNMAIL_TEST_NOPE"']
    lines += ["", extra]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
