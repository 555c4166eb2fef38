"""The directory's access rules hold at the server, whatever client is used.

Plain ldap3 only (no dnmail code): a unit officer who bypasses the CLI must still
be unable to touch another unit, to lock, or to create and delete mailboxes.
(tests/integration/test_unit_officers.py does the same through dnmail: `reset-password` as an
officer, refused by the CLI and, with the CLI bypassed, by this server.)
Result codes: 0 success, 32 noSuchObject, 49 invalidCredentials,
50 insufficientAccessRights.
"""

from __future__ import annotations

import ldap3
import pytest
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE

from conftest_slapd import (
    add_mailbox,
    bind_result,
    connect,
    ensure_unit,
    read_attrs,
    root,
    service,
    unique,
)

pytestmark = pytest.mark.slapd

LOCKED = "000001010000Z"
OFFICER_PASSWORDS = {"snv": "Văn thư SNV-1", "sgtvt": "Văn thư SGTVT-1", "snvx": "snvx-1"}


@pytest.fixture(scope="module")
def units(slapd):
    """Branches and officer accounts for snv, sgtvt and snvx (a code that extends snv)."""
    conn = service(slapd)
    dns = {
        code: ensure_unit(conn, slapd.suffix, code, pw) for code, pw in OFFICER_PASSWORDS.items()
    }
    conn.unbind()
    return dns


@pytest.fixture
def officer(slapd, units):
    """The snv officer, bound."""
    conn = connect(slapd, units["snv"], OFFICER_PASSWORDS["snv"])
    assert conn.bound, conn.result
    yield conn
    conn.unbind()


@pytest.fixture
def boxes(slapd, units):
    """One fresh mailbox in each branch: {'snv': dn, 'sgtvt': dn, 'snvx': dn}."""
    conn = service(slapd)
    made = {code: add_mailbox(conn, slapd.suffix, code, unique(), "initial-1") for code in units}
    yield made
    for dn in made.values():
        conn.delete(dn)
    conn.unbind()


def _code(conn: ldap3.Connection) -> int:
    return conn.result["result"]


# --- unit officer -----------------------------------------------------------------------


def test_officer_resets_a_password_in_its_own_branch(slapd, officer, boxes):
    dn = boxes["snv"]
    assert officer.extend.standard.modify_password(dn, new_password="Mới-2"), officer.result
    assert bind_result(slapd, dn, "Mới-2") == 0
    assert bind_result(slapd, dn, "initial-1") == 49
    attrs = read_attrs(root(slapd), dn, "userPassword", "pwdReset")
    assert attrs["userPassword"][0].startswith("{SSHA}")  # hashed by the server
    # The officer is a password administrator for its branch: ppolicy marks the
    # reset must-change by itself, and the officer may also set the mark.
    assert attrs["pwdReset"] == ["TRUE"]
    assert officer.modify(dn, {"pwdReset": [(MODIFY_REPLACE, ["TRUE"])]}), officer.result


@pytest.mark.parametrize("other", ["sgtvt", "snvx"])
def test_officer_cannot_reset_in_another_branch(slapd, officer, boxes, other):
    dn = boxes[other]
    assert not officer.extend.standard.modify_password(dn, new_password="stolen-1")
    assert _code(officer) == 50
    assert not officer.modify(dn, {"userPassword": [(MODIFY_REPLACE, ["stolen-1"])]})
    assert not officer.modify(dn, {"pwdReset": [(MODIFY_REPLACE, ["TRUE"])]})
    assert not officer.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED])]})
    assert _code(officer) == 50
    assert bind_result(slapd, dn, "initial-1") == 0


def test_officer_cannot_lock_or_unlock_even_in_its_own_branch(slapd, officer, boxes):
    dn = boxes["snv"]
    assert not officer.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED])]})
    assert _code(officer) == 50
    assert bind_result(slapd, dn, "initial-1") == 0

    svc = service(slapd)
    assert svc.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED])]}), svc.result
    assert not officer.modify(dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]})
    assert _code(officer) == 50
    assert bind_result(slapd, dn, "initial-1") == 49  # still locked
    # ... though it may see that the mailbox is locked.
    officer.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["pwdAccountLockedTime"])
    assert officer.entries and officer.entries[0]["pwdAccountLockedTime"].value


def test_officer_cannot_write_other_attributes(officer, boxes):
    dn = boxes["snv"]
    for attr, value in (("mail", "x@danang.gov.vn"), ("cn", "X"), ("employeeNumber", "1")):
        assert not officer.modify(dn, {attr: [(MODIFY_REPLACE, [value])]}), attr
        assert _code(officer) == 50


def test_officer_cannot_add_delete_rename_or_move(slapd, officer, boxes):
    s = slapd.suffix
    new = f"uid={unique()},ou=snv,ou=people,{s}"
    assert not officer.add(new, ["inetOrgPerson"], {"uid": new[4:14], "cn": "x", "sn": "x"})
    assert _code(officer) == 50
    dn = boxes["snv"]
    assert not officer.delete(dn)
    assert _code(officer) == 50
    assert not officer.modify_dn(dn, f"uid={unique()}")
    assert _code(officer) == 50
    assert not officer.modify_dn(dn, dn.split(",")[0], new_superior=f"ou=sgtvt,ou=people,{s}")
    assert _code(officer) == 50
    assert not officer.add(f"ou={unique()},ou=people,{s}", ["organizationalUnit"], {"ou": "x"})
    assert not officer.delete(f"ou=snv,ou=people,{s}")
    assert bind_result(slapd, dn, "initial-1") == 0


def test_officer_reads_its_branch_but_no_password_hash(slapd, officer, boxes):
    dn = boxes["snv"]
    officer.search(f"ou=snv,ou=people,{slapd.suffix}", "(uid=*)", attributes=["*"])
    assert dn.lower() in {e.entry_dn.lower() for e in officer.entries}
    officer.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["userPassword", "mail"])
    (entry,) = officer.entries
    assert entry["mail"].value
    assert "userPassword" not in entry.entry_attributes_as_dict or not entry["userPassword"]
    officer.compare(dn, "userPassword", "initial-1")
    assert _code(officer) == 50


@pytest.mark.parametrize("other", ["sgtvt", "snvx"])
def test_officer_cannot_read_another_branch(slapd, officer, boxes, other):
    officer.search(f"ou={other},ou=people,{slapd.suffix}", "(objectClass=*)")
    assert officer.entries == []
    officer.search(boxes[other], "(objectClass=*)", ldap3.BASE)
    assert officer.entries == []
    # A search over all mailboxes shows its own branch only.
    officer.search(f"ou=people,{slapd.suffix}", "(uid=*)")
    seen = {e.entry_dn.lower() for e in officer.entries}
    assert boxes[other].lower() not in seen
    assert all(",ou=snv,ou=people," in dn for dn in seen)


def test_officer_cannot_touch_other_officers_or_system(slapd, officer, units):
    assert not officer.extend.standard.modify_password(units["sgtvt"], new_password="x-1")
    assert not officer.modify(units["sgtvt"], {"mail": [(MODIFY_REPLACE, ["x@y.vn"])]})
    officer.search(units["sgtvt"], "(objectClass=*)", ldap3.BASE)
    assert officer.entries == []
    officer.search(slapd.service_dn, "(objectClass=*)", ldap3.BASE)
    assert officer.entries == []
    assert not officer.add(
        f"uid={unique()},ou=admins,{slapd.suffix}", ["inetOrgPerson"], {"cn": "x", "sn": "x"}
    )


def test_officer_changes_its_own_password(slapd, units):
    conn = connect(slapd, units["snvx"], OFFICER_PASSWORDS["snvx"])
    assert conn.extend.standard.modify_password(new_password="snvx-2"), conn.result
    conn.unbind()
    assert bind_result(slapd, units["snvx"], "snvx-2") == 0
    conn = connect(slapd, units["snvx"], "snvx-2")
    assert conn.extend.standard.modify_password(new_password=OFFICER_PASSWORDS["snvx"])
    conn.unbind()


# --- mailbox owner ----------------------------------------------------------------------


def test_owner_reads_itself_only_and_cannot_unlock_or_skip_must_change(slapd, boxes):
    dn = boxes["snv"]
    user = connect(slapd, dn, "initial-1")
    assert read_attrs(user, dn, "uid")["uid"]
    assert "userPassword" not in {k for k, v in read_attrs(user, dn, "userPassword").items() if v}
    assert read_attrs(user, boxes["sgtvt"]) == {}
    user.search(f"ou=snv,ou=people,{slapd.suffix}", "(uid=*)")
    assert {e.entry_dn.lower() for e in user.entries} <= {dn.lower()}
    assert not user.modify(dn, {"mail": [(MODIFY_REPLACE, ["me@danang.gov.vn"])]})
    assert not user.modify(dn, {"pwdAccountLockedTime": [(MODIFY_ADD, [LOCKED])]})
    user.unbind()

    svc = service(slapd)
    assert svc.extend.standard.modify_password(dn, new_password="reset-2")  # sets pwdReset
    user = connect(slapd, dn, "reset-2")
    assert not user.modify(dn, {"pwdReset": [(MODIFY_DELETE, [])]})
    assert read_attrs(root(slapd), dn, "pwdReset")["pwdReset"] == ["TRUE"]
    # The only way out is changing the password, which clears the mark.
    assert user.extend.standard.modify_password(new_password="mine-3"), user.result
    user.unbind()
    assert read_attrs(root(slapd), dn, "pwdReset").get("pwdReset", []) == []


# --- anonymous --------------------------------------------------------------------------


def test_anonymous_can_bind_but_not_search(slapd, boxes):
    anon = connect(slapd)
    for base in (
        slapd.suffix,
        f"ou=people,{slapd.suffix}",
        f"ou=units,{slapd.suffix}",
        f"ou=system,{slapd.suffix}",
    ):
        anon.search(base, "(objectClass=*)", attributes=["*"])
        assert anon.entries == [], base
    anon.search(boxes["snv"], "(objectClass=*)", ldap3.BASE)
    assert anon.entries == []
    anon.compare(boxes["snv"], "userPassword", "initial-1")
    assert _code(anon) != 6  # never compareTrue
    assert not anon.modify(boxes["snv"], {"cn": [(MODIFY_REPLACE, ["x"])]})
    # The root DSE stays readable: clients discover StartTLS and Password Modify there.
    anon.search("", "(objectClass=*)", ldap3.BASE, attributes=["supportedExtension"])
    assert "1.3.6.1.4.1.4203.1.11.1" in anon.entries[0]["supportedExtension"].values
    anon.unbind()
    assert bind_result(slapd, boxes["snv"], "initial-1") == 0


# --- the mail servers' lookup identity ----------------------------------------------------


def test_mailauth_finds_uids_and_nothing_else(slapd, boxes):
    m = connect(slapd, slapd.mailauth_dn, slapd.mailauth_password)
    assert m.bound
    dn = boxes["sgtvt"]
    uid = dn.split(",")[0][4:]
    m.search(
        f"ou=people,{slapd.suffix}",
        f"(&(objectClass=inetOrgPerson)(uid={uid}))",
        attributes=["uid", "mail", "employeeNumber", "cn", "telephoneNumber", "userPassword"],
    )
    (entry,) = m.entries
    assert entry.entry_dn.lower() == dn.lower()
    got = {k for k, v in entry.entry_attributes_as_dict.items() if v}
    assert got == {"uid", "mail"}  # employeeNumber is readable too but not set here
    for base in (f"ou=units,{slapd.suffix}", f"ou=system,{slapd.suffix}"):
        m.search(base, "(objectClass=*)")
        assert m.entries == [], base
    assert not m.modify(dn, {"mail": [(MODIFY_REPLACE, ["x@danang.gov.vn"])]})
    assert _code(m) == 50
    assert not m.extend.standard.modify_password(dn, new_password="x-1")
    assert not m.add(f"uid={unique()},ou=snv,ou=people,{slapd.suffix}", ["inetOrgPerson"],
                     {"cn": "x", "sn": "x"})  # fmt: skip
    assert not m.delete(dn)
    m.unbind()


# --- service identity and IID admins ---------------------------------------------------


@pytest.mark.parametrize("who", ["service", "iid-admin"])
def test_service_and_iid_admins_can_do_everything(slapd, units, who):
    s = slapd.suffix
    svc = service(slapd)
    if who == "service":
        conn = svc
    else:
        admin = f"uid={unique('iid')},ou=admins,{s}"
        assert svc.add(admin, ["inetOrgPerson"], {"cn": "IID", "sn": "IID", "userPassword": "a-1"})
        conn = connect(slapd, admin, "a-1")
        assert conn.bound
    uid = unique()
    dn = f"uid={uid},ou=snv,ou=people,{s}"
    assert conn.add(
        dn,
        ["inetOrgPerson"],
        {"uid": uid, "cn": "Lê Thị Mỹ Hạnh", "sn": "Lê", "mail": f"{uid}@danang.gov.vn",
         "userPassword": "first-1", "pwdReset": "TRUE"},
    ), conn.result  # fmt: skip
    assert conn.modify(dn, {"telephoneNumber": [(MODIFY_REPLACE, ["0905123456"])]})
    assert conn.extend.standard.modify_password(dn, new_password="second-2"), conn.result
    assert conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED])]}), conn.result
    assert bind_result(slapd, dn, "second-2") == 49
    assert conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]}), conn.result
    assert bind_result(slapd, dn, "second-2") == 0
    # Transfer: the entry moves to the new unit's branch.
    assert conn.modify_dn(dn, f"uid={uid}", new_superior=f"ou=sgtvt,ou=people,{s}"), conn.result
    moved = f"uid={uid},ou=sgtvt,ou=people,{s}"
    assert bind_result(slapd, moved, "second-2") == 0
    # Reads everything, including the hash and the policy state.
    attrs = read_attrs(conn, moved, "userPassword", "pwdReset", "pwdChangedTime")
    assert attrs["userPassword"][0].startswith("{SSHA}") and attrs["pwdReset"] == ["TRUE"]
    # Unit branches and officer accounts are managed too.
    code = unique("u")
    assert conn.add(f"ou={code},ou=people,{s}", ["organizationalUnit"], {"ou": code})
    assert conn.add(f"uid={code},ou=units,{s}", ["inetOrgPerson"], {"cn": code, "sn": code})
    assert conn.delete(f"uid={code},ou=units,{s}")
    assert conn.delete(f"ou={code},ou=people,{s}")
    assert conn.delete(moved), conn.result
    # A paged search over every mailbox (the service is not held to 500 entries).
    conn.extend.standard.paged_search(f"ou=people,{s}", "(uid=*)", paged_size=200)
    assert _code(conn) == 0


def test_anonymous_reads_the_schema(slapd):
    """What clients discover before binding: the subschema entry named by the root DSE,
    with the classes and attributes dnmail and the mail servers use (ppolicy's too)."""
    anon = connect(slapd)
    anon.search("", "(objectClass=*)", ldap3.BASE, attributes=["subschemaSubentry"])
    [subschema] = anon.entries[0]["subschemaSubentry"].values
    anon.search(subschema, "(objectClass=subschema)", ldap3.BASE,
                attributes=["objectClasses", "attributeTypes"])
    [entry] = anon.entries
    classes = " ".join(entry["objectClasses"].values)
    types = " ".join(entry["attributeTypes"].values)
    for name in ("'inetOrgPerson'", "'organizationalUnit'", "'pwdPolicy'"):
        assert name in classes, name
    for name in ("'employeeNumber'", "'pwdAccountLockedTime'", "'pwdReset'"):
        assert name in types, name
    anon.unbind()
    # ldap3 itself, as a client would: an anonymous connection that loads the schema
    server = ldap3.Server(slapd.url, get_info=ldap3.SCHEMA, connect_timeout=5)
    conn = ldap3.Connection(server, auto_bind=True, receive_timeout=10)
    assert "inetOrgPerson" in server.schema.object_classes
    conn.unbind()


# --- the root DN --------------------------------------------------------------------------


def test_the_root_dn_bypasses_the_rules(slapd, units, boxes):
    """Everything, anywhere — including what the rules give nobody but the service and
    IID: reading hashes, locking, writing ou=system, ou=admins and the password policy."""
    s = slapd.suffix
    r = root(slapd)
    dn = boxes["snv"]
    assert read_attrs(r, dn, "userPassword")["userPassword"][0].startswith("{SSHA}")
    assert r.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED])]}), r.result
    assert bind_result(slapd, dn, "initial-1") == 49
    assert r.modify(dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]}), r.result
    assert bind_result(slapd, dn, "initial-1") == 0
    policy = f"cn=default,ou=policies,{s}"
    assert r.modify(policy, {"description": [(MODIFY_REPLACE, ["set by the root DN"])]}), r.result
    assert r.modify(policy, {"description": [(MODIFY_DELETE, [])]}), r.result
    for branch in ("ou=system", "ou=admins", "ou=units"):
        uid = unique("root")
        entry = f"uid={uid},{branch},{s}"
        attrs = {"cn": uid, "sn": uid, "userPassword": "r-1"}
        assert r.add(entry, ["inetOrgPerson"], attrs), r.result
        assert r.modify_dn(entry, f"uid={uid}x"), r.result
        assert r.delete(f"uid={uid}x,{branch},{s}"), r.result
    r.unbind()


# --- size limits ----------------------------------------------------------------------------


def test_size_limits(ldap):
    """More than the frontend's 500 entries in one unit: the root DN, the service, IID
    admins and the unit's officer get them all in one search; the mail servers' identity
    is held to 500 (sizeLimitExceeded, code 4)."""
    s = ldap.suffix
    svc = service(ldap)
    officer = ensure_unit(svc, s, "big", "Văn thư BIG-1")
    branch = f"ou=big,ou=people,{s}"
    n = 505
    for i in range(n):
        uid = f"big{i:04d}"
        assert svc.add(
            f"uid={uid},{branch}",
            ["inetOrgPerson"],
            {"uid": uid, "cn": uid, "sn": "Nguyễn", "mail": f"{uid}@danang.gov.vn"},
        )
    admin = f"uid={unique('iid')},ou=admins,{s}"
    assert svc.add(admin, ["inetOrgPerson"], {"cn": "IID", "sn": "IID", "userPassword": "a-1"})
    who = {
        "root DN": root(ldap),
        "service": svc,
        "IID admin": connect(ldap, admin, "a-1"),
        "unit officer": connect(ldap, officer, "Văn thư BIG-1"),
    }
    for name, conn in who.items():
        assert conn.bound, name
        conn.search(branch, "(objectClass=inetOrgPerson)", attributes=["uid"])
        assert (conn.result["result"], len(conn.entries)) == (0, n), (name, conn.result)
    m = connect(ldap, ldap.mailauth_dn, ldap.mailauth_password)
    m.search(f"ou=people,{s}", "(objectClass=inetOrgPerson)", attributes=["uid"])
    assert (m.result["result"], len(m.entries)) == (4, 500), m.result
    for conn in (*who.values(), m):
        conn.unbind()
