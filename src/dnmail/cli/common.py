"""Shared state of one CLI invocation (global options), reachable from every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from dnmail.cli.render import Output

if TYPE_CHECKING:
    from dnmail.services.runtime import Runtime


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


@dataclass
class State:
    config_path: Path | None = None
    output: Output = field(default_factory=Output)
    actor: str | None = None
    _runtime: Runtime | None = None

    def runtime(self) -> Runtime:
        if self._runtime is None:
            from dnmail.config import load_config
            from dnmail.services.runtime import DEFAULT_ACTOR, Runtime

            cfg = load_config(self.config_path)
            actor = self.actor or cfg.operator or DEFAULT_ACTOR
            self._runtime = Runtime(cfg, actor=actor)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State()
    return root.obj
