"""Renames (issue 14 §1) against a real slapd, on SQLite and PostgreSQL, in both
directory layouts: a change request with a new mailbox name renames the entry (uid, RDN,
mail), keeps the password, keeps the old address as an alias (mailLocalAddress), records
it in the mailbox's history so that nobody else ever gets it; a name that breaks the rule,
is reserved, taken or historic is refused when queued and again at provision; a request
that asked for something not done is `failed`, never `done`; a rename killed with SIGKILL
between the directory and the database, run again, ends renamed exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import ldap3
import pytest
from sqlalchemy import select

from conftest import mailbox_dn, seed_staff, seed_units
from dnmail.db.models import AuditEvent, FormerAddress, Mailbox, Request, Staff
from dnmail.domain.states import RequestKind
from dnmail.errors import Refused
from dnmail.services.provisioning import provision
from dnmail.services.requests import NewRequest, create_requests

pytestmark = pytest.mark.parametrize("layout", ["by-unit", "flat"])

PEOPLE = [
    ("HR001", "Nguyễn Quang Thanh", "snv", "Văn phòng", "Chánh văn phòng", "0905123456"),
    ("HR002", "Lê Thị Mỹ Hạnh", "snv", "Phòng Tổ chức", "Chuyên viên", "0905000111"),
    ("HR003", "Nguyễn Quang Thanh", "sgtvt", "Phòng Kế hoạch", "Chuyên viên", ""),
]
DOMAIN = "danang.gov.vn"


def root(info):
    return ldap3.Connection(
        info.url, info.root_dn, info.root_password, auto_bind=True, raise_exceptions=True
    )


def entries(info, filt):
    c = root(info)
    c.search(info.suffix, filt, attributes=["*"])
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


def queue(rt, unit, hr_id, kind=RequestKind.CHANGE, address=None):
    with rt.transaction() as s:
        return create_requests(
            session=s,
            config=rt.config,
            unit=unit,
            items=[NewRequest(hr_id, kind, address)],
            actor="snv@danang.gov.vn",
            now=rt.now(),
        )


@pytest.fixture
def thanh(world):
    """HR001's mailbox thanhnq, created: (runtime, created item)."""
    queue(world, "snv", "HR001", RequestKind.CREATE)
    [item] = provision(world).items
    assert item.state == "done" and item.address == "thanhnq"
    return world, item


def test_rename_keeps_password_and_old_address_as_alias(thanh, ldap):
    rt, created = thanh
    [req] = queue(rt, "snv", "HR001", address="Thanh.Nguyen@Danang.gov.vn".replace(".", "", 1))
    assert req.requested_address == "thanhnguyen"
    [item] = provision(rt).items
    assert item.state == "done", item.detail
    assert item.address == "thanhnguyen"
    assert "renamed from thanhnq to thanhnguyen" in item.detail
    new_dn = mailbox_dn(ldap, "snv", "thanhnguyen")
    assert item.dn == new_dn
    [(dn, attrs)] = entries(ldap, "(employeeNumber=HR001)")
    assert dn == new_dn
    assert attrs["uid"] == ["thanhnguyen"]
    assert attrs["mail"] == [f"thanhnguyen@{DOMAIN}"]
    assert attrs["mailLocalAddress"] == [f"thanhnq@{DOMAIN}"]
    assert "inetLocalMailRecipient" in attrs["objectClass"]
    # The old address resolves to the same entry through the alias attribute.
    [(by_alias, _)] = entries(ldap, f"(mailLocalAddress=thanhnq@{DOMAIN})")
    assert by_alias == new_dn
    # Same password, new name; the old DN is gone.
    assert can_bind(ldap, new_dn, created.password)
    assert entries(ldap, "(uid=thanhnq)") == []
    with rt.transaction() as s:
        m = s.scalar(select(Mailbox).where(Mailbox.staff_hr_id == "HR001"))
        assert (m.address, m.base, m.dn) == ("thanhnguyen", "thanhnguyen", new_dn)
        [former] = s.scalars(select(FormerAddress))
        assert (former.address, former.mailbox_id, former.request_id) == ("thanhnq", m.id, req.id)
        assert former.since == m.created_at and former.until >= former.since
        assert s.get(Request, req.id).state == "done"
        [event] = s.scalars(
            select(AuditEvent).where(
                AuditEvent.target == f"request:{req.id}", AuditEvent.action == "provision.change"
            )
        )
        assert "renamed from thanhnq to thanhnguyen" in event.details
    # The database and the directory agree after a rename.
    from dnmail.services.reconcile import reconcile

    assert reconcile(rt).items == []
    # An address once given out is never given to anyone else: the second Nguyễn Quang
    # Thanh gets thanhnq1, although no mailbox has thanhnq now.
    queue(rt, "sgtvt", "HR003", RequestKind.CREATE)
    [other] = provision(rt).items
    assert other.state == "done" and other.address == "thanhnq1"


def test_rename_and_transfer_in_one_change(thanh, ldap):
    rt, created = thanh
    with rt.transaction() as s:
        s.get(Staff, "HR001").unit_code = "sgtvt"
    queue(rt, "sgtvt", "HR001", address="thanh.sgtvt".replace(".", ""))
    [item] = provision(rt).items
    assert item.state == "done", item.detail
    new_dn = mailbox_dn(ldap, "sgtvt", "thanhsgtvt")
    [(dn, attrs)] = entries(ldap, "(employeeNumber=HR001)")
    assert dn == new_dn == item.dn
    assert attrs["mailLocalAddress"] == [f"thanhnq@{DOMAIN}"]
    if ldap.layout == "flat":
        assert attrs["departmentNumber"] == ["sgtvt"]
    else:
        assert "moved from snv to sgtvt" in item.detail
    assert can_bind(ldap, new_dn, created.password)
    with rt.transaction() as s:
        m = s.scalar(select(Mailbox).where(Mailbox.staff_hr_id == "HR001"))
        assert (m.address, m.unit_code, m.dn) == ("thanhsgtvt", "sgtvt", new_dn)


def test_two_renames_keep_both_old_addresses(thanh, ldap):
    rt, created = thanh
    queue(rt, "snv", "HR001", address="thanhq")
    assert provision(rt).items[0].state == "done"
    queue(rt, "snv", "HR001", address="quangthanh")
    assert provision(rt).items[0].state == "done"
    [(dn, attrs)] = entries(ldap, "(employeeNumber=HR001)")
    assert sorted(attrs["mailLocalAddress"]) == [f"thanhnq@{DOMAIN}", f"thanhq@{DOMAIN}"]
    assert can_bind(ldap, dn, created.password)
    with rt.transaction() as s:
        rows = list(s.scalars(select(FormerAddress).order_by(FormerAddress.since)))
        assert [r.address for r in rows] == ["thanhnq", "thanhq"]
        assert rows[1].since == rows[0].until
    # Neither former address may come back, to anyone (its own mailbox included).
    with pytest.raises(Refused, match="already taken"):
        queue(rt, "snv", "HR001", address="thanhq")


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("thanh.nq", "requested address refused"),  # the address rule (no dots)
        ("postmaster", "reserved name"),
        ("hanhltm", "already taken"),  # HR002's mailbox
        ("thanhnq", "already this mailbox's address"),
    ],
)
def test_rename_refused_when_queued(thanh, ldap, address, why):
    rt, _ = thanh
    queue(rt, "snv", "HR002", RequestKind.CREATE)
    provision(rt)
    with pytest.raises(Refused, match=why):
        queue(rt, "snv", "HR001", address=address)
    with rt.transaction() as s:
        assert s.scalar(select(Request).where(Request.kind == "change")) is None


def test_historic_address_refused_when_queued(thanh, ldap):
    rt, _ = thanh
    queue(rt, "snv", "HR001", address="thanhq")
    provision(rt)
    queue(rt, "snv", "HR002", RequestKind.CREATE)
    provision(rt)
    with pytest.raises(Refused, match="thanhnq@danang.gov.vn is already taken"):
        queue(rt, "snv", "HR002", address="thanhnq")


def test_rename_refused_at_provision_when_taken_since(thanh, ldap):
    """Free when queued, taken by the time `provision` runs (an entry made by hand with
    that alias): the request fails with the reason, nothing renamed, never `done`."""
    rt, created = thanh
    [req] = queue(rt, "snv", "HR001", address="thanhbox")
    c = root(ldap)
    c.add(
        f"cn=shared,{ldap.suffix}",
        ["top", "organizationalRole", "inetLocalMailRecipient"],
        {"cn": "shared", "mailLocalAddress": f"thanhbox@{DOMAIN}"},
    )
    c.unbind()
    [item] = provision(rt).items
    assert item.state == "failed"
    assert "thanhbox@danang.gov.vn is taken in the directory by cn=shared" in item.detail
    [(dn, attrs)] = entries(ldap, "(employeeNumber=HR001)")
    assert dn == created.dn and attrs["uid"] == ["thanhnq"] and "mailLocalAddress" not in attrs
    with rt.transaction() as s:
        r = s.get(Request, req.id)
        assert (r.state, r.attempts) == ("failed", 1) and "taken in the directory" in r.last_error
        assert s.scalar(select(Mailbox.address).where(Mailbox.staff_hr_id == "HR001")) == "thanhnq"
        assert list(s.scalars(select(FormerAddress))) == []


def test_reserved_at_provision_when_config_changed(thanh, ldap):
    rt, _ = thanh
    queue(rt, "snv", "HR001", address="phongmay")
    from dataclasses import replace

    from dnmail.services.requests import reserved_names

    addresses = replace(rt.config.addresses, reserved=(*rt.config.addresses.reserved, "phongmay"))
    object.__setattr__(rt.config, "addresses", addresses)
    assert "phongmay" in reserved_names(rt.config)
    [item] = provision(rt).items
    assert item.state == "failed" and "phongmay is a reserved name" in item.detail


def test_dry_run_says_it_would_rename(thanh, ldap):
    rt, _ = thanh
    queue(rt, "snv", "HR001", address="thanhq")
    [item] = provision(rt, dry_run=True).items
    assert item.state == "would-do"
    assert "would rename to thanhq@danang.gov.vn (thanhnq kept as alias)" in item.detail
    [(_, attrs)] = entries(ldap, "(employeeNumber=HR001)")
    assert attrs["uid"] == ["thanhnq"]


KILLER = """
import os, signal, sys
from dnmail.directory.gateway import Directory
from dnmail.services.provisioning import ledger

where = sys.argv.pop(1)
if where == "before-commit":
    ledger.record = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
else:
    real = getattr(Directory, where)
    def killing(self, *a, **k):
        out = real(self, *a, **k)
        os.kill(os.getpid(), signal.SIGKILL)
        return out
    setattr(Directory, where, killing)
from dnmail.cli.main import run
sys.argv[0] = "dnmail"
run()
"""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["add_aliases", "rename", "before-commit"])
def test_rename_killed_midway_then_rerun(thanh, ldap, config_file, where):
    """SIGKILL after the alias, after the modify DN, or after every directory write but
    before the commit: a rerun ends renamed exactly once (one history row, one alias,
    one entry, the request done once)."""
    rt, created = thanh
    [req] = queue(rt, "snv", "HR001", address="thanhq")
    env = dict(os.environ, DNMAIL_CONFIG=str(config_file))
    p = subprocess.run(
        [sys.executable, "-c", KILLER, where, "--quiet", "provision"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == -signal.SIGKILL, p.stderr
    with rt.transaction() as s:
        assert s.get(Request, req.id).state == "pending"
    again = provision(rt)
    assert [(i.state, i.address) for i in again.items] == [("done", "thanhq")], again.items
    [(dn, attrs)] = entries(ldap, "(employeeNumber=HR001)")
    assert dn == mailbox_dn(ldap, "snv", "thanhq")
    assert attrs["uid"] == ["thanhq"] and attrs["mail"] == [f"thanhq@{DOMAIN}"]
    assert attrs["mailLocalAddress"] == [f"thanhnq@{DOMAIN}"]
    assert can_bind(ldap, dn, created.password)
    with rt.transaction() as s:
        assert [f.address for f in s.scalars(select(FormerAddress))] == ["thanhnq"]
        m = s.scalar(select(Mailbox).where(Mailbox.staff_hr_id == "HR001"))
        assert (m.address, m.dn) == ("thanhq", dn)
        done = s.scalars(select(AuditEvent).where(AuditEvent.action == "provision.change"))
        assert len(list(done)) == 1
    assert provision(rt).items == []


def test_mailbox_show_and_export_issued_name_the_aliases(thanh, ldap, cli, tmp_path):
    rt, _ = thanh
    queue(rt, "snv", "HR001", address="thanhq")
    provision(rt)
    queue(rt, "snv", "HR001", address="quangthanh")
    provision(rt)
    for asked in ("quangthanh", "thanhnq@danang.gov.vn"):  # current, or a former one
        result = cli("--format", "json", "mailbox", "show", asked)
        assert result.code == 0, result
        doc = result.json()
        assert doc["address"] == "quangthanh@danang.gov.vn" and doc["hr_id"] == "HR001"
        assert doc["aliases"] == ["thanhnq@danang.gov.vn", "thanhq@danang.gov.vn"]
        history = doc["history"]
        assert [(h["address"], h["current"]) for h in history] == [
            ("thanhnq@danang.gov.vn", False),
            ("thanhq@danang.gov.vn", False),
            ("quangthanh@danang.gov.vn", True),
        ]
        assert history[0]["until"] == history[1]["since"] and history[2]["until"] is None
    missing = cli("mailbox", "show", "khongco")
    assert missing.code == 2 and "no mailbox has or had khongco@danang.gov.vn" in missing.err
    out = tmp_path / "issued.csv"
    result = cli("export", "issued", "-o", str(out))
    assert result.code == 0, result
    import csv

    with out.open(encoding="utf-8-sig") as f:
        [row] = list(csv.DictReader(f))
    assert row["Tên hộp thư"] == "quangthanh@danang.gov.vn"
    assert sorted(row["Bí danh"].split(", ")) == ["thanhnq@danang.gov.vn", "thanhq@danang.gov.vn"]


def test_former_address_shown_but_not_acted_on(thanh, ldap, cli):
    """`mailbox show` of a former address resolves it, with a note naming the current
    address; reset-password, lock and unlock refuse it and name the current address
    (an admin should see which mailbox it is before changing it)."""
    rt, created = thanh
    queue(rt, "snv", "HR001", address="thanhq")
    provision(rt)
    shown = cli("mailbox", "show", "thanhnq")
    assert shown.code == 0, shown
    assert (
        "thanhnq@danang.gov.vn is a former address of thanhq@danang.gov.vn" in shown.err
    )
    current = cli("mailbox", "show", "thanhq")
    assert current.code == 0 and "former address" not in current.err
    for args in (
        ("reset-password", "thanhnq@danang.gov.vn"),
        ("lock", "thanhnq", "--reason", "other"),
        ("unlock", "thanhnq"),
    ):
        r = cli(*args)
        assert r.code == 2, (args, r)
        assert "thanhnq@danang.gov.vn is a former address of thanhq@danang.gov.vn" in r.err
        assert "give the current address: thanhq@danang.gov.vn" in r.err
    # Nothing changed: the password still binds, the entry is not locked.
    [(dn, attrs)] = entries(ldap, "(uid=thanhq)")
    assert can_bind(ldap, dn, created.password)
    assert "pwdAccountLockedTime" not in attrs
    with rt.transaction() as s:
        actions = set(s.scalars(select(AuditEvent.action)))
    assert not actions & {"mailbox.reset-password", "mailbox.lock", "mailbox.unlock"}
    # The current address works as before.
    assert cli("lock", "thanhq", "--reason", "other").code == 0
    assert cli("unlock", "thanhq@danang.gov.vn").code == 0


def test_officer_gets_no_current_address_of_another_unit(thanh, ldap, cli):
    rt, _created = thanh
    queue(rt, "snv", "HR001", address="thanhq")
    provision(rt)
    from dnmail.errors import NotFound
    from dnmail.services.accounts import reset_password

    with pytest.raises(NotFound) as e:
        reset_password(rt, "thanhnq", unit="sgtvt")
    assert "thanhq" not in e.value.message and "no mailbox thanhnq@" in e.value.message


def test_adopt_and_link_treat_former_addresses_as_taken(thanh, ldap, cli, layout):
    """An entry made outside dnmail with an address dnmail gave out before a rename is
    not adopted (it would take the renamed mailbox's alias): `taken`, and `link`
    refuses it."""
    rt, _created = thanh
    queue(rt, "snv", "HR001", address="thanhq")
    provision(rt)
    c = root(ldap)
    branch = f"ou=people,{ldap.suffix}" if layout == "flat" else f"ou=sgtvt,ou=people,{ldap.suffix}"
    attrs = {
        "uid": "thanhnq", "cn": "Nguyễn Quang Thanh", "sn": "Nguyễn", "givenName": "Thanh",
        "mail": f"thanhnq@{DOMAIN}", "employeeNumber": "HR003", "userPassword": "Cu-mat-khau-1",
    }
    if layout == "flat":
        attrs["departmentNumber"] = "sgtvt"
    c.add(f"uid=thanhnq,{branch}", ["inetOrgPerson"], attrs)
    c.unbind()
    r = cli("--format", "json", "directory", "adopt", "--apply")
    doc = r.json()
    [item] = [i for i in doc["items"] if i["address"] == "thanhnq"]
    assert item["match"] == "taken" and not item["adopted"], item
    assert "former address of thanhq@danang.gov.vn" in item["detail"]
    with rt.transaction() as s:
        assert s.scalar(select(Mailbox).where(Mailbox.staff_hr_id == "HR003")) is None
    linked = cli("directory", "link", "thanhnq", "HR003")
    assert linked.code == 1, linked
    assert "former address of thanhq@danang.gov.vn" in linked.err
