"""Export writers: xlsx (openpyxl write-only), csv (UTF-8 with BOM) and json.

Rows arrive as an iterator of tuples, one value per column, and are written as they
come: nothing holds the whole export in memory. The file is built under a temporary
name in the target's directory and renamed over the target only once it is complete
(`atomic_output`), so a crash or an error never leaves half a file behind.

Formula neutralisation (DESIGN §5): a spreadsheet runs a cell that starts with `=`,
`+`, `-` or `@` (and Excel also one that starts with a tab or a carriage return
before those) as a formula: a name like `=HYPERLINK(...)` in the HR roster would
become a live link in the unit's spreadsheet. The first VISIBLE character counts (a
leading space, U+3000, U+200B or control character hides nothing from a spreadsheet),
and so do the full-width forms `＝＋－＠`. In xlsx and csv every such text cell gets a
leading apostrophe `'`, and in xlsx such cells are written explicitly as strings. JSON
is data, not a spreadsheet: it keeps the text as stored.

A workbook is made to be printed by the unit that receives it (issue 13 §3): a title
row (the list, the unit, the date in Vietnamese) above the header, the header
repeated on every printed page, landscape, fitted to one page wide, the header frozen
and filtered; phone numbers, codes and passwords are text cells (the leading 0 stays).

Times are stored in UTC. Spreadsheets show them in Vietnam time (UTC+7, no daylight
saving), which is what a unit reading "Ngày cấp" expects; JSON keeps ISO 8601 UTC.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import call
from pathlib import Path
from typing import IO, Any

from dnmail.clock import LOCAL_TZ

#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV
#: injection"): these text cells get a leading apostrophe.
FORMULA_TRIGGERS = frozenset("=+-@\t\r")
#: ... also when they are the first VISIBLE character (after spaces, U+3000, zero-width
#: and control characters, which spreadsheets skip or users cannot see), and in their
#: full-width forms (＝＋－＠), which Excel with an East Asian input method takes too.
FORMULA_STARTS = FORMULA_TRIGGERS | frozenset("\uff1d\uff0b\uff0d\uff20")
_INVISIBLE = frozenset(("Cc", "Cf", "Zs", "Zl", "Zp"))

FORMATS = {".xlsx": "xlsx", ".csv": "csv", ".json": "json"}

# Day 0 of Excel's date numbers, in Vietnam time: (aware datetime - this) counts local days.
_EXCEL_EPOCH = datetime(1899, 12, 30, tzinfo=LOCAL_TZ)
_SECOND = timedelta(seconds=1)

# Characters XML 1.0 cannot carry: openpyxl refuses them, and an xlsx cell with one
# would make the whole workbook unreadable. They are replaced by U+FFFD.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Excel's error literals: a text cell equal to one would become an error cell.
_XLSX_ERROR_CODES = frozenset(("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"))


@dataclass(frozen=True)
class Column:
    """One column: its JSON key, its Vietnamese header, and how its values are shown.

    type: "text", "int", "datetime" (an aware UTC datetime), "json" (a JSON text:
    spreadsheets show it as text, the JSON export embeds the object), "code" (digits
    or letters that must stay text: phone numbers, HR ids; a text cell formatted "@" in
    a workbook) or "secret" (a password: a text cell written exactly as it is).
    labels: code → Vietnamese label, used in spreadsheets (JSON keeps the code).
    json_only: present in the JSON export only.
    """

    key: str
    header: str
    type: str = "text"
    labels: Mapping[str, str] | None = None
    width: float = 18
    json_only: bool = False
    number_format: str = "dd/mm/yyyy hh:mm"


#: The running number the slip's table starts with (Phụ lục II); added by the writers.
STT = Column("no", "STT", "int", width=6)


def formula_like(text: str) -> bool:
    """Would a spreadsheet run this text as a formula? True when its first character,
    or its first visible one, starts a formula (FORMULA_STARTS)."""
    first = text[0]
    if first in FORMULA_TRIGGERS:
        return True
    if first.isalnum():  # the common cell: a name, a number, an address
        return False
    for ch in text:
        if ch in FORMULA_STARTS:
            return True
        if not (ch.isspace() or unicodedata.category(ch) in _INVISIBLE):
            return False
    return False


def neutralise(text: str) -> str:
    """`'` before a text a spreadsheet would run as a formula; other text unchanged."""
    if text and formula_like(text):
        return "'" + text
    return text


def output_format(path: Path) -> str | None:
    """The format the file's suffix names (any case): xlsx, csv or json; None otherwise."""
    return FORMATS.get(path.suffix.lower())


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary path next to `path`; renamed over `path` when the block succeeds,
    removed when it fails. Created 0600: exports carry names and phone numbers."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _fsync(tmp_path)  # the data is on disk before the name points at it
        os.replace(tmp_path, path)
        _fsync(path.parent)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- shared value conversion ----------------------------------------------------------


def _label(labels: Mapping[str, str]) -> Callable[[Any], Any]:
    def convert(v):
        return labels.get(v, v) if v is not None else None

    return convert


def _sheet_columns(columns: Sequence[Column]) -> list[Column]:
    return [STT, *(c for c in columns if not c.json_only)]


def _sheet_indexes(columns: Sequence[Column]) -> list[int]:
    return [i for i, c in enumerate(columns) if not c.json_only]


# --- xlsx -------------------------------------------------------------------------------


def write_xlsx(
    path: Path | IO[bytes],
    columns: Sequence[Column],
    rows: Iterable[Sequence],
    *,
    title: str,
    heading: str = "",
) -> int:
    """Stream rows into a one-sheet workbook (openpyxl write-only). Returns the row count.

    `heading` is the title row above the header (the list, the unit, the date); the
    page is set up for printing (`_print_setup`)."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=_sheet_title(title))
    shown = _sheet_columns(columns)
    for i, c in enumerate(shown, 1):
        ws.column_dimensions[get_column_letter(i)].width = column_width(c)
    top = 2 if heading else 1  # the header's row
    ws.freeze_panes = f"A{top + 1}"
    _print_setup(ws, top)
    cells = _XlsxCells(ws)
    if heading:
        ws.append([cells.heading(heading)])
    ws.append(cells.header(shown))
    picks = _sheet_indexes(columns)
    converters = [cells.converter(columns[i]) for i in picks]
    n = 0
    every = len(picks) == len(columns)
    for row in rows:
        n += 1
        # operator.call: each converter applied to its value without a Python-level loop.
        values = row if every else [row[i] for i in picks]
        ws.append([n, *map(call, converters, values)])
    if n:
        ws.auto_filter.ref = f"A{top}:{get_column_letter(len(shown))}{n + top}"
    wb.save(path)
    return n


def column_width(c: Column) -> float:
    """The column's width (characters): its own, or its header's when that is wider."""
    return max(c.width, max(len(line) for line in c.header.split("\n")) + 3)


def _print_setup(ws: Any, header_row: int) -> None:
    """A4 landscape, one page wide (as many pages down as needed), the header row
    repeated on every page, centred, with the page number in the footer."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = 9  # A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.oddFooter.center.text = "Trang &P / &N"


def heading_text(list_name: str, unit: str | None, day: datetime) -> str:
    """The title row: 'Đã cấp email — Đơn vị: Sở Nội vụ (snv) — ngày 05 tháng 12 năm 2026'."""
    local = day.astimezone(LOCAL_TZ)
    parts = [list_name, f"Đơn vị: {unit}" if unit else "Tất cả đơn vị"]
    parts.append(f"ngày {local.day:02d} tháng {local.month:02d} năm {local.year}")
    return " — ".join(parts)


class _XlsxCells:
    """The cells of a write-only sheet: a bold header, text that is never read as a
    formula or an error value, dates as numbers."""

    def __init__(self, ws: Any):
        from openpyxl.cell import WriteOnlyCell

        self.ws = ws
        self.cell = WriteOnlyCell
        self._illegal = _XML_ILLEGAL.search

    def heading(self, text: str) -> Any:
        from openpyxl.styles import Font

        cell = self.cell(self.ws, value=_xml_safe(text))
        cell.font = Font(bold=True, size=13)
        return cell

    def header(self, shown: Sequence[Column]) -> list:
        from openpyxl.styles import Font

        bold = Font(bold=True)
        header = []
        for c in shown:
            cell = self.cell(self.ws, value=c.header)
            cell.font = bold
            header.append(cell)
        return header

    def converter(self, c: Column) -> Callable[[Any], Any]:
        if c.labels is not None:
            return _label(c.labels)
        if c.type == "datetime":
            return self._datetime(c)
        if c.type in ("text", "json"):
            return self._text
        if c.type == "code":
            return self._code(c)
        if c.type == "secret":
            return self._secret
        return _same

    def _code(self, c: Column) -> Callable[[Any], Any]:
        # One cell formatted as text ("@") reused by every row, as for dates: a phone
        # number typed over in the unit's copy stays text, its leading 0 too.
        cell = self.cell(self.ws)
        cell.number_format = "@"
        text = self._text

        def convert(v: Any) -> Any:
            if v is None or v == "":
                return None
            value = text(str(v))
            if not isinstance(value, str):
                return value  # a neutralised formula: its own string cell
            cell.value = value
            cell.data_type = "s"
            return cell

        return convert

    def _secret(self, v: Any) -> Any:
        # Exactly as generated: an explicit string cell is never a formula in a workbook,
        # and a password must not gain an apostrophe.
        return self._text_cell(_xml_safe(v)) if v else None

    def _text_cell(self, v: str) -> Any:
        # An explicit string cell: openpyxl would otherwise read "=…" as a formula and
        # "#N/A" as an error value.
        cell = self.cell(self.ws)
        cell.value = v
        cell.data_type = "s"
        return cell

    def _text(self, v: Any) -> Any:
        if not v:
            return None
        if not v[0].isalnum():
            if formula_like(v):
                return self._text_cell(_xml_safe("'" + v))
            if v in _XLSX_ERROR_CODES:
                return self._text_cell(v)
        if self._illegal(v):
            # XML cannot carry control characters (openpyxl would refuse the cell).
            return _xml_safe(v)
        return v

    def _datetime(self, c: Column) -> Callable[[Any], Any]:
        # A date in a workbook is a number (days since 1899-12-30, local time) with a
        # date format. Written as that number, to the second, through one styled cell
        # per column that every row reuses (openpyxl writes a cell the moment its row is
        # appended): no per-date cell, style lookup or datetime conversion in openpyxl.
        cell = self.cell(self.ws)
        cell.number_format = c.number_format

        def convert(v: Any) -> Any:
            if v is None:
                return None
            cell.value = ((v - _EXCEL_EPOCH) // _SECOND) / 86400
            return cell

        return convert


def _local_time(pattern: str) -> Callable[[Any], Any]:
    """An aware datetime as Vietnam time text (`pattern`, strftime)."""

    def convert(v: Any) -> Any:
        return v.astimezone(LOCAL_TZ).strftime(pattern) if v is not None else None

    return convert


def _same(v):
    return v


def _xml_safe(v: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", v)


def _sheet_title(title: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\
    return re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "Sheet1"


# --- csv --------------------------------------------------------------------------------


def write_csv(path: Path, columns: Sequence[Column], rows: Iterable[Sequence]) -> int:
    """UTF-8 with a BOM (so that Excel reads the diacritics), RFC 4180 quoting, CRLF."""
    shown = _sheet_columns(columns)
    picks = _sheet_indexes(columns)
    convs: list[Callable[[Any], Any]] = []
    for i in picks:
        c = columns[i]
        if c.labels is not None:
            convs.append(_label(c.labels))
        elif c.type == "datetime":
            convs.append(_local_time(_strftime(c.number_format)))
        elif c.type in ("text", "json", "code"):
            convs.append(lambda v: neutralise(v) if v else v)
        else:
            convs.append(lambda v: v)
    n = 0
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow([c.header for c in shown])
        for row in rows:
            n += 1
            w.writerow([n, *(conv(row[i]) for i, conv in zip(picks, convs, strict=True))])
    return n


def _strftime(number_format: str) -> str:
    """The CSV text of a datetime column: ISO-like, local time, to the minute or second."""
    return "%Y-%m-%d %H:%M:%S" if ":ss" in number_format else "%Y-%m-%d %H:%M"


# --- json -------------------------------------------------------------------------------


def write_json(
    path: Path,
    columns: Sequence[Column],
    rows: Iterable[Sequence],
    *,
    header: Mapping[str, Any],
) -> int:
    """One document `{**header, "rows": [...]}` with English keys, written row by row."""
    keys = [STT.key, *(c.key for c in columns)]
    convs: list[Callable[[Any], Any]] = []
    for c in columns:
        if c.type == "datetime":
            convs.append(lambda v: v.astimezone(UTC).isoformat() if v is not None else None)
        elif c.type == "json":
            convs.append(lambda v: json.loads(v) if v else None)
        else:
            convs.append(lambda v: v)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("{")
        for k, v in header.items():
            f.write(f"\n {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},")
        f.write('\n "rows": [')
        for row in rows:
            n += 1
            values = [n, *(conv(v) for conv, v in zip(convs, row, strict=True))]
            f.write(",\n  " if n > 1 else "\n  ")
            f.write(json.dumps(dict(zip(keys, values, strict=True)), ensure_ascii=False))
        f.write("\n ]\n}\n" if n else "]\n}\n")
    return n


@dataclass(frozen=True)
class Sheet:
    """What to write: columns, the stream of rows, and the file's descriptive header."""

    columns: Sequence[Column]
    rows: Iterable[Sequence]
    title: str
    header: Mapping[str, Any] = field(default_factory=dict)
    heading: str = ""  # the workbook's title row


def write(path: Path, fmt: str, sheet: Sheet) -> int:
    """Write `sheet` to `path` (already a temporary path) in `fmt`. Returns the row count."""
    if fmt == "xlsx":
        return write_xlsx(
            path, sheet.columns, sheet.rows, title=sheet.title, heading=sheet.heading
        )
    if fmt == "csv":
        return write_csv(path, sheet.columns, sheet.rows)
    if fmt == "json":
        return write_json(path, sheet.columns, sheet.rows, header=sheet.header)
    raise ValueError(f"unknown export format {fmt!r}")
