"""Supply indicators and alerts (issue #11, item 6), on a ledger written by hand.

Each figure is worked out beside the test from the movements posted.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.country import DEFAULT_MIN_DAYS, Country, ThresholdConfig
from sitroom.errors import ForbiddenError, NotFoundError, SitroomError
from sitroom.supply import service
from sitroom.supply.indicators import alerts, indicators, stock_indicators
from sitroom.supply.ledger import Movement
from sitroom.supply.models import FACILITY_TYPES, StockBatch
from tests.unit.supply.world import LAST, build, dispense, may, post, receipt

A = date(2023, 12, 31)  # PARA-500 lot A: far off
B = date(2022, 6, 15)  # lot B: within 30 days of 28 May
C = date(2022, 5, 20)  # lot C: expires in the window


@pytest.fixture
def ledger(db_session: Session) -> Session:
    """The handmade ledger (see each test for the figures it gives)."""
    session = db_session
    build(session)
    post(
        session,
        receipt(may(1).replace(month=4, day=20), "PH-N1", "PARA-500", 100, "A", A),
        receipt(may(1).replace(month=4, day=1), "WH-N", "PARA-500", 1000, "A", A),
        receipt(may(1), "PH-N2", "PARA-500", 50, "C", C),
        receipt(may(1), "PH-S1", "PARA-500", 100, "A", A),
    )
    post(
        session,
        dispense(may(3), "PH-N1", "PARA-500", 40, 3),
        dispense(may(5), "PH-N1", "PARA-500", 60, 5),
        receipt(may(10), "PH-N1", "PARA-500", 200, "B", B),
        dispense(may(2), "PH-N2", "PARA-500", 10, 1),
        Movement(
            may(10), "transfer_out", "WH-N", "PARA-500", 300, counterparty="ST-N", reference="T1"
        ),
        Movement(
            may(11), "transfer_in", "ST-N", "PARA-500", 300, counterparty="WH-N", reference="T1"
        ),
        dispense(may(27), "PH-S1", "PARA-500", 90, 9),
    )
    # A dispensing entered by mistake and reversed: it counts for nothing.
    post(session, dispense(may(12), "PH-N1", "PARA-500", 50, 4))
    batch = session.scalar(select(StockBatch.id).order_by(StockBatch.id.desc()).limit(1))
    assert batch is not None
    assert service.reverse(session, batch, reason="entered twice", user="test").committed
    post(session, dispense(may(20), "PH-N1", "PARA-500", 30, 2))
    return session


def rows(session: Session, country: Country, **kwargs: object) -> dict[str, dict[str, object]]:
    report = indicators(session, country, day=LAST, item="PARA-500", **kwargs)  # type: ignore[arg-type]
    return {row.facility: row.to_dict() for row in report.facilities}


def test_consumption_stock_out_days_and_days_of_stock(ledger: Session, country: Country) -> None:
    found = rows(ledger, country)
    n1 = found["PH-N1"]
    # 40 + 60 + 30 dispensed (the 50 reversed counts for nothing); out of stock from the
    # end of 5 May until the receipt of 10 May: 5, 6, 7, 8 and 9 May.
    assert n1["consumption"] == 130
    assert n1["stock_out_days"] == 5
    assert n1["daily_use"] == pytest.approx(130 / 23, abs=1e-3)
    assert n1["on_hand"] == n1["usable"] == 170
    assert n1["days_of_stock"] == pytest.approx(170 / (130 / 23), abs=0.01)
    assert n1["months_of_stock"] == pytest.approx(170 / (130 / 23) / (365.25 / 12), abs=1e-3)
    # Lot B (15 June) expires within 30 days of 28 May.
    assert n1["expiring"] == 170
    assert not n1["out_now"]


def test_an_expired_lot_is_not_usable_stock(ledger: Session, country: Country) -> None:
    n2 = rows(ledger, country)["PH-N2"]
    # 40 left of lot C, which expired on 20 May: out from 21 to 28 May (8 days).
    assert (n2["on_hand"], n2["usable"], n2["expired"]) == (40, 0, 40)
    assert n2["stock_out_days"] == 8
    assert n2["out_now"]
    assert n2["days_of_stock"] == 0
    assert n2["daily_use"] == pytest.approx(10 / 20, abs=1e-3)


def test_a_warehouse_consumes_what_it_issues(ledger: Session, country: Country) -> None:
    found = rows(ledger, country)
    assert found["WH-N"]["consumption"] == 300
    assert found["WH-N"]["on_hand"] == 700
    assert found["WH-N"]["daily_use"] == pytest.approx(300 / 28, abs=1e-3)
    # The store received and issued nothing: stock without use, no limit to its days.
    assert found["ST-N"]["consumption"] == 0
    assert found["ST-N"]["days_of_stock"] is None
    # A facility that never held the item is not listed (nor "out" of it).
    assert "PH-S1" in found
    assert "WH-S" not in found


def test_alerts_at_the_thresholds(ledger: Session, country: Country) -> None:
    found = alerts(ledger, country, day=LAST, item="PARA-500")
    kinds = {(a.facility, a.kind) for a in found}
    assert kinds == {
        ("PH-N2", "stock_out"),
        ("PH-N2", "expired"),
        ("PH-S1", "low_stock"),
        ("PH-N1", "expiring"),
    }
    assert found[0].kind == "stock_out"  # the most urgent first
    low = next(a for a in found if a.kind == "low_stock")
    # 10 tablets left at 90 / 28 a day: 3.1 days, below the pharmacy's 7.
    assert low.sentence == (
        "PH-S1 (pharmacy, S-D1) has 10 tablets of PARA-500 left: 3.1 days at 3.2 a day,"
        " below the 7 days set for a pharmacy."
    )
    expiring = next(a for a in found if a.kind == "expiring")
    assert "170 tablets of PARA-500 expire within 30 days" in expiring.sentence


def test_thresholds_are_configurable_per_type_and_item(ledger: Session, country: Country) -> None:
    # PH-N1 holds 30.1 days: alerted with a pharmacy minimum of 31, or an item minimum.
    by_type = ThresholdConfig(min_days={"pharmacy": 31}, expiring_days=0)
    report = indicators(ledger, country, day=LAST, item="PARA-500", thresholds=by_type)
    assert ("PH-N1", "low_stock") in {(a.facility, a.kind) for a in report.alerts}
    by_item = ThresholdConfig(items={"PARA-500": {"pharmacy": 31}}, expiring_days=0)
    report = indicators(ledger, country, day=LAST, item="PARA-500", thresholds=by_item)
    assert ("PH-N1", "low_stock") in {(a.facility, a.kind) for a in report.alerts}
    # Lot B (15 June) is 18 days off: not within 10 days.
    report = indicators(ledger, country, day=LAST, item="PARA-500", expiring_days=10)
    assert not [a for a in report.alerts if a.kind == "expiring"]
    assert set(DEFAULT_MIN_DAYS) == set(FACILITY_TYPES)


def test_areas_add_up_their_facilities(ledger: Session, country: Country) -> None:
    report = indicators(ledger, country, day=LAST, item="PARA-500")
    north = next(a for a in report.areas if a.org_unit == "N")
    assert north.facilities == 4  # WH-N, ST-N, PH-N1, PH-N2
    assert north.on_hand == 700 + 300 + 170 + 40
    assert north.usable == 700 + 300 + 170
    assert north.dispensing_facilities == 2
    assert north.out_now == 1
    # What its people used: the pharmacies' dispensing, not the warehouse's issues too.
    assert north.consumption == 140
    assert north.daily_use == pytest.approx(130 / 23 + 10 / 20)
    assert north.days_of_stock == pytest.approx(1170 / (130 / 23 + 10 / 20))


def test_an_earlier_day_reads_the_ledger_as_it_was(ledger: Session, country: Country) -> None:
    report = indicators(
        ledger, country, day=date(2022, 5, 7), item="PARA-500", facility="PH-N1", window_days=7
    )
    (row,) = report.facilities
    # 1 to 7 May: 100 at the start, 40 on the 3rd, 60 on the 5th; out on the 5th to 7th.
    assert (row.on_hand, row.consumption, row.stock_out_days, row.out_now) == (0, 100, 3, True)


def test_empty_at_the_window_start_counts_from_the_start(ledger: Session, country: Country) -> None:
    # 6 to 12 May: PH-N1 was empty on the 6th to 9th, having held stock before.
    report = indicators(
        ledger, country, day=date(2022, 5, 12), item="PARA-500", facility="PH-N1", window_days=7
    )
    assert report.facilities[0].stock_out_days == 4


def test_bad_input_is_refused(ledger: Session, country: Country) -> None:
    with pytest.raises(NotFoundError, match="unknown item 'NOPE'"):
        indicators(ledger, country, day=LAST, item="NOPE")
    with pytest.raises(NotFoundError, match="unknown facility 'PH-X'"):
        indicators(ledger, country, day=LAST, facility="PH-X")
    with pytest.raises(NotFoundError, match="unknown org unit 'ZZ'"):
        indicators(ledger, country, day=LAST, under="ZZ")
    with pytest.raises(SitroomError, match="window must be between 1 and 366"):
        indicators(ledger, country, day=LAST, window_days=0)
    with pytest.raises(SitroomError, match="in the future"):
        indicators(ledger, country, day=date(2999, 1, 1))
    with pytest.raises(SitroomError, match="unknown alert kind"):
        alerts(ledger, country, day=LAST, kinds=["soon"])


def test_a_user_sees_only_their_scopes(ledger: Session, country: Country) -> None:
    south = Principal("kim", "pharmacist", ("/KP/S/",), ("S",))
    report = indicators(ledger, country, day=LAST, item="PARA-500", principal=south)
    assert {row.facility for row in report.facilities} == {"PH-S1"}
    with pytest.raises(ForbiddenError, match="outside their scopes"):
        indicators(ledger, country, day=LAST, under="N", principal=south)
    with pytest.raises(ForbiddenError, match="outside their scopes"):
        indicators(ledger, country, day=LAST, facility="PH-N1", principal=south)


def test_the_pure_function_on_arrays() -> None:
    # Two lots of one group over 4 days: lot 0 (10 at the start, expires day 1), lot 1
    # (received 5 on day 2). Used 3 on day 0 from lot 0.
    found = stock_indicators(
        opening=[10, 0],
        change=[[-3, 0, 0, 0], [0, 0, 5, 0]],
        used=[[3, 0, 0, 0], [0, 0, 0, 0]],
        entries=[[1, 0, 0, 0], [0, 0, 1, 0]],
        expiry=[1, 100],
        group=[0, 0],
        n_groups=1,
        expiring_days=30,
    )
    # Day 2: lot 0 expired (7 on the shelf), lot 1 arrives: out on no day... day 2 has 5.
    assert found.stock_out_days.tolist() == [0]
    assert found.on_hand.tolist() == [12]
    assert found.usable.tolist() == [5]
    assert found.expired.tolist() == [7]
    assert found.daily_use.tolist() == [0.75]
    with pytest.raises(ValueError, match="group holds an index"):
        stock_indicators([1], [[0]], [[0]], [[0]], [0], group=[3], n_groups=1)
    gap = stock_indicators([4], [[0, -4, 0]], [[0, 4, 0]], [[0, 1, 0]], [9], group=[0], n_groups=1)
    assert gap.stock_out_days.tolist() == [2]
    assert np.isclose(gap.daily_use[0], 4.0)
