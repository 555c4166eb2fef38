"""`dnmail db grant`: a unit's own role on the shared PostgreSQL database."""

from __future__ import annotations

import typer

from dnmail.cli.common import state
from dnmail.i18n import N_, _

app = typer.Typer(help=_("The shared PostgreSQL database: unit roles."), no_args_is_help=True)


@app.command("grant", help=_(
    "Let a unit's own PostgreSQL role use dnmail for that unit only (PostgreSQL "
    "only).\n\nGrants the least a unit officer's commands need and maps the role to the "
    "unit: row-level security then shows it only its unit's rows and lets it only queue "
    "and withdraw its own requests. IID administrators only; see docs/security.md."
))
def grant(
    ctx: typer.Context,
    unit: str = typer.Argument(..., help=_("The unit's code, e.g. snv.")),
    role: str = typer.Option(..., "--role", help=_("The unit's database role, e.g. dnmail_snv.")),
    create_role: bool = typer.Option(
        False, "--create-role", help=_(
            "Create the role (LOGIN, no password) when it does not exist."
        )
    ),
) -> None:
    """Let a unit's own PostgreSQL role use dnmail for that unit only (PostgreSQL only).

    Grants the least a unit officer's commands need and maps the role to the unit:
    row-level security then shows it only its unit's rows and lets it only queue and
    withdraw its own requests. IID administrators only; see docs/security.md.
    """
    from dnmail.services.dbroles import check_role_name, grant_unit_role
    from dnmail.services.operators import Right

    check_role_name(role)
    st = state(ctx)
    st.authorize(Right.GRANT_DATABASE_ROLE)
    r = grant_unit_role(st.runtime(), unit, role=role, create=create_role)
    summary = _("database role {role} acts for unit {unit}").format(role=r.role, unit=r.unit)
    if r.role_created:
        summary += _(
            " (role created: give it a password with psql's \\password, or a certificate)"
        )
    if not r.mapped:
        summary += _("; it already did: privileges re-applied")
    rows = [{"grant": g} for g in r.grants]
    st.output.data(r, columns=[("grant", N_("Privileges granted"))], rows=rows, summary=summary)
