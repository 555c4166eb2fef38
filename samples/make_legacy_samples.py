"""Make the samples typed in the old Vietnamese encodings (issue 13 §2):

- roster-sxd-tcvn3.csv: the HR roster of Sở Xây dựng as an office with .VnTime fonts
  saves it from Excel as "CSV (comma delimited)": the TCVN3 bytes of every cell;
- slip-sxd-vni.xlsx: its Phụ lục II slip typed with the VNI-Times font.

scripts/demo imports both and dnmail says which columns it converted. Run from the
repository root: .venv/bin/python samples/make_legacy_samples.py
"""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from dnmail.domain.legacy_text import from_unicode

HERE = Path(__file__).resolve().parent
HEADERS = ["Mã hồ sơ", "Họ và tên", "Mã đơn vị", "Phòng ban", "Chức vụ", "Số điện thoại",
           "Trạng thái"]
STAFF = [
    ["SXD-0001", "Ngô Thị Thu Hằng", "sxd", "Văn phòng", "Chánh văn phòng", "0905400001"],
    ["SXD-0002", "Lương Văn Đông", "sxd", "Phòng Quản lý xây dựng", "Trưởng phòng", "0905400002"],
    ["SXD-0003", "Trịnh Thị Phương Thảo", "sxd", "Phòng Quy hoạch kiến trúc", "Chuyên viên",
     "0905400003"],
    ["SXD-0004", "Phan Hữu Nghĩa", "sxd", "Thanh tra", "Thanh tra viên", "0905400004"],
    ["SXD-0005", "Đỗ Minh Khôi", "sxd", "Văn phòng", "Văn thư", "0905400005"],
]  # fmt: skip


def roster() -> None:
    rows = [HEADERS, *[[*person, "Đang công tác"] for person in STAFF]]
    text = "".join(",".join(from_unicode(c, "tcvn3") for c in row) + "\r\n" for row in rows)
    (HERE / "roster-sxd-tcvn3.csv").write_bytes(text.encode("latin-1"))


def slip() -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "Phieu"
    lines = [
        ("Tên cơ quan: Sở Xây dựng thành phố Đà Nẵng", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
        ("", "Độc lập - Tự do - Hạnh phúc"),
        ("PHIẾU YÊU CẦU", ""),
        ("Kính gửi: Sở Thông tin và Truyền thông thành phố Đà Nẵng", ""),
        ("Họ và tên người yêu cầu: Ngô Thị Thu Hằng", ""),
        ("Chức vụ: Chánh văn phòng", ""),
        ("Điện thoại liên lạc: 0905400001", ""),
        ("Nội dung yêu cầu: Cấp mới hộp thư điện tử", ""),
    ]
    for row, (left, right) in enumerate(lines, start=1):
        ws.cell(row, 1, from_unicode(left, "vni") or None)
        ws.cell(row, 4, from_unicode(right, "vni") or None)
    header = ["STT", "Họ và tên", "Phòng ban/Đơn vị trực thuộc", "Số điện thoại",
              "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ"]
    top = len(lines) + 2
    for col, text in enumerate(header, start=1):
        ws.cell(top, col, from_unicode(text, "vni"))
    for n, person in enumerate(STAFF[1:4], start=1):
        values = [str(n), person[1], person[3], person[5], ""]
        for col, text in enumerate(values, start=1):
            ws.cell(top + n, col, from_unicode(text, "vni")).number_format = "@"
    for col, width in zip("ABCDE", (6, 28, 30, 16, 30), strict=True):
        ws.column_dimensions[col].width = width
    wb.save(HERE / "slip-sxd-vni.xlsx")


if __name__ == "__main__":
    roster()
    slip()
