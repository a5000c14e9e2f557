"""Distribution orders over HTTP: the twins of ``sitroom supply orders ...``, ``dispatch``
and ``deliver`` (issue #11, item 4), over :mod:`sitroom.supply.orders`.

Each step is the service's: it checks the order's status (409 when another
process moved it first, or it is not in a status that allows the step), the
user's ``stock.write`` over the facility the step belongs to (403), and
refuses what cannot be done (409 with every reason in ``reasons``: stock not
there to dispatch, a proof of delivery that does not account for what was
dispatched); nothing is written then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sitroom.counts import MAX_COUNT
from sitroom.server.conditional import NOT_MODIFIED, ConditionalGet, idempotent
from sitroom.server.deps import Db, User, context, json_body
from sitroom.server.problems import SIGNED_IN, WRITES, Problem, responses
from sitroom.server.routes.supply import (
    Code,
    Day,
    Moment,
    Text,
    moment,
    no_nul,
    stock_reader,
    stock_writer,
    zone,
)
from sitroom.supply import orders
from sitroom.supply.orders import OrderRefused, OrderView

router = APIRouter(prefix="/supply", tags=["supply orders"])

BODY = [Depends(json_body)]
Status = Literal["draft", "approved", "dispatched", "delivered", "closed", "cancelled"]
Number = Annotated[
    str,
    Path(min_length=1, max_length=100, description="The order's number: DO-2022-000123"),
]


class LineOut(BaseModel):
    line: int
    item: str
    unit: str
    lot: str | None
    quantity: int
    dispatched: int | None
    accepted: int | None
    rejected: int | None
    rejection_reason: str | None
    rejection_note: str | None
    dispatched_lots: list[dict[str, str | int]] = Field(
        description="The lots the dispatch took: lot, expiry, quantity"
    )


class EventOut(BaseModel):
    time: str
    recorded_at: str
    by: str
    from_: str | None = Field(alias="from")
    to: str
    note: str | None


class OrderOut(BaseModel):
    number: str
    status: str
    source: str
    destination: str
    region: str
    origin: str | None
    note: str | None
    created_at: str | None
    created_by: str
    approved_at: str | None
    approved_by: str | None
    dispatched_at: str | None
    dispatched_by: str | None
    carrier: str | None
    vehicle: str | None
    carrier_kind: str | None
    delivered_at: str | None
    delivered_by: str | None
    received_by: str | None
    closed_at: str | None
    closed_by: str | None
    cancelled_at: str | None
    cancelled_by: str | None
    dispatch_batch: int | None
    delivery_batch: int | None
    simulated: bool
    lead_hours: dict[str, float | None] = Field(description="Hours to each step reached")
    lines: list[LineOut]
    events: list[EventOut] = Field(description="The order's history, oldest first")


class OrderRowOut(BaseModel):
    number: str
    status: str
    source: str
    destination: str
    region: str
    lines: int
    units: int
    created_at: str | None
    dispatched_at: str | None
    delivered_at: str | None
    carrier_kind: str | None


def _answer(view: OrderView) -> JSONResponse:
    body = OrderOut.model_validate(view.to_dict()).model_dump(by_alias=True)
    return JSONResponse(body)


def _step(run: Callable[[], OrderView]) -> JSONResponse:
    """Run an order's step; its refusal is 409 with every reason."""
    try:
        view = run()
    except OrderRefused as exc:
        raise Problem(409, str(exc), reasons=exc.reasons) from None
    return _answer(view)


ORDER_READS = {
    **responses(*SIGNED_IN, 404, meaning={404: "No order has this number"}),
    **NOT_MODIFIED,
}
STEP = responses(
    *WRITES,
    404,
    409,
    meaning={
        404: "No order has this number (or a facility, item or lot named does not exist)",
        409: "The order is not in a status that allows the step (another process may just"
        " have moved it), or the step was refused: every reason in `reasons`; nothing was"
        " written",
    },
)


@router.get(
    "/orders",
    summary="Distribution orders you may read, newest first",
    response_model=list[OrderRowOut],
    responses={**responses(*SIGNED_IN, 404), **NOT_MODIFIED},
)
def list_orders(
    *,
    user: User,
    db: Db,
    check: ConditionalGet,
    status: Status | None = None,
    facility: Annotated[Code | None, Query(description="Orders from or to this facility")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    stock_reader(user)
    rows = orders.list_orders(db, status=status, facility=facility, principal=user, limit=limit)
    return check.respond([OrderRowOut(**row.to_dict()) for row in rows])


@router.get(
    "/orders/{number}",
    summary="An order: its lines, the lots dispatched, its history and lead times",
    response_model=OrderOut,
    responses=ORDER_READS,
)
def get_order(number: Number, user: User, db: Db, check: ConditionalGet) -> Response:
    stock_reader(user)
    no_nul(number)
    view = orders.get_order(db, number, principal=user)
    return check.respond(OrderOut.model_validate(view.to_dict()).model_dump(by_alias=True))


class OrderLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Code
    quantity: int = Field(ge=1, le=MAX_COUNT, description="Whole units")
    lot: Code | None = Field(default=None, description="Default: the lots first to expire")


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Code = Field(description="The facility sending")
    destination: Code = Field(description="The facility receiving")
    lines: list[OrderLineIn] = Field(min_length=1, max_length=1000, description="One per item")
    number: Text | None = Field(
        default=None, min_length=1, max_length=100, description="Default: the next DO-<year>-N"
    )
    origin: Text | None = Field(
        default=None, max_length=100, description="The upstream order whose stock it forwards"
    )
    note: Text | None = Field(default=None, max_length=500)
    time: Moment | None = Field(default=None, description="When it was made (default: now)")


@router.post(
    "/orders",
    summary="Create a draft order along a route",
    status_code=201,
    response_model=OrderOut,
    dependencies=BODY,
    responses=STEP,
)
@idempotent
def create_order(body: OrderIn, request: Request, user: User, db: Db) -> JSONResponse:
    stock_writer(user)
    answer = _step(
        lambda: orders.create_order(
            db,
            body.source,
            body.destination,
            [orders.OrderLineIn(line.item, line.quantity, line.lot) for line in body.lines],
            user=user.username,
            principal=user,
            number=body.number,
            origin=body.origin,
            note=body.note,
            at=moment(request, body.time),
            lock_timeout=context(request).settings.lock_timeout,
        )
    )
    answer.status_code = 201
    number = OrderOut.model_validate_json(bytes(answer.body)).number
    answer.headers["Location"] = f"{request.url.path}/{number}"
    return answer


class StepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Text | None = Field(default=None, max_length=500)
    time: Moment | None = Field(default=None, description="When it happened (default: now)")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=500, pattern=r"\S")
    time: Moment | None = None


class DispatchIn(StepIn):
    carrier: Text = Field(
        min_length=1, max_length=200, pattern=r"\S", description='"KPA unit 525", "civil transport"'
    )
    carrier_kind: Literal["army", "civil", "other"] = Field(alias="carrierKind")
    vehicle: Text | None = Field(default=None, max_length=100)


class PodLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Code
    accepted: int = Field(ge=0, le=MAX_COUNT)
    rejected: int = Field(default=0, ge=0, le=MAX_COUNT)
    reason: Literal["damaged", "expired", "short_shipped", "wrong_item", "other"] | None = Field(
        default=None, description="Why units were rejected (needed when some were)"
    )
    note: Text | None = Field(default=None, max_length=200)


class DeliverIn(StepIn):
    receiver: Text = Field(
        min_length=1, max_length=200, pattern=r"\S", description="Who signed the proof of delivery"
    )
    lines: list[PodLineIn] = Field(min_length=1, max_length=1000)
    keep_open: bool = Field(
        default=False, alias="keepOpen", description="Do not close it even if all was accepted"
    )


def _number(number: str) -> str:
    try:
        return no_nul(number)
    except ValueError:
        raise Problem(
            422,
            "number: contains a NUL character",
            errors=[{"field": "number", "message": "contains a NUL character"}],
        ) from None


@router.post(
    "/orders/{number}/approve",
    summary="Approve a draft order (stock.write over the source)",
    response_model=OrderOut,
    dependencies=BODY,
    responses=STEP,
)
def approve_order(
    number: Number, body: StepIn, request: Request, user: User, db: Db
) -> JSONResponse:
    stock_writer(user)
    return _step(
        lambda: orders.approve_order(
            db,
            _number(number),
            user=user.username,
            principal=user,
            at=moment(request, body.time),
            note=body.note,
            lock_timeout=context(request).settings.lock_timeout,
        )
    )


@router.post(
    "/orders/{number}/cancel",
    summary="Cancel a draft or approved order, saying why",
    response_model=OrderOut,
    dependencies=BODY,
    responses=STEP,
)
def cancel_order(
    number: Number, body: CancelIn, request: Request, user: User, db: Db
) -> JSONResponse:
    stock_writer(user)
    return _step(
        lambda: orders.cancel_order(
            db,
            _number(number),
            reason=body.reason,
            user=user.username,
            principal=user,
            at=moment(request, body.time),
            lock_timeout=context(request).settings.lock_timeout,
        )
    )


@router.post(
    "/orders/{number}/dispatch",
    summary="Dispatch an approved order: its transfers out leave the source",
    response_model=OrderOut,
    dependencies=BODY,
    responses=STEP,
)
def dispatch_order(
    number: Number, body: DispatchIn, request: Request, user: User, db: Db
) -> JSONResponse:
    stock_writer(user)
    return _step(
        lambda: orders.dispatch_order(
            db,
            _number(number),
            carrier=body.carrier,
            carrier_kind=body.carrier_kind,
            vehicle=body.vehicle,
            user=user.username,
            principal=user,
            at=moment(request, body.time),
            note=body.note,
            channel="api",
            lock_timeout=context(request).settings.lock_timeout,
            zone=zone(request),
        )
    )


@router.post(
    "/orders/{number}/deliver",
    summary="Record the proof of delivery: every unit dispatched accepted or rejected",
    response_model=OrderOut,
    dependencies=BODY,
    responses=STEP,
)
def deliver_order(
    number: Number, body: DeliverIn, request: Request, user: User, db: Db
) -> JSONResponse:
    stock_writer(user)
    lines = [
        orders.PodLine(line.item, line.accepted, line.rejected, line.reason, line.note)
        for line in body.lines
    ]
    return _step(
        lambda: orders.deliver_order(
            db,
            _number(number),
            receiver=body.receiver,
            lines=lines,
            user=user.username,
            principal=user,
            at=moment(request, body.time),
            note=body.note,
            auto_close=not body.keep_open,
            channel="api",
            lock_timeout=context(request).settings.lock_timeout,
            zone=zone(request),
        )
    )


@router.post(
    "/orders/{number}/close",
    summary="Close a delivered order once its rejections are reconciled",
    response_model=OrderOut,
    dependencies=BODY,
    responses=STEP,
)
def close_order(number: Number, body: StepIn, request: Request, user: User, db: Db) -> JSONResponse:
    stock_writer(user)
    return _step(
        lambda: orders.close_order(
            db,
            _number(number),
            user=user.username,
            principal=user,
            at=moment(request, body.time),
            note=body.note,
            lock_timeout=context(request).settings.lock_timeout,
        )
    )


class StepStatsOut(BaseModel):
    n: int
    median_hours: float | None
    p90_hours: float | None


class GroupOut(BaseModel):
    group: str
    orders: int
    steps: dict[str, StepStatsOut]


class LeadTimesOut(BaseModel):
    by: str
    steps: list[str]
    overall: GroupOut
    groups: list[GroupOut]


@router.get(
    "/leadtimes",
    summary="Lead times per region or carrier kind: median, 90th percentile, count per step",
    response_model=LeadTimesOut,
    responses={**responses(*SIGNED_IN), **NOT_MODIFIED},
)
def lead_times(
    *,
    request: Request,
    user: User,
    db: Db,
    check: ConditionalGet,
    by: Literal["region", "carrier_kind", "region_carrier_kind"] = "region",
    since: Annotated[Day | None, Query(description="Orders created on this day or later")] = None,
    until: Annotated[Day | None, Query(description="Orders created before this day")] = None,
) -> Response:
    stock_reader(user)
    place = zone(request)
    report = orders.lead_times(
        db,
        by=by,
        since=datetime.combine(since, time(0), place) if since else None,
        until=datetime.combine(until, time(0), place) if until else None,
        principal=user,
    )
    return check.respond(LeadTimesOut.model_validate(report.to_dict()))
