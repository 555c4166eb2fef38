"""Shared state of one CLI invocation (global options), reachable from every command."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dnmail.cli.render import Output
from dnmail.i18n import _

if TYPE_CHECKING:
    from dnmail.services.operators import Right
    from dnmail.services.runtime import Runtime


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Language(StrEnum):
    vi = "vi"
    en = "en"


class FileEncoding(StrEnum):
    """`--encoding` of the commands that read rosters and slips (readers/legacy.py)."""

    tcvn3 = "tcvn3"
    vni = "vni"
    unicode = "unicode"
    utf_8 = "utf-8"
    utf_16 = "utf-16"
    cp1258 = "cp1258"


ENCODING_HELP = _(
    "How the file's Vietnamese was typed, when dnmail cannot tell: tcvn3 (ABC, .VnTime "
    "fonts), vni (VNI-Times) or unicode (convert nothing); for a CSV file also utf-8, "
    "utf-16 or cp1258 (Windows-1258). Default: detected per column, with a warning."
)


def encoding_value(value: FileEncoding | None) -> str | None:
    return None if value is None else value.value


@dataclass
class State:
    config_path: Path | None = None
    output: Output = field(default_factory=Output)
    actor: str | None = None
    _runtime: Runtime | None = None

    def runtime(self) -> Runtime:
        """The command's Runtime, its operator identified (a unit officer or an IID
        administrator; anyone else is refused before anything is done)."""
        if self._runtime is None:
            from dnmail.config import load_config
            from dnmail.services.runtime import DEFAULT_ACTOR, Runtime

            cfg = load_config(self.config_path)
            actor = self.actor or cfg.operator.account or DEFAULT_ACTOR
            rt = Runtime(cfg, actor=actor)
            try:
                rt.identify()
            except BaseException:
                rt.close()
                raise
            self._runtime = rt
        return self._runtime

    def authorize(self, right: Right, *, unit: str | None = None) -> str | None:
        """The command's one permission check (services/operators.py). Returns the unit
        the command keeps to: an officer's own unit, or `unit` as given for IID."""
        return self.runtime().authorize(right, unit=unit)

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj


@contextmanager
def progress_bar(
    out: Output, label: str, total: Callable[[], int | None] = lambda: None, *, when: bool = True
) -> Iterator[Callable[[int], None] | None]:
    """A progress callback (items done) drawing a bar on a terminal; None in cron, with
    --quiet, or unless `when`. `total` is asked only when a bar is drawn."""
    if not (when and sys.stderr.isatty() and not out.quiet):
        yield None
        return
    from rich.progress import Progress

    bar = Progress(console=out.err, transient=True)
    task = bar.add_task(label, total=total())
    bar.start()
    try:
        yield lambda n: bar.advance(task, n)
    finally:
        bar.stop()
