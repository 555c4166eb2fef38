"""What the guards say when they refuse, and the corners of their rules, pinned down.

The mutation run (docs/testing.md) showed that the tests of signer pins and operators
checked the exception class of a refusal, not its words: a refusal that says nothing, or
the wrong thing, left them green. An operator acts on these messages, so they are part
of the rule.
"""

from __future__ import annotations

import pytest

from dnmail.errors import ConfigError, PermissionDenied
from dnmail.services.operators import Right, authorize, identify, other_unit
from dnmail.signatures.pins import SignerPin

FP = "ab" * 32
UNITS = {"snv@danang.gov.vn": "snv"}


def config_error(fn, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    return info.value.message


# --- signer pins ------------------------------------------------------------------------


def test_a_pin_is_one_form_or_the_other():
    both = "a signer pin is a fingerprint or issuer + serial, not both"
    assert config_error(SignerPin, fingerprint=FP, issuer="CN=x", serial=1) == both
    assert config_error(SignerPin, fingerprint=FP, issuer="CN=x") == both
    assert config_error(SignerPin, fingerprint=FP, serial=1) == both
    needs = "a signer pin needs a fingerprint, or an issuer and a serial"
    assert config_error(SignerPin) == needs
    assert config_error(SignerPin, issuer="CN=x") == needs
    assert config_error(SignerPin, serial=5) == needs
    pin = SignerPin(issuer="CN=Sub CA,O=X", serial=5)
    assert (pin.fingerprint, pin.issuer, pin.serial) == (None, "CN=Sub CA,O=X", 5)


def test_pin_serials_and_issuers_are_checked_with_words():
    assert config_error(SignerPin, issuer="CN=x", serial=-1) == "signer pin serial must be positive"
    assert SignerPin(issuer="CN=x", serial=0).serial == 0  # zero: odd, but some CAs issued it
    assert config_error(SignerPin, issuer="", serial=1).startswith("signer pin issuer")
    assert "is not an RFC 4514 DN" in config_error(SignerPin.parse, "issuer=not a dn;serial=1")
    message = config_error(SignerPin.parse, "issuer=CN=x;serial=03FFAB")
    assert message == ("signer pin 'issuer=CN=x;serial=03FFAB': serial '03FFAB' is not a decimal "
                       "number; write a hexadecimal serial (as `openssl x509 -serial` prints it) "
                       "as 0x03FFAB")
    # the prefix in either case, as openssl and people write it
    assert SignerPin.parse("issuer=CN=x;serial=0X1F").serial == 31
    assert SignerPin.parse("issuer=CN=x;serial=0x1f").serial == 31


def test_pin_parse_refusals_say_what_is_expected():
    assert config_error(SignerPin.parse, "  ") == "signer pin '  ' is empty"
    assert config_error(SignerPin.parse, None) == "signer pin None is empty"
    assert config_error(SignerPin.parse, "issuer=CN=x") == (
        "signer pin 'issuer=CN=x': expected 'issuer=<RFC 4514 DN>;serial=<number>'")
    assert config_error(SignerPin.parse, "sha256:1234") == (
        "signer pin 'sha256:1234': a fingerprint is 'sha256:' followed by 64 hex digits "
        "(colons, spaces and case are ignored)")
    assert config_error(SignerPin.parse, "CN=Nguyễn Văn An") == (
        "signer pin 'CN=Nguyễn Văn An': expected 'sha256:<64 hex digits>' or "
        "'issuer=<RFC 4514 DN>;serial=<number>'")


# --- operators ---------------------------------------------------------------------------


def denied(fn, *args, **kwargs) -> PermissionDenied:
    with pytest.raises(PermissionDenied) as info:
        fn(*args, **kwargs)
    return info.value


def test_identify_refuses_with_words_and_a_hint():
    e = denied(
        identify, "  ", admins=["iid-admin"], unit_accounts=UNITS, mail_domain="danang.gov.vn"
    )
    assert e.message == "no operator named: pass --as ACCOUNT or set [operator] account"
    e = denied(
        identify, "Stranger", admins=["iid-admin"], unit_accounts=UNITS, mail_domain="danang.gov.vn"
    )
    assert e.message == "'Stranger' is neither a unit's official account nor an IID administrator"
    assert e.hint == (
        "a unit officer gives its unit's account (e.g. --as snv@danang.gov.vn; see "
        "`dnmail unit list`); IID administrators are listed in [operator] admins"
    )
    # the local part alone names the unit's account; a full address of another domain does not
    assert (
        identify("SNV", admins=[], unit_accounts=UNITS, mail_domain="Danang.gov.vn").unit == "snv"
    )
    denied(
        identify, "snv@evil.example", admins=[], unit_accounts=UNITS, mail_domain="danang.gov.vn"
    )


def test_authorize_and_other_unit_name_the_operator_and_the_unit():
    officer = identify("snv", admins=[], unit_accounts=UNITS, mail_domain="danang.gov.vn")
    e = denied(authorize, officer, Right.PROVISION)
    assert (
        e.message
        == "snv@danang.gov.vn is a unit officer of snv: provisioning is for IID administrators"
    )
    e = denied(authorize, officer, Right.CREATE_REQUEST, unit=" SGTVT ")
    assert e.message == "snv@danang.gov.vn is a unit officer of snv: cannot act for unit sgtvt"
    assert other_unit("snv@danang.gov.vn", "snv", "sgtvt").message == (
        "snv@danang.gov.vn is a unit officer of snv: cannot act for unit sgtvt"
    )
    assert other_unit("snv@danang.gov.vn", "snv", "sgtvt", what="request #7").message == (
        "snv@danang.gov.vn is a unit officer of snv: cannot act for unit sgtvt (request #7)"
    )
