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


def _median_valid(values: NDArray[np.float64], valid: NDArray[np.intp]) -> NDArray[np.float64]:
    """Median along the last axis of the finite entries, whose count per slice is ``valid``.

    NaNs are sorted last (as +inf); the median is picked by index from each
    slice's own count, so every slice needs one sort and no Python loop.
    """
    ordered = np.sort(np.where(np.isnan(values), np.inf, values), axis=-1)
    k = np.maximum(valid, 1)[..., None]
    low = np.take_along_axis(ordered, (k - 1) // 2, axis=-1)[..., 0]
    high = np.take_along_axis(ordered, k // 2, axis=-1)[..., 0]
    middle = (low + high) / 2
    return np.where(valid > 0, middle, np.nan)


def trend_outliers_many(
    counts: NDArray[np.float64],
    *,
    window: int = 14,
    min_history: int = 7,
    threshold: float = 6.0,
    min_count: float = 20,
    min_spread: float = 0.15,
) -> OutlierResult:
    """Screen many daily series at once: ``counts`` has shape ``(n_series, n_days)``.

    The same screen as :func:`trend_outliers`, on every day of every series in
    array operations: each day's window of the previous ``window`` days, the
    Theil-Sen slope as the median of all pairwise slopes, the intercept and the
    spread as medians of the window's residuals. Days are placed relative to
    the day screened (the line is evaluated at 0), which changes nothing but
    the last bits of the floating point.
    """
    counts = np.atleast_2d(np.asarray(counts, dtype=float))
    n_series, n = counts.shape
    logs = np.log1p(counts)
    padded = np.concatenate([np.full((n_series, window), np.nan), logs], axis=1)
    # y[s, t, k]: the log count of day t - window + k (k = 0 .. window-1).
    y = np.lib.stride_tricks.sliding_window_view(padded, window, axis=1)[:, :n, :]
    x = np.arange(window, dtype=float) - window  # days relative to the day screened
    valid = np.count_nonzero(~np.isnan(y), axis=-1)
    i, j = np.triu_indices(window, k=1)
    slopes = (y[..., j] - y[..., i]) / (x[j] - x[i])
    pairs = valid * (valid - 1) // 2
    slope = _median_valid(slopes, pairs)
    intercept = _median_valid(y - slope[..., None] * x, valid)
    residuals = y - (intercept[..., None] + slope[..., None] * x)
    centre = _median_valid(residuals, valid)
    spread = MAD_SCALE * _median_valid(np.abs(residuals - centre[..., None]), valid)
    predicted = intercept
    level = np.expm1(predicted)
    with np.errstate(invalid="ignore", divide="ignore"):
        floor = np.hypot(1.0 / np.sqrt(np.maximum(level, 1.0)), min_spread)
        z = (logs - predicted) / np.maximum(spread, floor)
    checked = ~np.isnan(counts) & (valid >= min_history)
    expected = np.where(checked, np.maximum(level, 0.0), np.nan)
    score = np.where(checked, z, np.nan)
    with np.errstate(invalid="ignore"):
        flagged = checked & (np.abs(z) > threshold) & (np.abs(counts - level) >= min_count)
    return OutlierResult(expected, score, flagged)


def _theil_sen(x: NDArray[Any], y: NDArray[Any]) -> tuple[float, float]:
    i, j = np.triu_indices(x.size, k=1)
    slopes = (y[j] - y[i]) / (x[j] - x[i])
    slope = float(np.median(slopes))
    intercept = float(np.median(y - slope * x))
    return slope, intercept


def trend_outliers_loop(
    counts: NDArray[np.float64],
    *,
    window: int = 14,
    min_history: int = 7,
    threshold: float = 6.0,
    min_count: float = 20,
    min_spread: float = 0.15,
) -> OutlierResult:
    """The screen day by day, as first written: the reference for the vectorised one.

    ``counts`` has shape ``(n_days,)`` with NaN for missing days. Kept for the
    tests, which require :func:`trend_outliers` to give the same results.
    """
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
    many = trend_outliers_many(
        np.asarray(counts, dtype=float)[None, :],
        window=window,
        min_history=min_history,
        threshold=threshold,
        min_count=min_count,
        min_spread=min_spread,
    )
    return OutlierResult(many.expected[0], many.score[0], many.flagged[0])
