"""Rolling-origin backtests of forecasts: interval coverage and weighted interval score.

At each origin the forecaster sees only the days before it, forecasts
``horizon`` days, and is scored against what happened. Two naive baselines
are scored the same way: the last value, and the mean of the last week; their
intervals come from the empirical distribution of their own past errors
(on the log scale), as the COVID-19 Forecast Hub's baseline does.

Weighted interval score (Bracher et al. 2021, PLoS Comput Biol 17:e1008618):

    WIS = 1/(K + 1/2) * (1/2 |y - m| + sum_k alpha_k/2 * IS_alpha_k)
    IS_alpha = (u - l) + 2/alpha (l - y)[y < l] + 2/alpha (y - u)[y > u]

over the central intervals the quantiles define (here 50 % and 90 %).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from sitroom.epi._checks import FloatArray, as_counts

#: Quantiles every forecast must give: the 90 % and 50 % intervals and the median.
LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)


def interval_score(y: FloatArray, low: FloatArray, high: FloatArray, alpha: float) -> FloatArray:
    """The interval score of the central (1 - alpha) interval [low, high]."""
    return (high - low) + 2 / alpha * (low - y) * (y < low) + 2 / alpha * (y - high) * (y > high)


def weighted_interval_score(y: ArrayLike, quantiles: ArrayLike) -> FloatArray:
    """WIS from quantiles at :data:`LEVELS` (last axis) for observations ``y``."""
    obs = np.asarray(y, dtype=float)
    q = np.asarray(quantiles, dtype=float)
    median = q[..., 2]
    total = 0.5 * np.abs(obs - median)
    total = total + 0.1 / 2 * interval_score(obs, q[..., 0], q[..., 4], 0.1)
    total = total + 0.5 / 2 * interval_score(obs, q[..., 1], q[..., 3], 0.5)
    return np.asarray(total / (2 + 0.5), dtype=float)


#: A forecaster: (history of shape (n_days,), horizon) -> quantiles (horizon, len(LEVELS)).
#: A forecaster with an attribute ``takes_gaps`` set true is given the history
#: with its unreported days as NaN (it fills them itself, from those days only);
#: the others are given it filled by :func:`causal_fill`.
Forecaster = Callable[[FloatArray, int], FloatArray]


#: Fewest past errors at a lead that make an interval (fewer: see :func:`_naive`).
MIN_ERRORS = 5


def _naive(point: Callable[[FloatArray], float], name: str) -> Forecaster:
    def forecast(history: FloatArray, horizon: int) -> FloatArray:
        centre = point(history)
        # Past errors of the same rule at each lead time, as log ratios.
        errors: list[FloatArray] = []
        for lead in range(1, horizon + 1):
            ratios = [
                float(np.log1p(history[origin + lead - 1]) - np.log1p(point(history[:origin])))
                for origin in range(8, history.size - lead + 1)
            ]
            errors.append(np.array(ratios, dtype=float))
        out = np.empty((horizon, len(LEVELS)))
        for lead, past in enumerate(errors):
            if past.size >= MIN_ERRORS:
                offsets = np.quantile(past, LEVELS)
            else:
                # Too few errors this far ahead (early in a series): those of the
                # farthest lead that has enough, widened as a random walk would.
                known = max((i for i, e in enumerate(errors) if e.size >= MIN_ERRORS), default=None)
                if known is None:
                    offsets = np.zeros(len(LEVELS))
                else:
                    offsets = np.quantile(errors[known], LEVELS) * np.sqrt((lead + 1) / (known + 1))
            out[lead] = np.maximum(np.expm1(np.log1p(centre) + offsets), 0)
        return out

    forecast.__name__ = name
    return forecast


def causal_fill(history: FloatArray) -> FloatArray:
    """Gaps filled with what was known then: linear between reported days, the last one after.

    A backtest must not fill a gap from a day after its origin.
    """
    values = np.asarray(history, dtype=float).copy()
    missing = np.isnan(values)
    if not missing.any():
        return values
    known = np.flatnonzero(~missing)
    if known.size == 0:
        raise ValueError("no day of the history was reported")
    values[missing] = np.interp(np.flatnonzero(missing), known, values[known])
    return values


#: Tomorrow and after are today's value.
last_value = _naive(lambda h: float(h[-1]), "last_value")
#: Every coming day is the mean of the last seven.
week_mean = _naive(lambda h: float(h[-7:].mean()), "week_mean")


@dataclass
class BacktestResult:
    """Scores of one forecaster over all origins and lead times."""

    name: str
    coverage_50: float
    coverage_90: float
    wis: float
    relative_wis: float | None = None
    per_horizon_wis: list[float] = field(default_factory=list)
    per_horizon_coverage_50: list[float] = field(default_factory=list)
    per_horizon_coverage_90: list[float] = field(default_factory=list)
    #: WIS of every origin (rows) and lead (columns), for pooling across series.
    scores: FloatArray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "coverage_50": self.coverage_50,
            "coverage_90": self.coverage_90,
            "wis": self.wis,
            "relative_wis": self.relative_wis,
            "per_horizon_wis": list(self.per_horizon_wis),
            "per_horizon_coverage_50": list(self.per_horizon_coverage_50),
            "per_horizon_coverage_90": list(self.per_horizon_coverage_90),
        }


def backtest(
    series: ArrayLike,
    forecasters: dict[str, Forecaster],
    *,
    horizon: int = 7,
    min_history: int = 21,
    step: int = 1,
) -> list[BacktestResult]:
    """Score each forecaster at every origin from ``min_history`` on, every ``step`` days.

    ``series`` may have gaps (NaN, days not reported): each history is filled
    with what was known at its origin (:func:`causal_fill`), or passed with
    its gaps to a forecaster that ``takes_gaps``, and days not reported are
    not scored. The relative WIS is each model's mean WIS divided
    by that of the forecaster named ``last_value`` (if present).
    """
    y = as_counts(series, "series", allow_nan=True)[0]
    origins = range(min_history, y.size - horizon + 1, step)
    if len(origins) == 0:
        raise ValueError(f"need at least {min_history + horizon} days to backtest")
    results = []
    for name, forecaster in forecasters.items():
        scores = np.full((len(origins), horizon), np.nan)
        in50 = np.full_like(scores, np.nan)
        in90 = np.full_like(scores, np.nan)
        takes_gaps = bool(getattr(forecaster, "takes_gaps", False))
        for i, origin in enumerate(origins):
            seen_before = y[:origin] if takes_gaps else causal_fill(y[:origin])
            q = np.asarray(forecaster(seen_before, horizon))
            actual = y[origin : origin + horizon]
            seen = ~np.isnan(actual)
            scores[i, seen] = weighted_interval_score(actual[seen], q[seen])
            in50[i, seen] = (q[seen, 1] <= actual[seen]) & (actual[seen] <= q[seen, 3])
            in90[i, seen] = (q[seen, 0] <= actual[seen]) & (actual[seen] <= q[seen, 4])
        results.append(
            BacktestResult(
                name=name,
                coverage_50=float(np.nanmean(in50)),
                coverage_90=float(np.nanmean(in90)),
                wis=float(np.nanmean(scores)),
                per_horizon_wis=np.nanmean(scores, axis=0).tolist(),
                per_horizon_coverage_50=np.nanmean(in50, axis=0).tolist(),
                per_horizon_coverage_90=np.nanmean(in90, axis=0).tolist(),
                scores=scores,
            )
        )
    reference = next((r.wis for r in results if r.name == "last_value"), None)
    for result in results:
        if reference:
            result.relative_wis = result.wis / reference
    return results


#: The naive baselines every model is measured against.
BASELINES = ("last_value", "week_mean")


@dataclass
class PooledSkill:
    """One model's skill over several series, per lead time and overall.

    ``relative_wis[baseline][h]`` is the geometric mean over the series of the
    model's mean WIS at lead h + 1 divided by the baseline's (the Forecast
    Hubs' pairwise relative WIS); below 1 the model is better. ``overall``
    does the same with the WIS averaged over all leads. Coverage is the mean
    over the series of each series' share of outcomes inside the interval.
    """

    name: str
    relative_wis: dict[str, list[float]]
    relative_wis_overall: dict[str, float]
    coverage_50: list[float]
    coverage_90: list[float]
    coverage_50_overall: float
    coverage_90_overall: float


def pool(per_series: dict[str, list[BacktestResult]]) -> list[PooledSkill]:
    """Pool the backtests of several series (each scored on the same models)."""
    if not per_series:
        raise ValueError("no series to pool")
    first = next(iter(per_series.values()))
    names = [r.name for r in first]
    pooled = []
    for name in names:
        mine = [next(r for r in results if r.name == name) for results in per_series.values()]
        relative: dict[str, list[float]] = {}
        overall: dict[str, float] = {}
        for base in BASELINES:
            theirs = [
                next((r for r in results if r.name == base), None)
                for results in per_series.values()
            ]
            if any(t is None for t in theirs):
                continue
            # A series both forecast perfectly (all zeros) says nothing of skill: left out.
            pairs = [(m, t) for m, t in zip(mine, theirs, strict=True) if t is not None]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = np.array(
                    [
                        np.asarray(m.per_horizon_wis) / np.asarray(t.per_horizon_wis)
                        for m, t in pairs
                    ]
                )
                totals = np.array([m.wis / t.wis if t.wis > 0 else np.nan for m, t in pairs])
            usable = np.isfinite(ratios) & (ratios > 0)
            logs = np.where(usable, np.log(np.where(usable, ratios, 1.0)), np.nan)
            relative[base] = np.exp(np.nanmean(logs, axis=0)).tolist()
            kept = totals[np.isfinite(totals) & (totals > 0)]
            overall[base] = float(np.exp(np.log(kept).mean())) if kept.size else float("nan")
        pooled.append(
            PooledSkill(
                name=name,
                relative_wis=relative,
                relative_wis_overall=overall,
                coverage_50=np.mean([m.per_horizon_coverage_50 for m in mine], axis=0).tolist(),
                coverage_90=np.mean([m.per_horizon_coverage_90 for m in mine], axis=0).tolist(),
                coverage_50_overall=float(np.mean([m.coverage_50 for m in mine])),
                coverage_90_overall=float(np.mean([m.coverage_90 for m in mine])),
            )
        )
    return pooled
