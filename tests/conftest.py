"""Test fixtures: migrated databases on SQLite or PostgreSQL.

The suite runs on SQLite by default. With SITROOM_TEST_DATABASE_URL set to a
PostgreSQL URL it runs on that database instead. Two kinds of fixture:

* ``db_session`` (with ``factories``) and ``outbreak_session``: one database
  shared by the run, each test inside a transaction that is rolled back at
  its end. Fast; for code that takes a session and does not need its commits
  to be real (see "Tests" in docs/architecture.md).
* ``db_url``, ``engine``, ``session``, ``loaded`` and ``outbreak``: a database
  of the test's own (a copy of a migrated template on SQLite; on PostgreSQL
  every table is emptied after the test), for real commits: the importer and
  the set-up (which take the write lock), the command line, other processes.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

# Wide terminals for Rich, so messages are not wrapped in captured output.
os.environ["COLUMNS"] = "250"

import pytest
from sqlalchemy import Connection, Engine, event, func, select, text
from sqlalchemy.orm import Session

import sitroom.models  # noqa: F401  (every table on the metadata)
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


# Rolled-back transactions on a shared database ------------------------------
#
# Each test runs inside an outer transaction on one connection; its Session
# joins with a SAVEPOINT ("create_savepoint"), so code under test that commits
# only releases a savepoint and code that rolls back returns to one. The outer
# transaction is rolled back when the test ends: the database is as before.

#: PostgreSQL schema of the shared outbreak (beside the tables in "public",
#: which the per-test fixtures empty after each test).
OUTBREAK_SCHEMA = "sitroom_test_outbreak"


def _begin_explicitly(engine: Engine) -> None:
    """Have SQLAlchemy, not pysqlite, begin SQLite transactions.

    pysqlite's legacy transaction control (the default before Python 3.16)
    sends BEGIN only before INSERT, UPDATE or DELETE: a SAVEPOINT or a SELECT
    before the first write would run outside the outer transaction, and its
    rollback would not undo what was released into it. The recipe of
    SQLAlchemy's SQLite documentation ("Enabling Non-Legacy SQLite
    Transactional Modes"): the driver never begins, SQLAlchemy sends BEGIN.
    ``db.begin_write`` then finds a transaction open and adds nothing.
    """

    @event.listens_for(engine, "connect")
    def _driver_never_begins(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")


def _row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            table.name: connection.scalar(select(func.count()).select_from(table)) or 0
            for table in metadata.sorted_tables
        }


@contextmanager
def _rolled_back(engine: Engine, expected: dict[str, int]) -> Iterator[Session]:
    """A session whose every change is undone at the end; fails if one escaped."""
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            session.close()
            outer.rollback()
    left = _row_counts(engine)
    assert left == expected, f"a test wrote past its transaction: rows {expected} -> {left}"


def _sqlite_copy(template: str, folder: Path, name: str) -> str:
    path = folder / name
    shutil.copy(template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def shared_engine(_migrated: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The migrated, empty database that every ``db_session`` works in."""
    if TEST_DATABASE_URL:
        engine = create_db_engine(TEST_DATABASE_URL)
    else:
        folder = tmp_path_factory.mktemp("shared")
        engine = create_db_engine(_sqlite_copy(_migrated, folder, "shared.db"))
        _begin_explicitly(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def db_session(shared_engine: Engine) -> Iterator[Session]:
    """A session on the shared empty database, in a transaction rolled back after the test.

    Commits by the code under test release a savepoint; nothing outlives the
    test. Not for code that needs real commits or other connections: use
    ``session``/``db_url`` for those.
    """
    empty = {table.name: 0 for table in metadata.sorted_tables}
    with _rolled_back(shared_engine, empty) as session:
        yield session


@pytest.fixture
def factories(db_session: Session) -> Iterator[ModuleType]:
    """``tests.factories``, making its objects in ``db_session``."""
    from tests import factories

    with factories.bound_to(db_session):
        yield factories


def _outbreak_engine_maker(
    template: str, folder: Path
) -> tuple[Callable[[], Engine], Callable[[], None]]:
    """How to open the shared outbreak database, and how to remove it."""
    if TEST_DATABASE_URL:
        admin = create_db_engine(TEST_DATABASE_URL)
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {OUTBREAK_SCHEMA} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {OUTBREAK_SCHEMA}"))

        def drop() -> None:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {OUTBREAK_SCHEMA} CASCADE"))
            admin.dispose()

        options = {"options": f"-c search_path={OUTBREAK_SCHEMA}"}
        return lambda: create_db_engine(TEST_DATABASE_URL, connect_args=options), drop
    url = _sqlite_copy(template, folder, "outbreak.db")
    return lambda: create_db_engine(url), lambda: None


@pytest.fixture(scope="session")
def outbreak_engine(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, dict[str, int]]]:
    """A database holding the whole 2022 wave, imported once for the run, and its row counts."""
    make, drop = _outbreak_engine_maker(_migrated, tmp_path_factory.mktemp("outbreak"))
    loader = make()
    upgrade(loader)  # a copy of the template on SQLite: already current
    with Session(loader, expire_on_commit=False) as session:
        setup_country(session, country)
        for name in ("fever_national.csv", "fever_by_region.csv"):
            summary = Importer(session, country, user="test").run(DEMO / name)
            assert summary.ok, summary.rejections
    loader.dispose()
    engine = make()
    if engine.dialect.name == "sqlite":
        _begin_explicitly(engine)
    yield engine, _row_counts(engine)
    engine.dispose()
    drop()


@pytest.fixture
def outbreak_session(outbreak_engine: tuple[Engine, dict[str, int]]) -> Iterator[Session]:
    """A session on the shared 2022 wave, in a transaction rolled back after the test.

    The same data as ``outbreak``, imported once: for tests that read it (or
    change it without needing the change to be committed for real).
    """
    engine, counts = outbreak_engine
    with _rolled_back(engine, counts) as session:
        yield session
