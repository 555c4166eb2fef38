"""The interface's catalogs are whole and current (issue 13 §1, docs/translations.md).

- every message of the code (extracted by Babel, as scripts/i18n does, into a
  temporary .pot) has a Vietnamese translation, none fuzzy; no catalog keeps a
  message the code no longer has (stale);
- a translation keeps the placeholders of its message ({name}, %s), or formatting it
  would fail at the moment an operator needs the message;
- every message is a plain literal: `_(f"…")` or `_(a_variable)` is never extracted;
- the shipped .mo files say exactly what their .po say (CI: compiled catalogs match).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "dnmail"
LOCALE = SRC / "locale"
LANGS = ("vi", "en")


def _po(lang: str):
    with open(LOCALE / lang / "LC_MESSAGES" / "dnmail.po", "rb") as f:
        return read_po(f)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> dict:
    pot = tmp_path_factory.mktemp("pot") / "dnmail.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", "babel.cfg",
         "-k", "N_", "--no-location", "-o", str(pot), "src/dnmail"],
        cwd=ROOT, check=True, capture_output=True, timeout=120,
    )
    with open(pot, "rb") as f:
        return {m.id: m for m in read_po(f) if m.id}


@pytest.mark.parametrize("lang", LANGS)
def test_catalog_holds_exactly_the_messages_of_the_code(extracted, lang):
    catalog = {m.id: m for m in _po(lang) if m.id}
    missing = sorted(str(k) for k in extracted.keys() - catalog.keys())
    stale = sorted(str(k) for k in catalog.keys() - extracted.keys())
    fix = "run scripts/i18n update, translate, scripts/i18n compile (docs/translations.md)"
    assert not missing, (
        f"{lang}: {len(missing)} messages not in the catalog ({fix}): {missing[:10]}"
    )
    assert not stale, f"{lang}: {len(stale)} stale messages ({fix}): {stale[:10]}"
    fuzzy = sorted(str(k) for k, m in catalog.items() if m.fuzzy)
    assert not fuzzy, f"{lang}: fuzzy entries: {fuzzy[:10]}"


def test_every_message_has_a_vietnamese_translation():
    untranslated = [
        m.id
        for m in _po("vi")
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    assert not untranslated, f"{len(untranslated)} untranslated: {untranslated[:10]}"


_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%(?:\([^)]*\))?[sdr]")


@pytest.mark.parametrize("lang", LANGS)
def test_translations_keep_the_placeholders(lang):
    bad = []
    for m in _po(lang):
        if not m.id or not m.string:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        want = {tuple(sorted(_PLACEHOLDER.findall(i))) for i in ids}
        for s in strings:
            if s and tuple(sorted(_PLACEHOLDER.findall(s))) not in want:
                bad.append(ids[0])
    assert not bad, f"{lang}: translations whose placeholders differ from the message: {bad[:10]}"


def test_vietnamese_translation_differs_from_the_english_where_it_has_words():
    """A msgstr copied from its msgid passes the other tests but shows English."""
    same = [
        m.id
        for m in _po("vi")
        if isinstance(m.id, str) and m.string == m.id and re.search(r"[A-Za-z]{4,}", _strip(m.id))
    ]
    assert not same, f"vi entries left in English: {same[:10]}"


def _strip(text: str) -> str:
    """`text` without what stays as it is in every language: placeholders, options,
    commands and names in back quotes, file names, URLs, codes."""
    text = _PLACEHOLDER.sub("", text)
    text = re.sub(
        r"`[^`]*`|--?[a-z][a-z-]*|\$[A-Z_]+|\S+@\S+|\S+\.(?:xlsx|csv|json|pdf|toml)\b", "", text
    )
    return text


_TRANSLATORS = {"_", "ngettext", "N_"}


def test_every_message_is_a_literal():
    """Babel extracts literals only: `_(f"…")` or `_(name)` would reach people in
    English whatever the language (a text marked N_ elsewhere goes through `later`)."""
    bad = []
    for path in SRC.rglob("*.py"):
        if path.name == "i18n.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in _TRANSLATORS
            ):
                n = 2 if node.func.id == "ngettext" else 1
                args = node.args[:n]
                if len(args) < n or not all(
                    isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args
                ):
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not bad, f"messages that are not plain string literals: {bad[:10]}"


def _entries(messages) -> dict:
    """id -> translation of the translated entries (plural ones as tuples)."""
    out = {}
    for m in messages:
        ids = tuple(m.id) if isinstance(m.id, list | tuple) else m.id
        strings = tuple(m.string) if isinstance(m.string, list | tuple) else m.string
        if ids and strings and strings != ids and (not isinstance(strings, tuple) or all(strings)):
            out[ids] = strings
    return out


@pytest.mark.parametrize("lang", LANGS)
def test_compiled_catalog_matches_its_source(lang):
    """The .mo shipped (package data) says what the .po says: `scripts/i18n compile`."""
    po = _po(lang)
    with open(LOCALE / lang / "LC_MESSAGES" / "dnmail.mo", "rb") as f:
        mo = read_mo(f)
    want = _entries(m for m in po if not m.fuzzy)
    if lang == "vi":
        assert want, "the Vietnamese catalog is empty"
    got = _entries(mo)
    assert got == want, f"{lang}: dnmail.mo differs from dnmail.po: run scripts/i18n compile"
    assert mo.plural_forms == po.plural_forms


def test_no_function_hides_the_translator():
    """A local named `_` (`for _, h in rows`) in a function that calls `_()` makes
    every `_()` of that function an UnboundLocalError or a call of a string."""
    bad = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = [n for stmt in fn.body for n in ast.walk(stmt)]
            assigns = any(
                isinstance(n, ast.Name) and n.id == "_" and isinstance(n.ctx, ast.Store)
                for n in _own_scope(fn)
            )
            calls = any(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "_"
                for n in body
            )
            if assigns and calls:
                bad.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name}")
    assert not bad, f"functions that both assign _ and call _(): {bad}"


_SCOPES = (
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.Lambda,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
)


def _own_scope(fn):
    """The nodes of `fn` that bind in its own scope (not in a comprehension's)."""
    todo = list(fn.body)
    while todo:
        node = todo.pop()
        yield node
        todo.extend(c for c in ast.iter_child_nodes(node) if not isinstance(c, _SCOPES))
