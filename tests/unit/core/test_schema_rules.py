"""The schema keeps its own rules: append-only audit, checks, registered users, paths."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sitroom.places.models import OrgUnit
from sitroom.places.service import subtree_codes
from sitroom.surveillance.imports import Importer


@pytest.fixture
def audited(loaded, country, tmp_path):
    """A database with one audited correction."""
    first = tmp_path / "a.csv"
    first.write_text("org_unit,period,new_fever\nKP-01,2022-05-15,100\n", encoding="utf-8")
    fixed = tmp_path / "b.csv"
    fixed.write_text("org_unit,period,new_fever\nKP-01,2022-05-15,120\n", encoding="utf-8")
    assert Importer(loaded, country, user="alice").run(first).committed
    assert Importer(loaded, country, user="bob").run(fixed).committed
    return loaded


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


def test_actors_are_registered_users(audited):
    names = audited.execute(text("SELECT username FROM app_user ORDER BY username")).scalars()
    assert list(names) == ["alice", "bob"]


def test_a_subtree_is_one_prefix_query(outbreak):
    region = subtree_codes(outbreak, "KP-04")
    assert "KP-04" in region
    assert len(region) == 1 + 18  # Chagang and its 18 districts
    assert all(code.startswith("KP-04") for code in region)
    assert len(subtree_codes(outbreak, "KP")) == outbreak.query(OrgUnit).count()
