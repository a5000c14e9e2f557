"""Series of counts (days, weeks or months) from the database or a CSV file, alike."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.country import PeriodType
from sitroom.counts import parse_count
from sitroom.errors import InputError, Location, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.surveillance.models import DataElement, DataValue
from sitroom.surveillance.periods import (
    UNIT_NAMES,
    label,
    shift,
    start_of,
    steps_between,
)
from sitroom.surveillance.service import period_types


@dataclass(frozen=True)
class Series:
    """Counts in consecutive periods (NaN where nothing was reported).

    Periods are days, ISO weeks or months (``period_type``), each named by its
    first day in ``dates``; the analyses count windows and horizons in them.
    """

    name: str
    start: date
    values: NDArray[np.float64]
    period_type: PeriodType = "daily"

    @property
    def dates(self) -> list[date]:
        """The first day of each period."""
        return [shift(self.start, i, self.period_type) for i in range(self.values.size)]

    @property
    def labels(self) -> list[str]:
        """Each period as sitroom writes it (2022-05-15, 2022W20, 202205)."""
        return [label(d, self.period_type) for d in self.dates]

    @property
    def unit(self) -> str:
        """What one period is called, plural: days, weeks or months."""
        return UNIT_NAMES[self.period_type][1]

    def _steps(self, first: date, last: date) -> int:
        return steps_between(first, last, self.period_type)

    def gaps(self) -> list[date]:
        return [d for d, v in zip(self.dates, self.values, strict=True) if np.isnan(v)]

    def filled(self, how: str) -> Series:
        """The series with its gaps filled: ``none`` refuses gaps; ``zero``, ``linear`` fill.

        ``keep`` leaves them (NaN), for the backtest, which fills each history
        with only the days before its origin.
        """
        missing = np.isnan(self.values)
        if not missing.any() or how == "keep":
            return self
        if how == "none":
            gaps = self.gaps()
            shown = [label(g, self.period_type) for g in gaps]
            which = (
                ", ".join(shown)
                if len(shown) <= 6
                else (f"{', '.join(shown[:3])}, ..., {', '.join(shown[-2:])}")
            )
            raise SitroomError(
                f"{self.name} has no value in {_count(len(gaps), self.period_type)}: {which};"
                " choose --fill zero or --fill linear, or a range without gaps (--start/--end)"
            )
        values = self.values.copy()
        if how == "zero":
            values[missing] = 0.0
        elif how == "linear":
            known = np.flatnonzero(~missing)
            values[missing] = np.interp(np.flatnonzero(missing), known, values[known])
        else:
            raise SitroomError(f"unknown --fill {how!r}: use none, zero or linear")
        return Series(self.name, self.start, values, self.period_type)

    def spanning(self, start: date, end: date) -> Series:
        """The series over exactly the periods of [start, end]: cut, NaN where it has none."""
        start, end = start_of(start, self.period_type), start_of(end, self.period_type)
        values = np.full(self._steps(start, end) + 1, np.nan)
        offset = self._steps(start, self.start)  # where our first period falls in the new range
        lo, hi = max(0, offset), min(values.size, offset + self.values.size)
        if lo < hi:
            values[lo:hi] = self.values[lo - offset : hi - offset]
        return Series(self.name, start, values, self.period_type)

    def between(self, start: date | None, end: date | None) -> Series:
        """The periods that overlap [start, end] (a day, for weekly counts, selects its week)."""
        size = self.values.size
        lo = (
            0
            if start is None
            else max(0, self._steps(self.start, start_of(start, self.period_type)))
        )
        hi = (
            size
            if end is None
            else min(size, self._steps(self.start, start_of(end, self.period_type)) + 1)
        )
        if lo >= hi:
            raise SitroomError(f"{self.name} has no {self.unit} between {start} and {end}")
        return Series(
            self.name, shift(self.start, lo, self.period_type), self.values[lo:hi], self.period_type
        )


def _count(n: int, period_type: PeriodType) -> str:
    one, many = UNIT_NAMES[period_type]
    return f"{n} {one if n == 1 else many}"


def stored_series(session: Session, org_unit: str, element: str) -> Series:
    """The series of ``element`` for ``org_unit`` from its first to its last value.

    Its periods are those of the element's data set (days, weeks or months).
    """
    unit_id = session.scalar(select(OrgUnit.id).where(OrgUnit.code == org_unit))
    if unit_id is None:
        raise NotFoundError(f"unknown org unit {org_unit!r}")
    element_id = session.scalar(select(DataElement.id).where(DataElement.code == element))
    if element_id is None:
        raise NotFoundError(f"unknown data element {element!r}")
    rows = session.execute(
        select(DataValue.period, DataValue.value)
        .where(DataValue.org_unit_id == unit_id, DataValue.element_id == element_id)
        .order_by(DataValue.period)
    ).all()
    if not rows:
        raise NotFoundError(f"no {element} values are stored for {org_unit}")
    period_type = period_types(session).get(element, "daily")
    start = rows[0][0]
    values = np.full(steps_between(start, rows[-1][0], period_type) + 1, np.nan)
    for period, value in rows:
        values[steps_between(start, period, period_type)] = value
    return Series(f"{element} of {org_unit}", start, values, period_type)


def optional_series(session: Session, org_unit: str, element: str) -> Series | None:
    """:func:`stored_series`, or None when nothing is stored for the pair."""
    try:
        return stored_series(session, org_unit, element)
    except NotFoundError:
        return None


def _rows(reader: csv.DictReader[str], path: Path) -> Iterator[dict[str, str]]:
    """The reader's rows; a malformed one is an InputError with its line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(Location(str(path), reader.line_num), f"bad CSV: {exc}") from None


#: Largest analysis input file read (a daily series of decades is a few MB).
MAX_INPUT_BYTES = 64 * 1024 * 1024


def check_input_file(path: Path, max_bytes: int = MAX_INPUT_BYTES) -> None:
    """Refuse what cannot be read safely: missing, a folder, not a regular file, too big.

    The import's own check (a FIFO would wait forever, /dev/zero never ends),
    with a size cap, since these files are read whole.
    """
    from sitroom.surveillance.ingest import check_readable

    check_readable(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(
            Location(str(path)),
            f"is {size:,} bytes, more than the {max_bytes // (1024 * 1024)} MiB an input file"
            " may have",
        )


def csv_series(path: Path, columns: list[str]) -> dict[str, Series]:
    """Named columns of a CSV file with a date column (``date`` or the first column).

    Dates must increase; a day left out, like an empty cell, is a missing value
    (which ``--fill`` fills, or which is refused naming the days).
    """
    check_input_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(Location(str(path)), "not UTF-8 text") from exc
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    if not header:
        raise InputError(Location(str(path)), "the file is empty")
    date_col = "date" if "date" in header else header[0]
    for column in columns:
        if column not in header:
            raise InputError(
                Location(str(path), 1, column),
                f"no column {column!r} (columns: {', '.join(header)})",
            )
    dates: list[date] = []
    data: dict[str, list[float]] = {c: [] for c in columns}
    for row in _rows(reader, path):
        line = reader.line_num
        try:
            day = date.fromisoformat((row[date_col] or "").strip())
        except ValueError:
            raise InputError(
                Location(str(path), line, date_col), f"{row[date_col]!r} is not a date"
            ) from None
        if not 1900 <= day.year <= 2199:
            raise InputError(
                Location(str(path), line, date_col), f"{day} is outside the years 1900-2199"
            )
        if dates and day <= dates[-1]:
            raise InputError(
                Location(str(path), line, date_col),
                f"{day} does not follow {dates[-1]}: dates must increase, one row a day",
            )
        # A date left out is a missing day, like a blank cell: --fill decides.
        while dates and day > dates[-1] + timedelta(days=1):
            dates.append(dates[-1] + timedelta(days=1))
            for column in columns:
                data[column].append(np.nan)
        dates.append(day)
        for column in columns:
            cell = (row[column] or "").strip()
            try:
                value = float(parse_count(cell)) if cell else np.nan
            except ValueError as exc:
                raise InputError(Location(str(path), line, column), str(exc)) from None
            data[column].append(value)
    if not dates:
        raise InputError(Location(str(path)), "the file has a header but no data rows")
    return {c: Series(c, dates[0], np.array(v, dtype=float)) for c, v in data.items()}
