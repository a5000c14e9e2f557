"""Robust outlier screen for daily counts, against each series' own recent trend.

Pure numpy. For each day, a straight line is fitted to ``log(1 + x)`` over the
previous ``window`` days by the Theil-Sen estimator (the median of pairwise
slopes), so steady exponential growth or decline is the expectation, not an
anomaly. The day is an outlier when its distance from the line, in units of
the robust spread of the recent residuals (1.4826 x MAD), exceeds
``threshold``, and the absolute difference is at least ``min_count``.
The spread has a floor: the Poisson noise expected at that level combined with
``min_spread``, a day-to-day relative variation that reported counts always
have; so a perfectly smooth history does not make every wobble an outlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

MAD_SCALE = 1.4826


@dataclass(frozen=True)
class OutlierResult:
    """Per-day results for one series (arrays of shape ``(n_days,)``)."""

    expected: NDArray[np.float64]  # expected count from the trend (NaN: not checked)
    score: NDArray[np.float64]  # robust z-score on the log scale (NaN: not checked)
    flagged: NDArray[np.bool_]


def _theil_sen(x: NDArray[Any], y: NDArray[Any]) -> tuple[float, float]:
    i, j = np.triu_indices(x.size, k=1)
    slopes = (y[j] - y[i]) / (x[j] - x[i])
    slope = float(np.median(slopes))
    intercept = float(np.median(y - slope * x))
    return slope, intercept


def trend_outliers(
    counts: NDArray[np.float64],
    *,
    window: int = 14,
    min_history: int = 7,
    threshold: float = 6.0,
    min_count: float = 20,
    min_spread: float = 0.15,
) -> OutlierResult:
    """Screen one daily series; ``counts`` has shape ``(n_days,)`` with NaN for missing days."""
    counts = np.asarray(counts, dtype=float)
    n = counts.size
    expected = np.full(n, np.nan)
    score = np.full(n, np.nan)
    flagged = np.zeros(n, dtype=bool)
    logs = np.log1p(counts)
    days = np.arange(n, dtype=float)
    for t in range(n):
        if np.isnan(counts[t]):
            continue
        lo = max(0, t - window)
        mask = ~np.isnan(counts[lo:t])
        if mask.sum() < min_history:
            continue
        x, y = days[lo:t][mask], logs[lo:t][mask]
        slope, intercept = _theil_sen(x, y)
        residuals = y - (intercept + slope * x)
        spread = MAD_SCALE * float(np.median(np.abs(residuals - np.median(residuals))))
        predicted = intercept + slope * t
        level = float(np.expm1(predicted))
        # Poisson noise of a count near `level`, on the log scale: 1/sqrt(level).
        # Reported counts vary more than Poisson from day to day (batching,
        # late reports): `min_spread` adds that extra relative variation.
        floor = float(np.hypot(1.0 / np.sqrt(max(level, 1.0)), min_spread))
        z = (logs[t] - predicted) / max(spread, floor)
        expected[t] = max(level, 0.0)
        score[t] = z
        flagged[t] = abs(z) > threshold and abs(counts[t] - level) >= min_count
    return OutlierResult(expected, score, flagged)
