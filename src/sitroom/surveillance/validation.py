"""Validation of stored values: configured rules and the outlier screen."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.country import Country
from sitroom.places.models import OrgUnit
from sitroom.surveillance.outliers import trend_outliers_many
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


#: Series screened per call of the vectorised screen (bounds its working memory:
#: each series-day holds the window's pairwise slopes).
SCREEN_CHUNK = 256


def outlier_findings(values: Values, country: Country, start: date, end: date) -> list[Finding]:
    """Outliers among the configured elements, per org unit, for periods in [start, end]."""
    config = country.outliers
    if not config.elements or not values:
        return []
    first = min(period for _, period in values)
    n_days = (end - first).days + 1
    units = sorted({unit for unit, _ in values})
    unit_index = {unit: k for k, unit in enumerate(units)}
    element_index = {element: k for k, element in enumerate(config.elements)}
    # One matrix of every (element, unit) series, filled in one pass over the values.
    matrix = np.full((len(config.elements), len(units), n_days), np.nan)
    for (unit, period), row in values.items():
        offset = (period - first).days
        if not 0 <= offset < n_days:
            continue
        for element, value in row.items():
            e = element_index.get(element)
            if e is not None:
                matrix[e, unit_index[unit], offset] = value
    series = matrix.reshape(-1, n_days)
    keys = [(element, unit) for element in config.elements for unit in units]
    screened = [
        k for k in range(len(keys)) if np.count_nonzero(~np.isnan(series[k])) > config.min_history
    ]
    findings = []
    for chunk_start in range(0, len(screened), SCREEN_CHUNK):
        rows = screened[chunk_start : chunk_start + SCREEN_CHUNK]
        result = trend_outliers_many(
            series[rows],
            window=config.window,
            min_history=config.min_history,
            threshold=config.threshold,
            min_count=config.min_count,
            min_spread=config.min_spread,
        )
        for r, index in zip(*np.nonzero(result.flagged), strict=True):
            element, unit = keys[rows[r]]
            period = first + timedelta(days=int(index))
            if period < start:
                continue
            actual, expected = series[rows[r], index], result.expected[r, index]
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
                        f" robust z {result.score[r, index]:+.1f})"
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
