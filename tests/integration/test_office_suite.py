"""What a unit receives, opened as an office opens it (issue 13 §3): the export and the
handout workbooks (one password, and a unit's handout of `provision --handout-dir`) are
converted to PDF by LibreOffice (headless, a throw-away profile), and the PDF is read
back: one page wide, landscape, the header on every page, phone numbers with their
leading 0, Vietnamese text.

soffice is slow to start (seconds): the files are converted in one run per module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dnmail.exports.handouts import HandoutRow, HandoutWriter, stage_single
from dnmail.exports.writers import heading_text, write_xlsx
from dnmail.services.exports import COLUMNS, ExportKind

needs_soffice = pytest.mark.skipif(
    shutil.which("soffice") is None and not os.environ.get("CI"),
    reason="LibreOffice (libreoffice-calc-nogui) is not installed",
)

NAMES = ["Nguyễn Quang Thanh", "Lê Thị Mỹ Hạnh", "Trần Đức", "Hoàng Thị Ánh Tuyết",
         "Huỳnh Ngọc Bảo Châu", "Đặng Văn Hùng"]  # fmt: skip
WHEN = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def issued_rows(n: int):
    for i in range(n):
        yield (
            NAMES[i % len(NAMES)],
            "Phòng Cải cách hành chính và Tổ chức cán bộ",
            f"09051{i:05d}",
            f"user{i}@danang.gov.vn",
            f"SNV-{i:04d}",
            "snv",
            "active",
            WHEN - timedelta(days=i),
        )


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("office")
    os.chmod(d, 0o700)
    export = d / "da-cap-email.xlsx"
    heading = heading_text("Đã cấp email", "Sở Nội vụ (snv)", WHEN)
    write_xlsx(export, COLUMNS[ExportKind.ISSUED], issued_rows(80), title="Đã cấp email",
               heading=heading)
    handout = d / "reset-thanhnq.xlsx"
    row = HandoutRow("Nguyễn Quang Thanh", "Văn phòng", "0905100001", "thanhnq@danang.gov.vn",
                     "=Xk9-pQ2@")
    stage_single(handout, row).publish()
    unit_handout = provision_handout(d / "handouts")
    out = d / "pdf"
    profile = d / "profile"
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
         "--convert-to", "pdf", "--outdir", str(out), str(export), str(handout),
         str(unit_handout)],
        check=True, capture_output=True, timeout=180, env={**os.environ, "HOME": str(d)},
    )
    return {
        "export": out / "da-cap-email.pdf",
        "handout": out / "reset-thanhnq.pdf",
        "unit": out / unit_handout.with_suffix(".pdf").name,
    }


def provision_handout(directory: Path) -> Path:
    """The handout of unit snv as `provision --handout-dir` writes it: 60 passwords in
    three chunks, one workbook."""
    writer = HandoutWriter(directory, stamp=WHEN, units={"snv": "Sở Nội vụ"})
    people = [
        HandoutRow(NAMES[i % len(NAMES)], "Văn phòng", f"09052{i:05d}", f"u{i}@danang.gov.vn",
                   f"-Pw{i:02d}=x")
        for i in range(60)
    ]
    for start in range(0, 60, 20):
        writer.write_many({"snv": people[start : start + 20]})
        writer.publish()
    writer.close()
    [path] = writer.paths.values()
    assert path.suffix == ".xlsx"
    return path


def pages(path: Path):
    import pdfplumber

    with pdfplumber.open(path) as pdf:
        return [(float(p.width), float(p.height), p.extract_text() or "") for p in pdf.pages]


@needs_soffice
def test_export_prints_one_page_wide_landscape_with_the_header_on_every_page(pdfs):
    printed = pages(pdfs["export"])
    assert len(printed) >= 2  # 80 rows do not fit one page down…
    for width, height, text in printed:
        assert width > height  # landscape
        # …but every column is on every page: one page wide, the header repeated
        assert "Họ và tên" in text and "Ngày cấp" in text and "Mã đơn vị" in text
    first = printed[0][2]
    assert "Đã cấp email — Đơn vị: Sở Nội vụ (snv) — ngày 05 tháng 12 năm 2026" in first
    assert "0905100000" in first and "Nguyễn Quang Thanh" in first  # leading 0 kept
    assert "0905100079" in printed[-1][2]  # the last row, on the last page


@needs_soffice
def test_handout_workbook_keeps_the_phone_and_the_password_as_written(pdfs):
    [(width, height, text)] = pages(pdfs["handout"])
    assert width > height
    assert "0905100001" in text and "Nguyễn Quang Thanh" in text and "Mật khẩu" in text
    assert "=Xk9-pQ2@" in text and "'=Xk9" not in text  # a password is never altered


@needs_soffice
def test_unit_handout_of_provision_prints_like_the_exports(pdfs):
    printed = pages(pdfs["unit"])
    assert len(printed) >= 2  # 60 rows: more than one page down…
    for width, height, text in printed:
        assert width > height  # landscape, every column on every page, the header repeated
        assert "Họ và tên" in text and "Số điện thoại" in text and "Mật khẩu" in text
    first, last = printed[0][2], printed[-1][2]
    title = "Mật khẩu hộp thư được cấp — Đơn vị: Sở Nội vụ (snv) — ngày 05 tháng 12 năm 2026"
    assert title in first
    assert "0905200000" in first and "-Pw00=x" in first  # leading 0, the password exactly
    assert "0905200059" in last and "-Pw59=x" in last  # the last chunk's rows, same file


@pytest.mark.parametrize("name", ["reset.txt", "reset", "reset.xls", "reset.csv.bak"])
def test_a_handout_named_for_no_format_is_refused(tmp_path, name):
    from dnmail.exports.handouts import HandoutError, handout_format

    with pytest.raises(HandoutError, match=r"a handout is a workbook \(\.xlsx\) or a CSV file"):
        handout_format(tmp_path / name)
    assert handout_format(tmp_path / "x.XLSX") == "xlsx"
    assert handout_format(tmp_path / "x.csv") == "csv"
