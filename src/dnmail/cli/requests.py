"""`dnmail request …` and `dnmail queue list` (steps 2–3)."""

from __future__ import annotations

from pathlib import Path

import typer

from dnmail.cli.common import ENCODING_HELP, FileEncoding, encoding_value, state
from dnmail.domain.states import LockReason, RequestFilter, RequestKind
from dnmail.i18n import N_, _, ngettext

app = typer.Typer(
    help=_("Requests: create, reject or withdraw mailbox requests."), no_args_is_help=True
)
queue_app = typer.Typer(help=_("The queue of requests waiting for IID."), no_args_is_help=True)


QUEUE_COLUMNS = [
    ("id", N_("Request id")),
    ("kind", N_("Kind")),
    ("unit", N_("Unit")),
    ("hr_id", N_("HR id")),
    ("full_name", N_("Full name")),
    ("requested_address", N_("Requested mailbox")),
    ("state", N_("State")),
    ("attempts", N_("Attempts")),
    ("created_at", N_("Sent")),
    ("last_error", N_("Last error")),
]


@app.command("create", help=_(
    "Queue requests for staff of one unit (all of them, or none with every reason)."
))
def create(
    ctx: typer.Context,
    unit: str = typer.Option(..., "--unit", help=_("The unit asking (its code).")),
    staff: list[str] = typer.Option(
        ..., "--staff", help=_("HR id (Mã hồ sơ); repeat for several people.")
    ),
    kind: RequestKind = typer.Option(
        RequestKind.CREATE,
        "--kind",
        help=_("create (cấp mới), change (thay đổi) or cancel (hủy bỏ)."),
    ),
    address: str | None = typer.Option(
        None,
        "--address",
        help=_(
            "Requested mailbox name (one person only), checked like a new mailbox's and "
            "refused if taken; for a change request it renames the mailbox (the old address "
            "kept as an alias)."
        ),
    ),
    reason: LockReason = typer.Option(
        LockReason.OTHER, "--reason", help=_("For cancel: why the mailbox is locked.")
    ),
    note: str | None = typer.Option(None, "--note", help=_("Free text kept with the request.")),
    dry_run: bool = typer.Option(False, "--dry-run", help=_("Check the request; queue nothing.")),
) -> None:
    """Queue requests for staff of one unit (all of them, or none with every reason)."""
    from dnmail.errors import BadInput
    from dnmail.services.operators import Right
    from dnmail.services.requests import NewRequest, queue_requests

    if address and len(staff) > 1:
        raise BadInput(_("--address names one mailbox: give it with a single --staff"))
    st = state(ctx)
    unit = st.authorize(Right.CREATE_REQUEST, unit=unit) or unit  # an officer: its own unit
    items = [NewRequest(hr.strip(), kind, address, reason, note) for hr in staff]
    views = queue_requests(st.runtime(), unit=unit, items=items, dry_run=dry_run)
    st.output.data(
        {"dry_run": dry_run, "requests": views},
        columns=QUEUE_COLUMNS[:7],
        rows=views,
        summary=(
            ngettext("would queue {n} request", "would queue {n} requests", len(views))
            if dry_run
            else ngettext("queued {n} request", "queued {n} requests", len(views))
        ).format(n=len(views)),
    )


IMPORT_COLUMNS = [
    ("file", N_("File")),
    ("status_vi", N_("Result")),
    ("unit", N_("Unit")),
    ("kind_vi", N_("Kind")),
    ("signer_text", N_("Signer")),
    ("request_text", N_("Request")),
    ("reasons", N_("Reasons")),
]


@app.command(
    "import",
    help=_(
        "Import request slips: each file whole or not at all, never the same file twice.\n\n"
        "A signed PDF counts only if its signature does (docs/signed-slips.md); an Excel slip "
        "is unsigned and needs --unit. Each row is matched to one staff member of the unit by "
        "name (department and phone break ties): a row matching nobody or several people "
        "refuses the file, with every reason and where it is. Exit 0 when every file was "
        "imported, 3 when some were refused, 2 when none could be."
    ),
)
def import_(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ..., help=_("Slips (Phụ lục II): Excel workbooks (.xlsx) or signed PDFs.")
    ),
    unit: str | None = typer.Option(
        None,
        "--unit",
        help=_(
            "The unit the slips are for. Required for Excel slips; for a signed PDF, "
            "default: the unit whose configured signers include the signer."
        ),
    ),
    kind: RequestKind | None = typer.Option(
        None,
        "--kind",
        help=_("Override the kind read from 'Nội dung yêu cầu' (create, change, cancel)."),
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help=_("Check every file; store nothing.")),
    encoding: FileEncoding | None = typer.Option(None, "--encoding", help=ENCODING_HELP),
) -> None:
    """Import request slips: each file whole or not at all, never the same file twice.

    A signed PDF counts only if its signature does (docs/signed-slips.md); an Excel
    slip is unsigned and needs --unit. Each row is matched to one staff member of the
    unit by name (department and phone break ties): a row matching nobody or several
    people refuses the file, with every reason and where it is. Exit 0 when every file
    was imported, 3 when some were refused, 2 when none could be.
    """
    import sys

    from dnmail.services.operators import Right
    from dnmail.services.slip_import import import_slips

    st = state(ctx)
    rt = st.runtime()
    out = st.output
    unit = st.authorize(Right.IMPORT_SLIPS, unit=unit)  # an officer: its own unit only
    progress = None
    bar = None
    if sys.stderr.isatty() and not out.quiet and len(files) > 1:
        from rich.progress import Progress

        bar = Progress(console=out.err, transient=True)
        task = bar.add_task(_("importing slips"), total=len(files))
        bar.start()

        def progress(_result) -> None:
            bar.advance(task, 1)

    try:
        batch = import_slips(
            rt,
            files,
            unit=unit,
            kind=kind,
            dry_run=dry_run,
            progress=progress,
            encoding=encoding_value(encoding),
        )
    finally:
        if bar is not None:
            bar.stop()
    for f in batch.files:
        for w in f.warnings:
            out.warn(str(w))
    made = sum(len(f.requests) for f in batch.accepted)
    summary = (
        _("would import {accepted} of {files} file(s), {made} request(s) (nothing stored)")
        if dry_run
        else _("imported {accepted} of {files} file(s), {made} request(s)")
    ).format(accepted=len(batch.accepted), files=len(batch.files), made=made)
    if batch.refused:
        summary += _("; refused {n}: {files}").format(
            n=len(batch.refused), files=", ".join(f.file for f in batch.refused)
        )
    out.data(
        batch,
        columns=IMPORT_COLUMNS,
        rows=[_import_row(f) for f in batch.files],
        title=_("Request slips imported"),
        summary=summary,
    )
    if batch.exit_code:
        raise typer.Exit(batch.exit_code)


def _import_row(f) -> dict:
    """One file of `request import` as a table row (Vietnamese labels, short signer)."""
    from dataclasses import replace

    ids = [f"#{r.id}" if r.id is not None else r.hr_id for r in f.requests]
    signer: str | None
    if f.signer:
        signer = _common_name(f.signer.subject)
    else:
        signer = _("unsigned (Excel)") if f.format == "xlsx" else None
    shown = ", ".join(ids[:20]) + (f" … ({len(ids)})" if len(ids) > 20 else "")
    return {
        "file": f.file,
        "status_vi": f.status.label,
        "unit": f.unit,
        "kind_vi": f.kind.label if f.kind else None,
        "signer_text": signer,
        "request_text": shown or "—",
        "reasons": "\n".join(str(replace(p, file=None)) for p in f.problems),
    }


def _common_name(subject: str) -> str:
    """'Nguyễn Văn An' out of 'CN=Nguyễn Văn An,title=…' (the whole DN without a CN)."""
    import re

    m = re.match(r"CN=((?:[^,\\]|\\.)*)", subject)
    return m.group(1).replace("\\", "") if m else subject


@app.command("reject", help=_("IID refuses an open request."))
def reject(
    ctx: typer.Context,
    request_id: int = typer.Argument(..., help=_("Request number.")),
    reason: str = typer.Option(..., "--reason", help=_("Why IID refuses it (shown to the unit).")),
) -> None:
    """IID refuses an open request."""
    from dnmail.services.operators import Right
    from dnmail.services.requests import reject_request

    st = state(ctx)
    st.authorize(Right.REJECT_REQUEST)
    v = reject_request(st.runtime(), request_id, reason=reason)
    st.output.data(
        v, columns=QUEUE_COLUMNS[:7], rows=[v], summary=_("request #{id} rejected").format(id=v.id)
    )


@app.command("withdraw", help=_("The unit takes back its own open request."))
def withdraw(
    ctx: typer.Context,
    request_id: int = typer.Argument(..., help=_("Request number.")),
) -> None:
    """The unit takes back its own open request."""
    from dnmail.services.operators import Right
    from dnmail.services.requests import withdraw_request

    st = state(ctx)
    unit = st.authorize(Right.WITHDRAW_REQUEST)  # an officer: its own unit's requests only
    v = withdraw_request(st.runtime(), request_id, unit=unit)
    st.output.data(
        v, columns=QUEUE_COLUMNS[:7], rows=[v], summary=_("request #{id} withdrawn").format(id=v.id)
    )


@queue_app.command("list", help=_("Requests, oldest first, one page at a time."))
def queue_list(
    ctx: typer.Context,
    unit: str | None = typer.Option(None, "--unit", help=_("Only this unit.")),
    status: RequestFilter = typer.Option(
        RequestFilter.OPEN, "--status", help=_("open (pending+failed, default), a state, or all.")
    ),
    kind: RequestKind | None = typer.Option(None, "--kind", help=_("Only this kind.")),
    limit: int = typer.Option(100, "--limit", min=1, max=100_000, help=_("Rows per page.")),
    page: int = typer.Option(1, "--page", min=1, help=_("Page number (oldest first).")),
) -> None:
    """Requests, oldest first, one page at a time."""
    from dnmail.services.operators import Right
    from dnmail.services.queue import list_queue

    st = state(ctx)
    unit = st.authorize(Right.LIST_QUEUE, unit=unit)  # an officer: its own unit only
    result = list_queue(
        st.runtime(),
        unit=unit.lower() if unit else None,
        states=status.states,
        kind=kind,
        limit=limit,
        offset=(page - 1) * limit,
    )
    rows = result.items
    pages = max(1, -(-result.total // limit))
    st.output.data(
        result,
        columns=QUEUE_COLUMNS,
        rows=rows,
        title=_("Requests waiting for a mailbox"),
        summary=_("page {page} of {pages}: {shown} of {total} request(s)").format(
            page=page, pages=pages, shown=len(rows), total=result.total
        ),
    )
