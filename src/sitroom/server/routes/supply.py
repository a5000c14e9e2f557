"""The supply chain over HTTP: items, facilities and routes, stock on hand, the ledger.

The twins of ``sitroom supply stock|verify|import|receive|...|reverse`` and of
the network's editing (issue #11, items 2, 3 and 12): each route checks the
role, then calls the service the command line calls (``sitroom.supply.service``,
``sitroom.supply.ledger``, ``sitroom.supply.network_service``), which checks the
scopes on every facility. The orders are in ``supply_orders``, the indicators,
plans, inspections and cases in ``supply_planning``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from sitroom.auth.permissions import Principal, authorize
from sitroom.counts import MAX_COUNT
from sitroom.server.conditional import NOT_MODIFIED, ConditionalGet, idempotent
from sitroom.server.deps import Db, User, client_address, context, json_body
from sitroom.server.problems import SIGNED_IN, WRITES, Problem, responses
from sitroom.server.routes.common import authorized_unit
from sitroom.supply.ledger import (
    FIRST_YEAR,
    MAX_PATIENTS,
    TEXT_LIMITS,
    Movement,
    PostSummary,
)
from sitroom.supply.models import ENTRY_KINDS, FACILITY_TYPES

router = APIRouter(prefix="/supply", tags=["supply"])

MAX_PAGE = 10_000
#: Past this the databases' 64-bit OFFSET overflows; no store holds as many.
MAX_OFFSET = 2**53
#: Movements in one JSON batch (a file of more goes as CSV, or from the command line).
MAX_MOVEMENTS = 100_000
BODY = [Depends(json_body)]


# Shared by the supply routes -------------------------------------------------------------


def no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refused here as invalid input (422), not a 500."""
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


def _moment_text(text: str) -> str:
    """A time as the command line's ``--time`` reads it: checked here, placed in the
    country's time zone by :func:`moment` (422 naming the field when it is not one)."""
    from sitroom.supply.events_csv import parse_time

    no_nul(text)
    try:
        when = parse_time(text, ZoneInfo("UTC"))
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if when.year < FIRST_YEAR:
        raise ValueError(f"a time before {FIRST_YEAR} is not one of this ledger")
    return text


def _day(value: date) -> date:
    if value.year < FIRST_YEAR or value.year > 9000:
        raise ValueError(f"give a day from {FIRST_YEAR} on")
    return value


#: Text of a body or query: no NUL character.
Text = Annotated[str, AfterValidator(no_nul)]
#: A facility, item or org-unit code.
Code = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(no_nul)]
#: A time: 2022-05-20T10:30 (the country's local time), with an offset, or a day (noon).
Moment = Annotated[
    str,
    Field(
        min_length=10,
        max_length=40,
        description="2022-05-20T10:30 (the country's local time), 2022-05-20T10:30+09:00,"
        " or a day, 2022-05-20 (noon)",
    ),
    AfterValidator(_moment_text),
]
#: A day, 2022-05-20.
Day = Annotated[date, AfterValidator(_day)]


def zone(request: Request) -> ZoneInfo:
    return ZoneInfo(context(request).country.reporting.time_zone)


def moment(request: Request, text: str | None) -> datetime | None:
    """A checked :data:`Moment` as an aware time in the country's zone."""
    from sitroom.supply.events_csv import parse_time

    return None if text is None else parse_time(text, zone(request))


def stock_reader(user: Principal) -> None:
    authorize(user, "stock.read", None)


def stock_writer(user: Principal) -> None:
    authorize(user, "stock.write", None)


class Refusal(BaseModel):
    """One movement refused, and why."""

    index: int | None = Field(description="The movement's index in a JSON batch, from 0")
    line: int | None = Field(description="The line of a CSV body (the header is line 1)")
    field: str | None
    reason: str


class PostOut(BaseModel):
    """What a post to the ledger did (or, refused or on a dry run, would have done)."""

    source: str
    movements: int
    entries: int = Field(description="Ledger entries (one per lot moved)")
    kinds: dict[str, int] = Field(description="Entries by kind")
    rejected: int
    rejections: list[Refusal]
    warnings: list[Refusal]
    dry_run: bool
    committed: bool
    batch_id: int | None = Field(description="The stock batch written (its number)")
    previous_batch: int | None = Field(
        description="The same CSV was posted before as this batch: nothing was written again"
    )
    previously_imported: str | None


def post_out(summary: PostSummary, *, indexed: bool = False) -> PostOut:
    """``summary`` for the client; ``indexed``: the lines were a JSON batch's index + 1."""

    def refusal(line: int | None, field: str | None, reason: str) -> Refusal:
        if indexed:
            return Refusal(
                index=None if line is None else line - 1, line=None, field=field, reason=reason
            )
        return Refusal(index=None, line=line, field=field, reason=reason)

    data = summary.to_dict()
    return PostOut(
        source=data["source"],
        movements=data["movements"],
        entries=data["entries"],
        kinds=data["kinds"],
        rejected=data["rejected"],
        rejections=[refusal(r.line, r.field, r.reason) for r in summary.rejections],
        warnings=[refusal(w.line, w.field, w.reason) for w in summary.warnings],
        dry_run=data["dry_run"],
        committed=data["committed"],
        batch_id=data["batch_id"],
        previous_batch=data["previous_batch"],
        previously_imported=data["previously_imported"],
    )


def refused(out: PostOut, what: str = "movements") -> Problem:
    """The 409 of a post with refusals: nothing was written; each refusal listed."""
    first = out.rejections[0] if out.rejections else None
    where = ""
    if first is not None:
        if first.index is not None:
            where = f"movement {first.index}: "
        elif first.line is not None:
            where = f"line {first.line}: "
    return Problem(
        409,
        f"{out.rejected} of {out.movements} {what} refused; nothing was written"
        + (f" (first: {where}{first.field or 'movement'}: {first.reason})" if first else ""),
        **out.model_dump(),
    )


REFUSED = {409: "Refused and nothing was written: each refusal in `rejections`"}


# Items and facilities --------------------------------------------------------------------


class ItemOut(BaseModel):
    code: str
    name: str
    unit: str = Field(description="What one unit is: tablet, test, piece, course, ...")
    category: str


@router.get(
    "/items",
    summary="The supply items (medicines, tests, protective equipment)",
    response_model=list[ItemOut],
    responses={**responses(*SIGNED_IN), **NOT_MODIFIED},
)
def items(user: User, db: Db, check: ConditionalGet) -> Response:
    from sitroom.supply import network_service

    found = network_service.list_items(db, principal=user)
    return check.respond([ItemOut(**i.to_dict()) for i in found])


class FacilityOut(BaseModel):
    code: str
    name: str
    type: str = Field(description=", ".join(FACILITY_TYPES))
    org_unit: str
    supplier: str | None = Field(description="The facility it is supplied by (none at the top)")
    routes_to: list[str] = Field(description="Facilities it may also send to (declared routes)")


class FacilityPage(BaseModel):
    total: int
    offset: int
    limit: int
    facilities: list[FacilityOut]


FacilityType = Literal["stockpile", "warehouse", "store", "pharmacy", "hospital"]
FacilityCode = Annotated[
    str,
    Path(min_length=1, max_length=64, description="The facility's code"),
    AfterValidator(no_nul),
]


@router.get(
    "/facilities",
    summary="Facilities in your scopes, filtered and paged",
    response_model=FacilityPage,
    responses={**responses(*SIGNED_IN, 404), **NOT_MODIFIED},
)
def facilities(
    *,
    user: User,
    db: Db,
    check: ConditionalGet,
    org_unit: Annotated[
        Code | None,
        Query(alias="orgUnit", description="The facilities of this org unit's subtree"),
    ] = None,
    facility_type: Annotated[FacilityType | None, Query(alias="type")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
) -> Response:
    from sitroom.supply import network_service

    page = network_service.list_facilities(
        db,
        org_unit=org_unit,
        facility_type=facility_type,
        principal=user,
        offset=offset,
        limit=limit,
    )
    return check.respond(FacilityPage.model_validate(page.to_dict()))


@router.get(
    "/facilities/{code}",
    summary="One facility: its org unit, supplier and declared routes",
    response_model=FacilityOut,
    responses={**responses(*SIGNED_IN, 404), **NOT_MODIFIED},
)
def facility(code: FacilityCode, user: User, db: Db, check: ConditionalGet) -> Response:
    from sitroom.supply import network_service

    found = network_service.get_facility(db, code, principal=user)
    return check.respond(FacilityOut(**found.to_dict()))


class FacilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Letters, digits, '.', '_' or '-': PH-KP-04-CHANGGANG-011",
    )
    name: Text = Field(min_length=1, max_length=200, pattern=r"\S")
    type: FacilityType
    org_unit: Code = Field(alias="orgUnit")
    supplier: Code | None = Field(
        default=None, description="The facility that supplies it, higher in the chain"
    )


class FacilityPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    type: FacilityType | None = None
    org_unit: Code | None = Field(default=None, alias="orgUnit")
    supplier: Code | None = Field(
        default=None, description="The new supplier; null: none (the top of the chain)"
    )


NETWORK_CHANGES = responses(
    *WRITES,
    404,
    409,
    meaning={
        404: "An org unit or facility named does not exist",
        409: "The code is taken, or a supplier would not be higher in the chain than its"
        " customer, or stock is in transit on the supplier link being changed, or the route"
        " exists already",
    },
)


@router.post(
    "/facilities",
    summary="Add a facility, with its org unit and supplier",
    status_code=201,
    response_model=FacilityOut,
    dependencies=BODY,
    responses=NETWORK_CHANGES,
)
def create_facility(body: FacilityIn, request: Request, user: User, db: Db) -> JSONResponse:
    from sitroom.supply import network_service

    stock_writer(user)
    made = network_service.create_facility(
        db,
        code=body.code,
        name=body.name,
        facility_type=body.type,
        org_unit=body.org_unit,
        supplier=body.supplier,
        user=user.username,
        channel="api",
        principal=user,
        lock_timeout=context(request).settings.lock_timeout,
    )
    return JSONResponse(
        FacilityOut(**made.to_dict()).model_dump(),
        status_code=201,
        headers={"Location": f"{request.url.path}/{made.code}"},
    )


@router.patch(
    "/facilities/{code}",
    summary="Change a facility's name, type, org unit or supplier",
    response_model=FacilityOut,
    dependencies=BODY,
    responses=NETWORK_CHANGES,
)
def update_facility(
    code: FacilityCode, body: FacilityPatch, request: Request, user: User, db: Db
) -> FacilityOut:
    from sitroom.supply import network_service

    stock_writer(user)
    given = body.model_fields_set
    if not given:
        raise Problem(
            422,
            "body: give at least one of name, type, orgUnit, supplier",
            errors=[{"field": "body", "message": "nothing to change"}],
        )
    if "name" in given and body.name is None:
        raise Problem(422, "name: cannot be null", errors=[{"field": "name", "message": "null"}])
    changed = network_service.update_facility(
        db,
        code,
        name=body.name,
        facility_type=body.type,
        org_unit=body.org_unit,
        supplier=body.supplier if "supplier" in given else network_service.UNCHANGED,
        user=user.username,
        channel="api",
        principal=user,
        lock_timeout=context(request).settings.lock_timeout,
    )
    return FacilityOut(**changed.to_dict())


class RouteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Code = Field(description="The facility that sends")
    destination: Code = Field(description="The facility it may send to")


class RouteOut(BaseModel):
    source: str
    destination: str
    declared_by: str
    declared_at: str


@router.post(
    "/routes",
    summary="Declare a route besides the supplier links (a warehouse lending to another)",
    status_code=201,
    dependencies=BODY,
    responses=NETWORK_CHANGES,
)
def declare_route(body: RouteIn, request: Request, user: User, db: Db) -> RouteOut:
    from sitroom.supply import network_service

    stock_writer(user)
    route = network_service.declare_route(
        db,
        body.source,
        body.destination,
        user=user.username,
        channel="api",
        principal=user,
        lock_timeout=context(request).settings.lock_timeout,
    )
    return RouteOut(**route.to_dict())


# Stock on hand ---------------------------------------------------------------------------


class StockLineOut(BaseModel):
    facility: str
    facility_type: str
    org_unit: str
    item: str
    unit: str
    lot: str
    expiry: str
    quantity: int


class StockPage(BaseModel):
    at: str | None = Field(description="The moment asked for; null: now (the balances)")
    total: int
    offset: int
    limit: int
    lines: list[StockLineOut]


@router.get(
    "/stock",
    summary="Stock on hand per facility, item and lot: now, or at any moment",
    response_model=StockPage,
    responses={**responses(*SIGNED_IN, 404), **NOT_MODIFIED},
)
def stock(
    *,
    request: Request,
    user: User,
    db: Db,
    check: ConditionalGet,
    facility: Annotated[Code | None, Query(description="One facility")] = None,
    item: Annotated[Code | None, Query(description="One item")] = None,
    org_unit: Annotated[
        Code | None, Query(alias="orgUnit", description="The facilities of this org unit's subtree")
    ] = None,
    at: Annotated[
        Moment | None, Query(description="Stock at this moment (the ledger replayed)")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
) -> Response:
    from sitroom.supply import service

    stock_reader(user)
    when = moment(request, at)
    total, lines = service.stock_page(
        db,
        offset=offset,
        limit=limit,
        at=when,
        facility=facility,
        item=item,
        under=org_unit,
        principal=user,
    )
    page = StockPage(
        at=when.isoformat() if when else None,
        total=total,
        offset=offset,
        limit=limit,
        lines=[StockLineOut(**line.to_dict()) for line in lines],
    )
    return check.respond(page)


class PictureOut(BaseModel):
    at: str
    by_level: dict[str, dict[str, int]] = Field(description="Units per item and facility type")
    pharmacies: dict[str, dict[str, dict[str, int]]] = Field(
        description="Per item and region: pharmacies supplied by then, and those out of it"
    )
    in_transit: dict[str, int]
    units: dict[str, str]
    entries: int
    simulated: bool


@router.get(
    "/stock/picture",
    summary="The whole chain's stock at a moment: by level, pharmacies out per region, in transit",
    response_model=PictureOut,
    responses={**responses(*SIGNED_IN), **NOT_MODIFIED},
)
def stock_picture(
    *,
    request: Request,
    user: User,
    db: Db,
    check: ConditionalGet,
    at: Annotated[Moment | None, Query(description="Default: now")] = None,
) -> Response:
    from sitroom.supply import service

    authorized_unit(db, context(request), user, "stock.read", None)
    when = moment(request, at) or datetime.now(UTC)
    return check.respond(PictureOut(**service.stock_picture(db, when).to_dict()))


class MismatchOut(BaseModel):
    facility: str
    item: str
    lot: str
    balance: int | None
    ledger: int
    lowest: int | None
    sentence: str


class VerificationOut(BaseModel):
    ok: bool
    entries: int
    balances: int
    mismatches: list[MismatchOut]


@router.get(
    "/verify",
    summary="Replay the whole ledger against the balances (stock.write over the country)",
    response_model=VerificationOut,
    responses=responses(*SIGNED_IN),
)
def verify(request: Request, user: User, db: Db) -> VerificationOut:
    from sitroom.supply import service

    authorized_unit(db, context(request), user, "stock.write", None)
    return VerificationOut(**service.verify(db).to_dict())


# The ledger: movements and reversals ----------------------------------------------------

EventKind = Literal["receipt", "transfer_out", "transfer_in", "dispense", "adjust", "stocktake"]
assert set(EventKind.__args__) == set(ENTRY_KINDS)  # type: ignore[attr-defined]


class MovementIn(BaseModel):
    """One movement, as a row of the events CSV."""

    model_config = ConfigDict(extra="forbid")

    time: Moment
    event: EventKind
    facility: Code
    item: Code
    quantity: int = Field(
        ge=0, le=MAX_COUNT, description="Whole units, more than 0 (a stocktake's count may be 0)"
    )
    lot: Text | None = Field(default=None, min_length=1, max_length=TEXT_LIMITS["lot"])
    expiry: Day | None = Field(default=None, description="A new lot's expiry date")
    counterparty: Text | None = Field(
        default=None,
        max_length=TEXT_LIMITS["counterparty"],
        description="A transfer's other facility; a receipt's donor or procurement",
    )
    reason: Text | None = Field(
        default=None,
        max_length=TEXT_LIMITS["reason"],
        description="An adjustment's: expired, damaged, lost, stolen or found",
    )
    reference: Text | None = Field(default=None, max_length=TEXT_LIMITS["reference"])
    patients: int | None = Field(default=None, ge=0, le=MAX_PATIENTS)


class MovementBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    movements: list[MovementIn] = Field(min_length=1, max_length=MAX_MOVEMENTS)
    dry_run: bool = Field(default=False, alias="dryRun")


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` put in place (for ``openapi_extra``)."""
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(dict(defs[ref.rsplit("/", 1)[-1]]))
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    inlined: dict[str, Any] = walk(schema)
    return inlined


MOVEMENTS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _inline(MovementBatch.model_json_schema())},
            "text/csv": {
                "schema": {
                    "type": "string",
                    "description": "The events CSV: time,event,facility,item,lot,expiry,"
                    "quantity,counterparty,reason,reference,patients (see docs/supply.md)",
                }
            },
        },
    }
}


async def request_body(request: Request) -> bytes:
    """The raw body (read in the event loop; the route then runs in a worker thread)."""
    return await request.body()


def _batch(raw: bytes, request: Request) -> tuple[list[Movement], bool]:
    """The movements of a JSON body (index i on line i + 1) and its dryRun; 400, 422."""
    try:
        batch = MovementBatch.model_validate_json(raw)
    except ValidationError as exc:
        broken = [e for e in exc.errors() if e.get("type") == "json_invalid"]
        if broken:
            why = (broken[0].get("ctx") or {}).get("error") or "JSON decode error"
            raise Problem(
                400,
                f"body: not valid JSON: {why}",
                errors=[{"field": "body", "message": f"not valid JSON: {why}"}],
            ) from None
        raise RequestValidationError(
            [{**e, "loc": ("body", *e.get("loc", ()))} for e in exc.errors()]
        ) from None
    return [
        Movement(
            time=moment(request, m.time),  # type: ignore[arg-type]
            event=m.event,
            facility=m.facility,
            item=m.item,
            quantity=m.quantity,
            lot=m.lot,
            expiry=m.expiry,
            counterparty=m.counterparty,
            reason=m.reason,
            reference=m.reference,
            patients=m.patients,
            line=index + 1,
        )
        for index, m in enumerate(batch.movements)
    ], batch.dry_run


def _may_post(user: Principal, movements: list[Movement]) -> None:
    """The role: stock.write, or stock.dispense for a batch of dispensing only."""
    if any(m.event != "dispense" for m in movements) or not user.can("stock.dispense"):
        authorize(user, "stock.write", None)


@router.post(
    "/movements",
    summary="Post stock movements (JSON, or the events CSV): all of them, or none",
    response_model=PostOut,
    openapi_extra=MOVEMENTS_BODY,
    responses=responses(
        *WRITES,
        409,
        meaning={
            **REFUSED,
            422: "A field is invalid (each is named in `errors`), or the CSV cannot be read",
        },
    ),
)
@idempotent
def post_movements(
    *,
    request: Request,
    raw: Annotated[bytes, Depends(request_body)],
    user: User,
    db: Db,
    dry_run: Annotated[
        bool, Query(alias="dryRun", description="Check only; write nothing")
    ] = False,
) -> Any:
    from sitroom.supply import service
    from sitroom.supply.events_csv import parse_events
    from sitroom.supply.ledger import Ledger

    if not user.can("stock.dispense"):
        stock_writer(user)
    ctx = context(request)
    client = client_address(request) or "unknown"
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind in ("text/csv", "application/csv"):
        shown = f"CSV from {client}"
        read = parse_events(raw, zone(request), shown)
        _may_post(user, read.movements)
        summary = service.post_read(
            db,
            read,
            zone=zone(request),
            user=user.username,
            shown=shown,
            channel="api",
            principal=user,
            dry_run=dry_run,
            lock_timeout=ctx.settings.lock_timeout,
        )
        indexed = False
    elif kind in ("application/json", "") or kind.endswith("+json"):
        movements, body_dry_run = _batch(raw, request)
        _may_post(user, movements)
        summary = Ledger(
            db,
            user=user.username,
            channel="api",
            principal=user,
            lock_timeout=ctx.settings.lock_timeout,
            zone=zone(request),
        ).post(movements, source=f"API request from {client}", dry_run=dry_run or body_dry_run)
        indexed = True
    else:
        raise Problem(415, f"send application/json or text/csv, not {kind}")
    out = post_out(summary, indexed=indexed)
    if not summary.ok:
        raise refused(out)
    return out


class ReversalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(
        min_length=1, max_length=180, pattern=r"\S", description="Kept in the ledger"
    )


@router.post(
    "/batches/{batch}/reverse",
    summary="Correct a stock batch with reversal entries (the ledger is never edited)",
    response_model=PostOut,
    dependencies=BODY,
    responses=responses(
        *WRITES,
        404,
        409,
        meaning={
            404: "No stock batch has this number",
            409: "Reversed already, itself a reversal, or refused (its stock issued on since, a"
            " facility outside your scopes): see `rejections`; nothing was written",
        },
    ),
)
def reverse(
    batch: Annotated[int, Path(ge=1, le=MAX_OFFSET, description="The stock batch's number")],
    body: ReversalIn,
    user: User,
    db: Db,
) -> PostOut:
    from sitroom.supply import service

    stock_writer(user)
    summary = service.reverse(
        db, batch, reason=body.reason, user=user.username, channel="api", principal=user
    )
    out = post_out(summary)
    if not summary.ok:
        raise refused(out, "entries")
    return out
