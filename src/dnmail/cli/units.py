"""`dnmail unit …`: the city's units (sở, ban, quận…)."""

from __future__ import annotations

import typer

from dnmail.cli.common import state

app = typer.Typer(help="Units: add and list the agencies whose staff get mailboxes.", no_args_is_help=True)

COLUMNS = [
    ("code", "Mã đơn vị"),
    ("name", "Tên đơn vị"),
    ("parent", "Đơn vị cấp trên"),
    ("account", "Tài khoản đơn vị"),
    ("staff", "Nhân sự"),
    ("mailboxes", "Hộp thư"),
]


@app.command("add")
def add(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="Short code, e.g. snv, sgtvt."),
    name: str = typer.Option(..., "--name", help="Vietnamese name, e.g. 'Sở Nội vụ'."),
    parent: str | None = typer.Option(None, "--parent", help="Code of the parent unit."),
    account: str | None = typer.Option(
        None, "--account", help="The unit's official account (default CODE@mail_domain)."
    ),
) -> None:
    """Add a unit (adding the same unit twice changes nothing)."""
    from dnmail.services.units import add_unit

    st = state(ctx)
    rt = st.runtime()
    with rt.session() as s:
        result = add_unit(
            s, config=rt.config, code=code, name=name, parent=parent, account=account,
            actor=rt.actor, now=rt.now(),
        )
    u = result.unit
    st.output.data(
        {"created": result.created, "unit": u.to_dict()},
        columns=COLUMNS[:4],
        rows=[u.to_dict()],
        summary=f"unit {u.code} added" if result.created else f"unit {u.code} already exists, unchanged",
    )


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List units with their staff and active mailbox counts."""
    from dnmail.services.units import list_units

    st = state(ctx)
    with st.runtime().session(readonly=True) as s:
        units = list_units(s)
    st.output.data(
        [u.to_dict() for u in units], columns=COLUMNS, rows=[u.to_dict() for u in units], title="Đơn vị"
    )
