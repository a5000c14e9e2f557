"""Reporting triangles from the audit trail: what was known, how many days late.

For one org unit and data element, each period's value is followed through
its first receipt and every later correction. The delay of a state is the
number of whole days after the period's deadline (cut-off plus grace) at which
it became known; delay 0 is on time. Cell (period, d) of the triangle is what
the value grew by at delay d; cells later than ``as_of`` are not yet observed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.errors import NotFoundError
from sitroom.places.models import OrgUnit
from sitroom.surveillance.models import DataElement, DataValue, DataValueAudit
from sitroom.surveillance.periods import ReportingCalendar


@dataclass(frozen=True)
class Triangle:
    periods: list[date]
    counts: NDArray[np.float64]  # shape (n_periods, max_delay + 1), NaN: not yet observed
    as_of: date
    negative_corrections: int  # downward corrections, set to zero in the triangle


def reporting_triangle(
    session: Session,
    calendar: ReportingCalendar,
    org_unit: str,
    element: str,
    *,
    max_delay: int = 14,
    as_of: date | None = None,
) -> Triangle:
    """The reporting triangle of ``element`` for ``org_unit`` (see the module docstring)."""
    unit_id = session.scalar(select(OrgUnit.id).where(OrgUnit.code == org_unit))
    element_id = session.scalar(select(DataElement.id).where(DataElement.code == element))
    if unit_id is None or element_id is None:
        raise NotFoundError(f"unknown org unit {org_unit!r} or data element {element!r}")
    events: dict[date, list[tuple[datetime, float]]] = defaultdict(list)
    audits = session.scalars(
        select(DataValueAudit)
        .where(DataValueAudit.org_unit_id == unit_id, DataValueAudit.element_id == element_id)
        .order_by(DataValueAudit.id)
    ).all()
    current = session.scalars(
        select(DataValue).where(
            DataValue.org_unit_id == unit_id, DataValue.element_id == element_id
        )
    ).all()
    first_seen = {row.period: row.received_at for row in current}
    for audit in audits:
        if not events[audit.period]:
            start = first_seen.get(audit.period, audit.old_set_at)
            events[audit.period].append((min(start, audit.old_set_at), float(audit.old_value)))
        events[audit.period].append((audit.changed_at, float(audit.new_value or 0)))
    for row in current:
        if not events[row.period]:
            events[row.period].append((row.received_at, float(row.value)))
    if not events:
        raise NotFoundError(f"no {element} values are stored for {org_unit}")
    latest = max(t for states in events.values() for t, _ in states)
    as_of = as_of or calendar.period_of(latest)
    first = min(events)
    periods = [first + timedelta(days=i) for i in range((as_of - first).days + 1)]
    counts = np.full((len(periods), max_delay + 1), np.nan)
    negative = 0
    for i, period in enumerate(periods):
        deadline = calendar.deadline(period)
        known = [0.0] * (max_delay + 1)
        for when, value in sorted(events.get(period, [])):
            late = max(0, math.ceil((when - deadline) / timedelta(days=1)))
            for d in range(min(late, max_delay), max_delay + 1):
                known[d] = value
        for d in range(max_delay + 1):
            if period + timedelta(days=d) > as_of:
                break
            step = known[d] - (known[d - 1] if d else 0.0)
            if step < 0:
                negative += 1
                step = 0.0
            counts[i, d] = step
    return Triangle(periods, counts, as_of, negative)
