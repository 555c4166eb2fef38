"""The HR roster (DESIGN §2 "The HR roster"): the HR system's export, read whole.

Headers are found by their text (case, diacritics, spacing, line breaks and column
order do not matter; extra columns are ignored; a title row or a few rows above the
header are allowed):

    Mã hồ sơ | Họ và tên | Mã đơn vị | Phòng ban | Chức vụ | Số điện thoại | Trạng thái

All seven are required: a roster that silently lacks, say, "Phòng ban" would blank
every department on import. One more is optional: the person's existing address,
under ``Email``, ``Hộp thư``, ``Thư điện tử`` or ``Địa chỉ email`` (what `directory
adopt` matches directory entries by, DESIGN §7); a roster without it leaves the
addresses stored before untouched, and a value that is not an address is a warning
(the address is left out), never a reason to refuse the roster. Every problem in the
file is collected and reported at once (InvalidFile); nothing is returned unless the
whole file is good. Whether the unit codes exist is the import service's business,
not the reader's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnmail.domain.phones import BadPhone, parse_phone
from dnmail.domain.states import HrStatus
from dnmail.domain.text import fold, person_name_problem
from dnmail.errors import Problem
from dnmail.i18n import _, ngettext
from dnmail.readers.legacy import Where, convert_columns
from dnmail.readers.safety import DEFAULT_MAX_UNCOMPRESSED
from dnmail.readers.tabular import (
    CellError,
    Column,
    HeaderRow,
    ProblemList,
    Table,
    cell_text,
    find_header,
    is_blank,
    open_table,
    raise_problems,
)

ROSTER_COLUMNS: tuple[Column, ...] = (
    Column("hr_id", "Mã hồ sơ", aliases=("mahs", "mahosonhansu", "mahosocanbo")),
    Column("full_name", "Họ và tên", aliases=("hoten",)),
    Column("unit_code", "Mã đơn vị", aliases=("madv",)),
    Column("department", "Phòng ban", aliases=("phongbanbophan", "bophan")),
    Column("position", "Chức vụ"),
    Column("phone", "Số điện thoại", aliases=("dienthoai", "sdt", "sodt")),
    Column("status", "Trạng thái", aliases=("trangthaicongtac",)),
)
#: The optional column of existing addresses (any of these headers).
EMAIL_COLUMN = Column(
    "email", "Email", aliases=("hopthu", "thudientu", "diachiemail", "diachithudientu"),
    required=False,
)
_HEADER = {column.field: column.header for column in (*ROSTER_COLUMNS, EMAIL_COLUMN)}
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_STATUS_BY_KEY = {fold(status.label_vi): status for status in HrStatus}
_ALLOWED_STATUS = ", ".join(repr(status.label_vi) for status in HrStatus)

#: Rows above the header that may hold a title, a date, an export note.
HEADER_SCAN_ROWS = 30
MAX_HR_ID_CHARS = 64
MAX_NAME_CHARS = 200
#: Restored-phone warnings listed one by one; the rest are counted in one warning.
MAX_PHONE_WARNINGS = 100
_EXACT_FLOAT_LIMIT = 2**53
_CACHE_SIZE = 4096  # distinct units / departments / positions remembered, cleaned
_LETTER = re.compile(r"[^\W\d_]")  # any letter, in any script


@dataclass(frozen=True, slots=True)
class RosterRow:
    row: int  # sheet row (CSV: record number, the row Excel shows for it)
    hr_id: str
    full_name: str
    unit_code: str  # lower-case
    department: str
    position: str
    phone: str  # digits, national form, or ""
    phone_restored: bool
    status: HrStatus
    email: str | None = None  # lower case; "" when blank; None when the roster has no column


@dataclass(frozen=True)
class Roster:
    file_name: str
    rows: list[RosterRow]
    warnings: list[Problem]


def read_roster(
    path: Path,
    *,
    sheet: str | None = None,
    max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
    encoding: str | None = None,
) -> Roster:
    """Read an HR roster (.xlsx or .csv) whole, or raise InvalidFile with every problem.

    The sheet read is the active one, or the one visible sheet holding the roster,
    unless `sheet` names another; a hidden sheet, row or column holding data and a
    second sheet holding a roster are refused, naming them. `max_uncompressed`
    bounds what an .xlsx may unpack to, and the size of a .csv file. UnsafeFile (a
    kind of InvalidFile) when the workbook is refused before parsing. A roster with
    no data row is refused too: it is a broken export, not an empty city.

    Columns typed in TCVN3 or VNI are converted with a warning, and a column whose
    encoding is unclear refuses the file (readers/legacy.py); `encoding` is the
    --encoding override (tcvn3, vni, unicode; utf-8, utf-16, cp1258 for a CSV file).
    """
    path = Path(path)
    with open_table(path, max_uncompressed=max_uncompressed, encoding=encoding) as table:
        # The sheet a reader sees: hidden sheets holding data and a second roster
        # table are refused (Table.table_sheet), hidden rows or columns holding data
        # too (Table.rows).
        sheet_name = sheet or table.table_sheet(
            ROSTER_COLUMNS, what=_("roster"), max_scan=HEADER_SCAN_ROWS
        )
        reader = _read_sheet(table, sheet_name, encoding)
    return reader.finish()


def _read_sheet(table: Table, sheet_name: str | None, encoding: str | None) -> RosterRowReader:
    with closing(table.rows(sheet_name)) as rows:
        header = find_header(
            rows,
            (*ROSTER_COLUMNS, EMAIL_COLUMN),
            file_name=table.file_name,
            sheet=sheet_name,
            max_scan=HEADER_SCAN_ROWS,
            what=_("roster"),
            encoding=encoding,
        )
        body = list(rows)
    # Detection needs the whole column: the rows are read first, then judged.
    body, warnings, problems = convert_columns(
        body,
        header.columns,
        lambda name: Where(table.file_name, sheet_name, header.ref(name)),
        encoding=encoding,
    )
    if problems:
        raise_problems(table.file_name, problems)
    reader = RosterRowReader(table.file_name, sheet_name, header)
    reader.warnings.extend(warnings)
    for number, cells in body:
        reader.read(number, cells)
    return reader


def _fast_hr_id(raw: Any) -> str | None:
    """The HR id of the common cell (text, or a whole number); None otherwise."""
    kind = type(raw)
    if kind is str:
        return cell_text(raw)
    if kind is int and raw >= 0:
        return str(raw)
    return None  # floats, dates…: the careful path says what is wrong


def _fast_phone(raw: Any) -> tuple[str, bool] | None:
    """(phone, leading 0 restored) for the common cells; None: the careful path decides."""
    if (
        type(raw) is str
        and len(raw) in (10, 11)
        and raw[0] == "0"
        and raw.isascii()
        and raw.isdigit()
    ):
        return raw, False  # what parse_phone returns for it
    if raw is None or raw == "":
        return "", False
    if type(raw) is int and 100_000_000 <= raw < 10_000_000_000:
        # 9 or 10 digits typed as a number lost their leading 0: parse_phone's rule
        return "0" + str(raw), True
    if type(raw) is float:
        try:
            parsed = parse_phone(raw)
        except BadPhone:
            return None
        return parsed.number, parsed.restored_zero
    return None


class RosterRowReader:
    """Turns the rows below the header into RosterRows, collecting problems.

    Pure (no file access): `read()` one row at a time, then `finish()`.
    """

    def __init__(self, file_name: str, sheet: str | None, header: HeaderRow):
        self.file_name = file_name
        self.sheet = sheet
        self.header = header
        columns = header.columns
        self._indexes = tuple(columns[column.field] for column in ROSTER_COLUMNS)
        self._email_index = columns.get(EMAIL_COLUMN.field)
        self._width = max((*self._indexes, self._email_index or 0)) + 1
        self.rows: list[RosterRow] = []
        self.problems = ProblemList(file_name)
        self.warnings: list[Problem] = []
        self._restored = 0
        self._first_row_of: dict[str, int] = {}
        self._status_cache: dict[object, HrStatus] = {}
        self._unit_cache: dict[str, str] = {}
        self._text_cache: dict[object, str] = {}

    # -- per row ----------------------------------------------------------------------

    def read(self, number: int, cells: Sequence[Any]) -> RosterRow | None:
        """Parse one row; None when it is empty or has a problem (then recorded)."""
        if len(cells) < self._width:
            cells = [*cells, *([None] * (self._width - len(cells)))]
        i_hr, i_name, i_unit, i_dept, i_pos, i_phone, i_status = self._indexes
        raw_hr, raw_name, raw_unit = cells[i_hr], cells[i_name], cells[i_unit]
        raw_dept, raw_pos, raw_phone, raw_status = (
            cells[i_dept],
            cells[i_pos],
            cells[i_phone],
            cells[i_status],
        )
        values = (raw_hr, raw_name, raw_unit, raw_dept, raw_pos, raw_phone, raw_status)

        # Fast path: the common, valid row. Anything unusual (an empty row included)
        # goes to the careful path, which reads the row again and records every
        # problem in it. Values that repeat down a column (unit, department,
        # position, status) are cleaned once and looked up afterwards.
        try:
            hr_id = _fast_hr_id(raw_hr)
            full_name = cell_text(raw_name)
            unit_code = self._unit_code(raw_unit)
            department = self._cached_text(raw_dept)
            position = self._cached_text(raw_pos)
        except CellError:
            return self._read_checked(number, values, cells)
        fast_phone = _fast_phone(raw_phone)
        if fast_phone is None:
            return self._read_checked(number, values, cells)
        phone, restored = fast_phone
        status = self._status_cache.get(raw_status) if type(raw_status) is str else None
        if (
            not hr_id
            or len(hr_id) > MAX_HR_ID_CHARS
            or hr_id in self._first_row_of
            or not full_name
            or len(full_name) > MAX_NAME_CHARS
            or _LETTER.search(full_name) is None
            or person_name_problem(full_name) is not None
            or not unit_code
            or status is None
        ):
            return self._read_checked(number, values, cells)
        self._first_row_of[hr_id] = number
        if restored:
            self._warn_restored(number, raw_phone, phone)
        row = RosterRow(
            number, hr_id, full_name, unit_code, department, position, phone, restored, status,
            self._email(number, cells),
        )
        self.rows.append(row)
        return row

    def _unit_code(self, raw: object) -> str:
        unit_code = self._unit_cache.get(raw) if type(raw) is str else None
        if unit_code is None:
            unit_code = cell_text(raw).lower()
            if type(raw) is str and len(self._unit_cache) < _CACHE_SIZE:
                self._unit_cache[raw] = unit_code
        return unit_code

    def _cached_text(self, value: object) -> str:
        if type(value) is not str:
            return cell_text(value)
        text = self._text_cache.get(value)
        if text is None:
            text = cell_text(value)
            if len(self._text_cache) < _CACHE_SIZE:
                self._text_cache[value] = text
        return text

    def _read_checked(
        self, number: int, values: tuple[object, ...], cells: Sequence[object]
    ) -> RosterRow | None:
        if all(is_blank(v) for v in values):
            return None
        raw_hr, raw_name, raw_unit, raw_dept, raw_pos, raw_phone, raw_status = values
        hr_id = self._hr_id(number, raw_hr)
        full_name = self._name(number, raw_name)
        unit_code = self._unit(number, raw_unit)
        department = self._text(number, "department", raw_dept)
        position = self._text(number, "position", raw_pos)
        phone, restored = self._phone(number, raw_phone)
        status = self._status(number, raw_status)
        ok = hr_id is not None and self._first_time(number, hr_id)
        ok = ok and None not in (full_name, unit_code, department, position, phone, status)
        if not ok:
            return None
        # every field was read (ok): none of them is None
        assert hr_id is not None and full_name is not None and unit_code is not None
        assert department is not None and position is not None and phone is not None
        assert status is not None
        if restored:
            self._warn_restored(number, raw_phone, phone)
        row = RosterRow(
            number, hr_id, full_name, unit_code, department, position, phone, restored, status,
            self._email(number, cells),
        )
        self.rows.append(row)
        return row

    def _name(self, number: int, raw: object) -> str | None:
        full_name = self._text(number, "full_name", raw)
        if full_name is None:
            return None
        if not full_name:
            why: str | None = _("the name is empty")
        elif len(full_name) > MAX_NAME_CHARS:
            why = _("the name is {n} characters long (limit {limit})").format(
                n=len(full_name), limit=MAX_NAME_CHARS
            )
        elif _LETTER.search(full_name) is None:
            why = _("{name!r} is not a name (no letters)").format(name=full_name[:60])
        else:
            why = person_name_problem(full_name)
        if why is not None:
            self._problem(number, "full_name", why)
            return None
        return full_name

    def _unit(self, number: int, raw: object) -> str | None:
        unit_code = self._text(number, "unit_code", raw)
        if unit_code is None:
            return None
        if not unit_code:
            self._problem(number, "unit_code", _("the unit code is empty"))
            return None
        return unit_code.lower()

    def _first_time(self, number: int, hr_id: str) -> bool:
        """Records the row of `hr_id`; False (a problem) when an earlier row has it."""
        first = self._first_row_of.get(hr_id)
        if first is None:
            self._first_row_of[hr_id] = number
            return True
        self._problem(
            number,
            "hr_id",
            _("Mã hồ sơ {hr_id!r} appears twice: rows {first} and {row}").format(
                hr_id=hr_id, first=first, row=number
            ),
        )
        return False

    def finish(self) -> Roster:
        if not self.rows and not self.problems:
            self.problems.add(
                Problem(
                    _("the roster has no data rows below its header"),
                    file=self.file_name,
                    sheet=self.sheet,
                    row=self.header.row,
                )
            )
        self.problems.raise_if_any()
        if self._restored > MAX_PHONE_WARNINGS:
            more = self._restored - MAX_PHONE_WARNINGS
            self.warnings.append(
                Problem(
                    ngettext(
                        "… and the leading 0 was restored on {n} more phone number",
                        "… and the leading 0 was restored on {n} more phone numbers",
                        more,
                    ).format(n=f"{more:,}"),
                    file=self.file_name,
                    sheet=self.sheet,
                    column=self.header.ref("phone"),
                )
            )
        return Roster(self.file_name, self.rows, self.warnings)

    # -- fields -----------------------------------------------------------------------

    def _problem(self, number: int, field: str, message: str) -> None:
        self.problems.add(
            Problem(
                f"{_HEADER[field]}: {message}",
                file=self.file_name,
                sheet=self.sheet,
                row=number,
                column=self.header.ref(field),
            )
        )

    def _text(self, number: int, field: str, value: object) -> str | None:
        try:
            return cell_text(value)
        except CellError as exc:
            self._problem(number, field, str(exc))
            return None

    def _hr_id(self, number: int, value: Any) -> str | None:
        kind = type(value)
        if kind is int:
            return str(value) if value >= 0 else self._bad_hr_id(number, value)
        if kind is float:
            if value.is_integer() and 0 <= value < _EXACT_FLOAT_LIMIT:
                return str(int(value))
            self._problem(
                number,
                "hr_id",
                _(
                    "{value!r} is not a whole number Excel can hold exactly; "
                    "format the column as Text"
                ).format(value=value),
            )
            return None
        if kind is bool:
            return self._bad_hr_id(number, value)
        text = self._text(number, "hr_id", value)
        if text is None:
            return None
        if not text:
            self._problem(number, "hr_id", _("the HR id is empty"))
            return None
        if len(text) > MAX_HR_ID_CHARS:
            self._problem(
                number,
                "hr_id",
                _("the HR id is {n} characters long (limit {limit})").format(
                    n=len(text), limit=MAX_HR_ID_CHARS
                ),
            )
            return None
        return text

    def _bad_hr_id(self, number: int, value: object) -> str | None:
        self._problem(number, "hr_id", _("{value!r} is not an HR id").format(value=value))
        return None

    def _phone(self, number: int, value: object) -> tuple[str | None, bool]:
        if type(value) is str:
            text = self._text(number, "phone", value)
            if text is None:
                return None, False
            value = text
        try:
            phone = parse_phone(value)
        except BadPhone as exc:
            self._problem(number, "phone", str(exc))
            return None, False
        return phone.number, phone.restored_zero

    def _email(self, number: int, cells: Sequence[object]) -> str | None:
        """The row's address (lower case), "" when blank, None without the column. Not
        an address: a warning, and the value is left out."""
        if self._email_index is None:
            return None
        value = cells[self._email_index]
        try:
            text = cell_text(value).lower()
        except CellError as exc:
            text, problem = "", str(exc)
        else:
            problem = ""
            if text and not _EMAIL.match(text):
                problem = _("{value!r} is not an address").format(value=text[:80])
        if problem:
            self.warnings.append(
                Problem(
                    _("{column}: {problem}; left out").format(
                        column=_HEADER["email"], problem=problem
                    ),
                    file=self.file_name, sheet=self.sheet, row=number,
                    column=self.header.ref("email"),
                )
            )
            return ""
        return text

    def _warn_restored(self, number: int, value: object, phone: str) -> None:
        self._restored += 1
        if self._restored <= MAX_PHONE_WARNINGS:
            self.warnings.append(
                Problem(
                    _(
                        "{column}: leading 0 restored ({value!r} → {phone}); "
                        "format the column as Text"
                    ).format(column=_HEADER["phone"], value=value, phone=phone),
                    file=self.file_name,
                    sheet=self.sheet,
                    row=number,
                    column=self.header.ref("phone"),
                )
            )

    def _status(self, number: int, value: object) -> HrStatus | None:
        try:
            text = cell_text(value)
        except CellError as exc:
            self._problem(number, "status", str(exc))
            return None
        if not text:
            self._problem(
                number,
                "status",
                _("the status is empty; use one of {allowed}").format(allowed=_ALLOWED_STATUS),
            )
            return None
        status = _STATUS_BY_KEY.get(fold(text))
        if status is None:
            self._problem(
                number,
                "status",
                _("{value!r} is not a status; use one of {allowed}").format(
                    value=text[:60], allowed=_ALLOWED_STATUS
                ),
            )
            return None
        if type(value) is str and len(self._status_cache) < 64:
            self._status_cache[value] = status
        return status
