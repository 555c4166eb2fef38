"""deploy/slapd/example/ is what `dnmail deploy render` writes with production defaults:
a copy kept for reading (the ACLs, indexes and policy a reviewer checks), never edited by
hand. A change to the templates in src/dnmail/local/templates/ must come with a fresh
render of the examples:

    DNMAIL_WRITE_EXAMPLES=1 .venv/bin/python -m pytest tests/unit/test_deploy_examples.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from dnmail.local.render import IDENTITIES, DirectoryLayout, ProductionSettings, TlsFiles

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "slapd"
# example/: the by-unit layout; example-flat/: `--layout flat` (unit officers' rights
# keyed on departmentNumber).
LAYOUTS = {"example": DirectoryLayout(), "example-flat": DirectoryLayout(kind="flat")}
# The real hashes are made per server from its passwords (secrets.json of the render).
HASH = "{{SSHA}}hash-of-the-{}-password-written-by-dnmail-deploy-render"
TLS = TlsFiles(
    cert=Path("/etc/ldap/tls/ldap.pem"),
    key=Path("/etc/ldap/tls/ldap.key"),
    ca=Path("/etc/ldap/tls/ca.pem"),
)


def fresh_render(example: str = "example") -> dict[str, str]:
    settings = ProductionSettings(tls=TLS, layout=LAYOUTS[example])
    return settings.files({who: HASH.format(who) for who in IDENTITIES})


@pytest.mark.parametrize("example", sorted(LAYOUTS))
def test_deploy_examples_equal_a_fresh_render(example):
    fresh = fresh_render(example)
    examples = DEPLOY / example
    if os.environ.get("DNMAIL_WRITE_EXAMPLES") == "1":
        examples.mkdir(parents=True, exist_ok=True)
        for old in examples.glob("*.ldif"):
            old.unlink()
        for name, text in fresh.items():
            (examples / name).write_text(text, encoding="utf-8")
    assert sorted(p.name for p in examples.glob("*.ldif")) == sorted(fresh)
    for name, text in fresh.items():
        assert (examples / name).read_text(encoding="utf-8") == text, (
            f"deploy/slapd/{example}/{name} differs from a fresh render: "
            "DNMAIL_WRITE_EXAMPLES=1 pytest tests/unit/test_deploy_examples.py"
        )


@pytest.mark.parametrize("example", sorted(LAYOUTS))
def test_every_placeholder_is_filled_and_no_password_is_in_clear(example):
    for name, text in fresh_render(example).items():
        assert not re.findall(r"@[A-Z][A-Z0-9_]*@", text), name
    base = fresh_render(example)["base.ldif"]
    assert base.count("userPassword: {SSHA}") == 2  # cn=dnmail and cn=mailauth


def test_flat_rules_key_officers_on_the_unit_attribute():
    flat = fresh_render("example-flat")["dnmail.ldif"]
    assert 'set="this/departmentNumber & user/uid"' in flat
    assert "olcDbIndex: departmentNumber eq" in flat
    assert "dn.regex" not in flat  # no branch rule: there are no branches
    assert 'set="' not in fresh_render("example")["dnmail.ldif"]
