"""Unit officers in the directory, through dnmail: the unit accounts `init` makes,
`unit set-password`, and `reset-password` run as an officer — bound to slapd as the
unit's own account, so that the server's ACLs (src/dnmail/local/templates/access-*.ldif.in)
hold it to its branch (by-unit) or to the entries whose departmentNumber is its unit
(flat) even when the CLI's check is bypassed. SQLite and PostgreSQL, both layouts."""

from __future__ import annotations

import stat

import ldap3
import pytest

from conftest import mailbox_dn, seed_staff, seed_units
from conftest_slapd import bind_result, read_attrs, root
from dnmail.directory.gateway import Directory
from dnmail.domain.states import RequestKind
from dnmail.errors import InsufficientAccess
from dnmail.services.provisioning import provision
from dnmail.services.requests import NewRequest, create_requests

pytestmark = [pytest.mark.slapd, pytest.mark.parametrize("layout", ["by-unit", "flat"])]

SNV = "snv@danang.gov.vn"
PEOPLE = [
    ("HR001", "Nguyễn Quang Thanh", "snv", "Văn phòng", "Chánh văn phòng", "0905123456"),
    ("HR002", "Trần Đức", "sgtvt", "Văn phòng", "Kế toán", "02363822222"),
]


@pytest.fixture
def world(rt, cli):
    """Units snv and sgtvt, one mailbox in each (thanhnq, duct), unit accounts by init."""
    with rt.transaction() as s:
        seed_units(s, config=rt.config)
        seed_staff(s, PEOPLE)
        for unit, hr in (("snv", "HR001"), ("sgtvt", "HR002")):
            create_requests(session=s, config=rt.config, unit=unit,
                            items=[NewRequest(hr, RequestKind.CREATE)], actor="t", now=rt.now())
    assert [i.state for i in provision(rt).items] == ["done", "done"]
    r = cli("init")
    assert r.code == 0, r
    return rt


def officer_dn(ldap, code="snv"):
    return f"uid={code},ou=units,{ldap.suffix}"


def set_officer_password(cli, monkeypatch, code="snv") -> str:
    r = cli("--format", "json", "unit", "set-password", code)
    assert r.code == 0, r
    monkeypatch.setenv("DNMAIL_OPERATOR_PASSWORD", r.json()["password"])
    return r.json()["password"]


def test_init_makes_each_units_account_without_a_password(world, ldap, cli):
    attrs = read_attrs(root(ldap), officer_dn(ldap), "*", "+")
    assert attrs["mail"] == [SNV] and attrs["uid"] == ["snv"]
    assert "inetOrgPerson" in attrs["objectClass"]
    assert "userPassword" not in attrs  # nobody can bind as it yet
    assert read_attrs(root(ldap), officer_dn(ldap, "sgtvt"))["mail"] == ["sgtvt@danang.gov.vn"]
    r = cli("--format", "json", "init")
    assert r.code == 0 and r.json()["accounts_created"] == []  # twice changes nothing


def test_set_password_lets_the_officer_bind_shown_once_and_never_recorded(world, ldap, cli,
                                                                           tmp_path):
    r = cli("--format", "json", "unit", "set-password", "snv")
    assert r.code == 0, r
    password = r.json()["password"]
    assert bind_result(ldap, officer_dn(ldap), password) == 0
    attrs = read_attrs(root(ldap), officer_dn(ldap), "userPassword", "pwdReset")
    assert attrs["userPassword"][0].startswith("{SSHA}")  # hashed by the server
    assert not attrs.get("pwdReset")  # it can act at once, not only change its password

    handout = tmp_path / "snv-account.csv"
    r = cli("unit", "set-password", "snv", "--handout", handout)
    assert r.code == 0, r
    assert stat.S_IMODE(handout.stat().st_mode) == 0o600
    new = handout.read_text(encoding="utf-8-sig").splitlines()[1].split(",")[-1]
    assert new and new not in r.out + r.err
    assert bind_result(ldap, officer_dn(ldap), password) == 49
    assert bind_result(ldap, officer_dn(ldap), new) == 0
    with world.transaction() as s:
        from sqlalchemy import select

        from dnmail.db.models import AuditEvent

        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "unit.set-password"))
        texts = [e.details for e in events]
    assert len(texts) == 2 and not any(p in t for t in texts for p in (password, new))


def test_an_officer_resets_its_own_mailbox_bound_as_the_unit_account(world, ldap, cli,
                                                                     monkeypatch):
    set_officer_password(cli, monkeypatch)
    r = cli("--as", SNV, "--format", "json", "reset-password", "thanhnq")
    assert r.code == 0, r
    dn = mailbox_dn(ldap, "snv", "thanhnq")
    assert bind_result(ldap, dn, r.json()["password"]) == 0
    # The directory saw the officer, not the service identity, make the change.
    attrs = read_attrs(root(ldap), dn, "modifiersName", "pwdReset")
    assert attrs["modifiersName"][0].lower() == officer_dn(ldap).lower()
    assert attrs["pwdReset"] == ["TRUE"]


def test_another_units_mailbox_is_refused_by_the_cli_and_by_the_directory(world, ldap, cli,
                                                                         monkeypatch):
    password = set_officer_password(cli, monkeypatch)
    dn = mailbox_dn(ldap, "sgtvt", "duct")
    before = read_attrs(root(ldap), dn, "userPassword")["userPassword"]

    r = cli("--as", SNV, "reset-password", "duct@danang.gov.vn")
    assert r.code == 1, r
    assert "snv@danang.gov.vn is a unit officer of snv: cannot act for unit sgtvt" in r.err

    # The CLI's check bypassed: dnmail's own gateway, bound as the officer.
    settings = world.config.directory
    with Directory.connect(settings, password, bind_dn=officer_dn(ldap)) as d:
        with pytest.raises(InsufficientAccess, match="refused uid=snv,ou=units"):
            d.set_password(dn, "stolen-Password-1")
        with pytest.raises(InsufficientAccess):
            d.lock(dn)
        with pytest.raises(InsufficientAccess):
            d.lock(mailbox_dn(ldap, "snv", "thanhnq"))  # not even in its own branch
    assert read_attrs(root(ldap), dn, "userPassword")["userPassword"] == before


def test_a_wrong_officer_password_is_exit_4_and_never_echoed(world, ldap, cli, monkeypatch):
    set_officer_password(cli, monkeypatch)
    monkeypatch.setenv("DNMAIL_OPERATOR_PASSWORD", "Wrong-Secret-77")
    r = cli("--verbose", "--as", SNV, "reset-password", "thanhnq")
    assert r.code == 4, r
    assert f"bind as {officer_dn(ldap)} refused" in r.err
    assert "Wrong-Secret-77" not in r.out + r.err and "Traceback" not in r.err


def test_no_officer_password_source_is_a_config_error(world, cli, monkeypatch):
    monkeypatch.delenv("DNMAIL_OPERATOR_PASSWORD", raising=False)
    r = cli("--as", SNV, "reset-password", "thanhnq")
    assert r.code == 2, r
    assert "no directory password for snv@danang.gov.vn" in r.err
    assert "DNMAIL_OPERATOR_PASSWORD" in r.err


def test_the_officer_password_file_must_be_private(world, ldap, cli, monkeypatch, tmp_path,
                                                   config_file):
    password = set_officer_password(cli, monkeypatch)
    monkeypatch.delenv("DNMAIL_OPERATOR_PASSWORD")
    secret = tmp_path / "officer.secret"
    secret.write_text(password + "\n")
    secret.chmod(0o644)
    with config_file.open("a", encoding="utf-8") as f:
        f.write(f'\n[operator]\npassword_file = "{secret}"\n')
    r = cli("--as", SNV, "reset-password", "thanhnq")
    assert r.code == 2 and f"run: chmod 600 {secret}" in r.err, r
    secret.chmod(0o600)
    r = cli("--as", SNV, "reset-password", "thanhnq")
    assert r.code == 0, r


def test_an_officer_connection_cannot_add_or_see_other_branches(world, ldap, cli, monkeypatch):
    password = set_officer_password(cli, monkeypatch)
    with Directory.connect(world.config.directory, password, bind_dn=officer_dn(ldap)) as d:
        assert [e.uid for e in d.iter_people("snv")] == ["thanhnq"]
        with pytest.raises(InsufficientAccess):
            d.add_mailbox(mailbox_dn(ldap, "snv", "moi"), {"uid": "moi", "cn": "x", "sn": "x"},
                          "Initial-Password-1")
    conn = ldap3.Connection(ldap.url, officer_dn(ldap), password, auto_bind=True)
    if ldap.layout == "flat":
        conn.search(ldap.people_dn, "(objectClass=inetOrgPerson)", attributes=["uid"])
        assert [e.uid.value for e in conn.entries] == ["thanhnq"]  # duct is sgtvt's
        # ... and it cannot take another unit's mailbox into its own.
        conn.modify(mailbox_dn(ldap, "sgtvt", "duct"),
                    {"departmentNumber": [(ldap3.MODIFY_REPLACE, ["snv"])]})
        assert conn.result["result"] == 50  # insufficientAccessRights
    else:
        conn.search(f"ou=sgtvt,ou=people,{ldap.suffix}", "(objectClass=*)")
        assert conn.entries == []
    conn.unbind()


def test_on_a_terminal_the_officer_is_asked(world, cli, monkeypatch):
    import getpass
    import io
    import sys

    password = set_officer_password(cli, monkeypatch)
    monkeypatch.delenv("DNMAIL_OPERATOR_PASSWORD")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked = []
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or password)
    r = cli("--as", SNV, "reset-password", "thanhnq")
    assert r.code == 0, r
    assert asked == [f"directory password of {SNV} (uid=snv,ou=units,dc=danang,dc=gov,dc=vn): "]


def test_rights_follow_hr_from_the_moment_sync_records_a_transfer(world, ldap, cli, monkeypatch,
                                                                   tmp_path):
    """The attack (issue 12 §4): HR moved Nguyễn Quang Thanh from snv to sgtvt and
    `sync --apply` recorded it, but until the next `provision` moved the entry, snv's
    officer could still reset the mailbox's password. Now both dnmail's check and
    slapd's access rules refuse it; after the move, sgtvt's officer has it."""
    snv_password = set_officer_password(cli, monkeypatch)
    dn = mailbox_dn(ldap, "snv", "thanhnq")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Mã hồ sơ,Họ và tên,Mã đơn vị,Phòng ban,Chức vụ,Số điện thoại,Trạng thái\n"
        "HR001,Nguyễn Quang Thanh,sgtvt,Văn phòng,Chánh văn phòng,0905123456,Đang công tác\n"
        "HR002,Trần Đức,sgtvt,Văn phòng,Kế toán,02363822222,Đang công tác\n",
        encoding="utf-8",
    )
    r = cli("sync", roster, "--apply")
    assert r.code == 0, r
    assert read_attrs(root(ldap), dn, "employeeType")["employeeType"] == ["dnmail-transfer"]
    before = read_attrs(root(ldap), dn, "userPassword")["userPassword"]

    r = cli("--as", SNV, "reset-password", "thanhnq")
    assert r.code == 1, r
    assert "snv@danang.gov.vn is a unit officer of snv: cannot act for unit sgtvt" in r.err
    assert "HR records its owner as transferred to sgtvt" in r.err

    # The CLI's check bypassed: the directory refuses the old unit's officer itself.
    with Directory.connect(world.config.directory, snv_password, bind_dn=officer_dn(ldap)) as d:
        with pytest.raises(InsufficientAccess):
            d.set_password(dn, "stolen-Password-1")
    conn = ldap3.Connection(ldap.url, officer_dn(ldap), snv_password, auto_bind=True)
    assert not conn.modify(dn, {"pwdReset": [(ldap3.MODIFY_REPLACE, ["TRUE"])]})
    assert conn.result["result"] == 50  # insufficientAccessRights
    conn.unbind()
    assert read_attrs(root(ldap), dn, "userPassword")["userPassword"] == before

    # The move carried out: the entry is sgtvt's, unmarked, and sgtvt's officer resets it.
    [item] = provision(world).items
    assert item.state == "done", item
    moved = mailbox_dn(ldap, "sgtvt", "thanhnq")
    assert not read_attrs(root(ldap), moved, "employeeType").get("employeeType")
    set_officer_password(cli, monkeypatch, "sgtvt")
    r = cli("--as", "sgtvt@danang.gov.vn", "--format", "json", "reset-password", "thanhnq")
    assert r.code == 0, r
    assert bind_result(ldap, moved, r.json()["password"]) == 0
    monkeypatch.setenv("DNMAIL_OPERATOR_PASSWORD", snv_password)
    r = cli("--as", SNV, "reset-password", "thanhnq")
    assert r.code == 1 and "cannot act for unit sgtvt" in r.err, r


def test_the_transfer_mark_keeps_the_cities_own_employee_types(world, ldap, cli, tmp_path):
    conn = root(ldap)
    dn = mailbox_dn(ldap, "snv", "thanhnq")
    assert conn.modify(dn, {"employeeType": [(ldap3.MODIFY_ADD, ["Biên chế"])]}), conn.result
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "Mã hồ sơ,Họ và tên,Mã đơn vị,Phòng ban,Chức vụ,Số điện thoại,Trạng thái\n"
        "HR001,Nguyễn Quang Thanh,sgtvt,Văn phòng,Chánh văn phòng,0905123456,Đang công tác\n",
        encoding="utf-8",
    )
    assert cli("sync", roster, "--apply").code == 0
    assert sorted(read_attrs(conn, dn, "employeeType")["employeeType"]) == [
        "Biên chế", "dnmail-transfer"]
    assert cli("sync", roster, "--apply").code == 0  # twice: still one mark
    [item] = provision(world).items
    moved = mailbox_dn(ldap, "sgtvt", "thanhnq")
    assert read_attrs(conn, moved, "employeeType")["employeeType"] == ["Biên chế"]
    conn.unbind()
