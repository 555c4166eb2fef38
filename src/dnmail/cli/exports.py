"""`dnmail export issued|pending|locked|audit`: the lists units and IID work from (step 4)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from dnmail.cli.common import state
from dnmail.i18n import _

app = typer.Typer(
    help=_("Export a list to .xlsx, .csv or .json (the format comes from the file name)."),
    no_args_is_help=True,
)

_OUTPUT_HELP = _(
    "File to write: .xlsx, .csv (UTF-8 with BOM) or .json. Replaced whole if it exists."
)
_UNIT_HELP = _("Only this unit (its code).")
_FORMAT_HELP = "The file's format when its name has no suffix (it must match one that has)."


class FileFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"
    json = "json"


def _export(
    ctx: typer.Context,
    kind: str,
    output: Path,
    unit: str | None,
    since: str | None,
    file_format: FileFormat | None = None,
) -> None:
    from dnmail.clock import parse_day
    from dnmail.services.exports import export_format, export_list
    from dnmail.services.operators import Right

    requested = file_format.value if file_format is not None else None
    export_format(output, requested)  # a bad suffix is bad usage, before any connection
    day = parse_day(since) if since else None
    st = state(ctx)
    # A unit officer exports its own unit's lists only (and never the audit trail).
    right = Right.EXPORT_AUDIT if kind == "audit" else Right.EXPORT_LIST
    unit = st.authorize(right, unit=unit)
    result = export_list(
        st.runtime(), kind=kind, path=output, unit=unit, since=day, file_format=requested
    )
    out = st.output
    payload = {"file": str(result.file), "rows": result.rows, "kind": result.kind}
    summary = f"{result.file}: {result.rows} row(s) ({result.kind}, {result.format})"
    if out.format == "csv":
        out.data(payload, columns=[(k, k) for k in payload], rows=[payload])
    else:
        out.data(payload, summary=summary)


@app.command("issued", help=_(
    "\"Đã cấp email\": active mailboxes with their owners (what a unit tells its "
    "staff)."
))
def issued(
    ctx: typer.Context,
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP, dir_okay=False),
    file_format: FileFormat | None = typer.Option(None, "--format", help=_FORMAT_HELP),
    unit: str | None = typer.Option(None, "--unit", help=_UNIT_HELP),
    since: str | None = typer.Option(
        None, "--since", help=_("Issued on or after this day (YYYY-MM-DD, Vietnam time).")
    ),
) -> None:
    """ "Đã cấp email": active mailboxes with their owners (what a unit tells its staff)."""
    _export(ctx, "issued", output, unit, since, file_format)


@app.command("pending", help=_(
    "\"Chờ cấp\": open requests (pending, and failed ones waiting for a retry), queue "
    "order."
))
def pending(
    ctx: typer.Context,
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP, dir_okay=False),
    file_format: FileFormat | None = typer.Option(None, "--format", help=_FORMAT_HELP),
    unit: str | None = typer.Option(None, "--unit", help=_UNIT_HELP),
    since: str | None = typer.Option(
        None, "--since", help=_("Sent on or after this day (YYYY-MM-DD, Vietnam time).")
    ),
) -> None:
    """ "Chờ cấp": open requests (pending, and failed ones waiting for a retry), queue order."""
    _export(ctx, "pending", output, unit, since, file_format)


@app.command("locked", help=_(
    "\"Đã khóa\": locked mailboxes with the reason and the date of the lock."
))
def locked(
    ctx: typer.Context,
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP, dir_okay=False),
    file_format: FileFormat | None = typer.Option(None, "--format", help=_FORMAT_HELP),
    unit: str | None = typer.Option(None, "--unit", help=_UNIT_HELP),
    since: str | None = typer.Option(
        None, "--since", help=_("Locked on or after this day (YYYY-MM-DD, Vietnam time).")
    ),
) -> None:
    """ "Đã khóa": locked mailboxes with the reason and the date of the lock."""
    _export(ctx, "locked", output, unit, since, file_format)


@app.command("audit", help=_("The audit events in chain order, with their hashes."))
def audit(
    ctx: typer.Context,
    output: Path = typer.Option(..., "--output", "-o", help=_OUTPUT_HELP, dir_okay=False),
    file_format: FileFormat | None = typer.Option(None, "--format", help=_FORMAT_HELP),
    since: str | None = typer.Option(
        None, "--since", help=_("Events on or after this day (YYYY-MM-DD, Vietnam time).")
    ),
) -> None:
    """The audit events in chain order, with their hashes."""
    _export(ctx, "audit", output, None, since, file_format)
