"""Outbreak alerts: EARS C1, C2, C3 and CUSUM, vectorised over series.

EARS (Hutwagner et al. 2003; as the R package ``surveillance``'s ``earsC``):
each day is compared with the mean and standard deviation (ddof = 1) of a
``baseline`` of earlier days,

    C1: the ``baseline`` days just before today;
    C2: the same, ending 2 days earlier (a 2-day guard band, so the start of
        an outbreak does not hide in its own baseline);
    C_t = (y_t - mean) / max(sd, min_sigma),  alarm when C_t > z(1 - alpha);
    C3: the CDC's definition, C3_t = sum over days t-2, t-1, t of max(0, C2 - 1),
        alarm when C3_t > z(1 - alpha).

``surveillance`` implements C3 without the current day's term (its upper bound
uses only the C2 of days t-2 and t-1); ``variant="surveillance"`` reproduces
that. We default to the CDC's definition because it is the published method
and reacts on the day the count jumps; see docs/methods.md.

CUSUM (``surveillance::algo.cusum`` defaults): with m the mean of the days
before monitoring starts, z_t = (y_t - m) / sqrt(m), S_t = max(0, S_{t-1} +
z_t - k), alarm when S_t >= h; k = 1.04, h = 2.26, no reset after an alarm.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from sitroom.epi._checks import FloatArray, as_counts, squeeze_like


@dataclass(frozen=True)
class AlertResult:
    """Per-day statistic, threshold and alarm (NaN/False before the baseline is complete).

    Arrays have shape (n_days,) for one series or (n_series, n_days).
    """

    method: str
    statistic: FloatArray
    upperbound: FloatArray
    alarm: np.ndarray
    threshold: float


def _baseline_stats(y: FloatArray, baseline: int, lag: int) -> tuple[FloatArray, FloatArray]:
    """Mean and sd (ddof 1) of the ``baseline`` days ending ``lag + 1`` days before each day.

    C1 (lag 0) uses days t-7..t-1, C2 (lag 2) days t-9..t-3; NaN where incomplete.
    """
    n_series, n_days = y.shape
    mean = np.full((n_series, n_days), np.nan)
    sd = np.full((n_series, n_days), np.nan)
    first = baseline + lag  # the first day with a complete baseline
    if n_days > first:
        view = np.lib.stride_tricks.sliding_window_view(y, baseline, axis=1)
        starts = np.arange(first, n_days) - lag - baseline
        windows = view[:, starts, :]
        mean[:, first:] = windows.mean(axis=2)
        sd[:, first:] = windows.std(axis=2, ddof=1)
    return mean, sd


def _standardised(y: FloatArray, mean: FloatArray, sd: FloatArray, min_sigma: float) -> FloatArray:
    scale = np.maximum(sd, min_sigma)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (y - mean) / scale
    # A flat baseline (sd = 0): any rise is infinitely unusual, no change is 0.
    z = np.where((scale == 0) & (y > mean), np.inf, z)
    return np.where((scale == 0) & (y == mean), 0.0, z)


def ears(
    counts: ArrayLike,
    *,
    method: Literal["C1", "C2", "C3"] = "C1",
    baseline: int = 7,
    alpha: float | None = None,
    min_sigma: float = 0.0,
    variant: Literal["cdc", "surveillance"] = "cdc",
    threshold: float | None = None,
) -> AlertResult:
    """EARS C1, C2 or C3 for each day of each series.

    Parameters
    ----------
    counts : array-like of shape (n_days,) or (n_series, n_days)
    method : {"C1", "C2", "C3"}
    baseline : int, default 7
    alpha : float, optional
        False-alarm rate; default 0.001 for C1 and C2, 0.025 for C3 (as surveillance).
    min_sigma : float, default 0
        Floor of the baseline standard deviation.
    variant : {"cdc", "surveillance"}
        Which C3 (see the module docstring); ignored for C1 and C2.
    threshold : float, optional
        The alarm threshold itself, instead of z(1 - alpha): the CDC's
        original EARS used 3 for C1 and C2 and 2 for C3, where ``surveillance``
        uses z(0.999) = 3.09 and z(0.975) = 1.96.
    """
    if method not in ("C1", "C2", "C3"):
        raise ValueError("method must be C1, C2 or C3")
    if baseline < 2:
        raise ValueError("baseline must be at least 2 days")
    one = np.ndim(counts) == 1
    y = as_counts(counts, "counts")
    alpha = alpha if alpha is not None else (0.025 if method == "C3" else 0.001)
    z_alpha = float(stats.norm.ppf(1 - alpha)) if threshold is None else float(threshold)
    lag = 0 if method == "C1" else 2
    mean, sd = _baseline_stats(y, baseline, lag)
    c = _standardised(y, mean, sd, min_sigma)
    scale = np.maximum(sd, min_sigma)
    if method in ("C1", "C2"):
        upper = mean + z_alpha * scale
        alarm = np.nan_to_num(c, nan=-np.inf) > z_alpha
        return AlertResult(
            method,
            squeeze_like(c, one),
            squeeze_like(upper, one),
            squeeze_like(alarm, one),
            z_alpha,
        )
    part = np.maximum(c - 1, 0)
    lagged = np.full_like(part, np.nan)
    lagged[:, 2:] = part[:, :-2] + part[:, 1:-1]
    if variant == "surveillance":
        statistic = lagged
        upper = np.maximum(y + scale * (z_alpha - lagged), 0)
        alarm = y > upper
    else:
        statistic = lagged + part
        # The largest count today that raises no alarm.
        upper = np.maximum(mean + scale * (1 + np.maximum(z_alpha - lagged, 0)), 0)
        alarm = np.nan_to_num(statistic, nan=-np.inf) > z_alpha
    alarm = alarm & np.isfinite(lagged)
    return AlertResult(
        f"C3 ({variant})",
        squeeze_like(statistic, one),
        squeeze_like(upper, one),
        squeeze_like(alarm, one),
        z_alpha,
    )


def cusum(
    counts: ArrayLike, *, start: int, k: float = 1.04, h: float = 2.26, m: float | None = None
) -> AlertResult:
    """Poisson CUSUM from day ``start`` (0-based) on, as ``surveillance::algo.cusum``.

    ``m`` defaults to the mean of the days before ``start``.
    """
    one = np.ndim(counts) == 1
    y = as_counts(counts, "counts")
    n_series, n_days = y.shape
    if not 1 <= start < n_days:
        raise ValueError(f"start must be between 1 and {n_days - 1}")
    mu = y[:, :start].mean(axis=1) if m is None else np.full(n_series, float(m))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (y[:, start:] - mu[:, None]) / np.sqrt(mu[:, None])
    s = np.zeros((n_series, n_days))
    upper = np.full((n_series, n_days), np.nan)
    prev = np.zeros(n_series)
    for i, t in enumerate(range(start, n_days)):
        upper[:, t] = np.ceil(np.sqrt(mu) * (h + k - prev) + mu)
        prev = np.maximum(0.0, prev + z[:, i] - k)
        s[:, t] = prev
    s[:, :start] = np.nan
    alarm = np.nan_to_num(s, nan=-np.inf) >= h
    upper = np.maximum(np.nan_to_num(upper, nan=0.0), 0)
    upper[:, :start] = np.nan
    return AlertResult(
        "CUSUM", squeeze_like(s, one), squeeze_like(upper, one), squeeze_like(alarm, one), h
    )
