"""A real IMAP server logs mailboxes in against the directory (deploy/dovecot/).

What the mail servers see is the point of locking and moving: a locked mailbox must
be refused by IMAP, and a mailbox moved to another unit's branch must still log in.
Skipped only when Dovecot is missing and CI is not "true".
"""

from __future__ import annotations

import imaplib
import os

import pytest
from ldap3 import MODIFY_DELETE, MODIFY_REPLACE

from conftest_slapd import add_mailbox, ensure_unit, service, unique
from servers.dovecot import DOVECOT_BINARY, ThrowawayDovecot

pytestmark = [pytest.mark.dovecot, pytest.mark.slapd]

LOCKED = "000001010000Z"
# Vietnamese, NFC: imaplib's login() is ASCII-only, AUTHENTICATE PLAIN carries UTF-8.
PASSWORD = "Mật khẩu Đà Nẵng-1"


@pytest.fixture(scope="module")
def imap(slapd, tmp_path_factory):
    """Dovecot on a free port, authenticating against the session's slapd."""
    if not os.access(DOVECOT_BINARY, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{DOVECOT_BINARY} is missing on CI", pytrace=False)
        pytest.skip(f"{DOVECOT_BINARY} is missing (apt-get install dovecot-imapd dovecot-ldap)")
    server = ThrowawayDovecot(tmp_path_factory.mktemp("dovecot"), slapd)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def branches(slapd):
    conn = service(slapd)
    for code in ("snv", "sgtvt"):
        ensure_unit(conn, slapd.suffix, code, f"officer-{code}-1")
    conn.unbind()


@pytest.fixture
def mailbox(slapd, branches):
    """A fresh mailbox in ou=snv: (uid, dn)."""
    conn = service(slapd)
    uid = unique("imap")
    dn = add_mailbox(conn, slapd.suffix, "snv", uid, PASSWORD)
    yield uid, dn
    for unit in ("snv", "sgtvt"):
        conn.delete(f"uid={uid},ou={unit},ou=people,{slapd.suffix}")
    conn.unbind()


def imap_login(imap: ThrowawayDovecot, user: str, password: str) -> bool:
    """AUTHENTICATE PLAIN then SELECT INBOX; True when both succeed."""
    client = imaplib.IMAP4("127.0.0.1", imap.imap_port, timeout=10)
    try:
        token = f"\0{user}\0{password}".encode()
        try:
            client.authenticate("PLAIN", lambda _challenge: token)
        except imaplib.IMAP4.error:
            return False
        typ, _ = client.select("INBOX")
        assert typ == "OK"  # the static userdb gives a usable mail store
        return True
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def test_login_by_localpart_or_address(imap, mailbox):
    uid, _ = mailbox
    assert imap_login(imap, uid, PASSWORD)
    assert imap_login(imap, f"{uid}@danang.gov.vn", PASSWORD)
    assert imap_login(imap, f"{uid.upper()}@DaNang.gov.vn", PASSWORD)


def test_wrong_password_and_other_domain_refused(imap, mailbox):
    uid, _ = mailbox
    assert not imap_login(imap, uid, "wrong")
    assert not imap_login(imap, uid, PASSWORD.lower())
    assert not imap_login(imap, f"{uid}@example.vn", PASSWORD)
    assert not imap_login(imap, "nobody-here", PASSWORD)


def test_locked_refused_unlocked_works(slapd, imap, mailbox):
    uid, dn = mailbox
    conn = service(slapd)
    assert conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_REPLACE, [LOCKED])]})
    assert not imap_login(imap, uid, PASSWORD)  # no cache: refused at once
    assert conn.modify(dn, {"pwdAccountLockedTime": [(MODIFY_DELETE, [])]})
    assert imap_login(imap, uid, PASSWORD)


def test_still_logs_in_after_moving_to_another_unit(slapd, imap, mailbox):
    uid, dn = mailbox
    conn = service(slapd)
    new_branch = f"ou=sgtvt,ou=people,{slapd.suffix}"
    assert conn.modify_dn(dn, f"uid={uid}", new_superior=new_branch), conn.result
    assert imap_login(imap, uid, PASSWORD)


def test_new_password_after_reset(slapd, imap, mailbox):
    uid, dn = mailbox
    conn = service(slapd)
    assert conn.extend.standard.modify_password(dn, new_password="Đặt lại-2"), conn.result
    assert not imap_login(imap, uid, PASSWORD)
    # pwdReset is set, but IMAP only checks the bind: the reset password works.
    assert imap_login(imap, uid, "Đặt lại-2")
