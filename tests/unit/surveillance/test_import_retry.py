"""The import's answer to conflicts: rerun from the start, then give up as busy.

The conflicts are injected where the database would raise them (the batch
statements), so the retry path runs on both databases; real concurrent
processes are in tests/functional/test_concurrency.py.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import func, select

from sitroom.db import is_db_error, is_retryable, translate_db_error
from sitroom.errors import BusyError, StorageFullError
from sitroom.surveillance import imports
from sitroom.surveillance.bulk import BulkStatements, ConcurrentChange
from sitroom.surveillance.imports import MAX_ATTEMPTS, Importer
from sitroom.surveillance.models import DataValue, DataValueAudit, ImportRun
from sitroom.surveillance.service import value_history

FIRST = "org_unit,period,new_fever\nKP-01,2022-05-15,100\nKP-02,2022-05-15,50\n"
FIXED = "org_unit,period,new_fever\nKP-01,2022-05-15,120\nKP-02,2022-05-15,50\n"


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch):
    monkeypatch.setattr(imports.time, "sleep", lambda _s: None)


def _fail_first(monkeypatch, method: str, error: Exception, times: int = 1) -> list[int]:
    """Make BulkStatements.``method`` raise ``error`` on its first ``times`` calls."""
    calls: list[int] = []
    original = getattr(BulkStatements, method)

    def flaky(self, rows):
        calls.append(len(rows))
        if len(calls) <= times:
            raise error
        return original(self, rows)

    monkeypatch.setattr(BulkStatements, method, flaky)
    return calls


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("update_values", ConcurrentChange("1 of 1 updates found no row")),
        ("update_values", psycopg.errors.DeadlockDetected("deadlock detected")),
        ("insert_audits", psycopg.errors.SerializationFailure("could not serialize")),
    ],
)
def test_a_conflict_reruns_the_import_from_the_start(
    loaded, country, tmp_path, monkeypatch, method, error
):
    assert Importer(loaded, country, user="alice").run(_file(tmp_path, "a.csv", FIRST)).committed
    calls = _fail_first(monkeypatch, method, error)
    summary = Importer(loaded, country, user="bob").run(_file(tmp_path, "b.csv", FIXED))
    assert len(calls) == 2  # the failed attempt, then the one that committed
    assert summary.committed
    assert summary.attempts == 2
    # The summary is the committed attempt's alone, and so is the audit.
    assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 1)
    assert _count(loaded, DataValueAudit) == 1
    assert _count(loaded, ImportRun) == 2
    events = value_history(loaded, "new_fever", "KP-01", date(2022, 5, 15))
    assert [(e.action, e.value, e.by) for e in events] == [
        ("created", 100, "alice"),
        ("updated", 120, "bob"),
    ]


def test_conflicts_every_time_give_busy_and_write_nothing(loaded, country, tmp_path, monkeypatch):
    assert Importer(loaded, country, user="alice").run(_file(tmp_path, "a.csv", FIRST)).committed
    calls = _fail_first(monkeypatch, "update_values", ConcurrentChange("gone"), times=99)
    with pytest.raises(BusyError, match=f"conflicted with concurrent changes {MAX_ATTEMPTS} times"):
        Importer(loaded, country, user="bob").run(_file(tmp_path, "b.csv", FIXED))
    assert len(calls) == MAX_ATTEMPTS
    assert _count(loaded, DataValueAudit) == 0
    assert _count(loaded, ImportRun) == 1
    assert loaded.scalar(select(func.max(DataValue.value))) == 100


def test_an_error_that_is_no_conflict_is_not_retried(loaded, country, tmp_path, monkeypatch):
    calls = _fail_first(monkeypatch, "insert_values", sqlite3.OperationalError("disk I/O error"))
    with pytest.raises(sqlite3.OperationalError):
        Importer(loaded, country, user="bob").run(_file(tmp_path, "a.csv", FIRST))
    assert len(calls) == 1
    assert _count(loaded, DataValue) == 0


def test_busy_and_full_are_translated_not_retried(loaded, country, tmp_path, monkeypatch):
    _fail_first(monkeypatch, "insert_values", sqlite3.OperationalError("database is locked"))
    with pytest.raises(BusyError, match="busy with another import"):
        Importer(loaded, country, user="bob").run(_file(tmp_path, "a.csv", FIRST))
    monkeypatch.undo()
    monkeypatch.setattr(imports.time, "sleep", lambda _s: None)
    _fail_first(monkeypatch, "insert_values", psycopg.errors.DiskFull("could not extend file"))
    with pytest.raises(StorageFullError, match="no space left"):
        Importer(loaded, country, user="bob").run(_file(tmp_path, "a.csv", FIRST))
    assert _count(loaded, DataValue) == 0


@pytest.mark.parametrize(
    ("error", "retryable", "kind"),
    [
        (psycopg.errors.DeadlockDetected("x"), True, None),
        (psycopg.errors.SerializationFailure("x"), True, None),
        (psycopg.errors.LockNotAvailable("x"), False, BusyError),
        (psycopg.errors.DiskFull("x"), False, StorageFullError),
        (psycopg.errors.AdminShutdown("x"), False, BusyError),
        (sqlite3.OperationalError("database is locked"), False, BusyError),
        (sqlite3.OperationalError("database or disk is full"), False, StorageFullError),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), False, None),
    ],
)
def test_database_errors_are_sorted(error, retryable, kind):
    assert is_db_error(error)
    assert is_retryable(error) is retryable
    known = translate_db_error(error)
    assert (None if known is None else type(known)) is kind


def test_a_comment_the_file_does_not_give_is_kept_when_the_value_changes(loaded, country, tmp_path):
    long = (
        "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,"
        "value,storedby,lastupdated,comment,followup,deleted\n"
    )
    first = _file(tmp_path, "c.csv", long + "new_fever,2022-05-15,KP-01,,,100,,,by phone,,\n")
    assert Importer(loaded, country, user="alice").run(first).committed
    assert Importer(loaded, country, user="bob").run(_file(tmp_path, "d.csv", FIXED)).updated == 1
    row = loaded.scalars(select(DataValue).where(DataValue.value == 120)).one()
    assert (row.comment, row.stored_by, row.changed_by) == ("by phone", "bob", "bob")
