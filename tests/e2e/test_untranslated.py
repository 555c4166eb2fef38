"""Nothing printed in Vietnamese is left in English (issue 13 §1): a set of commands run
under `vi` — the help of every command, an error of each kind (bad usage, a file not
found, a configuration error, a directory that cannot be reached) — and their output
holds no piece of an English message of the catalog (the `en` catalog's message ids).

The commands run in one child process (`python -c DRIVER`), the interface's language
chosen as a user's would be (DNMAIL_LANG=vi), one `invoke` each: as many processes
would cost the suite a second per command. Extend the cases with the commands of a new
area once its messages are translated (the README demo's, issue 13 §1).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "src" / "dnmail" / "locale"
_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%(?:\([^)]*\))?[sdr]")
_FRAME = re.compile(r"[│╭╮╰╯─]+")
_VIETNAMESE_WORD = re.compile(r"\S*[^\x00-\x7f]\S*")

#: Runs each argv of the JSON list on stdin through dnmail's one entry point and prints
#: what it wrote, with its exit code; `["help"]` stands for the help of every command.
DRIVER = r"""
import contextlib, io, json, sys
import typer
from dnmail.cli.main import app, invoke

def paths(command, path):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from paths(sub, [*path, name])

runs = []
for argv in json.load(sys.stdin):
    if argv == ["help"]:
        todo = [[*p, "--help"] for p in paths(typer.main.get_command(app), [])]
    else:
        todo = [argv]
    for args in todo:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = invoke(args)
        runs.append({"args": args, "code": code, "out": out.getvalue(), "err": err.getvalue()})
json.dump(runs, sys.stdout)
"""


def english_pieces() -> dict[str, str]:
    """Each piece of English text (three words or more, between placeholders and the
    Vietnamese words an English message quotes, as 'Mã hồ sơ') of every message the
    Vietnamese catalog translates, with its message id."""
    with open(LOCALE / "vi" / "LC_MESSAGES" / "dnmail.po", "rb") as f:
        vi = {m.id: m.string for m in read_po(f) if m.id}
    with open(LOCALE / "en" / "LC_MESSAGES" / "dnmail.po", "rb") as f:
        ids = [m.id for m in read_po(f) if m.id]
    pieces = {}
    for mid in ids:
        translation = vi.get(mid) or ""
        if isinstance(translation, tuple):
            translation = " ".join(translation)
        kept = " ".join(translation.split())
        for text in mid if isinstance(mid, tuple) else (mid,):
            for part in _PLACEHOLDER.split(text):
                for piece in _VIETNAMESE_WORD.split(" ".join(part.split())):
                    piece = piece.strip()
                    # a piece the translation keeps as it is (values, options, commands)
                    # is no English left untranslated
                    if len(piece.split()) > 2 and piece not in kept:
                        pieces[piece] = text
    return pieces


def run_vi(cases: list[list[str]], *, env: dict[str, str], cwd: Path) -> list[dict]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("DNMAIL_")}
    e.update(env, DNMAIL_LANG="vi", COLUMNS="100")
    done = subprocess.run(
        [sys.executable, "-c", DRIVER], input=json.dumps(cases), capture_output=True,
        text=True, env=e, cwd=cwd, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def setup(tmp_path):
    """A configuration with a SQLite database and a directory nobody answers at, and
    one that names an unknown key."""
    (tmp_path / "data").mkdir(mode=0o700)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite"}"\n'
        '[directory]\nurl = "ldap://127.0.0.1:9"\ntimeout = 1\n',
        encoding="utf-8",
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('[directory]\nurll = "ldap://x"\n', encoding="utf-8")
    for f in (cfg, bad):
        f.chmod(0o600)
    return tmp_path, cfg, bad


def test_nothing_printed_in_vietnamese_is_english(setup):
    tmp, cfg, bad = setup
    c = ["--config", str(cfg)]
    cases = [
        ["help"],
        ["queue"],  # a group without its command: its help
        # bad usage, each kind Typer's parser has
        ["queue", "list", "--bogus"],
        ["lock"],
        ["lock", "x"],
        ["lock", "x", "--reason", "foo"],
        ["bogus"],
        ["queue", "lst"],
        ["audit", "list", "--limit", "0"],
        ["audit", "list", "--limit", "x"],
        ["provision", "--limit"],
        ["unit", "list", "extra"],
        ["template", "slip", "-o", str(tmp)],
        ["--version", "--bogus"],
        # a file not found, a bad file name
        ["--config", str(tmp / "nowhere.toml"), "unit", "list"],
        ["template", "slip", "-o", str(tmp / "slip.pdf")],
        # configuration errors
        ["--config", str(bad), "unit", "list"],
        [*c, "init"],  # no bind password
        # the database before and after init, the directory unreachable
        [*c, "unit", "list"],
        [*c, "init", "--skip-directory"],
        [*c, "init", "--skip-directory"],
        [*c, "unit", "list"],
        [*c, "template", "slip", "-o", str(tmp / "slip.xlsx")],
        [*c, "template", "slip", "-o", str(tmp / "slip.xlsx")],
        ["local", "status", "--dir", str(tmp / "slapd")],
        ["local", "stop", "--dir", str(tmp / "slapd")],
    ]
    runs = run_vi(cases, env={}, cwd=tmp)
    runs += run_vi([[*c, "init"]], env={"DNMAIL_BIND_PASSWORD": "x"}, cwd=tmp)
    pieces = english_pieces()
    assert len(pieces) > 200  # the catalog was read
    found = []
    for r in runs:
        text = " ".join(_FRAME.sub(" ", r["out"] + "\n" + r["err"]).split())
        assert "Traceback" not in text and "lỗi nội bộ" not in text, r
        found += [
            f"dnmail {' '.join(r['args'])}: {piece!r} (of {mid!r})"
            for piece, mid in pieces.items()
            if piece in text
        ]
    assert not found, "English under vi:\n" + "\n".join(found)
    # the kinds of output meant: help, usage errors (2), a directory unreachable (4)
    codes = {tuple(r["args"]): r["code"] for r in runs}
    assert codes[("queue", "list", "--bogus")] == 2
    assert codes[(*c, "init")] == 4
    assert sum(1 for r in runs if r["args"][-1:] == ["--help"]) > 40
    every = " ".join(r["out"] + r["err"] for r in runs)
    for word in ("Cách dùng:", "Tùy chọn", "Lệnh", "Lỗi", "Xem 'dnmail", "Thiếu tham số",
                 "Không có tùy chọn", "không kết nối được thư mục LDAP"):
        assert word in every, word
    # Typer's own words are short: too short for the pieces above, named here.
    for english in ("Usage:", "─ Options", "─ Commands", "─ Arguments", "─ Error", "Try '",
                    "Missing ", "No such ", "Invalid value", "[default:", "[required]",
                    "Show this message", "[OPTIONS]", "COMMAND [ARGS]", "Did you mean",
                    "Got unexpected", "requires an argument", "<str>", "<int", "<file>",
                    "<path>", "<dir>", "<list["):
        assert english not in every, english


def test_english_stays_typer_s_own_words(tmp_path):
    """Under `en` the toolkit's words are the ones Typer prints itself."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("DNMAIL_")}
    e.update(DNMAIL_LANG="en", COLUMNS="100")
    runs = json.loads(subprocess.run(
        [sys.executable, "-c", DRIVER], capture_output=True, text=True, env=e, cwd=tmp_path,
        input=json.dumps([["--help"], ["queue", "list", "--help"], ["queue", "list", "--bogus"],
                          ["lock"], ["lock", "x", "--reason", "foo"], ["queue", "lst"]]),
        timeout=120, check=True,
    ).stdout)
    text = "\n".join(r["out"] + r["err"] for r in runs)
    for words in ("Usage: dnmail [OPTIONS] COMMAND [ARGS]...", "─ Options ─", "─ Commands ─",
                  "─ Error ─", "Try 'dnmail queue list -h' for help.", "[default: table]",
                  "<str>", "<file>", "<int range> [1<=x<=100000]",
                  "No such option: --bogus", "Missing argument 'address'.",
                  "Invalid value for '--reason': Value error, 'foo' is not one of 'retired', ",
                  "No such command 'lst'. Did you mean 'list'?"):
        assert words in text, words
