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
    " source, stored_by, import_id, comment, changed_by"
)
_AUDIT_COLUMNS = (
    "element_id, org_unit_id, period, action, old_value, old_source, old_stored_by,"
    " old_changed_by, old_comment, old_set_at, new_value, new_stored_by, new_comment,"
    " source, changed_by, changed_at, import_id"
)

#: First key of the PostgreSQL advisory locks that guard periods of data_value.
PERIOD_LOCK_SPACE = 0x5175
#: Periods share this many locks (a bounded number per transaction, whatever the span).
PERIOD_LOCK_SLOTS = 366


#: Batches of at least this many new values go through COPY on PostgreSQL.
COPY_MIN_ROWS = 100


class ConcurrentChange(Exception):
    """A row changed under the import although it held the lock: retry the import."""


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

    def _run_many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> int:
        """Run ``sql`` for each row; the number of rows it affected in all."""
        if not rows:
            return 0
        cursor = self.connection.connection.cursor()
        try:
            cursor.executemany(sql, rows)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def lock_periods(self, periods: Sequence[date]) -> None:
        """Lock ``periods`` of ``data_value`` until the transaction ends.

        Every writer takes these locks before it reads what it will write over,
        so two writers never interleave on a period: strict two-phase locking,
        serialisable in effect. PostgreSQL gets transaction-scoped advisory
        locks, taken in a fixed order within a call; a deadlock between two
        imports that meet periods in opposite orders is detected by the
        server and the import retried. SQLite needs nothing here: its writer
        holds the whole database from ``BEGIN IMMEDIATE``.
        """
        if self.sqlite or not periods:
            return
        slots = sorted({p.toordinal() % PERIOD_LOCK_SLOTS for p in periods})
        cursor = self.connection.connection.cursor()
        try:
            for slot in slots:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (PERIOD_LOCK_SPACE, slot))
        finally:
            cursor.close()

    def lock_all_periods(self) -> None:
        """Every period lock, in order (for a retry after a deadlock; see the importer)."""
        if self.sqlite:
            return
        cursor = self.connection.connection.cursor()
        try:
            for slot in range(PERIOD_LOCK_SLOTS):
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", (PERIOD_LOCK_SPACE, slot))
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

        Each row is (id, value, source, stored_by, updated_at, import_id,
        changed_by, comment) in driver form.
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
                    " updated_at, import_id, changed_by, comment FROM data_value"
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
        """Insert new values: PostgreSQL's COPY for batches, executemany otherwise.

        The keys were found absent while their periods were locked (see
        ``lock_periods``), so no other writer can have inserted them since; a
        constraint violation aborts the COPY as it would the INSERT.
        """
        if not self.sqlite and len(rows) >= COPY_MIN_ROWS:
            cursor = self.connection.connection.cursor()
            try:
                with cursor.copy(f"COPY data_value ({_VALUE_COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            finally:
                cursor.close()
            return
        marks = ", ".join([self.mark] * 12)
        self._run_many(f"INSERT INTO data_value ({_VALUE_COLUMNS}) VALUES ({marks})", rows)

    def insert_audits(self, rows: Sequence[tuple[Any, ...]]) -> None:
        marks = ", ".join([self.mark] * 17)
        self._run_many(f"INSERT INTO data_value_audit ({_AUDIT_COLUMNS}) VALUES ({marks})", rows)

    def update_values(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of (value, updated_at, source, stored_by, import_id, comment, changed_by,
        id, old value); a row whose value is no longer the one read is a conflict.
        """
        m = self.mark
        changed = self._run_many(
            f"UPDATE data_value SET value = {m}, updated_at = {m}, source = {m},"
            f" stored_by = {m}, import_id = {m}, comment = {m}, changed_by = {m}"
            f" WHERE id = {m} AND value = {m}",
            rows,
        )
        if changed != len(rows):
            raise ConcurrentChange(f"{len(rows) - changed} of {len(rows)} updates found no row")

    def delete_values(self, rows: Sequence[tuple[int, int]]) -> None:
        """Rows of (id, old value); a row that is gone or changed is a conflict."""
        m = self.mark
        changed = self._run_many(f"DELETE FROM data_value WHERE id = {m} AND value = {m}", rows)
        if changed != len(rows):
            raise ConcurrentChange(f"{len(rows) - changed} of {len(rows)} deletions found no row")
