"""Queries several services share: IN lists in chunks, the open-request test, lookups by
HR id. Each takes the caller's session (the caller owns the transaction).

The mapped classes (db/models.py) are imported by the functions that use them: a
command that reads plain rows (`unit_accounts`, `table`) builds only the tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, Table, select

from dnmail.db import tables
from dnmail.domain.states import OPEN_REQUEST_STATES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dnmail.db.models import Staff

T = TypeVar("T")

#: Values per IN list. SQLite builds before 3.32 allow 999 host parameters per
#: statement; 900 leaves room for the statement's other parameters.
MAX_IN = 900


def in_chunks(values: Iterable[T], size: int = MAX_IN) -> Iterator[list[T]]:
    """`values` in lists of at most `size`, for `column.in_(chunk)`."""
    items = list(values)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def rows_where_in(
    session: Session, query: Select, column: Any, values: Iterable[Any]
) -> Iterator[Any]:
    """The rows of `query` whose `column` is one of `values`, one IN list per chunk."""
    for chunk in in_chunks(values):
        yield from session.execute(query.where(column.in_(chunk)))


def is_open() -> ColumnElement[bool]:
    """A request still waiting for IID (`OPEN_REQUEST_STATES`: pending, failed)."""
    from dnmail.db.models import Request

    return Request.state.in_([s.value for s in OPEN_REQUEST_STATES])


def staff_by_ids(session: Session, hr_ids: Iterable[str]) -> dict[str, Staff]:
    """Staff records by HR id (those that exist)."""
    from dnmail.db.models import Staff

    out: dict[str, Staff] = {}
    for chunk in in_chunks(hr_ids):
        found = session.scalars(select(Staff).where(Staff.hr_id.in_(chunk)))
        out.update({s.hr_id: s for s in found})
    return out


def table(model: Any) -> Table:
    """A model's table, for Core queries: plain rows, none of the ORM's per-statement
    and per-row work (lists read by every command, such as the queue's first page)."""
    return cast(Table, model.__table__)


def unit_accounts(session: Session) -> dict[str, str]:
    """Each unit's official account (lower case) → the unit's code."""
    units = tables.units
    return {a.lower(): c for c, a in session.execute(select(units.c.code, units.c.account)) if a}


def unit_account_names(session: Session) -> set[str]:
    """The local parts of the units' official accounts: never given to a person."""
    from dnmail.db.models import Unit

    return {a.split("@")[0] for a in session.scalars(select(Unit.account)) if a}


def ids_by_key(
    session: Session, key: Any, id_column: Any, keys: Sequence[Any], *where: Any
) -> dict:
    """`key` → `id_column` for rows just inserted in bulk: a plain executemany, then the
    ids by a unique key (an ordered INSERT … RETURNING runs row by row on SQLite)."""
    out: dict = {}
    query = select(key, id_column).where(*where)
    for chunk in in_chunks(keys):
        out.update(session.execute(query.where(key.in_(chunk))).all())
    return out


def insert_rows(session: Session, table: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT plain rows (every row with the same keys, each column it needs given: no
    Python-side default is applied) as one executemany through the driver.

    For the bulk writes that record a whole city at once (`directory adopt`, the audit
    events of a batch): SQLAlchemy's own executemany processes every parameter of every
    row (a timestamp conversion per column per row); here each column's bind processor
    runs once per distinct value in a row after another — the batch's one `now` once."""
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    keys = list(rows[0])
    q = dialect.identifier_preparer.quote
    if dialect.paramstyle == "qmark":
        marks = ", ".join("?" for _ in keys)
    elif dialect.paramstyle in ("format", "pyformat"):
        marks = ", ".join("%s" for _ in keys)
    else:  # pragma: no cover - dnmail runs on SQLite and psycopg
        raise NotImplementedError(f"paramstyle {dialect.paramstyle}")
    sql = f"INSERT INTO {q(table.name)} ({', '.join(q(k) for k in keys)}) VALUES ({marks})"
    processors = [
        (i, p) for i, k in enumerate(keys) if (p := table.c[k].type.bind_processor(dialect))
    ]
    last: dict[int, tuple[Any, Any]] = {}  # column → (value, processed) of the row before
    # A tuple of the row's values in `keys` order (itemgetter of one key gives the value).
    row_of = itemgetter(*keys) if len(keys) > 1 else (lambda r: (r[keys[0]],))
    params = []
    for row in rows:
        values = row_of(row)
        if processors:
            values = list(values)
            for i, proc in processors:
                v = values[i]
                if v is None:
                    continue
                before = last.get(i)
                if before is None or before[0] is not v:
                    before = last[i] = (v, proc(v))
                values[i] = before[1]
            values = tuple(values)
        params.append(values)
    conn.exec_driver_sql(sql, params)


def address_taken(session: Session, local: str) -> bool:
    """Whether a local part is taken in the database: a mailbox's address, an address a
    mailbox had before a rename, or the requested address of an open request. An
    address once given out is never given to anyone else (DESIGN §2, issue 14)."""
    from dnmail.db.models import FormerAddress, Mailbox, Request

    for q in (
        select(Mailbox.id).where(Mailbox.address == local),
        select(FormerAddress.id).where(FormerAddress.address == local),
        select(Request.id).where(Request.requested_address == local, is_open()),
    ):
        if session.scalar(q.limit(1)) is not None:
            return True
    return False
