"""Every command of the dnmail CLI, walked from its Typer app (used by the docs and the
permissions tests)."""

from __future__ import annotations

from collections.abc import Iterator

import typer


def all_commands(typer_app: typer.Typer, prefix: str = "dnmail") -> Iterator[tuple[str, object]]:
    """(command path, click command) of every leaf command under `typer_app`."""
    cmd = typer.main.get_command(typer_app)

    def walk(c, path):
        subs = getattr(c, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, f"{path} {name}")
        else:
            yield path, c

    yield from walk(cmd, prefix)
