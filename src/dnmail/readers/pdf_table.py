"""The Phụ lục II table and header block of a signed PDF slip, read with pdfplumber.

Read the bytes of the signed revision only (`PdfSlipVerdict.signed_revision`, see
dnmail.signatures.verify), never the whole file: the latest revision of an overlaid
file extracts as interleaved garbage or with planted rows.

The header row is found by its text (wrapped cells read 'ST\\nT'); rows run from it
to the first empty row, across pages (a repeated header on the next page is skipped).
The header block above the table ("Tên cơ quan: …") is read from the words above it.
Everything comes back NFC. pdfplumber is imported inside the functions.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dnmail.domain.phones import BadPhone, parse_phone
from dnmail.domain.slip import COLUMN_LABELS, SlipContent, SlipRow, kind_from_content
from dnmail.domain.text import clean_text, fold, person_name_problem
from dnmail.errors import InvalidFile, Problem
from dnmail.i18n import _, ngettext
from dnmail.readers.safety import check_pdf

_COLUMNS = ("seq", "full_name", "department", "phone", "address")
_HEADER_FIELDS = {
    "tencoquan": "unit_name",
    "hovatennguoiyeucau": "requester_name",
    "chucvu": "requester_position",
    "dienthoailienlac": "requester_phone",
    "noidungyeucau": "content",
}
_HEADER_PREFIXES = (  # folded header text → column
    (("stt", "sothutu"), "seq"),
    (("hovaten",), "full_name"),
    (("phongban", "donvi"), "department"),
    (("sodienthoai", "dienthoai"), "phone"),
    (("tenhopthu", "tenhothu", "hopthu", "email", "tenemail"), "address"),
)
_DOTS = " .…·_-:"
Run = dict[str, Any]  # a run of words on a line: text, x0, x1, top, bottom


# --- the header row ------------------------------------------------------------------


def _header_column(cell: object) -> str | None:
    key = fold(cell)
    if not key:
        return None
    if key == "hoten":
        return "full_name"
    for prefixes, column in _HEADER_PREFIXES:
        if key.startswith(prefixes):
            return column
    return None


def _match_header(row: Sequence[object]) -> dict[str, int] | None:
    mapping: dict[str, int] = {}
    for i, cell in enumerate(row):
        col = _header_column(cell)
        if col and col not in mapping:
            mapping[col] = i
    if "full_name" in mapping and len(mapping) >= 3:
        return mapping
    return None


# --- the header block above the table ------------------------------------------------


def _strip_leader(text: str) -> str:
    return text.strip(_DOTS).strip()


def _text_runs(page: Any) -> list[list[Run]]:
    """Lines of the page as runs of words separated by wide gaps (columns of a layout)."""
    words = page.extract_words(keep_blank_chars=False, use_text_flow=False)
    words.sort(key=lambda w: (round(w["top"]), w["x0"]))
    lines: list[list[Run]] = []
    for w in words:
        if lines and abs(lines[-1][0]["top"] - w["top"]) <= 3:
            lines[-1].append(w)
        else:
            lines.append([w])
    out: list[list[Run]] = []
    for line in lines:
        line.sort(key=lambda w: w["x0"])
        runs: list[Run] = []
        for w in line:
            if runs and w["x0"] - runs[-1]["x1"] <= 12:
                runs[-1]["text"] += " " + w["text"]
                runs[-1]["x1"] = w["x1"]
            else:
                runs.append({"text": w["text"], "x0": w["x0"], "x1": w["x1"],
                             "top": w["top"], "bottom": w["bottom"]})
        out.append(runs)
    return out


def _wrapped_value(value: str, run: Run, following: Sequence[list[Run]]) -> str:
    """A value wrapped onto the following lines, aligned under its label."""
    prev_bottom = run["bottom"]
    height = max(run["bottom"] - run["top"], 1)
    for nxt in following:
        first = nxt[0]
        if (abs(first["x0"] - run["x0"]) > 3 or ":" in first["text"]
                or first["top"] - prev_bottom > height):
            break
        value = clean_text(f"{value} {_strip_leader(clean_text(first['text']))}")
        prev_bottom = first["bottom"]
    return value


def _header_block(lines: list[list[Run]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for li, runs in enumerate(lines):
        for ri, run in enumerate(runs):
            text = clean_text(run["text"])
            if ":" not in text:
                continue
            label, value = text.split(":", 1)
            key = _HEADER_FIELDS.get(fold(label))
            if key is None or key in found:
                continue
            value = _strip_leader(value)
            if not value and ri + 1 < len(runs) and ":" not in runs[ri + 1]["text"]:
                value = _strip_leader(clean_text(runs[ri + 1]["text"]))
            found[key] = _wrapped_value(value, run, lines[li + 1 :])
    return found


# --- the table rows ------------------------------------------------------------------


def _read_row(
    cells: Sequence[object], mapping: Mapping[str, int], file_name: str, page: int, row_no: int
) -> tuple[SlipRow | None, list[Problem], list[Problem]] | None:
    """None at the first empty row (the end of the table)."""

    def cell(col: str) -> str:
        i = mapping.get(col)
        if i is None or i >= len(cells):
            return ""
        return clean_text(cells[i])

    seq = cell("seq")
    name = cell("full_name")
    department = cell("department")
    phone_text = cell("phone")
    address = re.sub(r"\s+", "", cell("address"))
    if not (name or department or phone_text or address):
        return None  # an empty row (perhaps numbered, as in the template) ends the table
    problems: list[Problem] = []
    warnings: list[Problem] = []

    def problem(message: str, col: str) -> Problem:
        return Problem(message, file=file_name, page=page, row=row_no, column=COLUMN_LABELS[col])

    if not name:
        problems.append(problem(_("the name is empty"), "full_name"))
    elif (why := person_name_problem(name)) is not None:
        problems.append(problem(why, "full_name"))
    number, restored = "", False
    try:
        parsed = parse_phone(phone_text)
        number, restored = parsed.number, parsed.restored_zero
        if restored:
            warnings.append(problem(
                _("the phone number {value!r} lost its leading 0; read as {phone}").format(
                    value=phone_text, phone=number), "phone"))
    except BadPhone as exc:
        problems.append(problem(str(exc), "phone"))
    if problems:
        return None, problems, warnings
    row = SlipRow(
        row=row_no,
        seq=seq,
        full_name=name,
        department=department,
        phone=number,
        phone_restored=restored,
        requested_address=address,
        page=page,
    )
    return row, problems, warnings


def _unreadable(file_name: str, what: str, exc: Exception, page: int | None = None) -> InvalidFile:
    reason = str(exc).strip() or type(exc).__name__
    return InvalidFile(file_name, [Problem(f"{what}: {reason}", file=file_name, page=page)])


@dataclass
class _TableScan:
    """The slip's table, page after page: where its header is, its rows so far, and the
    text above it (the header block)."""

    file_name: str
    mapping: dict[str, int] | None = None  # column → cell index, once the header is found
    header_page: int | None = None
    n_cols: int = 0
    finished: bool = False  # the table ended (an empty row, or another table)
    prelude: list[list[Run]] = field(default_factory=list)
    rows: list[SlipRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def read_page(self, page: Any, pno: int) -> bool:
        """Read one page; False once the table is over."""
        try:
            tables = [(t.bbox, t.extract()) for t in page.find_tables()]
        except Exception as exc:
            raise _unreadable(self.file_name, _("the page cannot be read"), exc, pno) from exc
        if self.mapping is not None and not tables:
            return False  # the table ended with the previous page
        table_top: float | None = None
        for t_index, (bbox, table_rows) in enumerate(tables):
            if self.mapping is None:
                start = self._find_header(table_rows, pno)
                if start is None:
                    continue
                table_top = bbox[1]
            else:
                start = self._continuation(t_index, table_rows, pno)
                if start is None:
                    self.finished = True  # another table: the slip's table is over
                    break
            self._read_body(table_rows[start:], pno)
            if self.finished:
                break
        self._read_prelude(page, pno, table_top)
        return not self.finished

    def _find_header(self, table_rows: Sequence[Sequence[object]], pno: int) -> int | None:
        """The index of the first row under the header, when this table has it."""
        for i, trow in enumerate(table_rows):
            found = _match_header(trow)
            if found:
                self.mapping, self.header_page, self.n_cols = found, pno, len(trow)
                return i + 1
        return None

    def _continuation(
        self, t_index: int, table_rows: Sequence[Sequence[object]], pno: int
    ) -> int | None:
        """Where the table goes on from the previous page (maybe under a repeated
        header); None when this is another table."""
        if (self.header_page != pno and t_index == 0 and table_rows
                and len(table_rows[0]) == self.n_cols):
            return 1 if _match_header(table_rows[0]) else 0
        return None

    def _read_body(self, body: Sequence[Sequence[object]], pno: int) -> None:
        assert self.mapping is not None
        for data_row, trow in enumerate(body, start=1):
            result = _read_row(trow, self.mapping, self.file_name, pno, data_row)
            if result is None:
                self.finished = True
                self._warn_rows_after(body, pno, data_row)
                return
            row, row_problems, row_warnings = result
            self.problems += row_problems
            self.warnings += row_warnings
            if row is not None:
                self.rows.append(row)

    def _warn_rows_after(self, body: Sequence[Sequence[object]], pno: int, empty: int) -> None:
        assert self.mapping is not None
        later = [n for n, r in enumerate(body[empty:], start=empty + 1)
                 if _read_row(r, self.mapping, self.file_name, pno, n) is not None]
        if later:
            self.warnings.append(Problem(
                _("rows after the first empty row are ignored (rows {rows})").format(
                    rows=", ".join(map(str, later))),
                file=self.file_name, page=pno, row=empty))

    def _read_prelude(self, page: Any, pno: int, table_top: float | None) -> None:
        """The words above the table: every page before the header's, and its top."""
        try:
            if self.mapping is None:
                self.prelude.extend(_text_runs(page))
            elif self.header_page == pno:
                top = table_top if table_top is not None else page.height
                if top > 1:
                    self.prelude.extend(_text_runs(page.crop((0, 0, page.width, top))))
        except Exception as exc:
            raise _unreadable(self.file_name, _("the page text cannot be read"), exc, pno) from exc

    def check(self, n_pages: int) -> None:
        """Raise InvalidFile with every problem of the table, if any."""
        if self.mapping is None:
            raise InvalidFile(self.file_name, [Problem(
                ngettext(
                    "no Phụ lục II table found on its page: expected a ruled table with the "
                    "header 'STT | Họ và tên | Phòng ban/Đơn vị trực thuộc | Số điện thoại | "
                    "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ'",
                    "no Phụ lục II table found on any of its {n} pages: expected a ruled table "
                    "with the header 'STT | Họ và tên | Phòng ban/Đơn vị trực thuộc | "
                    "Số điện thoại | Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ'",
                    n_pages,
                ).format(n=n_pages),
                file=self.file_name, page=1 if n_pages == 1 else None)])
        problems = list(self.problems)
        missing = [COLUMN_LABELS[c] for c in _COLUMNS if c not in self.mapping and c != "seq"]
        if missing:
            problems.insert(0, Problem(
                _("the table lacks the column(s) {columns}").format(columns=", ".join(missing)),
                file=self.file_name, page=self.header_page))
        if not self.rows and not problems:
            problems.append(Problem(
                _("the table has no rows (the first row under the header is empty)"),
                file=self.file_name, page=self.header_page))
        if problems:
            raise InvalidFile(self.file_name, problems)


def _requester_phone(text: str) -> str:
    """The requester's phone in national form when it reads as one, else as written."""
    if not text:
        return text
    try:
        return parse_phone(text).number
    except BadPhone:
        return text


def read_pdf_slip(signed_revision: bytes, *, file_name: str) -> SlipContent:
    """Read the Phụ lục II table and header fields from the signed revision's bytes.

    Pass `PdfSlipVerdict.signed_revision`, never the whole file. Rows run from the
    header row (found by its text) to the first empty row, across pages (a repeated
    header on the next page is skipped). Everything comes back NFC.

    Only what the signer saw is read: a signed revision holding text that a viewer
    would not show (white on white, invisible render mode, covered, clipped, off the
    page, too small, in a hidden layer) is refused with the page and the text of each
    such run, never silently filtered (readers/pdf_visibility.py).
    """
    import pdfplumber

    from dnmail.readers.pdf_visibility import refuse_hidden_text

    check_pdf(signed_revision, file_name)
    try:
        pdf = pdfplumber.open(io.BytesIO(signed_revision))
    except Exception as exc:
        raise _unreadable(file_name, _("not a readable PDF"), exc) from exc
    scan = _TableScan(file_name)
    with pdf:
        try:
            pages = list(pdf.pages)
        except Exception as exc:
            raise _unreadable(file_name, _("not a readable PDF"), exc) from exc
        refuse_hidden_text(pages, file_name=file_name)
        for pno, page in enumerate(pages, start=1):
            if not scan.read_page(page, pno):
                break
        fields = _header_block(scan.prelude)
    scan.check(len(pages))
    content = fields.get("content", "")
    return SlipContent(
        file_name=file_name,
        format="pdf",
        unit_name=fields.get("unit_name", ""),
        requester_name=fields.get("requester_name", ""),
        requester_position=fields.get("requester_position", ""),
        requester_phone=_requester_phone(fields.get("requester_phone", "")),
        content=content,
        kind=kind_from_content(content),
        rows=tuple(scan.rows),
        warnings=tuple(scan.warnings),
    )
