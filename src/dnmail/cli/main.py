"""The `dnmail` command: global options, command groups, and the one error exit point.

Only typer is imported at start-up; every command imports its service (SQLAlchemy,
ldap3, openpyxl, pyHanko) inside its body, so `dnmail --help` stays fast.

The interface's language is chosen (dnmail/i18n.py: --lang, $DNMAIL_LANG, the
config's [interface] language, vi) before the command modules are imported: Typer
reads their help texts, already translated, when they are.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import typer

from dnmail import __version__, i18n

i18n.set_language(i18n.choose(sys.argv[1:]))

from dnmail.cli import accounts, params, requests, setup, staff, units  # noqa: E402
from dnmail.cli import audit as audit_cli  # noqa: E402
from dnmail.cli import db as db_cli  # noqa: E402
from dnmail.cli import directory as directory_cli  # noqa: E402
from dnmail.cli import exports as exports_cli  # noqa: E402
from dnmail.cli import local as local_cli  # noqa: E402
from dnmail.cli import mailboxes as mailboxes_cli  # noqa: E402
from dnmail.cli import sync as sync_cli  # noqa: E402
from dnmail.cli import template as template_cli  # noqa: E402
from dnmail.cli.common import Format, Language, State, state  # noqa: E402
from dnmail.cli.render import Output  # noqa: E402
from dnmail.errors import DnmailError, ExitCode  # noqa: E402
from dnmail.i18n import _  # noqa: E402

HELP_OPTIONS = ["-h", "--help"]

app = typer.Typer(
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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dnmail {__version__}")
        raise typer.Exit()


@app.callback()
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


setup.register(app)
app.add_typer(units.app, name="unit")
app.add_typer(staff.app, name="staff")
app.add_typer(mailboxes_cli.app, name="mailbox")
app.add_typer(requests.app, name="request")
app.add_typer(requests.queue_app, name="queue")
app.add_typer(exports_cli.app, name="export")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(db_cli.app, name="db")
app.add_typer(template_cli.app, name="template")
app.add_typer(directory_cli.app, name="directory")
accounts.register(app)
sync_cli.register(app)
local_cli.register(app)


def prepare(command: Any, args: list[str]) -> None:
    """`command`, and the commands `args` name under it, as dnmail shows and reads them:
    help paragraphs flow to the terminal's width (a docstring breaks its lines where the
    source does, not where a sentence ends), flags show no `<bool>` type (they take no
    value), and values are read without pydantic (cli/params.py). Only the commands on
    the way to the one run: preparing all of them would cost every start a few ms."""
    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    help_option = command.get_help_option(typer.Context(command, help_option_names=HELP_OPTIONS))
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


def invoke(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (DESIGN §4). Errors end here, once."""
    args = argv if argv is not None else sys.argv[1:]
    # Help texts were translated when the modules were imported (sys.argv's choice);
    # messages follow this invocation's own.
    i18n.set_language(i18n.choose(args))
    cmd = typer.main.get_command(app)
    prepare(cmd, args)
    ctx_state = State()
    try:
        cmd.main(
            args=args,
            prog_name="dnmail",
            standalone_mode=True,
            obj=ctx_state,
        )
        return ExitCode.OK
    except SystemExit as e:  # usage errors (2), --help (0), typer.Exit(n)
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
