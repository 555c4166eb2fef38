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


# -- every layer (docs/architecture.md) ------------------------------------------------

SRC = CLI.parent
ARCHITECTURE = SRC.parents[1] / "docs" / "architecture.md"
#: What each folder (or top-level module) of dnmail may import of dnmail, besides itself.
#: Entries with a dot allow one module of a layer and nothing else of it.
MAY_IMPORT: dict[str, set[str]] = {
    "__init__": set(),
    "__main__": {"cli"},
    "cli": {"services", "domain", "config", "clock", "errors", "i18n", "dnmail", "local",
            "exports.slip_template"},
    "services": {"directory", "readers", "signatures", "exports", "db", "domain", "config",
                 "clock", "errors", "i18n", "dnmail"},
    "directory": {"domain", "config", "errors", "i18n"},
    "readers": {"signatures", "domain", "config", "errors", "i18n"},
    "signatures": {"readers.safety", "domain", "config", "errors", "i18n"},
    "exports": {"domain", "config", "clock", "errors", "i18n"},
    "db": {"domain", "config", "errors", "i18n"},
    "domain": {"errors", "i18n"},
    "local": {"errors", "i18n"},
    "config": {"domain", "errors", "i18n"},
    "clock": {"errors"},
    "errors": {"domain.results", "i18n"},
    "i18n": set(),  # reads the [interface] key itself (tomllib), never config.py
}
#: Modules that an allowed sideways edge points at: they must stay leaves (docs/architecture.md,
#: "The one sideways edge"), importing nothing of dnmail but these.
LEAVES = {"readers.safety": {"errors", "i18n"}, "domain.results": set()}


def dnmail_imports(path: Path, text: str | None = None) -> set[str]:
    """The dnmail modules `path` imports (anywhere in it), as 'layer.module' without 'dnmail.'."""
    rel = path.relative_to(SRC).with_suffix("")
    package = ["dnmail", *rel.parts[:-1]]
    found = set()
    if text is None:
        text = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = [module] if node.module else [f"{module}.{a.name}" for a in node.names]
        else:
            continue
        found.update(n.removeprefix("dnmail.") if n != "dnmail" else "dnmail"
                     for n in names if n == "dnmail" or n.startswith("dnmail."))
    return found


def layer_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


SOURCES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_what_its_layer_may(path):
    layer = layer_of(path)
    assert layer in MAY_IMPORT, (
        f"{layer}: a new layer; give it a rule here and in {ARCHITECTURE.name}"
    )
    allowed = MAY_IMPORT[layer]
    wrong = sorted(
        m for m in dnmail_imports(path)
        if m.split(".")[0] != layer
        and m.split(".")[0] not in allowed
        and not any(m == a or m.startswith(a + ".") for a in allowed if "." in a)
    )
    assert wrong == [], (
        f"{path.relative_to(SRC)} ({layer}/) imports {wrong}; "
        f"docs/architecture.md allows {sorted(allowed)}"
    )


@pytest.mark.parametrize("leaf", sorted(LEAVES))
def test_sideways_edges_point_at_leaves(leaf):
    path = SRC / (leaf.replace(".", "/") + ".py")
    assert dnmail_imports(path) <= LEAVES[leaf], f"{leaf} must stay a leaf: it closes a loop"


def test_the_layer_rules_draw_no_loop():
    """Read as a graph (a dotted entry is a node of its own, held a leaf above), the rules
    allow no cycle: a layer never reaches itself through what it may import."""
    edges = {layer: {a for a in allowed if a != layer} for layer, allowed in MAY_IMPORT.items()}
    edges.update({leaf: set(allowed) for leaf, allowed in LEAVES.items()})
    edges.setdefault("dnmail", set())

    def loop_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in sorted(edges.get(node, ())):
                if nxt == start:
                    return [*path, nxt]
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    loops = [loop for layer in sorted(edges) if (loop := loop_from(layer))]
    assert loops == [], f"the layer rules allow a loop: {' → '.join(loops[0])}"


def test_the_layer_rules_in_the_doc_and_here_are_the_same():
    doc = ARCHITECTURE.read_text(encoding="utf-8")
    for layer in MAY_IMPORT:
        if layer.startswith("__"):
            continue
        name = f"`{layer}/`" if (SRC / layer).is_dir() else f"`{layer}.py`"
        assert f"| {name} |" in doc, f"docs/architecture.md has no row for {name}"


def test_the_walker_sees_lazy_and_relative_imports():
    """So that the rules above can fail: a lazy import and a relative one are both seen."""
    text = "def f():\n    from dnmail.services import audit\n    from ..db import models\n"
    assert dnmail_imports(SRC / "domain" / "probe.py", text) == {"services", "db"}
