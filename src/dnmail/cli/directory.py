"""`directory adopt` and `directory link`: taking over the city's existing directory
(DESIGN §7, docs/takeover.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from dnmail.cli.common import progress_bar, state
from dnmail.errors import ExitCode
from dnmail.i18n import _

app = typer.Typer(
    help=_("Take over the entries of the existing directory that dnmail did not create."),
    no_args_is_help=True,
)

SHOW_ALL_UP_TO = 500
COLUMNS = [
    ("address", "Hộp thư"),
    ("match", "Đối chiếu"),
    ("hr_id", "Mã hồ sơ"),
    ("candidates", "Ứng viên"),
    ("full_name", "Họ và tên (cn)"),
    ("unit", "Đơn vị"),
    ("adopted", "Đã tiếp nhận"),
    ("detail", "Chi tiết"),
]


@app.command("adopt", help=_("Take over the existing directory: match each entry to staff; --apply adopts.\n\nEvery person entry under people_dn is matched to a staff member by HR id (employeeNumber), then the roster's email column, then the name within its unit. Never changes a password, never moves or renames an entry; without --tag nothing is written to the directory, and without --apply nothing anywhere. Existing addresses are kept as they are. Running it again adopts nothing twice. Exit 0 when every entry is adopted or ignored, 3 when some are left ambiguous, no-staff or taken (see `dnmail directory link`)."))
def adopt(
    ctx: typer.Context,
    apply: bool = typer.Option(
        False, "--apply", help=_("Record each matched entry as a mailbox (default: only report).")
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
    with progress_bar(out, "adopting", when=apply) as progress:
        result = adopt_directory(
            rt, apply=apply, tag=tag and apply, unit=unit, report=report, progress=progress
        )
    c = result.counts
    words = ", ".join(f"{k.value} {n}" for k, n in c.items() if n)
    if apply:
        text = (
            f"{result.entries} entries read; {words or 'none in scope'}. "
            f"Adopted now: {result.adopted}; adopted before: {result.already}"
        )
        if result.adopted == 0:
            text += " (nothing new to adopt)"
        if tag:
            text += f"; employeeNumber written: {result.tagged}"
    else:
        would = sum(1 for i in result.items if i.match.matched and not i.already)
        text = (
            f"dry run: {result.entries} entries read; {words or 'none in scope'}. "
            f"{would} would be adopted, {result.already} are adopted already; nothing changed "
            "(--apply to adopt)"
        )
        if tag:
            text += "; --tag takes effect with --apply"
    if result.left:
        text += f"\n{len(result.left)} left for IID: see `dnmail directory link ADDRESS HR_ID`"
    if result.report:
        text += f"\nreport written: {result.report}"
    rows = result.items
    if out.format == "table" and len(rows) > SHOW_ALL_UP_TO:
        # A whole city is no table to read: the entries left for IID, the rest in
        # --report (or --format json/csv).
        rows = result.left
        text += (
            f"\nthe table lists the {len(rows)} entries left for IID; all "
            f"{len(result.items)} are in --report FILE.xlsx or --format json"
        )
    out.data(result, columns=COLUMNS, rows=rows, title="Tiếp nhận thư mục", summary=text)
    if result.left:
        raise typer.Exit(ExitCode.PARTIAL)


@app.command("link", help=_("Take over one entry by hand as the mailbox of HR_ID.\n\nFor the ambiguous and no-staff rows of `directory adopt`: the same guarantees (its password, DN and address untouched; nothing written to the directory but employeeNumber with --tag)."))
def link(
    ctx: typer.Context,
    address: str = typer.Argument(..., help=_("The entry's address (local part or full address).")),
    hr_id: str = typer.Argument(..., help=_("The HR id (Mã hồ sơ) of the person it belongs to.")),
    dry_run: bool = typer.Option(False, "--dry-run", help=_("Say what would be done; change nothing.")),
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
        text = f"dry run: {item.detail}; nothing changed"
    elif item.already:
        text = f"{item.address}: {item.detail}"
    else:
        text = f"{item.address} is now the mailbox of {item.hr_id}"
    st.output.data(item, columns=COLUMNS, rows=[item], summary=text)
