"""Nowcasting recent periods from the revision history, by the chain-ladder method.

Values for recent periods are incomplete: reports keep arriving for days.
The reporting triangle holds, for each reference period (rows, oldest
first) and each delay d (columns, 0..D), the count first reported d days
after the period. The bottom-right corner is not yet observed (NaN).

``estimate_delay`` recovers the delay distribution by chain ladder: for
each delay d, the ratio of what arrived at delay d to what had arrived
before d, over the rows where both are known, fills the missing cells of
column d; the completed columns' sums give the distribution.
``apply_delay`` completes the triangle with the distribution, using the
zero-safe expectation ((x + 1 - F(d-1)) / F(d-1)) * p(d) of the reference
implementation, where x is what the row has so far.

Reference: epinowcast/baselinenowcast (R package), v0.2.1000,
``estimate_delay()`` and ``apply_delay()``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from sitroom.epi._checks import FloatArray


def as_triangle(triangle: ArrayLike) -> FloatArray:
    t = np.asarray(triangle, dtype=float)
    if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] < 2:
        raise ValueError("a reporting triangle needs at least 2 rows and 2 delays")
    if (np.nan_to_num(t) < 0).any():
        raise ValueError("a reporting triangle holds counts, never negative")
    return t


def standard_triangle(complete: ArrayLike) -> FloatArray:
    """Blank the cells not yet observed: row i (of n) keeps delays 0..n-1-i."""
    t = np.array(complete, dtype=float)
    n = t.shape[0]
    for i in range(n):
        t[i, max(0, n - i) :] = np.nan
    return t


def estimate_delay(
    triangle: ArrayLike, *, max_delay: int | None = None, n_history: int | None = None
) -> FloatArray:
    """The delay distribution p(0..max_delay) by chain ladder over the last ``n_history`` rows."""
    t = as_triangle(triangle)
    max_delay = t.shape[1] - 1 if max_delay is None else max_delay
    n_history = t.shape[0] if n_history is None else n_history
    if not 0 < max_delay < t.shape[1] or not 1 < n_history <= t.shape[0]:
        raise ValueError("max_delay or n_history out of range for this triangle")
    rt = t[-n_history:, : max_delay + 1].copy()
    n_rows, n_delays = rt.shape
    expectation = rt.copy()
    for co in range(1, n_delays):
        known = n_rows - co  # rows 0..known-1 have column co observed
        if known < 1:
            raise ValueError(f"too few complete rows to estimate delay {co}")
        top_left = rt[:known, :co]
        top = rt[:known, co]
        factor = np.nansum(top) / max(np.nansum(top_left), 1.0)
        expectation[known:, co] = factor * np.nansum(expectation[known:, :co], axis=1)
    pmf = np.nansum(expectation, axis=0)
    return np.asarray(pmf / pmf.sum(), dtype=float)


def apply_delay(triangle: ArrayLike, delay_pmf: ArrayLike) -> FloatArray:
    """Complete the triangle's missing cells with the delay distribution."""
    t = as_triangle(triangle).copy()
    p = np.asarray(delay_pmf, dtype=float)
    if p.size != t.shape[1]:
        raise ValueError("delay_pmf needs one probability per delay column")
    cdf = np.cumsum(p)
    for d in range(1, t.shape[1]):
        missing = np.isnan(t[:, d])
        if not missing.any():
            continue
        if cdf[d - 1] <= 0:
            raise ValueError(
                f"cannot nowcast: no reports are expected before delay {d}"
                " (the delay distribution is zero there)"
            )
        so_far = np.nansum(t[missing, :d], axis=1)
        t[missing, d] = (so_far + 1 - cdf[d - 1]) / cdf[d - 1] * p[d]
    return t


class ChainLadderNowcast:
    """Nowcast the totals of the rows of a reporting triangle.

    Parameters
    ----------
    max_delay, n_history : int, optional
        As for :func:`estimate_delay` (default: all columns, all rows).

    Attributes
    ----------
    delay_pmf_ : ndarray of shape (max_delay + 1,)
    completed_ : ndarray, the triangle with its missing cells filled
    nowcast_ : ndarray of shape (n_rows,), the expected final total of each row
    reported_ : ndarray of shape (n_rows,), what has been reported so far
    """

    def __init__(self, *, max_delay: int | None = None, n_history: int | None = None) -> None:
        self.max_delay = max_delay
        self.n_history = n_history

    def fit(self, triangle: ArrayLike) -> ChainLadderNowcast:
        t = as_triangle(triangle)
        pmf = estimate_delay(t, max_delay=self.max_delay, n_history=self.n_history)
        t = t[:, : pmf.size]
        self.delay_pmf_ = pmf
        self.completed_ = apply_delay(t, pmf)
        self.nowcast_ = self.completed_.sum(axis=1)
        self.reported_ = np.nansum(t, axis=1)
        return self
