"""`directory adopt` and `directory link`: taking over the city's existing directory
(DESIGN §7, docs/takeover.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from dnmail.cli.common import progress_bar, state
from dnmail.errors import ExitCode
from dnmail.i18n import N_, _, ngettext

app = typer.Typer(
    help=_("Take over the entries of the existing directory that dnmail did not create."),
    no_args_is_help=True,
)

SHOW_ALL_UP_TO = 500
COLUMNS = [
    ("address", N_("Mailbox")),
    ("match", N_("Match")),
    ("hr_id", N_("HR id")),
    ("candidates", N_("Candidates")),
    ("full_name", N_("Full name (cn)")),
    ("unit", N_("Unit")),
    ("adopted", N_("Adopted")),
    ("detail", N_("Details")),
]


@app.command("adopt", help=_(
    "Take over the existing directory: match each entry to staff; --apply adopts.\n\n"
    "Every person entry under people_dn is matched to a staff member by HR id "
    "(employeeNumber), then the roster's email column, then the name within its unit. "
    "Never changes a password, never moves or renames an entry; without --tag nothing is "
    "written to the directory, and without --apply nothing anywhere. Existing addresses "
    "are kept as they are. Running it again adopts nothing twice. Exit 0 when every entry "
    "is adopted or ignored, 3 when some are left ambiguous, no-staff or taken (see "
    "`dnmail directory link`)."
))
def adopt(
    ctx: typer.Context,
    apply: bool = typer.Option(
        False, "--apply",
        help=_("Record each matched entry as a mailbox (default: only report)."),
    ),
    tag: bool = typer.Option(
        False, "--tag",
        help=_("With --apply: write employeeNumber (the HR id, and nothing else) into the "
        "adopted entries that lack it."),
    ),
    unit: str | None = typer.Option(None, "--unit", help=_("Only the entries of this unit.")),
    report: Path | None = typer.Option(
        None, "--report", dir_okay=False,
        help=_("Also write the verdicts to this .xlsx or .csv file, to work through in Excel."),
    ),
) -> None:
    """Take over the existing directory: match each entry to staff; --apply adopts.

    Every person entry under people_dn is matched to a staff member by HR id
    (employeeNumber), then the roster's email column, then the name within its unit.
    Never changes a password, never moves or renames an entry; without --tag nothing is
    written to the directory, and without --apply nothing anywhere. Existing addresses
    are kept as they are. Running it again adopts nothing twice. Exit 0 when every entry
    is adopted or ignored, 3 when some are left ambiguous, no-staff or taken (see
    `dnmail directory link`).
    """
    from dnmail.services.adopt import adopt_directory
    from dnmail.services.operators import Right

    st = state(ctx)
    st.authorize(Right.ADOPT)
    rt = st.runtime()
    out = st.output
    with progress_bar(out, _("adopting"), when=apply) as progress:
        result = adopt_directory(
            rt, apply=apply, tag=tag and apply, unit=unit, report=report, progress=progress
        )
    text = _adopt_summary(result, apply=apply, tag=tag)
    rows = result.items
    if out.format == "table" and len(rows) > SHOW_ALL_UP_TO:
        # A whole city is no table to read: the entries left for IID, the rest in
        # --report (or --format json/csv).
        rows = result.left
        text += "\n" + _(
            "the table lists the {shown} entries left for IID; all {total} are in "
            "--report FILE.xlsx or --format json"
        ).format(shown=len(rows), total=len(result.items))
    out.data(result, columns=COLUMNS, rows=rows, title=_("Directory takeover"), summary=text)
    if result.left:
        raise typer.Exit(ExitCode.PARTIAL)


@app.command("link", help=_(
    "Take over one entry by hand as the mailbox of HR_ID.\n\nFor the ambiguous and "
    "no-staff rows of `directory adopt`: the same guarantees (its password, DN and address "
    "untouched; nothing written to the directory but employeeNumber with --tag)."
))
def link(
    ctx: typer.Context,
    address: str = typer.Argument(
        ..., help=_("The entry's address (local part or full address).")
    ),
    hr_id: str = typer.Argument(
        ..., help=_("The HR id (Mã hồ sơ) of the person it belongs to.")
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help=_("Say what would be done; change nothing.")
    ),
    tag: bool = typer.Option(
        False, "--tag", help=_("Also write employeeNumber into the entry when it lacks it.")
    ),
) -> None:
    """Take over one entry by hand as the mailbox of HR_ID.

    For the ambiguous and no-staff rows of `directory adopt`: the same guarantees (its
    password, DN and address untouched; nothing written to the directory but
    employeeNumber with --tag)."""
    from dnmail.services.adopt import link_entry
    from dnmail.services.operators import Right

    st = state(ctx)
    st.authorize(Right.ADOPT)
    item = link_entry(st.runtime(), address, hr_id, dry_run=dry_run, tag=tag)
    if dry_run:
        text = _("dry run: {detail}; nothing changed").format(detail=item.detail)
    elif item.already:
        text = f"{item.address}: {item.detail}"
    else:
        text = _("{address} is now the mailbox of {hr_id}").format(
            address=item.address, hr_id=item.hr_id
        )
    st.output.data(item, columns=COLUMNS, rows=[item], summary=text)


def _adopt_summary(result, *, apply: bool, tag: bool) -> str:
    """The lines `directory adopt` says under its table."""
    words = "; ".join(f"{k.label}: {n}" for k, n in result.counts.items() if n)
    words = words or _("none in scope")
    read = ngettext("{n} entry read", "{n} entries read", result.entries).format(
        n=result.entries
    )
    if apply:
        text = _("{read} ({words}). Adopted now: {adopted}; adopted before: {already}").format(
            read=read, words=words, adopted=result.adopted, already=result.already
        )
        if result.adopted == 0:
            text += _(" (nothing new to adopt)")
        if tag:
            text += _("; employeeNumber written: {n}").format(n=result.tagged)
    else:
        would = sum(1 for i in result.items if i.match.matched and not i.already)
        text = _(
            "dry run: {read} ({words}). {would} would be adopted, {already} are adopted "
            "already; nothing changed (--apply to adopt)"
        ).format(read=read, words=words, would=would, already=result.already)
        if tag:
            text += _("; --tag takes effect with --apply")
    if result.left:
        text += "\n" + _(
            "{n} left for IID: see `dnmail directory link ADDRESS HR_ID`"
        ).format(n=len(result.left))
    if result.report:
        text += "\n" + _("report written: {path}").format(path=result.report)
    return text
