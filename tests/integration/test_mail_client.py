"""A real mail client against mailboxes dnmail manages (issue: lifecycle, item 8):
provisioned → logs in with its handout password; wrong password refused; locked →
refused; unlocked → works; reset → new works, old refused; transfer → still logs in."""

from __future__ import annotations

import csv
import os

import pytest

from conftest import seed_staff, seed_units
from dnmail.db.models import Staff
from dnmail.domain.states import LockReason, RequestKind
from dnmail.services import accounts
from dnmail.services.provisioning import provision
from dnmail.services.requests import NewRequest, create_requests
from dnmail.services.setup import ensure_branches
from servers.dovecot import DOVECOT_BINARY, ThrowawayDovecot
from servers.dovecot import imap_login as login

pytestmark = [pytest.mark.dovecot]


@pytest.fixture
def imap(ldap, tmp_path_factory):
    if not os.access(DOVECOT_BINARY, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{DOVECOT_BINARY} is missing on CI", pytrace=False)
        pytest.skip("dovecot is not installed")
    server = ThrowawayDovecot(tmp_path_factory.mktemp("dovecot"), ldap)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_mail_client_through_the_lifecycle(rt, imap, tmp_path):
    with rt.transaction() as s:
        seed_units(s, config=rt.config)
        seed_staff(s, [("M1", "Phạm Minh Tuấn", "snv", "Phòng Tổ chức", "Chuyên viên", "0905111222")])
        create_requests(
            session=s, config=rt.config, unit="snv", items=[NewRequest("M1", RequestKind.CREATE)],
            actor="snv", now=rt.now(),
        )
    ensure_branches(rt, ["snv", "sgtvt"])
    handouts = tmp_path / "handouts"
    summary = provision(rt, handout_dir=handouts)
    [item] = summary.done
    assert item.password is not None
    [f] = handouts.glob("handout-snv-*.csv")
    with f.open(encoding="utf-8-sig") as fh:
        [row] = list(csv.DictReader(fh))
    address, password = row["Tên hộp thư"], row["Mật khẩu"]
    assert address == "tuanpm@danang.gov.vn"

    assert login(imap, address, password)
    assert login(imap, "tuanpm", password)
    assert not login(imap, address, password + "x")

    accounts.lock_mailbox(rt, address, reason=LockReason.RESIGNED)
    assert not login(imap, address, password)
    accounts.unlock_mailbox(rt, address)
    assert login(imap, address, password)

    new = accounts.reset_password(rt, address).password
    assert login(imap, address, new)
    assert not login(imap, address, password)

    with rt.transaction() as s:
        s.get(Staff, "M1").unit_code = "sgtvt"
    with rt.transaction() as s:
        create_requests(
            session=s, config=rt.config, unit="sgtvt", items=[NewRequest("M1", RequestKind.CHANGE)],
            actor="iid", now=rt.now(),
        )
    [moved] = provision(rt).done
    assert "moved" in moved.detail
    assert login(imap, address, new)
