"""Commands that read: validate, completeness, aggregate, bulletin, export, places, demo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from sitroom.cli.app import app, app_context, check_access, console, err_console, print_json
from sitroom.cli.options import FORMATS, JsonOpt, PeriodOpt, parse_date
from sitroom.cli.text import clean, styled
from sitroom.errors import SitroomError

if TYPE_CHECKING:
    from rich.tree import Tree
    from sqlalchemy.orm import Session

    from sitroom.context import AppContext
    from sitroom.places.models import OrgUnit
    from sitroom.surveillance.bulletin import Bulletin

StartOpt = Annotated[
    str | None,
    typer.Option(
        "--start", help="First period (a day YYYY-MM-DD, a week 2022W20, a month 202205)."
    ),
]
EndOpt = Annotated[
    str | None,
    typer.Option("--end", help="Last period (a day, a week or a month: up to its last day)."),
]

SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


@contextmanager
def _rows_progress(session: Session, what: str) -> Iterator[Callable[[int], None]]:
    """A progress bar over the stored values, on a terminal and for large databases only."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
    from sqlalchemy import func, select

    from sitroom.cli.app import err_console
    from sitroom.surveillance.models import DataValue

    total = 0
    if err_console.is_terminal:
        total = session.scalar(select(func.count()).select_from(DataValue)) or 0
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        disable=total < 200_000,
    ) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n: bar.advance(task, n)


def _optional_date(text: str | None, *, last: bool = False) -> date | None:
    return parse_date(text, last=last) if text else None


def _fmt(value: int | float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


@app.command("validate")
def validate_cmd(
    ctx: typer.Context,
    period: PeriodOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
    exit_zero: Annotated[
        bool,
        typer.Option(
            "--exit-zero", help="Exit 0 even when there are errors (for scripts that list)."
        ),
    ] = False,
) -> None:
    """Check stored values against the country's rules and the outlier screen.

    Exits 1 when any finding is an error (warnings alone exit 0), like a linter.
    """
    from sitroom.surveillance.validation import validate

    rt = app_context(ctx)
    first = _optional_date(period or start)
    last = _optional_date(period or end, last=True)
    with rt.session() as session, _rows_progress(session, "validating") as advance:
        check_access(rt, session, "data.read")
        findings = validate(session, rt.country, start=first, end=last, progress=advance)
    failed = not exit_zero and any(f.severity == "error" for f in findings)
    if as_json:
        print_json([f.to_dict() for f in findings])
        raise typer.Exit(1 if failed else 0)
    if not findings:
        console.print("No findings: every rule holds.")
        return
    table = Table("period", "org unit", "rule", "left", "op", "right", "diff", "severity")
    for f in findings:
        table.add_row(
            f.period_label,
            f.org_unit,
            f.rule,
            _fmt(f.left),
            f.operator,
            _fmt(f.right),
            _fmt(f.difference),
            Text(f.severity, style=SEVERITY_STYLE[f.severity]),
        )
    console.print(table)
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITY_STYLE}
    console.print(", ".join(f"{n} {s}{'' if n == 1 else 's'}" for s, n in counts.items() if n))
    if failed:
        raise typer.Exit(1)


@app.command("completeness")
def completeness_cmd(
    ctx: typer.Context,
    period: PeriodOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    by_region: Annotated[
        bool, typer.Option("--by-region", help="One row per reporting unit over the range.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Expected, received and on-time reports per period (or per region); missing ones named."""
    from sitroom.surveillance.reporting import completeness_report

    rt = app_context(ctx)
    with rt.session() as session:
        check_access(rt, session, "data.read")
        report = completeness_report(
            session,
            rt.country,
            start=_optional_date(period or start),
            end=_optional_date(period or end, last=True),
        )
    first, last, rows, reporters = report.start, report.end, report.periods, report.reporters
    if by_region:
        units = report.by_unit()
        if as_json:
            print_json([u.to_dict() for u in units])
            return
        table = Table(
            "org unit",
            "name",
            "expected",
            "received",
            "on time",
            "complete",
            "timely",
            title=f"Reports from {first} to {last}",
        )
        for u in units:
            d = u.to_dict()
            table.add_row(
                u.org_unit,
                u.name,
                str(u.expected),
                str(u.received),
                str(u.on_time),
                f"{d['completeness']:.0%}",
                f"{d['timeliness']:.0%}",
            )
        console.print(table)
        return
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    table = Table("period", "expected", "received", "on time", "complete", "missing", "late")
    for r in rows:
        table.add_row(
            r.period_label,
            str(r.expected),
            str(r.received),
            str(r.on_time),
            f"{r.completeness:.0%}",
            "all"
            if len(r.missing) == r.expected and r.expected
            else ", ".join(reporters[c] for c in r.missing),
            ", ".join(reporters[c] for c in r.late),
        )
    console.print(table)


@app.command("aggregate")
def aggregate_cmd(
    ctx: typer.Context,
    period: Annotated[
        str | None,
        typer.Option("--period", help="Period whose children's sums to show (YYYY-MM-DD)."),
    ] = None,
    org_unit: Annotated[
        list[str] | None,
        typer.Option(
            "--org-unit",
            help="Parent (default: the country); with --to, the org units (repeatable;"
            " default: all).",
        ),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="Sum daily values into weeks or months: week or month."),
    ] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    element: Annotated[
        list[str] | None,
        typer.Option("--element", help="With --to: element code (repeatable; default: all daily)."),
    ] = None,
    partial: Annotated[
        bool,
        typer.Option("--partial", help="With --to: also weeks or months missing some days."),
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help=f"With --to: write {', '.join(FORMATS)} instead of a table."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="With --to: file (default or -: stdout).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A parent's own figures beside the sum of its children's, with the gap; or, with
    --to week|month, daily values summed into ISO weeks or months (stocks: the last day).
    """
    from sitroom.places.service import org_unit_code

    rt = app_context(ctx)
    if to is not None:
        if period is not None:
            raise SitroomError("--period: not with --to; give the range with --start and --end")
        _aggregate_in_time(
            ctx, to, start, end, org_unit, element, partial, fmt, output, as_json=as_json
        )
        return
    if period is None:
        raise SitroomError("give --period (a parent's sums) or --to week|month (sums in time)")
    extra: dict[str, object] = {"--start": start, "--end": end, "--element": element}
    extra |= {"--format": fmt, "--output": output, "--partial": partial}
    if given := [name for name, value in extra.items() if value]:
        raise SitroomError(f"{', '.join(given)}: only with --to week|month")
    if org_unit and len(org_unit) > 1:
        raise SitroomError("--org-unit: give one parent (several only with --to)")
    from sitroom.surveillance.reporting import aggregate_period

    with rt.session() as session:
        check_access(rt, session, "data.read", org_unit[0] if org_unit else None)
        unit = org_unit_code(session, rt.country, org_unit[0] if org_unit else None)
        rows = aggregate_period(session, unit, period)
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
        from sitroom.surveillance.periods import parse_period

        period_type = parse_period(period)[0]
        console.print(f"No {period_type} values for {period} in this org unit or its children.")
        return
    table = Table(
        "element", "own figure", "children's sum", "gap", "coverage", "children reporting"
    )
    for r in rows:
        table.add_row(
            r.element,
            _fmt(r.own),
            _fmt(r.children_sum),
            _fmt(r.gap),
            "—" if r.coverage is None else f"{r.coverage:.0%}",
            f"{r.children_reporting}/{r.children_total}",
        )
    console.print(table)


def _aggregate_in_time(
    ctx: typer.Context,
    to: str,
    start: str | None,
    end: str | None,
    org_unit: list[str] | None,
    element: list[str] | None,
    partial: bool,
    fmt: str | None,
    output: Path | None,
    *,
    as_json: bool,
) -> None:
    """``aggregate --to``: print a table or JSON, or write an import format."""
    from sitroom.places.service import org_unit_code
    from sitroom.surveillance.periods import check_period_type
    from sitroom.surveillance.temporal import aggregate_days

    period_type = check_period_type(to)
    if fmt is not None and fmt not in FORMATS:
        raise SitroomError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if output is not None and fmt is None:
        raise SitroomError("--output: give --format too (csv-long, dhis2-json or csv-wide)")
    if fmt is not None and as_json:
        raise SitroomError("--json prints a table's rows; --format writes values: choose one")
    rt = app_context(ctx)
    with rt.session() as session:
        labels: list[str | None] = list(org_unit) if org_unit else [None]
        for label in labels:
            check_access(rt, session, "data.read", label)
        units = [org_unit_code(session, rt.country, u) for u in org_unit or []] or None
        values = aggregate_days(
            session,
            period_type,
            start=parse_date(start, "start") if start else None,
            end=parse_date(end, "end", last=True) if end else None,
            org_units=units,
            elements=element,
            partial=partial,
        )
        if fmt is not None:
            from sitroom.surveillance.temporal import write_aggregated

            target = None if output is None or str(output) == "-" else output
            codes = element or [e.code for e in rt.country.elements]
            count = write_aggregated(values, fmt, target, user=rt.settings.user, codes=codes)
            if target is not None:
                console.print(f"wrote {count} values to {target}")
            return
        rows = list(values)
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    table = Table("org unit", "element", "period", "value", "days", "")
    for r in rows:
        table.add_row(
            r.org_unit,
            r.element,
            r.period_label,
            _fmt(r.value),
            f"{r.days}/{r.days_in_period}",
            "" if r.complete else Text("incomplete", style="yellow"),
        )
    console.print(table)
    if not rows:
        console.print("No complete period in the range (--partial shows incomplete ones).")


#: The bulletin's headline lines, by part (see the country's [roles]), in order.
HEADLINE_PARTS = (
    "cases",
    "recovered",
    "deaths",
    "cumulative_cases",
    "cumulative_recovered",
    "active",
    "tested",
    "confirmed",
)
#: Parts shown only when the period has a figure (most days have no tests).
OPTIONAL_PARTS = ("tested", "confirmed")


def _national(value: int | None) -> str:
    return "not reported" if value is None else f"{value:,}"


def print_bulletin(b: Bulletin) -> None:
    v = b.values
    span, previous = {
        "daily": (f"the period {b.period:%d %B %Y}", "day"),
        "weekly": (f"the week {b.period_label} (from {b.period:%d %B %Y})", "week"),
        "monthly": (f"the month {b.period:%B %Y}", "month"),
    }[b.period_type]
    console.print(styled("[bold]{}[/]", f"{b.country} — situation for {span}"))
    hours = "24 hours from" if b.period_type == "daily" else "From"
    console.print(
        f"{hours} {b.window_start:%d %b %H:%M} to {b.window_end:%d %b %H:%M}"
        f" ({b.window_end.tzname()})\n"
    )
    width = max(len(b.labels[b.roles[p]]) for p in HEADLINE_PARTS if p in b.roles) + 2
    total_deaths = b.part("cumulative_deaths")
    for part in HEADLINE_PARTS:
        code = b.part(part)
        if code is None or (part in OPTIONAL_PARTS and v.get(code) is None):
            continue
        label = f"  {b.labels[code]:<{width}}"
        if part == "cases":
            change = b.change(code)
            trend = "" if change is None else f" ({change:+,} on the previous {previous})"
            console.print(styled("{}[bold]{}[/]{}", label, _national(v.get(code)), trend))
        elif part == "deaths" and total_deaths is not None:
            total = f"  ({b.labels[total_deaths].lower()} {_fmt(v.get(total_deaths))})"
            console.print(f"{label}{_national(v.get(code))}{total}")
        else:
            console.print(f"{label}{_national(v.get(code))}")
    status = b.completeness
    console.print(
        f"\nRegions reporting: {status.received} of {status.expected} ({status.on_time} on time)"
    )
    if b.regions:
        shown = list(b.regions[0].values)
        table = Table("rank", "region", *(b.labels[c].lower() for c in shown), "")
        for rank, r in enumerate(b.regions, start=1):
            table.add_row(
                str(rank),
                f"{r.name} ({r.name_local})" if r.name_local else r.name,
                *(_fmt(r.values[c]) for c in shown),
                Text("late", style="yellow") if r.late else "",
            )
        console.print(table)
    names = {r.code: r.name for r in b.regions}
    if status.missing and len(status.missing) == status.expected:
        console.print(styled("[yellow]No regional report for this period.[/]"))
    elif status.missing:
        console.print(styled("[yellow]Missing[/]: {}", ", ".join(status.missing)))
    if status.late and len(status.late) == status.expected:
        console.print(styled("[yellow]Late[/]: all {} regions", status.expected))
    elif status.late:
        late = ", ".join(names.get(c, c) for c in status.late)
        console.print(styled("[yellow]Late[/]: {}", late))
    cases = b.roles["cases"]
    for agg in b.regional_sums:
        if agg.element == cases and agg.gap is not None:
            console.print(
                f"The regions' {b.labels[cases].lower()} add up to {_fmt(agg.children_sum)},"
                f" {agg.coverage:.0%} of the national figure (gap {_fmt(agg.gap)})."
            )
    if b.findings:
        console.print(styled("\n[bold]Validation flags ({})[/]", len(b.findings)))
        for f in b.findings:
            console.print(
                Text("  ").append(f.severity, style=SEVERITY_STYLE[f.severity]),
                clean(f" {f.org_unit} {f.rule}: {f.message}"),
                sep="",
            )
    else:
        console.print("\nValidation: no flags for this period.")


@app.command("bulletin")
def bulletin_cmd(ctx: typer.Context, period: PeriodOpt = None, as_json: JsonOpt = False) -> None:
    """The day's national headline, as the morning broadcast gives it."""
    from sitroom.surveillance.bulletin import bulletin_for

    rt = app_context(ctx)
    with rt.session() as session:
        check_access(rt, session, "data.read")
        bulletin = bulletin_for(session, rt.country, period)
    if as_json:
        print_json(bulletin.to_dict())
    else:
        print_bulletin(bulletin)


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    fmt: Annotated[
        str, typer.Option("--format", help=f"One of {', '.join(FORMATS)}.")
    ] = "csv-long",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File (default or -: stdout).")
    ] = None,
    start: StartOpt = None,
    end: EndOpt = None,
    org_unit: Annotated[
        list[str] | None, typer.Option("--org-unit", help="Org unit code (repeatable).")
    ] = None,
    element: Annotated[
        list[str] | None, typer.Option("--element", help="Element code (repeatable).")
    ] = None,
    formula_safe: Annotated[
        bool,
        typer.Option(
            "--formula-safe/--no-formula-safe",
            help="In CSV, prefix text cells starting with = + - @ tab or CR with ' so"
            " spreadsheets do not run them as formulas. Turn off for machine-to-machine"
            " exchanges. DHIS2 JSON is never changed.",
        ),
    ] = True,
    id_scheme: Annotated[
        str,
        typer.Option(
            "--id-scheme",
            help="Name org units and elements by code or by DHIS2 uid (long formats).",
        ),
    ] = "code",
) -> None:
    """Export stored values as wide CSV, long (DHIS2) CSV or DHIS2 JSON."""
    if fmt not in FORMATS:
        raise SitroomError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    from sitroom.places.service import org_unit_code
    from sitroom.surveillance.export import export_values

    if output is not None and str(output) == "-":
        output = None
    rt = app_context(ctx)
    with rt.session() as session:
        labels: list[str | None] = list(org_unit) if org_unit else [None]
        for label in labels:
            check_access(rt, session, "data.read", label)
        count = export_values(
            session,
            fmt,
            output,
            start=parse_date(start) if start else None,
            end=parse_date(end, "end", last=True) if end else None,
            org_units=[org_unit_code(session, rt.country, u) for u in org_unit or []] or None,
            elements=element,
            neutralise_formulas=formula_safe,
            id_scheme=id_scheme,
        )
    if output is not None:
        console.print(f"wrote {count} values to {output}")


places_app = typer.Typer(help="The org-unit hierarchy.", no_args_is_help=True)
app.add_typer(places_app, name="places")


@places_app.command("tree")
def places_tree(
    ctx: typer.Context,
    depth: Annotated[
        int, typer.Option("--depth", min=1, max=4, help="Levels to show (1: the country, 4: all).")
    ] = 2,
) -> None:
    """Show the hierarchy down to --depth levels."""
    from rich.tree import Tree

    from sitroom.places.models import OrgUnit

    rt = app_context(ctx)
    with rt.session() as session:
        # The hierarchy's names and codes: the role is checked, not a scope.
        check_access(rt, session, "data.read", scoped=False)
        units = list(session.query(OrgUnit).order_by(OrgUnit.code))
    if not units:
        raise SitroomError("no org units loaded: run `sitroom setup` first")
    kids: dict[int | None, list[OrgUnit]] = {}
    for u in units:
        kids.setdefault(u.parent_id, []).append(u)

    def label(u: OrgUnit) -> Text:
        pop = f", pop. {u.population:,}" if u.population else ""
        local = f" {u.name_local}" if u.name_local else ""
        return styled("[bold]{}[/] {}", u.code, f"{u.name}{local} ({u.kind}{pop})")

    def grow(node: Tree, unit: OrgUnit) -> None:
        if unit.level >= depth:
            if kids.get(unit.id):
                node.add(f"… {len(kids[unit.id])} units")
            return
        for child in kids.get(unit.id, []):
            grow(node.add(label(child)), child)

    for root in kids.get(None, []):
        tree = Tree(label(root))
        grow(tree, root)
        console.print(tree)


#: Where the demo serves: loopback only, whatever the settings say.
DEMO_HOST = "127.0.0.1"


@app.command()
def demo(
    ctx: typer.Context,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="Serve the API on 127.0.0.1 after loading, until Ctrl-C (--no-serve: load,"
            " print and exit, for scripts).",
        ),
    ] = True,
    users: Annotated[
        bool,
        typer.Option(
            "--users/--no-users",
            help="Create the demo users (one per role, a reporter per region) with new"
            " passwords, printed once.",
        ),
    ] = True,
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="TCP port to serve on.")
    ] = 8000,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish/--no-publish",
            help="Publish the latest situation report as an edition (none when an edition"
            " of the same data exists).",
        ),
    ] = True,
    supply: Annotated[
        bool,
        typer.Option(
            "--supply/--no-supply",
            help="Load a simulated supply history of the wave (sitroom simulate supply, marked"
            " simulated; about half a minute, once per database).",
        ),
    ] = True,
    aid: Annotated[
        bool,
        typer.Option(
            "--aid/--no-aid",
            help="Load an illustrative aid history of the wave (requests to China and the"
            " WHO, South Korea's unanswered offer; marked illustrative; once per database).",
        ),
    ] = True,
) -> None:
    """Load the 2022 DPRK outbreak, publish its latest situation report, create a user per
    role, and serve the dashboard and the API on 127.0.0.1.

    Prints the bulletin of the last period with regional reports, the edition
    of the situation report it published, then the demo users' sign-in names
    and new random passwords (shown this once, stored only hashed), then
    serves until Ctrl-C or SIGTERM, printing the address and the reports' URL.
    Safe to run again: the set-up and the imports are idempotent, the report
    is published again only if its data changed, and the demo users get new
    passwords. With --no-serve it exits after the users; with --no-users too,
    after the bulletin and the publication.
    """
    from sitroom.demo import load_demo

    rt = app_context(ctx)
    if serve:
        from sitroom.server.run import check_port

        check_port(DEMO_HOST, port)  # before anything is written or printed
    with rt.session(write=True) as session:
        console.print(f"database: {rt.engine.url.render_as_string(hide_password=True)}")
        result = load_demo(
            session,
            rt.country,
            user=rt.settings.user,
            lock_timeout=rt.settings.lock_timeout,
            on_import=lambda summary: console.print(
                f"{Path(summary.file).name}: {summary.created} created,"
                f" {summary.updated} updated, {summary.unchanged} unchanged"
            ),
        )
    console.print(
        f"\nThe latest period with regional reports is {result.bulletin.period_label}"
        " (later broadcasts gave national figures only: `sitroom bulletin` shows the"
        " latest national one).\n"
    )
    print_bulletin(result.bulletin)
    if supply:
        _demo_supply(rt)
    if aid:
        _demo_aid(rt)
    if publish:
        _demo_publish(rt)
    console.print(
        "\nTry: sitroom bulletin --period 2022-05-15 · sitroom validate --period 2022-06-08"
        " · sitroom completeness --start 2022-05-14 --end 2022-05-20 · sitroom analyze rt"
        " · sitroom analyze credibility"
    )
    example = None
    if users:
        example = _demo_users(rt)
    if not serve:
        return
    from sitroom.server.run import serve as run

    address = f"http://{DEMO_HOST}:{port}"
    console.print(
        f"\nServing on {address} until Ctrl-C (or SIGTERM) stops it."
        f"\n  API docs: {address}/api/v1/docs"
    )
    if publish:
        console.print(f"  Situation reports: {address}/reports")
    if example is not None:
        console.print(f"  Sign in: {address}/signin in a browser,")
        console.print(f"       or: curl -u {example}:PASSWORD {address}/api/v1/me")
    run(rt, host=DEMO_HOST, port=port, demo=True)
    console.print("sitroom demo stopped.")


def _demo_supply(rt: AppContext) -> None:
    """Simulate the wave's supply once (a database holds one simulated history)."""
    from rich.progress import Progress
    from sqlalchemy import func, select

    from sitroom.supply.models import StockBatch
    from sitroom.supply.simulation_service import simulate_into

    if rt.country.supply is None:
        return
    with rt.session() as session:
        batches = session.scalar(
            select(func.count(StockBatch.id)).where(StockBatch.channel == "simulation")
        )
    if batches:
        console.print("\nThe simulated supply history is loaded (sitroom supply stock).")
        return
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("simulating the supply of the wave", total=None)
        result = simulate_into(
            rt,
            user=rt.settings.user,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"\nLoaded a simulated supply history: {result.rows:,} stock movements of"
        f" {', '.join(result.items)} over {result.facilities:,} facilities, with hoarding and"
        " diversion planted at 15 of them, all marked simulated (sitroom supply stock,"
        " sitroom supply suspects)."
    )


def _demo_aid(rt: AppContext) -> None:
    """Load the illustrative aid history once (sitroom.aid.illustration)."""
    from sitroom.aid.illustration import load_illustration, loaded

    with rt.session(write=True) as session:
        if loaded(session):
            console.print("\nThe illustrative aid history is loaded (sitroom aid request list).")
            return
        made = load_illustration(session, user=rt.settings.user)
    if not made.loaded:
        console.print(
            "\nNo illustrative aid history: the database lacks the DPRK network's stockpile"
            " or Sinuiju's warehouse, or already has partners coded CN, KR or WHO."
        )
    else:
        console.print(
            f"\nLoaded an illustrative aid history (invented quantities around known events,"
            f" marked illustrative): {made.partners} partners, requests"
            f" {', '.join(made.requests)}, offer {', '.join(made.offers)}, shipments"
            f" {', '.join(made.shipments)} (sitroom aid log overdue, sitroom aid gap)."
        )


def _demo_publish(rt: AppContext) -> None:
    """Publish the latest situation report, once: unchanged data makes no new edition."""
    from sitroom.publication.service import publish

    done = publish(rt, None, user=rt.settings.user, channel="cli")
    edition = done.edition
    if done.new:
        console.print(
            f"\nPublished the situation report of {edition.period_label} as edition"
            f" {edition.number} (sitroom sitrep editions; /reports when served)."
        )
    else:
        console.print(
            f"\nThe situation report of {edition.period_label} is published: edition"
            f" {edition.number}, built from the same data (nothing new published)."
        )


def _demo_users(rt: AppContext) -> str | None:
    """Create or refresh the demo users and print their passwords, once; an example name."""
    from sitroom.demo import create_demo_users

    with rt.session(write=True) as session:
        made = create_demo_users(
            session,
            rt.country,
            actor=rt.settings.user,
            client="cli",
            lock_timeout=rt.settings.lock_timeout,
        )
        session.commit()
    fresh = sum(user.created for user in made)
    table = Table()
    for name in ("user", "role", "scope"):
        table.add_column(name)
    # A narrow terminal wraps the other columns, never the password.
    table.add_column(
        "password", no_wrap=True, min_width=max((len(u.password) for u in made), default=0)
    )
    for user in made:
        table.add_row(user.username, user.role, ", ".join(user.scopes), user.password)
    console.print(f"\nDemo users ({fresh} created, {len(made) - fresh} given new passwords):")
    console.print(table)
    console.print(
        "The passwords are shown this once and stored only as hashes: note the ones you"
        " need. `sitroom demo` again gives every demo user a new one."
    )
    reporters = [user.username for user in made if user.role == "reporter"]
    return reporters[0] if reporters else (made[0].username if made else None)
