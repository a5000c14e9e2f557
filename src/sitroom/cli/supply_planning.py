"""``sitroom supply alerts|indicators|demand|allocate|allocate-tests`` (issue #11, items 6-8).

Thin commands over :mod:`sitroom.supply.indicators`,
:mod:`sitroom.supply.demand_service` and :mod:`sitroom.supply.planning`, registered
on the ``supply`` group; ``--json`` everywhere. They read and propose: nothing is
written (an allocation becomes orders only when approved).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sitroom.cli.app import app_context, console, print_json
from sitroom.cli.options import JsonOpt, parse_date
from sitroom.cli.supply import supply_app

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sitroom.auth.permissions import Principal
    from sitroom.context import AppContext

DayOpt = Annotated[
    str | None,
    typer.Option(
        "--day", help="Read the stock at the end of this day (YYYY-MM-DD); default today."
    ),
]
OrgUnitOpt = Annotated[
    str | None,
    typer.Option("--org-unit", help="Only the facilities of this org unit's subtree (its code)."),
]
ItemFilterOpt = Annotated[str | None, typer.Option("--item", help="One item, e.g. PARA-500.")]
HorizonOpt = Annotated[int, typer.Option("--horizon", help="Days ahead (1 to 28).")]
#: Rows printed as a table (``--json`` gives them all).
MAX_ROWS = 60


def _day(text: str | None, what: str = "--day") -> date | None:
    return None if text is None else parse_date(text, what)


def _who(rt: AppContext, session: Session) -> Principal | None:
    from sitroom.auth.service import acting_principal

    return acting_principal(session, rt.settings.user)


def _days(value: float | None) -> str:
    return "no use" if value is None else f"{value:,.1f}"


@supply_app.command()
def alerts(
    ctx: typer.Context,
    day: DayOpt = None,
    org_unit: OrgUnitOpt = None,
    item: ItemFilterOpt = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind", help="Only these: stock_out, low_stock, expired, expiring (repeatable)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Stock-outs, low stock, expired and expiring stock, each in one sentence."""
    from sitroom.supply import indicators

    rt = app_context(ctx)
    with rt.session() as session:
        found = indicators.alerts(
            session,
            rt.country,
            day=_day(day),
            item=item,
            under=org_unit,
            kinds=kind or None,
            principal=_who(rt, session),
        )
    if as_json:
        print_json([a.to_dict() for a in found])
        return
    if not found:
        console.print("no alerts")
        return
    for alert in found[:MAX_ROWS]:
        console.print(f"{alert.severity:8} {alert.kind:9} {alert.sentence}")
    if len(found) > MAX_ROWS:
        console.print(f"... and {len(found) - MAX_ROWS:,} more (--json lists them all)")


@supply_app.command()
def indicators(
    ctx: typer.Context,
    day: DayOpt = None,
    org_unit: OrgUnitOpt = None,
    facility: Annotated[str | None, typer.Option("--facility", help="One facility.")] = None,
    item: ItemFilterOpt = None,
    facility_type: Annotated[
        str | None,
        typer.Option("--type", help="One type: stockpile, warehouse, store, pharmacy, hospital."),
    ] = None,
    window: Annotated[
        int | None,
        typer.Option("--window", help="Days of consumption averaged (default: the country's)."),
    ] = None,
    expiring_days: Annotated[
        int | None,
        typer.Option("--expiring-days", help="Expiring: within this many days (default 30)."),
    ] = None,
    level: Annotated[
        int, typer.Option("--level", help="Org unit level the areas sum to (2: regions).")
    ] = 2,
    areas: Annotated[
        bool, typer.Option("--areas", help="Show the org units' sums, not the facilities.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Consumption, stock on hand, days and months of stock, stock-out days, expiring stock."""
    from rich.table import Table

    from sitroom.supply import indicators as service

    rt = app_context(ctx)
    with rt.session() as session:
        report = service.indicators(
            session,
            rt.country,
            day=_day(day),
            facility=facility,
            item=item,
            under=org_unit,
            facility_type=facility_type,
            level=level,
            window_days=window,
            expiring_days=expiring_days,
            principal=_who(rt, session),
        )
    if as_json:
        print_json(report.to_dict())
        return
    console.print(
        f"{report.first_day} to {report.day} ({report.window_days} days); expiring: within"
        f" {report.expiring_days} days"
    )
    if areas:
        table = Table("org unit", "item", "on hand", "usable", "use/day", "days", "out", "expiring")
        for a in report.areas[:MAX_ROWS]:
            table.add_row(
                f"{a.org_unit} {a.name}",
                a.item,
                f"{a.on_hand:,}",
                f"{a.usable:,}",
                f"{a.daily_use:,.1f}",
                _days(a.to_dict()["days_of_stock"]),
                f"{a.out_now}/{a.dispensing_facilities}",
                f"{a.expiring:,}",
            )
        shown = len(report.areas)
    else:
        table = Table(
            "facility", "item", "on hand", "use/day", "days", "stock-out days", "expiring"
        )
        for f in report.facilities[:MAX_ROWS]:
            table.add_row(
                f.facility,
                f.item,
                f"{f.usable:,} {f.unit}s" + (f" (+{f.expired:,} expired)" if f.expired else ""),
                f"{f.daily_use:,.1f}",
                _days(f.to_dict()["days_of_stock"]),
                str(f.stock_out_days),
                f"{f.expiring:,}",
            )
        shown = len(report.facilities)
    if not shown:
        console.print("no stock recorded")
        return
    console.print(table)
    if shown > MAX_ROWS:
        console.print(f"... and {shown - MAX_ROWS:,} more rows (--json lists them all)")


@supply_app.command()
def demand(
    ctx: typer.Context,
    horizon: HorizonOpt = 14,
    org_unit: Annotated[
        str | None,
        typer.Option("--org-unit", help="One region (default: every region of the country)."),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--end", help="Forecast from the series up to this day (default: its last)."),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Forecast model: adaptive (the default of analyze forecast), gapaware, skewed,"
            " growth, renewal.",
        ),
    ] = "adaptive",
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the forecast.")] = 0,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input",
            help="CSV of expected daily cases (date, then a column per org unit code)"
            " instead of the forecast.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Units needed per region and item over the horizon: the forecast of fever x the protocols."""
    from rich.table import Table

    from sitroom.supply import demand_service

    rt = app_context(ctx)
    with rt.session() as session:
        who = _who(rt, session)
        if input_file is not None:
            report = demand_service.demand_from_file(
                session, rt.country, input_file, horizon=horizon, principal=who
            )
        else:
            report = demand_service.forecast_demand(
                session,
                rt.country,
                horizon=horizon,
                org_unit=org_unit,
                end=_day(end, "--end"),
                model=model,
                seed=seed,
                principal=who,
            )
    if as_json:
        print_json(report.to_dict())
        return
    start = f" from {report.first_day}" if report.first_day else ""
    console.print(f"Need over {report.horizon} days{start} ({report.source}): {report.demand.note}")
    table = Table("org unit", "item", "median", "50% interval", "90% interval")
    for row in report.rows():
        table.add_row(
            f"{row['org_unit']} {row['name']}",
            row["item"],
            f"{row['median']:,.0f} {row['unit']}s",
            f"{row['lower_50']:,.0f}-{row['upper_50']:,.0f}",
            f"{row['lower_90']:,.0f}-{row['upper_90']:,.0f}",
        )
    console.print(table)
    for note in report.notes:
        console.print(note)


def _capacity(values: list[str] | None) -> dict[str, float] | None:
    from sitroom.errors import SitroomError

    if not values:
        return None
    routes = {}
    for value in values:
        code, sep, units = value.partition("=")
        try:
            routes[code.strip()] = float(units)
        except ValueError:
            sep = ""
        if not sep or not code.strip():
            raise SitroomError(f"--capacity {value!r}: give FACILITY=UNITS, e.g. WH-KP-04=50000")
    return routes


@supply_app.command()
def allocate(
    ctx: typer.Context,
    item: Annotated[
        list[str], typer.Option("--item", help="Item to share, e.g. PARA-500 (repeatable).")
    ],
    source: Annotated[
        str, typer.Option("--from", help="The facility whose stock is shared.")
    ] = "STOCKPILE",
    level: Annotated[
        str,
        typer.Option(
            "--level",
            help="region: the warehouses the source supplies; pharmacy: the pharmacies below it.",
        ),
    ] = "region",
    org_unit: Annotated[
        str | None, typer.Option("--org-unit", help="Only destinations in this org unit.")
    ] = None,
    floor_days: Annotated[
        float,
        typer.Option("--floor-days", help="Days of stock everyone should hold where possible."),
    ] = 3.0,
    horizon: HorizonOpt = 14,
    quantile: Annotated[
        str,
        typer.Option(
            "--quantile", help="Plan against: median, mean, upper_50, upper_90 (a bad fortnight)."
        ),
    ] = "median",
    weights: Annotated[
        str,
        typer.Option("--weights", help="Vulnerability: fever (per 100,000), population, equal."),
    ] = "fever",
    capacity: Annotated[
        list[str] | None,
        typer.Option(
            "--capacity", help="Route capacity FACILITY=UNITS over the horizon (repeatable)."
        ),
    ] = None,
    demand_file: Annotated[
        Path | None,
        typer.Option("--demand", help="CSV of expected daily cases per region, not the forecast."),
    ] = None,
    day: DayOpt = None,
    approve: Annotated[
        bool,
        typer.Option(
            "--approve",
            help="Approve the plan: its order lines become draft distribution orders"
            " (one transaction; review them with `supply orders list`).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Share scarce stock to minimise weighted unmet need: who gets what and why, and the
    order lines to approve (--approve makes them draft orders)."""
    from rich.table import Table

    from sitroom.supply import demand_service, planning

    rt = app_context(ctx)
    with rt.session() as session:
        who = _who(rt, session)
        given = None
        if demand_file is not None:
            given = demand_service.demand_from_file(
                session, rt.country, demand_file, horizon=horizon, principal=who
            )
        plan = planning.plan_allocation(
            session,
            rt.country,
            items=item,
            source=source,
            level=level,
            org_unit=org_unit,
            horizon=horizon,
            floor_days=floor_days,
            quantile=quantile,
            weights=weights,
            capacity=_capacity(capacity),
            day=_day(day),
            demand=given,
            principal=who,
        )
    drafted: list[Any] = []
    if approve:
        with rt.session(write=True) as session:
            drafted = planning.orders_from_plan(
                session, plan, user=rt.settings.user, principal=_who(rt, session)
            )
    if as_json:
        print_json(
            {**plan.to_dict(), "drafted": [o.number for o in drafted]}
            if approve
            else plan.to_dict()
        )
        return
    table = Table("destination", "item", "need", "on hand", "gets", "unmet", "days after")
    for row in plan.rows()[:MAX_ROWS]:
        if row["shortfall"] <= 0 and row["given"] <= 0:
            continue
        table.add_row(
            f"{row['destination']} ({row['name']})",
            row["item"],
            f"{row['need']:,.0f}",
            f"{row['on_hand']:,.0f}",
            f"{row['given']:,.0f}",
            f"{row['unmet']:,.0f}",
            _days(row["days_of_stock"]),
        )
    console.print(table)
    for sentence in plan.sentences:
        console.print(sentence)
    lines = planning.proposed_orders(plan)
    if drafted:
        console.print(
            f"Approved: {len(drafted)} draft order{'s' if len(drafted) != 1 else ''}"
            f" ({drafted[0].number} to {drafted[-1].number}) for {len(lines)} order lines;"
            " approve and dispatch them with `sitroom supply orders approve` and"
            " `sitroom supply dispatch`."
        )
        return
    console.print(
        f"{len(lines)} order line{'s' if len(lines) != 1 else ''} proposed from {plan.source}"
        " (drafts once approved: --approve)."
    )


@supply_app.command("allocate-tests")
def allocate_tests(
    ctx: typer.Context,
    kits: Annotated[int, typer.Option("--kits", help="PCR test kits to send.")],
    rule: Annotated[
        str,
        typer.Option("--rule", help="proportional (to suspected cases), sqrt or equal."),
    ] = "proportional",
    days: Annotated[
        int, typer.Option("--days", help="Suspected cases: fever over the last days.")
    ] = 14,
    end: Annotated[
        str | None, typer.Option("--end", help="The last day of those (default: the series').")
    ] = None,
    minimum: Annotated[int, typer.Option("--minimum", help="Kits every region gets first.")] = 1,
    credibility: Annotated[
        bool,
        typer.Option(
            "--credibility/--no-credibility",
            help="Tilt toward regions whose credibility checks are weakest.",
        ),
    ] = True,
    org_unit: Annotated[
        str | None, typer.Option("--org-unit", help="Only the regions of this org unit.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Where to send a limited number of PCR kits so that surveillance learns most."""
    from sitroom.supply import planning

    rt = app_context(ctx)
    with rt.session() as session:
        plan = planning.plan_test_kits(
            session,
            rt.country,
            kits=kits,
            days=days,
            end=_day(end, "--end"),
            rule=rule,
            minimum=minimum,
            credibility=credibility,
            org_unit=org_unit,
            principal=_who(rt, session),
        )
    if as_json:
        print_json(plan.to_dict())
        return
    console.print(plan.allocation.reasoning)
    for sentence in plan.allocation.sentences:
        console.print(sentence)
    for note in plan.notes:
        console.print(note)
