"""What a request slip (Phụ lục II) says, whatever file it came in.

Both readers (Excel and signed PDF) return a SlipContent; the request service turns
its rows into requests. Everything here is already normalised: NFC, single spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dnmail.domain.states import RequestKind
from dnmail.errors import Problem

#: The column labels of the slip's table as Phụ lục II of letter 271/STTTT-CNTT prints
#: them: the blank template writes them, the readers match headers against them.
#: One table for every place that names a column (readers, problems, the template).
COLUMN_LABELS = {
    "seq": "STT",
    "full_name": "Họ và tên",
    "department": "Phòng ban/Đơn vị trực thuộc",
    "phone": "Số điện thoại",
    "address": "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ",
}
ADDRESS_HEADER = COLUMN_LABELS["address"]
TABLE_HEADERS = tuple(COLUMN_LABELS.values())


@dataclass(frozen=True)
class SlipRow:
    """One row of the slip's table: STT | Họ và tên | Phòng ban | Số điện thoại | Tên hộp thư."""

    row: int  # the sheet row (1-based) or the table row on the page (1 = first data row)
    seq: str  # STT as written
    full_name: str
    department: str = ""
    phone: str = ""  # digits, national form, or ""
    phone_restored: bool = False  # a leading 0 lost by Excel was put back
    requested_address: str = ""  # local part as written (may be "" or a full address)
    sheet: str | None = None
    page: int | None = None


@dataclass(frozen=True)
class SlipContent:
    file_name: str
    format: str  # "xlsx" | "pdf"
    unit_name: str = ""  # "Tên cơ quan"
    requester_name: str = ""  # "Họ và tên người yêu cầu"
    requester_position: str = ""  # "Chức vụ"
    requester_phone: str = ""  # "Điện thoại liên lạc"
    content: str = ""  # "Nội dung yêu cầu"
    kind: RequestKind | None = None  # read from content; None when it names no kind
    rows: tuple[SlipRow, ...] = ()
    warnings: tuple[Problem, ...] = field(default=())


def kind_from_content(text: str) -> RequestKind | None:
    """cấp mới / tạo mới → create, thay đổi → change, hủy bỏ / huỷ bỏ → cancel.

    Returns None when the content names none or more than one kind.
    """
    from dnmail.domain.text import fold

    key = fold(text)
    found = set()
    if "capmoi" in key or "taomoi" in key:
        found.add(RequestKind.CREATE)
    if "thaydoi" in key:
        found.add(RequestKind.CHANGE)
    if "huybo" in key:
        found.add(RequestKind.CANCEL)
    return found.pop() if len(found) == 1 else None
