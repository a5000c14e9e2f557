"""Aid coordination's tables (issue #12): partners and their contacts, requests and
offers with their lines, pledges, shipments, the communications log and the
history of every status change.

What arrived is not copied here: a shipment's receipt is a ``receipt`` entry
of the stock ledger (``stock_entry``) at a named warehouse, with the donor as
its ``counterparty`` and the shipment's number as its ``reference``;
``aid_receipt`` only links the shipment to that ledger batch. The history
(``aid_event``) and the communications log (``aid_message``) are
append-only: a trigger refuses UPDATE and DELETE on both databases, as on the
ledger. A message's answer is another message pointing back at it
(``reply_to_id``), never an edit of the first.

Everything the demo adds is marked ``illustrative``: the 2022 aid history is
a plausible reconstruction from press reports, not a record.
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

#: What kind of partner: a government, a UN agency, an NGO, the Red Cross movement.
PARTNER_KINDS = ("government", "un_agency", "ngo", "red_cross", "private", "other")
#: How a partner is reached (issue #12, item 1), and how a message went.
CHANNELS = (
    "diplomatic_note",
    "liaison_office",
    "un_agency",
    "phone",
    "email",
    "meeting",
    "other",
)
#: A request's life (issue #12, item 2).
REQUEST_STATUSES = (
    "draft",
    "sent",
    "acknowledged",
    "under_discussion",
    "accepted",
    "partly_accepted",
    "declined",
    "no_response",
)
#: An offer's life.
OFFER_STATUSES = ("received", "under_review", "answered", "accepted", "declined", "lapsed")
#: A pledge is open until its goods have all arrived (fulfilled) or it is cancelled.
PLEDGE_STATUSES = ("open", "fulfilled", "cancelled")
#: Where a shipment is.
SHIPMENT_STATUSES = (
    "planned",
    "in_transit",
    "at_border",
    "arrived",
    "partly_received",
    "received",
    "cancelled",
)
#: Customs at the border crossing.
CUSTOMS_STATUSES = ("pending", "cleared", "held")
#: What a logged communication was.
MESSAGE_KINDS = ("notice", "letter", "call", "meeting", "email", "note")
#: Sent by us (``out``) or received from the partner (``in``).
DIRECTIONS = ("out", "in")
#: What an ``aid_event`` is about.
SUBJECTS = ("partner", "request", "offer", "pledge", "shipment")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Partner(Base):
    """A government, UN agency or NGO that aid is asked of or offered by."""

    __tablename__ = "aid_partner"
    __table_args__ = (CheckConstraint(_in("kind", PARTNER_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    #: ISO 3166 code of the partner's country, for a government (``CN``, ``KR``).
    country: Mapped[str | None] = mapped_column(String(8))
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)


class Contact(Base):
    """A person or office at a partner, and the channel they are reached through."""

    __tablename__ = "aid_contact"
    __table_args__ = (CheckConstraint(_in("channel", CHANNELS), name="channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("aid_partner.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    #: The phone number, e-mail address or office, in words.
    address: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AidRequest(Base):
    """What we asked of a partner, through which channel, by when and why.

    ``org_unit_id`` is where the need is (the country, or a region), and so whose
    coordinators may act on it; ``gap`` (JSON) is the gap that motivated the
    request, as it was computed when the request was drafted.
    """

    __tablename__ = "aid_request"
    __table_args__ = (
        CheckConstraint(_in("status", REQUEST_STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("aid_partner.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    needed_by: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    gap: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the status last changed (the history has every change).
    status_at: Mapped[datetime] = mapped_column(UTCDateTime)
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)


class RequestLine(Base):
    """One item of a request: the quantity asked, and what the partner accepted."""

    __tablename__ = "aid_request_line"
    __table_args__ = (
        UniqueConstraint("request_id", "item_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("accepted IS NULL OR accepted >= 0", name="accepted_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("aid_request.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("supply_item.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    accepted: Mapped[int | None] = mapped_column(BigInteger)


class Offer(Base):
    """What a partner offered: from whom, through which channel, the conditions and
    the deadline to answer (past it, an offer not yet answered is overdue)."""

    __tablename__ = "aid_offer"
    __table_args__ = (
        CheckConstraint(_in("status", OFFER_STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("aid_partner.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answer_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    conditions: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_at: Mapped[datetime] = mapped_column(UTCDateTime)
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)


class OfferLine(Base):
    """One item of an offer, with the goods' expiry date where the partner gave one."""

    __tablename__ = "aid_offer_line"
    __table_args__ = (
        UniqueConstraint("offer_id", "item_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("aid_offer.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("supply_item.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)
    expiry: Mapped[date | None] = mapped_column(Date)


class Pledge(Base):
    """A partner's commitment to deliver, answering a request or an accepted offer
    (one of the two is required)."""

    __tablename__ = "aid_pledge"
    __table_args__ = (
        CheckConstraint(_in("status", PLEDGE_STATUSES), name="status"),
        CheckConstraint(
            "request_id IS NOT NULL OR offer_id IS NOT NULL", name="answers_request_or_offer"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("aid_partner.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("aid_request.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("aid_offer.id"), index=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    pledged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the partner said the goods would arrive.
    expected_by: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_at: Mapped[datetime] = mapped_column(UTCDateTime)
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)


class PledgeLine(Base):
    """One item of a pledge."""

    __tablename__ = "aid_pledge_line"
    __table_args__ = (
        UniqueConstraint("pledge_id", "item_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("aid_pledge.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("supply_item.id"))
    quantity: Mapped[int] = mapped_column(BigInteger)


class Shipment(Base):
    """Goods of a pledge on their way: carrier, route, border crossing, customs, the
    estimated and actual arrival, and the warehouse they are received into."""

    __tablename__ = "aid_shipment"
    __table_args__ = (
        CheckConstraint(_in("status", SHIPMENT_STATUSES), name="status"),
        CheckConstraint(
            "customs_status IS NULL OR " + _in("customs_status", CUSTOMS_STATUSES),
            name="customs_status",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("aid_pledge.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("aid_partner.id"), index=True)
    destination_id: Mapped[int] = mapped_column(ForeignKey("supply_facility.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    carrier: Mapped[str | None] = mapped_column(String(200))
    route: Mapped[str | None] = mapped_column(String(300))
    border_crossing: Mapped[str | None] = mapped_column(String(200))
    customs_status: Mapped[str | None] = mapped_column(String(16))
    customs_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    departed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expected_at: Mapped[date | None] = mapped_column(Date)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_at: Mapped[datetime] = mapped_column(UTCDateTime)
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)


class ShipmentLine(Base):
    """One lot of one item shipped. What arrived of it is the ledger's receipts under
    the shipment's number, never a copy kept here."""

    __tablename__ = "aid_shipment_line"
    __table_args__ = (
        UniqueConstraint("shipment_id", "item_id", "lot"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("aid_shipment.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("supply_item.id"))
    lot: Mapped[str] = mapped_column(String(64))
    expiry: Mapped[date] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(BigInteger)


class Receipt(Base):
    """A (partial) delivery of a shipment: the ledger batch of its ``receipt``
    entries at the shipment's warehouse, who received it and when."""

    __tablename__ = "aid_receipt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("aid_shipment.id"), index=True)
    stock_batch_id: Mapped[int] = mapped_column(ForeignKey("stock_batch.id"), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Who signed for the goods at the warehouse.
    received_by: Mapped[str] = mapped_column(String(200))
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Message(Base):
    """One communication about a request or an offer (issue #12, item 4): a notice
    sent or received, a call, a meeting; who, what was said, whether an answer is
    awaited and by when. Only ever inserted."""

    __tablename__ = "aid_message"
    __table_args__ = (
        CheckConstraint(_in("kind", MESSAGE_KINDS), name="kind"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("direction", DIRECTIONS), name="direction"),
        CheckConstraint(
            "(request_id IS NULL) <> (offer_id IS NULL)", name="about_a_request_or_an_offer"
        ),
        Index("ix_aid_message_awaiting", "awaits_answer", "answer_due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("aid_request.id"), index=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("aid_offer.id"), index=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    direction: Mapped[str] = mapped_column(String(4))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    #: Who spoke or wrote on our side, and on theirs.
    our_side: Mapped[str] = mapped_column(String(200))
    their_side: Mapped[str | None] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    #: True when this message waits for an answer, due at ``answer_due_at``.
    awaits_answer: Mapped[bool] = mapped_column(Boolean, default=False)
    answer_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The message this one answers.
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("aid_message.id"), index=True)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    illustrative: Mapped[bool] = mapped_column(Boolean, default=False)


class AidEvent(Base):
    """One step in the life of a request, offer, pledge or shipment, only ever
    inserted: who, when, from and to which status, and why."""

    __tablename__ = "aid_event"
    __table_args__ = (
        CheckConstraint(_in("subject", SUBJECTS), name="subject"),
        Index("ix_aid_event_subject", "subject", "subject_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(Integer)
    #: When it happened, as the user gave it; when it was recorded.
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(100))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)


__all__ = [
    "CHANNELS",
    "CUSTOMS_STATUSES",
    "DIRECTIONS",
    "MESSAGE_KINDS",
    "OFFER_STATUSES",
    "PARTNER_KINDS",
    "PLEDGE_STATUSES",
    "REQUEST_STATUSES",
    "SHIPMENT_STATUSES",
    "SUBJECTS",
    "AidEvent",
    "AidRequest",
    "Contact",
    "Message",
    "Offer",
    "OfferLine",
    "Partner",
    "Pledge",
    "PledgeLine",
    "Receipt",
    "RequestLine",
    "Shipment",
    "ShipmentLine",
]
