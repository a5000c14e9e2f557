"""The demo: the DPRK's 2022 wave loaded into a database, as a user would load it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from sitroom.analysis.series import Series
from sitroom.config import PACKAGE_DATA
from sitroom.country import Country
from sitroom.db import DEFAULT_LOCK_TIMEOUT
from sitroom.errors import SitroomError
from sitroom.setup import setup_country
from sitroom.surveillance.bulletin import Bulletin, build_bulletin, latest_bulletin_period
from sitroom.surveillance.imports import Importer, ImportSummary

#: The outbreak's files, national first, as the broadcasts published them.
DEMO_FILES = ("fever_national.csv", "fever_by_region.csv")
DEMO_DATA = PACKAGE_DATA / "dprk2022"


@dataclass(frozen=True, slots=True)
class DemoResult:
    imports: list[ImportSummary]
    bulletin: Bulletin


def load_demo(
    session: Session,
    country: Country,
    *,
    user: str,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    on_import: Callable[[ImportSummary], None] | None = None,
) -> DemoResult:
    """Set up ``country`` and import the 2022 files; safe to run again (idempotent).

    Returns each import's summary and the bulletin of the latest period with
    regional reports.
    """
    setup_country(session, country, lock_timeout=lock_timeout)
    summaries = []
    for name in DEMO_FILES:
        importer = Importer(session, country, user=user, lock_timeout=lock_timeout)
        summary = importer.run(DEMO_DATA / name)
        if not summary.ok:
            raise SitroomError(f"demo data {name} was rejected: {summary.rejections[:3]}")
        summaries.append(summary)
        if on_import is not None:
            on_import(summary)
    # End on the latest day the regions reported too: the last broadcasts gave
    # national figures only, and "0 of 13 regions" is no way to end a demo.
    day = latest_bulletin_period(session, country, with_regions=True)
    return DemoResult(summaries, build_bulletin(session, country, day))


def demo_case_series(element: str = "new_fever") -> dict[str, Series]:
    """The 2022 counts of ``element`` from the bundled files, without a database.

    "national" first, then the 13 regions by English name; days a region did
    not report are NaN (fill them with :meth:`Series.filled`). Each day is the
    24-hour window that closed at 18:00 on ``period_end``, as the import stores it.
    The forecast study (``bench/forecast_skill.py``) and its tests read these.
    """
    import csv

    import numpy as np

    by_name: dict[str, dict[date, float]] = {"national": {}}
    with (DEMO_DATA / "fever_national.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row[element]:
                by_name["national"][date.fromisoformat(row["period_end"])] = float(row[element])
    with (DEMO_DATA / "fever_by_region.csv").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row[element]:
                days = by_name.setdefault(row["province_en"], {})
                days[date.fromisoformat(row["period_end"])] = float(row[element])
    out = {}
    for name in ["national", *sorted(n for n in by_name if n != "national")]:
        days = by_name[name]
        first, last = min(days), max(days)
        values = np.full((last - first).days + 1, np.nan)
        for day, value in days.items():
            values[(day - first).days] = value
        out[name] = Series(name, first, values)
    return out
