"""Typer's and Click's own words — "Usage:", "Options", "Error", "Missing argument",
"Try … for help" — in the interface's language (issue 13 §1).

Typer 0.2x carries its own copy of Click (`typer._click`) whose words are English
literals; Typer adds a few through `gettext.gettext` (typer.core) and module constants
(typer.rich_utils). None of them offers a hook for another language, and the standard
gettext domain they read follows the process's locale, not `--lang`. So each is set
from dnmail's own catalog where Typer reads it:

- typer.core's `_` becomes our `later` ("Missing command.", "No such command …",
  "default: …"): `localise_typer`, once, at no cost;
- the constants of typer.rich_utils (panel titles, "Try … for help", "[default: …]")
  are set when help or an error is about to be shown (`localise_rich`): loading rich
  costs a short command like `queue list` a third of its start-up;
- "Usage: ", "[OPTIONS]" and "COMMAND [ARGS]..." on the commands on the way to the one
  run (`localise_command`);
- a usage error is told again in our words from its kind and its parts
  (`usage_message`), then shown by Typer's own error panel (`show_usage_error`).

Every message id is the English text Typer prints, so under `en` nothing changes
(tests/unit/test_toolkit_words.py compares them with Typer's own output).
"""

from __future__ import annotations

import re
import sys
from typing import Any

from dnmail.i18n import N_, _, later

try:  # Typer 0.2x: its own copy of Click
    from typer._click import exceptions as click_exceptions
    from typer._click.core import Context
    from typer._click.formatting import HelpFormatter
except ImportError:  # pragma: no cover - a Typer on top of Click
    from click import exceptions as click_exceptions  # type: ignore[no-redef]
    from click.core import Context  # type: ignore[assignment,no-redef]
    from click.formatting import HelpFormatter  # type: ignore[assignment,no-redef]

#: What typer.core asks gettext for (listed here so that Babel extracts them).
TYPER_CORE_WORDS = (
    N_("Missing command."),
    N_("No such command {name!r}."),
    N_("default: {default}"),
    N_("required"),
    N_("env var: {var}"),
    N_("(dynamic)"),
    N_("Aborted!"),
    N_("Arguments"),
    N_("Options"),
    N_("Commands"),
)

#: typer.rich_utils' constants and their English values (the message ids).
RICH_WORDS = {
    "DEPRECATED_STRING": N_("(deprecated) "),
    "DEFAULT_STRING": N_("[default: {}]"),
    "ENVVAR_STRING": N_("[env var: {}]"),
    "REQUIRED_LONG_STRING": N_("[required]"),
    "ARGUMENTS_PANEL_TITLE": N_("Arguments"),
    "OPTIONS_PANEL_TITLE": N_("Options"),
    "COMMANDS_PANEL_TITLE": N_("Commands"),
    "ERRORS_PANEL_TITLE": N_("Error"),
    "ABORTED_TEXT": N_("Aborted."),
    "RICH_HELP": N_("Try [blue]'{command_path} {help_option}'[/] for help."),
}

#: The usage line's words, as Click's formatter and Typer's commands have them.
USAGE = N_("Usage: ")
OPTIONS_METAVAR = N_("[OPTIONS]")
SUBCOMMAND_METAVAR = N_("COMMAND [ARGS]...")


def localise_typer() -> None:
    """typer.core's words from our catalog (typer.core is loaded already: no cost)."""
    import typer.core

    if getattr(typer.core, "_", None) is not None:
        typer.core._ = later  # type: ignore[attr-defined]


def localise_rich() -> None:
    """typer.rich_utils' words in the interface's language: before help or an error."""
    try:
        from typer import rich_utils
    except ImportError:  # pragma: no cover - no rich: Typer prints plain text
        return
    for name, message in RICH_WORDS.items():
        if hasattr(rich_utils, name):
            setattr(rich_utils, name, later(message))
    usage = re.escape(later(USAGE))
    highlighter = getattr(rich_utils, "highlighter", None)
    if highlighter is not None:  # the usage line's prefix, highlighted in any language
        highlighter.highlights = [
            *type(highlighter).highlights, rf"(?P<usage>{usage})"
        ]


class _Formatter(HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, later(USAGE) if prefix is None else prefix)


class _Context(Context):
    formatter_class = _Formatter


def localise_command(command: Any) -> None:
    """The usage line of `command` ("Usage: dnmail [OPTIONS] COMMAND [ARGS]...") in the
    interface's language."""
    if getattr(command, "context_class", None) is Context:
        command.context_class = _Context
    if getattr(command, "options_metavar", None) == OPTIONS_METAVAR:
        command.options_metavar = later(OPTIONS_METAVAR)
    if getattr(command, "subcommand_metavar", None) == SUBCOMMAND_METAVAR:
        command.subcommand_metavar = later(SUBCOMMAND_METAVAR)


#: The types Typer names for a value in the help ("<str>", "<int range>"), as message ids.
TYPE_WORDS = {
    "str": N_("str"),
    "int": N_("int"),
    "float": N_("float"),
    "int range": N_("int range"),
    "float range": N_("float range"),
    "file": N_("file"),
    "directory": N_("directory"),
    "path": N_("path"),
    "dir": N_("dir"),
    "Path": N_("Path"),
}
LIST_OF = N_("list[{type}]")
_TYPE = re.compile(r"<(?:(?P<list>list)\[)?(?P<name>[A-Za-z ]+)\]?>(?P<more>(?:\.\.\.)?)")


def localise_types(command: Any, ctx: Any) -> None:
    """The value types the help of `command` shows ("<str>", "<file>") in the interface's
    language: only for a command whose help is about to be shown."""
    for param in command.params:
        try:
            shown = param.display_type_rich(ctx=ctx)
        except Exception:  # noqa: S112 - a parameter Typer shows its own way: as it is
            continue
        m = _TYPE.fullmatch(shown or "")
        if m is None or m["name"] not in TYPE_WORDS:
            continue
        name = later(TYPE_WORDS[m["name"]])
        if m["list"]:
            name = later(LIST_OF).format(type=name)
        text = f"<{name}>{m['more']}"
        if text != shown:
            param.display_type_rich = lambda ctx=None, _text=text: _text


# -- usage errors ----------------------------------------------------------------------

#: The English messages of Typer's Click (literals there), each with placeholders where
#: Click puts a value: the message id is also the pattern that recognises the text.
_CLICK_MESSAGES = (
    N_("Got unexpected extra argument(s) ({args})"),
    N_("Option {option} does not take a value."),
    N_("Option {option} requires an argument."),
    N_("Option {option} requires {n} arguments."),
    N_("Argument {argument} takes {n} values."),
    N_("{kind} {path} does not exist."),
    N_("{kind} {path} is a directory."),
    N_("{kind} {path} is a file."),
    N_("{kind} {path} is not readable."),
    N_("{kind} {path} is not writable."),
    N_("{message}. Did you mean {suggestions}?"),
)


def _pattern(message: str) -> re.Pattern[str]:
    """`message` as a pattern: its text literally, each {name} a group (shortest match,
    so that a quoted path with spaces stays whole in the last group)."""
    parts = re.split(r"\{(\w+)\}", message)
    return re.compile("".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.*?)" for i, part in enumerate(parts)
    ), re.S)


_MESSAGES = [(_pattern(m), m) for m in _CLICK_MESSAGES]
#: The kinds of path Typer names ({kind} above), "file" or "File" by its version.
_KINDS = {"file": N_("file"), "directory": N_("directory"), "path": N_("path")}


def translate_message(text: str) -> str:
    """One of Typer's literal English messages in the interface's language; any other
    text as it is."""
    for pattern, message in _MESSAGES:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        parts = m.groupdict()
        if "kind" in parts:
            if parts["kind"].lower() not in _KINDS:
                continue
            kind = later(_KINDS[parts["kind"].lower()])
            parts["kind"] = kind[:1].upper() + kind[1:] if parts["kind"][0].isupper() else kind
        if "message" in parts:
            parts["message"] = translate_message(parts["message"] + ".").removesuffix(".")
        return later(message).format(**parts)
    return text


def usage_message(error: Any) -> str:
    """What a usage error says, in the interface's language."""
    if isinstance(error, click_exceptions.MissingParameter):
        return _missing(error)
    if isinstance(error, click_exceptions.BadParameter):
        hint = _hint(error)
        message = translate_message(error.message)
        if hint is None:
            return _("Invalid value: {message}").format(message=message)
        return _("Invalid value for {name}: {message}").format(name=hint, message=message)
    if isinstance(error, click_exceptions.NoSuchOption):
        text = error.message
        if text == f"No such option: {error.option_name}":
            text = _("No such option: {option}").format(option=error.option_name)
        if error.possibilities:
            options = ", ".join(sorted(error.possibilities))
            text += " " + _("(Possible options: {options})").format(options=options)
        return text
    return translate_message(error.format_message())


def _hint(error: Any) -> str | None:
    hint = error.param_hint
    if hint is None and error.param is not None:
        hint = error.param.get_error_hint()
    if hint is not None and not isinstance(hint, str):
        hint = " / ".join(repr(x) for x in hint)
    return hint


def _missing(error: Any) -> str:
    hint = _hint(error)
    kind = error.param_type
    if kind is None and error.param is not None:
        kind = error.param.param_type_name
    text = {
        "argument": _("Missing argument {name}.") if hint else _("Missing argument."),
        "option": _("Missing option {name}.") if hint else _("Missing option."),
    }.get(kind or "", _("Missing parameter {name}.") if hint else _("Missing parameter."))
    text = text.format(name=hint)
    extra = error.message or ""
    if error.param is not None:
        more = error.param.get_missing_message(ctx=error.ctx) or ""
        if more.startswith("Choose from:"):
            more = _("Choose from:") + more[len("Choose from:") :]
        extra = f"{extra}. {more}" if extra and more else extra or more
    return f"{text} {extra}" if extra else text


def show_usage_error(error: Any) -> None:
    """`error` as Typer shows it (usage line, "Try … for help", the error panel), in
    the interface's language."""
    if isinstance(error, click_exceptions.NoArgsIsHelpError):
        return  # the help, already printed
    message = usage_message(error) if isinstance(error, click_exceptions.UsageError) else (
        translate_message(error.format_message())
    )
    ctx = getattr(error, "ctx", None)
    shown = click_exceptions.UsageError(message, ctx)
    localise_rich()
    try:
        from typer import rich_utils

        rich_utils.rich_format_error(shown)
        return
    except ImportError:  # pragma: no cover - no rich: Typer's plain text
        pass
    if ctx is not None:  # pragma: no cover
        print(ctx.get_usage(), file=sys.stderr)
        if ctx.command.get_help_option(ctx) is not None:
            print(_("Try '{command} {option}' for help.").format(
                command=ctx.command_path, option=ctx.help_option_names[0]
            ), file=sys.stderr)
    print(_("Error: {message}").format(message=message), file=sys.stderr)  # pragma: no cover


def show_aborted() -> None:
    localise_rich()
    try:
        from typer import rich_utils
    except ImportError:  # pragma: no cover - no rich
        print(later("Aborted!"), file=sys.stderr)
        return
    rich_utils.rich_abort_error()
