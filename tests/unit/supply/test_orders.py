"""Distribution orders (issue #11, items 4 and 13): the life cycle, each refusal, lead times.

Every refusal leaves the database as it was: no order row, no status
change, no ledger entry.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.errors import ConflictError, ForbiddenError, NotFoundError, SitroomError
from sitroom.supply import orders, service
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import DistributionOrder, OrderEvent, StockEntry
from sitroom.supply.orders import OrderLineIn, OrderRefused, PodLine

ZONE = ZoneInfo("Asia/Pyongyang")
STOCKPILE = "STOCKPILE"
WAREHOUSE = "WH-KP-04"
STORE = "ST-KP-04-CHANGGANG"
PHARMACY = "PH-KP-04-CHANGGANG-001"
OTHER_WAREHOUSE = "WH-KP-01"
OTHER_STORE = "ST-KP-01-CHUNGHWA"


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2022, 5, day, hour, tzinfo=ZONE)


def stock(session: Session, facility: str, item: str = "PARA-500") -> dict[str, int]:
    return {
        line.lot: line.quantity
        for line in service.stock_on_hand(session, facility=facility, item=item)
    }


def counts(session: Session) -> tuple[int, int, int]:
    return (
        session.scalar(select(func.count(DistributionOrder.id))) or 0,
        session.scalar(select(func.count(OrderEvent.id))) or 0,
        session.scalar(select(func.count(StockEntry.id))) or 0,
    )


def receive(session: Session, facility: str, lot: str, quantity: int, expiry: date) -> None:
    summary = Ledger(session, user="setup").post(
        [Movement(at(1), "receipt", facility, "PARA-500", quantity, lot=lot, expiry=expiry)],
        source="setup",
    )
    assert summary.committed, summary.rejections


@pytest.fixture
def stocked(loaded: Session) -> Session:
    """The Chagang warehouse holds two lots of paracetamol."""
    receive(loaded, WAREHOUSE, "EARLY", 200, date(2022, 12, 31))
    receive(loaded, WAREHOUSE, "LATE", 1000, date(2024, 6, 30))
    return loaded


def draft(session: Session, quantity: int = 300, **kwargs: object) -> orders.OrderView:
    return orders.create_order(
        session,
        WAREHOUSE,
        STORE,
        [OrderLineIn("PARA-500", quantity)],
        user="kim",
        at=at(2, 8),
        **kwargs,  # type: ignore[arg-type]
    )


def dispatched(session: Session, quantity: int = 300) -> str:
    order = draft(session, quantity)
    orders.approve_order(session, order.number, user="kim", at=at(2, 9))
    orders.dispatch_order(
        session,
        order.number,
        carrier="KPA unit 525",
        vehicle="truck 12-345",
        carrier_kind="army",
        user="kim",
        at=at(2, 15),
    )
    return order.number


def test_an_order_lives_from_draft_to_closed(stocked: Session) -> None:
    order = draft(stocked, note="Changgang runs out on Friday")
    assert order.number == "DO-2022-000001"
    assert order.status == "draft"
    assert order.region == "KP-04"
    approved = orders.approve_order(stocked, order.number, user="kim", at=at(2, 9))
    assert (approved.status, approved.approved_by) == ("approved", "kim")
    sent = orders.dispatch_order(
        stocked,
        order.number,
        carrier="KPA unit 525",
        vehicle="truck 12-345",
        carrier_kind="army",
        user="ri",
        at=at(2, 15),
    )
    assert sent.status == "dispatched"
    assert (sent.carrier, sent.vehicle, sent.carrier_kind) == (
        "KPA unit 525",
        "truck 12-345",
        "army",
    )
    # First expiry first out: all 200 of EARLY, then 100 of LATE, under the order's number.
    assert sent.lines[0].lots == (("EARLY", "2022-12-31", 200), ("LATE", "2024-06-30", 100))
    assert stock(stocked, WAREHOUSE) == {"LATE": 900}
    refs = stocked.scalars(select(StockEntry.reference).where(StockEntry.kind == "transfer_out"))
    assert set(refs) == {order.number}

    done = orders.deliver_order(
        stocked,
        order.number,
        receiver="Pak Chol (store keeper)",
        lines=[PodLine("PARA-500", accepted=300)],
        user="ri",
        at=at(3, 11),
    )
    # Every unit accepted: closed on delivery.
    assert done.status == "closed"
    assert done.received_by == "Pak Chol (store keeper)"
    assert stock(stocked, STORE) == {"EARLY": 200, "LATE": 100}
    assert [(e.from_status, e.to_status, e.by) for e in done.events] == [
        (None, "draft", "kim"),
        ("draft", "approved", "kim"),
        ("approved", "dispatched", "ri"),
        ("dispatched", "delivered", "ri"),
        ("delivered", "closed", "ri"),
    ]
    assert done.lead_hours == {
        "approval": 1.0,
        "dispatch": 6.0,
        "transit": 20.0,
        "total": 27.0,
        "chain": 20.0,
    }
    assert service.verify(stocked).ok
    assert orders.get_order(stocked, order.number).to_dict()["status"] == "closed"
    listed = orders.list_orders(stocked, facility=STORE)
    assert [(row.number, row.units) for row in listed] == [(order.number, 300)]


def test_rejected_units_are_written_off_at_the_destination(stocked: Session) -> None:
    number = dispatched(stocked, 300)
    done = orders.deliver_order(
        stocked,
        number,
        receiver="Pak Chol",
        lines=[PodLine("PARA-500", accepted=280, rejected=20, reason="damaged", note="wet boxes")],
        user="ri",
        at=at(3, 11),
    )
    # Rejections keep the order open until someone has reconciled them.
    assert done.status == "delivered"
    line = done.lines[0]
    assert (line.accepted, line.rejected, line.rejection_reason) == (280, 20, "damaged")
    # The rejected units came from the lot first to expire; nothing stays in transit.
    assert stock(stocked, STORE) == {"EARLY": 180, "LATE": 100}
    adjust = stocked.execute(
        select(StockEntry.quantity, StockEntry.reason, StockEntry.reference).where(
            StockEntry.kind == "adjust"
        )
    ).all()
    assert adjust == [(-20, "damaged", number)]
    transit = stocked.scalar(
        select(func.sum(StockEntry.quantity)).where(
            StockEntry.reference == number, StockEntry.kind.in_(("transfer_out", "transfer_in"))
        )
    )
    assert transit == 0
    closed = orders.close_order(stocked, number, user="kim", note="damage reported to carrier")
    assert closed.status == "closed"
    assert service.verify(stocked).ok


def test_short_shipped_units_are_lost_in_the_ledger(stocked: Session) -> None:
    number = dispatched(stocked, 100)
    orders.deliver_order(
        stocked,
        number,
        receiver="Pak Chol",
        lines=[PodLine("PARA-500", accepted=90, rejected=10, reason="short_shipped")],
        user="ri",
        at=at(3, 11),
    )
    reasons = stocked.scalars(select(StockEntry.reason).where(StockEntry.kind == "adjust"))
    assert list(reasons) == ["lost"]


def test_an_orders_dispatch_and_delivery_are_not_reversed(stocked: Session) -> None:
    """Reversing the batch of a dispatch (or a delivery) would leave the order's lines and
    what is in transit under its number disagreeing: refused, naming the order."""
    number = dispatched(stocked, 300)
    sent = orders.get_order(stocked, number).dispatch_batch
    assert sent is not None
    before = counts(stocked)
    with pytest.raises(
        ConflictError, match=f"stock batch {sent} is the dispatch of distribution order {number}"
    ):
        service.reverse(stocked, sent, reason="wrong truck", user="kim")
    assert counts(stocked) == before
    assert stock(stocked, WAREHOUSE) == {"LATE": 900}
    done = orders.deliver_order(
        stocked,
        number,
        receiver="Pak Chol",
        lines=[PodLine("PARA-500", accepted=290, rejected=10, reason="damaged")],
        user="ri",
        at=at(3, 11),
    )
    assert done.delivery_batch is not None
    before = counts(stocked)
    with pytest.raises(ConflictError, match=f"is the delivery of distribution order {number}"):
        service.reverse(stocked, done.delivery_batch, reason="typo", user="ri")
    with pytest.raises(ConflictError, match=r"correct order \S+ through its own steps"):
        Ledger(stocked, user="ri").reverse(done.delivery_batch, reason="typo")
    assert counts(stocked) == before
    assert stock(stocked, STORE) == {"EARLY": 190, "LATE": 100}
    assert service.verify(stocked).ok


@pytest.mark.parametrize(
    ("kind", "facility", "other", "units", "in_transit"),
    [
        # 50 received by hand under the order's number: 250 left on the road.
        ("transfer_in", STORE, WAREHOUSE, 50, "250 tablets"),
        # 20 more sent by hand under it: 320 on the road.
        ("transfer_out", WAREHOUSE, STORE, 20, "320 tablets"),
    ],
)
def test_a_delivery_receives_only_what_its_dispatch_put_in_transit(
    stocked: Session, kind: str, facility: str, other: str, units: int, in_transit: str
) -> None:
    """The proof of delivery accounts for what was dispatched; the ledger receives what is
    in transit. When entries under the order's number were posted outside the order the
    two differ, and the delivery is refused until they are reversed."""
    number = dispatched(stocked, 300)
    by_hand = Ledger(stocked, user="setup").post(
        [
            Movement(
                at(3, 8), kind, facility, "PARA-500", units, counterparty=other, reference=number
            )
        ],
        source="by hand",
    )
    assert by_hand.committed, by_hand.rejections
    assert by_hand.batch_id is not None
    before = (counts(stocked), stock(stocked, STORE))
    pod = [PodLine("PARA-500", accepted=300)]
    with pytest.raises(OrderRefused) as caught:
        orders.deliver_order(stocked, number, receiver="Pak", lines=pod, user="ri", at=at(3, 11))
    assert f"line 1 (PARA-500): 300 dispatched but {in_transit} in transit under {number}" in str(
        caught.value
    )
    assert (counts(stocked), stock(stocked, STORE)) == before
    assert orders.get_order(stocked, number).status == "dispatched"
    # The entry by hand reversed, the delivery receives exactly what was dispatched.
    assert service.reverse(stocked, by_hand.batch_id, reason="by mistake", user="ri").committed
    done = orders.deliver_order(stocked, number, receiver="Pak", lines=pod, user="ri", at=at(3, 11))
    assert done.status == "closed"
    assert stock(stocked, STORE) == {"EARLY": 200, "LATE": 100}
    assert service.verify(stocked).ok


@pytest.mark.parametrize(
    ("clock", "sent"),
    [
        # 23:30 on 30 June in Pyongyang (14:30 UTC): the lot's last day, it goes.
        (datetime(2022, 6, 30, 14, 30, tzinfo=UTC), True),
        # 00:30 on 1 July in Pyongyang, still 30 June in UTC: expired there, refused.
        (datetime(2022, 6, 30, 15, 30, tzinfo=UTC), False),
    ],
)
def test_a_dispatch_reads_expiry_on_the_countrys_day(
    stocked: Session, clock: datetime, sent: bool
) -> None:
    """An order dispatched now (the clock in UTC) judges its lots' expiry on the country's
    day, as the ledger does for every movement, not on the UTC date."""
    receive(stocked, WAREHOUSE, "JUNE", 50, date(2022, 6, 30))
    order = orders.create_order(
        stocked, WAREHOUSE, STORE, [OrderLineIn("PARA-500", 20, lot="JUNE")], user="kim", at=at(2)
    )
    orders.approve_order(stocked, order.number, user="kim", at=at(2, 11))
    before = counts(stocked)

    def dispatch() -> orders.OrderView:
        return orders.dispatch_order(
            stocked,
            order.number,
            carrier="civil transport",
            carrier_kind="civil",
            user="kim",
            now=lambda: clock,
            zone=ZONE,
        )

    if sent:
        assert dispatch().lines[0].lots == (("JUNE", "2022-06-30", 20),)
        assert stock(stocked, WAREHOUSE)["JUNE"] == 30
        return
    with pytest.raises(OrderRefused, match="lot JUNE of PARA-500 expired on 2022-06-30"):
        dispatch()
    assert counts(stocked) == before
    assert orders.get_order(stocked, order.number).status == "approved"


def test_an_order_may_be_cancelled_before_dispatch_only(stocked: Session) -> None:
    order = draft(stocked)
    with pytest.raises(SitroomError, match="gives its reason"):
        orders.cancel_order(stocked, order.number, reason=" ", user="kim")
    cancelled = orders.cancel_order(stocked, order.number, reason="duplicate", user="kim")
    assert cancelled.status == "cancelled"
    assert cancelled.events[-1].note == "duplicate"
    number = dispatched(stocked)
    with pytest.raises(ConflictError, match=f"order {number} is dispatched"):
        orders.cancel_order(stocked, number, reason="too late", user="kim")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"source": "WH-NOWHERE"}, "unknown facility 'WH-NOWHERE'"),
        ({"destination": "PH-NOWHERE"}, "unknown facility 'PH-NOWHERE'"),
        ({"lines": [OrderLineIn("ASPIRIN", 5)]}, "line 1: unknown item 'ASPIRIN'"),
        ({"lines": [OrderLineIn("PARA-500", 5, lot="NOLOT")]}, "unknown lot 'NOLOT'"),
        ({"destination": PHARMACY}, f"no route from {WAREHOUSE} to {PHARMACY}"),
        ({"destination": OTHER_STORE}, f"no route from {WAREHOUSE} to {OTHER_STORE}"),
        ({"lines": [OrderLineIn("PARA-500", 0)]}, "whole number of tablets above 0"),
        ({"lines": [OrderLineIn("PARA-500", -5)]}, "whole number"),
        ({"lines": [OrderLineIn("PARA-500", 2.5)]}, "whole number"),  # type: ignore[arg-type]
        ({"lines": []}, "at least one line"),
        (
            {"lines": [OrderLineIn("PARA-500", 5), OrderLineIn("PARA-500", 6)]},
            "on the order already",
        ),
        ({"origin": "DO-1999-000001"}, "unknown origin order"),
        ({"at": datetime.now(ZONE) + timedelta(days=3)}, "in the future"),
    ],
)
def test_a_bad_order_is_refused_and_nothing_is_written(
    stocked: Session, kwargs: dict[str, object], words: str
) -> None:
    before = counts(stocked)
    arguments: dict[str, object] = {
        "source": WAREHOUSE,
        "destination": STORE,
        "lines": [OrderLineIn("PARA-500", 10)],
        "user": "kim",
        "at": at(2),
    }
    arguments.update(kwargs)
    with pytest.raises((SitroomError, NotFoundError)) as caught:
        orders.create_order(stocked, **arguments)  # type: ignore[arg-type]
    assert words in str(caught.value)
    assert counts(stocked) == before


def test_a_declared_route_allows_an_order_off_the_supplier_links(stocked: Session) -> None:
    stocked.execute(
        text(
            "INSERT INTO supply_route (source_id, destination_id, declared_by, declared_at)"
            " SELECT s.id, d.id, 'test', :now FROM supply_facility s, supply_facility d"
            " WHERE s.code = :s AND d.code = :d"
        ),
        {"s": WAREHOUSE, "d": OTHER_WAREHOUSE, "now": datetime(2022, 5, 1)},
    )
    stocked.commit()
    made = orders.create_order(
        stocked, WAREHOUSE, OTHER_WAREHOUSE, [OrderLineIn("PARA-500", 5)], user="kim", at=at(2)
    )
    assert made.status == "draft"
    # A route is one way.
    with pytest.raises(OrderRefused, match="no route from WH-KP-01 to WH-KP-04"):
        orders.create_order(
            stocked, OTHER_WAREHOUSE, WAREHOUSE, [OrderLineIn("PARA-500", 5)], user="kim"
        )


def test_dispatch_beyond_stock_is_refused_and_nothing_is_written(stocked: Session) -> None:
    order = draft(stocked, 5000)
    orders.approve_order(stocked, order.number, user="kim", at=at(2, 9))
    before = counts(stocked)
    with pytest.raises(OrderRefused) as caught:
        orders.dispatch_order(
            stocked,
            order.number,
            carrier="civil transport",
            carrier_kind="civil",
            user="kim",
            at=at(2, 15),
        )
    message = str(caught.value)
    assert message.startswith(f"order {order.number}: line 1 (PARA-500): ")
    assert "WH-KP-04 has 1,200 tablets of PARA-500" in message
    assert "cannot send 5,000" in message
    assert "nothing was written" in message
    assert counts(stocked) == before
    assert orders.get_order(stocked, order.number).status == "approved"
    assert stock(stocked, WAREHOUSE) == {"EARLY": 200, "LATE": 1000}


def test_a_dispatch_names_its_carrier_and_kind(stocked: Session) -> None:
    order = draft(stocked)
    orders.approve_order(stocked, order.number, user="kim", at=at(2, 9))
    before = counts(stocked)
    with pytest.raises(OrderRefused, match=r"names its carrier.*unknown carrier kind 'navy'"):
        orders.dispatch_order(stocked, order.number, carrier=" ", carrier_kind="navy", user="k")
    with pytest.raises(OrderRefused, match="before the previous step"):
        orders.dispatch_order(
            stocked, order.number, carrier="x", carrier_kind="civil", user="k", at=at(2, 8)
        )
    assert counts(stocked) == before


@pytest.mark.parametrize(
    ("pod", "words"),
    [
        (
            [PodLine("PARA-500", accepted=301)],
            "order {n}: line 1 (PARA-500): 301 delivered (accepted 301 + rejected 0),"
            " more than the 300 dispatched",
        ),
        (
            [PodLine("PARA-500", accepted=290, rejected=20, reason="damaged")],
            "more than the 300 dispatched",
        ),
        ([PodLine("PARA-500", accepted=250)], "300 dispatched but 250 accounted for"),
        ([PodLine("PARA-500", accepted=280, rejected=20)], "20 rejected: give the reason"),
        (
            [PodLine("PARA-500", accepted=280, rejected=20, reason="eaten")],
            "(got 'eaten')",
        ),
        ([PodLine("PARA-500", accepted=-1, rejected=301, reason="other")], "negative"),
        ([PodLine("PARA-500", accepted=299.5)], "whole numbers"),  # type: ignore[arg-type]
        ([], "line 1 (PARA-500): not on the proof of delivery"),
        (
            [PodLine("PARA-500", accepted=300), PodLine("AMOX-500", accepted=1)],
            "AMOX-500 is not on the order",
        ),
    ],
)
def test_a_bad_proof_of_delivery_is_refused_and_nothing_is_written(
    stocked: Session, pod: list[PodLine], words: str
) -> None:
    number = dispatched(stocked)
    before = counts(stocked)
    with pytest.raises(OrderRefused) as caught:
        orders.deliver_order(stocked, number, receiver="Pak", lines=pod, user="ri", at=at(3))
    assert words.format(n=number) in str(caught.value)
    assert counts(stocked) == before
    assert orders.get_order(stocked, number).status == "dispatched"
    assert stock(stocked, STORE) == {}


def test_a_proof_of_delivery_is_signed(stocked: Session) -> None:
    number = dispatched(stocked)
    with pytest.raises(OrderRefused, match="signed by a named receiver"):
        orders.deliver_order(
            stocked, number, receiver=" ", lines=[PodLine("PARA-500", 300)], user="ri"
        )


def test_each_step_happens_once(stocked: Session) -> None:
    number = dispatched(stocked)
    with pytest.raises(ConflictError, match=rf"order {number} is dispatched \(by kim, "):
        orders.dispatch_order(stocked, number, carrier="x", carrier_kind="army", user="kim")
    with pytest.raises(ConflictError, match="cannot be approved"):
        orders.approve_order(stocked, number, user="kim")
    with pytest.raises(ConflictError, match="cannot be closed"):
        orders.close_order(stocked, number, user="kim")
    with pytest.raises(NotFoundError, match="no distribution order 'DO-0000'"):
        orders.approve_order(stocked, "DO-0000", user="kim")


def test_a_user_acts_only_in_their_scopes(stocked: Session) -> None:
    chagang = Principal("lee", "logistician", ("/KP/KP-04/",), ("KP-04",))
    pyongyang = Principal("pak", "logistician", ("/KP/KP-01/",), ("KP-01",))
    pharmacist = Principal("pam", "pharmacist", ("/KP/",), ("KP",))
    before = counts(stocked)
    with pytest.raises(ForbiddenError, match="outside their scopes"):
        draft(stocked, principal=pyongyang)
    with pytest.raises(ForbiddenError, match=r"permission stock\.write"):
        draft(stocked, principal=pharmacist)
    assert counts(stocked) == before
    order = draft(stocked, principal=chagang)
    with pytest.raises(ForbiddenError, match="cannot approve order"):
        orders.approve_order(stocked, order.number, user="pak", principal=pyongyang)
    orders.approve_order(stocked, order.number, user="lee", principal=chagang, at=at(2, 9))
    before = counts(stocked)
    with pytest.raises(ForbiddenError):
        orders.dispatch_order(
            stocked, order.number, carrier="x", carrier_kind="army", user="pak", principal=pyongyang
        )
    assert counts(stocked) == before
    orders.dispatch_order(
        stocked,
        order.number,
        carrier="x",
        carrier_kind="army",
        user="lee",
        principal=chagang,
        at=at(2, 15),
    )
    with pytest.raises(ForbiddenError):
        orders.deliver_order(
            stocked,
            order.number,
            receiver="Pak",
            lines=[PodLine("PARA-500", 300)],
            user="pak",
            principal=pyongyang,
        )
    with pytest.raises(ForbiddenError):
        orders.get_order(stocked, order.number, principal=pyongyang)
    assert orders.list_orders(stocked, principal=pyongyang) == []
    assert len(orders.list_orders(stocked, principal=chagang)) == 1


def test_the_history_is_append_only(stocked: Session) -> None:
    draft(stocked)
    for statement in ("UPDATE supply_order_event SET by = 'x'", "DELETE FROM supply_order_event"):
        with pytest.raises(Exception, match="append-only"):
            stocked.execute(text(statement))
        stocked.rollback()


def test_lead_times_per_region_and_carrier_and_along_a_chain(stocked: Session) -> None:
    receive(stocked, STOCKPILE, "S1", 5000, date(2024, 1, 1))
    receive(stocked, OTHER_WAREHOUSE, "P1", 5000, date(2024, 1, 1))

    def leg(
        src: str, dst: str, start: int, hours: tuple[int, int, int], kind: str, **kw: object
    ) -> str:
        made = orders.create_order(
            stocked,
            src,
            dst,
            [OrderLineIn("PARA-500", 100)],
            user="kim",
            at=at(start, 0),
            **kw,  # type: ignore[arg-type]
        )
        approve, dispatch, deliver = (at(start, 0) + timedelta(hours=h) for h in hours)
        orders.approve_order(stocked, made.number, user="kim", at=approve)
        orders.dispatch_order(
            stocked, made.number, carrier="c", carrier_kind=kind, user="kim", at=dispatch
        )
        orders.deliver_order(
            stocked,
            made.number,
            receiver="r",
            lines=[PodLine("PARA-500", 100)],
            user="kim",
            at=deliver,
        )
        return made.number

    # Stockpile -> Chagang warehouse by the army, then on to the Changgang store by road.
    first = leg(STOCKPILE, WAREHOUSE, 2, (2, 4, 24), "army")
    second = leg(WAREHOUSE, STORE, 4, (1, 3, 10), "civil", origin=first)
    leg(OTHER_WAREHOUSE, OTHER_STORE, 2, (1, 2, 8), "army")
    shown = orders.get_order(stocked, second)
    assert shown.origin == first
    # Released at the stockpile on day 2 at 04:00, on the store's shelf on day 4 at 10:00.
    assert shown.lead_hours["chain"] == 54.0

    by_kind = orders.lead_times(stocked, by="carrier_kind")
    groups = {g.group: g for g in by_kind.groups}
    assert set(groups) == {"army", "civil"}
    assert groups["army"].orders == 2
    assert groups["army"].steps["transit"].median == 13.0  # 20 and 6 hours
    assert groups["civil"].steps["transit"].median == 7.0
    assert by_kind.overall.orders == 3
    by_region = {g.group: g for g in orders.lead_times(stocked, by="region").groups}
    assert set(by_region) == {"KP-01", "KP-04"}
    assert by_region["KP-04"].steps["chain"].n == 2
    assert by_region["KP-04"].steps["chain"].p90 == pytest.approx(20 + 0.9 * 34)
    window = orders.lead_times(stocked, since=at(3), until=at(5))
    assert window.overall.orders == 1
    assert orders.lead_times(stocked, by="region_carrier_kind").groups[0].group == "KP-01 army"
    with pytest.raises(SitroomError, match="unknown grouping"):
        orders.lead_times(stocked, by="vehicle")
    assert "steps" in by_kind.to_dict()
