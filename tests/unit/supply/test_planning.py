"""Demand and allocation through the services (issue #11, items 7 and 8), on a small
database: figures worked out by hand beside each test."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.country import Country
from sitroom.errors import ForbiddenError, NotFoundError, SitroomError
from sitroom.supply.demand_service import demand_from_file, forecast_demand
from sitroom.supply.ledger import Movement
from sitroom.supply.planning import plan_allocation, plan_test_kits, proposed_orders
from tests.unit.supply.world import LAST, build, may, post, receipt

FAR = date(2030, 1, 1)
#: The KP protocols: 15 tablets of paracetamol per case (90 % and 10 % both take 15),
#: 2.2 sachets of ORS (0.9 x 2 + 0.1 x 4), 2.1 capsules of amoxicillin (0.1 x 21).
PARA, ORS, AMOX = 15.0, 2.2, 2.1


@pytest.fixture
def world(db_session: Session) -> Session:
    # 40 days of a flat epidemic: 100 a day in N (1 million people), 300 in S (2 million).
    build(db_session, fever={"N": [100] * 40, "S": [300] * 40})
    return db_session


def expected_file(tmp_path: Path, n: float = 10, s: float = 20, days: int = 14) -> Path:
    path = tmp_path / "expected.csv"
    first = date(2022, 5, 29).toordinal()
    lines = ["date,N,S"] + [f"{date.fromordinal(first + k)},{n},{s}" for k in range(days)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_demand_from_a_constant_forecast_is_the_protocol_times_the_cases(
    world: Session, country: Country
) -> None:
    report = forecast_demand(world, country, horizon=14)
    assert report.places == ("N", "S")
    assert report.demand.method == "samples"
    assert report.origins == {"N": LAST, "S": LAST}
    assert report.first_day == date(2022, 5, 29)
    # A flat series forecasts 100 a day with Poisson counting only: 14 days, 1,400 cases.
    cases = report.demand.cases[:, 2]
    assert cases == pytest.approx([1400, 4200], rel=0.005)
    para = report.demand.items.index("PARA-500")
    ors = report.demand.items.index("ORS")
    assert report.demand.units_per_case[para] == pytest.approx(PARA)
    assert report.demand.units_per_case[ors] == pytest.approx(ORS)
    assert report.demand.median[:, para] == pytest.approx(PARA * cases)
    # The 90 % interval of a Poisson(1,400) total: 1,400 -/+ 1.645 x 37.4.
    assert report.demand.lower_90[0, para] == pytest.approx(PARA * (1400 - 61.5), rel=0.01)
    assert report.demand.upper_90[0, para] == pytest.approx(PARA * (1400 + 61.5), rel=0.01)
    row = next(r for r in report.rows() if (r["org_unit"], r["item"]) == ("N", "ORS"))
    assert row["unit"] == "sachet"
    assert row["median"] == pytest.approx(np.ceil(ORS * cases[0]))


def test_demand_from_a_given_series_is_exact(
    world: Session, country: Country, tmp_path: Path
) -> None:
    report = demand_from_file(world, country, expected_file(tmp_path), horizon=7)
    assert report.demand.method == "expected"
    para = report.demand.items.index("PARA-500")
    amox = report.demand.items.index("AMOX-500")
    # 7 days of 10 and 20 expected cases.
    assert report.demand.median[:, para].tolist() == [PARA * 70, PARA * 140]
    assert report.demand.upper_90[:, amox] == pytest.approx([AMOX * 70, AMOX * 140])


def test_demand_bad_input(world: Session, country: Country, tmp_path: Path) -> None:
    for horizon in (0, -3, 29):
        with pytest.raises(SitroomError, match="horizon must be a whole number of days"):
            forecast_demand(world, country, horizon=horizon)
    with pytest.raises(NotFoundError, match="unknown org unit 'ZZ'"):
        forecast_demand(world, country, org_unit="ZZ")
    with pytest.raises(SitroomError, match="unknown forecast model"):
        forecast_demand(world, country, model="crystal")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,N,NOWHERE\n2022-05-29,1,2\n", encoding="utf-8")
    with pytest.raises(NotFoundError, match="'NOWHERE' is not an org unit"):
        demand_from_file(world, country, bad)
    with pytest.raises(SitroomError, match="fewer than the horizon 20"):
        demand_from_file(world, country, expected_file(tmp_path), horizon=20)
    south = Principal("kim", "logistician", ("/KP/S/",), ("S",))
    with pytest.raises(ForbiddenError, match="outside their scopes"):
        forecast_demand(world, country, org_unit="N", principal=south)
    # Without an org unit, the regions the user covers.
    assert forecast_demand(world, country, principal=south).places == ("S",)


@pytest.fixture
def stocked(world: Session) -> Session:
    post(
        world,
        receipt(may(2), "STOCKPILE", "PARA-500", 10_000, "A", FAR),
        receipt(may(2), "WH-N", "PARA-500", 1_000, "A", FAR),
    )
    return world


def test_allocation_meets_the_need_when_the_stock_allows(
    stocked: Session, country: Country, tmp_path: Path
) -> None:
    # Need over 14 days: N 140 cases x 15 = 2,100, less the 1,000 at WH-N: 1,100;
    # S 280 x 15 = 4,200. The stockpile's 10,000 cover both.
    demand = demand_from_file(stocked, country, expected_file(tmp_path))
    plan = plan_allocation(stocked, country, items=["PARA-500"], demand=demand, day=LAST)
    given = dict(
        zip([d.facility for d in plan.destinations], plan.allocation.given[:, 0], strict=True)
    )
    assert given == {"WH-N": 1100, "WH-S": 4200}
    assert plan.stock == {"PARA-500": 10_000}
    assert plan.allocation.unmet.sum() == 0
    assert plan.binding() == {"stock": [], "capacity": [], "floor_not_met": []}
    lines = proposed_orders(plan)
    assert [(o.source, o.destination, o.item, o.quantity) for o in lines] == [
        ("STOCKPILE", "WH-N", "PARA-500", 1100),
        ("STOCKPILE", "WH-S", "PARA-500", 4200),
    ]
    assert lines[0].reason == "WH-N (Unit N) gets all 1,100 PARA-500 it needs."


def test_a_plan_for_a_past_day_reads_the_source_stock_of_that_day(
    stocked: Session, country: Country, tmp_path: Path
) -> None:
    demand = demand_from_file(stocked, country, expected_file(tmp_path))
    before = plan_allocation(stocked, country, items=["PARA-500"], demand=demand, day=LAST)
    # Stock posted late on the plan's day counts; from midnight after it, it does not.
    post(
        stocked,
        receipt(may(28, 23), "STOCKPILE", "PARA-500", 500, "A", FAR),
        receipt(may(29, 0), "STOCKPILE", "PARA-500", 7_000, "A", FAR),
        receipt(may(30), "STOCKPILE", "PARA-500", 9_000, "B", FAR),
    )
    after = plan_allocation(stocked, country, items=["PARA-500"], demand=demand, day=LAST)
    assert before.stock == {"PARA-500": 10_000}
    assert after.stock == {"PARA-500": 10_500}
    # Today reads the balances: everything posted.
    today = plan_allocation(stocked, country, items=["PARA-500"], demand=demand)
    assert today.stock == {"PARA-500": 26_500}


def test_scarce_stock_goes_by_floor_then_weight(
    stocked: Session, country: Country, tmp_path: Path
) -> None:
    # Only 3,000 at the stockpile for 5,300 needed. No dispensing recorded: daily use is
    # the forecast's, N 150 and S 300 a day. The 3-day floor: N holds 1,000 (6.7 days),
    # S needs 900. Weights (fever per 100,000 over 14 days, + 1): N 141, S 211: the rest
    # goes to S.
    post(stocked, Movement(may(4), "adjust", "STOCKPILE", "PARA-500", 7_000, reason="lost"))
    demand = demand_from_file(stocked, country, expected_file(tmp_path))
    plan = plan_allocation(stocked, country, items=["PARA-500"], demand=demand, day=LAST)
    weights = {d.facility: d.weight for d in plan.destinations}
    assert weights == {"WH-N": pytest.approx(141), "WH-S": pytest.approx(211)}
    given = dict(
        zip([d.facility for d in plan.destinations], plan.allocation.given[:, 0], strict=True)
    )
    assert given == {"WH-N": 0, "WH-S": 3000}
    assert sum(given.values()) <= 3000
    assert plan.binding()["stock"] == ["PARA-500"]
    why = plan.allocation.explain(0, 0)
    assert why == (
        "WH-N (Unit N) gets 0 of 1,100 PARA-500 needed: stock ran out; its weight 141 ranks it"
        " 2 of 2."
    )
    assert any("stock ran out" in s for s in plan.sentences)
    assert any("fever cases per 100,000" in s for s in plan.sentences)


def test_allocation_to_pharmacies_goes_through_the_chain(
    stocked: Session, country: Country, tmp_path: Path
) -> None:
    # WH-N's 1,000 for PH-N1 and PH-N2 (via ST-N): N's 2,100 shared equally (no
    # dispensing recorded), 1,050 each; the stock binds.
    demand = demand_from_file(stocked, country, expected_file(tmp_path))
    plan = plan_allocation(
        stocked,
        country,
        items=["PARA-500"],
        source="WH-N",
        level="pharmacy",
        demand=demand,
        day=LAST,
        floor_days=0,
    )
    assert [d.facility for d in plan.destinations] == ["PH-N1", "PH-N2"]
    assert plan.need[:, 0].tolist() == [1050, 1050]
    lines = proposed_orders(plan)
    assert sum(o.quantity for o in lines) == 1000
    assert {o.via for o in lines} == {("ST-N",)}


def test_allocation_with_the_forecast_respects_the_stock(
    stocked: Session, country: Country
) -> None:
    plan = plan_allocation(stocked, country, items=["PARA-500", "ORS"], day=LAST)
    assert plan.allocation.given.sum(axis=0).tolist() == [10_000, 0]  # no ORS in stock
    assert plan.to_dict()["orders"]
    assert "ORS: 0 in stock" in " ".join(plan.sentences)


def test_route_capacity_binds(stocked: Session, country: Country, tmp_path: Path) -> None:
    demand = demand_from_file(stocked, country, expected_file(tmp_path))
    plan = plan_allocation(
        stocked,
        country,
        items=["PARA-500"],
        demand=demand,
        day=LAST,
        capacity={"WH-S": 2_000},
    )
    assert plan.allocation.given[:, 0].tolist() == [1100, 2000]
    assert plan.binding()["capacity"] == ["WH-S"]
    assert "route capacity of 2,000 units is full" in plan.allocation.explain(1, 0)


def test_allocation_bad_input(stocked: Session, country: Country) -> None:
    with pytest.raises(NotFoundError, match="unknown item 'NOPE'"):
        plan_allocation(stocked, country, items=["NOPE"])
    with pytest.raises(NotFoundError, match="unknown facility 'NOWHERE'"):
        plan_allocation(stocked, country, items=["PARA-500"], source="NOWHERE")
    with pytest.raises(NotFoundError, match="unknown org unit 'ZZ'"):
        plan_allocation(stocked, country, items=["PARA-500"], org_unit="ZZ")
    with pytest.raises(SitroomError, match="horizon must be"):
        plan_allocation(stocked, country, items=["PARA-500"], horizon=0)
    with pytest.raises(SitroomError, match="supplies no warehouse"):
        plan_allocation(stocked, country, items=["PARA-500"], source="PH-N1")
    with pytest.raises(NotFoundError, match="not a destination"):
        plan_allocation(stocked, country, items=["PARA-500"], capacity={"PH-N1": 5})
    south = Principal("kim", "logistician", ("/KP/S/",), ("S",))
    with pytest.raises(ForbiddenError, match="outside their scopes"):
        plan_allocation(stocked, country, items=["PARA-500"], principal=south)


def test_test_kits_follow_suspected_cases(world: Session, country: Country) -> None:
    # 14 days: N 1,400 and S 4,200 suspected; one kit each, then 8 shared 1:3.
    plan = plan_test_kits(world, country, kits=10, credibility=False)
    assert dict(zip(plan.codes, plan.allocation.kits.tolist(), strict=True)) == {"N": 3, "S": 7}
    assert plan.suspected == [1400, 4200]
    assert "in proportion to suspected cases" in plan.allocation.reasoning
    # A flat series repeats itself: the credibility checks fail it.
    checked = plan_test_kits(world, country, kits=10)
    assert all(0 < w <= 1 for w in checked.weakness)
    assert "repeat" in " ".join(checked.failed[0])
    assert checked.to_dict()["regions"][0]["sentence"].startswith("Unit N:")
    with pytest.raises(SitroomError, match="whole number, 0 or more"):
        plan_test_kits(world, country, kits=-1)
