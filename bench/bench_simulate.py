"""Benchmark: the supply simulation on the shipped DPRK network (issue #11).

Builds the network ``sitroom setup`` stores (``sitroom.supply.network.generate``
on the default country: one stockpile, 13 warehouses, a store and a hospital
per district, a pharmacy per 5,000 people), each dispensing facility's
population as ``sitroom simulate supply`` gives it (its org unit's, shared
among the unit's pharmacies and hospitals; 5,000 when the unit has none), the
2022 daily new fever cases per region (``dprk2022/fever_by_region.csv``, the
missing days filled linearly, 2022-05-14 to 2022-07-26: 74 days) and the
items with their units per treated patient from the protocols. Then times
``simulate_supply`` item by item, ``--repeat`` times (the fastest run counts),
and prints the time (wall clock and the process's CPU time, which a busy
machine inflates less), the rows and the orders of each.

``--baseline REV`` also runs the simulation module as it was at git revision
``REV`` (``git show REV:src/sitroom/supply/simulate.py``, imported beside the
current one) on the same inputs, so both times come from the same run.

Usage::

    python bench/bench_simulate.py --items PARA-500 --baseline main
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np

from sitroom.config import DEFAULT_COUNTRY, PACKAGE_DATA
from sitroom.country import Country, load_country
from sitroom.places.service import read_places
from sitroom.supply import simulate
from sitroom.supply.network import generate
from sitroom.supply.records import FacilityRecord, ItemRecord

START = date(2022, 5, 14)
N_DAYS = 74
FEVER_CSV = PACKAGE_DATA / "dprk2022" / "fever_by_region.csv"


def network(country: Country) -> tuple[list[FacilityRecord], dict[str, str | None]]:
    """The generated facilities with populations, and the org units' parents."""
    places = read_places(country)
    population = {p.code: p.population for p in places}
    parents = {p.code: p.parent_code for p in places}
    rows = generate(country)
    dispensers: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.type in {"pharmacy", "hospital"}:
            dispensers[row.org_unit] += 1
    out = []
    for row in rows:
        people = 0
        if row.type in {"pharmacy", "hospital"}:
            own = population.get(row.org_unit)
            people = own // dispensers[row.org_unit] if own else 5_000
        out.append(FacilityRecord(row.code, row.type, row.org_unit, row.supplier, people))  # type: ignore[arg-type]
    return out, parents


def fever(country: Country) -> dict[str, np.ndarray]:
    """Daily new fever cases per region code, missing days filled linearly."""
    codes = {p.name: p.code for p in read_places(country) if p.level == 2}
    known: dict[str, dict[int, float]] = defaultdict(dict)
    with Path(FEVER_CSV).open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            d = (date.fromisoformat(row["period_end"]) - START).days
            if 0 <= d < N_DAYS and row["province_en"] in codes and row["new_fever"]:
                known[codes[row["province_en"]]][d] = float(row["new_fever"])
    out = {}
    for code, values in known.items():
        x = np.array(sorted(values))
        out[code] = np.interp(np.arange(N_DAYS), x, [values[int(v)] for v in x])
    return out


def items(country: Country, codes: list[str]) -> list[ItemRecord]:
    """The items with their units per treated patient (the protocols' shares weighed)."""
    assert country.supply is not None
    out = []
    for code in codes:
        total = sum(p.share * p.items.get(code, 0.0) for p in country.supply.protocols)
        out.append(ItemRecord(code, max(1, round(total))))
    return out


def baseline(rev: str) -> ModuleType:
    """The simulation module as it was at git revision ``rev``."""
    text = subprocess.run(
        ["git", "show", f"{rev}:src/sitroom/supply/simulate.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "simulate_baseline.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("simulate_baseline", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(
    module: ModuleType,
    facilities: list[FacilityRecord],
    item: ItemRecord,
    series: dict[str, np.ndarray],
    parents: dict[str, str | None],
    *,
    seed: int,
    repeat: int,
) -> tuple[float, float, int, int]:
    best = cpu = float("inf")
    rows = orders = 0
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        sim = module.simulate_supply(facilities, [item], series, START, parents=parents, seed=seed)
        best = min(best, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
        rows, orders = len(sim.rows), len(sim.orders)
    return best, cpu, rows, orders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", nargs="+", default=["PARA-500"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--baseline", metavar="REV", help="also time the module at this revision")
    args = parser.parse_args()

    country = load_country(DEFAULT_COUNTRY)
    facilities, parents = network(country)
    series = fever(country)
    n_pharmacies = sum(f.type == "pharmacy" for f in facilities)
    print(
        f"{len(facilities):,} facilities ({n_pharmacies:,} pharmacies), {len(series)} regions,"
        f" {N_DAYS} days from {START} to {START + timedelta(days=N_DAYS - 1)}, seed {args.seed}"
    )
    old = baseline(args.baseline) if args.baseline else None
    for item in items(country, args.items):
        label = f"{item.code} ({item.units_per_patient} units/patient)"
        now, cpu, rows, orders = run(
            simulate, facilities, item, series, parents, seed=args.seed, repeat=args.repeat
        )
        print(
            f"{label:28} {'now':8} {now:6.2f} s (CPU {cpu:6.2f} s)"
            f"  {rows:8,} rows  {orders:6,} orders"
        )
        if old is not None:
            then, cpu0, rows0, orders0 = run(
                old, facilities, item, series, parents, seed=args.seed, repeat=args.repeat
            )
            print(
                f"{label:28} {args.baseline:8} {then:6.2f} s (CPU {cpu0:6.2f} s)"
                f"  {rows0:8,} rows  {orders0:6,} orders"
                f"  speed-up {then / now:.1f}x (CPU {cpu0 / cpu:.1f}x)"
            )


if __name__ == "__main__":
    main()
