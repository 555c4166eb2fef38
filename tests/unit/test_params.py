"""cli/params.py reads command-line values without pydantic: for every parameter of every
command, and for good and bad values alike, it gives what Typer's own coercion gives —
the same value, or the same error in the same words."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import get_args, get_origin

import pytest
import typer

from dnmail.cli import params
from dnmail.cli.main import HELP_OPTIONS, app

pytest.importorskip("typer._coercion")
from typer._click.exceptions import BadParameter  # noqa: E402
from typer._coercion import build_runtime_param  # noqa: E402


def all_params():
    def walk(command, path):
        ctx = typer.Context(command, help_option_names=HELP_OPTIONS)
        for param in [*command.params, command.get_help_option(ctx)]:
            if param is not None:
                yield f"{path} {param.name}", command, param
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, f"{path} {name}")

    return list(walk(typer.main.get_command(app), "dnmail"))


def samples(annotation, tmp: Path) -> list:
    one = get_args(annotation)[0] if get_origin(annotation) is list else annotation
    if one is bool:
        values: list = [True, False]
    elif isinstance(one, type) and issubclass(one, Enum):
        values = [m.value for m in one] + [m.value.upper() for m in one] + ["nope", ""]
    elif one is int:
        values = ["5", " 7 ", "0", "-1", "100001", "abc", "1.5", "", "1_000", "+3", "٣"]
    elif one is Path:
        (tmp / "file.txt").write_text("x")
        values = [str(tmp / "file.txt"), str(tmp), str(tmp / "missing.xlsx"), "-"]
    else:
        values = ["snv", " spaced ", "Đỗ Văn A", ""]
    if get_origin(annotation) is list:
        return [[v] for v in values] + [values[:2]]
    return values


def outcome(runtime_param, value, param, ctx):
    try:
        return "value", runtime_param.coerce(value, param=param, ctx=ctx)
    except BadParameter as e:
        return "error", e.message


@pytest.mark.parametrize(
    "where,command,param", all_params(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_plain_coercion_is_typers(where, command, param, tmp_path):
    plain = params._plain_param(param)
    if plain is None:
        pytest.skip(f"{where}: Typer's own coercion ({param.type_descriptor.annotation})")
    typers = build_runtime_param(param.type_descriptor)
    ctx = typer.Context(command)
    for value in samples(param.type_descriptor.annotation, tmp_path):
        assert outcome(plain, value, param, ctx) == outcome(typers, value, param, ctx), (
            where,
            value,
        )


def test_every_parameter_of_a_common_command_is_read_without_pydantic():
    covered = {where for where, _c, p in all_params() if params._plain_param(p) is not None}
    for where in (
        "dnmail config",
        "dnmail fmt",
        "dnmail queue list limit",
        "dnmail queue list status",
        "dnmail request create staff",
        "dnmail request import files",
        "dnmail provision request_ids",
    ):
        assert where in covered
