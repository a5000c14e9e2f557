"""Benchmark: the aid gap at district scale, beside the same computation done row by row.

Generates (deterministic for a seed) ``--items`` items (default 20) x ``--places``
districts (default 2,000) x ``--days`` days of need (default 30): each day's median
from a gamma distribution scaled per item, the bounds of its interval 0.6 and 1.8
times it; stock on hand from none to 40 days of mean need; ``--lines`` pipeline lines
(default 10,000) from ``--partners`` partners (default 40), pledged or shipped, each
expected on a day between 5 days late and 10 days after the horizon; and each
partner's reliability from ``--settled`` settled lines (default 2,000) with the
default prior (2 pseudo-lines). Then computes the gap on the same inputs twice:

- ``sitroom.aid.gap.gap_naive``: each place, item and day in turn, then each line,
  in plain Python (the baseline);
- ``sitroom.aid.gap.compute_gap``: cumulative sums along the days and ``bincount``
  over the lines (goal < 1 s).

Each is run ``--repeat`` times and the fastest run counts (as timeit does); the two
results must agree to the bit. Prints both times, the ratio and a summary of the gap.

Usage::

    python bench/bench_aid_gap.py --places 2000 --items 20 --days 30 --lines 10000
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import fields
from typing import TypeVar

import numpy as np

from sitroom.aid.gap import Gap, Pipeline, compute_gap, gap_naive, reliability

T = TypeVar("T")


def problem(
    *,
    n_places: int,
    n_items: int,
    n_days: int,
    n_lines: int,
    n_partners: int,
    n_settled: int,
    seed: int = 2022,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Pipeline, np.ndarray]:
    """A deterministic gap problem of the given size: need (median, lower, upper),
    stock, the pipeline and the partners' reliability."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(5, 500, n_items)
    median = rng.gamma(2.0, 1.0, (n_places, n_items, n_days)) * scale[None, :, None]
    lower, upper = median * 0.6, median * 1.8
    stock = np.round(median.mean(axis=2) * rng.uniform(0, 40, (n_places, n_items)))
    lines = Pipeline.of(
        place=rng.integers(0, n_places, n_lines),
        item=rng.integers(0, n_items, n_lines),
        quantity=np.round(rng.uniform(50, 5_000, n_lines)),
        stage=rng.integers(0, 2, n_lines),
        partner=rng.integers(0, n_partners, n_lines),
        day=rng.integers(-5, n_days + 10, n_lines),
    )
    pledged = np.round(rng.uniform(100, 10_000, n_settled))
    arrived = np.round(pledged * rng.choice([0.0, 0.5, 1.0, 1.0, 1.0], n_settled))
    r = reliability(
        rng.integers(0, n_partners, n_settled),
        rng.integers(0, 2, n_settled),
        pledged,
        arrived,
        partners=n_partners,
    )
    return median, lower, upper, stock, lines, r


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
    parser.add_argument("--places", type=int, default=2000, help="districts")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--days", type=int, default=30, help="the horizon")
    parser.add_argument("--lines", type=int, default=10_000, help="pipeline lines")
    parser.add_argument("--partners", type=int, default=40)
    parser.add_argument("--settled", type=int, default=2_000, help="settled lines of history")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    args = parser.parse_args()

    median, lower, upper, stock, lines, r = problem(
        n_places=args.places,
        n_items=args.items,
        n_days=args.days,
        n_lines=args.lines,
        n_partners=args.partners,
        n_settled=args.settled,
    )
    print(
        f"{args.places:,} districts x {args.items} items x {args.days} days, "
        f"{len(lines):,} pipeline lines from {args.partners} partners "
        f"(reliability from {args.settled:,} settled lines); "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    def vectorised() -> Gap:
        return compute_gap(median, lower, upper, stock=stock, pipeline=lines, reliability=r)

    def naive() -> Gap:
        return gap_naive(median, lower, upper, stock=stock, pipeline=lines, reliability=r)

    naive_time, slow = fastest(args.repeat, naive)
    fast_time, gap = fastest(args.repeat, vectorised)
    same = all(np.array_equal(getattr(slow, f.name), getattr(gap, f.name)) for f in fields(Gap))
    print(f"gap_naive (row by row)         {naive_time * 1000:9.1f} ms")
    print(f"compute_gap (numpy)            {fast_time * 1000:9.1f} ms   (goal: < 1 s)")
    print(f"ratio (naive time / vectorised time): {naive_time / fast_time:.0f}")
    print(f"results identical to the bit: {'yes' if same else 'NO'}")
    short = int((gap.gap_median > 0).sum())
    runout = int((gap.runout >= 0).sum())
    print(
        f"{short:,} of {gap.gap_median.size:,} district-item pairs short (median), "
        f"{runout:,} run out within the horizon; total median gap "
        f"{gap.gap_median.sum():,.0f} units; {gap.later.sum():,.0f} units expected later"
    )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if not same:
        raise SystemExit("the vectorised and the naive gap differ")


if __name__ == "__main__":
    main()
