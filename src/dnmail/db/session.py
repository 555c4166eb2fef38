"""Engines and units of work; driver errors become dnmail errors here and nowhere else.

A service opens its unit of work with `Database.transaction()` (through
`Runtime.transaction()`): it commits when the block ends, rolls back on any error, or
rolls back anyway for a dry run. Driver errors leave that block as:

- `NotInitialised` (exit 2): the tables do not exist yet, `dnmail init` comes first;
- `Conflict` (exit 1): a unique key taken or a deadlock broken by the server at the
  same moment; `Database.retrying` runs the unit of work again where that is safe;
- `Refused` (exit 1): any other constraint (NOT NULL, foreign key, CHECK) the rows
  broke: running it again would not help, so it is reported at once, never retried;
- `PermissionDenied` (exit 1): PostgreSQL refused the row (GRANTs, row-level security);
- `DatabaseUnavailable` (exit 4): the server cannot be reached, or the file is locked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from dnmail.errors import (
    ConfigError,
    Conflict,
    DatabaseUnavailable,
    NotInitialised,
    PermissionDenied,
    Refused,
)
from dnmail.i18n import _

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")

#: SQLSTATE insufficient_privilege: a missing GRANT, or a row-level security policy
#: that refused the row (a unit role writing another unit's request).
INSUFFICIENT_PRIVILEGE = "42501"
#: SQLSTATE undefined_table: PostgreSQL before `dnmail init`.
UNDEFINED_TABLE = "42P01"
#: SQLSTATEs of a deadlock PostgreSQL broke, and of a serialisation failure.
RETRYABLE = ("40P01", "40001")
#: SQLSTATE unique_violation; SQLite's extended codes of the same.
UNIQUE_VIOLATION = "23505"
SQLITE_UNIQUE = ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")
#: How often `Database.retrying` runs a unit of work that met a conflict.
RETRY_ATTEMPTS = 12


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite:/// URL (None for PostgreSQL or :memory:)."""
    if not url.startswith("sqlite") or "///" not in url:
        return None
    path = url.split("///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo=echo)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        return create_engine(
            url, echo=echo, pool_pre_ping=True, connect_args={"connect_timeout": 10}
        )
    except ImportError as e:
        if not (e.name or "psycopg").startswith("psycopg"):
            raise
        raise ConfigError(
            _(
                "database.url {url} is a PostgreSQL database, and its driver is "
                "not installed: pip install 'dnmail[postgres]'"
            ).format(url=redact_url(url))
        ) from None


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A new database is private from the start (its WAL inherits the mode):
        # on one host the file's permissions are the boundary (docs/security.md).
        if not path.exists():
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                pass
    engine = create_engine(url, echo=echo, connect_args={"timeout": 60, "isolation_level": None})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        # 64 MiB of page cache (the default is 2 MiB): a city's indexes stay in memory.
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    # SQLite serialises writers: take the write lock when the transaction starts
    # (BEGIN IMMEDIATE) so that two processes never both read "pending" and then
    # race to write; the second waits for the first's commit (busy_timeout).
    @event.listens_for(engine, "begin")
    def _begin(conn):  # pragma: no cover - trivial
        # Read-only units of work (lists, exports) take no write lock, so a long
        # export never makes `provision` wait.
        readonly = conn.get_execution_options().get("dnmail_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def limit_page_cache(session, mib: int) -> None:
    """Keep SQLite's page cache of this session's connection to `mib` MiB (it is 64 by
    default): a run that reads or writes a whole city (`directory adopt`) would fill
    it, on top of what it holds itself. Nothing on PostgreSQL (the server's memory)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text(f"PRAGMA cache_size=-{int(mib) * 1024}"))


def is_retryable(e: BaseException) -> bool:
    """PostgreSQL deadlock (40P01) or serialisation failure (40001): run the unit of work again."""
    code = getattr(getattr(e, "orig", None), "sqlstate", None)
    return code in RETRYABLE or "deadlock detected" in str(e).lower()


def is_unique_violation(e: IntegrityError) -> bool:
    """A unique key taken (a race another run won), as opposed to any other constraint."""
    code = getattr(e.orig, "sqlstate", None) or getattr(e.orig, "sqlite_errorname", None)
    return code == UNIQUE_VIOLATION or code in SQLITE_UNIQUE


def _refused(url: str, e: IntegrityError) -> Refused:
    return Refused(
        _("the database {url} refused the rows ({error}); nothing was kept").format(
            url=redact_url(url), error=_first_line(e)
        )
    )


def _first_line(e: DBAPIError) -> str:
    return str(e.orig).strip().splitlines()[0] if e.orig else str(e)


@contextmanager
def translate_db_errors(url: str) -> Iterator[None]:
    """Turn driver errors into dnmail errors (see the module docstring)."""
    try:
        yield
    except IntegrityError as e:
        if not is_unique_violation(e):
            raise _refused(url, e) from None
        raise Conflict(
            _(
                "another run wrote the same rows of {url} at the same moment "
                "({error}); nothing was kept, run it again"
            ).format(url=redact_url(url), error=_first_line(e))
        ) from None
    except OperationalError as e:
        _raise_operational(url, e)
    except DBAPIError as e:
        _raise_dbapi(url, e)


def _raise_operational(url: str, e: OperationalError) -> None:
    msg = _first_line(e)
    if is_retryable(e):
        raise Conflict(
            _(
                "the database {url} broke a deadlock by failing this run ({error}); "
                "nothing was kept, run it again"
            ).format(url=redact_url(url), error=msg)
        ) from None
    if msg.startswith("no such table"):  # SQLite before `dnmail init`
        raise NotInitialised(redact_url(url)) from None
    if "locked" in msg and "database" in msg:
        raise DatabaseUnavailable(
            _("database {url} is locked: {error}").format(url=redact_url(url), error=msg)
        ) from None
    raise DatabaseUnavailable(
        _("cannot reach the database {url}: {error}").format(url=redact_url(url), error=msg)
    ) from None


def _raise_dbapi(url: str, e: DBAPIError) -> None:
    code = getattr(e.orig, "sqlstate", None)
    if code == INSUFFICIENT_PRIVILEGE:
        raise PermissionDenied(
            _("the database {url} refused it: {error}").format(
                url=redact_url(url), error=_first_line(e)
            ),
            hint=_(
                "a unit's database role may only read its unit's rows, queue and "
                "withdraw its own requests (docs/security.md)"
            ),
        ) from None
    if code == UNDEFINED_TABLE:
        raise NotInitialised(redact_url(url)) from None
    if e.connection_invalidated:
        raise DatabaseUnavailable(
            _("lost the connection to the database {url}").format(url=redact_url(url))
        ) from None
    raise e


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A nested transaction inside the caller's: a unique key taken inside it rolls back
    to here and raises `Conflict`, and the outer transaction goes on."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError as e:
        if not is_unique_violation(e):
            raise _refused(str(session.get_bind().engine.url), e) from None
        raise Conflict(_("a unique key is taken ({error})").format(error=_first_line(e))) from None


class Database:
    """The database of one command: its engine, opened on first use, and its units of
    work. Every driver error raised inside them is translated here."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        engine: Engine | None = None,
        session_info: dict[str, Any] | None = None,
    ):
        self.url = url
        self.echo = echo
        self._engine = engine
        #: Put in every unit of work's `Session.info` (the audit key, services/audit.py).
        self.session_info = dict(session_info or {})

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            path = sqlite_path(self.url)
            if path is not None:
                from dnmail.config import check_database_file

                check_database_file(path)
            self._engine = make_engine(self.url, echo=self.echo)
        return self._engine

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql" (from the URL: no connection is opened)."""
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"

    @contextmanager
    def transaction(
        self, *, readonly: bool = False, dry_run: bool = False, autoflush: bool = True
    ) -> Iterator[Session]:
        """One unit of work: commits when the block ends, rolls back on any error.

        `readonly` units of work (lists, exports) take no write lock on SQLite.
        `dry_run`: everything is done and then rolled back, so the caller reports
        exactly what would have happened.
        """
        from sqlalchemy.orm import Session

        bind = self.engine.execution_options(dnmail_readonly=True) if readonly else self.engine
        with translate_db_errors(self.url):
            with Session(bind, expire_on_commit=False, autoflush=autoflush) as s:
                s.info.update(self.session_info)
                s.begin()
                try:
                    yield s
                except BaseException:
                    s.rollback()
                    raise
                if dry_run:
                    s.rollback()
                else:
                    s.commit()

    def retrying(self, work: Callable[[], T], *, attempts: int = RETRY_ATTEMPTS) -> T:
        """Run `work` (which opens its own unit of work) again after a `Conflict`, with a
        growing random pause so that two racing runs do not meet again; the last
        attempt's conflict is raised."""
        import random
        import time

        for attempt in range(attempts):
            try:
                return work()
            except Conflict:
                if attempt == attempts - 1:
                    raise
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))  # noqa: S311 - jitter
        raise AssertionError("unreachable")  # pragma: no cover

    def upgrade(self) -> tuple[str | None, str | None]:
        """Bring the schema to head (Alembic): (revision before, revision after)."""
        from dnmail.db import migrate

        with translate_db_errors(self.url):
            return migrate.upgrade(self.engine)

    def has_table(self, name: str) -> bool:
        from sqlalchemy import inspect

        with translate_db_errors(self.url):
            return inspect(self.engine).has_table(name)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
