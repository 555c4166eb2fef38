"""`dnmail mailbox …`: one mailbox, its addresses and aliases."""

from __future__ import annotations

import typer

from dnmail.cli.common import state

app = typer.Typer(
    help="Mailboxes: show one, with its address history and aliases.", no_args_is_help=True
)


@app.command("show")
def show(
    ctx: typer.Context,
    address: str = typer.Argument(
        ..., help="The mailbox's address, current or former (local part or local@domain)."
    ),
) -> None:
    """Show a mailbox: owner, unit, state, DN, and every address it has had with its
    dates; former addresses are aliases that still receive mail and are never given to
    anyone else."""
    from dnmail.services.mailboxes import show_mailbox
    from dnmail.services.operators import Right

    st = state(ctx)
    unit = st.authorize(Right.LIST_STAFF)
    view = show_mailbox(st.runtime(), address, unit=unit)
    rows = [
        {
            "address": p.address,
            "since": p.since.strftime("%Y-%m-%d %H:%M"),
            "until": p.until.strftime("%Y-%m-%d %H:%M") if p.until else "",
            "role": "hiện tại" if p.current else "bí danh",
        }
        for p in view.history
    ]
    st.output.data(
        view,
        columns=[("address", "Hộp thư"), ("since", "Từ"), ("until", "Đến"), ("role", "Vai trò")],
        rows=rows,
        title=f"{view.address} — {view.full_name} ({view.hr_id}), {view.unit}, {view.state}",
        summary=f"{view.dn}; aliases: {', '.join(view.aliases) or 'none'}",
    )
