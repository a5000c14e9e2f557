"""Credibility checks: how far a reported series' numbers can be trusted.

Each check returns a statistic, a p-value (or a score), a verdict and one
plain sentence. They look for what reported counts cannot plausibly do:

- ``identity_check``: stocks and flows that do not add up, beyond rounding;
- ``last_digit_check``: last digits far from uniform (rounding, digit preference);
- ``dispersion_check``: a series smoother than any counting process gives
  (under-dispersion against Poisson around a smooth trend);
- ``fatality_check``: deaths implausibly few (or many) beside a reference
  case fatality;
- ``weekday_check``: counts that depend on the day of the week;
- ``repeat_check``: the same value reported on consecutive days more often
  than chance allows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal, stats

from sitroom.epi._checks import FloatArray

#: Below this p-value a check is called a failure.
ALPHA = 0.01


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one credibility check."""

    check: str
    statistic: float
    p_value: float | None
    score: float | None
    verdict: str  # "pass", "fail" or "not enough data"
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        def clean(x: float | None) -> float | None:
            if x is None or not np.isfinite(x):
                return None if x is None or np.isnan(x) else float(x)
            return float(f"{x:.6g}")

        return {
            "check": self.check,
            "statistic": clean(self.statistic),
            "p_value": clean(self.p_value),
            "score": clean(self.score),
            "verdict": self.verdict,
            "sentence": self.sentence,
        }


def _not_enough(check: str, sentence: str) -> CheckResult:
    """A check that could not be made, and why."""
    return CheckResult(check, np.nan, None, None, "not enough data", sentence)


def _verdict(p: float) -> str:
    return "fail" if p < ALPHA else "pass"


def _p(p: float) -> str:
    return "p < 1e-300" if p < 1e-300 else f"p = {p:.2g}"


def _finite(values: ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=float)
    return np.asarray(array[np.isfinite(array)], dtype=float)


def _longest_run(values: ArrayLike) -> FloatArray:
    """The longest stretch of consecutive days with a value (a trend needs neighbours)."""
    array = np.asarray(values, dtype=float)
    ok = np.concatenate([[False], np.isfinite(array), [False]])
    edges = np.flatnonzero(np.diff(ok.astype(int)))
    if edges.size == 0:
        return np.zeros(0)
    starts, stops = edges[::2], edges[1::2]
    longest = int(np.argmax(stops - starts))
    return np.asarray(array[starts[longest] : stops[longest]], dtype=float)


def _left_out(gaps: FloatArray, failed: NDArray[np.bool_], terms: Mapping[str, FloatArray]) -> str:
    """The sentence for a term of the right side that is exactly the gap on failing days.

    ``gaps`` are right minus left. Where a term equals the gap, the other
    figures add up without it: the term seems to have been left out (of the
    left side, or counted in another term). The term that explains the most
    failing days is named; "" when none explains any.
    """
    failures = int(failed.sum())
    matches = {name: int((failed & (gaps == values)).sum()) for name, values in terms.items()}
    if not matches or max(matches.values()) == 0:
        return ""
    name = max(matches, key=lambda t: matches[t])  # the first named on a tie
    found = matches[name]
    on = f"on all {failures}" if found == failures else f"on {found} of these {failures} days"
    return (
        f" The gap is exactly {name} {on}: the other figures add up without it,"
        f" as if {name} had been left out."
    )


def identity_check(
    left: ArrayLike,
    right: ArrayLike,
    *,
    tolerance: float,
    name: str,
    terms: Mapping[str, ArrayLike] | None = None,
) -> CheckResult:
    """Share of days where ``left`` and ``right`` differ by more than ``tolerance``.

    ``terms``, the named terms of the right side (day by day, as ``right``),
    let the sentence say when a failing day's gap (right minus left) is
    exactly one of them, as when cumulative cases are published without the
    deaths in them.
    """
    a, b = np.asarray(left, dtype=float), np.asarray(right, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n == 0:
        return _not_enough("identity", f"{name}: no day has both sides.")
    gaps = b[ok] - a[ok]
    failed = np.abs(gaps) > tolerance
    failures = int(failed.sum())
    share = failures / n
    verdict = "fail" if failures else "pass"
    worst = float(np.abs(gaps).max())
    named = {t: np.asarray(v, dtype=float)[ok] for t, v in (terms or {}).items()}
    return CheckResult(
        "identity",
        share,
        None,
        share,
        verdict,
        f"{name} fails on {failures} of {n} days beyond a tolerance of {tolerance:g}"
        f" (largest gap {worst:,.0f})." + _left_out(gaps, failed, named),
    )


def last_digit_check(values: ArrayLike, *, min_value: int = 10) -> CheckResult:
    """Chi-square test that the last digits of counts >= ``min_value`` are uniform."""
    v = _finite(values)
    v = v[v >= min_value].astype(np.int64)
    if v.size < 20:
        return _not_enough(
            "last_digit",
            f"Only {v.size} counts of {min_value} or more: too few to judge last digits.",
        )
    counts = np.bincount(v % 10, minlength=10)
    chi2, p = stats.chisquare(counts)
    zero_share = counts[0] / v.size
    return CheckResult(
        "last_digit",
        float(chi2),
        float(p),
        float(zero_share),
        _verdict(p),
        f"{zero_share:.0%} of {v.size} counts end in 0 (10% expected);"
        f" the last digits are {'not ' if p < ALPHA else ''}uniform"
        f" (chi-square {chi2:.0f}, {_p(p)}).",
    )


def _trend(y: FloatArray, window: int) -> FloatArray:
    """A smooth trend that follows growth and turns: a local quadratic on the log scale.

    (Savitzky-Golay, ``window`` days, degree 2.)
    """
    smooth = signal.savgol_filter(np.log1p(y), window, 2, mode="interp")
    return np.asarray(np.maximum(np.expm1(smooth), 0), dtype=float)


def dispersion_check(values: ArrayLike, *, window: int = 7) -> CheckResult:
    """Pearson dispersion of counts around a smooth trend, against Poisson (lower tail).

    Uses the longest run of consecutive days with values.

    A counting process scatters around its trend at least as much as Poisson
    noise (dispersion ~1, usually more). A dispersion far below 1 means the
    numbers are smoother than counting could produce.
    """
    y = _longest_run(values)
    if y.size < 3 * window:
        return _not_enough("dispersion", "Too few days to judge the day-to-day scatter.")
    mu = _trend(y, window)
    keep = mu > 0
    n = int(keep.sum())
    if n < 3 * window:
        return _not_enough("dispersion", "Too few days to judge the day-to-day scatter.")
    pearson = float(((y[keep] - mu[keep]) ** 2 / mu[keep]).sum())
    dof = n * (1 - 3 / window)  # a local quadratic uses about 3 of every `window` days
    dispersion = pearson / dof
    p = float(stats.chi2.cdf(pearson, dof))  # lower tail: too smooth
    smoother = p < ALPHA
    return CheckResult(
        "dispersion",
        dispersion,
        p,
        dispersion,
        _verdict(p),
        f"Day-to-day scatter is {dispersion:.2g} times Poisson noise around the trend;"
        + (" smoother than any counting process gives" if smoother else " not too smooth")
        + f" ({_p(p)}).",
    )


def fatality_check(
    deaths: float, cases: float, *, reference_cfr: float, reference: str
) -> CheckResult:
    """Poisson test of the deaths beside ``cases x reference_cfr`` (two-sided)."""
    if cases <= 0:
        return _not_enough("fatality", "No cases.")
    expected = cases * reference_cfr
    low = float(stats.poisson.cdf(deaths, expected))
    high = float(stats.poisson.sf(deaths - 1, expected))
    p = min(1.0, 2 * min(low, high))
    ratio = deaths / expected
    return CheckResult(
        "fatality",
        deaths / cases,
        p,
        ratio,
        _verdict(p),
        f"{deaths:,.0f} deaths among {cases:,.0f} cases is a fatality of {deaths / cases:.4%};"
        f" at {reference} ({reference_cfr:.2%}) about {expected:,.0f} were expected"
        f" ({ratio:.2g} times that; {_p(p)}).",
    )


def weekday_check(values: ArrayLike, dates: Sequence[date], *, window: int = 7) -> CheckResult:
    """Kruskal-Wallis test that counts relative to their trend do not depend on the weekday."""
    y = np.asarray(values, dtype=float)
    ok = np.isfinite(y)
    y, days = y[ok], [d for d, k in zip(dates, ok, strict=True) if k]
    if y.size < 4 * 7:
        return _not_enough("weekday", "Fewer than four weeks: too few to judge weekday effects.")
    if np.ptp(y) == 0:
        return _not_enough(
            "weekday", "Every count is the same: nothing to compare between weekdays."
        )
    mu = _trend(y, window)
    ratio = np.log1p(y) - np.log1p(mu)
    groups = [ratio[[d.weekday() == w for d in days]] for w in range(7)]
    h, p = stats.kruskal(*groups)
    spread = max(np.median(g) for g in groups) - min(np.median(g) for g in groups)
    return CheckResult(
        "weekday",
        float(h),
        float(p),
        float(np.expm1(spread)),
        _verdict(p),
        f"Counts relative to their trend differ by weekday by up to {np.expm1(spread):.0%}"
        f" (Kruskal-Wallis {h:.1f}, {_p(p)}).",
    )


def repeat_check(values: ArrayLike, *, min_value: int = 20) -> CheckResult:
    """Consecutive equal values against the chance of a repeat for Poisson counts.

    For two independent Poisson counts with mean m the chance of equality is
    exp(-2m) I0(2m) (about 1 / (2 sqrt(pi m))); the observed number of
    repeats is compared with the sum of these chances (Poisson test, upper tail).
    """
    y = _finite(values)
    prev, cur = y[:-1], y[1:]
    keep = (prev >= min_value) & (cur >= min_value)
    if keep.sum() < 10:
        return _not_enough(
            "repeat", f"Too few consecutive days with counts of {min_value} or more."
        )
    m = (prev[keep] + cur[keep]) / 2
    chance = stats.skellam.pmf(0, m, m)
    expected = float(chance.sum())
    observed = int((prev[keep] == cur[keep]).sum())
    p = float(stats.poisson.sf(observed - 1, expected))
    return CheckResult(
        "repeat",
        observed,
        p,
        observed / expected if expected else np.inf,
        _verdict(p),
        f"The same value was reported on consecutive days {observed} times where chance"
        f" gives about {expected:.1f} ({_p(p)}).",
    )
