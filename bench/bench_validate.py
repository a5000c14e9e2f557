"""Benchmark: `validate` at national scale, and the outlier screen against its loop.

Every org unit of the DPRK configuration (198) reports all nine elements every
day for a year (1x: 650,430 values), two years (2x) and four (4x); the values
follow a noisy epidemic wave with a few spikes. Each size runs in a fresh
interpreter on a fresh SQLite file: the figures are the CPU time of
``validate()`` over the whole range and the process's peak RSS. The outlier
screen is then timed alone on the same series, vectorised and as the
day-by-day reference loop it replaced (the ratio is the speed-up).

    python bench/bench_validate.py --sizes 1 2 4
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

DAYS_1X = 365


def build(url: str, days: int) -> int:
    """A migrated database holding every unit's nine elements for ``days`` days."""
    from sqlalchemy import text

    from sitroom.config import DEFAULT_COUNTRY
    from sitroom.country import load_country
    from sitroom.db import create_db_engine, session_factory, upgrade
    from sitroom.setup import setup_country

    engine = create_db_engine(url)
    upgrade(engine)
    with session_factory(engine)() as session:
        setup_country(session, load_country(DEFAULT_COUNTRY))
    with engine.begin() as conn:
        units = conn.execute(text("SELECT id, level FROM org_unit ORDER BY id")).all()
        elements = dict(conn.execute(text("SELECT code, id FROM data_element")).all())
        conn.execute(
            text("INSERT INTO app_user (username, created_at) VALUES ('bench', '2022-01-01')")
        )
    rng = np.random.default_rng(0)
    start = date(2019, 1, 1)
    wave = 50 + 5000 * np.exp(-((((np.arange(days) % 365) - 120) / 30.0) ** 2))
    # Shares that keep every parent above the sum of its children (a rule checks it).
    share = {1: (80.0, 80.0), 2: (2.0, 4.0), 3: (0.02, 0.06)}
    raw = engine.raw_connection()
    cursor = raw.cursor()
    sql = (
        "INSERT INTO data_value (element_id, org_unit_id, period, value, received_at, late,"
        " updated_at, source, stored_by, changed_by) VALUES (?, ?, ?, ?,"
        " '2022-01-01 00:00:00', 0, '2022-01-01 00:00:00', 'bench', 'bench', 'bench')"
    )
    periods = [(start + timedelta(days=d)).isoformat() for d in range(days)]
    count = 0
    for unit, level in units:
        # A consistent series (the identities and flow-stock rules hold), with a
        # few spikes in the new cases for the outlier screen to find.
        new = rng.poisson(wave * rng.uniform(*share[level]))
        new[rng.random(days) < 0.002] *= 8
        deaths = new // 500
        # Who did not die recovers a week later: no one is under treatment twice.
        recovered = np.concatenate([np.zeros(7, dtype=new.dtype), (new - deaths)[:-7]])
        series = {
            "new_fever": new,
            "new_recovered": recovered,
            "new_deaths": deaths,
            "cum_fever": np.cumsum(new),
            "cum_recovered": np.cumsum(recovered),
            "cum_deaths": np.cumsum(deaths),
            "under_treatment": np.cumsum(new) - np.cumsum(recovered) - np.cumsum(deaths),
            "tested": new * 2 + 10,
            "confirmed": new // 10,
        }
        for code, values in series.items():
            cursor.executemany(
                sql,
                [(elements[code], unit, p, int(v)) for p, v in zip(periods, values, strict=True)],
            )
            count += days
    raw.commit()
    raw.close()
    return count


def measure(days: int) -> None:
    """One size, in this (fresh) process: prints one line."""
    from sitroom.config import DEFAULT_COUNTRY
    from sitroom.country import load_country
    from sitroom.db import create_db_engine, session_factory
    from sitroom.surveillance.outliers import trend_outliers_loop, trend_outliers_many
    from sitroom.surveillance.validation import validate

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'validate.db'}"
        count = build(url, days)
        country = load_country(DEFAULT_COUNTRY)
        engine = create_db_engine(url)
        with session_factory(engine)() as session:
            cpu = time.process_time()
            findings = validate(session, country)
            cpu = time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # The screen alone: 40 series of this length, vectorised and looped.
        rng = np.random.default_rng(1)
        series = rng.poisson(500, size=(40, days)).astype(float)
        fast = time.process_time()
        trend_outliers_many(series)
        fast = time.process_time() - fast
        slow = time.process_time()
        for row in series:
            trend_outliers_loop(row)
        slow = time.process_time() - slow
    print(
        f"{days // DAYS_1X}x {count:>10,} values  validate {cpu:6.2f} s CPU"
        f"  {len(findings):>5} findings  peak RSS {peak:5.0f} MB"
        f"  | screen of 40 series: vectorised {fast:.3f} s, loop {slow:.3f} s"
        f" ({slow / fast:.0f}x)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        measure(args.one)
        return
    for size in args.sizes:
        subprocess.run([sys.executable, __file__, "--one", str(size * DAYS_1X)], check=True)


if __name__ == "__main__":
    main()
