"""Test files for the roster and Excel-slip readers: xlsx, csv, and hostile variants.

- `write_xlsx` / `write_csv`: a sheet from a list of rows (values written as given:
  a str starting with "=" becomes a formula in the xlsx, NFD stays NFD).
- `roster_rows` / `write_roster`: an HR roster (DESIGN §2 headers), any size.
- `as_excel_writes_it`: openpyxl writes strings inline; Excel writes a shared-string
  table. Converts the former into the latter (both are read, at different speeds).
- `write_slip_xlsx`: a filled Phụ lục II slip laid out like the official form, with
  the header block and the table anywhere on the sheet (`top`, `left`), optional
  extra columns, shuffled column order and merged cells.
- hostile files: `zip_bomb_xlsx`, `xxe_xlsx`, `replace_member`, `text_as_xlsx`.
"""

from __future__ import annotations

import csv
import random
import re
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROSTER_HEADERS = (
    "Mã hồ sơ",
    "Họ và tên",
    "Mã đơn vị",
    "Phòng ban",
    "Chức vụ",
    "Số điện thoại",
    "Trạng thái",
)
SLIP_HEADERS = (
    "STT",
    "Họ và tên",
    "Phòng ban/Đơn vị trực thuộc",
    "Số điện thoại",
    "Tên hộp thư đề nghị tạo mới/thay đổi/hủy bỏ",
)
#: The seed letter's own spelling of the last header (sic: "hộ thư", "tạo mới,/").
SEED_ADDRESS_HEADER = "Tên hộ thư đề nghị tạo mới,/thay đổi/hủy bỏ"

_FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi")
_MIDDLE = ("Văn", "Thị", "Đức", "Quang", "Minh", "Thị Mỹ", "Hữu", "Ngọc", "Thanh")
_GIVEN = ("An", "Bình", "Châu", "Dũng", "Hạnh", "Hà", "Hạ", "Khoa", "Linh", "Thanh", "Tú")
_UNITS = ("snv", "sgtvt", "stttt", "syt", "sgddt", "stc")
_DEPARTMENTS = ("Văn phòng", "Phòng Tổ chức", "Phòng Kế hoạch - Tài chính", "Thanh tra Sở")
_POSITIONS = ("Chuyên viên", "Trưởng phòng", "Phó Trưởng phòng", "Chánh Văn phòng")
_STATUSES = ("Đang công tác",) * 17 + ("Nghỉ hưu", "Thôi việc", "Chuyển công tác")


def roster_rows(
    n: int, *, seed: int = 271, phone_as_number: bool = False, id_as_number: bool = False
) -> list[list[object]]:
    """`n` roster data rows in ROSTER_HEADERS order, the same for the same seed.

    `phone_as_number` / `id_as_number`: typed as numbers, as some HR exports do (the
    phone then loses its leading 0).
    """
    rng = random.Random(seed)
    rows: list[list[object]] = []
    for i in range(n):
        name = f"{rng.choice(_FAMILY)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}"
        mobile = f"09{rng.randrange(10**8):08d}"
        phone: object = int(mobile) if phone_as_number else mobile
        rows.append(
            [
                100_000 + i if id_as_number else f"HS{i + 1:06d}",
                name,
                rng.choice(_UNITS),
                rng.choice(_DEPARTMENTS),
                rng.choice(_POSITIONS),
                phone,
                rng.choice(_STATUSES),
            ]
        )
    return rows


def write_xlsx(
    path: Path,
    rows: Iterable[Sequence[object]],
    *,
    title: str = "Sheet1",
    merges: Iterable[str] = (),
    start_row: int = 1,
    start_col: int = 1,
) -> Path:
    """Write `rows` to a one-sheet workbook, the first at (start_row, start_col)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = title
    for r, row in enumerate(rows, start=start_row):
        for c, value in enumerate(row, start=start_col):
            if value is not None:
                ws.cell(row=r, column=c, value=value)
    for ref in merges:
        ws.merge_cells(ref)
    wb.save(path)
    return Path(path)


def write_xlsx_fast(path: Path, rows: Iterable[Sequence[object]], *, title: str = "Sheet1") -> Path:
    """Like write_xlsx, in openpyxl's write-only mode: less memory, but strings are
    written inline (not shared, as Excel does) and without a <dimension>, which makes
    the file slower to read than one Excel writes; benchmarks use write_xlsx."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title)
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return Path(path)


_INLINE = re.compile(
    rb'<c r="([A-Z]+[0-9]+)"((?: s="[0-9]+")?) t="inlineStr"><is><t(?: xml:space="preserve")?>'
    rb"(.*?)</t></is></c>",
    re.DOTALL,
)
_SST_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def as_excel_writes_it(path: Path) -> Path:
    """Move the strings of an openpyxl-written workbook into a shared-string table.

    openpyxl 3.1 writes every string inline in the sheet (t="inlineStr"); Excel (and
    most HR systems) write each distinct string once in xl/sharedStrings.xml and refer
    to it by index. Both are valid and read differently fast, so benchmarks measure
    both. Rewrites `path` in place.
    """
    path = Path(path)
    with zipfile.ZipFile(path) as src:
        items = [(info.filename, src.read(info)) for info in src.infolist()]
    index: dict[bytes, int] = {}
    total = 0

    def shared(match: re.Match) -> bytes:
        nonlocal total
        total += 1
        number = index.setdefault(match.group(3), len(index))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (match.group(1), match.group(2), number)

    out = []
    for name, data in items:
        if name.startswith("xl/worksheets/sheet"):
            data = _INLINE.sub(shared, data)
        out.append((name, data))
    sst = b"".join(b'<si><t xml:space="preserve">%s</t></si>' % text for text in index)
    sst = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        b'count="%d" uniqueCount="%d">%s</sst>' % (total, len(index), sst)
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in out:
            if name == "[Content_Types].xml":
                data = data.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/></Types>'
                    % _SST_TYPE,
                )
            elif name == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Type="%s" Target="sharedStrings.xml" Id="rIdSst"/>'
                    b"</Relationships>" % _SST_REL,
                )
            dst.writestr(name, data)
        dst.writestr("xl/sharedStrings.xml", sst)
    return path


def write_csv(
    path: Path,
    rows: Iterable[Sequence[object]],
    *,
    delimiter: str = ",",
    bom: bool = False,
    encoding: str = "utf-8",
) -> Path:
    with open(path, "w", encoding="utf-8-sig" if bom else encoding, newline="") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return Path(path)


def write_roster(
    path: Path,
    rows: Iterable[Sequence[object]] | None = None,
    *,
    n: int = 10,
    headers: Sequence[str] = ROSTER_HEADERS,
    above: Sequence[Sequence[object]] = (),
    delimiter: str = ",",
) -> Path:
    """A roster file (.xlsx or .csv by suffix): optional rows above, headers, rows."""
    data = roster_rows(n) if rows is None else rows
    all_rows = [*above, list(headers), *data]
    if Path(path).suffix.lower() == ".csv":
        return write_csv(path, all_rows, delimiter=delimiter)
    return write_xlsx(path, all_rows)


# --- slips ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SlipPerson:
    full_name: str
    department: str = ""
    phone: object = ""
    address: str = ""
    seq: object = None  # STT; numbered 1, 2, … when None


def write_slip_xlsx(
    path: Path,
    people: Iterable[SlipPerson | Sequence[object]],
    *,
    unit_name: str = "Sở Nội vụ thành phố Đà Nẵng",
    requester_name: str = "Nguyễn Văn An",
    requester_position: str = "Chánh Văn phòng",
    requester_phone: str = "0236 3822 111",
    content: str = "Cấp mới hộp thư điện tử",
    headers: Sequence[str] = SLIP_HEADERS,
    order: Sequence[int] | None = None,
    extra_columns: Sequence[str] = (),
    top: int = 1,
    left: int = 1,
    labels_inline: bool = True,
    merged_values: bool = False,
    blank_rows: int = 1,
) -> Path:
    """A filled Phụ lục II slip.

    `order` permutes the table's columns (indexes into `headers`); `extra_columns`
    are appended on the right (left empty); `top`/`left` move the whole form.
    `labels_inline`: "Chức vụ: Chánh văn phòng" in one cell; otherwise the label in
    one cell and the value two columns to the right (in a merged range when
    `merged_values`).
    """
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Phiếu yêu cầu"
    order = list(range(len(headers))) if order is None else list(order)
    r = top

    def put(row: int, col: int, value: object) -> None:
        ws.cell(row=row, column=left + col, value=value)

    put(r, 0, f"Tên cơ quan: {unit_name}" if labels_inline else "Tên cơ quan:")
    put(r, 3, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    r += 1
    if not labels_inline:
        put(r, 0, unit_name)
    put(r, 3, "Độc lập – Tự do – Hạnh phúc")
    r += 2
    put(r, 0, "PHIẾU YÊU CẦU")
    r += 1
    put(r, 0, "Kính gửi: Sở Thông tin và Truyền thông thành phố Đà Nẵng")
    r += 2
    fields = (
        ("Họ và tên người yêu cầu", requester_name),
        ("Chức vụ", requester_position),
        ("Điện thoại liên lạc", requester_phone),
        ("Nội dung yêu cầu", content),
        ("Liệt kê cụ thể các yêu cầu (nếu có)", ""),
    )
    for label, value in fields:
        if labels_inline:
            put(r, 0, f"{label}: {value}" if value else f"{label}:.....")
        else:
            put(r, 0, f"{label}:")
            put(r, 2, value or None)
            if merged_values:
                first = ws.cell(row=r, column=left + 2).coordinate
                last = ws.cell(row=r, column=left + 4).coordinate
                ws.merge_cells(f"{first}:{last}")
                label_end = ws.cell(row=r, column=left + 1).coordinate
                ws.merge_cells(f"{ws.cell(row=r, column=left).coordinate}:{label_end}")
        r += 1
    r += 1
    header_cells = [headers[i] for i in order] + list(extra_columns)
    for c, text in enumerate(header_cells):
        put(r, c, text)
    r += 1
    count = 0
    for count, person in enumerate(people, start=1):
        p = person if isinstance(person, SlipPerson) else SlipPerson(*person)
        values = [count if p.seq is None else p.seq, p.full_name, p.department, p.phone, p.address]
        for c, i in enumerate(order):
            if i < len(values):
                put(r, c, values[i] if values[i] != "" else None)
        r += 1
    for k in range(blank_rows):
        put(r, order.index(0) if 0 in order else 0, count + k + 1)
        r += 1
    r += 1
    put(r, 3, "Đà Nẵng, ngày 20 tháng 11 năm 2026")
    r += 1
    put(r, 3, "CHÁNH VĂN PHÒNG HOẶC TƯƠNG ĐƯƠNG")
    r += 1
    put(r, 3, "(Ký chữ ký điện tử)")
    wb.save(path)
    return Path(path)


# --- hostile files -------------------------------------------------------------------


def replace_member(path: Path, member: str, transform: Callable[[bytes], bytes]) -> Path:
    """Rewrite one member of a zip (xlsx) in place through `transform`."""
    path = Path(path)
    with zipfile.ZipFile(path) as src:
        items = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in items:
            if info.filename == member:
                data = transform(data)
            dst.writestr(info.filename, data)
    return path


def add_member(path: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, data)
    return Path(path)


def zip_bomb_xlsx(path: Path, *, size: int = 300 * 1024**2, chunk: int = 1024**2) -> Path:
    """A valid workbook plus one member of `size` zero bytes (300 MB packs to ~300 KB).

    Streamed to the archive chunk by chunk, so building it needs little memory; tests
    keep it fast with a small `size` and a smaller `max_uncompressed`.
    """
    write_xlsx(path, [list(ROSTER_HEADERS), *roster_rows(2)])
    zeros = bytes(chunk)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/media/padding.bin", "w", force_zip64=True) as member:
            left = size
            while left > 0:
                member.write(zeros[: min(chunk, left)])
                left -= chunk
    return Path(path)


XXE_DOCTYPE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
)


def xxe_xlsx(path: Path, *, member: str = "xl/worksheets/sheet1.xml") -> Path:
    """A roster whose sheet XML declares an external entity (XXE)."""
    write_xlsx(path, [list(ROSTER_HEADERS), *roster_rows(2)])

    def inject(data: bytes) -> bytes:
        body = data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else data
        return XXE_DOCTYPE + body.lstrip()

    return replace_member(path, member, inject)


def text_as_xlsx(path: Path, text: str = "Mã hồ sơ,Họ và tên\n1,Nguyễn Văn A\n") -> Path:
    Path(path).write_text(text, encoding="utf-8")
    return Path(path)


def hide_in_workbook(
    path: Path,
    *,
    sheet_rows: Sequence[Sequence[object]] | None = None,
    sheet_state: str = "hidden",
    sheet_first: bool = False,
    hidden_row: Sequence[object] | None = None,
    tiny_row: bool = False,
    hidden_column: Sequence[object] | None = None,
    second_visible: Sequence[Sequence[object]] | None = None,
) -> Path:
    """Rewrite a workbook with things a reader does not see (issue 12 §3): another sheet
    (`sheet_state` hidden or veryHidden, first or last) holding `sheet_rows`; a row
    appended to the table and hidden (or only 1 pt high: `tiny_row`); a hidden column
    right of the table holding `hidden_column` (one value per row from the top); or a
    second, visible sheet holding `second_visible`."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    ws = wb.active
    if hidden_row is not None:
        r = ws.max_row + 1
        # right under the table's last row, so a reader that ignores hiddenness reads it
        while r > 1 and all(c.value is None for c in ws[r - 1]):
            r -= 1
        ws.insert_rows(r)
        for c, value in enumerate(hidden_row, start=1):
            ws.cell(row=r, column=c, value=value)
        if tiny_row:
            ws.row_dimensions[r].height = 1
        else:
            ws.row_dimensions[r].hidden = True
    if hidden_column is not None:
        col = ws.max_column + 2
        for r, value in enumerate(hidden_column, start=1):
            ws.cell(row=r, column=col, value=value)
        from openpyxl.utils import get_column_letter

        ws.column_dimensions[get_column_letter(col)].hidden = True
    if sheet_rows is not None:
        other = wb.create_sheet("Dữ liệu", 0 if sheet_first else None)
        for row in sheet_rows:
            other.append(list(row))
        other.sheet_state = sheet_state
        wb.active = wb.worksheets.index(ws)
    if second_visible is not None:
        other = wb.create_sheet("Trang 2")
        for row in second_visible:
            other.append(list(row))
    wb.save(path)
    return Path(path)


def retype_workbook(source: Path, target: Path, encoding: str) -> Path:
    """`source` as an office typing in TCVN3 or VNI would have saved it: every text
    cell of every sheet written with domain/legacy_text's tables (issue 13 §2)."""
    from openpyxl import load_workbook

    from dnmail.domain.legacy_text import from_unicode

    wb = load_workbook(source)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.value = from_unicode(cell.value, encoding)  # type: ignore[arg-type]
    wb.save(target)
    return target
