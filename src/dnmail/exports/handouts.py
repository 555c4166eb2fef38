"""Handout files: the only place a generated password is ever written (mode 0600).

A handout is a CSV (UTF-8 with BOM, so Excel opens Vietnamese correctly) with the
slip's headers plus `Mật khẩu`, one file per unit per run. Rows are appended and
flushed to disk before the database records the mailbox as issued, so a crash never
loses a password that is in force (a rerun adopts the entry and hands out a new one).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

HEADERS = [
    "STT",
    "Họ và tên",
    "Phòng ban/Đơn vị trực thuộc",
    "Số điện thoại",
    "Tên hộp thư",
    "Mật khẩu",
]


@dataclass(frozen=True)
class HandoutRow:
    full_name: str
    department: str
    phone: str
    address: str  # full address
    password: str


def _neutral(value: str) -> str:
    # A cell a spreadsheet would run as a formula is prefixed with a quote.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def open_private(path: Path, *, append: bool = True):
    """Open a file readable by its owner only (0600), whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "a" if append else "w", encoding="utf-8", newline="")


class HandoutWriter:
    """Per-unit handout files under one directory for one run."""

    def __init__(self, directory: Path, *, stamp: datetime):
        self.directory = directory
        self.stamp = stamp.strftime("%Y%m%dT%H%M%S")
        self.counts: dict[str, int] = {}
        self.paths: dict[str, Path] = {}

    def path_for(self, unit: str) -> Path:
        return self.directory / f"handout-{unit}-{self.stamp}.csv"

    def write_many(self, per_unit: dict[str, list[HandoutRow]]) -> None:
        """Write each unit's rows; the fsyncs run side by side (they release the GIL), so a
        chunk spanning many units costs about one disk flush, not one per unit."""
        if len(per_unit) <= 1:
            for unit, rows in per_unit.items():
                self.write(unit, rows)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(per_unit))) as pool:
            list(pool.map(lambda item: self.write(*item), per_unit.items()))

    def write(self, unit: str, rows: list[HandoutRow]) -> Path:
        if not rows:
            return self.path_for(unit)
        path = self.path_for(unit)
        new = not path.exists()
        buf = io.StringIO()
        w = csv.writer(buf)
        if new:
            buf.write("\ufeff")
            w.writerow(HEADERS)
        n = self.counts.get(unit, 0)
        for r in rows:
            n += 1
            w.writerow(
                [n, _neutral(r.full_name), _neutral(r.department), _neutral(r.phone), r.address, r.password]
            )
        self.counts[unit] = n
        with open_private(path) as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        self.paths[unit] = path
        return path


def write_single(path: Path, row: HandoutRow) -> Path:
    """A one-person handout (reset-password --handout FILE), replacing any old one."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow(HEADERS)
    w.writerow([1, _neutral(row.full_name), _neutral(row.department), _neutral(row.phone), row.address, row.password])
    with open_private(path, append=False) as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())
    return path
