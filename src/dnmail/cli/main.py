"""The `dnmail` command: global options, command groups, and the one error exit point.

Only typer is imported at start-up; every command imports its service (SQLAlchemy,
ldap3, openpyxl, pyHanko) inside its body, so `dnmail --help` stays fast; and only the
command module the command line names is imported and built (`build`, PARTS).

The interface's language is chosen (dnmail/i18n.py: --lang, $DNMAIL_LANG, the
config's [interface] language, vi) before the command modules are imported: Typer
reads their help texts, already translated, when they are.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from dnmail import __version__, i18n

i18n.set_language(i18n.choose(sys.argv[1:]))

from dnmail.cli import params, toolkit  # noqa: E402
from dnmail.cli.common import Format, Language, State, state  # noqa: E402
from dnmail.cli.render import Output  # noqa: E402
from dnmail.errors import DnmailError, ExitCode  # noqa: E402
from dnmail.i18n import _  # noqa: E402

HELP_OPTIONS = ["-h", "--help"]

#: The commands of `dnmail`, in the order they are added (--help lists the commands,
#: then the groups): the name on the command line, the module of dnmail.cli that
#: defines it, and the Typer it adds as a group (None: the module's `register(app)`
#: adds its commands). A command line that names one of them imports and builds that
#: one only (Typer builds every command it is given: all of them cost every start some
#: 40 ms); anything else gets them all.
PARTS: tuple[tuple[str, str, str | None], ...] = (
    ("init", "setup", None),
    ("unit", "units", "app"),
    ("staff", "staff", "app"),
    ("mailbox", "mailboxes", "app"),
    ("request", "requests", "app"),
    ("queue", "requests", "queue_app"),
    ("export", "exports", "app"),
    ("audit", "audit", "app"),
    ("db", "db", "app"),
    ("template", "template", "app"),
    ("directory", "directory", "app"),
    ("provision", "accounts", None),
    ("reset-password", "accounts", None),
    ("lock", "accounts", None),
    ("unlock", "accounts", None),
    ("sync", "sync", None),
    ("reconcile", "sync", None),
    ("local", "local", None),
    ("deploy", "local", None),
)
#: The global options (main() below) that take a value, and the flags that do not;
#: --help and --version are not among them: they show the whole app.
VALUED_OPTIONS = frozenset({"--config", "-c", "--format", "-f", "--as", "--lang"})
FLAG_OPTIONS = frozenset({"--quiet", "-q", "--verbose", "-v"})


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dnmail {__version__}")
        raise typer.Exit()


def main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", "-c",
        help=_("Configuration file (default: $DNMAIL_CONFIG, then the user config dir)."),
        dir_okay=False,
    ),
    fmt: Format = typer.Option(
        Format.table, "--format", "-f", help=_("Output: table (people), json or csv (scripts).")
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=_("Only errors on stderr.")),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help=_("Details of errors (a traceback for bugs).")
    ),
    as_: str | None = typer.Option(
        None, "--as",
        help=_("Operator running the command: an IID administrator or a unit's official account."),
    ),
    lang: Language | None = typer.Option(
        None, "--lang",
        help=_(
            "Language of the interface: vi (Vietnamese, the default) or en; "
            "else $DNMAIL_LANG, else the configuration's interface.language."
        ),
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help=_("Show the version.")
    ),
) -> None:
    st = state(ctx)
    st.config_path = config
    st.output = Output(format=fmt.value, quiet=quiet, verbose=verbose)
    st.actor = as_


def command_named(args: Sequence[str]) -> str | None:
    """The command `args` run (the first word after the global options), or None when
    they name none or hold an option main() does not take (then the whole app reads
    them and says what is wrong)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-"):
            return arg
        name, eq, _value = arg.partition("=")
        if name in VALUED_OPTIONS:
            i += 1 if eq else 2
        elif arg in FLAG_OPTIONS:
            i += 1
        else:
            return None
    return None


def build(args: Sequence[str] | None = None) -> typer.Typer:
    """The `dnmail` app with the command `args` run (see PARTS), or with all of them."""
    root = typer.Typer(
        name="dnmail",
        help=_(
            "Lifecycle of the official @danang.gov.vn mailboxes: HR roster, request slips, "
            "provisioning, password resets, moves and locks."
        ),
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": HELP_OPTIONS},
    )
    root.callback()(main)
    wanted = command_named(args) if args is not None else None
    registered: set[str] = set()
    for name, module_name, group in [p for p in PARTS if p[0] == wanted] or PARTS:
        module = importlib.import_module(f"dnmail.cli.{module_name}")
        if group is not None:
            root.add_typer(getattr(module, group), name=name)
        elif module_name not in registered:
            module.register(root)
            registered.add(module_name)
    return root


def __getattr__(name: str) -> Any:
    """`app`, the whole `dnmail` app (for tests and tools), built on first use."""
    if name == "app":
        globals()["app"] = whole = build()
        return whole
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def prepare(command: Any, args: list[str]) -> None:
    """`command`, and the commands `args` name under it, as dnmail shows and reads them:
    help paragraphs flow to the terminal's width (a docstring breaks its lines where the
    source does, not where a sentence ends), flags show no `<bool>` type (they take no
    value), values are read without pydantic (cli/params.py), and the usage line is in
    the interface's language (cli/toolkit.py). Only the commands on the way to the one
    run: preparing all of them would cost every start a few ms."""
    toolkit.localise_command(command)
    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    ctx = typer.Context(command, help_option_names=HELP_OPTIONS)
    help_option = command.get_help_option(ctx)
    if help_option is not None:
        help_option.help = _("Show this message and exit.")
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "is_flag", False):
            param.metavar = ""
        params.install(param)
    subs = getattr(command, "commands", {})
    for i, arg in enumerate(args):
        if arg in subs:  # an option's value that names a command only costs a few µs
            prepare(subs[arg], args[i + 1 :])
            return
    if (subs and not args) or any(a in HELP_OPTIONS for a in args):
        # Help is shown: Typer's words in ours (rich is loaded for it anyway).
        toolkit.localise_rich()
        toolkit.localise_types(command, ctx)


def invoke(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (DESIGN §4). Errors end here, once."""
    args = argv if argv is not None else sys.argv[1:]
    # Help texts were translated when the modules were imported (sys.argv's choice);
    # messages follow this invocation's own.
    i18n.set_language(i18n.choose(args))
    toolkit.localise_typer()
    cmd = typer.main.get_command(build(args))
    prepare(cmd, args)
    ctx_state = State()
    try:
        # Not standalone: a usage error comes here, to be told in the interface's
        # language; --help and typer.Exit(n) return their exit code.
        code = cmd.main(
            args=args,
            prog_name="dnmail",
            standalone_mode=False,
            obj=ctx_state,
        )
        return code if isinstance(code, int) else ExitCode.OK
    except toolkit.click_exceptions.ClickException as e:  # bad usage (2)
        toolkit.show_usage_error(e)
        return e.exit_code
    except typer.Abort:
        toolkit.show_aborted()
        return ExitCode.FAILED
    except SystemExit as e:
        if e.code is None:
            return ExitCode.OK
        return e.code if isinstance(e.code, int) else ExitCode.FAILED
    except DnmailError as e:
        ctx_state.output.error(e.message)
        crash = getattr(e, "child_traceback", "")  # readers.sandbox.ReaderCrashed
        if crash and ctx_state.output.verbose:
            print(crash, file=sys.stderr)
        if e.hint:
            ctx_state.output.say(_("hint: {hint}").format(hint=e.hint))
        return e.exit_code
    except KeyboardInterrupt:
        ctx_state.output.error(_("interrupted"))
        return 130
    except Exception as e:  # a bug: short message, traceback only with --verbose
        if ctx_state.output.verbose:
            import traceback

            traceback.print_exc()
        ctx_state.output.error(
            _("internal error ({name}); run again with --verbose for details").format(
                name=type(e).__name__
            )
        )
        return ExitCode.FAILED
    finally:
        ctx_state.close()


def run() -> None:
    sys.exit(invoke())
