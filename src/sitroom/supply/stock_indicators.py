"""Stock indicators from daily ledger sums: pure numpy (issue #11, item 6).

:func:`stock_indicators` takes, per lot, the stock at the start of a window and its
daily changes, consumption and entries, and gives per (facility, item) group the
stock on hand, usable, expired and expiring, consumption, stock-out days, average
daily consumption and days of stock. The definitions are in its docstring and in
docs/supply.md, "Indicators and alerts"; :mod:`sitroom.supply.indicators` is the
service over the database.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

#: Average days in a month, for months of stock.
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class StockIndicators:
    """Indicators per (facility, item) group over a window of W days.

    Every array has shape (n_groups,).

    Attributes
    ----------
    on_hand : stock at the end of the last day, all lots.
    usable : the same without the lots expired by then.
    expired : on_hand - usable.
    expiring : usable stock in lots expiring within ``expiring_days`` days.
    consumption : units consumed over the window.
    stock_out_days : int, days ending with no usable stock (module docstring).
    days_with_stock : int, W - stock_out_days.
    daily_use : consumption / max(days_with_stock, 1).
    days_of_stock : usable / daily_use (inf with no use; 0 with no usable stock).
    months_of_stock : days_of_stock / 30.44.
    out_now : bool, the last day ended with no usable stock (and the item was held).
    held : bool, the facility had the item by the last day.
    """

    on_hand: FloatArray
    usable: FloatArray
    expired: FloatArray
    expiring: FloatArray
    consumption: FloatArray
    stock_out_days: IntArray
    days_with_stock: IntArray
    daily_use: FloatArray
    days_of_stock: FloatArray
    months_of_stock: FloatArray
    out_now: BoolArray
    held: BoolArray


def stock_indicators(
    opening: ArrayLike,
    change: ArrayLike,
    used: ArrayLike,
    entries: ArrayLike,
    expiry: ArrayLike,
    *,
    group: ArrayLike,
    n_groups: int,
    held_before: ArrayLike | None = None,
    expiring_days: int = 30,
) -> StockIndicators:
    """Indicators per group of lots from their daily ledger sums.

    Parameters
    ----------
    opening : array-like of shape (n_lots,)
        Stock of each lot at the start of the window's first day.
    change : array-like of shape (n_lots, W)
        Net change of each lot's stock on each day (every ledger entry, signed).
    used : array-like of shape (n_lots, W)
        Units consumed from each lot on each day (positive; net of reversals).
    entries : array-like of shape (n_lots, W)
        Ledger entries of the lot on the day (only whether there are any matters).
    expiry : array-like of int of shape (n_lots,)
        The lot's expiry as a day of the window (0: the first day; negative:
        before it). The lot is usable on day t when expiry >= t.
    group : array-like of int of shape (n_lots,)
        The (facility, item) group of each lot, 0 .. n_groups - 1.
    n_groups : int
    held_before : array-like of bool of shape (n_groups,), optional
        The group had ledger entries before the window (default: only an opening
        stock above zero says so).
    expiring_days : int, default 30

    Returns
    -------
    StockIndicators
    """
    start = np.asarray(opening, dtype=float)
    n_lots = start.size
    delta = np.asarray(change, dtype=float).reshape(n_lots, -1)
    width = delta.shape[1]
    if width < 1:
        raise ValueError("the window has no days")
    use = np.asarray(used, dtype=float).reshape(n_lots, width)
    seen = np.asarray(entries, dtype=float).reshape(n_lots, width) > 0
    ends = np.asarray(expiry, dtype=np.int64).reshape(n_lots)
    groups = np.asarray(group, dtype=np.int64).reshape(n_lots)
    if n_lots and (groups.min() < 0 or groups.max() >= n_groups):
        raise ValueError("group holds an index outside 0 .. n_groups - 1")
    if expiring_days < 0:
        raise ValueError("expiring_days must be 0 or more")
    # Lots to groups: one sparse sum instead of a loop over facilities. (scipy imported
    # here: the server imports this module and starts without scipy; see docs/architecture.md.)
    from scipy import sparse

    to_group = sparse.csr_array(
        (np.ones(n_lots), (groups, np.arange(n_lots))), shape=(n_groups, n_lots)
    )
    closing = start[:, None] + np.cumsum(delta, axis=1)
    usable_lot = ends[:, None] >= np.arange(width)[None, :]
    usable_day = np.asarray(to_group @ (closing * usable_lot))
    opening_group = np.asarray(to_group @ start)
    active = np.asarray(to_group @ seen.astype(float)) > 0
    before = (
        np.zeros(n_groups, dtype=bool)
        if held_before is None
        else np.asarray(held_before, dtype=bool).reshape(n_groups)
    )
    held = np.logical_or.accumulate(active, axis=1) | (before | (opening_group > 0))[:, None]
    out = (usable_day <= 0) & held
    stock_out_days = out.sum(axis=1).astype(np.int64)
    consumption = np.asarray(to_group @ use.sum(axis=1))
    days_with_stock = (width - stock_out_days).astype(np.int64)
    daily_use = consumption / np.maximum(days_with_stock, 1)
    last = closing[:, -1]
    on_hand = np.asarray(to_group @ last)
    usable = usable_day[:, -1]
    soon = usable_lot[:, -1] & (ends <= width - 1 + expiring_days)
    expiring = np.asarray(to_group @ (last * soon))
    with np.errstate(divide="ignore", invalid="ignore"):
        days = np.where(daily_use > 0, usable / np.where(daily_use > 0, daily_use, 1.0), np.inf)
    days = np.where(usable <= 0, 0.0, days)
    return StockIndicators(
        on_hand=on_hand,
        usable=usable,
        expired=on_hand - usable,
        expiring=expiring,
        consumption=consumption,
        stock_out_days=stock_out_days,
        days_with_stock=days_with_stock,
        daily_use=daily_use,
        days_of_stock=days,
        months_of_stock=days / DAYS_PER_MONTH,
        out_now=out[:, -1],
        held=held[:, -1],
    )


__all__ = ["DAYS_PER_MONTH", "StockIndicators", "stock_indicators"]
