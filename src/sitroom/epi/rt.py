"""Time-varying reproduction number by the method of Cori et al. (2013), as EpiEstim.

With a gamma prior on R (mean 5, sd 5 by default) and Poisson incidence, the
posterior of R over a window [t_start, t_end] is

    Gamma(shape = a + sum I_local,  scale = 1 / (1/b + sum Lambda))

where a, b are the prior shape and scale and Lambda_t = sum_k w_k I_{t-k} is
the total infectiousness of all earlier cases (local and imported) weighted by
the serial interval w. Everything is computed for many series at once.

Reference: Cori A, Ferguson NM, Fraser C, Cauchemez S. A new framework and
software to estimate time-varying reproduction numbers during epidemics.
Am J Epidemiol 2013;178(9):1505-12. doi:10.1093/aje/kwt133
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import linalg, special, stats

from sitroom.epi._checks import FloatArray, as_counts, as_distribution, squeeze_like
from sitroom.epi.serial_interval import parametric_si

#: Longest series for which total infectiousness is one matrix product (8 MB matrix).
MAX_TOEPLITZ_DAYS = 1024

DEFAULT_QUANTILES = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)


def total_infectiousness(incidence: ArrayLike, si_distr: ArrayLike) -> FloatArray:
    """Lambda_t = sum_{k=0}^{t} w_k I_{t-k}, for each series (shape (n_series, n_days))."""
    return _infectiousness(as_counts(incidence), as_distribution(si_distr, "si_distr"))


def _infectiousness(counts: FloatArray, w: FloatArray) -> FloatArray:
    """One matrix product with the lower-triangular Toeplitz matrix of w: exact
    sums (no FFT), computed by BLAS for all series at once.
    """
    n_days = counts.shape[1]
    lags = min(w.size, n_days)
    if n_days > MAX_TOEPLITZ_DAYS:
        # Past a few years of days the n_days^2 matrix costs more memory than it
        # saves: add the lags one at a time instead (the same sums).
        lam = np.zeros_like(counts)
        for k in range(lags):
            if w[k] != 0.0:
                lam[:, k:] += w[k] * counts[:, : n_days - k]
        return lam
    column = np.zeros(n_days)
    column[:lags] = w[:lags]
    # T[s, t] = w[t - s] for t >= s, so (I @ T)[:, t] = sum_s I[:, s] w[t - s].
    weights = linalg.toeplitz(np.zeros(n_days), column)
    weights[np.tril_indices(n_days, -1)] = 0.0
    weights[np.diag_indices(n_days)] = column[0]
    return np.asarray(counts @ weights, dtype=float)


def _window_sums(
    values: FloatArray, t_start: np.ndarray[Any, Any], t_end: np.ndarray[Any, Any]
) -> FloatArray:
    """Sums over [t_start, t_end] (0-based, inclusive) along the last axis."""
    widths = t_end - t_start + 1
    if np.all(widths == widths[0]):
        # Equal windows: add the window's days one shifted slice at a time
        # (exact sums, no cumulative-sum rounding).
        total = np.zeros((values.shape[0], t_start.size))
        consecutive = bool(np.all(np.diff(t_start) == 1))
        first = int(t_start[0])
        for j in range(int(widths[0])):
            if consecutive:  # a slice, not a gather: much faster
                total += values[:, first + j : first + j + t_start.size]
            else:
                total += values[:, t_start + j]
        return total
    padded = np.concatenate([np.zeros((values.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)
    return np.asarray(padded[:, t_end + 1] - padded[:, t_start], dtype=float)


def gamma_quantiles(q: Sequence[float], shape: FloatArray, scale: FloatArray) -> FloatArray:
    """Quantiles q of Gamma(shape, scale), on a new last axis (NaN where shape is NaN)."""
    levels = np.asarray(q, dtype=float)
    out = np.full((*shape.shape, levels.size), np.nan)
    ok = np.isfinite(shape) & np.isfinite(scale)
    for i, level in enumerate(levels):
        out[ok, i] = special.gammaincinv(shape[ok], level) * scale[ok]
    return out


class CoriRt:
    """Reproduction number over sliding windows (EpiEstim's ``estimate_R``).

    Parameters
    ----------
    si_distr : array-like of shape (n_lags,), optional
        Non-parametric serial interval: probability of 0, 1, 2, ... days; the
        first must be 0. Give this or ``si_mean`` and ``si_sd``.
    si_mean, si_sd : float, optional
        Parametric serial interval, discretised as EpiEstim's ``discr_si``.
    window : int, default 7
        Window length in days; windows end on every day from day ``window + 1``
        (EpiEstim's default ``t_start = 2:(T - window + 1)``).
    t_start, t_end : sequence of int, optional
        Explicit windows, 1-based days as in EpiEstim (override ``window``).
    mean_prior, std_prior : float, default 5, 5
        Gamma prior of R.
    quantiles : sequence of float
        Posterior quantiles to report (an empty sequence skips them: they cost
        more than the posterior itself).
    first_day_imported : bool, default True
        EpiEstim treats the first day's cases as imported (they start the
        epidemic and are not explained by earlier cases). False counts them as
        local, as epyestim does.

    Attributes
    ----------
    si_distr_ : ndarray of shape (n_lags,)
    t_start_, t_end_ : ndarray of shape (n_windows,)
        1-based first and last day of each window.
    lambda_ : ndarray of shape (n_days,) or (n_series, n_days)
        Total infectiousness.
    shape_, scale_ : ndarray of shape (n_windows,) or (n_series, n_windows)
        Posterior gamma parameters (NaN where the window has no infectiousness,
        or ends too early).
    mean_si_ : float
        Mean of the discretised serial interval, sum_k k w_k (not renormalised).
    too_early_ : ndarray of bool, shape (n_windows,)
        Windows that end on or before day ``mean_si_``: as in EpiEstim, no
        estimate (NaN) is given for them, since the cases in them were mostly
        infected before the series began.
    r_mean_, r_sd_ : ndarray of shape (n_windows,) or (n_series, n_windows)
    r_quantiles_ : ndarray of shape (..., n_windows, n_quantiles)
    """

    def __init__(
        self,
        *,
        si_distr: ArrayLike | None = None,
        si_mean: float | None = None,
        si_sd: float | None = None,
        window: int = 7,
        t_start: Sequence[int] | None = None,
        t_end: Sequence[int] | None = None,
        mean_prior: float = 5.0,
        std_prior: float = 5.0,
        quantiles: Sequence[float] = DEFAULT_QUANTILES,
        first_day_imported: bool = True,
    ) -> None:
        self.si_distr = si_distr
        self.si_mean = si_mean
        self.si_sd = si_sd
        self.window = window
        self.t_start = t_start
        self.t_end = t_end
        self.mean_prior = mean_prior
        self.std_prior = std_prior
        self.quantiles = quantiles
        self.first_day_imported = first_day_imported

    def _serial_interval(self, n_days: int) -> FloatArray:
        if self.si_distr is not None:
            w = as_distribution(self.si_distr, "si_distr")
            if w[0] != 0:
                raise ValueError("si_distr[0] must be 0: a case cannot infect on its own onset day")
            return w
        if self.si_mean is None or self.si_sd is None:
            raise ValueError("give si_distr, or si_mean and si_sd")
        return parametric_si(self.si_mean, self.si_sd, n_days)

    def _windows(self, n_days: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        if self.t_start is not None or self.t_end is not None:
            if self.t_start is None or self.t_end is None:
                raise ValueError("give both t_start and t_end")
            start = np.asarray(self.t_start, dtype=int)
            end = np.asarray(self.t_end, dtype=int)
        else:
            if not 1 <= self.window < n_days:
                raise ValueError(
                    f"a {self.window}-day window needs at least {self.window + 1} days of"
                    f" data; the series has {n_days}"
                )
            start = np.arange(2, n_days - self.window + 2)
            end = start + self.window - 1
        if start.shape != end.shape or (start > end).any() or start.min() < 1 or end.max() > n_days:
            raise ValueError("windows must satisfy 1 <= t_start <= t_end <= n_days")
        return start, end

    def fit(self, incidence: ArrayLike, imported: ArrayLike | None = None) -> CoriRt:
        """Estimate R for each series.

        Parameters
        ----------
        incidence : array-like of shape (n_days,) or (n_series, n_days)
            Daily cases (local cases when ``imported`` is given).
        imported : array-like of the same shape, optional
            Imported cases: they infect others but were not infected locally.
        """
        one = np.ndim(incidence) == 1
        counts = as_counts(incidence)
        total = counts
        if imported is not None:
            imports = as_counts(imported, "imported")
            if imports.shape != counts.shape:
                raise ValueError("imported must have the shape of incidence")
            total = counts + imports
        local = counts
        if self.first_day_imported:
            # The first day's cases seed the epidemic: they infect (they stay in
            # the total) but are not explained by earlier cases.
            local = counts.copy()
            local[:, 0] = 0.0
        n_days = counts.shape[1]
        w = self._serial_interval(n_days)
        start, end = self._windows(n_days)
        lam = _infectiousness(total, w)

        a_prior = (self.mean_prior / self.std_prior) ** 2
        b_prior = self.std_prior**2 / self.mean_prior
        shape = a_prior + _window_sums(local, start - 1, end - 1)
        lam_sums = _window_sums(lam, start - 1, end - 1)
        rate = 1.0 / b_prior + lam_sums
        # EpiEstim (posterior_from_si_distr): no estimate for windows ending on
        # or before the mean serial interval.
        mean_si = float((np.arange(w.size) * w).sum())
        too_early = end <= mean_si
        informative = (lam_sums > 0) & ~too_early
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(informative, 1.0 / rate, np.nan)
        shape = np.where(informative, shape, np.nan)
        quantiles = gamma_quantiles(self.quantiles, shape, scale)

        self.si_distr_ = w
        self.mean_si_ = mean_si
        self.too_early_ = too_early
        self.t_start_, self.t_end_ = start, end
        self.lambda_ = squeeze_like(lam, one)
        self.shape_ = squeeze_like(shape, one)
        self.scale_ = squeeze_like(scale, one)
        self.r_mean_ = squeeze_like(shape * scale, one)
        self.r_sd_ = squeeze_like(np.sqrt(shape) * scale, one)
        self.r_quantiles_ = squeeze_like(np.asarray(quantiles, dtype=float), one)
        return self


def ratio_quantiles(
    q: Sequence[float],
    shape_before: float,
    scale_before: float,
    shape_after: float,
    scale_after: float,
) -> FloatArray:
    """Quantiles of R_after / R_before for independent gamma posteriors (disjoint windows).

    With R ~ Gamma(a, s), R_after / R_before = (s_after / s_before) * G_after /
    G_before, and a ratio of unit-scale gammas is beta-prime (a_after,
    a_before): the quantiles are exact, no sampling. NaN when either
    posterior is undefined.
    """
    values = (shape_before, scale_before, shape_after, scale_after)
    if not all(np.isfinite(v) and v > 0 for v in values):
        return np.full(len(q), np.nan)
    factor = scale_after / scale_before
    return np.asarray(
        stats.betaprime.ppf(np.asarray(q, dtype=float), shape_after, shape_before) * factor,
        dtype=float,
    )
