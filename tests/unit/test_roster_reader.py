"""The HR roster reader (DESIGN §2 "The HR roster") and the shared file plumbing.

Pure: files are written to tmp_path; no database, no directory.
"""

from __future__ import annotations

import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnmail.domain.states import HrStatus
from dnmail.domain.text import clean_text
from dnmail.errors import InvalidFile, Problem, UnsafeFile
from dnmail.readers.roster import ROSTER_COLUMNS, RosterRowReader, read_roster
from dnmail.readers.safety import check_spreadsheet
from dnmail.readers.tabular import (
    MAX_PROBLEMS_KEPT,
    MAX_PROBLEMS_SHOWN,
    HeaderRow,
    ProblemList,
    _clean,
    column_letter,
    iter_sheet_rows,
    match_header,
    sniff_delimiter,
)
from support.workbooks import (
    ROSTER_HEADERS,
    as_excel_writes_it,
    replace_member,
    roster_rows,
    text_as_xlsx,
    write_csv,
    write_roster,
    write_xlsx,
    xxe_xlsx,
    zip_bomb_xlsx,
)

ROWS = [
    [
        "HS001",
        "Nguyễn Quang Thanh",
        "SNV",
        "Văn phòng",
        "Chuyên viên",
        "0905123456",
        "Đang công tác",
    ],
    ["HS002", "Lê Thị Mỹ Hạnh", "sgtvt", "Phòng Tổ chức", "Trưởng phòng", "", "Nghỉ hưu"],
    ["HS003", "Trần Đức", "stttt", "", "", "0236 3822 111", "Thôi việc"],
    ["HS004", "Phạm Văn Bình", "syt", "Thanh tra", "Chánh thanh tra", "", "Chuyển công tác"],
]


@pytest.fixture(params=["xlsx", "csv"])
def fmt(request) -> str:
    return request.param


def roster_file(tmp_path: Path, fmt: str, rows, *, headers=ROSTER_HEADERS, above=(), **kw) -> Path:
    return write_roster(tmp_path / f"roster.{fmt}", rows, headers=headers, above=above, **kw)


def problems_of(excinfo) -> list[Problem]:
    return excinfo.value.problems


# --- good files ----------------------------------------------------------------------


def test_reads_every_field(tmp_path, fmt):
    roster = read_roster(roster_file(tmp_path, fmt, ROWS))
    assert roster.file_name == f"roster.{fmt}"
    assert [r.hr_id for r in roster.rows] == ["HS001", "HS002", "HS003", "HS004"]
    first = roster.rows[0]
    assert first.row == 2
    assert first.full_name == "Nguyễn Quang Thanh"
    assert first.unit_code == "snv"  # lower-cased
    assert (first.department, first.position) == ("Văn phòng", "Chuyên viên")
    assert (first.phone, first.phone_restored) == ("0905123456", False)
    assert [r.status for r in roster.rows] == [
        HrStatus.ACTIVE,
        HrStatus.RETIRED,
        HrStatus.RESIGNED,
        HrStatus.TRANSFERRED,
    ]
    assert roster.rows[2].phone == "02363822111"
    assert roster.rows[1].phone == ""
    assert roster.warnings == []


def test_headers_in_any_order_case_spelling_with_extras_and_a_title_above(tmp_path, fmt):
    headers = [
        "TRẠNG THÁI",
        "Ghi chú",
        "ho va ten",
        "Mã\nhồ sơ",
        "  Số   điện thoại ",
        "MA DON VI",
        "Chức vụ",
        "phòng BAN",
    ]
    order = [6, None, 1, 0, 5, 2, 4, 3]  # where each header's value comes from in ROWS
    rows = [[None if i is None else row[i] for i in order] for row in ROWS]
    above = [["DANH SÁCH CÁN BỘ, CÔNG CHỨC"], ["Xuất ngày 20/11/2026"], []]
    roster = read_roster(roster_file(tmp_path, fmt, rows, headers=headers, above=above))
    assert [r.hr_id for r in roster.rows] == ["HS001", "HS002", "HS003", "HS004"]
    assert roster.rows[0].row == 5
    assert roster.rows[0].unit_code == "snv"
    assert roster.rows[3].status is HrStatus.TRANSFERRED


def test_status_values_compared_folded(tmp_path, fmt):
    rows = [list(r) for r in ROWS]
    rows[0][6] = "ĐANG CÔNG TÁC"
    rows[1][6] = "nghi huu"
    rows[2][6] = " Thôi  việc "
    roster = read_roster(roster_file(tmp_path, fmt, rows))
    assert [r.status for r in roster.rows][:3] == [
        HrStatus.ACTIVE,
        HrStatus.RETIRED,
        HrStatus.RESIGNED,
    ]


def test_nfd_and_stray_spaces_come_back_nfc(tmp_path, fmt):
    rows = [list(r) for r in ROWS]
    rows[0][1] = unicodedata.normalize("NFD", "  Nguyễn   Quang\u00a0Thanh\u200b ")
    rows[0][3] = unicodedata.normalize("NFD", "Phòng  Kế hoạch")
    roster = read_roster(roster_file(tmp_path, fmt, rows))
    assert roster.rows[0].full_name == "Nguyễn Quang Thanh"
    assert unicodedata.is_normalized("NFC", roster.rows[0].full_name)
    assert roster.rows[0].department == "Phòng Kế hoạch"


def test_phone_typed_as_number_gets_its_zero_back_with_a_warning(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[0][5] = 905123456
    roster = read_roster(roster_file(tmp_path, "xlsx", rows))
    assert (roster.rows[0].phone, roster.rows[0].phone_restored) == ("0905123456", True)
    [warning] = roster.warnings
    assert warning.row == 2
    assert warning.column == "F (Số điện thoại)"
    assert "0905123456" in str(warning)


def test_restored_phone_warnings_are_capped(tmp_path):
    rows = roster_rows(150, phone_as_number=True, id_as_number=True)
    roster = read_roster(roster_file(tmp_path, "xlsx", rows))
    assert all(r.phone_restored and r.phone.startswith("09") for r in roster.rows)
    assert roster.rows[0].hr_id == "100000"
    assert len(roster.warnings) == 101
    assert "50 more phone numbers" in roster.warnings[-1].message


def test_hr_id_typed_as_number(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[0][0] = 12345
    roster = read_roster(roster_file(tmp_path, "xlsx", rows))
    assert roster.rows[0].hr_id == "12345"


def test_hr_id_float_from_a_reader_is_its_digits():
    reader = _reader()
    row = reader.read(2, [12345.0, "Trần Đức", "snv", "", "", "", "Đang công tác"])
    assert row is not None and row.hr_id == "12345"
    assert reader.read(3, [1.5, "Trần Văn", "snv", "", "", "", "Đang công tác"]) is None
    assert reader.read(4, [2.0**60, "Lê Văn", "snv", "", "", "", "Đang công tác"]) is None
    assert len(reader.problems) == 2


def test_empty_rows_are_skipped(tmp_path, fmt):
    rows = [ROWS[0], [], [None, "", " ", None, "", "\u200b", None], ROWS[1]]
    roster = read_roster(roster_file(tmp_path, fmt, rows))
    assert [r.row for r in roster.rows] == [2, 5]


def test_csv_with_bom_semicolons_or_tabs(tmp_path):
    for delimiter in (";", "\t", ","):
        path = write_csv(
            tmp_path / "r.csv", [list(ROSTER_HEADERS), *ROWS], delimiter=delimiter, bom=True
        )
        assert [r.hr_id for r in read_roster(path).rows] == ["HS001", "HS002", "HS003", "HS004"]


def test_csv_department_with_commas_does_not_fool_the_sniffer():
    lines = ["Mã hồ sơ;Họ và tên;Phòng ban\n", "1;A;Phòng Kế hoạch, Tài chính, Đầu tư\n"]
    assert sniff_delimiter(lines) == ";"


def test_shared_strings_as_excel_writes_them(tmp_path):
    path = as_excel_writes_it(roster_file(tmp_path, "xlsx", ROWS))
    with zipfile.ZipFile(path) as archive:
        assert "xl/sharedStrings.xml" in archive.namelist()
    (tmp_path / "inline").mkdir()
    inline = read_roster(roster_file(tmp_path / "inline", "xlsx", ROWS))
    assert read_roster(path).rows == inline.rows


def test_suffix_is_case_insensitive(tmp_path):
    path = roster_file(tmp_path, "xlsx", ROWS).rename(tmp_path / "ROSTER.XLSX")
    assert len(read_roster(path).rows) == 4


def test_a_wrong_dimension_does_not_cut_rows_off(tmp_path):
    path = roster_file(tmp_path, "xlsx", ROWS)
    replace_member(
        path,
        "xl/worksheets/sheet1.xml",
        lambda data: data.replace(b'<dimension ref="A1:G5"/>', b'<dimension ref="A1:G2"/>'),
    )
    assert len(read_roster(path).rows) == 4


def test_rows_are_streamed(tmp_path):
    path = roster_file(tmp_path, "xlsx", roster_rows(300))
    rows = iter_sheet_rows(path)
    assert next(rows)[0] == 1
    number, cells = next(rows)
    assert number == 2 and cells[0] == "HS000001"
    rows.close()  # closes the workbook


# --- refused files: every message names the file, the row and the column ---------------


def test_missing_column_names_the_header_row_and_the_vietnamese_header(tmp_path, fmt):
    headers = [h for h in ROSTER_HEADERS if h != "Trạng thái"]
    rows = [r[:6] for r in ROWS]
    path = roster_file(tmp_path, fmt, rows, headers=headers, above=[["Danh sách"]])
    with pytest.raises(InvalidFile) as excinfo:
        read_roster(path)
    [problem] = problems_of(excinfo)
    assert problem.row == 2
    message = str(excinfo.value)
    assert f"roster.{fmt}" in message and "row 2" in message and "'Trạng thái'" in message


def test_a_roster_without_rows_is_refused(tmp_path, fmt):
    with pytest.raises(InvalidFile, match="row 1: the roster has no data rows"):
        read_roster(roster_file(tmp_path, fmt, [[], []]))


def test_no_header_row_at_all(tmp_path, fmt):
    path = roster_file(tmp_path, fmt, [["a", "b"]], headers=["x", "y"])
    with pytest.raises(InvalidFile, match="no roster header row found"):
        read_roster(path)


def test_duplicate_hr_id_names_both_rows(tmp_path, fmt):
    rows = [ROWS[0], ROWS[1], [*ROWS[0][:1], "Người Khác", *ROWS[0][2:]]]
    with pytest.raises(InvalidFile) as excinfo:
        read_roster(roster_file(tmp_path, fmt, rows))
    [problem] = problems_of(excinfo)
    assert problem.row == 4 and problem.column == "A (Mã hồ sơ)"
    assert "rows 2 and 4" in problem.message and "'HS001'" in problem.message


def test_bad_status_lists_the_allowed_values(tmp_path, fmt):
    rows = [list(r) for r in ROWS]
    rows[1][6] = "Đi học"
    with pytest.raises(InvalidFile) as excinfo:
        read_roster(roster_file(tmp_path, fmt, rows))
    message = str(excinfo.value)
    assert "row 3" in message and "G (Trạng thái)" in message and "'Đi học'" in message
    for label in ("Đang công tác", "Nghỉ hưu", "Thôi việc", "Chuyển công tác"):
        assert label in message


def test_every_problem_is_reported_at_once(tmp_path, fmt):
    rows = [list(r) for r in ROWS]
    rows[0][1] = ""  # empty name
    rows[1][2] = None  # empty unit
    rows[2][0] = ""  # empty HR id
    rows[3][5] = "12ab"  # bad phone
    with pytest.raises(InvalidFile) as excinfo:
        read_roster(roster_file(tmp_path, fmt, rows))
    where = {(p.row, p.column) for p in problems_of(excinfo)}
    assert where == {
        (2, "B (Họ và tên)"),
        (3, "C (Mã đơn vị)"),
        (4, "A (Mã hồ sơ)"),
        (5, "F (Số điện thoại)"),
    }
    assert f"roster.{fmt}: 4 problems" in str(excinfo.value)


def test_a_name_without_letters_is_refused(tmp_path, fmt):
    rows = [list(r) for r in ROWS]
    rows[0][1] = "123 ..."
    with pytest.raises(InvalidFile, match="not a name"):
        read_roster(roster_file(tmp_path, fmt, rows))


def test_a_cell_far_too_long_is_refused(tmp_path, fmt):
    rows = [list(r) for r in ROWS]
    rows[0][3] = "Phòng " * 400
    with pytest.raises(InvalidFile, match=r"row 2, column 'D \(Phòng ban\)'.*limit 1,000"):
        read_roster(roster_file(tmp_path, fmt, rows))


def test_formula_cell_is_refused_not_evaluated(tmp_path):
    rows = [list(r) for r in ROWS]
    rows[1][1] = '=CONCATENATE("Lê ", "Văn")'
    with pytest.raises(InvalidFile) as excinfo:
        read_roster(roster_file(tmp_path, "xlsx", rows))
    [problem] = problems_of(excinfo)
    assert (problem.row, problem.column) == (3, "B (Họ và tên)")
    assert "formula; type the value" in str(excinfo.value)
    assert "roster.xlsx" in str(excinfo.value) and "sheet 'Sheet1'" in str(excinfo.value)


def test_invalid_utf8_csv_names_the_line(tmp_path):
    path = write_csv(tmp_path / "roster.csv", [list(ROSTER_HEADERS), *ROWS])
    data = path.read_bytes().replace("Trần Đức".encode(), "Tr\xe2n \xd0\xfac".encode("latin-1"))
    path.write_bytes(data)
    with pytest.raises(InvalidFile) as excinfo:
        read_roster(path)
    [problem] = problems_of(excinfo)
    assert problem.row == 4
    assert "roster.csv" in str(excinfo.value) and "line 4" in str(excinfo.value)
    assert "CSV UTF-8" in str(excinfo.value)


def test_utf16_csv_is_read(tmp_path):
    # Excel's "Unicode text": UTF-16 with a BOM, tab-separated (issue 13 §2)
    path = tmp_path / "roster.csv"
    lines = ["\t".join(ROSTER_HEADERS), "\t".join(ROWS[0])]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-16-le"))
    [row] = read_roster(path).rows
    assert (row.hr_id, row.full_name, row.status) == (
        "HS001", "Nguyễn Quang Thanh", HrStatus.ACTIVE
    )


def test_text_file_named_xlsx(tmp_path):
    path = text_as_xlsx(tmp_path / "roster.xlsx")
    with pytest.raises(UnsafeFile, match=r"roster\.xlsx: not an Excel workbook \(\.xlsx\)"):
        read_roster(path)


def test_old_xls_is_refused_with_advice(tmp_path):
    path = tmp_path / "roster.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))
    with pytest.raises(InvalidFile, match=r"save it as .*\.xlsx"):
        read_roster(path)
    renamed = path.rename(tmp_path / "roster.xlsx")
    with pytest.raises(UnsafeFile, match=r"97-2003.*save it as \.xlsx"):
        read_roster(renamed)


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "roster.ods"
    path.write_bytes(b"x")
    with pytest.raises(InvalidFile, match="unsupported file type '.ods'"):
        read_roster(path)


def test_zip_bomb_over_the_size_limit(tmp_path):
    path = zip_bomb_xlsx(tmp_path / "roster.xlsx", size=3 * 1024**2)
    with pytest.raises(UnsafeFile, match=r"roster\.xlsx: zip bomb: .*limit 1 MiB"):
        read_roster(path, max_uncompressed=1024**2)


def test_zip_bomb_by_its_compression_ratio(tmp_path):
    path = zip_bomb_xlsx(tmp_path / "roster.xlsx", size=8 * 1024**2)
    with pytest.raises(UnsafeFile, match="zip bomb: member 'xl/media/padding.bin' unpacks"):
        read_roster(path)


def test_too_many_members(tmp_path):
    path = write_roster(tmp_path / "roster.xlsx", ROWS)
    with zipfile.ZipFile(path, "a") as archive:
        for i in range(30):
            archive.writestr(f"xl/media/x{i}.bin", b"")
    with pytest.raises(UnsafeFile, match="members"):
        check_spreadsheet(path, max_members=20)


def test_xxe_is_refused_before_parsing(tmp_path):
    path = xxe_xlsx(tmp_path / "roster.xlsx")
    with pytest.raises(UnsafeFile) as excinfo:
        read_roster(path)
    message = str(excinfo.value)
    assert "roster.xlsx" in message and "DOCTYPE" in message
    assert "xl/worksheets/sheet1.xml" in message


def test_doctype_found_across_a_chunk_boundary_and_in_any_case(tmp_path):
    path = write_roster(tmp_path / "roster.xlsx", ROWS)
    prolog = b'<?xml version="1.0"?><!-- '
    # "<!dOcTyPe" starts 4 bytes before the end of the scanner's first 64 KiB read
    padding = prolog + b"x" * (64 * 1024 - 4 - len(prolog) - 4) + b" -->"
    assert len(padding) == 64 * 1024 - 4

    def inject(data: bytes) -> bytes:  # openpyxl writes no XML declaration
        return padding + b'<!dOcTyPe x [<!ENTITY a "b">]>' + data

    replace_member(path, "xl/worksheets/sheet1.xml", inject)
    with pytest.raises(UnsafeFile, match="DOCTYPE"):
        check_spreadsheet(path)


def test_xml_in_utf16_is_refused(tmp_path):
    path = write_roster(tmp_path / "roster.xlsx", ROWS)
    replace_member(
        path,
        "xl/worksheets/sheet1.xml",
        lambda data: ('<?xml version="1.0" encoding="UTF-16"?>' + data.decode()).encode("utf-16"),
    )
    with pytest.raises(UnsafeFile, match="not UTF-8"):
        check_spreadsheet(path)


def test_xml_declaring_a_non_ascii_encoding_is_refused(tmp_path):
    path = write_roster(tmp_path / "roster.xlsx", ROWS)
    replace_member(
        path,
        "xl/worksheets/sheet1.xml",
        lambda data: b'<?xml version="1.0" encoding="UTF-7"?>\n' + data,
    )
    with pytest.raises(UnsafeFile, match="UTF-7"):
        check_spreadsheet(path)


def test_zip_that_is_not_an_office_document(tmp_path):
    path = tmp_path / "roster.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(UnsafeFile, match="not an Office document"):
        read_roster(path)


# --- pure pieces ---------------------------------------------------------------------


def _reader() -> RosterRowReader:
    columns = {c.field: i for i, c in enumerate(ROSTER_COLUMNS)}
    headers = {c.field: c.header for c in ROSTER_COLUMNS}
    return RosterRowReader("roster.xlsx", "Sheet1", HeaderRow(1, columns, headers, []))


def test_match_header_ignores_a_title_row():
    assert match_header(["DANH SÁCH CÁN BỘ"], ROSTER_COLUMNS) is None
    assert match_header(["Họ và tên người yêu cầu:", None], ROSTER_COLUMNS) is None
    found = match_header(["x", "HỌ VÀ TÊN", "mã hồ sơ"], ROSTER_COLUMNS)
    assert found == {"full_name": 1, "hr_id": 2}


def test_problems_are_capped_and_counted():
    problems = ProblemList("roster.xlsx")
    for row in range(2, 1_007):
        problems.add(Problem("bad", file="roster.xlsx", row=row))
    with pytest.raises(InvalidFile) as excinfo:
        problems.raise_if_any()
    kept = excinfo.value.problems
    assert len(kept) == MAX_PROBLEMS_KEPT + 1
    assert kept[-1].message == "… and 5 more problems not listed"
    message = str(excinfo.value)
    assert message.startswith("roster.xlsx: 1001 problems")
    assert message.count("\n  - ") == MAX_PROBLEMS_SHOWN


def test_column_letters_match_openpyxl():
    from openpyxl.utils import get_column_letter

    for index in (0, 1, 25, 26, 27, 51, 52, 701, 702, 16383):
        assert column_letter(index) == get_column_letter(index + 1)


@given(st.text(max_size=60))
def test_fast_clean_is_clean_text(text):
    if text:
        assert _clean(text) == clean_text(text)


@settings(max_examples=300)
@given(name=st.one_of(st.text(max_size=80), st.text(alphabet=st.characters(), max_size=1200)))
def test_any_name_cell_parses_clean_or_yields_a_problem(name):
    reader = _reader()
    row = reader.read(2, ["HS1", name, "snv", "", "", "", "Đang công tác"])
    if row is None:
        assert len(reader.problems) >= 1 or not clean_text(name)
        for problem in reader.problems.items:
            assert problem.row == 2 and problem.column == "B (Họ và tên)"
    else:
        assert row.full_name == clean_text(name)
        assert unicodedata.is_normalized("NFC", row.full_name)
        assert row.full_name and "  " not in row.full_name
        assert row.full_name == row.full_name.strip()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(st.characters(exclude_categories=("Cs",)), max_size=40))
def test_any_name_in_a_csv_file_never_crashes(tmp_path, name):
    path = write_csv(
        tmp_path / "prop.csv", [list(ROSTER_HEADERS), ["HS1", name, "snv", "", "", "", "Nghỉ hưu"]]
    )
    try:
        roster = read_roster(path)
    except InvalidFile as exc:
        assert exc.problems and all(isinstance(p, Problem) for p in exc.problems)
    else:
        for row in roster.rows:
            assert unicodedata.is_normalized("NFC", row.full_name)


def test_cli_help_path_does_not_import_openpyxl():
    code = (
        "import sys\n"
        "import dnmail.readers.roster, dnmail.readers.excel_slip, dnmail.exports.slip_template\n"
        "assert 'openpyxl' not in sys.modules, 'openpyxl imported at module level'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reading_a_csv_roster_does_not_import_openpyxl(tmp_path):
    path = write_csv(tmp_path / "r.csv", [list(ROSTER_HEADERS), *ROWS])
    code = (
        "import sys\nfrom dnmail.readers.roster import read_roster\n"
        f"assert len(read_roster({str(path)!r}).rows) == 4\n"
        "assert 'openpyxl' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_write_xlsx_helper_round_trip(tmp_path):
    path = write_xlsx(tmp_path / "a.xlsx", [["a", 1], [None, "b"]])
    assert [list(c)[:2] for _, c in iter_sheet_rows(path)] == [["a", 1], [None, "b"]]


@pytest.mark.parametrize("header", ["Email", "HỘP THƯ", "Thư điện tử", "địa chỉ  e-mail", "E-MAIL"])
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_optional_email_column_under_any_of_its_headers(tmp_path, fmt, header):
    rows = [
        [*r, e]
        for r, e in zip(
            ROWS,
            ["Thanh.NQ@danang.gov.vn", "", "not an address", " duct@danang.gov.vn "],
            strict=True,
        )
    ]
    path = write_roster(tmp_path / f"r.{fmt}", rows, headers=[*ROSTER_HEADERS, header])
    roster = read_roster(path)
    assert [r.email for r in roster.rows] == [
        "thanh.nq@danang.gov.vn",
        "",
        "",
        "duct@danang.gov.vn",
    ]
    # A bad address is a warning naming the row and column, never a refused roster.
    [warning] = [w for w in roster.warnings if "not an address" in w.message]
    assert warning.row == 4 and clean_text(header) in str(warning.column)


def test_without_the_email_column_emails_are_unknown(tmp_path):
    roster = read_roster(write_roster(tmp_path / "r.xlsx", ROWS))
    assert {r.email for r in roster.rows} == {None}
