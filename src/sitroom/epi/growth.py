"""Growth rate and doubling time by log-linear regression, as the R package ``incidence``.

For counts y_i at days x_i (zero counts dropped, since their log is
undefined), ordinary least squares of log(y) on x gives the daily growth
rate r (the slope) with a t-distribution confidence interval on n - 2
degrees of freedom. Doubling time is log(2)/r (a halving time when r < 0).

Reference: Jombart T, Kamvar ZN, FitzJohn R, et al. incidence: Compute,
Handle, Plot and Model Incidence of Dated Events. R package (reconhub).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from sitroom.epi._checks import FloatArray, as_counts, squeeze_like


def bin_counts(days: ArrayLike, interval: int) -> tuple[FloatArray, FloatArray]:
    """Counts of events per ``interval``-day bin starting at the first day, as ``incidence()``.

    Returns the bin centres (days since the first bin start, plus half an
    interval) and the counts.
    """
    values = np.asarray(days, dtype=int)
    first = values.min()
    index = (values - first) // interval
    counts = np.bincount(index).astype(float)
    centres = np.arange(counts.size, dtype=float) * interval + interval / 2
    return centres.astype(float), counts


def _ols(x: FloatArray, y: FloatArray, mask: FloatArray) -> dict[str, FloatArray]:
    """Weighted (0/1) least squares of y on x, row by row. Shapes (n, m)."""
    n = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        x_bar = (mask * x).sum(axis=1) / n
        y_bar = (mask * y).sum(axis=1) / n
        dx = np.where(mask > 0, x - x_bar[:, None], 0.0)
        dy = np.where(mask > 0, y - y_bar[:, None], 0.0)
        sxx = (dx * dx).sum(axis=1)
        slope = (dx * dy).sum(axis=1) / sxx
        intercept = y_bar - slope * x_bar
        resid = np.where(mask > 0, dy - slope[:, None] * dx, 0.0)
        se = np.sqrt((resid * resid).sum(axis=1) / (n - 2) / sxx)
    return {"n": n, "slope": slope, "intercept": intercept, "se": se}


class LogLinearGrowth:
    """Daily growth rate with a confidence interval, over the whole series or sliding windows.

    Parameters
    ----------
    window : int, optional
        Fit every window of this many points (ending at each point from the
        ``window``-th on). Default: one fit over the whole series.
    level : float, default 0.95
        Confidence level of the intervals.

    Attributes
    ----------
    r_ : ndarray of shape (n_fits,) or (n_series, n_fits)
        Growth rate per day (NaN where fewer than 3 non-zero counts).
    r_low_, r_high_ : ndarray
        Confidence interval of r.
    doubling_time_ : ndarray
        log(2) / r in days (negative: a halving time).
    doubling_low_, doubling_high_ : ndarray
        log(2) / r_low_ and log(2) / r_high_ (as ``incidence`` prints them;
        when the interval of r spans 0 the doubling time is unbounded).
    intercept_ : ndarray
        Fitted log count at x = 0.
    end_ : ndarray of shape (n_fits,)
        Index of the last point of each fit.
    """

    def __init__(self, *, window: int | None = None, level: float = 0.95) -> None:
        self.window = window
        self.level = level

    def fit(self, counts: ArrayLike, days: ArrayLike | None = None) -> LogLinearGrowth:
        """Fit ``counts`` (shape (n_points,) or (n_series, n_points)) at ``days``."""
        one = np.ndim(counts) == 1
        y = as_counts(counts, "counts")
        n_series, n_points = y.shape
        x = np.arange(n_points, dtype=float) if days is None else np.asarray(days, dtype=float)
        if x.shape != (n_points,):
            raise ValueError("days must have one value per count")
        if self.window is None:
            xs, ys = np.broadcast_to(x, y.shape), y
            ends = np.array([n_points - 1])
        else:
            if self.window < 3:
                raise ValueError(f"the window must be at least 3 days, not {self.window}")
            if self.window > n_points:
                raise ValueError(
                    f"a {self.window}-day window needs at least {self.window} days of"
                    f" data; the series has {n_points}"
                )
            view = np.lib.stride_tricks.sliding_window_view
            ys = view(y, self.window, axis=1).reshape(-1, self.window)
            xs = np.broadcast_to(
                view(x, self.window), (n_series, n_points - self.window + 1, self.window)
            )
            xs = xs.reshape(-1, self.window)
            ends = np.arange(self.window - 1, n_points)
        mask = (ys > 0).astype(float)
        with np.errstate(divide="ignore"):
            logs = np.where(ys > 0, np.log(np.where(ys > 0, ys, 1.0)), 0.0)
        fit = _ols(xs, logs, mask)
        enough = fit["n"] >= 3
        t = stats.t.ppf(0.5 + self.level / 2, np.maximum(fit["n"] - 2, 1))
        shape: tuple[int, ...] = (n_series, ends.size)

        def out(values: Any) -> Any:
            return squeeze_like(np.where(enough, values, np.nan).reshape(shape), one)

        r = fit["slope"]
        with np.errstate(divide="ignore", invalid="ignore"):
            self.r_ = out(r)
            self.r_low_ = out(r - t * fit["se"])
            self.r_high_ = out(r + t * fit["se"])
            self.intercept_ = out(fit["intercept"])
            self.doubling_time_ = math.log(2) / self.r_
            self.doubling_low_ = math.log(2) / self.r_low_
            self.doubling_high_ = math.log(2) / self.r_high_
        self.end_ = ends
        return self


def reproduction_from_growth(r: ArrayLike, si_distr: ArrayLike) -> FloatArray:
    """The reproduction number implied by a growth rate: ``1 / sum_k w_k exp(-r k)``.

    Wallinga and Lipsitch (2007): for a generation interval ``w`` on lags 0,
    1, 2, ... (in the unit of ``r``, here days), an epidemic growing at rate
    ``r`` has R = 1 / M(-r), M the moment-generating function of ``w``. It is
    exact while growth is exponential; sitroom uses it for weekly and monthly
    counts, where the renewal equation would need the days inside each period.
    NaN rates give NaN.
    """
    w = np.asarray(si_distr, dtype=float)
    w = w / w.sum()
    lags = np.arange(w.size, dtype=float)
    rates = np.asarray(r, dtype=float)
    with np.errstate(over="ignore"):
        mgf = np.exp(-np.multiply.outer(rates, lags)) @ w
    return np.asarray(1.0 / mgf, dtype=float)
