"""Serial-interval distributions as EpiEstim discretises them."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from sitroom.epi._checks import FloatArray, as_distribution


def discr_si(k: ArrayLike, mean: float, sd: float) -> FloatArray:
    """EpiEstim's discretised serial interval: a gamma shifted by one day.

    The probability of a serial interval of ``k`` days (k = 0, 1, ...) when the
    serial interval minus one is gamma with the given mean minus one and sd,
    discretised by EpiEstim's piecewise-linear formula (Cori et al. 2013, web
    appendix 11). Not renormalised, as in EpiEstim.

    Parameters
    ----------
    k : array-like of int
        Days.
    mean, sd : float
        Mean (> 1) and standard deviation (> 0) of the serial interval in days.
    """
    if mean <= 1:
        raise ValueError("the mean serial interval must be greater than 1 day")
    if sd <= 0:
        raise ValueError("the serial interval's standard deviation must be positive")
    k = np.asarray(k, dtype=float)
    a = ((mean - 1) / sd) ** 2
    b = sd**2 / (mean - 1)

    def cdf(x: FloatArray, shape: float) -> FloatArray:
        return np.asarray(stats.gamma.cdf(x, shape, scale=b), dtype=float)

    res = k * cdf(k, a) + (k - 2) * cdf(k - 2, a) - 2 * (k - 1) * cdf(k - 1, a)
    res = res + a * b * (2 * cdf(k - 1, a + 1) - cdf(k - 2, a + 1) - cdf(k, a + 1))
    return np.maximum(res, 0.0)


def parametric_si(mean: float, sd: float, n_days: int) -> FloatArray:
    """``discr_si(0..n_days-1)``, the distribution EpiEstim uses for a series of n_days."""
    return discr_si(np.arange(n_days), mean, sd)


def si_moments(distribution: ArrayLike) -> tuple[float, float]:
    """Mean and standard deviation of a discrete distribution on 0, 1, 2, ... days."""
    w = as_distribution(distribution)
    days = np.arange(w.size)
    mean = float((days * w).sum() / w.sum())
    var = float(((days - mean) ** 2 * w).sum() / w.sum())
    return mean, var**0.5


def read_distribution(path: Path) -> FloatArray:
    """A distribution from a CSV: one probability per line (a header and a day column allowed).

    The last column of each row is the probability of day 0, 1, 2, ... in order.
    """
    values: list[float] = []
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for line, row in enumerate(csv.reader(handle), start=1):
            if not row or not "".join(row).strip():
                continue
            try:
                values.append(float(row[-1]))
            except ValueError:
                if line == 1:
                    continue  # a header
                raise ValueError(f"{path}, line {line}: {row[-1]!r} is not a probability") from None
    distribution = as_distribution(values, str(path))
    if distribution[0] != 0:
        raise ValueError(f"{path}: the probability of a 0-day serial interval must be 0")
    return distribution
