"""Concurrent imports in real processes: no lost update, an audit that tells the truth.

Two ``sitroom import`` processes are started at the same instant on the same
values (update/update, delete/update, update/delete, create/create). Whatever
the database does underneath, the outcome must be that of *some* serial order
of the two imports: the stored values, and each import's own summary, equal
what running them one after the other (A then B, or B then A) gives. Every
value's audit trail must be a chain ending at the stored value.

The test runs on the suite's database: SQLite by default, PostgreSQL when
SITROOM_TEST_DATABASE_URL is set (``.ci/run`` does both).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from sitroom.country import Country
from sitroom.db import create_db_engine, current_revision, head_revision
from sitroom.places.models import OrgUnit
from sitroom.surveillance.imports import Importer
from sitroom.surveillance.models import DataElement, DataValue, DataValueAudit, ImportRun

ELEMENTS = ("new_fever", "new_recovered", "new_deaths", "under_treatment", "tested")
REGIONS = [f"KP-{n:02d}" for n in (*range(1, 11), 13, 14, 15)]
DAYS = 60  # 5 x 13 x 60 = 3,900 values per file: long enough for the imports to overlap

Key = tuple[str, str, str]  # element, org unit, period
State = dict[Key, int]
#: An import's content: a value to set, or None to delete.
Content = dict[Key, int | None]

HEADER = (
    "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,"
    "value,storedby,lastupdated,comment,followup,deleted\n"
)

#: Launches main() at a given wall-clock instant, after the imports are done.
LAUNCHER = (
    "import sys, time\n"
    "from sitroom.cli import main\n"
    "start = float(sys.argv.pop(1))\n"
    "time.sleep(max(0.0, start - time.time()))\n"
    "print('started', time.time(), file=sys.stderr, flush=True)\n"
    "main()\n"
)


def _keys(days: int = DAYS) -> list[Key]:
    periods = [(date(2022, 5, 1) + timedelta(days=d)).isoformat() for d in range(days)]
    return [(e, ou, p) for p in periods for ou in REGIONS for e in ELEMENTS]


def _write(path: Path, content: Content) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for (element, unit, period), value in content.items():
            if value is None:
                out.write(f"{element},{period},{unit},,,,,,,,true\n")
            else:
                out.write(f"{element},{period},{unit},,,{value},,,,,\n")
    return path


@dataclass
class Outcome:
    state: State
    counts: dict[str, int]


def _serial(state: State, content: Content) -> Outcome:
    """What importing ``content`` over ``state`` does, one import alone."""
    after = dict(state)
    counts = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0}
    for key, value in content.items():
        old = after.get(key)
        if value is None:
            if old is None:
                counts["unchanged"] += 1
            else:
                counts["deleted"] += 1
                del after[key]
        elif old is None:
            counts["created"] += 1
            after[key] = value
        elif old == value:
            counts["unchanged"] += 1
        else:
            counts["updated"] += 1
            after[key] = value
    return Outcome(after, counts)


def _stored(session: Session) -> State:
    rows = session.execute(
        select(DataElement.code, OrgUnit.code, DataValue.period, DataValue.value)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
    )
    return {(e, ou, p.isoformat()): v for e, ou, p, v in rows}


def _audit_chains(session: Session, initial: State, stored: State) -> dict[str, int]:
    """Check every value's audit trail is a chain from ``initial`` to ``stored``."""
    rows = session.execute(
        select(
            DataElement.code,
            OrgUnit.code,
            DataValueAudit.period,
            DataValueAudit.action,
            DataValueAudit.old_value,
            DataValueAudit.new_value,
            DataValueAudit.changed_by,
        )
        .join(DataElement, DataElement.id == DataValueAudit.element_id)
        .join(OrgUnit, OrgUnit.id == DataValueAudit.org_unit_id)
        .order_by(DataValueAudit.id)
    )
    current: dict[Key, int | None] = dict(initial)
    by_actor: dict[str, int] = {}
    for element, unit, period, action, old, new, actor in rows:
        key = (element, unit, period.isoformat())
        before = current.get(key)
        # After a deletion the value may be created again (creations are not
        # audited): then the next change starts from that new value.
        if before is not None:
            assert old == before, f"{key}: audit says {old} was replaced, but it was {before}"
        assert (action == "delete") == (new is None)
        current[key] = new
        by_actor[actor] = by_actor.get(actor, 0) + 1
    for key, value in current.items():
        # A value deleted last may have been created again since (not audited).
        if value is not None:
            assert stored.get(key) == value, f"{key}: the trail ends at {value}"
    return by_actor


def _run_pair(db_url: str, tmp_path: Path, a: Path, b: Path) -> list[tuple[int, dict, str]]:
    start = time.time() + 1.0  # both processes have imported sitroom by then
    launch = [sys.executable, "-c", LAUNCHER, str(start)]
    procs = [
        subprocess.Popen(
            [*launch, "--db", db_url, "--user", user, "import", str(path), "--json"],
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
    """When the launcher handed over to sitroom (its first line on stderr)."""
    first = err.splitlines()[0].split()
    assert first[0] == "started", err
    return float(first[1])


def _assert_overlapped(session: Session, err_a: str, err_b: str) -> None:
    """Both imports were running before either committed: they really were concurrent."""
    runs = session.scalars(select(ImportRun).order_by(ImportRun.id)).all()
    finished = [r.finished_at.timestamp() for r in runs]
    last_start = max(_started(err_a), _started(err_b))
    assert last_start < min(finished[-2:]), "the imports ran one after the other"


SCENARIOS = {
    # name: (initial value or None, A's value, B's value); None in A/B deletes.
    "update/update": (1, 2, 3),
    "delete/update": (1, None, 3),
    "update/delete": (1, 2, None),
    "create/create": (None, 5, 5),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_concurrent_imports_equal_a_serial_order(
    scenario: str, db_url: str, loaded: Session, country: Country, tmp_path: Path
) -> None:
    initial_value, a_value, b_value = SCENARIOS[scenario]
    keys = _keys()
    loaded.commit()
    initial: State = {}
    if initial_value is not None:
        initial = dict.fromkeys(keys, initial_value)
        summary = Importer(loaded, country, user="setup").run(
            _write(tmp_path / "initial.csv", dict(initial))
        )
        assert summary.committed
        assert summary.created == len(keys)
    a = _write(tmp_path / "a.csv", dict.fromkeys(keys, a_value))
    b = _write(tmp_path / "b.csv", dict.fromkeys(keys, b_value))

    (code_a, sum_a, err_a), (code_b, sum_b, err_b) = _run_pair(db_url, tmp_path, a, b)
    assert code_a == 0, err_a
    assert code_b == 0, err_b
    assert sum_a["committed"]
    assert sum_b["committed"]

    loaded.expire_all()
    stored = _stored(loaded)
    counts = ("created", "updated", "deleted", "unchanged")
    got_a = {k: sum_a[k] for k in counts}
    got_b = {k: sum_b[k] for k in counts}
    content_a = dict.fromkeys(keys, a_value)
    content_b = dict.fromkeys(keys, b_value)
    a_first = _serial(initial, content_a)
    b_after_a = _serial(a_first.state, content_b)
    b_first = _serial(initial, content_b)
    a_after_b = _serial(b_first.state, content_a)
    orders = {
        "A then B": (b_after_a.state, a_first.counts, b_after_a.counts),
        "B then A": (a_after_b.state, a_after_b.counts, b_first.counts),
    }
    matches = [
        name
        for name, (state, counts_a, counts_b) in orders.items()
        if stored == state and got_a == counts_a and got_b == counts_b
    ]
    assert matches, f"no serial order gives A={got_a}, B={got_b} and the stored state"

    by_actor = _audit_chains(loaded, initial, stored)
    # The audit names who changed each value, as many times as each summary says.
    assert by_actor.get("alice", 0) == got_a["updated"] + got_a["deleted"]
    assert by_actor.get("bob", 0) == got_b["updated"] + got_b["deleted"]
    runs = {r.user: r for r in loaded.scalars(select(ImportRun))}
    for user, got in (("alice", got_a), ("bob", got_b)):
        assert {k: getattr(runs[user], k) for k in counts} == got
    _assert_overlapped(loaded, err_a, err_b)


def test_imports_meeting_periods_in_opposite_orders_do_not_lose_values(
    db_url: str, loaded: Session, country: Country, tmp_path: Path
) -> None:
    """Several batches each, periods ascending in one file and descending in the other.

    On PostgreSQL the two imports lock periods in opposite orders, batch by
    batch: the server may find a deadlock and abort one, which is then run
    again from the start. The result is still that of a serial order.
    """
    keys = _keys(days=240)  # 15,600 values: four batches of 5,000
    loaded.commit()
    initial = dict.fromkeys(keys, 1)
    summary = Importer(loaded, country, user="setup").run(_write(tmp_path / "i.csv", dict(initial)))
    assert summary.committed
    assert summary.created == len(keys)
    content_a: Content = dict.fromkeys(keys, 2)
    content_b: Content = dict.fromkeys(reversed(keys), 3)
    a = _write(tmp_path / "a.csv", content_a)
    b = _write(tmp_path / "b.csv", content_b)
    (code_a, sum_a, err_a), (code_b, sum_b, err_b) = _run_pair(db_url, tmp_path, a, b)
    assert code_a == 0, err_a
    assert code_b == 0, err_b
    loaded.expire_all()
    stored = _stored(loaded)
    assert len(stored) == len(keys)
    assert set(stored.values()) in ({2}, {3})  # one import wholly after the other
    assert sum_a["updated"] == sum_b["updated"] == len(keys)
    _assert_overlapped(loaded, err_a, err_b)
    _audit_chains(loaded, initial, stored)


def _two_setups(db_url: str) -> list[str]:
    """Run `sitroom setup` twice at the same instant; both must succeed. Their outputs."""
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, str(start), "--db", db_url, "--user", user, "setup"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for user in ("alice", "bob")
    ]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out)
    return outs


def test_concurrent_setups_end_as_one_after_the_other(db_url: str, tmp_path: Path) -> None:
    """Two `sitroom setup` at once: one creates everything, the other finds it in place."""
    outs = _two_setups(db_url)
    firsts = [o.splitlines()[0] for o in outs]
    assert sorted(firsts) == [
        "org units: 0 created, 0 updated, 198 unchanged",
        "org units: 198 created, 0 updated, 0 unchanged",
    ], outs


def test_two_first_runs_on_a_new_database_migrate_once(db_url: str, tmp_path: Path) -> None:
    """Both processes find no schema; one migrates, the other waits and finds it done."""
    if db_url.startswith("sqlite"):
        (tmp_path / "new").mkdir()
        db_url = f"sqlite:///{tmp_path / 'new' / 'sitroom.db'}"
    else:
        engine = create_db_engine(db_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    _two_setups(db_url)
    engine = create_db_engine(db_url)
    try:
        assert current_revision(engine) == head_revision(engine)
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM org_unit")) == 198
    finally:
        engine.dispose()


def test_events_recorded_at_once_by_two_processes_are_both_kept(db_url, loaded):
    """The event write path in real concurrent processes: every event lands, once."""
    from sitroom.events.service import list_events

    loaded.commit()
    start = time.time() + 1.0
    launch = [sys.executable, "-c", LAUNCHER, str(start)]
    procs = [
        subprocess.Popen(
            [
                *launch,
                "--db",
                db_url,
                "--user",
                user,
                "events",
                "add",
                "KP",
                f"2022-05-{day}",
                f"event by {user}",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for user, day in (("alice", 16), ("bob", 17))
        for _ in range(3)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    loaded.expire_all()
    stored = list_events(loaded)
    assert sorted(e.id for e in stored) == sorted(r["id"] for r in results)
    assert sorted((e.created_by, e.day.isoformat()) for e in stored) == sorted(
        (r["created_by"], r["day"]) for r in results
    )
    assert len(stored) == 6
