"""The 2022 wave in a database of the package's own, and a quick stand-in for the report.

The services open their own sessions through an AppContext, so the rolled-back
``outbreak_session`` cannot serve. Building and rendering the real report
takes seconds; :func:`quick_build` stands in for it where a test is about
editions (numbers, what changed, append-only), not about the report: a
report whose headline is the period's national new cases, as stored.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from sitroom.config import PACKAGE_DATA
from sitroom.context import AppContext
from sitroom.country import Country
from sitroom.db import create_db_engine, metadata
from sitroom.places.models import OrgUnit
from sitroom.publication import service
from sitroom.publication.values import values_digest
from sitroom.setup import setup_country
from sitroom.sitrep.model import Fact, Report, Section, Table
from sitroom.surveillance.imports import Importer
from sitroom.surveillance.models import DataElement, DataValue
from tests.conftest import TEST_DATABASE_URL


@pytest.fixture(scope="package")
def pub_context(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppContext]:
    if TEST_DATABASE_URL:
        url = TEST_DATABASE_URL
    else:
        path = tmp_path_factory.mktemp("publication") / "publication.db"
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
        context = AppContext.from_overrides(database_url=url, user="tester")
        yield context
        context.close()
    finally:
        if TEST_DATABASE_URL:
            names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
            with engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()


def stored(session: Session, unit: str, day: date, element: str = "new_fever") -> int | None:
    return session.scalar(
        select(DataValue.value)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .where(OrgUnit.code == unit, DataElement.code == element, DataValue.period == day)
    )


def set_value(context: AppContext, unit: str, day: date, value: int) -> None:
    """Change a stored value in place (a test's shortcut past the importer)."""
    with context.session(write=True) as session:
        unit_id = session.scalar(select(OrgUnit.id).where(OrgUnit.code == unit))
        element_id = session.scalar(select(DataElement.id).where(DataElement.code == "new_fever"))
        session.execute(
            DataValue.__table__.update()
            .where(
                DataValue.org_unit_id == unit_id,
                DataValue.element_id == element_id,
                DataValue.period == day,
            )
            .values(value=value)
        )
        session.commit()


def quick_build(context: AppContext, label: str, last: date, digest: str) -> Any:
    """A stand-in for ``service._build``: the headline and the regions, no charts, no rendering."""
    day = date.fromisoformat(label)
    with context.session() as session:
        national = stored(session, "KP", day)
        regions = [
            {"code": code, "name": code, "new": stored(session, code, day)}
            for code in ("KP-01", "KP-04")
        ]
        digest = values_digest(session, context.country, last)
    moment = datetime(2022, 1, 1, tzinfo=UTC)
    report = Report(
        country="DPRK",
        country_code="KP",
        period=day,
        period_label=label,
        period_type="daily",
        window_start=moment,
        window_end=moment,
        generated_at=moment,
        sections=[
            Section(
                key="headline",
                title="Headline",
                facts=[Fact(label="New fever cases", value=national)],
            ),
            Section(
                key="tables",
                title="Tables",
                tables=[Table(key="regional", title="Regions", columns=[], rows=regions)],
            ),
        ],
    )
    files = {fmt: f"{fmt} of {label}: {national}".encode() for fmt in ("html", "pdf", "md", "json")}
    return report, files, digest


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "_build", quick_build)
