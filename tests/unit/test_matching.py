"""Slip rows to staff (DESIGN §2 "From slip rows to staff"): the pure rule, no database."""

from __future__ import annotations

from dnmail.domain.matching import StaffCandidate, match_rows
from dnmail.domain.slip import SlipRow


def test_match_rows_never_guesses():
    """The pure rule (no database): name, then department, then phone; else refused."""
    a = StaffCandidate("HR1", "Lê Thị Hà", "Văn phòng", "0905000001", "active")
    b = StaffCandidate("HR2", "Lê Thị Hà", "Văn phòng", "0905000002", "active")
    c = StaffCandidate("HR3", "Lê Thị Hạ", "Thanh tra", "", "active")
    staff = {"lêthịhà": [a, b], "lêthịhạ": [c]}
    rows = [
        SlipRow(1, "1", "LÊ THỊ HÀ", "văn  phòng", "0905000002", page=1),  # the phone decides
        SlipRow(2, "2", "Lê Thị Hạ", "Phòng khác", page=1),  # one person: a warning only
        SlipRow(3, "3", "Lê Thị Hà", "Văn phòng", page=1),  # two left: refused
    ]
    matches, problems, warnings = match_rows(rows, staff, unit="snv", file_name="s.pdf")
    assert [(r.row, p.hr_id) for r, p in matches] == [(1, "HR2"), (2, "HR3")]
    [problem] = problems
    assert (problem.page, problem.row, problem.column) == (1, 3, "Họ và tên")
    assert "HR1 (Văn phòng, 0905000001); HR2 (Văn phòng, 0905000002)" in problem.message
    assert "the department 'Văn phòng' on the slip does not single out one" in problem.message
    [warning] = warnings
    assert warning.row == 2 and "'Thanh tra' in the HR record" in warning.message
