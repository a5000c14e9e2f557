"""The generated facility network of a country (issue #11, item 2).

One national stockpile; a warehouse in each region; a store and a hospital in
each district (a region without districts gets one store at the region);
pharmacies in proportion to population, one per :data:`PEOPLE_PER_PHARMACY`,
at least one per district. Districts whose population the configuration does
not give share what is left of their region's equally. Deterministic: the same
configuration gives the same file.

``python -m sitroom.supply.network [COUNTRY_TOML] [-o facilities.csv]`` writes it.
"""

from __future__ import annotations

import csv
import io
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from sitroom.country import Country
from sitroom.places.service import PlaceRecord, read_places

#: One pharmacy for this many people (2008 census).
PEOPLE_PER_PHARMACY = 5_000
COLUMNS = ("code", "name", "type", "org_unit", "supplier")


@dataclass(frozen=True, slots=True)
class FacilityRow:
    """One facility as the CSV gives it."""

    code: str
    name: str
    type: str
    org_unit: str
    supplier: str | None


def _district_populations(region: PlaceRecord, districts: list[PlaceRecord]) -> dict[str, int]:
    known = {d.code: d.population for d in districts if d.population}
    rest = max(0, (region.population or 0) - sum(known.values()))
    unknown = [d for d in districts if not d.population]
    share = rest // len(unknown) if unknown else 0
    return {d.code: known.get(d.code) or share for d in districts}


def generate(country: Country) -> list[FacilityRow]:
    """The network's facilities, suppliers before their customers."""
    places = read_places(country)
    top = next(p for p in places if p.level == 1)
    regions = sorted((p for p in places if p.level == 2), key=lambda p: p.code)
    children: dict[str, list[PlaceRecord]] = defaultdict(list)
    for place in places:
        if place.level == 3 and place.parent_code:
            children[place.parent_code].append(place)

    rows = [
        FacilityRow("STOCKPILE", f"{top.name}: national stockpile", "stockpile", top.code, None)
    ]
    for region in regions:
        rows.append(
            FacilityRow(
                f"WH-{region.code}",
                f"{region.name} warehouse",
                "warehouse",
                region.code,
                "STOCKPILE",
            )
        )
    for region in regions:
        districts = sorted(children.get(region.code, []), key=lambda p: p.code)
        units = districts or [region]
        people = (
            _district_populations(region, districts)
            if districts
            else {region.code: region.population or 0}
        )
        for unit in units:
            store = f"ST-{unit.code}"
            rows.append(
                FacilityRow(store, f"{unit.name} store", "store", unit.code, f"WH-{region.code}")
            )
            rows.append(
                FacilityRow(
                    f"HO-{unit.code}", f"{unit.name} hospital", "hospital", unit.code, store
                )
            )
            count = max(1, math.floor(people[unit.code] / PEOPLE_PER_PHARMACY + 0.5))
            for number in range(1, count + 1):
                rows.append(
                    FacilityRow(
                        f"PH-{unit.code}-{number:03d}",
                        f"{unit.name} pharmacy {number}",
                        "pharmacy",
                        unit.code,
                        store,
                    )
                )
    return rows


def to_csv(rows: list[FacilityRow]) -> str:
    """``rows`` as the facilities CSV (``code,name,type,org_unit,supplier``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([row.code, row.name, row.type, row.org_unit, row.supplier or ""])
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Write the generated network of a country configuration."""
    import argparse

    from sitroom.config import DEFAULT_COUNTRY
    from sitroom.country import load_country

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("country", nargs="?", type=Path, default=DEFAULT_COUNTRY)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args(argv)
    text = to_csv(generate(load_country(args.country)))
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
