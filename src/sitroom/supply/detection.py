"""Hoarding and diversion detection: pure functions over per facility x day arrays.

Issue #11, item 10. :func:`panel` turns ledger rows (the events CSV's columns,
:class:`~sitroom.supply.records.LedgerRow`) into arrays of shape
``(n_facilities, n_items, n_days)``; each signal reads the panel and returns a
:class:`SignalResult`, a score per facility (0 when nothing is unusual; about
a z-score, so 3 is rare by chance) with its evidence in numbers and the clause
that says it; :func:`rank_facilities` adds the signals into the ranked list of
facilities to investigate, each with the one sentence that says why.

The signals (formulas and false-positive logic in docs/methods.md, "Supply:
hoarding and diversion"):

- :func:`excess_dispensing`: dispensing out of line with local fever cases;
- :func:`stock_piling`: stock piling up while the neighbours run out;
- :func:`transit_gap`: dispatched to the facility but never received;
- :func:`stock_losses`: stocktake shortfalls and losses written off;
- :func:`unexplained_outflows`: dispensing with no patients behind it;
- :func:`odd_entries`: dispensing at odd hours or in round numbers.

Pure numpy: no database. Like :mod:`sitroom.epi`, the services feed it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sitroom.supply.records import (
    DISPENSING_TYPES,
    FacilityRecord,
    LedgerRow,
    local_fever,
    neighbour_groups,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Reasons whose negative adjustments count as losses (expiry is waste, not a loss).
LOSS_REASONS = ("damaged", "lost", "stolen", "stocktake")
#: A score at or above this is a signal that "fires": it enters the sentence.
FIRE_AT = 3.0
#: No signal adds more than this to the combined score, so one cannot drown the others.
SCORE_CAP = 10.0


@dataclass(frozen=True)
class DispenseEntries:
    """One element per dispensing entry (rows of one facility, item, time and reference)."""

    facility: IntArray
    item: IntArray
    units: IntArray
    patients: IntArray
    hour: FloatArray  # local time of day in hours, 0 <= hour < 24


@dataclass(frozen=True)
class Panel:
    """Ledger flows as arrays of shape ``(n_facilities, n_items, n_days)`` (days local).

    ``stock`` is the book stock at the end of each day (stocktakes applied);
    ``losses`` and ``gains`` hold the units taken away or added by adjustments
    and stocktake differences, per reason (``"stocktake"`` for count - book).
    ``sent``, ``arrived``, ``shipments`` and ``short_shipments`` (shape
    ``(n_facilities, n_items)``) compare what suppliers dispatched to each
    facility with what it recorded receiving under the same reference, over
    shipments at least ``transit_grace_days`` old at the panel's end; a
    shipment is short when less than ``short_at`` of it arrived. ``fever`` is
    each facility's share of its area's fever cases ``(n_facilities, n_days)``;
    ``group`` its neighbour group (-1 for facilities that do not dispense).
    """

    facilities: tuple[FacilityRecord, ...]
    items: tuple[str, ...]
    start: date
    dispensed: IntArray
    patients: IntArray
    received: IntArray
    issued: IntArray
    stock: IntArray
    opening: IntArray
    losses: Mapping[str, IntArray]
    gains: Mapping[str, IntArray]
    sent: IntArray
    arrived: IntArray
    shipments: IntArray
    short_shipments: IntArray
    fever: FloatArray
    group: IntArray
    dispensing: NDArray[np.bool_]
    entries: DispenseEntries
    group_names: tuple[str, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.facilities)

    @property
    def n_days(self) -> int:
        return int(self.fever.shape[1])


def panel(  # noqa: PLR0915  (one pass over the rows, each event in a few lines)
    rows: Iterable[LedgerRow],
    facilities: Sequence[FacilityRecord],
    fever: Mapping[str, ArrayLike],
    start: date,
    *,
    parents: Mapping[str, str | None] | None = None,
    items: Sequence[str] | None = None,
    time_zone: str = "Asia/Pyongyang",
    transit_grace_days: int = 7,
    short_at: float = 0.95,
) -> Panel:
    """Build the :class:`Panel` from ledger rows in time order.

    Parameters
    ----------
    rows : iterable of LedgerRow
        The ledger events, in time order (ties in the order they were written).
        Rows before ``start`` count towards the opening stock only; rows after
        the last day of ``fever`` are left out.
    facilities : sequence of FacilityRecord
        The facilities to score; rows of other facilities are ignored.
    fever : mapping of org unit code to array-like of shape (n_days,)
        Daily fever cases; the panel's days are these days from ``start``.
    start : date
        The local date of the first day.
    parents : mapping, optional
        Org unit -> parent, to find a facility's fever series and neighbours.
    items : sequence of str, optional
        The items to keep (default: every item in the rows, sorted).
    time_zone : str
        The zone of local days and opening hours.
    """
    facilities = tuple(facilities)
    local = local_fever(facilities, fever, parents=parents)
    n_fac, n_days = local.shape
    index = {f.code: k for k, f in enumerate(facilities)}
    rows = list(rows)
    item_codes = tuple(items) if items is not None else tuple(sorted({r.item for r in rows}))
    item_index = {code: i for i, code in enumerate(item_codes)}
    shape = (n_fac, len(item_codes), n_days)
    zone = ZoneInfo(time_zone)

    dispensed = np.zeros(shape, dtype=np.int64)
    patients = np.zeros(shape, dtype=np.int64)
    received = np.zeros(shape, dtype=np.int64)
    issued = np.zeros(shape, dtype=np.int64)
    change = np.zeros(shape, dtype=np.int64)
    opening = np.zeros(shape[:2], dtype=np.int64)
    reasons = ("expired", "damaged", "lost", "stolen", "found", "stocktake", "other")
    losses = {r: np.zeros(shape, dtype=np.int64) for r in reasons}
    gains = {r: np.zeros(shape, dtype=np.int64) for r in reasons}
    balance: dict[tuple[int, int, str], int] = {}
    shipped: dict[tuple[str, str], list[int]] = {}  # (reference, item) -> [k, i, day, out, in]
    entry_key: dict[tuple[int, int, Any, str], int] = {}
    entry_units: list[int] = []
    entry_patients: list[int] = []
    entry_fac: list[int] = []
    entry_item: list[int] = []
    entry_hour: list[float] = []

    for row in rows:
        k = index.get(row.facility)
        i = item_index.get(row.item)
        if k is None or i is None:
            continue
        stamp = row.time.astimezone(zone)
        d = (stamp.date() - start).days
        if d >= n_days:
            continue
        key = (k, i, row.lot)
        have = balance.get(key, 0)
        reason = "other"
        if row.event == "stocktake":
            delta = row.quantity - have
            reason = "stocktake"
        elif row.event in {"receipt", "transfer_in"}:
            delta = row.quantity
        elif row.event in {"transfer_out", "dispense"}:
            delta = -row.quantity
        else:  # adjust
            delta = row.quantity
            reason = row.reason if row.reason in reasons else "other"
        balance[key] = have + delta
        if row.event == "transfer_out" and row.reference:
            record = shipped.setdefault((row.reference, row.item), [-1, i, d, 0, 0])
            record[0] = index.get(row.counterparty, -1)
            record[3] += row.quantity
        elif row.event == "transfer_in" and row.reference:
            record = shipped.setdefault((row.reference, row.item), [k, i, d, 0, 0])
            record[4] += row.quantity
        if d < 0:
            opening[k, i] += delta
            continue
        change[k, i, d] += delta
        if row.event == "dispense":
            dispensed[k, i, d] += row.quantity
            patients[k, i, d] += row.patients or 0
            ekey = (k, i, row.time, row.reference)
            n = entry_key.setdefault(ekey, len(entry_units))
            if n == len(entry_units):
                entry_units.append(0)
                entry_patients.append(0)
                entry_fac.append(k)
                entry_item.append(i)
                entry_hour.append(stamp.hour + stamp.minute / 60 + stamp.second / 3600)
            entry_units[n] += row.quantity
            entry_patients[n] += row.patients or 0
        elif row.event in {"receipt", "transfer_in"}:
            received[k, i, d] += row.quantity
        elif row.event == "transfer_out":
            issued[k, i, d] += row.quantity
        elif delta < 0:
            losses[reason][k, i, d] += -delta
        elif delta > 0:
            gains[reason][k, i, d] += delta

    stock = opening[:, :, np.newaxis] + np.cumsum(change, axis=2)
    sent = np.zeros(shape[:2], dtype=np.int64)
    arrived = np.zeros(shape[:2], dtype=np.int64)
    shipments = np.zeros(shape[:2], dtype=np.int64)
    short = np.zeros(shape[:2], dtype=np.int64)
    for to, it, day, out, came in shipped.values():
        if to < 0 or out <= 0 or day > n_days - 1 - transit_grace_days:
            continue
        sent[to, it] += out
        arrived[to, it] += came
        shipments[to, it] += 1
        short[to, it] += int(came < short_at * out)
    groups = neighbour_groups(facilities, parents=parents)
    names: dict[int, str] = {}
    for f, g in zip(facilities, groups, strict=True):
        names.setdefault(int(g), f.org_unit)
    return Panel(
        facilities=facilities,
        items=item_codes,
        start=start,
        dispensed=dispensed,
        patients=patients,
        received=received,
        issued=issued,
        stock=stock,
        opening=opening,
        losses=losses,
        gains=gains,
        sent=sent,
        arrived=arrived,
        shipments=shipments,
        short_shipments=short,
        fever=local,
        group=groups,
        dispensing=np.array([f.type in DISPENSING_TYPES for f in facilities], dtype=bool),
        entries=DispenseEntries(
            facility=np.array(entry_fac, dtype=np.int64),
            item=np.array(entry_item, dtype=np.int64),
            units=np.array(entry_units, dtype=np.int64),
            patients=np.array(entry_patients, dtype=np.int64),
            hour=np.array(entry_hour, dtype=float),
        ),
        group_names=tuple(names.get(g, "") for g in range(len(names))),
    )


@dataclass(frozen=True)
class SignalResult:
    """One signal over every facility of a panel.

    ``score`` has shape ``(n_facilities,)``: 0 when nothing is unusual, about a
    one-sided z-score otherwise (:data:`FIRE_AT` = 3 fires). ``evidence`` holds
    each facility's numbers (with ``item``, the item behind the score, when the
    signal is per item), ``clause`` the words that say it (empty for none).
    """

    signal: str
    facilities: tuple[str, ...]
    score: FloatArray
    evidence: tuple[dict[str, Any], ...]
    clause: tuple[str, ...]

    def fired(self, at: float = FIRE_AT) -> list[str]:
        """The facilities whose score reaches ``at``."""
        return [c for c, s in zip(self.facilities, self.score, strict=True) if s >= at]


def robust_z(values: ArrayLike, mask: ArrayLike, *, min_scale: float) -> FloatArray:
    """(x - median) / max(1.4826 MAD, min_scale) over ``values[mask]``; NaN outside the mask."""
    x = np.asarray(values, dtype=float)
    m = np.asarray(mask, dtype=bool) & np.isfinite(x)
    out = np.full(x.shape, np.nan)
    if m.sum() < 3:
        return out
    centre = float(np.median(x[m]))
    scale = max(1.4826 * float(np.median(np.abs(x[m] - centre))), min_scale)
    out[m] = (x[m] - centre) / scale
    return out


def binomial_z(k: ArrayLike, n: ArrayLike, p: ArrayLike) -> FloatArray:
    """One-sided z of ``k`` successes in ``n`` trials against rate ``p`` (continuity-corrected).

    The normal approximation; 0 where ``n`` is 0.
    """
    k_ = np.asarray(k, dtype=float)
    n_ = np.asarray(n, dtype=float)
    p_ = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    var = n_ * p_ * (1 - p_)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (k_ - n_ * p_ - 0.5) / np.sqrt(var)
    return np.asarray(np.where(n_ > 0, np.nan_to_num(z, nan=0.0), 0.0), dtype=float)


def _units(n: float) -> str:
    return f"{round(n):,}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _worst_item(scores: FloatArray) -> tuple[FloatArray, IntArray]:
    """The largest score over items (axis 1) and which item it was."""
    filled = np.where(np.isfinite(scores), scores, -np.inf)
    best = np.argmax(filled, axis=1)
    top = np.take_along_axis(filled, best[:, np.newaxis], axis=1)[:, 0]
    return np.maximum(np.where(np.isfinite(top), top, 0.0), 0.0), best.astype(np.int64)


def excess_dispensing(p: Panel, *, min_expected: float = 50.0) -> SignalResult:
    """Dispensing out of line with the facility's share of local fever cases.

    For each dispensing facility and item, over the days that ended with stock
    left (at least two patients' courses and a quarter of the day's dispensing:
    it was not held back by a stock-out), ``ratio = units
    dispensed / fever cases``; the neighbours' median ratio is what the area's pattern predicts,
    so ``excess = ratio / neighbours' median``. The score is the robust z of
    ``log(excess)`` over all dispensing facilities (scale at least 0.1), kept
    where positive; facilities expecting fewer than ``min_expected`` units are
    not scored.
    """
    # Only days that ended with stock left (two patients' courses and a quarter of the
    # day's dispensing or more): on those, dispensing met the demand, so the neighbours'
    # stock-outs do not make a facility that still had stock look greedy. (Stock rarely
    # ends at exactly 0: what is left is less than a patient's course.)
    course = _units_per_patient(p)[np.newaxis, :, np.newaxis]
    open_days = p.stock >= np.maximum(0.25 * p.dispensed, 2 * course)
    units_all = p.dispensed.sum(axis=2).astype(float)
    units = np.where(open_days, p.dispensed, 0).sum(axis=2).astype(float)
    cases = np.where(open_days, p.fever[:, np.newaxis, :], 0.0).sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = units / cases
    reference = np.full(ratio.shape, np.nan)
    for g in np.unique(p.group[p.group >= 0]):
        members = p.group == g
        for i in range(len(p.items)):
            known = members & (cases[:, i] > 0)
            if known.sum() >= 2:
                reference[members, i] = np.median(ratio[known, i])
    expected = reference * cases
    with np.errstate(divide="ignore", invalid="ignore"):
        excess = np.log((units + 1) / (expected + 1))
    mask = p.dispensing[:, np.newaxis] & (expected >= min_expected)
    z = np.column_stack(
        [robust_z(excess[:, i], mask[:, i], min_scale=0.1) for i in range(len(p.items))]
    )
    score, item = _worst_item(z)
    evidence, clauses = [], []
    for k, f in enumerate(p.facilities):
        i = int(item[k])
        e = float(expected[k, i]) if np.isfinite(expected[k, i]) else 0.0
        times = (units[k, i] / e) if e > 0 else math.nan
        evidence.append(
            {
                "item": p.items[i] if p.items else None,
                "dispensed": int(units[k, i]),
                "expected": round(e, 1),
                "times_expected": round(times, 3) if math.isfinite(times) else None,
                "fever_cases": round(float(cases[k, i]), 1),
                "dispensed_all_days": int(units_all[k, i]),
            }
        )
        area = p.group_names[p.group[k]] if p.group[k] >= 0 and p.group_names else f.org_unit
        clauses.append(
            f"dispensed {times:.1f}× the"  # noqa: RUF001  (the sign people read)
            f" {p.items[i]} that {area}'s fever cases predict"
            f" ({_units(units[k, i])} units against {_units(e)})"
            if score[k] > 0 and math.isfinite(times)
            else ""
        )
    return SignalResult("excess_dispensing", p.codes, score, tuple(evidence), tuple(clauses))


def stock_piling(p: Panel, *, out_share_full: float = 0.2) -> SignalResult:
    """Stock piling up at a facility while its neighbours run out.

    ``cover = mean end-of-day stock / mean daily dispensing`` (days of stock;
    dispensing floored at one unit a day); the robust z of ``log(cover)`` over
    dispensing facilities (scale at least 0.25), kept where positive, is
    weighted by ``0.5 + 0.5 min(1, s / out_share_full)`` with ``s`` the share of
    the neighbours' days with fever cases on which their stock was zero: a
    large stock is suspect, the more so when others go without.
    """
    stock = p.stock.astype(float)
    mean_stock = stock.mean(axis=2)
    daily = np.maximum(p.dispensed.mean(axis=2), 1.0)
    cover = mean_stock / daily
    mask = np.broadcast_to((p.dispensing & (p.fever.sum(axis=1) > 0))[:, np.newaxis], cover.shape)
    z = np.column_stack(
        [robust_z(np.log1p(cover[:, i]), mask[:, i], min_scale=0.25) for i in range(len(p.items))]
    )
    demand_days = p.fever > 0.5
    out = (p.stock <= 0) & demand_days[:, np.newaxis, :]
    out_days = out.sum(axis=2).astype(float)
    open_days = np.broadcast_to(demand_days.sum(axis=1)[:, np.newaxis], out_days.shape)
    neighbour_share = np.zeros(out_days.shape)
    for g in np.unique(p.group[p.group >= 0]):
        members = np.flatnonzero(p.group == g)
        total_out = out_days[members].sum(axis=0)
        total_open = open_days[members].sum(axis=0)
        for m in members.tolist():
            rest = np.maximum(total_open - open_days[m], 1.0)
            neighbour_share[m] = (total_out - out_days[m]) / rest
    weight = 0.5 + 0.5 * np.clip(neighbour_share / out_share_full, 0.0, 1.0)
    score, item = _worst_item(np.where(np.isfinite(z), z, np.nan) * weight)
    rise = p.stock.max(axis=2) - np.concatenate(
        [p.opening[:, :, np.newaxis], p.stock[:, :, :1]], axis=2
    ).min(axis=2)
    evidence, clauses = [], []
    for k in range(len(p.facilities)):
        i = int(item[k])
        evidence.append(
            {
                "item": p.items[i] if p.items else None,
                "days_of_stock": round(float(cover[k, i]), 1),
                "stock_rise": int(rise[k, i]),
                "neighbours_out_share": round(float(neighbour_share[k, i]), 3),
            }
        )
        clauses.append(
            f"held {cover[k, i]:.0f} days of {p.items[i]} on average (its stock rose"
            f" {_units(rise[k, i])} units) while its neighbours were out of it on"
            f" {_pct(neighbour_share[k, i])} of their days"
            if score[k] > 0
            else ""
        )
    return SignalResult("stock_piling", p.codes, score, tuple(evidence), tuple(clauses))


def transit_gap(p: Panel, *, min_rate: float = 0.02, min_shipments: int = 3) -> SignalResult:
    """Units dispatched to a facility that never showed as received.

    Counts the facility's shipments (all items) that arrived short (below the
    panel's ``short_at``), ``k`` of ``n``, against the network's pooled rate
    ``p0`` (at least ``min_rate``): the score is the binomial z of ``k``;
    facilities with fewer than ``min_shipments`` shipments are not scored.
    """
    n = p.shipments.sum(axis=1)
    k = p.short_shipments.sum(axis=1)
    sent = p.sent.sum(axis=1)
    arrived = p.arrived.sum(axis=1)
    p0 = max(float(k.sum()) / max(float(n.sum()), 1.0), min_rate)
    z = np.where(n >= min_shipments, binomial_z(k, n, p0), 0.0)
    score = np.maximum(z, 0.0)
    evidence, clauses = [], []
    for j in range(len(p.facilities)):
        evidence.append(
            {
                "dispatched": int(sent[j]),
                "received": int(arrived[j]),
                "missing": int(sent[j] - arrived[j]),
                "shipments": int(n[j]),
                "short_shipments": int(k[j]),
                "expected_short_rate": round(p0, 4),
            }
        )
        clauses.append(
            f"received {_units(arrived[j])} of the {_units(sent[j])} units dispatched to it"
            f" ({k[j]} of {n[j]} shipments short, {_pct(p0)} expected)"
            if score[j] > 0
            else ""
        )
    return SignalResult("transit_gap", p.codes, score, tuple(evidence), tuple(clauses))


def stock_losses(p: Panel, *, min_scale: float = 0.005) -> SignalResult:
    """Stocktake shortfalls and units written off as damaged, lost or stolen.

    ``rate = losses / units handled`` (opening stock plus everything received)
    over all items; the score is its robust z over all facilities that handled
    stock (scale at least ``min_scale``, half a percentage point), kept where
    positive. Expired units are waste, not losses, and are left out.
    """
    lost = sum(p.losses[r] for r in LOSS_REASONS if r in p.losses)
    lost_units = np.asarray(lost, dtype=np.int64).sum(axis=(1, 2))
    handled = (np.maximum(p.opening, 0).sum(axis=1) + p.received.sum(axis=(1, 2))).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(handled > 0, lost_units / handled, np.nan)
    score = np.maximum(np.nan_to_num(robust_z(rate, handled > 0, min_scale=min_scale)), 0.0)
    stocktake = (
        p.losses["stocktake"].sum(axis=(1, 2)) if "stocktake" in p.losses else 0 * lost_units
    )
    evidence, clauses = [], []
    for k in range(len(p.facilities)):
        r = float(rate[k]) if np.isfinite(rate[k]) else 0.0
        evidence.append(
            {
                "lost": int(lost_units[k]),
                "stocktake_shortfall": int(stocktake[k]),
                "handled": int(handled[k]),
                "loss_rate": round(r, 5),
            }
        )
        clauses.append(
            f"lost {_units(lost_units[k])} units ({_pct(r)} of what it handled;"
            f" {_units(stocktake[k])} found missing at stocktakes)"
            if score[k] > 0
            else ""
        )
    return SignalResult("stock_losses", p.codes, score, tuple(evidence), tuple(clauses))


def _units_per_patient(p: Panel) -> FloatArray:
    """Each item's protocol as the entries show it: the median units per patient."""
    e = p.entries
    out = np.ones(len(p.items))
    for i in range(len(p.items)):
        sel = (e.item == i) & (e.patients > 0)
        if sel.any():
            out[i] = float(np.median(e.units[sel] / e.patients[sel]))
    return out


def unexplained_outflows(
    p: Panel,
    *,
    units_per_patient: Mapping[str, int] | None = None,
    min_rate: float = 0.02,
) -> SignalResult:
    """Dispensing entries with no patients behind them.

    An entry is unexplained when its units exceed ``patients x units per
    patient`` by more than one patient's worth (an entry with no patient at
    all always is). ``k`` unexplained of a facility's ``n`` entries against the
    network's pooled rate (at least ``min_rate``): the binomial z. The units
    per patient are the items' protocols when given, else the median over the
    network's entries.
    """
    e = p.entries
    upp = _units_per_patient(p)
    if units_per_patient is not None:
        upp = np.array([units_per_patient.get(c, upp[i]) for i, c in enumerate(p.items)])
    per = upp[e.item] if e.item.size else np.zeros(0)
    extra = np.maximum(e.units - e.patients * per, 0.0)
    unexplained = extra > per
    n_fac = len(p.facilities)
    n = np.bincount(e.facility, minlength=n_fac)
    k = np.bincount(e.facility, weights=unexplained, minlength=n_fac)
    units = np.bincount(e.facility, weights=e.units, minlength=n_fac)
    extra_units = np.bincount(e.facility, weights=extra * unexplained, minlength=n_fac)
    p0 = max(float(k.sum()) / max(float(n.sum()), 1.0), min_rate)
    score = np.maximum(binomial_z(k, n, p0), 0.0)
    evidence, clauses = [], []
    for j in range(n_fac):
        share = extra_units[j] / units[j] if units[j] > 0 else 0.0
        evidence.append(
            {
                "entries": int(n[j]),
                "unexplained_entries": int(k[j]),
                "expected_rate": round(p0, 4),
                "unexplained_units": int(extra_units[j]),
                "unexplained_share": round(float(share), 4),
            }
        )
        clauses.append(
            f"{_units(extra_units[j])} units ({_pct(share)} of its dispensing) left with no"
            f" patient recorded, in {int(k[j])} of {n[j]} entries ({_pct(p0)} expected)"
            if score[j] > 0
            else ""
        )
    return SignalResult("unexplained_outflows", p.codes, score, tuple(evidence), tuple(clauses))


def odd_entries(
    p: Panel,
    *,
    opening_hours: tuple[float, float] = (8.0, 20.0),
    round_to: int = 100,
    min_rate: float = 0.01,
) -> SignalResult:
    """Dispensing at odd hours or in round numbers, against what is usual.

    Two counts per facility: entries outside ``opening_hours`` (local), against
    the pooled rate of facilities of the same type (hospitals work at night),
    and entries whose units are a multiple of ``round_to``, against the pooled
    rate for each item (a protocol of 10 units makes every tenth patient count
    a multiple of 100). Each rate is at least ``min_rate``; the score is the
    larger of the two binomial z.
    """
    e = p.entries
    n_fac = len(p.facilities)
    odd = (e.hour < opening_hours[0]) | (e.hour >= opening_hours[1])
    rounded = (e.units % round_to == 0) & (e.units > 0)
    n = np.bincount(e.facility, minlength=n_fac).astype(float)
    k_odd = np.bincount(e.facility, weights=odd, minlength=n_fac)
    k_round = np.bincount(e.facility, weights=rounded, minlength=n_fac)
    types = np.array([f.type for f in p.facilities])
    p_odd = np.full(n_fac, min_rate)
    for t in np.unique(types):
        members = types == t
        total = n[members].sum()
        if total > 0:
            p_odd[members] = max(k_odd[members].sum() / total, min_rate)
    # The expected count of round entries: each entry at its item's pooled rate.
    item_rate = np.array(
        [
            max(float(rounded[e.item == i].mean()) if (e.item == i).any() else 0.0, min_rate)
            for i in range(len(p.items))
        ]
    )
    expect_round = np.bincount(e.facility, weights=item_rate[e.item], minlength=n_fac)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_round = np.where(n > 0, expect_round / n, min_rate)
    z_odd = binomial_z(k_odd, n, p_odd)
    z_round = binomial_z(k_round, n, p_round)
    score = np.maximum(np.maximum(z_odd, z_round), 0.0)
    evidence, clauses = [], []
    for j in range(n_fac):
        share_odd = k_odd[j] / n[j] if n[j] else 0.0
        share_round = k_round[j] / n[j] if n[j] else 0.0
        evidence.append(
            {
                "entries": int(n[j]),
                "odd_hour_entries": int(k_odd[j]),
                "expected_odd_hour_rate": round(float(p_odd[j]), 4),
                "round_entries": int(k_round[j]),
                "expected_round_rate": round(float(p_round[j]), 4),
            }
        )
        parts = []
        if z_round[j] >= FIRE_AT or (score[j] > 0 and z_round[j] >= z_odd[j]):
            parts.append(
                f"{_pct(share_round)} of its dispensing entries are multiples of {round_to}"
                f" ({_pct(p_round[j])} expected)"
            )
        if z_odd[j] >= FIRE_AT or (score[j] > 0 and z_odd[j] > z_round[j]):
            start, end = opening_hours
            parts.append(
                f"{_pct(share_odd)} were made outside {start:02.0f}:00-{end:02.0f}:00"
                f" ({_pct(p_odd[j])} expected)"
            )
        clauses.append("; ".join(parts))
    return SignalResult("odd_entries", p.codes, score, tuple(evidence), tuple(clauses))


#: The signals :func:`rank_facilities` runs by default, in the order of the issue.
SIGNALS: tuple[Callable[[Panel], SignalResult], ...] = (
    excess_dispensing,
    stock_piling,
    transit_gap,
    stock_losses,
    unexplained_outflows,
    odd_entries,
)


@dataclass(frozen=True)
class Finding:
    """A facility to investigate: its rank, score, each signal's score, evidence and why."""

    rank: int
    facility: str
    score: float
    signals: dict[str, float]
    evidence: dict[str, dict[str, Any]]
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "facility": self.facility,
            "score": round(self.score, 3),
            "signals": {k: round(v, 3) for k, v in self.signals.items()},
            "evidence": self.evidence,
            "sentence": self.sentence,
        }


def rank_facilities(
    p: Panel,
    *,
    signals: Sequence[SignalResult] | None = None,
    top: int | None = None,
    fire_at: float = FIRE_AT,
    cap: float = SCORE_CAP,
) -> list[Finding]:
    """Facilities ranked by ``sum over signals of min(score, cap)``, with why.

    ``signals`` defaults to running every one of :data:`SIGNALS` on ``p``.
    Facilities with no positive score are left out; ``top`` keeps the first
    ones. The sentence names the facility and the clauses of the signals that
    fire (score >= ``fire_at``), strongest first, at most three.
    """
    results = list(signals) if signals is not None else [signal(p) for signal in SIGNALS]
    total = np.zeros(len(p.facilities))
    for result in results:
        total += np.minimum(result.score, cap)
    order = [int(k) for k in np.argsort(-total, kind="stable") if total[k] > 0]
    if top is not None:
        order = order[:top]
    findings = []
    for rank, k in enumerate(order, start=1):
        code = p.facilities[k].code
        scored = sorted(results, key=lambda r: -float(r.score[k]))
        clauses = [r.clause[k] for r in scored if r.score[k] >= fire_at and r.clause[k]][:3]
        if clauses:
            sentence = f"{code} " + "; ".join(clauses) + "."
        else:
            best = scored[0]
            sentence = (
                f"{code}: no signal reaches {fire_at:g}; the strongest is"
                f" {best.signal.replace('_', ' ')} ({float(best.score[k]):.1f})."
            )
        findings.append(
            Finding(
                rank=rank,
                facility=code,
                score=float(total[k]),
                signals={r.signal: float(r.score[k]) for r in results},
                evidence={r.signal: r.evidence[k] for r in results},
                sentence=sentence,
            )
        )
    return findings


@dataclass(frozen=True)
class PrecisionRecall:
    """How a ranked list's first ``k`` facilities match the known (planted) cases."""

    k: int
    precision: float
    recall: float
    hits: tuple[str, ...]
    recall_by_kind: dict[str, float] = field(default_factory=dict)


def precision_recall(
    findings: Sequence[Finding], truth: Mapping[str, str], *, k: int = 20
) -> PrecisionRecall:
    """Precision and recall of the first ``k`` findings against ``truth`` (facility -> kind)."""
    listed = [f.facility for f in findings[:k]]
    hits = tuple(code for code in listed if code in truth)
    kinds: dict[str, list[bool]] = {}
    for code, kind in truth.items():
        kinds.setdefault(kind, []).append(code in hits)
    return PrecisionRecall(
        k=k,
        precision=len(hits) / k if k else 0.0,
        recall=len(hits) / len(truth) if truth else 0.0,
        hits=hits,
        recall_by_kind={kind: sum(v) / len(v) for kind, v in kinds.items()},
    )
