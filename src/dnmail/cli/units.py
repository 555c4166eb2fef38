"""`dnmail unit …`: the city's units (sở, ban, quận…)."""

from __future__ import annotations

from pathlib import Path

import typer

from dnmail.cli.common import state
from dnmail.i18n import N_, _

app = typer.Typer(
    help=_("Units: add and list the agencies whose staff get mailboxes."), no_args_is_help=True
)

COLUMNS = [
    ("code", N_("Unit code")),
    ("name", N_("Unit name")),
    ("parent", N_("Parent unit")),
    ("account", N_("Unit account")),
    ("staff", N_("Staff")),
    ("mailboxes", N_("Mailboxes")),
]


@app.command("add", help=_("Add a unit (adding the same unit twice changes nothing)."))
def add(
    ctx: typer.Context,
    code: str = typer.Argument(..., help=_("Short code, e.g. snv, sgtvt.")),
    name: str = typer.Option(..., "--name", help=_("Vietnamese name, e.g. 'Sở Nội vụ'.")),
    parent: str | None = typer.Option(None, "--parent", help=_("Code of the parent unit.")),
    account: str | None = typer.Option(
        None, "--account", help=_("The unit's official account (default CODE@mail_domain).")
    ),
) -> None:
    """Add a unit (adding the same unit twice changes nothing)."""
    from dnmail.services.operators import Right
    from dnmail.services.units import add_unit

    st = state(ctx)
    st.authorize(Right.ADD_UNIT)
    result = add_unit(st.runtime(), code, name=name, parent=parent, account=account)
    u = result.unit
    st.output.data(
        {"created": result.created, "unit": u},
        columns=COLUMNS[:4],
        rows=[u],
        summary=(
            _("unit {code} added") if result.created
            else _("unit {code} already exists, unchanged")
        ).format(code=u.code),
    )


@app.command("list", help=_("List units with their staff and active mailbox counts."))
def list_(ctx: typer.Context) -> None:
    """List units with their staff and active mailbox counts."""
    from dnmail.services.operators import Right
    from dnmail.services.units import list_units

    st = state(ctx)
    st.authorize(Right.LIST_UNITS)
    units = list_units(st.runtime())
    st.output.data(units, columns=COLUMNS, rows=units, title=_("Units"))


@app.command("set-password", help=_(
    "Give the unit's official account (uid=CODE,ou=units) a new password, so its officer "
    "can bind to the directory (e.g. for reset-password). IID administrators only."
))
def set_password(
    ctx: typer.Context,
    code: str = typer.Argument(..., help=_("The unit's code, e.g. snv.")),
    handout: Path | None = typer.Option(
        None, "--handout", dir_okay=False,
        help=_("Write the password to this file (0600) instead of showing it."),
    ),
) -> None:
    """Give the unit's official account (uid=CODE,ou=units) a new password, so its officer
    can bind to the directory (e.g. for reset-password). IID administrators only."""
    from dnmail.services.operators import Right
    from dnmail.services.units import set_unit_password

    st = state(ctx)
    st.authorize(Right.SET_UNIT_PASSWORD)
    r = set_unit_password(st.runtime(), code, handout=handout)
    cols = [("code", N_("Unit code")), ("account", N_("Unit account")), ("dn", "DN")]
    if r.password:
        cols.append(("password", N_("Password")))
    summary = _("password of {account} ({dn}) set").format(account=r.account, dn=r.dn)
    if r.created:
        summary += _("; the account was created in the directory")
    if r.handout:
        summary += "\n" + _("handout written: {path}").format(path=r.handout)
    elif st.output.format == "table":
        summary += "\n" + _(
            "the password is shown once: hand it to the unit now (or use --handout)"
        )
    st.output.data(r, columns=cols, rows=[r], summary=summary, secrets=True)
    if r.unrecorded:
        from dnmail.errors import NotRecorded

        raise NotRecorded(r.unrecorded)
