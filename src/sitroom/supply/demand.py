"""Expected need for medicines and kits: a forecast of cases times the treatment protocols.

A protocol says how many units of each item one treated patient needs (a course) and
what share of the cases is treated. Over a horizon of H days the units of item i
needed at place p are

    N[p, i] = u_i * C[p],    u_i = sum over protocols k of share_k * units_k[i],
    C[p]    = sum_{h=1..H} cases[p, h],

so the whole uncertainty is that of C[p], the total cases over the horizon, and a
quantile of N[p, i] is u_i times the same quantile of C[p] (u_i >= 0 is a constant).
The protocol is taken as exact: the spread comes from the forecast alone.

Quantiles of a sum over days are not the sum of the days' quantiles. The forecast may
come three ways, and :func:`estimate_demand` says in its result which it used:

- ``samples`` (sample paths, the forecasts' ``samples_``): C is summed along each
  path and its quantiles are taken across paths: exact up to Monte Carlo error.
- ``quantiles`` (the forecasts' ``quantiles_`` with their levels): the quantiles of
  each day are added, level by level (a *comonotone* sum). That is exact when the
  days move together, path by path, as in sitroom's growth forecasts, whose one
  log-scale deviation is shared by every day of a path; with days less than fully
  dependent, the true interval of the sum is narrower (for the usual light- and
  log-normal-tailed forecasts), so the comonotone interval errs on the wide side,
  the safe side for stock. Prefer samples when there are any.
- ``expected`` (any given series of expected cases): no interval; every quantile is
  the sum itself, and the note says so.

**The population caps the cases.** The model assumes at most one episode per
person within a horizon of a few weeks (a deliberate upper bound on need), so the
cases at a place over the horizon are taken not to exceed the place's population
P[p]: given ``population``, each sample path's running total is
capped at P[p] (:func:`cap_cases`: the days after it reaches P[p] add nothing), the
comonotone sums and an expected series' total alike, so every quantile of C[p], and
of N[p, i] with it, is at most P[p] (times u_i). A growth forecast's upper tail four
weeks out can otherwise pass the population many times over. A place with no
population (NaN) is not capped. Paths within the cap are left exactly as given.

See docs/methods.md, "Supply: demand from the forecast".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

#: Quantile levels of every demand result: the median and the 50 % and 90 % intervals.
DEMAND_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)

DemandMethod = Literal["samples", "comonotone", "expected"]


@dataclass(frozen=True)
class TreatmentProtocol:
    """Units of each item one treated patient needs, and the share of cases treated.

    Parameters
    ----------
    units : mapping of item code to units per course (non-negative, finite)
    treated_share : float in [0, 1], default 1.0
        Share of the forecast cases that receive this course.
    name : str, optional
    """

    units: Mapping[str, float]
    treated_share: float = 1.0
    name: str = ""

    def __post_init__(self) -> None:
        share = float(self.treated_share)
        if not np.isfinite(share) or not 0.0 <= share <= 1.0:
            raise ValueError(f"treated_share of protocol {self.name!r} must be between 0 and 1")
        for item, units in self.units.items():
            value = float(units)
            if not np.isfinite(value) or value < 0:
                raise ValueError(
                    f"units of {item!r} in protocol {self.name!r} must be non-negative and finite"
                )


@dataclass(frozen=True)
class Demand:
    """Units needed per place and item over the horizon, with their interval.

    Every array of units has shape (n_places, n_items), places in the order given and
    items in the order of ``items``.

    Attributes
    ----------
    places : tuple of str
        Names of the places (``"1"``, ``"2"``, ... when none were given).
    items : tuple of str
        Item codes, in the order the protocols first name them.
    horizon : int
        Days summed (H).
    units_per_case : ndarray of shape (n_items,)
        u_i: units of item i per forecast case, the treated shares included.
    cases : ndarray of shape (n_places, 5)
        Total cases over the horizon at the levels of :data:`DEMAND_LEVELS`.
    median, lower_50, upper_50, lower_90, upper_90 : ndarray of shape (n_places, n_items)
        Total units needed: the median and the bounds of the 50 % and 90 % intervals
        (the 0.25 and 0.75, and the 0.05 and 0.95 quantiles).
    mean : ndarray of shape (n_places, n_items)
        Expected units (from the samples or the series; from the quantiles, the median
        stands in for it, the mean not being known).
    method : {"samples", "comonotone", "expected"}
        How the total over days was formed (module docstring).
    note : str
        One sentence saying how the interval was obtained, for the reader.
    population : ndarray of shape (n_places,), optional
        The cap on each place's cases over the horizon (NaN: none); None when not given.
    capped : tuple of str
        The places where the cap bound: some path (or the sum) reached the population.
    """

    places: tuple[str, ...]
    items: tuple[str, ...]
    horizon: int
    units_per_case: FloatArray
    cases: FloatArray
    median: FloatArray
    lower_50: FloatArray
    upper_50: FloatArray
    lower_90: FloatArray
    upper_90: FloatArray
    mean: FloatArray
    method: DemandMethod
    note: str
    levels: tuple[float, ...] = field(default=DEMAND_LEVELS)
    population: FloatArray | None = field(default=None, repr=False)
    capped: tuple[str, ...] = ()

    @property
    def daily(self) -> FloatArray:
        """Median units per day, (n_places, n_items): the median over the horizon / H."""
        per_day: FloatArray = self.median / self.horizon
        return per_day

    def table(self) -> list[dict[str, Any]]:
        """One row per place and item, plain Python values (for JSON and CSV)."""
        rows: list[dict[str, Any]] = []
        for p, place in enumerate(self.places):
            for i, item in enumerate(self.items):
                rows.append(
                    {
                        "place": place,
                        "item": item,
                        "horizon": self.horizon,
                        "median": float(self.median[p, i]),
                        "lower_50": float(self.lower_50[p, i]),
                        "upper_50": float(self.upper_50[p, i]),
                        "lower_90": float(self.lower_90[p, i]),
                        "upper_90": float(self.upper_90[p, i]),
                        "mean": float(self.mean[p, i]),
                    }
                )
        return rows


def units_per_case(
    protocols: TreatmentProtocol | Mapping[str, float] | Sequence[TreatmentProtocol],
) -> tuple[tuple[str, ...], FloatArray]:
    """Item codes and u_i, the units of each item per forecast case.

    A plain mapping is one protocol given to every case. Several protocols add up
    (for example paracetamol for every case and an antiviral for the 5 % treated).
    """
    if isinstance(protocols, TreatmentProtocol):
        listed: list[TreatmentProtocol] = [protocols]
    elif isinstance(protocols, Mapping):
        listed = [TreatmentProtocol(units=protocols)]
    else:
        listed = list(protocols)
    if not listed:
        raise ValueError("protocols must name at least one item")
    items: dict[str, float] = {}
    for protocol in listed:
        if not isinstance(protocol, TreatmentProtocol):
            raise TypeError("protocols must be TreatmentProtocol objects or one mapping")
        for item, units in protocol.units.items():
            items[item] = items.get(item, 0.0) + protocol.treated_share * float(units)
    if not items:
        raise ValueError("protocols must name at least one item")
    return tuple(items), np.array(list(items.values()), dtype=float)


def _populations(population: ArrayLike | None, n_places: int) -> FloatArray:
    """The cap of each place, (n_places,): +inf where none is given (NaN or None)."""
    if population is None:
        return np.full(n_places, np.inf)
    values = np.asarray(
        [np.nan if v is None else v for v in np.asarray(population, dtype=object).reshape(-1)],
        dtype=float,
    )
    if values.shape != (n_places,):
        raise ValueError(f"population names {values.size} places but the forecast has {n_places}")
    if (values[~np.isnan(values)] < 0).any() or np.isinf(values).any():
        raise ValueError("a population must be a number of people, 0 or more")
    return np.where(np.isnan(values), np.inf, values)


def cap_cases(daily: ArrayLike, population: ArrayLike | None) -> FloatArray:
    """Daily cases, (n_places, n_paths, H), each path's running total capped at its
    place's population (None or NaN: no cap).

    On the day a path's running total would pass P, it adds only what is left to
    reach P; the days after add nothing. The days before are returned exactly as
    given (not re-derived from the running total), so a cap that does not bind
    changes nothing, to the bit.
    """
    paths = np.array(daily, dtype=float)
    if paths.ndim != 3:
        raise ValueError("daily cases must have shape (n_places, n_paths, H)")
    cap = _populations(population, paths.shape[0])[:, None, None]
    running = np.cumsum(paths, axis=2)
    over = running > cap
    if over.any():
        left = np.diff(np.minimum(running, cap), axis=2, prepend=0.0)
        paths = np.where(over, left, paths)
    return paths


def _as_array(values: ArrayLike, name: str, ndim: int, shape: str) -> FloatArray:
    array = np.asarray(values, dtype=float)
    if array.ndim == ndim - 1:
        array = array[np.newaxis]
    if array.ndim != ndim or 0 in array.shape:
        raise ValueError(f"{name} must have shape {shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    if (array < 0).any():
        raise ValueError(f"{name} holds negative cases")
    return array


def _level_index(levels: Sequence[float]) -> list[int]:
    given = np.asarray(levels, dtype=float)
    index = []
    for level in DEMAND_LEVELS:
        hits = np.flatnonzero(np.isclose(given, level))
        if hits.size == 0:
            raise ValueError(
                f"quantile_levels must include {level} (the median and the 50 % and 90 % "
                f"intervals need {', '.join(str(v) for v in DEMAND_LEVELS)})"
            )
        index.append(int(hits[0]))
    return index


def estimate_demand(
    protocols: TreatmentProtocol | Mapping[str, float] | Sequence[TreatmentProtocol],
    *,
    samples: ArrayLike | None = None,
    quantiles: ArrayLike | None = None,
    quantile_levels: Sequence[float] = DEMAND_LEVELS,
    expected: ArrayLike | None = None,
    horizon: int | None = None,
    places: Sequence[str] | None = None,
    population: ArrayLike | None = None,
) -> Demand:
    """Units needed per place and item over the horizon, from a forecast of cases.

    Give exactly one of ``samples``, ``quantiles`` or ``expected``.

    Parameters
    ----------
    protocols : TreatmentProtocol, mapping of item to units per case, or a sequence
        of TreatmentProtocol (they add up).
    samples : array-like of shape (n_samples, H) or (n_places, n_samples, H)
        Sample paths of daily new cases (a forecast's ``samples_``). Exact.
    quantiles : array-like of shape (H, n_levels) or (n_places, H, n_levels)
        Quantiles of daily new cases (a forecast's ``quantiles_``), at
        ``quantile_levels``, which must include 0.05, 0.25, 0.5, 0.75 and 0.95.
        Summed level by level over the days (comonotone; module docstring).
    expected : array-like of shape (H,) or (n_places, H)
        Any series of expected daily cases; no interval.
    horizon : int, optional
        Use only the first ``horizon`` days (default: all H given).
    places : sequence of str, optional
        Names of the places, one per row.
    population : array-like of shape (n_places,), optional
        People at each place: the cases over the horizon are capped at it (module
        docstring; :func:`cap_cases`). NaN or None for a place: no cap.

    Returns
    -------
    Demand
    """
    if sum(v is not None for v in (samples, quantiles, expected)) != 1:
        raise ValueError("give exactly one of samples, quantiles or expected")
    items, per_case = units_per_case(protocols)
    method: DemandMethod
    if samples is not None:
        paths = _as_array(samples, "samples", 3, "(n_samples, H) or (n_places, n_samples, H)")
        paths = paths[:, :, : _horizon(horizon, paths.shape[2])]
        cap = _populations(population, paths.shape[0])
        bound = paths.sum(axis=2).max(axis=1) > cap
        paths = cap_cases(paths, population)
        days = paths.shape[2]
        totals = paths.sum(axis=2)
        cases = np.quantile(totals, DEMAND_LEVELS, axis=1).T
        mean_cases = totals.mean(axis=1)
        method = "samples"
        note = (
            f"Interval from {paths.shape[1]:,} sample paths of the forecast, summed over "
            f"{days} days."
        )
    elif quantiles is not None:
        q = _as_array(quantiles, "quantiles", 3, "(H, n_levels) or (n_places, H, n_levels)")
        if q.shape[2] != len(quantile_levels):
            raise ValueError(
                f"quantiles has {q.shape[2]} levels on its last axis but quantile_levels "
                f"names {len(quantile_levels)}"
            )
        q = q[:, : _horizon(horizon, q.shape[1]), :]
        days = q.shape[1]
        # Quantiles must not cross; sorting along the levels mends rounding noise only.
        cases = np.sort(q[:, :, _level_index(quantile_levels)], axis=2).sum(axis=1)
        cap = _populations(population, cases.shape[0])
        bound = cases.max(axis=1) > cap
        cases = np.minimum(cases, cap[:, None])
        mean_cases = cases[:, 2]
        method = "comonotone"
        note = (
            f"Interval from the forecast's daily quantiles added over {days} days (as if "
            "the days moved together): exact for paths that rise and fall as one, wider "
            "than the truth otherwise."
        )
    else:
        assert expected is not None  # one of the three was given, checked above
        series = _as_array(expected, "expected", 2, "(H,) or (n_places, H)")
        series = series[:, : _horizon(horizon, series.shape[1])]
        cap = _populations(population, series.shape[0])
        bound = series.sum(axis=1) > cap
        series = cap_cases(series[:, None, :], population)[:, 0, :]
        days = series.shape[1]
        mean_cases = series.sum(axis=1)
        cases = np.repeat(mean_cases[:, None], len(DEMAND_LEVELS), axis=1)
        method = "expected"
        note = f"Expected cases summed over {days} days; the series given carries no interval."

    n_places = cases.shape[0]
    names = _place_names(places, n_places)
    capped = tuple(name for name, hit in zip(names, bound, strict=True) if hit)
    if capped:
        note += (
            " Cases over the horizon are capped at the population:"
            + (" some paths reached it" if method == "samples" else " it was reached")
            + f" in {len(capped)} of {n_places} places."
        )
    units = cases[:, None, :] * per_case[None, :, None]
    return Demand(
        places=names,
        items=items,
        horizon=days,
        units_per_case=per_case,
        cases=cases,
        median=units[:, :, 2],
        lower_50=units[:, :, 1],
        upper_50=units[:, :, 3],
        lower_90=units[:, :, 0],
        upper_90=units[:, :, 4],
        mean=mean_cases[:, None] * per_case[None, :],
        method=method,
        note=note,
        population=None if population is None else np.where(np.isinf(cap), np.nan, cap),
        capped=capped,
    )


def demand_from_forecast(
    forecast: Any,
    protocols: TreatmentProtocol | Mapping[str, float] | Sequence[TreatmentProtocol],
    *,
    horizon: int | None = None,
    places: Sequence[str] | None = None,
    population: ArrayLike | None = None,
) -> Demand:
    """:func:`estimate_demand` on a fitted forecast of :mod:`sitroom.epi.forecast`.

    Uses its ``samples_`` (exact) when it has them, else its ``quantiles_`` at its
    ``quantiles`` levels (comonotone); ``population`` caps the cases as there.
    """
    samples = getattr(forecast, "samples_", None)
    if samples is not None:
        return estimate_demand(
            protocols, samples=samples, horizon=horizon, places=places, population=population
        )
    quantiles = getattr(forecast, "quantiles_", None)
    if quantiles is None:
        raise ValueError("forecast has neither samples_ nor quantiles_: fit it first")
    return estimate_demand(
        protocols,
        quantiles=quantiles,
        quantile_levels=tuple(forecast.quantiles),
        horizon=horizon,
        places=places,
        population=population,
    )


def _horizon(horizon: int | None, available: int) -> int:
    if horizon is None:
        return available
    if not 1 <= horizon <= available:
        raise ValueError(f"horizon must be between 1 and {available} (the days forecast)")
    return horizon


def _place_names(places: Sequence[str] | None, n_places: int) -> tuple[str, ...]:
    if places is None:
        return tuple(str(p + 1) for p in range(n_places))
    names = tuple(str(p) for p in places)
    if len(names) != n_places:
        raise ValueError(f"places names {len(names)} places but the forecast has {n_places}")
    return names
