"""Lead times of distribution orders, aggregated per group (issue #11, item 4). Pure.

The delay between stock leaving the stockpile and reaching the pharmacy shelf
is what the leadership complained about, and whether the army was faster is
what it would ask. Each delivered order gives the hours of each step:

- ``approval``: approved - created (the paperwork);
- ``dispatch``: dispatched - approved (waiting for a carrier and the loading);
- ``transit``: delivered - dispatched (on the road);
- ``total``: delivered - created (the order's whole life);
- ``chain``: delivered - dispatched of the first leg of its chain (the legs
  linked by ``origin``: stockpile -> warehouse -> store -> pharmacy), from
  release at the stockpile to stock on the shelf; for an order without an
  origin, its own transit.

:func:`summarize` gives per group (a region, a carrier kind) and step the
number of orders, the median and the 90th percentile. Like :mod:`sitroom.epi`,
this module works on arrays only; ``supply.orders.lead_times`` reads the
orders and calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

#: The steps, in the order of the columns of ``hours``.
STEPS = ("approval", "dispatch", "transit", "total", "chain")


@dataclass(frozen=True, slots=True)
class StepStats:
    """One step of one group: how many orders had it, their median and 90th percentile
    (hours; None when no order had the step)."""

    n: int
    median: float | None
    p90: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "median_hours": None if self.median is None else round(self.median, 2),
            "p90_hours": None if self.p90 is None else round(self.p90, 2),
        }


@dataclass(frozen=True, slots=True)
class GroupLeadTimes:
    """The lead times of one group of orders, per step."""

    group: str
    orders: int
    steps: dict[str, StepStats]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "orders": self.orders,
            "steps": {name: stats.to_dict() for name, stats in self.steps.items()},
        }


def step_stats(hours: ArrayLike) -> StepStats:
    """Count, median and 90th percentile of ``hours``, NaN (a step not taken) left out.

    Parameters
    ----------
    hours : array-like of shape (n_orders,)
        Hours of one step; NaN where the order has not reached it.

    The percentile is numpy's default (linear interpolation between the two
    closest ranks), so a group of one order has its own time as median and p90.
    """
    values = np.asarray(hours, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        return StepStats(0, None, None)
    return StepStats(int(values.size), float(np.median(values)), float(np.percentile(values, 90.0)))


def summarize(
    groups: Sequence[str], hours: ArrayLike, *, steps: Sequence[str] = STEPS
) -> list[GroupLeadTimes]:
    """Lead times per group and step.

    Parameters
    ----------
    groups : sequence of str, of length n_orders
        Each order's group (its destination's region, its carrier kind, ...).
    hours : array-like of shape (n_orders, n_steps)
        Hours of each step of each order (columns in the order of ``steps``);
        NaN where the order has not reached the step.
    steps : sequence of str, keyword-only
        The names of the columns (default :data:`STEPS`).

    Returns
    -------
    list of GroupLeadTimes
        One per group, sorted by group name.
    """
    table = np.asarray(hours, dtype=float)
    if table.ndim == 1 and table.size == 0:
        table = table.reshape(0, len(steps))
    if table.ndim != 2 or table.shape[1] != len(steps):
        raise ValueError(f"hours must have shape (n_orders, {len(steps)}), not {table.shape}")
    if table.shape[0] != len(groups):
        raise ValueError(f"{len(groups)} groups for {table.shape[0]} orders")
    if np.any(table[~np.isnan(table)] < 0):
        raise ValueError("a step cannot take negative time")
    labels = np.asarray(list(groups), dtype=object)
    result = []
    for group in sorted(set(groups)):
        rows = table[labels == group]
        result.append(
            GroupLeadTimes(
                group,
                int(rows.shape[0]),
                {name: step_stats(rows[:, k]) for k, name in enumerate(steps)},
            )
        )
    return result


__all__ = ["STEPS", "GroupLeadTimes", "StepStats", "step_stats", "summarize"]
