"""The epidemiology over HTTP: ``GET /analyses/<name>``, the twin of ``sitroom analyze <name>``.

Each route takes the command's options as query parameters (a pydantic model
per analysis, so that a bad one is refused naming it), checks
``analysis.read`` over the org unit (the country by default), and calls the
same function of :mod:`sitroom.analysis.service` as the command. The answer
is the command's ``--json``: a title, rows, notes, with the column order.
Files (``--input``, ``--si-file``) are the command line's only: the API
analyses stored data.

numpy and scipy are imported by the first analysis, not with the server.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sitroom.analysis.defaults import OMICRON_SI_MEAN, OMICRON_SI_SD
from sitroom.auth.permissions import Principal
from sitroom.context import AppContext
from sitroom.server.deps import Db, User, context
from sitroom.server.problems import SIGNED_IN, responses
from sitroom.server.routes.common import Code, Period, authorized_unit, final_day, finite, first_day

router = APIRouter(prefix="/analyses", tags=["analyses"])

ANSWERS = responses(
    *SIGNED_IN,
    404,
    meaning={
        404: "The org unit or data element does not exist, or nothing is stored for it",
        422: "A parameter is invalid (each is named in `errors`), or the data do not allow"
        " the analysis (too short, gaps without `fill`): the detail says which",
    },
)


class AnalysisOut(BaseModel):
    """A table of results: ``sitroom analyze <name> --json``, with the column order."""

    title: str
    columns: list[str] = Field(description="The columns a table shows, in order")
    rows: list[dict[str, Any]] = Field(description="One object per row; null where no value")
    notes: list[str] = Field(description="What a reader needs to read the rows")


Fill = Literal["none", "zero", "linear"]


class _Options(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )

    org_unit: Code | None = Field(
        default=None, description="Code, name or alias (default: the country)"
    )
    start: Period | None = Field(default=None, alias="startDate", description="First period")
    end: Period | None = Field(
        default=None, alias="endDate", description="Last period (up to its last day)"
    )


class _Series(_Options):
    element: Code | None = Field(
        default=None, alias="dataElement", description="Default: the country's cases"
    )
    fill: Fill = Field(default="none", description="Periods without a value: refuse, 0, linear")


class _Interval(_Options):
    si_mean: float = Field(default=OMICRON_SI_MEAN, ge=0.1, le=60, description="Days")
    si_sd: float = Field(default=OMICRON_SI_SD, ge=0.01, le=60, description="Days")


Window = Field(
    default=None, ge=2, le=365, description="In the series' periods (default 7 days, 4 weeks, ...)"
)
Level = Field(
    default=None, ge=1, le=4, description="Every org unit of this level below orgUnit at once"
)


class RtQuery(_Series, _Interval):
    window: int | None = Window
    level: int | None = Level
    latest: bool = Field(default=False, description="With level: the last window of each")
    events: bool = Field(default=False, description="Windows split at the recorded events")


class GrowthQuery(_Series):
    window: int | None = Window


class ForecastQuery(_Series, _Interval):
    model: (
        Literal["adaptive", "gapaware", "skewed", "growth", "renewal", "last_value", "week_mean"]
        | None
    ) = None
    horizon: int = Field(default=14, ge=1, le=14, description="Days ahead")
    samples: int | None = Field(
        default=None, ge=10, le=5000, description="A server caps them (the command line: 100,000)"
    )
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    noise: Literal["negbin", "poisson"] = "negbin"
    backtest: bool = Field(default=False, description="Score rolling-origin forecasts instead")


class NowcastQuery(_Series):
    max_delay: int = Field(default=7, ge=1, le=60, description="Longest reporting delay, days")
    as_of: Period | None = Field(default=None, description="As known on this day")
    last: int = Field(default=14, ge=1, le=1000, description="The last N periods")


class CfrQuery(_Options):
    cases: Code | None = Field(default=None, description="Default: the country's cases")
    deaths: Code | None = Field(default=None, description="Default: the country's deaths")
    delay_shape: float | None = Field(default=None, ge=0.01, le=1000)
    delay_scale: float | None = Field(default=None, ge=0.01, le=1000, description="Days")
    rolling: bool = False
    fill: Fill = "none"


class AlertsQuery(_Series):
    baseline: int = Field(default=7, ge=2, le=365, description="In the series' periods")
    min_sigma: float = Field(default=1.0, gt=0, le=1e9, description="Floor of the baseline sd")
    alarms: bool = Field(default=False, description="Only the periods with an alarm")
    level: int | None = Level
    latest: bool = Field(default=False, description="With level: every unit's last period")
    thresholds: Literal["surveillance", "cdc"] = "surveillance"


class CredibilityQuery(_Options):
    reference_cfr: float = Field(default=0.001, gt=0, lt=1, description="A share")
    reference: str = Field(
        default="Omicron in an unvaccinated population", min_length=1, max_length=200
    )


class AscertainmentQuery(_Options):
    detected_low: float = Field(default=0.3, ge=0.001, le=1)
    detected_high: float = Field(default=0.7, ge=0.001, le=1)
    disease_low: float = Field(default=0.8, ge=0.001, le=1)
    disease_high: float = Field(default=1.0, ge=0.001, le=1)


def _checked(request: Request, user: Principal, db: Db, options: _Options) -> AppContext:
    """The context, once ``user`` may read analyses of the org unit asked for."""
    ctx = context(request)
    authorized_unit(db, ctx, user, "analysis.read", options.org_unit)
    return ctx


def _out(table: Any) -> AnalysisOut:
    return AnalysisOut(
        title=table.title, columns=table.columns, rows=finite(table.rows), notes=table.notes
    )


def _range(options: _Options) -> dict[str, Any]:
    return {"start": first_day(options.start), "end": final_day(options.end)}


@router.get("/rt", summary="Reproduction number (Cori et al., as EpiEstim)", responses=ANSWERS)
def rt(request: Request, user: User, db: Db, q: Annotated[RtQuery, Query()]) -> AnalysisOut:
    from sitroom.analysis import service

    ctx = _checked(request, user, db, q)
    table = service.rt(
        ctx,
        org_unit=q.org_unit,
        element=q.element,
        fill=q.fill,
        si=service.serial_interval(q.si_mean, q.si_sd),
        window=q.window,
        level=q.level,
        latest=q.latest,
        events=q.events,
        **_range(q),
    )
    return _out(table)


@router.get("/growth", summary="Growth rate and doubling or halving time", responses=ANSWERS)
def growth(request: Request, user: User, db: Db, q: Annotated[GrowthQuery, Query()]) -> AnalysisOut:
    from sitroom.analysis import service

    ctx = _checked(request, user, db, q)
    table = service.growth(
        ctx, org_unit=q.org_unit, element=q.element, fill=q.fill, window=q.window, **_range(q)
    )
    return _out(table)


@router.get(
    "/forecast",
    summary="Forecast 1 to 14 days ahead with intervals, or the models' backtest",
    responses=ANSWERS,
)
def forecast(
    request: Request, user: User, db: Db, q: Annotated[ForecastQuery, Query()]
) -> AnalysisOut:
    from sitroom.analysis import service

    ctx = _checked(request, user, db, q)
    table = service.forecast(
        ctx,
        org_unit=q.org_unit,
        element=q.element,
        fill=q.fill,
        si=service.serial_interval(q.si_mean, q.si_sd),
        model=q.model,
        horizon=q.horizon,
        samples=q.samples,
        seed=q.seed,
        noise=q.noise,
        backtest=q.backtest,
        **_range(q),
    )
    return _out(table)


@router.get(
    "/nowcast",
    summary="The latest periods completed from the revision history (chain ladder)",
    responses=ANSWERS,
)
def nowcast(
    request: Request, user: User, db: Db, q: Annotated[NowcastQuery, Query()]
) -> AnalysisOut:
    from sitroom.analysis import service

    ctx = _checked(request, user, db, q)
    table = service.nowcast(
        ctx,
        org_unit=q.org_unit,
        element=q.element,
        max_delay=q.max_delay,
        as_of=first_day(q.as_of),
        last=q.last,
    )
    return _out(table)


@router.get("/cfr", summary="Case fatality: naive and delay-corrected", responses=ANSWERS)
def cfr(request: Request, user: User, db: Db, q: Annotated[CfrQuery, Query()]) -> AnalysisOut:
    from sitroom.analysis import service

    ctx = _checked(request, user, db, q)
    table = service.cfr(
        ctx,
        org_unit=q.org_unit,
        cases_element=q.cases,
        deaths_element=q.deaths,
        delay_shape=q.delay_shape,
        delay_scale=q.delay_scale,
        rolling=q.rolling,
        fill=q.fill,
        **_range(q),
    )
    return _out(table)


@router.get("/alerts", summary="EARS C1-C3 and CUSUM alarms", responses=ANSWERS)
def alerts(request: Request, user: User, db: Db, q: Annotated[AlertsQuery, Query()]) -> AnalysisOut:
    from sitroom.analysis import service

    ctx = _checked(request, user, db, q)
    table = service.alerts(
        ctx,
        org_unit=q.org_unit,
        element=q.element,
        fill=q.fill,
        baseline=q.baseline,
        min_sigma=q.min_sigma,
        only_alarms=q.alarms,
        level=q.level,
        latest=q.latest,
        thresholds=q.thresholds,
        **_range(q),
    )
    return _out(table)


@router.get(
    "/credibility",
    summary="Can the reported numbers be trusted? One sentence per check",
    responses=ANSWERS,
)
def credibility(
    request: Request, user: User, db: Db, q: Annotated[CredibilityQuery, Query()]
) -> AnalysisOut:
    from sitroom.analysis import service

    ctx = _checked(request, user, db, q)
    table = service.credibility(
        ctx,
        org_unit=q.org_unit,
        reference_cfr=q.reference_cfr,
        reference=q.reference,
        **_range(q),
    )
    return _out(table)


@router.get(
    "/ascertainment",
    summary="Infections and attack rates of an org unit and its children",
    responses=ANSWERS,
)
def ascertainment(
    request: Request, user: User, db: Db, q: Annotated[AscertainmentQuery, Query()]
) -> AnalysisOut:
    from sitroom.analysis import service

    ctx = _checked(request, user, db, q)
    table = service.ascertainment(
        ctx,
        org_unit=q.org_unit,
        detected_low=q.detected_low,
        detected_high=q.detected_high,
        disease_low=q.disease_low,
        disease_high=q.disease_high,
        **_range(q),
    )
    return _out(table)
