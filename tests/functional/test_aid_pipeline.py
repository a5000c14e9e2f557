"""Pledges and shipments (issue #12, items 3 and 8): every rule refused with nothing
written, the whole way from a request to stock on the warehouse's shelf, the origin
of a lot, and two processes receiving the same shipment at once.

The partners, requests and offers are inserted as rows (their services are
another module's). Runs on the suite's database: SQLite, and PostgreSQL when
SITROOM_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sitroom.aid import pipeline
from sitroom.aid.common import AidRefused, LineIn
from sitroom.aid.models import (
    AidEvent,
    AidRequest,
    Offer,
    OfferLine,
    Partner,
    Pledge,
    Receipt,
    RequestLine,
    Shipment,
)
from sitroom.aid.pipeline import ReceiveLineIn, ShipLineIn
from sitroom.auth.permissions import Principal
from sitroom.db import metadata
from sitroom.errors import ConflictError, ForbiddenError, NotFoundError
from sitroom.places.models import OrgUnit
from sitroom.supply import service
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import Item, StockBatch, StockEntry

ZONE = ZoneInfo("Asia/Pyongyang")
WAREHOUSE = "WH-KP-04"
STOCKPILE = "STOCKPILE"
STORE = "ST-KP-04-CHANGGANG"
ADMIN = Principal("admin", "admin", ("/KP/",), ("KP",))
COORDINATOR = Principal("coord", "coordinator", ("/KP/",), ("KP",))
LOGISTICIAN = Principal("logi", "logistician", ("/KP/",), ("KP",))
CHAGANG_COORDINATOR = Principal("chagang", "coordinator", ("/KP/KP-04/",), ("KP-04",))
PYONGYANG_COORDINATOR = Principal("pyongyang", "coordinator", ("/KP/KP-01/",), ("KP-01",))
PYONGYANG_ADMIN = Principal("pyadmin", "admin", ("/KP/KP-01/",), ("KP-01",))


def may(day: int, hour: int = 10) -> datetime:
    return datetime(2022, 5, day, hour, tzinfo=ZONE)


# The world: partners, requests and offers as rows ---------------------------------------


@dataclass
class World:
    session: Session
    #: Request numbers by what they are.
    sent: str = "REQ-2022-0001"
    draft: str = "REQ-2022-0002"
    declined: str = "REQ-2022-0003"
    no_response: str = "REQ-2022-0004"
    to_korea: str = "REQ-2022-0005"
    regional: str = "REQ-2022-0006"
    accepted_offer: str = "OFF-2022-0001"
    open_offer: str = "OFF-2022-0002"


def _unit(session: Session, code: str) -> int:
    found = session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))
    assert found is not None
    return found


@pytest.fixture
def world(loaded: Session) -> World:
    s = loaded
    stamp = datetime(2022, 5, 12, 9, tzinfo=UTC)
    partners = {}
    for code, name, kind, country in (
        ("CN", "People's Republic of China", "government", "CN"),
        ("KR", "Republic of Korea", "government", "KR"),
        ("WHO", "World Health Organization", "un_agency", None),
    ):
        row = Partner(
            code=code, name=name, kind=kind, country=country, created_by="setup", created_at=stamp
        )
        s.add(row)
        s.flush()
        partners[code] = row.id
    country, chagang = _unit(s, "KP"), _unit(s, "KP-04")
    for number, partner, status, unit in (
        ("REQ-2022-0001", "CN", "sent", country),
        ("REQ-2022-0002", "CN", "draft", country),
        ("REQ-2022-0003", "CN", "declined", country),
        ("REQ-2022-0004", "CN", "no_response", country),
        ("REQ-2022-0005", "KR", "acknowledged", country),
        ("REQ-2022-0006", "CN", "accepted", chagang),
    ):
        s.add(
            AidRequest(
                number=number,
                partner_id=partners[partner],
                channel="diplomatic_note",
                org_unit_id=unit,
                status=status,
                reason="PCR tests and medicines for the fever wave",
                created_by="setup",
                created_at=may(13, 9),
                sent_at=None if status == "draft" else may(14, 9),
                status_at=may(14, 9),
            )
        )
    for number, partner, status in (
        ("OFF-2022-0001", "WHO", "accepted"),
        ("OFF-2022-0002", "KR", "received"),
    ):
        s.add(
            Offer(
                number=number,
                partner_id=partners[partner],
                channel="un_agency" if partner == "WHO" else "liaison_office",
                org_unit_id=country,
                status=status,
                received_at=may(14, 8),
                created_by="setup",
                created_at=may(14, 8),
                status_at=may(14, 8),
            )
        )
    s.flush()
    items = dict(s.execute(select(Item.code, Item.id)).all())
    for row in s.scalars(select(AidRequest)):
        for code, quantity in ASKED.items():
            s.add(RequestLine(request_id=row.id, item_id=items[code], quantity=quantity))
    for row in s.scalars(select(Offer)):
        for code, quantity in ASKED.items():
            s.add(OfferLine(offer_id=row.id, item_id=items[code], quantity=quantity))
    s.commit()
    return World(s)


#: What every request of the world asks and every offer offers, per item.
ASKED = {"PARA-500": 1_000_000, "ORS": 100_000, "PCR-TEST": 100_000, "MASK-MED": 100_000}


# Nothing written ---------------------------------------------------------------------------


def _counts(session: Session) -> dict[str, int]:
    with session.get_bind().connect() as connection:  # type: ignore[union-attr]
        return {
            table.name: connection.scalar(select(func.count()).select_from(table)) or 0
            for table in metadata.sorted_tables
        }


@contextmanager
def nothing_written(
    session: Session, error: type[Exception] = AidRefused, *words: str
) -> Iterator[list[Exception]]:
    """The block raises ``error`` whose message holds each of ``words``; no row of any
    table was added, and none was changed (every table counted before and after)."""
    before = _counts(session)
    caught: list[Exception] = []
    with pytest.raises(error) as info:
        yield caught
    caught.append(info.value)
    for word in words:
        assert word in str(info.value), str(info.value)
    assert _counts(session) == before
    session.expire_all()


# Helpers -------------------------------------------------------------------------------------

PLEDGED = [LineIn("PARA-500", 1000), LineIn("ORS", 500)]


def _pledge(w: World, **options: Any) -> str:
    options.setdefault("request", w.sent)
    options.setdefault("at", may(15))
    options.setdefault("user", "coord")
    lines = options.pop("lines", PLEDGED)
    return pipeline.create_pledge(w.session, options.pop("partner", "CN"), lines, **options).number


def _ship(
    w: World,
    pledge: str,
    lines: list[ShipLineIn] | None = None,
    destination: str = WAREHOUSE,
    **options: Any,
) -> str:
    options.setdefault("departed_at", may(16))
    options.setdefault("user", "coord")
    made = pipeline.create_shipment(
        w.session,
        pledge,
        destination,
        [ShipLineIn("PARA-500", "A-1", date(2024, 6, 30), 600)] if lines is None else lines,
        **options,
    )
    return made.number


def _receive(w: World, number: str, quantity: int, *, lot: str = "A-1", **options: Any) -> Any:
    options.setdefault("at", may(20))
    options.setdefault("user", "keeper")
    options.setdefault("received_by", "Kim Song Il, store keeper")
    return pipeline.receive_shipment(
        w.session, number, [ReceiveLineIn("PARA-500", lot, quantity)], **options
    )


def _on_hand(session: Session, facility: str = WAREHOUSE) -> dict[tuple[str, str], int]:
    return {
        (line.item, line.lot): line.quantity
        for line in service.stock_on_hand(session, facility=facility)
    }


def _ledger_receipt(session: Session, reference: str, quantity: int, lot: str = "A-1") -> None:
    """A receipt posted through the supply chain's own path, citing a shipment."""
    summary = Ledger(session, user="someone").post(
        [
            Movement(
                may(19),
                "receipt",
                WAREHOUSE,
                "PARA-500",
                quantity,
                lot=lot,
                expiry=date(2024, 6, 30),
                counterparty="People's Republic of China",
                reference=reference,
            )
        ],
        source="a receipt by hand",
    )
    assert summary.committed, summary.rejections


# Pledges: refusals ---------------------------------------------------------------------------

PledgeCase = Callable[[World], Any]


def _make_pledge(**options: Any) -> PledgeCase:
    def make(w: World) -> Any:
        resolved = {k: (getattr(w, v[1:]) if isinstance(v, str) and v.startswith("@") else v)
                    for k, v in options.items()}  # fmt: skip
        return _pledge(w, **resolved)

    return make


@pytest.mark.parametrize(
    ("case", "error", "words"),
    [
        pytest.param(
            _make_pledge(request=None),
            AidRefused,
            ["a pledge answers a request or an accepted offer"],
            id="neither-request-nor-offer",
        ),
        pytest.param(
            _make_pledge(request="@to_korea"),
            AidRefused,
            ["request REQ-2022-0005 was made to KR, not to CN"],
            id="request-of-another-partner",
        ),
        pytest.param(
            _make_pledge(request="@draft"),
            AidRefused,
            ["request REQ-2022-0002 is draft"],
            id="request-draft",
        ),
        pytest.param(
            _make_pledge(request="@declined"),
            AidRefused,
            ["request REQ-2022-0003 is declined"],
            id="request-declined",
        ),
        pytest.param(
            _make_pledge(request="@no_response"),
            AidRefused,
            ["request REQ-2022-0004 is no_response"],
            id="request-without-response",
        ),
        pytest.param(
            _make_pledge(request=None, offer="@open_offer", partner="KR"),
            AidRefused,
            ["offer OFF-2022-0002 is received, not accepted"],
            id="offer-not-accepted",
        ),
        pytest.param(
            _make_pledge(request=None, offer="@accepted_offer", partner="CN"),
            AidRefused,
            ["offer OFF-2022-0001 was made by WHO, not by CN"],
            id="offer-of-another-partner",
        ),
        pytest.param(
            _make_pledge(lines=[LineIn("PARA-500", 10), LineIn("NOPE", 5)]),
            AidRefused,
            ["line 2: unknown item 'NOPE'"],
            id="unknown-item",
        ),
        pytest.param(
            _make_pledge(lines=[LineIn("PARA-500", -5)]),
            AidRefused,
            ["whole number of tablets above 0 (got -5)"],
            id="negative-quantity",
        ),
        pytest.param(
            _make_pledge(lines=[LineIn("PARA-500", 0)]),
            AidRefused,
            ["above 0 (got 0)"],
            id="zero-quantity",
        ),
        pytest.param(
            _make_pledge(lines=[LineIn("PARA-500", 1.5)]),  # type: ignore[arg-type]
            AidRefused,
            ["(got 1.5)"],
            id="fractional-quantity",
        ),
        pytest.param(
            _make_pledge(lines=[LineIn("PARA-500", 10), LineIn("PARA-500", 5)]),
            AidRefused,
            ["PARA-500 is listed twice"],
            id="item-twice",
        ),
        pytest.param(
            _make_pledge(lines=[]),
            AidRefused,
            ["no lines"],
            id="no-lines",
        ),
        pytest.param(
            _make_pledge(at=may(13)),
            AidRefused,
            ["is dated before request REQ-2022-0001 went out"],
            id="before-the-request",
        ),
        pytest.param(
            _make_pledge(at=datetime.now(UTC) + timedelta(days=1)),
            AidRefused,
            ["is in the future"],
            id="in-the-future",
        ),
        pytest.param(
            _make_pledge(expected_by=date(2022, 5, 1)),
            AidRefused,
            ["expected by 2022-05-01, before the pledge"],
            id="expected-before-pledged",
        ),
        pytest.param(
            _make_pledge(partner="NOPE"),
            NotFoundError,
            ["unknown partner 'NOPE'"],
            id="unknown-partner",
        ),
        pytest.param(
            _make_pledge(unit="KP-99"),
            NotFoundError,
            ["unknown org unit 'KP-99'"],
            id="unknown-unit",
        ),
        pytest.param(
            _make_pledge(at=datetime(2022, 5, 15, 10)),
            AidRefused,
            ["the time of the pledge has no time zone"],
            id="without-time-zone",
        ),
        pytest.param(
            _make_pledge(request="REQ-2022-9999"),
            NotFoundError,
            ["unknown request 'REQ-2022-9999'"],
            id="unknown-request",
        ),
        pytest.param(
            _make_pledge(principal=PYONGYANG_COORDINATOR, request="@regional"),
            ForbiddenError,
            ["outside their scopes (KP-01)"],
            id="coordinator-outside-scope",
        ),
        pytest.param(
            _make_pledge(principal=CHAGANG_COORDINATOR),
            ForbiddenError,
            ["on org unit KP"],
            id="regional-coordinator-national-pledge",
        ),
        pytest.param(
            _make_pledge(principal=LOGISTICIAN),
            ForbiddenError,
            ["does not have the permission aid.write"],
            id="role-without-aid-write",
        ),
    ],
)
def test_a_pledge_refused_writes_nothing(
    world: World, case: PledgeCase, error: type[Exception], words: list[str]
) -> None:
    with nothing_written(world.session, error, *words):
        case(world)


def test_a_pledge_refusal_gives_every_reason(world: World) -> None:
    with nothing_written(world.session) as caught:
        _pledge(
            world,
            request=world.draft,
            at=may(12),
            lines=[LineIn("NOPE", 1), LineIn("ORS", -1)],
        )
    refused = caught[0]
    assert isinstance(refused, AidRefused)
    assert len(refused.reasons) == 4, refused.reasons
    assert str(refused).startswith("pledge by CN: ")
    assert str(refused).endswith("nothing was written")


def test_pledges_answer_requests_and_accepted_offers(world: World) -> None:
    s = world.session
    first = pipeline.create_pledge(
        s,
        "CN",
        PLEDGED,
        request=world.sent,
        expected_by=date(2022, 5, 25),
        note="by train through Sinuiju",
        user="coord",
        principal=COORDINATOR,
        at=may(15),
    )
    assert first.number == "PLG-2022-0001"
    assert (first.status, first.partner, first.request, first.offer) == (
        "open",
        "CN",
        world.sent,
        None,
    )
    assert first.org_unit == "KP"  # the request's
    assert [(x.item, x.pledged, x.shipped, x.received) for x in first.lines] == [
        ("PARA-500", 1000, 0, 0),
        ("ORS", 500, 0, 0),
    ]
    assert [(e.to_status, e.note) for e in first.events] == [("open", "by train through Sinuiju")]
    json.dumps(first.to_dict())
    second = pipeline.create_pledge(
        s, "WHO", [LineIn("PCR-TEST", 20_000)], offer=world.accepted_offer, user="coord", at=may(15)
    )
    assert (second.number, second.offer, second.org_unit) == (
        "PLG-2022-0002",
        world.accepted_offer,
        "KP",
    )
    regional = pipeline.create_pledge(
        s, "CN", [LineIn("MASK-MED", 5000)], request=world.regional, user="c",
        principal=CHAGANG_COORDINATOR, at=may(15),
    )  # fmt: skip
    assert regional.org_unit == "KP-04"
    rows = pipeline.list_pledges(s, partner="CN")
    assert [r.number for r in rows] == ["PLG-2022-0003", "PLG-2022-0001"]
    assert rows[1].pledged == 1500
    assert [r.number for r in pipeline.list_pledges(s, principal=CHAGANG_COORDINATOR)] == [
        "PLG-2022-0003"
    ]
    assert pipeline.list_pledges(s, principal=PYONGYANG_COORDINATOR) == []
    with pytest.raises(ForbiddenError):
        pipeline.get_pledge(s, "PLG-2022-0001", principal=CHAGANG_COORDINATOR)
    with pytest.raises(ForbiddenError):
        pipeline.list_pledges(s, principal=LOGISTICIAN)


def test_cancelling_a_pledge(world: World) -> None:
    s = world.session
    pledge = _pledge(world)
    shipment = _ship(world, pledge)
    with nothing_written(s, AidRefused, f"shipments on their way: {shipment} (in_transit)"):
        pipeline.cancel_pledge(s, pledge, reason="the partner withdrew", user="coord", at=may(17))
    with nothing_written(s, AidRefused, "the reason for the cancellation is empty"):
        pipeline.cancel_pledge(s, pledge, reason="  ", user="coord", at=may(17))
    pipeline.cancel_shipment(s, shipment, reason="the train was diverted", user="coord", at=may(17))
    with nothing_written(s, AidRefused, "before the pledge's previous step"):
        pipeline.cancel_pledge(s, pledge, reason="withdrawn", user="coord", at=may(14))
    with nothing_written(s, ForbiddenError, "does not have the permission aid.write"):
        pipeline.cancel_pledge(s, pledge, reason="withdrawn", user="l", principal=LOGISTICIAN)
    view = pipeline.cancel_pledge(
        s, pledge, reason="the partner withdrew", user="coord", at=may(17)
    )
    assert view.status == "cancelled"
    assert [(e.from_status, e.to_status) for e in view.events][-1] == ("open", "cancelled")
    with nothing_written(s, ConflictError, f"pledge {pledge} is cancelled, not open"):
        pipeline.cancel_pledge(s, pledge, reason="again", user="coord")
    with nothing_written(s, AidRefused, f"pledge {pledge} is cancelled: goods are shipped against"):
        _ship(world, pledge, departed_at=may(18))
    with nothing_written(s, NotFoundError, "unknown pledge 'PLG-2022-0099'"):
        pipeline.cancel_pledge(s, "PLG-2022-0099", reason="x", user="coord")


# Shipments: refusals -------------------------------------------------------------------------

ShipCase = Callable[[World, str], Any]


def _lot(
    item: str = "PARA-500", lot: str = "A-1", expiry: date | None = None, q: int = 100
) -> ShipLineIn:
    return ShipLineIn(item, lot, expiry or date(2024, 6, 30), q)


@pytest.mark.parametrize(
    ("case", "error", "words"),
    [
        pytest.param(
            lambda w, p: _ship(w, "PLG-2022-0099"),
            NotFoundError,
            ["unknown pledge 'PLG-2022-0099'"],
            id="without-a-pledge",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, [_lot("MASK-MED")]),
            AidRefused,
            ["line 1 (MASK-MED): not on pledge PLG-2022-0001 (it pledges PARA-500, ORS)"],
            id="item-not-on-the-pledge",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, [_lot("NOPE")]),
            AidRefused,
            ["line 1: unknown item 'NOPE'"],
            id="unknown-item",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, [_lot(q=600), _lot(lot="A-2", q=401)]),
            AidRefused,
            ["PARA-500: 1,000 tablets pledged by PLG-2022-0001, 0 shipped already: 1,001 more"],
            id="more-than-pledged",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, [ShipLineIn("PARA-500", "A-1", None, 10)]),
            AidRefused,
            ["line 1 (PARA-500) lot A-1: give the lot's expiry date"],
            id="no-expiry",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, [_lot(expiry=date(2022, 5, 15))]),
            AidRefused,
            ["lot A-1: expired on 2022-05-15, before it leaves (2022-05-16)"],
            id="expired-at-departure",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, [_lot(lot="")]),
            AidRefused,
            ["line 1 (PARA-500): the lot is empty"],
            id="no-lot",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, [_lot(q=10), _lot(q=20)]),
            AidRefused,
            ["lot A-1 is listed twice"],
            id="lot-twice",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, [_lot(q=-10)]),
            AidRefused,
            ["whole number of tablets above 0 (got -10)"],
            id="negative-quantity",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, []),
            AidRefused,
            ["no lines"],
            id="no-lines",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, destination=STORE),
            AidRefused,
            [f"{STORE} is a store: aid is received at a stockpile or a warehouse"],
            id="destination-not-a-warehouse",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, destination="WH-NOWHERE"),
            NotFoundError,
            ["unknown facility 'WH-NOWHERE'"],
            id="unknown-destination",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, departed_at=datetime.now(UTC) + timedelta(days=2)),
            AidRefused,
            ["the time of the departure", "is in the future"],
            id="departure-in-the-future",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, departed_at=may(14)),
            AidRefused,
            ["is dated before pledge PLG-2022-0001"],
            id="departure-before-the-pledge",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, expected_at=date(2022, 5, 15)),
            AidRefused,
            ["expected on 2022-05-15, before it left (2022-05-16)"],
            id="expected-before-departure",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, departed_at=datetime(2022, 5, 16, 10)),
            AidRefused,
            ["the time of the departure has no time zone"],
            id="departure-without-time-zone",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, principal=PYONGYANG_COORDINATOR),
            ForbiddenError,
            ["may not use aid.write on org unit KP"],
            id="coordinator-outside-scope",
        ),
        pytest.param(
            lambda w, p: _ship(w, p, principal=LOGISTICIAN),
            ForbiddenError,
            ["does not have the permission aid.write"],
            id="role-without-aid-write",
        ),
    ],
)
def test_a_shipment_refused_writes_nothing(
    world: World, case: ShipCase, error: type[Exception], words: list[str]
) -> None:
    pledge = _pledge(world)
    with nothing_written(world.session, error, *words):
        case(world, pledge)


def test_shipments_of_a_pledge_never_carry_more_than_it(world: World) -> None:
    s = world.session
    pledge = _pledge(world)
    first = _ship(world, pledge, [_lot(q=600)])
    with nothing_written(
        s, AidRefused, "1,000 tablets pledged by PLG-2022-0001, 600 shipped already:",
        "at most 400 left to ship",
    ):  # fmt: skip
        _ship(world, pledge, [_lot(lot="A-2", q=401)])
    # A cancelled shipment no longer counts.
    pipeline.cancel_shipment(s, first, reason="the truck broke down", user="coord", at=may(17))
    second = pipeline.create_shipment(
        s, pledge, STOCKPILE, [_lot(lot="A-2", q=1000)], user="coord", at=may(17)
    )
    assert (second.status, second.departed_at, second.destination) == ("planned", None, STOCKPILE)
    assert pipeline.get_pledge(s, pledge).lines[0].shipped == 1000


def test_a_lot_keeps_one_expiry(world: World) -> None:
    s = world.session
    pledge = _pledge(world)
    # The ledger knows lot L-9 of PARA-500 expiring at the end of 2025.
    summary = Ledger(s, user="setup").post(
        [
            Movement(
                may(2), "receipt", STOCKPILE, "PARA-500", 10, lot="L-9", expiry=date(2025, 12, 31)
            )
        ],
        source="setup",
    )
    assert summary.committed
    with nothing_written(s, AidRefused, "the stock ledger has this lot expiring on 2025-12-31"):
        _ship(world, pledge, [_lot(lot="L-9", expiry=date(2024, 6, 30))])
    _ship(world, pledge, [_lot(lot="B-7", q=100, expiry=date(2024, 1, 31))])
    with nothing_written(
        s, AidRefused, "shipment SHP-2022-0001 has this lot expiring on 2024-01-31"
    ):
        _ship(world, pledge, [_lot(lot="B-7", q=100, expiry=date(2024, 2, 28))])


# Shipments: their way ------------------------------------------------------------------------


def test_a_shipment_on_its_way(world: World) -> None:
    s = world.session
    pledge = _pledge(world)
    number = _ship(world, pledge, departed_at=None, at=may(15, 12), carrier="Korean State Railway",
                   route="Dandong - Sinuiju - Kanggye", border_crossing="Sinuiju",
                   expected_at=date(2022, 5, 21))  # fmt: skip
    view = pipeline.get_shipment(s, number)
    assert (view.status, view.carrier, view.border_crossing) == (
        "planned",
        "Korean State Railway",
        "Sinuiju",
    )

    def update(**options: Any) -> pipeline.ShipmentView:
        options.setdefault("user", "coord")
        return pipeline.update_shipment(s, number, **options)

    with nothing_written(s, AidRefused, "it can become in_transit, not arrived"):
        update(status="arrived", at=may(16))
    with nothing_written(s, AidRefused, f"shipment {number} is planned: customs are recorded"):
        update(customs="pending", at=may(16))
    with nothing_written(s, AidRefused, "nothing to change"):
        update(at=may(16))
    with nothing_written(s, AidRefused, "unknown shipment status 'lost'"):
        update(status="lost", at=may(16))
    with nothing_written(s, AidRefused, "before the shipment's previous step"):
        update(status="in_transit", at=may(15, 11))
    with nothing_written(s, AidRefused, "is in the future"):
        update(status="in_transit", at=datetime.now(UTC) + timedelta(hours=2))
    with nothing_written(s, ForbiddenError, "may not use aid.write"):
        update(status="in_transit", at=may(16), principal=CHAGANG_COORDINATOR)
    assert update(status="in_transit", at=may(16)).departed_at == may(16)
    with nothing_written(s, AidRefused, "customs are recorded at the border or on arrival"):
        update(customs="pending", at=may(17))
    view = update(status="at_border", customs="pending", at=may(17))
    assert (view.status, view.customs_status, view.customs_at) == ("at_border", "pending", may(17))
    view = update(
        customs="held", at=may(17, 15), note="papers missing", expected_at=date(2022, 5, 24)
    )
    assert (view.status, view.customs_status, view.expected_at) == (
        "at_border",
        "held",
        date(2022, 5, 24),
    )
    with nothing_written(s, AidRefused, "before the shipment's previous step"):
        update(customs="cleared", at=may(17, 14))
    with nothing_written(s, AidRefused, "is held at customs: it has not arrived"):
        update(status="arrived", at=may(18))
    with nothing_written(s, AidRefused, "expected on 2022-05-10, before it left"):
        update(expected_at=date(2022, 5, 10), at=may(18))
    update(customs="cleared", at=may(18))
    with nothing_written(s, AidRefused, "are cleared already: they can become none, not held"):
        update(customs="held", at=may(18, 12))
    view = update(status="arrived", at=may(19, 8))
    assert (view.status, view.arrived_at) == ("arrived", may(19, 8))
    assert [(e.from_status, e.to_status, e.note) for e in view.events] == [
        (None, "planned", None),
        ("planned", "in_transit", None),
        ("in_transit", "at_border", "customs pending"),
        ("at_border", "at_border", "customs held; expected on 2022-05-24; papers missing"),
        ("at_border", "at_border", "customs cleared"),
        ("at_border", "arrived", None),
    ]
    pipeline.cancel_shipment(
        s, number, reason="rejected at the warehouse", user="coord", at=may(19, 9)
    )
    with nothing_written(s, ConflictError, f"shipment {number} is cancelled"):
        update(status="arrived", at=may(19, 10))
    with nothing_written(s, ConflictError, f"shipment {number} is cancelled"):
        pipeline.cancel_shipment(s, number, reason="again", user="coord")


def test_a_shipment_with_goods_received_is_not_cancelled(world: World) -> None:
    s = world.session
    pledge = _pledge(world)
    number = _ship(world, pledge)
    # Received by the supply chain's own path, citing the shipment: the ledger is the record.
    _ledger_receipt(s, number, 50)
    with nothing_written(s, AidRefused, "50 units of shipment SHP-2022-0001 were received already"):
        pipeline.cancel_shipment(s, number, reason="lost", user="coord", at=may(20))
    with nothing_written(s, AidRefused, "the reason for the cancellation is empty"):
        pipeline.cancel_shipment(s, number, reason="", user="coord", at=may(20))
    _receive(world, number, 100)
    with nothing_written(s, ConflictError, f"shipment {number} is partly_received"):
        pipeline.cancel_shipment(s, number, reason="lost", user="coord")


# Receipts: refusals -------------------------------------------------------------------------


def test_receiving_refusals_write_nothing(world: World) -> None:
    s = world.session
    pledge = _pledge(world)
    planned = _ship(world, pledge, [_lot(lot="P-1", q=10)], departed_at=None, at=may(16))
    with nothing_written(s, AidRefused, f"shipment {planned} is planned: it has not left"):
        _receive(world, planned, 5, lot="P-1")
    cancelled = _ship(world, pledge, [_lot(lot="C-1", q=10)])
    pipeline.cancel_shipment(s, cancelled, reason="diverted", user="coord", at=may(17))
    with nothing_written(s, AidRefused, f"shipment {cancelled} is cancelled: nothing to receive"):
        _receive(world, cancelled, 5, lot="C-1")
    number = _ship(world, pledge, [_lot(q=600), _lot("ORS", "O-1", q=500)])
    with nothing_written(s, AidRefused, "line 1: PARA-500 lot 'Z-9' is not on shipment"):
        _receive(world, number, 5, lot="Z-9")
    with nothing_written(
        s, AidRefused, "600 shipped, 0 received already: 600 tablets left to receive, not 601"
    ):
        _receive(world, number, 601)
    with nothing_written(s, AidRefused, "whole number of tablets above 0 (got 0)"):
        _receive(world, number, 0)
    with nothing_written(s, AidRefused, "listed twice"):
        pipeline.receive_shipment(
            s,
            number,
            [ReceiveLineIn("PARA-500", "A-1", 1)] * 2,
            received_by="Kim",
            user="k",
            at=may(20),
        )
    with nothing_written(s, AidRefused, "before the shipment left"):
        _receive(world, number, 10, at=may(15))
    with nothing_written(s, AidRefused, "is in the future"):
        _receive(world, number, 10, at=datetime.now(UTC) + timedelta(days=1))
    with nothing_written(s, AidRefused, "the receiver (who signed for the goods) is empty"):
        _receive(world, number, 10, received_by=" ")
    with nothing_written(s, ForbiddenError, "does not have the permission stock.write"):
        _receive(world, number, 10, principal=COORDINATOR)
    with nothing_written(s, ForbiddenError, "may not use stock.write on org unit KP-04"):
        _receive(world, number, 10, principal=PYONGYANG_ADMIN)
    # Customs hold the goods: they are not received.
    pipeline.update_shipment(s, number, status="at_border", customs="held", user="c", at=may(17))
    with nothing_written(s, AidRefused, "is held at customs"):
        _receive(world, number, 10)
    pipeline.update_shipment(s, number, customs="cleared", user="c", at=may(18))
    pipeline.update_shipment(s, number, status="arrived", user="c", at=may(19))
    with nothing_written(s, AidRefused, "before the shipment arrived"):
        _receive(world, number, 10, at=may(18, 12))
    # Every reason at once.
    with nothing_written(s) as caught:
        pipeline.receive_shipment(
            s, number, [ReceiveLineIn("PARA-500", "A-1", 700), ReceiveLineIn("ORS", "X", 1)],
            received_by="", user="k", at=may(15),
        )  # fmt: skip
    assert len(caught[0].reasons) == 4, caught[0]  # type: ignore[attr-defined]
    assert _on_hand(s) == {}


def test_already_received_is_read_from_the_ledger(world: World) -> None:
    s = world.session
    pledge = _pledge(world)
    number = _ship(world, pledge, [_lot(q=600)])
    _receive(world, number, 200)
    # 100 more arrive through the supply chain's own receipt, citing the shipment.
    _ledger_receipt(s, number, 100)
    with nothing_written(
        s, AidRefused, "600 shipped, 300 received already: 300 tablets left to receive, not 301"
    ):
        _receive(world, number, 301)
    assert pipeline.get_shipment(s, number).lines[0].received == 300
    done = _receive(world, number, 300)
    assert done.shipment.status == "received"
    assert _on_hand(s) == {("PARA-500", "A-1"): 600}


def test_a_receipt_the_ledger_refuses_writes_nothing(world: World) -> None:
    s = world.session
    pledge = _pledge(world)
    number = _ship(world, pledge, [_lot(lot="N-1", q=100)])
    # Meanwhile the ledger learned lot N-1 with another expiry (another receipt elsewhere).
    summary = Ledger(s, user="setup").post(
        [
            Movement(
                may(17), "receipt", STOCKPILE, "PARA-500", 5, lot="N-1", expiry=date(2026, 1, 1)
            )
        ],
        source="setup",
    )
    assert summary.committed
    with nothing_written(
        s,
        AidRefused,
        "line 1: the stock ledger refused it: lot N-1 of PARA-500 expires on 2026-01-01",
    ):
        _receive(world, number, 50, lot="N-1")
    assert pipeline.get_shipment(s, number).status == "in_transit"


def test_a_receiver_needs_stock_write_over_the_warehouse(world: World) -> None:
    s = world.session
    pledge = _pledge(world, request=world.regional, lines=[LineIn("PARA-500", 100)])
    number = _ship(world, pledge, [_lot(q=100)], destination="WH-KP-01")
    chagang_admin = Principal("chadmin", "admin", ("/KP/KP-04/",), ("KP-04",))
    with nothing_written(s, ForbiddenError, "may not use stock.write on org unit KP-01"):
        _receive(world, number, 10, principal=chagang_admin)
    both = Principal("both", "admin", ("/KP/KP-04/", "/KP/KP-01/"), ("KP-04", "KP-01"))
    assert _receive(world, number, 10, principal=both).shipment.received == 10


def test_the_warehouse_logistician_receives_and_a_shipment_is_closed_short(world: World) -> None:
    s = world.session
    pledge = _pledge(world)
    number = _ship(world, pledge)
    keeper = Principal("keeper", "logistician", ("/KP/KP-04/",), ("KP-04",))
    done = _receive(world, number, 100, principal=keeper)
    assert done.shipment.status == "partly_received"
    with nothing_written(s, ForbiddenError, "does not have the permission aid.write"):
        pipeline.close_shipment(s, number, reason="lost", user="keeper", principal=keeper)
    with nothing_written(s, AidRefused, "the reason for closing it short is empty"):
        pipeline.close_shipment(s, number, reason=" ", user="coord", at=may(21))
    closed = pipeline.close_shipment(
        s, number, reason="a truck lost on the way", user="coord", at=may(21)
    )
    assert closed.status == "received"
    notes = [e.note for e in closed.events if e.note]
    assert any("closed short: 500 of 600 units never arrived" in n for n in notes), notes
    with nothing_written(s, ConflictError, f"shipment {number} is received"):
        pipeline.close_shipment(s, number, reason="again", user="coord")
    # Goods that turn up later are received under its number, without reopening it.
    late = _receive(world, number, 50, at=may(22), principal=keeper)
    assert late.shipment.status == "received"
    assert late.shipment.events[-1].from_status == "received"
    assert "50 units received after the shipment was closed" in (
        late.shipment.events[-1].note or ""
    )
    assert _on_hand(s) == {("PARA-500", "A-1"): 150}
    one = _receive(world, number, 1, at=may(22, 11), principal=keeper)
    assert "1 unit received after" in (one.shipment.events[-1].note or "")


def test_a_receipt_reversed_in_the_ledger_reopens_a_shipment_received_in_full(
    world: World,
) -> None:
    s = world.session
    number = _ship(world, _pledge(world))
    done = _receive(world, number, 600)
    assert done.shipment.status == "received"
    Ledger(s, user="keeper").reverse(done.summary.batch_id, reason="counted twice")
    again = _receive(world, number, 100, at=may(21))
    assert again.shipment.status == "partly_received"
    assert "after the shipment was closed" not in (again.shipment.events[-1].note or "")


def test_a_receipt_waits_for_customs_and_keeps_the_history_in_order(world: World) -> None:
    s = world.session
    number = _ship(world, _pledge(world))
    pipeline.update_shipment(s, number, status="at_border", customs="pending", user="c", at=may(17))
    with nothing_written(s, AidRefused, f"shipment {number} awaits customs"):
        _receive(world, number, 10, at=may(18))
    pipeline.update_shipment(s, number, customs="cleared", user="c", at=may(18))
    with nothing_written(
        s, AidRefused, "before the shipment was last seen at customs (cleared)",
        "(2022-05-18T10:00:00+09:00): its history would go back in time",
    ):  # fmt: skip
        _receive(world, number, 10, at=may(17, 12))
    first = _receive(world, number, 10, at=may(19))
    assert first.shipment.status == "partly_received"
    _receive(world, number, 10, at=may(20))
    with nothing_written(s, AidRefused, "before the shipment became partly received"):
        _receive(world, number, 10, at=may(19, 12))
    times = [e.time for e in _receive(world, number, 10, at=may(20, 12)).shipment.events]
    assert times == sorted(times)


def test_a_pledge_stays_within_what_it_answers(world: World) -> None:
    s = world.session
    with nothing_written(s, AidRefused, f"AMOX-500 is not on request {world.sent}"):
        _pledge(world, lines=[LineIn("AMOX-500", 10)])
    with nothing_written(
        s, AidRefused, "PARA-500: 1,000,001 pledged, more than is left to pledge of request",
        "(1,000,000 asked, 0 pledged already: at most 1,000,000)",
    ):  # fmt: skip
        _pledge(world, lines=[LineIn("PARA-500", 1_000_001)])
    first = _pledge(world, lines=[LineIn("PARA-500", 600_000)])
    with nothing_written(s, AidRefused, "600,000 pledged already: at most 400,000"):
        _pledge(world, lines=[LineIn("PARA-500", 400_001)])
    # A cancelled pledge no longer counts.
    pipeline.cancel_pledge(s, first, reason="sent twice", user="coord", at=may(15, 12))
    _pledge(world, lines=[LineIn("PARA-500", 1_000_000)], at=may(15, 13))
    # Once the partner's acceptance is recorded, what it accepted is the most.
    regional = s.scalar(select(AidRequest).where(AidRequest.number == world.regional))
    assert regional is not None
    for line in s.scalars(select(RequestLine).where(RequestLine.request_id == regional.id)):
        line.accepted = 5_000
    s.commit()
    with nothing_written(s, AidRefused, "ORS: 5,001 pledged", "(5,000 accepted"):
        _pledge(world, request=world.regional, lines=[LineIn("ORS", 5_001)])
    # A pledge naming a request and an offer stays within both.
    korea = s.scalar(select(Offer).where(Offer.number == world.open_offer))
    assert korea is not None
    korea.status = "accepted"
    mask = s.scalar(select(Item.id).where(Item.code == "MASK-MED"))
    s.execute(delete(OfferLine).where(OfferLine.offer_id == korea.id, OfferLine.item_id == mask))
    s.commit()
    with nothing_written(s, AidRefused, f"MASK-MED is not on offer {world.open_offer}"):
        _pledge(
            world, partner="KR", request=world.to_korea, offer=world.open_offer,
            lines=[LineIn("MASK-MED", 10)],
        )  # fmt: skip
    # An offer: what was offered.
    with nothing_written(s, AidRefused, f"offer {world.accepted_offer}", "(100,000 offered"):
        _pledge(
            world, partner="WHO", request=None, offer=world.accepted_offer,
            lines=[LineIn("MASK-MED", 100_001)],
        )  # fmt: skip


# The whole way -----------------------------------------------------------------------------


def test_from_request_to_stock_on_the_shelf(world: World) -> None:  # noqa: PLR0915  (one story)
    s = world.session
    pledge = pipeline.create_pledge(
        s, "CN", PLEDGED, request=world.sent, expected_by=date(2022, 5, 25), user="coord",
        principal=COORDINATOR, at=may(15),
    )  # fmt: skip
    first = pipeline.create_shipment(
        s, pledge.number, WAREHOUSE,
        [_lot(q=600), _lot("ORS", "O-1", date(2025, 3, 31), 500)],
        carrier="Korean State Railway", route="Dandong - Sinuiju - Kanggye",
        border_crossing="Sinuiju", departed_at=may(16, 6), expected_at=date(2022, 5, 19),
        user="coord", principal=COORDINATOR, at=may(16, 7),
    )  # fmt: skip
    assert (first.number, first.status, first.shipped) == ("SHP-2022-0001", "in_transit", 1100)
    pipeline.update_shipment(
        s, first.number, status="at_border", customs="pending", user="coord", at=may(17)
    )
    pipeline.update_shipment(s, first.number, customs="cleared", user="coord", at=may(18))
    pipeline.update_shipment(s, first.number, status="arrived", user="coord", at=may(19, 8))
    assert [r.number for r in pipeline.list_shipments(s, status="arrived")] == [first.number]

    # A partial delivery.
    part = pipeline.receive_shipment(
        s, first.number,
        [ReceiveLineIn("PARA-500", "A-1", 400), ReceiveLineIn("ORS", "O-1", 500)],
        received_by="Kim Song Il, store keeper", user="keeper", principal=ADMIN, at=may(19, 10),
        note="one pallet short",
    )  # fmt: skip
    assert part.summary.committed
    assert part.summary.ok
    assert (part.summary.entries, part.summary.kinds) == (2, {"receipt": 2})
    assert part.shipment.status == "partly_received"
    assert part.pledge_status == "open"
    assert [(x.lot, x.shipped, x.received, x.outstanding) for x in part.shipment.lines] == [
        ("A-1", 600, 400, 200),
        ("O-1", 500, 500, 0),
    ]
    assert part.receipt.lines == (("ORS", "O-1", 500), ("PARA-500", "A-1", 400))
    s.expire_all()
    assert _on_hand(s) == {("PARA-500", "A-1"): 400, ("ORS", "O-1"): 500}
    batch = s.get(StockBatch, part.summary.batch_id)
    assert batch is not None
    assert (batch.entries, batch.created_by) == (2, "keeper")
    entries = s.scalars(select(StockEntry).where(StockEntry.batch_id == batch.id)).all()
    assert {(e.kind, e.counterparty, e.reference, e.time) for e in entries} == {
        ("receipt", "People's Republic of China", first.number, may(19, 10))
    }

    # The rest of the first shipment, then a second one without a border on its way.
    rest = _receive(world, first.number, 200, at=may(19, 15))
    assert rest.shipment.status == "received"
    assert rest.pledge_status == "open"
    second = _ship(
        world,
        pledge.number,
        [_lot(lot="A-2", q=400, expiry=date(2024, 9, 30))],
        departed_at=may(20),
    )
    pipeline.update_shipment(s, second, status="arrived", user="coord", at=may(21))
    with nothing_written(
        s, AidRefused, "PARA-500: 1,000 tablets pledged by PLG-2022-0001, 1,000 shipped already"
    ):
        _ship(world, pledge.number, [_lot(lot="A-3", q=1)], departed_at=may(21))
    last = _receive(world, second, 400, lot="A-2", at=may(21, 12))
    assert last.pledge_status == "fulfilled"
    s.expire_all()
    assert _on_hand(s) == {("PARA-500", "A-1"): 600, ("PARA-500", "A-2"): 400, ("ORS", "O-1"): 500}
    assert service.verify(s).ok

    # The pledge and the shipments as they are now.
    view = pipeline.get_pledge(s, pledge.number, principal=COORDINATOR)
    assert view.status == "fulfilled"
    assert [(x.item, x.pledged, x.shipped, x.received, x.outstanding) for x in view.lines] == [
        ("PARA-500", 1000, 1000, 1000, 0),
        ("ORS", 500, 500, 500, 0),
    ]
    assert [e.to_status for e in view.events] == ["open", "fulfilled"]
    assert [(b.number, b.status) for b in view.shipments] == [
        (first.number, "received"),
        (second, "received"),
    ]
    shown = pipeline.get_shipment(s, first.number, principal=COORDINATOR)
    assert [r.received_by for r in shown.receipts] == ["Kim Song Il, store keeper"] * 2
    assert [e.to_status for e in shown.events] == [
        "in_transit", "at_border", "at_border", "arrived", "partly_received", "received",
    ]  # fmt: skip
    assert "one pallet short" in (shown.events[4].note or "")
    assert s.scalar(select(func.count(Receipt.id))) == 3
    json.dumps(shown.to_dict())
    json.dumps(last.to_dict())
    rows = pipeline.list_shipments(s, partner="CN")
    assert [(r.number, r.shipped, r.received, r.outstanding) for r in rows] == [
        (second, 400, 400, 0),
        (first.number, 1100, 1100, 0),
    ]
    assert pipeline.list_pledges(s, status="fulfilled")[0].received == 1500
    # A regional coordinator reads the shipments to their warehouse, not the pledge.
    assert len(pipeline.list_shipments(s, principal=CHAGANG_COORDINATOR)) == 2
    assert pipeline.list_shipments(s, principal=PYONGYANG_COORDINATOR) == []
    with pytest.raises(ForbiddenError):
        pipeline.get_shipment(s, first.number, principal=PYONGYANG_COORDINATOR)
    assert pipeline.list_shipments(s, destination=STOCKPILE) == []

    # A received shipment takes no more.
    with nothing_written(s, AidRefused, "600 shipped, 600 received already: 0 tablets left"):
        _receive(world, first.number, 1, at=may(22))

    # Where lot A-1 came from: the ledger's receipts, joined to the aid they were.
    trace = pipeline.trace_lot(s, "PARA-500", "A-1", principal=COORDINATOR)
    assert (trace.received, trace.expiry) == (600, date(2024, 6, 30))
    donor = ("People's Republic of China", first.number, pledge.number, "CN", world.sent)
    assert [
        (
            o.facility,
            o.time,
            o.quantity,
            (o.counterparty, o.reference, o.pledge, o.partner, o.request),
        )
        for o in trace.origins
    ] == [(WAREHOUSE, may(19, 10), 400, donor), (WAREHOUSE, may(19, 15), 200, donor)]
    assert {o.received_by for o in trace.origins} == {"Kim Song Il, store keeper"}
    json.dumps(trace.to_dict())
    assert pipeline.trace_lot(s, "PARA-500", "A-1", principal=PYONGYANG_COORDINATOR).origins == ()
    with pytest.raises(NotFoundError, match="no lot 'Q-0' of PARA-500"):
        pipeline.trace_lot(s, "PARA-500", "Q-0")
    # A lot received by hand, not as aid: its origin is the ledger's entry alone.
    _ledger_receipt(s, "INVOICE-7", 5, lot="H-1")
    (hand,) = pipeline.trace_lot(s, "PARA-500", "H-1").origins
    assert (hand.reference, hand.shipment, hand.pledge) == ("INVOICE-7", None, None)
    assert s.scalar(select(func.count(AidEvent.id)).where(AidEvent.subject == "pledge")) == 2


def test_a_pledge_from_an_accepted_offer_is_fulfilled_at_the_stockpile(world: World) -> None:
    s = world.session
    pledge = _pledge(world, partner="WHO", request=None, offer=world.accepted_offer,
                     lines=[LineIn("PCR-TEST", 2000)])  # fmt: skip
    number = _ship(world, pledge, [ShipLineIn("PCR-TEST", "W-1", date(2023, 1, 31), 2000)],
                   destination=STOCKPILE)  # fmt: skip
    done = pipeline.receive_shipment(
        s, number, [ReceiveLineIn("PCR-TEST", "W-1", 2000)], received_by="Ri", user="k", at=may(18)
    )
    assert (done.shipment.status, done.pledge_status) == ("received", "fulfilled")
    assert done.shipment.arrived_at == may(18)  # arrived when received: no arrival was recorded
    (origin,) = pipeline.trace_lot(s, "PCR-TEST", "W-1").origins
    assert (origin.counterparty, origin.offer, origin.request) == (
        "World Health Organization",
        world.accepted_offer,
        None,
    )
    assert s.scalar(select(Pledge.status).where(Pledge.number == pledge)) == "fulfilled"
    assert s.scalar(select(Shipment.arrived_at).where(Shipment.number == number)) == may(18)


# Two processes at once -----------------------------------------------------------------------

RECEIVER = """
import json, sys, time
from datetime import datetime
from zoneinfo import ZoneInfo
from sqlalchemy.orm import Session
from sitroom.aid import pipeline
from sitroom.db import create_db_engine
from sitroom.errors import SitroomError

ZONE = ZoneInfo("Asia/Pyongyang")
start, url, number, user, quantity = sys.argv[1:6]
engine = create_db_engine(url)
engine.connect().close()
time.sleep(max(0.0, float(start) - time.time()))
print("started", time.time(), file=sys.stderr, flush=True)
with Session(engine, expire_on_commit=False) as session:
    try:
        done = pipeline.receive_shipment(
            session, number, [pipeline.ReceiveLineIn("PARA-500", "A-1", int(quantity))],
            received_by=user, user=user, at=datetime(2022, 5, 20, 10, tzinfo=ZONE),
        )
    except SitroomError as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(1)
print(json.dumps(done.to_dict()))
"""


def test_two_processes_receiving_the_rest_of_a_shipment(db_url: str, world: World) -> None:
    s = world.session
    pledge = _pledge(world)
    number = _ship(world, pledge, [_lot(q=600)])
    _receive(world, number, 200, at=may(19))
    start = time.time() + 3.0  # both have imported sitroom and connected by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RECEIVER, str(start), db_url, number, user, "400"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for user in ("alice", "bob")
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append((proc.returncode, json.loads(out) if out.strip() else {}, err))
    assert sorted(code for code, _, _ in results) == [0, 1], results
    (winner,) = [r for code, r, _ in results if code == 0]
    (loser,) = [r for code, r, _ in results if code == 1]
    assert "600 shipped, 600 received already: 0 tablets left to receive, not 400" in loser["error"]
    assert loser["error"].endswith("nothing was written")
    # The winner's summary is exactly what its batch holds.
    summary = winner["summary"]
    assert (summary["committed"], summary["rejected"]) == (True, 0)
    assert (summary["entries"], summary["kinds"]) == (1, {"receipt": 1})
    s.expire_all()
    batch = s.get(StockBatch, summary["batch_id"])
    assert batch is not None
    assert batch.entries == 1
    held = s.scalars(select(StockEntry).where(StockEntry.batch_id == batch.id)).all()
    assert [(e.quantity, e.reference) for e in held] == [(400, number)]
    assert winner["shipment"]["status"] == "received"
    assert winner["pledge_status"] == "open"
    # Nothing over-received: the ledger holds the shipment once.
    assert (
        s.scalar(select(func.sum(StockEntry.quantity)).where(StockEntry.reference == number)) == 600
    )
    assert _on_hand(s) == {("PARA-500", "A-1"): 600}
    assert s.scalar(select(func.count(Receipt.id))) == 2
    assert service.verify(s).ok
    # They really ran at the same time: both had started before the batch was made.
    starts = [float(err.splitlines()[0].split()[1]) for _, _, err in results]
    assert max(starts) < batch.created_at.timestamp() + 5.0
