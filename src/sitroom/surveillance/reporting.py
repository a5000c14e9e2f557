"""Completeness, timeliness and aggregation up the hierarchy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.country import Country, PeriodType
from sitroom.errors import NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.surveillance.models import DataElement, DataValue
from sitroom.surveillance.periods import (
    check_range,
    label,
    parse_period,
    shift,
    start_of,
    steps_between,
)
from sitroom.surveillance.service import fetch_values, period_range, period_types

#: Which org units (by materialised path) a reader may see; None: all of them.
Include = Callable[[str], bool] | None


@dataclass(slots=True)
class PeriodCompleteness:
    """Who reported for one period, and who did it on time."""

    period: date  # its first day
    expected: int
    received: int
    on_time: int
    missing: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)

    @property
    def completeness(self) -> float:
        return self.received / self.expected if self.expected else 1.0

    @property
    def timeliness(self) -> float:
        return self.on_time / self.expected if self.expected else 1.0

    period_type: PeriodType = "daily"

    @property
    def period_label(self) -> str:
        return label(self.period, self.period_type)

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period_label,
            "expected": self.expected,
            "received": self.received,
            "on_time": self.on_time,
            "completeness": self.completeness,
            "timeliness": self.timeliness,
            "missing": self.missing,
            "late": self.late,
        }


def completeness(
    session: Session, country: Country, *, start: date, end: date, include: Include = None
) -> list[PeriodCompleteness]:
    """Per period in ``[start, end]``: expected, received and on-time reports.

    The units expected to report are those at ``reporting.reporting_level``. A
    unit has reported a period when it sent any of ``reporting.required_elements``
    (any element if none are named); the report is on time when none of those
    values arrived after the deadline (cut-off plus grace). Periods are those of
    the required elements' data set (days, weeks or months): the periods that
    hold ``start`` and ``end`` and those between. ``include`` (an org unit's
    path -> whether to count it) limits the units expected, to a reader's scope.
    """
    check_range(start, end)
    required = country.reporting.required_elements
    kinds = period_types(session)
    period_type = kinds.get((required or [country.roles.cases])[0], "daily")
    start = start_of(start, period_type)
    level = country.reporting.reporting_level
    units = [
        (unit_id, code)
        for unit_id, code, path in session.execute(
            select(OrgUnit.id, OrgUnit.code, OrgUnit.path)
            .where(OrgUnit.level == level)
            .order_by(OrgUnit.code)
        )
        if include is None or include(path)
    ]
    query = (
        select(DataValue.org_unit_id, DataValue.period, DataValue.late)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .where(OrgUnit.level == level, DataValue.period >= start, DataValue.period <= end)
    )
    # A report is one of the required elements, or else of any element of this frequency
    # (a monthly laboratory return is not a week's report).
    counted = required or [code for code, kind in kinds.items() if kind == period_type]
    query = query.join(DataElement, DataElement.id == DataValue.element_id).where(
        DataElement.code.in_(counted)
    )
    late: dict[tuple[int, date], bool] = {}
    for unit_id, period, is_late in session.execute(query):
        late[(unit_id, period)] = late.get((unit_id, period), False) or is_late
    result = []
    for step in range(steps_between(start, start_of(end, period_type), period_type) + 1):
        period = shift(start, step, period_type)
        row = PeriodCompleteness(period, len(units), 0, 0, period_type=period_type)
        for unit_id, code in units:
            state = late.get((unit_id, period))
            if state is None:
                row.missing.append(code)
                continue
            row.received += 1
            if state:
                row.late.append(code)
            else:
                row.on_time += 1
        result.append(row)
    return result


@dataclass(frozen=True, slots=True)
class UnitCompleteness:
    """One reporting unit over a range of periods."""

    org_unit: str
    name: str
    expected: int
    received: int
    on_time: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "org_unit": self.org_unit,
            "name": self.name,
            "expected": self.expected,
            "received": self.received,
            "on_time": self.on_time,
            "completeness": self.received / self.expected if self.expected else None,
            "timeliness": self.on_time / self.expected if self.expected else None,
        }


def completeness_by_unit(
    periods: list[PeriodCompleteness], names: dict[str, str]
) -> list[UnitCompleteness]:
    """The same reports counted per unit over all ``periods`` (from :func:`completeness`)."""
    rows = []
    for code, name in sorted(names.items()):
        missing = sum(code in p.missing for p in periods)
        late = sum(code in p.late for p in periods)
        received = len(periods) - missing
        rows.append(UnitCompleteness(code, name, len(periods), received, received - late))
    return rows


@dataclass(frozen=True, slots=True)
class CompletenessReport:
    """Completeness over a range, as ``sitroom completeness`` and the API give it."""

    start: date
    end: date
    periods: list[PeriodCompleteness]
    #: The units expected to report, code -> name.
    reporters: dict[str, str]

    def by_unit(self) -> list[UnitCompleteness]:
        return completeness_by_unit(self.periods, self.reporters)


def completeness_report(
    session: Session,
    country: Country,
    *,
    start: date | None = None,
    end: date | None = None,
    include: Include = None,
) -> CompletenessReport:
    """:func:`completeness` from ``start`` to ``end`` (default: the stored periods' range).

    ``end`` is a day of the last period (its last day, for a range given by
    periods). Refuses (SitroomError) when nothing is stored yet.
    """
    reporting = country.reporting
    stored = period_range(session, reporting.required_elements or [country.roles.cases])
    if stored is None:
        raise SitroomError("no values are stored yet")
    first = start or stored[0]
    last = end or stored[1]
    rows = completeness(session, country, start=first, end=last, include=include)
    reporters = {
        code: name
        for code, name, path in session.execute(
            select(OrgUnit.code, OrgUnit.name, OrgUnit.path).where(
                OrgUnit.level == reporting.reporting_level
            )
        )
        if include is None or include(path)
    }
    return CompletenessReport(first, last, rows, reporters)


@dataclass(frozen=True, slots=True)
class AggregateRow:
    """A parent's own figure beside the sum of its children's, never merged."""

    element: str
    own: int | None
    children_sum: int | None
    children_reporting: int
    children_total: int

    @property
    def gap(self) -> int | None:
        if self.own is None or self.children_sum is None:
            return None
        return self.own - self.children_sum

    @property
    def coverage(self) -> float | None:
        if not self.own or self.children_sum is None:
            return None
        return self.children_sum / self.own

    def to_dict(self) -> dict[str, Any]:
        return {
            "element": self.element,
            "own": self.own,
            "children_sum": self.children_sum,
            "gap": self.gap,
            "coverage": self.coverage,
            "children_reporting": self.children_reporting,
            "children_total": self.children_total,
        }


def aggregate_period(session: Session, org_unit: str, period: str) -> list[AggregateRow]:
    """:func:`aggregate` for a period as written (``2022-05-15``, ``2022W20``, ``202205``)."""
    try:
        period_type, day = parse_period(period)
    except ValueError as exc:
        raise SitroomError(f"period: {exc}") from None
    return aggregate(session, org_unit, day, period_type)


def aggregate(
    session: Session, org_unit: str, period: date, period_type: PeriodType | None = None
) -> list[AggregateRow]:
    """For each element: ``org_unit``'s reported value and its children's sum.

    With ``period_type``, only the elements reported at that frequency (the
    week starting on a Monday is not the day of that Monday).
    """
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == org_unit))
    if unit is None:
        raise NotFoundError(f"unknown org unit {org_unit!r}")
    children = list(session.scalars(select(OrgUnit.code).where(OrgUnit.parent_id == unit.id)))
    values = fetch_values(session, start=period, end=period, org_units=[unit.code, *children])
    own = values.get((unit.code, period), {})
    codes = list(session.scalars(select(DataElement.code).order_by(DataElement.id)))
    if period_type is not None:
        kinds = period_types(session)
        codes = [c for c in codes if kinds.get(c, "daily") == period_type]
    rows = []
    for element in codes:
        got = [
            values[(child, period)][element]
            for child in children
            if element in values.get((child, period), {})
        ]
        if element not in own and not got:
            continue
        rows.append(
            AggregateRow(
                element=element,
                own=own.get(element),
                children_sum=sum(got) if got else None,
                children_reporting=len(got),
                children_total=len(children),
            )
        )
    return rows
