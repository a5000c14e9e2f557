"""Benchmark: build the situation report and render each format (issue #10).

Two data sets, each in a temporary SQLite database:

* the real 2022 outbreak (national and regional series) with its two May
  events, reported for 2022-05-20 and 2022-07-15;
* a synthetic country of 2,000 reporting districts in 20 regions over 365
  days (new cases of every district, the national cases, deaths and
  patients under treatment), reported for its last day.

For each it times, in this process: building the bulletin alone (the
baseline: the report's first service call), building the report's context,
and rendering it to HTML, PDF, Markdown (with its SVG charts) and JSON,
each the median of ``--repeat`` runs after one warm-up. It prints each time
and its ratio to the baseline. For the real outbreak it also times the
whole command, ``sitroom sitrep --format html|pdf``, in a fresh process
(start-up, imports and the chart engine's first start included): what a
user waits for. Goals: under 2 s in HTML and under 4 s in PDF.

Usage::

    python bench/bench_sitrep.py [--repeat 3] [--districts 2000] [--days 365]
        [--synthetic-repeat 1]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from sitroom.config import DEFAULT_COUNTRY, PACKAGE_DATA
from sitroom.context import AppContext
from sitroom.country import load_country
from sitroom.db import create_db_engine, upgrade
from sitroom.events.service import add_event
from sitroom.setup import setup_country
from sitroom.surveillance.imports import Importer
from sitroom.surveillance.ingest import DHIS2_CSV_COLUMNS

EVENTS = (
    (date(2022, 5, 12), "Maximum emergency epidemic prevention system (lockdown declared)"),
    (date(2022, 5, 16), "Army medical corps deployed to Pyongyang's pharmacies"),
)


def timed(call: Callable[[], Any], repeat: int) -> float:
    """The median wall time of ``call`` over ``repeat`` runs, after one warm-up run."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report_times(url: str, country_file: Path, period: str, repeat: int, out: Path) -> None:
    from sitroom.sitrep.build import build_report
    from sitroom.sitrep.render import render, write
    from sitroom.surveillance.bulletin import bulletin_for

    context = AppContext.from_overrides(database_url=url, country=country_file)

    def bulletin() -> None:
        with context.session() as session:
            bulletin_for(session, context.country, period)

    base = timed(bulletin, repeat)
    build = timed(lambda: build_report(context, period), repeat)
    report = build_report(context, period)
    rows = [("bulletin alone (baseline)", base), ("build the context", build)]
    for fmt in ("html", "pdf", "md", "json"):
        if fmt == "md":
            seconds = timed(lambda: write(report, "md", out / "report.md"), repeat)
        else:
            seconds = timed(lambda fmt=fmt: render(report, fmt), repeat)
        rows.append((f"render {fmt}", seconds))
        rows.append((f"build + {fmt}", build + seconds))
    regional = next(t for t in report.section("tables").tables if t.key == "regional")
    print(f"  period {period}: {len(regional.rows)} reporting units, {len(report.charts())} charts")
    for name, seconds in rows:
        print(f"  {name:28} {seconds:8.3f} s   {seconds / base:8.1f} x the bulletin")
    context.close()


def command_times(url: str, period: str, out: Path, repeat: int) -> None:
    """The whole command in a new process, beside ``sitroom bulletin`` as the baseline."""
    env = {**os.environ, "SITROOM_DATABASE_URL": url}
    commands = {
        "sitroom bulletin (baseline)": ["bulletin", "--period", period],
        **{
            f"sitroom sitrep --format {fmt}": [
                "sitrep",
                "--period",
                period,
                "--format",
                fmt,
                "-o",
                str(out / f"cli.{fmt}"),
            ]
            for fmt in ("html", "pdf")
        },
    }
    base = None
    for name, args in commands.items():
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "sitroom", *args], env=env, check=True, capture_output=True
            )
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        base = base or median
        print(
            f"  {name:35} {median:6.2f} s  {median / base:5.1f} x"
            f"  (runs: {', '.join(f'{t:.2f}' for t in times)}; new process)"
        )


def real_outbreak(folder: Path, repeat: int) -> None:
    url = f"sqlite:///{folder / 'real.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    country = load_country(DEFAULT_COUNTRY)
    with Session(engine) as session:
        setup_country(session, country)
        for name in ("fever_national.csv", "fever_by_region.csv"):
            Importer(session, country, user="bench").run(PACKAGE_DATA / "dprk2022" / name)
        for day, title in EVENTS:
            add_event(session, "KP", day, title, user="bench")
    engine.dispose()
    print("The real outbreak (DPRK 2022, 13 regions, 90 days)")
    for period in ("2022-05-20", "2022-07-15"):
        report_times(url, DEFAULT_COUNTRY, period, repeat, folder)
    command_times(url, "2022-05-20", folder, repeat)


SYNTHETIC_TOML = """
[country]
code = "XX"
name = "Synthetic country"

[reporting]
time_zone = "UTC"
reporting_level = 3
required_elements = ["new_cases"]

[places]
[[places.files]]
file = "regions.csv"
level = 2
code = "code"
name = "name"
population = "population"

[[places.files]]
file = "districts.csv"
level = 3
parent = "region"
name = "name"
population = "population"
code_template = "{parent}-{name_slug}"

[roles]
cases = "new_cases"
deaths = "new_deaths"
active = "under_treatment"

[[elements]]
code = "new_cases"
name = "New cases"
kind = "flow"

[[elements]]
code = "new_deaths"
name = "New deaths"
kind = "flow"

[[elements]]
code = "under_treatment"
name = "Under treatment"
kind = "stock"
"""


def synthetic(folder: Path, districts: int, days: int, repeat: int) -> None:
    import math

    config = folder / "synthetic"
    config.mkdir()
    (config / "country.toml").write_text(SYNTHETIC_TOML, encoding="utf-8")
    regions = 20
    with (config / "regions.csv").open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["code", "name", "population"])
        for r in range(regions):
            w.writerow([f"XX-{r:02d}", f"Region {r}", 0])
    codes = []
    with (config / "districts.csv").open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["region", "name", "population"])
        for d in range(districts):
            region = f"XX-{d % regions:02d}"
            w.writerow([region, f"D{d:04d}", 20_000 + (d * 7919) % 80_000])
            codes.append(f"{region}-d{d:04d}")
    # Regions' populations: their districts' sums (the loader adds none up by itself).
    sums = [0] * regions
    for d in range(districts):
        sums[d % regions] += 20_000 + (d * 7919) % 80_000
    with (config / "regions.csv").open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["code", "name", "population"])
        for r in range(regions):
            w.writerow([f"XX-{r:02d}", f"Region {r}", sums[r]])
    start = date(2023, 1, 1)
    values = folder / "values.csv"
    with values.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(DHIS2_CSV_COLUMNS)
        for day in range(days):
            period = (start + timedelta(days=day)).isoformat()
            wave = 1 + 50 * math.exp(-(((day - days / 2) / (days / 8)) ** 2))
            national = 0
            for d, code in enumerate(codes):
                count = int(wave * (1 + (d * 31 + day * 17) % 5))
                national += count
                w.writerow(["new_cases", period, code, "", "", count, "", "", "", "", ""])
            for element, value in (
                ("new_cases", national),
                ("new_deaths", national // 1000),
                ("under_treatment", national * 5),
            ):
                w.writerow([element, period, "XX", "", "", value, "", "", "", "", ""])
    url = f"sqlite:///{folder / 'synthetic.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    country = load_country(config / "country.toml")
    began = time.perf_counter()
    with Session(engine) as session:
        setup_country(session, country)
        summary = Importer(session, country, user="bench").run(values)
        assert summary.ok, summary.rejections[:3]
    engine.dispose()
    print(
        f"\nSynthetic: {districts:,} districts x {days} days"
        f" (set up and imported in {time.perf_counter() - began:.0f} s)"
    )
    report_times(
        url, config / "country.toml", (start + timedelta(days=days - 1)).isoformat(), repeat, folder
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--districts", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--synthetic-repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        real_outbreak(folder, args.repeat)
        synthetic(folder, args.districts, args.days, args.synthetic_repeat)


if __name__ == "__main__":
    main()
