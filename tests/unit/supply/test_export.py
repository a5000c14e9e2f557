"""``sitroom supply export`` is the inverse of ``sitroom supply import`` (issue #11, item 3).

A history with reversals, stocktakes, back-dated entries, transfers and an
order is exported, imported into a second, empty database, and must give the
same stock on hand per facility, item and lot there.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from sitroom.country import Country
from sitroom.db import create_db_engine, upgrade
from sitroom.setup import setup_country
from sitroom.supply import orders, service
from sitroom.supply.events_csv import write_events
from sitroom.supply.ledger import Ledger, Movement, PostSummary
from sitroom.supply.orders import OrderLineIn, PodLine
from tests.conftest import TEST_DATABASE_URL

ZONE = ZoneInfo("Asia/Pyongyang")
WAREHOUSE = "WH-KP-04"
STORE = "ST-KP-04-CHANGGANG"
PHARMACY = "PH-KP-04-CHANGGANG-001"
#: PostgreSQL schema of the second database (the first is the test database's "public").
TWIN_SCHEMA = "sitroom_test_export_twin"


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2022, 5, day, hour, tzinfo=ZONE)


@pytest.fixture
def twin(_migrated: str, tmp_path: Path, country: Country) -> Iterator[Session]:
    """A second database, migrated and set up with the country, its ledger empty."""
    url = TEST_DATABASE_URL
    if url:
        admin = create_db_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {TWIN_SCHEMA} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {TWIN_SCHEMA}"))
        engine = create_db_engine(url, connect_args={"options": f"-c search_path={TWIN_SCHEMA}"})
        upgrade(engine)
    else:
        path = tmp_path / "twin.db"
        shutil.copy(_migrated, path)
        engine = create_db_engine(f"sqlite:///{path}")
    try:
        with Session(engine, expire_on_commit=False) as session:
            setup_country(session, country)
            yield session
    finally:
        engine.dispose()
        if url:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {TWIN_SCHEMA} CASCADE"))
            admin.dispose()


def post(session: Session, *movements: Movement) -> PostSummary:
    summary = Ledger(session, user="test", zone=ZONE).post(list(movements), source="test")
    assert summary.committed, summary.rejections
    return summary


def undo(session: Session, summary: PostSummary) -> None:
    assert summary.batch_id is not None
    undone = service.reverse(session, summary.batch_id, reason="entered by mistake", user="test")
    assert undone.committed, undone.rejections


def on_hand(session: Session) -> dict[tuple[str, str, str], int]:
    return {
        (line.facility, line.item, line.lot): line.quantity
        for line in service.stock_on_hand(session)
    }


def export(session: Session, path: Path) -> list[dict[str, object]]:
    rows = list(service.ledger_rows(session))
    path.write_text("".join(write_events(rows)), encoding="utf-8")
    return rows


def receipt(when: datetime, facility: str, quantity: int, lot: str, expiry: date) -> Movement:
    return Movement(when, "receipt", facility, "PARA-500", quantity, lot=lot, expiry=expiry)


def dispense(when: datetime, quantity: int, lot: str | None = None) -> Movement:
    return Movement(when, "dispense", PHARMACY, "PARA-500", quantity, lot=lot, patients=1)


def count(when: datetime, facility: str, quantity: int, lot: str) -> Movement:
    return Movement(when, "stocktake", facility, "PARA-500", quantity, lot=lot)


def test_export_then_import_gives_the_same_stock_after_reversals_and_stocktakes(
    loaded: Session, twin: Session, tmp_path: Path
) -> None:
    post(
        loaded,
        receipt(at(1), WAREHOUSE, 1000, "A", date(2023, 6, 30)),
        receipt(at(1), WAREHOUSE, 400, "B", date(2022, 12, 31)),
    )
    post(
        loaded,
        Movement(at(2), "transfer_out", WAREHOUSE, "PARA-500", 300, lot="A", counterparty=STORE,
                 reference="T-1"),
        Movement(at(3), "transfer_in", STORE, "PARA-500", 300, counterparty=WAREHOUSE,
                 reference="T-1"),
        Movement(at(4), "transfer_out", STORE, "PARA-500", 100, counterparty=PHARMACY,
                 reference="T-2"),
        Movement(at(4, 15), "transfer_in", PHARMACY, "PARA-500", 100, counterparty=STORE,
                 reference="T-2"),
    )  # fmt: skip
    # A dispensing typed twice, counted at the stocktake, then reversed: the reversal
    # gives the 30 back on day 5, before the count of day 6 that had seen them go.
    twice = post(loaded, dispense(at(5), 30, lot="A"))
    post(loaded, count(at(6), PHARMACY, 70, "A"))
    undo(loaded, twice)
    # A dispensing of day 5 posted after the count of day 6 (back-dated across it).
    post(loaded, dispense(at(5, 12), 10, lot="A"))
    # A count that was itself wrong, reversed.
    wrong = post(loaded, count(at(7), WAREHOUSE, 650, "A"))
    undo(loaded, wrong)
    # A receipt at the wrong store, counted there, then reversed (its lot C is known to
    # the exported history only through the count: nothing is left of it).
    misplaced = post(loaded, receipt(at(6), STORE, 50, "C", date(2024, 1, 31)))
    post(loaded, count(at(7), STORE, 50, "C"))
    undo(loaded, misplaced)
    # ... and one whose count found more than the reversed receipt brought.
    extra = post(loaded, receipt(at(6), STORE, 20, "D", date(2024, 3, 31)))
    post(loaded, count(at(7), STORE, 25, "D"))
    undo(loaded, extra)
    # A transfer sent by mistake and reversed before it arrived.
    undo(
        loaded,
        post(
            loaded,
            Movement(at(8), "transfer_out", WAREHOUSE, "PARA-500", 50, lot="B",
                     counterparty=STORE, reference="T-3"),
        ),
    )  # fmt: skip
    # A distribution order, delivered with rejections written off.
    order = orders.create_order(
        loaded, WAREHOUSE, STORE, [OrderLineIn("PARA-500", 120)], user="kim", at=at(9, 8)
    )
    orders.approve_order(loaded, order.number, user="kim", at=at(9, 9))
    orders.dispatch_order(
        loaded, order.number, carrier="civil", carrier_kind="civil", user="kim", at=at(9, 10)
    )
    orders.deliver_order(
        loaded,
        order.number,
        receiver="Pak",
        lines=[PodLine("PARA-500", accepted=110, rejected=10, reason="damaged")],
        user="ri",
        at=at(10),
        zone=ZONE,
    )
    assert service.verify(loaded).ok
    before = on_hand(loaded)
    assert before[(PHARMACY, "PARA-500", "A")] == 90  # 100 received, 10 dispensed
    assert before[(STORE, "PARA-500", "D")] == 5

    path = tmp_path / "ledger.csv"
    rows = export(loaded, path)
    counts = [
        (r["facility"], r["lot"], r["event"], r["quantity"], r["reason"])
        for r in rows
        if r["event"] == "stocktake" or r["reason"] == "found"
    ]
    # The pharmacy's count is exported as the level it leaves in the exported history
    # (100 - 10), not the 70 recorded; lot C's count (nothing left) is left out; lot D's
    # is the 5 units it found, as an adjustment bringing the lot in.
    assert counts == [(PHARMACY, "A", "stocktake", 90, None), (STORE, "D", "adjust", 5, "found")]

    imported = service.import_events(twin, path, ZONE, user="test")
    assert imported.committed, imported.rejections
    assert on_hand(twin) == before
    assert service.verify(twin).ok
    # And the exported file of the imported ledger is the same file.
    again = tmp_path / "again.csv"
    export(twin, again)
    assert again.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


def test_a_count_exports_as_recorded_when_nothing_crossed_it(loaded: Session) -> None:
    """Without a reversal or a back-dated entry across it, a stocktake's exported
    quantity is the count recorded (and the evidence of an inspection always is)."""
    post(loaded, receipt(at(1), PHARMACY, 100, "A", date(2023, 6, 30)))
    post(loaded, dispense(at(2), 30))
    post(loaded, count(at(3), PHARMACY, 65, "A"))
    twice = post(loaded, dispense(at(4), 5))
    undo(loaded, twice)
    rows = list(service.ledger_rows(loaded))
    assert [(r["event"], r["quantity"]) for r in rows] == [
        ("receipt", 100),
        ("dispense", 30),
        ("stocktake", 65),
    ]
    post(loaded, dispense(at(2, 12), 4))  # back-dated across the count
    exported = [r["quantity"] for r in service.ledger_rows(loaded) if r["event"] == "stocktake"]
    recorded = [
        r["quantity"]
        for r in service.ledger_rows(loaded, recorded_counts=True)
        if r["event"] == "stocktake"
    ]
    assert (exported, recorded) == ([61], [65])
    assert sum(on_hand(loaded).values()) == 61
