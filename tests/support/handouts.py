"""Reading a handout back, whatever its format (exports/handouts.py)."""

from __future__ import annotations

import csv
from pathlib import Path


def handout_rows(path: Path) -> list[dict[str, object]]:
    """The rows of a handout, header → value: a workbook (its title row above the
    header) or a CSV file."""
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        try:
            header, *rows = list(wb.active.iter_rows(min_row=2, values_only=True))
        finally:
            wb.close()
        return [dict(zip(header, r, strict=True)) for r in rows]
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))
