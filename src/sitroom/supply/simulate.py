"""A simulated supply history for an epidemic, with hoarding and diversion planted.

The generator behind ``sitroom simulate supply`` (issue #11, item 11): given a
facility network, the items with their protocols and the daily fever cases per
org unit, :func:`simulate_supply` plays the supply chain day by day and returns
the ledger events it produced (:class:`~sitroom.supply.records.LedgerRow`, the
columns of the events CSV) and the truth: which facilities were made to hoard
or divert, and how. Pure numpy: no database, the same rows for the same seed.

The model, day by day (local time, Asia/Pyongyang; rows carry UTC):

- 00:05 lots whose expiry date has come are written off (``adjust``,
  ``expired``): nothing is ever issued on or after its expiry date;
- 06:00 the stockpile receives its tranches (procurement and aid), a fixed
  share of the whole wave's need, so that stock is genuinely short;
- 07:00-08:59 shipments due that day arrive (``transfer_in``, same
  ``reference`` as the supplier's ``transfer_out``);
- 09:00-19:59 pharmacies and hospitals dispense to the day's patients, a
  Poisson-gamma draw around their share of the local fever cases, as far as
  stock allows (hospitals also at night, 21:00-23:59); issues are
  first-expiry-first-out;
- 13:00-16:59 suppliers ship what their customers ordered (order-up-to
  levels on a periodic review), rationing in proportion to the requests when
  short; lead times depend on the region's remoteness and the carrier (the
  army, for some orders from day 3, is faster than the civil carriers);
- 20:00 stocktakes every 14 days, with small honest differences; 20:40 the
  odd damaged or lost units.

Planted kinds (:data:`ANOMALY_KINDS`): ``hoarding`` (orders five times its
need, every day, so stock piles up while its neighbours run out),
``no_patients`` (dispensing entries with no patient behind them),
``stocktake_loss`` (units vanish from the shelf, found missing at weekly
stocktakes), ``transit_loss`` (receives markedly less than was dispatched to
it) and ``odd_entries`` (bulk dispensing at night in multiples of 100).

Everything is marked as simulated: every ``reference`` starts with ``SIM-``
and the result says ``simulated=True``.

Each day's random draws for the pharmacies and hospitals are made for all of
them at once (numpy arrays of facilities x items), and the orders' levels are
computed the same way; Python walks only the facilities with something to
record, issuing from their lots (kept in first-expiry-first-out order with
their running total). On the shipped DPRK network (5,052 facilities, 74 days)
one item takes about 2.7 s of CPU time instead of 10 s (docs/benchmarks.md,
"Supply simulation"). The same seed gives the same rows; the rows of a seed
differ from those of sitroom before this change (the draws come in another
order), not their distribution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import ArrayLike, NDArray

from sitroom.supply.records import (
    DISPENSING_TYPES,
    EventKind,
    FacilityRecord,
    ItemRecord,
    LedgerRow,
    local_fever,
)

AnomalyKind = Literal["hoarding", "no_patients", "stocktake_loss", "transit_loss", "odd_entries"]
ANOMALY_KINDS: tuple[AnomalyKind, ...] = (
    "hoarding",
    "no_patients",
    "stocktake_loss",
    "transit_loss",
    "odd_entries",
)

#: The prefix of every simulated reference, so that simulated rows show as such.
SIM_PREFIX = "SIM-"
LOCAL_ZONE = ZoneInfo("Asia/Pyongyang")


@dataclass(frozen=True, slots=True)
class PlantedAnomaly:
    """A facility made to misbehave, how, and from which day (0-based)."""

    facility: str
    kind: AnomalyKind
    start_day: int = 0


@dataclass(frozen=True, slots=True)
class SimulatedOrder:
    """A distribution order as simulated: who shipped what to whom, by which carrier, when."""

    reference: str
    supplier: str
    customer: str
    item: str
    carrier: Literal["army", "civil"]
    requested: int
    dispatched: int
    received: int
    dispatched_at: datetime
    received_at: datetime


@dataclass(frozen=True)
class SimulationConfig:
    """The knobs of the simulation, with defaults that give a plausible short wave.

    ``supply_ratio`` is the stockpile's receipts over the wave as a share of the
    need (treated patients x protocol); below 1 some pharmacies run out.
    ``plant`` says how many facilities of each kind to plant when the caller
    does not name them.
    """

    treated_share: float = 0.5
    demand_dispersion: float = 10.0
    supply_ratio: float = 0.8
    tranches: tuple[tuple[int, float], ...] = ((0, 0.35), (8, 0.25), (18, 0.2), (30, 0.2))
    army_from_day: int = 3
    army_share: float = 0.35
    review_days: Mapping[str, int] = field(
        default_factory=lambda: {"warehouse": 2, "store": 2, "pharmacy": 3, "hospital": 3}
    )
    safety_days: float = 3.0
    stocktake_every: int = 14
    plant: Mapping[str, int] = field(default_factory=lambda: dict.fromkeys(ANOMALY_KINDS, 3))
    hoard_factor: float = 5.0
    theft_rate: float = 0.05
    transit_keep: tuple[float, float] = (0.5, 0.85)


@dataclass(frozen=True)
class SupplySimulation:
    """The simulated ledger rows (in time order), the planted truth and the orders."""

    rows: tuple[LedgerRow, ...]
    planted: tuple[PlantedAnomaly, ...]
    orders: tuple[SimulatedOrder, ...]
    start: date
    n_days: int
    seed: int | None
    simulated: bool = True


@dataclass(slots=True)
class _Lot:
    expiry: date
    code: str
    quantity: int


def _fefo(lot: _Lot) -> tuple[date, str]:
    return lot.expiry, lot.code


class _Lots:
    """The lots of one item at one facility, first-expiry-first-out, and their total.

    Every lot held has a positive quantity; ``total`` is kept with every change,
    so that asking for it costs nothing.
    """

    __slots__ = ("lots", "total")

    def __init__(self) -> None:
        self.lots: list[_Lot] = []
        self.total = 0

    def add(self, code: str, expiry: date, quantity: int) -> None:
        self.total += quantity
        for lot in self.lots:
            if lot.code == code:
                lot.quantity += quantity
                return
        self.lots.append(_Lot(expiry, code, quantity))
        if len(self.lots) > 1:
            self.lots.sort(key=_fefo)

    def issue(self, quantity: int) -> list[tuple[str, date, int]]:
        """Take ``quantity`` first-expiry-first-out; the caller checked it is there."""
        if quantity <= 0:
            return []
        self.total -= quantity
        taken: list[tuple[str, date, int]] = []
        lots = self.lots
        emptied = 0
        for lot in lots:
            if lot.quantity > quantity:
                lot.quantity -= quantity
                taken.append((lot.code, lot.expiry, quantity))
                break
            taken.append((lot.code, lot.expiry, lot.quantity))
            quantity -= lot.quantity
            emptied += 1
            if quantity == 0:
                break
        del lots[:emptied]
        return taken

    def expire(self, today: date) -> list[tuple[str, date, int]]:
        """Remove the lots whose expiry date has come (``expiry <= today``)."""
        lots = self.lots
        n = 0
        while n < len(lots) and lots[n].expiry <= today:  # FEFO order: a prefix
            n += 1
        gone = [(lot.code, lot.expiry, lot.quantity) for lot in lots[:n]]
        del lots[:n]
        self.total -= sum(q for *_, q in gone)
        return gone


_MIDNIGHTS: dict[date, datetime] = {}
_TOTAL = attrgetter("total")


def _at(day: date, seconds: int) -> datetime:
    """A local time of day (seconds after midnight in Pyongyang) as an aware UTC datetime."""
    midnight = _MIDNIGHTS.get(day)
    if midnight is None:
        midnight = datetime.combine(day, time(0), tzinfo=LOCAL_ZONE).astimezone(UTC)
        _MIDNIGHTS[day] = midnight
    # Pyongyang has kept one offset all year since 2018 (and never had summer time), so a
    # time of day is midnight plus seconds; a zone with summer time would need more.
    return midnight + timedelta(seconds=min(max(seconds, 0), 86399))


def _plant(
    facilities: Sequence[FacilityRecord],
    config: SimulationConfig,
    n_days: int,
    rng: np.random.Generator,
) -> list[PlantedAnomaly]:
    dispensing = [f.code for f in facilities if f.type in DISPENSING_TYPES]
    stores = [f.code for f in facilities if f.type == "store"]
    chosen: set[str] = set()
    planted: list[PlantedAnomaly] = []
    for kind in ANOMALY_KINDS:
        n = int(config.plant.get(kind, 0))
        pool = dispensing + (stores if kind == "transit_loss" else [])
        pool = [c for c in pool if c not in chosen]
        if n > len(pool):
            raise ValueError(f"cannot plant {n} {kind}: only {len(pool)} facilities left")
        for code in rng.choice(np.array(pool, dtype=object), size=n, replace=False):
            chosen.add(str(code))
            start = int(rng.integers(0, max(1, n_days // 4)))
            planted.append(PlantedAnomaly(str(code), kind, start))
    return planted


def simulate_supply(  # noqa: PLR0915  (one day's steps in time order, as the module says)
    facilities: Sequence[FacilityRecord],
    items: Sequence[ItemRecord],
    fever: Mapping[str, ArrayLike],
    start: date,
    *,
    parents: Mapping[str, str | None] | None = None,
    seed: int | None = 0,
    planted: Sequence[PlantedAnomaly] | None = None,
    config: SimulationConfig | None = None,
) -> SupplySimulation:
    """Simulate the supply chain over the days of ``fever`` and plant anomalies.

    Parameters
    ----------
    facilities : sequence of FacilityRecord
        The network: exactly one ``stockpile`` (no supplier); every other
        facility's ``supplier`` is a facility of the network.
    items : sequence of ItemRecord
        The items, each with its units per treated patient.
    fever : mapping of org unit code to array-like of shape (n_days,)
        Daily new fever cases; a facility takes its share of the series of
        its org unit or nearest ancestor (see ``records.local_fever``).
    start : date
        The date of the first day of the series.
    parents : mapping, optional
        Org unit -> parent org unit, to find a facility's series higher up.
    seed : int or None
        The random seed; the same seed gives the same rows.
    planted : sequence of PlantedAnomaly, optional
        The anomalies to plant; by default ``config.plant`` of each kind at
        facilities drawn with the seed.
    config : SimulationConfig, optional

    Returns
    -------
    SupplySimulation
        The rows in time order (UTC), the planted anomalies, the orders.

    Notes
    -----
    Each day's random draws for all facilities are made at once (numpy arrays
    of facilities x items: the patients, their sessions and times, the night
    patients of hospitals, which stocktakes are due and which facilities damage
    a few units); Python then walks only the facilities that have something to
    record, issuing first-expiry-first-out from their lots.
    """
    cfg = config or SimulationConfig()
    rng = np.random.default_rng(seed)
    by_code = {f.code: f for f in facilities}
    if len(by_code) != len(facilities):
        raise ValueError("facility codes must be unique")
    roots = [f for f in facilities if f.supplier is None]
    if len(roots) != 1 or roots[0].type != "stockpile":
        raise ValueError(
            "the network needs exactly one stockpile, the only facility without a supplier"
        )
    for f in facilities:
        if f.supplier is not None and f.supplier not in by_code:
            raise ValueError(f"{f.code}'s supplier {f.supplier} is not in the network")
    if not items:
        raise ValueError("no items to simulate")
    cases = local_fever(facilities, fever, parents=parents)
    n_fac, n_days = cases.shape
    n_items = len(items)
    if n_days == 0:
        raise ValueError("the fever series are empty")

    plants = list(planted) if planted is not None else _plant(facilities, cfg, n_days, rng)
    for one in plants:
        if one.facility not in by_code:
            raise ValueError(f"planted facility {one.facility} is not in the network")

    index = {f.code: k for k, f in enumerate(facilities)}
    kind_of: dict[int, PlantedAnomaly] = {index[p.facility]: p for p in plants}
    supplier_of = np.array(
        [-1 if f.supplier is None else index[f.supplier] for f in facilities], dtype=np.int64
    )

    def depth(k: int) -> int:
        d, f = 0, facilities[k]
        while f.supplier is not None and d <= n_fac:
            f, d = by_code[f.supplier], d + 1
        return d

    depths = np.array([depth(k) for k in range(n_fac)], dtype=np.int64)
    if depths.max() > n_fac:
        raise ValueError("the suppliers form a cycle")
    # Suppliers ship top-down: by depth, and (as before) the later facility first within one.
    top_down = sorted(range(n_fac), key=lambda k: (depths[k], -k))
    shipping_rank = np.empty(n_fac, dtype=np.int64)
    shipping_rank[top_down] = np.arange(n_fac)
    levels = [
        (nodes, supplier_of[nodes])
        for level in range(int(depths.max()), 0, -1)
        if len(nodes := np.flatnonzero(depths == level))
    ]

    def roll_up(values: NDArray[np.float64]) -> None:
        """Add each facility's values into its supplier's, bottom-up, in place."""
        for nodes, up in levels:
            np.add.at(values, up, values[nodes])

    def region_of(k: int) -> int:
        while facilities[k].type not in {"warehouse", "stockpile"}:
            supplier = facilities[k].supplier
            if supplier is None:
                break
            k = index[supplier]
        return k

    # Each region's remoteness (0-1), used through each facility's warehouse.
    remoteness = [float(x) for x in rng.uniform(0.0, 1.0, size=(n_fac,))]
    region = [region_of(k) for k in range(n_fac)]
    review = np.array([int(cfg.review_days.get(f.type, 3)) for f in facilities], dtype=np.int64)
    phase = rng.integers(0, 14, size=(n_fac,))
    dispensing = np.array([f.type in DISPENSING_TYPES for f in facilities])
    has_supplier = supplier_of >= 0
    # Order-up-to cover: the review period, the region's lead time and the safety days.
    cover = review + (1.0 + 3.0 * np.array(remoteness)[region]) + cfg.safety_days

    rows: list[LedgerRow] = []
    orders: list[SimulatedOrder] = []
    stock = [[_Lots() for _ in items] for _ in range(n_fac)]
    # Units gone from the shelf (stolen) that the book still shows, until a stocktake.
    theft: dict[tuple[int, int], int] = {}
    on_order = np.zeros((n_fac, n_items), dtype=np.int64)
    demand_hist = np.zeros((n_fac, n_items, n_days))
    arrivals: dict[int, list[tuple[int, int, int, str, list[tuple[str, date, int]], int]]] = {}
    # The (facility, item) pairs holding a lot that expires on a day, to write off then.
    expiring: dict[date, set[tuple[int, int]]] = {}
    counters = {"ord": 0, "dsp": 0, "adj": 0, "stk": 0, "rcv": 0, "lot": 0}
    fac_codes = [f.code for f in facilities]
    item_codes = [it.code for it in items]

    def ref(kind: str) -> str:
        counters[kind] += 1
        return f"{SIM_PREFIX}{kind.upper()}-{counters[kind]:06d}"

    def emit(  # noqa: PLR0917  (the CSV's columns in their order)
        when: datetime,
        event: EventKind,
        k: int,
        i: int,
        lot: str,
        expiry: date,
        quantity: int,
        *,
        counterparty: str = "",
        reason: str = "",
        reference: str = "",
        patients: int | None = None,
    ) -> None:
        rows.append(
            LedgerRow(
                when,
                event,
                fac_codes[k],
                item_codes[i],
                lot,
                expiry,
                int(quantity),
                counterparty,
                reason,
                reference,
                patients,
            )
        )

    def put(k: int, i: int, lot: str, expiry: date, quantity: int, *, today: date) -> None:
        """Shelve a lot; it is written off at 00:05 on its expiry date (or the next day)."""
        stock[k][i].add(lot, expiry, quantity)
        due = expiry if expiry > today else today + timedelta(days=1)
        expiring.setdefault(due, set()).add((k, i))

    upp = np.array([it.units_per_patient for it in items], dtype=np.int64)
    if (upp < 1).any():
        raise ValueError("units per patient must be whole numbers of at least 1")
    courses = upp.tolist()
    expected_units = cases[:, np.newaxis, :] * cfg.treated_share * upp[np.newaxis, :, np.newaxis]
    need = expected_units.sum(axis=(0, 2))

    def new_lot(i: int, day: date, low: int, high: int) -> tuple[str, date]:
        counters["lot"] += 1
        code = f"{SIM_PREFIX}{items[i].code}-L{counters['lot']:05d}"
        return code, day + timedelta(days=int(rng.integers(low, high)))

    # Opening balances: a few days of the first week's need everywhere below the stockpile.
    first_day = start
    rate0 = expected_units[:, :, : min(7, n_days)].mean(axis=2)
    roll_up(rate0)
    opening = (rate0 * np.where(dispensing, 2.0, 3.0)[:, np.newaxis]).astype(np.int64)
    for k, i in zip(*np.nonzero(has_supplier[:, np.newaxis] & (opening > 0)), strict=True):
        total = int(opening[k, i])
        short = int(total * 0.3)
        for q, (low, high) in ((short, (10, 45)), (total - short, (200, 700))):
            if q > 0:
                lot, expiry = new_lot(int(i), first_day, low, high)
                put(int(k), int(i), lot, expiry, q, today=first_day)
                emit(
                    _at(first_day, 6 * 3600 + 60),
                    "receipt",
                    int(k),
                    int(i),
                    lot,
                    expiry,
                    q,
                    counterparty="opening balance",
                    reference=ref("rcv"),
                )

    def dispense(  # noqa: PLR0917  (where, when, and what)
        k: int, i: int, midnight: datetime, seconds: int, n_patients: int, units: int
    ) -> None:
        """One dispensing entry, first-expiry-first-out, never beyond the physical stock."""
        lots = stock[k][i]
        physical = lots.total - theft.get((k, i), 0) if theft else lots.total
        units = min(units, physical)
        if units <= 0:
            return
        course = courses[i]
        n_patients = min(n_patients, units // course)
        counters["dsp"] += 1
        reference = f"{SIM_PREFIX}DSP-{counters['dsp']:06d}"
        # Pyongyang keeps one offset all year (see _at): a time of day is midnight plus seconds.
        when = midnight + timedelta(seconds=seconds)
        code, item = fac_codes[k], item_codes[i]
        first = lots.lots[0]
        if first.quantity > units:  # most entries: from the first lot, which is not emptied
            first.quantity -= units
            lots.total -= units
            rows.append(
                LedgerRow(
                    when, "dispense", code, item, first.code, first.expiry, units, "", "",
                    reference, n_patients,
                )
            )  # fmt: skip
            return
        taken = lots.issue(units)
        given = 0
        last = len(taken) - 1
        for n_lot, (lot, expiry, q) in enumerate(taken):
            # A course split across two lots: its patients go with the later rows.
            share = n_patients - given if n_lot == last else min(q // course, n_patients - given)
            given += share
            rows.append(
                LedgerRow(when, "dispense", code, item, lot, expiry, q, "", "", reference, share)
            )

    def totals() -> NDArray[np.int64]:
        """Every facility's stock of every item (units), shape (facilities, items)."""
        book = np.fromiter(map(_TOTAL, all_lots), dtype=np.int64, count=len(all_lots))
        return book.reshape(n_fac, n_items)

    all_lots = [lots for row in stock for lots in row]
    stockpile = index[roots[0].code]
    donors = ("procurement", "aid: China", "procurement", "aid: WHO")
    disp = np.flatnonzero(dispensing)
    disp_list = disp.tolist()
    n_disp = len(disp_list)
    hospital = np.array([facilities[k].type == "hospital" for k in disp_list], dtype=bool)
    cases_disp = cases[disp]
    phase_disp = phase[disp]
    row_of = {k: r for r, k in enumerate(disp_list)}
    others = np.flatnonzero(~dispensing)
    others_list = others.tolist()
    phase_others = phase[others]
    planted_rows = {r: kind_of[k] for r, k in enumerate(disp_list) if k in kind_of}
    stocktake_loss_rows = [r for r, a in planted_rows.items() if a.kind == "stocktake_loss"]
    hoarders = [(k, a.start_day) for k, a in kind_of.items() if a.kind == "hoarding"]
    slot = np.arange(4)
    day_start, day_end, night_start = 9 * 3600, 20 * 3600, 21 * 3600
    every = cfg.stocktake_every

    for d in range(n_days):
        today = start + timedelta(days=d)

        midnight = _at(today, 0)

        # 00:05 write-offs of lots whose expiry date has come.
        for k, i in sorted(expiring.pop(today, ())):
            for lot, expiry, q in stock[k][i].expire(today):
                emit(
                    _at(today, 300),
                    "adjust",
                    k,
                    i,
                    lot,
                    expiry,
                    -q,
                    reason="expired",
                    reference=ref("adj"),
                )
        for (k, i), missing in theft.items():
            theft[k, i] = min(missing, stock[k][i].total)

        # 06:00 the stockpile's tranches.
        for n_tranche, (day, share) in enumerate(cfg.tranches):
            if day != d:
                continue
            for i in range(n_items):
                q = int(need[i] * cfg.supply_ratio * share)
                if q > 0:
                    lot, expiry = new_lot(i, today, 300, 720)
                    put(stockpile, i, lot, expiry, q, today=today)
                    emit(
                        _at(today, 6 * 3600),
                        "receipt",
                        stockpile,
                        i,
                        lot,
                        expiry,
                        q,
                        counterparty=donors[n_tranche % len(donors)],
                        reference=ref("rcv"),
                    )

        # 07:00-08:59 arrivals.
        for n_arrival, (k, i, sent, reference, parcel, order_no) in enumerate(arrivals.pop(d, [])):
            when = _at(today, 7 * 3600 + 20 * n_arrival % 7000)
            keep = 1.0
            anomaly = kind_of.get(k)
            if (
                anomaly is not None
                and anomaly.kind == "transit_loss"
                and d >= anomaly.start_day
                and rng.random() < 0.8
            ):
                keep = float(rng.uniform(*cfg.transit_keep))
            elif rng.random() < 0.03:
                keep = float(rng.uniform(0.97, 0.995))  # honest rejections: damaged cartons
            missing = sent - round(sent * keep)
            received = 0
            for lot, expiry, q in reversed(parcel):
                cut = min(q, missing)
                missing -= cut
                if q - cut > 0:
                    put(k, i, lot, expiry, q - cut, today=today)
                    received += q - cut
                    emit(
                        when,
                        "transfer_in",
                        k,
                        i,
                        lot,
                        expiry,
                        q - cut,
                        counterparty=facilities[k].supplier or "",
                        reference=reference,
                    )
            on_order[k, i] -= sent
            old = orders[order_no]
            orders[order_no] = SimulatedOrder(
                old.reference,
                old.supplier,
                old.customer,
                old.item,
                old.carrier,
                old.requested,
                old.dispatched,
                received,
                old.dispatched_at,
                when,
            )

        # 09:00-23:59 dispensing, stocktakes and write-offs at pharmacies and hospitals:
        # the day's draws for all of them at once, then each facility's entries in turn.
        lam = (
            cases_disp[:, d, np.newaxis]
            * cfg.treated_share
            * rng.gamma(cfg.demand_dispersion, 1 / cfg.demand_dispersion, (n_disp, n_items))
        )
        patients = rng.poisson(lam)
        demand_hist[disp, :, d] = patients * upp
        held = totals()[disp]
        for (k, i), missing in theft.items():
            if k in row_of:
                held[row_of[k], i] -= missing
        treated = np.minimum(patients, np.maximum(held, 0) // upp)
        # Up to four sessions a day (one per 40 patients), the patients shared evenly.
        n_sessions = np.where(treated > 0, 1 + np.minimum(treated // 40, 3), 0)
        split = np.empty((n_disp, n_items, 4), dtype=np.int64)
        left = treated
        for j in range(4):
            split[:, :, j] = rng.binomial(left, 1.0 / np.maximum(n_sessions - j, 1))
            left = left - split[:, :, j]
        seconds = rng.integers(day_start, day_end, (n_disp, n_items, 4))
        seconds = np.sort(np.where(slot < n_sessions[..., np.newaxis], seconds, 86400), axis=2)
        forgot = rng.random((n_disp, n_items, 4)) < 0.01  # honest: patients not written down
        night = hospital[:, np.newaxis] & (treated > 0) & (rng.random((n_disp, n_items)) < 0.5)
        night_patients = rng.integers(1, np.maximum(2, treated // 5 + 1))
        night_seconds = rng.integers(night_start, 24 * 3600, (n_disp, n_items))
        damaged = rng.random((n_disp, n_items)) < 0.01
        every_disp = np.full(n_disp, every)
        for r in stocktake_loss_rows:
            if d >= planted_rows[r].start_day:
                every_disp[r] = 7
        stocktake = (d + phase_disp) % every_disp == every_disp - 1
        marked = np.zeros(n_disp, dtype=bool)
        marked[[r for r, a in planted_rows.items() if d >= a.start_day]] = True

        used = split > 0
        n_entries = used.sum(axis=2).ravel()
        first_entry = np.concatenate(([0], np.cumsum(n_entries))).tolist()
        entry_seconds = seconds[used].tolist()
        entry_patients = np.where(forgot, 0, split)[used].tolist()
        entry_units = (split * upp[:, np.newaxis])[used].tolist()
        night_l = night.ravel().tolist()
        night_patients_l = night_patients.ravel().tolist()
        night_seconds_l = night_seconds.ravel().tolist()
        damaged_l = damaged.ravel().tolist()
        stocktake_l = stocktake.tolist()
        busy = (
            (n_entries > 0).reshape(n_disp, n_items)
            | night
            | damaged
            | stocktake[:, np.newaxis]
            | marked[:, np.newaxis]
        )
        for pair in np.flatnonzero(busy).tolist():
            r, i = divmod(pair, n_items)
            k = disp_list[r]
            lots = stock[k][i]
            course = courses[i]
            anomaly = planted_rows.get(r)
            active = anomaly.kind if anomaly is not None and d >= anomaly.start_day else None
            if active is None:  # the usual facility: its day's entries as drawn
                for e in range(first_entry[pair], first_entry[pair + 1]):
                    dispense(k, i, midnight, entry_seconds[e], entry_patients[e], entry_units[e])
                if stocktake_l[r]:
                    missing = theft.pop((k, i), 0)
                    _stocktake(k, i, today, lots, missing=missing, rng=rng, emit=emit, ref=ref)
                if damaged_l[pair]:
                    missing = theft.get((k, i), 0)
                    _damage(k, i, today, lots, missing=missing, rng=rng, emit=emit, ref=ref)
                if night_l[pair]:
                    n_patients = night_patients_l[pair]
                    seconds_at = night_seconds_l[pair]
                    dispense(k, i, midnight, seconds_at, n_patients, n_patients * course)
                continue

            entries = [
                (entry_seconds[e], entry_patients[e], entry_units[e])
                for e in range(first_entry[pair], first_entry[pair + 1])
            ]
            late: list[tuple[int, int, int]] = []
            if night_l[pair]:
                n_patients = night_patients_l[pair]
                late.append((night_seconds_l[pair], n_patients, n_patients * course))
            if active == "no_patients" and rng.random() < 0.8:
                recent = demand_hist[k, i, max(0, d - 7) : d + 1].mean()
                units = int(recent * rng.uniform(0.4, 1.0)) + course
                entries.append((int(rng.integers(day_start, day_end)), 0, units))
                entries.sort()
                demand_hist[k, i, d] += units
            if active == "odd_entries" and rng.random() < 0.6:
                for _ in range(int(rng.integers(1, 3))):
                    hundreds = int(rng.integers(1, 2 + int(demand_hist[k, i, d] // 300)))
                    units = 100 * hundreds
                    late.append((int(rng.integers(night_start, 24 * 3600)), units // course, units))
                    demand_hist[k, i, d] += units
                late.sort()

            for seconds_at, n_patients, units in entries:
                dispense(k, i, midnight, seconds_at, n_patients, units)
            if active == "stocktake_loss":
                physical = lots.total - theft.get((k, i), 0)
                stolen = int(rng.binomial(max(physical, 0), cfg.theft_rate))
                theft[k, i] = theft.get((k, i), 0) + stolen
            if stocktake_l[r]:
                missing = theft.pop((k, i), 0)
                _stocktake(k, i, today, lots, missing=missing, rng=rng, emit=emit, ref=ref)
            if damaged_l[pair]:
                missing = theft.get((k, i), 0)
                _damage(k, i, today, lots, missing=missing, rng=rng, emit=emit, ref=ref)
            for seconds_at, n_patients, units in late:
                dispense(k, i, midnight, seconds_at, n_patients, units)

        # Orders: order-up-to levels on a periodic review; rates summed up the tree.
        rate = demand_hist[:, :, max(0, d - 6) : d + 1].mean(axis=2)
        rate[~dispensing] = 0.0
        roll_up(rate)
        hoarding = np.zeros(n_fac, dtype=bool)
        for k, start_day in hoarders:
            hoarding[k] = d >= start_day
        reviewing = has_supplier & (hoarding | ((d + phase) % review == 0))
        position = on_order + totals()
        target = rate * cover[:, np.newaxis] * np.where(hoarding, cfg.hoard_factor, 1.0)[:, None]
        wanted_q = np.ceil(target - position)
        ks, iis = np.nonzero(reviewing[:, np.newaxis] & (wanted_q > 0))
        sequence = np.lexsort((ks, iis, shipping_rank[supplier_of[ks]]))
        requests: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for k, i, q in zip(
            ks[sequence].tolist(),
            iis[sequence].tolist(),
            wanted_q[ks, iis][sequence].astype(np.int64).tolist(),
            strict=True,
        ):
            requests.setdefault((int(supplier_of[k]), i), []).append((k, q))
        for (s, i), wanted in requests.items():
            lots = stock[s][i]
            available = lots.total
            asked = sum(q for _, q in wanted)
            fill = 1.0 if asked <= available else available / asked
            for n_order, (k, q) in enumerate(wanted):
                sent = min(int(q * fill), lots.total)
                if sent <= 0:
                    continue
                army = d >= cfg.army_from_day and rng.random() < cfg.army_share
                carrier: Literal["army", "civil"] = "army" if army else "civil"
                far = remoteness[region[k]]
                if facilities[s].type == "stockpile":
                    lead = 1 + round(1.5 * far) if army else 2 + round(4 * far)
                elif facilities[s].type == "warehouse":
                    lead = 1 if army else 1 + round(2 * far)
                else:
                    lead = 1
                lead += 0 if army else int(rng.poisson(0.6))
                counters["ord"] += 1
                reference = f"{SIM_PREFIX}ORD-{counters['ord']:06d}-{carrier.upper()}"
                when = _at(today, 13 * 3600 + 30 * n_order)
                taken = lots.issue(sent)
                for lot, expiry, qty in taken:
                    emit(
                        when,
                        "transfer_out",
                        s,
                        i,
                        lot,
                        expiry,
                        qty,
                        counterparty=fac_codes[k],
                        reference=reference,
                    )
                on_order[k, i] += sent
                orders.append(
                    SimulatedOrder(
                        reference,
                        fac_codes[s],
                        fac_codes[k],
                        item_codes[i],
                        carrier,
                        q,
                        sent,
                        0,
                        when,
                        when,
                    )
                )
                arrivals.setdefault(d + lead, []).append(
                    (k, i, sent, reference, taken, len(orders) - 1)
                )

        # 20:00 stocktakes and 20:40 write-offs at the stockpile, warehouses and stores.
        due = ((d + phase_others) % every == every - 1).tolist()
        damaged_l = (rng.random((len(others_list), n_items)) < 0.01).ravel().tolist()
        for r, k in enumerate(others_list):
            for i in range(n_items):
                if due[r]:
                    _stocktake(k, i, today, stock[k][i], missing=0, rng=rng, emit=emit, ref=ref)
                if damaged_l[r * n_items + i]:
                    _damage(k, i, today, stock[k][i], missing=0, rng=rng, emit=emit, ref=ref)

    rows.sort(key=attrgetter("time"))  # stable: a facility's same-time rows keep their order
    return SupplySimulation(
        rows=tuple(rows),
        planted=tuple(plants),
        orders=tuple(orders),
        start=start,
        n_days=n_days,
        seed=seed,
    )


def _stocktake(
    k: int,
    i: int,
    today: date,
    lots: _Lots,
    *,
    missing: int,
    rng: np.random.Generator,
    emit: _Emit,
    ref: _Ref,
) -> None:
    """Count every lot at 20:00: the book less what went missing, give or take a few units."""
    reference = ref("stk")
    when = _at(today, 20 * 3600)
    for lot in reversed(lots.lots):  # a thief takes from the back of the shelf
        gone = min(lot.quantity, missing)
        missing -= gone
        count = lot.quantity - gone
        if rng.random() < 0.3:  # honest miscounts, both ways, a fraction of a percent
            count += round(rng.normal(0, max(1.0, 0.003 * lot.quantity)))
        count = max(count, 0)
        emit(when, "stocktake", k, i, lot.code, lot.expiry, count, reference=reference)
        lot.quantity = count
    lots.lots = [lot for lot in lots.lots if lot.quantity > 0]
    lots.total = sum(lot.quantity for lot in lots.lots)


def _damage(
    k: int,
    i: int,
    today: date,
    lots: _Lots,
    *,
    missing: int,
    rng: np.random.Generator,
    emit: _Emit,
    ref: _Ref,
) -> None:
    """A few honest units damaged or lost (20:40), never beyond what is there.

    Called on the 1 % of days drawn for it (the caller draws which, for all facilities).
    """
    available = lots.total - missing
    if available <= 0:
        return
    q = min(available, 1 + int(rng.integers(0, max(1, available // 200))))
    reason = "damaged" if rng.random() < 0.7 else "lost"
    for lot, expiry, qty in lots.issue(q):
        emit(
            _at(today, 20 * 3600 + 2400),
            "adjust",
            k,
            i,
            lot,
            expiry,
            -qty,
            reason=reason,
            reference=ref("adj"),
        )


class _Emit(Protocol):
    """The shape of ``simulate_supply``'s row writer, for the helpers' signatures."""

    def __call__(  # noqa: PLR0917  (the CSV's columns in their order)
        self,
        when: datetime,
        event: EventKind,
        k: int,
        i: int,
        lot: str,
        expiry: date,
        quantity: int,
        *,
        counterparty: str = "",
        reason: str = "",
        reference: str = "",
        patients: int | None = None,
    ) -> None: ...


class _Ref(Protocol):
    def __call__(self, kind: str) -> str: ...
