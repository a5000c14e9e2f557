"""The importer's strategies (DHIS2's importStrategy): what each writes, and how it counts."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from sitroom.places.models import OrgUnit
from sitroom.surveillance.imports import STRATEGIES, Importer
from sitroom.surveillance.models import DataElement, DataValue, DataValueAudit, ImportRun

WHEN = datetime(2022, 5, 21, 0, 0, tzinfo=UTC)


def payload(tmp_path: Path, name: str, values: dict[str, str | None]) -> Path:
    """A DHIS2 JSON file of KP-04's 20 May values, element code -> value (None: no value)."""
    items = []
    for element, value in values.items():
        item: dict[str, object] = {"dataElement": element, "period": "20220520", "orgUnit": "KP-04"}
        if value is not None:
            item["value"] = value
        items.append(item)
    path = tmp_path / name
    path.write_text(json.dumps({"dataValues": items}), encoding="utf-8")
    return path


def run(session, country, path: Path, strategy: str, *, dry_run: bool = False):
    importer = Importer(session, country, user="rex", now=WHEN, strategy=strategy)
    return importer.run(path, dry_run=dry_run)


def stored(session) -> dict[str, int]:
    rows = session.execute(
        select(DataElement.code, DataValue.value)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .where(OrgUnit.code == "KP-04", DataValue.period == date(2022, 5, 20))
    )
    return dict(rows.all())


@pytest.fixture
def two_stored(loaded, country, tmp_path):
    """new_fever 10 and new_deaths 1 stored for KP-04 on 20 May."""
    first = payload(tmp_path, "first.json", {"new_fever": "10", "new_deaths": "1"})
    summary = run(loaded, country, first, "CREATE_AND_UPDATE")
    assert summary.committed
    assert summary.created == 2
    return loaded


def counts(summary) -> tuple[int, int, int, int, int]:
    return (summary.created, summary.updated, summary.unchanged, summary.ignored, summary.deleted)


def test_create_only_creates_and_ignores_what_is_stored(two_stored, country, tmp_path):
    path = payload(tmp_path, "c.json", {"new_fever": "99", "new_deaths": "1", "new_recovered": "5"})
    summary = run(two_stored, country, path, "CREATE")
    assert summary.committed
    assert counts(summary) == (1, 0, 0, 2, 0)
    assert summary.ignored_lines == [1, 1]  # the compact JSON is one line
    assert stored(two_stored) == {"new_fever": 10, "new_deaths": 1, "new_recovered": 5}
    assert two_stored.scalars(select(DataValueAudit)).all() == []


def test_update_only_updates_and_ignores_what_is_new(two_stored, country, tmp_path):
    path = payload(tmp_path, "u.json", {"new_fever": "12", "new_deaths": "1", "new_recovered": "5"})
    summary = run(two_stored, country, path, "UPDATE")
    assert counts(summary) == (0, 1, 1, 1, 0)
    assert stored(two_stored) == {"new_fever": 12, "new_deaths": 1}
    audit = two_stored.scalars(select(DataValueAudit)).one()
    assert (audit.action, audit.old_value, audit.new_value) == ("update", 10, 12)


def test_update_with_no_value_deletes_a_stored_value(two_stored, country, tmp_path):
    path = payload(tmp_path, "u.json", {"new_fever": None, "new_recovered": None})
    summary = run(two_stored, country, path, "UPDATE")
    assert counts(summary) == (0, 0, 0, 1, 1)
    assert stored(two_stored) == {"new_deaths": 1}


def test_delete_deletes_what_is_named_whatever_the_value(two_stored, country, tmp_path):
    path = payload(tmp_path, "d.json", {"new_fever": "10", "new_deaths": "7", "new_recovered": "5"})
    summary = run(two_stored, country, path, "DELETE")
    assert summary.committed
    assert counts(summary) == (0, 0, 0, 1, 2)
    assert stored(two_stored) == {}
    audits = two_stored.scalars(select(DataValueAudit).order_by(DataValueAudit.id)).all()
    assert [(a.action, a.old_value, a.new_value) for a in audits] == [
        ("delete", 10, None),
        ("delete", 1, None),
    ]
    run_row = two_stored.scalars(select(ImportRun).order_by(ImportRun.id.desc())).first()
    assert (run_row.deleted, run_row.unchanged) == (2, 1)


def test_create_and_update_is_the_default_and_unchanged(two_stored, country, tmp_path):
    path = payload(
        tmp_path, "cu.json", {"new_fever": "11", "new_deaths": "1", "new_recovered": "5"}
    )
    importer = Importer(two_stored, country, user="rex", now=WHEN)
    assert importer.strategy == "CREATE_AND_UPDATE"
    summary = importer.run(path)
    assert counts(summary) == (1, 1, 1, 0, 0)
    assert stored(two_stored) == {"new_fever": 11, "new_deaths": 1, "new_recovered": 5}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_bad_value_rejects_the_file_under_every_strategy(two_stored, country, tmp_path, strategy):
    path = payload(tmp_path, "bad.json", {"new_fever": "-3", "new_deaths": "2"})
    summary = run(two_stored, country, path, strategy)
    assert not summary.ok
    assert not summary.committed
    assert "negative" in summary.rejections[0].reason
    assert stored(two_stored) == {"new_fever": 10, "new_deaths": 1}


def test_a_dry_run_counts_under_the_strategy_and_writes_nothing(two_stored, country, tmp_path):
    path = payload(tmp_path, "d.json", {"new_fever": "10", "new_recovered": "5"})
    summary = run(two_stored, country, path, "DELETE", dry_run=True)
    assert counts(summary) == (0, 0, 0, 1, 1)
    assert stored(two_stored) == {"new_fever": 10, "new_deaths": 1}


def test_a_repeat_is_a_duplicate_under_every_strategy(two_stored, country, tmp_path):
    path = tmp_path / "dup.json"
    value = {"dataElement": "new_fever", "period": "20220520", "orgUnit": "KP-04", "value": "3"}
    path.write_text(json.dumps({"dataValues": [value, value]}), encoding="utf-8")
    summary = run(two_stored, country, path, "CREATE")
    assert summary.rejected == 1
    assert "duplicate" in summary.rejections[0].reason


def test_an_unknown_strategy_is_refused(loaded, country):
    with pytest.raises(ValueError, match="MERGE"):
        Importer(loaded, country, user="rex", strategy="MERGE")
