"""Validation of stored values: configured rules and the outlier screen."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.country import Country
from sitroom.places.models import OrgUnit
from sitroom.surveillance.outliers import trend_outliers
from sitroom.surveillance.periods import check_range
from sitroom.surveillance.rules import Finding, Rule, Values, check_rules
from sitroom.surveillance.service import fetch_values, period_range

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def compile_rules(country: Country) -> list[Rule]:
    codes = [e.code for e in country.elements]
    return [Rule.compile(rule, codes) for rule in country.rules]


def children_map(session: Session) -> dict[str, list[str]]:
    """Org unit code -> codes of its children."""
    units = session.execute(select(OrgUnit.id, OrgUnit.code, OrgUnit.parent_id)).all()
    code_of = {unit_id: code for unit_id, code, _ in units}
    children: dict[str, list[str]] = {}
    for _, code, parent_id in units:
        if parent_id is not None:
            children.setdefault(code_of[parent_id], []).append(code)
    return children


def outlier_findings(values: Values, country: Country, start: date, end: date) -> list[Finding]:
    """Outliers among the configured elements, per org unit, for periods in [start, end]."""
    config = country.outliers
    if not config.elements or not values:
        return []
    first = min(period for _, period in values)
    n_days = (end - first).days + 1
    units = sorted({unit for unit, _ in values})
    findings = []
    for element in config.elements:
        for unit in units:
            series = np.full(n_days, np.nan)
            for offset in range(n_days):
                row = values.get((unit, first + timedelta(days=offset)))
                if row is not None and element in row:
                    series[offset] = row[element]
            if np.count_nonzero(~np.isnan(series)) <= config.min_history:
                continue
            result = trend_outliers(
                series,
                window=config.window,
                min_history=config.min_history,
                threshold=config.threshold,
                min_count=config.min_count,
                min_spread=config.min_spread,
            )
            for index in np.flatnonzero(result.flagged):
                period = first + timedelta(days=int(index))
                if period < start:
                    continue
                actual, expected = series[index], result.expected[index]
                direction = "above" if actual > expected else "below"
                findings.append(
                    Finding(
                        rule="outlier",
                        name=f"{element} far from its recent trend",
                        org_unit=unit,
                        period=period,
                        left=float(actual),
                        right=round(float(expected)),
                        operator="~",
                        severity=config.severity,
                        message=(
                            f"{element} {actual:,.0f} is far {direction} the trend of the previous"
                            f" {config.window} days (expected about {expected:,.0f};"
                            f" robust z {result.score[index]:+.1f})"
                        ),
                    )
                )
    return findings


def validate(
    session: Session, country: Country, *, start: date | None = None, end: date | None = None
) -> list[Finding]:
    """Findings for the periods ``[start, end]`` (default: every stored period)."""
    check_range(start, end)
    stored = period_range(session)
    if stored is None:
        return []
    start = start or stored[0]
    end = end or stored[1]
    lookback = max(country.outliers.window, 1)
    values = fetch_values(session, start=start - timedelta(days=lookback), end=end)
    periods = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    findings = check_rules(compile_rules(country), values, children_map(session), periods)
    findings += outlier_findings(values, country, start, end)
    findings.sort(key=lambda f: (f.period, SEVERITY_ORDER[f.severity], f.org_unit, f.rule))
    return findings
