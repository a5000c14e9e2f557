"""``sitroom approve``, ``unapprove`` and ``approvals``: DHIS2's data approval."""

from __future__ import annotations

from typing import Annotated

import typer

from sitroom.cli.app import app, app_context, console, print_json
from sitroom.cli.options import JsonOpt

UnitArg = Annotated[str, typer.Argument(help="Org-unit code: the unit and every unit below it.")]
PeriodArg = Annotated[str, typer.Argument(help="Period: 2022-05-20, 2022W20 or 202205.")]


@app.command()
def approve(
    ctx: typer.Context, org_unit: UnitArg, period: PeriodArg, as_json: JsonOpt = False
) -> None:
    """Approve a period of an org unit and the units below it: its values then refuse change."""
    from sitroom.auth.service import acting_principal
    from sitroom.surveillance.approvals import approve as run

    rt = app_context(ctx)
    with rt.session(write=True) as session:
        who = acting_principal(session, rt.settings.user)
        done = run(
            session,
            org_unit,
            period,
            user=rt.settings.user,
            principal=who,
            lock_timeout=rt.settings.lock_timeout,
        )
    if as_json:
        print_json(done.to_dict())
    else:
        console.print(f"approved {done.period} of {done.org_unit} and below, as {done.approved_by}")


@app.command()
def unapprove(
    ctx: typer.Context,
    org_unit: UnitArg,
    period: PeriodArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    as_json: JsonOpt = False,
) -> None:
    """End an approval, saying why: the values can change again."""
    from sitroom.auth.service import acting_principal
    from sitroom.surveillance.approvals import unapprove as run

    rt = app_context(ctx)
    with rt.session(write=True) as session:
        who = acting_principal(session, rt.settings.user)
        done = run(
            session,
            org_unit,
            period,
            reason=reason,
            user=rt.settings.user,
            principal=who,
            lock_timeout=rt.settings.lock_timeout,
        )
    if as_json:
        print_json(done.to_dict())
    else:
        console.print(f"un-approved {done.period} of {done.org_unit}: {done.revoke_reason}")


@app.command()
def approvals(
    ctx: typer.Context,
    org_unit: Annotated[
        str | None, typer.Option("--org-unit", help="Only this unit's subtree.")
    ] = None,
    include_revoked: Annotated[
        bool, typer.Option("--all", help="Also the approvals that were ended.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the approvals, newest first."""
    from rich.table import Table

    from sitroom.auth.service import acting_principal
    from sitroom.cli.text import clean
    from sitroom.surveillance.approvals import list_approvals

    rt = app_context(ctx)
    with rt.session() as session:
        who = acting_principal(session, rt.settings.user)
        found = list_approvals(
            session, org_unit=org_unit, include_revoked=include_revoked, principal=who
        )
    if as_json:
        print_json([a.to_dict() for a in found])
        return
    if not found:
        console.print("no approvals")
        return
    table = Table("org unit", "period", "approved by", "approved at (UTC)", "ended")
    for a in found:
        why = clean(a.revoke_reason or "", 200)
        ended = "" if a.active else f"{a.revoked_at:%Y-%m-%d %H:%M} by {a.revoked_by}: {why}"
        table.add_row(a.org_unit, a.period, a.approved_by, f"{a.approved_at:%Y-%m-%d %H:%M}", ended)
    console.print(table)
