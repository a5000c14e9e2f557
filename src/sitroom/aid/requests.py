"""Requests, offers and the communications log (issue #12, items 2 and 4).

A **request** is what we ask of a partner: items and quantities from the
catalogue, through a channel, needed by a date, and why (the gap that
motivated it, kept as it was computed)::

    draft -> sent -> acknowledged -> under_discussion -> accepted
                 \\            \\                  \\-> partly_accepted
                  \\____________\\_________________\\-> declined | no_response

``no_response`` is not the end: a late answer moves it on. An **offer** is
what a partner offers us, with its conditions, the goods' expiry dates and a
deadline to answer::

    received -> under_review -> answered -> accepted | declined
         \\_____________\\___________\\-> lapsed (the deadline passed unanswered)

The **communications log** holds every notice sent or received, call and
meeting about a request or an offer: when, through which channel, who on
each side, what was said, and whether an answer is awaited. An answer is a
message that names the one it answers (``reply_to``); it cannot be dated
before it. Sending a request logs its notice, awaiting an answer.

**Overdue** (:func:`overdue`): a message that awaits an answer and has none
past its due time (its own, or ``[aid] answer_hours`` after it was sent),
and an offer still unanswered past its deadline. The example is the 2022
offer of South Korea: a notice through the liaison office in the morning,
"not yet received"; a call in the afternoon, no clear answer.

Every status change is a row of the append-only history (``aid_event``);
:func:`timeline` merges it with the messages, pledges, shipments and
receipts into the story of one request or offer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, TypeVar

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from sitroom.auth.permissions import Permission, Principal
from sitroom.db import DEFAULT_LOCK_TIMEOUT, utcnow
from sitroom.errors import ConflictError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.models import Item

from . import common
from .common import AidRefused, LineIn
from .models import (
    CHANNELS,
    DIRECTIONS,
    MESSAGE_KINDS,
    OFFER_STATUSES,
    REQUEST_STATUSES,
    AidEvent,
    AidRequest,
    Message,
    Offer,
    OfferLine,
    Partner,
    Pledge,
    PledgeLine,
    Receipt,
    RequestLine,
    Shipment,
)

M = TypeVar("M", AidRequest, Offer)

#: Where a request may go from each status (``send_request`` takes it out of draft).
REQUEST_MOVES: dict[str, tuple[str, ...]] = {
    "sent": ("acknowledged", "under_discussion", "accepted", "partly_accepted", "declined",
             "no_response"),
    "acknowledged": ("under_discussion", "accepted", "partly_accepted", "declined",
                     "no_response"),
    "under_discussion": ("accepted", "partly_accepted", "declined", "no_response"),
    "no_response": ("acknowledged", "under_discussion", "accepted", "partly_accepted",
                    "declined"),
}  # fmt: skip
#: Where an offer may go from each status.
OFFER_MOVES: dict[str, tuple[str, ...]] = {
    "received": ("under_review", "answered", "accepted", "declined", "lapsed"),
    "under_review": ("answered", "accepted", "declined", "lapsed"),
    "answered": ("accepted", "declined", "lapsed"),
}
#: A request or offer in these statuses still waits for answers; once it has moved on,
#: none of its messages is overdue.
OPEN_REQUEST = ("sent", "acknowledged", "under_discussion", "no_response")
OPEN_OFFER = ("received", "under_review", "answered")
#: The statuses that are the partner's answer to a request (recorded as their message).
ANSWERS = ("acknowledged", "under_discussion", "accepted", "partly_accepted", "declined")
#: The statuses that are our answer to an offer.
OFFER_ANSWERS = ("answered", "accepted", "declined")
#: The kind of message a channel's notice is, when a request is sent through it.
NOTICE_KIND = {
    "diplomatic_note": "notice",
    "liaison_office": "notice",
    "un_agency": "letter",
    "phone": "call",
    "email": "email",
    "meeting": "meeting",
    "other": "note",
}


# Views ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineView:
    item: str
    name: str
    unit: str
    quantity: int
    accepted: int | None = None
    expiry: date | None = None
    pledged: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "name": self.name,
            "unit": self.unit,
            "quantity": self.quantity,
            "accepted": self.accepted,
            "expiry": common.iso(self.expiry),
            "pledged": self.pledged,
        }


@dataclass(frozen=True, slots=True)
class RequestView:
    number: str
    partner: str
    partner_name: str
    channel: str
    unit: str
    unit_name: str
    status: str
    needed_by: date | None
    reason: str
    gap: Any
    created_by: str
    created_at: datetime
    sent_at: datetime | None
    status_at: datetime
    illustrative: bool
    lines: tuple[LineView, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "partner": self.partner,
            "partner_name": self.partner_name,
            "channel": self.channel,
            "org_unit": self.unit,
            "org_unit_name": self.unit_name,
            "status": self.status,
            "needed_by": common.iso(self.needed_by),
            "reason": self.reason,
            "gap": self.gap,
            "created_by": self.created_by,
            "created_at": common.iso(self.created_at),
            "sent_at": common.iso(self.sent_at),
            "status_at": common.iso(self.status_at),
            "illustrative": self.illustrative,
            "lines": [line.to_dict() for line in self.lines],
        }


@dataclass(frozen=True, slots=True)
class OfferView:
    number: str
    partner: str
    partner_name: str
    channel: str
    unit: str
    unit_name: str
    status: str
    received_at: datetime
    answer_by: datetime | None
    conditions: str | None
    created_by: str
    status_at: datetime
    illustrative: bool
    lines: tuple[LineView, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "partner": self.partner,
            "partner_name": self.partner_name,
            "channel": self.channel,
            "org_unit": self.unit,
            "org_unit_name": self.unit_name,
            "status": self.status,
            "received_at": common.iso(self.received_at),
            "answer_by": common.iso(self.answer_by),
            "conditions": self.conditions,
            "created_by": self.created_by,
            "status_at": common.iso(self.status_at),
            "illustrative": self.illustrative,
            "lines": [line.to_dict() for line in self.lines],
        }


@dataclass(frozen=True, slots=True)
class MessageView:
    id: int
    about: str
    time: datetime
    direction: str
    kind: str
    channel: str
    our_side: str
    their_side: str | None
    summary: str
    awaits_answer: bool
    answer_due_at: datetime | None
    reply_to: int | None
    answered_at: datetime | None
    overdue: bool
    recorded_by: str
    illustrative: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "about": self.about,
            "time": common.iso(self.time),
            "direction": self.direction,
            "kind": self.kind,
            "channel": self.channel,
            "our_side": self.our_side,
            "their_side": self.their_side,
            "summary": self.summary,
            "awaits_answer": self.awaits_answer,
            "answer_due_at": common.iso(self.answer_due_at),
            "reply_to": self.reply_to,
            "answered_at": common.iso(self.answered_at),
            "overdue": self.overdue,
            "recorded_by": self.recorded_by,
            "illustrative": self.illustrative,
        }


def _request_view(session: Session, request: AidRequest) -> RequestView:
    partner = session.get(Partner, request.partner_id)
    unit = common.unit_by_id(session, request.org_unit_id)
    pledged = dict(
        session.execute(
            select(PledgeLine.item_id, func.sum(PledgeLine.quantity))
            .join(Pledge, Pledge.id == PledgeLine.pledge_id)
            .where(Pledge.request_id == request.id, Pledge.status != "cancelled")
            .group_by(PledgeLine.item_id)
        ).all()
    )
    rows = session.execute(
        select(RequestLine, Item)
        .join(Item, Item.id == RequestLine.item_id)
        .where(RequestLine.request_id == request.id)
        .order_by(RequestLine.id)
    ).all()
    assert partner is not None
    return RequestView(
        request.number,
        partner.code,
        partner.name,
        request.channel,
        unit.code,
        unit.name,
        request.status,
        request.needed_by,
        request.reason,
        json.loads(request.gap) if request.gap else None,
        request.created_by,
        request.created_at,
        request.sent_at,
        request.status_at,
        request.illustrative,
        tuple(
            LineView(
                item.code,
                item.name,
                item.unit,
                int(line.quantity),
                None if line.accepted is None else int(line.accepted),
                pledged=int(pledged.get(item.id, 0)),
            )
            for line, item in rows
        ),
    )


def _offer_view(session: Session, offer: Offer) -> OfferView:
    partner = session.get(Partner, offer.partner_id)
    unit = common.unit_by_id(session, offer.org_unit_id)
    rows = session.execute(
        select(OfferLine, Item)
        .join(Item, Item.id == OfferLine.item_id)
        .where(OfferLine.offer_id == offer.id)
        .order_by(OfferLine.id)
    ).all()
    assert partner is not None
    return OfferView(
        offer.number,
        partner.code,
        partner.name,
        offer.channel,
        unit.code,
        unit.name,
        offer.status,
        offer.received_at,
        offer.answer_by,
        offer.conditions,
        offer.created_by,
        offer.status_at,
        offer.illustrative,
        tuple(
            LineView(item.code, item.name, item.unit, int(line.quantity), expiry=line.expiry)
            for line, item in rows
        ),
    )


# Look-ups ---------------------------------------------------------------------------


def _load_request(session: Session, number: str) -> AidRequest:
    return common.load(session, AidRequest, number, "aid request")


def _load_offer(session: Session, number: str) -> Offer:
    return common.load(session, Offer, number, "aid offer")


def _write_check(
    session: Session, principal: Principal | None, unit_id: int, action: str
) -> common.Unit:
    unit = common.unit_by_id(session, unit_id)
    common.authorize(principal, Permission.AID_WRITE, unit.path, action)
    return unit


def _read_check(session: Session, principal: Principal | None, unit_id: int, what: str) -> None:
    unit = common.unit_by_id(session, unit_id)
    common.authorize(principal, Permission.AID_READ, unit.path, f"read {what}")


def _gap_json(gap: Any, reasons: list[str]) -> str | None:
    if gap is None:
        return None
    try:
        return json.dumps(gap, sort_keys=True, default=str)
    except (TypeError, ValueError) as exc:
        reasons.append(f"the gap cannot be stored: {exc}")
        return None


# Requests ---------------------------------------------------------------------------


def create_request(
    session: Session,
    partner: str,
    lines: Sequence[LineIn],
    *,
    channel: str,
    reason: str,
    user: str,
    principal: Principal | None = None,
    unit: str | None = None,
    needed_by: date | None = None,
    gap: Any = None,
    at: datetime | None = None,
    illustrative: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> RequestView:
    """Draft a request to ``partner`` for the need of ``unit`` (the country when None).

    Refused, with every reason and nothing written: an unknown partner, item or
    org unit, an unknown channel, a quantity that is not a whole number above
    0, an item twice, no reason given, a time in the future, a date needed by
    before the request, a user without ``aid.write`` over the unit.
    """

    def step() -> RequestView:
        place = common.org_unit(session, unit)
        common.authorize(principal, Permission.AID_WRITE, place.path, "draft an aid request")
        found = common.partner(session, partner)
        reasons: list[str] = []
        when = common.moment(at, now(), "of the request", reasons)
        common.choice(channel, CHANNELS, "channel", reasons)
        why = common.text(reason, "the reason", reasons, required=True)
        checked = common.lines(session, lines, reasons)
        if needed_by is not None and needed_by < when.date():
            reasons.append(f"needed by {needed_by}, before the request ({when.date()})")
        stored_gap = _gap_json(gap, reasons)
        if reasons:
            raise AidRefused("aid request", reasons)
        request = AidRequest(
            number=common.next_number(session, AidRequest, "request", when),
            partner_id=found.id,
            channel=channel,
            org_unit_id=place.id,
            status="draft",
            needed_by=needed_by,
            reason=why or "",
            gap=stored_gap,
            created_by=user,
            created_at=when,
            status_at=when,
            illustrative=illustrative,
        )
        session.add(request)
        session.flush()
        for item, line in checked:
            session.add(RequestLine(request_id=request.id, item_id=item.id, quantity=line.quantity))
        common.record(
            session, "request", request.id, by=user, at=when, to_status="draft", note=why, now=now
        )
        session.flush()
        return _request_view(session, request)

    return common.write(session, step, what="drafting an aid request", lock_timeout=lock_timeout)


def edit_request(
    session: Session,
    number: str,
    *,
    user: str,
    principal: Principal | None = None,
    partner: str | None = None,
    channel: str | None = None,
    lines: Sequence[LineIn] | None = None,
    needed_by: date | None = None,
    reason: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> RequestView:
    """Change a draft (a suggested request, say) before it is sent; a sent request is
    history and is not edited."""

    def step() -> RequestView:
        request = _load_request(session, number)
        _write_check(session, principal, request.org_unit_id, f"edit aid request {number}")
        if request.status != "draft":
            raise ConflictError(
                f"aid request {number} is {request.status}: only a draft can be edited;"
                " nothing was written"
            )
        reasons: list[str] = []
        changes: list[str] = []
        if partner is not None:
            request.partner_id = common.partner(session, partner).id
            changes.append(f"partner {partner}")
        if channel is not None:
            common.choice(channel, CHANNELS, "channel", reasons)
            request.channel = channel
            changes.append(f"channel {channel}")
        if reason is not None:
            request.reason = common.text(reason, "the reason", reasons, required=True) or ""
            changes.append("reason")
        if needed_by is not None:
            if needed_by < request.created_at.date():
                reasons.append(f"needed by {needed_by}, before the request")
            request.needed_by = needed_by
            changes.append(f"needed by {needed_by}")
        checked = common.lines(session, lines, reasons) if lines is not None else None
        if reasons:
            raise AidRefused(f"aid request {number}", reasons)
        if checked is not None:
            old = session.scalars(
                select(RequestLine).where(RequestLine.request_id == request.id)
            ).all()
            for row in old:
                session.delete(row)
            session.flush()
            for item, line in checked:
                session.add(
                    RequestLine(request_id=request.id, item_id=item.id, quantity=line.quantity)
                )
            changes.append("lines " + ", ".join(f"{i.code} {ln.quantity:,}" for i, ln in checked))
        if not changes:
            raise SitroomError(f"aid request {number}: nothing to change")
        when = now()
        common.record(
            session,
            "request",
            request.id,
            by=user,
            at=when,
            from_status="draft",
            to_status="draft",
            note="edited: " + "; ".join(changes),
            now=now,
        )
        session.flush()
        return _request_view(session, request)

    return common.write(session, step, what=f"editing {number}", lock_timeout=lock_timeout)


def send_request(
    session: Session,
    number: str,
    *,
    user: str,
    our_side: str | None = None,
    their_side: str | None = None,
    note: str | None = None,
    principal: Principal | None = None,
    at: datetime | None = None,
    answer_hours: int = 24,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> RequestView:
    """Send a draft through its channel: the request becomes ``sent`` and its notice is
    logged, awaiting an answer for ``answer_hours``."""

    def step() -> RequestView:
        request = _load_request(session, number)
        _write_check(session, principal, request.org_unit_id, f"send aid request {number}")
        reasons: list[str] = []
        when = common.moment(at, now(), "of sending", reasons)
        if when < request.created_at:
            reasons.append(
                f"sent at {when.isoformat()}, before it was drafted"
                f" ({common.alike(request.created_at, when)})"
            )
        summary = common.text(note, "the note", reasons, required=False)
        if reasons:
            raise AidRefused(f"aid request {number}", reasons)
        common.change_status(
            session,
            AidRequest,
            "request",
            request,
            "sent",
            allowed_from=("draft",),
            by=user,
            at=when,
            note=summary,
            values={"sent_at": when},
        )
        view = _request_view(session, request)
        listed = ", ".join(f"{line.item} {line.quantity:,} {line.unit}s" for line in view.lines)
        session.add(
            Message(
                request_id=request.id,
                time=when,
                direction="out",
                kind=NOTICE_KIND.get(request.channel, "notice"),
                channel=request.channel,
                our_side=our_side or user,
                their_side=their_side,
                summary=summary or f"Request {number} sent: {listed}",
                awaits_answer=True,
                answer_due_at=when + timedelta(hours=answer_hours),
                recorded_by=user,
                recorded_at=now(),
                illustrative=request.illustrative,
            )
        )
        session.flush()
        return view

    return common.write(session, step, what=f"sending {number}", lock_timeout=lock_timeout)


def set_request_status(
    session: Session,
    number: str,
    status: str,
    *,
    user: str,
    principal: Principal | None = None,
    accepted: dict[str, int] | None = None,
    note: str | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> RequestView:
    """Record the partner's answer: acknowledged, under discussion, accepted (all),
    partly accepted (``accepted``: the units per item they agreed to), declined, or no
    response. Only the moves of :data:`REQUEST_MOVES` are allowed."""

    def step() -> RequestView:
        request = _load_request(session, number)
        _write_check(session, principal, request.org_unit_id, f"update aid request {number}")
        if request.status == "draft":
            raise ConflictError(
                f"aid request {number} is a draft: send it first (sitroom aid request send);"
                " nothing was written"
            )

        def lines_accepted(when: datetime, reasons: list[str]) -> None:
            rows = session.execute(
                select(RequestLine, Item)
                .join(Item, Item.id == RequestLine.item_id)
                .where(RequestLine.request_id == request.id)
            ).all()
            by_code = {item.code: line for line, item in rows}
            if status not in ("accepted", "partly_accepted"):
                if accepted:
                    reasons.append(
                        "accepted quantities are given only for accepted/partly_accepted"
                    )
                return
            given = dict(accepted or {})
            for code in given:
                if code not in by_code:
                    reasons.append(f"{code} is not on request {number}")
            for code, line in by_code.items():
                quantity = given.get(code, line.quantity if status == "accepted" else 0)
                if not common.whole(quantity) or quantity < 0:
                    reasons.append(f"{code}: the accepted quantity must be a whole number >= 0")
                elif quantity > line.quantity:
                    reasons.append(
                        f"{code}: {quantity:,} accepted, more than the {line.quantity:,} asked"
                    )
                else:
                    line.accepted = quantity
            if status == "partly_accepted" and not given:
                reasons.append("partly accepted: say how many units of each item (--accept)")
            if status == "accepted" and any(
                given.get(c, ln.quantity) < ln.quantity for c, ln in by_code.items()
            ):
                reasons.append("accepted with fewer units than asked: that is partly_accepted")

        _move(
            session, AidRequest, "request", request, status, statuses=REQUEST_STATUSES,
            moves=REQUEST_MOVES, answers=ANSWERS, answer="Answer", direction="in",
            column=Message.request_id, step_is="the answer", checks=lines_accepted, note=note,
            at=at, user=user, now=now,
        )  # fmt: skip
        return _request_view(session, request)

    return common.write(session, step, what=f"updating {number}", lock_timeout=lock_timeout)


def _move(
    session: Session,
    model: type[AidRequest] | type[Offer],
    subject: str,
    row: AidRequest | Offer,
    status: str,
    *,
    statuses: tuple[str, ...],
    moves: dict[str, tuple[str, ...]],
    answers: tuple[str, ...],
    answer: str,
    direction: str,
    column: Any,
    step_is: str,
    checks: Callable[[datetime, list[str]], None],
    note: str | None,
    at: datetime | None,
    user: str,
    now: Callable[[], datetime],
) -> None:
    """Move a request or an offer to ``status``: one of ``statuses``, allowed from
    where it is by ``moves``, not in the future nor before its last step, with
    ``checks`` of its own. Every reason refuses it at once. A status in ``answers``
    is also logged as a message, ``answer: <status>. <note>``, answering the one that
    awaits it."""
    label = f"aid {subject} {row.number}"
    reasons: list[str] = []
    common.choice(status, statuses, f"{subject} status", reasons)
    when = common.moment(at, now(), f"of {step_is}", reasons)
    allowed = moves.get(row.status, ())
    if status not in allowed:
        raise ConflictError(
            f"{label} is {row.status}: it cannot become {status}"
            + (f" (it can become {', '.join(allowed)})" if allowed else "")
            + "; nothing was written"
        )
    if when < row.status_at:
        reasons.append(
            f"{step_is} at {when.isoformat()} is before the {subject}'s last step"
            f" ({common.alike(row.status_at, when)})"
        )
    clean_note = common.text(note, "the note", reasons, required=False)
    checks(when, reasons)
    if reasons:
        raise AidRefused(label, reasons)
    if status in answers:
        partner = session.get_one(Partner, row.partner_id)
        _answer_message(
            session,
            column=column,
            row_id=row.id,
            direction=direction,
            channel=row.channel,
            when=when,
            summary=f"{answer}: {status.replace('_', ' ')}"
            + (f". {clean_note}" if clean_note else ""),
            user=user,
            their_side=partner.name,
            illustrative=row.illustrative,
            now=now,
        )
    common.change_status(
        session,
        model,
        subject,
        row,
        status,
        allowed_from=(row.status,),
        by=user,
        at=when,
        note=clean_note,
    )


def _answer_message(
    session: Session,
    *,
    column: Any,
    row_id: int,
    direction: str,
    channel: str,
    when: datetime,
    summary: str,
    user: str,
    their_side: str,
    illustrative: bool,
    now: Callable[[], datetime],
) -> None:
    """Log an answer (theirs to a request, ours to an offer) as a message answering the
    latest message that awaits one, going the other way, sent before it."""
    answer = aliased(Message)
    waiting = session.scalar(
        select(Message.id)
        .where(
            column == row_id,
            Message.awaits_answer.is_(True),
            Message.direction != direction,
            Message.time <= when,
            ~select(answer.id).where(answer.reply_to_id == Message.id).exists(),
        )
        .order_by(Message.time.desc(), Message.id.desc())
        .limit(1)
    )
    session.add(
        Message(
            request_id=row_id if column is Message.request_id else None,
            offer_id=row_id if column is Message.offer_id else None,
            time=when,
            direction=direction,
            kind="note",
            channel=channel,
            our_side=user,
            their_side=their_side,
            summary=summary,
            awaits_answer=False,
            reply_to_id=waiting,
            recorded_by=user,
            recorded_at=now(),
            illustrative=illustrative,
        )
    )


def get_request(
    session: Session, number: str, *, principal: Principal | None = None
) -> RequestView:
    request = _load_request(session, number)
    _read_check(session, principal, request.org_unit_id, f"aid request {number}")
    return _request_view(session, request)


def list_requests(
    session: Session,
    *,
    principal: Principal | None = None,
    status: str | None = None,
    partner: str | None = None,
    limit: int = 500,
) -> list[RequestView]:
    """Requests the user may read, newest first."""
    found = _listing(
        session, AidRequest, AidRequest.created_at, principal=principal, status=status,
        partner=partner, limit=limit,
    )  # fmt: skip
    return [_request_view(session, r) for r in found]


def _listing(
    session: Session,
    model: type[M],
    newest: Any,
    *,
    principal: Principal | None,
    status: str | None,
    partner: str | None,
    limit: int,
) -> Sequence[M]:
    """The requests or offers the user may read, of ``status`` and ``partner`` if
    given, newest (by the column ``newest``) first."""
    common.require(principal, Permission.AID_READ)
    query = (
        select(model)
        .join(OrgUnit, OrgUnit.id == model.org_unit_id)
        .order_by(newest.desc(), model.id.desc())
        .limit(limit)
    )
    scope = common.within(OrgUnit.path, principal)
    if scope is not None:
        query = query.where(scope)
    if status is not None:
        query = query.where(model.status == status)
    if partner is not None:
        query = query.where(model.partner_id == common.partner(session, partner).id)
    return session.scalars(query).all()


def earliest(session: Session) -> datetime | None:
    """When aid coordination began: the earliest request drafted or offer received
    (None: none is recorded). The situation report leaves its aid section out of a
    period that closed before it."""
    first = session.execute(
        select(
            select(func.min(AidRequest.created_at)).scalar_subquery(),
            select(func.min(Offer.received_at)).scalar_subquery(),
        )
    ).one()
    found = [moment for moment in first if moment is not None]
    return min(found) if found else None


# Offers -----------------------------------------------------------------------------


def record_offer(
    session: Session,
    partner: str,
    lines: Sequence[LineIn],
    *,
    channel: str,
    user: str,
    principal: Principal | None = None,
    unit: str | None = None,
    received_at: datetime | None = None,
    answer_by: datetime | None = None,
    conditions: str | None = None,
    their_side: str | None = None,
    illustrative: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> OfferView:
    """Record an offer received from ``partner``: its lines (with the goods' expiry
    dates), conditions and deadline; the offer's notice is logged as received."""

    def step() -> OfferView:
        place = common.org_unit(session, unit)
        common.authorize(principal, Permission.AID_WRITE, place.path, "record an aid offer")
        found = common.partner(session, partner)
        reasons: list[str] = []
        when = common.moment(received_at, now(), "the offer was received", reasons)
        common.choice(channel, CHANNELS, "channel", reasons)
        checked = common.lines(session, lines, reasons)
        clean = common.text(conditions, "the conditions", reasons, required=False)
        if answer_by is not None:
            if answer_by.tzinfo is None:
                reasons.append("the deadline to answer has no time zone")
            elif answer_by < when:
                reasons.append(
                    f"the deadline to answer ({answer_by.isoformat()}) is before the offer"
                    f" was received ({when.isoformat()})"
                )
        for n, (item, line) in enumerate(checked, 1):
            if line.expiry is not None and line.expiry < when.date():
                reasons.append(
                    f"line {n} ({item.code}): the goods expire on {line.expiry}, before the"
                    " offer was received"
                )
        if reasons:
            raise AidRefused("aid offer", reasons)
        offer = Offer(
            number=common.next_number(session, Offer, "offer", when),
            partner_id=found.id,
            channel=channel,
            org_unit_id=place.id,
            status="received",
            received_at=when,
            answer_by=answer_by,
            conditions=clean,
            created_by=user,
            created_at=now(),
            status_at=when,
            illustrative=illustrative,
        )
        session.add(offer)
        session.flush()
        for item, line in checked:
            session.add(
                OfferLine(
                    offer_id=offer.id, item_id=item.id, quantity=line.quantity, expiry=line.expiry
                )
            )
        common.record(
            session, "offer", offer.id, by=user, at=when, to_status="received", note=clean, now=now
        )
        view = _offer_view(session, offer)
        listed = ", ".join(f"{ln.item} {ln.quantity:,} {ln.unit}s" for ln in view.lines)
        session.add(
            Message(
                offer_id=offer.id,
                time=when,
                direction="in",
                kind=NOTICE_KIND.get(channel, "notice"),
                channel=channel,
                our_side=user,
                their_side=their_side or found.name,
                summary=f"Offer {offer.number} received: {listed}"
                + (f". Conditions: {clean}" if clean else ""),
                awaits_answer=answer_by is not None,
                answer_due_at=answer_by,
                recorded_by=user,
                recorded_at=now(),
                illustrative=illustrative,
            )
        )
        session.flush()
        return view

    return common.write(session, step, what="recording an aid offer", lock_timeout=lock_timeout)


def set_offer_status(
    session: Session,
    number: str,
    status: str,
    *,
    user: str,
    principal: Principal | None = None,
    note: str | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> OfferView:
    """Move an offer on: under review, answered, accepted, declined, lapsed."""

    def step() -> OfferView:
        offer = _load_offer(session, number)
        _write_check(session, principal, offer.org_unit_id, f"update aid offer {number}")

        def deadline_passed(when: datetime, reasons: list[str]) -> None:
            if status == "lapsed" and (offer.answer_by is None or when < offer.answer_by):
                reasons.append("an offer lapses only after its deadline to answer has passed")

        _move(
            session, Offer, "offer", offer, status, statuses=OFFER_STATUSES, moves=OFFER_MOVES,
            answers=OFFER_ANSWERS, answer="Our answer", direction="out",
            column=Message.offer_id, step_is="the change", checks=deadline_passed, note=note,
            at=at, user=user, now=now,
        )  # fmt: skip
        return _offer_view(session, offer)

    return common.write(session, step, what=f"updating {number}", lock_timeout=lock_timeout)


def get_offer(session: Session, number: str, *, principal: Principal | None = None) -> OfferView:
    offer = _load_offer(session, number)
    _read_check(session, principal, offer.org_unit_id, f"aid offer {number}")
    return _offer_view(session, offer)


def list_offers(
    session: Session,
    *,
    principal: Principal | None = None,
    status: str | None = None,
    partner: str | None = None,
    limit: int = 500,
) -> list[OfferView]:
    """Offers the user may read, newest first."""
    found = _listing(
        session, Offer, Offer.received_at, principal=principal, status=status,
        partner=partner, limit=limit,
    )  # fmt: skip
    return [_offer_view(session, o) for o in found]


# The communications log -------------------------------------------------------------


def _subject(session: Session, number: str) -> tuple[str, AidRequest | Offer]:
    """The request or offer ``number`` (``REQ-...`` or ``OFF-...``)."""
    if number.startswith(common.PREFIXES["offer"] + "-"):
        return "offer", _load_offer(session, number)
    if number.startswith(common.PREFIXES["request"] + "-"):
        return "request", _load_request(session, number)
    raise NotFoundError(
        f"{number!r} is neither a request (REQ-...) nor an offer (OFF-...): messages are"
        " logged against one of them"
    )


def _answered(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    """The time of the first answer of each message of ``ids`` that has one."""
    if not ids:
        return {}
    return {
        int(k): v
        for k, v in session.execute(
            select(Message.reply_to_id, func.min(Message.time))
            .where(Message.reply_to_id.in_(ids))
            .group_by(Message.reply_to_id)
        ).all()
        if k is not None
    }


def _message_view(
    message: Message,
    about: str,
    answered: datetime | None,
    moment_: datetime,
    hours: int,
    *,
    waiting: bool = True,
) -> MessageView:
    due = _due(message, hours)
    return MessageView(
        message.id,
        about,
        message.time,
        message.direction,
        message.kind,
        message.channel,
        message.our_side,
        message.their_side,
        message.summary,
        message.awaits_answer,
        due,
        message.reply_to_id,
        answered,
        bool(
            waiting
            and message.awaits_answer
            and answered is None
            and due is not None
            and moment_ > due
        ),
        message.recorded_by,
        message.illustrative,
    )


def _due(message: Message, hours: int) -> datetime | None:
    if not message.awaits_answer:
        return None
    return message.answer_due_at or message.time + timedelta(hours=hours)


def log_message(
    session: Session,
    about: str,
    *,
    direction: str,
    kind: str,
    channel: str,
    summary: str,
    user: str,
    our_side: str | None = None,
    their_side: str | None = None,
    principal: Principal | None = None,
    at: datetime | None = None,
    awaits_answer: bool = False,
    answer_due_at: datetime | None = None,
    reply_to: int | None = None,
    illustrative: bool = False,
    answer_hours: int = 24,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> MessageView:
    """Log a notice, letter, call, meeting or e-mail about request or offer ``about``.

    ``reply_to`` is the id of the message this one answers: it must be about the
    same request or offer, go the other way, and not be dated before it.
    """

    def step() -> MessageView:
        subject, row = _subject(session, about)
        _write_check(session, principal, row.org_unit_id, f"log a message about {about}")
        reasons: list[str] = []
        clock = now()
        when = common.moment(at, clock, "of the message", reasons)
        common.choice(direction, DIRECTIONS, "direction", reasons)
        common.choice(kind, MESSAGE_KINDS, "message kind", reasons)
        common.choice(channel, CHANNELS, "channel", reasons)
        said = common.text(summary, "what was said", reasons, required=True)
        ours = common.text(our_side or user, "our side", reasons, required=True, most=200)
        theirs = common.text(their_side, "their side", reasons, required=False, most=200)
        start = row.received_at if isinstance(row, Offer) else row.created_at
        if when < start:
            reasons.append(
                f"the message at {when.isoformat()} is before {about} was"
                f" {'received' if isinstance(row, Offer) else 'drafted'}"
                f" ({common.alike(start, when)})"
            )
        if answer_due_at is not None:
            if not awaits_answer:
                reasons.append("an answer is due only for a message that awaits one")
            elif answer_due_at.tzinfo is None:
                reasons.append("the time the answer is due has no time zone")
            elif answer_due_at <= when:
                reasons.append("the answer is due before the message was sent")
        if reply_to is not None:
            first = session.get(Message, reply_to)
            if first is None:
                reasons.append(f"no message {reply_to} to answer")
            else:
                parent = first.offer_id if subject == "offer" else first.request_id
                same = parent == row.id
                if not same:
                    reasons.append(f"message {reply_to} is not about {about}")
                if first.direction == direction:
                    reasons.append(
                        f"message {reply_to} went {first.direction} too: an answer goes the"
                        " other way"
                    )
                if when < first.time:
                    reasons.append(
                        f"the answer ({when.isoformat()}) is dated before the message it"
                        f" answers ({common.alike(first.time, when)})"
                    )
        if reasons:
            raise AidRefused(f"message about {about}", reasons)
        message = Message(
            request_id=row.id if subject == "request" else None,
            offer_id=row.id if subject == "offer" else None,
            time=when,
            direction=direction,
            kind=kind,
            channel=channel,
            our_side=ours or user,
            their_side=theirs,
            summary=said or "",
            awaits_answer=awaits_answer,
            answer_due_at=answer_due_at,
            reply_to_id=reply_to,
            recorded_by=user,
            recorded_at=clock,
            illustrative=illustrative,
        )
        session.add(message)
        session.flush()
        return _message_view(message, about, None, clock, answer_hours)

    return common.write(
        session, step, what=f"logging a message about {about}", lock_timeout=lock_timeout
    )


def messages(
    session: Session,
    about: str,
    *,
    principal: Principal | None = None,
    at: datetime | None = None,
    answer_hours: int = 24,
) -> list[MessageView]:
    """The communications about a request or offer, oldest first."""
    subject, row = _subject(session, about)
    _read_check(session, principal, row.org_unit_id, f"the messages about {about}")
    column = Message.offer_id if subject == "offer" else Message.request_id
    found = session.scalars(
        select(Message).where(column == row.id).order_by(Message.time, Message.id)
    ).all()
    answered = _answered(session, [m.id for m in found])
    moment_ = at or utcnow()
    waiting = row.status in (OPEN_OFFER if subject == "offer" else OPEN_REQUEST)
    return [
        _message_view(m, about, answered.get(m.id), moment_, answer_hours, waiting=waiting)
        for m in found
    ]


# Overdue ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Overdue:
    """Something waiting for an answer past its time: a message of ours (or theirs)
    with no answer, or an offer we have not answered by its deadline."""

    kind: str  # "message" or "offer"
    about: str
    partner: str
    partner_name: str
    waiting_for: str  # "partner" or "us"
    since: datetime
    due: datetime
    hours_overdue: float
    summary: str
    illustrative: bool
    message_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "about": self.about,
            "partner": self.partner,
            "partner_name": self.partner_name,
            "waiting_for": self.waiting_for,
            "since": common.iso(self.since),
            "due": common.iso(self.due),
            "hours_overdue": round(self.hours_overdue, 1),
            "summary": self.summary,
            "illustrative": self.illustrative,
            "message_id": self.message_id,
        }


def overdue(
    session: Session,
    *,
    principal: Principal | None = None,
    at: datetime | None = None,
    answer_hours: int = 24,
) -> list[Overdue]:
    """Everything waiting for an answer past its time at ``at`` (now), most overdue first.

    A message that awaits an answer is overdue when no message answers it by its
    due time; a request that is closed (accepted, declined...) no longer waits.
    An offer still received or under review is overdue past its deadline.
    """
    common.require(principal, Permission.AID_READ)
    moment_ = at or utcnow()
    out: list[Overdue] = []
    answer = aliased(Message)
    waiting = (
        select(Message, Partner, AidRequest, Offer)
        .outerjoin(AidRequest, AidRequest.id == Message.request_id)
        .outerjoin(Offer, Offer.id == Message.offer_id)
        .join(Partner, Partner.id == func.coalesce(AidRequest.partner_id, Offer.partner_id))
        .join(OrgUnit, OrgUnit.id == func.coalesce(AidRequest.org_unit_id, Offer.org_unit_id))
        .where(
            Message.awaits_answer.is_(True),
            Message.time <= moment_,
            ~select(answer.id)
            .where(answer.reply_to_id == Message.id, answer.time <= moment_)
            .exists(),
            or_(
                AidRequest.status.in_(OPEN_REQUEST),
                Offer.status.in_(OPEN_OFFER),
            ),
        )
    )
    scope = common.within(OrgUnit.path, principal)
    if scope is not None:
        waiting = waiting.where(scope)
    for message, partner, request, offer in session.execute(waiting).all():
        due = _due(message, answer_hours)
        if due is None or moment_ <= due:
            continue
        number = request.number if request is not None else offer.number
        out.append(
            Overdue(
                "message",
                number,
                partner.code,
                partner.name,
                "partner" if message.direction == "out" else "us",
                message.time,
                due,
                (moment_ - due).total_seconds() / 3600,
                message.summary,
                message.illustrative,
                message.id,
            )
        )
    offers = (
        select(Offer, Partner)
        .join(Partner, Partner.id == Offer.partner_id)
        .join(OrgUnit, OrgUnit.id == Offer.org_unit_id)
        .where(
            Offer.status.in_(("received", "under_review")),
            Offer.answer_by.is_not(None),
            Offer.answer_by < moment_,
            Offer.received_at <= moment_,
        )
    )
    if scope is not None:
        offers = offers.where(scope)
    flagged = {o.about for o in out if o.waiting_for == "us"}
    for offer, partner in session.execute(offers).all():
        if offer.number in flagged:
            continue
        assert offer.answer_by is not None
        out.append(
            Overdue(
                "offer",
                offer.number,
                partner.code,
                partner.name,
                "us",
                offer.received_at,
                offer.answer_by,
                (moment_ - offer.answer_by).total_seconds() / 3600,
                f"offer {offer.number} not answered by its deadline",
                offer.illustrative,
            )
        )
    out.sort(key=lambda o: -o.hours_overdue)
    return out


# Timeline ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    time: datetime
    what: str  # status, message, pledge, shipment, receipt
    subject: str
    text: str
    by: str | None = None
    status: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": common.iso(self.time),
            "what": self.what,
            "subject": self.subject,
            "text": self.text,
            "by": self.by,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    about: str
    kind: str
    status: str
    partner: str
    entries: tuple[TimelineEntry, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "about": self.about,
            "kind": self.kind,
            "status": self.status,
            "partner": self.partner,
            "entries": [e.to_dict() for e in self.entries],
        }


def timeline(
    session: Session,
    about: str,
    *,
    principal: Principal | None = None,
    at: datetime | None = None,
    answer_hours: int = 24,
    zone: tzinfo = UTC,
) -> Timeline:
    """The history of a request or offer as one story, oldest first: every status
    change, every message (with whether it was answered, when: in ``zone``, the
    country's), the pledges that answer it, their shipments' steps and the receipts
    into the ledger."""
    subject, row = _subject(session, about)
    _read_check(session, principal, row.org_unit_id, f"the history of {about}")
    partner = session.get(Partner, row.partner_id)
    assert partner is not None
    entries: list[TimelineEntry] = []
    pledge_column = Pledge.offer_id if subject == "offer" else Pledge.request_id
    pledges = session.execute(select(Pledge.id, Pledge.number).where(pledge_column == row.id)).all()
    pledge_ids = [p[0] for p in pledges]
    shipments = session.execute(
        select(Shipment.id, Shipment.number).where(Shipment.pledge_id.in_(pledge_ids))
    ).all()
    names = {("pledge", p[0]): p[1] for p in pledges}
    names.update({("shipment", s[0]): s[1] for s in shipments})
    names[(subject, row.id)] = row.number
    events = session.scalars(
        select(AidEvent).where(
            or_(
                (AidEvent.subject == subject) & (AidEvent.subject_id == row.id),
                (AidEvent.subject == "pledge") & AidEvent.subject_id.in_(pledge_ids),
                (AidEvent.subject == "shipment")
                & AidEvent.subject_id.in_([s[0] for s in shipments]),
            )
        )
    ).all()
    for event in events:
        name = names.get((event.subject, event.subject_id), event.subject)
        moved = (
            f"{event.from_status} -> {event.to_status}"
            if event.from_status and event.from_status != event.to_status
            else event.to_status
        )
        entries.append(
            TimelineEntry(
                event.time,
                "status" if event.subject == subject else event.subject,
                name,
                f"{name}: {moved}" + (f" ({event.note})" if event.note else ""),
                event.by,
                event.to_status,
            )
        )
    for message in messages(session, about, principal=None, at=at, answer_hours=answer_hours):
        arrow = "sent" if message.direction == "out" else "received"
        state = ""
        if message.awaits_answer:
            state = (
                f"; answered {message.answered_at.astimezone(zone):%Y-%m-%d %H:%M}"
                f" {message.answered_at.astimezone(zone).tzname()}"
                if message.answered_at
                else "; OVERDUE, no answer"
                if message.overdue
                else "; awaiting an answer"
                if row.status in (OPEN_OFFER if subject == "offer" else OPEN_REQUEST)
                else "; never answered"
            )
        who = message.their_side or partner.name
        entries.append(
            TimelineEntry(
                message.time,
                "message",
                about,
                f"{message.kind} {arrow} via {message.channel.replace('_', ' ')}"
                f" ({message.our_side} / {who}): {message.summary}{state}",
                message.our_side,
            )
        )
    if shipments:
        receipts = session.execute(
            select(Receipt, Shipment.number)
            .join(Shipment, Shipment.id == Receipt.shipment_id)
            .where(Receipt.shipment_id.in_([s[0] for s in shipments]))
        ).all()
        for receipt, number in receipts:
            entries.append(
                TimelineEntry(
                    receipt.received_at,
                    "receipt",
                    number,
                    f"{number}: received into the ledger (batch {receipt.stock_batch_id}),"
                    f" signed by {receipt.received_by}",
                    receipt.recorded_by,
                )
            )
    entries.sort(key=lambda e: e.time)
    return Timeline(about, subject, row.status, partner.code, tuple(entries))
