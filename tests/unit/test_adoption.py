"""Matching directory entries to staff (domain/adoption.py): the rules, in order, and
every way an entry is left for IID to decide."""

from __future__ import annotations

from dnmail.domain.adoption import (
    FoundEntry,
    Known,
    Matcher,
    MatchRule,
    StaffMember,
    counts,
    entry_address,
)

DOMAIN = "danang.gov.vn"
STAFF = [
    StaffMember.named(
        "HR001", "Nguyễn Quang Thanh", "snv", "Văn phòng", "0905123456", "thanh.nq@danang.gov.vn"
    ),
    StaffMember.named("HR002", "Nguyễn Quang Thanh", "sgtvt", "Phòng Kế hoạch", "0905000222"),
    StaffMember.named("HR003", "Lê Thị Mỹ Hạnh", "snv", "Phòng Tổ chức", "0905000333"),
    StaffMember.named("HR004", "Lê Thị Mỹ Hạnh", "snv", "Văn phòng", "0905000444"),
    StaffMember.named("HR005", "Trần Đức", "stttt", "Văn phòng", ""),
    StaffMember.named("HR006", "Phạm Văn Bình", "snv", "Văn phòng", ""),
    StaffMember.named("HR007", "Phạm Văn Bình", "snv", "Văn phòng", ""),
]
NOBODY = Known({}, {}, {})


def entry(address, cn, **kw):
    kw.setdefault("dn", f"uid={address},ou=people,dc=danang,dc=gov,dc=vn")
    kw.setdefault("mail", f"{address}@{DOMAIN}")
    return FoundEntry(address=address, full_name=cn, **kw)


def verdicts(entries, known=NOBODY, **kw):
    return Matcher(STAFF, known, domain=DOMAIN, **kw).classify(entries)


def test_rules_in_order_hr_id_then_email_then_name():
    got = verdicts(
        [
            # employeeNumber wins over a name that says someone else
            entry("thanhnq", "Lê Thị Mỹ Hạnh", employee_number="HR001"),
            # the roster's email column
            entry("ducx", "Somebody Else", mail="thanh.nq@danang.gov.vn"),
            # the name, NFD and odd case and spaces, city-wide: one person
            entry("duct", "TRẦN  ĐỨC".replace("Ứ", "U\u031b\u0301")),
        ]
    )
    assert [(v.match, v.hr_id) for v in got] == [
        (MatchRule.HR_ID, "HR001"),
        (MatchRule.TAKEN, "HR001"),
        (MatchRule.NAME, "HR005"),
    ]
    # Two entries claimed HR001: the hr-id one wins, the email one is taken.
    assert "matched to uid=thanhnq" in got[1].detail


def test_same_name_in_two_units_the_branch_decides():
    got = verdicts(
        [
            entry("thanhnq", "Nguyễn Quang Thanh", unit="snv", phone="0905 123 456"),
            entry("thanhnq1", "Nguyễn Quang Thanh", unit="sgtvt"),
            entry("thanh.nq.old", "Nguyễn Quang Thanh"),  # no unit known: city-wide, two people
        ]
    )
    assert [(v.match, v.hr_id) for v in got[:2]] == [
        (MatchRule.NAME, "HR001"),
        (MatchRule.NAME, "HR002"),
    ]
    assert got[2].match is MatchRule.AMBIGUOUS
    assert got[2].candidates == ("HR001", "HR002")
    assert "HR001 (snv" in got[2].detail and "HR002 (sgtvt" in got[2].detail


def test_same_name_in_one_unit_phone_then_department_break_the_tie():
    got = verdicts(
        [
            entry("hanhltm", "Lê Thị Mỹ Hạnh", unit="snv", phone="+84 905 000 444"),
            entry("hanhltm1", "Lê Thị Mỹ Hạnh", unit="snv", department="phòng tổ chức"),
            entry("binhpv", "Phạm Văn Bình", unit="snv", department="Văn phòng"),
        ]
    )
    assert (got[0].match, got[0].hr_id) == (MatchRule.NAME, "HR004")
    assert (got[1].match, got[1].hr_id) == (MatchRule.NAME, "HR003")
    assert got[2].match is MatchRule.AMBIGUOUS
    assert set(got[2].candidates) == {"HR006", "HR007"}


def test_nobody_of_that_name_in_the_unit_lists_the_others():
    [v] = verdicts([entry("duct", "Trần Đức", unit="snv")])
    assert v.match is MatchRule.AMBIGUOUS and v.candidates == ("HR005",)
    assert "nobody named 'Trần Đức' in unit snv" in v.detail


def test_no_staff_ignored_and_unit_accounts():
    got = verdicts(
        [
            entry("vanthu.snv", "Văn thư Sở Nội vụ"),
            entry("postmaster", "Postmaster"),
            entry("cu.nguyen", "Người Đã Nghỉ", employee_number="OLD-7"),
            entry("snv", "Sở Nội vụ"),
            entry("", "No mail here", mail="x@gmail.com"),
            entry("test1.test", "Test"),
        ],
        ignore=["postmaster", "vanthu.*", "*.TEST"],
        unit_accounts={"snv": "snv"},
    )
    assert [v.match for v in got] == [
        MatchRule.IGNORED,
        MatchRule.IGNORED,
        MatchRule.NO_STAFF,
        MatchRule.IGNORED,
        MatchRule.IGNORED,
        MatchRule.IGNORED,
    ]
    assert "vanthu.*" in got[0].detail
    assert "employeeNumber OLD-7 is no HR id" in got[2].detail
    assert "official account of unit snv" in got[3].detail
    assert "no address" in got[4].detail
    assert all(v.settled for v in got if v.match is MatchRule.IGNORED)
    assert not got[2].settled


def test_taken_when_the_person_has_a_mailbox_or_the_address_is_someone_elses():
    known = Known(
        address_of={"HR005": "duct"},
        owner_of_address={"duct": "HR005", "binh": "HR006"},
        owner_of_dn={"uid=duct,ou=stttt,ou=people,dc=danang,dc=gov,dc=vn": "HR005"},
    )
    got = verdicts(
        [
            entry("duct", "Trần Đức", dn="uid=duct,ou=stttt,ou=people,dc=danang,dc=gov,dc=vn"),
            entry("tranduc", "Trần Đức"),
            entry("binh", "Lê Thị Mỹ Hạnh", employee_number="HR003"),
        ],
        known,
    )
    assert got[0].already and got[0].match is MatchRule.NAME and got[0].hr_id == "HR005"
    assert got[1].match is MatchRule.TAKEN and "already has the mailbox duct@" in got[1].detail
    assert got[2].match is MatchRule.TAKEN and "HR006" in got[2].detail
    assert [v.adoptable for v in got] == [False, False, False]


def test_two_entries_claiming_one_person_equally_are_a_question():
    got = verdicts(
        [
            entry("duct", "Trần Đức"),
            entry("duc.tran", "Trần Đức"),
        ]
    )
    assert [v.match for v in got] == [MatchRule.AMBIGUOUS, MatchRule.AMBIGUOUS]
    assert got[0].candidates == ("HR005",) and "2 entries match HR005" in got[0].detail
    c = counts(got)
    assert c[MatchRule.AMBIGUOUS] == 2 and c[MatchRule.NAME] == 0 and len(c) == len(MatchRule)


def test_addresses_are_kept_as_they_are():
    assert entry_address("thanhnq", ["Thanh.NQ@danang.gov.vn"], DOMAIN) == "thanh.nq"
    assert entry_address("thanhnq", ["thanh@other.vn"], DOMAIN) == "thanhnq"
    assert entry_address("nguyen-quang-thanh", [], DOMAIN) == "nguyen-quang-thanh"
