"""Each analysis from parsed options to a :class:`~sitroom.analysis.runs.Table`.

``sitroom analyze <name>`` and ``GET /api/v1/analyses/<name>`` call these
with the same options: which series (org unit, element, or a CSV file for
the command line only), which periods, how to fill gaps, and the method's
parameters. They load the series (opening the context's database when the
data comes from it), run the estimator and turn its ``ValueError`` into a
:class:`SitroomError` a user can act on. Checking who may see the org unit is
the caller's: the server does it before calling.

numpy and scipy are imported when an analysis runs, not with this module.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from sitroom.analysis.defaults import OMICRON_SI_MEAN, OMICRON_SI_SD
from sitroom.errors import SitroomError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sitroom.analysis.runs import SerialInterval, Table
    from sitroom.analysis.series import Series
    from sitroom.context import AppContext

#: The analyses, by the name the command line and the API give them.
ANALYSES = ("rt", "growth", "forecast", "nowcast", "cfr", "alerts", "credibility", "ascertainment")
#: Forecast models (``runs.FORECAST_MODELS``, which a test keeps equal; written out
#: here so that this module imports without numpy).
FORECAST_MODELS = (
    "adaptive",
    "gapaware",
    "skewed",
    "growth",
    "renewal",
    "last_value",
    "week_mean",
)
FILLS = ("none", "zero", "linear")
THRESHOLDS = ("surveillance", "cdc")
NOISES = ("negbin", "poisson")


def role(context: AppContext, part: str) -> str:
    """The element that plays ``part`` in the country's configuration ([roles])."""
    code = context.country.roles.named().get(part)
    if code is None:
        raise SitroomError(f"the country configuration names no element for {part} ([roles])")
    return code


def cases(context: AppContext, element: str | None) -> str:
    """``element``, or the country's cases."""
    return element or role(context, "cases")


def guard(call: Callable[[], Table]) -> Table:
    """Run an estimator; its ValueError becomes a message for the user."""
    try:
        return call()
    except ValueError as exc:
        raise SitroomError(str(exc)) from exc


def serial_interval(mean: float = OMICRON_SI_MEAN, sd: float = OMICRON_SI_SD) -> SerialInterval:
    """A parametric serial interval (a discretised gamma of ``mean`` and ``sd`` days)."""
    from sitroom.analysis import runs

    return runs.SerialInterval(mean, sd)


def _check_fill(fill: str) -> None:
    if fill not in FILLS:
        raise SitroomError(f"fill: {fill!r} is not one of {', '.join(FILLS)}")


def _load(
    context: AppContext,
    columns: list[str],
    *,
    org_unit: str | None,
    input_file: Path | None,
    start: date | None,
    end: date | None,
    fill: str | list[str],
) -> dict[str, Series]:
    from sitroom.analysis.loading import load_series

    return load_series(
        context,
        columns,
        org_unit=org_unit,
        input_file=input_file,
        start=start,
        end=end,
        fill=fill,
    )


def rt(
    context: AppContext,
    *,
    org_unit: str | None = None,
    element: str | None = None,
    input_file: Path | None = None,
    column: str | None = None,
    imported: bool = False,
    start: date | None = None,
    end: date | None = None,
    fill: str = "none",
    si: SerialInterval | None = None,
    window: int | None = None,
    level: int | None = None,
    latest: bool = False,
    events: bool = False,
) -> Table:
    """Time-varying reproduction number (Cori et al. 2013, as EpiEstim).

    With ``level``, every org unit of that level below ``org_unit`` (the
    country by default) at once; with ``events``, R in the windows between
    the org unit's recorded events (and its parents').
    """
    from sitroom.analysis import runs

    _check_fill(fill)
    si = si or serial_interval()
    if events:
        if level is not None or imported or input_file is not None:
            raise SitroomError("--events works on stored data of one org unit")
        from sitroom.events.service import list_events
        from sitroom.places.service import org_unit_code

        name = cases(context, element)
        data = _load(
            context, [name], org_unit=org_unit, input_file=None, start=start, end=end, fill=fill
        )
        with context.session() as session:
            recorded = list_events(session, org_unit_code(session, context.country, org_unit))
        if not recorded:
            raise SitroomError("no events are recorded for this org unit: see `sitroom events add`")
        splits = [runs.Split(e.day, f"{e.title} ({e.org_unit})") for e in recorded]
        return guard(lambda: runs.rt_between_events(data[name], si, splits))
    if level is not None:
        from sitroom.analysis.loading import load_level

        many = load_level(
            context,
            level,
            column or cases(context, element),
            start=start,
            end=end,
            fill=fill,
            within=org_unit,
        )
        return guard(lambda: runs.rt_many(many, si, window=window, latest=latest))
    if imported:
        if input_file is None:
            raise SitroomError("--imported needs --input with local and imported columns")
        data = _load(
            context,
            ["local", "imported"],
            org_unit=None,
            input_file=input_file,
            start=start,
            end=end,
            fill=fill,
        )
        return guard(lambda: runs.rt(data["local"], si, window=window, imported=data["imported"]))
    name = column or cases(context, element)
    data = _load(
        context, [name], org_unit=org_unit, input_file=input_file, start=start, end=end, fill=fill
    )
    return guard(lambda: runs.rt(data[name], si, window=window))


def growth(
    context: AppContext,
    *,
    org_unit: str | None = None,
    element: str | None = None,
    input_file: Path | None = None,
    column: str | None = None,
    start: date | None = None,
    end: date | None = None,
    fill: str = "none",
    window: int | None = None,
) -> Table:
    """Growth rate and doubling (or halving) time, by log-linear fit."""
    from sitroom.analysis import runs

    _check_fill(fill)
    name = column or cases(context, element)
    data = _load(
        context, [name], org_unit=org_unit, input_file=input_file, start=start, end=end, fill=fill
    )
    return guard(lambda: runs.growth(data[name], window=window))


def forecast(
    context: AppContext,
    *,
    org_unit: str | None = None,
    element: str | None = None,
    input_file: Path | None = None,
    column: str | None = None,
    start: date | None = None,
    end: date | None = None,
    fill: str = "none",
    si: SerialInterval | None = None,
    model: str | None = None,
    horizon: int = 14,
    samples: int | None = None,
    seed: int = 0,
    noise: str = "negbin",
    backtest: bool = False,
) -> Table:
    """Forecast 1 to 14 days ahead with prediction intervals, or score the models' backtest."""
    from sitroom.analysis import runs

    _check_fill(fill)
    if not 1 <= horizon <= 14:
        raise SitroomError("--horizon must be between 1 and 14 days")
    if model is not None and model not in FORECAST_MODELS:
        raise SitroomError(f"unknown --model {model!r}: use {', '.join(FORECAST_MODELS)}")
    if noise not in NOISES:
        raise SitroomError(f"unknown --noise {noise!r}: use {', '.join(NOISES)}")
    si = si or serial_interval()
    name = column or cases(context, element)
    # A backtest fills each history from the days before its origin only, and
    # does not score days nobody reported: it takes the gaps as they are.
    # So does the gap-aware model with --fill linear: it fills between reported days
    # as linear does, and counts its leads from the last reported day.
    chosen = model or FORECAST_MODELS[0]
    gap_aware = chosen in runs.TAKES_GAPS and fill == "linear"
    kept = "keep" if (backtest and fill != "none") or gap_aware else fill
    data = _load(
        context, [name], org_unit=org_unit, input_file=input_file, start=start, end=end, fill=kept
    )
    if backtest:
        models = FORECAST_MODELS if model is None else (model, "last_value", "week_mean")
        return guard(
            lambda: runs.backtest_table(
                data[name],
                si,
                models=models,
                horizon=horizon,
                samples=samples,
                seed=seed,
                noise=noise,
            )
        )
    return guard(
        lambda: runs.forecast(
            data[name],
            si,
            model=model or FORECAST_MODELS[0],
            horizon=horizon,
            samples=samples,
            seed=seed,
            noise=noise,
        )
    )


def cfr(
    context: AppContext,
    *,
    org_unit: str | None = None,
    cases_element: str | None = None,
    deaths_element: str | None = None,
    input_file: Path | None = None,
    start: date | None = None,
    end: date | None = None,
    delay_shape: float | None = None,
    delay_scale: float | None = None,
    rolling: bool = False,
    fill: str = "none",
) -> Table:
    """Case fatality: naive, and delay-corrected with an onset-to-death gamma.

    Days without a death count are taken as no deaths (the DPRK printed a dash).
    """
    from sitroom.analysis import runs

    _check_fill(fill)
    if (delay_shape is None) != (delay_scale is None):
        raise SitroomError("give both --delay-shape and --delay-scale")
    case_code = cases(context, cases_element)
    death_code = deaths_element or role(context, "deaths")
    if case_code == death_code:
        raise SitroomError(f"--cases and --deaths name the same series ({case_code})")
    data = _load(
        context,
        [case_code, death_code],
        org_unit=org_unit,
        input_file=input_file,
        start=start,
        end=end,
        fill=[fill, "zero"],
    )
    delay = (delay_shape, delay_scale) if delay_shape and delay_scale else None
    return guard(
        lambda: runs.cfr_table(data[case_code], data[death_code], delay=delay, rolling=rolling)
    )


def alerts(
    context: AppContext,
    *,
    org_unit: str | None = None,
    element: str | None = None,
    input_file: Path | None = None,
    column: str | None = None,
    start: date | None = None,
    end: date | None = None,
    fill: str = "none",
    baseline: int = 7,
    min_sigma: float = 1.0,
    only_alarms: bool = False,
    level: int | None = None,
    latest: bool = False,
    thresholds: str = "surveillance",
) -> Table:
    """EARS C1, C2, C3 and CUSUM alarms for each period.

    With ``level``, every org unit of that level below ``org_unit`` (the
    country by default) in one vectorised call.
    """
    from sitroom.analysis import runs

    _check_fill(fill)
    if thresholds not in THRESHOLDS:
        raise SitroomError(f"--thresholds {thresholds!r}: choose surveillance or cdc")
    chosen = runs.CDC_THRESHOLDS if thresholds == "cdc" else None
    name = column or cases(context, element)
    if level is not None:
        from sitroom.analysis.loading import load_level

        many = load_level(context, level, name, start=start, end=end, fill=fill, within=org_unit)
        return guard(
            lambda: runs.alerts_many(
                many, baseline=baseline, min_sigma=min_sigma, latest=latest, thresholds=chosen
            )
        )
    data = _load(
        context, [name], org_unit=org_unit, input_file=input_file, start=start, end=end, fill=fill
    )
    table = guard(
        lambda: runs.alerts_table(
            data[name], baseline=baseline, min_sigma=min_sigma, thresholds=chosen
        )
    )
    if only_alarms:
        table.rows = [
            r for r in table.rows if any(v is True for k, v in r.items() if k.endswith("alarm"))
        ]
    return table


def credibility(
    context: AppContext,
    *,
    org_unit: str | None = None,
    start: date | None = None,
    end: date | None = None,
    reference_cfr: float = 0.001,
    reference: str = "Omicron in an unvaccinated population",
) -> Table:
    """How far the stored series can be trusted: identities, digits, scatter, fatality."""
    from sitroom.analysis import runs
    from sitroom.analysis.loading import align
    from sitroom.analysis.series import optional_series
    from sitroom.places.service import org_unit_code
    from sitroom.surveillance.periods import check_range

    check_range(start, end)
    roles = context.country.roles.named()
    flows = [roles[p] for p in ("cases", "recovered", "deaths") if p in roles]
    stocks = [
        roles[p]
        for p in ("cumulative_cases", "cumulative_recovered", "active", "cumulative_deaths")
        if p in roles
    ]
    with context.session() as session:
        unit = org_unit_code(session, context.country, org_unit)
        stored = {e: optional_series(session, unit, e) for e in (*flows, *stocks)}
    cut = {e: s.between(start, end) for e, s in stored.items() if s is not None}
    series = {e: s for e, s in cut.items() if e in flows}
    cumulative = {e: s for e, s in cut.items() if e in stocks}
    if not series:
        raise SitroomError(f"no {', '.join(flows)} values are stored for {unit}")
    aligned = align(cumulative)
    return runs.credibility_table(
        series, reference_cfr=reference_cfr, reference=reference, cumulative=aligned, roles=roles
    )


def nowcast(
    context: AppContext,
    *,
    org_unit: str | None = None,
    element: str | None = None,
    max_delay: int = 7,
    as_of: date | None = None,
    last: int = 14,
) -> Table:
    """Complete the latest periods from the revision history (chain ladder)."""
    from sitroom.analysis import runs
    from sitroom.places.service import org_unit_code
    from sitroom.surveillance.revisions import reporting_triangle
    from sitroom.surveillance.service import period_types

    element = cases(context, element)
    with context.session() as session:
        kind = period_types(session).get(element, "daily")
        if kind != "daily":
            raise SitroomError(
                f"the nowcast needs daily counts; {element} is reported {kind}"
                " (its delays are counted in days after each day's deadline)"
            )
        unit = org_unit_code(session, context.country, org_unit)
        tri = reporting_triangle(
            session, context.calendar, unit, element, max_delay=max_delay, as_of=as_of
        )
    table = guard(lambda: runs.nowcast_table(tri.counts, tri.periods, f"{element} of {unit}"))
    table.rows = table.rows[-last:]
    table.notes.append(
        f"as of {tri.as_of}; delays counted in days after the deadline (cut-off plus grace)"
    )
    if tri.negative_corrections:
        table.notes.append(f"{tri.negative_corrections} downward corrections were set to zero")
    return table


def ascertainment(
    context: AppContext,
    *,
    org_unit: str | None = None,
    start: date | None = None,
    end: date | None = None,
    detected_low: float = 0.3,
    detected_high: float = 0.7,
    disease_low: float = 0.8,
    disease_high: float = 1.0,
) -> Table:
    """Infections and attack rate of ``org_unit`` (the country) and its children.

    From suspected (fever) cases and populations; units without cases or a
    population are left out.
    """
    from sqlalchemy import select

    from sitroom.analysis import runs
    from sitroom.analysis.loading import stored_total
    from sitroom.places.models import OrgUnit
    from sitroom.places.service import org_unit_code
    from sitroom.surveillance.periods import check_range

    check_range(start, end)
    roles = context.country.roles.named()
    case_code = roles["cases"]

    def _total(session: Session, unit: str, code: str | None) -> float | None:
        return None if code is None else stored_total(session, unit, code, start, end)

    areas = []
    tests: list[float | None] = []
    positives: list[float | None] = []
    with context.session() as session:
        code = org_unit_code(session, context.country, org_unit)
        top = session.scalars(select(OrgUnit).where(OrgUnit.code == code)).one()
        units = session.scalars(
            select(OrgUnit)
            .where(
                OrgUnit.path.startswith(top.path, autoescape=True),
                OrgUnit.level <= top.level + 1,
            )
            .order_by(OrgUnit.level, OrgUnit.code)
        ).all()
        for unit in units:
            total = stored_total(session, unit.code, case_code, start, end)
            if total is not None and unit.population:
                areas.append((unit.code, unit.name, total, float(unit.population)))
                tests.append(_total(session, unit.code, roles.get("tested")))
                positives.append(_total(session, unit.code, roles.get("confirmed")))
    if not areas:
        raise SitroomError(f"no org unit has both {case_code} values and a population")
    with_tests = all(t is not None for t in tests) and all(p is not None for p in positives)
    table = guard(
        lambda: runs.ascertainment_table(
            areas,
            tested=[float(t or 0) for t in tests] if with_tests else None,
            confirmed=[float(p or 0) for p in positives] if with_tests else None,
            detected_share=(detected_low, detected_high),
            disease_share=(disease_low, disease_high),
        )
    )
    table.notes.append(
        f"suspected = the sum of the daily {case_code} of each unit over the range"
        f" ({start or 'first day'} to {end or 'last day'}); where regions did not report"
        " every day, their sums fall short of the national one; the bulletin's cumulative"
        " count may also include cases from before the daily series began"
    )
    return table
