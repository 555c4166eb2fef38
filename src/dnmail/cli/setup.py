"""`dnmail init`."""

from __future__ import annotations

import typer

from dnmail.cli.common import state
from dnmail.i18n import N_, _, ngettext


def register(app: typer.Typer) -> None:
    app.command("init", help=_(
        "Create or upgrade the database schema and the directory's base "
        "branches.\n\nRunning it twice changes nothing."
    ))(init)


def init(
    ctx: typer.Context,
    skip_directory: bool = typer.Option(
        False, "--skip-directory", help=_("Only the database schema; do not touch the directory.")
    ),
) -> None:
    """Create or upgrade the database schema and the directory's base branches.

    Running it twice changes nothing.
    """
    from dnmail.services.operators import Right
    from dnmail.services.setup import initialise

    st = state(ctx)
    st.authorize(Right.INIT)
    result = initialise(st.runtime(), directory=not skip_directory)
    out = st.output
    if result.revision_before == result.revision_after:
        schema = _("schema already at revision {revision}").format(revision=result.revision_after)
    else:
        schema = _("schema upgraded {before} → {after}").format(
            before=result.revision_before or _("(empty)"), after=result.revision_after
        )
    if not result.directory_checked:
        branches = _("directory skipped")
    elif result.branches_created:
        branches = ngettext(
            "created {n} directory branch", "created {n} directory branches",
            len(result.branches_created),
        ).format(n=len(result.branches_created))
    else:
        branches = _("directory branches already present")
    if result.accounts_created:
        branches += ngettext(
            "; created {n} unit account", "; created {n} unit accounts",
            len(result.accounts_created),
        ).format(n=len(result.accounts_created))
    summary = _("initialised") if result.changed else _("nothing to do: already initialised")
    if result.audit_key_created:
        summary += "\n" + _(
            "audit key created: {path} (0600). Copy it to every IID host and keep a copy off "
            "this host: without it `audit verify` cannot tell a rewritten trail "
            "(docs/security.md)"
        ).format(path=result.audit_key_created)
    created = _("created")
    out.data(
        result,
        columns=[("item", N_("Item")), ("value", N_("Value"))],
        rows=[
            {"item": _("database"), "value": result.database},
            {"item": _("schema"), "value": schema},
            {"item": _("LDAP directory"), "value": branches},
            *({"item": created, "value": b} for b in result.branches_created),
            *({"item": created, "value": a} for a in result.accounts_created),
            *(
                {"item": _("audit key"), "value": k}
                for k in [result.audit_key_created] if k
            ),
        ],
        title="dnmail init",
        summary=summary,
    )
