"""Shared fixtures: real databases (SQLite and PostgreSQL) and real slapd servers.

On CI (CI=true) a missing PostgreSQL or slapd is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

# The tests read dnmail's English messages (the catalogs' ids); a test about the
# language sets its own (tests/e2e/test_language.py). Set before dnmail.cli.main is
# imported: Typer's help texts are translated then.
os.environ["DNMAIL_LANG"] = "en"

pytest_plugins = ["conftest_slapd"]

ON_CI = os.environ.get("CI") == "true"

# Property tests give the same verdict on every run: the default profile is derandomized
# (a fixed seed per test), so CI never passes or fails by luck; the examples that once
# failed are kept as explicit @example's beside the tests. Developers look for new
# failures on purpose with the randomized, longer profile:
#     HYPOTHESIS_PROFILE=thorough ./scripts/test tests/unit tests/e2e/test_hostile_input.py
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile(
    "thorough", derandomize=False, max_examples=2000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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
    except Exception as e:
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


def _fresh_pg(template: str | None) -> tuple[str, callable]:
    """A new database, a copy of `template` (or empty: no tables at all); its URL and
    a function that drops it."""
    name = f"dnmail_t_{uuid.uuid4().hex[:12]}"
    with _pg_connect() as c:
        c.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

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


def write_config(
    path: Path, *, db_url: str, ldap=None, extra: str = "", directory: str = ""
) -> Path:
    """A config file for tests; `ldap` is a SlapdInfo (or None for a dead server): its
    layout (by-unit or flat, with its unit attribute) is the config's. `directory`:
    more lines of the [directory] table."""
    lines = [
        f'data_dir = "{path.parent / "data"}"', "", "[database]", f'url = "{db_url}"', "",
        "[directory]",
    ]
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
        if ldap.layout != "by-unit":
            lines += [f'layout = "{ldap.layout}"', f'unit_attribute = "{ldap.unit_attribute}"']
    else:
        lines += ['url = "ldap://127.0.0.1:9"', 'bind_password_env = "DNMAIL_TEST_NOPE"']
    if directory:
        lines.append(directory)
    lines += ["", extra]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --- directory ------------------------------------------------------------------------


@pytest.fixture
def layout():
    """The directory layout of the `ldap` server and the test config: by-unit, unless
    a test or module parametrizes `layout` (e.g. over ["by-unit", "flat"])."""
    return "by-unit"


@pytest.fixture
def ldap(tmp_path_factory, layout):
    """A fresh throw-away slapd (dnmail.local; about 0.2 s to build and start), with the
    access rules of `layout` (flat: unit officers keyed on departmentNumber)."""
    from dnmail.errors import DirectoryUnavailable
    from dnmail.local.render import DirectoryLayout
    from dnmail.local.slapd import ThrowawaySlapd

    workdir = tmp_path_factory.mktemp("slapd")
    server = ThrowawaySlapd(workdir, layout=DirectoryLayout(kind=layout))
    try:
        info = server.start()
    except DirectoryUnavailable as e:
        _unavailable(f"slapd ({e.message})")
    yield info
    server.stop()


@pytest.fixture
def config_file(tmp_path, db_url, ldap):
    return write_config(tmp_path / "config.toml", db_url=db_url, ldap=ldap)


@pytest.fixture
def rt(config_file, monkeypatch):
    """A Runtime on a migrated database (both kinds) and a fresh slapd, initialised."""
    from dnmail.config import load_config
    from dnmail.services.runtime import Runtime
    from dnmail.services.setup import initialise

    monkeypatch.setenv("DNMAIL_CONFIG", str(config_file))
    runtime = Runtime(load_config(config_file), actor="test-admin")
    initialise(runtime)
    yield runtime
    runtime.close()


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def json(self):
        import json

        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


def cli_runner(capsys, monkeypatch, config_file: Path, *, explicit: bool = False):
    """`run(*args)`: `dnmail ARGS…` in-process against `config_file`; returns CliResult.

    `explicit`: pass `--config FILE` on every run (for tests that run several configs,
    e.g. IID's and a unit's, side by side) instead of setting $DNMAIL_CONFIG.
    """
    from dnmail.cli.main import invoke

    if not explicit:
        monkeypatch.setenv("DNMAIL_CONFIG", str(config_file))
    monkeypatch.setenv("COLUMNS", "200")
    prefix = ["--config", str(config_file)] if explicit else []

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = invoke([*prefix, *(str(a) for a in args)])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli(capsys, monkeypatch, config_file):
    """Run `dnmail ARGS…` in-process against the test config; returns CliResult."""
    return cli_runner(capsys, monkeypatch, config_file)


def seed_units(session, codes=("snv", "sgtvt"), *, config=None):
    from datetime import UTC, datetime

    from dnmail.config import Config
    from dnmail.services.units import insert_unit

    names = {
        "snv": "Sở Nội vụ",
        "sgtvt": "Sở Giao thông Vận tải",
        "stttt": "Sở Thông tin và Truyền thông",
    }
    for c in codes:
        insert_unit(
            session=session,
            config=config or Config(),
            code=c,
            name=names.get(c, c.upper()),
            parent=None,
            account=None,
            actor="test",
            now=datetime.now(UTC),
        )


def mailbox_dn(info, unit: str, uid: str) -> str:
    """Where dnmail puts a mailbox of `unit` in the layout of the server `info`."""
    if info.layout == "flat":
        return f"uid={uid},ou=people,{info.suffix}"
    return f"uid={uid},ou={unit},ou=people,{info.suffix}"


def seed_staff(session, rows):
    """rows: (hr_id, full_name, unit, department, position, phone[, status[, email]])."""
    from datetime import UTC, datetime

    from dnmail.db.models import Staff
    from dnmail.domain.text import clean_text, name_key

    now = datetime.now(UTC)
    for r in rows:
        hr, name, unit, dept, pos, phone, *rest = r
        session.add(
            Staff(
                hr_id=hr,
                full_name=clean_text(name),
                name_key=name_key(name),
                unit_code=unit,
                department=dept,
                position=pos,
                phone=phone,
                hr_status=rest[0] if rest else "active",
                email=rest[1] if len(rest) > 1 else "",
                status_changed_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
