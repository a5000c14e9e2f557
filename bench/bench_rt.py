"""Benchmark: Rt for many series at once against epyestim, series by series.

Generates ``--series`` deterministic epidemics of ``--days`` days (a renewal
process with a wandering reproduction number), then estimates the Cori
posterior of R over 7-day windows twice on the same inputs:

- epyestim 0.1's ``estimate_r`` (PyPI, pandas based), called once per series;
- sitroom's ``CoriRt``, one call for all series (numpy, vectorised).

Each is run ``--repeat`` times and the fastest run counts (as timeit does).
Both use epyestim's conventions (no first-day import, windows from the first
full one, prior shape 1 and scale 5, the discretised Omicron serial interval
normalised to sum to 1). Prints both times, their ratio, and the largest
relative difference between the posterior shapes, scales, means and 2.5 %
and 97.5 % quantiles.

Usage::

    pip install -r bench/requirements.txt
    python bench/bench_rt.py --series 2000 --days 365
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sitroom.epi.rt import CoriRt
from sitroom.epi.serial_interval import parametric_si

SI_MEAN, SI_SD = 3.5, 2.4
WINDOW = 7


def epidemics(n_series: int, n_days: int, w: np.ndarray, seed: int = 2022) -> np.ndarray:
    """Renewal-process counts in waves: R swings around 1 (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    days = np.arange(n_days)
    period = rng.uniform(60, 180, (n_series, 1))
    phase = rng.uniform(0, 2 * np.pi, (n_series, 1))
    r = np.exp(0.3 * np.sin(2 * np.pi * days / period + phase))
    cases = np.zeros((n_series, n_days))
    cases[:, 0] = rng.integers(50, 500, n_series)
    lags = np.arange(1, w.size)
    for t in range(1, n_days):
        usable = lags[lags <= t]
        lam = cases[:, t - usable] @ w[usable]
        cases[:, t] = rng.poisson(np.minimum(r[:, t] * lam, 1e6)) + (lam == 0)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    args = parser.parse_args()

    import pandas as pd
    from epyestim.estimate_r import estimate_r, gamma_quantiles

    w = parametric_si(SI_MEAN, SI_SD, 40)
    w = w / w.sum()  # epyestim requires a distribution summing to 1
    cases = epidemics(args.series, args.days, w)
    index = pd.date_range("2022-01-01", periods=args.days, freq="D")
    print(
        f"{args.series} series x {args.days} days; daily counts {cases.min():,.0f}"
        f" to {cases.max():,.0f}, median {np.median(cases):,.0f}"
    )

    t_theirs = np.inf
    for _ in range(args.repeat):
        start = time.perf_counter()
        theirs = [
            estimate_r(pd.Series(row, index=index), w, a_prior=1.0, b_prior=5.0, window_size=WINDOW)
            for row in cases
        ]
        t_theirs = min(t_theirs, time.perf_counter() - start)
    start = time.perf_counter()
    their_q = [
        (
            gamma_quantiles(0.025, df.a_posterior.to_numpy(), df.b_posterior.to_numpy()),
            gamma_quantiles(0.975, df.a_posterior.to_numpy(), df.b_posterior.to_numpy()),
        )
        for df in theirs
    ]
    t_theirs_q = time.perf_counter() - start

    settings = {
        "si_distr": w,
        "mean_prior": 5.0,
        "std_prior": 5.0,
        "t_start": list(range(1, args.days - WINDOW + 2)),
        "t_end": list(range(WINDOW, args.days + 1)),
        "first_day_imported": False,
    }
    CoriRt(**settings, quantiles=()).fit(cases[:2])  # warm up imports and BLAS
    t_ours = np.inf
    for _ in range(args.repeat):
        start = time.perf_counter()
        ours = CoriRt(**settings, quantiles=()).fit(cases)
        t_ours = min(t_ours, time.perf_counter() - start)
    start = time.perf_counter()
    with_q = CoriRt(**settings, quantiles=(0.025, 0.975)).fit(cases)
    t_ours_q = time.perf_counter() - start - t_ours

    a = np.vstack([df.a_posterior.to_numpy() for df in theirs])
    b = np.vstack([df.b_posterior.to_numpy() for df in theirs])
    q_low = np.vstack([q[0] for q in their_q])
    q_high = np.vstack([q[1] for q in their_q])

    def worst(mine: np.ndarray, theirs_: np.ndarray) -> float:
        return float(np.max(np.abs(mine - theirs_) / np.abs(theirs_)))

    diffs = {
        "shape": worst(ours.shape_, a),
        "scale": worst(ours.scale_, b),
        "mean": worst(ours.r_mean_, a * b),
        "q2.5%": worst(with_q.r_quantiles_[..., 0], q_low),
        "q97.5%": worst(with_q.r_quantiles_[..., 1], q_high),
    }
    print(
        f"posterior (shape, scale): epyestim series by series {t_theirs:8.3f} s;"
        f" sitroom all at once {t_ours:8.3f} s; speed-up {t_theirs / t_ours:.0f}x (goal >= 50x)"
    )
    print(
        f"two quantiles on top (the same scipy function in both): epyestim {t_theirs_q:.3f} s,"
        f" sitroom {t_ours_q:.3f} s"
    )
    print(
        "largest relative difference: "
        + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
        + " (goal <= 1e-9)"
    )


if __name__ == "__main__":
    main()
