"""The demo: the DPRK's 2022 wave loaded into a database, as a user would load it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

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
