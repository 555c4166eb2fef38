"""`dnmail reconcile`: drift between the database and a real slapd, made by editing the
directory as its root DN, found, mended with --fix, and gone afterwards."""

from __future__ import annotations

import ldap3
import pytest
from sqlalchemy import select

from conftest import seed_staff, seed_units
from dnmail.db.models import AuditEvent, Mailbox
from dnmail.domain.states import LockReason, RequestKind
from dnmail.services import accounts
from dnmail.services.provisioning import provision
from dnmail.services.requests import NewRequest, create_requests

PEOPLE = [
    ("R01", "Nguyễn Quang Thanh", "snv", "Văn phòng", "Chánh văn phòng", "0905123456"),  # thanhnq
    ("R02", "Lê Thị Mỹ Hạnh", "snv", "Phòng Tổ chức", "Chuyên viên", "0905000111"),  # hanhltm
    ("R03", "Trần Đức", "snv", "Văn phòng", "Kế toán", "0905000222"),  # duct
    ("R04", "Phạm Văn An", "snv", "Phòng Kế hoạch", "Chuyên viên", "0905000333"),  # anpv
    ("R05", "Hoàng Minh Khoa", "snv", "Thanh tra", "Thanh tra viên", ""),  # khoahm
    ("R06", "Võ Thị Linh", "snv", "Văn phòng", "Văn thư", ""),  # linhvt
    ("R07", "Bùi Hữu Dũng", "sgtvt", "Văn phòng", "Chuyên viên", ""),  # dungbh
    ("R08", "Đặng Ngọc Châu", "sgtvt", "Văn phòng", "Chuyên viên", ""),  # chaudn (no mailbox)
]


def root(info) -> ldap3.Connection:
    return ldap3.Connection(
        info.url, info.root_dn, info.root_password, auto_bind=True, raise_exceptions=True
    )


def dn(info, unit, uid):
    return f"uid={uid},ou={unit},ou=people,{info.suffix}"


def entry(info, uid):
    c = root(info)
    c.search(f"ou=people,{info.suffix}", f"(uid={uid})", attributes=["*", "+"])
    out = [(e.entry_dn, e.entry_attributes_as_dict) for e in c.entries]
    c.unbind()
    return out


@pytest.fixture
def world(rt):
    with rt.transaction() as s:
        seed_units(s, ("snv", "sgtvt"), config=rt.config)
        seed_staff(s, PEOPLE)
    for unit in ("snv", "sgtvt"):
        with rt.transaction() as s:
            create_requests(
                session=s,
                config=rt.config,
                unit=unit,
                items=[
                    NewRequest(p[0], RequestKind.CREATE)
                    for p in PEOPLE
                    if p[2] == unit and p[0] != "R08"
                ],
                actor="test",
                now=rt.now(),
            )
    assert {i.state for i in provision(rt).items} == {"done"}
    accounts.lock_mailbox(rt, "duct", reason=LockReason.RESIGNED)
    return rt


def make_drift(info):
    """One drift of each kind, made behind dnmail's back."""
    c = root(info)
    c.delete(dn(info, "snv", "thanhnq"))  # missing-entry
    c.add(  # unknown-entry (an employeeNumber that is a staff member without a mailbox)
        dn(info, "snv", "stranger"),
        ["inetOrgPerson"],
        {"cn": "Người Lạ", "sn": "Lạ", "uid": "stranger", "employeeNumber": "R08"},
    )
    c.modify(
        dn(info, "snv", "hanhltm"),
        {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]},
    )
    c.modify(dn(info, "snv", "duct"), {"pwdAccountLockedTime": [(ldap3.MODIFY_DELETE, [])]})
    c.modify(
        dn(info, "snv", "anpv"),
        {
            "cn": [(ldap3.MODIFY_REPLACE, ["Phạm Văn Ân"])],
            "telephoneNumber": [(ldap3.MODIFY_REPLACE, ["0999"])],
        },
    )
    c.modify_dn(
        dn(info, "snv", "khoahm"), "uid=khoahm", new_superior=f"ou=sgtvt,ou=people,{info.suffix}"
    )
    c.add(  # duplicate-hr-id
        dn(info, "sgtvt", "linhvt2"),
        ["inetOrgPerson"],
        {"cn": "Võ Thị Linh", "sn": "Võ", "uid": "linhvt2", "employeeNumber": "R06"},
    )
    c.unbind()


def kinds(doc) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for i in doc["items"]:
        out.setdefault(i["kind"], set()).add(i["address"] or i["hr_id"])
    return out


def test_clean_directory_exits_0(world, cli):
    r = cli("--format", "json", "reconcile")
    assert r.code == 0, r
    doc = r.json()
    assert doc["items"] == [] and doc["mailboxes"] == 7 and doc["entries"] == 7


def test_drift_found_mended_and_gone(world, cli, ldap):
    rt = world
    make_drift(ldap)
    r = cli("--format", "json", "reconcile")
    assert r.code == 3, r
    found = kinds(r.json())
    assert found == {
        "missing-entry": {"thanhnq@danang.gov.vn"},
        "unknown-entry": {"stranger@danang.gov.vn"},
        "lock-mismatch": {"hanhltm@danang.gov.vn", "duct@danang.gov.vn"},
        "attribute-drift": {"anpv@danang.gov.vn"},
        "wrong-branch": {"khoahm@danang.gov.vn"},
        "duplicate-hr-id": {"R06"},
    }
    drift = next(i for i in r.json()["items"] if i["kind"] == "attribute-drift")
    assert "cn: Phạm Văn Ân → Phạm Văn An" in drift["detail"]
    assert "telephoneNumber: 0999 → 0905000333" in drift["detail"]
    unknown = next(i for i in r.json()["items"] if i["kind"] == "unknown-entry")
    assert "R08 is Đặng Ngọc Châu" in unknown["detail"]
    dup = next(i for i in r.json()["items"] if i["kind"] == "duplicate-hr-id")
    assert "linhvt2" in dup["detail"] and "uid=linhvt," in dup["detail"]
    # The report changed nothing.
    assert entry(ldap, "thanhnq") == []

    # The table, for people: Vietnamese kinds and a hint.
    t = cli("reconcile")
    assert t.code == 3 and "Entry missing from the directory" in t.out and "--fix" in t.err

    fixed = cli("--format", "json", "reconcile", "--fix")
    assert fixed.code == 3, fixed  # drift was found, even though it is mended now
    doc = fixed.json()
    assert {i["kind"] for i in doc["items"] if i["fixed"]} == {
        "missing-entry", "lock-mismatch", "attribute-drift", "wrong-branch",
    }  # fmt: skip
    assert {i["kind"] for i in doc["items"] if not i["fixed"]} == {
        "unknown-entry",
        "duplicate-hr-id",
    }
    missing = next(i for i in doc["items"] if i["kind"] == "missing-entry")
    assert "reset-password thanhnq" in missing["fix"]

    # The directory follows the database again.
    [(d, attrs)] = entry(ldap, "thanhnq")
    assert d == dn(ldap, "snv", "thanhnq")
    assert attrs["employeeNumber"] == ["R01"] and attrs["mail"] == ["thanhnq@danang.gov.vn"]
    assert attrs["pwdReset"] in (["TRUE"], [True])
    assert attrs["userPassword"][0].startswith(b"{SSHA}")
    assert "pwdAccountLockedTime" not in entry(ldap, "hanhltm")[0][1]
    assert entry(ldap, "duct")[0][1].get("pwdAccountLockedTime")
    a = entry(ldap, "anpv")[0][1]
    assert a["cn"] == ["Phạm Văn An"] and a["telephoneNumber"] == ["0905000333"]
    assert entry(ldap, "khoahm")[0][0] == dn(ldap, "snv", "khoahm")
    # Entries dnmail does not own are untouched.
    assert entry(ldap, "stranger") and entry(ldap, "linhvt2")
    with rt.transaction() as s:
        events = [
            e for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "reconcile.fix"))
        ]
        assert len(events) == 5
        assert {e.target for e in events} == {
            "mailbox:thanhnq", "mailbox:hanhltm", "mailbox:duct", "mailbox:anpv", "mailbox:khoahm",
        }  # fmt: skip
        assert all(e.actor == "iid-admin" for e in events)

    # A second run: only what dnmail reports and never changes is left.
    second = cli("--format", "json", "reconcile")
    assert second.code == 3
    assert set(kinds(second.json())) == {"unknown-entry", "duplicate-hr-id"}
    c = root(ldap)
    c.delete(dn(ldap, "snv", "stranger"))
    c.delete(dn(ldap, "sgtvt", "linhvt2"))
    c.unbind()
    clean = cli("reconcile")
    assert clean.code == 0, clean

    # The recreated mailbox works once a reset hands a password out.
    res = accounts.reset_password(rt, "thanhnq")
    probe = ldap3.Connection(ldap.url, dn(ldap, "snv", "thanhnq"), res.password)
    assert probe.bind()
    probe.unbind()


def test_unit_filter_finds_entries_outside_the_branch(world, cli, ldap):
    make_drift(ldap)
    snv = cli("--format", "json", "reconcile", "--unit", "SNV")
    assert snv.code == 3
    found = kinds(snv.json())
    # khoahm (snv) sits in sgtvt's branch: wrong branch, not missing.
    assert found["wrong-branch"] == {"khoahm@danang.gov.vn"}
    assert found["missing-entry"] == {"thanhnq@danang.gov.vn"}
    assert "dungbh@danang.gov.vn" not in str(snv.json())
    sgtvt = cli("--format", "json", "reconcile", "--unit", "sgtvt")
    found = kinds(sgtvt.json())
    # The snv mailbox found in this branch is compared, not called unknown.
    assert found.get("wrong-branch") == {"khoahm@danang.gov.vn"}
    assert "unknown-entry" not in found
    assert set(found) == {"wrong-branch", "duplicate-hr-id"}
    fixed = cli("reconcile", "--unit", "sgtvt", "--fix")
    assert fixed.code == 3
    assert entry(ldap, "khoahm")[0][0] == dn(ldap, "snv", "khoahm")
    with world.transaction() as s:
        m = s.scalars(select(Mailbox).where(Mailbox.address == "khoahm")).one()
        assert m.dn == dn(ldap, "snv", "khoahm") and m.unit_code == "snv"
    bad = cli("reconcile", "--unit", "nope")
    assert bad.code == 2


def test_open_requests_are_left_to_provision(world, cli, ldap):
    """A staff unit changed and a change request waits: not drift, provision moves it."""
    rt = world
    from dnmail.db.models import Staff

    with rt.transaction() as s:
        s.get(Staff, "R07").unit_code = "snv"
    with rt.transaction() as s:
        create_requests(
            session=s,
            config=rt.config,
            unit="snv",
            items=[NewRequest("R07", RequestKind.CHANGE)],
            actor="t",
            now=rt.now(),
        )
    r = cli("--format", "json", "reconcile")
    assert r.code == 0, r
    assert r.json()["pending"] == 1
    # Without the request, the same state is a wrong branch, and --fix moves it.
    provision(rt)
    with rt.transaction() as s:
        s.get(Staff, "R07").unit_code = "sgtvt"
    r = cli("--format", "json", "reconcile", "--fix")
    assert r.code == 3 and kinds(r.json()) == {"wrong-branch": {"dungbh@danang.gov.vn"}}
    assert entry(ldap, "dungbh")[0][0] == dn(ldap, "sgtvt", "dungbh")
    assert cli("reconcile").code == 0


@pytest.mark.parametrize("layout", ["flat"])
def test_flat_layout_drift_found_and_mended(world, cli, ldap):
    """Flat: no branches. An entry pushed into a sub-branch is out of place (moved back
    under people_dn); the unit attribute is an attribute like the others; --unit keeps
    to the entries whose departmentNumber names the unit."""
    assert cli("reconcile").code == 0
    people = ldap.people_dn
    c = root(ldap)
    c.add(f"ou=old,{people}", ["organizationalUnit"], {"ou": "old"})
    c.modify_dn(f"uid=khoahm,{people}", "uid=khoahm", new_superior=f"ou=old,{people}")
    c.modify(f"uid=anpv,{people}", {"departmentNumber": [(ldap3.MODIFY_REPLACE, ["sgtvt"])]})
    c.unbind()
    r = cli("--format", "json", "reconcile")
    assert r.code == 3
    assert kinds(r.json()) == {
        "wrong-branch": {"khoahm@danang.gov.vn"},
        "attribute-drift": {"anpv@danang.gov.vn"},
    }
    drift = next(i for i in r.json()["items"] if i["kind"] == "attribute-drift")
    assert "departmentNumber: sgtvt → snv" in drift["detail"]
    # --unit sgtvt reads the entries whose departmentNumber is sgtvt: anpv (an snv
    # mailbox) is compared there too, not called unknown.
    sgtvt = cli("--format", "json", "reconcile", "--unit", "sgtvt")
    assert kinds(sgtvt.json()) == {"attribute-drift": {"anpv@danang.gov.vn"}}
    fixed = cli("--format", "json", "reconcile", "--fix")
    fixed_kinds = {i["kind"] for i in fixed.json()["items"] if i["fixed"]}
    assert fixed_kinds == {"wrong-branch", "attribute-drift"}
    assert entry(ldap, "khoahm")[0][0] == f"uid=khoahm,{people}"
    assert entry(ldap, "anpv")[0][1]["departmentNumber"] == ["snv"]
    assert cli("reconcile").code == 0
