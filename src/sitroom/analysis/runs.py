"""Each analysis as a function from series and options to a :class:`Table`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sitroom.analysis.defaults import OMICRON_SI_MEAN, OMICRON_SI_SD
from sitroom.analysis.series import Series
from sitroom.epi import alerts, cfr, credibility
from sitroom.epi.ascertainment import Ascertainment
from sitroom.epi.backtest import Forecaster, causal_fill, last_value, week_mean
from sitroom.epi.backtest import backtest as run_backtest
from sitroom.epi.forecast import (
    AdaptiveGrowthForecast,
    GapAwareGrowthForecast,
    GrowthForecast,
    RenewalForecast,
    SkewedGrowthForecast,
)
from sitroom.epi.growth import LogLinearGrowth
from sitroom.epi.nowcast import ChainLadderNowcast
from sitroom.epi.rt import CoriRt
from sitroom.errors import SitroomError
from sitroom.surveillance.periods import UNIT_NAMES


@dataclass
class Table:
    """Rows of results with their column order, and notes a reader needs."""

    title: str
    columns: list[str]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "rows": self.rows, "notes": self.notes}


def _num(x: Any) -> Any:
    """A number for JSON at full precision (NaN: None); tables round when they print."""
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    value = float(x)
    if math.isnan(value):
        return None
    return value


def _count(x: float | None) -> int | None:
    """A count as a whole number, never rounded to significant digits."""
    return None if x is None or math.isnan(x) else round(x)


def _span(series: Series) -> str:
    """Which series, and which periods, a total sums (totals of one wave differ by range)."""
    labels = series.labels
    return (
        f"the {series.period_type} {series.name}, {labels[0]} to {labels[-1]}"
        f" ({len(labels)} {series.unit})"
    )


#: Windows of Rt and growth when none is given, in periods: a week, a month, a quarter.
DEFAULT_WINDOW = {"daily": 7, "weekly": 4, "monthly": 3}

#: Days in a period, on average (for rates and delays given in days).
DAYS_PER_PERIOD = {"daily": 1.0, "weekly": 7.0, "monthly": 365.2425 / 12}


def _daily_only(series: Series, what: str) -> None:
    if series.period_type != "daily":
        raise SitroomError(
            f"{what} needs daily counts; {series.name} is reported {series.period_type}"
            " (Rt, growth, CFR, alerts and credibility work on weekly and monthly counts)"
        )


@dataclass(frozen=True)
class SerialInterval:
    mean: float | None = OMICRON_SI_MEAN
    sd: float | None = OMICRON_SI_SD
    distribution: NDArray[np.float64] | None = None

    def kwargs(self) -> dict[str, Any]:
        if self.distribution is not None:
            return {"si_distr": self.distribution}
        return {"si_mean": self.mean, "si_sd": self.sd}

    def daily_distribution(self, n_days: int = 120) -> NDArray[np.float64]:
        """The interval on lags 0, 1, 2, ... days (EpiEstim's discretised gamma if not given)."""
        if self.distribution is not None:
            return self.distribution
        from sitroom.epi.serial_interval import parametric_si

        mean, sd = self.mean or OMICRON_SI_MEAN, self.sd or OMICRON_SI_SD
        return parametric_si(mean, sd, n_days)

    def describe(self) -> str:
        if self.distribution is not None:
            return f"serial interval: a given distribution over {self.distribution.size} days"
        return f"serial interval: discretised gamma, mean {self.mean} days, sd {self.sd} days"


def _why_no_estimate(fit: CoriRt, i: int, early: str, silent: str) -> dict[str, str]:
    """A ``note`` for a window without an estimate, saying why; nothing otherwise."""
    if fit.too_early_[i]:
        return {"note": early}
    if not np.isfinite(fit.r_mean_[i]):
        return {"note": silent}
    return {}


def rt(
    series: Series,
    si: SerialInterval,
    *,
    window: int | None = None,
    imported: Series | None = None,
) -> Table:
    window = window or DEFAULT_WINDOW[series.period_type]
    if series.period_type != "daily":
        if imported is not None:
            raise SitroomError("imported cases are taken into account for daily counts only")
        return _rt_from_growth({series.name: series}, si, window=window, latest=False)
    fit = CoriRt(window=window, **si.kwargs()).fit(
        series.values, None if imported is None else imported.values
    )
    dates = series.dates
    early = (
        f"no estimate: the window ends before the mean serial interval"
        f" ({fit.mean_si_:.1f} days); its cases were mostly infected before the series began"
    )
    silent = (
        "no estimate: no case before or in the window could have infected anyone"
        " (EpiEstim would return its prior, mean 5)"
    )
    rows = []
    for i, (s, e) in enumerate(zip(fit.t_start_, fit.t_end_, strict=True)):
        q = fit.r_quantiles_[i]
        rows.append(
            {
                "window_start": dates[s - 1].isoformat(),
                "window_end": dates[e - 1].isoformat(),
                **_why_no_estimate(fit, i, early, silent),
                "mean": _num(fit.r_mean_[i]),
                "sd": _num(fit.r_sd_[i]),
                "q025": _num(q[0]),
                "q05": _num(q[1]),
                "q25": _num(q[2]),
                "median": _num(q[3]),
                "q75": _num(q[4]),
                "q95": _num(q[5]),
                "q975": _num(q[6]),
            }
        )
    return Table(
        f"Reproduction number of {series.name} (Cori et al., {window}-day windows)",
        ["window_start", "window_end", "mean", "q025", "median", "q975"],
        rows,
        [si.describe(), "prior: gamma, mean 5, sd 5; the first day's cases count as imported"],
    )


@dataclass(frozen=True)
class Split:
    """A date at which R may change (an event), and what happened."""

    day: date
    title: str


def rt_between_events(series: Series, si: SerialInterval, splits: list[Split]) -> Table:
    """R in the windows between events, and its change across each event.

    The windows run from day 2 (EpiEstim's first) to the day before the first
    event, from each event's day to the day before the next, and from the last
    to the end: an event counts from its own day. The change across an event
    is R after / R before, whose quantiles are exact (the two windows are
    disjoint, their posteriors independent gammas: see ``epi.rt.ratio_quantiles``).
    """
    from sitroom.epi.rt import ratio_quantiles

    _daily_only(series, "Rt between events")
    dates = series.dates
    first, last = dates[0], dates[-1]
    inside = sorted(
        {s.day: s for s in splits if first + timedelta(days=1) < s.day <= last}.values(),
        key=lambda s: s.day,
    )
    bounds = [1] + [(s.day - first).days for s in inside]  # 0-based first day of each window
    starts = [b + 1 for b in bounds]  # 1-based
    ends = [*(b for b in bounds[1:]), len(dates)]  # 1-based last day: the day before the next
    fit = CoriRt(t_start=starts, t_end=ends, **si.kwargs()).fit(series.values)
    rows = []
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        q = fit.r_quantiles_[i]
        row: dict[str, Any] = {
            "window_start": dates[s - 1].isoformat(),
            "window_end": dates[e - 1].isoformat(),
            "event": None if i == 0 else inside[i - 1].title,
            "mean": _num(fit.r_mean_[i]),
            "q025": _num(q[0]),
            "median": _num(q[3]),
            "q975": _num(q[6]),
            "change": None,
            "change_low": None,
            "change_high": None,
        }
        if fit.too_early_[i]:
            row["note"] = "no estimate: the window ends before the mean serial interval"
        if i > 0:
            low, mid, high = ratio_quantiles(
                (0.025, 0.5, 0.975),
                fit.shape_[i - 1],
                fit.scale_[i - 1],
                fit.shape_[i],
                fit.scale_[i],
            )
            row.update(change=_num(mid), change_low=_num(low), change_high=_num(high))
        rows.append(row)
    return Table(
        f"Reproduction number of {series.name} between events (Cori et al.)",
        [
            "window_start",
            "window_end",
            "event",
            "median",
            "q025",
            "q975",
            "change",
            "change_low",
            "change_high",
        ],
        rows,
        [
            si.describe(),
            "change: R after the event / R before it (median and 95% interval; below 1,"
            " transmission fell); an event counts from its own day",
        ],
    )


def rt_many(
    series: dict[str, Series],
    si: SerialInterval,
    *,
    window: int | None = None,
    latest: bool = False,
) -> Table:
    """Rt of several org units' series (same days) in one vectorised call."""
    names = list(series)
    first = series[names[0]]
    window = window or DEFAULT_WINDOW[first.period_type]
    if first.period_type != "daily":
        return _rt_from_growth(series, si, window=window, latest=latest)
    fit = CoriRt(window=window, **si.kwargs()).fit(np.vstack([series[n].values for n in names]))
    dates = first.dates
    rows = []
    windows = range(fit.t_end_.size - 1, fit.t_end_.size) if latest else range(fit.t_end_.size)
    for j, name in enumerate(names):
        for i in windows:
            q = fit.r_quantiles_[j, i]
            rows.append(
                {
                    "org_unit": name,
                    "window_end": dates[fit.t_end_[i] - 1].isoformat(),
                    "mean": _num(fit.r_mean_[j, i]),
                    "q025": _num(q[0]),
                    "median": _num(q[3]),
                    "q975": _num(q[6]),
                    "above_1": bool(q[0] > 1),
                }
            )
    return Table(
        f"Reproduction number by org unit (Cori et al., {window}-day windows)",
        ["org_unit", "window_end", "mean", "q025", "median", "q975", "above_1"],
        rows,
        [si.describe(), "above_1: the 2.5 % quantile is above 1 (cases are rising)"],
    )


def _rt_from_growth(
    series: dict[str, Series], si: SerialInterval, *, window: int, latest: bool
) -> Table:
    """Rt of weekly or monthly counts: from the growth rate through the serial interval.

    The renewal equation behind Cori's method needs the days inside each
    period; with counts per week or month sitroom fits the growth rate over
    ``window`` periods and turns it (and its 95% interval) into R with the
    daily serial interval (Wallinga and Lipsitch 2007).
    """
    from sitroom.epi.growth import reproduction_from_growth

    w = si.daily_distribution()
    first = next(iter(series.values()))
    per_day = DAYS_PER_PERIOD[first.period_type]
    labels = first.labels
    rows = []
    for name, s in series.items():
        fit = LogLinearGrowth(window=window).fit(s.values)
        ends = fit.end_[-1:] if latest else fit.end_
        offset = fit.end_.size - ends.size
        for i, end in enumerate(ends, start=offset):
            mean, low, high = (
                reproduction_from_growth(rate / per_day, w)
                for rate in (fit.r_[i], fit.r_low_[i], fit.r_high_[i])
            )
            row = {
                "window_start": labels[end - window + 1],
                "window_end": labels[end],
                "mean": _num(mean),
                "q025": _num(low),
                "median": _num(mean),
                "q975": _num(high),
            }
            if len(series) > 1 or latest:
                row = {"org_unit": name, **row, "above_1": bool(low > 1)}
            rows.append(row)
    columns = ["window_start", "window_end", "mean", "q025", "median", "q975"]
    if len(series) > 1 or latest:
        columns = ["org_unit", *columns[1:], "above_1"]
    title = first.name if len(series) == 1 else "by org unit"
    return Table(
        f"Reproduction number {'of ' * (len(series) == 1)}{title}"
        f" (from the growth rate over {window} {first.unit})",
        columns,
        rows,
        [
            si.describe(),
            f"{first.period_type} counts: R = 1/M(-r), M the serial interval's"
            " moment-generating function (Wallinga and Lipsitch 2007), from a log-linear"
            " fit of the growth rate r with its 95% interval; exact while growth is exponential",
        ],
    )


def doubling_interval(
    r_low: float, r_high: float, days: float = 1.0
) -> tuple[float | None, float | None, str]:
    """The 95 % interval of the doubling time from that of the growth rate, in days.

    Returns (low, high, text). A doubling time is ln 2 / r (negative: a
    halving time). When r's interval lies on one side of 0, so does the
    doubling time's, with finite ends. When it spans 0 the doubling time is
    unbounded: "doubling in at least ln 2 / r_high days, or halving in at
    least ln 2 / |r_low| days"; both ends are then None (JSON null) and the
    text says so. ``days`` is the length of one period in days.
    """
    if not (math.isfinite(r_low) and math.isfinite(r_high)):
        return None, None, "—"
    ln2 = math.log(2) * days
    if r_low > 0:
        low, high = ln2 / r_high, ln2 / r_low
        return low, high, f"{low:.3g} to {high:.3g} d doubling"
    if r_high < 0:
        low, high = ln2 / r_high, ln2 / r_low  # negative: halving times
        return low, high, f"{-high:.3g} to {-low:.3g} d halving"
    parts = []
    if r_high > 0:
        parts.append(f"≥ {ln2 / r_high:.3g} d doubling")
    if r_low < 0:
        parts.append(f"≥ {ln2 / -r_low:.3g} d halving")
    return None, None, " or ".join(parts) or "no change"


def growth(series: Series, *, window: int | None = None) -> Table:
    window = window or DEFAULT_WINDOW[series.period_type]
    fit = LogLinearGrowth(window=window).fit(series.values)
    labels = series.labels
    # Doubling times in days whatever the period (a week is 7 days, a month 30.4 on average).
    days = DAYS_PER_PERIOD[series.period_type]
    rows = []
    for i, end in enumerate(fit.end_):
        r, r_low, r_high = (float(x) for x in (fit.r_[i], fit.r_low_[i], fit.r_high_[i]))
        low, high, text = doubling_interval(r_low, r_high, days)
        unbounded = low is None and math.isfinite(r_low) and math.isfinite(r_high)
        rows.append(
            {
                "date": labels[end],
                "r": _num(r),
                "r_low": _num(r_low),
                "r_high": _num(r_high),
                "doubling_days": _num(fit.doubling_time_[i] * days),
                "doubling_low": _num(low),
                "doubling_high": _num(high),
                "doubling_interval": text,
                "doubling_at_least": _num(math.log(2) * days / r_high)
                if unbounded and r_high > 0
                else None,
                "halving_at_least": _num(math.log(2) * days / -r_low)
                if unbounded and r_low < 0
                else None,
            }
        )
    rate = {"daily": "Daily", "weekly": "Weekly", "monthly": "Monthly"}[series.period_type]
    return Table(
        f"{rate} growth rate of {series.name} (log-linear fit over {window} {series.unit})",
        ["date", "r", "r_low", "r_high", "doubling_days", "doubling_interval"],
        rows,
        [
            f"r per {UNIT_NAMES[series.period_type][0]}; r < 0: declining; doubling_days < 0"
            " is a halving time; 95% confidence intervals",
            "when r's interval spans 0 the doubling time's is unbounded: doubling in at least"
            " doubling_at_least days or halving in at least halving_at_least days"
            " (doubling_low and doubling_high are null)",
        ],
    )


#: Forecast models, the default first (chosen by the backtest in docs/methods.md).
FORECAST_MODELS = (
    "adaptive",
    "gapaware",
    "skewed",
    "growth",
    "renewal",
    "last_value",
    "week_mean",
)
#: Models given the days nobody reported as NaN (they fill them themselves).
TAKES_GAPS = ("adaptive", "gapaware")
#: Sample paths when none are asked for: (forecast, backtest) per model; the
#: renewal model simulates day by day and is the slow one.
DEFAULT_SAMPLES = {
    "adaptive": (4000, 2000),
    "gapaware": (4000, 2000),
    "skewed": (4000, 2000),
    "growth": (4000, 2000),
    "renewal": (2000, 500),
}
_GROWTH_KINDS: dict[str, type[GrowthForecast]] = {
    "adaptive": AdaptiveGrowthForecast,
    "gapaware": GapAwareGrowthForecast,
    "skewed": SkewedGrowthForecast,
    "growth": GrowthForecast,
}


class _GapForecaster:
    """A forecaster the backtest gives histories with their gaps (``takes_gaps``)."""

    takes_gaps = True

    def __init__(self, model: GrowthForecast) -> None:
        self.model = model

    def __call__(self, history: NDArray[np.float64], h: int) -> NDArray[np.float64]:
        return np.asarray(self.model.fit(history).quantiles_, dtype=float)


def _samples(model: str, samples: int | None, backtest: bool) -> int:
    if samples is not None:
        return samples
    return DEFAULT_SAMPLES.get(model, (0, 0))[1 if backtest else 0]


def forecaster(
    model: str,
    si: SerialInterval,
    *,
    horizon: int,
    samples: int | None = None,
    seed: int = 0,
    noise: str = "negbin",
    backtest: bool = False,
) -> Forecaster:
    """The model as a function from a history to quantiles at LEVELS, for forecast and backtest."""
    if model not in FORECAST_MODELS:
        raise SitroomError(f"unknown forecast model {model!r}: use {', '.join(FORECAST_MODELS)}")
    if model == "last_value":
        return last_value
    if model == "week_mean":
        return week_mean
    if model in _GROWTH_KINDS:
        growth = _GROWTH_KINDS[model](
            horizon=horizon, n_samples=_samples(model, samples, backtest), random_state=seed
        )
        if model in TAKES_GAPS:
            return _GapForecaster(growth)

        def run_growth(history: NDArray[np.float64], h: int) -> NDArray[np.float64]:
            return np.asarray(growth.fit(history).quantiles_, dtype=float)

        return run_growth
    if noise not in ("negbin", "poisson"):
        raise SitroomError("the noise must be negbin or poisson")
    renewal = RenewalForecast(
        horizon=horizon,
        n_samples=_samples(model, samples, backtest),
        random_state=seed,
        observation="poisson" if noise == "poisson" else "negbin",
        **si.kwargs(),
    )

    def run_renewal(history: NDArray[np.float64], h: int) -> NDArray[np.float64]:
        return np.asarray(renewal.fit(history).quantiles_, dtype=float)

    return run_renewal


def _forecast_notes(
    model: str, series: Series, si: SerialInterval, samples: int, seed: int
) -> list[str]:
    """What the model did on this series, from a fit of its own."""
    values = series.values
    if model in _GROWTH_KINDS:
        fit = _GROWTH_KINDS[model](horizon=1, n_samples=10, random_state=seed).fit(
            values if model in TAKES_GAPS else causal_fill(values)
        )
        if isinstance(fit, AdaptiveGrowthForecast) and not bool(fit.breaks_):
            shape = (
                f"no zero or unreported day in the last {fit.break_window} days: Student-t"
                f"({fit.light_df:g}) below the median at {fit.light_scale:g} x the spread,"
                f" Student-t({fit.tail_df:g}) above at {fit.upper_scale:g} x, on the log scale,"
                f" and a growth-rate sd of at least {fit.rate_floor:g} x the rate's size;"
                " the starting day's counting noise does not grow with the lead"
            )
        elif isinstance(fit, GapAwareGrowthForecast):
            shape = (
                f"Student-t({fit.lower_df:g}) below the median at {fit.lower_scale:g} x the"
                f" spread, Student-t({fit.tail_df:g}) above at {fit.upper_scale:g} x, on the"
                " log scale; the starting day's counting noise does not grow with the lead"
            )
            if isinstance(fit, AdaptiveGrowthForecast):
                shape = f"a zero or an unreported day in the last {fit.break_window} days: " + shape
            gap = int(fit.gap_)
            if gap:
                shape += (
                    f"; the last {gap} day(s) were not reported: leads counted from the last"
                    " reported day"
                )
        elif model == "skewed":
            shape = (
                f"two-piece Student-t({fit.tail_df:g}) on the log scale, {fit.lower_scale:g} x"
                f" the spread below the median and {fit.upper_scale:g} x above"
            )
        else:
            shape = f"Student-t({fit.tail_df:g}) on the log scale"
        return [
            "log-linear growth from the last count (mean of the Theil-Sen slopes over 7 and"
            f" 21 days): {float(fit.growth_rate_):+.4f} per day; intervals from its"
            f" one-day-ahead errors over the last {fit.errors_used_} days (log-scale spread"
            f" {float(fit.spread_):.3f}, growth-rate sd {float(fit.rate_sd_):.4f})"
            f" with counting noise; {shape}",
            f"{samples} samples (quadrature on the log scale), seed {seed}",
        ]
    if model == "renewal":
        renewal = RenewalForecast(horizon=1, n_samples=10, random_state=seed, **si.kwargs()).fit(
            values
        )
        return [
            si.describe(),
            f"R at the origin: mean {renewal.r_shape_ * renewal.r_scale_:.3f}; daily drift"
            f" of log R {renewal.r_drift_:.3f}; negative-binomial dispersion"
            f" {renewal.dispersion_:.3g}",
            f"{samples} sample paths, seed {seed}",
        ]
    what = "the last value" if model == "last_value" else "the mean of the last 7 days"
    return [
        f"naive baseline: {what}, with intervals from the quantiles of its own past errors"
        " (log scale) at each lead"
    ]


def forecast(
    series: Series,
    si: SerialInterval,
    *,
    model: str = FORECAST_MODELS[0],
    horizon: int = 14,
    samples: int | None = None,
    seed: int = 0,
    noise: str = "negbin",
) -> Table:
    _daily_only(series, "the forecast")
    if series.values.size < GrowthForecast.MIN_HISTORY:
        raise SitroomError(
            f"{series.name}: a forecast needs at least {GrowthForecast.MIN_HISTORY} days,"
            f" not {series.values.size}"
        )
    run = forecaster(model, si, horizon=horizon, samples=samples, seed=seed, noise=noise)
    # Gaps reach here only when kept for a model that fills them itself (--fill linear).
    values = series.values if model in TAKES_GAPS else causal_fill(series.values)
    quantiles = run(values, horizon)
    last = series.dates[-1]
    rows = []
    for h in range(horizon):
        q = quantiles[h]
        rows.append(
            {
                "date": (last + timedelta(days=h + 1)).isoformat(),
                "median": _num(q[2]),
                "q05": _num(q[0]),
                "q25": _num(q[1]),
                "q75": _num(q[3]),
                "q95": _num(q[4]),
            }
        )
    return Table(
        f"Forecast of {series.name} ({model}), {horizon} days from {last}",
        ["date", "median", "q05", "q25", "q75", "q95"],
        rows,
        [
            *_forecast_notes(model, series, si, _samples(model, samples, False), seed),
            "median with the 50% (q25-q75) and 90% (q05-q95) prediction intervals",
        ],
    )


def backtest_table(
    series: Series,
    si: SerialInterval,
    *,
    models: tuple[str, ...] = FORECAST_MODELS,
    horizon: int = 14,
    samples: int | None = None,
    seed: int = 0,
    min_history: int = 21,
    noise: str = "negbin",
) -> Table:
    _daily_only(series, "the backtest")
    results = run_backtest(
        series.values,
        {
            m: forecaster(
                m, si, horizon=horizon, samples=samples, seed=seed, noise=noise, backtest=True
            )
            for m in dict.fromkeys(models)
        },
        horizon=horizon,
        min_history=min_history,
    )
    rows = []
    leads = sorted({1, min(7, horizon), horizon})
    for r in results:
        row: dict[str, Any] = {
            "model": r.name,
            "coverage_50": r.coverage_50,
            "coverage_90": r.coverage_90,
            "wis": r.wis,
            "relative_wis": r.relative_wis,
        }
        for lead in leads:
            row[f"wis_h{lead}"] = r.per_horizon_wis[lead - 1]
        row["per_horizon_wis"] = r.per_horizon_wis
        row["per_horizon_coverage_50"] = r.per_horizon_coverage_50
        row["per_horizon_coverage_90"] = r.per_horizon_coverage_90
        rows.append(row)
    return Table(
        f"Rolling-origin backtest of {series.name}, 1 to {horizon} days ahead",
        [
            "model",
            "coverage_50",
            "coverage_90",
            "wis",
            "relative_wis",
            *(f"wis_h{x}" for x in leads),
        ],
        rows,
        [
            f"origins: every day from day {min_history + 1}; intervals 50% and 90%;"
            " WIS relative to the last-value baseline (below 1 is better);"
            " wis_hN: mean WIS N days ahead",
            *(
                [
                    f"{int(np.isnan(series.values).sum())} days were not reported: each"
                    " history is filled from the days before its origin, and those days"
                    " are not scored"
                ]
                if np.isnan(series.values).any()
                else []
            ),
        ],
    )


def percent(severity: cfr.Severity) -> str:
    """A ratio and its interval as percentages, three significant digits: "0.00155 % (...)"."""
    if math.isnan(severity.estimate):
        return "—"

    def shown(x: float) -> str:
        return "0" if x == 0 else f"{100 * x:.3g}"

    return f"{shown(severity.estimate)} % ({shown(severity.low)} to {shown(severity.high)} %)"


def cfr_table(
    cases: Series,
    deaths: Series,
    *,
    delay: tuple[float, float] | None,
    rolling: bool = False,
) -> Table:
    density = None
    notes = ["naive: deaths / cases with an exact (Clopper-Pearson) 95% interval"]
    if delay is not None:
        if cases.period_type == "daily":
            # The cfr package's convention: the gamma density at whole days.
            density = cfr.gamma_density(*delay)(np.arange(cases.values.size, dtype=float))
        else:
            # Weeks and months: the probability that the delay (in days) falls in each
            # period, k = 0 the period of onset (CDF differences; they sum to 1).
            from scipy import stats

            length = DAYS_PER_PERIOD[cases.period_type]
            edges = (np.arange(cases.values.size + 1) - 0.5).clip(min=0) * length
            cdf = stats.gamma.cdf(edges, delay[0], scale=delay[1])
            density = np.diff(cdf)
        notes.append(
            f"corrected: onset-to-death gamma, shape {delay[0]}, scale {delay[1]} days;"
            " likelihood maximised over p continuously, interval where it is within 1.92 of"
            " its maximum"
        )
    if rolling:
        naive = cfr.cfr_rolling(cases.values, deaths.values)
        corrected = (
            cfr.cfr_rolling(cases.values, deaths.values, density) if density is not None else None
        )
        rows = []
        for i, day in enumerate(cases.labels):
            row: dict[str, Any] = {
                "date": day,
                **{f"naive_{k}": v for k, v in naive[i].to_dict().items()},
                "naive_percent": percent(naive[i]),
            }
            if corrected is not None:
                row.update({f"corrected_{k}": v for k, v in corrected[i].to_dict().items()})
                row["corrected_percent"] = percent(corrected[i])
            rows.append(row)
        columns = ["date", "naive_percent"]
        if corrected is not None:
            columns += ["corrected_percent"]
        return Table(f"Case fatality to each day, {cases.name}", columns, rows, notes)
    naive_total = cfr.cfr_static(cases.values, deaths.values)
    rows = [{"method": "naive", **naive_total.to_dict(), "percent": percent(naive_total)}]
    if density is not None:
        corrected_total = cfr.cfr_static(cases.values, deaths.values, density)
        rows.append(
            {
                "method": "delay-corrected",
                **corrected_total.to_dict(),
                "percent": percent(corrected_total),
            }
        )
    totals = (
        f"{np.nansum(deaths.values):,.0f} deaths among {np.nansum(cases.values):,.0f} cases:"
        f" sums of {_span(deaths)} and {_span(cases)}"
    )
    return Table(
        f"Case fatality ratio, {cases.name}",
        ["method", "percent"],
        rows,
        [totals, *notes],
    )


#: The CDC's original EARS thresholds (Hutwagner et al. 2003), for ``--thresholds cdc``.
CDC_THRESHOLDS = {"C1": 3.0, "C2": 3.0, "C3": 2.0}


def _thresholds_note(thresholds: dict[str, float] | None) -> str:
    given = thresholds or {}
    parts = [
        f"{m} alarm above {given[m]:g}"
        if m in given
        else f"{m} above z({1 - (0.025 if m == 'C3' else 0.001):g}) = {1.96 if m == 'C3' else 3.09}"
        for m in ("C1", "C2", "C3")
    ]
    return ", ".join(parts) + " (C3 as the CDC defines it)"


def alerts_many(
    series: dict[str, Series],
    *,
    baseline: int = 7,
    min_sigma: float = 1.0,
    latest: bool = False,
    thresholds: dict[str, float] | None = None,
) -> Table:
    """EARS C1-C3 and CUSUM for several org units' series (same days) in one call.

    Rows are the days with any alarm, per unit; with ``latest``, every unit's
    last day (alarm or not), for a map of today's situation.
    """
    names = list(series)
    y = np.vstack([series[n].values for n in names])
    dates = series[names[0]].labels
    unit = series[names[0]].unit
    results = {
        "c1": alerts.ears(
            y,
            method="C1",
            baseline=baseline,
            min_sigma=min_sigma,
            threshold=(thresholds or {}).get("C1"),
        ),
        "c2": alerts.ears(
            y,
            method="C2",
            baseline=baseline,
            min_sigma=min_sigma,
            threshold=(thresholds or {}).get("C2"),
        ),
        "c3": alerts.ears(
            y,
            method="C3",
            baseline=baseline,
            min_sigma=min_sigma,
            threshold=(thresholds or {}).get("C3"),
        ),
        "cusum": alerts.cusum(y, start=min(28, y.shape[1] - 1)),
    }
    any_alarm = np.any([r.alarm for r in results.values()], axis=0)
    rows = []
    for j, name in enumerate(names):
        days = [len(dates) - 1] if latest else np.flatnonzero(any_alarm[j]).tolist()
        for i in days:
            row: dict[str, Any] = {"org_unit": name, "date": dates[i]}
            row["count"] = _num(y[j, i])
            for key, result in results.items():
                row[key] = _num(result.statistic[j, i])
                row[f"{key}_alarm"] = bool(result.alarm[j, i])
            rows.append(row)
    units_alarmed = int(np.any(any_alarm, axis=1).sum())
    columns = ["org_unit", "date", "count"]
    for key in results:
        columns += [key, f"{key}_alarm"]
    return Table(
        f"Outbreak alerts for {len(names)} org units",
        columns,
        rows,
        [
            f"EARS baseline {baseline} {unit}, minimum sigma {min_sigma}; "
            + _thresholds_note(thresholds)
            + "; CUSUM k 1.04, h 2.26",
            f"{units_alarmed} of {len(names)} org units had an alarm from"
            f" {dates[0]} to {dates[-1]}",
        ],
    )


def alerts_table(
    series: Series,
    *,
    baseline: int = 7,
    min_sigma: float = 1.0,
    cusum_start: int | None = None,
    thresholds: dict[str, float] | None = None,
) -> Table:
    y = series.values
    c1 = alerts.ears(
        y,
        method="C1",
        baseline=baseline,
        min_sigma=min_sigma,
        threshold=(thresholds or {}).get("C1"),
    )
    c2 = alerts.ears(
        y,
        method="C2",
        baseline=baseline,
        min_sigma=min_sigma,
        threshold=(thresholds or {}).get("C2"),
    )
    c3 = alerts.ears(
        y,
        method="C3",
        baseline=baseline,
        min_sigma=min_sigma,
        threshold=(thresholds or {}).get("C3"),
    )
    start = cusum_start if cusum_start is not None else min(28, y.size - 1)
    cs = alerts.cusum(y, start=start)
    rows = []
    for i, day in enumerate(series.labels):
        rows.append(
            {
                "date": day,
                "count": _num(y[i]),
                "c1": _num(c1.statistic[i]),
                "c1_alarm": bool(c1.alarm[i]),
                "c2": _num(c2.statistic[i]),
                "c2_alarm": bool(c2.alarm[i]),
                "c3": _num(c3.statistic[i]),
                "c3_alarm": bool(c3.alarm[i]),
                "cusum": _num(cs.statistic[i]),
                "cusum_alarm": bool(cs.alarm[i]),
            }
        )
    counts = {
        k: int(np.sum(a.alarm)) for k, a in (("C1", c1), ("C2", c2), ("C3", c3), ("CUSUM", cs))
    }
    return Table(
        f"Outbreak alerts for {series.name}",
        [
            "date",
            "count",
            "c1",
            "c1_alarm",
            "c2",
            "c2_alarm",
            "c3",
            "c3_alarm",
            "cusum",
            "cusum_alarm",
        ],
        rows,
        [
            f"EARS baseline {baseline} {series.unit}, minimum sigma {min_sigma}; "
            + _thresholds_note(thresholds)
            + "; CUSUM k 1.04, h 2.26"
            f" from {UNIT_NAMES[series.period_type][0]} {start + 1}, mean of the {series.unit}"
            " before",
            "alarms: " + ", ".join(f"{k} {v}" for k, v in counts.items()),
        ],
    )


def credibility_table(
    series: dict[str, Series],
    *,
    reference_cfr: float,
    reference: str,
    cumulative: dict[str, Series] | None = None,
    roles: dict[str, str] | None = None,
) -> Table:
    """The credibility checks of ``series`` (flows) and ``cumulative`` (stocks).

    ``roles`` (a country's, part -> element code) says which series are the
    cases, the deaths and the cumulative counts that must add up.
    """
    rows = []
    parts = roles or {}

    def add(element: str, result: credibility.CheckResult) -> None:
        rows.append({"element": element, **result.to_dict()})

    cum = cumulative or {}
    total = parts.get("cumulative_cases")
    terms = [parts.get(p) for p in ("cumulative_recovered", "active", "cumulative_deaths")]
    if total in cum and all(t in cum for t in terms):
        named = [t for t in terms if t is not None]
        add(
            total,
            credibility.identity_check(
                cum[total].values,
                sum((cum[t].values for t in named), np.zeros(len(cum[total].values))),
                tolerance=20,
                name=f"{total} = {' + '.join(named)}",
                terms={t: cum[t].values for t in named},
            ),
        )
    for name, s in series.items():
        add(name, credibility.last_digit_check(s.values))
        add(name, credibility.dispersion_check(s.values))
        if s.period_type == "daily":  # a weekday pattern needs days
            add(name, credibility.weekday_check(s.values, s.dates))
        add(name, credibility.repeat_check(s.values))
    cases, deaths = parts.get("cases"), parts.get("deaths")
    if cases in series and deaths in series:
        add(
            deaths,
            credibility.fatality_check(
                float(np.nansum(series[deaths].values)),
                float(np.nansum(series[cases].values)),
                reference_cfr=reference_cfr,
                reference=reference,
            ),
        )
    return Table(
        "Credibility of the reported series",
        ["element", "check", "verdict", "sentence"],
        rows,
        [f"a check fails at p < {credibility.ALPHA}"],
    )


def nowcast_table(
    triangle: NDArray[np.float64], periods: list[date], name: str, *, max_delay: int | None = None
) -> Table:
    model = ChainLadderNowcast(max_delay=max_delay).fit(triangle)
    rows = [
        {"period": p.isoformat(), "reported": _num(r), "nowcast": _num(n)}
        for p, r, n in zip(periods, model.reported_, model.nowcast_, strict=True)
    ]
    return Table(
        f"Nowcast of {name} (chain ladder)",
        ["period", "reported", "nowcast"],
        rows,
        ["delay distribution: " + ", ".join(f"{p:.3f}" for p in model.delay_pmf_)],
    )


def ascertainment_table(
    areas: list[tuple[str, str, float, float]],
    *,
    detected_share: tuple[float, float],
    disease_share: tuple[float, float],
    seed: int = 0,
    tested: list[float] | None = None,
    confirmed: list[float] | None = None,
) -> Table:
    result = Ascertainment(
        detected_share=detected_share, disease_share=disease_share, random_state=seed
    ).fit([a[2] for a in areas], [a[3] for a in areas], tested=tested, confirmed=confirmed)
    rows = []
    for i, (code, name, cases, population) in enumerate(areas):
        inf, ar = result.infections[i], result.attack_rate[i]
        rows.append(
            {
                "org_unit": code,
                "name": name,
                "suspected": _count(cases),
                "population": _count(population),
                "infections": _num(inf[0]),
                "infections_low": _num(inf[1]),
                "infections_high": _num(inf[2]),
                "attack_rate": _num(ar[0]),
                "attack_rate_low": _num(ar[1]),
                "attack_rate_high": _num(ar[2]),
                "draws_over_population": _num(result.share_over_population[i]),
            }
        )
    notes = (
        []
        if tested is None
        else [
            "the share of suspected cases that were the disease is"
            " each area's test positivity, not the range above"
        ]
    )
    return Table(
        "Infections and attack rates from suspected cases",
        [
            "org_unit",
            "name",
            "suspected",
            "infections",
            "attack_rate",
            "attack_rate_low",
            "attack_rate_high",
        ],
        rows,
        [
            "share of infections that became suspected cases:"
            f" {detected_share[0]:g}-{detected_share[1]:g}"
            f" (uniform); share of suspected cases that were the disease: {disease_share[0]:g}-"
            f"{disease_share[1]:g} (uniform); 95% intervals",
            *notes,
        ],
    )
