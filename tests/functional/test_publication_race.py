"""The schedule's race: two or three real processes claim the same scheduled day.

Each process starts, imports, connects and waits at a barrier (a file), then
all run the scheduled publication of the same day at once: exactly one
publishes (and builds the real report), the others find the day claimed and
skip it. On SQLite, and on PostgreSQL with ``SITROOM_TEST_DATABASE_URL``. A
module of its own: on PostgreSQL the API modules' shared world lives in the
same database until its module ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select, text

from sitroom.publication.models import Edition, PublicationClaim

RACER = """
import sys, time
from datetime import UTC, date, datetime
from pathlib import Path
from sitroom.context import AppContext
from sitroom.publication.schedule import publish_scheduled

url, folder, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
context = AppContext.from_overrides(database_url=url, user="racer")
context.engine
from sitroom.publication import service, values  # imported before the start
(folder / f"ready-{name}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
outcome = publish_scheduled(context, date(2022, 6, 2), datetime(2022, 6, 2, 0, 0, tzinfo=UTC))
print(outcome.status, outcome.period, outcome.number)
"""


@pytest.mark.parametrize("racers", [2, 3])
def test_racing_processes_publish_exactly_one_edition_a_day(db_url, outbreak, tmp_path, racers):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITROOM_")}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, db_url, str(tmp_path), str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(racers)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < racers:
        assert time.monotonic() < deadline, "the racers did not start"
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
        time.sleep(0.05)
    (tmp_path / "go").touch()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "Traceback" not in err
        results.append(out.split())
    statuses = sorted(r[0] for r in results)
    assert statuses == ["published"] + ["skipped"] * (racers - 1), results
    outbreak.rollback()
    assert outbreak.scalar(select(func.count()).select_from(Edition)) == 1
    edition = outbreak.scalars(select(Edition)).one()
    assert (edition.period_label, edition.number, edition.channel) == ("2022-06-01", 1, "schedule")
    claim = outbreak.scalars(select(PublicationClaim)).one()
    assert claim.outcome == "published edition 1 of 2022-06-01"
    sizes = outbreak.execute(text("SELECT format, size FROM edition_file")).all()
    assert {fmt for fmt, _ in sizes} == {"html", "pdf", "md", "json"}
    assert all(size > 1000 for _, size in sizes)
