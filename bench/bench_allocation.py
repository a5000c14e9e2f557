"""Benchmark: allocation of scarce stock to many destinations, beside a proportional share.

Generates ``--destinations`` pharmacies and ``--items`` items (deterministic for a
seed): need over two weeks drawn from a gamma distribution, stock on hand up to a
few days of it, vulnerability weights from a log-normal (as population over 60
varies), central stock of each item between 30 % and 120 % of the total shortfall,
and a route capacity between 50 % and 150 % of each destination's shortfall for
``--limited`` of the destinations (the others unlimited). Then shares the stock
twice on the same inputs:

- the baseline, a proportional share in numpy: each item's stock split in
  proportion to shortfall, each destination's total cut to its route, whole units
  rounded down (no floor, no weights: what a spreadsheet would do);
- ``sitroom.supply.allocation.allocate``: the floor of ``--floor-days`` days first,
  then the linear program that minimises weighted unmet need (HiGHS), whole units,
  with its explanation (sentences, binding constraints, shadow prices).

Each is run ``--repeat`` times and the fastest run counts (as timeit does). Prints
both times, their ratio and the weighted unmet need of each (same weights).

Usage::

    python bench/bench_allocation.py --destinations 5000 --items 20
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from sitroom.supply.allocation import allocate

T = TypeVar("T")


def problem(n_dest: int, n_items: int, limited: float, seed: int = 2022) -> dict[str, np.ndarray]:
    """A deterministic allocation problem of the given size."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(5, 200, n_items)
    need = np.round(rng.gamma(2.0, 1.0, (n_dest, n_items)) * scale)
    daily_use = need / 14
    on_hand = np.round(daily_use * rng.uniform(0, 4, (n_dest, n_items)))
    shortfall = np.maximum(need - on_hand, 0)
    stock = np.round(shortfall.sum(axis=0) * rng.uniform(0.3, 1.2, n_items))
    weights = rng.lognormal(0.0, 0.4, n_dest)
    capacity = np.round(shortfall.sum(axis=1) * rng.uniform(0.5, 1.5, n_dest))
    capacity[rng.uniform(size=n_dest) >= limited] = np.inf
    return {
        "stock": stock,
        "need": need,
        "on_hand": on_hand,
        "daily_use": daily_use,
        "weights": weights,
        "capacity": capacity,
    }


def proportional(p: dict[str, np.ndarray]) -> np.ndarray:
    """Each item's stock in proportion to shortfall, cut to the routes, whole units."""
    shortfall = np.maximum(p["need"] - p["on_hand"], 0)
    total = shortfall.sum(axis=0)
    share = np.where(total > 0, np.minimum(p["stock"] / np.where(total > 0, total, 1), 1), 0)
    given = shortfall * share
    load = given.sum(axis=1)
    cut = np.where(load > p["capacity"], p["capacity"] / np.where(load > 0, load, 1), 1.0)
    return np.floor(given * cut[:, None])


def weighted_unmet(p: dict[str, np.ndarray], given: np.ndarray, item_weights: np.ndarray) -> float:
    shortfall = np.maximum(p["need"] - p["on_hand"], 0)
    cost = p["weights"][:, None] * item_weights[None, :]
    return float((cost * (shortfall - given)).sum())


def fastest(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """The fastest of ``repeat`` runs and the last result."""
    best = np.inf
    for _ in range(repeat):
        started = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - started)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--destinations", type=int, default=5000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--limited", type=float, default=0.5, help="share with a route limit")
    parser.add_argument("--floor-days", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    args = parser.parse_args()

    p = problem(args.destinations, args.items, args.limited)
    print(
        f"{args.destinations:,} destinations x {args.items} items, "
        f"{int(np.isfinite(p['capacity']).sum()):,} with a route limit, "
        f"floor {args.floor_days:g} days"
    )
    base_time, base = fastest(args.repeat, lambda: proportional(p))
    lp_time, result = fastest(
        args.repeat,
        lambda: allocate(
            p["stock"],
            p["need"],
            weights=p["weights"],
            on_hand=p["on_hand"],
            daily_use=p["daily_use"],
            capacity=p["capacity"],
            floor_days=args.floor_days,
        ),
    )
    item_weights = result.item_weights
    base_unmet = weighted_unmet(p, base, item_weights)
    lp_unmet = weighted_unmet(p, result.given, item_weights)
    total = weighted_unmet(p, np.zeros_like(p["need"]), item_weights)
    print(
        f"proportional share (numpy)   {base_time * 1000:8.1f} ms   weighted unmet need "
        f"{base_unmet:12,.1f} ({base_unmet / total:.1%} of {total:,.1f})"
    )
    print(
        f"allocate (floor + HiGHS LP)  {lp_time * 1000:8.1f} ms   weighted unmet need "
        f"{lp_unmet:12,.1f} ({lp_unmet / total:.1%} of {total:,.1f})"
    )
    print(f"  of which in the solver     {result.seconds * 1000:8.1f} ms")
    print(f"ratio (allocate time / proportional time): {lp_time / base_time:.0f}  (goal: < 2 s)")
    print(f"weighted unmet need, allocate / proportional: {lp_unmet / base_unmet:.2f}")
    floor_missed = int((~result.floor_met).sum())
    print(f"floor not met for {floor_missed:,} destination-item pairs")


if __name__ == "__main__":
    main()
