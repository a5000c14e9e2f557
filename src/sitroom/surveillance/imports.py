"""Importing values: the one write path for surveillance data.

An import reads one file as a stream, checks every value, and applies the
file in one transaction: if any value is rejected nothing is written (DHIS2's
``atomic`` mode). Importing the same content again changes nothing. Every
change to an existing value leaves an audit row with the old value.

Concurrent imports are serialisable in effect: before a batch reads the
stored values of a period it locks that period until the transaction ends
(SQLite: the whole database, from ``BEGIN IMMEDIATE``; PostgreSQL: advisory
locks per period), every update and deletion checks that it changed the row
it read, and a deadlock or conflict between imports runs the import again
from the start, a bounded number of times. The summary and the audit rows are
therefore what was committed.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import random
import re
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.country import Country, PeriodType
from sitroom.counts import parse_count
from sitroom.db import (
    DEFAULT_LOCK_TIMEOUT,
    begin_write,
    is_db_error,
    is_retryable,
    translate_db_error,
    utcnow,
)
from sitroom.errors import (
    BusyError,
    InputError,
    Location,
    NotFoundError,
    SitroomError,
    StorageFullError,
)
from sitroom.places.models import OrgUnit
from sitroom.places.service import OrgUnitResolver, UnitRef
from sitroom.surveillance import ingest
from sitroom.surveillance.approvals import ApprovalIndex
from sitroom.surveillance.bulk import BulkStatements, ConcurrentChange
from sitroom.surveillance.ingest import DEFAULT_COMBOS, RawValue, Rejection
from sitroom.surveillance.models import CHANNELS, DataElement, ImportRun
from sitroom.surveillance.periods import (
    FIRST_YEAR,
    LAST_YEAR,
    UNIT_NAMES,
    ReportingCalendar,
    label,
    last_day,
    parse_period,
    start_of,
)
from sitroom.surveillance.service import period_types
from sitroom.users.service import ensure_user

#: Rejections kept in full for the summary; the rest are only counted.
MAX_REPORTED_REJECTIONS = 1000
#: How far a receipt time may be ahead of this machine's clock (clocks differ).
RECEIPT_CLOCK_SKEW = timedelta(minutes=15)
#: Times an import is run again after a conflict with a concurrent one.
MAX_ATTEMPTS = 5
#: What an import may do to stored values (DHIS2's ``importStrategy``): create
#: new ones and update stored ones (the default), only create, only update, or
#: delete every value it names. See :class:`Importer`.
STRATEGIES = ("CREATE_AND_UPDATE", "CREATE", "UPDATE", "DELETE")

log = logging.getLogger(__name__)

#: Field names, per format, of the parts of a value (for messages).
_FIELDS: dict[str, dict[str, str | None]] = {
    "csv-wide": {
        "element": None,
        "org_unit": "org_unit",
        "period": "period",
        "received": "received_at",
    },
    "csv-long": {
        "element": "dataelement",
        "org_unit": "orgunit",
        "period": "period",
        "received": "lastupdated",
        "combo": "categoryoptioncombo",
    },
    "dhis2-json": {
        "element": "dataElement",
        "org_unit": "orgUnit",
        "period": "period",
        "received": "lastUpdated",
        "combo": "categoryOptionCombo",
    },
}


@dataclass(slots=True)
class ImportSummary:
    """What an import did (or, on a dry run or a rejection, would have done)."""

    file: str
    format: str
    mapping: str | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    #: Values the strategy left alone: a stored one under CREATE, a new one
    #: under UPDATE or DELETE (DHIS2 counts them as ignored, with unchanged ones).
    ignored: int = 0
    #: Their lines (the first :data:`MAX_REPORTED_REJECTIONS`).
    ignored_lines: list[int] = field(default_factory=list)
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    #: Values imported as read, with something the importer should know.
    warnings: list[Rejection] = field(default_factory=list)
    dry_run: bool = False
    committed: bool = False
    import_id: int | None = None
    previously_imported: datetime | None = None
    #: How many times the import ran (more than 1 after conflicts with others).
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.deleted

    def ignore(self, line: int) -> None:
        self.ignored += 1
        if len(self.ignored_lines) < MAX_REPORTED_REJECTIONS:
            self.ignored_lines.append(line)

    def warn(self, warning: Rejection) -> None:
        if len(self.warnings) < MAX_REPORTED_REJECTIONS:
            self.warnings.append(warning)

    def reject(self, rejection: Rejection) -> None:
        last = self.rejections[-1] if self.rejections else None
        if last is not None and last == rejection:
            return  # one bad cell of a wide row spoils every value of it: say it once
        self.rejected += 1
        if len(self.rejections) < MAX_REPORTED_REJECTIONS:
            self.rejections.append(rejection)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "mapping": self.mapping,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "ignored": self.ignored,
            "rejected": self.rejected,
            "rejections": [
                {"line": r.line, "field": r.field, "reason": r.reason} for r in self.rejections
            ],
            "warnings": [
                {"line": w.line, "field": w.field, "reason": w.reason} for w in self.warnings
            ],
            "dry_run": self.dry_run,
            "committed": self.committed,
            "import_id": self.import_id,
            "attempts": self.attempts,
        }


@dataclass(slots=True)
class _Clean:
    line: int
    element_id: int
    org_unit_id: int
    period: date  # the first day of the period
    period_type: PeriodType
    value: int | None  # None: delete
    received_at: datetime
    stored_by: str | None  # the file's claim; None when it makes none
    comment: str | None


class _SeenKeys:
    """Packed keys, to find duplicate rows that left no trace in the database.

    A duplicate of a value this import wrote is found in the database (its
    row carries this import's id). Values that wrote nothing (unchanged, or
    deletions) are remembered here instead: packed into int64 and kept as a
    few sorted numpy arrays merged like a log-structured tree, 8 bytes each.
    A first import of new data keeps nothing here.
    """

    def __init__(self) -> None:
        self._runs: list[np.ndarray[Any, np.dtype[np.int64]]] = []

    @staticmethod
    def pack(element_id: int, org_unit_id: int, period: date) -> int:
        return (element_id << 40) | (org_unit_id << 20) | period.toordinal()

    def contains(
        self, keys: np.ndarray[Any, np.dtype[np.int64]]
    ) -> np.ndarray[Any, np.dtype[np.bool_]]:
        found = np.zeros(keys.shape, dtype=bool)
        for run in self._runs:
            idx = np.searchsorted(run, keys)
            idx[idx == run.size] = 0
            found |= run[idx] == keys
        return found

    def add(self, keys: np.ndarray[Any, np.dtype[np.int64]]) -> None:
        self._runs.append(np.sort(keys))
        while len(self._runs) > 1 and self._runs[-2].size <= 2 * self._runs[-1].size:
            top = self._runs.pop()
            merged = np.concatenate([self._runs[-1], top])
            merged.sort()  # in place: no third copy at the peak
            self._runs[-1] = merged


def parse_received(text: str, calendar: ReportingCalendar) -> tuple[datetime, str | None]:
    """A receipt time: a date (local midnight), a local datetime, or one with an offset.

    Returns the UTC time and a warning when a local time is ambiguous or does
    not exist (a clock change).
    """
    text = text.strip()
    try:
        parsed: date | datetime = (
            date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        )
    except ValueError:
        raise ValueError(f"{text!r} is not a date or an ISO 8601 time") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ValueError(f"{text!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}")
    return calendar.localize_checked(parsed)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(slots=True)
class _Batch:
    """State shared by the batches of one import."""

    import_id: int
    source: str
    now: datetime
    summary: ImportSummary
    #: Keys read that left no row marked with this import (unchanged, deleted).
    seen: _SeenKeys = field(default_factory=_SeenKeys)
    #: Keys written by the last two batches, with their periods: a sorted file
    #: revisits only those, so they are checked here rather than in the DB.
    recent: deque[tuple[set[int], set[date]]] = field(default_factory=lambda: deque(maxlen=2))
    #: Periods with a key this import wrote that is no longer in ``recent``:
    #: their keys are looked up in the database.
    evicted: set[date] = field(default_factory=set)
    #: Periods seen so far, and those of them that held values before this import.
    classified: set[date] = field(default_factory=set)
    stored_before: set[date] = field(default_factory=set)
    deadlines: dict[tuple[date, PeriodType], datetime] = field(default_factory=dict)


@dataclass(slots=True)
class _Plan:
    """What one batch will write, in driver form."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[Any, ...]] = field(default_factory=list)
    deletes: list[tuple[int, int]] = field(default_factory=list)  # (id, value read)
    audits: list[tuple[Any, ...]] = field(default_factory=list)
    written: list[_Clean] = field(default_factory=list)  # inserted or updated
    unwritten: list[_Clean] = field(default_factory=list)  # unchanged or deleted


class _Checker:
    """Turns raw values into checked ones, caching look-ups of repeated labels."""

    def __init__(
        self,
        importer: Importer,
        fmt: str,
        mapping: str | None,
        now: datetime,
        summary: ImportSummary,
    ) -> None:
        self.summary = summary
        self.names = dict(_FIELDS[fmt])
        self.level = None
        if mapping:
            spec = importer.country.mappings[mapping]
            self.names.update(org_unit=spec.org_unit, period=spec.period, received=spec.received)
            self.level = spec.org_unit_level
        session = importer.session
        known = list(session.scalars(select(DataElement)))
        # Identified by code or by DHIS2 uid (whatever idScheme the file declares).
        self.elements = {e.uid: e.id for e in known} | {e.code: e.id for e in known}
        if not self.elements:
            raise SitroomError("no data elements are loaded: run `sitroom setup` first")
        stored_types = period_types(session)
        self.period_types = {e.id: stored_types[e.code] for e in known}
        self.element_codes = {e.id: e.code for e in known}
        self.resolver = OrgUnitResolver.from_session(session, importer.country)
        self.authorize_unit = importer.authorize_unit
        self.approvals = ApprovalIndex.load(session)
        self._paths: dict[int, str] = {}
        self.calendar = importer.calendar
        self.user = importer.user
        self.now = now
        reporting = importer.country.reporting
        self.first_period = reporting.first_period
        # The clock, not ``now`` (the receipt time given to values): what has
        # not begun yet cannot have been counted.
        clock = utcnow()
        self.last_day = self.calendar.period_of(clock) + timedelta(days=reporting.days_ahead)
        self.latest_receipt = clock + RECEIPT_CLOCK_SKEW
        self._units: dict[str, int | str] = {}
        self._periods: dict[str, tuple[PeriodType, date] | str] = {}
        self._received: dict[str, tuple[datetime, str | None] | str] = {}

    @staticmethod
    def _parsed(cache: dict[str, Any], key: str, parse: Callable[[str], Any]) -> Any:
        """``parse(key)``, or the reason it failed, computed once per distinct key."""
        try:
            hit = parse(key)
        except (ValueError, NotFoundError) as exc:
            hit = str(exc)
        cache[key] = hit
        return hit

    def _unit(self, label: str) -> int:
        unit = self.resolver.resolve(label, self.level)
        if self.authorize_unit is not None and (refusal := self.authorize_unit(unit)):
            raise ValueError(refusal)
        self._paths[unit.id] = unit.path
        return unit.id

    def check(self, raw: RawValue) -> _Clean | Rejection:
        # Look-ups hit the caches first: a file repeats few distinct labels.
        names = self.names
        element_id = self.elements.get(raw.element)
        if element_id is None:
            return Rejection(raw.line, names["element"], f"unknown data element {raw.element!r}")
        unit = self._units.get(raw.org_unit)
        if unit is None:
            unit = self._parsed(self._units, raw.org_unit, self._unit)
        if isinstance(unit, str):
            return Rejection(raw.line, names["org_unit"], unit)
        parsed = self._periods.get(raw.period)
        if parsed is None:
            parsed = self._parsed(self._periods, raw.period, parse_period)
        if isinstance(parsed, str):
            return Rejection(raw.line, names["period"], parsed)
        period_type, period = parsed
        if period_type != (wanted := self.period_types[element_id]):
            return Rejection(
                raw.line,
                names["period"],
                f"{raw.period.strip()!r} is a {UNIT_NAMES[period_type][0]}:"
                f" {self.element_codes[element_id]} is reported {wanted}"
                f" (periods like {label(start_of(period, wanted), wanted)})",
            )
        if self.approvals and (
            locked := self.approvals.refuses(self._paths[unit], period_type, period)
        ):
            return Rejection(raw.line, names["period"], locked)
        if self.first_period is not None and last_day(period, period_type) < self.first_period:
            return Rejection(
                raw.line,
                names["period"],
                f"{label(period, period_type)} is before the first period {self.first_period}"
                " (reporting.first_period in the country configuration)",
            )
        if period > self.last_day:
            return Rejection(
                raw.line,
                names["period"],
                f"{label(period, period_type)} has not begun yet: the open period is"
                f" {label(start_of(self.last_day, period_type), period_type)}"
                " (reporting.days_ahead allows later ones)",
            )
        if raw.combo and raw.combo.lower() not in DEFAULT_COMBOS:
            return Rejection(
                raw.line,
                names.get("combo"),
                f"category option combo {raw.combo!r}: only the default is supported",
            )
        received = self.now
        if raw.received:
            got = self._received.get(raw.received)
            if got is None:
                got = self._parsed(
                    self._received, raw.received, lambda s: parse_received(s, self.calendar)
                )
                if not isinstance(got, str) and got[1] is not None:
                    # Said once per distinct time, at its first line.
                    self.summary.warn(Rejection(raw.line, names["received"], got[1]))
            if isinstance(got, str):
                return Rejection(raw.line, names["received"], got)
            received = got[0]
            if received > self.latest_receipt:
                return Rejection(raw.line, names["received"], f"{raw.received} is in the future")
            began = self.calendar.window(period, period_type)[0]
            if received < began:
                return Rejection(
                    raw.line,
                    names["received"],
                    f"{raw.received} is before the period {label(period, period_type)} began"
                    f" ({began:%Y-%m-%d %H:%M} UTC)",
                )
        value: int | None = None
        if not raw.delete:
            try:
                value = parse_count(raw.value or "")
            except ValueError as exc:
                return Rejection(raw.line, raw.field, str(exc))
        return _Clean(
            raw.line,
            element_id,
            unit,
            period,
            period_type,
            value,
            received,
            raw.stored_by or None,
            raw.comment,
        )


class Importer:
    """Imports files into the database of ``session`` for ``country``.

    Parameters
    ----------
    session:
        The session to write through; the importer commits or rolls it back.
    country:
        The country configuration (mappings, reporting window).
    user:
        Who imports, recorded on every value and audit row.
    now:
        The receipt time of values whose file gives none (default: the clock).
    batch_size:
        Values applied per database round.
    lock_timeout:
        Seconds to wait for another writer's lock before giving up as busy.
    authorize_unit:
        Called with each org unit a file names; a returned sentence rejects the
        values of that unit (the file is then rejected whole, as for any bad
        value). The server and ``--user`` pass the signed-in user's scope.
    channel:
        Through which door the values came (``file``, ``cli``, ``api``, ``web``),
        recorded on the import run for the audit trail.
    client:
        The client's address, when the server imports for one.
    strategy:
        What the import may do to stored values, as DHIS2's ``importStrategy``
        (:data:`STRATEGIES`). ``CREATE_AND_UPDATE`` (the default) creates,
        updates and deletes as the file says. ``CREATE`` only creates: a value
        already stored is left as it is and counted as ignored. ``UPDATE`` only
        changes stored values (a missing or deleted value still deletes): a new
        one is ignored. ``DELETE`` deletes every stored value the file names,
        whatever value it gives; one not stored is ignored. Every value is
        checked the same way under each strategy (scope, approval, period,
        count): a bad one rejects the file.
    """

    def __init__(
        self,
        session: Session,
        country: Country,
        *,
        user: str,
        now: datetime | None = None,
        batch_size: int = 5000,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        authorize_unit: Callable[[UnitRef], str | None] | None = None,
        channel: str = "file",
        client: str | None = None,
        strategy: str = "CREATE_AND_UPDATE",
    ) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}")
        if strategy not in STRATEGIES:
            choices = ", ".join(STRATEGIES)
            raise ValueError(f"unknown strategy {strategy!r}: choose one of {choices}")
        self.strategy = strategy
        self.channel = channel
        self.client = client
        self.session = session
        self.authorize_unit = authorize_unit
        self.lock_timeout = lock_timeout
        self.country = country
        self.calendar = ReportingCalendar.from_config(country.reporting)
        self.user = user
        self.now = now
        self.batch_size = batch_size

    def run(
        self,
        source: Path | BinaryIO,
        *,
        name: str | None = None,
        fmt: str | None = None,
        mapping: str | None = None,
        dry_run: bool = False,
        progress: ingest.Progress | None = None,
    ) -> ImportSummary:
        """Import a file or a binary stream in a transaction of its own; returns the summary.

        ``source`` is a path, or a stream (an upload, a request body) read once;
        ``name`` is what messages call a stream (a path is named by itself). The
        whole file is committed, or nothing: on a conflict with a concurrent
        import the attempt is rolled back and run again (at most
        :data:`MAX_ATTEMPTS`). Raises InputError for unreadable files.
        """
        with _opened(source, name) as (path, shown):
            fmt, mapping, sha = self._prepare(path, shown, fmt, mapping)
            for attempt in range(1, MAX_ATTEMPTS + 1):
                try:
                    summary = self._run_once(
                        path,
                        shown,
                        sha,
                        fmt,
                        mapping,
                        dry_run=dry_run,
                        progress=progress,
                        lock_everything=attempt > 1,
                    )
                except ConcurrentChange as exc:
                    reason = str(exc)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:
                        raise StorageFullError(
                            "the disk is full: nothing was written; free some space and try again"
                        ) from exc
                    raise
                except Exception as exc:
                    if not is_db_error(exc):
                        raise
                    if not is_retryable(exc):
                        known = translate_db_error(exc)
                        if known is None:
                            raise
                        raise known from exc
                    reason = (str(getattr(exc, "orig", exc)).splitlines() or [type(exc).__name__])[
                        0
                    ]
                else:
                    summary.attempts = attempt
                    return summary
                log.warning(
                    "import of %s conflicted with another (%s); attempt %d", shown, reason, attempt
                )
                if attempt < MAX_ATTEMPTS:
                    time.sleep(
                        random.uniform(0.05, 0.25) * attempt
                    )  # jitter, so retries do not collide
        raise BusyError(
            f"{shown}: the import conflicted with concurrent changes {MAX_ATTEMPTS} times:"
            " nothing was written; try again in a moment"
        )

    def apply(
        self,
        source: Path | BinaryIO,
        *,
        name: str | None = None,
        fmt: str | None = None,
        mapping: str | None = None,
        dry_run: bool = False,
        progress: ingest.Progress | None = None,
    ) -> ImportSummary:
        """Import into the caller's transaction, which the caller commits or rolls back.

        For a service that writes more than values in one transaction (an API
        request that also records a submission, say). The caller starts the
        transaction as a writer first (``db.begin_write``). The values are
        written inside a savepoint that is released only when the whole file
        is good: when the summary is not ``ok`` (or for a ``dry_run``) nothing
        of the file remains in the transaction. A conflict with a concurrent
        import raises (``ConcurrentChange`` or the database's error): the caller
        rolls back and may run its transaction again, as :meth:`run` does.
        ``summary.committed`` stays False: committing is the caller's.
        """
        with _opened(source, name) as (path, shown):
            fmt, mapping, sha = self._prepare(path, shown, fmt, mapping)
            # The caller's transaction as a writer (a no-op when the caller began it so):
            # without it SQLite's driver would make the savepoint the outermost
            # transaction, and releasing it would commit.
            begin_write(self.session, self.lock_timeout)
            savepoint = self.session.begin_nested()
            try:
                summary, _ = self._write(
                    path, shown, sha, fmt, mapping=mapping, progress=progress, dry_run=dry_run
                )
            except BaseException:
                if savepoint.is_active:
                    savepoint.rollback()
                raise
            if summary.ok and not dry_run:
                savepoint.commit()
            else:
                savepoint.rollback()
            summary.attempts = 1
            return summary

    def _prepare(
        self, path: Path, shown: str, fmt: str | None, mapping: str | None
    ) -> tuple[str, str | None, str]:
        """The format, the mapping and the file's SHA-256, or a SitroomError."""
        with _named(shown):
            ingest.check_readable(path)
            detected, detected_mapping = ingest.detect_format(path, self.country)
        fmt = fmt or detected
        if fmt not in ingest.FORMATS:
            raise SitroomError(f"unknown format {fmt!r}; choose one of {', '.join(ingest.FORMATS)}")
        if fmt == "csv-wide":
            mapping = mapping or detected_mapping
        elif mapping:
            raise SitroomError("--mapping applies to wide CSV files only")
        if mapping is not None and mapping not in self.country.mappings:
            raise SitroomError(
                f"unknown mapping {mapping!r}; the country has: "
                f"{', '.join(self.country.mappings) or 'none'}"
            )
        return fmt, mapping, file_sha256(path)

    def _run_once(
        self,
        path: Path,
        shown: str,
        sha: str,
        fmt: str,
        mapping: str | None,
        *,
        dry_run: bool,
        progress: ingest.Progress | None,
        lock_everything: bool = False,
    ) -> ImportSummary:
        """One attempt: the whole file in one transaction, committed or rolled back.

        A retry (``lock_everything``) takes every period lock first, in order:
        two imports that deadlocked on periods met in opposite orders would
        otherwise meet again the same way, and retries would never end.
        Retries are rare; while one runs, other writers wait for it.
        """
        try:
            begin_write(self.session, self.lock_timeout)
            if lock_everything:
                BulkStatements(self.session.connection()).lock_all_periods()
            summary, run = self._write(
                path, shown, sha, fmt, mapping=mapping, progress=progress, dry_run=dry_run
            )
            if not summary.ok or dry_run:
                self.session.rollback()
                return summary
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        summary.committed = True
        summary.import_id = run.id
        return summary

    def _write(
        self,
        path: Path,
        shown: str,
        sha: str,
        fmt: str,
        *,
        mapping: str | None,
        progress: ingest.Progress | None,
        dry_run: bool,
    ) -> tuple[ImportSummary, ImportRun]:
        """Check and write the file in the session's transaction; flushes, never commits."""
        summary = ImportSummary(file=shown, format=fmt, mapping=mapping, dry_run=dry_run)
        ensure_user(self.session, self.user)
        summary.previously_imported = self.session.scalar(
            select(ImportRun.finished_at).where(ImportRun.sha256 == sha).order_by(ImportRun.id)
        )
        started = utcnow()
        now = self.now or started
        run = ImportRun(
            file_name=_file_name(shown),
            sha256=sha,
            format=fmt,
            user=self.user,
            started_at=started,
            finished_at=started,
            created=0,
            updated=0,
            unchanged=0,
            deleted=0,
            channel=self.channel,
            client=self.client,
        )
        self.session.add(run)
        self.session.flush()
        with _named(shown):
            items = self._parse(path, fmt, mapping, progress)
            clean = self._check(items, fmt, mapping, summary, now)
            self._apply(clean, run.id, f"import:{_file_name(shown)}"[:500], now, summary)
        if summary.ok and not dry_run:
            run.finished_at = utcnow()
            run.created, run.updated = summary.created, summary.updated
            # The run has no column of its own for ignored values: they changed nothing.
            run.unchanged, run.deleted = summary.unchanged + summary.ignored, summary.deleted
            self.session.flush()
            summary.import_id = run.id  # only for an import that writes
        return summary, run

    def _parse(
        self, path: Path, fmt: str, mapping: str | None, progress: ingest.Progress | None
    ) -> Iterator[ingest.Item]:
        if fmt == "csv-wide":
            elements = {e.code for e in self.country.elements}
            spec = self.country.mappings[mapping] if mapping else None
            return ingest.parse_wide_csv(path, elements, spec, progress)
        if fmt == "csv-long":
            return ingest.parse_long_csv(path, progress)
        return ingest.parse_dhis2_json(path, progress)

    def _check(
        self,
        items: Iterable[ingest.Item],
        fmt: str,
        mapping: str | None,
        summary: ImportSummary,
        now: datetime,
    ) -> Iterator[_Clean]:
        """Checked values; rejections go to ``summary``."""
        checker = _Checker(self, fmt, mapping, now, summary)
        for item in items:
            checked = item if isinstance(item, Rejection) else checker.check(item)
            if isinstance(checked, Rejection):
                summary.reject(checked)
            else:
                yield checked

    def _apply(
        self,
        values: Iterable[_Clean],
        import_id: int,
        source: str,
        now: datetime,
        summary: ImportSummary,
    ) -> None:
        batch = _Batch(import_id=import_id, source=source, now=now, summary=summary)
        pending: list[_Clean] = []
        for value in values:
            pending.append(value)
            if len(pending) >= self.batch_size:
                self._apply_batch(pending, batch)
                pending = []
        if pending:
            self._apply_batch(pending, batch)

    @staticmethod
    def _drop_duplicates(batch: list[_Clean], run: _Batch) -> tuple[list[_Clean], list[int]]:
        """The batch without repeated keys, and the packed keys of what is kept.

        A key repeats one of this batch, one of the last two batches (kept in
        ``run.recent``) or one that wrote nothing (``run.seen``). Repeats of
        older writes are found in the database by :meth:`_apply_batch`.
        """
        pack = _SeenKeys.pack
        keys = [pack(v.element_id, v.org_unit_id, v.period) for v in batch]
        earlier = (
            run.seen.contains(np.array(keys, dtype=np.int64)).tolist()
            if run.seen
            else [False] * len(keys)
        )
        recent_periods = set().union(*(periods for _, periods in run.recent))
        recent: set[int] = (
            set().union(*(written for written, _ in run.recent))
            if any(v.period in recent_periods for v in batch)
            else set()
        )
        first_line: dict[int, int] = {}
        unique: list[_Clean] = []
        kept: list[int] = []
        for value, key, before in zip(batch, keys, earlier, strict=True):
            if before or key in first_line or key in recent:
                where = f" (line {first_line[key]})" if key in first_line else ""
                run.summary.reject(
                    Rejection(
                        value.line,
                        None,
                        "duplicate: the file already gave this element, org unit"
                        f" and period{where}",
                    )
                )
                continue
            first_line[key] = value.line
            unique.append(value)
            kept.append(key)
        return unique, kept

    def _plan(
        self,
        unique: list[_Clean],
        keyed: list[tuple[int, int, Any]],
        existing: dict[tuple[int, int, Any], tuple[Any, ...]],
        bulk: BulkStatements,
        run: _Batch,
    ) -> _Plan:
        """Sort the batch's values into inserts, updates, deletions and no-ops."""
        deadlines, summary = run.deadlines, run.summary
        import_id, source, now = run.import_id, run.source, run.now
        actor = self.user
        strategy = self.strategy
        stamp = bulk.timestamp(now)
        plan = _Plan()
        inserts, updates, deletes = plan.inserts, plan.updates, plan.deletes
        audits, unwritten = plan.audits, plan.unwritten
        for v, key in zip(unique, keyed, strict=True):
            old = existing.get(key)
            if old is not None and old[5] == import_id:
                summary.reject(
                    Rejection(
                        v.line,
                        None,
                        "duplicate: the file already gave this element, org unit and period",
                    )
                )
                continue
            if old is None:
                if strategy in ("UPDATE", "DELETE"):
                    summary.ignore(v.line)  # only stored values are changed
                    unwritten.append(v)
                    continue
                if v.value is None:
                    summary.unchanged += 1  # nothing stored, nothing to delete
                    unwritten.append(v)
                    continue
                deadline = deadlines.get((v.period, v.period_type))
                if deadline is None:
                    deadline = self.calendar.deadline(v.period, v.period_type)
                    deadlines[v.period, v.period_type] = deadline
                received = v.received_at
                plan.written.append(v)
                inserts.append(
                    (
                        *key,
                        v.value,
                        stamp if received is now else bulk.timestamp(received),
                        received > deadline,
                        stamp,
                        source,
                        v.stored_by or actor,
                        import_id,
                        v.comment,
                        actor,
                    )
                )
                continue
            old_id, old_value, old_source, old_by, old_at, _, old_actor, old_comment = old
            if strategy == "CREATE":
                summary.ignore(v.line)  # stored values are left as they are
                unwritten.append(v)
                continue
            if strategy == "DELETE":
                v.value = None  # whatever value the file gives, the stored one goes
            # A claim or comment the file does not give is no change; one it gives is.
            if v.value == old_value and (
                (v.stored_by is None or v.stored_by == old_by)
                and (v.comment is None or v.comment == old_comment)
            ):
                summary.unchanged += 1
                unwritten.append(v)
                continue
            # The new value's claim is the file's, else the actor's own; a comment
            # the file does not give is kept (as when nothing else changed).
            stored_by = None if v.value is None else (v.stored_by or actor)
            comment = v.comment if v.comment is not None or v.value is None else old_comment
            audits.append(
                (
                    *key,
                    "delete" if v.value is None else "update",
                    old_value,
                    old_source,
                    old_by,
                    old_actor,
                    old_comment,
                    old_at,
                    v.value,
                    stored_by,
                    comment,
                    source,
                    actor,
                    stamp,
                    import_id,
                )
            )
            if v.value is None:
                deletes.append((old_id, old_value))
                unwritten.append(v)
            else:
                plan.written.append(v)
                updates.append(
                    (
                        v.value,
                        stamp,
                        source,
                        stored_by,
                        import_id,
                        comment,
                        actor,
                        old_id,
                        old_value,
                    )
                )
        return plan

    @staticmethod
    def _remember(plan: _Plan, keys: dict[int, int], run: _Batch) -> None:
        """Keep this batch's written keys; periods falling out of memory are evicted."""
        written = {keys[id(v)] for v in plan.written}
        if len(run.recent) == run.recent.maxlen:
            run.evicted |= run.recent[0][1]
        run.recent.append((written, {v.period for v in plan.written}))
        if plan.unwritten:
            run.seen.add(np.array([keys[id(v)] for v in plan.unwritten], dtype=np.int64))

    def _refuse_approved_since(
        self, values: list[_Clean], periods: list[date], summary: ImportSummary
    ) -> None:
        """Values of periods approved after they were checked, seen now that we hold the lock."""
        if not periods:
            return
        fresh = ApprovalIndex.load(self.session, periods)
        if not fresh:
            return
        wanted = set(periods)
        ids = {v.org_unit_id for v in values if v.period in wanted}
        paths = dict(
            self.session.execute(select(OrgUnit.id, OrgUnit.path).where(OrgUnit.id.in_(ids))).all()
        )
        for v in values:
            if v.period in wanted and (
                why := fresh.refuses(paths[v.org_unit_id], v.period_type, v.period)
            ):
                summary.reject(Rejection(v.line, None, why))

    def _apply_batch(self, batch: list[_Clean], run: _Batch) -> None:
        summary = run.summary
        unique, packed = self._drop_duplicates(batch, run)
        if not summary.ok:
            return  # nothing will be written; keep reading only to report every problem

        bulk = BulkStatements(self.session.connection())
        periods = {p: bulk.period(p) for p in {v.period for v in unique}}
        keyed = [(v.element_id, v.org_unit_id, periods[v.period]) for v in unique]
        # Keys are looked up only where a row may exist: periods that held values
        # before this import, or periods this import wrote to batches ago (a
        # duplicate). New periods (the daily case) need no look-up at all. A
        # period is classified when first seen, before this import writes to it.
        new_periods = [p for p in periods if p not in run.classified]
        # Lock before reading: what this transaction reads of a period stays
        # true until it commits (see the module's docstring).
        bulk.lock_periods(new_periods)
        self._refuse_approved_since(unique, new_periods, summary)
        if not summary.ok:
            return
        run.stored_before |= bulk.periods_with_values(new_periods)
        run.classified.update(new_periods)
        lookup = run.stored_before | run.evicted
        wanted = (
            [k for v, k in zip(unique, keyed, strict=True) if v.period in lookup] if lookup else []
        )
        existing = bulk.existing(wanted) if wanted else {}
        plan = self._plan(unique, keyed, existing, bulk, run)
        if not summary.ok:
            return
        self._remember(plan, {id(v): k for v, k in zip(unique, packed, strict=True)}, run)
        bulk.insert_values(plan.inserts)
        bulk.insert_audits(plan.audits)
        bulk.update_values(plan.updates)
        bulk.delete_values(plan.deletes)
        summary.created += len(plan.inserts)
        summary.updated += len(plan.updates)
        summary.deleted += len(plan.deletes)


#: Largest stream an import spools (a file on disk is capped per format instead).
MAX_STREAM_BYTES = ingest.MAX_JSON_BYTES


@contextmanager
def _opened(source: Path | BinaryIO, name: str | None) -> Iterator[tuple[Path, str]]:
    """A path to read ``source`` from, and the name messages give it.

    A path is used as it is. A stream is read once, into a private temporary
    file named like ``name`` (so that ``.json`` still means DHIS2 JSON), which
    is read from there (again, if an attempt is retried) and removed at the end.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        yield path, name or str(path)
        return
    shown = str(name or getattr(source, "name", None) or "upload")
    with tempfile.TemporaryDirectory(prefix="sitroom-import-") as folder:
        path = Path(folder) / _spool_name(shown)
        copied = 0
        with path.open("wb") as spool:
            while chunk := source.read(1 << 20):
                if not isinstance(chunk, (bytes, bytearray, memoryview)):
                    raise SitroomError(
                        f"{_printable(shown)}: give the import a binary stream (bytes), not text"
                    )
                copied += len(chunk)
                if copied > MAX_STREAM_BYTES:
                    raise InputError(
                        Location(str(shown)),
                        f"is larger than {MAX_STREAM_BYTES >> 30} GiB, the limit for an upload",
                    )
                spool.write(chunk)
        yield path, str(shown)


def _spool_name(shown: str) -> str:
    """A safe file name for a stream's spool that keeps its suffix (``.json``, ``.csv``)."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", shown.replace("\\", "/").rsplit("/", 1)[-1])
    base = base.lstrip(".")[-100:]
    return base or "upload"


def _file_name(shown: str) -> str:
    """The name import records keep: no folder, no NUL (PostgreSQL refuses it)."""
    return Path(shown).name.replace("\x00", "")[:480]


def _printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")[:200]


@contextmanager
def _named(shown: str) -> Iterator[None]:
    """Input errors name the file as the caller does (a stream by its name, not its spool)."""
    try:
        yield
    except InputError as exc:
        if exc.location.file == shown:
            raise
        location = Location(shown, exc.location.line, exc.location.field)
        raise InputError(location, exc.reason) from exc


__all__ = [
    "MAX_STREAM_BYTES",
    "STRATEGIES",
    "ImportSummary",
    "Importer",
    "parse_count",
    "parse_period",
]
