"""The blank request slip (Phụ lục II of letter 271/STTTT-CNTT) as an Excel workbook.

Laid out like the seed's form: the agency name and the national motto side by side,
"PHIẾU YÊU CẦU", "Kính gửi", the requester's fields, the table with the form's own
headers and numbered rows, the date line and the signature block of the chief of
office. `read_excel_slip` reads a filled copy back (tests prove the round trip).

Practical touches: the phone column is formatted as Text (so Excel keeps the leading
0), "Nội dung yêu cầu" offers a drop-down (Cấp mới / Thay đổi / Hủy bỏ), the page
is set up for A4 portrait, one page wide.
"""

from __future__ import annotations

import os
from pathlib import Path

from dnmail.domain.slip import TABLE_HEADERS
from dnmail.domain.states import RequestKind

HEADER_FIELDS = (
    "Họ và tên người yêu cầu:",
    "Chức vụ:",
    "Điện thoại liên lạc:",
    "Nội dung yêu cầu:",
    "Liệt kê cụ thể các yêu cầu (nếu có):",
)
COLUMN_WIDTHS = (7, 28, 32, 16, 34)
RECIPIENT = "Kính gửi: Sở Thông tin và Truyền thông thành phố Đà Nẵng"
KIND_CHOICES = tuple(kind.label_vi for kind in RequestKind)  # Cấp mới, Thay đổi, Hủy bỏ


def write_slip_template(path: Path, *, rows: int = 10) -> None:
    """Write a blank Phụ lục II slip with `rows` numbered table rows to `path` (.xlsx).

    The file is written to a temporary name next to `path` and moved into place, so
    an existing file is never left half-written.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.worksheet.datavalidation import DataValidation

    if rows < 1:
        raise ValueError("a slip needs at least one table row")
    path = Path(path)
    wb = Workbook()
    ws = wb.active
    ws.title = "Phiếu yêu cầu"
    last = "E"

    bold = Font(name="Times New Roman", size=12, bold=True)
    plain = Font(name="Times New Roman", size=12)
    italic = Font(name="Times New Roman", size=12, italic=True)
    title = Font(name="Times New Roman", size=14, bold=True)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    left = Alignment(horizontal="left", vertical="center", wrap_text=True)
    thin = Side(style="thin")
    dotted = Side(style="dotted")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    dotted_line = Border(bottom=dotted)

    def put(ref: str, value: object, font=plain, align=left, merge_to: str | None = None):
        cell = ws[ref]
        cell.value = value
        cell.font = font
        cell.alignment = align
        if merge_to:
            ws.merge_cells(f"{ref}:{merge_to}")
        return cell

    # agency name (value under the label, as on the form) and national motto
    put("A1", "Tên cơ quan:", bold, left, "B1")
    put("A2", None, plain, left, "B2")
    for col in "AB":
        ws[f"{col}2"].border = dotted_line
    put("C1", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold, center, f"{last}1")
    put(
        "C2",
        "Độc lập – Tự do – Hạnh phúc",
        Font(name="Times New Roman", size=12, bold=True, underline="single"),
        center,
        f"{last}2",
    )
    put("A4", "PHIẾU YÊU CẦU", title, center, f"{last}4")
    put("A5", "Cấp mới, thay đổi hoặc hủy bỏ hộp thư điện tử", italic, center, f"{last}5")
    put("A6", RECIPIENT, plain, center, f"{last}6")

    # the requester's fields: label in A:B, value to type in C:E on a dotted line
    first_field_row = 8
    for offset, label in enumerate(HEADER_FIELDS):
        row = first_field_row + offset
        put(f"A{row}", label, bold, left, f"B{row}")
        put(f"C{row}", None, plain, left, f"{last}{row}")
        for col in "CDE":
            ws[f"{col}{row}"].border = dotted_line
    content_row = first_field_row + HEADER_FIELDS.index("Nội dung yêu cầu:")
    choices = DataValidation(
        type="list",
        formula1='"' + ",".join(KIND_CHOICES) + '"',
        allow_blank=True,
        showErrorMessage=False,  # a fuller wording ("Cấp mới hộp thư …") stays allowed
        promptTitle="Nội dung yêu cầu",
        prompt="Cấp mới, Thay đổi hoặc Hủy bỏ",
        showInputMessage=True,
    )
    ws.add_data_validation(choices)
    choices.add(f"C{content_row}")

    # the table
    header_row = first_field_row + len(HEADER_FIELDS) + 1
    fill = PatternFill("solid", fgColor="D9E1F2")
    for index, text in enumerate(TABLE_HEADERS):
        cell = ws.cell(row=header_row, column=index + 1, value=text)
        cell.font = bold
        cell.alignment = center
        cell.border = box
        cell.fill = fill
    ws.row_dimensions[header_row].height = 48
    for number in range(1, rows + 1):
        row = header_row + number
        for index in range(len(TABLE_HEADERS)):
            cell = ws.cell(row=row, column=index + 1)
            cell.border = box
            cell.font = plain
            cell.alignment = center if index in (0, 3) else left
            cell.number_format = "@"  # Text: a phone keeps its leading 0
        ws.cell(row=row, column=1).value = number
        ws.cell(row=row, column=1).number_format = "General"

    # date line and signature block, right-hand side, after one empty row
    row = header_row + rows + 2
    put(f"C{row}", "Đà Nẵng, ngày ... tháng ... năm 20...", italic, center, f"{last}{row}")
    put(f"C{row + 1}", "CHÁNH VĂN PHÒNG HOẶC TƯƠNG ĐƯƠNG", bold, center, f"{last}{row + 1}")
    put(f"C{row + 2}", "(Ký chữ ký điện tử)", italic, center, f"{last}{row + 2}")

    for index, width in enumerate(COLUMN_WIDTHS):
        ws.column_dimensions[chr(65 + index)].width = width
    ws.page_setup.orientation = "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{header_row}:{header_row}"

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        wb.save(tmp_name)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
