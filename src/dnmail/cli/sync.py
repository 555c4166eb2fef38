"""`sync` (HR roster → requests) and `reconcile` (database against directory), step 6."""

from __future__ import annotations

from pathlib import Path

import typer

from dnmail.cli.common import ENCODING_HELP, FileEncoding, encoding_value, state
from dnmail.cli.render import row_of
from dnmail.errors import ExitCode
from dnmail.i18n import _, ngettext


def register(app: typer.Typer) -> None:
    app.command("sync", help=_(
        "Turn HR roster changes into change and cancel requests.\n\nA new unit code "
        "moves the mailbox; Nghỉ hưu / Thôi việc / Chuyển công tác lock it; a changed "
        "name, department, position or phone updates the directory entry.\n\nWithout "
        "--apply nothing is stored. With --apply the staff changes and every request "
        "are stored in one transaction, all or nothing; `provision` carries them out. "
        "People missing from the roster are listed, never locked. A run that would lock "
        "more than safety.max_lock_share of a unit or safety.max_lock_count in all "
        "stops before changing anything (exit 1) unless --force.\n\nHR's latest word "
        "wins: an open request the roster contradicts (a cancel for someone working "
        "again, a move to a unit the person is no longer going to, a change HR has "
        "taken back) is withdrawn and replaced by what the roster asks; such "
        "withdrawals are never held by the safety brake."
    ))(sync)
    app.command("reconcile", help=_(
        "Compare the mailboxes in the database with the entries in the "
        "directory.\n\nReports missing entries, entries with no mailbox record, lock "
        "mismatches, drifting attributes, entries in the wrong unit's branch and HR ids "
        "on several entries. Exit 0 when nothing drifted, 3 when drift was found (also "
        "with --fix, after mending)."
    ))(reconcile)


SYNC_COLUMNS = [
    ("kind_vi", "Loại"),
    ("hr_id", "Mã hồ sơ"),
    ("full_name", "Họ và tên"),
    ("unit", "Mã đơn vị"),
    ("address", "Hộp thư"),
    ("detail", "Chi tiết"),
    ("request_id", "Yêu cầu"),
]


def sync(
    ctx: typer.Context,
    roster: Path = typer.Argument(
        ..., help=_("HR roster export (.xlsx or .csv, UTF-8)."), dir_okay=False
    ),
    encoding: FileEncoding | None = typer.Option(None, "--encoding", help=ENCODING_HELP),
    apply: bool = typer.Option(
        False,
        "--apply",
        help=_("Record the staff changes and queue the requests (default: only report)."),
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help=_("Go past the safety brake (a run that locks too many mailboxes at once)."),
    ),
) -> None:
    """Turn HR roster changes into change and cancel requests.

    A new unit code moves the mailbox; Nghỉ hưu / Thôi việc / Chuyển công tác lock it;
    a changed name, department, position or phone updates the directory entry.

    Without --apply nothing is stored. With --apply the staff changes and every request
    are stored in one transaction, all or nothing; `provision` carries them out. People
    missing from the roster are listed, never locked. A run that would lock more than
    safety.max_lock_share of a unit or safety.max_lock_count in all stops before
    changing anything (exit 1) unless --force.
    """
    from dnmail.services.operators import Right
    from dnmail.services.sync import brake_error, sync_roster

    st = state(ctx)
    st.authorize(Right.SYNC)
    out = st.output
    result = sync_roster(
        st.runtime(), roster, apply=apply, force=force, encoding=encoding_value(encoding)
    )
    for w in result.warnings:
        out.warn(str(w))
    rows = [{**row_of(a), "kind_vi": a.kind.label} for a in result.actions]
    counts = ", ".join(f"{k.label} {n}" for k, n in result.counts.items())
    if result.applied:
        summary = ngettext(
            "{file}: queued {n} request ({counts})",
            "{file}: queued {n} requests ({counts})",
            result.queued,
        ).format(file=roster, n=result.queued, counts=counts)
    else:
        summary = _("{file}: dry run, nothing stored ({counts}); run with --apply to queue").format(
            file=roster, counts=counts
        )
    if result.brake and result.forced:
        summary += "\n" + _("safety brake overridden with --force:") + "\n  - "
        summary += "\n  - ".join(result.brake)
    out.data(
        result, columns=SYNC_COLUMNS, rows=rows, title=_("HR roster sync"), summary=summary
    )
    if result.brake and not result.forced:
        # The dry run shows the plan, then says that --apply would stop (exit 1 either way).
        raise brake_error(result.brake)


RECONCILE_COLUMNS = [
    ("kind_vi", "Loại"),
    ("address", "Hộp thư"),
    ("hr_id", "Mã hồ sơ"),
    ("dn", "DN"),
    ("detail", "Chi tiết"),
    ("fix", "Xử lý"),
]


def reconcile(
    ctx: typer.Context,
    fix: bool = typer.Option(
        False,
        "--fix",
        help=_(
            "Mend each drift toward the database (entries dnmail does not own are only "
            "reported)."
        ),
    ),
    unit: str | None = typer.Option(None, "--unit", help=_("Only this unit's branch.")),
) -> None:
    """Compare the mailboxes in the database with the entries in the directory.

    Reports missing entries, entries with no mailbox record, lock mismatches, drifting
    attributes, entries in the wrong unit's branch and HR ids on several entries.
    Exit 0 when nothing drifted, 3 when drift was found (also with --fix, after mending).
    """
    from dnmail.services.operators import Right
    from dnmail.services.reconcile import reconcile as run

    st = state(ctx)
    st.authorize(Right.RECONCILE)
    result = run(st.runtime(), fix=fix, unit=unit.lower() if unit else None)
    rows = [{**row_of(i), "kind_vi": i.kind.label} for i in result.items]
    scope = _("unit {unit}").format(unit=result.unit) if result.unit else _("all units")
    if not result.items:
        summary = _("{scope}: {mailboxes} mailboxes and {entries} entries agree").format(
            scope=scope, mailboxes=result.mailboxes, entries=result.entries
        )
    else:
        counts = ", ".join(f"{k} {n}" for k, n in result.counts.items() if n)
        summary = _("{scope}: drift found ({counts})").format(scope=scope, counts=counts)
        if fix:
            summary += _("; mended {fixed}, left {left} (see Xử lý)").format(
                fixed=result.fixed, left=len(result.unfixed)
            )
        else:
            summary += _("; run with --fix to mend what dnmail owns")
    if result.pending:
        summary += "\n" + ngettext(
            "{n} mailbox with an open request left to `provision`",
            "{n} mailboxes with an open request left to `provision`",
            result.pending,
        ).format(n=result.pending)
    st.output.data(
        result,
        columns=RECONCILE_COLUMNS,
        rows=rows,
        title=_("Directory reconciliation"),
        summary=summary,
    )
    if result.items:
        raise typer.Exit(ExitCode.PARTIAL)
