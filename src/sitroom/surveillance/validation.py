"""Validation of stored values: configured rules and the outlier screen."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.country import Country, PeriodType
from sitroom.places.models import OrgUnit
from sitroom.surveillance.bulk import BulkStatements
from sitroom.surveillance.models import DataElement
from sitroom.surveillance.outliers import trend_outliers_many
from sitroom.surveillance.periods import UNIT_NAMES, check_range, shift, start_of, steps_between
from sitroom.surveillance.rules import Finding, Grid, Rule, check_rules_on
from sitroom.surveillance.service import period_range, period_types

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def compile_rules(country: Country) -> list[Rule]:
    """The country's rules (loading the country refused rules that mix period types)."""
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


#: Cells (series x days x pairs of window days) the vectorised screen holds at
#: once: about 32 MB of slopes, whatever the number and length of the series.
SCREEN_CELLS = 4_000_000


def outlier_findings(grid: Grid, country: Country, start: date) -> list[Finding]:
    """Outliers among the configured elements of the grid, per org unit, from ``start`` on."""
    config = country.outliers
    elements = [e for e in config.elements if e in grid.arrays]
    if not elements:
        return []
    units = grid.units
    n_days = grid.present.shape[1]
    series = np.stack([grid.arrays[e] for e in elements]).reshape(-1, n_days)
    keys = [(element, unit) for element in elements for unit in units]
    unit_names = UNIT_NAMES[grid.period_type][1]
    screened = [
        k for k in range(len(keys)) if np.count_nonzero(~np.isnan(series[k])) > config.min_history
    ]
    findings = []
    pairs = config.window * (config.window - 1) // 2
    step = max(1, SCREEN_CELLS // max(1, n_days * pairs))
    for chunk_start in range(0, len(screened), step):
        rows = screened[chunk_start : chunk_start + step]
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
            period = grid.period_at(int(index))
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
                        f" {config.window} {unit_names} (expected about {expected:,.0f};"
                        f" robust z {result.score[r, index]:+.1f})"
                    ),
                    period_type=grid.period_type,
                )
            )
    return findings


#: Rows read from the database per round when loading a grid.
FETCH_ROWS = 50_000


def load_grid(
    session: Session,
    elements: list[str],
    start: date,
    end: date,
    *,
    progress: Callable[[int], None] | None = None,
    period_type: PeriodType = "daily",
) -> Grid:
    """Stored values of ``elements`` in [start, end] as arrays, streamed from the database.

    ``start`` and ``end`` are the first days of periods of ``period_type``,
    the frequency of the elements. Memory is the arrays (elements x org units
    x periods, 8 bytes a cell), not the rows: values are read in rounds of
    :data:`FETCH_ROWS` by id and placed with array indexing, with no object
    per value.
    """
    units = session.execute(select(OrgUnit.id, OrgUnit.code).order_by(OrgUnit.code)).all()
    codes = [code for _, code in units]
    unit_index = np.full(max((i for i, _ in units), default=0) + 1, -1)
    for k, (unit_id, _) in enumerate(units):
        unit_index[unit_id] = k
    element_ids = dict(session.execute(select(DataElement.code, DataElement.id)).all())
    element_index = np.full(max(element_ids.values(), default=0) + 1, -1)
    for k, code in enumerate(elements):
        if code in element_ids:  # an element not set up yet has no values: its array stays empty
            element_index[element_ids[code]] = k
    n_days = steps_between(start, end, period_type) + 1
    data = np.full((len(elements), len(units), n_days), np.nan)
    present = np.zeros((len(units), n_days), dtype=bool)
    ids = [element_ids[code] for code in elements if code in element_ids]
    if not ids:
        ids = [-1]  # nothing set up: no rows
    # The DBAPI cursor, as the import's hot path: SQLAlchemy's per-row type
    # processing would cost more than the database's own fetch.
    bulk = BulkStatements(session.connection())
    cursor = bulk.connection.connection.cursor()
    cursor.execute(
        "SELECT org_unit_id, element_id, period, value FROM data_value"
        f" WHERE period >= {bulk.mark} AND period <= {bulk.mark}"
        f" AND element_id IN ({', '.join(str(int(i)) for i in ids)})",
        (bulk.period(start), bulk.period(end)),
    )
    while chunk := cursor.fetchmany(FETCH_ROWS):
        if progress is not None:
            progress(len(chunk))
        unit_ids, elem_ids, days, values = zip(*chunk, strict=True)
        u = unit_index[np.fromiter(unit_ids, dtype=np.int64, count=len(chunk))]
        e = element_index[np.fromiter(elem_ids, dtype=np.int64, count=len(chunk))]
        d = _columns(np.array(days, dtype="datetime64[D]"), start, period_type)
        present[u, d] = True
        known = e >= 0
        data[e[known], u[known], d[known]] = np.fromiter(values, dtype=float, count=len(chunk))[
            known
        ]
    cursor.close()
    children = np.zeros((len(units), len(units)))
    parent_of = session.execute(select(OrgUnit.id, OrgUnit.parent_id)).all()
    for unit_id, parent_id in parent_of:
        if parent_id is not None:
            children[unit_index[parent_id], unit_index[unit_id]] = 1.0
    arrays = {code: data[k] for k, code in enumerate(elements)}
    return Grid(codes, start, arrays, children, present, period_type)


def _columns(
    days: np.ndarray[Any, np.dtype[np.datetime64]], start: date, period_type: PeriodType
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The grid column of each period (given by its first day) counted from ``start``."""
    if period_type == "monthly":
        months = days.astype("datetime64[M]") - np.datetime64(start, "M")
        return months.astype(np.int64)
    offset = (days - np.datetime64(start, "D")).astype(np.int64)
    return offset // 7 if period_type == "weekly" else offset


def validate(
    session: Session,
    country: Country,
    *,
    start: date | None = None,
    end: date | None = None,
    progress: Callable[[int], None] | None = None,
    period_type: PeriodType | None = None,
) -> list[Finding]:
    """Findings for the periods ``[start, end]`` (default: every stored period).

    ``progress`` is called with the number of values read, round by round.
    With ``period_type``, only the elements of that frequency are checked.
    """
    check_range(start, end)
    stored = period_range(session)
    if stored is None:
        return []
    start = start or stored[0]
    end = end or stored[1]
    rules = compile_rules(country)
    kinds = period_types(session)
    by_type: dict[PeriodType, list[str]] = {}
    for element in country.elements:
        kind = kinds.get(element.code, "daily")
        if period_type is None or kind == period_type:
            by_type.setdefault(kind, []).append(element.code)
    findings: list[Finding] = []
    # Each frequency on its own grid: a rule or a trend compares periods of one type.
    for kind, elements in by_type.items():
        first, last = start_of(start, kind), start_of(end, kind)
        lookback = shift(first, -max(country.outliers.window, 1), kind)
        grid = load_grid(session, elements, lookback, last, progress=progress, period_type=kind)
        steps = steps_between(first, last, kind) + 1
        periods = [shift(first, i, kind) for i in range(steps)]
        own = [rule for rule in rules if rule.elements <= set(elements)]
        findings += check_rules_on(own, grid, periods)
        findings += outlier_findings(grid, country, first)
    findings.sort(key=lambda f: (f.period, SEVERITY_ORDER[f.severity], f.org_unit, f.rule))
    return findings
