"""The operator rules, pure (services/operators.py): who is who, and who may do what."""

from __future__ import annotations

import pytest

from dnmail.errors import ExitCode, PermissionDenied
from dnmail.services.operators import (
    RIGHTS,
    Operator,
    Right,
    Role,
    authorize,
    identify,
    other_unit,
)

UNITS = {"snv@danang.gov.vn": "snv", "sgtvt@danang.gov.vn": "sgtvt"}
ADMINS = ("iid-admin", "cron", "Nguyen.IID")


def who(account: str) -> Operator:
    return identify(account, admins=ADMINS, unit_accounts=UNITS, mail_domain="danang.gov.vn")


SNV = Operator("snv@danang.gov.vn", Role.OFFICER, "snv")
ADMIN = Operator("iid-admin", Role.ADMIN)

#: What the letter gives a unit (step 2, 4, 5): lists, exports, requests, resets.
OFFICER_RIGHTS = {
    Right.LIST_UNITS,
    Right.LIST_STAFF,
    Right.CREATE_REQUEST,
    Right.IMPORT_SLIPS,
    Right.WITHDRAW_REQUEST,
    Right.LIST_QUEUE,
    Right.RESET_PASSWORD,
    Right.EXPORT_LIST,
}


def test_a_unit_account_is_that_units_officer():
    assert who("snv@danang.gov.vn") == SNV
    assert who("  SNV@DaNang.gov.vn ") == SNV  # case and spaces do not matter
    assert who("snv") == SNV  # the local part is enough
    assert who("sgtvt@danang.gov.vn").unit == "sgtvt"


def test_configured_admins_are_iid_administrators():
    assert who("iid-admin") == ADMIN
    assert who("cron").is_admin
    assert who("nguyen.iid").role is Role.ADMIN
    assert who("Nguyen.IID").account == "Nguyen.IID"  # recorded as typed


def test_a_unit_account_listed_as_admin_stays_an_officer():
    op = identify(
        "snv@danang.gov.vn", admins=["snv@danang.gov.vn"], unit_accounts=UNITS,
        mail_domain="danang.gov.vn",
    )
    assert op.is_officer and op.unit == "snv"


@pytest.mark.parametrize("account", ["stranger", "snv@example.org", "snvx@danang.gov.vn", " "])
def test_anyone_else_is_refused(account):
    with pytest.raises(PermissionDenied) as e:
        who(account)
    assert e.value.exit_code == ExitCode.FAILED


def test_the_rights_table_names_every_right_and_gives_officers_the_letters_share():
    assert set(RIGHTS) == set(Right)
    assert {r for r, officer in RIGHTS.items() if officer} == OFFICER_RIGHTS


@pytest.mark.parametrize("right", list(Right))
def test_admins_hold_every_right_for_every_unit(right):
    assert authorize(ADMIN, right) is None
    assert authorize(ADMIN, right, unit="sgtvt") == "sgtvt"


@pytest.mark.parametrize("right", sorted(set(Right) - OFFICER_RIGHTS))
def test_officers_are_refused_iid_rights_with_the_right_named(right):
    with pytest.raises(PermissionDenied) as e:
        authorize(SNV, right)
    assert e.value.message == (
        f"snv@danang.gov.vn is a unit officer of snv: {right.value} is for IID administrators"
    )


def test_the_provisioning_message():
    with pytest.raises(PermissionDenied, match=(
        "^snv@danang.gov.vn is a unit officer of snv: provisioning is for IID administrators$"
    )):
        authorize(SNV, Right.PROVISION)


@pytest.mark.parametrize("right", sorted(OFFICER_RIGHTS))
def test_officers_act_for_their_own_unit_only(right):
    assert authorize(SNV, right) == "snv"  # no unit named: narrowed to its own
    assert authorize(SNV, right, unit="snv") == "snv"
    assert authorize(SNV, right, unit=" SNV ") == "snv"
    with pytest.raises(PermissionDenied, match="^snv@danang.gov.vn is a unit officer of snv: "
                       "cannot act for unit sgtvt$"):
        authorize(SNV, right, unit="sgtvt")


def test_a_record_of_another_unit():
    e = other_unit("snv@danang.gov.vn", "snv", "sgtvt", what="request #7")
    assert isinstance(e, PermissionDenied)
    assert e.message == (
        "snv@danang.gov.vn is a unit officer of snv: cannot act for unit sgtvt (request #7)"
    )
