"""The gap (issue #12, item 5): need over a horizon minus stock minus the weighted pipeline.

Pure numpy, no database (like :mod:`sitroom.epi` and :mod:`sitroom.supply.demand`);
:mod:`sitroom.aid.gap_service` reads the inputs from the tables. For each place p
(a region, or the whole country) and item i, over a horizon of H days:

    N[p, i]   = sum_d need[p, i, d]                      need over the horizon
    W[p, i]   = sum over pipeline lines l at (p, i) expected before day H of
                q_l * r[partner_l, stage_l]               the weighted pipeline
    G[p, i]   = N[p, i] - S[p, i] - W[p, i]               the gap (S: stock on hand)

for the median of the need and the bounds of its interval alike (the stock and the
pipeline are taken as known: the interval is the need's alone). A gap below 0 is a
surplus: the gap reported is max(G, 0) and the surplus max(-G, 0) (of the median).

``need[p, i, d]`` is what day d adds to the need: for the median, the cumulative
median need up to day d minus that up to day d - 1, so that the cumulative sum along
the days is the median of the cumulative need (not the sum of each day's median; the
service takes the quantiles of the cumulative sums of the forecast's sample paths).
The same holds for the bounds.

The run-out day is the first day d (0 is the first day of the horizon) on which the
cumulative median need, sum_{e<=d} need[p, i, e], exceeds the stock on hand S[p, i],
if nothing arrives: -1 when that never happens within the horizon.

A pipeline line is what a partner pledged and has not shipped (stage ``pledged``), or
shipped and has not been received (stage ``shipped``), with the day it is expected
(index from the first day of the horizon: below 0 is late and still counted; H or
more is beyond the horizon and left out of W, reported as ``later``).

Reliability r[partner, stage] (:func:`reliability`): of every settled line (a pledge
fulfilled or cancelled, a shipment received in full or whose pledge is settled) its
share of units that arrived, f = min(arrived, quantity) / quantity; per partner and
stage, with k = ``prior`` pseudo-lines half delivered,

    r = (sum of f over the partner's settled lines + k / 2) / (n + k)

a Laplace-like smoothing toward 0.5: a partner with no history is 0.5, one line
delivered in full with k = 2 gives 2/3, ten give 11/12. Each line weighs one,
whatever its size.

:func:`compute_gap` is vectorised (cumulative sums along the days, ``bincount``
over the lines); :func:`gap_naive` is the same computation row by row, for the
tests (equal to the last bit) and the benchmark. See docs/methods.md, "Aid: the
gap and the pipeline's reliability".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: The two stages of the pipeline, in the order of the last axis of the results.
STAGES = ("pledged", "shipped")
PLEDGED, SHIPPED = 0, 1
#: Where reliability is pulled to with no history: as likely to arrive as not.
NEUTRAL = 0.5


@dataclass(frozen=True)
class Pipeline:
    """Pipeline lines, one per array element (all arrays of the same length n).

    Attributes
    ----------
    place, item : int arrays
        Indices into the places and items of the need.
    quantity : float array
        Units not yet shipped (stage pledged) or not yet received (stage shipped), >= 0.
    stage : int array
        :data:`PLEDGED` (0) or :data:`SHIPPED` (1).
    partner : int array
        Index into the rows of the reliability.
    day : int array
        Day expected, from the first day of the horizon (0); negative when late.
    """

    place: IntArray
    item: IntArray
    quantity: FloatArray
    stage: IntArray
    partner: IntArray
    day: IntArray

    @classmethod
    def of(
        cls,
        *,
        place: ArrayLike = (),
        item: ArrayLike = (),
        quantity: ArrayLike = (),
        stage: ArrayLike = (),
        partner: ArrayLike = (),
        day: ArrayLike = (),
    ) -> Pipeline:
        """Lines from any array-likes (lists, tuples), checked for equal lengths."""
        ints = [np.asarray(v, dtype=np.int64).reshape(-1) for v in (place, item, stage, partner)]
        days = np.asarray(day, dtype=np.int64).reshape(-1)
        units = np.asarray(quantity, dtype=np.float64).reshape(-1)
        if len({len(v) for v in (*ints, days, units)}) != 1:
            raise ValueError("pipeline arrays must all have the same length")
        return cls(ints[0], ints[1], units, ints[2], ints[3], days)

    def __len__(self) -> int:
        return int(self.quantity.shape[0])


@dataclass(frozen=True)
class Gap:
    """The gap per place and item; every array (n_places, n_items) unless said.

    Attributes
    ----------
    horizon : int
        Days of need (H).
    need_median, need_lower, need_upper : float arrays
        Need over the horizon: the median and the interval's bounds.
    stock : float array
        Stock on hand.
    pipeline : float array (n_places, n_items, 2)
        Units in the pipeline expected within the horizon, by stage (:data:`STAGES`).
    weighted : float array (n_places, n_items, 2)
        The same, each line times its partner's reliability at its stage.
    later : float array
        Units in the pipeline expected after the horizon (both stages, not counted).
    gap_median, gap_lower, gap_upper : float arrays
        max(need - stock - weighted pipeline, 0), for the median and the bounds.
    surplus : float array
        max(stock + weighted pipeline - median need, 0).
    runout : int array
        First day the cumulative median need exceeds the stock; -1 if none within H.
    """

    horizon: int
    need_median: FloatArray
    need_lower: FloatArray
    need_upper: FloatArray
    stock: FloatArray
    pipeline: FloatArray
    weighted: FloatArray
    later: FloatArray
    gap_median: FloatArray
    gap_lower: FloatArray
    gap_upper: FloatArray
    surplus: FloatArray
    runout: IntArray

    @property
    def supply(self) -> FloatArray:
        """Stock on hand plus the weighted pipeline."""
        total: FloatArray = self.stock + (self.weighted[..., PLEDGED] + self.weighted[..., SHIPPED])
        return total


# Reliability ------------------------------------------------------------------------


def reliability(
    partner: ArrayLike,
    stage: ArrayLike,
    quantity: ArrayLike,
    arrived: ArrayLike,
    *,
    partners: int,
    prior: float = 2.0,
) -> FloatArray:
    """Each partner's reliability at each stage, (partners, 2), from its settled lines.

    Parameters
    ----------
    partner, stage : int array-likes, one element per settled line
    quantity : array-like
        Units pledged (stage pledged) or shipped (stage shipped) on the line, > 0.
    arrived : array-like
        Units received of it (more than the quantity counts as the quantity).
    partners : int
        Number of partners (rows); a partner with no settled line gets 0.5.
    prior : float > 0
        Pseudo-lines half delivered (``[aid] reliability_prior``).
    """
    who = np.asarray(partner, dtype=np.int64).reshape(-1)
    when = np.asarray(stage, dtype=np.int64).reshape(-1)
    units = np.asarray(quantity, dtype=np.float64).reshape(-1)
    got = np.asarray(arrived, dtype=np.float64).reshape(-1)
    if len({who.size, when.size, units.size, got.size}) != 1:
        raise ValueError("reliability arrays must all have the same length")
    if not (np.isfinite(prior) and prior > 0):
        raise ValueError("the prior must be a number of pseudo-lines above 0")
    if partners < 0 or (who.size and (who.min() < 0 or who.max() >= partners)):
        raise ValueError("a partner index is out of range")
    if when.size and not np.isin(when, (PLEDGED, SHIPPED)).all():
        raise ValueError("a stage is neither 0 (pledged) nor 1 (shipped)")
    if not (np.isfinite(units).all() and (units > 0).all()):
        raise ValueError("a settled line's quantity must be above 0")
    if not (np.isfinite(got).all() and (got >= 0).all()):
        raise ValueError("units arrived cannot be negative")
    share = np.minimum(got, units) / np.where(units > 0, units, 1.0)
    index = who * 2 + when
    delivered = np.bincount(index, weights=share, minlength=partners * 2)
    lines = np.bincount(index, minlength=partners * 2).astype(np.float64)
    out: FloatArray = ((delivered + prior * NEUTRAL) / (lines + prior)).reshape(partners, 2)
    return out


# The gap ----------------------------------------------------------------------------


def _checked(
    need_median: ArrayLike,
    need_lower: ArrayLike,
    need_upper: ArrayLike,
    *,
    stock: ArrayLike,
    pipeline: Pipeline,
    weights: ArrayLike,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    median = np.asarray(need_median, dtype=np.float64)
    lower = np.asarray(need_lower, dtype=np.float64)
    upper = np.asarray(need_upper, dtype=np.float64)
    if median.ndim != 3 or 0 in median.shape:
        raise ValueError("need must have shape (places, items, days), none of them 0")
    if lower.shape != median.shape or upper.shape != median.shape:
        raise ValueError("the need's median and bounds must have the same shape")
    for name, values in (("median", median), ("lower", lower), ("upper", upper)):
        if not np.isfinite(values).all() or (values < 0).any():
            raise ValueError(f"the need's {name} holds a negative, NaN or infinite value")
    on_hand = np.asarray(stock, dtype=np.float64)
    if on_hand.shape != median.shape[:2]:
        raise ValueError(f"stock must have shape {median.shape[:2]} (places, items)")
    if not np.isfinite(on_hand).all() or (on_hand < 0).any():
        raise ValueError("stock holds a negative, NaN or infinite value")
    r = np.asarray(weights, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != 2:
        raise ValueError("reliability must have shape (partners, 2)")
    if not np.isfinite(r).all() or (r < 0).any() or (r > 1).any():
        raise ValueError("reliability must lie between 0 and 1")
    n_places, n_items, _ = median.shape
    lines = pipeline
    if len(lines):
        if lines.place.min() < 0 or lines.place.max() >= n_places:
            raise ValueError("a pipeline line's place is out of range")
        if lines.item.min() < 0 or lines.item.max() >= n_items:
            raise ValueError("a pipeline line's item is out of range")
        if lines.partner.min() < 0 or lines.partner.max() >= r.shape[0]:
            raise ValueError("a pipeline line's partner is out of range")
        if not np.isin(lines.stage, (PLEDGED, SHIPPED)).all():
            raise ValueError("a pipeline line's stage is neither 0 (pledged) nor 1 (shipped)")
        if not np.isfinite(lines.quantity).all() or (lines.quantity < 0).any():
            raise ValueError("a pipeline line's quantity is negative, NaN or infinite")
    return median, lower, upper, on_hand, r


def _sum_by(index: IntArray, weights: FloatArray, size: int) -> FloatArray:
    """``weights`` added up by ``index`` into ``size`` bins, in the order given (as a
    loop over them would add them)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=size), dtype=np.float64)


def compute_gap(
    need_median: ArrayLike,
    need_lower: ArrayLike,
    need_upper: ArrayLike,
    *,
    stock: ArrayLike,
    pipeline: Pipeline,
    reliability: ArrayLike,
) -> Gap:
    """The gap per place and item (module docstring), vectorised.

    Parameters
    ----------
    need_median, need_lower, need_upper : array-likes (places, items, days)
        What each day adds to the need's median and interval bounds (>= 0).
    stock : array-like (places, items)
        Stock on hand.
    pipeline : Pipeline
    reliability : array-like (partners, 2)
        Each partner's reliability at each stage (:func:`reliability`).
    """
    median, lower, upper, on_hand, r = _checked(
        need_median, need_lower, need_upper, stock=stock, pipeline=pipeline, weights=reliability
    )
    n_places, n_items, horizon = median.shape
    cells = n_places * n_items
    # Cumulative sums, added day after day (the totals are their last day: the same
    # additions in the same order as the naive loop, so the two agree to the bit).
    cumulative = np.cumsum(median, axis=2)
    totals = [cumulative[:, :, -1], *(np.cumsum(b, axis=2)[:, :, -1] for b in (lower, upper))]

    lines = pipeline
    counted = lines.day < horizon
    cell = lines.place * n_items + lines.item
    slot = cell * 2 + lines.stage
    weight = lines.quantity * r[lines.partner, lines.stage]
    shape = (n_places, n_items, 2)
    units = _sum_by(slot[counted], lines.quantity[counted], cells * 2).reshape(shape)
    weighted = _sum_by(slot[counted], weight[counted], cells * 2).reshape(shape)
    later = _sum_by(cell[~counted], lines.quantity[~counted], cells).reshape(n_places, n_items)
    supply = weighted[:, :, PLEDGED] + weighted[:, :, SHIPPED]

    raw = [(total - on_hand) - supply for total in totals]
    exceeds = cumulative > on_hand[:, :, None]
    runout = np.where(exceeds.any(axis=2), exceeds.argmax(axis=2), -1).astype(np.int64)
    return Gap(
        horizon=horizon,
        need_median=totals[0],
        need_lower=totals[1],
        need_upper=totals[2],
        stock=on_hand,
        pipeline=units,
        weighted=weighted,
        later=later,
        gap_median=np.maximum(raw[0], 0.0),
        gap_lower=np.maximum(raw[1], 0.0),
        gap_upper=np.maximum(raw[2], 0.0),
        surplus=np.maximum(-raw[0], 0.0),
        runout=runout,
    )


def gap_naive(
    need_median: ArrayLike,
    need_lower: ArrayLike,
    need_upper: ArrayLike,
    *,
    stock: ArrayLike,
    pipeline: Pipeline,
    reliability: ArrayLike,
) -> Gap:
    """:func:`compute_gap` row by row in plain Python: each place, item and day in
    turn, then each pipeline line. Deliberately naive: the reference the tests hold
    the vectorised version to, and the benchmark's baseline."""
    median, lower, upper, on_hand, r = _checked(
        need_median, need_lower, need_upper, stock=stock, pipeline=pipeline, weights=reliability
    )
    n_places, n_items, horizon = median.shape
    need = {"median": median.tolist(), "lower": lower.tolist(), "upper": upper.tolist()}
    stock_rows = on_hand.tolist()
    rel = r.tolist()

    units: dict[tuple[int, int, int], float] = {}
    weighted: dict[tuple[int, int, int], float] = {}
    later: dict[tuple[int, int], float] = {}
    lines = pipeline
    for place, item, quantity, stage, partner, day in zip(
        lines.place.tolist(),
        lines.item.tolist(),
        lines.quantity.tolist(),
        lines.stage.tolist(),
        lines.partner.tolist(),
        lines.day.tolist(),
        strict=True,
    ):
        if day >= horizon:
            later[place, item] = later.get((place, item), 0.0) + quantity
            continue
        key = (place, item, stage)
        units[key] = units.get(key, 0.0) + quantity
        weighted[key] = weighted.get(key, 0.0) + quantity * rel[partner][stage]

    shape = (n_places, n_items)
    out = {
        name: np.zeros(shape)
        for name in ("median", "lower", "upper", "gap_median", "gap_lower", "gap_upper", "surplus")
    }
    out_units = np.zeros((*shape, 2))
    out_weighted = np.zeros((*shape, 2))
    out_later = np.zeros(shape)
    runout = np.full(shape, -1, dtype=np.int64)
    for p in range(n_places):
        for i in range(n_items):
            held = stock_rows[p][i]
            totals = {}
            for name in ("median", "lower", "upper"):
                total = 0.0
                for d in range(horizon):
                    total += need[name][p][i][d]
                    if name == "median" and runout[p, i] < 0 and total > held:
                        runout[p, i] = d
                totals[name] = total
                out[name][p, i] = total
            for stage in (PLEDGED, SHIPPED):
                out_units[p, i, stage] = units.get((p, i, stage), 0.0)
                out_weighted[p, i, stage] = weighted.get((p, i, stage), 0.0)
            out_later[p, i] = later.get((p, i), 0.0)
            supply = out_weighted[p, i, PLEDGED] + out_weighted[p, i, SHIPPED]
            for name in ("median", "lower", "upper"):
                raw = (totals[name] - held) - supply
                out[f"gap_{name}"][p, i] = raw if raw > 0 else 0.0
                if name == "median":
                    out["surplus"][p, i] = -raw if raw < 0 else 0.0
    return Gap(
        horizon=horizon,
        need_median=out["median"],
        need_lower=out["lower"],
        need_upper=out["upper"],
        stock=on_hand.copy(),
        pipeline=out_units,
        weighted=out_weighted,
        later=out_later,
        gap_median=out["gap_median"],
        gap_lower=out["gap_lower"],
        gap_upper=out["gap_upper"],
        surplus=out["surplus"],
        runout=runout,
    )


__all__ = [
    "NEUTRAL",
    "PLEDGED",
    "SHIPPED",
    "STAGES",
    "Gap",
    "Pipeline",
    "compute_gap",
    "gap_naive",
    "reliability",
]
