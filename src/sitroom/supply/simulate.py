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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import ArrayLike

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


class _Lots:
    """The lots of one item at one facility, kept in first-expiry-first-out order."""

    __slots__ = ("lots",)

    def __init__(self) -> None:
        self.lots: list[_Lot] = []

    def total(self) -> int:
        return sum(lot.quantity for lot in self.lots)

    def add(self, code: str, expiry: date, quantity: int) -> None:
        for lot in self.lots:
            if lot.code == code:
                lot.quantity += quantity
                return
        self.lots.append(_Lot(expiry, code, quantity))
        self.lots.sort(key=lambda lot: (lot.expiry, lot.code))

    def issue(self, quantity: int) -> list[tuple[str, date, int]]:
        """Take ``quantity`` first-expiry-first-out; the caller checked it is there."""
        taken: list[tuple[str, date, int]] = []
        for lot in self.lots:
            if quantity <= 0:
                break
            q = min(lot.quantity, quantity)
            if q > 0:
                lot.quantity -= q
                taken.append((lot.code, lot.expiry, q))
                quantity -= q
        self.lots = [lot for lot in self.lots if lot.quantity > 0]
        return taken

    def expire(self, today: date) -> list[tuple[str, date, int]]:
        """Remove the lots whose expiry date has come (``expiry <= today``)."""
        gone = [(lot.code, lot.expiry, lot.quantity) for lot in self.lots if lot.expiry <= today]
        self.lots = [lot for lot in self.lots if lot.expiry > today]
        return gone


_MIDNIGHTS: dict[date, datetime] = {}


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
    if n_days == 0:
        raise ValueError("the fever series are empty")

    plants = list(planted) if planted is not None else _plant(facilities, cfg, n_days, rng)
    kind_of: dict[str, PlantedAnomaly] = {p.facility: p for p in plants}
    for one in plants:
        if one.facility not in by_code:
            raise ValueError(f"planted facility {one.facility} is not in the network")

    index = {f.code: k for k, f in enumerate(facilities)}
    customers: dict[int, list[int]] = {k: [] for k in range(n_fac)}
    for k, f in enumerate(facilities):
        if f.supplier is not None:
            customers[index[f.supplier]].append(k)

    def depth(k: int) -> int:
        d, f = 0, facilities[k]
        while f.supplier is not None and d <= n_fac:
            f, d = by_code[f.supplier], d + 1
        return d

    depths = [depth(k) for k in range(n_fac)]
    if max(depths) > n_fac:
        raise ValueError("the suppliers form a cycle")
    bottom_up = sorted(range(n_fac), key=lambda k: -depths[k])
    top_down = bottom_up[::-1]

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
    review = [int(cfg.review_days.get(f.type, 3)) for f in facilities]
    phase = [int(x) for x in rng.integers(0, 14, size=(n_fac,))]
    dispensing = np.array([f.type in DISPENSING_TYPES for f in facilities])

    rows: list[LedgerRow] = []
    orders: list[SimulatedOrder] = []
    stock = [[_Lots() for _ in items] for _ in range(n_fac)]
    pending_theft = np.zeros((n_fac, len(items)), dtype=np.int64)
    on_order = np.zeros((n_fac, len(items)), dtype=np.int64)
    demand_hist = np.zeros((n_fac, len(items), n_days))
    arrivals: dict[int, list[tuple[int, int, int, str, list[tuple[str, date, int]], int]]] = {}
    counters = {"ord": 0, "dsp": 0, "adj": 0, "stk": 0, "rcv": 0, "lot": 0}

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
                facilities[k].code,
                items[i].code,
                lot,
                expiry,
                int(quantity),
                counterparty,
                reason,
                reference,
                patients,
            )
        )

    upp = np.array([it.units_per_patient for it in items], dtype=np.int64)
    if (upp < 1).any():
        raise ValueError("units per patient must be whole numbers of at least 1")
    expected_units = cases[:, np.newaxis, :] * cfg.treated_share * upp[np.newaxis, :, np.newaxis]
    need = expected_units.sum(axis=(0, 2))

    def new_lot(i: int, day: date, low: int, high: int) -> tuple[str, date]:
        counters["lot"] += 1
        code = f"{SIM_PREFIX}{items[i].code}-L{counters['lot']:05d}"
        return code, day + timedelta(days=int(rng.integers(low, high)))

    # Opening balances: a few days of the first week's need everywhere below the stockpile.
    first_day = start
    rate0 = expected_units[:, :, : min(7, n_days)].mean(axis=2)
    for k in bottom_up:
        for c in customers[k]:
            rate0[k] += rate0[c]
    for k in range(n_fac):
        if facilities[k].supplier is None:
            continue
        for i in range(len(items)):
            total = int(rate0[k, i] * (2.0 if dispensing[k] else 3.0))
            if total <= 0:
                continue
            short = int(total * 0.3)
            for q, (low, high) in ((short, (10, 45)), (total - short, (200, 700))):
                if q > 0:
                    lot, expiry = new_lot(i, first_day, low, high)
                    stock[k][i].add(lot, expiry, q)
                    emit(
                        _at(first_day, 6 * 3600 + 60),
                        "receipt",
                        k,
                        i,
                        lot,
                        expiry,
                        q,
                        counterparty="opening balance",
                        reference=ref("rcv"),
                    )

    def dispense(  # noqa: PLR0917  (where, when, and what)
        k: int, i: int, today: date, seconds: int, n_patients: int, units: int
    ) -> None:
        """One dispensing entry, first-expiry-first-out, never beyond the physical stock."""
        lots = stock[k][i]
        physical = lots.total() - int(pending_theft[k, i])
        units = min(units, max(physical, 0))
        if units <= 0:
            return
        course = int(upp[i])
        n_patients = min(n_patients, units // course)
        reference = ref("dsp")
        taken = lots.issue(units)
        given = 0
        for n_lot, (lot, expiry, q) in enumerate(taken):
            # A course split across two lots: its patients go with the later rows.
            share = n_patients - given if n_lot == len(taken) - 1 else q // course
            share = min(share, n_patients - given)
            given += share
            emit(
                _at(today, seconds),
                "dispense",
                k,
                i,
                lot,
                expiry,
                q,
                reference=reference,
                patients=share,
            )

    stockpile = index[roots[0].code]
    donors = ("procurement", "aid: China", "procurement", "aid: WHO")

    for d in range(n_days):
        today = start + timedelta(days=d)

        # 00:05 write-offs of lots whose expiry date has come.
        for k in range(n_fac):
            for i in range(len(items)):
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
                pending_theft[k, i] = min(pending_theft[k, i], stock[k][i].total())

        # 06:00 the stockpile's tranches.
        for n_tranche, (day, share) in enumerate(cfg.tranches):
            if day != d:
                continue
            for i in range(len(items)):
                q = int(need[i] * cfg.supply_ratio * share)
                if q > 0:
                    lot, expiry = new_lot(i, today, 300, 720)
                    stock[stockpile][i].add(lot, expiry, q)
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
            anomaly = kind_of.get(facilities[k].code)
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
                    stock[k][i].add(lot, expiry, q - cut)
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

        # 09:00-23:59 dispensing, stocktakes and write-offs at pharmacies and hospitals.
        lam_all = (
            cases[:, d, np.newaxis]
            * cfg.treated_share
            * rng.gamma(cfg.demand_dispersion, 1 / cfg.demand_dispersion, (n_fac, len(items)))
        )
        patients_all = rng.poisson(lam_all)
        for k in np.flatnonzero(dispensing).tolist():
            anomaly = kind_of.get(facilities[k].code)
            active = anomaly.kind if anomaly is not None and d >= anomaly.start_day else None
            for i in range(len(items)):
                lots = stock[k][i]
                patients = int(patients_all[k, i])
                demand_hist[k, i, d] = patients * upp[i]
                physical = lots.total() - int(pending_theft[k, i])
                treated = min(patients, max(physical, 0) // int(upp[i]))
                hospital = facilities[k].type == "hospital"
                n_sessions = 1 + min(int(treated // 40), 3) if treated > 0 else 0
                split: list[int] = (
                    rng.multinomial(treated, np.full(n_sessions, 1 / n_sessions)).tolist()
                    if n_sessions
                    else []
                )
                entries: list[tuple[int, int, int]] = []  # seconds, patients, units
                day_seconds = np.sort(rng.integers(9 * 3600, 20 * 3600, n_sessions))
                for sec, n_patients in zip(day_seconds, split, strict=True):
                    if n_patients > 0:
                        forgot = rng.random() < 0.01  # honest: patients not written down
                        entries.append(
                            (int(sec), 0 if forgot else n_patients, n_patients * int(upp[i]))
                        )
                if active == "no_patients" and rng.random() < 0.8:
                    recent = demand_hist[k, i, max(0, d - 7) : d + 1].mean()
                    units = int(recent * rng.uniform(0.4, 1.0)) + int(upp[i])
                    entries.append((int(rng.integers(9 * 3600, 20 * 3600)), 0, units))
                    demand_hist[k, i, d] += units
                entries.sort()
                night: list[tuple[int, int, int]] = []
                if hospital and treated > 0 and rng.random() < 0.5:
                    n_patients = int(rng.integers(1, max(2, treated // 5 + 1)))
                    night.append(
                        (
                            int(rng.integers(21 * 3600, 24 * 3600)),
                            n_patients,
                            n_patients * int(upp[i]),
                        )
                    )
                if active == "odd_entries" and rng.random() < 0.6:
                    for _ in range(int(rng.integers(1, 3))):
                        hundreds = int(rng.integers(1, 2 + int(demand_hist[k, i, d] // 300)))
                        units = 100 * hundreds
                        night.append(
                            (int(rng.integers(21 * 3600, 24 * 3600)), units // int(upp[i]), units)
                        )
                        demand_hist[k, i, d] += units
                night.sort()

                for seconds, n_patients, units in entries:
                    dispense(k, i, today, seconds, n_patients, units)
                if active == "stocktake_loss":
                    physical = lots.total() - int(pending_theft[k, i])
                    pending_theft[k, i] += int(rng.binomial(max(physical, 0), cfg.theft_rate))
                every = 7 if active == "stocktake_loss" else cfg.stocktake_every
                if (d + int(phase[k])) % every == every - 1:
                    _stocktake(
                        k,
                        i,
                        today,
                        lots,
                        missing=int(pending_theft[k, i]),
                        rng=rng,
                        emit=emit,
                        ref=ref,
                    )
                    pending_theft[k, i] = 0
                _damage(
                    k, i, today, lots, missing=int(pending_theft[k, i]), rng=rng, emit=emit, ref=ref
                )
                for seconds, n_patients, units in night:
                    dispense(k, i, today, seconds, n_patients, units)

        # Orders: order-up-to levels on a periodic review; rates summed up the tree.
        rate = demand_hist[:, :, max(0, d - 6) : d + 1].mean(axis=2)
        rate = np.where(dispensing[:, np.newaxis], rate, 0.0)
        for k in bottom_up:
            for c in customers[k]:
                rate[k] += rate[c]
        requests: dict[int, list[tuple[int, int, int]]] = {}
        for k in range(n_fac):
            supplier = facilities[k].supplier
            if supplier is None:
                continue
            anomaly = kind_of.get(facilities[k].code)
            hoarding = anomaly is not None and anomaly.kind == "hoarding" and d >= anomaly.start_day
            if not hoarding and (d + int(phase[k])) % review[k] != 0:
                continue
            lead = 1.0 + 3.0 * remoteness[region[k]]
            cover = review[k] + lead + cfg.safety_days
            for i in range(len(items)):
                target = rate[k, i] * cover * (cfg.hoard_factor if hoarding else 1.0)
                position = stock[k][i].total() + on_order[k, i]
                q = math.ceil(target - position)
                if q > 0:
                    requests.setdefault(index[supplier], []).append((k, i, q))
        for s in top_down:
            for i in range(len(items)):
                wanted = [(k, q) for k, ii, q in requests.get(s, []) if ii == i]
                if not wanted:
                    continue
                available = stock[s][i].total()
                asked = sum(q for _, q in wanted)
                fill = 1.0 if asked <= available else available / asked
                for n_order, (k, q) in enumerate(wanted):
                    sent = min(int(q * fill), stock[s][i].total())
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
                    taken = stock[s][i].issue(sent)
                    for lot, expiry, qty in taken:
                        emit(
                            when,
                            "transfer_out",
                            s,
                            i,
                            lot,
                            expiry,
                            qty,
                            counterparty=facilities[k].code,
                            reference=reference,
                        )
                    on_order[k, i] += sent
                    orders.append(
                        SimulatedOrder(
                            reference,
                            facilities[s].code,
                            facilities[k].code,
                            items[i].code,
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
        for k in np.flatnonzero(~dispensing).tolist():
            for i in range(len(items)):
                if (d + int(phase[k])) % cfg.stocktake_every == cfg.stocktake_every - 1:
                    _stocktake(k, i, today, stock[k][i], missing=0, rng=rng, emit=emit, ref=ref)
                _damage(k, i, today, stock[k][i], missing=0, rng=rng, emit=emit, ref=ref)

    rows.sort(key=lambda r: r.time)  # stable: a facility's same-time rows keep their order
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
    for lot in reversed(lots.lots):  # a thief takes from the back of the shelf
        gone = min(lot.quantity, missing)
        missing -= gone
        count = lot.quantity - gone
        if rng.random() < 0.3:  # honest miscounts, both ways, a fraction of a percent
            count += round(rng.normal(0, max(1.0, 0.003 * lot.quantity)))
        count = max(count, 0)
        emit(
            _at(today, 20 * 3600),
            "stocktake",
            k,
            i,
            lot.code,
            lot.expiry,
            count,
            reference=reference,
        )
        lot.quantity = count
    lots.lots = [lot for lot in lots.lots if lot.quantity > 0]


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
    """Now and then a few honest units damaged or lost (20:40), never beyond what is there."""
    available = lots.total() - missing
    if available <= 0 or rng.random() >= 0.01:
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
