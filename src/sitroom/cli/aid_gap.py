"""``sitroom aid gap`` and ``sitroom aid suggest``: what is still missing, and the
requests that would fill it (issue #12, items 5 and 7), over
:mod:`sitroom.aid.gap_service`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sitroom.cli.aid import aid_app, day, principal
from sitroom.cli.app import app_context, console, print_json
from sitroom.cli.options import JsonOpt

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sitroom.aid.gap_service import GapReport
    from sitroom.context import AppContext

HorizonOpt = Annotated[
    int | None,
    typer.Option(
        "--horizon", help="Days of need to look ahead (default: [aid] horizon; at most 28).",
        min=1, max=28,
    ),
]  # fmt: skip
OrgUnitOpt = Annotated[
    str | None,
    typer.Option("--org-unit", help="One region (default: every region and the country)."),
]
EndOpt = Annotated[
    str | None,
    typer.Option(
        "--end",
        help="Forecast from the series up to this day (default: its last); the stock and"
        " the pipeline as they stood at its close (default: now).",
    ),
]
InputOpt = Annotated[
    Path | None,
    typer.Option(
        "--input",
        help="CSV of expected daily cases (date, then a column per region) instead of the"
        " forecast.",
    ),
]
ModelOpt = Annotated[
    str,
    typer.Option("--model", help="Forecast model: adaptive, gapaware, skewed, growth, renewal."),
]


def _report(
    rt: AppContext,
    session: Session,
    *,
    horizon: int | None,
    org_unit: str | None,
    end: str | None,
    input_file: Path | None,
    model: str,
) -> GapReport:
    from sitroom.aid.gap_service import gap_report

    return gap_report(
        session, rt.country, horizon=horizon, org_unit=org_unit, series=input_file,
        end=day(end, "--end"), model=model, principal=principal(rt, session),
    )  # fmt: skip


def _local(moment: datetime, zone: str) -> str:
    """``moment`` in the country's time zone, to the minute, with the zone's name."""
    from zoneinfo import ZoneInfo

    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M} ({zone})"


@aid_app.command()
def gap(
    ctx: typer.Context,
    horizon: HorizonOpt = None,
    org_unit: OrgUnitOpt = None,
    end: EndOpt = None,
    input_file: InputOpt = None,
    model: ModelOpt = "adaptive",
    show_all: Annotated[
        bool, typer.Option("--all", help="Every item and region, not only those short.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The gap per item and region: need over the horizon minus stock minus the pipeline
    (pledged and shipped, weighted by each partner's record), and when each runs out."""
    from rich.table import Table

    rt = app_context(ctx)
    with rt.session() as session:
        report = _report(
            rt, session, horizon=horizon, org_unit=org_unit, end=end, input_file=input_file,
            model=model,
        )  # fmt: skip
    if as_json:
        print_json(report.to_dict())
        return
    console.print(
        f"The gap over {report.horizon} days from {report.first_day} ({report.source}):"
        " need - stock - weighted pipeline"
        + (
            f"; stock and pipeline as of {_local(report.as_of, rt.country.reporting.time_zone)}"
            if report.as_of is not None
            else "; stock and pipeline as they are now"
        )
    )
    table = Table(
        "org unit", "item", "need (90% interval)", "stock", "pipeline (weighted)", "gap",
        "runs out",
    )  # fmt: skip
    shown = 0
    for row in report.table:
        if not show_all and row.gap_upper <= 0:
            continue
        shown += 1
        data = row.to_dict()
        table.add_row(
            f"{row.org_unit} {row.name}",
            row.item,
            f"{data['need_median']:,} ({data['need_lower']:,}-{data['need_upper']:,}) {row.unit}s",
            f"{data['stock']:,}",
            f"{row.pipeline:,.0f} ({row.pipeline_weighted:,.0f})",
            f"{data['gap_median']:,} ({data['gap_lower']:,}-{data['gap_upper']:,})"
            if row.gap_upper > 0
            else f"none (surplus {data['surplus']:,})",
            str(row.runs_out or "-"),
        )
    if shown:
        console.print(table)
    else:
        console.print("no item is short over the horizon (--all shows every row)")
    for note in report.notes:
        console.print(note)


@aid_app.command()
def suggest(
    ctx: typer.Context,
    horizon: HorizonOpt = None,
    org_unit: OrgUnitOpt = None,
    end: EndOpt = None,
    input_file: InputOpt = None,
    model: ModelOpt = "adaptive",
    on: Annotated[
        str,
        typer.Option(
            "--on", help="median: items likely short; upper: items possibly short (the interval)."
        ),
    ] = "median",
    create: Annotated[
        bool, typer.Option("--create", help="Draft each request (to edit, then send).")
    ] = False,
    partner: Annotated[
        str | None,
        typer.Option("--partner", help="With --create: ask this partner (default: the first)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The requests the gap calls for: which item, how much, by when, to which partner
    (those who delivered it before, fastest first)."""
    from rich.table import Table

    from sitroom.aid.gap_service import draft_requests
    from sitroom.aid.gap_service import suggest as suggestions_for

    rt = app_context(ctx)
    with rt.session(write=create) as session:
        report = _report(
            rt, session, horizon=horizon, org_unit=org_unit, end=end, input_file=input_file,
            model=model,
        )  # fmt: skip
        found = suggestions_for(session, report, on=on)
        drafts = (
            draft_requests(
                session,
                found,
                user=rt.settings.user,
                principal=principal(rt, session),
                partner=partner,
            )
            if create
            else []
        )
    if as_json:
        print_json(
            {
                "suggestions": [s.to_dict() for s in found],
                "drafts": [d.to_dict() for d in drafts],
            }
        )
        return
    if not found:
        console.print("no request is called for: nothing is short over the horizon")
        return
    table = Table("item", "for", "quantity", "needed by", "ask", "then", "why")
    for s in found:
        first = s.partner
        table.add_row(
            s.item,
            s.org_unit_name,
            f"{s.quantity:,} {s.item_unit}s",
            str(s.needed_by),
            f"{first.code} via {first.channel.replace('_', ' ')}" if first else "(no partner)",
            ", ".join(p.code for p in s.partners[1:4]) or "-",
            s.reason,
        )
    console.print(table)
    for made in drafts:
        console.print(f"drafted {made.number} to {made.partner} (sitroom aid request edit|send)")
