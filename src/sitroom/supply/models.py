"""The supply chain's tables: items, facilities and routes, lots, the stock ledger,
distribution orders.

The ledger (``stock_entry``) is append-only (a trigger refuses UPDATE and
DELETE) and is the only record of stock: every receipt, transfer, dispensing,
adjustment and stocktake is a row, a correction is a reversal row.
``stock_balance`` holds the stock on hand per facility, item and lot that
the ledger adds up to, maintained in the same transaction as each entry (and
checked against a full replay by ``sitroom supply verify``); its quantity can
never go below zero (a check constraint, the last guard behind the ledger's
own refusal).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sitroom.db import Base, BigId, UTCDateTime

#: What an item is, as the issue and OpenLMIS's product categories name them.
CATEGORIES = (
    "test_kit",
    "antipyretic",
    "antiviral",
    "antibiotic",
    "protective_equipment",
    "vaccine",
    "other",
)
#: The kinds of facility, from the top of the chain down.
FACILITY_TYPES = ("stockpile", "warehouse", "store", "pharmacy", "hospital")
#: The kinds of ledger entry (the CSV's ``event`` column).
ENTRY_KINDS = ("receipt", "transfer_out", "transfer_in", "dispense", "adjust", "stocktake")
#: Why an adjustment was made. ``found`` adds stock; the others remove it.
ADJUST_REASONS = ("expired", "damaged", "lost", "stolen", "found")
#: Where an entry came from.
CHANNELS = ("cli", "file", "api", "web", "simulation")
#: How the ``source`` of a stock batch that records a change to the facility network
#: begins (a batch without ledger entries: see :class:`StockBatch`).
NETWORK_SOURCE = "network: "
#: A distribution order's life: draft -> approved -> dispatched -> delivered -> closed,
#: or cancelled from draft or approved.
ORDER_STATUSES = ("draft", "approved", "dispatched", "delivered", "closed", "cancelled")
#: Who carried an order: the army (a named unit), civil transport, anyone else.
CARRIER_KINDS = ("army", "civil", "other")
#: Why units were rejected on a proof of delivery.
REJECTION_REASONS = ("damaged", "expired", "short_shipped", "wrong_item", "other")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Item(Base):
    """A medicine or supply, counted in ``unit`` (tablet, test, piece, dose)."""

    __tablename__ = "supply_item"
    __table_args__ = (CheckConstraint(_in("category", CATEGORIES), name="category"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))


class Facility(Base):
    """A place that holds stock, at an org unit, supplied by ``supplier``."""

    __tablename__ = "supply_facility"
    __table_args__ = (CheckConstraint(_in("type", FACILITY_TYPES), name="type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("supply_facility.id"), index=True)


class Route(Base):
    """A declared route besides supplier to customer (a warehouse lending to its
    neighbour, say); transfers go only along a supplier link or one of these."""

    __tablename__ = "supply_route"
    __table_args__ = (
        UniqueConstraint("source_id", "destination_id"),
        CheckConstraint("source_id <> destination_id", name="not_a_loop"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("supply_facility.id"))
    destination_id: Mapped[int] = mapped_column(ForeignKey("supply_facility.id"), index=True)
    declared_by: Mapped[str] = mapped_column(String(100))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Lot(Base):
    """A manufacturer's lot of an item, with its expiry date."""

    __tablename__ = "supply_lot"
    __table_args__ = (UniqueConstraint("item_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("supply_item.id"))
    code: Mapped[str] = mapped_column(String(64))
    expiry: Mapped[date] = mapped_column(Date)


class StockBatch(Base):
    """One write to the ledger: a file imported, a command, a request. The entries it
    added carry its id, so the summary and the audit say exactly what was committed.

    A change to the facility network (a facility made or changed, a route declared)
    is audited as a batch too, without entries: its ``source`` begins with
    :data:`NETWORK_SOURCE` and says what changed (``network: facility PH-1 changed:
    supplier ST-1 -> ST-2``). The audit trail lists both kinds."""

    __tablename__ = "stock_batch"
    __table_args__ = (CheckConstraint(_in("channel", CHANNELS), name="channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    entries: Mapped[int] = mapped_column(Integer)
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)


class StockEntry(Base):
    """One movement of one lot at one facility: the ledger's row (only ever inserted).

    ``quantity`` is signed: positive into the facility's stock, negative out of
    it. A transfer is two entries: ``transfer_out`` at the source and, when it
    arrives, ``transfer_in`` at the destination, sharing ``reference``; what is
    out and not yet in is in transit. A ``stocktake`` entry's quantity is the
    difference between ``counted`` and the stock on hand the ledger gave. A
    correction is a new entry with ``reverses_id`` and the opposite quantity.
    """

    __tablename__ = "stock_entry"
    __table_args__ = (
        CheckConstraint(_in("kind", ENTRY_KINDS), name="kind"),
        CheckConstraint(
            "reason IS NULL OR kind <> 'adjust' OR " + _in("reason", ADJUST_REASONS),
            name="adjust_reason",
        ),
        CheckConstraint("patients IS NULL OR patients >= 0", name="patients_not_negative"),
        CheckConstraint("counted IS NULL OR counted >= 0", name="counted_not_negative"),
        Index("ix_stock_entry_stock_time", "facility_id", "item_id", "lot_id", "time"),
        Index("ix_stock_entry_reference", "reference"),
        Index("ix_stock_entry_time", "time"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("stock_batch.id"), index=True)
    #: When it happened (UTC), as the user or the file gave it.
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    facility_id: Mapped[int] = mapped_column(ForeignKey("supply_facility.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("supply_item.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("supply_lot.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    #: The other facility of a transfer.
    counterparty_id: Mapped[int | None] = mapped_column(ForeignKey("supply_facility.id"))
    #: Who else, in words: the donor or procurement of a receipt, the carrier.
    counterparty: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(200))
    reference: Mapped[str | None] = mapped_column(String(100))
    patients: Mapped[int | None] = mapped_column(Integer)
    counted: Mapped[int | None] = mapped_column(BigInteger)
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("stock_entry.id"), unique=True, index=False
    )
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)


class StockBalance(Base):
    """Stock on hand of one lot at one facility: the ledger's sum, kept up to date."""

    __tablename__ = "stock_balance"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="not_negative"),
        Index("ix_stock_balance_item", "item_id"),
        # SQLite: rows kept in the key's order (migration 0015), so stock on hand per
        # facility and item is one pass with no sort.
        {"sqlite_with_rowid": False},
    )

    facility_id: Mapped[int] = mapped_column(ForeignKey("supply_facility.id"), primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("supply_item.id"), primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("supply_lot.id"), primary_key=True)
    quantity: Mapped[int] = mapped_column(BigInteger)
    #: The time of the latest entry (a back-dated entry before it is checked against
    #: the stock at every later moment).
    last_time: Mapped[datetime] = mapped_column(UTCDateTime)


#: The questions of a pharmacy inspection (each answered yes or no), beyond the counts.
CHECKLIST = ("stock_matches_ledger", "prices_as_set", "open_as_posted", "records_kept")
#: Where an investigation case came from, and the states it goes through.
CASE_SOURCES = ("detection", "inspection", "report")
CASE_STATUSES = ("open", "investigating", "closed")


class Inspection(Base):
    """A named inspector's visit to a facility: the checklist, the counts (posted as
    stocktakes, batch ``stock_batch_id``), findings and the photos' file names.
    Only ever inserted."""

    __tablename__ = "supply_inspection"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("supply_facility.id"), index=True)
    inspector: Mapped[str] = mapped_column(String(200))
    inspected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: JSON: each question of :data:`CHECKLIST` and its answer (true, false or null).
    checklist: Mapped[str] = mapped_column(Text)
    findings: Mapped[str] = mapped_column(Text)
    #: JSON list of the photos' file names.
    photos: Mapped[str] = mapped_column(Text)
    stock_batch_id: Mapped[int | None] = mapped_column(ForeignKey("stock_batch.id"))
    #: Units found missing (count below the ledger) and found over, across the counts.
    missing: Mapped[int] = mapped_column(BigInteger)
    surplus: Mapped[int] = mapped_column(BigInteger)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Case(Base):
    """An investigation of a facility, opened from a detection finding, an inspection
    or a report. ``evidence`` is frozen when the case is opened (a trigger refuses to
    change it) with its SHA-256; the status, assignee and outcome move on."""

    __tablename__ = "supply_case"
    __table_args__ = (
        CheckConstraint(_in("source", CASE_SOURCES), name="source"),
        CheckConstraint(_in("status", CASE_STATUSES), name="status"),
        CheckConstraint("status <> 'closed' OR outcome IS NOT NULL", name="closed_with_outcome"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_id: Mapped[int] = mapped_column(ForeignKey("supply_facility.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("supply_inspection.id"))
    title: Mapped[str] = mapped_column(String(300))
    #: JSON, as it was when the case was opened.
    evidence: Mapped[str] = mapped_column(Text)
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    assigned_to: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseNote(Base):
    """A case's history: each note, assignment and change of status (only inserted)."""

    __tablename__ = "supply_case_note"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("supply_case.id"), index=True)
    written_by: Mapped[str] = mapped_column(String(100))
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)
    status_from: Mapped[str | None] = mapped_column(String(16))
    status_to: Mapped[str | None] = mapped_column(String(16))
    assigned_to: Mapped[str | None] = mapped_column(String(100))


class DistributionOrder(Base):
    """A distribution order from ``source`` to ``destination`` (issue #11, item 4).

    ``number`` (``DO-2022-000123``) is also the ``reference`` of the ledger's
    transfer entries it makes. Each step keeps its time and its user; the
    status changes only by a conditional UPDATE (``... WHERE status = <the
    status read>``), so of two writers changing the same order one wins and
    the other is told. ``origin`` is the upstream leg whose stock this order
    forwards (stockpile -> warehouse -> store -> pharmacy), for the lead time
    of the whole chain. The history of the order is ``supply_order_event``.
    """

    __tablename__ = "supply_order"
    __table_args__ = (
        CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
        CheckConstraint(
            "carrier_kind IS NULL OR " + _in("carrier_kind", CARRIER_KINDS), name="carrier_kind"
        ),
        CheckConstraint("source_id <> destination_id", name="not_a_loop"),
        Index("ix_supply_order_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(100), unique=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("supply_facility.id"), index=True)
    destination_id: Mapped[int] = mapped_column(ForeignKey("supply_facility.id"), index=True)
    origin_id: Mapped[int | None] = mapped_column(ForeignKey("supply_order.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dispatched_by: Mapped[str | None] = mapped_column(String(100))
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The carrier in words ("KPA unit 525", "civil transport"), its vehicle and kind.
    carrier: Mapped[str | None] = mapped_column(String(200))
    vehicle: Mapped[str | None] = mapped_column(String(100))
    carrier_kind: Mapped[str | None] = mapped_column(String(16))
    #: Who recorded the delivery, and who signed the proof of delivery.
    delivered_by: Mapped[str | None] = mapped_column(String(100))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_by: Mapped[str | None] = mapped_column(String(200))
    closed_by: Mapped[str | None] = mapped_column(String(100))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(100))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The ledger batches of the dispatch (transfers out) and the delivery (in, write-offs).
    dispatch_batch_id: Mapped[int | None] = mapped_column(ForeignKey("stock_batch.id"))
    delivery_batch_id: Mapped[int | None] = mapped_column(ForeignKey("stock_batch.id"))
    simulated: Mapped[bool] = mapped_column(Boolean, default=False)


class OrderLine(Base):
    """One item of an order (one line per item, as OpenLMIS's order line items): the
    quantity ordered, optionally its lot; what was dispatched; what the proof of
    delivery accepted and rejected, with the reason."""

    __tablename__ = "supply_order_line"
    __table_args__ = (
        UniqueConstraint("order_id", "line"),
        UniqueConstraint("order_id", "item_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("dispatched IS NULL OR dispatched >= 0", name="dispatched_not_negative"),
        CheckConstraint("accepted IS NULL OR accepted >= 0", name="accepted_not_negative"),
        CheckConstraint("rejected IS NULL OR rejected >= 0", name="rejected_not_negative"),
        CheckConstraint(
            "rejection_reason IS NULL OR " + _in("rejection_reason", REJECTION_REASONS),
            name="rejection_reason",
        ),
        CheckConstraint(
            "rejected IS NULL OR rejected = 0 OR rejection_reason IS NOT NULL",
            name="rejection_has_reason",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("supply_order.id"))
    #: 1, 2, ... in the order.
    line: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(ForeignKey("supply_item.id"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("supply_lot.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    dispatched: Mapped[int | None] = mapped_column(BigInteger)
    accepted: Mapped[int | None] = mapped_column(BigInteger)
    rejected: Mapped[int | None] = mapped_column(BigInteger)
    rejection_reason: Mapped[str | None] = mapped_column(String(16))
    rejection_note: Mapped[str | None] = mapped_column(String(200))


class OrderEvent(Base):
    """One step in an order's life, only ever inserted: who, when, from and to which
    status, and why (a trigger refuses UPDATE and DELETE, as on the ledger)."""

    __tablename__ = "supply_order_event"
    __table_args__ = (
        CheckConstraint(
            "from_status IS NULL OR " + _in("from_status", ORDER_STATUSES), name="from_status"
        ),
        CheckConstraint(_in("to_status", ORDER_STATUSES), name="to_status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("supply_order.id"), index=True)
    #: When the step happened, as the user gave it (a dispatch may be recorded later).
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When it was recorded.
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(String(500))


__all__ = [
    "ADJUST_REASONS",
    "CARRIER_KINDS",
    "CASE_SOURCES",
    "CASE_STATUSES",
    "CATEGORIES",
    "CHANNELS",
    "CHECKLIST",
    "ENTRY_KINDS",
    "FACILITY_TYPES",
    "NETWORK_SOURCE",
    "ORDER_STATUSES",
    "REJECTION_REASONS",
    "Case",
    "CaseNote",
    "DistributionOrder",
    "Facility",
    "Inspection",
    "Item",
    "Lot",
    "OrderEvent",
    "OrderLine",
    "Route",
    "StockBalance",
    "StockBatch",
    "StockEntry",
]
