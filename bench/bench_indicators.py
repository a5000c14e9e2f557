"""Supply indicators over the shipped network: time of one ``indicators`` call.

Builds a SQLite database with the DPRK network (about 5,000 facilities), gives every
pharmacy stock of a few items through the ledger and dispenses from each on some days
of the window, then times :func:`sitroom.supply.indicators.indicators` for every
facility and item at once, beside the number of ledger entries it read.

    python bench/bench_indicators.py [--days 28] [--every 2] [--items 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import sitroom.models  # noqa: F401  (every table on the metadata)
from sitroom.config import DEFAULT_COUNTRY
from sitroom.country import load_country
from sitroom.db import create_db_engine, upgrade
from sitroom.setup import setup_country
from sitroom.supply.indicators import indicators
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import Facility, StockEntry

ITEMS = ("PARA-500", "IBU-400", "AMOX-500", "ORS", "MASK-MED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=28, help="days of the window")
    parser.add_argument("--every", type=int, default=2, help="dispense every this many days")
    parser.add_argument("--items", type=int, default=3, help="items per pharmacy (up to 5)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the fastest counts")
    parser.add_argument("--profile", action="store_true", help="print a profile of one run")
    args = parser.parse_args()
    country = load_country(DEFAULT_COUNTRY)
    zone = ZoneInfo(country.reporting.time_zone)
    last = date(2022, 6, 30)
    first = last - timedelta(days=args.days - 1)
    with tempfile.TemporaryDirectory() as folder:
        engine = create_db_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade(engine)
        with Session(engine, expire_on_commit=False) as session:
            setup_country(session, country)
            pharmacies = session.scalars(
                select(Facility.code).where(Facility.type == "pharmacy")
            ).all()
            items = ITEMS[: args.items]
            started = time.perf_counter()
            opening = datetime.combine(first - timedelta(days=1), datetime.min.time(), zone)
            moves = [
                Movement(opening, "receipt", code, item, 10_000, lot="L1", expiry=date(2030, 1, 1))
                for code in pharmacies
                for item in items
            ]
            summary = Ledger(session, user="bench").post(moves, source="bench receipts")
            assert summary.committed, summary.rejections[:3]
            # Dispensing in posts of a few hundred pharmacies: the ledger's book of a
            # post is searched per movement, so one post of everything would be slow.
            for start in range(0, len(pharmacies), 250):
                chunk = pharmacies[start : start + 250]
                moves = [
                    Movement(
                        datetime.combine(first + timedelta(days=k), datetime.min.time(), zone)
                        + timedelta(hours=10),
                        "dispense",
                        code,
                        items[0],
                        20,
                    )
                    for k in range(0, args.days, args.every)
                    for code in chunk
                ]
                summary = Ledger(session, user="bench").post(moves, source=f"bench {start}")
                assert summary.committed, summary.rejections[:3]
            entries = session.scalar(select(func.count(StockEntry.id)))
            print(f"posted {entries:,} entries in {time.perf_counter() - started:.1f} s")
            best = float("inf")
            for _ in range(args.repeat):
                started = time.perf_counter()
                report = indicators(session, country, day=last, window_days=args.days)
                best = min(best, time.perf_counter() - started)
            print(
                f"indicators: {len(report.facilities):,} facility-item rows,"
                f" {len(report.areas):,} area rows, {len(report.alerts):,} alerts"
                f" from {entries:,} ledger entries in {best * 1000:.0f} ms"
            )
            if args.profile:
                import cProfile
                import pstats

                profile = cProfile.Profile()
                profile.runcall(indicators, session, country, day=last, window_days=args.days)
                pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
        engine.dispose()


if __name__ == "__main__":
    main()
