"""The ledger under random sequences of movements (hypothesis; issue #11, item 3).

Whatever is posted, accepted or refused: the maintained balances equal a full
replay of the ledger, no lot's stock is ever below zero at any moment in time
order (back-dated movements included), a refused post writes nothing, and an
accepted one moves exactly the stock it says.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from sitroom.supply import service
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import StockBalance, StockEntry

ZONE = ZoneInfo("Asia/Pyongyang")
PLACES = ("WH-KP-04", "ST-KP-04-CHANGGANG", "PH-KP-04-CHANGGANG-001", "PH-KP-04-CHANGGANG-002")
#: Each place's customers (supplier links of the generated network).
CUSTOMERS = {
    "WH-KP-04": ("ST-KP-04-CHANGGANG",),
    "ST-KP-04-CHANGGANG": ("PH-KP-04-CHANGGANG-001", "PH-KP-04-CHANGGANG-002"),
}
ITEMS = ("PARA-500", "AMOX-500")
LOTS = {"A": date(2022, 5, 20), "B": date(2022, 12, 31), "C": date(2023, 6, 30)}


@st.composite
def movements(draw: st.DrawFn) -> Movement:
    kind = draw(
        st.sampled_from(
            [
                "receipt",
                "receipt",
                "receipt",
                "dispense",
                "adjust",
                "stocktake",
                "transfer_out",
                "transfer_in",
            ]
        )
    )
    day = draw(st.integers(1, 28))
    when = datetime(2022, 5, day, draw(st.integers(0, 23)), tzinfo=ZONE)
    place = draw(st.sampled_from(PLACES))
    item = draw(st.sampled_from(ITEMS))
    lot = draw(st.sampled_from([None, "A", "B", "C"]))
    quantity = draw(st.integers(0 if kind == "stocktake" else 1, 400))
    movement = Movement(when, kind, place, item, quantity, lot=lot)
    if kind == "receipt" or (kind == "adjust" and draw(st.booleans())):
        movement.lot = lot or "B"
        movement.expiry = LOTS[movement.lot]
        if kind == "adjust":
            movement.reason = "found"
    elif kind == "adjust":
        movement.reason = draw(st.sampled_from(["expired", "damaged", "lost", "stolen"]))
    elif kind == "dispense":
        movement.patients = draw(st.integers(0, 50))
    elif kind.startswith("transfer"):
        supplier = next((s for s, c in CUSTOMERS.items() if place in c), None)
        if kind == "transfer_out":
            movement.counterparty = draw(st.sampled_from(CUSTOMERS.get(place, PLACES)))
        else:
            movement.counterparty = supplier or draw(st.sampled_from(PLACES))
        movement.reference = draw(st.sampled_from(["R1", "R2"]))
    return movement


def _total(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(StockBalance.quantity), 0))) or 0)


def _entries(session: Session) -> int:
    return int(session.scalar(select(func.count(StockEntry.id))) or 0)


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=st.lists(st.lists(movements(), min_size=1, max_size=4), min_size=1, max_size=8))
def test_balances_always_equal_the_replayed_ledger(
    engine: Engine, loaded: Session, batches: list[list[Movement]]
) -> None:
    # Each example in a transaction rolled back at its end: examples do not see each
    # other's stock, so a failure replays and shrinks. The ledger's commits release
    # savepoints.
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            _check_example(session, batches)
        finally:
            session.close()
            outer.rollback()


def _check_example(session: Session, batches: list[list[Movement]]) -> None:
    ledger = Ledger(session, user="property")
    for batch in batches:
        total, entries = _total(session), _entries(session)
        summary = ledger.post(batch, source="property")
        if not summary.committed:
            # Refused: nothing at all was written.
            assert (_total(session), _entries(session)) == (total, entries)
            continue
        # Accepted: the stock moved by exactly the entries' sum, and by what the
        # movements say for those whose effect is known in advance.
        moved = session.scalar(
            select(func.sum(StockEntry.quantity)).where(StockEntry.batch_id == summary.batch_id)
        )
        assert _total(session) - total == int(moved or 0)
        known = {"receipt": 1, "dispense": -1, "transfer_out": -1, "transfer_in": 1}
        if all(m.event in known for m in batch):
            assert int(moved or 0) == sum(known[m.event] * m.quantity for m in batch)
    check = service.verify(session)
    assert check.ok, [m.sentence() for m in check.mismatches]
    lowest = session.scalar(select(func.min(StockBalance.quantity)))
    assert lowest is None or lowest >= 0
