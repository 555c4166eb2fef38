"""`dnmail export issued|pending|locked|audit`: the lists units and IID work from (step 4)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dnmail.cli.common import state
from dnmail.i18n import N_, _, later

app = typer.Typer(
    help=_("Export a list to .xlsx, .csv or .json (the format comes from the file name)."),
    no_args_is_help=True,
)

_OUTPUT_HELP = _(
    "File to write: .xlsx, .csv (UTF-8 with BOM) or .json. Replaced whole if it exists."
)
_UNIT_HELP = _("Only this unit (its code).")
_FORMAT_HELP = _("The file's format when its name has no suffix (it must match one that has).")


class FileFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"
    json = "json"


# The options every list shares (`--since` differs by its help: each list dates a thing).
Output = Annotated[Path, typer.Option("--output", "-o", help=_OUTPUT_HELP, dir_okay=False)]
Format = Annotated[FileFormat | None, typer.Option("--format", help=_FORMAT_HELP)]
Unit = Annotated[str | None, typer.Option("--unit", help=_UNIT_HELP)]


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
    summary = _("{file}: {n} row(s) ({kind}, {format})").format(
        file=result.file, n=result.rows, kind=later(_LIST_WORDS.get(result.kind, result.kind)),
        format=result.format,
    )
    if out.format == "csv":
        out.data(payload, columns=[(k, k) for k in payload], rows=[payload])
    else:
        out.data(payload, summary=summary)


#: Each list inside a sentence: its code in English ("48 row(s) (issued, xlsx)"), its
#: name in Vietnamese.
_LIST_WORDS = {
    "issued": N_("issued"),
    "pending": N_("pending"),
    "locked": N_("locked"),
    "audit": N_("audit"),
}


def _list_command(kind: str, help: str, since_help: str) -> None:
    """`dnmail export KIND`: a list of one unit (or all), dated by `--since`."""

    def command(
        ctx: typer.Context,
        output: Output,
        file_format: Format = None,
        unit: Unit = None,
        since: str | None = typer.Option(None, "--since", help=since_help),
    ) -> None:
        _export(ctx, kind, output, unit, since, file_format)

    command.__name__ = kind
    app.command(kind, help=help)(command)


_list_command("issued", _(
    "\"Đã cấp email\": active mailboxes with their owners (what a unit tells its "
    "staff)."
), _("Issued on or after this day (YYYY-MM-DD, Vietnam time)."))
_list_command("pending", _(
    "\"Chờ cấp\": open requests (pending, and failed ones waiting for a retry), queue "
    "order."
), _("Sent on or after this day (YYYY-MM-DD, Vietnam time)."))
_list_command("locked", _(
    "\"Đã khóa\": locked mailboxes with the reason and the date of the lock."
), _("Locked on or after this day (YYYY-MM-DD, Vietnam time)."))


@app.command("audit", help=_("The audit events in chain order, with their hashes."))
def audit(
    ctx: typer.Context,
    output: Output,
    file_format: Format = None,
    since: str | None = typer.Option(
        None, "--since", help=_("Events on or after this day (YYYY-MM-DD, Vietnam time).")
    ),
) -> None:
    """The audit events in chain order, with their hashes."""
    _export(ctx, "audit", output, None, since, file_format)
