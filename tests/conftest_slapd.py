"""pytest plugin: a real, throw-away slapd for the whole session, plus small helpers.

Load it from tests/conftest.py with ``pytest_plugins = ["conftest_slapd"]`` (tests/
must be on sys.path: ``pythonpath = ["tests"]`` in [tool.pytest.ini_options]).

The server is built by dnmail.local (templates shipped in the package), the same
code `dnmail local start` runs for .ci/run and the demo. A missing OpenLDAP skips locally
and fails on CI (CI=true). The helpers use plain ldap3 so that directory tests do not depend on
dnmail's own gateway.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import ldap3
import pytest
from ldap3.core.exceptions import LDAPNoSuchObjectResult

from dnmail.errors import DirectoryUnavailable
from dnmail.local.openldap import Toolchain
from dnmail.local.slapd import SlapdInfo, ThrowawaySlapd

ON_CI = os.environ.get("CI") == "true"


def require_openldap() -> None:
    """Skip (locally) or fail (on CI) when slapd and its tools are missing."""
    try:
        Toolchain.from_env().check()
    except DirectoryUnavailable as e:
        if ON_CI:
            pytest.fail(f"OpenLDAP is not available on CI: {e}", pytrace=False)
        pytest.skip(f"OpenLDAP is not available: {e}")


@pytest.fixture(scope="session")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlapdInfo]:
    """A running slapd with dnmail's configuration; stopped at the end of the session."""
    require_openldap()
    server = ThrowawaySlapd(tmp_path_factory.mktemp("slapd"))
    info = server.start()
    try:
        yield info
    finally:
        server.stop()


# --- helpers (plain ldap3) ------------------------------------------------------------


def connect(
    info: SlapdInfo, dn: str | None = None, password: str | None = None
) -> ldap3.Connection:
    """A bound SYNC connection (anonymous when dn is None); raise_exceptions off."""
    server = ldap3.Server(info.url, get_info=ldap3.NONE, connect_timeout=5)
    conn = ldap3.Connection(server, dn, password, receive_timeout=10)
    if dn is None:
        conn.open()
    else:
        conn.bind()
    return conn


def bind_result(info: SlapdInfo, dn: str, password: str) -> int:
    """The LDAP result code of a simple bind (0 success, 49 invalidCredentials)."""
    conn = connect(info, dn, password)
    code = conn.result["result"]
    conn.unbind()
    return code


def service(info: SlapdInfo) -> ldap3.Connection:
    """A connection bound as the dnmail service identity."""
    conn = connect(info, info.service_dn, info.service_password)
    assert conn.bound, conn.result
    return conn


def unique(prefix: str = "u") -> str:
    """A fresh localpart, so tests sharing the session server never collide."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def ensure_unit(conn: ldap3.Connection, suffix: str, code: str, officer_password: str) -> str:
    """Make ou=<code>,ou=people and the officer uid=<code>,ou=units; return the officer DN.

    The officer entry is recreated with `officer_password` and no pwdReset, so that
    tests can bind as it whatever ran before.
    """
    conn.add(f"ou={code},ou=people,{suffix}", ["organizationalUnit"], {"ou": code})
    assert conn.result["result"] in (0, 68), conn.result  # 68 entryAlreadyExists
    officer = f"uid={code},ou=units,{suffix}"
    conn.delete(officer)
    assert conn.result["result"] in (0, 32), conn.result  # 32 noSuchObject
    ok = conn.add(
        officer,
        ["inetOrgPerson"],
        {
            "uid": code,
            "cn": f"Văn phòng {code.upper()}",
            "sn": code.upper(),
            "mail": f"{code}@danang.gov.vn",
            "userPassword": officer_password,
        },
    )
    assert ok, conn.result
    return officer


def add_mailbox(
    conn: ldap3.Connection,
    suffix: str,
    unit: str,
    uid: str,
    password: str,
    *,
    must_change: bool = False,
    **attributes: object,
) -> str:
    """Add uid=<uid>,ou=<unit>,ou=people with a cleartext password (ppolicy hashes it)."""
    dn = f"uid={uid},ou={unit},ou=people,{suffix}"
    attrs: dict[str, object] = {
        "uid": uid,
        "cn": f"Người dùng {uid}",
        "sn": "Nguyễn",
        "givenName": uid,
        "mail": f"{uid}@danang.gov.vn",
        "userPassword": password,
        **attributes,
    }
    if must_change:
        attrs["pwdReset"] = "TRUE"
    ok = conn.add(dn, ["inetOrgPerson"], attrs)
    assert ok, conn.result
    return dn


def read_attrs(conn: ldap3.Connection, dn: str, *attrs: str) -> dict[str, list[str]]:
    """The named attributes (all, operational too, when none named) of `dn` as strings.

    {} when the entry is not visible. Values are raw strings (no schema is loaded:
    booleans read "TRUE", userPassword "{SSHA}...").
    """
    try:
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=list(attrs) or ["*", "+"])
    except LDAPNoSuchObjectResult:
        return {}
    if not conn.entries:
        return {}
    return {
        k: [x.decode() if isinstance(x, bytes) else str(x) for x in v]
        for k, v in conn.entries[0].entry_attributes_as_dict.items()
    }


def root(info: SlapdInfo) -> ldap3.Connection:
    """A connection bound as the root DN (bypasses ACLs: for checking what is stored)."""
    conn = connect(info, info.root_dn, info.root_password)
    assert conn.bound, conn.result
    return conn
