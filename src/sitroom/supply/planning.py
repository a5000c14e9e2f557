"""Sharing scarce stock (issue #11, item 8): the services over the database.

:func:`plan_allocation` builds the inputs of :func:`sitroom.supply.allocation.allocate`
from the database and runs it:

- **stock**: the usable stock (unexpired lots) of each item at the source facility
  at the end of ``day`` (a past day: the ledger up to then; today: the balances);
- **destinations**: at ``level="region"``, the warehouses the source supplies (one
  per region); at ``level="pharmacy"``, the pharmacies below the source in the
  supply chain (of one org unit when given);
- **need**: the demand service's forecast over the horizon (the median by
  default). A region's need is its own; a pharmacy's is its region's need shared
  half by the pharmacy's recent dispensing and half equally among the region's
  pharmacies (so one that was out of stock all along, and dispensed nothing,
  still gets its headcount's share: pharmacies are placed one per 5,000 people);
- **on hand** and **daily use**: the indicators at ``day``; for a region, the
  usable stock of every facility in it and its pharmacies' and hospitals'
  dispensing. Where no use was recorded, the forecast's daily need stands in;
- **weights** (vulnerability): population over 60 is not in sitroom's data, so
  by default fever cases per 100,000 people over the last 14 days of the
  region's stored series, plus one (no weight may be zero); or the population;
  or equal;
- **route capacity**: optional, units per destination over the period.

The result (:class:`AllocationPlan`) keeps the allocation's own explanation
(who gets what and why, what stays unmet and where, which limit binds) and adds
what the inputs were. :func:`proposed_orders` turns it into order lines for the
distribution orders (drafts, once approved).

:func:`plan_test_kits` sends a limited number of PCR kits to the regions by
:func:`sitroom.supply.allocation.allocate_tests`: suspected (fever) cases over
the last days and how weak each region's credibility checks are.

See docs/supply.md, "Allocation".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal, authorize
from sitroom.country import Country
from sitroom.errors import NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.allocation import Allocation, TestAllocation, allocate, allocate_tests
from sitroom.supply.demand_service import (
    QUANTILES,
    DemandReport,
    check_horizon,
    forecast_demand,
    places_of,
)
from sitroom.supply.indicators import IndicatorReport, indicators
from sitroom.supply.lookups import region_of
from sitroom.supply.models import Facility, Item, Lot
from sitroom.supply.service import lot_stock

#: Destinations of an allocation.
LEVELS = ("region", "pharmacy")
#: How destinations are weighted.
WEIGHTS = ("fever", "population", "equal")
#: Days of fever cases behind the weights and the test kits' suspected cases.
RECENT_DAYS = 14


@dataclass(frozen=True, slots=True)
class OrderLine:
    """A proposed line of a distribution order: ``quantity`` of ``item`` from ``source``
    to ``destination``, through the facilities ``via`` (the supply chain between)."""

    source: str
    destination: str
    item: str
    quantity: int
    via: tuple[str, ...] = ()
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "item": self.item,
            "quantity": self.quantity,
            "via": list(self.via),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Destination:
    """A destination of an allocation and the figures it entered with."""

    facility: str
    org_unit: str
    region: str
    name: str
    weight: float
    via: tuple[str, ...]


@dataclass(slots=True)
class AllocationPlan:
    """An allocation, its inputs, and its explanation.

    ``allocation`` is the numeric result (destinations named "code (name)", in the
    order of ``destinations``); ``sentences`` explain it (the allocation's own,
    then how its inputs were formed).
    """

    source: str
    level: str
    items: tuple[str, ...]
    units: dict[str, str]
    horizon: int
    quantile: str
    floor_days: float
    weighting: str
    day: date
    stock: dict[str, int]
    destinations: list[Destination]
    need: np.ndarray[Any, np.dtype[np.float64]]
    on_hand: np.ndarray[Any, np.dtype[np.float64]]
    daily_use: np.ndarray[Any, np.dtype[np.float64]]
    allocation: Allocation
    notes: list[str] = field(default_factory=list)

    @property
    def sentences(self) -> list[str]:
        return [*self.allocation.sentences, *self.notes]

    def binding(self) -> dict[str, Any]:
        """Which limits bind: the items whose stock ran out, the full routes, the floor."""
        a = self.allocation
        return {
            "stock": [item for item, b in zip(self.items, a.stock_binds, strict=True) if b],
            "capacity": [
                d.facility for d, b in zip(self.destinations, a.capacity_binds, strict=True) if b
            ],
            "floor_not_met": [
                {"destination": self.destinations[d].facility, "item": self.items[i]}
                for d, i in zip(*np.nonzero(~a.floor_met), strict=True)
            ],
        }

    def rows(self) -> list[dict[str, Any]]:
        a = self.allocation
        out = []
        for d, dest in enumerate(self.destinations):
            for i, item in enumerate(self.items):
                out.append(
                    {
                        "destination": dest.facility,
                        "org_unit": dest.org_unit,
                        "name": dest.name,
                        "item": item,
                        "weight": round(dest.weight, 4),
                        "need": float(np.ceil(self.need[d, i] - 1e-9)),
                        "on_hand": float(self.on_hand[d, i]),
                        "daily_use": round(float(self.daily_use[d, i]), 3),
                        "shortfall": float(a.shortfall[d, i]),
                        "given": float(a.given[d, i]),
                        "unmet": float(a.unmet[d, i]),
                        "floor_met": bool(a.floor_met[d, i]),
                        "days_of_stock": (
                            round(float(a.days_of_stock[d, i]), 2)
                            if np.isfinite(a.days_of_stock[d, i])
                            else None
                        ),
                        "why": a.explain(d, i),
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "level": self.level,
            "day": self.day.isoformat(),
            "items": list(self.items),
            "horizon": self.horizon,
            "quantile": self.quantile,
            "floor_days": self.floor_days,
            "weights": self.weighting,
            "stock": self.stock,
            "status": self.allocation.status,
            "weighted_unmet_share": (
                self.allocation.weighted_unmet / self.allocation.weighted_shortfall
                if self.allocation.weighted_shortfall > 0
                else 0.0
            ),
            "binding": self.binding(),
            "rows": self.rows(),
            "orders": [line.to_dict() for line in proposed_orders(self)],
            "sentences": self.sentences,
        }


def proposed_orders(plan: AllocationPlan) -> list[OrderLine]:
    """The plan's order lines: one per destination and item given anything, whole units.

    For the distribution orders to create as drafts once the plan is approved.
    """
    lines = []
    given = plan.allocation.given
    for d, dest in enumerate(plan.destinations):
        for i, item in enumerate(plan.items):
            quantity = round(float(given[d, i]))
            if quantity > 0:
                lines.append(
                    OrderLine(
                        plan.source,
                        dest.facility,
                        item,
                        quantity,
                        dest.via,
                        plan.allocation.explain(d, i),
                    )
                )
    return lines


def orders_from_plan(
    session: Session,
    plan: AllocationPlan,
    *,
    user: str,
    principal: Principal | None = None,
) -> list[Any]:
    """Approve ``plan``: its proposed lines become draft distribution orders, in one
    transaction (all or none).

    One order per destination reached directly from the source; a destination
    reached through intermediate facilities (a pharmacy through its district
    store) gets a chain: one order from the source to each intermediate with the
    sum of what passes through it, then one from there to each destination,
    linked to the first as its origin (lead times are then measured along the
    chain).
    """
    from collections import defaultdict

    from sitroom.supply.orders import NewOrder, OrderLineIn, create_orders

    lines = proposed_orders(plan)
    if not lines:
        raise SitroomError("the plan gives nothing to anyone: no order to make")
    direct: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    through: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    legs: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for line in lines:
        if not line.via:
            direct[line.destination][line.item] += line.quantity
            continue
        hop = line.via[0]
        through[hop][line.item] += line.quantity
        legs[(hop, line.destination)][line.item] += line.quantity
    note = f"allocation of {', '.join(plan.items)} from {plan.source}"
    orders: list[NewOrder] = []
    for destination, items in sorted(direct.items()):
        orders.append(
            NewOrder(
                plan.source,
                destination,
                [OrderLineIn(i, q) for i, q in sorted(items.items())],
                note=note,
            )
        )
    first_leg: dict[str, int] = {}
    for hop, items in sorted(through.items()):
        first_leg[hop] = len(orders)
        orders.append(
            NewOrder(
                plan.source, hop, [OrderLineIn(i, q) for i, q in sorted(items.items())], note=note
            )
        )
    for (hop, destination), items in sorted(legs.items()):
        orders.append(
            NewOrder(
                hop,
                destination,
                [OrderLineIn(i, q) for i, q in sorted(items.items())],
                origin_of=first_leg[hop],
                note=note,
            )
        )
    return create_orders(session, orders, user=user, principal=principal)


# --- Inputs -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Node:
    id: int
    code: str
    type: str
    supplier: int | None
    org_unit: str
    path: str


def _network(session: Session) -> dict[int, _Node]:
    return {
        fid: _Node(fid, code, kind, supplier, unit, path)
        for fid, code, kind, supplier, unit, path in session.execute(
            select(
                Facility.id,
                Facility.code,
                Facility.type,
                Facility.supplier_id,
                OrgUnit.code,
                OrgUnit.path,
            ).join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        )
    }


def _chain(nodes: dict[int, _Node], start: int, source: int) -> tuple[str, ...] | None:
    """The facilities between ``source`` and ``start`` up the supplier links, or None
    when ``source`` is not above it."""
    between: list[str] = []
    seen = {start}
    current = nodes[start].supplier
    while current is not None and current not in seen:
        if current == source:
            return tuple(reversed(between))
        seen.add(current)
        between.append(nodes[current].code)
        current = nodes[current].supplier
    return None


def _usable_stock(
    session: Session, facility: int, items: dict[str, int], day: date, zone: tzinfo
) -> dict[str, int]:
    """Usable stock of each item at ``facility`` at the end of ``day`` (local time in
    ``zone``): lots not expired on ``day``. A past day reads the ledger up to its end
    (what was posted since does not change the plan); today reads the balances."""
    source = lot_stock(facility, datetime.combine(day, time.max, zone))
    rows = session.execute(
        select(source.c.item_id, source.c.quantity)
        .join(Lot, Lot.id == source.c.lot_id)
        .where(source.c.item_id.in_(list(items.values())), Lot.expiry >= day)
    )
    by_id = {v: k for k, v in items.items()}
    stock = dict.fromkeys(items, 0)
    for item_id, quantity in rows:
        stock[by_id[item_id]] += int(quantity)
    return stock


def recent_fever(
    session: Session, country: Country, codes: Sequence[str], *, end: date | None, days: int
) -> dict[str, float | None]:
    """Fever cases over the last ``days`` days to ``end`` (the series' last day by default)
    per org unit; None where nothing is stored."""
    from sitroom.analysis.series import optional_series

    element = country.roles.named().get("cases")
    found: dict[str, float | None] = {}
    for code in codes:
        series = optional_series(session, code, element) if element else None
        if series is None or (end is not None and end < series.start):
            found[code] = None
            continue
        last = end or series.dates[-1]
        cut = series.between(last - timedelta(days=days - 1), last)
        found[code] = float(np.nansum(cut.values))
    return found


def _weights(
    session: Session,
    country: Country,
    regions: Sequence[str],
    how: str,
    end: date | None,
) -> tuple[dict[str, float], str]:
    """Weight per region, and the sentence saying how it was made."""
    population = dict(
        session.execute(
            select(OrgUnit.code, OrgUnit.population).where(OrgUnit.code.in_(list(regions)))
        ).all()
    )
    if how == "equal":
        return dict.fromkeys(regions, 1.0), "Every destination weighs the same (--weights equal)."
    if how == "population":
        missing = [r for r in regions if not population.get(r)]
        if missing:
            raise SitroomError(
                f"no population is recorded for {', '.join(missing)}: weigh by fever or equally"
            )
        return (
            {r: float(population[r] or 1) for r in regions},
            "Destinations weigh as their region's population.",
        )
    cases = recent_fever(session, country, regions, end=end, days=RECENT_DAYS)
    weights = {}
    unknown = []
    for region in regions:
        people = population.get(region)
        count = cases.get(region)
        if not people or count is None:
            unknown.append(region)
            weights[region] = 1.0
        else:
            weights[region] = count / people * 100_000 + 1.0
    text = (
        f"Weights: fever cases per 100,000 people over the last {RECENT_DAYS} days of each"
        " region's series, plus one (population over 60 is not in sitroom's data)."
    )
    if unknown:
        text += f" No cases or population for {', '.join(unknown)}: weight 1."
    return weights, text


# --- The allocation ---------------------------------------------------------------


def _check_options(level: str, weights: str, quantile: str, horizon: int, floor: float) -> None:
    if level not in LEVELS:
        raise SitroomError(f"unknown level {level!r}; choose one of {', '.join(LEVELS)}")
    if weights not in WEIGHTS:
        raise SitroomError(f"unknown weights {weights!r}; choose one of {', '.join(WEIGHTS)}")
    if quantile not in QUANTILES:
        raise SitroomError(f"unknown quantile {quantile!r}; choose one of {', '.join(QUANTILES)}")
    check_horizon(horizon)
    if not np.isfinite(floor) or floor < 0:
        raise SitroomError(f"the floor must be 0 days or more, not {floor}")


def _items(session: Session, items: Sequence[str]) -> dict[str, int]:
    """The items' ids in the order given (each once); NotFoundError for an unknown one."""
    if not items:
        raise SitroomError("name at least one item to allocate")
    known = dict(
        session.execute(select(Item.code, Item.id).where(Item.code.in_(list(items)))).all()
    )
    for code in items:
        if code not in known:
            raise NotFoundError(f"unknown item {code!r}")
    return {code: known[code] for code in dict.fromkeys(items)}


def _destinations(
    session: Session,
    nodes: dict[int, _Node],
    origin: _Node,
    level: str,
    org_unit: str | None,
) -> list[tuple[_Node, tuple[str, ...]]]:
    """The destinations and the chain between the source and each: the warehouses it
    supplies (regions) or the pharmacies below it (pharmacies), in ``org_unit``."""
    within: str | None = None
    if org_unit is not None:
        within = session.scalar(select(OrgUnit.path).where(OrgUnit.code == org_unit))
        if within is None:
            raise NotFoundError(f"unknown org unit {org_unit!r}")
    kind = "warehouse" if level == "region" else "pharmacy"
    chosen = []
    for node in sorted(nodes.values(), key=lambda n: n.code):
        if node.type != kind or (within is not None and not node.path.startswith(within)):
            continue
        via = _chain(nodes, node.id, origin.id)
        if via is None or (level == "region" and via):
            continue
        chosen.append((node, via))
    if not chosen:
        where = f" in {org_unit}" if org_unit else ""
        hint = ": allocate to pharmacies with --level pharmacy" if level == "region" else ""
        raise SitroomError(f"{origin.code} supplies no {kind}{where}{hint}")
    return chosen


@dataclass(slots=True)
class _Inputs:
    need: np.ndarray[Any, np.dtype[np.float64]]
    on_hand: np.ndarray[Any, np.dtype[np.float64]]
    use: np.ndarray[Any, np.dtype[np.float64]]


def _regional_need(
    report: DemandReport, quantile: str, items: Sequence[str], regions: Sequence[str]
) -> tuple[dict[tuple[str, str], float], list[str]]:
    """Need per (region, item) from the demand, and notes on what it lacks."""
    figures = report.need(quantile)
    need = {
        (place, item): float(figures[p, report.demand.items.index(item)])
        for p, place in enumerate(report.places)
        for item in items
        if item in report.demand.items
    }
    notes = []
    unused = [item for item in items if item not in report.demand.items]
    if unused:
        notes.append(
            f"No treatment protocol uses {', '.join(unused)}: no need is forecast for it,"
            " so nothing of it is allocated."
        )
    missing = [r for r in regions if r not in report.places]
    if missing:
        notes.append(f"No demand for {', '.join(missing)} (no forecast): need taken as 0.")
    return need, notes


def _region_inputs(
    chosen: list[tuple[_Node, tuple[str, ...]]],
    items: Sequence[str],
    need: dict[tuple[str, str], float],
    state: IndicatorReport,
) -> _Inputs:
    per_region = {(row.org_unit, row.item): row for row in state.areas}
    shape = (len(chosen), len(items))
    inputs = _Inputs(np.zeros(shape), np.zeros(shape), np.zeros(shape))
    for d, (node, _) in enumerate(chosen):
        region = region_of(node.path)
        for i, item in enumerate(items):
            inputs.need[d, i] = need.get((region, item), 0.0)
            area = per_region.get((region, item))
            if area is not None:
                inputs.on_hand[d, i] = area.usable
                inputs.use[d, i] = area.daily_use
    return inputs


def _pharmacy_inputs(
    chosen: list[tuple[_Node, tuple[str, ...]]],
    nodes: dict[int, _Node],
    items: Sequence[str],
    need: dict[tuple[str, str], float],
    state: IndicatorReport,
) -> _Inputs:
    """A pharmacy's need: its region's, shared half by recent dispensing, half equally."""
    per_facility = {(row.facility, row.item): row for row in state.facilities}
    pharmacies: dict[str, list[str]] = {}
    for node in nodes.values():
        if node.type == "pharmacy":
            pharmacies.setdefault(region_of(node.path), []).append(node.code)
    shape = (len(chosen), len(items))
    inputs = _Inputs(np.zeros(shape), np.zeros(shape), np.zeros(shape))
    for d, (node, _) in enumerate(chosen):
        region = region_of(node.path)
        peers = pharmacies[region]
        for i, item in enumerate(items):
            total = sum(row.daily_use for peer in peers if (row := per_facility.get((peer, item))))
            mine = per_facility.get((node.code, item))
            used = mine.daily_use if mine is not None else 0.0
            share = 0.5 / len(peers) + (0.5 * used / total if total > 0 else 0.5 / len(peers))
            inputs.need[d, i] = need.get((region, item), 0.0) * share
            if mine is not None:
                inputs.on_hand[d, i] = mine.usable
                inputs.use[d, i] = mine.daily_use
    return inputs


def _capacity(
    chosen: list[tuple[_Node, tuple[str, ...]]], capacity: Mapping[str, float] | None
) -> np.ndarray[Any, np.dtype[np.float64]] | None:
    if not capacity:
        return None
    codes = {node.code: d for d, (node, _) in enumerate(chosen)}
    routes = np.full(len(chosen), np.inf)
    for code, units in capacity.items():
        if code not in codes:
            raise NotFoundError(f"capacity given for {code!r}, which is not a destination")
        if not units >= 0:
            raise SitroomError(f"the capacity of {code} must be 0 or more")
        routes[codes[code]] = units
    return routes


def plan_allocation(
    session: Session,
    country: Country,
    *,
    items: Sequence[str],
    source: str = "STOCKPILE",
    level: str = "region",
    org_unit: str | None = None,
    horizon: int = 14,
    floor_days: float = 3.0,
    quantile: str = "median",
    weights: str = "fever",
    capacity: Mapping[str, float] | None = None,
    day: date | None = None,
    demand: DemandReport | None = None,
    principal: Principal | None = None,
) -> AllocationPlan:
    """Share the source's stock of ``items`` across regions or pharmacies (module docstring).

    ``demand`` (a :class:`DemandReport` by region) replaces the forecast; ``capacity``
    maps a destination facility's code to the units its route carries over the
    horizon; ``day`` reads the stock and the fever series as they were then (default
    today). The user must be allowed to write stock at the source (the plan ships
    from it) and to read it at every destination.
    """
    from zoneinfo import ZoneInfo

    _check_options(level, weights, quantile, horizon, floor_days)
    ordered = _items(session, items)
    nodes = _network(session)
    origin = next((node for node in nodes.values() if node.code == source), None)
    if origin is None:
        raise NotFoundError(f"unknown facility {source!r}")
    if principal is not None:
        authorize(principal, Permission.STOCK_WRITE, origin.path)
    chosen = _destinations(session, nodes, origin, level, org_unit)
    if principal is not None:
        for node, _ in chosen:
            authorize(principal, Permission.STOCK_READ, node.path)
    # A day given reads the past: the forecast and the weights end there too.
    as_of = day
    day = day or datetime.now(ZoneInfo(country.reporting.time_zone)).date()

    regions = sorted({region_of(node.path) for node, _ in chosen})
    notes: list[str] = []
    if demand is None:
        demand = forecast_demand(
            session,
            country,
            horizon=horizon,
            org_unit=regions[0] if len(regions) == 1 else None,
            end=as_of,
        )
        notes.extend(demand.notes)
    need, missing = _regional_need(demand, quantile, list(ordered), regions)
    notes.extend(missing)
    # Stock on hand and use: the indicators at the day, one pass over every facility.
    state = indicators(session, country, day=day, level=2)
    what = f"{quantile.replace('_', ' ')} forecast need over {demand.horizon} days"
    if level == "region":
        inputs = _region_inputs(chosen, list(ordered), need, state)
        notes.append(
            f"Need: each region's {what}; on hand: the usable stock of every facility in the"
            " region; daily use: its pharmacies' and hospitals' dispensing."
        )
    else:
        inputs = _pharmacy_inputs(chosen, nodes, list(ordered), need, state)
        notes.append(
            f"Need: the region's {what}, shared among its pharmacies half by their dispensing"
            f" over the last {state.window_days} days and half equally; on hand and daily"
            " use: each pharmacy's own."
        )
    forecast_use = inputs.need / demand.horizon
    stand_in = (inputs.use <= 0) & (forecast_use > 0)
    inputs.use = np.where(stand_in, forecast_use, inputs.use)
    if stand_in.any():
        notes.append(
            f"Where no dispensing was recorded ({int(stand_in.sum())} destination-item pairs),"
            " the forecast's daily need stands in for daily use."
        )
    weight_of, weight_text = _weights(session, country, regions, weights, as_of)
    notes.append(weight_text)
    w = np.array([weight_of[region_of(node.path)] for node, _ in chosen])
    stock = _usable_stock(session, origin.id, ordered, day, ZoneInfo(country.reporting.time_zone))
    names = dict(
        session.execute(
            select(OrgUnit.code, OrgUnit.name).where(
                OrgUnit.code.in_({node.org_unit for node, _ in chosen})
            )
        ).all()
    )
    try:
        result = allocate(
            [stock[item] for item in ordered],
            inputs.need,
            weights=w,
            on_hand=inputs.on_hand,
            daily_use=inputs.use,
            floor_days=floor_days,
            capacity=_capacity(chosen, capacity),
            destinations=[f"{node.code} ({names[node.org_unit]})" for node, _ in chosen],
            items=list(ordered),
        )
    except ValueError as exc:
        raise SitroomError(str(exc)) from exc
    units = dict(
        session.execute(select(Item.code, Item.unit).where(Item.code.in_(list(ordered)))).all()
    )
    return AllocationPlan(
        source=source,
        level=level,
        items=tuple(ordered),
        units=units,
        horizon=demand.horizon,
        quantile=quantile,
        floor_days=float(floor_days),
        weighting=weights,
        day=day,
        stock=stock,
        destinations=[
            Destination(
                node.code,
                node.org_unit,
                region_of(node.path),
                names[node.org_unit],
                float(w[d]),
                via,
            )
            for d, (node, via) in enumerate(chosen)
        ],
        need=inputs.need,
        on_hand=inputs.on_hand,
        daily_use=inputs.use,
        allocation=result,
        notes=notes,
    )


# --- PCR test kits ----------------------------------------------------------------


@dataclass(slots=True)
class TestKitPlan:
    """Where the kits go: the rule's result and the figures behind it, per region."""

    __test__ = False  # not a pytest test class, whatever its name

    allocation: TestAllocation
    codes: tuple[str, ...]
    suspected: list[float]
    weakness: list[float]
    failed: list[list[str]]
    days: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        a = self.allocation
        return {
            "rule": a.rule,
            "kits": int(a.kits.sum()),
            "minimum": a.minimum,
            "days": self.days,
            "reasoning": a.reasoning,
            "regions": [
                {
                    "org_unit": code,
                    "name": a.regions[r],
                    "kits": int(a.kits[r]),
                    "suspected": self.suspected[r],
                    "credibility_weakness": round(self.weakness[r], 4),
                    "failed_checks": self.failed[r],
                    "sentence": a.sentences[r],
                }
                for r, code in enumerate(self.codes)
            ],
            "notes": self.notes,
        }


def _weakness(
    values: np.ndarray[Any, np.dtype[np.float64]], dates: list[date]
) -> tuple[float, list[str]]:
    """The share of the credibility checks a fever series fails, and their names."""
    from sitroom.epi import credibility

    clean = np.nan_to_num(values)
    results = [
        credibility.last_digit_check(clean),
        credibility.dispersion_check(clean),
        credibility.weekday_check(clean, dates),
        credibility.repeat_check(clean),
    ]
    judged = [r for r in results if r.verdict in ("pass", "fail")]
    failed = [r.check for r in judged if r.verdict == "fail"]
    return (len(failed) / len(judged) if judged else 0.0), failed


def plan_test_kits(
    session: Session,
    country: Country,
    *,
    kits: int,
    days: int = RECENT_DAYS,
    end: date | None = None,
    rule: str = "proportional",
    minimum: int = 1,
    tilt: float = 1.0,
    credibility: bool = True,
    org_unit: str | None = None,
    principal: Principal | None = None,
) -> TestKitPlan:
    """Send ``kits`` PCR kits to the regions (:func:`~sitroom.supply.allocation.allocate_tests`).

    Suspected cases: each region's fever cases over the last ``days`` days to ``end``
    (its series' last day by default). Credibility weakness: the share of the
    credibility checks (last digits, dispersion, weekday pattern, repeats) its whole
    fever series to ``end`` fails; ``credibility=False`` leaves it out.
    """
    from sitroom.analysis.series import optional_series

    if isinstance(kits, bool) or not isinstance(kits, int) or kits < 0:
        raise SitroomError(f"the kits must be a whole number, 0 or more (got {kits})")
    if not 1 <= days <= 366:
        raise SitroomError(f"the days of suspected cases must be from 1 to 366 (got {days})")
    places = places_of(session, org_unit, country, principal)
    codes = [code for code, _, _ in places]
    cases = recent_fever(session, country, codes, end=end, days=days)
    element = country.roles.named().get("cases")
    weakness: list[float] = []
    failed: list[list[str]] = []
    notes: list[str] = []
    for code in codes:
        series = optional_series(session, code, element) if credibility and element else None
        if series is None or (end is not None and end < series.start):
            weakness.append(0.0)
            failed.append([])
            continue
        if end is not None:
            series = series.between(None, end)
        share, names = _weakness(series.values, series.dates)
        weakness.append(share)
        failed.append(names)
    missing = [code for code in codes if cases[code] is None]
    if missing:
        notes.append(f"No fever series for {', '.join(missing)}: 0 suspected cases.")
    suspected = [cases[code] or 0.0 for code in codes]
    try:
        result = allocate_tests(
            kits,
            suspected,
            weakness if credibility else None,
            rule=rule,  # type: ignore[arg-type]
            minimum=minimum,
            tilt=tilt,
            regions=[name for _, name, _ in places],
        )
    except ValueError as exc:
        raise SitroomError(str(exc)) from exc
    return TestKitPlan(result, tuple(codes), suspected, weakness, failed, days, notes)


__all__ = [
    "LEVELS",
    "WEIGHTS",
    "AllocationPlan",
    "Destination",
    "OrderLine",
    "TestKitPlan",
    "plan_allocation",
    "plan_test_kits",
    "proposed_orders",
    "recent_fever",
]
