"""Handout files: the only place a generated password is ever written (mode 0600).

A handout is a CSV (UTF-8 with BOM, so Excel opens Vietnamese correctly) with the
slip's headers plus `Mật khẩu`: one file per unit per `provision` run, or one file for
one password (`reset-password --handout`, `unit set-password --handout`), which is a
workbook made to be printed when its name ends in .xlsx (a title row, landscape, one
page wide, phone and password as text cells: exports/writers.py) and CSV when .csv;
any other name is refused before anything is changed.

Every handout file is made by `StagedFile` and nothing else, whatever its format:

* in a directory that belongs to the user running dnmail (or root) and that nobody
  else may write to (`check_handout_dir`): there, nobody can plant a file or a link
  under the name dnmail is about to use, nor swap the file afterwards;
* created new with O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600 from the first instant, under
  an unpredictable temporary name: an existing file (another user's, a symlink,
  /dev/null) is never opened, reused or chmod-ed;
* published under its final name only once its rows are on disk (`publish`: a hard
  link, which fails rather than replace anything), and removed when the password it
  holds was never set (`discard`).

So the order of effects for a password is: the handout is written under its
temporary name, then the directory changes the password, then the file is published
(before the database commit that records the change for `provision`, so a crash never
loses a password in force: a rerun adopts the entry and hands out a new one).
"""

from __future__ import annotations

import csv
import errno
import io
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dnmail.errors import BadInput
from dnmail.exports.writers import neutralise

HEADERS = [
    "STT",
    "Họ và tên",
    "Phòng ban/Đơn vị trực thuộc",
    "Số điện thoại",
    "Tên hộp thư",
    "Mật khẩu",
]

FORMATS = {".xlsx": "xlsx", ".csv": "csv"}

_CREATE = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
)


@dataclass(frozen=True)
class HandoutRow:
    full_name: str
    department: str
    phone: str
    address: str  # full address
    password: str


class HandoutError(BadInput):
    """A handout cannot be written where it was asked for; nothing was changed."""


def handout_format(path: Path) -> str:
    """'xlsx' or 'csv' from the handout's name; HandoutError for any other name (a
    workbook is never written under a .csv name, nor CSV text under .xlsx)."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise HandoutError(
            f"{path}: a handout is a workbook (.xlsx) or a CSV file (.csv); "
            f"{Path(path).suffix or 'a name without suffix'!r} is neither",
            hint="name the handout .xlsx (printable) or .csv",
        )
    return fmt


def check_handout_dir(directory: Path) -> Path:
    """The directory handouts go to, created (0700) when missing; HandoutError when
    other users could write into it or it is not the user's (or root's)."""
    from dnmail.config import check_safe_directory
    from dnmail.errors import ConfigError

    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise HandoutError(
            f"cannot create the handout directory {directory}: {e.strerror}"
        ) from None
    try:
        check_safe_directory(directory, what="handout directory")
    except ConfigError as e:
        raise HandoutError(
            e.message,
            hint="passwords are written there: use a directory only you can write to "
            "(mkdir -m 700 DIR)",
        ) from None
    return directory


class StagedFile:
    """One new private file (0600) under a temporary name, published under its final
    name with `publish` or removed with `discard`. The one function that creates a
    handout file, whatever writes into it (CSV today, other formats later)."""

    def __init__(self, final: Path):
        self.final = final
        self.directory = final.parent
        self.refuse_existing(final)
        self.path = self.directory / f".{final.name}.{secrets.token_hex(6)}.part"
        try:
            self.fd: int | None = os.open(self.path, _CREATE, 0o600)
        except OSError as e:
            raise HandoutError(
                f"cannot create a handout in {self.directory}: {e.strerror}"
            ) from None
        self.published = False
        self.written = False

    @staticmethod
    def refuse_existing(final: Path) -> None:
        """HandoutError when anything (a file, a link, a device) has the name already."""
        if os.path.lexists(final):
            raise HandoutError(
                f"{final} exists already: a handout never reuses or overwrites a file",
                hint="give a new file name (or remove the old handout once it is handed over)",
            )

    @classmethod
    def new(cls, final: Path) -> StagedFile:
        """A staged file for the handout `final`, its directory checked first."""
        final = Path(final)
        check_handout_dir(final.parent)
        return cls(final)

    def write(self, text: str) -> None:
        """Append `text` and flush it to disk (fsync) before returning."""
        self.write_bytes(text.encode("utf-8"))

    def replace_bytes(self, data: bytes) -> None:
        """Make `data` the whole content (a workbook rewritten with its new rows), on
        disk (fsync) before returning; the same file, never a new name."""
        assert self.fd is not None, "the handout is closed"
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.write_bytes(data)

    def write_bytes(self, data: bytes) -> None:
        """Append `data` and flush it to disk (fsync) before returning."""
        assert self.fd is not None, "the handout is closed"
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        os.fsync(self.fd)
        self.written = True

    def publish(self) -> Path:
        """Give the file its final name (never replacing anything); returns where the
        file is. When the final name was taken meanwhile, the file stays under its
        temporary name, which is returned: the password is not lost."""
        if self.published:
            return self.final
        try:
            os.link(self.path, self.final)
        except FileExistsError:
            return self.path
        except OSError as e:
            unsupported = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK)
            if e.errno not in unsupported:
                raise
            # A file system without hard links: rename, unless the name appeared.
            if os.path.lexists(self.final):
                return self.path
            os.rename(self.path, self.final)
        else:
            os.unlink(self.path)
        _fsync_dir(self.directory)
        self.published = True
        return self.final

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def discard(self) -> None:
        """Remove the file when it was never published (its password was not set)."""
        self.close()
        if not self.published:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _csv_rows(rows: list[HandoutRow], *, start: int, header: bool) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    if header:
        buf.write("\ufeff")
        w.writerow(HEADERS)
    for n, r in enumerate(rows, start=start):
        w.writerow(
            [n, neutralise(r.full_name), neutralise(r.department), neutralise(r.phone),
             r.address, r.password]
        )
    return buf.getvalue()


def _xlsx_bytes(rows: list[HandoutRow], *, heading: str) -> bytes:
    from dnmail.exports.writers import Column, write_xlsx

    columns = (
        Column("full_name", HEADERS[1], width=28),
        Column("department", HEADERS[2], width=30),
        Column("phone", HEADERS[3], "code", width=15),
        Column("address", HEADERS[4], width=30),
        Column("password", HEADERS[5], "secret", width=20),
    )
    buf = io.BytesIO()
    values = ((r.full_name, r.department, r.phone, r.address, r.password) for r in rows)
    write_xlsx(buf, columns, values, title="Tài khoản", heading=heading)
    return buf.getvalue()


def handout_heading(what: str, stamp: datetime, unit: str | None = None) -> str:
    from dnmail.exports.writers import heading_text

    return heading_text(what, unit, stamp)


def handout_name(unit: str, stamp: str) -> str:
    """`handout-<unit>-<stamp>-<random>.csv`: nobody can guess it in advance."""
    return f"handout-{unit}-{stamp}-{secrets.token_hex(4)}.csv"


class HandoutWriter:
    """Per-unit handout files under one directory for one run of `provision`.

    `prepare` creates a unit's file (staged) before any directory write of a chunk;
    `write_many` appends the chunk's rows once the directory holds the passwords;
    `publish` names the files before the chunk's commit; `close` removes the files
    that never received a row.
    """

    def __init__(self, directory: Path, *, stamp: datetime):
        self.directory = check_handout_dir(directory)
        self.stamp = stamp.strftime("%Y%m%dT%H%M%S")
        self.counts: dict[str, int] = {}
        self.files: dict[str, StagedFile] = {}
        self.paths: dict[str, Path] = {}

    def prepare(self, units) -> None:
        """Create the files of these units that do not exist yet (HandoutError)."""
        for unit in sorted(set(units)):
            if unit not in self.files:
                self.files[unit] = StagedFile(self.directory / handout_name(unit, self.stamp))

    def write_many(self, per_unit: dict[str, list[HandoutRow]]) -> None:
        """Write each unit's rows; the fsyncs run side by side (they release the GIL), so a
        chunk spanning many units costs about one disk flush, not one per unit."""
        self.prepare(unit for unit, rows in per_unit.items() if rows)
        if len(per_unit) <= 1:
            for unit, rows in per_unit.items():
                self.write(unit, rows)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(per_unit))) as pool:
            list(pool.map(lambda item: self.write(*item), per_unit.items()))

    def write(self, unit: str, rows: list[HandoutRow]) -> None:
        if not rows:
            return
        self.prepare([unit])
        f = self.files[unit]
        n = self.counts.get(unit, 0)
        f.write(_csv_rows(rows, start=n + 1, header=not f.written))
        self.counts[unit] = n + len(rows)

    def publish(self) -> None:
        """Give every file that holds rows its final name."""
        for unit, f in self.files.items():
            if f.written and unit not in self.paths:
                self.paths[unit] = f.publish()

    def close(self) -> None:
        for unit, f in self.files.items():
            if f.written:
                self.paths[unit] = f.publish()
                f.close()
            else:
                f.discard()
        self.files = {u: f for u, f in self.files.items() if f.written}


def stage_single(path: Path, row: HandoutRow) -> StagedFile:
    """A one-person handout (`reset-password --handout FILE`) written under a temporary
    name next to `path`; publish it once the password is set, discard it otherwise."""
    fmt = handout_format(path)
    staged = StagedFile.new(path)
    try:
        if fmt == "xlsx":
            heading = handout_heading(f"Mật khẩu hộp thư {row.address}", datetime.now(UTC))
            staged.write_bytes(_xlsx_bytes([row], heading=heading))
        else:
            staged.write(_csv_rows([row], start=1, header=True))
    except BaseException:
        staged.discard()
        raise
    return staged
