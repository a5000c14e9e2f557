"""Pledges and shipments (issue #12, item 3): what a partner committed to deliver,
the goods on their way, and their receipt into the stock ledger::

    pledge:   open -> fulfilled        (every pledged unit received)
                 \\-> cancelled        (nothing on its way)
    shipment: planned -> in_transit -> at_border -> arrived -> partly_received -> received
                 \\___________\\____________\\__________\\-> cancelled (nothing received)

- **A pledge** answers a request of the same partner that went out (not a
  draft, not declined, not left without response) or an offer of the same
  partner that was accepted; one of the two is required. Its items are from
  the catalogue, in whole units above zero. Numbered ``PLG-<year>-NNNN``; its
  org unit (the request's or the offer's unless named) says whose
  coordinators act on it (``aid.write``).
- **A shipment** carries goods of one open pledge, lot by lot (the lot and its
  expiry date are required; a lot expired at departure is refused), to a
  stockpile or a warehouse. What the pledge's shipments carry of an item
  (cancelled ones aside) never exceeds what was pledged. Numbered
  ``SHP-<year>-NNNN``; planned, or in transit when it has left.
- **Its way**: departure, the border, customs (pending, held, cleared, each with
  its time), arrival; each step not before the one before it and not in the
  future. A shipment held at customs has not arrived.
- **Receipt**: ``receipt`` entries of the stock ledger at the shipment's
  warehouse, posted through :class:`~sitroom.supply.ledger.Ledger` (the only
  write path for stock) with the donor (the partner's name) as their
  ``counterparty``, the shipment's number as their ``reference`` and the lot
  and expiry of the shipment line; in the same transaction the
  ``aid_receipt`` row linking the ledger's batch and the statuses (the
  shipment partly received or received, the pledge fulfilled when every
  pledged unit has arrived). Partial deliveries are the rule. What has
  arrived is always read from the ledger (the sum of the receipt entries under
  the shipment's number, reversals included), never from a copy: more than
  was shipped and not yet received is refused, lot by lot. The receiver needs
  ``aid.write`` over the pledge's unit and ``stock.write`` over the warehouse.

Every step runs in a transaction of its own (:func:`sitroom.aid.common.write`),
serialised with aid's other writers; a receipt also holds the ledger's lock on
its warehouse before it reads what has arrived, so a receipt posted meanwhile by
the supply chain's own commands is counted. A step gathers every reason to
refuse and raises one :class:`~sitroom.aid.common.AidRefused`; nothing is
written then. :func:`trace_lot` gives the origin of a lot: the ledger's receipt
entries of it, joined to the shipment, the pledge and the donor.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from sitroom.auth.permissions import Permission, Principal, refusal
from sitroom.counts import MAX_COUNT
from sitroom.db import DEFAULT_LOCK_TIMEOUT, advisory_lock, utcnow
from sitroom.errors import ConflictError, ForbiddenError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.ledger import LOCK_SPACE_STOCK, Ledger, Movement, PostSummary, unit_word
from sitroom.supply.models import Facility, Item, Lot, StockEntry

from .common import (
    AidRefused,
    LineIn,
    alike,
    authorize,
    can_read,
    change_status,
    expect,
    facility,
    iso,
    items_by_code,
    load,
    moment,
    next_number,
    org_unit,
    record,
    settle,
    text,
    unit_by_id,
    whole,
    write,
)
from .common import lines as checked_lines
from .common import partner as partner_by_code
from .models import (
    CUSTOMS_STATUSES,
    PLEDGE_STATUSES,
    SHIPMENT_STATUSES,
    AidEvent,
    AidRequest,
    Offer,
    OfferLine,
    Partner,
    Pledge,
    PledgeLine,
    Receipt,
    RequestLine,
    Shipment,
    ShipmentLine,
)

#: A request in one of these statuses has not been answered with a pledge-worthy "yes".
REQUEST_NOT_PLEDGEABLE = ("draft", "declined", "no_response")
#: The only offer a pledge answers.
OFFER_PLEDGEABLE = "accepted"
#: Where aid is received.
DESTINATION_TYPES = ("stockpile", "warehouse")
#: A shipment's goods are on their way (it may be updated or cancelled).
ON_THE_WAY = ("planned", "in_transit", "at_border", "arrived")
#: How the history's note of a shipment closed short begins.
CLOSED_SHORT = "closed short:"
#: A shipment that may be received (its lots, as far as not received yet).
RECEIVABLE = ("in_transit", "at_border", "arrived", "partly_received", "received")
#: The moves :func:`update_shipment` makes: from each status, to which.
MOVES: dict[str, tuple[str, ...]] = {
    "planned": ("in_transit",),
    "in_transit": ("at_border", "arrived"),
    "at_border": ("arrived",),
}
#: The statuses :func:`update_shipment` moves to.
UPDATE_STATUSES = ("in_transit", "at_border", "arrived")
#: Customs: from each status (None: not yet at customs), to which.
CUSTOMS_MOVES: dict[str | None, tuple[str, ...]] = {
    None: ("pending", "held", "cleared"),
    "pending": ("held", "cleared"),
    "held": ("pending", "cleared"),
    "cleared": (),
}
#: Where a shipment is when customs are recorded.
CUSTOMS_WHERE = ("at_border", "arrived")
#: The longest lot code, carrier, route and border crossing (the columns' sizes).
MAX_LOT = 64
MAX_CARRIER = 200
MAX_ROUTE = 300
MAX_BORDER = 200
MAX_RECEIVER = 200


# Input -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShipLineIn:
    """A line of a shipment: ``quantity`` whole units of ``item``, lot ``lot`` expiring
    on ``expiry`` (both required)."""

    item: str
    lot: str
    expiry: date | None
    quantity: int


@dataclass(frozen=True, slots=True)
class ReceiveLineIn:
    """A line of a receipt: ``quantity`` units of ``item`` lot ``lot`` accepted."""

    item: str
    lot: str
    quantity: int


# Output ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventView:
    """One step of the history of a pledge or a shipment."""

    time: datetime
    recorded_at: datetime
    by: str
    from_status: str | None
    to_status: str
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": iso(self.time),
            "recorded_at": iso(self.recorded_at),
            "by": self.by,
            "from": self.from_status,
            "to": self.to_status,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class PledgeLineView:
    """One item of a pledge: pledged, shipped (on shipments not cancelled), received
    (by the ledger), and what is still to come."""

    item: str
    unit: str
    pledged: int
    shipped: int
    received: int

    @property
    def to_ship(self) -> int:
        return max(0, self.pledged - self.shipped)

    @property
    def outstanding(self) -> int:
        return max(0, self.pledged - self.received)

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "unit": self.unit,
            "pledged": self.pledged,
            "shipped": self.shipped,
            "received": self.received,
            "to_ship": self.to_ship,
            "outstanding": self.outstanding,
        }


@dataclass(frozen=True, slots=True)
class ShipmentBrief:
    """A shipment as its pledge lists it."""

    number: str
    status: str
    destination: str

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "status": self.status, "destination": self.destination}


@dataclass(frozen=True, slots=True)
class PledgeView:
    """A pledge with its lines, shipments and history."""

    number: str
    status: str
    partner: str
    partner_name: str
    request: str | None
    offer: str | None
    org_unit: str
    pledged_at: datetime
    expected_by: date | None
    created_by: str
    created_at: datetime
    status_at: datetime
    illustrative: bool
    lines: tuple[PledgeLineView, ...]
    shipments: tuple[ShipmentBrief, ...]
    events: tuple[EventView, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "partner": self.partner,
            "partner_name": self.partner_name,
            "request": self.request,
            "offer": self.offer,
            "org_unit": self.org_unit,
            "pledged_at": iso(self.pledged_at),
            "expected_by": iso(self.expected_by),
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "status_at": iso(self.status_at),
            "illustrative": self.illustrative,
            "lines": [line.to_dict() for line in self.lines],
            "shipments": [s.to_dict() for s in self.shipments],
            "events": [e.to_dict() for e in self.events],
        }


@dataclass(frozen=True, slots=True)
class ShipmentLineView:
    """One lot of a shipment: shipped, received (the ledger's receipts under the
    shipment's number) and outstanding."""

    item: str
    unit: str
    lot: str
    expiry: date
    shipped: int
    received: int

    @property
    def outstanding(self) -> int:
        return max(0, self.shipped - self.received)

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "unit": self.unit,
            "lot": self.lot,
            "expiry": iso(self.expiry),
            "shipped": self.shipped,
            "received": self.received,
            "outstanding": self.outstanding,
        }


@dataclass(frozen=True, slots=True)
class ReceiptView:
    """A (partial) delivery: its ledger batch and what the batch holds."""

    batch: int
    received_at: datetime
    received_by: str
    recorded_by: str
    recorded_at: datetime
    #: (item, lot, units) of the batch's entries.
    lines: tuple[tuple[str, str, int], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "received_at": iso(self.received_at),
            "received_by": self.received_by,
            "recorded_by": self.recorded_by,
            "recorded_at": iso(self.recorded_at),
            "lines": [{"item": i, "lot": lot, "quantity": q} for i, lot, q in self.lines],
        }


@dataclass(frozen=True, slots=True)
class ShipmentView:
    """A shipment with its lots, receipts and history."""

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
    customs_at: datetime | None
    departed_at: datetime | None
    expected_at: date | None
    arrived_at: datetime | None
    created_by: str
    created_at: datetime
    status_at: datetime
    illustrative: bool
    lines: tuple[ShipmentLineView, ...]
    receipts: tuple[ReceiptView, ...]
    events: tuple[EventView, ...]

    @property
    def shipped(self) -> int:
        return sum(line.shipped for line in self.lines)

    @property
    def received(self) -> int:
        return sum(line.received for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "pledge": self.pledge,
            "partner": self.partner,
            "partner_name": self.partner_name,
            "org_unit": self.org_unit,
            "destination": self.destination,
            "destination_name": self.destination_name,
            "carrier": self.carrier,
            "route": self.route,
            "border_crossing": self.border_crossing,
            "customs_status": self.customs_status,
            "customs_at": iso(self.customs_at),
            "departed_at": iso(self.departed_at),
            "expected_at": iso(self.expected_at),
            "arrived_at": iso(self.arrived_at),
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "status_at": iso(self.status_at),
            "illustrative": self.illustrative,
            "shipped": self.shipped,
            "received": self.received,
            "lines": [line.to_dict() for line in self.lines],
            "receipts": [r.to_dict() for r in self.receipts],
            "events": [e.to_dict() for e in self.events],
        }


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    """What a receipt did: the shipment as it is now, the receipt, the pledge's status,
    and the ledger's summary of the batch (``committed`` once the transaction is)."""

    shipment: ShipmentView
    receipt: ReceiptView
    pledge: str
    pledge_status: str
    summary: PostSummary

    def to_dict(self) -> dict[str, Any]:
        return {
            "shipment": self.shipment.to_dict(),
            "receipt": self.receipt.to_dict(),
            "pledge": self.pledge,
            "pledge_status": self.pledge_status,
            "summary": self.summary.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class PledgeRow:
    """A pledge in a list, with its totals."""

    number: str
    status: str
    partner: str
    request: str | None
    offer: str | None
    org_unit: str
    pledged_at: datetime
    expected_by: date | None
    lines: int
    pledged: int
    shipped: int
    received: int
    illustrative: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "partner": self.partner,
            "request": self.request,
            "offer": self.offer,
            "org_unit": self.org_unit,
            "pledged_at": iso(self.pledged_at),
            "expected_by": iso(self.expected_by),
            "lines": self.lines,
            "pledged": self.pledged,
            "shipped": self.shipped,
            "received": self.received,
            "illustrative": self.illustrative,
        }


@dataclass(frozen=True, slots=True)
class ShipmentRow:
    """A shipment in a list, with its totals."""

    number: str
    status: str
    pledge: str
    partner: str
    destination: str
    carrier: str | None
    border_crossing: str | None
    customs_status: str | None
    departed_at: datetime | None
    expected_at: date | None
    arrived_at: datetime | None
    shipped: int
    received: int
    illustrative: bool

    @property
    def outstanding(self) -> int:
        return max(0, self.shipped - self.received)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "status": self.status,
            "pledge": self.pledge,
            "partner": self.partner,
            "destination": self.destination,
            "carrier": self.carrier,
            "border_crossing": self.border_crossing,
            "customs_status": self.customs_status,
            "departed_at": iso(self.departed_at),
            "expected_at": iso(self.expected_at),
            "arrived_at": iso(self.arrived_at),
            "shipped": self.shipped,
            "received": self.received,
            "outstanding": self.outstanding,
            "illustrative": self.illustrative,
        }


@dataclass(frozen=True, slots=True)
class LotOrigin:
    """One ledger receipt entry of a lot, and the aid it was when its reference is a
    shipment's number."""

    entry: int
    batch: int
    facility: str
    facility_name: str
    time: datetime
    quantity: int
    #: The donor or supplier as the ledger holds it.
    counterparty: str | None
    reference: str | None
    #: The entry this one reverses (a correction), if any.
    reverses: int | None
    shipment: str | None = None
    pledge: str | None = None
    partner: str | None = None
    partner_name: str | None = None
    request: str | None = None
    offer: str | None = None
    received_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "batch": self.batch,
            "facility": self.facility,
            "facility_name": self.facility_name,
            "time": iso(self.time),
            "quantity": self.quantity,
            "counterparty": self.counterparty,
            "reference": self.reference,
            "reverses": self.reverses,
            "shipment": self.shipment,
            "pledge": self.pledge,
            "partner": self.partner,
            "partner_name": self.partner_name,
            "request": self.request,
            "offer": self.offer,
            "received_by": self.received_by,
        }


@dataclass(frozen=True, slots=True)
class LotTrace:
    """Where a lot came from: every receipt of it in the ledger (those the reader may
    see), oldest first."""

    item: str
    unit: str
    lot: str
    expiry: date
    origins: tuple[LotOrigin, ...]

    @property
    def received(self) -> int:
        return sum(o.quantity for o in self.origins)

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "unit": self.unit,
            "lot": self.lot,
            "expiry": iso(self.expiry),
            "received": self.received,
            "origins": [o.to_dict() for o in self.origins],
        }


# Look-ups ----------------------------------------------------------------------------


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _pledge(session: Session, number: str) -> Pledge:
    return load(session, Pledge, number, "pledge")


def _shipment(session: Session, number: str) -> Shipment:
    return load(session, Shipment, number, "shipment")


def _place(session: Session, facility_id: int) -> tuple[Facility, str]:
    row = session.execute(
        select(Facility, OrgUnit.path)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .where(Facility.id == facility_id)
    ).one()
    return row[0], str(row[1])


def _partner_code(session: Session, partner_id: int) -> str:
    return str(session.scalar(select(Partner.code).where(Partner.id == partner_id)))


def _received(session: Session, numbers: Collection[str]) -> dict[tuple[str, int, str], int]:
    """Units received under each (shipment number, item id, lot code): the sum of the
    ledger's ``receipt`` entries with the number as their reference (a reversal's
    negative entries included)."""
    out: dict[tuple[str, int, str], int] = {}
    for chunk in _chunks(sorted(numbers)):
        for reference, item_id, lot, total in session.execute(
            select(
                StockEntry.reference, StockEntry.item_id, Lot.code, func.sum(StockEntry.quantity)
            )
            .join(Lot, Lot.id == StockEntry.lot_id)
            .where(StockEntry.kind == "receipt", StockEntry.reference.in_(chunk))
            .group_by(StockEntry.reference, StockEntry.item_id, Lot.code)
        ):
            out[(str(reference), int(item_id), str(lot))] = int(total or 0)
    return out


def _shipped(session: Session, pledge_id: int) -> dict[int, int]:
    """Units of each item on the pledge's shipments that are not cancelled."""
    return {
        int(item_id): int(total or 0)
        for item_id, total in session.execute(
            select(ShipmentLine.item_id, func.sum(ShipmentLine.quantity))
            .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
            .where(Shipment.pledge_id == pledge_id, Shipment.status != "cancelled")
            .group_by(ShipmentLine.item_id)
        )
    }


def _pledge_received(session: Session, pledge_id: int) -> dict[int, int]:
    """Units of each item received under the pledge's shipments, by the ledger."""
    numbers = session.scalars(select(Shipment.number).where(Shipment.pledge_id == pledge_id)).all()
    per_item: dict[int, int] = defaultdict(int)
    for (_number, item_id, _lot), total in _received(session, numbers).items():
        per_item[item_id] += total
    return per_item


def _events(session: Session, subject: str, subject_id: int) -> tuple[EventView, ...]:
    return tuple(
        EventView(e.time, e.recorded_at, e.by, e.from_status, e.to_status, e.note)
        for e in session.scalars(
            select(AidEvent)
            .where(AidEvent.subject == subject, AidEvent.subject_id == subject_id)
            .order_by(AidEvent.id)
        )
    )


def _zoned(*times: datetime | None) -> bool:
    """True unless one of ``times`` has no time zone (refused by ``moment``: the checks
    that compare it with other times are skipped, they would only add noise)."""
    return all(t is None or t.tzinfo is not None for t in times)


def _words(values: Iterable[str]) -> str:
    return ", ".join(values) or "none"


# Views -------------------------------------------------------------------------------


def _pledge_view(session: Session, pledge: Pledge) -> PledgeView:
    session.refresh(pledge)
    who = session.get_one(Partner, pledge.partner_id)
    request = (
        session.scalar(select(AidRequest.number).where(AidRequest.id == pledge.request_id))
        if pledge.request_id is not None
        else None
    )
    offer = (
        session.scalar(select(Offer.number).where(Offer.id == pledge.offer_id))
        if pledge.offer_id is not None
        else None
    )
    shipped = _shipped(session, pledge.id)
    received = _pledge_received(session, pledge.id)
    lines = tuple(
        PledgeLineView(
            item.code,
            item.unit,
            int(line.quantity),
            shipped.get(item.id, 0),
            received.get(item.id, 0),
        )
        for line, item in session.execute(
            select(PledgeLine, Item)
            .join(Item, Item.id == PledgeLine.item_id)
            .where(PledgeLine.pledge_id == pledge.id)
            .order_by(PledgeLine.id)
        )
    )
    shipments = tuple(
        ShipmentBrief(str(number), str(status), str(code))
        for number, status, code in session.execute(
            select(Shipment.number, Shipment.status, Facility.code)
            .join(Facility, Facility.id == Shipment.destination_id)
            .where(Shipment.pledge_id == pledge.id)
            .order_by(Shipment.id)
        )
    )
    return PledgeView(
        number=pledge.number,
        status=pledge.status,
        partner=who.code,
        partner_name=who.name,
        request=request,
        offer=offer,
        org_unit=unit_by_id(session, pledge.org_unit_id).code,
        pledged_at=pledge.pledged_at,
        expected_by=pledge.expected_by,
        created_by=pledge.created_by,
        created_at=pledge.created_at,
        status_at=pledge.status_at,
        illustrative=pledge.illustrative,
        lines=lines,
        shipments=shipments,
        events=_events(session, "pledge", pledge.id),
    )


def _receipt_view(session: Session, receipt: Receipt) -> ReceiptView:
    lines = tuple(
        (str(item), str(lot), int(total or 0))
        for item, lot, total in session.execute(
            select(Item.code, Lot.code, func.sum(StockEntry.quantity))
            .join(Item, Item.id == StockEntry.item_id)
            .join(Lot, Lot.id == StockEntry.lot_id)
            .where(StockEntry.batch_id == receipt.stock_batch_id)
            .group_by(Item.code, Lot.code)
            .order_by(Item.code, Lot.code)
        )
    )
    return ReceiptView(
        receipt.stock_batch_id,
        receipt.received_at,
        receipt.received_by,
        receipt.recorded_by,
        receipt.recorded_at,
        lines,
    )


def _shipment_view(session: Session, shipment: Shipment) -> ShipmentView:
    session.refresh(shipment)
    pledge = session.get_one(Pledge, shipment.pledge_id, populate_existing=True)
    who = session.get_one(Partner, shipment.partner_id)
    place, _path = _place(session, shipment.destination_id)
    received = _received(session, [shipment.number])
    lines = tuple(
        ShipmentLineView(
            item.code,
            item.unit,
            line.lot,
            line.expiry,
            int(line.quantity),
            received.get((shipment.number, item.id, line.lot), 0),
        )
        for line, item in session.execute(
            select(ShipmentLine, Item)
            .join(Item, Item.id == ShipmentLine.item_id)
            .where(ShipmentLine.shipment_id == shipment.id)
            .order_by(ShipmentLine.id)
        )
    )
    receipts = tuple(
        _receipt_view(session, r)
        for r in session.scalars(
            select(Receipt).where(Receipt.shipment_id == shipment.id).order_by(Receipt.id)
        )
    )
    return ShipmentView(
        number=shipment.number,
        status=shipment.status,
        pledge=pledge.number,
        partner=who.code,
        partner_name=who.name,
        org_unit=unit_by_id(session, pledge.org_unit_id).code,
        destination=place.code,
        destination_name=place.name,
        carrier=shipment.carrier,
        route=shipment.route,
        border_crossing=shipment.border_crossing,
        customs_status=shipment.customs_status,
        customs_at=shipment.customs_at,
        departed_at=shipment.departed_at,
        expected_at=shipment.expected_at,
        arrived_at=shipment.arrived_at,
        created_by=shipment.created_by,
        created_at=shipment.created_at,
        status_at=shipment.status_at,
        illustrative=shipment.illustrative,
        lines=lines,
        receipts=receipts,
        events=_events(session, "shipment", shipment.id),
    )


# Pledges -----------------------------------------------------------------------------


def create_pledge(
    session: Session,
    partner: str,
    lines: Sequence[LineIn],
    *,
    request: str | None = None,
    offer: str | None = None,
    unit: str | None = None,
    expected_by: date | None = None,
    note: str | None = None,
    illustrative: bool = False,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> PledgeView:
    """Record that ``partner`` (its code) pledged ``lines``, answering ``request`` or
    ``offer`` (their numbers; one is required), at ``at`` (default now).

    The request must be the partner's and have gone out (not a draft, not
    declined, not left without response); the offer must be the partner's and
    accepted; the pledge is not dated before the request was sent or the offer
    received, nor in the future. Items are from the catalogue, once each, in
    whole units above zero. ``unit`` (an org unit's code) defaults to the
    request's (or the offer's) unit; the user needs ``aid.write`` over it.
    Numbered ``PLG-<year>-NNNN``. Refused as a whole (nothing written) with every
    reason.
    """

    def step() -> PledgeView:
        recorded = now()
        who = partner_by_code(session, partner)
        asked = _request(session, request) if request is not None else None
        offered = _offer(session, offer) if offer is not None else None
        if unit is not None:
            where = org_unit(session, unit)
        elif asked is not None:
            where = unit_by_id(session, asked.org_unit_id)
        elif offered is not None:
            where = unit_by_id(session, offered.org_unit_id)
        else:
            where = org_unit(session, None)
        authorize(principal, Permission.AID_WRITE, where.path, f"record a pledge in {where.code}")
        reasons: list[str] = []
        when = moment(at, recorded, "of the pledge", reasons)
        timed = _zoned(at)
        if asked is None and offered is None:
            reasons.append(
                "a pledge answers a request or an accepted offer of the partner: name one"
            )
        if asked is not None:
            if asked.partner_id != who.id:
                reasons.append(
                    f"request {asked.number} was made to"
                    f" {_partner_code(session, asked.partner_id)}, not to {who.code}"
                )
            if asked.status in REQUEST_NOT_PLEDGEABLE:
                reasons.append(
                    f"request {asked.number} is {asked.status}: a pledge answers a request"
                    " that went out and was not declined"
                )
            sent = asked.sent_at or asked.created_at
            if timed and when < sent:
                reasons.append(
                    f"the pledge ({when.isoformat()}) is dated before request {asked.number}"
                    f" went out ({alike(sent, when)})"
                )
        if offered is not None:
            if offered.partner_id != who.id:
                reasons.append(
                    f"offer {offered.number} was made by"
                    f" {_partner_code(session, offered.partner_id)}, not by {who.code}"
                )
            if offered.status != OFFER_PLEDGEABLE:
                reasons.append(
                    f"offer {offered.number} is {offered.status}, not accepted: a pledge"
                    " answers an offer once it is accepted"
                )
            if timed and when < offered.received_at:
                reasons.append(
                    f"the pledge ({when.isoformat()}) is dated before offer {offered.number}"
                    f" was received ({alike(offered.received_at, when)})"
                )
        if timed and expected_by is not None and expected_by < when.date():
            reasons.append(
                f"the goods are expected by {expected_by.isoformat()}, before the pledge"
                f" ({when.date().isoformat()})"
            )
        made = checked_lines(session, lines, reasons)
        for item, line in made:
            if line.quantity > MAX_COUNT:
                reasons.append(
                    f"{item.code}: {line.quantity:,} is more than a count holds ({MAX_COUNT:,})"
                )
        _within_answered(session, asked, offered, made, reasons)
        said = text(note, "the note", reasons, required=False)
        if reasons:
            raise AidRefused(f"pledge by {who.code}", reasons)
        pledge = Pledge(
            number=next_number(session, Pledge, "pledge", when),
            partner_id=who.id,
            request_id=asked.id if asked is not None else None,
            offer_id=offered.id if offered is not None else None,
            org_unit_id=where.id,
            status="open",
            pledged_at=when,
            expected_by=expected_by,
            created_by=user,
            created_at=recorded,
            status_at=when,
            illustrative=illustrative,
        )
        session.add(pledge)
        session.flush()
        for item, line in made:
            session.add(PledgeLine(pledge_id=pledge.id, item_id=item.id, quantity=line.quantity))
        record(session, "pledge", pledge.id, by=user, at=when, to_status="open", note=said, now=now)
        session.flush()
        return _pledge_view(session, pledge)

    return write(session, step, what=f"the pledge by {partner}", lock_timeout=lock_timeout)


def _within_answered(
    session: Session,
    asked: AidRequest | None,
    offered: Offer | None,
    made: Sequence[tuple[Item, LineIn]],
    reasons: list[str],
) -> None:
    """Why the pledge's lines exceed what it answers, if so: only items of the request
    (what the partner accepted of each, once recorded; else what was asked) and of the
    offer (what was offered), less what the partner's other open or fulfilled pledges
    answering it already promised."""
    for what, limit, answering, word in _answerable(session, asked, offered):
        promised: dict[int, int] = {
            i: int(q)
            for i, q in session.execute(
                select(PledgeLine.item_id, func.sum(PledgeLine.quantity))
                .join(Pledge, Pledge.id == PledgeLine.pledge_id)
                .where(answering, Pledge.status != "cancelled")
                .group_by(PledgeLine.item_id)
            )
        }
        for item, line in made:
            if item.id not in limit:
                reasons.append(f"{item.code} is not on {what}")
                continue
            left = max(0, limit[item.id] - promised.get(item.id, 0))
            if line.quantity > left:
                reasons.append(
                    f"{item.code}: {line.quantity:,} pledged, more than is left to pledge of"
                    f" {what} ({limit[item.id]:,} {word}, {promised.get(item.id, 0):,} pledged"
                    f" already: at most {left:,})"
                )


def _answerable(
    session: Session, asked: AidRequest | None, offered: Offer | None
) -> list[tuple[str, dict[int, int], Any, str]]:
    """For the request and the offer a pledge answers (either or both): its name, the
    units of each item it leaves to pledge in all, the condition on the pledges
    answering it, and what those units are (asked, accepted, offered)."""
    found: list[tuple[str, dict[int, int], Any, str]] = []
    if asked is not None:
        rows = session.execute(
            select(RequestLine.item_id, RequestLine.quantity, RequestLine.accepted).where(
                RequestLine.request_id == asked.id
            )
        ).all()
        found.append(
            (
                f"request {asked.number}",
                {i: (int(a) if a is not None else int(q)) for i, q, a in rows},
                Pledge.request_id == asked.id,
                "asked" if all(a is None for _, _, a in rows) else "accepted",
            )
        )
    if offered is not None:
        lines = session.execute(
            select(OfferLine.item_id, OfferLine.quantity).where(OfferLine.offer_id == offered.id)
        )
        found.append(
            (
                f"offer {offered.number}",
                {i: int(q) for i, q in lines},
                Pledge.offer_id == offered.id,
                "offered",
            )
        )
    return found


def _request(session: Session, number: str) -> AidRequest:
    return load(session, AidRequest, number, "request")


def _offer(session: Session, number: str) -> Offer:
    return load(session, Offer, number, "offer")


def cancel_pledge(
    session: Session,
    number: str,
    *,
    reason: str,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> PledgeView:
    """Cancel an open pledge, saying why: what it still promised will not come.

    Refused while one of its shipments is on its way (planned, in transit, at
    the border, arrived and not received): cancel or receive those first. What
    was received stays received (the ledger's entries are not touched).
    """

    def step() -> PledgeView:
        recorded = now()
        pledge = _pledge(session, number)
        where = unit_by_id(session, pledge.org_unit_id)
        authorize(principal, Permission.AID_WRITE, where.path, f"cancel pledge {number}")

        def nothing_moving(when: datetime, reasons: list[str]) -> None:
            moving = session.execute(
                select(Shipment.number, Shipment.status)
                .where(Shipment.pledge_id == pledge.id, Shipment.status.in_(ON_THE_WAY))
                .order_by(Shipment.id)
            ).all()
            if moving:
                reasons.append(
                    "shipments on their way: "
                    + ", ".join(f"{n} ({s})" for n, s in moving)
                    + ": cancel or receive them first"
                )

        settle(
            session, Pledge, "pledge", pledge, "cancelled", allowed_from=("open",),
            reason=reason, reason_is="the reason for the cancellation", at=at,
            recorded=recorded, previous=pledge.status_at, step_is="the cancellation", by=user,
            checks=nothing_moving,
        )  # fmt: skip
        return _pledge_view(session, pledge)

    return write(
        session, step, what=f"the cancellation of pledge {number}", lock_timeout=lock_timeout
    )


# Shipments ---------------------------------------------------------------------------


def _ship_lines(
    session: Session,
    pledge: Pledge,
    given: Sequence[ShipLineIn],
    departure: datetime | None,
    reasons: list[str],
) -> list[tuple[Item, str, date, int]]:
    """The lines of a new shipment, checked: each (item, lot) once, the item on the
    pledge, the lot and its expiry given and not expired at ``departure``, the
    same expiry as the ledger (or another shipment) has for the lot, and the
    pledge's quantity not exceeded."""
    if not given:
        reasons.append("no lines: name at least one item, its lot, expiry and quantity")
        return []
    pledged: dict[int, int] = {}
    codes: list[str] = []
    for item_id, code, quantity in session.execute(
        select(PledgeLine.item_id, Item.code, PledgeLine.quantity)
        .join(Item, Item.id == PledgeLine.item_id)
        .where(PledgeLine.pledge_id == pledge.id)
        .order_by(PledgeLine.id)
    ):
        pledged[int(item_id)] = int(quantity)
        codes.append(str(code))
    items = items_by_code(session, [line.item for line in given])
    day = departure.date() if departure is not None else None
    seen: set[tuple[int, str]] = set()
    made: list[tuple[Item, str, date, int]] = []
    for n, line in enumerate(given, 1):
        item = items.get(line.item)
        if item is None:
            reasons.append(f"line {n}: unknown item {line.item!r}")
            continue
        where = f"line {n} ({item.code})"
        if item.id not in pledged:
            reasons.append(f"{where}: not on pledge {pledge.number} (it pledges {_words(codes)})")
            continue
        lot = text(line.lot, f"{where}: the lot", reasons, required=True, most=MAX_LOT)
        if lot is None:
            continue
        if (item.id, lot) in seen:
            reasons.append(f"{where}: lot {lot} is listed twice (one line per lot)")
            continue
        seen.add((item.id, lot))
        if not whole(line.quantity) or line.quantity <= 0:
            reasons.append(
                f"{where} lot {lot}: the quantity must be a whole number of {item.unit}s"
                f" above 0 (got {line.quantity!r})"
            )
            continue
        if line.quantity > MAX_COUNT:
            reasons.append(
                f"{where} lot {lot}: {line.quantity:,} is more than a count holds ({MAX_COUNT:,})"
            )
            continue
        if line.expiry is None:
            reasons.append(f"{where} lot {lot}: give the lot's expiry date")
            continue
        if day is not None and line.expiry < day:
            reasons.append(
                f"{where} lot {lot}: expired on {line.expiry.isoformat()}, before it leaves"
                f" ({day.isoformat()})"
            )
            continue
        clash = _expiry_clash(session, item, lot, line.expiry)
        if clash is not None:
            reasons.append(f"{where} lot {lot}: {clash}")
            continue
        made.append((item, lot, line.expiry, line.quantity))
    _within_pledge(session, pledge, pledged, made, reasons)
    return made


def _expiry_clash(session: Session, item: Item, lot: str, expiry: date) -> str | None:
    """Why ``lot`` of ``item`` cannot expire on ``expiry``: the stock ledger, or a
    shipment not cancelled, has it expiring on another day (the ledger would refuse
    its receipt)."""
    known = session.scalar(select(Lot.expiry).where(Lot.item_id == item.id, Lot.code == lot))
    if known is not None and known != expiry:
        return (
            f"the stock ledger has this lot expiring on {known.isoformat()},"
            f" not {expiry.isoformat()}"
        )
    other = session.execute(
        select(Shipment.number, ShipmentLine.expiry)
        .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
        .where(
            ShipmentLine.item_id == item.id,
            ShipmentLine.lot == lot,
            ShipmentLine.expiry != expiry,
            Shipment.status != "cancelled",
        )
        .order_by(Shipment.id)
        .limit(1)
    ).first()
    if other is not None:
        return (
            f"shipment {other[0]} has this lot expiring on {other[1].isoformat()},"
            f" not {expiry.isoformat()}"
        )
    return None


def _within_pledge(
    session: Session,
    pledge: Pledge,
    pledged: dict[int, int],
    made: Sequence[tuple[Item, str, date, int]],
    reasons: list[str],
) -> None:
    """A reason for each item of which the pledge's shipments not cancelled, with this
    one, would carry more than was pledged."""
    before = _shipped(session, pledge.id)
    this: dict[int, int] = defaultdict(int)
    items: dict[int, Item] = {}
    for item, _lot, _expiry, quantity in made:
        this[item.id] += quantity
        items[item.id] = item
    for item_id, quantity in this.items():
        item = items[item_id]
        shipped = before.get(item_id, 0)
        if shipped + quantity > pledged[item_id]:
            reasons.append(
                f"{item.code}: {unit_word(pledged[item_id], item.unit)} pledged by"
                f" {pledge.number}, {shipped:,} shipped already: {quantity:,} more would"
                f" exceed the pledge (at most {max(0, pledged[item_id] - shipped):,} left to"
                " ship)"
            )


def create_shipment(
    session: Session,
    pledge: str,
    destination: str,
    lines: Sequence[ShipLineIn],
    *,
    carrier: str | None = None,
    route: str | None = None,
    border_crossing: str | None = None,
    departed_at: datetime | None = None,
    expected_at: date | None = None,
    note: str | None = None,
    illustrative: bool = False,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> ShipmentView:
    """Record a shipment of goods of ``pledge`` (its number) to ``destination`` (a
    stockpile's or a warehouse's code), lot by lot.

    Planned, or in transit when ``departed_at`` is given (not in the future).
    Refused, with every reason and nothing written: an unknown pledge
    (NotFoundError) or one not open; a destination that is not a stockpile or
    warehouse; an item not on the pledge; a lot without expiry, expired at
    departure (or when planned), or with another expiry than the ledger or
    another shipment has for it; more of an item than the pledge leaves to ship
    (the shipments not cancelled count); an expected arrival before the
    departure; a user without ``aid.write`` over the pledge's unit. Numbered
    ``SHP-<year>-NNNN`` by the year of its departure (or of ``at`` when planned).
    """

    def step() -> ShipmentView:
        recorded = now()
        promised = _pledge(session, pledge)
        where = unit_by_id(session, promised.org_unit_id)
        authorize(
            principal, Permission.AID_WRITE, where.path, f"ship goods of pledge {promised.number}"
        )
        place, _path = facility(session, destination)
        reasons: list[str] = []
        if promised.status != "open":
            reasons.append(
                f"pledge {promised.number} is {promised.status}: goods are shipped against an"
                " open pledge"
            )
        if place.type not in DESTINATION_TYPES:
            reasons.append(
                f"{place.code} is a {place.type}: aid is received at a stockpile or a warehouse"
            )
        when = moment(at, recorded, "of the shipment", reasons)
        departed = (
            moment(departed_at, recorded, "of the departure", reasons) if departed_at else None
        )
        start = departed or when
        timed = _zoned(at, departed_at)
        if timed and start < promised.pledged_at:
            reasons.append(
                f"the shipment ({start.isoformat()}) is dated before pledge {promised.number}"
                f" ({alike(promised.pledged_at, start)})"
            )
        if timed and expected_at is not None and expected_at < start.date():
            reasons.append(
                f"expected on {expected_at.isoformat()}, before it"
                f" {'left' if departed else 'was planned'} ({start.date().isoformat()})"
            )
        said_carrier = text(carrier, "the carrier", reasons, required=False, most=MAX_CARRIER)
        said_route = text(route, "the route", reasons, required=False, most=MAX_ROUTE)
        said_border = text(
            border_crossing, "the border crossing", reasons, required=False, most=MAX_BORDER
        )
        said = text(note, "the note", reasons, required=False)
        made = _ship_lines(session, promised, lines, start if timed else None, reasons)
        if reasons:
            raise AidRefused(f"shipment of pledge {promised.number}", reasons)
        status = "in_transit" if departed else "planned"
        shipment = Shipment(
            number=next_number(session, Shipment, "shipment", start),
            pledge_id=promised.id,
            partner_id=promised.partner_id,
            destination_id=place.id,
            status=status,
            carrier=said_carrier,
            route=said_route,
            border_crossing=said_border,
            customs_status=None,
            customs_at=None,
            departed_at=departed,
            expected_at=expected_at,
            arrived_at=None,
            created_by=user,
            created_at=recorded,
            status_at=start,
            illustrative=illustrative,
        )
        session.add(shipment)
        session.flush()
        for item, lot, expiry, quantity in made:
            session.add(
                ShipmentLine(
                    shipment_id=shipment.id,
                    item_id=item.id,
                    lot=lot,
                    expiry=expiry,
                    quantity=quantity,
                )
            )
        record(
            session,
            "shipment",
            shipment.id,
            by=user,
            at=start,
            to_status=status,
            note=said,
            now=now,
        )
        session.flush()
        return _shipment_view(session, shipment)

    return write(session, step, what=f"a shipment of pledge {pledge}", lock_timeout=lock_timeout)


def _step_reasons(
    shipment: Shipment, status: str | None, customs: str | None, reasons: list[str]
) -> None:
    """What is wrong with moving ``shipment`` to ``status`` and its customs to ``customs``."""
    becomes = shipment.status
    if status is not None:
        if status not in UPDATE_STATUSES:
            reasons.append(
                f"unknown shipment status {status!r}: choose one of"
                f" {', '.join(UPDATE_STATUSES)} (cancel_shipment cancels, receive_shipment"
                " receives)"
            )
        elif status not in MOVES.get(shipment.status, ()):
            reasons.append(
                f"shipment {shipment.number} is {shipment.status}: it can become"
                f" {_words(MOVES.get(shipment.status, ()))}, not {status}"
            )
        else:
            becomes = status
    customs_now = shipment.customs_status
    if customs is not None:
        if customs not in CUSTOMS_STATUSES:
            reasons.append(
                f"unknown customs status {customs!r}: choose one of {', '.join(CUSTOMS_STATUSES)}"
            )
        elif becomes not in CUSTOMS_WHERE:
            reasons.append(
                f"shipment {shipment.number} is {becomes}: customs are recorded at the"
                " border or on arrival"
            )
        elif customs not in CUSTOMS_MOVES[shipment.customs_status]:
            reasons.append(
                f"customs of shipment {shipment.number} are {shipment.customs_status}"
                f" already: they can become"
                f" {_words(CUSTOMS_MOVES[shipment.customs_status])}, not {customs}"
            )
        else:
            customs_now = customs
    if status == "arrived" and customs_now == "held":
        reasons.append(
            f"shipment {shipment.number} is held at customs: it has not arrived; record"
            " the clearance first"
        )


def _touch(
    session: Session,
    shipment: Shipment,
    values: dict[str, Any],
    *,
    by: str,
    at: datetime,
    note: str | None,
    now: Callable[[], datetime],
) -> None:
    """Change a shipment's customs or expected arrival, its status staying what was read
    (of two writers, one wins), and record the step in its history."""
    read = shipment.status
    changed = session.execute(
        update(Shipment)
        .where(
            Shipment.id == shipment.id,
            Shipment.status == read,
            Shipment.customs_status.is_(None)
            if shipment.customs_status is None
            else Shipment.customs_status == shipment.customs_status,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            f"shipment {shipment.number} was changed meanwhile: nothing was written"
        )
    record(
        session,
        "shipment",
        shipment.id,
        by=by,
        at=at,
        from_status=read,
        to_status=read,
        note=note,
        now=now,
    )
    session.flush()
    session.expire(shipment)


def update_shipment(
    session: Session,
    number: str,
    *,
    status: str | None = None,
    customs: str | None = None,
    expected_at: date | None = None,
    note: str | None = None,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> ShipmentView:
    """A shipment's next step at ``at`` (default now): ``status`` in_transit (it left:
    the departure time), at_border or arrived (the actual arrival time);
    ``customs`` pending, held or cleared (with the time); a new ``expected_at``.

    Moves: planned -> in_transit -> at_border -> arrived, or in_transit ->
    arrived (no border). Customs are recorded at the border or on arrival:
    pending -> held or cleared, held -> pending or cleared; a shipment held at
    customs has not arrived. The time is not before the previous step (the
    last status change or customs) and not in the future. Only a shipment on
    its way changes (ConflictError otherwise).
    """

    def step() -> ShipmentView:
        recorded = now()
        shipment = _shipment(session, number)
        promised = session.get_one(Pledge, shipment.pledge_id, populate_existing=True)
        where = unit_by_id(session, promised.org_unit_id)
        authorize(principal, Permission.AID_WRITE, where.path, f"update shipment {number}")
        expect("shipment", shipment.number, shipment.status, ON_THE_WAY, status or "updated")
        reasons: list[str] = []
        if status is None and customs is None and expected_at is None:
            reasons.append("nothing to change: give a status, customs or an expected arrival")
        when = moment(at, recorded, "of the update", reasons)
        previous = max(t for t in (shipment.status_at, shipment.customs_at) if t is not None)
        if _zoned(at) and when < previous:
            reasons.append(
                f"at {when.isoformat()}, before the shipment's previous step"
                f" ({alike(previous, when)})"
            )
        _step_reasons(shipment, status, customs, reasons)
        if expected_at is not None:
            start = shipment.departed_at or shipment.status_at
            if expected_at < start.date():
                reasons.append(
                    f"expected on {expected_at.isoformat()}, before it"
                    f" {'left' if shipment.departed_at else 'was planned'}"
                    f" ({start.date().isoformat()})"
                )
        said = text(note, "the note", reasons, required=False)
        if reasons:
            raise AidRefused(f"shipment {shipment.number}", reasons)
        values: dict[str, Any] = {}
        if status == "in_transit":
            values["departed_at"] = when
        if status == "arrived":
            values["arrived_at"] = when
        if customs is not None:
            values["customs_status"] = customs
            values["customs_at"] = when
        if expected_at is not None:
            values["expected_at"] = expected_at
        words = [
            *([f"customs {customs}"] if customs is not None else []),
            *([f"expected on {expected_at.isoformat()}"] if expected_at is not None else []),
            *([said] if said else []),
        ]
        told = "; ".join(words) or None
        if status is not None:
            change_status(
                session,
                Shipment,
                "shipment",
                shipment,
                status,
                allowed_from=(shipment.status,),
                by=user,
                at=when,
                note=told,
                values=values,
            )
        else:
            _touch(session, shipment, values, by=user, at=when, note=told, now=now)
        return _shipment_view(session, shipment)

    return write(session, step, what=f"the update of shipment {number}", lock_timeout=lock_timeout)


def cancel_shipment(
    session: Session,
    number: str,
    *,
    reason: str,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> ShipmentView:
    """Cancel a shipment of which nothing was received, saying why; its quantities no
    longer count against the pledge."""

    def step() -> ShipmentView:
        recorded = now()
        shipment = _shipment(session, number)
        promised = session.get_one(Pledge, shipment.pledge_id, populate_existing=True)
        where = unit_by_id(session, promised.org_unit_id)
        authorize(principal, Permission.AID_WRITE, where.path, f"cancel shipment {number}")

        def nothing_received(when: datetime, reasons: list[str]) -> None:
            arrived = sum(_received(session, [shipment.number]).values())
            if arrived:
                reasons.append(
                    f"{arrived:,} units of shipment {shipment.number} were received already"
                    " (the stock ledger): a shipment is cancelled only when nothing was"
                    " received"
                )

        settle(
            session, Shipment, "shipment", shipment, "cancelled", allowed_from=ON_THE_WAY,
            reason=reason, reason_is="the reason for the cancellation", at=at,
            recorded=recorded, step_is="the cancellation", by=user, checks=nothing_received,
            previous=max(t for t in (shipment.status_at, shipment.customs_at) if t is not None),
        )  # fmt: skip
        return _shipment_view(session, shipment)

    return write(
        session, step, what=f"the cancellation of shipment {number}", lock_timeout=lock_timeout
    )


def close_shipment(
    session: Session,
    number: str,
    *,
    reason: str,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> ShipmentView:
    """Close a partly received shipment short: what did not arrive is no longer
    expected (the gap stops counting it), and the history says how much, and why.
    Goods that turn up later can still be received under its number."""

    def step() -> ShipmentView:
        recorded = now()
        shipment = _shipment(session, number)
        promised = session.get_one(Pledge, shipment.pledge_id, populate_existing=True)
        where = unit_by_id(session, promised.org_unit_id)
        authorize(principal, Permission.AID_WRITE, where.path, f"close shipment {number}")
        shipped = sum(
            int(q)
            for q in session.scalars(
                select(ShipmentLine.quantity).where(ShipmentLine.shipment_id == shipment.id)
            )
        )
        arrived = sum(_received(session, [shipment.number]).values())
        settle(
            session, Shipment, "shipment", shipment, "received",
            allowed_from=("partly_received",), reason=reason,
            reason_is="the reason for closing it short", at=at, recorded=recorded,
            previous=shipment.status_at, step_is="the closing", by=user,
            note=lambda why: (
                f"{CLOSED_SHORT} {shipped - arrived:,} of {shipped:,} units never arrived ({why})"
            ),
        )  # fmt: skip
        return _shipment_view(session, shipment)

    return write(session, step, what=f"the closing of shipment {number}", lock_timeout=lock_timeout)


# Receipt -----------------------------------------------------------------------------


def _closed_short(session: Session, shipment: Shipment) -> bool:
    """Whether the shipment is received because it was closed short (its history's
    last step to ``received`` is :func:`close_shipment`'s), not received in full."""
    if shipment.status != "received":
        return False
    last = session.scalar(
        select(AidEvent.note)
        .where(
            AidEvent.subject == "shipment",
            AidEvent.subject_id == shipment.id,
            AidEvent.to_status == "received",
            AidEvent.from_status != "received",
        )
        .order_by(AidEvent.id.desc())
        .limit(1)
    )
    return (last or "").startswith(CLOSED_SHORT)


def _receivable(shipment: Shipment, reasons: list[str]) -> None:
    """Why the shipment's goods cannot be received now, if so."""
    if shipment.status == "planned":
        reasons.append(
            f"shipment {shipment.number} is planned: it has not left; record its departure first"
        )
    elif shipment.status not in RECEIVABLE:
        reasons.append(f"shipment {shipment.number} is {shipment.status}: nothing to receive")
    if shipment.customs_status in ("held", "pending"):
        reasons.append(
            f"shipment {shipment.number}"
            + (" is held at customs" if shipment.customs_status == "held" else " awaits customs")
            + f" ({iso(shipment.customs_at)}): record the clearance first"
        )


def _receipt_movements(
    shipment: Shipment,
    carried: dict[tuple[str, str], tuple[ShipmentLine, Item]],
    lines: Sequence[ReceiveLineIn],
    *,
    arrived: dict[tuple[str, int, str], int],
    place: str,
    donor: str,
    when: datetime,
    reasons: list[str],
) -> list[Movement]:
    """The ledger's receipts of ``lines`` at ``place``, from ``donor``: each a lot the
    shipment ``carried``, once, at most what was shipped and has not ``arrived``."""
    movements: list[Movement] = []
    seen: set[tuple[str, str]] = set()
    if not lines:
        reasons.append("no lines: name each lot received and its quantity")
    for n, given in enumerate(lines, 1):
        key = (given.item, given.lot)
        found = carried.get(key)
        if found is None:
            reasons.append(
                f"line {n}: {given.item} lot {given.lot!r} is not on shipment"
                f" {shipment.number} (it carries"
                f" {_words(f'{i} lot {lot}' for i, lot in carried)})"
            )
            continue
        if key in seen:
            reasons.append(f"line {n}: {given.item} lot {given.lot} is listed twice")
            continue
        seen.add(key)
        line, item = found
        where_ = f"line {n} ({item.code} lot {line.lot})"
        if not whole(given.quantity) or given.quantity <= 0:
            reasons.append(
                f"{where_}: the quantity must be a whole number of {item.unit}s above 0"
                f" (got {given.quantity!r})"
            )
            continue
        already = arrived.get((shipment.number, item.id, line.lot), 0)
        left = max(0, int(line.quantity) - already)
        if given.quantity > left:
            reasons.append(
                f"{where_}: {int(line.quantity):,} shipped, {already:,} received already:"
                f" {unit_word(left, item.unit)} left to receive, not {given.quantity:,}"
            )
            continue
        movements.append(
            Movement(
                when,
                "receipt",
                place,
                item.code,
                given.quantity,
                lot=line.lot,
                expiry=line.expiry,
                counterparty=donor,
                reference=shipment.number,
                line=n,
            )
        )
    return movements


def _fulfil(session: Session, promised: Pledge, number: str, *, by: str, at: datetime) -> None:
    """The pledge fulfilled when every pledged unit has been received (by the ledger)."""
    pledged = {
        int(item_id): int(quantity)
        for item_id, quantity in session.execute(
            select(PledgeLine.item_id, PledgeLine.quantity).where(
                PledgeLine.pledge_id == promised.id
            )
        )
    }
    got = _pledge_received(session, promised.id)
    if all(got.get(item_id, 0) >= quantity for item_id, quantity in pledged.items()):
        change_status(
            session,
            Pledge,
            "pledge",
            promised,
            "fulfilled",
            allowed_from=("open",),
            by=by,
            at=at,
            note=f"every pledged unit received (the last with shipment {number})",
        )


def receive_shipment(
    session: Session,
    number: str,
    lines: Sequence[ReceiveLineIn],
    *,
    received_by: str,
    note: str | None = None,
    channel: str = "cli",
    zone: tzinfo = UTC,
    user: str,
    principal: Principal | None = None,
    at: datetime | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> ReceiveResult:
    """Receive goods of shipment ``number`` at its warehouse, signed by ``received_by``:
    the units of each lot accepted (a partial delivery, or the rest).

    ``zone`` is the country's time zone, in which the ledger reads a lot's expiry
    day (the command line and the API pass it). In one transaction: ``receipt``
    entries in the stock ledger (through
    :class:`~sitroom.supply.ledger.Ledger`) at the shipment's destination, with
    the partner's name as ``counterparty``, the shipment's number as
    ``reference`` and the lot's expiry from the shipment line; the
    ``aid_receipt`` row linking the ledger's batch; the shipment partly
    received or received (and arrived, if its arrival was not recorded); the
    pledge fulfilled when every pledged unit has been received.

    Goods that turn up after the shipment was closed short are received (into the
    ledger, under its number) without reopening it.

    Refused, with every reason and nothing written: a lot not on the shipment;
    more of a lot than was shipped and not yet received (the ledger's receipts
    under the number); a shipment planned (not left), cancelled, held at
    customs or awaiting them; a time before the shipment's departure, recorded
    arrival, last customs step or last step (its history never goes back in
    time), or in the future; no receiver; a user without ``stock.write`` over the warehouse (the
    logistician who keeps its stock signs the goods in; ``aid.write`` is not
    needed); anything the ledger refuses.
    """

    def step() -> ReceiveResult:
        recorded = now()
        shipment = _shipment(session, number)
        promised = session.get_one(Pledge, shipment.pledge_id, populate_existing=True)
        place, path = _place(session, shipment.destination_id)
        action = f"receive shipment {shipment.number}"
        # Receiving is a stock operation: whoever keeps the warehouse's stock signs the
        # goods in (a logistician there), without needing aid.write over the pledge.
        authorize(principal, Permission.STOCK_WRITE, path, f"{action} into {place.code}")
        # What arrived is read after the ledger's lock on the warehouse (as a post takes it):
        # a receipt under this number posted meanwhile by anyone is counted.
        advisory_lock(session, LOCK_SPACE_STOCK, place.id)
        donor = session.get_one(Partner, shipment.partner_id)
        reasons: list[str] = []
        _receivable(shipment, reasons)
        signed = text(
            received_by, "the receiver (who signed for the goods)", reasons, required=True,
            most=MAX_RECEIVER,
        )  # fmt: skip
        said = text(note, "the note", reasons, required=False)
        when = moment(at, recorded, "of the receipt", reasons)
        for then, event in (
            (shipment.departed_at, "left"),
            (shipment.arrived_at, "arrived"),
            (shipment.customs_at, f"was last seen at customs ({shipment.customs_status})"),
            (shipment.status_at, f"became {shipment.status.replace('_', ' ')}"),
        ):
            if _zoned(at) and then is not None and when < then:
                reasons.append(
                    f"received at {when.isoformat()}, before the shipment {event}"
                    f" ({alike(then, when)}): its history would go back in time"
                )
                break
        carried: dict[tuple[str, str], tuple[ShipmentLine, Item]] = {
            (item.code, line.lot): (line, item)
            for line, item in session.execute(
                select(ShipmentLine, Item)
                .join(Item, Item.id == ShipmentLine.item_id)
                .where(ShipmentLine.shipment_id == shipment.id)
                .order_by(ShipmentLine.id)
                .execution_options(populate_existing=True)
            )
        }
        arrived = _received(session, [shipment.number])
        movements = _receipt_movements(
            shipment,
            carried,
            lines,
            arrived=arrived,
            place=place.code,
            donor=donor.name,
            when=when,
            reasons=reasons,
        )
        if reasons:
            raise AidRefused(f"receipt of shipment {shipment.number}", reasons)
        summary = Ledger(
            session,
            user=user,
            channel=channel,
            principal=principal,
            lock_timeout=lock_timeout,
            now=lambda: recorded,
            # The demo's illustrative aid enters the ledger marked as the simulated supply is.
            simulated=shipment.illustrative,
            zone=zone,
        ).apply(movements, source=f"receipt of aid shipment {shipment.number}")
        if not summary.ok or summary.batch_id is None:
            raise AidRefused(
                f"receipt of shipment {shipment.number}",
                [
                    f"line {r.line}: the stock ledger refused it: {r.reason}"
                    for r in summary.rejections
                ]
                or ["the stock ledger wrote nothing"],
            )
        receipt = Receipt(
            shipment_id=shipment.id,
            stock_batch_id=summary.batch_id,
            received_at=when,
            received_by=signed or "",
            recorded_by=user,
            recorded_at=recorded,
        )
        session.add(receipt)
        session.flush()
        arrived = _received(session, [shipment.number])
        complete = all(
            arrived.get((shipment.number, item.id, line.lot), 0) >= line.quantity
            for line, item in carried.values()
        )
        units = sum(m.quantity for m in movements)
        # Goods that turn up after the shipment was closed short are received under its
        # number, but do not reopen it: what was written off stays out of the pipeline. (A
        # shipment received in full whose receipt was reversed in the ledger reopens.)
        closed = _closed_short(session, shipment)
        change_status(
            session,
            Shipment,
            "shipment",
            shipment,
            "received" if complete or closed else "partly_received",
            allowed_from=RECEIVABLE,
            by=user,
            at=when,
            note="; ".join(
                [
                    f"{units:,} {'unit' if units == 1 else 'units'} received"
                    + (" after the shipment was closed" if closed and not complete else "")
                    + f", signed by {signed}, stock batch {summary.batch_id}",
                    *([said] if said else []),
                ]
            ),
            values={} if shipment.arrived_at is not None else {"arrived_at": when},
        )
        if promised.status == "open":
            _fulfil(session, promised, shipment.number, by=user, at=when)
        session.refresh(promised)
        return ReceiveResult(
            shipment=_shipment_view(session, shipment),
            receipt=_receipt_view(session, receipt),
            pledge=promised.number,
            pledge_status=promised.status,
            summary=summary,
        )

    result = write(
        session, step, what=f"the receipt of shipment {number}", lock_timeout=lock_timeout
    )
    result.summary.committed = True
    return result


# Reading -----------------------------------------------------------------------------


def _readable(principal: Principal | None, *paths: str) -> bool:
    return principal is None or any(can_read(principal, p) for p in paths)


def _may_read_aid(principal: Principal | None) -> None:
    if principal is not None and not principal.can(Permission.AID_READ):
        raise ForbiddenError(
            f"user {principal.username!r} does not have the permission {Permission.AID_READ}"
        )


def get_pledge(session: Session, number: str, *, principal: Principal | None = None) -> PledgeView:
    """One pledge with its lines (pledged, shipped, received), shipments and history."""
    pledge = _pledge(session, number)
    where = unit_by_id(session, pledge.org_unit_id)
    authorize(principal, Permission.AID_READ, where.path, f"read pledge {number}")
    return _pledge_view(session, pledge)


def list_pledges(
    session: Session,
    *,
    partner: str | None = None,
    status: str | None = None,
    request: str | None = None,
    offer: str | None = None,
    principal: Principal | None = None,
    limit: int | None = None,
) -> list[PledgeRow]:
    """Pledges, newest first: of a partner, a status, a request or an offer; those the
    user may read (``aid.read`` over the pledge's unit)."""
    _may_read_aid(principal)
    if status is not None and status not in PLEDGE_STATUSES:
        raise SitroomError(
            f"unknown pledge status {status!r}: choose one of {', '.join(PLEDGE_STATUSES)}"
        )
    query = (
        select(Pledge, Partner.code, OrgUnit.code, OrgUnit.path)
        .join(Partner, Partner.id == Pledge.partner_id)
        .join(OrgUnit, OrgUnit.id == Pledge.org_unit_id)
        .order_by(Pledge.pledged_at.desc(), Pledge.id.desc())
    )
    if partner is not None:
        query = query.where(Pledge.partner_id == partner_by_code(session, partner).id)
    if status is not None:
        query = query.where(Pledge.status == status)
    if request is not None:
        query = query.where(Pledge.request_id == _request(session, request).id)
    if offer is not None:
        query = query.where(Pledge.offer_id == _offer(session, offer).id)
    found: list[tuple[Pledge, str, str]] = []
    for pledge, partner_code, unit_code, path in session.execute(query):
        if not _readable(principal, str(path)):
            continue
        found.append((pledge, str(partner_code), str(unit_code)))
        if limit is not None and len(found) >= limit:
            break
    ids = [p.id for p, _, _ in found]
    pledged: dict[int, tuple[int, int]] = {}
    shipped: dict[int, int] = {}
    received: dict[int, int] = {}
    for chunk in _chunks(ids):
        for pid, n_lines, units in session.execute(
            select(PledgeLine.pledge_id, func.count(PledgeLine.id), func.sum(PledgeLine.quantity))
            .where(PledgeLine.pledge_id.in_(chunk))
            .group_by(PledgeLine.pledge_id)
        ):
            pledged[int(pid)] = (int(n_lines), int(units or 0))
        for pid, units in session.execute(
            select(Shipment.pledge_id, func.sum(ShipmentLine.quantity))
            .join(ShipmentLine, ShipmentLine.shipment_id == Shipment.id)
            .where(Shipment.pledge_id.in_(chunk), Shipment.status != "cancelled")
            .group_by(Shipment.pledge_id)
        ):
            shipped[int(pid)] = int(units or 0)
        for pid, units in session.execute(
            select(Shipment.pledge_id, func.sum(StockEntry.quantity))
            .join(StockEntry, StockEntry.reference == Shipment.number)
            .where(Shipment.pledge_id.in_(chunk), StockEntry.kind == "receipt")
            .group_by(Shipment.pledge_id)
        ):
            received[int(pid)] = int(units or 0)
    requests: dict[int, str] = {}
    offers: dict[int, str] = {}
    for chunk in _chunks(sorted({p.request_id for p, _, _ in found if p.request_id})):
        for rid, number in session.execute(
            select(AidRequest.id, AidRequest.number).where(AidRequest.id.in_(chunk))
        ):
            requests[int(rid)] = str(number)
    for chunk in _chunks(sorted({p.offer_id for p, _, _ in found if p.offer_id})):
        for oid, number in session.execute(
            select(Offer.id, Offer.number).where(Offer.id.in_(chunk))
        ):
            offers[int(oid)] = str(number)
    return [
        PledgeRow(
            number=p.number,
            status=p.status,
            partner=partner_code,
            request=requests.get(p.request_id) if p.request_id else None,
            offer=offers.get(p.offer_id) if p.offer_id else None,
            org_unit=unit_code,
            pledged_at=p.pledged_at,
            expected_by=p.expected_by,
            lines=pledged.get(p.id, (0, 0))[0],
            pledged=pledged.get(p.id, (0, 0))[1],
            shipped=shipped.get(p.id, 0),
            received=received.get(p.id, 0),
            illustrative=p.illustrative,
        )
        for p, partner_code, unit_code in found
    ]


def get_shipment(
    session: Session, number: str, *, principal: Principal | None = None
) -> ShipmentView:
    """One shipment with its lots (shipped, received by the ledger, outstanding),
    receipts and history: for a reader with ``aid.read`` over the pledge's unit or
    the warehouse's."""
    shipment = _shipment(session, number)
    promised = session.get_one(Pledge, shipment.pledge_id, populate_existing=True)
    where = unit_by_id(session, promised.org_unit_id)
    _place_row, path = _place(session, shipment.destination_id)
    if not _readable(principal, where.path, path):
        assert principal is not None
        raise ForbiddenError(
            f"cannot read shipment {number}: "
            + (refusal(principal, Permission.AID_READ, where.path) or "outside the scopes")
        )
    return _shipment_view(session, shipment)


def list_shipments(
    session: Session,
    *,
    partner: str | None = None,
    status: str | None = None,
    pledge: str | None = None,
    destination: str | None = None,
    principal: Principal | None = None,
    limit: int | None = None,
) -> list[ShipmentRow]:
    """Shipments, newest first: of a partner, a status, a pledge, to a warehouse; those
    the user may read (``aid.read`` over the pledge's unit or the warehouse's)."""
    _may_read_aid(principal)
    if status is not None and status not in SHIPMENT_STATUSES:
        raise SitroomError(
            f"unknown shipment status {status!r}: choose one of {', '.join(SHIPMENT_STATUSES)}"
        )
    pledge_unit, place_unit = aliased(OrgUnit), aliased(OrgUnit)
    query = (
        select(
            Shipment,
            Pledge.number,
            Partner.code,
            Facility.code,
            pledge_unit.path,
            place_unit.path,
        )
        .join(Pledge, Pledge.id == Shipment.pledge_id)
        .join(Partner, Partner.id == Shipment.partner_id)
        .join(Facility, Facility.id == Shipment.destination_id)
        .join(pledge_unit, pledge_unit.id == Pledge.org_unit_id)
        .join(place_unit, place_unit.id == Facility.org_unit_id)
        .order_by(Shipment.status_at.desc(), Shipment.id.desc())
    )
    if partner is not None:
        query = query.where(Shipment.partner_id == partner_by_code(session, partner).id)
    if status is not None:
        query = query.where(Shipment.status == status)
    if pledge is not None:
        query = query.where(Shipment.pledge_id == _pledge(session, pledge).id)
    if destination is not None:
        place, _path = facility(session, destination)
        query = query.where(Shipment.destination_id == place.id)
    found: list[tuple[Shipment, str, str, str]] = []
    for shipment, pledge_number, partner_code, place_code, p_path, f_path in session.execute(query):
        if not _readable(principal, str(p_path), str(f_path)):
            continue
        found.append((shipment, str(pledge_number), str(partner_code), str(place_code)))
        if limit is not None and len(found) >= limit:
            break
    shipped: dict[int, int] = {}
    ids = [s.id for s, *_ in found]
    for chunk in _chunks(ids):
        for sid, units in session.execute(
            select(ShipmentLine.shipment_id, func.sum(ShipmentLine.quantity))
            .where(ShipmentLine.shipment_id.in_(chunk))
            .group_by(ShipmentLine.shipment_id)
        ):
            shipped[int(sid)] = int(units or 0)
    received: dict[str, int] = defaultdict(int)
    for (reference, _item, _lot), units in _received(
        session, [s.number for s, *_ in found]
    ).items():
        received[reference] += units
    return [
        ShipmentRow(
            number=s.number,
            status=s.status,
            pledge=pledge_number,
            partner=partner_code,
            destination=place_code,
            carrier=s.carrier,
            border_crossing=s.border_crossing,
            customs_status=s.customs_status,
            departed_at=s.departed_at,
            expected_at=s.expected_at,
            arrived_at=s.arrived_at,
            shipped=shipped.get(s.id, 0),
            received=received.get(s.number, 0),
            illustrative=s.illustrative,
        )
        for s, pledge_number, partner_code, place_code in found
    ]


def trace_lot(
    session: Session, item: str, lot: str, *, principal: Principal | None = None
) -> LotTrace:
    """Where lot ``lot`` of ``item`` came from: the stock ledger's ``receipt`` entries of
    it (facility, time, quantity, counterparty: the donor, reference), each joined to
    its shipment, pledge, partner, request or offer and receiver when the reference
    is a shipment's number. The record is the ledger's entry, not a copy. A reader
    sees the entries at facilities where they have ``stock.read`` or ``aid.read``.
    """
    if principal is not None and not (
        principal.can(Permission.STOCK_READ) or principal.can(Permission.AID_READ)
    ):
        raise ForbiddenError(
            f"user {principal.username!r} may read neither stock nor aid: cannot trace a lot"
        )
    found = items_by_code(session, [item]).get(item)
    if found is None:
        raise NotFoundError(f"unknown item {item!r}")
    the_lot = session.scalar(select(Lot).where(Lot.item_id == found.id, Lot.code == lot))
    if the_lot is None:
        raise NotFoundError(f"no lot {lot!r} of {found.code} in the stock ledger")
    rows = session.execute(
        select(StockEntry, Facility.code, Facility.name, OrgUnit.path)
        .join(Facility, Facility.id == StockEntry.facility_id)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .where(StockEntry.lot_id == the_lot.id, StockEntry.kind == "receipt")
        .order_by(StockEntry.time, StockEntry.id)
    ).all()

    def visible(path: str) -> bool:
        if principal is None:
            return True
        return any(
            refusal(principal, permission, path) is None
            for permission in (Permission.STOCK_READ, Permission.AID_READ)
        )

    entries = [(e, str(code), str(name)) for e, code, name, path in rows if visible(str(path))]
    references = sorted({e.reference for e, _, _ in entries if e.reference})
    aid: dict[str, tuple[str, str, str, str | None, str | None]] = {}
    for chunk in _chunks(references):
        for number, pledge_number, p_code, p_name, request_number, offer_number in session.execute(
            select(
                Shipment.number,
                Pledge.number,
                Partner.code,
                Partner.name,
                AidRequest.number,
                Offer.number,
            )
            .join(Pledge, Pledge.id == Shipment.pledge_id)
            .join(Partner, Partner.id == Shipment.partner_id)
            .outerjoin(AidRequest, AidRequest.id == Pledge.request_id)
            .outerjoin(Offer, Offer.id == Pledge.offer_id)
            .where(Shipment.number.in_(chunk))
        ):
            aid[str(number)] = (
                str(pledge_number),
                str(p_code),
                str(p_name),
                request_number,
                offer_number,
            )
    signed: dict[int, str] = {}
    batches = sorted({e.batch_id for e, _, _ in entries})
    for chunk in _chunks(batches):
        for batch_id, who in session.execute(
            select(Receipt.stock_batch_id, Receipt.received_by).where(
                Receipt.stock_batch_id.in_(chunk)
            )
        ):
            signed[int(batch_id)] = str(who)
    origins = []
    for entry, code, name in entries:
        link = aid.get(entry.reference or "")
        origins.append(
            LotOrigin(
                entry=entry.id,
                batch=entry.batch_id,
                facility=code,
                facility_name=name,
                time=entry.time,
                quantity=int(entry.quantity),
                counterparty=entry.counterparty,
                reference=entry.reference,
                reverses=entry.reverses_id,
                shipment=entry.reference if link else None,
                pledge=link[0] if link else None,
                partner=link[1] if link else None,
                partner_name=link[2] if link else None,
                request=link[3] if link else None,
                offer=link[4] if link else None,
                received_by=signed.get(entry.batch_id) if link else None,
            )
        )
    return LotTrace(found.code, found.unit, the_lot.code, the_lot.expiry, tuple(origins))


__all__ = [
    "CUSTOMS_MOVES",
    "DESTINATION_TYPES",
    "MOVES",
    "ON_THE_WAY",
    "RECEIVABLE",
    "EventView",
    "LineIn",
    "LotOrigin",
    "LotTrace",
    "PledgeLineView",
    "PledgeRow",
    "PledgeView",
    "ReceiptView",
    "ReceiveLineIn",
    "ReceiveResult",
    "ShipLineIn",
    "ShipmentBrief",
    "ShipmentLineView",
    "ShipmentRow",
    "ShipmentView",
    "cancel_pledge",
    "cancel_shipment",
    "create_pledge",
    "create_shipment",
    "get_pledge",
    "get_shipment",
    "list_pledges",
    "list_shipments",
    "receive_shipment",
    "trace_lot",
    "update_shipment",
]
