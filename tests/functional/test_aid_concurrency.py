"""Two real ``sitroom aid`` processes writing at the same instant (issue #12; the
guide's rule that every write path is tested with concurrent processes): two
drafts get two numbers, and of two answers to one request exactly one is recorded,
the other told what the request is now. Runs on the suite's database: SQLite, and
PostgreSQL when SITROOM_TEST_DATABASE_URL is set. (Two processes receiving one
shipment: test_aid_pipeline.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.aid import partners, requests
from sitroom.aid.common import LineIn
from sitroom.aid.models import AidEvent, AidRequest, Message

LAUNCHER = (
    "import sys, time\n"
    "from sitroom.cli import main\n"
    "start = float(sys.argv.pop(1))\n"
    "time.sleep(max(0.0, start - time.time()))\n"
    "main()\n"
)


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


def test_two_drafts_at_once_get_two_numbers(db_url: str, loaded: Session) -> None:
    partners.add_partner(loaded, "CN", "China", "government", user="setup")
    draft = ["aid", "request", "create", "--partner", "CN", "--channel", "email",
             "--reason", "at once", "--time", "2022-05-16T09:00", "--json"]  # fmt: skip
    results = _pair(db_url, [*draft, "--line", "ORS=1"], [*draft, "--line", "ORS=2"])
    assert [code for code, _, _ in results] == [0, 0], [err for *_, err in results]
    said = {json.loads(out)["number"]: json.loads(out)["created_by"] for _, out, _ in results}
    assert sorted(said) == ["REQ-2022-0001", "REQ-2022-0002"]
    loaded.expire_all()
    rows = loaded.execute(select(AidRequest.number, AidRequest.created_by)).all()
    stored: dict[str, str] = {row[0]: row[1] for row in rows}
    assert stored == said  # what each process said it wrote is what was committed


def test_two_answers_to_one_request_at_once(db_url: str, loaded: Session) -> None:
    partners.add_partner(loaded, "CN", "China", "government", user="setup")
    made = requests.create_request(loaded, "CN", [LineIn("ORS", 10)], channel="email",
                                   reason="r", user="setup",
                                   at=datetime(2022, 5, 16, tzinfo=UTC))  # fmt: skip
    requests.send_request(
        loaded, made.number, user="setup", at=datetime(2022, 5, 16, 1, tzinfo=UTC)
    )
    status = ["aid", "request", "status", made.number, "--time", "2022-05-17T09:00", "--json"]
    results = _pair(db_url, [*status[:4], "accepted", *status[4:]],
                    [*status[:4], "declined", *status[4:]])  # fmt: skip
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], [err for *_, err in results]
    winner = next(json.loads(out)["status"] for code, out, _ in results if code == 0)
    loser = next(err for code, _, err in results if code == 1)
    assert f"is {winner}" in loser
    assert "nothing was written" in loser
    loaded.expire_all()
    history = loaded.scalars(
        select(AidEvent.to_status).where(AidEvent.subject == "request").order_by(AidEvent.id)
    ).all()
    assert history == ["draft", "sent", winner]
    answers = loaded.scalars(select(Message.direction).where(Message.direction == "in")).all()
    assert answers == ["in"]  # one answer logged, the winner's
