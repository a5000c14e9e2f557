"""Sharing scarce stock: a linear program over destinations and items, solved by HiGHS.

Destinations (regions or pharmacies) d = 1..D need items i = 1..I. With S_i units of
item i at the source, r[d, i] the need beyond the stock on hand, w_d the weight of a
destination (its vulnerability), v_i the weight of a unit of item i and C_d the route
capacity of d (units per period, all items together), :func:`allocate` gives x[d, i]:

    minimise    sum_{d,i} w_d v_i (r[d, i] - x[d, i])          (weighted unmet need)
    subject to  sum_d x[d, i] <= S_i                 for every item i       (stock)
                sum_i x[d, i] <= C_d                 for every destination d (capacity)
                l[d, i] <= x[d, i] <= r[d, i]                                (floor, need)

The floor l is a soft constraint, met first where stock allows: a two-stage rule
whose first stage has a closed form. Each destination should hold ``floor_days``
days of use; f[d, i] = min(max(floor_days * use[d, i] - on_hand[d, i], 0), r[d, i]).
Where a destination's floors exceed its route capacity they are cut, item by item in
proportion, to fit; then where an item's floors exceed its stock they are cut by the
same fraction theta_i = S_i / sum_d f[d, i] everywhere. A scarce item's floor is thus
shared evenly, as days of stock, rather than given whole to the most vulnerable: the
floor exists to protect the destinations the weights rank last. The floor so reduced
is always feasible, and with it as the lower bound l the second stage is the program
above. The weights decide only what is left beyond the floor.

Whole units come free: every variable appears once in a stock row and once in a
capacity row, so the constraint matrix is the incidence matrix of a bipartite graph,
totally unimodular, and with whole-unit bounds every vertex of the feasible set is
whole (Hoffman and Kruskal 1956). HiGHS's simplex returns a vertex; a largest-remainder
rounding that keeps every constraint stands by in case it ever does not.

:func:`allocate_tests` decides where a limited number of PCR test kits goes (see its
docstring). See docs/methods.md, "Supply: allocation of scarce stock".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.optimize import linprog

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

#: Slack under which a constraint counts as binding (units).
_TOL = 1e-6


@dataclass(frozen=True)
class Allocation:
    """What each destination gets, what stays unmet, and why.

    Arrays of shape (n_destinations, n_items) unless said otherwise, in units.

    Attributes
    ----------
    destinations, items : tuple of str
        Names (``"destination 1"``, ``"item 1"``, ... when none were given).
    given : quantities allocated, x.
    shortfall : need beyond the stock on hand, r = max(need - on_hand, 0) (whole
        units rounded up when ``whole_units``).
    unmet : shortfall - given (never negative).
    floor_target : units that would bring each destination to ``floor_days`` of stock
        (capped at the shortfall), f.
    floor_given : the floor as reduced to fit capacity and stock, the lower bound l.
    floor_met : bool, the whole floor target is given.
    floor_share : shape (n_items,), theta_i, the share of the (capacity-cut) floor the
        stock of each item covers (1.0: the floor is met wherever routes allow).
    days_of_stock : (on_hand + given) / daily use (inf where use is 0).
    stock_left : shape (n_items,), S_i - sum_d x[d, i].
    stock_binds : shape (n_items,) bool, the item's stock ran out with need unmet.
    capacity_left : shape (n_destinations,), C_d - sum_i x[d, i] (inf: no limit).
    capacity_binds : shape (n_destinations,) bool, the route is full with need unmet.
    shadow_stock : shape (n_items,), weighted unmet need saved by one more unit of
        stock of item i (the dual of its stock row; 0 when stock is not binding).
    shadow_capacity : shape (n_destinations,), the same for one more unit of route
        capacity at d.
    weights : shape (n_destinations,), w.
    item_weights : shape (n_items,), v.
    rank : shape (n_destinations,), 1 for the largest weight (ties share a rank).
    weighted_shortfall, weighted_unmet : float, sum w_d v_i r and sum w_d v_i unmet.
    floor_days : float.
    status : str, the solver's message.
    seconds : float, time spent in the solver.
    sentences : tuple of str, the explanation: a summary, a line per item, the full
        routes and the floor, then the largest unmet needs (``max_sentences``).
    """

    destinations: tuple[str, ...]
    items: tuple[str, ...]
    given: FloatArray
    shortfall: FloatArray
    unmet: FloatArray
    floor_target: FloatArray
    floor_given: FloatArray
    floor_met: BoolArray
    floor_share: FloatArray
    days_of_stock: FloatArray
    stock_left: FloatArray
    stock_binds: BoolArray
    capacity_left: FloatArray
    capacity_binds: BoolArray
    shadow_stock: FloatArray
    shadow_capacity: FloatArray
    weights: FloatArray
    item_weights: FloatArray
    rank: IntArray
    weighted_shortfall: float
    weighted_unmet: float
    floor_days: float
    status: str
    seconds: float
    sentences: tuple[str, ...]

    def explain(self, destination: int | str, item: int | str) -> str:
        """One sentence on what ``destination`` gets of ``item`` and why."""
        d = destination if isinstance(destination, int) else self.destinations.index(destination)
        i = item if isinstance(item, int) else self.items.index(item)
        return _explain(self, d, i)

    def table(self) -> list[dict[str, Any]]:
        """One row per destination and item with something needed or given (for JSON)."""
        rows: list[dict[str, Any]] = []
        for d, i in zip(*np.nonzero((self.shortfall > 0) | (self.given > 0)), strict=True):
            rows.append(
                {
                    "destination": self.destinations[d],
                    "item": self.items[i],
                    "given": float(self.given[d, i]),
                    "shortfall": float(self.shortfall[d, i]),
                    "unmet": float(self.unmet[d, i]),
                    "floor_met": bool(self.floor_met[d, i]),
                    "days_of_stock": float(self.days_of_stock[d, i]),
                    "why": _explain(self, int(d), int(i)),
                }
            )
        return rows


def _array(
    values: ArrayLike, name: str, shape: tuple[int, ...], *, inf: bool = False
) -> FloatArray:
    array = np.asarray(values, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {array.shape}")
    if np.isnan(array).any():
        raise ValueError(f"{name} holds NaN")
    if not inf and np.isinf(array).any():
        raise ValueError(f"{name} holds infinite values")
    if (array < 0).any():
        raise ValueError(f"{name} holds negative values")
    return array


def _names(names: Sequence[str] | None, n: int, what: str, argument: str) -> tuple[str, ...]:
    if names is None:
        return tuple(f"{what} {k + 1}" for k in range(n))
    out = tuple(str(name) for name in names)
    if len(out) != n:
        raise ValueError(f"{argument} names {len(out)}, the arrays have {n}")
    return out


def _inputs(
    stock: ArrayLike,
    need: ArrayLike,
    *,
    weights: ArrayLike | None,
    on_hand: ArrayLike | None,
    daily_use: ArrayLike | None,
    floor_days: float,
    capacity: ArrayLike | None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The arrays of :func:`allocate`, checked: ValueError naming the argument otherwise."""
    need_array = np.asarray(need, dtype=float)
    if need_array.ndim != 2:
        raise ValueError("need must have shape (n_destinations, n_items)")
    n_dest, n_items = need_array.shape
    need_array = _array(need_array, "need", (n_dest, n_items))
    supply = _array(stock, "stock", (n_items,))
    w = np.ones(n_dest) if weights is None else _array(weights, "weights", (n_dest,))
    if (w <= 0).any():
        raise ValueError("weights must be positive (a destination of weight 0 would get nothing)")
    held = (
        np.zeros_like(need_array)
        if on_hand is None
        else _array(on_hand, "on_hand", need_array.shape)
    )
    if not np.isfinite(floor_days) or floor_days < 0:
        raise ValueError("floor_days must be a non-negative number")
    if daily_use is None:
        if floor_days > 0:
            raise ValueError("daily_use is needed for a floor of days of stock")
        use = np.zeros_like(need_array)
    else:
        use = _array(daily_use, "daily_use", need_array.shape)
    cap = (
        np.full(n_dest, np.inf)
        if capacity is None
        else _array(capacity, "capacity", (n_dest,), inf=True)
    )
    return need_array, supply, w, held, use, cap


def allocate(
    stock: ArrayLike,
    need: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    on_hand: ArrayLike | None = None,
    daily_use: ArrayLike | None = None,
    floor_days: float = 0.0,
    capacity: ArrayLike | None = None,
    item_weights: ArrayLike | None = None,
    whole_units: bool = True,
    destinations: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    max_sentences: int = 40,
) -> Allocation:
    """Share ``stock`` across destinations to minimise weighted unmet need.

    Parameters
    ----------
    stock : array-like of shape (n_items,)
        Units available at the source(s).
    need : array-like of shape (n_destinations, n_items)
        Units needed over the period (for example a :class:`~sitroom.supply.demand.Demand`'s
        median or upper bound).
    weights : array-like of shape (n_destinations,), optional
        Positive vulnerability weights (population over 60, fever per 100,000...);
        default 1 everywhere.
    on_hand : array-like of shape (n_destinations, n_items), optional
        Stock already at each destination; need beyond it is what is shipped. Default 0.
    daily_use : array-like of shape (n_destinations, n_items), optional
        Units used per day, for days of stock and the floor. Needed when floor_days > 0.
    floor_days : float, default 0
        Days of stock every destination should hold where stock and routes allow.
    capacity : array-like of shape (n_destinations,), optional
        Units each route can carry in the period, all items together (inf: no limit).
    item_weights : array-like of shape (n_items,), optional
        Weight of one unit of each item. Default D / sum_d r[d, i], so that one unit
        counts as the share of the average destination's shortfall it is and items
        counted in tablets do not outweigh items counted in kits.
    whole_units : bool, default True
        Allocate whole units: stock and capacity are rounded down, need up.
    destinations, items : sequence of str, optional
        Names used in the sentences.
    max_sentences : int, default 40
        Sentences about single destinations (the largest weighted unmet needs first).

    Returns
    -------
    Allocation
    """
    need_array, supply, w, held, use, cap = _inputs(
        stock,
        need,
        weights=weights,
        on_hand=on_hand,
        daily_use=daily_use,
        floor_days=floor_days,
        capacity=capacity,
    )
    n_dest, n_items = need_array.shape
    dest_names = _names(destinations, n_dest, "destination", "destinations")
    item_names = _names(items, n_items, "item", "items")

    shortfall = np.maximum(need_array - held, 0.0)
    floor_target = np.minimum(np.maximum(floor_days * use - held, 0.0), shortfall)
    if whole_units:
        supply = np.floor(supply + _TOL)
        cap = np.where(np.isfinite(cap), np.floor(cap + _TOL), np.inf)
        shortfall = np.ceil(shortfall - _TOL)
        floor_target = np.minimum(np.ceil(floor_target - _TOL), shortfall)

    if item_weights is None:
        totals = shortfall.sum(axis=0)
        v = np.where(totals > 0, n_dest / np.where(totals > 0, totals, 1.0), 1.0)
    else:
        v = _array(item_weights, "item_weights", (n_items,))
        if (v <= 0).any():
            raise ValueError("item_weights must be positive")

    floor_given, floor_share = _reduced_floor(floor_target, supply, cap, whole_units=whole_units)
    cost = w[:, None] * v[None, :]
    started = time.perf_counter()
    given, shadow_stock, shadow_cap, status = _solve(cost, supply, cap, floor_given, shortfall)
    if whole_units:
        given = _whole(given, supply=supply, cap=cap, lower=floor_given, upper=shortfall, cost=cost)
    seconds = time.perf_counter() - started

    unmet = np.maximum(shortfall - given, 0.0)
    stock_left = supply - given.sum(axis=0)
    capacity_left = cap - given.sum(axis=1)
    # A limit binds when not one more unit (whole or not) could go through it.
    room = 1.0 if whole_units else _TOL
    unmet_item = unmet.sum(axis=0) > _TOL
    unmet_dest = unmet.sum(axis=1) > _TOL
    with np.errstate(divide="ignore", invalid="ignore"):
        days = np.where(use > 0, (held + given) / np.where(use > 0, use, 1.0), np.inf)
    # Rank 1 for the largest weight: one plus the number of strictly larger weights.
    rank = 1 + n_dest - np.searchsorted(np.sort(w), w, side="right")
    result = Allocation(
        destinations=dest_names,
        items=item_names,
        given=given,
        shortfall=shortfall,
        unmet=unmet,
        floor_target=floor_target,
        floor_given=floor_given,
        floor_met=given >= floor_target - _TOL,
        floor_share=floor_share,
        days_of_stock=days,
        stock_left=stock_left,
        stock_binds=(stock_left < room) & unmet_item,
        capacity_left=capacity_left,
        capacity_binds=np.isfinite(cap) & (capacity_left < room) & unmet_dest,
        shadow_stock=shadow_stock,
        shadow_capacity=shadow_cap,
        weights=w,
        item_weights=v,
        rank=rank.astype(np.int64),
        weighted_shortfall=float((cost * shortfall).sum()),
        weighted_unmet=float((cost * unmet).sum()),
        floor_days=float(floor_days),
        status=status,
        seconds=seconds,
        sentences=(),
    )
    return _with_sentences(result, max_sentences)


def _reduced_floor(
    target: FloatArray, supply: FloatArray, cap: FloatArray, *, whole_units: bool
) -> tuple[FloatArray, FloatArray]:
    """The floor cut to fit the routes, then the stock: the first, closed-form stage."""
    per_dest = target.sum(axis=1)
    over = per_dest > cap
    fit = np.where(over, cap / np.where(over, per_dest, 1.0), 1.0)
    floor = target * fit[:, None]
    per_item = floor.sum(axis=0)
    short = per_item > supply
    share = np.where(short, supply / np.where(short, per_item, 1.0), 1.0)
    floor = floor * share[None, :]
    if whole_units:
        # Rounding down keeps both sums within their (whole) limits.
        floor = np.floor(floor + _TOL)
    return floor, share


def _solve(
    cost: FloatArray, supply: FloatArray, cap: FloatArray, lower: FloatArray, upper: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, str]:
    """The second stage with HiGHS: maximise sum cost * x within stock, routes and bounds.

    The program is written in y = x - lower, over the cells with room between their
    bounds only, and a route's row only where its capacity could bind. HiGHS's dual
    simplex runs without its own presolve: on this structure presolve took ten times
    as long as the solve (bench/bench_allocation.py).
    """
    n_dest, n_items = cost.shape
    shadow_stock = np.zeros(n_items)
    shadow_cap = np.zeros(n_dest)
    stock_room = supply - lower.sum(axis=0)
    cap_room = cap - lower.sum(axis=1)
    # No cell can take more than its item's stock or its route can still carry.
    room = np.minimum(upper - lower, np.minimum(stock_room[None, :], cap_room[:, None]))
    free = np.flatnonzero(room.ravel() > 0)
    if free.size == 0:
        return lower.copy(), shadow_stock, shadow_cap, "nothing to share"
    dest_of, item_of = np.divmod(free, n_items)
    # A route binds only if what could still go through it is more than its room.
    limited = np.flatnonzero(room.sum(axis=1) > cap_room)
    cap_row_of = np.full(n_dest, -1)
    cap_row_of[limited] = n_items + np.arange(limited.size)
    has_cap = cap_row_of[dest_of] >= 0
    columns = np.arange(free.size)
    # Rows 0..I-1: the stock of each item; then one row per route that can bind.
    rows = np.concatenate([item_of, cap_row_of[dest_of][has_cap]])
    cols = np.concatenate([columns, columns[has_cap]])
    matrix = sparse.csr_array(
        (np.ones(rows.size), (rows, cols)), shape=(n_items + limited.size, free.size)
    )
    res = linprog(
        -cost.ravel()[free],
        A_ub=matrix,
        b_ub=np.concatenate([stock_room, cap_room[limited]]),
        bounds=np.column_stack([np.zeros(free.size), room.ravel()[free]]),
        method="highs-ds",
        options={"presolve": False},
    )
    if res.status != 0:
        # The floor is cut to be feasible, so this is a solver failure, not bad input.
        raise RuntimeError(f"the allocation program could not be solved: {res.message}")
    marginals = np.asarray(res.ineqlin.marginals, dtype=float)
    shadow_stock = np.maximum(-marginals[:n_items], 0.0)
    shadow_cap[limited] = np.maximum(-marginals[n_items:], 0.0)
    given = lower.copy().ravel()
    given[free] += np.asarray(res.x, dtype=float)
    given = np.clip(given.reshape(n_dest, n_items), lower, upper)
    return given, shadow_stock, shadow_cap, str(res.message)


def _whole(
    x: FloatArray,
    *,
    supply: FloatArray,
    cap: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    cost: FloatArray,
) -> FloatArray:
    """Whole units: the vertex HiGHS returns is whole; mend it by largest remainder if not.

    Rounding every quantity down keeps stock, routes and the (whole) floor; the units
    freed go back one by one to the largest remainders, ties to the larger weight,
    while the item's stock, the route and the need all have room.
    """
    rounded = np.rint(x)
    if np.abs(x - rounded).max(initial=0.0) <= _TOL:
        return np.clip(rounded, lower, upper)
    whole = np.maximum(np.floor(x + _TOL), lower)
    remainder = x - whole
    item_room = supply - whole.sum(axis=0)
    dest_room = cap - whole.sum(axis=1)
    candidates = np.flatnonzero(remainder.ravel() > _TOL)
    order = candidates[np.lexsort((-cost.ravel()[candidates], -remainder.ravel()[candidates]))]
    n_items = x.shape[1]
    for flat in order:
        d, i = divmod(int(flat), n_items)
        if item_room[i] >= 1 and dest_room[d] >= 1 and whole[d, i] + 1 <= upper[d, i]:
            whole[d, i] += 1
            item_room[i] -= 1
            dest_room[d] -= 1
    return whole


def _number(value: float) -> str:
    if not np.isfinite(value):
        return "unlimited"
    if abs(value - round(value)) < 1e-9:
        return f"{round(value):,}"
    return f"{value:,.1f}"


def _explain(a: Allocation, d: int, i: int) -> str:
    dest, item = a.destinations[d], a.items[i]
    given, short, unmet = a.given[d, i], a.shortfall[d, i], a.unmet[d, i]
    if short <= _TOL:
        return f"{dest} needs no {item} beyond its stock on hand."
    if unmet <= _TOL:
        text = f"{dest} gets all {_number(short)} {item} it needs"
    else:
        reasons = []
        if a.capacity_binds[d]:
            route = a.capacity_left[d] + a.given[d].sum()
            reasons.append(f"its route capacity of {_number(route)} units is full")
        if a.stock_binds[i] and a.given[:, i].sum() + a.stock_left[i] < 1:
            reasons.append("there is none in stock")
        elif a.stock_binds[i]:
            reasons.append(
                f"stock ran out; its weight {a.weights[d]:.3g} ranks it {a.rank[d]} of "
                f"{len(a.destinations)}"
            )
        if not reasons:
            reasons.append("rounding to whole units")
        text = f"{dest} gets {_number(given)} of {_number(short)} {item} needed: " + "; ".join(
            reasons
        )
    if a.floor_days > 0 and not a.floor_met[d, i]:
        days = a.days_of_stock[d, i]
        text += f"; its floor of {a.floor_days:g} days is not met ({days:.1f} days of stock)"
    return text + "."


def _with_sentences(a: Allocation, max_sentences: int) -> Allocation:
    total_short = a.shortfall.sum()
    lines = []
    if total_short <= _TOL:
        lines.append("No destination needs anything beyond its stock on hand.")
    else:
        share = a.weighted_unmet / a.weighted_shortfall if a.weighted_shortfall > 0 else 0.0
        lines.append(
            f"{len(a.destinations):,} destinations, {len(a.items)} items: "
            f"{_number(a.given.sum())} units given of {_number(total_short)} needed beyond "
            f"stock on hand; {share:.0%} of the weighted need stays unmet."
        )
    stock = a.stock_left + a.given.sum(axis=0)
    for i, item in enumerate(a.items):
        short_i = a.shortfall[:, i].sum()
        unmet_at = int((a.unmet[:, i] > _TOL).sum())
        text = (
            f"{item}: {_number(stock[i])} in stock, {_number(short_i)} needed, "
            f"{_number(a.given[:, i].sum())} given"
        )
        if unmet_at:
            text += f", {_number(a.unmet[:, i].sum())} unmet at {unmet_at:,} destinations"
        else:
            text += ", all need met"
        if a.stock_binds[i] and stock[i] < 1:
            text += "; there is none"
        elif a.stock_binds[i]:
            text += (
                f"; stock ran out (one more unit would cut the weighted unmet need by "
                f"{a.shadow_stock[i]:.3g})"
            )
        if a.floor_days > 0 and a.floor_share[i] < 1:
            text += (
                f"; the stock covers {a.floor_share[i]:.0%} of the {a.floor_days:g}-day floor, "
                "shared evenly"
            )
        lines.append(text + ".")
    full = np.flatnonzero(a.capacity_binds)
    if full.size:
        named = ", ".join(a.destinations[d] for d in full[:5])
        more = f" and {full.size - 5:,} more" if full.size > 5 else ""
        lines.append(f"Routes full with need unmet: {named}{more}.")
    if a.floor_days > 0:
        missed = ~a.floor_met
        if not missed.any():
            lines.append(f"The floor of {a.floor_days:g} days of stock is met everywhere.")
        else:
            where = np.flatnonzero(missed.any(axis=1))
            named = ", ".join(a.destinations[d] for d in where[:5])
            more = f" and {where.size - 5:,} more" if where.size > 5 else ""
            lines.append(
                f"The floor of {a.floor_days:g} days of stock is not met for "
                f"{int(missed.sum()):,} destination-item pairs, at {named}{more}."
            )
    weighted = a.weights[:, None] * a.item_weights[None, :] * a.unmet
    flat = np.flatnonzero(weighted.ravel() > _TOL)
    top = flat[np.argsort(-weighted.ravel()[flat], kind="stable")][: max(max_sentences, 0)]
    n_items = len(a.items)
    lines.extend(_explain(a, *divmod(int(k), n_items)) for k in top)
    return replace(a, sentences=tuple(lines))


# --- PCR test kits -------------------------------------------------------------------

TestRule = Literal["proportional", "sqrt", "equal"]

_POWER: dict[str, float] = {"proportional": 1.0, "sqrt": 0.5, "equal": 0.0}

_REASONS: dict[str, str] = {
    "proportional": (
        "Kits go in proportion to suspected cases: to estimate how many of the suspected "
        "cases are infections, from the share of tests that are positive in each region, "
        "the error of the national estimate is smallest when each region's tests are in "
        "proportion to its suspected cases (Neyman's allocation with equal positivity "
        "variance)."
    ),
    "sqrt": (
        "Kits go in proportion to the square root of suspected cases (Bankier's power "
        "allocation, q = 1/2): a compromise between the national estimate, best with kits "
        "in proportion to cases, and each region's own, best with the same number "
        "everywhere."
    ),
    "equal": (
        "Every region gets the same number of kits: each region's positivity is then "
        "estimated about as precisely as every other's, whatever its size."
    ),
}


@dataclass(frozen=True)
class TestAllocation:
    """Where the PCR kits go, and the rule that sent them there.

    Attributes
    ----------
    regions : tuple of str
    kits : ndarray of int, shape (n_regions,); sums to the kits available.
    minimum : int, the kits every region got first (reduced when kits were too few).
    score : ndarray of shape (n_regions,), what the rest was shared in proportion to:
        suspected ** q * (1 + tilt * weakness).
    rule : {"proportional", "sqrt", "equal"}
    reasoning : str, the rule and why, in plain words.
    sentences : tuple of str, one line per region.
    """

    __test__ = False  # not a pytest test class, whatever its name

    regions: tuple[str, ...]
    kits: IntArray
    minimum: int
    score: FloatArray
    rule: TestRule
    reasoning: str
    sentences: tuple[str, ...]


def largest_remainder(total: int, score: ArrayLike) -> IntArray:
    """Split ``total`` whole units in proportion to ``score`` (Hamilton's method).

    Each share is rounded down, and the units left go to the largest remainders, ties
    to the larger score, then to the earlier position. All-zero scores share evenly.
    """
    s = np.asarray(score, dtype=float)
    if s.ndim != 1 or s.size == 0:
        raise ValueError("score must be a non-empty 1-D array")
    if not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("score must hold non-negative finite values")
    if total < 0:
        raise ValueError("total must be non-negative")
    if s.sum() <= 0:
        s = np.ones_like(s)
    quota = total * s / s.sum()
    whole = np.floor(quota + 1e-9).astype(np.int64)
    left = total - int(whole.sum())
    if left > 0:
        order = np.lexsort((np.arange(s.size), -s, -(quota - whole)))
        whole[order[:left]] += 1
    shares: IntArray = whole
    return shares


def allocate_tests(
    kits: int,
    suspected_cases: ArrayLike,
    credibility_weakness: ArrayLike | None = None,
    *,
    rule: TestRule = "proportional",
    minimum: int = 1,
    tilt: float = 1.0,
    regions: Sequence[str] | None = None,
) -> TestAllocation:
    """Send ``kits`` PCR kits where surveillance learns most.

    Every region first gets ``minimum`` kits, so that each has some signal (fewer, the
    same for all, when there are not enough). The rest is shared by largest remainder
    in proportion to suspected_cases ** q, q = 1 (``"proportional"``), 1/2 (``"sqrt"``)
    or 0 (``"equal"``), times 1 + ``tilt`` * weakness: a region whose credibility
    checks are weakest (weakness 1, for example every check failed) counts 1 + tilt
    times as much, since its reported counts are the ones a test can check.

    Parameters
    ----------
    kits : int, the kits available.
    suspected_cases : array-like of shape (n_regions,), recent suspected cases.
    credibility_weakness : array-like of shape (n_regions,) in [0, 1], optional
        For example the share of credibility checks a region failed.
    rule : {"proportional", "sqrt", "equal"}, default "proportional"
    minimum : int, default 1
    tilt : float, default 1.0
    regions : sequence of str, optional

    Returns
    -------
    TestAllocation
    """
    if isinstance(kits, bool) or not isinstance(kits, (int, np.integer)) or kits < 0:
        raise ValueError("kits must be a non-negative whole number")
    if rule not in _POWER:
        raise ValueError(f"rule must be one of {', '.join(_POWER)}, not {rule!r}")
    cases = np.asarray(suspected_cases, dtype=float)
    if cases.ndim != 1 or cases.size == 0:
        raise ValueError("suspected_cases must be a non-empty 1-D array")
    cases = _array(cases, "suspected_cases", cases.shape)
    n = cases.size
    if credibility_weakness is None:
        weakness = np.zeros(n)
    else:
        weakness = _array(credibility_weakness, "credibility_weakness", (n,))
        if (weakness > 1).any():
            raise ValueError("credibility_weakness must lie between 0 and 1")
    if isinstance(minimum, bool) or minimum < 0:
        raise ValueError("minimum must be a non-negative whole number")
    if not np.isfinite(tilt) or tilt < 0:
        raise ValueError("tilt must be a non-negative number")
    names = _names(regions, n, "region", "regions")

    floor = min(int(minimum), int(kits) // n)
    power = _POWER[rule]
    base = np.where(cases > 0, cases, 0.0) ** power if power > 0 else np.ones(n)
    score = base * (1.0 + tilt * weakness)
    sent = floor + largest_remainder(int(kits) - floor * n, score)

    reasoning = _REASONS[rule]
    reasoning += (
        f" Every region first gets {floor} kit{'s' if floor != 1 else ''}, so that each "
        "has some signal; the rest is shared by largest remainder."
    )
    if credibility_weakness is not None and tilt > 0:
        reasoning += (
            f" The shares are tilted toward regions whose credibility checks are weakest: "
            f"a region failing every check counts {1 + tilt:g} times as much, since a test "
            "there also checks its reports."
        )
    total_cases = cases.sum()
    sentences = []
    for r in range(n):
        if kits == 0:
            sentences.append(f"{names[r]}: no kits.")
            continue
        text = f"{names[r]}: {int(sent[r]):,} kit{'s' if sent[r] != 1 else ''}"
        text += f" ({sent[r] / kits:.0%} of {kits:,}) for {_number(cases[r])} suspected cases"
        if total_cases > 0:
            text += f" ({cases[r] / total_cases:.0%} of all)"
        if credibility_weakness is not None:
            text += f", credibility weakness {weakness[r]:.2f}"
        sentences.append(text + ".")
    return TestAllocation(
        regions=names,
        kits=sent.astype(np.int64),
        minimum=floor,
        score=score,
        rule=rule,
        reasoning=reasoning,
        sentences=tuple(sentences),
    )
