"""Every command's --help reads well: flags show no `<bool>` type (they take no value),
and a paragraph breaks its lines only where the terminal is full, never where the
docstring's source line happened to end."""

from __future__ import annotations

import itertools
import re

import pytest
import typer

from dnmail.cli.main import app, invoke

WIDTHS = (80, 250)


def command_paths() -> list[list[str]]:
    def walk(command, path):
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


def description(text: str) -> list[list[str]]:
    """The paragraphs above the first panel (usage line left out), as lists of lines."""
    head = text.split("╭", 1)[0]
    paragraphs = [[line.strip() for line in p.splitlines()] for p in re.split(r"\n\s*\n", head)]
    return [[line for line in p if line] for p in paragraphs if "Usage:" not in "".join(p)]


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "dnmail")
def test_help_has_no_bool_metavar_and_no_early_line_breaks(path, capsys, monkeypatch):
    for width in WIDTHS:
        monkeypatch.setenv("COLUMNS", str(width))
        capsys.readouterr()
        assert invoke([*path, "--help"]) == 0
        out = capsys.readouterr().out
        assert "<bool>" not in out, f"dnmail {' '.join(path)} --help shows <bool>"
        for paragraph in description(out):
            for line, following in itertools.pairwise(paragraph):
                fits = len(line) + 1 + len(following.split()[0]) <= width - 2
                assert not fits, (
                    f"dnmail {' '.join(path)} --help at {width} columns breaks the line "
                    f"{line!r} before {following.split()[0]!r}"
                )
