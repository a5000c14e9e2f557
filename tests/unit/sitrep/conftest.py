"""The 2022 wave with two events, in a database of the package's own, and its reports.

Built once for the sitrep unit tests (the services open their own sessions
through an AppContext, so the rolled-back ``outbreak_session`` cannot serve):
a copy of the migrated template on SQLite; on PostgreSQL the test database,
emptied afterwards (as ``tests/functional/api_world.py`` does).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from sitroom.config import PACKAGE_DATA
from sitroom.context import AppContext
from sitroom.country import Country
from sitroom.db import create_db_engine, metadata
from sitroom.events.service import add_event
from sitroom.setup import setup_country
from sitroom.sitrep.build import build_report
from sitroom.sitrep.model import Report
from sitroom.surveillance.imports import Importer
from tests.conftest import TEST_DATABASE_URL

#: The real interventions of May 2022 (KCNA): drawn on every time chart.
EVENTS = (
    (date(2022, 5, 12), "Maximum emergency epidemic prevention system (lockdown declared)"),
    (date(2022, 5, 16), "Army medical corps deployed to Pyongyang's pharmacies"),
)


@pytest.fixture(scope="package")
def sitrep_context(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppContext]:
    if TEST_DATABASE_URL:
        url = TEST_DATABASE_URL
    else:
        path = tmp_path_factory.mktemp("sitrep") / "sitrep.db"
        shutil.copy(_migrated, path)
        url = f"sqlite:///{path}"
    engine = create_db_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            setup_country(session, country)
            for name in ("fever_national.csv", "fever_by_region.csv"):
                summary = Importer(session, country, user="test").run(
                    PACKAGE_DATA / "dprk2022" / name
                )
                assert summary.ok, summary.rejections
            for day, title in EVENTS:
                add_event(session, "KP", day, title, user="test")
        context = AppContext.from_overrides(database_url=url)
        yield context
        context.close()
    finally:
        if TEST_DATABASE_URL:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            with engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()


@pytest.fixture(scope="package")
def early(sitrep_context: AppContext) -> Report:
    """The report of 2022-05-20: the peak, nine days of national data (no forecast yet)."""
    return build_report(sitrep_context, "2022-05-20")


@pytest.fixture(scope="package")
def late(sitrep_context: AppContext) -> Report:
    """The report of 2022-07-15: the decline, every region reporting."""
    return build_report(sitrep_context, "2022-07-15")


@pytest.fixture(scope="package")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sitrep-out")
