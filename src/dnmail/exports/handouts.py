"""Handout files: the only place a generated password is ever written (mode 0600).

A handout carries the slip's headers plus `Mật khẩu`: one file per unit per `provision`
run (`--handout-dir`), or one file for one password (`reset-password --handout`, `unit
set-password --handout`). It is a workbook made to be printed (.xlsx: a title row with
the unit and the date, the header repeated on every page, A4 landscape one page wide,
phone and password as text cells: exports/writers.py) — the default of `provision`, and
for a single handout a name ending in .xlsx — or CSV (UTF-8 with BOM, so Excel opens
Vietnamese correctly: `provision --handout-format csv`, a single handout named .csv);
any other name is refused before anything is changed.

`provision` hands its passwords to disk chunk by chunk, before each chunk's commit: a
unit's rows are appended to its CSV handout as they come (cheap, and never shortened:
the passwords of the chunks before are in force), and at the end of the run the unit's
workbook is written once from them, published beside it, and the CSV removed
(`HandoutWriter.close`). A run that is killed, or whose workbook cannot be written,
leaves the CSV: every password is in it, nothing is lost. Rewriting a workbook at every
chunk would cost a run over many units minutes (its rows written again and again).

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
from dnmail.i18n import _

HEADERS = [
    "STT",
    "Họ và tên",
    "Phòng ban/Đơn vị trực thuộc",
    "Số điện thoại",
    "Tên hộp thư",
    "Mật khẩu",
]

FORMATS = {".xlsx": "xlsx", ".csv": "csv"}
#: What `provision --handout-format` may ask for; the first is the default.
HANDOUT_FORMATS = ("xlsx", "csv")
#: The title row of a unit's handout of `provision` (then the unit and the date).
PROVISION_TITLE = "Mật khẩu hộp thư được cấp"

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
            _(
                "{path}: a handout is a workbook (.xlsx) or a CSV file (.csv); "
                "{suffix!r} is neither"
            ).format(path=path, suffix=Path(path).suffix or _("a name without suffix")),
            hint=_("name the handout .xlsx (printable) or .csv"),
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
            _("cannot create the handout directory {directory}: {error}").format(
                directory=directory, error=e.strerror
            )
        ) from None
    try:
        check_safe_directory(directory, what=_("handout directory"))
    except ConfigError as e:
        raise HandoutError(
            e.message,
            hint=_(
                "passwords are written there: use a directory only you can write to "
                "(mkdir -m 700 DIR)"
            ),
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
                _("cannot create a handout in {directory}: {error}").format(
                    directory=self.directory, error=e.strerror
                )
            ) from None
        self.published = False
        self.written = False

    @staticmethod
    def refuse_existing(final: Path) -> None:
        """HandoutError when anything (a file, a link, a device) has the name already."""
        if os.path.lexists(final):
            raise HandoutError(
                _("{path} exists already: a handout never reuses or overwrites a file").format(
                    path=final
                ),
                hint=_("give a new file name (or remove the old handout once it is handed over)"),
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

    def write_bytes(self, data: bytes) -> None:
        """Append `data` and flush it to disk (fsync) before returning."""
        assert self.fd is not None, "the handout is closed"
        _write_all(self.fd, data)
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


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


def handout_name(unit: str, stamp: str, fmt: str = "xlsx") -> str:
    """`handout-<unit>-<stamp>-<random>.xlsx` (or .csv): nobody can guess it in advance."""
    return f"handout-{unit}-{stamp}-{secrets.token_hex(4)}.{fmt}"


class HandoutWriter:
    """Per-unit handout files under one directory for one run of `provision`.

    `prepare` creates a unit's CSV file (staged) before any directory write of a chunk;
    `write_many` appends the chunk's rows once the directory holds the passwords;
    `publish` names the files before the chunk's commit; `close` removes the files that
    never received a row and, for the xlsx format, turns each unit's CSV into its
    workbook (see the module docstring). `units` names each unit code in the title row
    of a workbook.
    """

    def __init__(
        self,
        directory: Path,
        *,
        stamp: datetime,
        fmt: str = "xlsx",
        units: dict[str, str] | None = None,
    ):
        if fmt not in HANDOUT_FORMATS:
            raise HandoutError(
                _("unknown handout format {format!r}; use xlsx or csv").format(format=fmt)
            )
        self.directory = check_handout_dir(directory)
        self.when = stamp
        self.stamp = stamp.strftime("%Y%m%dT%H%M%S")
        self.format = fmt
        self.units = units or {}
        self.counts: dict[str, int] = {}
        self.rows: dict[str, list[HandoutRow]] = {}  # each unit's rows, for its workbook
        self.files: dict[str, StagedFile] = {}
        self.paths: dict[str, Path] = {}

    def prepare(self, units) -> None:
        """Create the files of these units that do not exist yet (HandoutError)."""
        for unit in sorted(set(units)):
            if unit not in self.files:
                name = handout_name(unit, self.stamp, "csv")
                self.files[unit] = StagedFile(self.directory / name)

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
        if self.format == "xlsx":
            self.rows.setdefault(unit, []).extend(rows)
        self.counts[unit] = n + len(rows)

    def heading(self, unit: str) -> str:
        """The title row of a unit's workbook: the list, the unit, the date."""
        name = self.units.get(unit)
        return handout_heading(PROVISION_TITLE, self.when, f"{name} ({unit})" if name else unit)

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
        if self.format == "xlsx":
            for unit in sorted(self.paths):
                self.paths[unit] = self._workbook(unit, self.paths[unit])

    def _workbook(self, unit: str, journal: Path) -> Path:
        """The unit's workbook written from its rows and published beside its CSV,
        which is then removed; the CSV is kept (and returned) when the workbook cannot
        be made: its passwords are in force."""
        if journal.suffix != ".csv" or unit not in self.rows:
            return journal  # left under its temporary name: keep it as it is
        try:
            staged = StagedFile(journal.with_suffix(".xlsx"))
        except HandoutError:
            return journal
        try:
            staged.write_bytes(_xlsx_bytes(self.rows[unit], heading=self.heading(unit)))
            book = staged.publish()
        except OSError:
            staged.discard()
            return journal
        if not staged.published:  # the name was taken meanwhile
            staged.discard()
            return journal
        staged.close()
        os.unlink(journal)
        _fsync_dir(self.directory)
        return book


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
