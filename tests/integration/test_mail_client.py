"""A real mail client against mailboxes dnmail manages (issue: lifecycle, item 8):
provisioned → logs in with its handout password; wrong password refused; locked →
refused; unlocked → works; reset → new works, old refused; transfer → still logs in."""

from __future__ import annotations

import os

import pytest

from conftest import seed_staff, seed_units
from dnmail.db.models import Staff
from dnmail.domain.states import LockReason, RequestKind
from dnmail.services import accounts
from dnmail.services.provisioning import provision
from dnmail.services.requests import NewRequest, create_requests
from dnmail.services.setup import ensure_branches
from servers.dovecot import DOVECOT_BINARY, ThrowawayDovecot, deliver, inbox_subjects
from servers.dovecot import imap_login as login
from support.handouts import handout_rows

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
        seed_staff(
            s, [("M1", "Phạm Minh Tuấn", "snv", "Phòng Tổ chức", "Chuyên viên", "0905111222")]
        )
        create_requests(
            session=s,
            config=rt.config,
            unit="snv",
            items=[NewRequest("M1", RequestKind.CREATE)],
            actor="snv",
            now=rt.now(),
        )
    ensure_branches(rt, ["snv", "sgtvt"])
    handouts = tmp_path / "handouts"
    summary = provision(rt, handout_dir=handouts)
    [item] = summary.done
    assert item.password is not None
    [f] = handouts.glob("handout-snv-*.xlsx")
    [row] = handout_rows(f)
    address, password = str(row["Tên hộp thư"]), str(row["Mật khẩu"])
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
            session=s,
            config=rt.config,
            unit="sgtvt",
            items=[NewRequest("M1", RequestKind.CHANGE)],
            actor="iid",
            now=rt.now(),
        )
    [moved] = provision(rt).done
    assert "moved" in moved.detail
    assert login(imap, address, new)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_renamed_mailbox_logs_in_with_new_name_and_gets_mail_to_the_old(rt, imap):
    """Issue 14 §1: after a rename the user logs in with the new address and the old
    password; mail to the old address is delivered to the same mailbox through the
    alias (Dovecot's userdb resolves mailLocalAddress); the old name logs in no more."""
    with rt.transaction() as s:
        seed_units(s, config=rt.config)
        seed_staff(s, [("M2", "Trần Văn Bình", "snv", "Văn phòng", "", "")])
        create_requests(
            session=s,
            config=rt.config,
            unit="snv",
            items=[NewRequest("M2", RequestKind.CREATE)],
            actor="snv",
            now=rt.now(),
        )
    ensure_branches(rt, ["snv", "sgtvt"])
    [created] = provision(rt).done
    assert created.address == "binhtv"
    password = created.password
    first = deliver(imap, "binhtv@danang.gov.vn", "before the rename")
    assert first.returncode == 0, first.stderr
    with rt.transaction() as s:
        create_requests(
            session=s,
            config=rt.config,
            unit="snv",
            items=[NewRequest("M2", RequestKind.CHANGE, "binh.tran".replace(".", ""))],
            actor="snv",
            now=rt.now(),
        )
    [renamed] = provision(rt).done
    assert renamed.address == "binhtran"
    assert login(imap, "binhtran@danang.gov.vn", password)
    assert login(imap, "binhtran", password)
    assert not login(imap, "binhtv@danang.gov.vn", password)
    sent = deliver(imap, "binhtv@danang.gov.vn", "to the old address")
    assert sent.returncode == 0, sent.stderr
    sent = deliver(imap, "binhtran@danang.gov.vn", "to the new address")
    assert sent.returncode == 0, sent.stderr
    assert inbox_subjects(imap, "binhtran@danang.gov.vn", password) == [
        "to the old address",
        "to the new address",
    ]
    # An address nobody has is not delivered (the alias lookup is no catch-all).
    lost = deliver(imap, "nobody-here@danang.gov.vn", "nowhere")
    assert lost.returncode != 0
