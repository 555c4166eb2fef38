"""Rows out of an .xlsx or .csv file, and the tools both readers share.

- `open_table` / `iter_sheet_rows`: stream the rows of a worksheet (openpyxl in
  read-only mode, after `check_spreadsheet`) or of a UTF-8 CSV file, one at a time,
  with the sheet's own row numbers. Cell values are handed over raw (str, int,
  float, datetime, None) so that numbers keep their type for the HR id and phone
  rules; a formula is never evaluated: openpyxl is opened with `data_only=False`, so
  a formula cell comes back as its source text starting with "=".
- `Column`, `match_header`, `find_header`: a header row found by its text, compared
  with `fold()` (case, diacritics, spacing and line breaks ignored), in any column
  order, extra columns ignored.
- `cell_text`: a raw cell as clean text (NFC, single spaces, no control characters)
  or a `CellError` saying why it cannot be used (a formula — also when its `=` comes
  after invisible characters —, an Excel error value, a cell far too long).

openpyxl is imported inside the functions that read workbooks.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import io
import itertools
import math
import unicodedata
import warnings
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from dnmail.domain.text import clean_text, fold
from dnmail.errors import DnmailError, InvalidFile, Problem, UnsafeFile
from dnmail.i18n import N_, _, later, ngettext
from dnmail.readers.safety import DEFAULT_MAX_UNCOMPRESSED, check_spreadsheet, old_excel_message

#: A cell longer than this is refused: no name, department or address is that long,
#: and a huge cell is more likely a paste accident than data.
MAX_CELL_CHARS = 1000
#: Cells right of this column are not read (bounds the work per row of a hostile sheet).
MAX_COLUMNS = 128
#: A CSV line longer than this is refused before it is decoded.
MAX_CSV_LINE = 1024**2
#: How many problems an InvalidFile keeps (the rest are counted) and how many its
#: message lists.
MAX_PROBLEMS_KEPT = 1000
MAX_PROBLEMS_SHOWN = 100

FORMULA_MESSAGE = N_("cell holds a formula; type the value")
_EXCEL_ERRORS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}
)
_CSV_DELIMITERS = (",", ";", "\t")
_SUFFIXES = {".xlsx": "xlsx", ".csv": "csv"}


# --- cells ---------------------------------------------------------------------------


class CellError(ValueError):
    """A cell whose value cannot be used; the message is for the operator."""


def cell_text(value: Any) -> str:
    """A raw cell value as clean text: NFC, single spaces, control characters dropped.

    Numbers become their digits (12345.0 → "12345"), dates their ISO form. Raises
    CellError for a formula, an Excel error value (#N/A…) or a cell longer than
    MAX_CELL_CHARS characters.
    """
    if value is None:
        return ""
    kind = type(value)
    if kind is str:
        return _str_text(value)
    if kind is int:
        return str(value)
    if kind is float:
        if not math.isfinite(value):
            raise CellError(_("cell holds no usable number"))
        return str(int(value)) if value.is_integer() else repr(value)
    if kind is bool:
        return "TRUE" if value else "FALSE"
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return str(value)
    if "formula" in kind.__name__.lower():  # openpyxl's ArrayFormula, DataTableFormula
        raise CellError(later(FORMULA_MESSAGE))
    if isinstance(value, str):  # a str subclass (openpyxl's CellRichText and the like)
        return cell_text(str(value))
    raise CellError(_("cell holds an unsupported value ({type})").format(type=kind.__name__))


def _str_text(value: str) -> str:
    """cell_text() of a str cell."""
    if not value:
        return ""
    first = value[0]
    if first == "=":
        raise CellError(later(FORMULA_MESSAGE))
    if first == "#" and value.strip() in _EXCEL_ERRORS:
        raise CellError(
            _("cell holds the Excel error {error}; type the value").format(error=value.strip())
        )
    if len(value) > MAX_CELL_CHARS:
        raise CellError(
            _("cell is {n} characters long (limit {limit})").format(
                n=f"{len(value):,}", limit=f"{MAX_CELL_CHARS:,}"
            )
        )
    text = _clean(value)
    if text[:1] == "=":  # a formula behind a tab, spaces, U+200B, U+3000, a backspace…
        raise CellError(later(FORMULA_MESSAGE))
    return text


def _clean(text: str) -> str:
    """clean_text() with a fast path for the common cell: printable, already NFC.

    str.isprintable() is False for every character clean_text would drop (Cc, Cf,
    Co, Cs) and for every whitespace but the plain space, so a printable string
    only needs NFC and space collapsing.
    """
    if text.isprintable():
        if not text.isascii() and not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        if "  " in text or text[0] == " " or text[-1] == " ":
            text = " ".join(text.split())
        return text
    return clean_text(text)


def is_blank(value: object) -> bool:
    """True for an empty cell: None, "" or only whitespace / invisible characters."""
    if value is None:
        return True
    if type(value) is str:
        if not value or value.isspace():
            return True
        if value.isprintable():  # printable and not all spaces: something is written
            return False
        return not clean_text(value)
    return False


# --- columns and headers -------------------------------------------------------------


def column_letter(index: int) -> str:
    """0-based column index → spreadsheet letters: 0 → "A", 25 → "Z", 26 → "AA".

    The same letters as openpyxl.utils.get_column_letter (1-based), without loading
    openpyxl for a CSV file.
    """
    if index < 0:
        raise ValueError("column index must be >= 0")
    letters = ""
    number = index + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def column_ref(index: int, header: str = "") -> str:
    """How a Problem names a column: its letter and, when known, its header text."""
    letter = column_letter(index)
    return f"{letter} ({header})" if header else letter


@dataclass(frozen=True)
class Column:
    """One expected column: a field name, its Vietnamese header, the forms accepted.

    `aliases` are folded forms compared for equality (the header's own folded form is
    always accepted); `prefixes` are folded forms a header may start with (for long
    headers written in many ways, like "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ").
    """

    field: str
    header: str
    aliases: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    required: bool = True
    keys: frozenset[str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset({fold(self.header), *self.aliases}))

    def matches(self, folded: str) -> bool:
        return folded in self.keys or any(folded.startswith(p) for p in self.prefixes)


def _matches(cells: Sequence[object], spec: Sequence[Column]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for index, value in enumerate(cells):
        if value is None or (type(value) is not str):
            continue
        folded = fold(value)
        if not folded:
            continue
        for column in spec:
            if column.matches(folded):
                found.setdefault(column.field, []).append(index)
                break
    return found


def match_header(
    cells: Sequence[object], spec: Sequence[Column], *, min_matches: int = 2
) -> dict[str, int] | None:
    """field → 0-based column index for a row that looks like the header row.

    A row looks like the header when at least `min_matches` of the spec's columns are
    found in it (so a title row, or a label such as "Họ và tên người yêu cầu:", is not
    taken for it). Returns None otherwise. A required column may still be missing
    from the result: see `header_problems`. When a header appears twice, the first
    (leftmost) column is used.
    """
    found = _matches(cells, spec)
    if len(found) < min(min_matches, len(spec)):
        return None
    return {name: indexes[0] for name, indexes in found.items()}


def header_problems(
    cells: Sequence[object],
    spec: Sequence[Column],
    *,
    file_name: str,
    sheet: str | None,
    row: int,
) -> list[Problem]:
    """Missing required columns and headers that appear twice, in the header row."""
    found = _matches(cells, spec)
    problems = []
    for column in spec:
        indexes = found.get(column.field)
        if not indexes:
            if column.required:
                problems.append(
                    Problem(
                        _("missing column {header!r} in the header row").format(
                            header=column.header
                        ),
                        file=file_name,
                        sheet=sheet,
                        row=row,
                    )
                )
        elif len(indexes) > 1:
            letters = ", ".join(column_letter(i) for i in indexes)
            problems.append(
                Problem(
                    _("column {header!r} appears {n} times ({letters}); keep one").format(
                        header=column.header, n=len(indexes), letters=letters
                    ),
                    file=file_name,
                    sheet=sheet,
                    row=row,
                )
            )
    return problems


@dataclass(frozen=True)
class HeaderRow:
    row: int  # sheet row number (CSV: line number)
    columns: dict[str, int]  # field → 0-based index
    headers: dict[str, str]  # field → header text as written in the file
    above: list[tuple[int, Sequence[object]]]  # the rows above the header, in order

    def ref(self, field_name: str) -> str:
        """'B (Họ và tên)' for Problems."""
        return column_ref(self.columns[field_name], self.headers.get(field_name, ""))


def find_header(
    rows: Iterator[tuple[int, Sequence[object]]],
    spec: Sequence[Column],
    *,
    file_name: str,
    sheet: str | None,
    max_scan: int = 50,
    min_matches: int = 2,
    what: str | None = None,
    encoding: str | None = None,
) -> HeaderRow:
    """Consume `rows` up to and including the header row; return where it is.

    A header typed in TCVN3 or VNI is found too (readers/legacy.py); `encoding` is
    the --encoding override.

    Raises InvalidFile when no row within the first `max_scan` rows looks like the
    header, or when the header row lacks a required column (or names one twice).
    """
    above: list[tuple[int, Sequence[object]]] = []
    for number, cells in rows:
        columns = match_header(cells, spec, min_matches=min_matches)
        if columns is None and not all(type(v) is not str or v.isascii() for v in cells):
            legacy = _legacy_header(cells, spec, min_matches, encoding)
            if legacy is not None:
                cells = legacy
                columns = match_header(cells, spec, min_matches=min_matches)
        if columns is None:
            above.append((number, cells))
            if len(above) >= max_scan:
                break
            continue
        problems = header_problems(cells, spec, file_name=file_name, sheet=sheet, row=number)
        if problems:
            raise_problems(file_name, problems)
        headers = {name: cell_text(cells[index]) for name, index in columns.items()}
        return HeaderRow(number, columns, headers, above)
    expected = ", ".join(repr(c.header) for c in spec if c.required)
    what = what or _("table")
    if len(above) >= max_scan:
        message = _(
            "no {what} header row found in the first {n} rows; expected the columns {expected}"
        ).format(what=what, n=max_scan, expected=expected)
    else:
        message = _("no {what} header row found in the file; expected the columns {expected}")
        message = message.format(what=what, expected=expected)
    raise_problems(file_name, [Problem(message, file=file_name, sheet=sheet)])


def _legacy_header(
    cells: Sequence[object], spec: Sequence[Column], min_matches: int, encoding: str | None
) -> Sequence[object] | None:
    from dnmail.readers.legacy import legacy_header

    return legacy_header(
        cells, lambda c: match_header(c, spec, min_matches=min_matches) is not None, encoding
    )


# --- problems ------------------------------------------------------------------------


class ProblemList:
    """Problems collected while reading a file; keeps the first MAX_PROBLEMS_KEPT."""

    def __init__(self, file_name: str, *, limit: int = MAX_PROBLEMS_KEPT):
        self.file_name = file_name
        self.items: list[Problem] = []
        self.dropped = 0
        self.limit = limit

    def add(self, problem: Problem) -> None:
        if len(self.items) < self.limit:
            self.items.append(problem)
        else:
            self.dropped += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items) + self.dropped

    def raise_if_any(self) -> None:
        if self.items:
            problems = list(self.items)
            if self.dropped:
                more = ngettext(
                    "… and {n} more problem not listed",
                    "… and {n} more problems not listed",
                    self.dropped,
                ).format(n=f"{self.dropped:,}")
                problems.append(Problem(more, file=self.file_name))
            raise_problems(self.file_name, problems)


def raise_problems(file_name: str, problems: list[Problem], *, unsafe: bool = False) -> NoReturn:
    """Raise InvalidFile with every problem; the message lists the first 100."""
    cls = UnsafeFile if unsafe else InvalidFile
    if len(problems) == 1:
        raise cls(file_name, problems)
    n = len(problems)
    message = ngettext("{file}: {n} problem", "{file}: {n} problems", n).format(
        file=file_name, n=n
    )
    shown = problems[:MAX_PROBLEMS_SHOWN]
    message += "".join(f"\n  - {p}" for p in shown)
    if n > len(shown):
        more = n - len(shown)
        message += "\n  " + ngettext("… and {n} more", "… and {n} more", more).format(n=more)
    raise cls(file_name, problems, message=message)


# --- reading files -------------------------------------------------------------------


def file_format(path: Path) -> str:
    """'xlsx' or 'csv' from the file's suffix (any case); InvalidFile for anything else."""
    name = Path(path).name
    suffix = Path(path).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if suffix == ".xls":
        raise InvalidFile(name, [Problem(old_excel_message(name))], message=old_excel_message(name))
    raise_problems(
        name,
        [
            Problem(
                _(
                    "unsupported file type {suffix!r}; "
                    "expected an Excel workbook (.xlsx) or a CSV file (.csv)"
                ).format(suffix=suffix or _("(no suffix)")),
                file=name,
            )
        ],
    )


class Table:
    """An open .xlsx workbook or .csv file whose rows can be streamed.

    Use as a context manager (the workbook is closed on exit). `rows()` yields
    (row number, cells) lazily; CSV rows are lists of str, workbook rows tuples of
    raw values padded to the same width.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
        encoding: str | None = None,
    ):
        self.path = Path(path)
        self.encoding = encoding  # --encoding: how a CSV file's bytes are read (csv_codec)
        self.file_name = self.path.name
        self.format = file_format(self.path)
        self.max_uncompressed = max_uncompressed
        self._workbook = None
        self.hidden_sheets: dict[str, str] = {}  # title → "hidden" | "veryHidden"
        self.active_sheet: str | None = None
        if self.format == "xlsx":
            self._workbook = _open_workbook(self.path, max_uncompressed)
            sheets = self._workbook.worksheets
            self.sheet_names = [ws.title for ws in sheets]
            self.hidden_sheets = {
                ws.title: ws.sheet_state for ws in sheets if ws.sheet_state != "visible"
            }
            active = self._workbook.active
            if active is not None and active in sheets and active.title not in self.hidden_sheets:
                self.active_sheet = active.title
            if not self.sheet_names:
                self.close()
                raise_problems(
                    self.file_name,
                    [Problem(_("the workbook has no worksheet"), file=self.file_name)],
                )
        else:
            self.sheet_names = [None]

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._workbook is not None:
            self._workbook.close()
            self._workbook = None

    def rows(
        self, sheet: str | None = None, *, hidden_ok: bool = False
    ) -> Generator[tuple[int, Sequence[object]], None, None]:
        """The rows of `sheet` (default: the first). A hidden row or column that holds
        data refuses the file (InvalidFile naming it) unless `hidden_ok`."""
        if self.format == "csv":
            return _csv_rows(self.path, self.max_uncompressed, self.encoding)
        if self._workbook is None:
            raise ValueError("the table is closed")
        name = sheet or self.sheet_names[0]
        return _sheet_rows(self._workbook, self.file_name, name, refuse_hidden=not hidden_ok)

    def table_sheet(self, spec: Sequence[Column], *, what: str, max_scan: int) -> str | None:
        """The one sheet a table is read from, as a reader sees the workbook (issue 12
        §3): the active sheet when it holds the table (a header row of `spec` in its
        first `max_scan` rows), else the one visible sheet that does. Refused, naming
        them: a hidden or very hidden sheet that holds data (nobody reading the file
        sees it), and a second visible sheet holding the table (which one counts?).
        None for a CSV file; the active (or first) sheet when none holds the table."""
        if self.format == "csv":
            return None
        problems = []
        for name, state in self.hidden_sheets.items():
            if self._holds_data(name):
                if state == "veryHidden":
                    why = _(
                        "the sheet is very hidden (only a macro or an XML editor shows it) and "
                        "holds data that a reader of the workbook does not see: delete it, or "
                        "unhide it and check it"
                    )
                else:
                    why = _(
                        "the sheet is hidden and holds data that a reader of the workbook does "
                        "not see: delete it, or unhide it and check it"
                    )
                problems.append(Problem(why, file=self.file_name, sheet=name))
        visible = [n for n in self.sheet_names if n not in self.hidden_sheets]
        holding = [n for n in visible if self._holds_header(n, spec, max_scan)]
        if len(holding) > 1:
            names = ", ".join(repr(n) for n in holding)
            problems.append(Problem(
                _("several sheets hold a {what} table ({names}): dnmail reads one sheet, keep "
                  "the table on one and delete the others").format(what=what, names=names),
                file=self.file_name))
        if problems:
            raise_problems(self.file_name, problems)
        if self.active_sheet in holding or not holding:
            return self.active_sheet or (visible[0] if visible else self.sheet_names[0])
        return holding[0]

    def _holds_data(self, sheet: str) -> bool:
        with closing(self.rows(sheet, hidden_ok=True)) as rows:
            return any(not is_blank(v) for _, cells in rows for v in cells)

    def _holds_header(self, sheet: str, spec: Sequence[Column], max_scan: int) -> bool:
        with closing(self.rows(sheet, hidden_ok=True)) as rows:
            for number, cells in rows:
                if match_header(cells, spec) is not None:
                    return True
                if number >= max_scan:
                    return False
        return False


def open_table(
    path: Path, *, max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED, encoding: str | None = None
) -> Table:
    """Open an .xlsx (after the safety checks) or a .csv file for streaming."""
    return Table(path, max_uncompressed=max_uncompressed, encoding=encoding)


def iter_sheet_rows(
    path: Path,
    *,
    sheet: str | None = None,
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
) -> Iterator[tuple[int, Sequence[object]]]:
    """(row number, cells) for each row of the first (or the named) worksheet, lazily.

    The workbook is closed when the iteration ends or the generator is closed.
    """
    with open_table(path, max_uncompressed=max_uncompressed) as table:
        yield from table.rows(sheet)


_DEFUSED_ERRORS: tuple[type[BaseException], ...] | None = None


def _defused_errors() -> tuple[type[BaseException], ...]:
    global _DEFUSED_ERRORS
    if _DEFUSED_ERRORS is None:
        try:
            from defusedxml import DefusedXmlException

            _DEFUSED_ERRORS = (DefusedXmlException,)
        except ImportError:  # pragma: no cover - defusedxml is a dependency
            _DEFUSED_ERRORS = ()
    return _DEFUSED_ERRORS


def _open_workbook(path: Path, max_uncompressed: int):  # -> openpyxl Workbook
    check_spreadsheet(path, max_uncompressed=max_uncompressed)
    import openpyxl

    # openpyxl warns about features it drops (data validation extensions, etc.):
    # nothing the operator can act on.
    warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")
    name = path.name
    try:
        return openpyxl.load_workbook(
            path, read_only=True, data_only=False, keep_links=False, keep_vba=False
        )
    except DnmailError:
        raise
    except _defused_errors() as exc:
        raise_problems(
            name, [Problem(_("XML refused by the parser ({error})").format(error=exc), file=name)],
            unsafe=True,
        )
    except Exception as exc:  # openpyxl raises many kinds on a damaged file
        raise_problems(
            name,
            [Problem(_("cannot be read as an Excel workbook (.xlsx): {error}").format(
                error=_short(exc)), file=name)],
        )


def _sheet_rows(
    workbook, file_name: str, sheet: str, *, refuse_hidden: bool = True
) -> Generator[tuple[int, Sequence[object]], None, None]:
    try:
        worksheet = workbook[sheet]
    except KeyError:
        raise_problems(
            file_name, [Problem(_("no sheet named {sheet!r}").format(sheet=sheet), file=file_name)]
        )
    # The <dimension> a producer writes may be wrong; trusting it could silently cut
    # rows off, so it is ignored and every row present is read.
    worksheet.reset_dimensions()
    number = 0
    try:
        if refuse_hidden:
            rows = _visible_rows(worksheet, file_name, sheet)
        else:
            rows = worksheet.iter_rows(min_row=1, max_col=MAX_COLUMNS, values_only=True)
        for number, cells in enumerate(rows, start=1):
            yield number, cells
    except DnmailError:
        raise
    except _defused_errors() as exc:
        raise_problems(
            file_name,
            [Problem(_("XML refused by the parser ({error})").format(error=exc), file=file_name,
                     sheet=sheet)],
            unsafe=True,
        )
    except Exception as exc:  # a damaged sheet: ParseError, KeyError, ValueError…
        raise_problems(
            file_name,
            [
                Problem(
                    _("the sheet cannot be read after row {row}: {error}").format(
                        row=number, error=_short(exc)
                    ),
                    file=file_name,
                    sheet=sheet,
                )
            ],
        )


#: A row lower than this (points) or a column narrower than this (characters) shows
#: nothing a reader can see: it counts as hidden.
MIN_VISIBLE_ROW_HEIGHT = 4.0
MIN_VISIBLE_COLUMN_WIDTH = 1.0


def _is_hidden(attrs: dict, size_key: str, minimum: float) -> bool:
    if str(attrs.get("hidden", "")).lower() in ("1", "true"):
        return True
    size = attrs.get(size_key)
    try:
        return size is not None and float(size) < minimum
    except ValueError:
        return False


def _hidden_columns(dimensions: dict) -> list[int]:
    """0-based indexes (below MAX_COLUMNS) of the columns a <cols> entry hides."""
    hidden: set[int] = set()
    for attrs in dimensions.values():
        if _is_hidden(attrs, "width", MIN_VISIBLE_COLUMN_WIDTH):
            low, high = int(attrs.get("min", 1)), int(attrs.get("max", attrs.get("min", 1)))
            hidden.update(range(max(low, 1) - 1, min(high, MAX_COLUMNS)))
    return sorted(hidden)


def _visible_rows(worksheet, file_name: str, sheet: str) -> Iterator[Sequence[object]]:
    """The sheet's rows as `iter_rows(values_only=True, max_col=MAX_COLUMNS)` gives
    them, refusing a hidden row or column that holds data (issue 12 §3). openpyxl's
    read-only sheets drop row and column attributes, so its sheet parser is driven
    here, as ReadOnlyWorksheet does, and asked for them: <cols> comes before the
    rows in a sheet, each <row> carries its own."""
    from openpyxl.worksheet._reader import WorkSheetParser

    book = worksheet.parent
    empty = (None,) * MAX_COLUMNS
    with worksheet._get_source() as src:
        parser = WorkSheetParser(
            src, worksheet._shared_strings, data_only=book.data_only, epoch=book.epoch,
            date_formats=book._date_formats, timedelta_formats=book._timedelta_formats,
        )
        hidden_columns: list[int] | None = None
        expected = 1
        for index, row in parser.parse():
            if hidden_columns is None:
                hidden_columns = _hidden_columns(parser.column_dimensions)
            while expected < index:  # rows the file leaves out are empty
                expected += 1
                yield empty
            values = worksheet._get_row(row, 1, MAX_COLUMNS, values_only=True)
            attrs = parser.row_dimensions.pop(str(index), None)
            if attrs and _is_hidden(attrs, "ht", MIN_VISIBLE_ROW_HEIGHT) and any(
                not is_blank(v) for v in values
            ):
                raise_problems(file_name, [Problem(
                    _("the row is hidden and holds data: a reader of the workbook does not see "
                      "it: delete it, or unhide it and check it"),
                    file=file_name, sheet=sheet, row=index)])
            for column in hidden_columns:
                if not is_blank(values[column]):
                    letter = column_letter(column)
                    raise_problems(file_name, [Problem(
                        _("column {letter} is hidden and holds data: a reader of the workbook "
                          "does not see it: delete it, or unhide it and check it").format(
                            letter=letter),
                        file=file_name, sheet=sheet, row=index, column=letter)])
            expected = index + 1
            yield values


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


def _csv_rows(
    path: Path, max_bytes: int, encoding: str | None = None
) -> Generator[tuple[int, list[str]], None, None]:
    name = path.name
    try:
        size = path.stat().st_size
        handle = path.open("rb")
    except OSError as exc:
        raise_problems(name, [Problem(
            _("cannot read the file: {error}").format(error=exc.strerror or exc), file=name)])
    if size > max_bytes:
        handle.close()
        raise_problems(
            name, [Problem(_("the file is {size} bytes (limit {limit})").format(
                size=f"{size:,}", limit=f"{max_bytes:,}"), file=name)]
        )
    with handle:
        codec = csv_codec(handle.read(CSV_SAMPLE_BYTES), encoding)
        handle.seek(0)
        if codec.startswith("utf-16"):
            lines = _utf16_lines(handle, name, codec)
        else:
            lines = _decoded_lines(handle, name, codec)
        sample = list(itertools.islice(lines, 50))
        delimiter = sniff_delimiter(sample)
        reader = csv.reader(itertools.chain(sample, lines), delimiter=delimiter)
        # Rows are numbered by record, as Excel numbers them when it opens the file
        # (the same as the line number unless a quoted cell holds a line break).
        number = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise_problems(
                    name,
                    [
                        Problem(
                            _("line {line}: not valid CSV ({error})").format(
                                line=reader.line_num, error=exc
                            ),
                            file=name,
                            row=number + 1,
                        )
                    ],
                )
            number += 1
            yield number, record


#: How much of a CSV file is looked at to tell its encoding.
CSV_SAMPLE_BYTES = 1024**2
_CSV_CODECS = {"utf-8": "utf-8", "utf-16": "utf-16", "cp1258": "cp1258"}
_LEGACY_BYTES = "latin-1"  # TCVN3/VNI bytes as the text legacy_text converts
_CODEC_NAMES = {
    "utf-8": "UTF-8",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16",
    "cp1258": "Windows-1258",
}


def csv_codec(sample: bytes, encoding: str | None = None) -> str:
    """The codec a CSV file is read with, from its first bytes (issue 13 §2).

    UTF-8 (with or without BOM) and UTF-16 (with BOM; or without, when NUL bytes show
    it) are recognised; an 8-bit file is Windows-1258, unless its words read as
    Vietnamese syllables more often as TCVN3 or VNI bytes: then it is read byte for
    byte (latin-1) and the columns are converted by the legacy-text reader. A file
    that starts as UTF-8 and breaks later is UTF-8 (and refused at the bad byte).
    `encoding` (--encoding) forces utf-8, utf-16 or cp1258; tcvn3/vni read an 8-bit
    file byte for byte, unicode as Windows-1258.
    """
    if encoding in _CSV_CODECS:
        return _CSV_CODECS[encoding]
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if len(sample) >= 2 and b"\x00" in sample[:2]:
        return "utf-16-le" if sample[1:2] == b"\x00" else "utf-16-be"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" or not sample[: exc.start].isascii():
            return "utf-8"  # cut in the middle of a character, or damaged UTF-8
    if encoding in ("tcvn3", "vni"):
        return _LEGACY_BYTES
    if encoding == "unicode":
        return "cp1258"
    from dnmail.readers.legacy import eight_bit_reading

    return eight_bit_reading(sample)


def _utf16_lines(handle, name: str, codec: str) -> Iterator[str]:
    text = io.TextIOWrapper(handle, encoding=codec, newline="")
    number = 0
    try:
        while True:
            line = text.readline(MAX_CSV_LINE)
            if not line:
                return
            number += 1
            if len(line) >= MAX_CSV_LINE and not line.endswith("\n"):
                _too_long(name, number)
            yield line.lstrip("\ufeff") if number == 1 else line
    except UnicodeDecodeError as exc:
        raise_problems(name, [Problem(
            _("line {line}: not valid UTF-16 ({error}); save the file as 'CSV UTF-8'").format(
                line=number + 1, error=exc.reason),
            file=name, row=number + 1)])
    finally:
        text.detach()


def _too_long(name: str, number: int) -> NoReturn:
    raise_problems(name, [Problem(
        _("line {line} is longer than {limit} bytes").format(
            line=number, limit=f"{MAX_CSV_LINE:,}"),
        file=name, row=number)])


def _decoded_lines(handle, name: str, codec: str = "utf-8") -> Iterator[str]:
    number = 0
    compose = codec == "cp1258"  # its combining tone marks, composed (NFC)
    while True:
        raw = handle.readline(MAX_CSV_LINE)
        if not raw:
            return
        number += 1
        if len(raw) >= MAX_CSV_LINE and not raw.endswith(b"\n"):
            _too_long(name, number)
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            if compose or codec == _LEGACY_BYTES:
                _refuse_nul(raw, codec)
            line = raw.decode(codec)
        except UnicodeDecodeError as exc:
            _undecodable(name, number, raw, exc, codec)
        yield unicodedata.normalize("NFC", line) if compose else line


def _refuse_nul(raw: bytes, codec: str) -> None:
    """An 8-bit file with a NUL byte is not text (a binary file named .csv)."""
    at = raw.find(b"\x00")
    if at >= 0:
        raise UnicodeDecodeError(codec, raw, at, at + 1, "NUL byte: not a text file")


def _undecodable(
    name: str, number: int, raw: bytes, exc: UnicodeDecodeError, codec: str
) -> NoReturn:
    column = len(raw[: exc.start].decode(codec, "replace")) + 1
    byte = f"0x{raw[exc.start]:02X}"
    if codec == "utf-8":
        what = _("line {line}, character {column}: invalid UTF-8 byte {byte}")
    elif raw[exc.start] == 0:
        what = _("line {line}, character {column}: byte {byte} (NUL): not a text file")
    else:
        what = _("line {line}, character {column}: byte {byte} cannot be read as {codec}")
    what = what.format(line=number, column=column, byte=byte,
                       codec=_CODEC_NAMES.get(codec, codec))
    mend = _("save the file as 'CSV UTF-8' (or name its encoding with --encoding)")
    raise_problems(name, [Problem(f"{what}; {mend}", file=name, row=number)])


def sniff_delimiter(lines: Iterable[str]) -> str:
    """The delimiter among , ; TAB that splits the sample into the most consistent rows.

    For each candidate, the sample is parsed and the most common field count (above 1)
    is taken with how many rows have it; the best (frequency, count) wins, ties going
    to the comma.
    """
    sample = list(lines)
    best, best_score = ",", (0, 0)
    for delimiter in _CSV_DELIMITERS:
        try:
            widths = Counter(
                len(row)
                for row in csv.reader(sample, delimiter=delimiter)
                if len(row) > 1 and any(cell.strip() for cell in row)
            )
        except csv.Error:
            continue
        if not widths:
            continue
        width, frequency = max(widths.items(), key=lambda item: (item[1], item[0]))
        score = (frequency, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best
