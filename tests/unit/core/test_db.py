from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

import sitroom.models  # noqa: F401
from sitroom.db import (
    HEAD_REVISION,
    UTCDateTime,
    create_db_engine,
    current_revision,
    ensure_schema,
    head_revision,
    metadata,
    upgrade,
)
from sitroom.errors import ConfigError


def test_migrations_match_the_models(shared_engine):
    """CI fails when a model changes without a migration."""
    with shared_engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), metadata
        )
    assert diff == []


def test_the_database_is_created_on_first_use(tmp_path):
    path = tmp_path / "deep" / "folder" / "new.db"
    engine = create_db_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    assert path.exists()
    assert current_revision(engine) == head_revision(engine)
    assert {"data_value", "data_value_audit", "org_unit"} <= set(inspect(engine).get_table_names())
    ensure_schema(engine)  # a second time is harmless
    engine.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_timestamps_are_stored_and_read_as_utc():
    column = UTCDateTime()
    dialect = create_db_engine("sqlite://").dialect
    kst = timezone(timedelta(hours=9))
    stored = column.process_bind_param(datetime(2022, 5, 15, 18, 0, tzinfo=kst), dialect)
    assert stored == datetime(2022, 5, 15, 9, 0)
    assert column.process_result_value(stored, dialect) == datetime(2022, 5, 15, 9, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="naive"):
        column.process_bind_param(datetime(2022, 5, 15), dialect)


def test_a_bad_url_is_a_configuration_error():
    with pytest.raises(ConfigError, match="not a database URL"):
        create_db_engine("not a url")


def test_nothing_reads_the_shared_folder():
    """The project stands alone: no code or test refers to ../shared."""
    root = Path(__file__).parents[3]
    offenders = [
        str(p.relative_to(root))
        for folder in ("src", "tests", "bench")
        for p in (root / folder).rglob("*.py")
        if "../shared" in p.read_text(encoding="utf-8") and p.name != Path(__file__).name
    ]
    assert offenders == []


def test_the_head_revision_known_without_alembic_is_alembics(shared_engine):
    """Commands check the schema against HEAD_REVISION without importing Alembic."""
    assert head_revision(shared_engine) == HEAD_REVISION


def test_upgrading_a_database_of_the_previous_release_keeps_its_values(tmp_path):
    """0001 -> head: values survive; their best-known actor is their storedBy, registered."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO data_element (id, code, name, kind, unit)"
                " VALUES (1, 'new_fever', 'New fever', 'flow', 'persons')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO org_unit (id, code, name, level, kind)"
                " VALUES (1, 'KP', 'Korea', 1, 'country')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO data_value (element_id, org_unit_id, period, value, received_at,"
                " late, updated_at, source, stored_by, comment) VALUES (1, 1, '2022-05-15',"
                " 392920, '2022-05-16 00:00:00', 0, '2022-05-16 00:00:00', 'import:x.csv',"
                " 'kctv', 'broadcast')"
            )
        )
    assert current_revision(engine) == "0001"
    ensure_schema(engine)
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT value, stored_by, changed_by, comment FROM data_value")
        ).one()
        assert tuple(row) == (392920, "kctv", "kctv", "broadcast")
        # 0003: the names are registered users, and units have their paths.
        assert conn.execute(text("SELECT username FROM app_user")).scalars().all() == ["kctv"]
        assert conn.execute(text("SELECT path FROM org_unit")).scalar() == "/KP/"
    engine.dispose()
