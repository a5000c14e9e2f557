"""The schema keeps its own rules: append-only audit, checks, registered users, paths."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sitroom.places.models import OrgUnit
from sitroom.places.service import subtree_codes
from sitroom.surveillance.imports import Importer


@pytest.fixture
def audited(factories, db_session):
    """A database with one audited correction: 100 by alice, then 120 by bob."""
    region = factories.OrgUnitFactory(code="KP-01", parent=factories.OrgUnitFactory(code="KP"))
    fever = factories.DataElementFactory(code="new_fever")
    value = factories.DataValueFactory(
        element=fever, org_unit=region, period=date(2022, 5, 15), value=120, changed_by="bob"
    )
    factories.DataValueAuditFactory(of=value, old_value=100, old_changed_by="alice")
    return db_session


@pytest.mark.parametrize(
    "statement",
    ["UPDATE data_value_audit SET old_value = 1", "DELETE FROM data_value_audit"],
)
def test_the_audit_cannot_be_changed_or_removed(audited, statement):
    with pytest.raises(DBAPIError, match="append-only"):
        audited.execute(text(statement))
    audited.rollback()
    assert audited.execute(text("SELECT old_value FROM data_value_audit")).scalar() == 100


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        ("UPDATE data_value SET value = -1", "value_not_negative"),
        ("UPDATE data_value SET period = '1850-01-01'", "period_in_range"),
        ("UPDATE data_value SET changed_by = 'nobody'", "app_user"),
        ("UPDATE data_element SET kind = 'rate'", "kind"),
        ("UPDATE org_unit SET level = 7", "level"),
    ],
)
def test_the_domain_rules_are_checked_by_the_database(audited, statement, constraint):
    with pytest.raises(DBAPIError) as caught:
        audited.execute(text(statement))
    audited.rollback()
    message = str(caught.value).lower()
    # Both databases name a failed check; SQLite does not name a failed foreign key.
    sqlite_fk = constraint == "app_user" and "foreign key constraint failed" in message
    assert constraint in message or sqlite_fk, message


def test_actors_are_registered_users(loaded, country, tmp_path):
    """Whoever imports is registered on the first write (actor columns refer to app_user)."""
    for user, value in (("alice", 100), ("bob", 120)):
        path = tmp_path / f"{user}.csv"
        path.write_text(f"org_unit,period,new_fever\nKP-01,2022-05-15,{value}\n", encoding="utf-8")
        assert Importer(loaded, country, user=user).run(path).committed
    names = loaded.execute(text("SELECT username FROM app_user ORDER BY username")).scalars()
    assert list(names) == ["alice", "bob"]


def test_a_subtree_is_one_prefix_query(outbreak_session):
    region = subtree_codes(outbreak_session, "KP-04")
    assert "KP-04" in region
    assert len(region) == 1 + 18  # Chagang and its 18 districts
    assert all(code.startswith("KP-04") for code in region)
    everything = subtree_codes(outbreak_session, "KP")
    assert len(everything) == outbreak_session.query(OrgUnit).count()


def test_a_subtree_is_its_own_codes_whatever_they_hold(factories, db_session):
    """Codes that are LIKE wildcards or prefixes of others select only their own subtree."""
    country = factories.OrgUnitFactory(code="XX")
    units = {}
    for code in ("X_1", "XA1", "X%", "X-1", "X-10"):
        region = factories.OrgUnitFactory(code=code, parent=country)
        units[code] = [code, factories.OrgUnitFactory(code=f"{code}.d", parent=region).code]
    for code, subtree in units.items():
        assert sorted(subtree_codes(db_session, code)) == subtree
