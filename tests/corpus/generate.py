"""The binary (or awkward) part of the hostile input corpus, written by code.

Each function writes its files into a directory and returns {case name: path}; the
expected outcome of each case is in tests/e2e/test_hostile_input.py.
"""

from __future__ import annotations

import os
import random
from datetime import timedelta
from pathlib import Path

from support import bombs
from support.pki import TEST_NOW
from support.workbooks import (
    ROSTER_HEADERS,
    SLIP_HEADERS,
    SlipPerson,
    hide_in_workbook,
    replace_member,
    text_as_xlsx,
    write_slip_xlsx,
    write_xlsx,
    xxe_xlsx,
    zip_bomb_xlsx,
)

HEADER = ",".join(ROSTER_HEADERS)
GOOD = "HOS-1,Nguyễn Văn An,snv,Văn phòng,Chuyên viên,0905000101,Đang công tác"
RLO, LRM, ZWSP, IDEO_SPACE = "\u202e", "\u200e", "\u200b", "\u3000"
LONG = "Nguyễn " + "A" * 10_000


def _csv(path: Path, *lines: str, encoding: str = "utf-8", end: str = "") -> Path:
    """The lines, encoded; a b"\\n" after them unless `end` (then encoded with them)."""
    path.write_bytes(("\n".join(lines) + end).encode(encoding) + (b"" if end else b"\n"))
    return path


def rosters(d: Path) -> dict[str, Path]:
    """HR rosters (for `staff import`)."""
    d.mkdir(parents=True, exist_ok=True)
    out = {
        # refused
        "long-cell.csv": _csv(d / "long-cell.csv", HEADER, GOOD,
                              f"HOS-2,{LONG},snv,Văn phòng,Chuyên viên,0905000102,Đang công tác"),
        "control-only-name.csv": _csv(d / "control-only-name.csv", HEADER, GOOD,
                                      "HOS-3,\x07\x1b\x08,snv,Văn phòng,,,Đang công tác"),
        "rtl-only-name.csv": _csv(d / "rtl-only-name.csv", HEADER, GOOD,
                                  f"HOS-3,{RLO}{LRM}{ZWSP},snv,Văn phòng,,,Đang công tác"),
        "invalid-utf8.csv": d / "invalid-utf8.csv",
        # Excel's "Unicode text" (issue 13 §2: read) and a UTF-16 file cut short
        "utf16.csv": _csv(d / "utf16.csv", HEADER, GOOD, encoding="utf-16", end="\n"),
        "utf16-truncated.csv": _csv(d / "utf16-truncated.csv", HEADER, GOOD, encoding="utf-16"),
        "nul-bytes.csv": d / "nul-bytes.csv",
        "garbage.csv": d / "garbage.csv",
        "empty.csv": _csv(d / "empty.csv", ""),
        "zip-bomb.xlsx": zip_bomb_xlsx(d / "zip-bomb.xlsx", size=8 * 1024**2),
        "shared-strings-bomb.xlsx": bombs.shared_strings_xlsx(
            d / "shared-strings-bomb.xlsx",
            write_xlsx(d / "roster-base.xlsx", [list(ROSTER_HEADERS), GOOD.split(",")])),
        "xxe.xlsx": xxe_xlsx(d / "xxe.xlsx"),
        "text-as.xlsx": text_as_xlsx(d / "text-as.xlsx"),
        "garbage.xlsx": d / "garbage.xlsx",
        "formula.xlsx": write_xlsx(d / "formula.xlsx", [
            list(ROSTER_HEADERS),
            ["HOS-1", "Nguyễn Văn An", "snv", "Văn phòng", "Chuyên viên", "0905000101",
             "Đang công tác"],
            ["HOS-2", '=HYPERLINK("http://evil.example","Bấm")', "snv", "", "", "",
             "Đang công tác"],
        ]),
        "control-chars-in-xml.xlsx": d / "control-chars-in-xml.xlsx",
        # a formula behind what a reader does not see (issue 12 §5): a tab, spaces, a
        # zero-width space, an ideographic space, a backspace
        "formula-behind-invisible.csv": _csv(d / "formula-behind-invisible.csv", HEADER, GOOD,
            *(f"HOS-{n},{lead}=1+1 Nguyễn,snv,Văn phòng,,,Đang công tác"
              for n, lead in enumerate(("\t", "   ", ZWSP, IDEO_SPACE, "\b"), start=20))),
        **hidden_rosters(d),
        "not-a-name.csv": _csv(d / "not-a-name.csv", HEADER, GOOD,
                               "HOS-30,Nguyễn Văn 3,snv,Văn phòng,,,Đang công tác",
                               "HOS-31,Nguyễn <b>An</b>,snv,Văn phòng,,,Đang công tác"),
        # accepted, cleaned
        "control-chars.csv": _csv(d / "control-chars.csv", HEADER, GOOD,
                                  "HOS-7,Trần\x00 Văn\x1b Bình\x7f,snv,Văn\tphòng,,,Đang công tác"),
        "rtl-marks.csv": _csv(d / "rtl-marks.csv", HEADER, GOOD,
                              f"HOS-8,{RLO}Lê Thị{LRM} Cúc{ZWSP},snv,Văn phòng,,,Đang công tác"),
    }
    (d / "invalid-utf8.csv").write_bytes(
        (HEADER + "\n" + GOOD + "\n").encode() + b"HOS-9,Nguy\xe1\xbb n V\xff\xfen,snv,,,,x\n"
    )
    (d / "nul-bytes.csv").write_bytes(
        (HEADER + "\n").encode() + "HOS-1,Nguy\x00ễn Văn\x00 An,snv,,,,Đang công tác\n".encode())
    (d / "garbage.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + random.Random(6).randbytes(10_000))
    (d / "garbage.xlsx").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 10)
    write_xlsx(d / "control-chars-in-xml.xlsx", [list(ROSTER_HEADERS), GOOD.split(",")])
    # Raw control bytes (and a character reference to one) in the sheet XML itself:
    # not well-formed XML 1.0, which openpyxl never writes.
    replace_member(
        d / "control-chars-in-xml.xlsx", "xl/worksheets/sheet1.xml",
        lambda data: data.replace(b"Nguy&#7877;n V&#259;n An", b"Nguy\x01\x02n&#27; An"),
    )
    return out


ROSTER_ROWS = [list(ROSTER_HEADERS), GOOD.split(",")]
EXTRA_ROW = ["HOS-66", "Lê Văn Ẩn", "snv", "Văn phòng", "", "", "Đang công tác"]


def hidden_rosters(d: Path) -> dict[str, Path]:
    """Rosters with what nobody reading the workbook sees (issue 12 §3)."""
    def roster(name: str, **kw) -> Path:
        return hide_in_workbook(write_xlsx(d / name, ROSTER_ROWS), **kw)

    return {
        "hidden-sheet.xlsx": roster("hidden-sheet.xlsx", sheet_first=True,
                                    sheet_rows=[*ROSTER_ROWS, EXTRA_ROW]),
        "very-hidden-sheet.xlsx": roster("very-hidden-sheet.xlsx", sheet_state="veryHidden",
                                         sheet_rows=[["ghi chú"]]),
        "hidden-row.xlsx": roster("hidden-row.xlsx", hidden_row=EXTRA_ROW),
        "tiny-row.xlsx": roster("tiny-row.xlsx", hidden_row=EXTRA_ROW, tiny_row=True),
        "hidden-column.xlsx": roster("hidden-column.xlsx",
                                     hidden_column=["Mã đơn vị", "sgtvt"]),
        "two-rosters.xlsx": roster("two-rosters.xlsx", second_visible=[*ROSTER_ROWS, EXTRA_ROW]),
    }


#: Staff a slip row must match (unit snv): see tests/e2e/test_hostile_input.py.
SLIP_STAFF = ("Nguyễn Văn An", "Trần Văn Bình")


def excel_slips(d: Path) -> dict[str, Path]:
    """Excel request slips (for `request import --unit snv`)."""
    d.mkdir(parents=True, exist_ok=True)

    def slip(name, people, **kw):
        return write_slip_xlsx(d / name, people, **kw)

    out = {
        "formula-row.xlsx": slip("formula-row.xlsx", [
            SlipPerson("Nguyễn Văn An"), SlipPerson('=WEBSERVICE("http://evil.example")')]),
        "formula-address.xlsx": slip("formula-address.xlsx", [
            SlipPerson("Nguyễn Văn An", address="=1+1")]),
        "hidden-row.xlsx": hide_in_workbook(
            slip("hidden-row.xlsx", [SlipPerson("Nguyễn Văn An")]),
            hidden_row=["2", "Trần Văn Bình", "Văn phòng", "0905000102", ""]),
        "hidden-slip-sheet.xlsx": hide_in_workbook(
            slip("hidden-slip-sheet.xlsx", [SlipPerson("Nguyễn Văn An")]), sheet_first=True,
            sheet_rows=[["Nội dung yêu cầu: Hủy bỏ"], list(SLIP_HEADERS),
                        ["1", "Trần Văn Bình", "", "", ""]]),
        "two-slip-sheets.xlsx": hide_in_workbook(
            slip("two-slip-sheets.xlsx", [SlipPerson("Nguyễn Văn An")]),
            second_visible=[list(SLIP_HEADERS), ["1", "Trần Văn Bình", "", "", ""]]),
        "formula-behind-invisible.xlsx": slip("formula-behind-invisible.xlsx", [
            SlipPerson("Nguyễn Văn An"), SlipPerson(f"{IDEO_SPACE}{ZWSP}=1+1 Nguyễn")]),
        "long-cell.xlsx": slip("long-cell.xlsx", [SlipPerson(LONG)]),
        "ldap-name.xlsx": slip("ldap-name.xlsx", [SlipPerson("Nguyễn *)(uid=*")]),
        "ldap-address.xlsx": slip("ldap-address.xlsx", [
            SlipPerson("Nguyễn Văn An", address="an*)(uid=*")]),
        "dn-address.xlsx": slip("dn-address.xlsx", [
            SlipPerson("Nguyễn Văn An", address="anv,ou=admins")]),
        "one-bad-row.xlsx": slip("one-bad-row.xlsx", [
            SlipPerson("Nguyễn Văn An"), SlipPerson("Hồ Vắng Mặt")]),
        "zip-bomb.xlsx": zip_bomb_xlsx(d / "zip-bomb.xlsx", size=8 * 1024**2),
        "shared-strings-bomb.xlsx": bombs.shared_strings_xlsx(
            d / "shared-strings-bomb.xlsx",
            slip("slip-base.xlsx", [SlipPerson("Nguyễn Văn An")])),
        "xxe.xlsx": xxe_xlsx(d / "xxe.xlsx"),
        "text-as.xlsx": text_as_xlsx(d / "text-as.xlsx"),
        # accepted: the marks are dropped and the names match
        "rtl-marks.xlsx": slip("rtl-marks.xlsx", [
            SlipPerson(f"{RLO}Nguyễn Văn{LRM} An{ZWSP}"), SlipPerson(f"Trần{ZWSP} Văn Bình")]),
    }
    return out


def pdf_slips(d: Path, pki, rows) -> dict[str, Path]:
    """PDF slips (for `request import`): garbage, truncated, and signatures in odd
    places. `rows`: the pdfslips.Person rows of a slip that would be accepted."""
    from support import pdfslips as ps

    d.mkdir(parents=True, exist_ok=True)
    plain = ps.make_slip_pdf(rows)
    good = ps.sign_pdf(plain, pki.snv)
    data = {
        "garbage.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 20,
        "empty.pdf": b"",
        "not-a-pdf.pdf": b"PK\x03\x04 this is a zip, not a PDF",
        "html.pdf": b"<html><body>%PDF-1.7</body></html>",
        "truncated.pdf": ps.truncate(good),
        "header-only.pdf": good[:1024],
        "unsigned.pdf": plain,
        "bytes-changed-after-signing.pdf": ps.flip_byte_in_signed_content(good),
        "signature-dictionary-altered.pdf": ps.flip_byte_in_signature_dict(good),
        "table-replaced-after-signing.pdf": ps.replace_page_content(
            good, [ps.Person("Kẻ Gian Lận", "Phòng Ma", "0999888777", "gianlan")]),
        "table-painted-over-after-signing.pdf": ps.paint_over_table(
            good, [ps.Person("Kẻ Gian Lận", "Phòng Ma", "0999888777", "gianlan")]),
        "signed-by-another-unit.pdf": ps.sign_pdf(plain, pki.sgtvt),
        "signed-by-a-rogue-ca.pdf": ps.sign_pdf(plain, pki.rogue_snv),
        "second-signature-broken.pdf": ps.flip_byte_in_signature_dict(
            ps.sign_pdf(good, pki.snv_deputy, field_name="Sig2")),
        "signature-over-an-empty-page.pdf": ps.sign_pdf(ps.make_slip_pdf([]), pki.snv),
        # issue 12: the chief signs a change slip holding a white "Hủy bỏ" he cannot see;
        # a page that inflates to 1 GiB inside the signed revision
        "hidden-white-cancel.pdf": ps.sign_pdf(ps.add_hidden_text(
            ps.make_slip_pdf(rows, content="Thay đổi thông tin hộp thư"),
            "Nội dung yêu cầu: Hủy bỏ"), pki.snv),
        "deflate-bomb.pdf": bombs.deflate_bomb_pdf(pki.snv, rows),
        "a-second-eof-after-signing.pdf": ps.append_after_eof(
            good, b"\n%%EOF\n<script>alert(1)</script>\n"),
        # a slip is not used forever (issue 12 §2)
        "signed-45-days-ago.pdf": ps.sign_pdf(plain, pki.snv,
                                              timestamp=TEST_NOW - timedelta(days=45)),
        "claims-a-future-signing-time.pdf": ps.sign_pdf(plain, pki.snv,
                                                        timestamp=TEST_NOW + timedelta(days=5)),
        # accepted: bytes after %%EOF are never read; another unit's co-signature is
        # reported, the chief's counts
        "junk-after-eof.pdf": ps.append_after_eof(good, b"\n<script>alert(1)</script>\n"),
        "co-signed-by-another-unit.pdf": ps.sign_pdf(good, pki.sgtvt, field_name="Sig2"),
    }
    out = {}
    for name, content in data.items():
        (d / name).write_bytes(content)
        out[name] = d / name
    return out


def configs(d: Path) -> dict[str, Path]:
    """Configuration files too awkward for git."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "latin1.toml").write_bytes('[operator]\naccount = "Nguy\xean"\n'.encode("latin-1"))
    (d / "nul.toml").write_bytes(b"[database]\nurl = \"sqlite:///x\x00.db\"\n")
    (d / "huge-string.toml").write_text(
        '[directory]\nbase_dn = "' + "x" * 100_000 + '"\n', encoding="utf-8")
    (d / "a-directory.toml").mkdir(exist_ok=True)
    if not (d / "a-fifo.toml").exists():  # would block a reader for ever
        os.mkfifo(d / "a-fifo.toml", 0o600)
    return {p.name: p for p in d.iterdir()}
