"""The CLI is thin (STYLE habit 1): it parses, calls one service, renders. It never talks
SQL or LDAP and never opens a unit of work; services own their transactions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / "src" / "dnmail" / "cli"
DRIVERS = ("sqlalchemy", "ldap3", "psycopg")
#: Calls that open or hold a unit of work: services do that, the CLI never does.
TRANSACTIONS = ("transaction", "session", "begin", "retrying")


def modules(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_cli_imports_no_driver_and_opens_no_transaction(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    drivers = sorted(m for m in modules(tree) if m.split(".")[0] in DRIVERS)
    assert drivers == [], f"cli/{path.name} imports {drivers}: call a service instead"
    calls = sorted(
        f"line {n.lineno}: .{n.func.attr}()"
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr in TRANSACTIONS
    )
    assert calls == [], f"cli/{path.name} opens a unit of work ({calls}): a service owns it"
