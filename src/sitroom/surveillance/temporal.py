"""Daily values aggregated to ISO weeks or months, on request.

What a country reporting daily sends to a partner that counts weekly (WHO's
IDSR, a DHIS2 weekly data set): a flow is the sum of the period's days, a
stock its level at the end of the period (the last day's value). A period
is complete when every one of its days has a value; incomplete periods are
left out unless asked for, and then say how many days they hold, so that a
partial week is never taken for a whole one. Nothing is stored: the result is
printed or written in an import format (DHIS2's period strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.country import PeriodType
from sitroom.errors import NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.surveillance.models import DataElement, DataValue
from sitroom.surveillance.periods import check_range, dhis2_label, label, last_day, start_of
from sitroom.surveillance.service import period_types


@dataclass(frozen=True, slots=True)
class AggregatedValue:
    """One element of one org unit over one week or month."""

    org_unit: str
    element: str
    period: date  # the first day of the week or month
    period_type: PeriodType
    value: int | None  # None: a stock whose last day has no value
    days: int  # days with a value
    days_in_period: int
    kind: str  # "flow" (summed) or "stock" (the last day's level)

    @property
    def complete(self) -> bool:
        return self.days == self.days_in_period and self.value is not None

    @property
    def period_label(self) -> str:
        return label(self.period, self.period_type)

    def to_dict(self) -> dict[str, Any]:
        return {
            "org_unit": self.org_unit,
            "element": self.element,
            "period": self.period_label,
            "dhis2_period": dhis2_label(self.period, self.period_type),
            "value": self.value,
            "days": self.days,
            "days_in_period": self.days_in_period,
            "complete": self.complete,
            "how": "sum of the days" if self.kind == "flow" else "level on the last day",
        }


def aggregate_days(
    session: Session,
    to: PeriodType,
    *,
    start: date | None = None,
    end: date | None = None,
    org_units: list[str] | None = None,
    elements: list[str] | None = None,
    partial: bool = False,
) -> Iterator[AggregatedValue]:
    """Daily values of ``elements`` (every daily element by default) summed into ``to`` periods.

    Rows stream from the database in (org unit, element, day) order, so memory
    holds one period at a time. ``start`` and ``end`` are widened to whole
    periods. With ``partial``, periods missing days are given too.
    """
    if to not in ("weekly", "monthly"):
        raise SitroomError(f"daily values aggregate to weeks or months, not {to!r}")
    check_range(start, end)
    kinds = period_types(session)
    if elements:
        unknown = [e for e in elements if e not in kinds]
        if unknown:
            raise NotFoundError(f"unknown data element {unknown[0]!r}")
        not_daily = [e for e in elements if kinds[e] != "daily"]
        if not_daily:
            raise SitroomError(
                f"{not_daily[0]} is reported {kinds[not_daily[0]]}: only daily values are"
                " aggregated (weeks do not fit into months)"
            )
    chosen = elements or [code for code, kind in kinds.items() if kind == "daily"]
    if org_units:
        known = set(session.scalars(select(OrgUnit.code).where(OrgUnit.code.in_(org_units))))
        if missing := [u for u in org_units if u not in known]:
            raise NotFoundError(f"unknown org unit {missing[0]!r}")
    query = (
        select(OrgUnit.code, DataElement.code, DataElement.kind, DataValue.period, DataValue.value)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .where(DataElement.code.in_(chosen))
        .order_by(OrgUnit.code, DataElement.code, DataValue.period)
    )
    if start is not None:
        query = query.where(DataValue.period >= start_of(start, to))
    if end is not None:
        query = query.where(DataValue.period <= last_day(start_of(end, to), to))
    if org_units:
        query = query.where(OrgUnit.code.in_(org_units))

    current: tuple[str, str, date] | None = None
    kind, total, days, last_value, last_seen = "flow", 0, 0, None, None

    def emit() -> AggregatedValue | None:
        assert current is not None
        unit, element, first = current
        end_day = last_day(first, to)
        length = (end_day - first).days + 1
        value = total if kind == "flow" else (last_value if last_seen == end_day else None)
        result = AggregatedValue(unit, element, first, to, value, days, length, kind)
        return result if partial or result.complete else None

    for unit, element, element_kind, day, value in session.execute(
        query, execution_options={"yield_per": 5000}
    ):
        key = (unit, element, start_of(day, to))
        if key != current:
            if current is not None and (row := emit()) is not None:
                yield row
            current, kind, total, days = key, element_kind, 0, 0
        total += value
        days += 1
        last_value, last_seen = value, day
    if current is not None and (row := emit()) is not None:
        yield row


def write_aggregated(
    values: Iterable[AggregatedValue],
    fmt: str,
    output: Path | IO[str] | None,
    *,
    user: str,
    codes: list[str],
) -> int:
    """Write aggregated values in an import format (see ``export.write_rows``); how many.

    Each value is stored by ``user`` now, with a comment that says how it was
    made ("sitroom: sum of the days (7 of 7 days)"); a stock without its last
    day's level is left out.
    """
    from sitroom.surveillance.export import write_rows

    now = datetime.now(UTC)
    name = label if fmt == "csv-wide" else dhis2_label
    if fmt == "csv-wide":
        # One row per org unit and period: the values come by element, so gather them.
        values = sorted(values, key=lambda v: (v.org_unit, v.period))
    rows = (
        (
            v.org_unit,
            name(v.period, v.period_type),
            v.element,
            v.value,
            user,
            now,
            f"sitroom: {v.to_dict()['how']} ({v.days} of {v.days_in_period} days)",
        )
        for v in values
        if v.value is not None
    )
    return write_rows(rows, fmt, output, codes=codes)
