"""Forecast skill study: every model against the naive baselines on the 2022 wave.

Runs the rolling-origin backtest (``sitroom.epi.backtest``) of each forecast
model on the national series and the 13 regions of the bundled 2022 data
(new persons with fever; the regions' 21 unreported days filled linearly, as
``--fill linear`` does), 1 to 14 days ahead from every origin after day 21,
and prints Markdown tables: per lead time pooled over the 14 series (the
geometric mean of each series' WIS ratio to a baseline, and the mean
coverage), then per series. ``docs/methods.md`` ("Forecast") holds its output.

Usage::

    python bench/forecast_skill.py                 # adaptive, gapaware, skewed, growth, baselines
    python bench/forecast_skill.py --models growth renewal last_value week_mean
    python bench/forecast_skill.py --simulated          # calibration on renewal epidemics
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sitroom.analysis.defaults import OMICRON_SI_MEAN, OMICRON_SI_SD
from sitroom.analysis.runs import FORECAST_MODELS, SerialInterval, forecaster
from sitroom.demo import demo_case_series
from sitroom.epi.backtest import BacktestResult, backtest, pool
from sitroom.epi.forecast import simulate_renewal
from sitroom.epi.serial_interval import parametric_si

LEADS = (1, 7, 14)


def real_series() -> dict[str, np.ndarray]:
    return {name: s.values for name, s in demo_case_series().items()}


def simulate(r: np.ndarray, seed: int) -> np.ndarray:
    """A renewal epidemic with the Omicron serial interval and Poisson counts."""
    return simulate_renewal(r, parametric_si(OMICRON_SI_MEAN, OMICRON_SI_SD, r.size), seed=seed)


#: R over 90 days: constant (flat, falling, rising) and changing (a decline, a step).
SCENARIOS = {
    "constant R = 1.0": np.full(90, 1.0),
    "constant R = 0.93": np.full(90, 0.93),
    "constant R = 1.04": np.full(90, 1.04),
    "R falls 1.3 to 0.75": np.linspace(1.3, 0.75, 90),
    "R steps 1.15 to 0.85 on day 45": np.where(np.arange(90) < 45, 1.15, 0.85),
}


def run(
    series: dict[str, np.ndarray], models: list[str], horizon: int
) -> dict[str, list[BacktestResult]]:
    si = SerialInterval(OMICRON_SI_MEAN, OMICRON_SI_SD)
    out = {}
    for name, values in series.items():
        chosen = {m: forecaster(m, si, horizon=horizon, seed=0, backtest=True) for m in models}
        out[name] = backtest(values, chosen, horizon=horizon, min_history=21)
    return out


def pooled_table(per_series: dict[str, list[BacktestResult]]) -> str:
    lines = [
        "| model | lead (days) | WIS / last value | WIS / week mean"
        " | 50 % coverage | 90 % coverage |",
        "|---|---|---|---|---|---|",
    ]
    for p in pool(per_series):
        for lead in LEADS:
            lines.append(
                f"| {p.name} | {lead} | {p.relative_wis['last_value'][lead - 1]:.3f}"
                f" | {p.relative_wis['week_mean'][lead - 1]:.3f}"
                f" | {p.coverage_50[lead - 1]:.3f} | {p.coverage_90[lead - 1]:.3f} |"
            )
        lines.append(
            f"| {p.name} | 1-14 | {p.relative_wis_overall['last_value']:.3f}"
            f" | {p.relative_wis_overall['week_mean']:.3f}"
            f" | {p.coverage_50_overall:.3f} | {p.coverage_90_overall:.3f} |"
        )
    return "\n".join(lines)


def series_table(per_series: dict[str, list[BacktestResult]]) -> str:
    models = [r.name for r in next(iter(per_series.values()))]
    head = (
        "| series | "
        + " | ".join(f"{m}: WIS / LV (h1, h7, h14, all) · cov 50/90" for m in models)
        + " |"
    )
    lines = [head, "|---|" + "---|" * len(models)]
    for name, results in per_series.items():
        base = next(r for r in results if r.name == "last_value")
        cells = []
        for r in results:
            ratio = [r.per_horizon_wis[k - 1] / base.per_horizon_wis[k - 1] for k in LEADS]
            cells.append(
                ", ".join(f"{x:.2f}" for x in ratio)
                + f", **{r.wis / base.wis:.2f}** · {r.coverage_50:.2f}/{r.coverage_90:.2f}"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=["adaptive", "gapaware", "skewed", "growth", "last_value", "week_mean"],
        choices=FORECAST_MODELS,
    )
    parser.add_argument("--horizon", type=int, default=14)
    parser.add_argument(
        "--simulated",
        action="store_true",
        help="Score 90 %% coverage on simulated renewal epidemics instead.",
    )
    parser.add_argument("--runs", type=int, default=20, help="Simulated epidemics per scenario.")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.simulated:
        print("| scenario | model | 50 % coverage | 90 % coverage |\n|---|---|---|---|")
        for label, r in SCENARIOS.items():
            sims = {f"run {i}": simulate(r, seed=i) for i in range(args.runs)}
            for p in pool(run(sims, args.models, args.horizon)):
                if p.name in ("last_value", "week_mean") and p.name not in args.models:
                    continue
                print(
                    f"| {label} | {p.name} | {p.coverage_50_overall:.3f}"
                    f" | {p.coverage_90_overall:.3f} |"
                )
    else:
        per_series = run(real_series(), args.models, args.horizon)
        print(pooled_table(per_series))
        print()
        print(series_table(per_series))
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
