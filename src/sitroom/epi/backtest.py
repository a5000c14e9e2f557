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
Forecaster = Callable[[FloatArray, int], FloatArray]


def _naive(point: Callable[[FloatArray], float], name: str) -> Forecaster:
    def forecast(history: FloatArray, horizon: int) -> FloatArray:
        centre = point(history)
        # Past errors of the same rule at each lead time, as log ratios.
        errors: list[FloatArray] = []
        for lead in range(1, horizon + 1):
            ratios: list[float] = []
            for origin in range(8, history.size - lead + 1):
                guess = point(history[:origin])
                actual = history[origin + lead - 1]
                ratios.append(float(np.log1p(actual) - np.log1p(guess)))
            errors.append(np.array(ratios, dtype=float) if ratios else np.zeros(1))
        out = np.empty((horizon, len(LEVELS)))
        for lead, past in enumerate(errors):
            out[lead] = np.maximum(np.expm1(np.log1p(centre) + np.quantile(past, LEVELS)), 0)
        return out

    forecast.__name__ = name
    return forecast


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

    The relative WIS is each model's mean WIS divided by that of the first
    forecaster named ``last_value`` (if present).
    """
    y = as_counts(series, "series")[0]
    origins = range(min_history, y.size - horizon + 1, step)
    if len(origins) == 0:
        raise ValueError(f"need more than {min_history + horizon} days to backtest")
    results = []
    for name, forecaster in forecasters.items():
        scores = np.zeros((len(origins), horizon))
        in50 = np.zeros_like(scores, dtype=bool)
        in90 = np.zeros_like(scores, dtype=bool)
        for i, origin in enumerate(origins):
            q = np.asarray(forecaster(y[:origin], horizon))
            actual = y[origin : origin + horizon]
            scores[i] = weighted_interval_score(actual, q)
            in50[i] = (q[:, 1] <= actual) & (actual <= q[:, 3])
            in90[i] = (q[:, 0] <= actual) & (actual <= q[:, 4])
        results.append(
            BacktestResult(
                name=name,
                coverage_50=float(in50.mean()),
                coverage_90=float(in90.mean()),
                wis=float(scores.mean()),
                per_horizon_wis=scores.mean(axis=0).tolist(),
                per_horizon_coverage_50=in50.mean(axis=0).tolist(),
                per_horizon_coverage_90=in90.mean(axis=0).tolist(),
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
            ratios = np.array(
                [
                    np.asarray(m.per_horizon_wis) / np.asarray(t.per_horizon_wis)
                    for m, t in zip(mine, theirs, strict=True)
                    if t is not None
                ]
            )
            relative[base] = np.exp(np.log(ratios).mean(axis=0)).tolist()
            totals = np.array([m.wis / t.wis for m, t in zip(mine, theirs, strict=True) if t])
            overall[base] = float(np.exp(np.log(totals).mean()))
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
