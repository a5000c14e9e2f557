"""The national bulletin of a period, as the morning broadcast gives it.

The period is one of the cases' data set: a day for the DPRK's daily fever
reports, a week or a month for a country reporting so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.country import Country, PeriodType
from sitroom.errors import NotFoundError
from sitroom.places.models import OrgUnit
from sitroom.surveillance.models import DataElement, DataValue
from sitroom.surveillance.periods import (
    ReportingCalendar,
    label,
    last_day,
    shift,
    start_of,
)
from sitroom.surveillance.reporting import (
    AggregateRow,
    PeriodCompleteness,
    aggregate,
    completeness,
)
from sitroom.surveillance.rules import Finding
from sitroom.surveillance.service import fetch_values, latest_period, period_types
from sitroom.surveillance.validation import validate

#: The parts a region's line shows, in order (see the country's [roles]).
REGION_PARTS = ("cases", "active", "deaths")


@dataclass(frozen=True, slots=True)
class RegionLine:
    code: str
    name: str
    name_local: str | None
    #: The region's figures for :data:`REGION_PARTS`, by element code.
    values: dict[str, int | None]
    late: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "name_local": self.name_local,
            **self.values,
            "late": self.late,
        }


@dataclass(frozen=True)
class Bulletin:
    """Everything the bulletin shows for one period (the data a renderer gets)."""

    country: str
    country_code: str
    period: date  # its first day
    window_start: datetime  # local time
    window_end: datetime  # local time
    values: dict[str, int | None]  # the country's own figures, by element code
    previous: dict[str, int | None]  # the same for the period before
    regions: list[RegionLine]  # ranked by new cases, most first
    completeness: PeriodCompleteness
    regional_sums: list[AggregateRow]
    findings: list[Finding]
    #: Which element plays which part (the country's [roles]), and elements' names.
    roles: dict[str, str]
    labels: dict[str, str]
    period_type: PeriodType = "daily"

    @property
    def period_label(self) -> str:
        """The period as sitroom writes it: ``2022-05-15``, ``2022W20``, ``202205``."""
        return label(self.period, self.period_type)

    def part(self, name: str) -> str | None:
        """The element code that plays ``name`` here, if any."""
        return self.roles.get(name)

    def change(self, element: str) -> int | None:
        now, before = self.values.get(element), self.previous.get(element)
        return None if now is None or before is None else now - before

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.values,
            "country": self.country_code,
            "period": self.period_label,
            "period_type": self.period_type,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            f"change_{self.roles['cases']}": self.change(self.roles["cases"]),
            "regions": [r.to_dict() for r in self.regions],
            "regions_reporting": self.completeness.received,
            "regions_expected": self.completeness.expected,
            "missing_regions": self.completeness.missing,
            "late_regions": self.completeness.late,
            "regional_sums": [r.to_dict() for r in self.regional_sums],
            "validation": [f.to_dict() for f in self.findings],
        }


def latest_bulletin_period(
    session: Session, country: Country, *, with_regions: bool = False
) -> date:
    """The last period with a national new-case figure.

    With ``with_regions``, the last such period for which units of the
    reporting level (the regions) reported too, when there is one.
    """
    cases = country.roles.cases
    period = latest_period(session, country.country.code, cases)
    if period is None:
        raise NotFoundError("no national figures are stored yet: import some data first")
    if not with_regions:
        return period
    fever = select(DataElement.id).where(DataElement.code == cases).scalar_subquery()
    root = select(OrgUnit.id).where(OrgUnit.code == country.country.code).scalar_subquery()
    national_periods = select(DataValue.period).where(
        DataValue.org_unit_id == root, DataValue.element_id == fever
    )
    regional = session.scalar(
        select(func.max(DataValue.period))
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .where(
            OrgUnit.level == country.reporting.reporting_level,
            DataValue.element_id == fever,
            DataValue.period.in_(national_periods),
        )
    )
    return regional or period


def bulletin_for(session: Session, country: Country, period: str | None = None) -> Bulletin:
    """The bulletin of ``period`` as written (a day, a week, a month); the latest by default."""
    from sitroom.surveillance.periods import period_bounds

    day = period_bounds(period) if period else latest_bulletin_period(session, country)
    return build_bulletin(session, country, day)


def build_bulletin(session: Session, country: Country, period: date) -> Bulletin:
    """Collect the figures, the regional table, reporting status and flags for ``period``."""
    root = country.country.code
    roles = country.roles.named()
    kinds = period_types(session)
    period_type = kinds.get(roles["cases"], "daily")
    period = start_of(period, period_type)
    before = shift(period, -1, period_type)
    # The elements reported at the cases' frequency (a daily bulletin shows no monthly figure).
    codes = [e.code for e in country.elements if kinds.get(e.code, "daily") == period_type]
    national = fetch_values(session, start=before, end=period, org_units=[root], elements=codes)
    today = national.get((root, period), {})
    if not today:
        raise NotFoundError(f"no national figures for the period {label(period, period_type)}")
    yesterday = national.get((root, before), {})
    level = country.reporting.reporting_level
    units = session.execute(
        select(OrgUnit.code, OrgUnit.name, OrgUnit.name_local).where(OrgUnit.level == level)
    ).all()
    regional = fetch_values(session, start=period, end=period, org_units=[u.code for u in units])
    status = completeness(session, country, start=period, end=period)[0]
    cases = roles["cases"]
    region_codes = [roles[p] for p in REGION_PARTS if p in roles and roles[p] in codes]
    lines = []
    for code, name, name_local in units:
        row = regional.get((code, period))
        if row is None:
            continue
        shown = {c: row.get(c) for c in region_codes}
        lines.append(RegionLine(code, name, name_local, shown, code in status.late))
    lines.sort(key=lambda r: (-(r.values.get(cases) or 0), r.code))
    calendar = ReportingCalendar.from_config(country.reporting)
    start, end = calendar.window(period, period_type)
    return Bulletin(
        country=country.country.name,
        country_code=root,
        period=period,
        window_start=start.astimezone(calendar.zone),
        window_end=end.astimezone(calendar.zone),
        values={code: today.get(code) for code in codes},
        previous={code: yesterday.get(code) for code in codes},
        regions=lines,
        completeness=status,
        regional_sums=[
            r
            for r in aggregate(session, root, period)
            if r.children_reporting and r.element in codes
        ],
        # The flags of this period's frequency (a monthly rule is not this week's).
        findings=validate(
            session,
            country,
            start=period,
            end=last_day(period, period_type),
            period_type=period_type,
        ),
        roles={part: code for part, code in roles.items() if code in codes},
        labels={e.code: e.name for e in country.elements},
        period_type=period_type,
    )
