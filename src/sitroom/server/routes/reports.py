"""The read side over HTTP: a value's history, validation, completeness, aggregates, the bulletin.

Each route is the twin of a command (``sitroom history``, ``validate``,
``completeness``, ``aggregate``, ``bulletin``) and calls the same service.
The scope applies to what comes back: findings, reporting units and values
are those of org units inside the user's scopes; the national bulletin
needs the country.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, NoReturn

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from sitroom.auth.permissions import Principal, authorize
from sitroom.server.deps import Db, User, context
from sitroom.server.problems import SIGNED_IN, Problem, responses
from sitroom.server.routes.common import (
    Code,
    Period,
    authorized_unit,
    final_day,
    finite,
    first_day,
    unit_paths,
)

router = APIRouter(tags=["reports"])

NOT_FOUND = {404: "An org unit or data element named does not exist"}


# History ---------------------------------------------------------------------


class HistoryEventOut(BaseModel):
    action: Literal["created", "updated", "deleted"]
    value: int | None = Field(description="None for a deletion")
    at: datetime = Field(description="When it was stored (UTC)")
    source: str = Field(description="The file or request it came from")
    by: str = Field(description="Who made the change (the signed-in or --user actor)")
    stored_by: str | None = Field(description="Who the file says entered the value (a claim)")
    comment: str | None
    channel: str | None = Field(
        description="api, web, cli or file; None where the audit does not keep it"
    )
    client: str | None = Field(
        description="The client's address, for changes over HTTP; shown only to users who"
        " may read the audit trail (audit.read)"
    )


class HistoryOut(BaseModel):
    data_element: str
    org_unit: str
    period: str
    events: list[HistoryEventOut] = Field(description="Oldest first; empty if never stored")


@router.get(
    "/dataValues/history",
    summary="Every state one value has had: who, when, from which source and channel",
    responses=responses(*SIGNED_IN, 404, meaning=NOT_FOUND),
)
def history(
    *,
    request: Request,
    user: User,
    db: Db,
    element: Annotated[Code, Query(alias="dataElement")],
    org_unit: Annotated[Code, Query(alias="orgUnit", description="Code, name or alias")],
    period: Annotated[Period, Query()],
) -> HistoryOut:
    from sitroom.surveillance.service import history_key, value_history

    unit = authorized_unit(db, context(request), user, "data.read", org_unit)
    key = history_key(db, context(request).country, element, unit.code, period)
    events = [e.to_dict() for e in value_history(db, *key)]
    if not user.can("audit.read"):
        # Staff's addresses are the audit's: a reporter reads who changed a value, not where from.
        for event in events:
            event["client"] = None
    return HistoryOut(
        data_element=element,
        org_unit=unit.code,
        period=period,
        events=[HistoryEventOut.model_validate(e) for e in events],
    )


# Validation ------------------------------------------------------------------


def _below(db: Db, request: Request, user: Principal, org_unit: str | None) -> str:
    """The path of the subtree asked for (checked against the scopes), or "/" for all of them."""
    if org_unit is None:
        authorize(user, "data.read", None)
        return "/"
    return authorized_unit(db, context(request), user, "data.read", org_unit).path


class FindingOut(BaseModel):
    rule: str
    name: str
    org_unit: str
    period: str
    left: int | float | None
    right: int | float | None
    operator: str
    difference: int | float | None
    severity: Literal["error", "warning", "info"]
    message: str


PeriodQuery = Annotated[
    Period | None,
    Query(description="One period: the same as startDate and endDate both set to it"),
]
StartQuery = Annotated[
    Period | None, Query(alias="startDate", description="First period (default: the first stored)")
]
EndQuery = Annotated[
    Period | None,
    Query(alias="endDate", description="Last period, up to its last day (default: the last)"),
]
WithinQuery = Annotated[
    Code | None,
    Query(alias="orgUnit", description="Only this org unit's subtree (default: your scopes)"),
]


@router.get(
    "/validation",
    summary="Rule failures and outliers in your scope (as `sitroom validate --json`)",
    responses=responses(*SIGNED_IN, 404, meaning=NOT_FOUND),
)
def validation(
    *,
    request: Request,
    user: User,
    db: Db,
    period: PeriodQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    org_unit: WithinQuery = None,
) -> list[FindingOut]:
    from sitroom.surveillance.validation import validate

    below = _below(db, request, user, org_unit)
    findings = validate(
        db, context(request).country, start=first_day(period or start), end=final_day(period or end)
    )
    paths = unit_paths(db)

    def shown(code: str) -> bool:
        path = paths.get(code, "")
        return path.startswith(below) and user.covers(path)

    return [FindingOut.model_validate(finite(f.to_dict())) for f in findings if shown(f.org_unit)]


# Completeness ----------------------------------------------------------------


class PeriodCompletenessOut(BaseModel):
    period: str
    expected: int
    received: int
    on_time: int
    completeness: float
    timeliness: float
    missing: list[str]
    late: list[str]


class UnitCompletenessOut(BaseModel):
    org_unit: str
    name: str
    expected: int
    received: int
    on_time: int
    completeness: float | None
    timeliness: float | None


class CompletenessOut(BaseModel):
    start: date
    end: date
    periods: list[PeriodCompletenessOut] = Field(description="As `sitroom completeness --json`")
    by_unit: list[UnitCompletenessOut] = Field(
        description="As `sitroom completeness --by-region --json`"
    )


@router.get(
    "/completeness",
    summary="Expected, received and on-time reports of the reporting units in your scope",
    responses=responses(*SIGNED_IN, 404, meaning=NOT_FOUND),
)
def completeness(
    *,
    request: Request,
    user: User,
    db: Db,
    period: PeriodQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    org_unit: WithinQuery = None,
) -> CompletenessOut:
    from sitroom.surveillance.reporting import completeness_report

    below = _below(db, request, user, org_unit)
    report = completeness_report(
        db,
        context(request).country,
        start=first_day(period or start),
        end=final_day(period or end),
        include=lambda path: path.startswith(below) and user.covers(path),
    )
    return CompletenessOut(
        start=report.start,
        end=report.end,
        periods=[PeriodCompletenessOut.model_validate(p.to_dict()) for p in report.periods],
        by_unit=[UnitCompletenessOut.model_validate(u.to_dict()) for u in report.by_unit()],
    )


# Aggregates ------------------------------------------------------------------


class ParentSumOut(BaseModel):
    element: str
    own: int | None = Field(description="The parent's own reported figure")
    children_sum: int | None
    gap: int | None
    coverage: float | None
    children_reporting: int
    children_total: int


class InTimeOut(BaseModel):
    org_unit: str
    element: str
    period: str
    dhis2_period: str
    value: int | float | None
    days: int
    days_in_period: int
    complete: bool
    how: str


class AggregateOut(BaseModel):
    to: Literal["weekly", "monthly"] | None = Field(
        description="None: a parent beside its children; weekly or monthly: daily values summed"
    )
    parent_sums: list[ParentSumOut] = Field(description="Without `to`: per element")
    in_time: list[InTimeOut] = Field(description="With `to`: per org unit, element and period")


@router.get(
    "/aggregate",
    summary="A parent's figures beside its children's sums, or daily values summed in time",
    description="With `period`: the parent's own figures beside the sum of its children's"
    " (`sitroom aggregate --period`). With `to`: daily values summed into ISO weeks or months"
    " (`sitroom aggregate --to`), for the org units given (default: those in your scopes).",
    responses=responses(*SIGNED_IN, 404, meaning=NOT_FOUND),
)
def aggregate(
    *,
    request: Request,
    user: User,
    db: Db,
    period: Annotated[Period | None, Query(description="Without `to`: the period")] = None,
    org_unit: Annotated[
        list[Code] | None,
        Query(
            alias="orgUnit",
            max_length=100,
            description="Without `to`: the parent (default: the country); with `to`: the"
            " org units (repeatable)",
        ),
    ] = None,
    to: Annotated[Literal["week", "month"] | None, Query()] = None,
    start: StartQuery = None,
    end: EndQuery = None,
    element: Annotated[
        list[Code] | None,
        Query(alias="dataElement", max_length=100, description="With `to` (repeatable)"),
    ] = None,
    partial: Annotated[bool, Query(description="With `to`: also incomplete periods")] = False,
) -> AggregateOut:
    ctx = context(request)
    authorize(user, "data.read", None)
    if to is None:
        if period is None:
            _invalid("period", "give period (a parent's sums) or to=week|month (sums in time)")
        extra = {"startDate": start, "endDate": end, "dataElement": element, "partial": partial}
        for name, value in extra.items():
            if value:
                _invalid(name, "only with to=week|month")
        if org_unit and len(org_unit) > 1:
            _invalid("orgUnit", "give one parent (several only with to)")
        from sitroom.surveillance.reporting import aggregate_period

        parent = authorized_unit(db, ctx, user, "data.read", org_unit[0] if org_unit else None)
        rows = aggregate_period(db, parent.code, period)
        return AggregateOut(
            to=None,
            parent_sums=[ParentSumOut.model_validate(finite(r.to_dict())) for r in rows],
            in_time=[],
        )
    if period is not None:
        _invalid("period", "not with to; give the range with startDate and endDate")
    from sitroom.surveillance.temporal import aggregate_days

    if org_unit:
        codes = [authorized_unit(db, ctx, user, "data.read", u).code for u in org_unit]
    else:
        codes = sorted(code for code, path in unit_paths(db).items() if user.covers(path))
    kind: Literal["weekly", "monthly"] = "weekly" if to == "week" else "monthly"
    values = (
        list(
            aggregate_days(
                db,
                kind,
                start=first_day(start),
                end=final_day(end),
                org_units=codes,
                elements=element,
                partial=partial,
            )
        )
        if codes  # no unit in scope: nothing (an empty list would mean every unit)
        else []
    )
    return AggregateOut(
        to=kind,
        parent_sums=[],
        in_time=[InTimeOut.model_validate(finite(v.to_dict())) for v in values],
    )


def _invalid(field: str, message: str) -> NoReturn:
    raise Problem(422, f"{field}: {message}", errors=[{"field": field, "message": message}])


# The bulletin ----------------------------------------------------------------


class BulletinOut(BaseModel):
    """``sitroom bulletin --json``: the country's figures by element code, and the rest."""

    model_config = ConfigDict(extra="allow")

    country: str
    period: str
    period_type: Literal["daily", "weekly", "monthly"]
    window_start: datetime
    window_end: datetime
    regions: list[dict[str, Any]] = Field(
        description="Ranked by new cases: code, name, name_local, figures by element, late"
    )
    regions_reporting: int
    regions_expected: int
    missing_regions: list[str]
    late_regions: list[str]
    regional_sums: list[ParentSumOut]
    validation: list[FindingOut]


@router.get(
    "/bulletin",
    summary="The national bulletin of a period (as `sitroom bulletin --json`)",
    description="Needs `data.read` over the whole country. Besides the fields listed, the"
    " country's figure of each element of the period's frequency, keyed by element code, and"
    " `change_<cases>`, the change of the cases on the period before.",
    responses=responses(
        *SIGNED_IN, 404, meaning={404: "No national figures are stored for the period"}
    ),
)
def bulletin(
    request: Request,
    user: User,
    db: Db,
    period: Annotated[Period | None, Query(description="Default: the latest")] = None,
) -> BulletinOut:
    from sitroom.surveillance.bulletin import bulletin_for

    ctx = context(request)
    authorized_unit(db, ctx, user, "data.read", None)
    return BulletinOut.model_validate(finite(bulletin_for(db, ctx.country, period).to_dict()))
