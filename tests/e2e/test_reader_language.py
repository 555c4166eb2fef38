"""What the readers say follows the interface's language (issue 13 §1), also when they
run in the sandboxed child (readers/sandbox.py): a roster refused row by row, and the
warning of a column typed in TCVN3, in Vietnamese with DNMAIL_LANG=vi and in English
with DNMAIL_LANG=en; exit codes do not move."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from conftest import seed_units, write_config
from dnmail import i18n
from dnmail.db import migrate
from dnmail.db.session import make_engine
from dnmail.errors import InvalidFile
from dnmail.readers.roster import read_roster
from dnmail.readers.sandbox import run_bounded

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
BAD_ROSTER = (
    "Mã hồ sơ,Họ và tên,Mã đơn vị,Phòng ban,Chức vụ,Số điện thoại,Trạng thái\n"
    "HR001,,snv,Văn phòng,Chuyên viên,0905123456,Đang công tác\n"
    "HR002,Lê Thị Mỹ Hạnh,snv,Phòng Tổ chức,Chuyên viên,12ab,Đang công tác\n"
)


def dnmail(args: list[str], *, lang: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DNMAIL_LANG", "DNMAIL_CONFIG")}
    env["DNMAIL_LANG"] = lang
    return subprocess.run(
        [sys.executable, "-m", "dnmail", *args], capture_output=True, text=True, env=env,
        timeout=120,
    )


@pytest.fixture
def config(tmp_path) -> Path:
    url = f"sqlite:///{tmp_path / 'dnmail.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as s, s.begin():
        seed_units(s, ("snv", "sxd"))
    engine.dispose()
    path = write_config(tmp_path / "config.toml", db_url=url)
    path.chmod(0o600)
    return path


def test_a_roster_refused_in_the_child_speaks_the_language(config, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(BAD_ROSTER, encoding="utf-8")
    vi = dnmail(["--config", str(config), "staff", "import", str(roster)], lang="vi")
    en = dnmail(["--config", str(config), "staff", "import", str(roster)], lang="en")
    assert vi.returncode == en.returncode == 2, (vi.stderr, en.stderr)
    assert "lỗi: roster.csv: 2 lỗi" in vi.stderr
    assert "roster.csv, dòng 2, cột 'B (Họ và tên)': Họ và tên: họ tên đang trống" in vi.stderr
    assert "dòng 3, cột 'F (Số điện thoại)': Số điện thoại: '12ab' không phải số điện thoại" in (
        vi.stderr
    )
    for english in ("problems", "row ", "column ", "the name is empty", "is not a phone"):
        assert english not in vi.stderr, vi.stderr
    assert "error: roster.csv: 2 problems" in en.stderr
    assert "roster.csv, row 2, column 'B (Họ và tên)': Họ và tên: the name is empty" in en.stderr
    assert "'12ab' is not a phone number" in en.stderr


def test_the_legacy_encoding_warning_speaks_the_language(config):
    roster = SAMPLES / "roster-sxd-tcvn3.csv"
    args = ["--config", str(config), "staff", "import", "--dry-run", str(roster)]
    vi, en = dnmail(args, lang="vi"), dnmail(args, lang="en")
    assert vi.returncode == en.returncode == 0, (vi.stderr, en.stderr)
    assert (
        "cảnh báo: roster-sxd-tcvn3.csv, cột 'B (Họ và tên)': 5 ô gõ bằng TCVN3 (ABC, .VnTime) "
        "đã được chuyển sang Unicode, ví dụ 'Ng« ThÞ Thu H»ng' → 'Ngô Thị Thu Hằng' "
        "(tự nhận biết; --encoding unicode giữ nguyên văn bản như đã gõ)"
    ) in vi.stderr
    assert "converted to Unicode" not in vi.stderr
    assert (
        "warning: roster-sxd-tcvn3.csv, column 'B (Họ và tên)': 5 cells typed in TCVN3 "
        "(ABC, .VnTime) converted to Unicode"
    ) in en.stderr


def test_the_child_speaks_the_parents_language_not_the_environments(tmp_path):
    """The language chosen in the parent (--lang beats $DNMAIL_LANG) is the child's: its
    refusal comes back already in it (the tests run with DNMAIL_LANG=en)."""
    roster = tmp_path / "roster.csv"
    roster.write_text(BAD_ROSTER, encoding="utf-8")
    saved = i18n.language()
    try:
        i18n.set_language("vi")
        with pytest.raises(InvalidFile) as refused:
            run_bounded(read_roster, (roster,), file_name=roster.name)
    finally:
        i18n.set_language(saved)
    assert os.environ.get("DNMAIL_LANG") == "en"
    message = refused.value.message
    assert message.startswith("roster.csv: 2 lỗi"), message
    assert "Họ và tên: họ tên đang trống" in message
    assert "'12ab' không phải số điện thoại" in message


def test_an_excel_slip_read_in_the_child_speaks_the_language(config):
    """The VNI slip of the demo: its conversion warnings come from the child that reads
    it, in the language of the run."""
    roster = ["--config", str(config), "staff", "import", str(SAMPLES / "roster-sxd-tcvn3.csv")]
    assert dnmail(roster, lang="en").returncode == 0
    args = ["--config", str(config), "request", "import", "--unit", "sxd", "--dry-run",
            str(SAMPLES / "slip-sxd-vni.xlsx")]
    vi, en = dnmail(args, lang="vi"), dnmail(args, lang="en")
    assert vi.returncode == en.returncode == 0, (vi.stderr, en.stderr)
    assert (
        "cảnh báo: slip-sxd-vni.xlsx, trang tính 'Phieu', cột 'B (Họ và tên)': 3 ô gõ bằng "
        "VNI (VNI-Times) đã được chuyển sang Unicode, ví dụ 'Löông Vaên Ñoâng' → 'Lương Văn Đông'"
    ) in vi.stderr
    assert "trang tính 'Phieu': các dòng phía trên bảng: 9 ô gõ bằng VNI" in vi.stderr
    assert "cells typed in" not in vi.stderr and "the lines above the table" not in vi.stderr
    assert (
        "warning: slip-sxd-vni.xlsx, sheet 'Phieu', column 'B (Họ và tên)': 3 cells typed in "
        "VNI (VNI-Times) converted to Unicode"
    ) in en.stderr
