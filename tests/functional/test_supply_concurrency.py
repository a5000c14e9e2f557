"""Concurrent stock imports in real processes (issue #11; "many people write at once").

Two ``sitroom supply import`` processes start at the same instant against the
same stock. Whatever the database does underneath, the outcome is that of a
serial order: when both files fit in the stock both are committed; when
together they take more than there is, one is committed whole and the other
refused whole, with the stock it found in its message. Each summary says
exactly what its batch holds, and the ledger replays to the balances.

Runs on the suite's database: SQLite, and PostgreSQL when
SITROOM_TEST_DATABASE_URL is set (``.ci/run`` does both).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.supply import service
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import StockBatch, StockEntry

STORE = "ST-KP-04-CHANGGANG"
HEADER = "time,event,facility,item,lot,expiry,quantity,counterparty,reason,reference,patients\n"
ROWS = 600  # one tablet a row: long enough for the two imports to overlap
LAUNCHER = (
    "import sys, time\n"
    "from sitroom.cli import main\n"
    "start = float(sys.argv.pop(1))\n"
    "time.sleep(max(0.0, start - time.time()))\n"
    "print('started', time.time(), file=sys.stderr, flush=True)\n"
    "main()\n"
)


def _file(path: Path, hour: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for n in range(ROWS):
            when = f"2022-05-20T{hour:02d}:{n // 60:02d}:{n % 60:02d}"
            out.write(f"{when},dispense,{STORE},PARA-500,,,1,,,,1\n")
    return path


def _run_pair(db_url: str, a: Path, b: Path) -> list[tuple[int, dict, str]]:
    start = time.time() + 1.5  # both processes have imported sitroom by then
    procs = [
        subprocess.Popen(
            [
                *(sys.executable, "-c", LAUNCHER, str(start), "--db", db_url, "--user", user),
                *("supply", "import", str(path), "--json"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for user, path in (("alice", a), ("bob", b))
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append((proc.returncode, json.loads(out) if out.strip() else {}, err))
    return results


def _started(err: str) -> float:
    first = err.splitlines()[0].split()
    assert first[0] == "started", err
    return float(first[1])


@pytest.mark.parametrize(("stock", "committed"), [(1500, 2), (1000, 1)])
def test_concurrent_stock_imports_equal_a_serial_order(
    stock: int, committed: int, db_url: str, loaded: Session, tmp_path: Path
) -> None:
    zone = ZoneInfo("Asia/Pyongyang")
    received = Ledger(loaded, user="setup").post(
        [
            Movement(
                datetime(2022, 5, 19, 9, tzinfo=zone),
                "receipt",
                STORE,
                "PARA-500",
                stock,
                lot="L1",
                expiry=date(2024, 1, 1),
            )
        ],
        source="setup",
    )
    assert received.committed
    a, b = _file(tmp_path / "a.csv", 10), _file(tmp_path / "b.csv", 11)
    results = _run_pair(db_url, a, b)
    loaded.expire_all()

    codes = sorted(code for code, _, _ in results)
    assert codes == [0] * committed + [1] * (2 - committed), [err for *_, err in results]
    on_hand = sum(line.quantity for line in service.stock_on_hand(loaded, facility=STORE))
    assert on_hand == stock - committed * ROWS
    for code, summary, _err in results:
        if code == 0:
            # The summary is exactly what the batch holds.
            batch = loaded.get(StockBatch, summary["batch_id"])
            assert batch is not None
            held = loaded.scalar(
                select(func.count(StockEntry.id)).where(StockEntry.batch_id == batch.id)
            )
            assert summary["entries"] == held == batch.entries == ROWS
            assert batch.created_by in ("alice", "bob")
        else:
            # Refused whole, saying what it found when its turn came.
            assert summary["committed"] is False
            assert summary["batch_id"] is None
            assert summary["rejected"] >= 1
            first = summary["rejections"][0]
            assert first["field"] == "quantity"
            assert re.search(
                r"has [\d,]+ tablets? of PARA-500 at .*: cannot dispense 1$", first["reason"]
            )
    assert loaded.scalar(select(func.count(StockBatch.id))) == 1 + committed
    assert service.verify(loaded).ok
    # They really ran at the same time: both had started before the first batch was made.
    made = loaded.scalars(
        select(StockBatch.created_at).where(StockBatch.created_by.in_(("alice", "bob")))
    ).all()
    last_start = max(_started(err) for *_, err in results)
    assert last_start < min(t.timestamp() for t in made) + 5.0
