"""Short-term forecasts: log-linear growth and the renewal equation.

:class:`GrowthForecast` carries the recent growth rate forward from the last
count; its intervals are calibrated on the series' own one-day-ahead errors.
:class:`SkewedGrowthForecast` is the same model with a two-piece Student-t(4)
on the log scale: the half below the median 1.3 times as wide, the half above
0.8 times. :class:`GapAwareGrowthForecast` counts its leads from the last
reported day, does not grow the starting day's counting noise with the lead,
and draws a Student-t(1.5) below the median and a Student-t(4) at 0.75 times
above. :class:`AdaptiveGrowthForecast` (the default of ``sitroom analyze
forecast``) keeps that heavy lower tail only for series whose last three weeks
of reports held a zero or a gap. On the rolling-origin backtest of the 2022
series it beats both naive baselines at 1, 7 and 14 days, its 50 % and 90 %
intervals hold within 5 points of their level at those leads, and on
simulated renewal epidemics (constant R, R falling steadily, R stepping down)
its 90 % intervals hold 85-95 % (docs/methods.md, "Forecast").

:class:`RenewalForecast`: each sample path draws R from the Cori posterior of the last window, lets
log R wander as a Gaussian random walk (its daily step estimated from how
much the estimated R moved over the past weeks), and renews cases day by day:

    I_t ~ Poisson(R_t * Lambda_t)   or   NegBin(mean R_t * Lambda_t, dispersion k)

where Lambda_t = sum_k w_k I_{t-k} includes the simulated days. Prediction
intervals are quantiles across paths. Vectorised over series and samples.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from sitroom.epi._checks import FloatArray, as_counts, squeeze_like
from sitroom.epi.rt import CoriRt

DEFAULT_FORECAST_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)

BoolArray = np.ndarray[Any, np.dtype[np.bool_]]

#: Largest Poisson mean drawn (numpy refuses much larger; no real count comes near).
_MAX_MEAN = 1e12


@functools.lru_cache(maxsize=64)
def _pairs(n: int) -> tuple[np.ndarray[Any, np.dtype[np.intp]], ...]:
    """The index pairs i < j of n days (cached: the backtests ask for the same few)."""
    return tuple(np.triu_indices(n, k=1))


@functools.lru_cache(maxsize=32)
def _t_grid(n_samples: int, df: float) -> FloatArray:
    """Student-t(df) quantiles at the midpoints of an even grid of n_samples (cached)."""
    grid = (np.arange(n_samples) + 0.5) / n_samples
    out: FloatArray = stats.t.ppf(grid, df)
    out.flags.writeable = False
    return out


def theil_sen_slope(values: ArrayLike) -> FloatArray:
    """Median of the pairwise slopes (z_j - z_i) / (j - i) along the last axis.

    Theil (1950) and Sen (1968): a straight-line slope that one odd day cannot
    move, where least squares follows it.
    """
    z = np.asarray(values, dtype=float)
    n = z.shape[-1]
    if n < 2:
        return np.zeros(z.shape[:-1])
    i, j = _pairs(n)
    slopes: FloatArray = np.median((z[..., j] - z[..., i]) / (j - i), axis=-1)
    return slopes


@dataclass
class _Paths:
    """What one growth fit computed, per series."""

    rate: FloatArray
    spread: FloatArray
    rate_sd: FloatArray
    errors_used: int
    samples: FloatArray


class GrowthForecast:
    """Forecast daily counts by carrying the recent growth rate forward.

    On z = log(1 + cases), the growth rate b is the mean of the Theil-Sen
    slopes over the last ``windows`` days (7 and 21: this week's trend and the
    last three weeks'). The median path starts from the last count:
    z_{T+h} = z_T + b h.

    The intervals come from the model's own record over the last
    ``calibration`` days, each forecast made as it would have been, from the
    days before its origin. The robust spread s of its one-day-ahead errors
    (1.4826 x the median absolute error), less the part Poisson counting
    explains, grows with the lead as s h^``spread_power``; the growth rate is
    as uncertain as it has lately been, so the standard deviation of its
    estimates over those days, times h, adds in quadrature. On the log scale
    the path is drawn with Student-t tails (``tail_df``), and Poisson counting
    noise on top. The two constants (0.75 and 6) were chosen on the backtest
    of the 2022 series and checked on simulated renewal epidemics
    (docs/methods.md, "Forecast").

    Parameters
    ----------
    windows : tuple of int, default (7, 21)
        Days of the growth-rate fits whose slopes are averaged.
    horizon : int, default 14
        Days ahead (1 to 28).
    calibration : int, default 21
        One-day-ahead errors used for the spread.
    spread_power : float, default 0.75
        The log-scale spread at lead h is s h^spread_power.
    spread_scale : float, default 1.0
        Multiplies s.
    tail_df : float, default 6
        Degrees of freedom of the Student-t on the log scale.
    rate_sd_scale : float, default 1.0
        Multiplies the standard deviation of the recent growth-rate estimates.
    lower_scale, upper_scale : float, default 1.0
        Multiply the log-scale spread below and above the median (a two-piece
        Student-t; 1 and 1: symmetric). The median does not move.
    n_samples : int, default 4000
    quantiles : sequence of float
    random_state : int or numpy Generator, optional

    Attributes
    ----------
    growth_rate_ : daily growth rate b per series (log scale)
    spread_ : s per series (log scale, one day ahead, counting noise removed)
    rate_sd_ : standard deviation of the recent growth-rate estimates per series
    samples_ : ndarray of shape (n_samples, horizon) or (n_series, n_samples, horizon)
    quantiles_ : ndarray of shape (horizon, n_quantiles) or (n_series, horizon, n_quantiles)
    median_ : ndarray of shape (horizon,) or (n_series, horizon)
    """

    #: History needed: a week, then three one-day-ahead errors.
    MIN_HISTORY = 11

    def __init__(
        self,
        *,
        windows: tuple[int, ...] = (7, 21),
        horizon: int = 14,
        calibration: int = 21,
        spread_power: float = 0.75,
        spread_scale: float = 1.0,
        tail_df: float = 6.0,
        rate_sd_scale: float = 1.0,
        lower_scale: float = 1.0,
        upper_scale: float = 1.0,
        n_samples: int = 4000,
        quantiles: Sequence[float] = DEFAULT_FORECAST_QUANTILES,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.windows = windows
        self.horizon = horizon
        self.calibration = calibration
        self.spread_power = spread_power
        self.spread_scale = spread_scale
        self.tail_df = tail_df
        self.rate_sd_scale = rate_sd_scale
        self.lower_scale = lower_scale
        self.upper_scale = upper_scale
        self.n_samples = n_samples
        self.quantiles = quantiles
        self.random_state = random_state

    def _rate(self, z: FloatArray) -> FloatArray:
        """Growth rate per series from the log counts z (n_series, n_days)."""
        rate: FloatArray = np.mean([theil_sen_slope(z[:, -w:]) for w in self.windows], axis=0)
        return rate

    def _validate(self) -> None:
        if not 1 <= self.horizon <= 28:
            raise ValueError("horizon must be between 1 and 28 days")
        if not self.windows or min(self.windows) < 2:
            raise ValueError("windows must be at least 2 days each")
        if not (self.lower_scale > 0 and self.upper_scale > 0):
            raise ValueError("lower_scale and upper_scale must be positive")

    def fit(self, incidence: ArrayLike) -> GrowthForecast:
        """Forecast the days after ``incidence`` (shape (n_days,) or (n_series, n_days))."""
        self._validate()
        one = np.ndim(incidence) == 1
        history = as_counts(incidence)
        if history.shape[1] < self.MIN_HISTORY:
            raise ValueError(f"need at least {self.MIN_HISTORY} days of history")
        rng = np.random.default_rng(self.random_state)
        fit = self._paths(history, self.horizon, rng)
        self._store(fit, one)
        return self

    def _store(self, fit: _Paths, one: bool) -> None:
        q = np.asarray(self.quantiles, dtype=float)
        self.growth_rate_ = squeeze_like(fit.rate, one)
        self.spread_ = squeeze_like(fit.spread, one)
        self.errors_used_ = fit.errors_used
        self.rate_sd_ = squeeze_like(fit.rate_sd, one)
        self.samples_ = squeeze_like(fit.samples, one)
        self.quantiles_ = squeeze_like(np.moveaxis(np.quantile(fit.samples, q, axis=1), 0, -1), one)
        self.median_ = squeeze_like(np.median(fit.samples, axis=1), one)

    def _log_sd(
        self, mad: FloatArray, counting: FloatArray, rate_sd: FloatArray, lead: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """The spread s per series and the log-scale sd per series and lead."""
        spread = np.sqrt(np.maximum(mad**2 - counting, 0.0)) * self.spread_scale
        sd = np.sqrt(
            (spread[:, None] * lead**self.spread_power) ** 2 + (rate_sd[:, None] * lead) ** 2
        )
        return spread, sd

    def _standard_draws(self) -> FloatArray:
        """The log-scale draws before scaling: the two-piece Student-t on an even grid."""
        t = _t_grid(self.n_samples, float(self.tail_df))
        # A two-piece Student-t: the half below the median and the half above
        # may have different scales (1 and 1: the symmetric t).
        draws: FloatArray = np.where(t < 0, t * self.lower_scale, t * self.upper_scale)
        return draws

    def _adjust_rate_sd(
        self, rate_sd: FloatArray, rate: FloatArray, breaks: BoolArray | None
    ) -> FloatArray:
        """The growth rate's sd per series as used (here as estimated)."""
        return rate_sd

    def _series_draws(self, n_series: int, breaks: BoolArray | None) -> FloatArray:
        """The standard log-scale draws per series, shape (n_series, n_samples, 1)."""
        draws: FloatArray = np.broadcast_to(
            self._standard_draws()[None, :, None], (n_series, self.n_samples, 1)
        )
        return draws

    def _paths(
        self,
        history: FloatArray,
        horizon: int,
        rng: np.random.Generator,
        breaks: BoolArray | None = None,
    ) -> _Paths:
        """Sample paths ``horizon`` days after ``history`` (n_series, n_days), no gaps.

        ``breaks`` (per series) says whose recent reports held a zero or a gap;
        only :class:`AdaptiveGrowthForecast` uses it.
        """
        n_series, n_days = history.shape
        z = np.log1p(history)
        rate = self._rate(z)

        # The growth rate as it was estimated at each of the last origins (and now),
        # and the one-day-ahead errors it made, each from the days before its origin.
        first = max(self.MIN_HISTORY - 3, n_days - self.calibration)
        rates = np.stack([self._rate(z[:, :origin]) for origin in range(first, n_days + 1)], axis=1)
        guesses = z[:, first - 1 : n_days - 1] + rates[:, :-1]
        errors = z[:, first:] - guesses
        mad = 1.4826 * np.median(np.abs(errors), axis=1)
        # Poisson noise on log(1 + y) has variance about 1 / (1 + mean) = exp(-z).
        counting = np.median(np.exp(-guesses), axis=1)
        # How much the growth rate itself moved over those weeks: the rate ahead is
        # as uncertain as it has been lately.
        rate_sd = self._adjust_rate_sd(np.std(rates, axis=1) * self.rate_sd_scale, rate, breaks)
        lead = np.arange(1, horizon + 1, dtype=float)
        spread, sd = self._log_sd(mad, counting, rate_sd, lead)

        # The log-scale draws are quantiles on an even grid (a quadrature: no Monte
        # Carlo noise there); only the counts are random.
        t = self._series_draws(n_series, breaks)
        log_mean = z[:, -1, None, None] + rate[:, None, None] * lead + sd[:, None, :] * t
        mean = np.clip(np.expm1(log_mean), 0.0, _MAX_MEAN)
        samples = rng.poisson(mean).astype(float)
        return _Paths(rate, spread, rate_sd, errors.shape[1], samples)


class SkewedGrowthForecast(GrowthForecast):
    """:class:`GrowthForecast` with a heavier lower tail and a lighter upper one.

    The same median path (z_T + b h) and the same spread; the log-scale draws
    are a two-piece Student-t(4): below the median the spread is 1.3 times
    the symmetric model's, above it 0.8 times. Why: the symmetric model's
    misses on the 2022 series were nearly all below (outcomes under its 5 %
    quantile 16 % of the time, above its 95 % quantile 2 %): declines that
    sped up, and regions whose reports fell to zero. A wider lower half costs
    little in weighted interval score (counts cannot go below zero); a
    narrower upper half gains much. The three constants were chosen among a
    small grid on the backtest of the 2022 series and checked on simulated
    renewal epidemics (docs/methods.md, "Forecast"): in-sample, and the
    asymmetry is a bet that a wave like that one is on its way down. On a
    rising epidemic prefer ``--model growth``. The default was this model
    until :class:`GapAwareGrowthForecast` (then :class:`AdaptiveGrowthForecast`).
    """

    def __init__(
        self,
        *,
        windows: tuple[int, ...] = (7, 21),
        horizon: int = 14,
        calibration: int = 21,
        spread_power: float = 0.75,
        spread_scale: float = 1.0,
        tail_df: float = 4.0,
        rate_sd_scale: float = 1.0,
        lower_scale: float = 1.3,
        upper_scale: float = 0.8,
        n_samples: int = 4000,
        quantiles: Sequence[float] = DEFAULT_FORECAST_QUANTILES,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            windows=windows,
            horizon=horizon,
            calibration=calibration,
            spread_power=spread_power,
            spread_scale=spread_scale,
            tail_df=tail_df,
            rate_sd_scale=rate_sd_scale,
            lower_scale=lower_scale,
            upper_scale=upper_scale,
            n_samples=n_samples,
            quantiles=quantiles,
            random_state=random_state,
        )


def recent_breaks(history: FloatArray, window: int) -> BoolArray:
    """Per series: did the last ``window`` days up to the last report hold a zero or a gap?

    ``history`` (n_series, n_days) has NaN for days not reported; days after
    the last report count as gaps. Looks at nothing after the history's end.
    """
    reported = ~np.isnan(history)
    gap = np.argmax(reported[:, ::-1], axis=1)
    n_days = history.shape[1]
    out = np.zeros(history.shape[0], dtype=bool)
    for i, (row, k) in enumerate(zip(history, gap, strict=True)):
        recent = row[max(0, n_days - k - window) :]
        out[i] = bool(np.isnan(recent).any() or (recent == 0).any())
    return out


def _fill_known(history: FloatArray) -> FloatArray:
    """Each row's gaps filled linearly between reported days (none may follow the last)."""
    out = history.copy()
    for row in out:
        missing = np.isnan(row)
        if missing.any():
            known = np.flatnonzero(~missing)
            row[missing] = np.interp(np.flatnonzero(missing), known, row[known])
    return out


class GapAwareGrowthForecast(GrowthForecast):
    """The growth forecast that counts its leads from the last reported day.

    The default was this model until :class:`AdaptiveGrowthForecast`, which
    keeps its heavy lower tail only where reports broke.

    Three changes to :class:`GrowthForecast`, each a reason its intervals
    missed:

    - **Days not reported** (NaN) may be passed. Gaps between reported days are
      filled linearly; when the history ends on unreported days, the forecast
      is made from the last reported day and its first leads are dropped, so
      "tomorrow" after a three-day gap is forecast four days ahead, with the
      spread of four days. (Carrying the last report forward, as a fill does,
      forecast it one day ahead: on the 2022 regions 42 % of those one-day
      forecasts fell outside the 90 % interval, 7 % of the others.)
    - **The counting noise of the starting day** does not grow with the lead.
      The one-day-ahead errors hold Poisson noise twice (the day forecast and
      the day it starts from); the growth model takes out one and lets the
      other grow as h^0.75, which on Poisson epidemics makes the intervals too
      wide. Here both are taken out of the spread (s^2 = MAD^2 - 2 c), the
      starting day's counting variance c is added once at every lead, and the
      day forecast gets its Poisson draw:
      sd(h)^2 = c + (s h^0.75)^2 + (rate sd * h)^2.
    - **A heavy lower tail**: below the median a Student-t(``lower_df`` = 1.5)
      at the full spread; above it a Student-t(4) at 0.75 times: reports can
      collapse (the 2022 regions fell from hundreds to zero within days), a
      count cannot go below zero, and the upper side is where wide intervals
      cost weighted interval score. Those three constants were chosen on the
      rolling-origin backtest of the 2022 series (in-sample) and checked on
      simulated renewal epidemics (docs/methods.md, "Forecast").

    Parameters and attributes as :class:`GrowthForecast`, plus ``lower_df``;
    ``spread_`` is s with both counting terms removed, ``gap_`` the days
    between the last reported day and the end of the history, per series.
    """

    def __init__(
        self,
        *,
        windows: tuple[int, ...] = (7, 21),
        horizon: int = 14,
        calibration: int = 21,
        spread_power: float = 0.75,
        spread_scale: float = 1.0,
        tail_df: float = 4.0,
        lower_df: float = 1.5,
        rate_sd_scale: float = 1.0,
        lower_scale: float = 1.0,
        upper_scale: float = 0.75,
        n_samples: int = 4000,
        quantiles: Sequence[float] = DEFAULT_FORECAST_QUANTILES,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            windows=windows,
            horizon=horizon,
            calibration=calibration,
            spread_power=spread_power,
            spread_scale=spread_scale,
            tail_df=tail_df,
            rate_sd_scale=rate_sd_scale,
            lower_scale=lower_scale,
            upper_scale=upper_scale,
            n_samples=n_samples,
            quantiles=quantiles,
            random_state=random_state,
        )
        self.lower_df = lower_df

    #: Days looked back for a zero or an unreported day (see :func:`recent_breaks`).
    break_window = 21

    def fit(self, incidence: ArrayLike) -> GapAwareGrowthForecast:
        """Forecast the days after ``incidence`` (NaN: not reported)."""
        self._validate()
        if not self.lower_df > 0:
            raise ValueError("lower_df must be positive")
        one = np.ndim(incidence) == 1
        history = as_counts(incidence, allow_nan=True)
        n_series, n_days = history.shape
        reported = ~np.isnan(history)
        if not reported.any(axis=1).all():
            raise ValueError("a series has no reported day")
        # Days after the last reported one, per series.
        gap = np.argmax(reported[:, ::-1], axis=1)
        if n_days - gap.max() < self.MIN_HISTORY:
            raise ValueError(
                f"need at least {self.MIN_HISTORY} days of history up to the last report"
            )
        rng = np.random.default_rng(self.random_state)
        breaks = recent_breaks(history, self.break_window)
        parts: dict[int, tuple[np.ndarray[Any, np.dtype[np.intp]], _Paths]] = {}
        for k in sorted(set(gap.tolist())):
            rows = np.flatnonzero(gap == k)
            filled = _fill_known(history[rows, : n_days - k])
            fit = self._paths(filled, self.horizon + k, rng, breaks[rows])
            fit.samples = fit.samples[:, :, k:]
            parts[k] = (rows, fit)
        if len(parts) == 1:
            merged = next(iter(parts.values()))[1]
        else:
            merged = _Paths(
                np.empty(n_series),
                np.empty(n_series),
                np.empty(n_series),
                0,
                np.empty((n_series, self.n_samples, self.horizon)),
            )
            for rows, fit in parts.values():
                merged.rate[rows] = fit.rate
                merged.spread[rows] = fit.spread
                merged.rate_sd[rows] = fit.rate_sd
                merged.samples[rows] = fit.samples
                merged.errors_used = max(merged.errors_used, fit.errors_used)
        self._store(merged, one)
        self.gap_ = squeeze_like(gap.astype(float), one)
        self.breaks_ = squeeze_like(breaks, one)
        return self

    def _log_sd(
        self, mad: FloatArray, counting: FloatArray, rate_sd: FloatArray, lead: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        # The one-day errors hold counting noise twice; the starting day's once at every lead.
        start = np.minimum(counting, mad**2 / 2)
        spread = np.sqrt(np.maximum(mad**2 - 2 * counting, 0.0)) * self.spread_scale
        sd = np.sqrt(
            start[:, None]
            + (spread[:, None] * lead**self.spread_power) ** 2
            + (rate_sd[:, None] * lead) ** 2
        )
        return spread, sd

    def _standard_draws(self) -> FloatArray:
        grid = (np.arange(self.n_samples) + 0.5) / self.n_samples
        below = _t_grid(self.n_samples, float(self.lower_df)) * self.lower_scale
        above = _t_grid(self.n_samples, float(self.tail_df)) * self.upper_scale
        draws: FloatArray = np.where(grid < 0.5, below, above)
        return draws


class AdaptiveGrowthForecast(GapAwareGrowthForecast):
    """The gap-aware forecast, its heavy lower tail kept for series whose reports broke.

    The gap-aware model's Student-t(1.5) lower tail is there because reports
    collapse (the 2022 regions fell from hundreds to zero within days). On an
    epidemic whose reports do not break it is too wide: with R falling
    steadily from 1.3 to 0.75 its 90 % intervals held 98.8 % of simulated
    outcomes. Here, causally and per series:

    - **Reports that broke** (a zero or an unreported day among the last
      ``break_window`` = 21 days up to the last report, or unreported days
      since): the gap-aware model's draws, Student-t(1.5) below the median
      and Student-t(4) at 0.75 times above.
    - **Reports that did not**: below the median a Student-t(``light_df`` =
      4) at ``light_scale`` = 1 times the spread, and the growth rate's sd is
      at least ``rate_floor`` = 0.5 times the size of the growth rate itself
      (a rate that large does not last: the epidemic turns, as it does when R
      steps down). Both constants were chosen on simulated renewal epidemics
      (a steady fall of R and a step), not on the 2022 series.

    For every series the growth rate's sd is 1.15 times and the one-day
    spread 0.9 times what the gap-aware model uses (``rate_sd_scale``,
    ``spread_scale``): narrower at one day, wider at two weeks. Those two
    constants **were chosen on the rolling-origin backtest of the 2022
    series** (docs/methods.md, "Forecast"): in-sample.

    Attributes as :class:`GapAwareGrowthForecast`, plus ``breaks_`` (per
    series: whether the heavy lower tail was used).
    """

    def __init__(
        self,
        *,
        windows: tuple[int, ...] = (7, 21),
        horizon: int = 14,
        calibration: int = 21,
        spread_power: float = 0.75,
        spread_scale: float = 0.9,
        tail_df: float = 4.0,
        lower_df: float = 1.5,
        rate_sd_scale: float = 1.15,
        lower_scale: float = 1.0,
        upper_scale: float = 0.75,
        break_window: int = 21,
        light_df: float = 4.0,
        light_scale: float = 1.0,
        rate_floor: float = 0.5,
        n_samples: int = 4000,
        quantiles: Sequence[float] = DEFAULT_FORECAST_QUANTILES,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__(
            windows=windows,
            horizon=horizon,
            calibration=calibration,
            spread_power=spread_power,
            spread_scale=spread_scale,
            tail_df=tail_df,
            lower_df=lower_df,
            rate_sd_scale=rate_sd_scale,
            lower_scale=lower_scale,
            upper_scale=upper_scale,
            n_samples=n_samples,
            quantiles=quantiles,
            random_state=random_state,
        )
        self.break_window = break_window
        self.light_df = light_df
        self.light_scale = light_scale
        self.rate_floor = rate_floor

    def fit(self, incidence: ArrayLike) -> AdaptiveGrowthForecast:
        """Forecast the days after ``incidence`` (NaN: not reported)."""
        if self.break_window < 1:
            raise ValueError("break_window must be at least 1 day")
        if not (self.light_df > 0 and self.light_scale > 0 and self.rate_floor >= 0):
            raise ValueError("light_df and light_scale must be positive, rate_floor not negative")
        super().fit(incidence)
        return self

    def _adjust_rate_sd(
        self, rate_sd: FloatArray, rate: FloatArray, breaks: BoolArray | None
    ) -> FloatArray:
        floor = np.where(_broke(breaks, rate.shape[0]), 0.0, self.rate_floor * np.abs(rate))
        adjusted: FloatArray = np.maximum(rate_sd, floor)
        return adjusted

    def _series_draws(self, n_series: int, breaks: BoolArray | None) -> FloatArray:
        heavy = self._standard_draws()
        grid = (np.arange(self.n_samples) + 0.5) / self.n_samples
        light = np.where(
            grid < 0.5, _t_grid(self.n_samples, float(self.light_df)) * self.light_scale, heavy
        )
        draws: FloatArray = np.where(
            _broke(breaks, n_series)[:, None], heavy[None, :], light[None, :]
        )[:, :, None]
        return draws


def _broke(breaks: BoolArray | None, n_series: int) -> BoolArray:
    """The breaks per series (all true when not given: the heavy tail, as gapaware)."""
    if breaks is None:
        return np.ones(n_series, dtype=bool)
    return np.asarray(breaks, dtype=bool)


def project(history: ArrayLike, r: ArrayLike, si_distr: ArrayLike) -> FloatArray:
    """Expected cases after ``history`` under a given path of R (no noise).

    I_t = R_t * sum_k w_k I_{t-k}, day by day, for ``len(r)`` days: a scenario
    ("what if R stays at 0.8 for a week") rather than a forecast.
    """
    cases = list(np.asarray(history, dtype=float))
    w = np.asarray(si_distr, dtype=float)
    for r_t in np.asarray(r, dtype=float):
        t = len(cases)
        lags = np.arange(1, min(w.size, t + 1))
        cases.append(float(r_t * sum(w[k] * cases[t - k] for k in lags)))
    return np.asarray(cases[len(cases) - np.size(r) :], dtype=float)


def simulate_renewal(
    r: ArrayLike,
    si_distr: ArrayLike,
    *,
    seed: int | np.random.Generator | None = None,
    start: float = 200.0,
    seed_days: int = 7,
) -> FloatArray:
    """A renewal epidemic with Poisson counts: I_t ~ Poisson(R_t sum_k w_k I_{t-k}).

    The first ``seed_days`` days are Poisson(``start``); ``r`` gives R for
    every day (those of the seed days are unused). For checking forecasts
    and estimators on data that follow the renewal model.
    """
    rng = np.random.default_rng(seed)
    rt = np.asarray(r, dtype=float)
    w = np.zeros(rt.size)
    si = np.asarray(si_distr, dtype=float)[: rt.size]
    w[: si.size] = si
    cases = np.zeros(rt.size)
    cases[:seed_days] = rng.poisson(start, min(seed_days, rt.size))
    for t in range(seed_days, rt.size):
        pressure = (cases[t - np.arange(1, t + 1)] * w[1 : t + 1]).sum()
        cases[t] = rng.poisson(rt[t] * pressure)
    return cases


def _dispersion(observed: FloatArray, expected: FloatArray) -> FloatArray:
    """Negative-binomial k per series by moments: var = mu + mu^2 / k (inf: Poisson)."""
    excess = ((observed - expected) ** 2 - expected).sum(axis=1)
    scale = (expected**2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_k = np.where(scale > 0, excess / scale, 0.0)
    return np.where(inv_k > 1e-9, 1.0 / np.maximum(inv_k, 1e-9), np.inf)


class RenewalForecast:
    """Forecast daily cases 1 to ``horizon`` days ahead.

    Parameters
    ----------
    si_mean, si_sd, si_distr :
        Serial interval, as for :class:`~sitroom.epi.rt.CoriRt`.
    window : int, default 7
        Window of the Rt estimate the forecast starts from.
    horizon : int, default 14
        Days ahead (1 to 28).
    n_samples : int, default 2000
        Sample paths per series.
    observation : {"negbin", "poisson"}, default "negbin"
        Day-to-day noise. With "negbin" the dispersion is estimated per
        series from one-day-ahead errors over the last ``calibration`` days
        (falling back to Poisson when the counts are not overdispersed).
    r_drift : float, optional
        Daily standard deviation of the random walk of log R. Default:
        estimated per series from the day-to-day changes of the estimated
        log R over the last ``calibration`` days.
    calibration : int, default 28
        Days used to estimate the dispersion and the drift.
    quantiles : sequence of float
        Quantiles of the forecast to report.
    random_state : int or numpy Generator, optional

    Attributes
    ----------
    samples_ : ndarray of shape (n_samples, horizon) or (n_series, n_samples, horizon)
    quantiles_ : ndarray of shape (horizon, n_quantiles) or (n_series, horizon, n_quantiles)
    mean_, median_ : ndarray of shape (horizon,) or (n_series, horizon)
    r_shape_, r_scale_ : posterior of R at the forecast origin, per series
    dispersion_ : negative-binomial k per series (inf: Poisson)
    r_drift_ : daily sd of log R per series
    """

    def __init__(
        self,
        *,
        si_mean: float | None = None,
        si_sd: float | None = None,
        si_distr: ArrayLike | None = None,
        window: int = 7,
        horizon: int = 14,
        n_samples: int = 2000,
        observation: Literal["negbin", "poisson"] = "negbin",
        r_drift: float | None = None,
        calibration: int = 28,
        quantiles: Sequence[float] = DEFAULT_FORECAST_QUANTILES,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.si_mean = si_mean
        self.si_sd = si_sd
        self.si_distr = si_distr
        self.window = window
        self.horizon = horizon
        self.n_samples = n_samples
        self.observation = observation
        self.r_drift = r_drift
        self.calibration = calibration
        self.quantiles = quantiles
        self.random_state = random_state

    def fit(self, incidence: ArrayLike) -> RenewalForecast:
        """Forecast the days after ``incidence`` (shape (n_days,) or (n_series, n_days))."""
        if not 1 <= self.horizon <= 28:
            raise ValueError("horizon must be between 1 and 28 days")
        if self.observation not in ("negbin", "poisson"):
            raise ValueError("observation must be 'negbin' or 'poisson'")
        one = np.ndim(incidence) == 1
        history = as_counts(incidence)
        n_series, n_days = history.shape
        if n_days < self.window + 2:
            raise ValueError(f"need at least {self.window + 2} days of history")
        rng = np.random.default_rng(self.random_state)
        rt = CoriRt(
            si_mean=self.si_mean,
            si_sd=self.si_sd,
            si_distr=self.si_distr,
            window=self.window,
            quantiles=(0.5,),
        ).fit(history)
        shape = np.atleast_2d(rt.shape_)
        scale = np.atleast_2d(rt.scale_)
        lam = np.atleast_2d(rt.lambda_)
        w = np.zeros(n_days + self.horizon)
        si = rt.si_distr_[: w.size]
        w[: si.size] = si

        k, drift = self._calibrate(history, shape * scale, lam, rt.t_end_)
        last_shape = np.nan_to_num(shape[:, -1], nan=1.0)
        last_scale = np.nan_to_num(scale[:, -1], nan=0.0)
        n, h = self.n_samples, self.horizon
        r0 = rng.gamma(last_shape[:, None], last_scale[:, None], size=(n_series, n))
        walk = np.cumsum(rng.normal(0.0, 1.0, size=(n_series, n, h)), axis=2) * drift[:, None, None]
        r_paths = r0[:, :, None] * np.exp(walk)

        cases = np.concatenate(
            [
                np.broadcast_to(history[:, None, :], (n_series, n, n_days)),
                np.zeros((n_series, n, h)),
            ],
            axis=2,
        )
        lags = np.arange(1, w.size)
        for step in range(h):
            t = n_days + step
            usable = lags[lags <= t]
            lam_t = (cases[:, :, t - usable] * w[usable]).sum(axis=2)
            mu = r_paths[:, :, step] * lam_t
            cases[:, :, t] = self._draw(rng, mu, k)
        samples = cases[:, :, n_days:]

        q = np.asarray(self.quantiles, dtype=float)
        self.samples_ = squeeze_like(samples, one)
        self.quantiles_ = squeeze_like(np.moveaxis(np.quantile(samples, q, axis=1), 0, -1), one)
        self.mean_ = squeeze_like(samples.mean(axis=1), one)
        self.median_ = squeeze_like(np.median(samples, axis=1), one)
        self.r_shape_ = squeeze_like(last_shape, one)
        self.r_scale_ = squeeze_like(last_scale, one)
        self.dispersion_ = squeeze_like(k, one)
        self.r_drift_ = squeeze_like(drift, one)
        return self

    def _calibrate(
        self, history: FloatArray, r_mean: FloatArray, lam: FloatArray, t_end: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """Dispersion and drift per series, from the last ``calibration`` days.

        One-day-ahead expectations R_{t-1} * Lambda_t against what was reported
        give the dispersion; day-to-day changes of log R give the drift.
        """
        n_series = history.shape[0]
        recent = min(self.calibration, r_mean.shape[1] - 1)
        days = t_end[-recent:] - 1  # 0-based days predicted
        expected = r_mean[:, -recent - 1 : -1] * lam[:, days]
        observed = history[:, days]
        ok = np.isfinite(expected)
        if self.observation == "negbin":
            k = _dispersion(np.where(ok, observed, 0.0), np.where(ok, expected, 0.0))
        else:
            k = np.full(n_series, np.inf)
        if self.r_drift is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                steps = np.diff(np.log(r_mean[:, -recent:]), axis=1)
            finite_steps = np.where(np.isfinite(steps), steps, np.nan)
            # A series with no finite step (all zeros) has no drift to measure: 0.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                drift = np.nan_to_num(np.nanstd(finite_steps, axis=1))
        else:
            drift = np.full(n_series, float(self.r_drift))
        return k, drift

    @staticmethod
    def _draw(rng: np.random.Generator, mu: FloatArray, k: FloatArray) -> FloatArray:
        mu = np.maximum(mu, 0.0)
        finite = np.isfinite(k)
        out = np.empty_like(mu)
        if (~finite).any():
            out[~finite] = rng.poisson(mu[~finite])
        if finite.any():
            kk = np.broadcast_to(k[:, None], mu.shape)[finite]
            # Negative binomial as a gamma-Poisson mixture with mean mu and shape k.
            out[finite] = rng.poisson(rng.gamma(kk, mu[finite] / kk))
        return out
