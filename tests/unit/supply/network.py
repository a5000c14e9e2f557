"""A small synthetic network and the 2022 regional fever series, for the supply tests."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from sitroom.config import PACKAGE_DATA
from sitroom.supply.records import FacilityRecord, ItemRecord

FEVER_CSV = PACKAGE_DATA / "dprk2022" / "fever_by_region.csv"
REGIONS_CSV = PACKAGE_DATA / "countries" / "kp" / "regions.csv"

ITEMS = (ItemRecord("PARA500", 12), ItemRecord("AMOX250", 21))


def regions() -> dict[str, tuple[str, int]]:
    """Region code -> (English name, 2008 population)."""
    with Path(REGIONS_CSV).open(encoding="utf-8") as handle:
        return {
            row["code"]: (row["name_en"], int(row["population_2008"] or 0))
            for row in csv.DictReader(handle)
        }


def fever_2022(start: date = date(2022, 5, 14), n_days: int = 80) -> dict[str, np.ndarray]:
    """The real daily new fever cases per region, missing days filled linearly."""
    codes = {name: code for code, (name, _) in regions().items()}
    days = [start + timedelta(days=d) for d in range(n_days)]
    known: dict[str, dict[int, float]] = {code: {} for code in codes.values()}
    with Path(FEVER_CSV).open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            d = (date.fromisoformat(row["period_end"]) - start).days
            if 0 <= d < n_days and row["province_en"] in codes and row["new_fever"]:
                known[codes[row["province_en"]]][d] = float(row["new_fever"])
    out = {}
    for code, values in known.items():
        if not values:
            continue
        x = np.array(sorted(values))
        out[code] = np.interp(np.arange(len(days)), x, [values[int(v)] for v in x])
    return out


def network(
    *, districts_per_region: int = 3, pharmacies_per_district: int = 6, seed: int = 1
) -> tuple[list[FacilityRecord], dict[str, str | None]]:
    """One stockpile, a warehouse per region, stores per district, pharmacies and a hospital."""
    rng = np.random.default_rng(seed)
    facilities = [FacilityRecord("SP-KP", "stockpile", "KP", None)]
    parents: dict[str, str | None] = {"KP": None}
    for code, (_, population) in regions().items():
        parents[code] = "KP"
        warehouse = f"WH-{code}"
        facilities.append(FacilityRecord(warehouse, "warehouse", code, "SP-KP"))
        for n in range(1, districts_per_region + 1):
            district = f"{code}-D{n:02d}"
            parents[district] = code
            store = f"ST-{district}"
            facilities.append(FacilityRecord(store, "store", district, warehouse))
            people = population // districts_per_region
            sizes = rng.dirichlet(np.full(pharmacies_per_district + 1, 4.0)) * people
            facilities.append(
                FacilityRecord(f"HO-{district}", "hospital", district, store, int(sizes[0]))
            )
            for m in range(1, pharmacies_per_district + 1):
                facilities.append(
                    FacilityRecord(
                        f"PH-{district}-{m:02d}", "pharmacy", district, store, int(sizes[m])
                    )
                )
    return facilities, parents
