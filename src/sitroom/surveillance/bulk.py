"""Raw DBAPI statements for the import's hot path.

SQLAlchemy's per-row parameter processing (type decorators, expanding IN
lists) cost several times the database's own insert time on a million
values. The import therefore sends its batch statements through the DBAPI
cursor, converting dates and timestamps here exactly as SQLAlchemy stores
them, so the rows read back through the ORM are indistinguishable. Every
other query goes through SQLAlchemy as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection

#: SQLAlchemy's storage format for DATETIME on SQLite (naive UTC here).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"

_VALUE_COLUMNS = (
    "element_id, org_unit_id, period, value, received_at, late, updated_at,"
    " source, stored_by, import_id, comment"
)
_AUDIT_COLUMNS = (
    "element_id, org_unit_id, period, action, old_value, old_source, old_stored_by,"
    " old_set_at, new_value, source, changed_by, changed_at, import_id"
)


class BulkStatements:
    """Batch statements on ``data_value`` and ``data_value_audit`` for one connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        self.mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"

    def period(self, value: date) -> Any:
        """A period as the driver should receive it."""
        return value.isoformat() if self.sqlite else value

    def timestamp(self, value: datetime) -> Any:
        """An aware timestamp as the driver should receive it (naive UTC text on SQLite)."""
        if self.sqlite:
            return value.astimezone(UTC).strftime(_SQLITE_DATETIME)
        return value

    def _run_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            cursor = self.connection.connection.cursor()
            try:
                cursor.executemany(sql, rows)
            finally:
                cursor.close()

    def periods_with_values(self, periods: Sequence[date]) -> set[date]:
        """Which of ``periods`` hold any stored value (an index-only query)."""
        if not periods:
            return set()
        back = {self.period(p): p for p in periods}
        marks = ", ".join([self.mark] * len(back))
        cursor = self.connection.connection.cursor()
        try:
            cursor.execute(
                f"SELECT DISTINCT period FROM data_value WHERE period IN ({marks})", list(back)
            )
            return {back[row[0]] for row in cursor.fetchall()}
        finally:
            cursor.close()

    def existing(
        self, keys: Sequence[tuple[int, int, Any]]
    ) -> dict[tuple[int, int, Any], tuple[Any, ...]]:
        """Stored rows for the (element_id, org_unit_id, period) keys, by key.

        Each row is (id, value, source, stored_by, updated_at, import_id) in driver form.
        """
        if not keys:
            return {}
        # One query per period with IN lists for org units and elements: both
        # databases search the unique index with these (SQLite scans the whole
        # index for a row-value IN over VALUES).
        by_period: dict[Any, tuple[set[int], set[int]]] = {}
        for element_id, unit_id, period in keys:
            elements, units = by_period.setdefault(period, (set(), set()))
            elements.add(element_id)
            units.add(unit_id)
        m = self.mark
        wanted = set(keys)
        found: dict[tuple[int, int, Any], tuple[Any, ...]] = {}
        cursor = self.connection.connection.cursor()
        try:
            for period, (elements, units) in by_period.items():
                sql = (
                    "SELECT element_id, org_unit_id, period, id, value, source, stored_by,"
                    " updated_at, import_id FROM data_value"
                    f" WHERE period = {m}"
                    f" AND org_unit_id IN ({', '.join([m] * len(units))})"
                    f" AND element_id IN ({', '.join([m] * len(elements))})"
                )
                cursor.execute(sql, [period, *units, *elements])
                for row in cursor.fetchall():
                    key = (row[0], row[1], row[2])
                    if key in wanted:
                        found[key] = tuple(row[3:])
        finally:
            cursor.close()
        return found

    def insert_values(self, rows: Sequence[tuple[Any, ...]]) -> None:
        marks = ", ".join([self.mark] * 11)
        self._run_many(f"INSERT INTO data_value ({_VALUE_COLUMNS}) VALUES ({marks})", rows)

    def insert_audits(self, rows: Sequence[tuple[Any, ...]]) -> None:
        marks = ", ".join([self.mark] * 13)
        self._run_many(f"INSERT INTO data_value_audit ({_AUDIT_COLUMNS}) VALUES ({marks})", rows)

    def update_values(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of (value, updated_at, source, stored_by, import_id, comment, id)."""
        m = self.mark
        self._run_many(
            f"UPDATE data_value SET value = {m}, updated_at = {m}, source = {m},"
            f" stored_by = {m}, import_id = {m}, comment = {m} WHERE id = {m}",
            rows,
        )

    def delete_values(self, ids: Sequence[int]) -> None:
        self._run_many(f"DELETE FROM data_value WHERE id = {self.mark}", [(i,) for i in ids])
