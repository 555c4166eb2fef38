"""Rosters and slips typed in TCVN3 or VNI, and CSV files in every encoding an office
saves (issue 13 §2). The legacy files are made here from real Vietnamese names with
domain/legacy_text's tables; each must read exactly as the Unicode file does.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from dnmail.domain.legacy_text import from_unicode
from dnmail.errors import InvalidFile
from dnmail.readers.excel_slip import read_excel_slip
from dnmail.readers.roster import read_roster
from dnmail.readers.tabular import csv_codec
from support.workbooks import (
    ROSTER_HEADERS,
    SlipPerson,
    retype_workbook,
    write_slip_xlsx,
    write_xlsx,
)

ROWS = [
    ["HS001", "Nguyễn Quang Thanh", "snv", "Văn phòng", "Chuyên viên", "0905123456", "Đang công tác"],  # noqa: E501
    ["HS002", "Lê Thị Mỹ Hạnh", "snv", "Phòng Tổ chức", "Trưởng phòng", "0905123457", "Nghỉ hưu"],
    ["HS003", "Trần Đức", "sgtvt", "Phòng Kế hoạch", "Phó trưởng phòng", "0236 3822 111", "Thôi việc"],  # noqa: E501
    ["HS004", "Phạm Văn Bình", "sgtvt", "Thanh tra", "Chánh thanh tra", "", "Chuyển công tác"],
    ["HS005", "Hoàng Thị Ánh Tuyết", "syt", "Văn phòng", "Văn thư", "0913000111", "Đang công tác"],
    ["HS006", "Võ Ngọc Ẩn", "syt", "Phòng Nghiệp vụ Y", "Chuyên viên", "", "Đang công tác"],
    ["HS007", "Đặng Thị Thu Hương", "stttt", "Phòng Công nghệ thông tin", "Kỹ sư", "", "Đang công tác"],  # noqa: E501
    ["HS008", "Bùi Xuân Trường", "stttt", "Trung tâm IID", "Phó giám đốc", "", "Đang công tác"],
    ["HS009", "Dương Thị Ngọc Ánh", "stttt", "Văn phòng", "Kế toán", "", "Đang công tác"],
]  # fmt: skip
TABLE = [list(ROSTER_HEADERS), *ROWS]


def retyped(rows, encoding: str) -> list[list[str]]:
    return [[from_unicode(cell, encoding) for cell in row] for row in rows]


def write_csv_bytes(path: Path, rows, encoding: str, *, bom: bytes = b"") -> Path:
    text = "".join(",".join(row) + "\r\n" for row in rows)
    path.write_bytes(bom + (cp1258(text) if encoding == "cp1258" else text.encode(encoding)))
    return path


_TONES = "\u0300\u0301\u0303\u0309\u0323"


def cp1258(text: str) -> bytes:
    """Text as Windows-1258 writes it: a letter it has precomposed as one byte, the
    others as the letter without its tone plus a combining tone mark."""
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
        except UnicodeEncodeError:
            parts = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES))
            tones = "".join(c for c in parts if c in _TONES)
            out += (base + tones).encode("cp1258")
    return bytes(out)


def people(roster) -> list[tuple]:
    return [
        (r.row, r.hr_id, r.full_name, r.unit_code, r.department, r.position, r.phone, r.status)
        for r in roster.rows
    ]


@pytest.fixture(scope="module")
def unicode_roster(tmp_path_factory):
    path = write_xlsx(tmp_path_factory.mktemp("u") / "roster.xlsx", TABLE)
    roster = read_roster(path)
    assert roster.warnings == []
    return people(roster)


# --- rosters typed in TCVN3 / VNI ------------------------------------------------------


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_legacy_roster_imports_the_same_staff(tmp_path, unicode_roster, encoding, fmt):
    rows = retyped(TABLE, encoding)
    assert rows[1][1] != TABLE[1][1]  # really typed in the old encoding
    if fmt == "xlsx":
        path = write_xlsx(tmp_path / "roster.xlsx", rows)
    else:  # the font's bytes, saved by a Western Windows as "CSV (comma delimited)"
        path = write_csv_bytes(tmp_path / "roster.csv", rows, "latin-1")
    roster = read_roster(path)
    assert people(roster) == unicode_roster
    name = "TCVN3" if encoding == "tcvn3" else "VNI"
    warned = {w.column: w.message for w in roster.warnings}
    assert set(warned) == {"B (Họ và tên)", "D (Phòng ban)", "E (Chức vụ)", "G (Trạng thái)"}
    message = warned["B (Họ và tên)"]
    assert message.startswith(f"9 cells typed in {name}")
    assert f"{rows[1][1]!r} → 'Nguyễn Quang Thanh'" in message
    assert all(w.file == path.name for w in roster.warnings)


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_legacy_roster_saved_as_utf8_csv_is_converted_too(tmp_path, unicode_roster, encoding):
    # Excel writes the cp1252 characters of the font's bytes as UTF-8 ("CSV UTF-8")
    path = write_csv_bytes(tmp_path / "roster.csv", retyped(TABLE, encoding), "utf-8",
                           bom=b"\xef\xbb\xbf")
    assert people(read_roster(path)) == unicode_roster


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_unicode_and_ascii_text_is_never_converted(tmp_path, fmt):
    ascii_rows = [[unicodedata.normalize("NFD", c).encode("ascii", "ignore").decode()
                   for c in row] for row in ROWS]
    ascii_rows = [[r[0], r[1].replace("Đ", "D"), *r[2:6], row[6]]
                  for r, row in zip(ascii_rows, ROWS, strict=True)]
    for rows in (ROWS, ascii_rows):
        if fmt == "xlsx":
            path = write_xlsx(tmp_path / "r.xlsx", [list(ROSTER_HEADERS), *rows])
        else:
            path = write_csv_bytes(tmp_path / "r.csv", [list(ROSTER_HEADERS), *rows], "utf-8")
        roster = read_roster(path)
        assert roster.warnings == []
        assert [r.full_name for r in roster.rows] == [row[1] for row in rows]


def test_unclear_column_is_refused_naming_it_and_the_override(tmp_path):
    # two names typed in TCVN3 among Unicode-looking ones: too little to decide
    rows = [list(r) for r in ROWS[:4]]
    rows[0][1] = from_unicode("Lê Hà", "tcvn3")
    rows[1][1] = "Lê Thị Hà"
    rows[2][1] = from_unicode("Phạm Hồng", "tcvn3")
    rows[3][1] = "Lê Văn"
    path = write_xlsx(tmp_path / "roster.xlsx", [list(ROSTER_HEADERS), *rows])
    with pytest.raises(InvalidFile) as excinfo:
        read_roster(path)
    [problem] = excinfo.value.problems
    assert problem.column == "B (Họ và tên)" and problem.file == "roster.xlsx"
    assert "--encoding tcvn3, --encoding vni or --encoding unicode" in problem.message
    # the operator decides: as written (then 'Lª Hµ' is no name), or converted
    with pytest.raises(InvalidFile, match="'Ph¹m Hång' is not a person's name"):
        read_roster(path, encoding="unicode")
    converted = read_roster(path, encoding="tcvn3")
    assert [r.full_name for r in converted.rows] == ["Lê Hà", "Lê Thị Hà", "Phạm Hồng", "Lê Văn"]


def test_override_converts_only_cells_without_unicode_letters(tmp_path, unicode_roster):
    rows = retyped(TABLE, "vni")
    rows[2][1] = TABLE[2][1]  # one name already typed in Unicode (ị, ỹ, ạ: beyond 8 bits)
    path = write_xlsx(tmp_path / "roster.xlsx", rows)
    with pytest.raises(InvalidFile, match="cannot tell"):
        read_roster(path)  # a column is in one encoding: a mixture is not decided alone
    roster = read_roster(path, encoding="vni")
    assert people(roster) == unicode_roster
    [names] = [w for w in roster.warnings if w.column == "B (Họ và tên)"]
    assert names.message.startswith("8 cells typed in VNI") and "as --encoding says" in names.message  # noqa: E501


# --- CSV encodings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"),
     ("utf-16-be", b"\xfe\xff"), ("cp1258", b"")],
)
def test_csv_in_every_office_encoding_reads_the_same(tmp_path, unicode_roster, encoding, bom):
    path = write_csv_bytes(tmp_path / "roster.csv", TABLE, encoding, bom=bom)
    roster = read_roster(path)
    assert people(roster) == unicode_roster and roster.warnings == []


def test_csv_codec_choices():
    assert csv_codec(b"\xef\xbb\xbfabc") == "utf-8"
    assert csv_codec(cp1258("Nguyễn Văn Hùng, Lê Thị Hạnh")) == "cp1258"
    assert csv_codec(from_unicode("Nguyễn Văn Hùng", "tcvn3").encode("latin-1")) == "latin-1"
    assert csv_codec(from_unicode("Nguyễn Văn Hùng", "vni").encode("latin-1")) == "latin-1"
    assert csv_codec(b"abc", "cp1258") == "cp1258"
    assert csv_codec(b"\xff", "tcvn3") == "latin-1"
    assert csv_codec(b"ascii only") == "utf-8"


def test_undecodable_csv_is_refused_naming_the_row(tmp_path):
    text = "".join(",".join(row) + "\r\n" for row in TABLE[:4])
    data = cp1258(text) + b"HS010,Nguy\x81n,snv,,,,x\r\n"
    path = tmp_path / "roster.csv"
    path.write_bytes(data)
    with pytest.raises(InvalidFile) as excinfo:
        read_roster(path)
    [problem] = excinfo.value.problems
    assert problem.row == 5
    assert "line 5, character 11: byte 0x81 cannot be read as Windows-1258" in problem.message


def test_broken_utf8_is_refused_naming_the_row(tmp_path):
    data = "".join(",".join(row) + "\n" for row in TABLE[:3]).encode() + b"HS9,L\xea,snv,,,,x\n"
    path = tmp_path / "roster.csv"
    path.write_bytes(data)
    with pytest.raises(InvalidFile) as excinfo:
        read_roster(path)
    [problem] = excinfo.value.problems
    assert problem.row == 4 and "invalid UTF-8 byte 0xEA" in problem.message


# --- slips ----------------------------------------------------------------------------

PEOPLE = [
    SlipPerson("Nguyễn Quang Thanh", "Phòng Tổ chức", "0905123456", "thanhnq"),
    SlipPerson("Lê Thị Mỹ Hạnh", "Văn phòng", "0236 3822 111", ""),
    SlipPerson("Trần Đức", "Phòng Kế hoạch", "", "ductran"),
    SlipPerson("Hoàng Thị Ánh Tuyết", "Thanh tra", "", ""),
]


@pytest.mark.parametrize("encoding", ["tcvn3", "vni"])
def test_legacy_slip_reads_as_the_unicode_one(tmp_path, encoding):
    source = write_slip_xlsx(tmp_path / "slip.xlsx", PEOPLE)
    expected = read_excel_slip(source)
    path = retype_workbook(source, tmp_path / f"slip-{encoding}.xlsx", encoding)
    content = read_excel_slip(path)
    for field in ("unit_name", "requester_name", "requester_position", "requester_phone",
                  "content", "kind"):
        assert getattr(content, field) == getattr(expected, field), field
    assert [(r.full_name, r.department, r.phone, r.requested_address) for r in content.rows] == [
        (r.full_name, r.department, r.phone, r.requested_address) for r in expected.rows
    ]
    warned = {w.column or w.message.split(":")[0] for w in content.warnings}
    assert "B (Họ và tên)" in warned and "the lines above the table" in warned
