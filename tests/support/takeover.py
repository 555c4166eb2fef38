"""A directory the way the city's really looks before dnmail: entries dnmail did not
create, loaded with known passwords, in either layout (issue 11, "Done means").

What it holds, and what `directory adopt` should say of each entry (`EXPECTED`):
addresses in several conventions (thanh.nq, nguyenquangthanh, thanhnq, lan-vt); a few
entries with employeeNumber, most without; locked entries; shared mailboxes; leavers;
the same name in two units and twice in one unit; a unit's official account among the
people; and a roster with an email column.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import ldap3

DOMAIN = "danang.gov.vn"

#: The HR roster (hr_id, name, unit, department, position, phone, status, email).
STAFF = [
    ("HR001", "Nguyễn Quang Thanh", "snv", "Văn phòng", "Chánh văn phòng", "0905123456",
     "active", "thanh.nq@danang.gov.vn"),
    ("HR002", "Nguyễn Quang Thanh", "sgtvt", "Phòng Kế hoạch", "Chuyên viên", "0905000222",
     "active", ""),
    ("HR003", "Lê Thị Mỹ Hạnh", "snv", "Phòng Tổ chức", "Chuyên viên", "0905000333", "active", ""),
    ("HR004", "Lê Thị Mỹ Hạnh", "snv", "Văn phòng", "Văn thư", "0905000444", "active", ""),
    ("HR005", "Trần Đức", "stttt", "Văn phòng", "Kế toán", "", "active", ""),
    ("HR006", "Phạm Văn Bình", "snv", "Văn phòng", "Chuyên viên", "", "active", ""),
    ("HR007", "Phạm Văn Bình", "snv", "Văn phòng", "Chuyên viên", "", "active", ""),
    ("HR008", "Võ Thị Lan", "sgtvt", "Văn phòng", "Chuyên viên", "0905000888", "active", ""),
    ("HR009", "Hoàng Minh Tuấn", "stttt", "Phòng Kỹ thuật", "Kỹ sư", "", "active", ""),
    ("HR010", "Đặng Thu Trang", "snv", "Văn phòng", "Chuyên viên", "", "active", ""),
]  # fmt: skip


@dataclass(frozen=True)
class Legacy:
    """One entry of the old directory: its address, name, unit and password."""

    uid: str
    cn: str
    unit: str | None  # its branch (by-unit) or departmentNumber (flat); None: neither
    password: str
    employee_number: str = ""
    phone: str = ""
    department: str = ""
    mail: str = ""  # default uid@domain
    locked: bool = False
    expected: str = ""  # the match word `adopt` gives
    hr_id: str | None = None  # the person it is adopted as


ENTRIES = [
    # the roster's email column
    Legacy("thanh.nq", "Nguyễn Quang Thanh", "snv", "Thanh@2010", phone="0905123456",
           expected="email", hr_id="HR001"),
    # employeeNumber (an entry made by hand with the HR id)
    Legacy("nguyenquangthanh", "Nguyễn Quang Thanh", "sgtvt", "Qt#sgtvt99", employee_number="HR002",
           expected="hr-id", hr_id="HR002"),
    # a leaver: nobody of that exact name in HR (Thành, not Thanh)
    Legacy("thanhnq", "Nguyễn Quang Thành", "stttt", "old-Thành-pw", expected="no-staff"),
    # the same name twice in one unit: the phone, then the department tell them apart
    Legacy("hanhltm", "Lê Thị Mỹ Hạnh", "snv", "HanhLTM.1", phone="0905 000 444",
           expected="name", hr_id="HR004"),
    Legacy("hanh.ltm", "Lê Thị Mỹ Hạnh", "snv", "hanh-ltm-2", department="Phòng Tổ chức",
           expected="name", hr_id="HR003"),
    # ... and nothing tells these two apart
    Legacy("binhpv", "Phạm Văn Bình", "snv", "binh!pv", expected="ambiguous"),
    # a name in NFD, no unit on the entry: city-wide, one person
    Legacy("duct", unicodedata.normalize("NFD", "Trần Đức"), None, "đức-mật-khẩu",
           expected="name", hr_id="HR005"),
    # a hyphenated address and an employeeNumber
    Legacy("lan-vt", "Võ Thị Lan", "sgtvt", "lan_vt_2011", employee_number="HR008",
           expected="hr-id", hr_id="HR008"),
    # locked in the directory: adopted locked (reason other)
    Legacy("tuanhm", "Hoàng Minh Tuấn", "stttt", "tuan#hm", locked=True,
           expected="name", hr_id="HR009"),
    # shared mailboxes: one ignored by configuration, one left to IID
    Legacy("vanthu.snv", "Văn thư Sở Nội vụ", "snv", "vanthu-snv", expected="ignored"),
    Legacy("tonghop.snv", "Tổng hợp Sở Nội vụ", "snv", "tonghop-snv", expected="no-staff"),
    Legacy("postmaster", "Postmaster", None, "pm-secret", expected="ignored"),
    # a leaver, locked long ago
    Legacy("hungnv", "Nguyễn Văn Hùng", "snv", "hung-nv", locked=True, expected="no-staff"),
    # a unit's official account living among the people
    Legacy("sgtvt", "Sở Giao thông Vận tải", "sgtvt", "sgtvt-account", expected="ignored"),
    # an old mailbox of someone dnmail already gave a mailbox (see `provisioned`)
    Legacy("trang.dt", "Đặng Thu Trang", "snv", "trang-old", expected="taken"),
    # a mail address that differs from the uid: the address is the mail's
    Legacy("hoa.x1", "Nguyễn Thị Hoa", "snv", "hoa-pw", mail="hoant@danang.gov.vn",
           expected="no-staff"),
]  # fmt: skip

IGNORE = ["postmaster", "vanthu.*", "*.test"]


def entry_dn(suffix: str, layout: str, e: Legacy) -> str:
    if layout == "flat" or e.unit is None:
        return f"uid={e.uid},ou=people,{suffix}"
    return f"uid={e.uid},ou={e.unit},ou=people,{suffix}"


def load(info, layout: str) -> dict[str, str]:
    """Add ENTRIES to the server `info` with cleartext passwords (ppolicy hashes
    them); returns uid → DN."""
    c = ldap3.Connection(info.url, info.root_dn, info.root_password, auto_bind=True)
    dns = {}
    for unit in ("snv", "sgtvt", "stttt"):
        if layout != "flat":
            c.add(f"ou={unit},ou=people,{info.suffix}", ["organizationalUnit"], {"ou": unit})
    for e in ENTRIES:
        dn = entry_dn(info.suffix, layout, e)
        words = e.cn.split()
        attrs: dict[str, object] = {
            "uid": e.uid,
            "cn": e.cn,
            "sn": words[0],
            "givenName": words[-1],
            "mail": e.mail or f"{e.uid}@{DOMAIN}",
            "userPassword": e.password,
        }
        if e.employee_number:
            attrs["employeeNumber"] = e.employee_number
        if e.phone:
            attrs["telephoneNumber"] = e.phone
        if e.department:
            attrs["ou"] = e.department
        if layout == "flat" and e.unit:
            attrs["departmentNumber"] = e.unit
        assert c.add(dn, ["inetOrgPerson"], attrs), (dn, c.result)
        if e.locked:
            assert c.modify(
                dn, {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]}
            )
        dns[e.uid] = dn
    c.unbind()
    return dns


def everything(info) -> dict[str, dict[str, list[str]]]:
    """Every entry under ou=people with all its attributes, operational ones included
    (modifyTimestamp, userPassword hash…), as the root DN reads them."""
    c = ldap3.Connection(info.url, info.root_dn, info.root_password, auto_bind=True)
    c.search(f"ou=people,{info.suffix}", "(objectClass=*)", attributes=["*", "+"])
    out = {
        e.entry_dn.lower(): {
            k.lower(): sorted(x.decode("latin-1") if isinstance(x, bytes) else str(x) for x in v)
            for k, v in e.entry_raw_attributes.items()
        }
        for e in c.entries
    }
    c.unbind()
    return out


def binds(info, dn: str, password: str) -> bool:
    c = ldap3.Connection(info.url, dn, password)
    ok = c.bind()
    c.unbind()
    return ok
