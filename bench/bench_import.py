"""Benchmark: import a large long-format CSV or DHIS2 JSON, against a plain executemany insert.

For each database the same deterministic rows (the DPRK districts x days x data
elements) are inserted into fresh schemas: once by a plain DBAPI
``executemany`` of ready-made tuples (the baseline: the cost of the database
alone), then by ``sitroom``'s importer reading the file (parsing, checking,
duplicate detection, change detection, audit), once per format asked for: the
DHIS2 CSV (``csv-long``) and/or a DHIS2 ``dataValueSets`` JSON payload
(``dhis2-json``, one value per line as DHIS2 and ``sitroom export`` write it).
Prints values per second, the peak resident memory of each phase, and the ratio
baseline time / import time (1.0 = as fast as the plain insert; the goal is at
least 0.5).

Usage::

    python bench/bench_import.py --rows 1000000 [--format csv-long|dhis2-json|all]
        [--postgres URL]

Each phase runs in a fresh interpreter on a fresh schema; its peak memory is
that process's peak RSS (VmHWM, reset when the phase starts).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from sitroom.config import DEFAULT_COUNTRY
from sitroom.country import load_country
from sitroom.db import create_db_engine, session_factory, upgrade
from sitroom.setup import setup_country
from sitroom.surveillance.imports import Importer
from sitroom.surveillance.ingest import DHIS2_CSV_COLUMNS

ELEMENTS = [
    "new_fever",
    "new_recovered",
    "new_deaths",
    "under_treatment",
    "cum_fever",
    "cum_recovered",
    "cum_deaths",
    "tested",
    "confirmed",
]
START = date(2022, 1, 1)


def rows(districts: list[str], n: int) -> Iterator[tuple[str, str, date, int]]:
    """n deterministic (element, district, period, value) rows: day by day, district by district."""
    made = 0
    day = 0
    while True:
        period = START + timedelta(days=day)
        for d, district in enumerate(districts):
            for e, element in enumerate(ELEMENTS):
                if made == n:
                    return
                yield element, district, period, (day * 7919 + d * 104729 + e * 1299709) % 100_000
                made += 1
        day += 1


def peak_rss_reset() -> None:
    with open("/proc/self/clear_refs", "w") as handle:  # Linux: reset VmHWM to current RSS
        handle.write("5")


def peak_rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fresh(url: str) -> Engine:
    """A new, migrated database holding the DPRK places and elements."""
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    engine = create_db_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    country = load_country(DEFAULT_COUNTRY)
    with session_factory(engine)() as session:
        setup_country(session, country)
    return engine


def write_csv(path: Path, districts: list[str], n: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(DHIS2_CSV_COLUMNS[:6])
        for element, unit, period, value in rows(districts, n):
            writer.writerow([element, period.strftime("%Y%m%d"), unit, "", "", value])


def write_json(path: Path, districts: list[str], n: int) -> None:
    """The same values as a DHIS2 dataValueSets payload, values as strings as DHIS2 writes them."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write('{\n  "idScheme": "CODE",\n  "dataValues": [\n')
        separator = ""
        for element, unit, period, value in rows(districts, n):
            item = {
                "dataElement": element,
                "period": period.strftime("%Y%m%d"),
                "orgUnit": unit,
                "value": str(value),
            }
            handle.write(f"{separator}    {json.dumps(item)}")
            separator = ",\n"
        handle.write("\n  ]\n}\n")


def baseline(engine: Engine, districts: list[str], n: int, *, copy: bool = False) -> float:
    """Plain DBAPI executemany (or, with ``copy``, PostgreSQL COPY) of the same rows.

    Ids are resolved beforehand: the cost of the database alone.
    """
    with engine.begin() as conn:
        units = dict(conn.execute(text("SELECT code, id FROM org_unit")).all())
        elements = dict(conn.execute(text("SELECT code, id FROM data_element")).all())
        # The rows name their actor, a registered user, as the import's do.
        conn.execute(
            text("INSERT INTO app_user (username, created_at) VALUES ('bench', :now)"),
            {
                "now": datetime.now(UTC).replace(tzinfo=None)
                if engine.dialect.name == "sqlite"
                else datetime.now(UTC)
            },
        )
    now = datetime.now(UTC)
    sqlite = engine.dialect.name == "sqlite"
    stamp = now.replace(tzinfo=None).isoformat(sep=" ") if sqlite else now
    sql = (
        "INSERT INTO data_value (element_id, org_unit_id, period, value, received_at, late,"
        " updated_at, source, stored_by, import_id, comment, changed_by) VALUES "
        + (
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)"
            if sqlite
            else "(%s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, NULL, %s)"
        )
    )
    raw = engine.raw_connection()
    cursor = raw.cursor()
    columns = (
        "element_id, org_unit_id, period, value, received_at, late, updated_at, source,"
        " stored_by, changed_by"
    )

    def flush(rows: list[tuple[object, ...]]) -> None:
        if not copy:
            cursor.executemany(sql, rows)
            return
        with cursor.copy(f"COPY data_value ({columns}) FROM STDIN") as stream:
            for row in rows:
                stream.write_row(row)

    start = time.perf_counter()
    batch = []
    for element, unit, period, value in rows(districts, n):
        batch.append(
            (
                elements[element],
                units[unit],
                period.isoformat() if sqlite else period,
                value,
                stamp,
                False,
                stamp,
                "bench",
                "bench",
                "bench",
            )
        )
        if len(batch) == 5000:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    raw.commit()
    elapsed = time.perf_counter() - start
    raw.close()
    return elapsed


def phase(kind: str, url: str, data_path: Path, n: int) -> dict[str, float]:
    """One measured phase on a fresh schema, run in its own process (see ``main``)."""
    engine = fresh(url)
    districts = district_codes()
    peak_rss_reset()
    if kind in ("baseline", "copy"):
        took = baseline(engine, districts, n, copy=kind == "copy")
    else:
        start = time.perf_counter()
        with session_factory(engine)() as session:
            summary = Importer(session, load_country(DEFAULT_COUNTRY), user="bench").run(data_path)
        took = time.perf_counter() - start
        if not summary.ok or summary.created != n:
            raise SystemExit(f"import failed: {summary.rejections[:3]}")
    mem = peak_rss_mb()
    engine.dispose()
    return {"seconds": took, "peak_rss_mb": mem}


def measured(kind: str, url: str, data_path: Path, n: int) -> dict[str, float]:
    """Run a phase in a fresh interpreter, so each peak RSS is its own."""
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--phase",
            kind,
            "--url",
            url,
            "--file",
            str(data_path),
            "--rows",
            str(n),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(name: str, url: str, files: dict[str, Path], n: int) -> None:
    """The baseline, then an import of each file, each on a fresh schema."""
    base = measured("baseline", url, next(iter(files.values())), n)
    results = [("baseline executemany", base)]
    copied = None
    if name == "postgresql":
        copied = measured("copy", url, next(iter(files.values())), n)
        results.append(("baseline COPY", copied))
    results += [(f"import {fmt}", measured("import", url, path, n)) for fmt, path in files.items()]
    for label, got in results:
        print(
            f"{name:10s} {label:21s} {got['seconds']:7.2f} s  {n / got['seconds']:10,.0f}"
            f" values/s  peak RSS {got['peak_rss_mb']:6.0f} MB"
        )
    for label, got in results:
        if not label.startswith("import"):
            continue
        print(
            f"{name:10s} {label:17s} ratio (baseline time / import time):"
            f" {base['seconds'] / got['seconds']:.2f}  (goal >= 0.5)"
        )
        if copied is not None:
            print(
                f"{name:10s} {label:17s} ratio (COPY time / import time):"
                f" {copied['seconds'] / got['seconds']:.2f}  (goal >= 0.6)"
            )


def district_codes() -> list[str]:
    from sitroom.places.service import read_places

    return [p.code for p in read_places(load_country(DEFAULT_COUNTRY)) if p.level == 3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="values to import")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("SITROOM_BENCH_POSTGRES", ""),
        help="PostgreSQL URL to benchmark too (its public schema is dropped!)",
    )
    parser.add_argument(
        "--format",
        choices=["csv-long", "dhis2-json", "all"],
        default="csv-long",
        help="file format to import (all: each, against the same baseline)",
    )
    parser.add_argument("--phase", choices=["baseline", "copy", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.phase, args.url, args.file, args.rows)))
        return
    districts = district_codes()
    formats = ["csv-long", "dhis2-json"] if args.format == "all" else [args.format]
    writers = {"csv-long": (write_csv, "values.csv"), "dhis2-json": (write_json, "values.json")}
    days = args.rows // (len(districts) * len(ELEMENTS)) + 1
    print(
        f"{args.rows:,} values ({len(districts)} districts x {len(ELEMENTS)} elements x"
        f" {days} days)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files: dict[str, Path] = {}
        for fmt in formats:
            write, name = writers[fmt]
            files[fmt] = folder / name
            start = time.perf_counter()
            write(files[fmt], districts, args.rows)
            size = files[fmt].stat().st_size / 1e6
            print(f"{fmt}: {size:.0f} MB, written in {time.perf_counter() - start:.1f} s")
        run("sqlite", f"sqlite:///{folder / 'bench.db'}", files, args.rows)
        if args.postgres:
            run("postgresql", args.postgres, files, args.rows)


if __name__ == "__main__":
    main()
