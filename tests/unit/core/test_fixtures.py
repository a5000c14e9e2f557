"""The rolled-back fixtures keep their promise: nothing a test writes outlives it."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import DBAPIError

from sitroom.places.models import OrgUnit
from sitroom.places.service import subtree_codes
from sitroom.surveillance.models import DataElement, DataValue
from sitroom.surveillance.service import period_types
from sitroom.users.models import AppUser
from tests import factories as factories_module
from tests.conftest import _rolled_back, _row_counts


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_a_commit_inside_is_undone_when_the_test_ends(shared_engine):
    empty = dict.fromkeys(_row_counts(shared_engine), 0)
    with _rolled_back(shared_engine, empty) as session:
        session.add(DataElement(code="x", name="x", kind="flow", unit="persons"))
        session.commit()  # what the code under test does: releases a savepoint
        assert _count(session, DataElement) == 1
        session.add(DataElement(code="y", name="y", kind="flow", unit="persons"))
        session.commit()
        assert _count(session, DataElement) == 2
    assert _row_counts(shared_engine)["data_element"] == 0


def test_a_rollback_inside_returns_to_the_last_commit(factories, db_session):
    kept = factories.DataElementFactory(code="kept")
    db_session.add(DataElement(code="dropped", name="d", kind="flow", unit="persons"))
    db_session.flush()
    db_session.rollback()
    assert list(db_session.scalars(select(DataElement.code))) == [kept.code]


def test_a_failed_statement_leaves_the_session_usable_after_rollback(factories, db_session):
    unit = factories.OrgUnitFactory(code="KP")
    with pytest.raises(DBAPIError, match="level"):
        db_session.execute(text("UPDATE org_unit SET level = 9"))
    db_session.rollback()  # PostgreSQL: back to the savepoint, the transaction lives on
    assert db_session.get(OrgUnit, unit.id).level == 1


def _write_past_the_transaction(engine, expected) -> None:
    """Inside a rolled-back session, commit a row through another connection."""
    with _rolled_back(engine, expected), engine.begin() as other:
        other.execute(
            text("INSERT INTO app_user (username, created_at) VALUES ('escaped', '2022-05-15')")
        )


def test_a_write_that_escapes_the_transaction_is_caught(shared_engine):
    empty = dict.fromkeys(_row_counts(shared_engine), 0)
    try:
        with pytest.raises(AssertionError, match="wrote past its transaction"):
            _write_past_the_transaction(shared_engine, empty)
    finally:
        with shared_engine.begin() as other:
            other.execute(delete(AppUser).where(AppUser.username == "escaped"))
    assert _row_counts(shared_engine) == empty


def test_the_outbreak_comes_back_after_a_test_deletes_it(outbreak_engine):
    engine, counts = outbreak_engine
    assert counts["data_value"] == 548 + 2_756
    with _rolled_back(engine, counts) as session:
        session.execute(delete(DataValue))
        session.commit()
        assert _count(session, DataValue) == 0
    assert _row_counts(engine) == counts


def test_factories_need_a_session():
    with pytest.raises(RuntimeError, match="not bound to a session"):
        factories_module.DataElementFactory()


def test_factory_units_have_the_paths_loading_gives(factories, db_session):
    country = factories.OrgUnitFactory(code="LL")
    region = factories.OrgUnitFactory(code="LL-N", parent=country)
    district = factories.OrgUnitFactory(code="LL-N-1", parent=region)
    assert (region.level, region.kind, region.parent_id) == (2, "region", country.id)
    assert district.path == "/LL/LL-N/LL-N-1/"
    assert subtree_codes(db_session, "LL-N") == ["LL-N", "LL-N-1"]


def test_a_value_registers_its_actor(factories, db_session):
    value = factories.DataValueFactory(changed_by="alice")
    factories.DataValueFactory(changed_by="alice", element=factories.DataElementFactory())
    assert (value.changed_by, value.stored_by) == ("alice", "alice")
    assert list(db_session.scalars(select(AppUser.username))) == ["alice"]


def test_an_element_is_reported_as_often_as_its_data_set(factories, db_session):
    weekly = factories.DataSetFactory(code="IDSR", period_type="weekly")
    factories.DataElementFactory(code="cases", data_set=weekly)
    factories.DataElementFactory(code="tests")
    assert period_types(db_session) == {"cases": "weekly", "tests": "daily"}
