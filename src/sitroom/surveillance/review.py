"""The epidemiologists' review of a period: what came in, what is missing, the findings.

The page ``/review`` renders :func:`review`; approving and un-approving are
``sitroom.surveillance.approvals``. A unit has reported when it sent a
required element (``reporting.required_elements``), as completeness counts
it; its report is late when one of those values arrived after the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal, authorize
from sitroom.country import Country, PeriodType
from sitroom.db import utcnow
from sitroom.places.models import OrgUnit
from sitroom.surveillance.approvals import ApprovalCover, ApprovalIndex
from sitroom.surveillance.entry import check_period, data_set, latest_closed_period
from sitroom.surveillance.models import DataElement, DataValue
from sitroom.surveillance.periods import ReportingCalendar, label, shift
from sitroom.surveillance.rules import Finding
from sitroom.surveillance.validation import validate


@dataclass(frozen=True, slots=True)
class UnitReport:
    """One expected unit's report for the period, as the review shows it."""

    code: str
    name: str
    name_local: str | None
    #: When its first required value arrived (None: not reported).
    received_at: datetime | None
    updated_at: datetime | None
    late: bool
    #: Who stored its values (the actors), sorted.
    by: tuple[str, ...]
    values: int
    approval: ApprovalCover | None
    findings: int

    @property
    def submitted(self) -> bool:
        return self.received_at is not None


@dataclass(frozen=True, slots=True)
class ScopeApproval:
    """One of the user's scope units, with the approval covering it (the whole-scope button)."""

    code: str
    name: str
    approval: ApprovalCover | None


@dataclass(frozen=True, slots=True)
class PeriodReview:
    """The review of a period over a user's scope (see :func:`review`)."""

    period: date
    period_type: PeriodType
    open_period: date
    window_start: datetime
    window_end: datetime
    deadline: datetime
    zone: str
    units: tuple[UnitReport, ...]
    findings: tuple[Finding, ...]
    scopes: tuple[ScopeApproval, ...]
    can_approve: bool

    @property
    def label(self) -> str:
        return label(self.period, self.period_type)

    @property
    def previous_label(self) -> str:
        return label(shift(self.period, -1, self.period_type), self.period_type)

    @property
    def next_label(self) -> str | None:
        if self.period >= self.open_period:
            return None
        return label(shift(self.period, 1, self.period_type), self.period_type)

    @property
    def received(self) -> tuple[UnitReport, ...]:
        return tuple(u for u in self.units if u.submitted)

    @property
    def missing(self) -> tuple[UnitReport, ...]:
        return tuple(u for u in self.units if not u.submitted)

    @property
    def late(self) -> tuple[UnitReport, ...]:
        return tuple(u for u in self.units if u.submitted and u.late)

    @property
    def is_open(self) -> bool:
        return self.period >= self.open_period

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(ZoneInfo(self.zone))


def review(
    session: Session,
    country: Country,
    *,
    principal: Principal,
    period: date | None = None,
    now: datetime | None = None,
) -> PeriodReview:
    """The period's reports over ``principal``'s scope (default: the latest closed period).

    The expected units are those of ``reporting.reporting_level`` inside the
    scope; a unit has reported when it sent a required element. Findings
    are the rules' and the outlier screen's (:func:`validate`) at units in
    the scope. ForbiddenError without ``data.read``.
    """
    authorize(principal, "data.read", None)
    now = now or utcnow()
    dataset = data_set(country)
    kind = dataset.period_type
    period = latest_closed_period(country, now) if period is None else period
    check_period(country, period, now)
    calendar = ReportingCalendar.from_config(country.reporting)
    level = country.reporting.reporting_level
    paths: dict[str, str] = dict(session.execute(select(OrgUnit.code, OrgUnit.path)).all())
    units = [
        u
        for u in session.scalars(
            select(OrgUnit).where(OrgUnit.level == level).order_by(OrgUnit.code)
        )
        if principal.covers(u.path)
    ]
    required = set(country.reporting.required_elements or dataset.elements)
    rows = session.execute(
        select(
            DataValue.org_unit_id,
            DataElement.code,
            DataValue.received_at,
            DataValue.updated_at,
            DataValue.late,
            DataValue.changed_by,
        )
        .join(DataElement, DataElement.id == DataValue.element_id)
        .where(
            DataValue.period == period,
            DataValue.org_unit_id.in_([u.id for u in units]),
            DataElement.code.in_(dataset.elements),
        )
    ).all()
    findings = [
        f
        for f in validate(session, country, start=period, end=period, period_type=kind)
        if f.period == period and f.org_unit in paths and principal.covers(paths[f.org_unit])
    ]
    per_unit: dict[str, int] = {}
    for finding in findings:
        per_unit[finding.org_unit] = per_unit.get(finding.org_unit, 0) + 1
    approvals = ApprovalIndex.load(session, [period])
    reports = []
    for unit in units:
        mine = [r for r in rows if r.org_unit_id == unit.id]
        counted = [r for r in mine if r.code in required]
        reports.append(
            UnitReport(
                code=unit.code,
                name=unit.name,
                name_local=unit.name_local,
                received_at=min((r.received_at for r in counted), default=None),
                updated_at=max((r.updated_at for r in mine), default=None),
                late=any(r.late for r in counted),
                by=tuple(sorted({r.changed_by for r in mine})),
                values=len(mine),
                approval=approvals.covering(unit.path, kind, period),
                findings=per_unit.get(unit.code, 0),
            )
        )
    names = dict(session.execute(select(OrgUnit.code, OrgUnit.name)).all())
    scopes = tuple(
        ScopeApproval(code, names.get(code, code), approvals.covering(paths[code], kind, period))
        for code in principal.scope_codes
        if code in paths
    )
    start, end = calendar.window(period, kind)
    return PeriodReview(
        period=period,
        period_type=kind,
        open_period=calendar.period_of(now, kind),
        window_start=start,
        window_end=end,
        deadline=calendar.deadline(period, kind),
        zone=country.reporting.time_zone,
        units=tuple(reports),
        findings=tuple(findings),
        scopes=scopes,
        can_approve=principal.can("data.approve"),
    )


__all__ = ["PeriodReview", "ScopeApproval", "UnitReport", "review"]
