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

from dnmail.local.render import IDENTITIES, ProductionSettings, TlsFiles

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "slapd" / "example"
# The real hashes are made per server from its passwords (secrets.json of the render).
HASH = "{{SSHA}}hash-of-the-{}-password-written-by-dnmail-deploy-render"
TLS = TlsFiles(
    cert=Path("/etc/ldap/tls/ldap.pem"),
    key=Path("/etc/ldap/tls/ldap.key"),
    ca=Path("/etc/ldap/tls/ca.pem"),
)


def fresh_render() -> dict[str, str]:
    return ProductionSettings(tls=TLS).files({who: HASH.format(who) for who in IDENTITIES})


def test_deploy_examples_equal_a_fresh_render():
    fresh = fresh_render()
    if os.environ.get("DNMAIL_WRITE_EXAMPLES") == "1":
        EXAMPLES.mkdir(parents=True, exist_ok=True)
        for old in EXAMPLES.glob("*.ldif"):
            old.unlink()
        for name, text in fresh.items():
            (EXAMPLES / name).write_text(text, encoding="utf-8")
    assert sorted(p.name for p in EXAMPLES.glob("*.ldif")) == sorted(fresh)
    for name, text in fresh.items():
        assert (EXAMPLES / name).read_text(encoding="utf-8") == text, (
            f"deploy/slapd/example/{name} differs from a fresh render: "
            "DNMAIL_WRITE_EXAMPLES=1 pytest tests/unit/test_deploy_examples.py"
        )


def test_every_placeholder_is_filled_and_no_password_is_in_clear():
    for name, text in fresh_render().items():
        assert not re.findall(r"@[A-Z][A-Z0-9_]*@", text), name
    base = fresh_render()["base.ldif"]
    assert base.count("userPassword: {SSHA}") == 2  # cn=dnmail and cn=mailauth
