"""`dnmail mailbox …`: one mailbox, its addresses and aliases."""

from __future__ import annotations

import typer

from dnmail.cli.common import state
from dnmail.i18n import _

app = typer.Typer(
    help=_("Mailboxes: show one, with its address history and aliases."), no_args_is_help=True
)


@app.command(
    "show",
    help=_(
        "Show a mailbox: owner, unit, state, DN, and every address it has had with its "
        "dates; former addresses are aliases that still receive mail and are never given "
        "to anyone else. A former address shows its mailbox, with a note naming the "
        "current address."
    ),
)
def show(
    ctx: typer.Context,
    address: str = typer.Argument(
        ..., help=_("The mailbox's address, current or former (local part or local@domain).")
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
    if view.asked:
        st.output.info(
            _("{asked} is a former address of {current} (an alias since a rename)").format(
                asked=view.asked, current=view.address
            )
        )
    rows = [
        {
            "address": p.address,
            "since": p.since.strftime("%Y-%m-%d %H:%M"),
            "until": p.until.strftime("%Y-%m-%d %H:%M") if p.until else "",
            "role": _("current") if p.current else _("alias"),
        }
        for p in view.history
    ]
    st.output.data(
        view,
        columns=[("address", "Hộp thư"), ("since", "Từ"), ("until", "Đến"), ("role", "Vai trò")],
        rows=rows,
        title=f"{view.address} — {view.full_name} ({view.hr_id}), {view.unit}, {view.state}",
        summary=_("{dn}; aliases: {aliases}").format(
            dn=view.dn, aliases=", ".join(view.aliases) or _("none")
        ),
    )
