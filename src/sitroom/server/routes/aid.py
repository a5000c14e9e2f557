"""Aid coordination over HTTP (issue #12, item 7): partners, requests, offers, the
communications log, overdue answers and each request's or offer's timeline; the
twins of ``sitroom aid partner|request|offer|log``, over :mod:`sitroom.aid`.

Reads need ``aid.read`` (a request or offer of a region: within the reader's
scopes); writes ``aid.write`` over the org unit of the need (partners: over
the country). A step the record's status does not allow is 409 (another
process may just have moved it); a refused step is 409 with every reason in
``reasons``; nothing is written then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from sitroom.aid import partners, requests
from sitroom.aid.common import AidRefused, LineIn
from sitroom.auth.permissions import authorize
from sitroom.counts import MAX_COUNT
from sitroom.server.conditional import NOT_MODIFIED, ConditionalGet, idempotent
from sitroom.server.deps import Db, User, context, json_body
from sitroom.server.problems import SIGNED_IN, WRITES, Problem, responses
from sitroom.server.routes.supply import Code, Day, Moment, Text, moment

router = APIRouter(prefix="/aid", tags=["aid"])

BODY = [Depends(json_body)]
Channel = Literal[
    "diplomatic_note", "liaison_office", "un_agency", "phone", "email", "meeting", "other"
]
Number = Annotated[
    str,
    Path(
        min_length=1,
        max_length=32,
        pattern=r"^[A-Z]{3}-\d{4}-\d{4,}$",
        description="REQ-2022-0001, OFF-2022-0001",
    ),
]
CODE = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
PartnerCode = Annotated[str, Path(min_length=1, max_length=64, pattern=CODE)]


def aid_reader(user: Any) -> None:
    authorize(user, "aid.read", None)


def aid_writer(user: Any) -> None:
    authorize(user, "aid.write", None)


def _hours(request: Request) -> int:
    return context(request).country.aid.answer_hours


def _lock(request: Request) -> float:
    return context(request).settings.lock_timeout


def _step(run: Callable[[], Any], status: int = 200) -> JSONResponse:
    """Run a step; its refusal is 409 with every reason."""
    try:
        view = run()
    except AidRefused as exc:
        raise Problem(409, str(exc), reasons=exc.reasons) from None
    return JSONResponse(view.to_dict(), status_code=status)


READS = {
    **responses(*SIGNED_IN, 404, meaning={404: "No record has this number or code"}),
    **NOT_MODIFIED,
}
STEP = responses(
    *WRITES,
    404,
    409,
    meaning={
        404: "A partner, item, org unit or record named does not exist",
        409: "The record is not in a status that allows the step (another process may just"
        " have moved it), or the step was refused: every reason in `reasons`; nothing was"
        " written",
    },
)


# Shapes -----------------------------------------------------------------------------


class ContactOut(BaseModel):
    name: str
    title: str | None
    channel: str
    address: str | None


class PartnerOut(BaseModel):
    code: str
    name: str
    kind: str
    country: str | None
    notes: str | None
    illustrative: bool
    contacts: list[ContactOut]


class LineOut(BaseModel):
    item: str
    name: str
    unit: str
    quantity: int
    accepted: int | None
    expiry: str | None
    pledged: int


class RequestOut(BaseModel):
    number: str
    partner: str
    partner_name: str
    channel: str
    org_unit: str
    org_unit_name: str
    status: str
    needed_by: str | None
    reason: str
    gap: Any
    created_by: str
    created_at: str | None
    sent_at: str | None
    status_at: str | None
    illustrative: bool
    lines: list[LineOut]


class OfferOut(BaseModel):
    number: str
    partner: str
    partner_name: str
    channel: str
    org_unit: str
    org_unit_name: str
    status: str
    received_at: str | None
    answer_by: str | None
    conditions: str | None
    created_by: str
    status_at: str | None
    illustrative: bool
    lines: list[LineOut]


class MessageOut(BaseModel):
    id: int
    about: str
    time: str | None
    direction: str
    kind: str
    channel: str
    our_side: str
    their_side: str | None
    summary: str
    awaits_answer: bool
    answer_due_at: str | None
    reply_to: int | None
    answered_at: str | None
    overdue: bool
    recorded_by: str
    illustrative: bool


class OverdueOut(BaseModel):
    kind: str
    about: str
    partner: str
    partner_name: str
    waiting_for: str
    since: str | None
    due: str | None
    hours_overdue: float
    summary: str
    illustrative: bool
    message_id: int | None


class TimelineEntryOut(BaseModel):
    time: str | None
    what: str
    subject: str
    text: str
    by: str | None
    status: str | None


class TimelineOut(BaseModel):
    about: str
    kind: str
    status: str
    partner: str
    entries: list[TimelineEntryOut]


# Partners ---------------------------------------------------------------------------


@router.get(
    "/partners",
    summary="Partners and how each is reached",
    response_model=list[PartnerOut],
    responses={**responses(*SIGNED_IN), **NOT_MODIFIED},
)
def list_partners(
    user: User,
    db: Db,
    check: ConditionalGet,
    kind: Literal["government", "un_agency", "ngo", "red_cross", "private", "other"] | None = None,
) -> Response:
    aid_reader(user)
    views = partners.list_partners(db, kind=kind, principal=user)
    return check.respond([p.to_dict() for p in views])


@router.get(
    "/partners/{code}",
    summary="A partner and its contacts",
    response_model=PartnerOut,
    responses=READS,
)
def get_partner(code: PartnerCode, user: User, db: Db, check: ConditionalGet) -> Response:
    aid_reader(user)
    return check.respond(partners.get_partner(db, code, principal=user).to_dict())


class PartnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=CODE)
    name: Text = Field(min_length=1, max_length=200, pattern=r"\S")
    kind: Literal["government", "un_agency", "ngo", "red_cross", "private", "other"]
    country: str | None = Field(
        default=None, pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2 code (CN, KR)"
    )
    notes: Text | None = Field(default=None, max_length=10_000)


@router.post(
    "/partners",
    summary="Register a partner (aid.write over the country)",
    status_code=201,
    response_model=PartnerOut,
    dependencies=BODY,
    responses=STEP,
)
@idempotent
def add_partner(body: PartnerIn, request: Request, user: User, db: Db) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: partners.add_partner(
            db, body.code, body.name, body.kind, user=user.username, principal=user,
            country=body.country, notes=body.notes, lock_timeout=_lock(request),
        ),
        201,
    )  # fmt: skip


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200, pattern=r"\S")
    channel: Channel
    title: Text | None = Field(default=None, max_length=200)
    address: Text | None = Field(default=None, max_length=300)


@router.post(
    "/partners/{code}/contacts",
    summary="Add a contact to a partner",
    status_code=201,
    response_model=PartnerOut,
    dependencies=BODY,
    responses=STEP,
)
def add_contact(
    code: PartnerCode, body: ContactIn, request: Request, user: User, db: Db
) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: partners.add_contact(
            db, code, body.name, body.channel, user=user.username, principal=user,
            title=body.title, address=body.address, lock_timeout=_lock(request),
        ),
        201,
    )  # fmt: skip


# Requests ---------------------------------------------------------------------------


class LineIn_(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Code
    quantity: int = Field(ge=1, le=MAX_COUNT, description="Whole units")


class OfferLineIn(LineIn_):
    expiry: date | None = Field(default=None, description="When the goods expire")


RequestStatus = Literal[
    "draft", "sent", "acknowledged", "under_discussion", "accepted", "partly_accepted",
    "declined", "no_response",
]  # fmt: skip
OfferStatus = Literal["received", "under_review", "answered", "accepted", "declined", "lapsed"]


@router.get(
    "/requests",
    summary="Requests you may read, newest first",
    response_model=list[RequestOut],
    responses={**responses(*SIGNED_IN, 404), **NOT_MODIFIED},
)
def list_requests(
    *,
    user: User,
    db: Db,
    check: ConditionalGet,
    status: RequestStatus | None = None,
    partner: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> Response:
    aid_reader(user)
    views = requests.list_requests(db, principal=user, status=status, partner=partner, limit=limit)
    return check.respond([v.to_dict() for v in views])


@router.get(
    "/requests/{number}",
    summary="A request and its lines (with what was pledged)",
    response_model=RequestOut,
    responses=READS,
)
def get_request(number: Number, user: User, db: Db, check: ConditionalGet) -> Response:
    aid_reader(user)
    return check.respond(requests.get_request(db, number, principal=user).to_dict())


@router.get(
    "/requests/{number}/timeline",
    summary="A request's history: statuses, messages, pledges, shipments, receipts",
    response_model=TimelineOut,
    responses=READS,
)
def request_timeline(
    number: Number, request: Request, user: User, db: Db, check: ConditionalGet
) -> Response:
    aid_reader(user)
    story = requests.timeline(
        db, number, principal=user, answer_hours=_hours(request),
        zone=ZoneInfo(context(request).country.reporting.time_zone),
    )  # fmt: skip
    return check.respond(story.to_dict())


class RequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    partner: str = Field(min_length=1, max_length=64, pattern=CODE)
    lines: list[LineIn_] = Field(min_length=1, max_length=200, description="One per item")
    channel: Channel
    reason: Text = Field(min_length=1, max_length=10_000, pattern=r"\S")
    org_unit: Code | None = Field(
        default=None, alias="orgUnit", description="Where the need is (default: the country)"
    )
    needed_by: date | None = Field(default=None, alias="neededBy")
    gap: dict[str, Any] | None = Field(default=None, description="The gap that motivated it")
    time: Moment | None = Field(default=None, description="When it was drafted (default: now)")


@router.post(
    "/requests",
    summary="Draft a request (aid.write over the org unit of the need)",
    status_code=201,
    response_model=RequestOut,
    dependencies=BODY,
    responses=STEP,
)
@idempotent
def create_request(body: RequestIn, request: Request, user: User, db: Db) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: requests.create_request(
            db, body.partner, [LineIn(ln.item, ln.quantity) for ln in body.lines],
            channel=body.channel, reason=body.reason, user=user.username, principal=user,
            unit=body.org_unit, needed_by=body.needed_by, gap=body.gap,
            at=moment(request, body.time), lock_timeout=_lock(request),
        ),
        201,
    )  # fmt: skip


class RequestEdit(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    partner: str | None = Field(default=None, min_length=1, max_length=64, pattern=CODE)
    lines: list[LineIn_] | None = Field(default=None, min_length=1, max_length=200)
    channel: Channel | None = None
    reason: Text | None = Field(default=None, min_length=1, max_length=10_000, pattern=r"\S")
    needed_by: date | None = Field(default=None, alias="neededBy")


@router.patch(
    "/requests/{number}",
    summary="Change a draft request before it is sent",
    response_model=RequestOut,
    dependencies=BODY,
    responses=STEP,
)
def edit_request(
    number: Number, body: RequestEdit, request: Request, user: User, db: Db
) -> JSONResponse:
    aid_writer(user)
    lines = None if body.lines is None else [LineIn(ln.item, ln.quantity) for ln in body.lines]
    return _step(
        lambda: requests.edit_request(
            db, number, user=user.username, principal=user,
            partner=body.partner,
            channel=body.channel, lines=lines, needed_by=body.needed_by, reason=body.reason,
            lock_timeout=_lock(request),
        )
    )  # fmt: skip


class SendIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    our_side: Text | None = Field(default=None, max_length=200, alias="from")
    their_side: Text | None = Field(default=None, max_length=200, alias="to")
    note: Text | None = Field(default=None, max_length=10_000)
    time: Moment | None = None


@router.post(
    "/requests/{number}/send",
    summary="Send a draft: its notice is logged, awaiting an answer",
    response_model=RequestOut,
    dependencies=BODY,
    responses=STEP,
)
def send_request(
    number: Number, body: SendIn, request: Request, user: User, db: Db
) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: requests.send_request(
            db, number, user=user.username, our_side=body.our_side,
            their_side=body.their_side, note=body.note, principal=user,
            at=moment(request, body.time), answer_hours=_hours(request),
            lock_timeout=_lock(request),
        )
    )  # fmt: skip


class RequestStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal[
        "acknowledged", "under_discussion", "accepted", "partly_accepted", "declined",
        "no_response",
    ]  # fmt: skip
    accepted: dict[str, Annotated[int, Field(ge=0, le=MAX_COUNT)]] | None = Field(
        default=None, description="Units per item the partner agreed to (partly accepted)"
    )
    note: Text | None = Field(default=None, max_length=10_000)
    time: Moment | None = None


@router.post(
    "/requests/{number}/status",
    summary="Record the partner's answer to a request",
    response_model=RequestOut,
    dependencies=BODY,
    responses=STEP,
)
def request_status(
    number: Number, body: RequestStatusIn, request: Request, user: User, db: Db
) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: requests.set_request_status(
            db, number, body.status, user=user.username, principal=user,
            accepted=body.accepted, note=body.note, at=moment(request, body.time),
            lock_timeout=_lock(request),
        )
    )  # fmt: skip


# Offers -----------------------------------------------------------------------------


@router.get(
    "/offers",
    summary="Offers you may read, newest first",
    response_model=list[OfferOut],
    responses={**responses(*SIGNED_IN, 404), **NOT_MODIFIED},
)
def list_offers(
    *,
    user: User,
    db: Db,
    check: ConditionalGet,
    status: OfferStatus | None = None,
    partner: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._-]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
) -> Response:
    aid_reader(user)
    views = requests.list_offers(db, principal=user, status=status, partner=partner, limit=limit)
    return check.respond([v.to_dict() for v in views])


@router.get(
    "/offers/{number}",
    summary="An offer and its lines",
    response_model=OfferOut,
    responses=READS,
)
def get_offer(number: Number, user: User, db: Db, check: ConditionalGet) -> Response:
    aid_reader(user)
    return check.respond(requests.get_offer(db, number, principal=user).to_dict())


@router.get(
    "/offers/{number}/timeline",
    summary="An offer's history: statuses, messages, pledges, shipments, receipts",
    response_model=TimelineOut,
    responses=READS,
)
def offer_timeline(
    number: Number, request: Request, user: User, db: Db, check: ConditionalGet
) -> Response:
    aid_reader(user)
    story = requests.timeline(
        db, number, principal=user, answer_hours=_hours(request),
        zone=ZoneInfo(context(request).country.reporting.time_zone),
    )  # fmt: skip
    return check.respond(story.to_dict())


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    partner: str = Field(min_length=1, max_length=64, pattern=CODE)
    lines: list[OfferLineIn] = Field(min_length=1, max_length=200)
    channel: Channel
    org_unit: Code | None = Field(default=None, alias="orgUnit")
    received_at: Moment | None = Field(default=None, alias="receivedAt")
    answer_by: Moment | None = Field(default=None, alias="answerBy")
    conditions: Text | None = Field(default=None, max_length=10_000)
    their_side: Text | None = Field(default=None, max_length=200, alias="from")


@router.post(
    "/offers",
    summary="Record an offer received (its notice is logged)",
    status_code=201,
    response_model=OfferOut,
    dependencies=BODY,
    responses=STEP,
)
@idempotent
def record_offer(body: OfferIn, request: Request, user: User, db: Db) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: requests.record_offer(
            db, body.partner,
            [LineIn(ln.item, ln.quantity, ln.expiry) for ln in body.lines],
            channel=body.channel, user=user.username, principal=user, unit=body.org_unit,
            received_at=moment(request, body.received_at),
            answer_by=moment(request, body.answer_by), conditions=body.conditions,
            their_side=body.their_side, lock_timeout=_lock(request),
        ),
        201,
    )  # fmt: skip


class OfferStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["under_review", "answered", "accepted", "declined", "lapsed"]
    note: Text | None = Field(default=None, max_length=10_000)
    time: Moment | None = None


@router.post(
    "/offers/{number}/status",
    summary="Move an offer on (a lapse only after its deadline)",
    response_model=OfferOut,
    dependencies=BODY,
    responses=STEP,
)
def offer_status(
    number: Number, body: OfferStatusIn, request: Request, user: User, db: Db
) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: requests.set_offer_status(
            db, number, body.status, user=user.username, principal=user, note=body.note,
            at=moment(request, body.time), lock_timeout=_lock(request),
        )
    )  # fmt: skip


# The communications log -------------------------------------------------------------


@router.get(
    "/messages",
    summary="The communications about a request or offer, oldest first",
    response_model=list[MessageOut],
    responses=READS,
)
def list_messages(
    *,
    request: Request,
    user: User,
    db: Db,
    check: ConditionalGet,
    about: Annotated[str, Query(min_length=1, max_length=32, pattern=r"^[A-Z]{3}-\d{4}-\d{4,}$")],
) -> Response:
    aid_reader(user)
    views = requests.messages(db, about, principal=user, answer_hours=_hours(request))
    return check.respond([v.to_dict() for v in views])


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    about: str = Field(min_length=1, max_length=32, pattern=r"^[A-Z]{3}-\d{4}-\d{4,}$")
    direction: Literal["out", "in"]
    kind: Literal["notice", "letter", "call", "meeting", "email", "note"]
    channel: Channel
    summary: Text = Field(min_length=1, max_length=10_000, pattern=r"\S")
    our_side: Text | None = Field(default=None, max_length=200, alias="ours")
    their_side: Text | None = Field(default=None, max_length=200, alias="theirs")
    awaits_answer: bool = Field(default=False, alias="awaitsAnswer")
    answer_due_at: Moment | None = Field(default=None, alias="answerDueAt")
    reply_to: int | None = Field(default=None, ge=1, alias="replyTo")
    time: Moment | None = None


@router.post(
    "/messages",
    summary="Log a notice, call, meeting or e-mail about a request or offer",
    status_code=201,
    response_model=MessageOut,
    dependencies=BODY,
    responses=STEP,
)
@idempotent
def log_message(body: MessageIn, request: Request, user: User, db: Db) -> JSONResponse:
    aid_writer(user)
    return _step(
        lambda: requests.log_message(
            db, body.about, direction=body.direction, kind=body.kind, channel=body.channel,
            summary=body.summary, user=user.username, our_side=body.our_side,
            their_side=body.their_side, principal=user, at=moment(request, body.time),
            awaits_answer=body.awaits_answer,
            answer_due_at=moment(request, body.answer_due_at), reply_to=body.reply_to,
            answer_hours=_hours(request), lock_timeout=_lock(request),
        ),
        201,
    )  # fmt: skip


@router.get(
    "/overdue",
    summary="What waits for an answer past its time: our notices, offers' deadlines",
    response_model=list[OverdueOut],
    responses={**responses(*SIGNED_IN), **NOT_MODIFIED},
)
def overdue(request: Request, user: User, db: Db, check: ConditionalGet) -> Response:
    aid_reader(user)
    found = requests.overdue(db, principal=user, answer_hours=_hours(request))
    return check.respond([o.to_dict() for o in found])


# The gap and suggested requests -----------------------------------------------------

GapModel = Literal["adaptive", "gapaware", "skewed", "growth", "renewal"]


class GapRowOut(BaseModel):
    item: str
    item_name: str
    unit: str
    org_unit: str
    name: str
    national: bool
    need_median: int
    need_lower: int
    need_upper: int
    stock: int
    pledged: int
    shipped: int
    pledged_weighted: float
    shipped_weighted: float
    later: int
    gap_median: int
    gap_lower: int
    gap_upper: int
    surplus: int
    runs_out: str | None


class GapOut(BaseModel):
    horizon: int
    first_day: str
    last_day: str
    source: str
    model: str | None
    method: str
    note: str
    interval: str
    as_of: str | None = Field(
        default=None,
        description="When the stock, the pipeline and the partners' records were taken"
        " (the close of end); null: as they are now",
    )
    reliability_prior: float
    notes: list[str]
    origins: dict[str, str]
    rows: list[GapRowOut]
    reliability: list[dict[str, Any]]


class SuggestionsOut(BaseModel):
    suggestions: list[dict[str, Any]]
    drafts: list[RequestOut]


def _gap(
    request: Request,
    user: Any,
    db: Any,
    *,
    horizon: int | None,
    org_unit: str | None,
    end: date | None,
    model: str,
) -> Any:
    from sitroom.aid.gap_service import gap_report

    return gap_report(
        db, context(request).country, horizon=horizon, org_unit=org_unit, end=end,
        model=model, principal=user,
    )  # fmt: skip


GAP_READS = responses(
    *SIGNED_IN,
    404,
    422,
    meaning={
        404: "No org unit has this code",
        422: "No region has a fever series long enough to forecast from",
    },
)


@router.get(
    "/gap",
    summary="The gap per item and region: need minus stock minus the weighted pipeline",
    response_model=GapOut,
    responses={**GAP_READS, **NOT_MODIFIED},
)
def gap(
    *,
    request: Request,
    user: User,
    db: Db,
    check: ConditionalGet,
    horizon: Annotated[int | None, Query(ge=1, le=28, description="Days of need")] = None,
    org_unit: Annotated[
        Code | None, Query(alias="orgUnit", description="One region (default: all, national)")
    ] = None,
    end: Annotated[
        date | None,
        Query(
            description="Forecast from the series up to this day; the stock and the pipeline"
            " as they stood at its close (default: now)"
        ),
    ] = None,
    model: GapModel = "adaptive",
) -> Response:
    from sitroom.server.routes.common import finite

    aid_reader(user)
    report = _gap(request, user, db, horizon=horizon, org_unit=org_unit, end=end, model=model)
    return check.respond(GapOut.model_validate(finite(report.to_dict())).model_dump())


class SuggestIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    horizon: int | None = Field(default=None, ge=1, le=28)
    org_unit: Code | None = Field(default=None, alias="orgUnit")
    end: Day | None = None
    model: GapModel = "adaptive"
    on: Literal["median", "upper"] = "median"
    create: bool = Field(default=False, description="Draft each suggested request")
    partner: str | None = Field(
        default=None, max_length=64, pattern=CODE, description="Ask this partner (with create)"
    )


@router.post(
    "/suggestions",
    summary="The requests the gap calls for; with create, drafted (to edit, then send)",
    response_model=SuggestionsOut,
    dependencies=BODY,
    responses={**STEP, **GAP_READS},
)
def suggestions(body: SuggestIn, request: Request, user: User, db: Db) -> JSONResponse:
    from sitroom.aid.gap_service import draft_requests, suggest

    aid_reader(user)
    if body.create:
        aid_writer(user)
    report = _gap(
        request, user, db, horizon=body.horizon, org_unit=body.org_unit, end=body.end,
        model=body.model,
    )  # fmt: skip
    found = suggest(db, report, on=body.on)
    try:
        drafts = (
            draft_requests(db, found, user=user.username, principal=user, partner=body.partner)
            if body.create
            else []
        )
    except AidRefused as exc:
        raise Problem(409, str(exc), reasons=exc.reasons) from None
    content = {
        "suggestions": [s.to_dict() for s in found],
        "drafts": [d.to_dict() for d in drafts],
    }
    return JSONResponse(SuggestionsOut.model_validate(content).model_dump(), status_code=200)
