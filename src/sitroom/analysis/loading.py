"""Loading the series an analysis needs: from the database or a CSV file, cut and filled.

The command line and the API call these with parsed options; they open the
context's database only when the data comes from it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.analysis.series import Series, csv_series, optional_series, stored_series
from sitroom.context import AppContext
from sitroom.errors import SitroomError
from sitroom.places.models import OrgUnit
from sitroom.places.service import org_unit_code
from sitroom.surveillance.periods import check_range


def load_series(
    context: AppContext,
    columns: list[str],
    *,
    org_unit: str | None = None,
    input_file: Path | None = None,
    start: date | None = None,
    end: date | None = None,
    fill: str | list[str] = "none",
) -> dict[str, Series]:
    """The named series, from ``input_file`` or the database, cut to [start, end] and filled.

    Stored series of one org unit (the country by default) are put on the days
    any of them covers; ``fill`` (one per column, or one for all) says what a
    missing day becomes: ``none`` (refuse), ``zero`` or ``linear``.
    """
    if input_file is not None:
        found = csv_series(input_file, columns)
    else:
        with context.session() as session:
            unit = org_unit_code(session, context.country, org_unit)
            found = union({c: stored_series(session, unit, c) for c in columns})
    fills = fill if isinstance(fill, list) else [fill] * len(columns)
    return {
        c: found[c].between(start, end).filled(how) for c, how in zip(columns, fills, strict=True)
    }


def load_level(
    context: AppContext,
    level: int,
    element: str,
    *,
    start: date | None = None,
    end: date | None = None,
    fill: str = "none",
    within: str | None = None,
) -> dict[str, Series]:
    """``element`` for every org unit of ``level``, on the days all of them cover.

    With ``within`` (an org unit's code, name or alias), only the units of the
    level in its subtree.
    """
    check_range(start, end)
    with context.session() as session:
        query = select(OrgUnit.code).where(OrgUnit.level == level).order_by(OrgUnit.code)
        if within is not None:
            code = org_unit_code(session, context.country, within)
            path = session.scalars(select(OrgUnit.path).where(OrgUnit.code == code)).one()
            query = query.where(OrgUnit.path.startswith(path, autoescape=True))
        codes = session.scalars(query).all()
        stored = {code: optional_series(session, code, element) for code in codes}
    found = {code: s for code, s in stored.items() if s is not None}
    if not found:
        below = f" in {within}" if within is not None else ""
        raise SitroomError(f"no org unit of level {level}{below} has {element} values")
    first = start or max(s.start for s in found.values())
    last = end or min(s.dates[-1] for s in found.values())
    stored_first = min(s.start for s in found.values())
    stored_last = max(s.dates[-1] for s in found.values())
    if first > last or first > stored_last or last < stored_first:
        raise SitroomError(
            f"no {element} values of level {level} between {first} and {last}"
            f" (they run from {stored_first} to {stored_last})"
        )
    return {code: s.spanning(first, last).filled(fill) for code, s in found.items()}


def union(series: dict[str, Series]) -> dict[str, Series]:
    """The series extended to the days any of them covers (NaN where one has no value)."""
    start = min(s.start for s in series.values())
    end = max(s.dates[-1] for s in series.values())
    return {name: s.spanning(start, end) for name, s in series.items()}


def align(series: dict[str, Series]) -> dict[str, Series]:
    """The series cut to their common days (identities compare the same days)."""
    if not series:
        return {}
    start = max(s.start for s in series.values())
    end = min(s.dates[-1] for s in series.values())
    if start > end:
        return {}
    return {k: s.between(start, end) for k, s in series.items()}


def stored_total(
    session: Session, unit: str, element: str, first: date | None, last: date | None
) -> float | None:
    """The sum of ``element`` for ``unit`` over the range, or None when nothing is stored."""
    found = optional_series(session, unit, element)
    return None if found is None else float(np.nansum(found.between(first, last).values))
