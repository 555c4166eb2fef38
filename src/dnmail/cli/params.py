"""Command-line values read without pydantic.

Typer (0.2x) turns every option value into its Python type through a pydantic
TypeAdapter: importing pydantic and building the adapters costs about a third of a
short command's start-up. dnmail's parameters are all plain — text, whole numbers
with bounds, paths, Enums, lists of these — so `install` gives each of them a coercion
that makes the same values and says the same errors in the same words, built from
Typer's own path and choice checks. A parameter of any other type, or a Typer that
works differently, keeps Typer's own coercion (tests/unit/test_params.py compares the
two for every parameter of every command).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

from dnmail.i18n import _

try:  # Typer's coercion layer (0.2x): absent from other versions, which need nothing
    from typer._click.exceptions import BadParameter
    from typer._coercion import RuntimeParam
    from typer._param_types import coerce_cli_choice, coerce_cli_path
except ImportError:  # pragma: no cover - another Typer
    RuntimeParam = None  # type: ignore[assignment,misc]


def install(param: Any) -> None:
    """Give `param` (a Typer option or argument) a plain coercion when it has a plain type."""
    if RuntimeParam is None:  # pragma: no cover - another Typer
        return
    plain = _plain_param(param)
    if plain is not None:
        param._runtime_param = plain


def _plain_param(param: Any) -> Any:
    desc = getattr(param, "type_descriptor", None)
    if desc is None or getattr(param, "_runtime_param", "absent") is not None:
        return None
    info = desc.parameter_info
    annotation = desc.annotation
    many = get_origin(annotation) is list
    convert = _converter(get_args(annotation)[0] if many else annotation, info)
    if convert is None or info.parser is not None or getattr(info, "clamp", False):
        return None
    return _PlainParam(info, annotation, convert, many)


def _converter(annotation: Any, info: Any) -> Callable[[Any, Any, Any], Any] | None:
    if annotation is bool:  # a flag: True or False already, or None when not given
        return _flag
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(tuple(annotation), info.case_sensitive)
    if annotation is str:
        return lambda value, param, ctx: value if isinstance(value, str) else str(value)
    if annotation is int:
        return _integer(info.min, info.max)
    if annotation is Path:
        return lambda value, param, ctx: coerce_cli_path(
            Path(value), info, path_type=Path, param=param, ctx=ctx
        )
    return None


def _flag(value: Any, param: Any, ctx: Any) -> Any:
    if isinstance(value, bool):
        return value
    # A flag's value as text (from an environment variable): Typer's own reading.
    from typer._coercion import build_runtime_param

    return build_runtime_param(param.type_descriptor).coerce(value, param=param, ctx=ctx)


def _choice(choices: tuple, case_sensitive: bool) -> Callable[[Any, Any, Any], Any]:
    def convert(value: Any, param: Any, ctx: Any) -> Any:
        try:
            return coerce_cli_choice(value, choices=choices, case_sensitive=case_sensitive, ctx=ctx)
        except ValueError as e:
            raise BadParameter(_choice_error(str(e)), ctx=ctx, param=param) from None

    return convert


def _choice_error(text: str) -> str:
    """Typer's "'x' is not one of 'a', 'b'." as pydantic says it, in our words."""
    value, one_of, choices = text.removesuffix(".").partition(" is not one of ")
    if not one_of:
        return f"Value error, {text}"
    return _("Value error, {value} is not one of {choices}.").format(
        value=value, choices=choices
    )


def _integer(low: Any, high: Any) -> Callable[[Any, Any, Any], Any]:
    def convert(value: Any, param: Any, ctx: Any) -> int:
        try:
            if isinstance(value, str) and not value.isascii():
                raise ValueError(value)  # int() reads other scripts' digits; pydantic does not
            number = int(value.strip()) if isinstance(value, str) else int(value)
        except (TypeError, ValueError):
            raise BadParameter(
                _("Input should be a valid integer, unable to parse string as an integer"),
                ctx=ctx,
                param=param,
            ) from None
        if low is not None and number < low:
            raise BadParameter(
                _("Input should be greater than or equal to {low}").format(low=low),
                ctx=ctx, param=param,
            )
        if high is not None and number > high:
            raise BadParameter(
                _("Input should be less than or equal to {high}").format(high=high),
                ctx=ctx, param=param,
            )
        return number

    return convert


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _PlainParam(RuntimeParam):  # type: ignore[misc,valid-type]
        """A RuntimeParam with a plain converter (of one value, or of each of a list)."""

        convert: Callable[[Any, Any, Any], Any]
        many: bool

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.many:
                items = value if isinstance(value, list | tuple) else [value]
                return [self.convert(v, param, ctx) for v in items]
            return self.convert(value, param, ctx)
