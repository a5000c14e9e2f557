"""Distribution orders with a life (issue #11, item 4).

An order moves stock from a facility to another along a route (a supplier
link either way, or a declared ``supply_route``: the ledger's rule, checked
when the order is made and again by the ledger when it is dispatched)::

    draft -> approved -> dispatched -> delivered -> closed
      \\________\\______-> cancelled

- **create**: a draft with its lines (one per item, optionally naming a lot),
  numbered ``DO-<year>-<000123>``; the number is the ``reference`` of every
  ledger entry the order makes. ``origin`` links a leg to the upstream order
  whose stock it forwards, for the lead time of the whole chain.
- **approve**: by a user with ``stock.write`` over the source.
- **dispatch**: the carrier in words (a named army unit, civil transport),
  its vehicle and kind (army, civil, other); posts the ``transfer_out``
  entries through :class:`~sitroom.supply.ledger.Ledger` (the named lot, or
  first-expiry-first-out) in the same transaction as the status change:
  refused, with nothing written, when the stock is not there.
- **deliver**: the proof of delivery, signed by a named receiver: per line the
  units accepted and rejected, with a reason for the rejected. Every unit
  dispatched is accounted for (accepted + rejected = dispatched, as
  OpenLMIS's proof of delivery requires); more than was dispatched is refused
  naming the order and the line. The ledger gets a ``transfer_in`` of
  everything that arrived under the order's reference (so nothing stays in
  transit) and an ``adjust`` writing the rejected units off at the destination
  (see :data:`WRITE_OFF` and docs/supply.md for why); refused when what is in
  transit under the reference is no longer what was dispatched.
- **close**: after delivery; automatic when every unit was accepted.
- **cancel**: from draft or approved, with a reason.

Every step keeps its time and user on the order and adds a row to the
order's append-only history (``supply_order_event``). The ledger batches of a
dispatch and a delivery are not reversed (:meth:`Ledger.reverse` refuses them,
naming the order): an order is corrected through these steps. A status changes only
by ``UPDATE ... WHERE id = :id AND status = :status read``: of two processes
dispatching or delivering the same order at once, one wins and the other gets
a :class:`~sitroom.errors.ConflictError` saying what the order is now; the
ledger's per-facility locks serialise the stock underneath.
"""

from __future__ import annotations

import logging
import random
import time as clock
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, NamedTuple, TypeVar

import numpy as np
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from sitroom.auth.permissions import Permission, Principal, refusal
from sitroom.db import (
    DEFAULT_LOCK_TIMEOUT,
    advisory_lock,
    begin_write,
    is_db_error,
    is_retryable,
    translate_db_error,
    utcnow,
)
from sitroom.errors import (
    BusyError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    SitroomError,
)
from sitroom.places.models import OrgUnit
from sitroom.supply.leadtimes import STEPS, GroupLeadTimes, StepStats, summarize
from sitroom.supply.ledger import (
    FUTURE_TOLERANCE,
    Ledger,
    Movement,
    PostSummary,
    on_route,
    unit_word,
)
from sitroom.supply.lookups import facility_by_id, find_facility, region_of
from sitroom.supply.models import (
    CARRIER_KINDS,
    ORDER_STATUSES,
    REJECTION_REASONS,
    DistributionOrder,
    Facility,
    Item,
    Lot,
    OrderEvent,
    OrderLine,
    StockEntry,
)
from sitroom.supply.scopes import within

log = logging.getLogger(__name__)

T = TypeVar("T")

#: PostgreSQL advisory lock taken while an order is numbered and inserted.
LOCK_SPACE_ORDER = 0x5176
#: How often a step that met a database conflict (deadlock, serialisation) is run again.
MAX_ATTEMPTS = 5
#: The order number: DO-2022-000123.
NUMBER_PREFIX = "DO"

#: What a unit rejected on a proof of delivery becomes in the ledger: an ``adjust``
#: at the destination with this reason (the ledger's reasons: damaged, expired, lost,
#: stolen, found). Units short-shipped or of the wrong item never reached the shelf:
#: for the stock they are lost, the POD line keeps the precise reason.
WRITE_OFF = {
    "damaged": "damaged",
    "expired": "expired",
    "short_shipped": "lost",
    "wrong_item": "lost",
    "other": "lost",
}
#: Ways to group lead times.
GROUPINGS = ("region", "carrier_kind", "region_carrier_kind")


class OrderRefused(SitroomError):
    """A step of an order cannot be taken: every reason; nothing was written."""

    def __init__(self, number: str | None, reasons: Sequence[str]) -> None:
        self.number = number
        self.reasons = list(reasons)
        head = f"order {number}: " if number else "order refused: "
        super().__init__(head + "; ".join(self.reasons) + "; nothing was written")


# Input -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderLineIn:
    """A line of a new order: ``quantity`` whole units of ``item``, of ``lot`` if named."""

    item: str
    quantity: int
    lot: str | None = None


@dataclass(frozen=True, slots=True)
class PodLine:
    """One line of a proof of delivery: units of ``item`` accepted, and rejected (why)."""

    item: str
    accepted: int
    rejected: int = 0
    reason: str | None = None
    note: str | None = None


# Output ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineView:
    """A line of an order as it stands, with the lots its dispatch took."""

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
    #: (lot, expiry, units) sent by the dispatch.
    lots: tuple[tuple[str, str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "item": self.item,
            "unit": self.unit,
            "lot": self.lot,
            "quantity": self.quantity,
            "dispatched": self.dispatched,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "rejection_reason": self.rejection_reason,
            "rejection_note": self.rejection_note,
            "dispatched_lots": [
                {"lot": lot, "expiry": expiry, "quantity": q} for lot, expiry, q in self.lots
            ],
        }


@dataclass(frozen=True, slots=True)
class EventView:
    """One step of the order's history."""

    time: datetime
    recorded_at: datetime
    by: str
    from_status: str | None
    to_status: str
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "recorded_at": self.recorded_at.isoformat(),
            "by": self.by,
            "from": self.from_status,
            "to": self.to_status,
            "note": self.note,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order as the command line, the API and the pages show it."""

    number: str
    status: str
    source: str
    destination: str
    region: str
    origin: str | None
    note: str | None
    created_at: datetime
    created_by: str
    approved_at: datetime | None
    approved_by: str | None
    dispatched_at: datetime | None
    dispatched_by: str | None
    carrier: str | None
    vehicle: str | None
    carrier_kind: str | None
    delivered_at: datetime | None
    delivered_by: str | None
    received_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    dispatch_batch: int | None
    delivery_batch: int | None
    simulated: bool
    lines: tuple[LineView, ...] = ()
    events: tuple[EventView, ...] = ()
    #: Hours of each step reached (see :mod:`sitroom.supply.leadtimes`).
    lead_hours: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "source": self.source,
            "destination": self.destination,
            "region": self.region,
            "origin": self.origin,
            "note": self.note,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "approved_at": _iso(self.approved_at),
            "approved_by": self.approved_by,
            "dispatched_at": _iso(self.dispatched_at),
            "dispatched_by": self.dispatched_by,
            "carrier": self.carrier,
            "vehicle": self.vehicle,
            "carrier_kind": self.carrier_kind,
            "delivered_at": _iso(self.delivered_at),
            "delivered_by": self.delivered_by,
            "received_by": self.received_by,
            "closed_at": _iso(self.closed_at),
            "closed_by": self.closed_by,
            "cancelled_at": _iso(self.cancelled_at),
            "cancelled_by": self.cancelled_by,
            "dispatch_batch": self.dispatch_batch,
            "delivery_batch": self.delivery_batch,
            "simulated": self.simulated,
            "lead_hours": {
                k: (None if v is None else round(v, 2)) for k, v in self.lead_hours.items()
            },
            "lines": [line.to_dict() for line in self.lines],
            "events": [event.to_dict() for event in self.events],
        }


@dataclass(frozen=True, slots=True)
class LeadTimeReport:
    """Lead times per group (``by``) and over all the orders."""

    by: str
    groups: list[GroupLeadTimes]
    overall: GroupLeadTimes

    def to_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "steps": list(STEPS),
            "overall": self.overall.to_dict(),
            "groups": [group.to_dict() for group in self.groups],
        }


# The transaction ----------------------------------------------------------------------


def _write(session: Session, lock_timeout: float, step: Callable[[], T]) -> T:
    """Run ``step`` in a write transaction of its own and commit: all or nothing.

    A refusal (any error) rolls everything back; a deadlock or serialisation
    failure runs the step again from the start (it reads what it needs afresh).
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            begin_write(session, lock_timeout)
            result = step()
            session.commit()
        except Exception as exc:
            session.rollback()
            if not is_db_error(exc):
                raise
            if not is_retryable(exc):
                known = translate_db_error(exc)
                if known is None:
                    raise
                raise known from exc
            log.warning("order step conflicted (%s); attempt %d", exc, attempt)
            clock.sleep(random.uniform(0.05, 0.25) * attempt)
        else:
            return result
    raise BusyError(
        f"the order conflicted with concurrent changes {MAX_ATTEMPTS} times: nothing was"
        " written; try again in a moment"
    )


# Look-ups and checks ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Place:
    facility: Facility
    path: str

    @property
    def code(self) -> str:
        return self.facility.code


def _place(session: Session, code: str, what: str) -> _Place:
    return _Place(*find_facility(session, code, role=what))


def _place_by_id(session: Session, facility_id: int) -> _Place:
    return _Place(*facility_by_id(session, facility_id))


def _authorize(
    principal: Principal | None, permission: Permission, places: Sequence[_Place], action: str
) -> None:
    """Allowed when the user may use ``permission`` on one of ``places`` (None: anyone)."""
    if principal is None:
        return
    reasons = []
    for place in places:
        why = refusal(principal, permission, place.path)
        if why is None:
            return
        reasons.append(f"{place.code}: {why}")
    raise ForbiddenError(f"cannot {action}: " + "; ".join(reasons))


def _moment(at: datetime | None, now: datetime, what: str) -> datetime:
    when = now if at is None else at
    if when.tzinfo is None:
        raise SitroomError(f"the time {what} has no time zone")
    if when > now + FUTURE_TOLERANCE:
        raise SitroomError(f"the time {what} ({when.isoformat()}) is in the future")
    return when


def _not_before(
    order: DistributionOrder, when: datetime, previous: datetime | None, step: str
) -> None:
    if previous is not None and when < previous:
        raise OrderRefused(
            order.number,
            [f"{step} at {when.isoformat()}, before the previous step ({previous.isoformat()})"],
        )


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _load(session: Session, number: str) -> DistributionOrder:
    order = session.execute(
        select(DistributionOrder)
        .where(DistributionOrder.number == number)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if order is None:
        raise NotFoundError(f"no distribution order {number!r}")
    return order


def _conflict(
    session: Session, order_id: int, number: str, expected: Sequence[str], action: str
) -> ConflictError:
    """The order is not (or no longer) in a status that allows ``action``: what it is now,
    since when and by whom (another process may have just changed it)."""
    status = session.scalar(
        select(DistributionOrder.status).where(DistributionOrder.id == order_id)
    )
    last = session.execute(
        select(OrderEvent.by, OrderEvent.time)
        .where(OrderEvent.order_id == order_id, OrderEvent.to_status == status)
        .order_by(OrderEvent.id.desc())
        .limit(1)
    ).first()
    since = f" (by {last[0]}, {last[1]:%Y-%m-%d %H:%M} UTC)" if last else ""
    return ConflictError(
        f"order {number} is {status}{since}, not {' or '.join(expected)}: it cannot be"
        f" {action}; nothing was written"
    )


def _expect(
    session: Session, order: DistributionOrder, allowed: tuple[str, ...], action: str
) -> None:
    if order.status not in allowed:
        raise _conflict(session, order.id, order.number, allowed, action)


def _move(
    session: Session,
    order: DistributionOrder,
    from_status: str,
    to_status: str,
    *,
    by: str,
    at: datetime,
    note: str | None,
    action: str,
    values: dict[str, Any],
    recorded: datetime,
) -> None:
    """Change the status if it is still ``from_status`` (one writer wins), and record it."""
    changed = session.execute(
        update(DistributionOrder)
        .where(DistributionOrder.id == order.id, DistributionOrder.status == from_status)
        .values(status=to_status, **values)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise _conflict(session, order.id, order.number, [from_status], action)
    session.add(
        OrderEvent(
            order_id=order.id,
            time=at,
            recorded_at=recorded,
            by=by,
            from_status=from_status,
            to_status=to_status,
            note=(note or None) and note[:500],
        )
    )
    session.flush()
    session.expire(order)


def _next_number(session: Session, when: datetime) -> str:
    prefix = f"{NUMBER_PREFIX}-{when.year}-"
    last = session.scalar(
        select(func.max(DistributionOrder.number)).where(
            DistributionOrder.number.startswith(prefix, autoescape=True),
            func.length(DistributionOrder.number) == len(prefix) + 6,
        )
    )
    tail = last[len(prefix) :] if last else ""
    return f"{prefix}{(int(tail) if tail.isdigit() else 0) + 1:06d}"


# The steps ---------------------------------------------------------------------------


def _new_lines(
    session: Session, lines: Sequence[OrderLineIn], reasons: list[str]
) -> list[OrderLine]:
    """The rows of a new order's lines; what is wrong with them goes to ``reasons``."""
    items = {
        item.code: item
        for item in session.scalars(select(Item).where(Item.code.in_({ln.item for ln in lines})))
    }
    made: list[OrderLine] = []
    seen: set[int] = set()
    for n, line in enumerate(lines, 1):
        item = items.get(line.item)
        if item is None:
            reasons.append(f"line {n}: unknown item {line.item!r}")
            continue
        if item.id in seen:
            reasons.append(f"line {n}: {item.code} is on the order already (one line per item)")
            continue
        seen.add(item.id)
        if not _whole(line.quantity) or line.quantity <= 0:
            reasons.append(
                f"line {n} ({item.code}): the quantity must be a whole number of"
                f" {item.unit}s above 0 (got {line.quantity!r})"
            )
            continue
        lot_id = None
        if line.lot:
            lot_id = session.scalar(
                select(Lot.id).where(Lot.item_id == item.id, Lot.code == line.lot)
            )
            if lot_id is None:
                reasons.append(f"line {n} ({item.code}): unknown lot {line.lot!r}")
                continue
        made.append(OrderLine(line=n, item_id=item.id, lot_id=lot_id, quantity=line.quantity))
    return made


def _origin(session: Session, origin: str | None, src: _Place, reasons: list[str]) -> int | None:
    """The id of the upstream leg ``origin``, which must arrive where this order leaves."""
    if not origin:
        return None
    upstream = session.execute(
        select(DistributionOrder.id, DistributionOrder.destination_id).where(
            DistributionOrder.number == origin
        )
    ).first()
    if upstream is None:
        reasons.append(f"unknown origin order {origin!r}")
        return None
    if upstream[1] != src.facility.id:
        reasons.append(
            f"origin {origin} does not arrive at {src.code}: the next leg of a chain"
            " leaves from where the previous one arrived"
        )
        return None
    return int(upstream[0])


def create_order(
    session: Session,
    source: str,
    destination: str,
    lines: Sequence[OrderLineIn],
    *,
    user: str,
    principal: Principal | None = None,
    number: str | None = None,
    origin: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
    simulated: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> OrderView:
    """Create a draft order from ``source`` to ``destination`` (facility codes).

    Refused (nothing written) for an unknown facility, item or lot, a pair of
    facilities off the routes, a quantity that is not a whole number above
    zero, an item twice, an ``origin`` order that does not arrive at
    ``source``, or a user without ``stock.write`` over either facility.
    ``number`` defaults to the next ``DO-<year of at>-NNNNNN``.
    """

    return _write(
        session,
        lock_timeout,
        lambda: _create(
            session,
            source,
            destination,
            lines,
            user=user,
            principal=principal,
            number=number,
            origin=origin,
            note=note,
            at=at,
            simulated=simulated,
            now=now,
        ),
    )


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order to create with others (:func:`create_orders`); its upstream leg is
    ``origin`` (a number) or ``origin_of`` (the index of an order made before it in the
    same call)."""

    source: str
    destination: str
    lines: Sequence[OrderLineIn]
    number: str | None = None
    origin: str | None = None
    origin_of: int | None = None
    note: str | None = None


def create_orders(
    session: Session,
    orders: Sequence[NewOrder],
    *,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> list[OrderView]:
    """Create several draft orders in one transaction: all of them, or none (the first
    refusal is raised, naming its order)."""

    def step() -> list[OrderView]:
        made: list[OrderView] = []
        for o in orders:
            origin = made[o.origin_of].number if o.origin_of is not None else o.origin
            made.append(
                _create(
                    session,
                    o.source,
                    o.destination,
                    o.lines,
                    user=user,
                    principal=principal,
                    number=o.number,
                    origin=origin,
                    note=o.note,
                    at=at,
                    simulated=False,
                    now=now,
                )
            )
        return made

    return _write(session, lock_timeout, step)


def _create(
    session: Session,
    source: str,
    destination: str,
    lines: Sequence[OrderLineIn],
    *,
    user: str,
    principal: Principal | None,
    number: str | None,
    origin: str | None,
    note: str | None,
    at: datetime | None,
    simulated: bool,
    now: Callable[[], datetime],
) -> OrderView:
    """One draft order, in the caller's transaction (flushed, not committed)."""
    recorded = now()
    when = _moment(at, recorded, "of the order")
    src = _place(session, source, "source")
    dst = _place(session, destination, "destination")
    _authorize(principal, Permission.STOCK_WRITE, [src, dst], "create an order")
    reasons: list[str] = []
    if src.facility.id == dst.facility.id:
        reasons.append(f"an order goes from a facility to another, not to {src.code} itself")
    elif not on_route(session, src.facility, dst.facility):
        reasons.append(
            f"no route from {src.code} to {dst.code}: transfers go between a facility and"
            " its supplier, or along a declared route"
        )
    if not lines:
        reasons.append("an order has at least one line")
    made = _new_lines(session, lines, reasons)
    origin_id = _origin(session, origin, src, reasons)
    if reasons:
        raise OrderRefused(number, reasons)
    advisory_lock(session, LOCK_SPACE_ORDER, 0)
    chosen = number or _next_number(session, when)
    if not chosen.strip() or len(chosen) > 100:
        raise OrderRefused(chosen, ["an order number has 1 to 100 characters"])
    if session.scalar(select(DistributionOrder.id).where(DistributionOrder.number == chosen)):
        raise ConflictError(f"order {chosen} exists already: nothing was written")
    order = DistributionOrder(
        number=chosen,
        source_id=src.facility.id,
        destination_id=dst.facility.id,
        origin_id=origin_id,
        status="draft",
        note=note[:500] if note else None,
        created_by=user,
        created_at=when,
        simulated=simulated,
    )
    session.add(order)
    session.flush()
    for made_line in made:
        made_line.order_id = order.id
        session.add(made_line)
    session.add(
        OrderEvent(
            order_id=order.id,
            time=when,
            recorded_at=recorded,
            by=user,
            from_status=None,
            to_status="draft",
            note=note[:500] if note else None,
        )
    )
    session.flush()
    return _view(session, order)


def approve_order(
    session: Session,
    number: str,
    *,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    note: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> OrderView:
    """Approve a draft: by a user with ``stock.write`` over the source."""

    def step() -> OrderView:
        recorded = now()
        order = _load(session, number)
        _expect(session, order, ("draft",), "approved")
        src = _place_by_id(session, order.source_id)
        _authorize(principal, Permission.STOCK_WRITE, [src], f"approve order {number}")
        when = _moment(at, recorded, "of the approval")
        _not_before(order, when, order.created_at, "approved")
        _move(
            session,
            order,
            "draft",
            "approved",
            by=user,
            at=when,
            note=note,
            action="approved",
            values={"approved_by": user, "approved_at": when},
            recorded=recorded,
        )
        return _view(session, order)

    return _write(session, lock_timeout, step)


def cancel_order(
    session: Session,
    number: str,
    *,
    reason: str,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> OrderView:
    """Cancel a draft (either side may) or an approved order (the source), saying why.

    A dispatched order is not cancelled: its stock is on the road; it is
    delivered, with what did not arrive rejected on the proof of delivery.
    """

    def step() -> OrderView:
        recorded = now()
        if not reason.strip():
            raise SitroomError(f"order {number}: a cancellation gives its reason")
        order = _load(session, number)
        _expect(session, order, ("draft", "approved"), "cancelled")
        places = [_place_by_id(session, order.source_id)]
        if order.status == "draft":
            places.append(_place_by_id(session, order.destination_id))
        _authorize(principal, Permission.STOCK_WRITE, places, f"cancel order {number}")
        when = _moment(at, recorded, "of the cancellation")
        _not_before(order, when, order.approved_at or order.created_at, "cancelled")
        _move(
            session,
            order,
            order.status,
            "cancelled",
            by=user,
            at=when,
            note=reason.strip(),
            action="cancelled",
            values={"cancelled_by": user, "cancelled_at": when},
            recorded=recorded,
        )
        return _view(session, order)

    return _write(session, lock_timeout, step)


def _codes(session: Session, order: DistributionOrder) -> list[tuple[OrderLine, Item, str | None]]:
    rows = session.execute(
        select(OrderLine, Item, Lot.code)
        .join(Item, Item.id == OrderLine.item_id)
        .outerjoin(Lot, Lot.id == OrderLine.lot_id)
        .where(OrderLine.order_id == order.id)
        .order_by(OrderLine.line)
        .execution_options(populate_existing=True)
    )
    return [(line, item, lot) for line, item, lot in rows]


def _ledger_refusal(number: str, summary: PostSummary, items: dict[int, str]) -> OrderRefused:
    reasons = [
        f"line {r.line} ({items.get(r.line or 0, '?')}): {r.reason}" for r in summary.rejections
    ]
    return OrderRefused(number, reasons)


def dispatch_order(
    session: Session,
    number: str,
    *,
    carrier: str,
    carrier_kind: str,
    vehicle: str | None = None,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    note: str | None = None,
    channel: str = "cli",
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
    zone: tzinfo = UTC,
) -> OrderView:
    """Dispatch an approved order: the status and the ledger's ``transfer_out`` entries
    in one transaction.

    Each line sends its quantity of its lot, or of the lots first to expire.
    A lot is expired when its expiry date is before the dispatch's day in
    ``zone``, the country's time zone (as for every movement of the ledger:
    :func:`~sitroom.supply.ledger.local_day`), whether ``at`` is given or now.
    Refused, with nothing written, when the stock is not there (the ledger's
    message, naming the line: what there is), when the user has no
    ``stock.write`` over the source, or when another process changed the
    order first (ConflictError).
    """

    def step() -> OrderView:
        recorded = now()
        order = _load(session, number)
        _expect(session, order, ("approved",), "dispatched")
        src = _place_by_id(session, order.source_id)
        dst = _place_by_id(session, order.destination_id)
        _authorize(principal, Permission.STOCK_WRITE, [src], f"dispatch order {number}")
        reasons = []
        if not carrier.strip():
            reasons.append("a dispatch names its carrier (a unit, a transport company)")
        if carrier_kind not in CARRIER_KINDS:
            reasons.append(
                f"unknown carrier kind {carrier_kind!r}: choose one of {', '.join(CARRIER_KINDS)}"
            )
        if reasons:
            raise OrderRefused(number, reasons)
        when = _moment(at, recorded, "of the dispatch")
        _not_before(order, when, order.approved_at, "dispatched")
        # The status first: a second dispatcher stops here (conflict), not at the stock.
        _move(
            session,
            order,
            "approved",
            "dispatched",
            by=user,
            at=when,
            note=note,
            action="dispatched",
            values={
                "dispatched_by": user,
                "dispatched_at": when,
                "carrier": carrier.strip()[:200],
                "vehicle": vehicle.strip()[:100] if vehicle and vehicle.strip() else None,
                "carrier_kind": carrier_kind,
            },
            recorded=recorded,
        )
        lines = _codes(session, order)
        movements = [
            Movement(
                when,
                "transfer_out",
                src.code,
                item.code,
                line.quantity,
                lot=lot,
                counterparty=dst.code,
                reference=number,
                line=line.line,
            )
            for line, item, lot in lines
        ]
        summary = Ledger(
            session,
            user=user,
            channel=channel,
            principal=principal,
            simulated=order.simulated,
            lock_timeout=lock_timeout,
            now=lambda: recorded,
            zone=zone,
        ).apply(movements, source=f"dispatch of order {number}")
        if not summary.ok:
            raise _ledger_refusal(number, summary, {ln.line: it.code for ln, it, _ in lines})
        for line, _item, _lot in lines:
            line.dispatched = line.quantity
        session.execute(
            update(DistributionOrder)
            .where(DistributionOrder.id == order.id)
            .values(dispatch_batch_id=summary.batch_id)
            .execution_options(synchronize_session=False)
        )
        session.flush()
        session.expire(order)
        return _view(session, order)

    return _write(session, lock_timeout, step)


def _in_transit(
    session: Session, order: DistributionOrder, item_id: int
) -> list[tuple[str, Any, int]]:
    """(lot code, expiry, units) sent under the order's number and not yet received."""
    sent: dict[int, int] = defaultdict(int)
    rows = session.execute(
        select(StockEntry.lot_id, func.sum(StockEntry.quantity))
        .where(
            StockEntry.reference == order.number,
            StockEntry.item_id == item_id,
            or_(
                and_(
                    StockEntry.kind == "transfer_out",
                    StockEntry.facility_id == order.source_id,
                    StockEntry.counterparty_id == order.destination_id,
                ),
                and_(
                    StockEntry.kind == "transfer_in",
                    StockEntry.facility_id == order.destination_id,
                    StockEntry.counterparty_id == order.source_id,
                ),
            ),
        )
        .group_by(StockEntry.lot_id)
    )
    for lot_id, total in rows:
        sent[lot_id] -= int(total)
    lots = {
        lot.id: lot for lot in session.scalars(select(Lot).where(Lot.id.in_(list(sent) or [0])))
    }
    pending = [(lots[i].code, lots[i].expiry, q) for i, q in sent.items() if q > 0]
    pending.sort(key=lambda row: (row[1], row[0]))
    return pending


def _check_pod(
    order: DistributionOrder,
    lines: list[tuple[OrderLine, Item, str | None]],
    pod: Sequence[PodLine],
) -> dict[int, PodLine]:
    """The proof of delivery's line for each order line; every reason it is wrong."""
    reasons = []
    by_item: dict[str, PodLine] = {}
    on_order = {item.code for _, item, _ in lines}
    for given in pod:
        if given.item in by_item:
            reasons.append(f"{given.item} is twice on the proof of delivery")
        elif given.item not in on_order:
            reasons.append(f"{given.item} is not on the order")
        by_item[given.item] = given
    found: dict[int, PodLine] = {}
    for line, item, _lot in lines:
        where = f"line {line.line} ({item.code})"
        entry = by_item.get(item.code)
        if entry is None:
            reasons.append(
                f"{where}: not on the proof of delivery: give the {item.unit}s accepted and"
                " rejected"
            )
            continue
        if not (_whole(entry.accepted) and _whole(entry.rejected)):
            reasons.append(f"{where}: accepted and rejected are whole numbers of {item.unit}s")
            continue
        if entry.accepted < 0 or entry.rejected < 0:
            reasons.append(f"{where}: accepted and rejected cannot be negative")
            continue
        if entry.rejected > 0 and entry.reason not in REJECTION_REASONS:
            reasons.append(
                f"{where}: {entry.rejected:,} rejected: give the reason, one of"
                f" {', '.join(REJECTION_REASONS)}"
                + (f" (got {entry.reason!r})" if entry.reason else "")
            )
            continue
        dispatched = line.dispatched or 0
        total = entry.accepted + entry.rejected
        if total > dispatched:
            reasons.append(
                f"{where}: {total:,} delivered (accepted {entry.accepted:,} + rejected"
                f" {entry.rejected:,}), more than the {dispatched:,} dispatched"
            )
        elif total < dispatched:
            reasons.append(
                f"{where}: {dispatched:,} dispatched but {total:,} accounted for (accepted"
                f" {entry.accepted:,} + rejected {entry.rejected:,}): every unit dispatched is"
                " accepted or rejected; what did not arrive is rejected as short_shipped"
            )
        found[line.line] = entry
    if reasons:
        raise OrderRefused(order.number, reasons)
    return found


def _check_transit(
    order: DistributionOrder,
    lines: list[tuple[OrderLine, Item, str | None]],
    transit: dict[int, list[tuple[str, Any, int]]],
) -> None:
    """Each line's units in transit under the order's number must be what it dispatched.

    The proof of delivery accounts for the units dispatched, the ledger receives what is
    in transit: they agree unless entries under the order's number were posted outside
    the order (a transfer typed by hand with its reference, or a reversal of the
    dispatch from before :meth:`Ledger.reverse` refused those). Then the delivery
    would receive more (or less) than is on the road: refused, naming each line.
    """
    reasons = []
    for line, item, _lot in lines:
        dispatched = line.dispatched or 0
        moving = sum(units for _, _, units in transit.get(line.line, ()))
        if moving != dispatched:
            reasons.append(
                f"line {line.line} ({item.code}): {dispatched:,} dispatched but"
                f" {unit_word(moving, item.unit)} in transit under {order.number}: entries"
                " under the order's number were posted outside the order; reverse them"
                " before recording the delivery"
            )
    if reasons:
        raise OrderRefused(order.number, reasons)


def deliver_order(
    session: Session,
    number: str,
    *,
    receiver: str,
    lines: Sequence[PodLine],
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    note: str | None = None,
    auto_close: bool = True,
    channel: str = "cli",
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
    zone: tzinfo = UTC,
) -> OrderView:
    """Record the proof of delivery of a dispatched order, signed by ``receiver``.

    Per line, accepted + rejected must be what was dispatched (more is
    refused, naming the order and the line), and what is in transit under
    the order's number must still be what was dispatched (refused, naming
    the line, when entries under the number were posted outside the order:
    nothing is received beyond what is on the road); rejected units give a reason
    (:data:`~sitroom.supply.models.REJECTION_REASONS`). In the same
    transaction the ledger gets, at the destination and under the order's
    number, a ``transfer_in`` of every unit that was in transit and an
    ``adjust`` writing off the rejected ones (:data:`WRITE_OFF`; rejected
    units are taken from the lots first to expire). With ``auto_close`` an
    order delivered without a rejection is closed at once; one with
    rejections stays delivered until someone has reconciled it and closes it.
    ``zone``: the country's time zone, passed to the ledger (see
    :func:`dispatch_order`).
    """

    def step() -> OrderView:
        recorded = now()
        order = _load(session, number)
        _expect(session, order, ("dispatched",), "delivered")
        src = _place_by_id(session, order.source_id)
        dst = _place_by_id(session, order.destination_id)
        _authorize(principal, Permission.STOCK_WRITE, [dst], f"record the delivery of {number}")
        if not receiver.strip():
            raise OrderRefused(number, ["a proof of delivery is signed by a named receiver"])
        when = _moment(at, recorded, "of the delivery")
        _not_before(order, when, order.dispatched_at, "delivered")
        order_lines = _codes(session, order)
        pod = _check_pod(order, order_lines, lines)
        transit = {line.line: _in_transit(session, order, item.id) for line, item, _ in order_lines}
        _check_transit(order, order_lines, transit)
        _move(
            session,
            order,
            "dispatched",
            "delivered",
            by=user,
            at=when,
            note=note,
            action="delivered",
            values={
                "delivered_by": user,
                "delivered_at": when,
                "received_by": receiver.strip()[:200],
            },
            recorded=recorded,
        )
        movements: list[Movement] = []
        for line, item, _lot in order_lines:
            entry = pod[line.line]
            reject_left = entry.rejected
            for lot, _expiry, pending in transit[line.line]:
                rejected = min(reject_left, pending)
                reject_left -= rejected
                movements.append(
                    Movement(
                        when,
                        "transfer_in",
                        dst.code,
                        item.code,
                        pending,
                        lot=lot,
                        counterparty=src.code,
                        reference=number,
                        line=line.line,
                    )
                )
                if rejected:
                    movements.append(
                        Movement(
                            when,
                            "adjust",
                            dst.code,
                            item.code,
                            rejected,
                            lot=lot,
                            reason=WRITE_OFF[entry.reason or "other"],
                            reference=number,
                            line=line.line,
                        )
                    )
            line.accepted = entry.accepted
            line.rejected = entry.rejected
            line.rejection_reason = entry.reason if entry.rejected else None
            line.rejection_note = (entry.note or None) and (entry.note or "")[:200]
        summary = Ledger(
            session,
            user=user,
            channel=channel,
            principal=principal,
            simulated=order.simulated,
            lock_timeout=lock_timeout,
            now=lambda: recorded,
            zone=zone,
        ).apply(movements, source=f"delivery of order {number}")
        if not summary.ok:
            raise _ledger_refusal(number, summary, {ln.line: it.code for ln, it, _ in order_lines})
        session.execute(
            update(DistributionOrder)
            .where(DistributionOrder.id == order.id)
            .values(delivery_batch_id=summary.batch_id)
            .execution_options(synchronize_session=False)
        )
        session.flush()
        if auto_close and all(given.rejected == 0 for given in pod.values()):
            _move(
                session,
                order,
                "delivered",
                "closed",
                by=user,
                at=when,
                note="closed on delivery: every unit dispatched was accepted",
                action="closed",
                values={"closed_by": user, "closed_at": when},
                recorded=recorded,
            )
        session.expire(order)
        return _view(session, order)

    return _write(session, lock_timeout, step)


def close_order(
    session: Session,
    number: str,
    *,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    note: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> OrderView:
    """Close a delivered order (its rejections reconciled): either side may."""

    def step() -> OrderView:
        recorded = now()
        order = _load(session, number)
        _expect(session, order, ("delivered",), "closed")
        places = [
            _place_by_id(session, order.source_id),
            _place_by_id(session, order.destination_id),
        ]
        _authorize(principal, Permission.STOCK_WRITE, places, f"close order {number}")
        when = _moment(at, recorded, "of the closing")
        _not_before(order, when, order.delivered_at, "closed")
        _move(
            session,
            order,
            "delivered",
            "closed",
            by=user,
            at=when,
            note=note,
            action="closed",
            values={"closed_by": user, "closed_at": when},
            recorded=recorded,
        )
        return _view(session, order)

    return _write(session, lock_timeout, step)


# Reading ------------------------------------------------------------------------------


def _hours(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds() / 3600.0


def _chain_start(session: Session, order: DistributionOrder) -> datetime | None:
    """The dispatch time of the first leg of the order's chain (its own without origin)."""
    start = order.dispatched_at
    origin = order.origin_id
    while origin is not None:
        row = session.execute(
            select(DistributionOrder.origin_id, DistributionOrder.dispatched_at).where(
                DistributionOrder.id == origin
            )
        ).one()
        origin, start = row[0], row[1]
    return start


def _lead(
    created: datetime,
    approved: datetime | None,
    dispatched: datetime | None,
    delivered: datetime | None,
    chain_start: datetime | None,
) -> dict[str, float | None]:
    return {
        "approval": _hours(approved, created),
        "dispatch": _hours(dispatched, approved),
        "transit": _hours(delivered, dispatched),
        "total": _hours(delivered, created),
        "chain": _hours(delivered, chain_start),
    }


def _view(session: Session, order: DistributionOrder) -> OrderView:
    session.refresh(order)
    src = _place_by_id(session, order.source_id)
    dst = _place_by_id(session, order.destination_id)
    origin = (
        session.scalar(
            select(DistributionOrder.number).where(DistributionOrder.id == order.origin_id)
        )
        if order.origin_id
        else None
    )
    sent: dict[int, list[tuple[str, str, int]]] = defaultdict(list)
    for item_id, lot, expiry, total in session.execute(
        select(StockEntry.item_id, Lot.code, Lot.expiry, func.sum(StockEntry.quantity))
        .join(Lot, Lot.id == StockEntry.lot_id)
        .where(
            StockEntry.reference == order.number,
            StockEntry.kind == "transfer_out",
            StockEntry.facility_id == order.source_id,
        )
        .group_by(StockEntry.item_id, Lot.code, Lot.expiry)
        .order_by(Lot.expiry, Lot.code)
    ):
        if total:
            sent[item_id].append((lot, expiry.isoformat(), -int(total)))
    lines = tuple(
        LineView(
            line.line,
            item.code,
            item.unit,
            lot,
            int(line.quantity),
            line.dispatched,
            line.accepted,
            line.rejected,
            line.rejection_reason,
            line.rejection_note,
            tuple(sent.get(item.id, ())),
        )
        for line, item, lot in _codes(session, order)
    )
    events = tuple(
        EventView(e.time, e.recorded_at, e.by, e.from_status, e.to_status, e.note)
        for e in session.scalars(
            select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
        )
    )
    return OrderView(
        number=order.number,
        status=order.status,
        source=src.code,
        destination=dst.code,
        region=region_of(dst.path),
        origin=origin,
        note=order.note,
        created_at=order.created_at,
        created_by=order.created_by,
        approved_at=order.approved_at,
        approved_by=order.approved_by,
        dispatched_at=order.dispatched_at,
        dispatched_by=order.dispatched_by,
        carrier=order.carrier,
        vehicle=order.vehicle,
        carrier_kind=order.carrier_kind,
        delivered_at=order.delivered_at,
        delivered_by=order.delivered_by,
        received_by=order.received_by,
        closed_at=order.closed_at,
        closed_by=order.closed_by,
        cancelled_at=order.cancelled_at,
        cancelled_by=order.cancelled_by,
        dispatch_batch=order.dispatch_batch_id,
        delivery_batch=order.delivery_batch_id,
        simulated=order.simulated,
        lines=lines,
        events=events,
        lead_hours=_lead(
            order.created_at,
            order.approved_at,
            order.dispatched_at,
            order.delivered_at,
            _chain_start(session, order),
        ),
    )


def _can_read(principal: Principal | None, *paths: str) -> bool:
    if principal is None:
        return True
    return principal.can(Permission.STOCK_READ) and any(principal.covers(p) for p in paths)


def get_order(session: Session, number: str, *, principal: Principal | None = None) -> OrderView:
    """One order with its lines, dispatched lots, history and lead times."""
    order = _load(session, number)
    places = [_place_by_id(session, order.source_id), _place_by_id(session, order.destination_id)]
    _authorize(principal, Permission.STOCK_READ, places, f"read order {number}")
    return _view(session, order)


@dataclass(frozen=True, slots=True)
class OrderRow:
    """An order in a list."""

    number: str
    status: str
    source: str
    destination: str
    region: str
    lines: int
    units: int
    created_at: datetime
    dispatched_at: datetime | None
    delivered_at: datetime | None
    carrier_kind: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "source": self.source,
            "destination": self.destination,
            "region": self.region,
            "lines": self.lines,
            "units": self.units,
            "created_at": _iso(self.created_at),
            "dispatched_at": _iso(self.dispatched_at),
            "delivered_at": _iso(self.delivered_at),
            "carrier_kind": self.carrier_kind,
        }


class _OrderRead(NamedTuple):
    """One order as :func:`_read_orders` reads it: what the listing and the lead times need."""

    id: int
    origin_id: int | None
    number: str
    status: str
    created_at: datetime
    approved_at: datetime | None
    dispatched_at: datetime | None
    delivered_at: datetime | None
    carrier_kind: str | None
    source: str
    destination: str
    source_path: str
    destination_path: str
    lines: int | None
    units: int | None


def _read_orders(
    session: Session,
    *,
    status: str | None = None,
    facility_id: int | None = None,
    totals: bool = True,
    principal: Principal | None = None,
    limit: int | None = None,
) -> list[_OrderRead]:
    """The orders (of a status, from or to a facility; from or to a facility in the
    scopes of ``principal``; the first ``limit``), newest first, with their facilities
    and (``totals``) their lines' count and units, in one query."""
    source, destination = aliased(Facility), aliased(Facility)
    src_unit, dst_unit = aliased(OrgUnit), aliased(OrgUnit)
    columns: list[Any] = [
        DistributionOrder.id,
        DistributionOrder.origin_id,
        DistributionOrder.number,
        DistributionOrder.status,
        DistributionOrder.created_at,
        DistributionOrder.approved_at,
        DistributionOrder.dispatched_at,
        DistributionOrder.delivered_at,
        DistributionOrder.carrier_kind,
        source.code,
        destination.code,
        src_unit.path,
        dst_unit.path,
    ]
    sums = None
    if totals:
        sums = (
            select(
                OrderLine.order_id,
                func.count(OrderLine.id).label("lines"),
                func.sum(OrderLine.quantity).label("units"),
            )
            .group_by(OrderLine.order_id)
            .subquery()
        )
        columns += [sums.c.lines, sums.c.units]
    query = (
        select(*columns)
        .join(source, source.id == DistributionOrder.source_id)
        .join(destination, destination.id == DistributionOrder.destination_id)
        .join(src_unit, src_unit.id == source.org_unit_id)
        .join(dst_unit, dst_unit.id == destination.org_unit_id)
        .order_by(DistributionOrder.created_at.desc(), DistributionOrder.id.desc())
    )
    if sums is not None:
        query = query.outerjoin(sums, sums.c.order_id == DistributionOrder.id)
    if status is not None:
        query = query.where(DistributionOrder.status == status)
    if facility_id is not None:
        query = query.where(
            or_(
                DistributionOrder.source_id == facility_id,
                DistributionOrder.destination_id == facility_id,
            )
        )
    if principal is not None:
        query = query.where(or_(within(principal, src_unit.path), within(principal, dst_unit.path)))
    if limit is not None:
        query = query.limit(limit)
    missing = () if totals else (None, None)
    return [_OrderRead._make((*row, *missing)) for row in session.execute(query)]


def _order_reader(principal: Principal | None) -> None:
    if principal is not None and not principal.can(Permission.STOCK_READ):
        raise ForbiddenError(f"user {principal.username!r} may not read stock or orders")


def _order_rows(
    read: Sequence[_OrderRead],
    principal: Principal | None,
    *,
    status: str | None = None,
    limit: int | None = None,
) -> list[OrderRow]:
    """The listing's rows of ``read`` (of ``status``): those the user may read."""
    rows = []
    for o in read:
        if status is not None and o.status != status:
            continue
        if not _can_read(principal, o.source_path, o.destination_path):
            continue
        rows.append(
            OrderRow(
                o.number,
                o.status,
                o.source,
                o.destination,
                region_of(o.destination_path),
                int(o.lines or 0),
                int(o.units or 0),
                o.created_at,
                o.dispatched_at,
                o.delivered_at,
                o.carrier_kind,
            )
        )
        if limit is not None and len(rows) >= limit:
            break
    return rows


def list_orders(
    session: Session,
    *,
    status: str | None = None,
    facility: str | None = None,
    principal: Principal | None = None,
    limit: int | None = None,
) -> list[OrderRow]:
    """Orders, newest first: of a status, from or to a facility; those the user may read
    (from or to a facility in their scopes, chosen and cut to ``limit`` by the database)."""
    if status is not None and status not in ORDER_STATUSES:
        raise SitroomError(f"unknown status {status!r}: choose one of {', '.join(ORDER_STATUSES)}")
    _order_reader(principal)
    facility_id = None if facility is None else _place(session, facility, "facility").facility.id
    # Chosen and cut by the database: only the orders of the user's scopes are read.
    read = _read_orders(
        session, status=status, facility_id=facility_id, principal=principal, limit=limit
    )
    return _order_rows(read, principal, limit=limit)


def lead_times(
    session: Session,
    *,
    by: str = "region",
    since: datetime | None = None,
    until: datetime | None = None,
    principal: Principal | None = None,
) -> LeadTimeReport:
    """Lead times of the orders created in [since, until), per ``by`` and overall.

    ``by``: ``region`` (the destination's), ``carrier_kind`` (army, civil,
    other; "none" before dispatch) or ``region_carrier_kind``. Cancelled
    orders are left out; the others count in each step they have reached
    (:func:`sitroom.supply.leadtimes.summarize`).
    """
    _grouping(by)
    _order_reader(principal)
    read = _read_orders(session, totals=False)
    return _lead_report(read, by, principal, since=since, until=until)


def orders_and_lead_times(
    session: Session, *, by: Sequence[str], principal: Principal | None = None
) -> tuple[list[OrderRow], dict[str, LeadTimeReport]]:
    """Every order the user may read, newest first (as :func:`list_orders`), and the
    lead times per each grouping of ``by`` (as :func:`lead_times`), from one read of
    the orders: what the orders page shows."""
    for grouping in by:
        _grouping(grouping)
    _order_reader(principal)
    read = _read_orders(session)
    reports = {grouping: _lead_report(read, grouping, principal) for grouping in by}
    return _order_rows(read, principal), reports


def _grouping(by: str) -> None:
    if by not in GROUPINGS:
        raise SitroomError(f"unknown grouping {by!r}: choose one of {', '.join(GROUPINGS)}")


def _lead_report(
    read: Sequence[_OrderRead],
    by: str,
    principal: Principal | None,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> LeadTimeReport:
    """:func:`lead_times` of the orders ``read`` (every order: chains link legs of any time)."""
    # Chains link legs of any time: their starts come from all the orders.
    links = {o.id: (o.origin_id, o.dispatched_at) for o in read}

    def chain_start(order_id: int) -> datetime | None:
        origin, start = links[order_id]
        while origin is not None and origin in links:
            origin, start = links[origin]
        return start

    groups: list[str] = []
    table: list[list[float]] = []
    for o in read:
        if o.status == "cancelled" or not _can_read(principal, o.source_path, o.destination_path):
            continue
        created = o.created_at
        if (since is not None and created < since) or (until is not None and created >= until):
            continue
        hours = _lead(created, o.approved_at, o.dispatched_at, o.delivered_at, chain_start(o.id))
        table.append([np.nan if hours[s] is None else float(hours[s] or 0.0) for s in STEPS])
        region, carrier = region_of(o.destination_path), o.carrier_kind or "none"
        groups.append({"region": region, "carrier_kind": carrier}.get(by, f"{region} {carrier}"))
    array = np.asarray(table, dtype=float).reshape(len(table), len(STEPS))
    overall = summarize(["all"] * len(groups), array)
    return LeadTimeReport(
        by,
        summarize(groups, array),
        overall[0]
        if overall
        else GroupLeadTimes("all", 0, {s: StepStats(0, None, None) for s in STEPS}),
    )


__all__ = [
    "GROUPINGS",
    "WRITE_OFF",
    "EventView",
    "LeadTimeReport",
    "LineView",
    "OrderLineIn",
    "OrderRefused",
    "OrderRow",
    "OrderView",
    "PodLine",
    "approve_order",
    "cancel_order",
    "close_order",
    "create_order",
    "deliver_order",
    "dispatch_order",
    "get_order",
    "lead_times",
    "list_orders",
    "orders_and_lead_times",
    "region_of",
]
