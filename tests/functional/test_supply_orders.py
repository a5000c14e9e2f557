"""Distribution orders from the command line, and two processes on one order at once
(issue #11, items 4, 12 and 13).

The concurrent tests start two real ``sitroom`` processes at the same instant
on the same order: exactly one dispatch (or delivery) is committed, the other
is refused with the order's new status, and the ledger holds the stock moves
once. Runs on the suite's database: SQLite, and PostgreSQL when
SITROOM_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth import service as auth
from sitroom.supply import orders, service
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import DistributionOrder, OrderEvent, StockEntry
from sitroom.supply.orders import OrderLineIn

ZONE = ZoneInfo("Asia/Pyongyang")
WAREHOUSE = "WH-KP-04"
STORE = "ST-KP-04-CHANGGANG"
FORBIDDEN = 77
LAUNCHER = (
    "import sys, time\n"
    "from sitroom.cli import main\n"
    "start = float(sys.argv.pop(1))\n"
    "time.sleep(max(0.0, start - time.time()))\n"
    "print('started', time.time(), file=sys.stderr, flush=True)\n"
    "main()\n"
)


def _stock(session: Session, facility: str) -> int:
    return sum(line.quantity for line in service.stock_on_hand(session, facility=facility))


@pytest.fixture
def stocked(loaded: Session) -> Session:
    summary = Ledger(loaded, user="setup").post(
        [
            Movement(
                datetime(2022, 5, 1, 9, tzinfo=ZONE),
                "receipt",
                WAREHOUSE,
                "PARA-500",
                1000,
                lot="L1",
                expiry=date(2030, 1, 1),
            )
        ],
        source="setup",
    )
    assert summary.committed
    return loaded


def test_an_order_from_the_command_line(cli, stocked: Session, tmp_path: Path) -> None:
    made = cli(
        "supply", "orders", "create", "--from", WAREHOUSE, "--to", STORE,
        "--line", "PARA-500=300", "--time", "2022-05-02T08:00", "--json",
    )  # fmt: skip
    assert made.code == 0, made.err
    number = json.loads(made.out)["number"]
    assert number == "DO-2022-000001"
    assert cli("supply", "orders", "approve", number, "--time", "2022-05-02T09:00").code == 0
    sent = cli(
        "supply", "dispatch", number, "--carrier", "KPA unit 525", "--vehicle", "truck 7",
        "--carrier-kind", "army", "--time", "2022-05-02T12:00",
    )  # fmt: skip
    assert sent.code == 0, sent.err
    assert "carried by KPA unit 525 (army)" in sent.out

    # More than was dispatched: refused, naming the order and the line; nothing written.
    over = cli(
        "supply", "deliver", number, "--receiver", "Pak Chol",
        "--accept", "PARA-500=301", "--time", "2022-05-03T10:00",
    )  # fmt: skip
    assert over.code == 1
    assert f"order {number}: line 1 (PARA-500): 301 delivered" in over.err
    assert "more than the 300 dispatched" in over.err
    assert "nothing was written" in over.err
    assert _stock(stocked, STORE) == 0

    pod = tmp_path / "pod.csv"
    pod.write_text(
        "item,accepted,rejected,reason,note\nPARA-500,290,10,damaged,boxes wet\n", encoding="utf-8"
    )
    done = cli(
        "supply", "deliver", number, "--receiver", "Pak Chol", "--pod", str(pod),
        "--time", "2022-05-03T10:00", "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    view = json.loads(done.out)
    assert view["status"] == "delivered"
    assert view["lines"][0]["rejected"] == 10
    assert view["lead_hours"]["transit"] == 22.0
    stocked.expire_all()
    assert _stock(stocked, STORE) == 290

    closed = cli("supply", "orders", "close", number, "--note", "reconciled", "--json")
    assert json.loads(closed.out)["status"] == "closed"
    shown = json.loads(cli("supply", "orders", "show", number, "--json").out)
    assert [e["to"] for e in shown["events"]] == [
        "draft",
        "approved",
        "dispatched",
        "delivered",
        "closed",
    ]
    listed = json.loads(cli("supply", "orders", "list", "--status", "closed", "--json").out)
    assert [row["number"] for row in listed] == [number]
    times = json.loads(cli("supply", "orders", "leadtimes", "--by", "carrier-kind", "--json").out)
    assert times["groups"][0]["group"] == "army"
    assert times["groups"][0]["steps"]["transit"] == {
        "n": 1,
        "median_hours": 22.0,
        "p90_hours": 22.0,
    }
    assert "army" in cli("supply", "orders", "leadtimes", "--by", "carrier_kind").out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--line", "PARA-500=1.5"], "not a whole"),
        (["--line", "PARA-500=-3"], "negative"),
        (["--line", "PARA-500"], "write ITEM=QUANTITY"),
        (["--line", "NOPE=3"], "unknown item 'NOPE'"),
        (["--line", "PARA-500=3", "--to", "PH-KP-01-CHUNGHWA-001"], "no route from WH-KP-04"),
        (["--line", "PARA-500=3", "--to", "PH-NOWHERE"], "unknown facility 'PH-NOWHERE'"),
        (["--line", "PARA-500=3", "--time", "2999-01-01"], "in the future"),
    ],
)
def test_a_bad_order_exits_non_zero_and_writes_nothing(
    cli, stocked: Session, args: list[str], words: str
) -> None:
    base = ["supply", "orders", "create", "--from", WAREHOUSE]
    if "--to" not in args:
        base += ["--to", STORE]
    result = cli(*base, *args)
    assert result.code != 0
    assert words in result.err
    assert stocked.scalar(select(func.count(DistributionOrder.id))) == 0


def test_the_acting_user_stays_in_their_scope(cli, stocked: Session) -> None:
    auth.create_user(stocked, "pak", role="logistician", scopes=["KP-01"], password=None, actor="t")
    auth.create_user(stocked, "lee", role="logistician", scopes=["KP-04"], password=None, actor="t")
    stocked.commit()
    create = [
        "supply",
        "orders",
        "create",
        "--from",
        WAREHOUSE,
        "--to",
        STORE,
        "--line",
        "PARA-500=5",
    ]
    refused = cli("--user", "pak", *create)
    assert refused.code == FORBIDDEN
    assert "outside their scopes" in refused.err
    assert stocked.scalar(select(func.count(DistributionOrder.id))) == 0
    made = cli("--user", "lee", *create, "--json")
    assert made.code == 0, made.err
    number = json.loads(made.out)["number"]
    assert cli("--user", "pak", "supply", "orders", "approve", number).code == FORBIDDEN
    assert cli("--user", "pak", "supply", "orders", "show", number).code == FORBIDDEN
    assert json.loads(cli("--user", "pak", "supply", "orders", "list", "--json").out) == []


def _pair(db_url: str, *commands: list[str]) -> list[tuple[int, str, str]]:
    start = time.time() + 1.5  # both processes have imported sitroom by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(start), "--db", db_url, "--user", user, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for user, args in zip(("alice", "bob"), commands, strict=True)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append((proc.returncode, out, err))
    return results


def _started(err: str) -> float:
    first = err.splitlines()[0].split()
    assert first[0] == "started", err
    return float(first[1])


def _approved(session: Session) -> str:
    made = orders.create_order(
        session,
        WAREHOUSE,
        STORE,
        [OrderLineIn("PARA-500", 300)],
        user="setup",
        at=datetime(2022, 5, 2, 8, tzinfo=ZONE),
    )
    orders.approve_order(
        session, made.number, user="setup", at=datetime(2022, 5, 2, 9, tzinfo=ZONE)
    )
    return made.number


def _one_won(results: list[tuple[int, str, str]], status: str, before: str) -> str:
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], [err for *_, err in results]
    winner = next(json.loads(out) for code, out, _ in results if code == 0)
    loser = next(err for code, _, err in results if code == 1)
    # The loser is told the order moved on, by whom, and that it wrote nothing.
    by = {"alice": "alice", "bob": "bob"}[winner[f"{status}_by"]]
    assert f"is {status} (by {by}, " in loser
    assert f"not {before}: it cannot be {status}; nothing was written" in loser
    return by


def test_two_processes_dispatching_one_order(db_url: str, stocked: Session) -> None:
    number = _approved(stocked)
    dispatch = ["supply", "dispatch", number, "--carrier-kind", "army", "--json"]
    results = _pair(
        db_url,
        [*dispatch, "--carrier", "KPA unit 525", "--time", "2022-05-02T12:00"],
        [*dispatch, "--carrier", "KPA unit 301", "--time", "2022-05-02T12:30"],
    )
    winner = _one_won(results, "dispatched", "approved")
    stocked.expire_all()
    sent = stocked.scalars(
        select(StockEntry.quantity).where(
            StockEntry.reference == number, StockEntry.kind == "transfer_out"
        )
    ).all()
    assert sent == [-300]  # once
    assert _stock(stocked, WAREHOUSE) == 700
    history = stocked.scalars(
        select(OrderEvent.by).where(OrderEvent.to_status == "dispatched")
    ).all()
    assert history == [winner]
    assert service.verify(stocked).ok
    last_start = max(_started(err) for *_, err in results)
    recorded = stocked.scalar(
        select(OrderEvent.recorded_at).where(OrderEvent.to_status == "dispatched")
    )
    assert recorded is not None
    assert last_start < recorded.timestamp() + 5.0


def test_two_processes_delivering_one_order(db_url: str, stocked: Session) -> None:
    number = _approved(stocked)
    orders.dispatch_order(
        stocked,
        number,
        carrier="civil transport",
        carrier_kind="civil",
        user="setup",
        at=datetime(2022, 5, 2, 12, tzinfo=ZONE),
    )
    deliver = ["supply", "deliver", number, "--time", "2022-05-03T10:00", "--json"]
    results = _pair(
        db_url,
        [*deliver, "--receiver", "Pak Chol", "--accept", "PARA-500=300"],
        [*deliver, "--receiver", "Ri Su", "--accept", "PARA-500=299",
         "--reject", "PARA-500=1:damaged"],
    )  # fmt: skip
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], [err for *_, err in results]
    winner = next(json.loads(out) for code, out, _ in results if code == 0)
    loser = next(err for code, _, err in results if code == 1)
    # Alice's POD closes the order at once; Bob's leaves it delivered: either way the
    # other process finds it no longer dispatched.
    assert winner["status"] in ("closed", "delivered")
    assert f"order {number} is {winner['status']} (by " in loser
    assert "not dispatched: it cannot be delivered; nothing was written" in loser
    stocked.expire_all()
    arrived = stocked.scalars(
        select(StockEntry.quantity).where(
            StockEntry.reference == number, StockEntry.kind == "transfer_in"
        )
    ).all()
    assert arrived == [300]  # once
    assert _stock(stocked, STORE) == 300 - (winner["lines"][0]["rejected"] or 0)
    assert service.verify(stocked).ok


def test_a_dispatch_beyond_stock_exits_non_zero_and_writes_nothing(cli, stocked: Session) -> None:
    made = orders.create_order(
        stocked,
        WAREHOUSE,
        STORE,
        [OrderLineIn("PARA-500", 1500)],
        user="setup",
        at=datetime(2022, 5, 2, 8, tzinfo=ZONE),
    )
    orders.approve_order(
        stocked, made.number, user="setup", at=datetime(2022, 5, 2, 9, tzinfo=ZONE)
    )
    entries = stocked.scalar(select(func.count(StockEntry.id)))
    result = cli(
        "supply", "dispatch", made.number, "--carrier", "civil transport",
        "--carrier-kind", "civil", "--time", "2022-05-02T12:00",
    )  # fmt: skip
    assert result.code == 1
    assert f"order {made.number}: line 1 (PARA-500): WH-KP-04 has 1,000 tablets" in result.err
    assert "cannot send 1,500" in result.err
    stocked.expire_all()
    assert stocked.scalar(select(func.count(StockEntry.id))) == entries
    assert orders.get_order(stocked, made.number).status == "approved"


@pytest.mark.parametrize(
    ("args", "pod", "words"),
    [
        (["--reject", "PARA-500=10"], None, "write ITEM=QUANTITY:REASON"),
        (["--accept", "PARA-500=1", "--accept", "PARA-500=2"], None, "given twice"),
        (["--accept", "PARA-500=x"], None, "not a number"),
        ([], "product,qty\nPARA-500,300\n", "the columns are item,accepted,rejected"),
        ([], "item,accepted\nPARA-500,-3\n", "line 2, accepted: -3 is negative"),
    ],
)
def test_a_bad_proof_of_delivery_on_the_command_line(
    cli, stocked: Session, tmp_path: Path, args: list[str], pod: str | None, words: str
) -> None:
    number = _approved(stocked)
    orders.dispatch_order(
        stocked,
        number,
        carrier="c",
        carrier_kind="civil",
        user="setup",
        at=datetime(2022, 5, 2, 12, tzinfo=ZONE),
    )
    if pod is not None:
        path = tmp_path / "pod.csv"
        path.write_text(pod, encoding="utf-8")
        args = ["--pod", str(path)]
    result = cli("supply", "deliver", number, "--receiver", "Pak", *args)
    assert result.code == 1
    assert words in result.err
    stocked.expire_all()
    assert orders.get_order(stocked, number).status == "dispatched"
