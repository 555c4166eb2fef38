"""Engines and sessions; driver errors become DatabaseUnavailable here and nowhere else."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError

from dnmail.errors import DatabaseUnavailable, PermissionDenied

#: SQLSTATE insufficient_privilege: a missing GRANT, or a row-level security policy
#: that refused the row (a unit role writing another unit's request).
INSUFFICIENT_PRIVILEGE = "42501"


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
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": 60, "isolation_level": None}
        )

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
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, echo=echo, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def is_retryable(e: Exception) -> bool:
    """PostgreSQL deadlock (40P01) or serialisation failure (40001): run the unit of work again."""
    code = getattr(getattr(e, "orig", None), "sqlstate", None)
    return code in ("40P01", "40001") or "deadlock detected" in str(e).lower()


@contextmanager
def translate_db_errors(url: str) -> Iterator[None]:
    """Turn connection-level driver errors into DatabaseUnavailable (exit 4)."""
    try:
        yield
    except OperationalError as e:
        if is_retryable(e):
            raise  # a deadlock or serialisation failure: the caller retries the unit of work
        msg = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        if "locked" in msg and "database" in msg:
            raise DatabaseUnavailable(f"database {redact_url(url)} is locked: {msg}") from None
        raise DatabaseUnavailable(
            f"cannot reach the database {redact_url(url)}: {msg}"
        ) from None
    except DBAPIError as e:
        if getattr(e.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            msg = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
            raise PermissionDenied(
                f"the database {redact_url(url)} refused it: {msg}",
                hint="a unit's database role may only read its unit's rows, queue and "
                "withdraw its own requests (docs/security.md)",
            ) from None
        if e.connection_invalidated:
            raise DatabaseUnavailable(
                f"lost the connection to the database {redact_url(url)}"
            ) from None
        raise
