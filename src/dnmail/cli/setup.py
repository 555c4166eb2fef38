"""`dnmail init`."""

from __future__ import annotations

import typer

from dnmail.cli.common import state
from dnmail.i18n import _


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
        schema = f"schema already at revision {result.revision_after}"
    else:
        schema = f"schema upgraded {result.revision_before or '(empty)'} → {result.revision_after}"
    if not result.directory_checked:
        branches = "directory skipped"
    elif result.branches_created:
        branches = f"created {len(result.branches_created)} directory branches"
    else:
        branches = "directory branches already present"
    if result.accounts_created:
        branches += f"; created {len(result.accounts_created)} unit accounts"
    out.data(
        result,
        columns=[("item", "item"), ("value", "value")],
        rows=[
            {"item": "database", "value": result.database},
            {"item": "schema", "value": schema},
            {"item": "directory", "value": branches},
            *({"item": "created", "value": b} for b in result.branches_created),
            *({"item": "created", "value": a} for a in result.accounts_created),
            *({"item": "audit key", "value": k} for k in [result.audit_key_created] if k),
        ],
        title="dnmail init",
        summary=("nothing to do: already initialised" if not result.changed else "initialised")
        + (f"\naudit key created: {result.audit_key_created} (0600). Copy it to every IID "
           "host and keep a copy off this host: without it `audit verify` cannot tell a "
           "rewritten trail (docs/security.md)" if result.audit_key_created else ""),
    )
