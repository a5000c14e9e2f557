"""``sitroom audit``: the audit trail of every write."""

from __future__ import annotations

from typing import Annotated

import typer

from sitroom.cli.app import app, app_context, console, print_json
from sitroom.cli.options import JsonOpt
from sitroom.cli.text import clean


@app.command()
def audit(
    ctx: typer.Context,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="Only this user's writes (and security events about them)."
            " To act as a user, put the global --user before 'audit'.",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="From: 2022-05-20 (UTC), an ISO time, or 90m, 24h, 7d ago."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Before: the same forms as --since.")
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="import, value, approval, security, event or supply; repeat for several.",
        ),
    ] = None,
    values: Annotated[
        bool, typer.Option("--values", help="Also every value an import changed or deleted.")
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many entries (the newest).")
    ] = 500,
    as_json: JsonOpt = False,
) -> None:
    """List the audit trail: who wrote what, when, through which door, from where."""
    from rich.table import Table

    from sitroom.auth.service import acting_principal
    from sitroom.trail import DEFAULT_LIMIT, audit_trail, authorize_audit, parse_since

    rt = app_context(ctx)
    start = parse_since(since) if since else None
    end = parse_since(until) if until else None
    with rt.session() as session:
        authorize_audit(session, acting_principal(session, rt.settings.user))
        page = audit_trail(
            session,
            user=user,
            since=start,
            until=end,
            kinds=tuple(kind) if kind else None,
            values=values,
            limit=limit,
        )
    if as_json:
        print_json(
            {
                "matched": page.matched,
                "truncated": page.truncated,
                "entries": [e.to_dict() for e in page.entries],
            }
        )
        return
    if not page.entries:
        console.print("Nothing in the audit trail matches.")
        return
    table = Table("when (UTC)", "kind", "user", "action", "what", "via", "client", "detail")
    for e in page.entries:
        table.add_row(
            f"{e.time:%Y-%m-%d %H:%M:%S}",
            e.kind,
            clean(e.user or ""),
            e.action,
            clean(e.what),
            e.channel or "",
            clean(e.client or ""),
            clean(e.detail or ""),
        )
    console.print(table)
    if page.truncated:
        console.print(
            f"showing the newest {len(page.entries):,} of {page.matched:,} entries"
            f" (--limit, default {DEFAULT_LIMIT}; narrow with --since or --user)"
        )
