"""`dnmail audit list|verify`: read and check the hash-chained audit trail."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dnmail.cli.common import state
from dnmail.cli.render import row_of
from dnmail.i18n import N_, _, ngettext

app = typer.Typer(help=_(
    "The audit trail: list events, verify the hash chain."
), no_args_is_help=True)

COLUMNS = [
    ("id", N_("Id")),
    ("at", N_("Time (UTC+7)")),
    ("actor", N_("Actor")),
    ("action", N_("Action")),
    ("target", N_("Target")),
    ("details", N_("Details")),
]


@app.command("list", help=_("Audit events, newest first, one page at a time."))
def list_(
    ctx: typer.Context,
    since: str | None = typer.Option(
        None, "--since", help=_("Events on or after this day (YYYY-MM-DD, Vietnam time).")
    ),
    actor: str | None = typer.Option(
        None, "--actor", help=_("Who acted; a trailing * matches a prefix.")
    ),
    target: str | None = typer.Option(
        None, "--target", help=_("What was acted on, e.g. mailbox:thanhnq or 'request:*'.")
    ),
    action: str | None = typer.Option(None, "--action", help=_(
        "e.g. mailbox.lock or 'provision.*'."
    )),
    limit: int = typer.Option(50, "--limit", min=1, max=100_000, help=_("Events per page.")),
    page: int = typer.Option(
        1, "--page", min=1, help=_("Page number (page 1 holds the newest events).")
    ),
) -> None:
    """Audit events, newest first, one page at a time."""
    from dnmail.clock import LOCAL_TZ, parse_day
    from dnmail.services.audit_trail import list_audit_events
    from dnmail.services.operators import Right

    day = parse_day(since) if since else None
    st = state(ctx)
    st.authorize(Right.READ_AUDIT)
    result = list_audit_events(
        st.runtime(),
        since=day,
        actor=actor,
        target=target,
        action=action,
        limit=limit,
        offset=(page - 1) * limit,
    )
    # People read Vietnam time to the second (as in the exports); JSON keeps UTC.
    rows = [
        {
            **row_of(e),
            "at": e.at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S"),
            "details": json.dumps(e.details, ensure_ascii=False, sort_keys=True),
        }
        for e in result.items
    ]
    pages = max(1, -(-result.total // limit))
    st.output.data(
        result,
        columns=COLUMNS,
        rows=rows,
        title=_("Audit trail (newest first)"),
        summary=ngettext(
            "page {page} of {pages}: {shown} of {total} event, newest first",
            "page {page} of {pages}: {shown} of {total} events, newest first",
            result.total,
        ).format(page=page, pages=pages, shown=len(rows), total=result.total),
    )


@app.command("verify", help=_(
    "Walk the hash chain and name the first event altered, removed or inserted (exit "
    "3)."
))
def verify(
    ctx: typer.Context,
    anchor: Path | None = typer.Option(
        None,
        "--anchor",
        dir_okay=False,
        help=_("A file kept off the database host with the head of the chain: checked when "
        "it exists, written after every intact run. Catches deleted last events."),
    ),
) -> None:
    """Walk the hash chain and name the first event altered, removed or inserted (exit 3)."""
    from dnmail.errors import AuditChainBroken
    from dnmail.services.audit_trail import verify_audit_trail
    from dnmail.services.operators import Right

    st = state(ctx)
    st.authorize(Right.READ_AUDIT)
    report = verify_audit_trail(st.runtime(), anchor_file=anchor)
    out = st.output
    if out.format == "csv":
        columns = [(k, k) for k in ("ok", "checked", "broken_at", "problem")]
        out.data(report, columns=columns, rows=[report])
    elif report.ok or out.format == "json":
        out.data(report, summary=report.message)
    if report.ok:
        return
    raise AuditChainBroken(
        report.message,
        hint=_(
            "compare with a backup of the database; the events from that one on cannot be "
            "trusted"
        ),
    )
