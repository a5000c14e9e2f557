"""Case fatality risk: naive, and corrected for the delay from onset to death.

Naive: deaths / cases with an exact (Clopper-Pearson) interval. Corrected
(Nishiura et al. 2009, as the R package ``cfr``): early in an outbreak many
cases have not yet had time to die, so deaths are compared with the number of
cases whose outcome is expected to be known,

    u = sum_t sum_{j=0}^{t-1} cases_{t-j} f(j)

for an onset-to-death density f, by a binomial likelihood for deaths given u
(Poisson when cases >= ``poisson_threshold`` and the naive estimate < 5 %),
with the interval where the log-likelihood is within 1.92 of its maximum.

The ``cfr`` package profiles the likelihood over p = 0.0001, 0.0002, ..., 1,
too coarse for a ratio of 1.5e-5 (the DPRK's: it prints 0.0001 with the
interval 0.0001-0.0001). sitroom maximises the same likelihood continuously
(the estimate is deaths / u; the interval's ends are found by root-finding),
so it agrees with ``cfr`` to within its grid step and gives a real interval
for any ratio; ``method="grid"`` reproduces ``cfr`` exactly.

Reference: Nishiura H, Klinkenberg D, Roberts M, Heesterbeek JAP. Early
epidemiological assessment of the virulence of emerging infectious diseases:
a case study of an influenza pandemic. PLoS One 2009;4(8):e6852; Gupte P,
Kucharski A, Russell T, et al. cfr: Estimate disease severity and
under-reporting. R package (epiverse-trace), commit df01959.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from sitroom.epi._checks import FloatArray, as_counts

#: The grid of p over which the corrected likelihood is profiled.
P_GRID = np.arange(1, 10_001) / 10_000
POISSON_THRESHOLD = 100


@dataclass(frozen=True)
class Severity:
    """A severity estimate with its 95 % interval (NaN where it cannot be estimated)."""

    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        def clean(x: float) -> float | None:
            return None if np.isnan(x) else float(x)  # full precision: rounding is for tables

        return {"estimate": clean(self.estimate), "low": clean(self.low), "high": clean(self.high)}


NAN = Severity(np.nan, np.nan, np.nan)


def clopper_pearson(deaths: float, cases: float, level: float = 0.95) -> Severity:
    """deaths / cases with the exact binomial interval (R's ``binom.test``)."""
    if cases <= 0 or deaths > cases:
        return NAN
    d, n = round(deaths), round(cases)
    ci = stats.binomtest(d, n).proportion_ci(confidence_level=level, method="exact")
    return Severity(d / n, float(ci.low), float(ci.high))


def gamma_density(shape: float, scale: float) -> Callable[[FloatArray], FloatArray]:
    """A continuous gamma density f(x), evaluated at whole days as ``cfr`` does."""
    return lambda x: np.asarray(stats.gamma.pdf(x, shape, scale=scale), dtype=float)


def expected_outcomes(cases: ArrayLike, density: ArrayLike, *, offset: int = 0) -> FloatArray:
    """Cases whose outcome is expected to be known each day: sum_j cases_{t-j} f(j).

    ``density`` holds f(0), f(1), ...; only cases after the first ``offset``
    days count (the ``cfr`` package's burn-in).
    """
    c = as_counts(cases, "cases")[0]
    f = np.asarray(density, dtype=float)
    n = c.size
    counted = c.copy()
    counted[:offset] = 0.0
    out = np.zeros(n)
    for j in range(min(f.size, n)):
        out[j:] += f[j] * counted[: n - j]
    return out


def corrected_severity(
    total_cases: float,
    total_deaths: float,
    total_outcomes: float,
    *,
    poisson_threshold: int = POISSON_THRESHOLD,
    method: str = "continuous",
) -> Severity:
    """Maximum-likelihood severity given deaths among the expected known outcomes.

    ``method`` "continuous" (the default) maximises the likelihood over any p
    in [0, 1]; "grid" profiles it over the ``cfr`` package's grid.
    """
    if sum(v == 0 for v in (total_cases, total_deaths, total_outcomes)) >= 2:
        return NAN
    rounded = round(total_outcomes)
    p_mid = total_deaths / rounded if rounded else np.inf
    poisson = total_cases >= poisson_threshold and p_mid < 0.05

    def loglik(p: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            if poisson:
                out = stats.poisson.logpmf(total_deaths, p * rounded)
            else:
                # With no deaths the first term is 0 (not 0 * log 0) at p = 0 too.
                deaths_term = total_deaths * np.log(p) if total_deaths else 0.0
                out = deaths_term + (total_outcomes - total_deaths) * np.log1p(-p)
        return np.asarray(np.where(np.isnan(out), -np.inf, out), dtype=float)

    if method == "continuous":
        return _continuous(loglik, total_deaths, rounded if poisson else total_outcomes)
    if method != "grid":
        raise ValueError("method must be 'continuous' or 'grid'")
    lik = loglik(P_GRID)
    best = float(lik.max())
    if not np.isfinite(best):
        return NAN
    inside = P_GRID[lik >= best - 1.92]
    return Severity(float(P_GRID[int(np.argmax(lik))]), float(inside.min()), float(inside.max()))


def _continuous(
    loglik: Callable[[FloatArray], FloatArray], deaths: float, outcomes: float
) -> Severity:
    """The maximum of ``loglik`` over p in [0, 1] and where it is within 1.92 of it."""
    from scipy.optimize import brentq

    if outcomes <= 0:
        return NAN
    best_p = min(1.0, deaths / outcomes)
    best = float(loglik(np.array([best_p]))[0])
    if not np.isfinite(best):
        return NAN

    def below(p: float) -> float:
        return float(loglik(np.array([p]))[0]) - (best - 1.92)

    low = 0.0
    if best_p > 0:
        tiny = best_p * 1e-12
        low = brentq(below, tiny, best_p, xtol=best_p * 1e-9) if below(tiny) < 0 else 0.0
    high = 1.0
    if best_p < 1 and below(1.0) < 0:
        high = brentq(below, best_p, 1.0, xtol=max(best_p, 1e-12) * 1e-9)
    return Severity(best_p, float(low), float(high))


def cfr_static(
    cases: ArrayLike,
    deaths: ArrayLike,
    density: ArrayLike | None = None,
    *,
    method: str = "continuous",
) -> Severity:
    """Severity over the whole series: naive, or delay-corrected when a density is given."""
    c = as_counts(cases, "cases")[0]
    d = as_counts(deaths, "deaths")[0]
    if c.shape != d.shape:
        raise ValueError("cases and deaths must have the same length")
    if density is None:
        return clopper_pearson(d.sum(), c.sum())
    return corrected_severity(c.sum(), d.sum(), expected_outcomes(c, density).sum(), method=method)


def cfr_rolling(
    cases: ArrayLike,
    deaths: ArrayLike,
    density: ArrayLike | None = None,
    *,
    method: str = "continuous",
) -> list[Severity]:
    """:func:`cfr_static` on the data up to each day."""
    c = as_counts(cases, "cases")[0]
    d = as_counts(deaths, "deaths")[0]
    cum_c, cum_d = np.cumsum(c), np.cumsum(d)
    if density is None:
        return [clopper_pearson(x, n) for x, n in zip(cum_d, cum_c, strict=True)]
    cum_u = np.cumsum(expected_outcomes(c, density))
    return [
        corrected_severity(n, x, u, method=method)
        for n, x, u in zip(cum_c, cum_d, cum_u, strict=True)
    ]


def cfr_time_varying(
    cases: ArrayLike, deaths: ArrayLike, density: ArrayLike | None = None, *, burn_in: int = 7
) -> list[Severity]:
    """Daily severity: deaths on day t over cases (or expected known outcomes) on day t.

    The first ``burn_in`` days are not estimated, nor days with no cases or
    outcomes or with more deaths than them (as ``cfr::cfr_time_varying``).
    """
    c = as_counts(cases, "cases")[0]
    d = as_counts(deaths, "deaths")[0]
    known = c if density is None else np.round(expected_outcomes(c, density, offset=burn_in))
    out = []
    for t in range(c.size):
        if t < burn_in or known[t] <= 0 or d[t] > known[t]:
            out.append(NAN)
        else:
            out.append(clopper_pearson(d[t], known[t]))
    return out
