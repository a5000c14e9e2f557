"""Test fixtures: a migrated database per test, on SQLite or PostgreSQL.

The suite runs on SQLite by default. With SITROOM_TEST_DATABASE_URL set to a
PostgreSQL URL it runs on that database instead: the schema is built once by
the migrations and every table is emptied after each test.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Wide terminals for Rich, so messages are not wrapped in captured output.
os.environ["COLUMNS"] = "250"

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from sitroom.config import DEFAULT_COUNTRY, PACKAGE_DATA
from sitroom.country import Country, load_country
from sitroom.db import create_db_engine, metadata, upgrade
from sitroom.setup import setup_country
from sitroom.surveillance.imports import Importer

TEST_DATABASE_URL = os.environ.get("SITROOM_TEST_DATABASE_URL", "")
DATA = Path(__file__).parent / "data"
DEMO = PACKAGE_DATA / "dprk2022"


def _reset_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session")
def _migrated(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database built by the migrations: a template file, or the PostgreSQL test DB."""
    if TEST_DATABASE_URL:
        engine = create_db_engine(TEST_DATABASE_URL)
        _reset_postgres(engine)
        upgrade(engine)
        engine.dispose()
        return TEST_DATABASE_URL
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return str(path)


@pytest.fixture
def db_url(_migrated: str, tmp_path: Path) -> Iterator[str]:
    """URL of an empty, migrated database for this test alone."""
    if TEST_DATABASE_URL:
        yield TEST_DATABASE_URL
        engine = create_db_engine(TEST_DATABASE_URL)
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return
    path = tmp_path / "sitroom.db"
    shutil.copy(_migrated, path)
    yield f"sqlite:///{path}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def country() -> Country:
    return load_country(DEFAULT_COUNTRY)


@pytest.fixture
def loaded(session: Session, country: Country) -> Session:
    """A session on a database holding the DPRK org units and data elements."""
    setup_country(session, country)
    return session


@pytest.fixture
def outbreak(loaded: Session, country: Country) -> Session:
    """A session on a database holding the whole 2022 outbreak."""
    for name in ("fever_national.csv", "fever_by_region.csv"):
        summary = Importer(loaded, country, user="test").run(DEMO / name)
        assert summary.ok, summary.rejections
    return loaded


@pytest.fixture
def alarm() -> Iterator[None]:
    """Fail instead of hanging forever if something opens a pipe nobody writes to."""

    def timeout(*_: object) -> None:
        raise TimeoutError("hung on a pipe")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> object:
    """Run ``sitroom ARGS`` in-process through the real entry point."""
    from sitroom.cli import main

    monkeypatch.setenv("SITROOM_DATABASE_URL", db_url)
    monkeypatch.setenv("SITROOM_USER", "tester")

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["sitroom", *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
