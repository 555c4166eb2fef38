"""`dnmail staff …`: HR records (step 1 of the process)."""

from __future__ import annotations

from pathlib import Path

import typer

from dnmail.cli.common import ENCODING_HELP, FileEncoding, encoding_value, state
from dnmail.i18n import N_, _, later, ngettext

app = typer.Typer(
    help=_("Staff: import the HR roster, list staff with or without email."),
    no_args_is_help=True,
)

FIELD_LABELS = {
    "full_name": N_("Full name"),
    "unit_code": N_("Unit code"),
    "department": N_("Department"),
    "position": N_("Position"),
    "phone": N_("Phone"),
    "hr_status": N_("State"),
}


@app.command("import", help=_(
    "Upsert HR records by HR id (Mã hồ sơ) and report what changed.\n\nThe file is "
    "imported whole or not at all: a missing column, an unknown unit code or a duplicate HR "
    "id refuses it with the file, row and column, and nothing is stored."
))
def import_(
    ctx: typer.Context,
    roster: Path = typer.Argument(
        ..., help=_("HR roster export (.xlsx or .csv, UTF-8)."), dir_okay=False
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help=_("Report what would change; store nothing.")
    ),
    encoding: FileEncoding | None = typer.Option(None, "--encoding", help=ENCODING_HELP),
) -> None:
    """Upsert HR records by HR id (Mã hồ sơ) and report what changed.

    The file is imported whole or not at all: a missing column, an unknown unit code or a
    duplicate HR id refuses it with the file, row and column, and nothing is stored.
    """
    from dnmail.services.operators import Right
    from dnmail.services.staff import import_roster

    st = state(ctx)
    st.authorize(Right.IMPORT_ROSTER)
    result = import_roster(
        st.runtime(), roster, dry_run=dry_run, encoding=encoding_value(encoding)
    )
    out = st.output
    for w in result.warnings:
        out.warn(str(w))
    rows = [
        {
            "hr_id": c.hr_id,
            "full_name": c.full_name,
            "change": "; ".join(
                f"{later(FIELD_LABELS[k]) if k in FIELD_LABELS else k}: {o or '∅'} → {n or '∅'}"
                for k, (o, n) in c.changes.items()
            ),
        }
        for c in result.changed
    ]
    if result.nothing_changed:
        summary = _("{file}: no change ({n} records already up to date)").format(
            file=roster, n=result.unchanged
        )
    else:
        counts = dict(added=result.added, changed=len(result.changed), unchanged=result.unchanged)
        summary = (
            _("{file}: would add {added}, would change {changed}, unchanged {unchanged}")
            if dry_run
            else _("{file}: added {added}, changed {changed}, unchanged {unchanged}")
        ).format(file=roster, **counts)
    if result.missing:
        summary += ngettext(
            "; {n} active staff member of these units is not in the file (left as they are)",
            "; {n} active staff of these units are not in the file (left as they are)",
            len(result.missing),
        ).format(n=len(result.missing))
    out.data(
        result,
        columns=[("hr_id", N_("HR id")), ("full_name", N_("Full name")), ("change", N_("Change"))],
        rows=rows,
        title=_("Changes to HR records"),
        summary=summary,
    )


@app.command("list", help=_("List staff with their mailbox, if any."))
def list_(
    ctx: typer.Context,
    unit: str | None = typer.Option(None, "--unit", help=_("Only this unit.")),
    without_email: bool = typer.Option(
        False, "--without-email", help=_("Only active staff with no mailbox and no open request.")
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help=_("At most this many rows.")),
    offset: int = typer.Option(0, "--offset", min=0, help=_("Skip this many rows (paging).")),
) -> None:
    """List staff with their mailbox, if any."""
    from dnmail.services.operators import Right
    from dnmail.services.staff import list_staff

    st = state(ctx)
    unit = st.authorize(Right.LIST_STAFF, unit=unit)  # an officer: its own unit only
    rows = list_staff(
        st.runtime(), unit=unit, without_email=without_email, limit=limit, offset=offset
    )
    st.output.data(
        rows,
        columns=[
            ("hr_id", N_("HR id")),
            ("full_name", N_("Full name")),
            ("unit", N_("Unit code")),
            ("department", N_("Department")),
            ("position", N_("Position")),
            ("phone", N_("Phone")),
            ("hr_status", N_("State")),
            ("address", N_("Mailbox")),
        ],
        rows=rows,
        title=_("No email yet") if without_email else _("Staff"),
        summary=ngettext("{n} staff member", "{n} staff", len(rows)).format(n=len(rows)),
    )
