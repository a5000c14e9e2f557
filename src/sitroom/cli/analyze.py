"""``sitroom analyze``: the epidemiology on stored data or on a CSV file."""

from __future__ import annotations

import csv
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sitroom.analysis.defaults import OMICRON_SI_MEAN, OMICRON_SI_SD
from sitroom.cli.app import app, app_context, check_access, console, print_json
from sitroom.cli.options import parse_date
from sitroom.cli.text import styled
from sitroom.errors import SitroomError

if TYPE_CHECKING:
    from sitroom.analysis import runs

analyze_app = typer.Typer(
    help="Epidemiology on stored data (national or --org-unit) or a CSV file (--input).",
    no_args_is_help=True,
)
app.add_typer(analyze_app, name="analyze")

OrgUnitOpt = Annotated[
    str | None,
    typer.Option("--org-unit", help="Org unit: code, name or alias (default: the country)."),
]
ElementOpt = Annotated[
    str | None,
    typer.Option("--element", help="Data element (default: the country's cases, e.g. new_fever)."),
]
InputOpt = Annotated[
    Path | None, typer.Option("--input", help="CSV with a date column and count columns.")
]
ColumnOpt = Annotated[
    str | None,
    typer.Option("--column", help="Count column of --input (default: the element name)."),
]
StartOpt = Annotated[
    str | None, typer.Option("--start", help="First period (YYYY-MM-DD, 2022W20 or 202205).")
]
EndOpt = Annotated[
    str | None, typer.Option("--end", help="Last period (a day, a week or a month).")
]
FillOpt = Annotated[
    str, typer.Option("--fill", help="Days without a value: none (refuse), zero or linear.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV.")]
SiMeanOpt = Annotated[
    float,
    typer.Option("--si-mean", min=0.1, max=60, help="Mean serial interval, days (0.1 to 60)."),
]
SiSdOpt = Annotated[
    float, typer.Option("--si-sd", min=0.01, max=60, help="Serial interval sd, days (0.01 to 60).")
]
SiFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--si-file",
        exists=True,
        dir_okay=False,
        readable=True,
        help="Serial interval distribution (CSV, day 0 first).",
    ),
]
WindowOpt = Annotated[
    int | None,
    typer.Option(
        "--window",
        min=2,
        max=365,
        help="Window length in the series' periods, 2 to 365 (default: 7 days, 4 weeks, 3 months).",
    ),
]


def _emit(table: runs.Table, as_json: bool, as_csv: bool) -> None:
    if as_json:
        print_json(table.to_dict())
        return
    if as_csv:
        columns = list(table.rows[0]) if table.rows else table.columns
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(table.rows)
        return
    from rich.table import Table as RichTable

    out = RichTable(*table.columns, title=table.title)
    for row in table.rows:
        out.add_row(*("—" if row.get(c) is None else _cell(c, row.get(c)) for c in table.columns))
    console.print(out)
    for note in table.notes:
        console.print(styled("[dim]{}[/]", note))


def _cell(column: str, value: object) -> str:
    if isinstance(value, bool):
        if not value:
            return ""
        return "ALARM" if column.endswith("alarm") else "yes"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _day(text: str | None, what: str) -> date | None:
    return parse_date(text, what, last=what == "end") if text else None


def _si(si_mean: float, si_sd: float, si_file: Path | None) -> runs.SerialInterval:
    from sitroom.analysis import runs
    from sitroom.analysis.series import check_input_file
    from sitroom.epi.serial_interval import read_distribution

    if si_file is not None:
        check_input_file(si_file, max_bytes=1024 * 1024)
        try:
            return runs.SerialInterval(distribution=read_distribution(si_file))
        except (ValueError, FileNotFoundError) as exc:
            raise SitroomError(str(exc)) from exc
    return runs.SerialInterval(si_mean, si_sd)


def _may_read(ctx: typer.Context, org_unit: str | None, input_file: Path | None = None) -> None:
    """``--user``'s role and scope over the unit analysed (not for a CSV file given)."""
    if input_file is not None:
        return
    rt = app_context(ctx)
    with rt.session() as session:
        check_access(rt, session, "analysis.read", org_unit)


@analyze_app.command("rt")
def rt_cmd(
    ctx: typer.Context,
    org_unit: OrgUnitOpt = None,
    element: ElementOpt = None,
    input_file: InputOpt = None,
    column: ColumnOpt = None,
    imported: Annotated[
        bool, typer.Option("--imported", help="--input has local and imported columns.")
    ] = False,
    start: StartOpt = None,
    end: EndOpt = None,
    fill: FillOpt = "none",
    si_mean: SiMeanOpt = OMICRON_SI_MEAN,
    si_sd: SiSdOpt = OMICRON_SI_SD,
    si_file: SiFileOpt = None,
    window: WindowOpt = None,
    level: Annotated[
        int | None,
        typer.Option("--level", help="Every org unit of this level (2: regions) below --org-unit."),
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="With --level: only the last window of each.")
    ] = False,
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="Windows split at the org unit's recorded events (and its parents'), with"
            " the change of R across each.",
        ),
    ] = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Time-varying reproduction number (Cori et al. 2013, as EpiEstim).

    With --level 2, every region at once (one vectorised estimate), over the
    days they share. With --events, R in the windows between recorded events.
    """
    from sitroom.analysis import service

    _may_read(ctx, org_unit, input_file)
    table = service.rt(
        app_context(ctx),
        org_unit=org_unit,
        element=element,
        input_file=input_file,
        column=column,
        imported=imported,
        start=_day(start, "start"),
        end=_day(end, "end"),
        fill=fill,
        si=_si(si_mean, si_sd, si_file),
        window=window,
        level=level,
        latest=latest,
        events=events,
    )
    _emit(table, as_json, as_csv)


@analyze_app.command("growth")
def growth_cmd(
    ctx: typer.Context,
    org_unit: OrgUnitOpt = None,
    element: ElementOpt = None,
    input_file: InputOpt = None,
    column: ColumnOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    fill: FillOpt = "none",
    window: WindowOpt = None,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Daily growth rate and doubling (or halving) time, by log-linear fit."""
    from sitroom.analysis import service

    _may_read(ctx, org_unit, input_file)
    table = service.growth(
        app_context(ctx),
        org_unit=org_unit,
        element=element,
        input_file=input_file,
        column=column,
        start=_day(start, "start"),
        end=_day(end, "end"),
        fill=fill,
        window=window,
    )
    _emit(table, as_json, as_csv)


@analyze_app.command("forecast")
def forecast_cmd(
    ctx: typer.Context,
    org_unit: OrgUnitOpt = None,
    element: ElementOpt = None,
    input_file: InputOpt = None,
    column: ColumnOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    fill: FillOpt = "none",
    si_mean: SiMeanOpt = OMICRON_SI_MEAN,
    si_sd: SiSdOpt = OMICRON_SI_SD,
    si_file: SiFileOpt = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="adaptive (the default: best on the 2022 backtest and the simulations),"
            " gapaware, skewed, growth, renewal, last_value or week_mean. With --backtest:"
            " score it against the baselines (default: every model).",
        ),
    ] = None,
    horizon: Annotated[
        int, typer.Option("--horizon", min=1, max=14, help="Days ahead, 1 to 14.")
    ] = 14,
    samples: Annotated[
        int | None,
        typer.Option(
            "--samples",
            min=10,
            max=100_000,
            help="Samples (10 to 100,000; default 4000 adaptive, gapaware, skewed and growth,"
            " 2000 renewal; fewer in backtests).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    noise: Annotated[
        str,
        typer.Option(
            "--noise", help="Renewal model's day-to-day noise: negbin (fitted) or poisson."
        ),
    ] = "negbin",
    do_backtest: Annotated[
        bool, typer.Option("--backtest", help="Score rolling-origin forecasts instead.")
    ] = False,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Forecast 1 to 14 days ahead with prediction intervals, or score the models' backtest."""
    from sitroom.analysis import service

    _may_read(ctx, org_unit, input_file)
    table = service.forecast(
        app_context(ctx),
        org_unit=org_unit,
        element=element,
        input_file=input_file,
        column=column,
        start=_day(start, "start"),
        end=_day(end, "end"),
        fill=fill,
        si=_si(si_mean, si_sd, si_file),
        model=model,
        horizon=horizon,
        samples=samples,
        seed=seed,
        noise=noise,
        backtest=do_backtest,
    )
    _emit(table, as_json, as_csv)


@analyze_app.command("cfr")
def cfr_cmd(
    ctx: typer.Context,
    org_unit: OrgUnitOpt = None,
    cases: Annotated[
        str | None,
        typer.Option("--cases", help="Element or column of cases (default: the country's)."),
    ] = None,
    deaths: Annotated[
        str | None,
        typer.Option("--deaths", help="Element or column of deaths (default: the country's)."),
    ] = None,
    input_file: InputOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    delay_shape: Annotated[
        float | None,
        typer.Option("--delay-shape", min=0.01, help="Onset-to-death gamma shape (> 0)."),
    ] = None,
    delay_scale: Annotated[
        float | None,
        typer.Option("--delay-scale", min=0.01, help="Onset-to-death gamma scale, days (> 0)."),
    ] = None,
    rolling: Annotated[bool, typer.Option("--rolling", help="Estimate to each day.")] = False,
    fill: FillOpt = "none",
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Case fatality: naive, and delay-corrected with --delay-shape/--delay-scale.

    Days without a death count are taken as no deaths (the DPRK printed a dash).
    """
    from sitroom.analysis import service

    _may_read(ctx, org_unit, input_file)
    table = service.cfr(
        app_context(ctx),
        org_unit=org_unit,
        cases_element=cases,
        deaths_element=deaths,
        input_file=input_file,
        start=_day(start, "start"),
        end=_day(end, "end"),
        delay_shape=delay_shape,
        delay_scale=delay_scale,
        rolling=rolling,
        fill=fill,
    )
    _emit(table, as_json, as_csv)


@analyze_app.command("alerts")
def alerts_cmd(
    ctx: typer.Context,
    org_unit: OrgUnitOpt = None,
    element: ElementOpt = None,
    input_file: InputOpt = None,
    column: ColumnOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    fill: FillOpt = "none",
    baseline: Annotated[
        int,
        typer.Option(
            "--baseline", min=2, max=365, help="EARS baseline, periods of the series (2 to 365)."
        ),
    ] = 7,
    min_sigma: Annotated[
        float, typer.Option("--min-sigma", help="Floor of the baseline sd.")
    ] = 1.0,
    only_alarms: Annotated[
        bool, typer.Option("--alarms", help="Show only days with an alarm.")
    ] = False,
    level: Annotated[
        int | None,
        typer.Option(
            "--level",
            help="Every org unit of this level below --org-unit at once (3: the districts).",
        ),
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="With --level: every unit's last day.")
    ] = False,
    thresholds: Annotated[
        str,
        typer.Option(
            "--thresholds",
            help="EARS alarm thresholds: surveillance (z(0.999) = 3.09 for C1 and C2,"
            " z(0.975) = 1.96 for C3, as the R package) or cdc (3, 3 and 2, the CDC's"
            " original).",
        ),
    ] = "surveillance",
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """EARS C1, C2, C3 and CUSUM alarms for each day.

    With --level, every org unit of the level in one vectorised call: the days
    with an alarm, per unit (or with --latest, every unit's last day).
    """
    from sitroom.analysis import service

    _may_read(ctx, org_unit, input_file)
    table = service.alerts(
        app_context(ctx),
        org_unit=org_unit,
        element=element,
        input_file=input_file,
        column=column,
        start=_day(start, "start"),
        end=_day(end, "end"),
        fill=fill,
        baseline=baseline,
        min_sigma=min_sigma,
        only_alarms=only_alarms,
        level=level,
        latest=latest,
        thresholds=thresholds,
    )
    _emit(table, as_json, as_csv)


@analyze_app.command("credibility")
def credibility_cmd(
    ctx: typer.Context,
    org_unit: OrgUnitOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    reference_cfr: Annotated[
        float, typer.Option("--reference-cfr", help="Reference case fatality (a share).")
    ] = 0.001,
    reference: Annotated[
        str, typer.Option("--reference", help="What the reference fatality is.")
    ] = "Omicron in an unvaccinated population",
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """How far the stored series can be trusted: identities, digits, scatter, fatality."""
    from sitroom.analysis import service

    _may_read(ctx, org_unit)
    table = service.credibility(
        app_context(ctx),
        org_unit=org_unit,
        start=_day(start, "start"),
        end=_day(end, "end"),
        reference_cfr=reference_cfr,
        reference=reference,
    )
    _emit(table, as_json, as_csv)


@analyze_app.command("nowcast")
def nowcast_cmd(
    ctx: typer.Context,
    org_unit: OrgUnitOpt = None,
    element: ElementOpt = None,
    max_delay: Annotated[
        int, typer.Option("--max-delay", help="Longest reporting delay, days.")
    ] = 7,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Nowcast as known on this day (default: latest).")
    ] = None,
    last: Annotated[int, typer.Option("--last", help="Show the last N periods.")] = 14,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Complete the latest periods from the revision history (chain ladder)."""
    from sitroom.analysis import service

    _may_read(ctx, org_unit)
    table = service.nowcast(
        app_context(ctx),
        org_unit=org_unit,
        element=element,
        max_delay=max_delay,
        as_of=_day(as_of, "as-of"),
        last=last,
    )
    _emit(table, as_json, as_csv)


@analyze_app.command("ascertainment")
def ascertainment_cmd(
    ctx: typer.Context,
    org_unit: OrgUnitOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    detected_low: Annotated[
        float,
        typer.Option("--detected-low", min=0.001, max=1, help="Lowest share of cases detected."),
    ] = 0.3,
    detected_high: Annotated[
        float,
        typer.Option("--detected-high", min=0.001, max=1, help="Highest share of cases detected."),
    ] = 0.7,
    disease_low: Annotated[
        float,
        typer.Option("--disease-low", min=0.001, max=1, help="Lowest share of infections ill."),
    ] = 0.8,
    disease_high: Annotated[
        float,
        typer.Option("--disease-high", min=0.001, max=1, help="Highest share of infections ill."),
    ] = 1.0,
    as_json: JsonOpt = False,
    as_csv: CsvOpt = False,
) -> None:
    """Infections and attack rate per region from suspected (fever) cases and populations.

    The org unit (the country by default) and its children: the regions.
    """
    from sitroom.analysis import service

    _may_read(ctx, org_unit)
    table = service.ascertainment(
        app_context(ctx),
        org_unit=org_unit,
        start=_day(start, "start"),
        end=_day(end, "end"),
        detected_low=detected_low,
        detected_high=detected_high,
        disease_low=disease_low,
        disease_high=disease_high,
    )
    _emit(table, as_json, as_csv)
