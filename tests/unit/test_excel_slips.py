"""Request slips (Phụ lục II) filled in as Excel workbooks, and the blank template."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from dnmail.domain.states import RequestKind
from dnmail.errors import InvalidFile, UnsafeFile
from dnmail.exports.slip_template import write_slip_template
from dnmail.readers.excel_slip import read_excel_slip, split_label
from support.workbooks import (
    SEED_ADDRESS_HEADER,
    SLIP_HEADERS,
    SlipPerson,
    text_as_xlsx,
    write_slip_xlsx,
    write_xlsx,
    xxe_xlsx,
    zip_bomb_xlsx,
)

PEOPLE = [
    SlipPerson("Nguyễn Quang Thanh", "Phòng Tổ chức", "0905123456", "thanhnq"),
    SlipPerson("Lê Thị Mỹ Hạnh", "Văn phòng", "0236 3822 111", ""),
    SlipPerson("Trần Đức", "", "", "ductran"),
]


def slip(tmp_path: Path, people=PEOPLE, name: str = "slip.xlsx", **kw) -> Path:
    return write_slip_xlsx(tmp_path / name, people, **kw)


def test_good_slip(tmp_path):
    content = read_excel_slip(slip(tmp_path))
    assert content.file_name == "slip.xlsx" and content.format == "xlsx"
    assert content.unit_name == "Sở Nội vụ thành phố Đà Nẵng"
    assert content.requester_name == "Nguyễn Văn An"
    assert content.requester_position == "Chánh Văn phòng"
    assert content.requester_phone == "02363822111"
    assert content.content == "Cấp mới hộp thư điện tử"
    assert content.kind is RequestKind.CREATE
    assert [r.full_name for r in content.rows] == [p.full_name for p in PEOPLE]
    first = content.rows[0]
    assert (first.seq, first.department, first.phone, first.requested_address) == (
        "1",
        "Phòng Tổ chức",
        "0905123456",
        "thanhnq",
    )
    assert first.sheet == "Phiếu yêu cầu" and first.row == 14
    assert content.rows[1].phone == "02363822111"
    assert content.rows[2].department == "" and content.rows[2].phone == ""
    assert content.warnings == ()


def test_header_lower_down_with_extra_columns_in_shuffled_order(tmp_path):
    path = slip(
        tmp_path,
        top=9,
        left=3,
        order=(4, 2, 0, 3, 1),
        extra_columns=("Ghi chú", "Ngày sinh"),
    )
    content = read_excel_slip(path)
    assert [r.full_name for r in content.rows] == [p.full_name for p in PEOPLE]
    assert content.rows[0].requested_address == "thanhnq"
    assert content.rows[0].department == "Phòng Tổ chức"
    assert content.rows[0].row == 22
    assert content.requester_position == "Chánh Văn phòng"


def test_merged_cell_header_block_and_value_under_the_agency_label(tmp_path):
    path = slip(tmp_path, labels_inline=False, merged_values=True)
    content = read_excel_slip(path)
    assert content.unit_name == "Sở Nội vụ thành phố Đà Nẵng"  # the cell under "Tên cơ quan:"
    assert content.requester_name == "Nguyễn Văn An"
    assert content.requester_position == "Chánh Văn phòng"
    assert content.kind is RequestKind.CREATE
    assert len(content.rows) == 3


def test_unfilled_dotted_fields_read_as_empty(tmp_path):
    path = slip(tmp_path, requester_position="", requester_phone="")
    content = read_excel_slip(path)
    assert content.requester_position == "" and content.requester_phone == ""


def test_the_seeds_own_header_spelling_and_short_forms(tmp_path):
    for address_header in (SEED_ADDRESS_HEADER, "Tên hộp thư", "TEN HOP THU DE NGHI"):
        headers = (*SLIP_HEADERS[:4], address_header)
        path = slip(tmp_path, headers=headers, content="Hủy bỏ")
        content = read_excel_slip(path)
        assert content.rows[0].requested_address == "thanhnq"
        assert content.kind is RequestKind.CANCEL


def test_nfd_text_comes_back_nfc_and_the_address_lower_case(tmp_path):
    nfd = unicodedata.normalize("NFD", "  Nguyễn   Quang Thanh ")
    path = slip(tmp_path, [SlipPerson(nfd, "Phòng  A", "0905123456", "ThanhNQ")])
    [row] = read_excel_slip(path).rows
    assert row.full_name == "Nguyễn Quang Thanh" and row.department == "Phòng A"
    assert row.requested_address == "thanhnq"


def test_phone_typed_as_number_is_restored_with_a_warning(tmp_path):
    path = slip(tmp_path, [SlipPerson("Trần Đức", "", 905123456)])
    content = read_excel_slip(path)
    assert (content.rows[0].phone, content.rows[0].phone_restored) == ("0905123456", True)
    [warning] = content.warnings
    assert warning.row == 14 and warning.column == "D (Số điện thoại)"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Cấp mới", RequestKind.CREATE),
        ("Đề nghị tạo mới hộp thư", RequestKind.CREATE),
        ("Thay đổi", RequestKind.CHANGE),
        ("THAY ĐỔI TÊN HỘP THƯ", RequestKind.CHANGE),
        ("Hủy bỏ", RequestKind.CANCEL),
        ("Huỷ bỏ hộp thư", RequestKind.CANCEL),
    ],
)
def test_kind_from_content(tmp_path, text, kind):
    assert read_excel_slip(slip(tmp_path, content=text)).kind is kind


def test_a_content_naming_no_single_kind_is_a_warning(tmp_path):
    content = read_excel_slip(slip(tmp_path, content="Cấp mới và hủy bỏ"))
    assert content.kind is None
    assert any("Nội dung yêu cầu" in w.message for w in content.warnings)


def test_table_on_a_second_sheet(tmp_path):
    from openpyxl import load_workbook

    path = slip(tmp_path)
    wb = load_workbook(path)
    notes = wb.create_sheet("Hướng dẫn", 0)
    notes["A1"] = "Điền phiếu ở trang sau"
    wb.save(path)
    content = read_excel_slip(path)
    assert len(content.rows) == 3 and content.rows[0].sheet == "Phiếu yêu cầu"


def test_table_ends_at_the_first_empty_row(tmp_path):
    path = slip(tmp_path, blank_rows=5)  # numbered rows with only STT filled
    assert len(read_excel_slip(path).rows) == 3


# --- refused slips -------------------------------------------------------------------


def test_missing_required_column(tmp_path):
    headers = ("STT", "Tên", "Phòng ban/Đơn vị trực thuộc", "Số điện thoại", "Tên hộp thư")
    with pytest.raises(InvalidFile) as excinfo:
        read_excel_slip(slip(tmp_path, headers=headers))
    [problem] = excinfo.value.problems
    assert problem.row == 13 and problem.sheet == "Phiếu yêu cầu"
    assert "'Họ và tên'" in str(excinfo.value) and "slip.xlsx" in str(excinfo.value)


def test_change_request_without_the_address_column(tmp_path):
    headers = SLIP_HEADERS[:4]
    with pytest.raises(InvalidFile, match="missing column 'Tên hộp thư"):
        read_excel_slip(slip(tmp_path, headers=headers, order=(0, 1, 2, 3), content="Thay đổi"))
    # a create request does not need it
    assert read_excel_slip(slip(tmp_path, headers=headers, order=(0, 1, 2, 3))).rows


def test_no_table_header(tmp_path):
    path = write_xlsx(tmp_path / "slip.xlsx", [["PHIẾU YÊU CẦU"], ["Chức vụ: X"]])
    with pytest.raises(InvalidFile, match=r"slip\.xlsx: no table header found.*'Họ và tên'"):
        read_excel_slip(path)


def test_same_person_twice_names_both_rows(tmp_path):
    people = [
        *PEOPLE,
        SlipPerson(unicodedata.normalize("NFD", "NGUYỄN QUANG THANH"), "phòng tổ chức", "", ""),
    ]
    with pytest.raises(InvalidFile) as excinfo:
        read_excel_slip(slip(tmp_path, people))
    [problem] = excinfo.value.problems
    assert problem.row == 17 and problem.column == "B (Họ và tên)"
    assert "rows 14 and 17" in problem.message


def test_same_name_in_another_department_is_another_person(tmp_path):
    people = [*PEOPLE, SlipPerson("Nguyễn Quang Thanh", "Văn phòng")]
    assert len(read_excel_slip(slip(tmp_path, people)).rows) == 4


def test_a_row_without_a_name(tmp_path):
    people = [PEOPLE[0], SlipPerson("", "Văn phòng", "0905111222")]
    with pytest.raises(InvalidFile) as excinfo:
        read_excel_slip(slip(tmp_path, people))
    [problem] = excinfo.value.problems
    assert (problem.row, problem.column) == (15, "B (Họ và tên)")
    assert "without a name" in problem.message


def test_formula_cells_are_refused(tmp_path):
    people = [PEOPLE[0], SlipPerson('="Lê "&"Văn"', "Văn phòng", "=0905111222")]
    with pytest.raises(InvalidFile) as excinfo:
        read_excel_slip(slip(tmp_path, people))
    where = {(p.row, p.column) for p in excinfo.value.problems}
    assert where == {(15, "B (Họ và tên)"), (15, "D (Số điện thoại)")}
    assert "formula; type the value" in str(excinfo.value)


def test_empty_rows_inside_the_table_are_skipped_with_a_warning(tmp_path):
    """Issue 14 §3: a person deleted from the middle (only STT left), a spare row left
    between two groups (nothing at all): the rows below are read, and a warning names
    the empty rows; the blank numbered rows under the last person are no warning."""
    people = [
        PEOPLE[0],
        SlipPerson("", seq=2),  # row 15: only the row number left
        PEOPLE[1],
        SlipPerson("", seq=""),  # row 17: nothing at all
        SlipPerson("", seq=""),  # row 18
        SlipPerson("Trần Đức", "", "", "ductran", seq=5),
    ]
    content = read_excel_slip(slip(tmp_path, people, blank_rows=3))
    assert [(r.row, r.full_name) for r in content.rows] == [
        (14, "Nguyễn Quang Thanh"),
        (16, "Lê Thị Mỹ Hạnh"),
        (19, "Trần Đức"),
    ]
    [warning] = [w for w in content.warnings if "skipped" in w.message]
    assert warning.message == "rows 15, 17 and 18 inside the table are empty and skipped"
    assert (warning.file, warning.row) == ("slip.xlsx", 15)


def test_one_empty_row_is_named_alone(tmp_path):
    content = read_excel_slip(slip(tmp_path, [PEOPLE[0], SlipPerson("", seq=""), PEOPLE[1]]))
    assert [r.row for r in content.rows] == [14, 16]
    assert [w.message for w in content.warnings if "skipped" in w.message] == [
        "row 15 inside the table is empty and skipped"
    ]


def test_a_slip_without_gaps_has_no_skip_warning(tmp_path):
    content = read_excel_slip(slip(tmp_path, blank_rows=8))
    assert len(content.rows) == 3
    assert not [w for w in content.warnings if "skipped" in w.message]


def test_text_in_stt_of_an_empty_row_with_people_below_is_refused(tmp_path):
    people = [PEOPLE[0], SlipPerson("", seq="xem dòng dưới"), PEOPLE[1]]
    with pytest.raises(InvalidFile) as excinfo:
        read_excel_slip(slip(tmp_path, people))
    [problem] = excinfo.value.problems
    assert (problem.row, problem.column) == (15, "A (STT)")
    assert "otherwise empty row inside the table" in problem.message


def test_a_name_without_a_row_number_below_a_gap_is_refused(tmp_path):
    people = [PEOPLE[0], SlipPerson("", seq=""), SlipPerson("Lê Thị Mỹ Hạnh", "Văn phòng", seq="")]
    with pytest.raises(InvalidFile) as excinfo:
        read_excel_slip(slip(tmp_path, people))
    [problem] = excinfo.value.problems
    assert (problem.row, problem.column) == (16, "B (Họ và tên)")
    assert "a name without a row number (STT) below row 15" in problem.message


def test_an_unnumbered_table_reads_across_a_gap(tmp_path):
    people = [
        SlipPerson("Nguyễn Quang Thanh", "Phòng Tổ chức", seq=""),
        SlipPerson("", seq=""),
        SlipPerson("Lê Thị Mỹ Hạnh", "Văn phòng", seq=""),
    ]
    content = read_excel_slip(slip(tmp_path, people))
    assert [r.row for r in content.rows] == [14, 16]


def test_rows_after_a_second_header_are_refused(tmp_path):
    people = [PEOPLE[0], SlipPerson("", seq=""), SLIP_HEADERS, PEOPLE[1]]
    with pytest.raises(InvalidFile) as excinfo:
        read_excel_slip(slip(tmp_path, people))
    [problem] = excinfo.value.problems
    assert problem.row == 16 and "a second table header with rows after it" in problem.message


def test_a_person_below_the_signature_block_is_reported_not_dropped(tmp_path):
    from openpyxl import load_workbook

    path = slip(tmp_path, PEOPLE[:2], blank_rows=1)
    wb = load_workbook(path)
    ws = wb.active
    last = ws.max_row
    ws.cell(row=last + 2, column=1, value=3)
    ws.cell(row=last + 2, column=2, value="Trần Đức")
    ws.cell(row=last + 2, column=3, value="Văn phòng")
    wb.save(path)
    with pytest.raises(InvalidFile) as excinfo:
        read_excel_slip(path)
    [problem] = excinfo.value.problems
    assert problem.row == last + 2
    assert "below the end of the table (it ends at row 16" in problem.message


def test_empty_table(tmp_path):
    with pytest.raises(InvalidFile, match=r"row 13: the slip's table is empty"):
        read_excel_slip(slip(tmp_path, [], blank_rows=5))


def test_zip_bomb(tmp_path):
    path = zip_bomb_xlsx(tmp_path / "slip.xlsx", size=3 * 1024**2)
    with pytest.raises(UnsafeFile, match="zip bomb"):
        read_excel_slip(path, max_uncompressed=1024**2)


def test_xxe(tmp_path):
    with pytest.raises(UnsafeFile, match=r"slip\.xlsx: XML with a DOCTYPE"):
        read_excel_slip(xxe_xlsx(tmp_path / "slip.xlsx"))


def test_text_file_named_xlsx(tmp_path):
    with pytest.raises(UnsafeFile, match=r"not an Excel workbook \(\.xlsx\)"):
        read_excel_slip(text_as_xlsx(tmp_path / "slip.xlsx"))


def test_old_xls_and_other_types(tmp_path):
    xls = tmp_path / "slip.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(InvalidFile, match=r"save it as .*\.xlsx"):
        read_excel_slip(xls)
    csv = tmp_path / "slip.csv"
    csv.write_text("STT,Họ và tên\n")
    with pytest.raises(InvalidFile, match="signed PDF"):
        read_excel_slip(csv)


# --- the header block ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Chức vụ: Chánh văn phòng", ("requester_position", "Chánh văn phòng")),
        ("Chức vụ:.....", ("requester_position", "")),
        ("CHỨC VỤ:Chánh Văn phòng…", ("requester_position", "Chánh Văn phòng")),
        ("Chức vụ Chánh văn phòng", ("requester_position", "Chánh văn phòng")),
        ("Điện thoại liên lạc: 0236.3822.111", ("requester_phone", "0236.3822.111")),
        ("Điện thoại: 0905123456", ("requester_phone", "0905123456")),
        ("Ho va ten nguoi yeu cau : Lê Văn A", ("requester_name", "Lê Văn A")),
        ("Tên cơ quan:", ("unit_name", "")),
        ("Nội dung yêu cầu:.....Cấp mới.....", ("content", "Cấp mới")),
        ("Cơ quan chủ quản: UBND", None),
        ("Kính gửi: Sở Thông tin và Truyền thông", None),
        ("Họ và tên", None),
    ],
)
def test_split_label(text, expected):
    assert split_label(text) == expected


# --- the template --------------------------------------------------------------------


def test_template_round_trip(tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "phieu.xlsx"
    write_slip_template(path, rows=8)
    wb = load_workbook(path)
    ws = wb.active
    header_row = next(r for r in range(1, 40) if ws.cell(row=r, column=2).value == "Họ và tên")
    assert [ws.cell(row=header_row, column=c).value for c in range(1, 6)] == list(SLIP_HEADERS)
    assert [ws.cell(row=header_row + i, column=1).value for i in range(1, 9)] == list(range(1, 9))
    labels = {ws.cell(row=r, column=1).value: r for r in range(1, header_row)}
    ws["A2"] = "Sở Giao thông vận tải"  # under "Tên cơ quan:", as on the form
    ws[f"C{labels['Họ và tên người yêu cầu:']}"] = "Phan Văn Bình"
    ws[f"C{labels['Chức vụ:']}"] = "Chánh Văn phòng"
    ws[f"C{labels['Điện thoại liên lạc:']}"] = "0236 3 822 333"
    ws[f"C{labels['Nội dung yêu cầu:']}"] = "Thay đổi"
    for i, person in enumerate(PEOPLE[:2], start=1):
        ws.cell(row=header_row + i, column=2, value=person.full_name)
        ws.cell(row=header_row + i, column=3, value=person.department)
        ws.cell(row=header_row + i, column=4, value=person.phone)
        ws.cell(row=header_row + i, column=5, value=person.address or None)
    wb.save(path)

    content = read_excel_slip(path)
    assert content.unit_name == "Sở Giao thông vận tải"
    assert content.requester_name == "Phan Văn Bình"
    assert content.requester_position == "Chánh Văn phòng"
    assert content.requester_phone == "02363822333"
    assert content.kind is RequestKind.CHANGE
    assert [(r.seq, r.full_name, r.requested_address) for r in content.rows] == [
        ("1", "Nguyễn Quang Thanh", "thanhnq"),
        ("2", "Lê Thị Mỹ Hạnh", ""),
    ]


def test_blank_template_reads_as_an_empty_slip(tmp_path):
    path = tmp_path / "phieu.xlsx"
    write_slip_template(path)
    with pytest.raises(InvalidFile, match="the slip's table is empty"):
        read_excel_slip(path)


def test_template_layout(tmp_path):
    from openpyxl import load_workbook

    path = tmp_path / "phieu.xlsx"
    write_slip_template(path)
    ws = load_workbook(path).active
    texts = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    for expected in (
        "Tên cơ quan:",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập – Tự do – Hạnh phúc",
        "PHIẾU YÊU CẦU",
        "Kính gửi: Sở Thông tin và Truyền thông thành phố Đà Nẵng",
        "CHÁNH VĂN PHÒNG HOẶC TƯƠNG ĐƯƠNG",
        "(Ký chữ ký điện tử)",
    ):
        assert expected in texts
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert "C1:E1" in merged and "A4:E4" in merged
    [validation] = ws.data_validations.dataValidation
    assert validation.formula1 == '"Cấp mới,Thay đổi,Hủy bỏ"'
    assert ws["B14"].font.bold and ws.column_dimensions["B"].width == 28
    assert ws["D15"].number_format == "@"  # phone column kept as text
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


# --- what a reader of the workbook sees (issue 12 §3) -----------------------------------


def test_hidden_things_without_data_are_harmless(tmp_path):
    from openpyxl import load_workbook

    path = slip(tmp_path)
    wb = load_workbook(path)
    ws = wb.active
    ws.row_dimensions[ws.max_row + 3].hidden = True  # an empty hidden row
    ws.column_dimensions["K"].hidden = True  # an empty hidden column
    empty = wb.create_sheet("Danh mục")
    empty.sheet_state = "hidden"
    wb.save(path)
    assert len(read_excel_slip(path).rows) == 3


def test_a_hidden_row_inside_the_table_is_refused_with_its_row(tmp_path):
    from support.workbooks import hide_in_workbook

    path = hide_in_workbook(slip(tmp_path), hidden_row=["4", "Lê Văn Ẩn", "", "", ""])
    with pytest.raises(InvalidFile) as excinfo:
        read_excel_slip(path)
    [problem] = excinfo.value.problems
    assert problem.sheet == "Phiếu yêu cầu" and problem.row is not None
    assert "the row is hidden and holds data" in problem.message


def test_the_active_sheet_wins_when_it_holds_the_table(tmp_path):
    from openpyxl import load_workbook

    path = slip(tmp_path)
    wb = load_workbook(path)
    notes = wb.create_sheet("Hướng dẫn")
    notes["A1"] = "Điền phiếu ở trang trước"
    wb.active = 0
    wb.save(path)
    assert read_excel_slip(path).rows[0].sheet == "Phiếu yêu cầu"
