"""Pledges, shipments, receipts, a lot's origin and the 3W table over HTTP (issue #12,
items 3, 6 and 7): the twins of ``sitroom aid pledge|ship|receive|trace|export``, over
:mod:`sitroom.aid.pipeline` and :mod:`sitroom.aid.export`.

Reads need ``aid.read`` (a pledge of a region: within the reader's scopes; a
shipment: its pledge's unit or its warehouse's); a lot's origin ``aid.read`` or
``stock.read`` (the receipts at facilities of the reader's scopes). Writes need
``aid.write`` over the pledge's org unit; a receipt ``stock.write`` over the
warehouse (the logistician who keeps its stock signs the goods in). A step the
record's status does not allow is 409; a refused step is 409 with every reason in
``reasons``; nothing is written then.
"""

from __future__ import annotations

import hashlib
import io
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sitroom.aid import pipeline
from sitroom.aid.common import LineIn
from sitroom.auth.permissions import authorize
from sitroom.counts import MAX_COUNT
from sitroom.errors import ForbiddenError
from sitroom.server.conditional import NOT_MODIFIED, ConditionalGet, idempotent
from sitroom.server.deps import Db, User, context
from sitroom.server.problems import SIGNED_IN, responses
from sitroom.server.routes.aid import (
    BODY,
    CODE,
    READS,
    STEP,
    LineIn_,
    Number,
    _lock,
    _step,
    aid_reader,
    aid_writer,
)
from sitroom.server.routes.supply import Code, Day, Moment, Text, moment, zone

router = APIRouter(prefix="/aid", tags=["aid"])

PartnerQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
NumberQuery = Annotated[
    str | None, Query(min_length=1, max_length=32, pattern=r"^[A-Z]{3}-\d{4}-\d{4,}$")
]
Limit = Annotated[int, Query(ge=1, le=10_000)]
#: A lot's code, as the ledger holds it: no control character.
LOT = r"^[^\x00-\x1f\x7f/]+$"
LotText = Annotated[str, Field(min_length=1, max_length=64, pattern=LOT)]
PledgeStatus = Literal["open", "fulfilled", "cancelled"]
ShipmentStatus = Literal[
    "planned", "in_transit", "at_border", "arrived", "partly_received", "received", "cancelled"
]
LIST_READS = {**responses(*SIGNED_IN, 404), **NOT_MODIFIED}


# Shapes -----------------------------------------------------------------------------


class AidEventOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    time: str | None
    recorded_at: str | None
    by: str
    from_: str | None = Field(alias="from")
    to: str
    note: str | None


class PledgeLineOut(BaseModel):
    item: str
    unit: str
    pledged: int
    shipped: int
    received: int
    to_ship: int
    outstanding: int


class ShipmentBriefOut(BaseModel):
    number: str
    status: str
    destination: str


class PledgeOut(BaseModel):
    number: str
    status: str
    partner: str
    partner_name: str
    request: str | None
    offer: str | None
    org_unit: str
    pledged_at: str | None
    expected_by: str | None
    created_by: str
    created_at: str | None
    status_at: str | None
    illustrative: bool
    lines: list[PledgeLineOut]
    shipments: list[ShipmentBriefOut]
    events: list[AidEventOut]


class PledgeRowOut(BaseModel):
    number: str
    status: str
    partner: str
    request: str | None
    offer: str | None
    org_unit: str
    pledged_at: str | None
    expected_by: str | None
    lines: int
    pledged: int
    shipped: int
    received: int
    illustrative: bool


class ShipmentLineOut(BaseModel):
    item: str
    unit: str
    lot: str
    expiry: str | None
    shipped: int
    received: int
    outstanding: int


class ReceiptLineOut(BaseModel):
    item: str
    lot: str
    quantity: int


class ReceiptOut(BaseModel):
    batch: int
    received_at: str | None
    received_by: str
    recorded_by: str
    recorded_at: str | None
    lines: list[ReceiptLineOut]


class ShipmentOut(BaseModel):
    number: str
    status: str
    pledge: str
    partner: str
    partner_name: str
    org_unit: str
    destination: str
    destination_name: str
    carrier: str | None
    route: str | None
    border_crossing: str | None
    customs_status: str | None
    customs_at: str | None
    departed_at: str | None
    expected_at: str | None
    arrived_at: str | None
    created_by: str
    created_at: str | None
    status_at: str | None
    illustrative: bool
    shipped: int
    received: int
    lines: list[ShipmentLineOut]
    receipts: list[ReceiptOut]
    events: list[AidEventOut]


class ShipmentRowOut(BaseModel):
    number: str
    status: str
    pledge: str
    partner: str
    destination: str
    carrier: str | None
    border_crossing: str | None
    customs_status: str | None
    departed_at: str | None
    expected_at: str | None
    arrived_at: str | None
    shipped: int
    received: int
    outstanding: int
    illustrative: bool


class ReceiveOut(BaseModel):
    shipment: ShipmentOut
    receipt: ReceiptOut
    pledge: str
    pledge_status: str
    summary: dict[str, Any] = Field(description="The stock ledger's summary of the batch")


class LotOriginOut(BaseModel):
    entry: int
    batch: int
    facility: str
    facility_name: str
    time: str | None
    quantity: int
    counterparty: str | None
    reference: str | None
    reverses: int | None
    shipment: str | None
    pledge: str | None
    partner: str | None
    partner_name: str | None
    request: str | None
    offer: str | None
    received_by: str | None


class LotTraceOut(BaseModel):
    item: str
    unit: str
    lot: str
    expiry: str | None
    received: int
    origins: list[LotOriginOut]


class ThreeWRowOut(BaseModel):
    pledge: str
    pledge_status: str
    request: str | None
    offer: str | None
    partner: str
    partner_name: str
    partner_kind: str
    sector: str
    subsector: str
    activity: str
    item: str
    item_name: str
    unit: str
    category: str
    country: str
    region: str | None
    region_name: str | None
    warehouses: list[str]
    warehouse_names: list[str]
    pledged_on: str
    first_departure: str | None
    last_receipt: str | None
    pledged: int
    shipped: int
    received: int
    status: str
    illustrative: bool


# Pledges ----------------------------------------------------------------------------


@router.get(
    "/pledges",
    summary="Pledges you may read, newest first, with what was pledged, shipped and received",
    response_model=list[PledgeRowOut],
    responses=LIST_READS,
)
def list_pledges(
    *,
    user: User,
    db: Db,
    check: ConditionalGet,
    partner: PartnerQuery = None,
    status: PledgeStatus | None = None,
    request: NumberQuery = None,
    offer: NumberQuery = None,
    limit: Limit = 500,
) -> Response:
    aid_reader(user)
    rows = pipeline.list_pledges(
        db, partner=partner, status=status, request=request, offer=offer, principal=user,
        limit=limit,
    )  # fmt: skip
    return check.respond([r.to_dict() for r in rows])


@router.get(
    "/pledges/{number}",
    summary="A pledge: each item pledged, shipped and received (by the ledger), its"
    " shipments and history",
    response_model=PledgeOut,
    responses=READS,
)
def get_pledge(number: Number, user: User, db: Db, check: ConditionalGet) -> Response:
    aid_reader(user)
    return check.respond(pipeline.get_pledge(db, number, principal=user).to_dict())


class PledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    partner: str = Field(min_length=1, max_length=64, pattern=CODE)
    lines: list[LineIn_] = Field(min_length=1, max_length=200, description="One per item")
    request: str | None = Field(
        default=None, max_length=32, pattern=r"^[A-Z]{3}-\d{4}-\d{4,}$",
        description="The request it answers (one of request and offer is required)",
    )  # fmt: skip
    offer: str | None = Field(
        default=None, max_length=32, pattern=r"^[A-Z]{3}-\d{4}-\d{4,}$",
        description="The accepted offer it answers",
    )  # fmt: skip
    org_unit: Code | None = Field(
        default=None, alias="orgUnit", description="Whose it is (default: the request's or offer's)"
    )
    expected_by: Day | None = Field(default=None, alias="expectedBy")
    note: Text | None = Field(default=None, max_length=10_000)
    time: Moment | None = Field(default=None, description="When it was pledged (default: now)")


@router.post(
    "/pledges",
    summary="Record a pledge answering a request or an accepted offer (aid.write over its unit)",
    status_code=201,
    response_model=PledgeOut,
    dependencies=BODY,
    responses=STEP,
)
@idempotent
def create_pledge(body: PledgeIn, request: Request, user: User, db: Db) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: pipeline.create_pledge(
            db, body.partner, [LineIn(ln.item, ln.quantity) for ln in body.lines],
            request=body.request, offer=body.offer, unit=body.org_unit,
            expected_by=body.expected_by, note=body.note, user=user.username, principal=user,
            at=moment(request, body.time), lock_timeout=_lock(request),
        ),
        201,
    )  # fmt: skip


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=10_000, pattern=r"\S")
    time: Moment | None = None


@router.post(
    "/pledges/{number}/cancel",
    summary="Cancel an open pledge, saying why (none of its shipments on its way)",
    response_model=PledgeOut,
    dependencies=BODY,
    responses=STEP,
)
def cancel_pledge(
    number: Number, body: ReasonIn, request: Request, user: User, db: Db
) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: pipeline.cancel_pledge(
            db, number, reason=body.reason, user=user.username, principal=user,
            at=moment(request, body.time), lock_timeout=_lock(request),
        )
    )  # fmt: skip


# Shipments --------------------------------------------------------------------------


@router.get(
    "/shipments",
    summary="Shipments you may read, latest step first, with what was shipped and received",
    response_model=list[ShipmentRowOut],
    responses=LIST_READS,
)
def list_shipments(
    *,
    user: User,
    db: Db,
    check: ConditionalGet,
    partner: PartnerQuery = None,
    status: ShipmentStatus | None = None,
    pledge: NumberQuery = None,
    destination: Annotated[Code | None, Query(description="A warehouse's code")] = None,
    limit: Limit = 500,
) -> Response:
    aid_reader(user)
    rows = pipeline.list_shipments(
        db, partner=partner, status=status, pledge=pledge, destination=destination,
        principal=user, limit=limit,
    )  # fmt: skip
    return check.respond([r.to_dict() for r in rows])


@router.get(
    "/shipments/{number}",
    summary="A shipment: its lots (shipped, received by the ledger), receipts and history",
    response_model=ShipmentOut,
    responses=READS,
)
def get_shipment(number: Number, user: User, db: Db, check: ConditionalGet) -> Response:
    aid_reader(user)
    return check.respond(pipeline.get_shipment(db, number, principal=user).to_dict())


class ShipLineIn_(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Code
    lot: LotText
    expiry: Day = Field(description="The lot's expiry date")
    quantity: int = Field(ge=1, le=MAX_COUNT, description="Whole units")


class ShipmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    pledge: str = Field(min_length=1, max_length=32, pattern=r"^[A-Z]{3}-\d{4}-\d{4,}$")
    destination: Code = Field(description="The warehouse or stockpile it goes to")
    lines: list[ShipLineIn_] = Field(min_length=1, max_length=200, description="One per lot")
    carrier: Text | None = Field(default=None, max_length=200)
    route: Text | None = Field(default=None, max_length=300)
    border_crossing: Text | None = Field(default=None, max_length=200, alias="borderCrossing")
    departed_at: Moment | None = Field(
        default=None, alias="departedAt", description="When it left (else it is planned)"
    )
    expected_at: Day | None = Field(default=None, alias="expectedAt")
    note: Text | None = Field(default=None, max_length=10_000)
    time: Moment | None = Field(default=None, description="When it was planned (default: now)")


@router.post(
    "/shipments",
    summary="Record a shipment of a pledge's goods, lot by lot (aid.write over the pledge's unit)",
    status_code=201,
    response_model=ShipmentOut,
    dependencies=BODY,
    responses=STEP,
)
@idempotent
def create_shipment(body: ShipmentIn, request: Request, user: User, db: Db) -> JSONResponse:
    aid_writer(user)
    lines = [pipeline.ShipLineIn(ln.item, ln.lot, ln.expiry, ln.quantity) for ln in body.lines]
    return _step(
        lambda: pipeline.create_shipment(
            db, body.pledge, body.destination, lines, carrier=body.carrier, route=body.route,
            border_crossing=body.border_crossing,
            departed_at=moment(request, body.departed_at), expected_at=body.expected_at,
            note=body.note, user=user.username, principal=user,
            at=moment(request, body.time), lock_timeout=_lock(request),
        ),
        201,
    )  # fmt: skip


class ShipmentUpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    status: Literal["in_transit", "at_border", "arrived"] | None = None
    customs: Literal["pending", "held", "cleared"] | None = None
    expected_at: Day | None = Field(default=None, alias="expectedAt")
    note: Text | None = Field(default=None, max_length=10_000)
    time: Moment | None = None


@router.post(
    "/shipments/{number}/update",
    summary="A shipment's next step: it left, reached the border, arrived; customs; a new"
    " expected arrival",
    response_model=ShipmentOut,
    dependencies=BODY,
    responses=STEP,
)
def update_shipment(
    number: Number, body: ShipmentUpdateIn, request: Request, user: User, db: Db
) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: pipeline.update_shipment(
            db, number, status=body.status, customs=body.customs, expected_at=body.expected_at,
            note=body.note, user=user.username, principal=user,
            at=moment(request, body.time), lock_timeout=_lock(request),
        )
    )  # fmt: skip


@router.post(
    "/shipments/{number}/close",
    summary="Close a partly received shipment short: what did not arrive is no longer expected",
    response_model=ShipmentOut,
    dependencies=BODY,
    responses=STEP,
)
def close_shipment(
    number: Number, body: ReasonIn, request: Request, user: User, db: Db
) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: pipeline.close_shipment(
            db, number, reason=body.reason, user=user.username, principal=user,
            at=moment(request, body.time), lock_timeout=_lock(request),
        )
    )  # fmt: skip


@router.post(
    "/shipments/{number}/cancel",
    summary="Cancel a shipment of which nothing was received, saying why",
    response_model=ShipmentOut,
    dependencies=BODY,
    responses=STEP,
)
def cancel_shipment(
    number: Number, body: ReasonIn, request: Request, user: User, db: Db
) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: pipeline.cancel_shipment(
            db, number, reason=body.reason, user=user.username, principal=user,
            at=moment(request, body.time), lock_timeout=_lock(request),
        )
    )  # fmt: skip


class ReceiveLineIn_(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Code
    lot: LotText
    quantity: int = Field(ge=1, le=MAX_COUNT, description="Whole units accepted")


class ReceiveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    lines: list[ReceiveLineIn_] = Field(min_length=1, max_length=200, description="One per lot")
    received_by: Text = Field(
        min_length=1, max_length=200, pattern=r"\S", alias="receivedBy",
        description="Who signed for the goods at the warehouse",
    )  # fmt: skip
    note: Text | None = Field(default=None, max_length=10_000)
    time: Moment | None = Field(default=None, description="When (default: now)")


@router.post(
    "/shipments/{number}/receive",
    summary="Receive goods of a shipment into the stock ledger at its warehouse, the donor on"
    " the lot (stock.write over the warehouse)",
    status_code=201,
    response_model=ReceiveOut,
    dependencies=BODY,
    responses=STEP,
)
@idempotent
def receive_shipment(
    number: Number, body: ReceiveIn, request: Request, user: User, db: Db
) -> JSONResponse:
    authorize(user, "stock.write", None)
    lines = [pipeline.ReceiveLineIn(ln.item, ln.lot, ln.quantity) for ln in body.lines]
    return _step(
        lambda: pipeline.receive_shipment(
            db, number, lines, received_by=body.received_by, note=body.note, channel="api",
            zone=zone(request),
            user=user.username, principal=user, at=moment(request, body.time),
            lock_timeout=_lock(request),
        ),
        201,
    )  # fmt: skip


# A lot's origin, the 3W table -------------------------------------------------------


@router.get(
    "/lots/{item}/{lot}",
    summary="Where a lot came from: the stock ledger's receipts of it, each with its donor,"
    " shipment, pledge, request or offer",
    response_model=LotTraceOut,
    responses={
        **responses(*SIGNED_IN, 404, meaning={404: "No such item, or no such lot of it"}),
        **NOT_MODIFIED,
    },
)
def trace_lot(
    item: Annotated[str, Path(min_length=1, max_length=64, pattern=CODE)],
    lot: Annotated[str, Path(min_length=1, max_length=64, pattern=LOT)],
    user: User,
    db: Db,
    check: ConditionalGet,
) -> Response:
    if not (user.can("aid.read") or user.can("stock.read")):
        raise ForbiddenError(
            f"user {user.username!r} may read neither stock nor aid: cannot trace a lot"
        )
    return check.respond(pipeline.trace_lot(db, item, lot, principal=user).to_dict())


@router.get(
    "/3w",
    summary="The 3W table (who, what, where, when): a row per pledge line, as JSON, CSV or"
    " HXL-tagged CSV",
    response_model=list[ThreeWRowOut],
    responses={
        200: {
            "description": "The rows; with format csv or hxl, the CSV as a download",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **LIST_READS,
    },
)
def three_w(
    *,
    request: Request,
    user: User,
    db: Db,
    check: ConditionalGet,
    partner: PartnerQuery = None,
    status: PledgeStatus | None = None,
    format: Annotated[
        Literal["json", "csv", "hxl"],
        Query(description="json (the default), csv, or hxl (CSV with HXL hashtags)"),
    ] = "json",
    formula_safe: Annotated[
        bool,
        Query(
            alias="formulaSafe",
            description="In CSV, prefix text a spreadsheet would run as a formula with '",
        ),
    ] = True,
) -> Response:
    from sitroom.aid.export import three_w as rows_of
    from sitroom.aid.export import write_3w

    aid_reader(user)
    zone = ZoneInfo(context(request).country.reporting.time_zone)
    rows = rows_of(db, partner=partner, status=status, principal=user, zone=zone)
    if format == "json":
        return check.respond([r.to_dict() for r in rows])
    out = io.StringIO()
    write_3w(rows, out, hxl=format == "hxl", neutralise_formulas=formula_safe)
    body = out.getvalue()
    name = "aid-3w-hxl.csv" if format == "hxl" else "aid-3w.csv"
    # A download, never a page: a browser saves it rather than showing it.
    response = Response(
        body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
    return check.answer(response, hashlib.sha256(body.encode()).hexdigest()[:32], weak=True)
