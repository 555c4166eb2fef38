"""A request slip (Phụ lục II) filled in as an Excel workbook → SlipContent.

Nothing is read from fixed cells. The table is found by its header text anywhere in
the first rows of a sheet (any column order, extra columns ignored):

    STT | Họ và tên | Phòng ban/Đơn vị trực thuộc | Số điện thoại |
    Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ

and the header block above it by its labels ("Tên cơ quan", "Họ và tên người yêu
cầu", "Chức vụ", "Điện thoại liên lạc", "Nội dung yêu cầu"). A label's value is
written after it in the same cell ("Chức vụ: Chánh văn phòng"), or in the next
filled cell on its row; the agency name may also sit in the cell under "Tên cơ
quan:", where the official form puts its dotted line. Merged cells need no special
care: in read-only mode the value of a merge is simply in its top-left cell and the
others read as empty.

The table runs from the row under its header to the date line or the signature block
below it, or to the end of the data. Empty rows inside it (a row where only STT is
filled, as in the blank template, counts as empty) are skipped with a warning that
names them, when people follow them (issue 14 §3). What is really ambiguous is refused:
text in STT of an otherwise empty row with people below it, a name without a row
number below empty rows of a table that numbers its rows, rows after a second header.
A person written below the signature block is reported rather than silently dropped.

Every problem is collected and raised together as InvalidFile; the slip is taken
whole or not at all (DESIGN §5).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from dnmail.domain.phones import BadPhone, parse_phone
from dnmail.domain.slip import ADDRESS_HEADER, SlipContent, SlipRow, kind_from_content
from dnmail.domain.states import RequestKind
from dnmail.domain.text import fold, name_key, person_name_problem
from dnmail.errors import Problem
from dnmail.i18n import _, ngettext
from dnmail.readers.legacy import Where, convert_cells, convert_columns, legacy_header
from dnmail.readers.safety import DEFAULT_MAX_UNCOMPRESSED, check_spreadsheet
from dnmail.readers.tabular import (
    CellError,
    Column,
    HeaderRow,
    ProblemList,
    Table,
    cell_text,
    column_letter,
    header_problems,
    is_blank,
    match_header,
    raise_problems,
)

SLIP_COLUMNS: tuple[Column, ...] = (
    Column("seq", "STT", aliases=("sott", "tt", "sothutu"), required=False),
    Column("full_name", "Họ và tên", aliases=("hoten", "hovatencanbo", "hotencanbo")),
    Column(
        "department",
        "Phòng ban/Đơn vị trực thuộc",
        aliases=("phongban", "donvi", "donvitructhuoc", "phongbandonvi", "bophan"),
        required=False,
    ),
    Column("phone", "Số điện thoại", aliases=("dienthoai", "sdt", "sodt"), required=False),
    Column(
        "address",
        ADDRESS_HEADER,
        aliases=("hopthu", "email", "diachiemail", "diachihopthu", "thudientu"),
        # the seed letter itself writes "Tên hộ thư đề nghị tạo mới,/thay đổi/hủy bỏ"
        prefixes=("tenhopthu", "tenhothu", "diachithudientu"),
        required=False,
    ),
)
_HEADERS = {column.field: column.header for column in SLIP_COLUMNS}

#: Rows searched for the table header, per sheet.
HEADER_SCAN_ROWS = 200
#: Rows below the end of the table searched for a person left after a gap.
TRAILING_SCAN_ROWS = 500
MAX_NAME_CHARS = 200
_LETTER = re.compile(r"[^\W\d_]")


# --- the header block ----------------------------------------------------------------


@dataclass(frozen=True)
class _Label:
    field: str
    official: bool  # the form's own wording: may be followed by the value without ":"


_LABELS: dict[str, _Label] = {}
for _field, _official, _aliases in (
    ("unit_name", ("tencoquan",), ("coquan", "tendonvi", "donvi")),
    ("requester_name", ("hovatennguoiyeucau",), ("hotennguoiyeucau", "nguoiyeucau")),
    ("requester_position", ("chucvu",), ()),
    ("requester_phone", ("dienthoailienlac",), ("sodienthoailienlac", "dienthoai", "sodienthoai")),
    ("content", ("noidungyeucau",), ("noidung",)),
    ("details", ("lietkecuthecacyeucaunenco", "lietkecuthecacyeucau"), ()),
):
    for _key in _official:
        _LABELS[_key] = _Label(_field, True)
    for _key in _aliases:
        _LABELS[_key] = _Label(_field, False)
_LABEL_PREFIXES = frozenset(key[:i] for key in _LABELS for i in range(len(key) + 1))
_LONGEST_LABEL_WORDS = 10

#: Text of the form itself, never a value.
_BOILERPLATE = (
    "conghoaxahoichunghiavietnam",
    "doclaptudohanhphuc",
    "phieuyeucau",
    "kinhgui",
    "mauphieu",
    "phuluc",
)

_SEPARATOR = r"[:：]|[.…·_]{2,}|…"
_TOKEN = re.compile(rf"{_SEPARATOR}|[^\s:：.…·_]+|\S")
_IS_SEPARATOR = re.compile(rf"^(?:{_SEPARATOR})$")
_LEADING = re.compile(r"^(?:\s|[:：]|[.…·_])+")
_TRAILING = re.compile(r"(?:\s|[.…·_]{2,}|…)+$")


def split_label(text: str) -> tuple[str, str] | None:
    """("field", value) when `text` starts with a header-block label, else None.

    "Chức vụ: Chánh văn phòng" → ("requester_position", "Chánh văn phòng");
    "Chức vụ:....." → ("requester_position", ""). The longest label wins
    ("Điện thoại liên lạc" over "Điện thoại").
    """
    best: tuple[_Label, int, int] | None = None  # label, end offset, tokens used
    key = ""
    tokens = list(_TOKEN.finditer(text))
    for count, token in enumerate(tokens[: _LONGEST_LABEL_WORDS * 2], start=1):
        if _IS_SEPARATOR.match(token.group()):
            break
        key += fold(token.group())
        if key not in _LABEL_PREFIXES:
            break
        label = _LABELS.get(key)
        if label is not None:
            best = (label, token.end(), count)
    if best is None:
        return None
    label, end, used = best
    if not label.official and used < len(tokens) and not _IS_SEPARATOR.match(tokens[used].group()):
        return None  # "Cơ quan chủ quản …" is not the label "Cơ quan"
    return label.field, strip_placeholder(text[end:])


def strip_placeholder(text: str) -> str:
    """The value without the form's leading ':' and its dotted placeholder lines."""
    text = _TRAILING.sub("", _LEADING.sub("", text))
    return text if fold(text) else ""  # nothing but dots and punctuation: not filled in


def _is_boilerplate(text: str) -> bool:
    key = fold(text)
    return any(key.startswith(b) for b in _BOILERPLATE)


@dataclass
class _HeaderBlock:
    unit_name: str = ""
    requester_name: str = ""
    requester_position: str = ""
    requester_phone: object = ""
    content: str = ""
    details: str = ""


def _read_header_block(
    rows: list[tuple[int, Sequence[object]]],
    *,
    file_name: str,
    sheet: str,
    problems: ProblemList,
) -> tuple[_HeaderBlock, dict[str, tuple[int, int]]]:
    """The labelled fields above the table; also where each value was found."""
    block = _HeaderBlock()
    where: dict[str, tuple[int, int]] = {}
    by_number = dict(rows)
    values = _BlockValues(file_name, sheet, problems)
    for number, cells in rows:
        for col, value in enumerate(cells):
            found = _label_in(value)
            if found is None or found[0] in where:
                continue  # the first occurrence wins
            field_name, inline = found
            value_out: object = inline
            at = (number, col)
            if not inline:
                value_out, at = values.after(
                    field_name, number, col, cells, by_number.get(number + 1)
                ) or (value_out, at)
            setattr(block, field_name, value_out)
            where[field_name] = at
    return block, where


def _label_in(value: object) -> tuple[str, str] | None:
    """split_label() of a cell, None when the cell holds no label."""
    if type(value) is not str or not value.strip():
        return None
    try:
        text = cell_text(value)
    except CellError:
        return None  # a formula is not a label; it is reported if read as a value
    return split_label(text)


class _BlockValues:
    """Finds the value of a header-block label written without one in its own cell."""

    def __init__(self, file_name: str, sheet: str, problems: ProblemList):
        self.file_name = file_name
        self.sheet = sheet
        self.problems = problems

    def after(
        self,
        field_name: str,
        number: int,
        col: int,
        cells: Sequence[object],
        below: Sequence[object] | None,
    ) -> tuple[object, tuple[int, int]] | None:
        """(value, where) of the label in `cells[col]` of row `number`, or None."""
        # the next filled cell on the same row (unless it is a label or the form's own
        # text, like the national motto beside "Tên cơ quan:")…
        for right in range(col + 1, len(cells)):
            if is_blank(cells[right]):
                continue
            found, candidate = self.usable(number, right, cells[right])
            if found:
                return candidate, (number, right)
            break
        if field_name == "unit_name" and below is not None and col < len(below):
            # …or, as the official form lays out "Tên cơ quan:", the cell below (only
            # there: under the other labels is the next label's line)
            found, candidate = self.usable(number + 1, col, below[col])
            if found:
                return candidate, (number + 1, col)
        return None

    def usable(self, row: int, col: int, value: object) -> tuple[bool, object]:
        """(is it a value?, the value) for a candidate cell next to or under a label."""
        if is_blank(value):
            return False, None
        if type(value) is not str:
            return (True, value) if not isinstance(value, bool) else (False, None)
        try:
            text = cell_text(value)
        except CellError as exc:
            self.problems.add(Problem(
                str(exc), file=self.file_name, sheet=self.sheet, row=row,
                column=column_letter(col)))
            return True, ""
        if split_label(text) is not None or _is_boilerplate(text):
            return False, None
        return True, strip_placeholder(text)


# --- the table -----------------------------------------------------------------------


def read_excel_slip(
    path: Path, *, max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED, encoding: str | None = None
) -> SlipContent:
    """Read a filled Phụ lục II slip (.xlsx); InvalidFile with every problem found.

    UnsafeFile (a kind of InvalidFile) when the workbook is refused before parsing.
    Text typed in TCVN3 or VNI (each table column, and the lines above the table taken
    together) is converted with a warning; unclear evidence refuses the slip naming
    the column (readers/legacy.py). `encoding` is the --encoding override.
    """
    path = Path(path)
    file_name = path.name
    if path.suffix.lower() == ".xls":
        check_spreadsheet(path)  # raises: "save it as .xlsx"
    if path.suffix.lower() != ".xlsx":
        raise_problems(
            file_name,
            [Problem(_("a slip must be an Excel workbook (.xlsx) or a signed PDF"),
                     file=file_name)],
        )
    with Table(path, max_uncompressed=max_uncompressed) as table:
        # What a reader of the workbook sees (issue 12 §3): one sheet, the active one
        # or the one visible sheet holding the table; hidden sheets, rows or columns
        # holding data and a second sheet with a table are refused, naming them.
        sheet = table.table_sheet(SLIP_COLUMNS, what=_("slip"), max_scan=HEADER_SCAN_ROWS)
        content = _read_sheet(table, sheet, encoding) if sheet is not None else None
        if content is not None:
            return content
    expected = ", ".join(repr(c.header) for c in SLIP_COLUMNS)
    sheets = ", ".join(repr(s) for s in table.sheet_names)
    raise_problems(
        file_name,
        [
            Problem(
                _("no table header found in sheet(s) {sheets}; expected the columns {expected}")
                .format(sheets=sheets, expected=expected),
                file=file_name,
            )
        ],
    )


def _read_sheet(table: Table, sheet: str, encoding: str | None = None) -> SlipContent | None:
    with closing(table.rows(sheet)) as rows:
        return _read_sheet_rows(table.file_name, sheet, rows, encoding)


def _find_table_header(
    file_name: str, sheet: str, rows: Iterator[tuple[int, Sequence[object]]], encoding: str | None
) -> HeaderRow | None:
    above: list[tuple[int, Sequence[object]]] = []
    for number, cells in rows:
        columns = match_header(cells, SLIP_COLUMNS)
        if columns is None and any(type(v) is str and not v.isascii() for v in cells):
            legacy = legacy_header(cells, lambda c: match_header(c, SLIP_COLUMNS) is not None,
                                   encoding)
            if legacy is not None:
                cells, columns = legacy, match_header(legacy, SLIP_COLUMNS)
        if columns is not None:
            problems = header_problems(
                cells, SLIP_COLUMNS, file_name=file_name, sheet=sheet, row=number
            )
            if problems:
                raise_problems(file_name, problems)
            headers = {name: _safe_text(cells[i]) for name, i in columns.items()}
            return HeaderRow(number, columns, headers, above)
        if any(not is_blank(v) for v in cells):
            above.append((number, cells))
        if number >= HEADER_SCAN_ROWS:
            break
    return None


def _table_rows(
    rows: Iterator[tuple[int, Sequence[object]]], header: HeaderRow
) -> list[tuple[int, Sequence[object]]]:
    """The rows below the header down to the first empty one, and the
    TRAILING_SCAN_ROWS after it (where a person left after a gap is looked for)."""
    data_indexes = [i for name, i in header.columns.items() if name != "seq"]
    out: list[tuple[int, Sequence[object]]] = []
    end: int | None = None
    for number, cells in rows:
        out.append((number, cells))
        if end is None and all(i >= len(cells) or is_blank(cells[i]) for i in data_indexes):
            end = len(out)
        if end is not None and len(out) - end > TRAILING_SCAN_ROWS:
            break
    return out


def _convert_legacy(
    file_name: str, sheet: str, header: HeaderRow, body: list[tuple[int, Sequence[object]]],
    encoding: str | None,
) -> tuple[HeaderRow, list[tuple[int, Sequence[object]]], list[Problem]]:
    """The table's columns and the lines above it (one group) typed in TCVN3 or VNI,
    converted; the warnings. Unclear evidence refuses the slip (readers/legacy.py)."""
    flat = [(n, i, v) for n, cells in header.above for i, v in enumerate(cells) if type(v) is str]
    block = [v for _, _, v in flat]
    table = [cells[i] for _, cells in body for i in header.columns.values() if i < len(cells)]
    body, warnings, problems = convert_columns(
        body, header.columns, lambda name: Where(file_name, sheet, header.ref(name)),
        encoding=encoding, context=block,
    )
    values, block_warnings, block_problems = convert_cells(
        block,
        Where(file_name, sheet, None, part=_("the lines above the table")),
        encoding=encoding,
        context=table,
    )
    if problems or block_problems:
        raise_problems(file_name, [*problems, *block_problems])
    above = {n: list(cells) for n, cells in header.above}
    for (n, i, _text), value in zip(flat, values, strict=True):
        above[n][i] = value
    header = HeaderRow(header.row, header.columns, header.headers, list(above.items()))
    return header, body, [*warnings, *block_warnings]


def _read_sheet_rows(
    file_name: str,
    sheet: str,
    rows: Iterator[tuple[int, Sequence[object]]],
    encoding: str | None = None,
) -> SlipContent | None:
    header = _find_table_header(file_name, sheet, rows, encoding)
    if header is None:
        return None
    header, body, legacy_warnings = _convert_legacy(
        file_name, sheet, header, _table_rows(rows, header), encoding
    )
    above = header.above
    rows = iter(body)

    problems = ProblemList(file_name)
    warnings: list[Problem] = list(legacy_warnings)
    block, where = _read_header_block(above, file_name=file_name, sheet=sheet, problems=problems)
    content = _safe_text(block.content)
    kind = kind_from_content(content)
    if kind in (RequestKind.CHANGE, RequestKind.CANCEL) and "address" not in header.columns:
        problems.add(
            Problem(
                _("missing column {header!r}: a {kind} request names the mailbox of each "
                  "person").format(header=ADDRESS_HEADER, kind=kind.label_vi.lower()),
                file=file_name,
                sheet=sheet,
                row=header.row,
            )
        )
    if kind is None:
        warnings.append(
            Problem(
                _("'Nội dung yêu cầu' {content!r} names no single kind of request "
                  "(cấp mới / thay đổi / hủy bỏ)").format(content=content[:80]),
                file=file_name,
                sheet=sheet,
                row=where.get("content", (None, 0))[0],
            )
        )
    requester_phone = _requester_phone(block.requester_phone, where, file_name, sheet, warnings)

    slip_rows = _read_table(rows, header, file_name, sheet, problems, warnings)
    if not slip_rows and not problems:
        problems.add(
            Problem(_("the slip's table is empty"), file=file_name, sheet=sheet, row=header.row)
        )
    problems.raise_if_any()
    return SlipContent(
        file_name=file_name,
        format="xlsx",
        unit_name=_safe_text(block.unit_name),
        requester_name=_safe_text(block.requester_name),
        requester_position=_safe_text(block.requester_position),
        requester_phone=requester_phone,
        content=content,
        kind=kind,
        rows=tuple(slip_rows),
        warnings=tuple(warnings),
    )


def _read_table(
    rows,
    header: HeaderRow,
    file_name: str,
    sheet: str,
    problems: ProblemList,
    warnings: list[Problem],
) -> list[SlipRow]:
    return _SlipTable(rows, header, file_name, sheet, problems, warnings).read()


#: What _SlipTable._end returns for a row that refuses the table (recorded as a problem).
_REFUSED = -1


class _SlipTable:
    """The people of a slip's table, read row by row, with its problems and warnings."""

    def __init__(
        self,
        rows,
        header: HeaderRow,
        file_name: str,
        sheet: str,
        problems: ProblemList,
        warnings: list[Problem],
    ):
        self.header = header
        self.columns = header.columns
        self.file_name = file_name
        self.sheet = sheet
        self.problems = problems
        self.warnings = warnings
        width = max(self.columns.values()) + 1
        self.table = _TableRows(list(_padded(rows, width)), self.columns)
        self.out: list[SlipRow] = []
        self.first_row_of: dict[tuple[str, str], int] = {}
        self.gap: list[int] = []  # empty rows since the last person
        self.skipped: list[int] = []  # empty rows inside the table (people below them)
        self.numbered: bool | None = None  # every person so far has a row number (STT)

    def read(self) -> list[SlipRow]:
        index = 0
        end_at: int | None = None  # where the table ended (its extent)
        for index, (number, cells) in enumerate(self.table.rows):
            kind = self.table.kind(cells)
            if kind is _Row.EMPTY:
                self.gap.append(number)
                continue
            end = self._end(index, number, cells, kind)
            if end == _REFUSED:
                return self.out
            if end is not None:
                end_at = end
                break
            self.skipped += self.gap
            self.gap = []
            self._person(number, cells)
        else:
            end_at = self.gap[0] if self.gap else None
        if self.skipped:
            self.warnings.append(
                Problem(
                    ngettext(
                        "row {rows} inside the table is empty and skipped",
                        "rows {rows} inside the table are empty and skipped",
                        len(self.skipped),
                    ).format(rows=_numbers(self.skipped)),
                    file=self.file_name,
                    sheet=self.sheet,
                    row=self.skipped[0],
                )
            )
        if end_at is not None:
            _check_after_end(self.table.rows[index + 1 :], self.header, end_at, self.file_name,
                             self.sheet, self.problems)
        return self.out

    def _end(self, index: int, number: int, cells: Sequence[object], kind: str) -> int | None:
        """The row where the table ends when this (not empty) row ends it; _REFUSED when
        the row is ambiguous (a problem recorded); None for a person to read."""
        if kind in (_Row.HEADER, _Row.SEQ_TEXT):
            # Ambiguous when people follow (issue 14 §3): refused, never guessed.
            if self.table.person_follows(index + 1):
                self._refuse_ambiguous(number, cells, kind)
                return _REFUSED
            return self.gap[0] if self.gap else number
        if kind is _Row.OTHER and (self.gap or self.table.data_blank(cells)):
            return self.gap[0] if self.gap else number  # the date line, the signature block
        if kind is _Row.PERSON and self.gap:
            if self.table.signature_like(cells):
                return self.gap[0]
            if self.numbered and not self.table.seq_text(cells):
                self.problem(
                    number,
                    "full_name",
                    ngettext(
                        "a name without a row number (STT) below row {rows} of the table, which "
                        "numbers its rows: number it, or move it out of the table",
                        "a name without a row number (STT) below rows {rows} of the table, which "
                        "numbers its rows: number it, or move it out of the table",
                        len(self.gap),
                    ).format(rows=_numbers(self.gap)),
                )
                return _REFUSED
        return None

    def _refuse_ambiguous(self, number: int, cells: Sequence[object], kind: str) -> None:
        if kind is _Row.HEADER:
            self.problem(
                number,
                "full_name",
                _("a second table header with rows after it: "
                  "keep one table per slip (or one slip per table)"),
            )
        else:
            self.problem(
                number,
                "seq",
                _("{value!r} in an otherwise empty row inside the table: write the person's "
                  "name, or clear the cell").format(
                    value=_safe_text(cells[self.columns["seq"]])[:40]),
            )

    def _person(self, number: int, cells: Sequence[object]) -> None:
        seq = self.text(number, "seq", cells)
        self.numbered = bool(seq) if self.numbered is None else self.numbered and bool(seq)
        full_name = self.text(number, "full_name", cells)
        department = self.text(number, "department", cells)
        address = self.text(number, "address", cells)
        phone, restored = _row_phone(
            number, cells, self.columns, self.problem, self.warnings, self.header,
            self.file_name, self.sheet,
        )
        full_name = self._checked_name(number, full_name)
        if not full_name or None in (seq, department, address, phone):
            return
        key = (name_key(full_name), fold(department or ""))
        first = self.first_row_of.get(key)
        if first is not None:
            self.problem(
                number,
                "full_name",
                _("{name} ({department}) is listed twice: rows {first} and {row}").format(
                    name=full_name, department=department or _("no department"), first=first,
                    row=number),
            )
            return
        self.first_row_of[key] = number
        self.out.append(
            SlipRow(
                row=number,
                seq=seq or "",
                full_name=full_name,
                department=department or "",
                phone=phone or "",
                phone_restored=restored,
                requested_address=(address or "").lower(),
                sheet=self.sheet,
            )
        )

    def _checked_name(self, number: int, full_name: str | None) -> str | None:
        """The name when it is one; None (and a problem) when not, "" when empty."""
        if full_name is None:
            return None
        if full_name == "":
            self.problem(number, "full_name", _("a row without a name"))
            return ""
        if len(full_name) > MAX_NAME_CHARS:
            why: str | None = _("the name is {n} characters long").format(n=len(full_name))
        elif _LETTER.search(full_name) is None:
            why = _("{name!r} is not a name (no letters)").format(name=full_name[:60])
        else:
            why = person_name_problem(full_name)
        if why is not None:
            self.problem(number, "full_name", why)
            return None
        return full_name

    def problem(self, number: int, field_name: str, message: str) -> None:
        self.problems.add(
            Problem(
                f"{_HEADERS[field_name]}: {message}",
                file=self.file_name,
                sheet=self.sheet,
                row=number,
                column=self.header.ref(field_name),
            )
        )

    def text(self, number: int, field_name: str, cells: Sequence[object]) -> str | None:
        index = self.columns.get(field_name)
        if index is None:
            return ""
        try:
            return cell_text(cells[index])
        except CellError as exc:
            self.problem(number, field_name, str(exc))
            return None


class _Row:
    """What a row below the table header is."""

    EMPTY = "empty"  # nothing, or only a row number (the template's numbered rows)
    SEQ_TEXT = "seq-text"  # text in STT, nothing else
    HEADER = "header"  # a second table header
    PERSON = "person"  # a name in the name column
    OTHER = "other"  # anything else: a row without a name, the date line, a signature


#: Words of the date line and the signature block under the table (folded).
_SIGNATURE_WORDS = re.compile(
    r"\b(ngay\b.*\bthang|chanh van phong|thu truong|nguoi lap|nguoi de nghi|nguoi yeu cau"
    r"|giam doc|truong phong|ky ten|ky so|chu ky|dong dau|xac nhan|tm\.|kt\.)"
)
_ROW_NUMBER = re.compile(r"\s*\d{1,5}\s*\.?\s*")


class _TableRows:
    """The rows below the table header, read once (a slip is small: the reader's limits
    bound it), so that an empty row can be judged by what follows it."""

    def __init__(self, rows: list[tuple[int, list[object]]], columns: dict[str, int]):
        self.rows = rows
        self.columns = columns
        self.data = [i for name, i in columns.items() if name != "seq"]
        self.seq = columns.get("seq")
        self.name = columns["full_name"]

    def seq_text(self, cells: Sequence[object]) -> str:
        if self.seq is None or is_blank(cells[self.seq]):
            return ""
        return _safe_text(cells[self.seq])

    def data_blank(self, cells: Sequence[object]) -> bool:
        return all(is_blank(cells[i]) for i in self.data)

    def kind(self, cells: Sequence[object]) -> str:
        if match_header(cells, SLIP_COLUMNS) is not None:
            return _Row.HEADER
        if not is_blank(cells[self.name]):
            return _Row.PERSON
        others = [v for i, v in enumerate(cells) if i != self.seq and not is_blank(v)]
        if others:
            return _Row.OTHER
        seq = self.seq_text(cells)
        if not seq or self.seq is None:  # no number column, or nothing in it
            return _Row.EMPTY
        if isinstance(cells[self.seq], int | float) or _ROW_NUMBER.fullmatch(seq):
            return _Row.EMPTY
        return _Row.SEQ_TEXT

    def signature_like(self, cells: Sequence[object]) -> bool:
        text = fold(" ".join(_safe_text(v) for v in cells if not is_blank(v)))
        return _SIGNATURE_WORDS.search(text) is not None

    def person_follows(self, start: int) -> bool:
        """Whether the next row with anything in it, from `start`, names a person."""
        for _number, cells in self.rows[start:]:
            kind = self.kind(cells)
            if kind is _Row.EMPTY:
                continue
            return kind is _Row.PERSON and not self.signature_like(cells)
        return False


def _padded(rows, width: int) -> Iterator[tuple[int, list[object]]]:
    for number, cells in rows:
        cells = list(cells)
        if len(cells) < width:
            cells += [None] * (width - len(cells))
        yield number, cells


def _numbers(numbers: list[int]) -> str:
    """ "15", "15, 16 and 20"."""
    if len(numbers) == 1:
        return str(numbers[0])
    return _("{first} and {last}").format(
        first=", ".join(str(n) for n in numbers[:-1]), last=numbers[-1]
    )


def _row_phone(number, cells, columns, problem, warnings, header, file_name, sheet):
    index = columns.get("phone")
    if index is None:
        return "", False
    raw = cells[index]
    if type(raw) is str:
        try:
            raw = cell_text(raw)
        except CellError as exc:
            problem(number, "phone", str(exc))
            return None, False
    try:
        parsed = parse_phone(raw)
    except BadPhone as exc:
        problem(number, "phone", str(exc))
        return None, False
    if parsed.restored_zero:
        warnings.append(
            Problem(
                _(
                    "{column}: leading 0 restored ({value!r} → {phone}); "
                    "format the column as Text"
                ).format(column=_HEADERS["phone"], value=raw, phone=parsed.number),
                file=file_name,
                sheet=sheet,
                row=number,
                column=header.ref("phone"),
            )
        )
    return parsed.number, parsed.restored_zero


def _check_after_end(rows, header: HeaderRow, end_row: int, file_name, sheet, problems) -> None:
    """A person written below the end of the table (below the date line or the
    signature block) would be lost: report it."""
    columns = header.columns
    i_name = columns["full_name"]
    others = [i for name, i in columns.items() if name != "full_name"]
    for count, (number, cells) in enumerate(rows, start=1):
        if count > TRAILING_SCAN_ROWS:
            return
        if i_name >= len(cells) or is_blank(cells[i_name]):
            continue
        if any(i < len(cells) and not is_blank(cells[i]) for i in others):
            problems.add(
                Problem(
                    _("a person is listed below the end of the table (it ends at row {row}, "
                      "before the date line or the signature block); move the person into the "
                      "table").format(row=end_row),
                    file=file_name,
                    sheet=sheet,
                    row=number,
                    column=header.ref("full_name"),
                )
            )
            return


# --- small helpers -------------------------------------------------------------------


def _safe_text(value: object) -> str:
    try:
        return cell_text(value)
    except CellError:
        return ""


def _requester_phone(value, where, file_name, sheet, warnings) -> str:
    if value is None or value == "":
        return ""
    row, col = where.get("requester_phone", (None, None))
    column = column_letter(col) if col is not None else None
    try:
        parsed = parse_phone(value)
    except BadPhone:
        text = _safe_text(value)
        warnings.append(
            Problem(
                _("'Điện thoại liên lạc' {value!r} is not read as a phone number; "
                  "kept as written").format(value=text[:40]),
                file=file_name,
                sheet=sheet,
                row=row,
                column=column,
            )
        )
        return text
    if parsed.restored_zero:
        warnings.append(
            Problem(
                _("'Điện thoại liên lạc': leading 0 restored ({value!r} → {phone})").format(
                    value=value, phone=parsed.number),
                file=file_name,
                sheet=sheet,
                row=row,
                column=column,
            )
        )
    return parsed.number
