"""`provision`, `reset-password`, `lock`, `unlock` (steps 3, 5, 6)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from dnmail.cli.common import progress_bar, state
from dnmail.domain.states import LockReason
from dnmail.errors import ExitCode
from dnmail.i18n import N_, _


class HandoutFormat(StrEnum):
    xlsx = "xlsx"
    csv = "csv"


MAILBOX_COLUMNS = [
    ("address", N_("Mailbox")),
    ("full_name", N_("Full name")),
    ("state", N_("State")),
    ("detail", N_("Details")),
]


def register(app: typer.Typer) -> None:
    app.command("provision", help=_(
        "Carry out pending (and retryable failed) requests: create, change (move), cancel "
        "(lock).\n\nSafe to run twice, to run from several hosts at once and to kill: a "
        "rerun finishes what was left. Exit 3 when some requests failed (each with its "
        "reason)."
    ))(provision)
    app.command("reset-password", help=_(
        "Cấp lại mật khẩu: a new password, to be changed at the next login."
    ))(reset_password)
    app.command("lock", help=_("Lock a mailbox: logins fail, mail is still delivered."))(lock)
    app.command("unlock", help=_("Unlock a mailbox: its password works again."))(unlock)


def provision(
    ctx: typer.Context,
    request_ids: list[int] | None = typer.Argument(
        None, help=_("Only these requests (default: the whole queue).")
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help=_("At most this many requests.")
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help=_("Say what would be done; change nothing.")
    ),
    handout_dir: Path | None = typer.Option(
        None, "--handout-dir", file_okay=False,
        help=_("Write passwords to per-unit handout files (0600) here instead of showing them."),
    ),
    handout_format: HandoutFormat = typer.Option(
        HandoutFormat.xlsx, "--handout-format",
        help=_("The handout files' format: xlsx (a workbook to print, the default) or csv."),
    ),
) -> None:
    """Carry out pending (and retryable failed) requests: create, change (move), cancel (lock).

    Safe to run twice, to run from several hosts at once and to kill: a rerun finishes
    what was left. Exit 3 when some requests failed (each with its reason).
    """
    from dnmail.services.operators import Right
    from dnmail.services.provisioning import count_open
    from dnmail.services.provisioning import provision as run

    st = state(ctx)
    st.authorize(Right.PROVISION)
    rt = st.runtime()
    out = st.output
    ids = list(request_ids or [])

    def total() -> int:
        n = count_open(rt, ids)
        return min(n, limit) if limit else n

    with progress_bar(out, _("provisioning"), total) as progress:
        summary = run(
            rt, ids, limit=limit, dry_run=dry_run, handout_dir=handout_dir, progress=progress,
            handout_format=handout_format.value,
        )
    # A password is shown when it is not in a handout (none was asked for, or
    # writing it failed): once.
    show_pw = any(i.password and not i.handed_out for i in summary.items)
    columns = [
        ("request_id", N_("Request")),
        ("kind", N_("Kind")),
        ("unit", N_("Unit")),
        ("full_name", N_("Full name")),
        ("address", N_("Mailbox")),
        ("state", N_("Result")),
        ("detail", N_("Details")),
    ]
    if show_pw:
        columns.append(("password", N_("Password")))
    done, failed = len(summary.done), len(summary.failed)
    if dry_run:
        text = _("dry run: {ok} would be done, {failed} would fail; nothing changed").format(
            ok=len(summary.items) - failed, failed=failed
        )
    else:
        text = _("{done} done, {failed} failed").format(done=done, failed=failed)
    if not summary.items:
        text = _("the queue is empty: nothing to do")
    for p in summary.handouts:
        text += "\n" + _("handout written: {path}").format(path=p)
    if show_pw and out.format == "table":
        text += "\n" + _("passwords are shown once: hand them over now (or use --handout-dir)")
    out.data(
        summary, columns=columns, rows=summary.items, title=_("Provisioning results"), summary=text,
        secrets=show_pw,
    )
    if summary.handout_problem:
        out.error(summary.handout_problem)
    if failed or summary.handout_problem:
        raise typer.Exit(ExitCode.PARTIAL)


def reset_password(
    ctx: typer.Context,
    address: str = typer.Argument(..., help=_("The mailbox (local part or full address).")),
    handout: Path | None = typer.Option(
        None, "--handout", dir_okay=False,
        help=_("Write the new password to this file (0600) instead of showing it."),
    ),
) -> None:
    """Cấp lại mật khẩu: a new password, to be changed at the next login."""
    from dnmail.services.accounts import reset_password as run
    from dnmail.services.operators import Right

    st = state(ctx)
    # A unit officer resets in its own unit only, bound to the directory as itself.
    unit = st.authorize(Right.RESET_PASSWORD)
    r = run(st.runtime(), address, handout=handout, unit=unit)
    cols = [("address", N_("Mailbox")), ("full_name", N_("Full name")), ("unit", N_("Unit"))]
    if r.password:
        cols.append(("password", N_("Password")))
    summary = _("password of {address} reset; it must be changed at the next login").format(
        address=r.address
    )
    if r.handout:
        summary += "\n" + _("handout written: {path}").format(path=r.handout)
    st.output.data(r, columns=cols, rows=[r], summary=summary, secrets=True)
    if r.unrecorded:
        from dnmail.errors import NotRecorded

        raise NotRecorded(r.unrecorded)


def lock(
    ctx: typer.Context,
    address: str = typer.Argument(..., help=_("The mailbox (local part or full address).")),
    reason: LockReason = typer.Option(
        ..., "--reason",
        help=_("retired (nghỉ hưu), resigned (thôi việc), transferred, other."),
    ),
    note: str | None = typer.Option(None, "--note", help=_("Free text kept with the lock.")),
) -> None:
    """Lock a mailbox: logins fail, mail is still delivered."""
    from dnmail.services.accounts import lock_mailbox
    from dnmail.services.operators import Right

    st = state(ctx)
    st.authorize(Right.LOCK)
    r = lock_mailbox(st.runtime(), address, reason=reason, note=note)
    st.output.data(r, columns=MAILBOX_COLUMNS, rows=[r], summary=f"{r.address}: {r.detail}")


def unlock(
    ctx: typer.Context,
    address: str = typer.Argument(..., help=_("The mailbox (local part or full address).")),
) -> None:
    """Unlock a mailbox: its password works again."""
    from dnmail.services.accounts import unlock_mailbox
    from dnmail.services.operators import Right

    st = state(ctx)
    st.authorize(Right.UNLOCK)
    r = unlock_mailbox(st.runtime(), address)
    st.output.data(r, columns=MAILBOX_COLUMNS, rows=[r], summary=f"{r.address}: {r.detail}")
