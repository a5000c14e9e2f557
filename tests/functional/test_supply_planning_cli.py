"""``sitroom supply alerts|indicators|demand|allocate|allocate-tests`` on the 2022 wave and
the shipped network (issue #11, items 6-8, 12 and 13): the figures, and a clear message
with a non-zero exit for bad input and for a user outside their scopes."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from sitroom.auth import service as auth
from sitroom.supply.ledger import Ledger, Movement

ZONE = ZoneInfo("Asia/Pyongyang")
FORBIDDEN = 77
PHARMACY = "PH-KP-04-CHANGGANG-001"
DAY = "2022-05-31"


def at(day: int) -> datetime:
    return datetime(2022, 5, day, 10, tzinfo=ZONE)


@pytest.fixture
def stocked(outbreak: Session) -> Session:
    far = date(2030, 1, 1)
    summary = Ledger(outbreak, user="test").post(
        [
            Movement(at(16), "receipt", "STOCKPILE", "PARA-500", 50_000, lot="L1", expiry=far),
            Movement(at(16), "receipt", "WH-KP-04", "PARA-500", 2_000, lot="L1", expiry=far),
            Movement(at(16), "receipt", PHARMACY, "PARA-500", 100, lot="L1", expiry=far),
            Movement(at(30), "dispense", PHARMACY, "PARA-500", 95, patients=7),
        ],
        source="test",
    )
    assert summary.committed, summary.rejections
    for name, role, scope in (("lou", "logistician", "KP-04"), ("pam", "pharmacist", "KP")):
        auth.create_user(outbreak, name, role=role, scopes=[scope], password=None, actor="test")
    outbreak.commit()
    return outbreak


def test_alerts_and_indicators(cli, stocked: Session) -> None:
    result = cli("supply", "alerts", "--day", DAY, "--item", "PARA-500", "--json")
    assert result.code == 0, result.err
    found = {(a["facility"], a["kind"]) for a in json.loads(result.out)}
    # 5 left after 95 dispensed over 16-31 May: 95 / 16 a day, 0.8 days.
    assert (PHARMACY, "low_stock") in found
    text = cli("supply", "alerts", "--day", DAY, "--org-unit", "KP-04")
    assert "PH-KP-04-CHANGGANG-001 (pharmacy, KP-04-CHANGGANG) has 5 tablets" in text.out
    result = cli(
        "supply", "indicators", "--day", DAY, "--org-unit", "KP-04", "--item", "PARA-500", "--json"
    )
    assert result.code == 0, result.err
    report = json.loads(result.out)
    rows = {row["facility"]: row for row in report["facilities"]}
    assert rows[PHARMACY]["consumption"] == 95
    assert rows[PHARMACY]["on_hand"] == 5
    assert rows["WH-KP-04"]["on_hand"] == 2_000
    (area,) = report["areas"]
    assert (area["org_unit"], area["usable"], area["consumption"]) == ("KP-04", 2_005, 95)
    areas = cli("supply", "indicators", "--day", DAY, "--areas")
    assert areas.code == 0, areas.err
    assert "KP-04" in areas.out


def test_demand_and_allocation(cli, stocked: Session) -> None:
    result = cli("supply", "demand", "--horizon", "14", "--end", DAY, "--json")
    assert result.code == 0, result.err
    demand = json.loads(result.out)
    assert demand["method"] == "samples"
    regions = {row["org_unit"] for row in demand["rows"]}
    assert "KP-04" in regions
    assert len(regions) >= 12
    result = cli(
        "supply", "allocate", "--item", "PARA-500", "--day", DAY, "--floor-days", "3", "--json"
    )
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    given = sum(line["quantity"] for line in plan["orders"])
    assert 0 < given <= 50_000
    assert all(line["source"] == "STOCKPILE" for line in plan["orders"])
    assert plan["sentences"][0].startswith("13 destinations, 1 items")
    text = cli("supply", "allocate", "--item", "PARA-500", "--day", DAY)
    assert "order lines proposed from STOCKPILE" in text.out
    kits = cli("supply", "allocate-tests", "--kits", "100", "--end", DAY, "--json")
    assert kits.code == 0, kits.err
    assert sum(r["kits"] for r in json.loads(kits.out)["regions"]) == 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["supply", "alerts", "--item", "NOPE"], "unknown item 'NOPE'"),
        (["supply", "indicators", "--facility", "NOPE"], "unknown facility 'NOPE'"),
        (["supply", "alerts", "--org-unit", "ZZ"], "unknown org unit 'ZZ'"),
        (["supply", "alerts", "--day", "2199-01-01"], "in the future"),
        (["supply", "demand", "--horizon", "0"], "horizon must be a whole number of days"),
        (["supply", "demand", "--org-unit", "ZZ"], "unknown org unit 'ZZ'"),
        (["supply", "allocate", "--item", "NOPE"], "unknown item 'NOPE'"),
        (["supply", "allocate", "--item", "PARA-500", "--from", "NOPE"], "unknown facility"),
        (["supply", "allocate", "--item", "PARA-500", "--horizon", "-1"], "horizon must be"),
        (["supply", "allocate", "--item", "PARA-500", "--level", "x"], "unknown level 'x'"),
        (["supply", "allocate", "--item", "PARA-500", "--capacity", "WH"], "FACILITY=UNITS"),
        (["supply", "allocate-tests", "--kits", "-5"], "0 or more"),
        (["supply", "allocate-tests", "--kits", "5", "--rule", "x"], "rule must be one of"),
    ],
)
def test_bad_input_is_a_clear_message(cli, stocked: Session, args: list[str], message: str) -> None:
    result = cli(*args)
    assert result.code == 1, (result.out, result.err)
    assert message in result.err


@pytest.mark.parametrize(
    ("user", "args", "allowed"),
    [
        ("lou", ["supply", "alerts", "--org-unit", "KP-04"], True),
        ("lou", ["supply", "alerts", "--org-unit", "KP-01"], False),
        ("lou", ["supply", "indicators", "--facility", "PH-KP-01-CHUNGHWA-001"], False),
        ("lou", ["supply", "demand", "--org-unit", "KP-01"], False),
        ("lou", ["supply", "allocate", "--item", "PARA-500"], False),
        ("pam", ["supply", "allocate", "--item", "PARA-500"], False),
        (
            "lou",
            [
                "supply",
                "allocate",
                "--item",
                "PARA-500",
                "--from",
                "WH-KP-04",
                "--level",
                "pharmacy",
            ],
            True,
        ),
        ("lou", ["supply", "allocate-tests", "--kits", "5", "--org-unit", "KP-01"], False),
    ],
)
def test_a_user_outside_their_scope_is_refused(
    cli, stocked: Session, user: str, args: list[str], allowed: bool
) -> None:
    result = (
        cli("--user", user, *args, "--day", DAY) if "alerts" in args else cli("--user", user, *args)
    )
    if allowed:
        assert result.code == 0, result.err
    else:
        assert result.code == FORBIDDEN, (result.code, result.out, result.err)
        assert "outside their scopes" in result.err or "permission" in result.err


def test_an_approved_plan_becomes_draft_orders(cli, stocked: Session) -> None:
    """Item 8: "Approved, it becomes draft distribution orders" - in one transaction,
    a chain through the district store for pharmacies."""
    regional = cli(
        "supply", "allocate", "--item", "PARA-500", "--day", DAY, "--approve", "--json"
    )  # fmt: skip
    assert regional.code == 0, regional.err
    plan = json.loads(regional.out)
    destinations = {line["destination"] for line in plan["orders"]}
    assert len(plan["drafted"]) == len(destinations) > 0
    listed = json.loads(cli("supply", "orders", "list", "--json").out)
    drafts = {o["number"]: o for o in listed}
    assert set(plan["drafted"]) <= set(drafts)
    assert {drafts[n]["status"] for n in plan["drafted"]} == {"draft"}
    local = cli(
        "supply", "allocate", "--item", "PARA-500", "--day", DAY, "--from", "WH-KP-04",
        "--level", "pharmacy", "--approve", "--json",
    )  # fmt: skip
    assert local.code == 0, local.err
    chained = json.loads(local.out)
    shown = [
        json.loads(cli("supply", "orders", "show", n, "--json").out) for n in chained["drafted"]
    ]
    first_legs = [o for o in shown if o["source"] == "WH-KP-04"]
    second_legs = [o for o in shown if o["source"] != "WH-KP-04"]
    assert first_legs
    assert second_legs
    assert all(o["destination"].startswith("ST-") for o in first_legs)
    assert all(o["origin"] in {f["number"] for f in first_legs} for o in second_legs)
