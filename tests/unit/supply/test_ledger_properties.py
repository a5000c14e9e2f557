"""The ledger under random sequences of movements and reversals (hypothesis; issue #11,
item 3).

Whatever is posted or reversed, accepted or refused: the maintained balances equal a
full replay of the ledger, no lot's stock is ever below zero at any moment in time
order (back-dated movements and reversals included), a refused post or reversal
writes nothing, an accepted post moves exactly the stock it says and an accepted
reversal exactly the opposite of its batch. And the ledger exported, imported into
an empty ledger, gives the same stock on hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from sitroom.db import create_db_engine
from sitroom.errors import ConflictError
from sitroom.supply import service
from sitroom.supply.events_csv import parse_events, write_events
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import StockBalance, StockEntry
from tests.conftest import _begin_explicitly

ZONE = ZoneInfo("Asia/Pyongyang")
PLACES = ("WH-KP-04", "ST-KP-04-CHANGGANG", "PH-KP-04-CHANGGANG-001", "PH-KP-04-CHANGGANG-002")
#: Each place's customers (supplier links of the generated network).
CUSTOMERS = {
    "WH-KP-04": ("ST-KP-04-CHANGGANG",),
    "ST-KP-04-CHANGGANG": ("PH-KP-04-CHANGGANG-001", "PH-KP-04-CHANGGANG-002"),
}
ITEMS = ("PARA-500", "AMOX-500")
LOTS = {"A": date(2022, 5, 20), "B": date(2022, 12, 31), "C": date(2023, 6, 30)}
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True, slots=True)
class Reverse:
    """Reverse the ``k``-th batch committed so far (modulo their number; reversals are
    batches too, so reversing one is tried as well)."""

    k: int


Step = list[Movement] | Reverse


def _supplier(place: str) -> str | None:
    return next((s for s, c in CUSTOMERS.items() if place in c), None)


def _neighbours(place: str) -> tuple[str, ...]:
    supplier = _supplier(place)
    return CUSTOMERS.get(place, ()) + ((supplier,) if supplier else ())


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
        supplier = _supplier(place)
        if kind == "transfer_out":
            movement.counterparty = draw(st.sampled_from(CUSTOMERS.get(place, PLACES)))
        else:
            movement.counterparty = supplier or draw(st.sampled_from(PLACES))
        movement.reference = draw(st.sampled_from(["R1", "R2"]))
    return movement


@st.composite
def transfer(draw: st.DrawFn) -> list[Movement]:
    """A transfer out and, in the same batch, its arrival (not before it left)."""
    place = draw(st.sampled_from(PLACES))
    other = draw(st.sampled_from(_neighbours(place)))
    item = draw(st.sampled_from(ITEMS))
    quantity = draw(st.integers(1, 300))
    left = datetime(2022, 5, draw(st.integers(1, 10)), draw(st.integers(0, 23)), tzinfo=ZONE)
    arrived = left + timedelta(hours=draw(st.integers(0, 48)))
    reference = f"T-{draw(st.integers(0, 10**9))}"
    lot = draw(st.sampled_from([None, "A", "B", "C"]))
    return [
        Movement(left, "transfer_out", place, item, quantity, lot=lot, counterparty=other,
                 reference=reference),
        Movement(arrived, "transfer_in", other, item, quantity, counterparty=place,
                 reference=reference),
    ]  # fmt: skip


@st.composite
def exportable(draw: st.DrawFn) -> list[Movement]:
    """A batch whose history the export can represent: anything but a transfer in dated
    before its transfer out left (the ledger allows that; a file in time order cannot
    receive before it sends). Ten days, so that entries often share an hour."""
    made: list[Movement] = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 4)) == 0:
            made += draw(transfer())
            continue
        movement = draw(movements())
        if movement.event.startswith("transfer"):
            movement.event = "receipt"
            movement.lot = movement.lot or "B"
            movement.expiry = LOTS[movement.lot]
            movement.counterparty = movement.reference = None
        movement.time = movement.time.replace(day=1 + movement.time.day % 10)
        made.append(movement)
    return made


def _total(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(StockBalance.quantity), 0))) or 0)


def _entries(session: Session) -> int:
    return int(session.scalar(select(func.count(StockEntry.id))) or 0)


def _moved(session: Session, batch: int | None) -> tuple[int, int]:
    """The entries of a batch and their sum."""
    count, moved = session.execute(
        select(func.count(StockEntry.id), func.coalesce(func.sum(StockEntry.quantity), 0)).where(
            StockEntry.batch_id == batch
        )
    ).one()
    return int(count), int(moved)


def _on_hand(session: Session) -> dict[tuple[str, str, str], int]:
    return {
        (line.facility, line.item, line.lot): line.quantity
        for line in service.stock_on_hand(session)
    }


@pytest.fixture
def isolated(db_url: str, loaded: Session) -> Iterator[Engine]:
    """An engine on the test's database (the country loaded by ``loaded``) whose
    transactions SQLAlchemy begins itself on SQLite too: an example's savepoints then
    nest in its outer transaction, and rolling that back undoes the example (pysqlite
    would begin only at the first write, after the first savepoint: see conftest)."""
    engine = create_db_engine(db_url)
    if engine.dialect.name == "sqlite":
        _begin_explicitly(engine)
    yield engine
    engine.dispose()


def _session(connection: Connection) -> Session:
    # The ledger's commits release savepoints of the example's transaction.
    return Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@SETTINGS
@given(
    steps=st.lists(
        st.one_of(
            st.lists(movements(), min_size=1, max_size=4),
            st.lists(movements(), min_size=1, max_size=4),
            st.builds(Reverse, st.integers(0, 15)),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_balances_always_equal_the_replayed_ledger(isolated: Engine, steps: list[Step]) -> None:
    # Each example in a transaction rolled back at its end: examples do not see each
    # other's stock, so a failure replays and shrinks.
    with isolated.connect() as connection:
        outer = connection.begin()
        session = _session(connection)
        try:
            assert _entries(session) == 0
            _check_example(session, steps)
        finally:
            session.close()
            outer.rollback()


def _check_example(session: Session, steps: list[Step]) -> None:
    ledger = Ledger(session, user="property")
    batches: list[int] = []
    for step in steps:
        total, entries = _total(session), _entries(session)
        if isinstance(step, Reverse):
            if batches:
                _check_reversal(session, ledger, batches, batches[step.k % len(batches)])
            continue
        summary = ledger.post(step, source="property")
        if not summary.committed:
            # Refused: nothing at all was written.
            assert (_total(session), _entries(session)) == (total, entries)
            continue
        assert summary.batch_id is not None
        batches.append(summary.batch_id)
        # Accepted: the stock moved by exactly the entries' sum, and by what the
        # movements say for those whose effect is known in advance.
        _, moved = _moved(session, summary.batch_id)
        assert _total(session) - total == moved
        known = {"receipt": 1, "dispense": -1, "transfer_out": -1, "transfer_in": 1}
        if all(m.event in known for m in step):
            assert moved == sum(known[m.event] * m.quantity for m in step)
    check = service.verify(session)
    assert check.ok, [m.sentence() for m in check.mismatches]
    lowest = session.scalar(select(func.min(StockBalance.quantity)))
    assert lowest is None or lowest >= 0


def _check_reversal(session: Session, ledger: Ledger, batches: list[int], batch: int) -> None:
    """Reverse ``batch``: all of it, exactly the opposite, once; or nothing at all."""
    total, entries = _total(session), _entries(session)
    count, moved = _moved(session, batch)
    try:
        summary = ledger.reverse(batch, reason="property")
    except ConflictError as exc:
        conflict = str(exc)
    else:
        conflict = ""
    if conflict:
        assert "reversed already" in conflict or "is itself a reversal" in conflict, conflict
        assert (_total(session), _entries(session)) == (total, entries)
        return
    if not summary.committed:
        # Issued on since, or arrived: refused whole.
        assert summary.rejections
        assert (_total(session), _entries(session)) == (total, entries)
        return
    assert summary.batch_id is not None
    batches.append(summary.batch_id)
    assert _moved(session, summary.batch_id) == (count, -moved)
    assert _total(session) - total == -moved
    ids = select(StockEntry.id).where(StockEntry.batch_id == batch)
    reversed_ = session.scalar(
        select(func.count(StockEntry.id)).where(
            StockEntry.reverses_id.in_(ids), StockEntry.batch_id == summary.batch_id
        )
    )
    assert reversed_ == count


@SETTINGS
@given(
    steps=st.lists(
        st.one_of(exportable(), exportable(), st.builds(Reverse, st.integers(0, 15))),
        min_size=1,
        max_size=10,
    )
)
def test_the_export_imported_into_an_empty_ledger_gives_the_same_stock(
    isolated: Engine, steps: list[Step]
) -> None:
    with isolated.connect() as connection:
        outer = connection.begin()
        empty = connection.begin_nested()
        session = _session(connection)
        try:
            ledger = Ledger(session, user="property")
            batches: list[int] = []
            for step in steps:
                if isinstance(step, Reverse):
                    if batches:
                        _check_reversal(session, ledger, batches, batches[step.k % len(batches)])
                    continue
                summary = ledger.post(step, source="property")
                if summary.batch_id is not None:
                    batches.append(summary.batch_id)
            before = _on_hand(session)
            raw = "".join(write_events(service.ledger_rows(session))).encode()
            session.close()
            # The ledger as it was before the example: empty.
            empty.rollback()
            session = _session(connection)
            assert _entries(session) == 0
            read = parse_events(raw, ZONE, "export")
            assert not read.rejections
            imported = Ledger(session, user="import").post(read.movements, source="export")
            assert imported.committed, (imported.rejections, raw.decode())
            assert _on_hand(session) == before
            assert service.verify(session).ok
        finally:
            session.close()
            outer.rollback()
