"""Supply indicators, alerts, demand, allocation plans, PCR kits, inspections, cases and
the ranked suspects over HTTP (issue #11, items 6-10 and 12).

The twins of ``sitroom supply indicators|alerts|demand|allocate|allocate-tests|
inspect|investigate|suspects``, over :mod:`sitroom.supply.indicators`,
:mod:`~sitroom.supply.demand_service`, :mod:`~sitroom.supply.planning`,
:mod:`~sitroom.supply.inspections` and :mod:`~sitroom.supply.detection_service`.
The plans read and propose: nothing is written (a plan's order lines become
drafts when someone creates them, ``POST /supply/orders``). Inspections and
cases need ``stock.write`` over the facility, reading cases too: they name
people and accusations.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sitroom.counts import MAX_COUNT
from sitroom.server.conditional import NOT_MODIFIED, ConditionalGet, idempotent
from sitroom.server.deps import Db, User, context, json_body
from sitroom.server.problems import SIGNED_IN, WRITES, Problem, responses
from sitroom.server.routes.common import finite
from sitroom.server.routes.supply import (
    REFUSED,
    Code,
    Day,
    Moment,
    Text,
    moment,
    post_out,
    refused,
    stock_reader,
    stock_writer,
)

router = APIRouter(prefix="/supply", tags=["supply planning"])

BODY = [Depends(json_body)]
READS = {**responses(*SIGNED_IN, 404), **NOT_MODIFIED}
AlertKind = Literal["stock_out", "low_stock", "expired", "expiring"]
FacilityType = Literal["stockpile", "warehouse", "store", "pharmacy", "hospital"]


# Indicators and alerts -------------------------------------------------------------------


class FacilityIndicatorOut(BaseModel):
    facility: str
    facility_type: str
    org_unit: str
    region: str | None
    item: str
    unit: str
    on_hand: int
    usable: int
    expired: int
    expiring: int
    consumption: int
    daily_use: float
    days_of_stock: float | None = Field(description="null: no use, so no limit")
    months_of_stock: float | None
    stock_out_days: int
    out_now: bool
    min_days: float


class AreaIndicatorOut(BaseModel):
    org_unit: str
    name: str
    item: str
    unit: str
    facilities: int
    dispensing_facilities: int
    out_now: int
    stock_out_days: int
    on_hand: int
    usable: int
    expired: int
    expiring: int
    consumption: int
    daily_use: float
    days_of_stock: float | None


class AlertOut(BaseModel):
    kind: str
    severity: str
    facility: str
    facility_type: str
    org_unit: str
    region: str | None
    item: str
    sentence: str


class IndicatorsOut(BaseModel):
    day: str
    first_day: str
    window_days: int
    expiring_days: int
    level: int
    facilities: list[FacilityIndicatorOut]
    areas: list[AreaIndicatorOut]
    alerts: list[AlertOut]


@router.get(
    "/indicators",
    summary="Consumption, stock on hand, days and months of stock, stock-out days, expiring",
    response_model=IndicatorsOut,
    responses=READS,
)
def indicators(
    *,
    request: Request,
    user: User,
    db: Db,
    check: ConditionalGet,
    day: Annotated[Day | None, Query(description="The stock at the end of this day")] = None,
    org_unit: Annotated[Code | None, Query(alias="orgUnit")] = None,
    facility: Code | None = None,
    item: Code | None = None,
    facility_type: Annotated[FacilityType | None, Query(alias="type")] = None,
    window: Annotated[
        int | None, Query(ge=1, le=366, description="Days of consumption averaged")
    ] = None,
    expiring_days: Annotated[int | None, Query(alias="expiringDays", ge=0, le=3650)] = None,
    level: Annotated[int, Query(ge=1, le=4, description="The areas' org-unit level")] = 2,
) -> Response:
    from sitroom.supply import indicators as service

    stock_reader(user)
    report = service.indicators(
        db,
        context(request).country,
        day=day,
        facility=facility,
        item=item,
        under=org_unit,
        facility_type=facility_type,
        level=level,
        window_days=window,
        expiring_days=expiring_days,
        principal=user,
    )
    return check.respond(IndicatorsOut.model_validate(finite(report.to_dict())))


@router.get(
    "/alerts",
    summary="Stock-outs, low stock, expired and expiring stock, each in one sentence",
    response_model=list[AlertOut],
    responses=READS,
)
def alerts(
    *,
    request: Request,
    user: User,
    db: Db,
    check: ConditionalGet,
    day: Day | None = None,
    org_unit: Annotated[Code | None, Query(alias="orgUnit")] = None,
    facility: Code | None = None,
    item: Code | None = None,
    kind: Annotated[list[AlertKind] | None, Query(description="Only these kinds")] = None,
) -> Response:
    from sitroom.supply import indicators as service

    stock_reader(user)
    found = service.alerts(
        db,
        context(request).country,
        day=day,
        item=item,
        under=org_unit,
        facility=facility,
        kinds=kind or None,
        principal=user,
    )
    return check.respond([AlertOut(**a.to_dict()) for a in found])


# Demand, allocation, test kits -----------------------------------------------------------


class DemandRowOut(BaseModel):
    org_unit: str
    name: str
    item: str
    unit: str
    horizon: int
    median: float
    mean: float
    lower_50: float
    upper_50: float
    lower_90: float
    upper_90: float


class DemandOut(BaseModel):
    source: str
    model: str | None
    horizon: int
    first_day: str | None
    origins: dict[str, str] = Field(description="Per region, the last day its forecast starts from")
    method: str
    note: str
    notes: list[str]
    units_per_case: dict[str, float]
    rows: list[DemandRowOut]
    totals: dict[str, dict[str, float]]


@router.get(
    "/demand",
    summary="Units needed per region and item: the forecast of fever times the protocols",
    response_model=DemandOut,
    responses=READS,
)
def demand(
    *,
    request: Request,
    user: User,
    db: Db,
    check: ConditionalGet,
    horizon: Annotated[int, Query(ge=1, le=28, description="Days ahead")] = 14,
    org_unit: Annotated[
        Code | None, Query(alias="orgUnit", description="One region (default: every region)")
    ] = None,
    end: Annotated[Day | None, Query(description="Forecast from the series up to this day")] = None,
    model: Literal["skewed", "growth", "renewal"] = "skewed",
    seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 0,
    samples: Annotated[
        int | None, Query(ge=10, le=5000, description="Sample paths (default: the model's)")
    ] = None,
) -> Response:
    from sitroom.supply import demand_service

    stock_reader(user)
    report = demand_service.forecast_demand(
        db,
        context(request).country,
        horizon=horizon,
        org_unit=org_unit,
        end=end,
        model=model,
        samples=samples,
        seed=seed,
        principal=user,
    )
    return check.respond(DemandOut.model_validate(finite(report.to_dict())))


class AllocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[Code] = Field(min_length=1, max_length=50, description="Items to share")
    source: Code = Field(default="STOCKPILE", description="The facility whose stock is shared")
    level: Literal["region", "pharmacy"] = Field(
        default="region",
        description="region: the warehouses the source supplies; pharmacy: the pharmacies below",
    )
    org_unit: Code | None = Field(
        default=None, alias="orgUnit", description="Only destinations in this org unit"
    )
    floor_days: float = Field(default=3.0, ge=0, le=365, alias="floorDays")
    horizon: int = Field(default=14, ge=1, le=28)
    quantile: Literal["median", "mean", "lower_50", "upper_50", "lower_90", "upper_90"] = "median"
    weights: Literal["fever", "population", "equal"] = "fever"
    capacity: dict[Code, float] | None = Field(
        default=None,
        max_length=10_000,
        description="Route capacity: destination facility -> units over the horizon",
    )
    day: Day | None = Field(default=None, description="Read the stock as it was then")


class BindingOut(BaseModel):
    stock: list[str] = Field(description="Items whose stock ran out")
    capacity: list[str] = Field(description="Destinations whose route is full")
    floor_not_met: list[dict[str, str]]


class PlanRowOut(BaseModel):
    destination: str
    org_unit: str
    name: str
    item: str
    weight: float
    need: float
    on_hand: float
    daily_use: float
    shortfall: float
    given: float
    unmet: float
    floor_met: bool
    days_of_stock: float | None
    why: str


class ProposedLineOut(BaseModel):
    source: str
    destination: str
    item: str
    quantity: int
    via: list[str] = Field(description="The facilities between, down the chain")
    reason: str


class PlanOut(BaseModel):
    source: str
    level: str
    day: str
    items: list[str]
    horizon: int
    quantile: str
    floor_days: float
    weights: str
    stock: dict[str, int]
    status: str
    weighted_unmet_share: float | None
    binding: BindingOut
    rows: list[PlanRowOut]
    orders: list[ProposedLineOut] = Field(
        description="The order lines the plan proposes (POST /supply/orders makes them drafts)"
    )
    sentences: list[str] = Field(description="Who gets what and why; what binds")


PLANS = responses(
    *WRITES,
    404,
    meaning={
        404: "A facility, item or org unit named does not exist",
        422: "A field is invalid (each is named in `errors`), or the data do not allow the"
        " plan (the sentence says why)",
    },
)


@router.post(
    "/allocations",
    summary="Plan how to share scarce stock (minimum weighted unmet need): who gets what,"
    " why, and the order lines",
    response_model=PlanOut,
    dependencies=BODY,
    responses=PLANS,
)
def allocate(body: AllocationIn, request: Request, user: User, db: Db) -> PlanOut:
    from sitroom.supply import planning

    stock_writer(user)
    plan = planning.plan_allocation(
        db,
        context(request).country,
        items=body.items,
        source=body.source,
        level=body.level,
        org_unit=body.org_unit,
        horizon=body.horizon,
        floor_days=body.floor_days,
        quantile=body.quantile,
        weights=body.weights,
        capacity=body.capacity,
        day=body.day,
        principal=user,
    )
    return PlanOut.model_validate(finite(plan.to_dict()))


class TestKitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kits: int = Field(ge=0, le=10**9, description="PCR test kits to send")
    rule: Literal["proportional", "sqrt", "equal"] = "proportional"
    days: int = Field(default=14, ge=1, le=366, description="Suspected cases: fever over these")
    end: Day | None = Field(default=None, description="The last of those days")
    minimum: int = Field(default=1, ge=0, le=10**6, description="Kits every region gets first")
    credibility: bool = Field(
        default=True, description="Tilt toward regions whose credibility checks are weakest"
    )
    org_unit: Code | None = Field(default=None, alias="orgUnit")


class KitRegionOut(BaseModel):
    org_unit: str
    name: str
    kits: int
    suspected: float
    credibility_weakness: float
    failed_checks: list[str]
    sentence: str


class TestKitsOut(BaseModel):
    rule: str
    kits: int
    minimum: int
    days: int
    reasoning: str
    regions: list[KitRegionOut]
    notes: list[str]


@router.post(
    "/test-kits",
    summary="Where to send a limited number of PCR kits so that surveillance learns most",
    response_model=TestKitsOut,
    dependencies=BODY,
    responses=PLANS,
)
def test_kits(body: TestKitsIn, request: Request, user: User, db: Db) -> TestKitsOut:
    from sitroom.supply import planning

    stock_reader(user)
    plan = planning.plan_test_kits(
        db,
        context(request).country,
        kits=body.kits,
        days=body.days,
        end=body.end,
        rule=body.rule,
        minimum=body.minimum,
        credibility=body.credibility,
        org_unit=body.org_unit,
        principal=user,
    )
    return TestKitsOut.model_validate(finite(plan.to_dict()))


# Inspections and cases -------------------------------------------------------------------


class CountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Code
    counted: int = Field(ge=0, le=MAX_COUNT, description="Units counted on the shelf")
    lot: Code | None = Field(default=None, description="Needed when the facility holds several")


Checklist = Literal["stock_matches_ledger", "prices_as_set", "open_as_posted", "records_kept"]


class InspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    facility: Code
    inspector: Text = Field(min_length=1, max_length=200, pattern=r"\S")
    time: Moment | None = Field(default=None, description="When (default: now)")
    checklist: dict[Checklist, bool | None] = Field(default_factory=dict)
    counts: list[CountIn] = Field(
        default_factory=list, max_length=1000, description="Physical counts, posted as stocktakes"
    )
    findings: Text = Field(default="", max_length=10_000)
    photos: list[Annotated[Text, Field(min_length=1, max_length=300, pattern=r"\S")]] = Field(
        default_factory=list, max_length=100, description="The photos' file names"
    )


class InspectionOut(BaseModel):
    id: int
    facility: str
    inspector: str
    inspected_at: str
    checklist: dict[str, bool | None]
    findings: str
    photos: list[str]
    stock_batch: int | None = Field(description="The stock batch of the counts' stocktakes")
    missing: int = Field(description="Units counted below the ledger")
    surplus: int = Field(description="Units counted above it")
    recorded_by: str


@router.post(
    "/inspections",
    summary="Record an inspection: checklist, counts (posted as stocktakes), findings, photos",
    status_code=201,
    response_model=InspectionOut,
    dependencies=BODY,
    responses=responses(*WRITES, 404, 409, meaning=REFUSED),
)
@idempotent
def inspect(body: InspectionIn, request: Request, user: User, db: Db) -> JSONResponse:
    from datetime import UTC, datetime

    from sitroom.supply.inspections import Count, record_inspection

    stock_writer(user)
    record, summary = record_inspection(
        db,
        body.facility,
        inspector=body.inspector,
        at=moment(request, body.time) or datetime.now(UTC),
        checklist={str(q): a for q, a in body.checklist.items()},
        counts=[Count(c.item, c.counted, c.lot) for c in body.counts],
        findings=body.findings,
        photos=body.photos,
        user=user.username,
        principal=user,
        channel="api",
    )
    if summary is not None and not summary.ok:
        raise refused(post_out(summary, indexed=True), "counts")
    return JSONResponse(InspectionOut(**record).model_dump(), status_code=201)


class CaseRowOut(BaseModel):
    id: int
    facility: str
    status: str
    title: str
    opened_at: str


class CaseNoteOut(BaseModel):
    by: str
    at: str
    text: str
    status_from: str | None
    status_to: str | None
    assigned_to: str | None


class CaseOut(BaseModel):
    id: int
    facility: str
    source: str
    inspection: int | None
    title: str
    status: str
    assigned_to: str | None
    outcome: str | None
    opened_by: str
    opened_at: str
    closed_at: str | None
    evidence_sha256: str
    history: list[CaseNoteOut]
    evidence: dict[str, Any] | None = Field(
        default=None, description="As frozen when the case was opened"
    )


CaseStatus = Literal["open", "investigating", "closed"]
CaseId = Annotated[int, Path(ge=1, le=2**53, description="The case's number")]


@router.get(
    "/cases",
    summary="Investigation cases in your scopes (stock.write), newest first",
    response_model=list[CaseRowOut],
    responses=READS,
)
def list_cases(
    user: User, db: Db, check: ConditionalGet, status: CaseStatus | None = None
) -> Response:
    from sitroom.supply.inspections import list_cases as service

    stock_writer(user)
    return check.respond([CaseRowOut(**c) for c in service(db, status=status, principal=user)])


class CaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    facility: Code
    title: Text = Field(min_length=1, max_length=300, pattern=r"\S")
    source: Literal["report", "inspection", "detection"] = Field(
        default="report",
        description="detection: the facility's finding of GET /supply/suspects is frozen as"
        " evidence; inspection: the inspection named",
    )
    inspection: int | None = Field(default=None, ge=1, le=2**53)


@router.post(
    "/cases",
    summary="Open an investigation case on a facility, its evidence frozen now",
    status_code=201,
    response_model=CaseOut,
    dependencies=BODY,
    responses=responses(
        *WRITES, 404, meaning={404: "No such facility, or no such inspection of it"}
    ),
)
def open_case(body: CaseIn, request: Request, user: User, db: Db) -> JSONResponse:
    from sitroom.supply.inspections import open_case as service

    stock_writer(user)
    evidence = None
    if body.source == "detection":
        from sitroom.supply.detection_service import finding_evidence

        db.commit()  # nothing held while the ledger is judged
        evidence = finding_evidence(context(request), body.facility, principal=user)
    elif body.source == "inspection" and body.inspection is None:
        raise Problem(
            422,
            "inspection: a case from an inspection names the inspection",
            errors=[{"field": "inspection", "message": "required when source is inspection"}],
        )
    record = service(
        db,
        body.facility,
        source=body.source,
        title=body.title,
        evidence=evidence,
        inspection=body.inspection,
        user=user.username,
        principal=user,
    )
    return JSONResponse(
        CaseOut(**record).model_dump(),
        status_code=201,
        headers={"Location": f"{request.url.path}/{record['id']}"},
    )


@router.get(
    "/cases/{case}",
    summary="A case, its history and its frozen evidence (stock.write over its facility)",
    response_model=CaseOut,
    responses={
        **responses(*SIGNED_IN, 404, meaning={404: "No case has this number"}),
        **NOT_MODIFIED,
    },
)
def get_case(case: CaseId, user: User, db: Db, check: ConditionalGet) -> Response:
    from sitroom.supply.inspections import read_case

    stock_writer(user)
    return check.respond(CaseOut(**read_case(db, case, principal=user)))


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Text = Field(default="", max_length=10_000)
    status: CaseStatus | None = None
    assign: Text | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"\S", description="Who investigates"
    )
    outcome: Text | None = Field(
        default=None, max_length=10_000, description="The outcome (needed to close)"
    )


@router.post(
    "/cases/{case}/notes",
    summary="Add a note to a case, assign it, or move it on (closing says its outcome)",
    response_model=CaseOut,
    dependencies=BODY,
    responses=responses(
        *WRITES, 404, 409, meaning={404: "No case has this number", 409: "The case is closed"}
    ),
)
def note_case(case: CaseId, body: NoteIn, user: User, db: Db) -> CaseOut:
    from sitroom.supply.inspections import update_case

    stock_writer(user)
    record = update_case(
        db,
        case,
        user=user.username,
        note=body.note,
        status=body.status,
        assign=body.assign,
        outcome=body.outcome,
        principal=user,
    )
    return CaseOut(**record)


# Detection -------------------------------------------------------------------------------


class FindingOut(BaseModel):
    rank: int
    facility: str
    score: float
    signals: dict[str, float | None]
    evidence: dict[str, Any]
    sentence: str = Field(description="Why, in one sentence")


class SuspectsOut(BaseModel):
    start: str
    days: int
    facilities: int
    items: list[str]
    simulated: bool
    notes: list[str]
    findings: list[FindingOut]


@router.get(
    "/suspects",
    summary="Facilities to investigate for hoarding or diversion, strongest evidence first",
    description="Needs `stock.write` over the whole country (the list names the facilities"
    " suspected, compared across every scope). Ranked once per data version: the values,"
    " the ledger and the network; later calls read that ranking.",
    response_model=SuspectsOut,
    responses={
        **responses(
            *SIGNED_IN,
            meaning={422: "A parameter is invalid, or the ledger is empty: nothing to judge"},
        ),
        **NOT_MODIFIED,
    },
)
def suspects(
    *,
    request: Request,
    user: User,
    db: Db,
    check: ConditionalGet,
    top: Annotated[int, Query(ge=1, le=10_000, description="How many facilities")] = 20,
    item: Annotated[list[Code] | None, Query(description="Only these items")] = None,
) -> Response:
    from sitroom.supply.detection_service import ranked_suspects

    stock_writer(user)
    db.commit()  # the service reads in its own session
    found = ranked_suspects(context(request), top=top, items=item or None, principal=user)
    return check.respond(SuspectsOut.model_validate(finite(found.to_dict())))
