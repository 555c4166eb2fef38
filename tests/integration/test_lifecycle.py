"""The account lifecycle against a real slapd, on SQLite and PostgreSQL, in both directory
layouts (by-unit and flat): request, queue, provision (create / change / cancel), reset,
lock, unlock, hostile values."""

from __future__ import annotations

import ldap3
import pytest
from sqlalchemy import func, select

from conftest import mailbox_dn, seed_staff, seed_units
from dnmail.db.models import AuditEvent, Mailbox, Request, Staff
from dnmail.domain.states import LockReason, RequestKind
from dnmail.errors import NotFound, Refused
from dnmail.services import accounts
from dnmail.services.provisioning import provision
from dnmail.services.requests import (
    NewRequest,
    create_requests,
    list_queue,
    reject_request,
    withdraw_request,
)

pytestmark = pytest.mark.parametrize("layout", ["by-unit", "flat"])

PEOPLE = [
    ("HR001", "Nguyễn Quang Thanh", "snv", "Văn phòng", "Chánh văn phòng", "0905123456"),
    ("HR002", "Lê Thị Mỹ Hạnh", "snv", "Phòng Tổ chức", "Chuyên viên", "0905000111"),
    ("HR003", "Nguyễn Quang Thanh", "sgtvt", "Phòng Kế hoạch", "Chuyên viên", ""),
    ("HR004", "Trần Đức", "sgtvt", "Văn phòng", "Kế toán", "02363822222"),
]


def root_conn(info):
    c = ldap3.Connection(
        info.url, info.root_dn, info.root_password, auto_bind=True, raise_exceptions=True
    )
    return c


def entry(info, dn_or_uid):
    c = root_conn(info)
    filt = f"(uid={dn_or_uid})"
    c.search(info.suffix, filt, attributes=["*", "+"])
    out = [(e.entry_dn, e.entry_attributes_as_dict) for e in c.entries]
    c.unbind()
    return out


def can_bind(info, dn, password) -> bool:
    c = ldap3.Connection(info.url, dn, password)
    ok = c.bind()
    c.unbind()
    return ok


@pytest.fixture
def world(rt):
    with rt.transaction() as s:
        seed_units(s, config=rt.config)
        seed_staff(s, PEOPLE)
    from dnmail.services.setup import ensure_branches

    ensure_branches(rt, ["snv", "sgtvt"])
    return rt


def queue(rt, unit, *hr_ids, kind=RequestKind.CREATE, address=None, reason=None):
    with rt.transaction() as s:
        return create_requests(
            session=s,
            config=rt.config,
            unit=unit,
            items=[NewRequest(h, kind, address, reason) for h in hr_ids],
            actor="snv@danang.gov.vn",
            now=rt.now(),
        )


def test_create_provision_and_login(world, ldap):
    rt = world
    queue(rt, "snv", "HR001", "HR002")
    queue(rt, "sgtvt", "HR003", "HR004")
    summary = provision(rt)
    assert [i.state for i in summary.items] == ["done"] * 4
    got = {i.hr_id: i.address for i in summary.items}
    assert got == {"HR001": "thanhnq", "HR002": "hanhltm", "HR003": "thanhnq1", "HR004": "duct"}
    # The directory has the entries under each unit's branch, hashed password, must-change.
    [(dn, attrs)] = entry(ldap, "thanhnq")
    assert dn == mailbox_dn(ldap, "snv", "thanhnq")
    assert attrs["employeeNumber"] == ["HR001"]
    assert attrs["mail"] == ["thanhnq@danang.gov.vn"]
    assert attrs["cn"] == ["Nguyễn Quang Thanh"]
    assert attrs["telephoneNumber"] == ["0905123456"]
    assert attrs["pwdReset"] == [True] or attrs["pwdReset"] == ["TRUE"]
    assert attrs["userPassword"][0].startswith(b"{SSHA}")
    pw = {i.hr_id: i.password for i in summary.items}
    assert can_bind(ldap, dn, pw["HR001"])
    assert not can_bind(ldap, dn, pw["HR002"])
    # The database agrees; the requests are done; a second run finds nothing.
    with rt.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Mailbox)) == 4
        assert {r.state for r in s.scalars(select(Request))} == {"done"}
    again = provision(rt)
    assert again.items == []


def test_passwords_never_stored(world, ldap):
    rt = world
    queue(rt, "snv", "HR001")
    summary = provision(rt)
    password = summary.items[0].password
    r = accounts.reset_password(rt, "thanhnq")
    with rt.transaction() as s:
        dump = " ".join(
            str(x)
            for model in (AuditEvent, Request, Mailbox, Staff)
            for row in s.scalars(select(model))
            for x in row.__dict__.values()
        )
    assert password not in dump
    assert r.password not in dump


def test_refusals_with_reasons(world):
    rt = world
    queue(rt, "snv", "HR001")
    with pytest.raises(Refused, match="already has an open create request"):
        queue(rt, "snv", "HR001")
    with pytest.raises(Refused, match="belongs to unit sgtvt"):
        queue(rt, "snv", "HR003")
    with pytest.raises(Refused, match="no staff member"):
        queue(rt, "snv", "NOPE")
    with pytest.raises(Refused, match="has no mailbox to cancel"):
        queue(rt, "snv", "HR002", kind=RequestKind.CANCEL)
    provision(rt)
    with pytest.raises(Refused, match="already has the mailbox thanhnq@danang.gov.vn"):
        queue(rt, "snv", "HR001")
    # All or nothing: one bad person refuses the whole batch.
    with pytest.raises(Refused):
        queue(rt, "sgtvt", "HR003", "HR001")
    with rt.transaction() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(Request).where(Request.staff_hr_id == "HR003")
            )
            == 0
        )


def test_requested_address_used_or_refused(world, ldap):
    rt = world
    queue(rt, "snv", "HR002", address="myhanh")
    with pytest.raises(Refused, match="reserved"):
        queue(rt, "snv", "HR001", address="postmaster")
    with pytest.raises(Refused, match="refused"):
        queue(rt, "snv", "HR001", address="*)(uid=*")
    with pytest.raises(Refused, match="already taken"):
        queue(rt, "snv", "HR001", address="myhanh")
    # A stranger's entry holds "duct" in the directory: the request fails, the batch goes on.
    c = root_conn(ldap)
    c.add(
        mailbox_dn(ldap, "sgtvt", "duct"),
        ["inetOrgPerson"],
        {"cn": "Stranger", "sn": "S", "employeeNumber": "X999"},
    )
    c.unbind()
    queue(rt, "sgtvt", "HR004", address="duct")
    queue(rt, "sgtvt", "HR003")
    summary = provision(rt)
    by = {i.hr_id: i for i in summary.items}
    assert by["HR002"].state == "done" and by["HR002"].address == "myhanh"
    assert by["HR004"].state == "failed" and "taken in the directory" in by["HR004"].detail
    assert by["HR003"].state == "done"
    with rt.transaction() as s:
        r = s.scalar(select(Request).where(Request.staff_hr_id == "HR004"))
        assert r.state == "failed" and r.attempts == 1 and "duct" in r.last_error
        assert s.scalar(select(Mailbox).where(Mailbox.staff_hr_id == "HR004")) is None


def test_generated_address_skips_stranger_entries(world, ldap):
    rt = world
    c = root_conn(ldap)
    c.add(f"uid=thanhnq,ou=units,{ldap.suffix}", ["inetOrgPerson"], {"cn": "x", "sn": "x"})
    c.unbind()
    queue(rt, "snv", "HR001")
    [item] = provision(rt).items
    assert item.state == "done" and item.address == "thanhnq1"


def test_transfer_moves_entry_keeping_address(world, ldap):
    rt = world
    queue(rt, "snv", "HR002")
    [created] = provision(rt).items
    with rt.transaction() as s:
        st = s.get(Staff, "HR002")
        st.unit_code = "sgtvt"
        st.department = "Phòng Vận tải"
        st.phone = "0911222333"
    queue(rt, "sgtvt", "HR002", kind=RequestKind.CHANGE)
    [moved] = provision(rt).items
    [(dn, attrs)] = entry(ldap, "hanhltm")
    assert dn == mailbox_dn(ldap, "sgtvt", "hanhltm")
    if ldap.layout == "flat":
        # No branch to move to: the entry stays, its unit attribute says the new unit.
        assert "transferred from snv to sgtvt" in moved.detail and "moved" not in moved.detail
        assert attrs["departmentNumber"] == ["sgtvt"] and dn == created.dn
    else:
        assert "moved from snv to sgtvt" in moved.detail
    assert moved.state == "done"
    assert attrs["ou"] == ["Phòng Vận tải"] and attrs["telephoneNumber"] == ["0911222333"]
    assert can_bind(ldap, dn, created.password)
    with rt.transaction() as s:
        m = s.scalar(select(Mailbox).where(Mailbox.staff_hr_id == "HR002"))
        assert (m.unit_code, m.dn, m.address) == ("sgtvt", dn, "hanhltm")


def test_cancel_locks_and_unlock_restores(world, ldap):
    rt = world
    queue(rt, "snv", "HR001")
    [item] = provision(rt).items
    dn = item.dn
    queue(rt, "snv", "HR001", kind=RequestKind.CANCEL, reason=LockReason.RETIRED)
    [cancel] = provision(rt).items
    assert cancel.state == "done"
    [(_, attrs)] = entry(ldap, "thanhnq")
    assert attrs["pwdAccountLockedTime"]
    assert not can_bind(ldap, dn, item.password)
    with rt.transaction() as s:
        m = s.scalar(select(Mailbox).where(Mailbox.address == "thanhnq"))
        assert (m.state, m.lock_reason) == ("locked", "retired")
    with pytest.raises(Refused, match="locked"):
        accounts.reset_password(rt, "thanhnq")
    accounts.unlock_mailbox(rt, "thanhnq@danang.gov.vn")
    assert can_bind(ldap, dn, item.password)
    r = accounts.lock_mailbox(rt, "thanhnq", reason=LockReason.RESIGNED, note="quit")
    assert r.state == "locked"
    assert not can_bind(ldap, dn, item.password)
    # A locked address is never given to anyone else.
    with rt.transaction() as s:
        seed_staff(s, [("HR010", "Ngô Quang Thanh", "snv", "", "", "")])
    queue(rt, "snv", "HR010")
    [other] = provision(rt).items
    assert other.address == "thanhnq1"


def test_reset_password(world, ldap, tmp_path):
    rt = world
    queue(rt, "snv", "HR001")
    [item] = provision(rt).items
    r = accounts.reset_password(rt, "thanhnq")
    assert r.password and r.password != item.password
    assert can_bind(ldap, item.dn, r.password)
    assert not can_bind(ldap, item.dn, item.password)
    [(_, attrs)] = entry(ldap, "thanhnq")
    assert attrs["pwdReset"] in ([True], ["TRUE"])
    handout = tmp_path / "h" / "reset.csv"
    r2 = accounts.reset_password(rt, "thanhnq", handout=handout)
    assert r2.password is None
    assert oct(handout.stat().st_mode & 0o777) == "0o600"
    text = handout.read_text(encoding="utf-8-sig")
    assert "Mật khẩu" in text and "thanhnq@danang.gov.vn" in text
    pw = text.strip().splitlines()[-1].split(",")[-1]
    assert can_bind(ldap, item.dn, pw)
    with pytest.raises(NotFound):
        accounts.reset_password(rt, "nobody")


def test_reject_withdraw_and_queue(world):
    rt = world
    views = queue(rt, "snv", "HR001", "HR002")
    queue(rt, "sgtvt", "HR003")
    reject_request(rt, views[0].id, reason="thiếu chữ ký")
    withdraw_request(rt, views[1].id)
    with pytest.raises(Refused, match="only open requests"):
        withdraw_request(rt, views[1].id)
    page = list_queue(rt, states=["pending", "failed"])
    assert [i.hr_id for i in page.items] == ["HR003"]
    everything = list_queue(rt, limit=2)
    assert everything.total == 3 and len(everything.items) == 2
    assert [i.state for i in list_queue(rt, unit="snv").items] == ["rejected", "withdrawn"]
    # The person can be asked for again after a rejection.
    queue(rt, "snv", "HR001")


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("*)(uid=*", "uid"),
        ("a,ou=admins", "aouadmins"),
        ("x\\\\", "x"),
        ("Nguyễn (admin)", "adminn"),
        ("Đỗ Văn " + "A" * 240, "a" * 59),  # cut to the longest base, 59 characters
    ],
)
def test_hostile_names_are_stored_safely(world, ldap, name, address):
    """Every one of these names gives a plain address: the mailbox is made, its entry
    holds the name verbatim, and nothing else appears in the directory."""
    rt = world
    with rt.transaction() as s:
        seed_staff(s, [("HX1", name, "snv", "Phòng =cmd|' /C calc'!A0", "", "")])
    queue(rt, "snv", "HX1")
    [item] = provision(rt).items
    assert (item.state, item.address) == ("done", address), item
    c = root_conn(ldap)
    c.search(ldap.people_dn, "(employeeNumber=HX1)", attributes=["cn", "uid"])
    [e] = c.entries
    assert e.cn.value == name[:300] or e.cn.value == name
    assert e.entry_dn == mailbox_dn(ldap, "snv", item.address)
    # Nothing else appeared anywhere (no DN injection).
    c.search(ldap.suffix, "(ou=admins)", attributes=["ou"])
    assert all("people" not in x.entry_dn for x in c.entries)
    c.unbind()


def test_control_characters_never_reach_the_directory(world, ldap):
    from dnmail.errors import InvalidName

    rt = world
    dn = mailbox_dn(ldap, "snv", "nul")
    with pytest.raises(InvalidName, match="control character"):
        rt.directory.add_mailbox(dn, {"uid": "nul", "cn": "Lê\x00Văn", "sn": "Lê"}, "pw")
    with pytest.raises(InvalidName):
        rt.directory.layout.mailbox_dn("snv", "a\x00b")
    assert entry(ldap, "nul") == []


def test_dead_directory_marks_nothing_done(world, ldap):
    rt = world
    queue(rt, "snv", "HR001")
    from dnmail.local.slapd import ThrowawaySlapd

    ThrowawaySlapd(ldap.workdir).stop()
    from dnmail.errors import DirectoryUnavailable

    rt.close()
    with pytest.raises(DirectoryUnavailable, match="127.0.0.1"):
        provision(rt)
    with rt.transaction() as s:
        assert s.scalar(select(Request.state)) == "pending"


def test_create_adopts_an_entry_that_carries_the_hr_id(world, ldap):
    """A create request for someone whose entry exists already (a crash after the add, or
    made by hand elsewhere): the entry is taken over — put where the layout wants it,
    its attributes brought in line — and a new password handed out; never a second one."""
    rt = world
    c = root_conn(ldap)
    c.add(f"ou=old,ou=people,{ldap.suffix}", ["organizationalUnit"], {"ou": "old"})
    c.add(
        f"uid=thanhnq,ou=old,ou=people,{ldap.suffix}",
        ["inetOrgPerson"],
        {
            "cn": "Thanh",
            "sn": "N",
            "uid": "thanhnq",
            "employeeNumber": "HR001",
            "userPassword": "old",
        },
    )
    c.unbind()
    queue(rt, "snv", "HR001")
    [item] = provision(rt).items
    assert item.state == "done" and "adopted" in item.detail
    [(dn, attrs)] = entry(ldap, "thanhnq")
    assert dn == mailbox_dn(ldap, "snv", "thanhnq") == item.dn
    assert attrs["cn"] == ["Nguyễn Quang Thanh"]
    if ldap.layout == "flat":
        assert attrs["departmentNumber"] == ["snv"]
    assert can_bind(ldap, dn, item.password) and not can_bind(ldap, dn, "old")
