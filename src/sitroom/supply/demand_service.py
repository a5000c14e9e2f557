"""Expected need for supplies per region (issue #11, item 7): the service.

The forecast of fever cases of each region, the default model of ``sitroom
analyze forecast`` run on the stored series, times the country's treatment
protocols (``[[supply.protocols]]``, each with its share of the cases); the
forecast's sample paths carry its interval into the demand's
(:func:`sitroom.supply.demand.demand_from_forecast`). Or any given series of
expected daily cases per place, from a CSV file: no interval then. Either way the
cases over the horizon are capped at each org unit's population (``org_unit.population``;
a unit without one is not capped, and a note says so).

See docs/supply.md, "Demand", and docs/methods.md, "Supply: demand from the forecast".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal, authorize
from sitroom.country import Country
from sitroom.errors import ConfigError, InputError, Location, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.demand import Demand, TreatmentProtocol, cap_cases, estimate_demand
from sitroom.supply.models import Item

#: Forecast models with sample paths (``sitroom analyze forecast --model``); the first is
#: that command's default.
MODELS = ("adaptive", "gapaware", "skewed", "growth", "renewal")
#: The longest horizon, in days (the forecasts' own limit).
MAX_HORIZON = 28
#: How a day missing from a region's series is filled before the forecast.
FILL = "linear"


@dataclass(slots=True)
class DemandReport:
    """Units needed per place and item over the horizon, with where they came from.

    ``demand`` is the numeric result (:class:`~sitroom.supply.demand.Demand`), its
    places the org units' codes; ``origin`` the last day of the history each
    forecast started from (None for a given series), ``source`` "forecast" or the
    file's name, ``notes`` what a reader should know (regions left out and why).
    ``paths`` are the daily cases behind it, (n_places, n_paths, horizon): the
    forecasts' sample paths, or the given series as one path (the aid gap takes
    the quantiles of their running totals, day by day).
    """

    demand: Demand
    names: dict[str, str]
    units: dict[str, str]
    horizon: int
    source: str
    model: str | None
    origins: dict[str, date] = field(default_factory=dict)
    first_day: date | None = None
    notes: list[str] = field(default_factory=list)
    paths: np.ndarray[Any, np.dtype[np.float64]] | None = field(default=None, repr=False)

    @property
    def places(self) -> tuple[str, ...]:
        return self.demand.places

    def need(self, quantile: str = "median") -> np.ndarray[Any, np.dtype[np.float64]]:
        """Units needed, shape (n_places, n_items): ``median``, ``mean``, ``lower_50``,
        ``upper_50``, ``lower_90`` or ``upper_90``."""
        if quantile not in QUANTILES:
            raise SitroomError(
                f"unknown quantile {quantile!r}; choose one of {', '.join(QUANTILES)}"
            )
        values: np.ndarray[Any, np.dtype[np.float64]] = getattr(self.demand, quantile)
        return values

    def rows(self) -> list[dict[str, Any]]:
        """One row per place and item, rounded for people (units up, never down)."""
        out = []
        for row in self.demand.table():
            place, item = row["place"], row["item"]
            out.append(
                {
                    "org_unit": place,
                    "name": self.names.get(place, place),
                    "item": item,
                    "unit": self.units.get(item, "unit"),
                    "horizon": self.horizon,
                    **{k: float(np.ceil(row[k] - 1e-9)) for k in QUANTILES},
                }
            )
        return out

    def totals(self) -> dict[str, dict[str, float]]:
        """Per item, the places' medians and means added up (a sum of medians is not the
        median of the sum: it is given as the places' own figures added)."""
        return {
            item: {
                "median": float(np.ceil(self.demand.median[:, i].sum() - 1e-9)),
                "mean": float(np.ceil(self.demand.mean[:, i].sum() - 1e-9)),
            }
            for i, item in enumerate(self.demand.items)
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "model": self.model,
            "horizon": self.horizon,
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "origins": {k: v.isoformat() for k, v in self.origins.items()},
            "method": self.demand.method,
            "note": self.demand.note,
            "notes": self.notes,
            "units_per_case": dict(
                zip(self.demand.items, map(float, self.demand.units_per_case), strict=True)
            ),
            "rows": self.rows(),
            "totals": self.totals(),
        }


#: The figures of a demand a caller may plan against.
QUANTILES = ("median", "mean", "lower_50", "upper_50", "lower_90", "upper_90")


def protocols(country: Country) -> list[TreatmentProtocol]:
    """The country's treatment protocols, as :mod:`sitroom.supply.demand` takes them."""
    if country.supply is None or not country.supply.protocols:
        raise ConfigError("the country configuration has no [[supply.protocols]]")
    return [
        TreatmentProtocol(units=dict(p.items), treated_share=p.share, name=p.code)
        for p in country.supply.protocols
    ]


def check_horizon(horizon: int, most: int = MAX_HORIZON) -> None:
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 1 <= horizon <= most:
        raise SitroomError(
            f"the horizon must be a whole number of days from 1 to {most}, not {horizon}"
        )


def places_of(
    session: Session, org_unit: str | None, country: Country, principal: Principal | None
) -> list[tuple[str, str, str]]:
    """The places demand is worked out for: ``(code, name, path)``.

    The regions (level 2) below ``org_unit`` (the country by default), or the org
    unit itself when it is a region or below. The user's scopes: an org unit
    asked for outside them is refused; without one, the regions they cover.
    """
    code = org_unit or country.country.code
    unit = session.execute(
        select(OrgUnit.code, OrgUnit.name, OrgUnit.path, OrgUnit.level).where(OrgUnit.code == code)
    ).first()
    if unit is None:
        raise NotFoundError(f"unknown org unit {code!r}")
    if principal is not None and (org_unit is not None or unit.level >= 2):
        authorize(principal, Permission.STOCK_READ, unit.path)
    elif principal is not None:
        authorize(principal, Permission.STOCK_READ, None)
    if unit.level >= 2:
        return [(unit.code, unit.name, unit.path)]
    found = [
        (c, n, p)
        for c, n, p in session.execute(
            select(OrgUnit.code, OrgUnit.name, OrgUnit.path)
            .where(OrgUnit.level == 2, OrgUnit.path.startswith(unit.path, autoescape=True))
            .order_by(OrgUnit.code)
        )
        if principal is None or principal.covers(p)
    ]
    if not found:
        raise NotFoundError(f"no region below {code} (within your scopes)")
    return found


def populations(
    session: Session, codes: list[str], names: dict[str, str] | None = None
) -> tuple[list[float], list[str]]:
    """The population of each org unit of ``codes`` (NaN where none is recorded), the
    cap on its cases over a horizon, and a note for each unit without one."""
    found = dict(
        session.execute(
            select(OrgUnit.code, OrgUnit.population).where(OrgUnit.code.in_(codes))
        ).all()
    )
    values = [
        float(people) if (people := found.get(c)) is not None else float("nan") for c in codes
    ]
    notes = [
        f"{(names or {}).get(c, c)} ({c}): no population on record; its cases are not capped."
        for c in codes
        if found.get(c) is None
    ]
    return values, notes


def _units(session: Session, items: tuple[str, ...]) -> dict[str, str]:
    return dict(session.execute(select(Item.code, Item.unit).where(Item.code.in_(items))).all())


def _forecaster(model: str, horizon: int, samples: int | None, seed: int) -> Any:
    from sitroom.analysis.runs import _GROWTH_KINDS
    from sitroom.epi.forecast import RenewalForecast

    if model in _GROWTH_KINDS:
        kind = _GROWTH_KINDS[model]
        return kind(horizon=horizon, n_samples=samples or 4000, random_state=seed)
    from sitroom.analysis.service import serial_interval

    return RenewalForecast(
        horizon=horizon,
        n_samples=samples or 2000,
        random_state=seed,
        **serial_interval().kwargs(),
    )


def forecast_demand(
    session: Session,
    country: Country,
    *,
    horizon: int = 14,
    org_unit: str | None = None,
    end: date | None = None,
    model: str = MODELS[0],
    samples: int | None = None,
    seed: int = 0,
    principal: Principal | None = None,
) -> DemandReport:
    """Units of each protocol item needed per region over ``horizon`` days.

    Each region's stored daily fever series (the country's ``cases`` role), up to
    ``end`` (default: its last day) with missing days filled linearly, is
    forecast by ``model`` (the default of ``sitroom analyze forecast``); its
    sample paths times the protocols give the demand and its interval. A region
    with no series, or one too short to forecast, is left out with a note; none
    left is an error.
    """
    from sitroom.analysis.series import optional_series

    check_horizon(horizon)
    if model not in MODELS:
        raise SitroomError(f"unknown forecast model {model!r}; choose one of {', '.join(MODELS)}")
    if samples is not None and samples < 10:
        raise SitroomError("at least 10 samples are needed")
    chosen = protocols(country)
    element = country.roles.named().get("cases")
    if element is None:
        raise ConfigError("the country configuration names no element for cases ([roles])")
    places = places_of(session, org_unit, country, principal)
    paths, kept, origins, notes = [], [], {}, []
    first_day: date | None = None
    for code, name, _path in places:
        series = optional_series(session, code, element)
        if series is None:
            notes.append(f"{name} ({code}): no {element} series stored; no demand worked out.")
            continue
        if series.period_type != "daily":
            raise SitroomError(
                f"{element} is reported {series.period_type}: the forecast needs days"
            )
        if end is not None:
            if end < series.start:
                notes.append(f"{name} ({code}): no {element} values before {end}.")
                continue
            series = series.between(None, end)
        series = series.filled(FILL)
        from sitroom.epi.forecast import GrowthForecast

        if series.values.size < GrowthForecast.MIN_HISTORY:
            notes.append(
                f"{name} ({code}): {series.values.size} days of {element}, fewer than the"
                f" {GrowthForecast.MIN_HISTORY} a forecast needs; no demand worked out."
            )
            continue
        forecast = _forecaster(model, horizon, samples, seed)
        try:
            forecast.fit(series.values)
        except ValueError as exc:
            raise SitroomError(f"{code}: {exc}") from exc
        paths.append(np.asarray(forecast.samples_, dtype=float))
        kept.append((code, name))
        origin = series.dates[-1]
        origins[code] = origin
        start = origin + timedelta(days=1)
        first_day = start if first_day is None else min(first_day, start)
    if not kept:
        raise SitroomError(
            "no region has a fever series to forecast from: " + " ".join(notes)
            if notes
            else "no region to forecast"
        )
    if len(set(origins.values())) > 1:
        notes.append(
            "The regions' series end on different days: each forecast starts after its own"
            " last day (see origins)."
        )

    # What demand_from_forecast does with one fitted forecast's samples_, here with the
    # regions' paths stacked, (n_regions, n_samples, horizon): one Demand for them all,
    # each region's cases over the horizon capped at its population (the paths kept
    # capped too, for the aid gap's running totals).
    demand, stacked = _capped(session, chosen, np.stack(paths)[:, :, :horizon], dict(kept), notes)
    return DemandReport(
        demand=demand,
        names=dict(kept),
        units=_units(session, demand.items),
        horizon=horizon,
        source="forecast",
        model=model,
        origins=origins,
        first_day=first_day,
        notes=notes,
        paths=stacked,
    )


def _capped(
    session: Session,
    chosen: list[TreatmentProtocol],
    stacked: np.ndarray[Any, np.dtype[np.float64]],
    kept: dict[str, str],
    notes: list[str],
) -> tuple[Demand, np.ndarray[Any, np.dtype[np.float64]]]:
    """The demand of the regions' stacked paths with their cases capped at each one's
    population, and the paths capped (a note for each region without a population)."""
    codes = list(kept)
    population, missing = populations(session, codes, kept)
    notes.extend(missing)
    # estimate_demand caps the paths itself (and notes where the cap binds, which it
    # could not see in paths capped before): the paths are capped again for the caller.
    demand = estimate_demand(
        chosen, samples=stacked, horizon=stacked.shape[2], places=codes, population=population
    )
    return demand, cap_cases(stacked, population)


def demand_from_file(
    session: Session,
    country: Country,
    path: Path,
    *,
    horizon: int | None = None,
    principal: Principal | None = None,
) -> DemandReport:
    """Units needed from a CSV of expected daily cases: ``date`` then a column per org
    unit (its code), a row per day from the first day of the horizon. No interval."""
    from sitroom.analysis.series import check_input_file, csv_series

    check_input_file(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
    except UnicodeDecodeError as exc:
        raise InputError(Location(str(path)), "not UTF-8 text") from exc
    columns = [c.strip() for c in header if c.strip() and c.strip() != "date"]
    if header and header[0].strip() != "date":
        columns = [c.strip() for c in header[1:] if c.strip()]
    if not columns:
        raise InputError(Location(str(path), 1), "no column of expected cases beside the date")
    units = dict(
        session.execute(select(OrgUnit.code, OrgUnit.path).where(OrgUnit.code.in_(columns))).all()
    )
    for column in columns:
        if column not in units:
            raise NotFoundError(f"{path}: column {column!r} is not an org unit's code")
        if principal is not None:
            authorize(principal, Permission.STOCK_READ, units[column])
    series = csv_series(path, columns)
    days = len(series[columns[0]].values)
    if horizon is not None:
        check_horizon(horizon, most=max(days, MAX_HORIZON))
        if horizon > days:
            raise SitroomError(
                f"{path}: {days} days of expected cases, fewer than the horizon {horizon}"
            )
    values = np.stack([series[c].values for c in columns])
    if np.isnan(values).any():
        where = np.argwhere(np.isnan(values))[0]
        day = series[columns[0]].dates[int(where[1])]
        raise InputError(
            Location(str(path), None, columns[int(where[0])]), f"no expected cases on {day}"
        )
    if (values < 0).any():
        raise InputError(Location(str(path)), "expected cases cannot be negative")
    names = dict(
        session.execute(select(OrgUnit.code, OrgUnit.name).where(OrgUnit.code.in_(columns))).all()
    )
    population, missing = populations(session, columns, names)
    try:
        demand = estimate_demand(
            protocols(country), expected=values, horizon=horizon, places=columns,
            population=population,
        )  # fmt: skip
    except ValueError as exc:
        raise SitroomError(f"{path}: {exc}") from exc
    return DemandReport(
        demand=demand,
        names=names,
        units=_units(session, demand.items),
        horizon=demand.horizon,
        source=path.name,
        model=None,
        first_day=series[columns[0]].start,
        notes=missing,
        paths=cap_cases(values[:, None, : demand.horizon], population),
    )


__all__ = [
    "MODELS",
    "QUANTILES",
    "DemandReport",
    "check_horizon",
    "demand_from_file",
    "forecast_demand",
    "places_of",
    "populations",
    "protocols",
]
