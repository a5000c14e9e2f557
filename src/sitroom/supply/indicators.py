"""Supply indicators and alerts (issue #11, item 6): consumption, days of stock,
stock-out days, expiring stock, per facility and item and per org unit.

Two layers, like the rest of the package:

- :func:`~sitroom.supply.stock_indicators.stock_indicators` is pure numpy: daily
  ledger sums per lot in, the indicators per (facility, item) out.
- :func:`indicators` and :func:`alerts` are the services: one grouped query over
  the window's ledger entries (summed per facility, item, lot and local day),
  one over the maintained balances, then numpy. Thousands of facilities take one
  pass, not a query each.

The definitions (also in docs/supply.md, "Indicators and alerts"):

- **Consumption** is what left the facility to its users: at a pharmacy or a
  hospital, dispensing; at a stockpile, warehouse or store, what it issued
  (transfers out, and any dispensing). Reversal entries carry the opposite
  quantity and the original's kind, so the sums are net of corrections.
  Adjustments (losses, expiry) are not consumption.
- **Average daily consumption** is the window's consumption divided by the days
  it had stock (the window less its stock-out days, at least one), as OpenLMIS
  adjusts consumption for stock-outs: on a day without stock, use was capped by
  the shelf, not by need.
- **Stock on hand** is at the end of the day; *usable* stock leaves out lots
  past their expiry (a lot is usable up to its expiry date, as the ledger lets
  it be dispensed). **Days of stock** = usable stock / average daily consumption
  (unbounded with no consumption); **months of stock** = days / 30.44.
- A **stock-out day** ends with no usable stock of the item at a facility that
  had the item by then: stock at the start of the window, any ledger entry of
  the item there on or before that day, or entries before the window. A
  facility that never held the item is not "out" of it.
- **Expiring** stock is usable stock at the end of the day in lots that expire
  within ``expiring_days`` days (on the day or up to that many days later).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import case, func, select, tuple_
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal, authorize
from sitroom.country import Country, ThresholdConfig
from sitroom.errors import NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.models import Facility, Item, Lot, StockBalance, StockEntry
from sitroom.supply.scopes import below, within
from sitroom.supply.stock_indicators import StockIndicators, stock_indicators

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

#: Facilities whose consumption is dispensing to patients; the others' is what they issue.
DISPENSING_TYPES = frozenset({"pharmacy", "hospital"})
#: The longest window, in days (the query has a branch per day).
MAX_WINDOW = 366
#: Alert kinds, the most urgent first.
ALERT_KINDS = ("stock_out", "low_stock", "expired", "expiring")


# --- Results ----------------------------------------------------------------------


def _finite(value: float) -> float | None:
    """A number for JSON: None for "no limit" (infinite days of stock)."""
    return float(value) if np.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class FacilityIndicator:
    """The indicators of one item at one facility, at the end of ``day``."""

    facility: str
    facility_type: str
    org_unit: str
    region: str | None
    item: str
    unit: str
    on_hand: int
    usable: int
    expired: int
    expiring: int
    consumption: int
    daily_use: float
    days_of_stock: float
    months_of_stock: float
    stock_out_days: int
    out_now: bool
    min_days: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "facility": self.facility,
            "facility_type": self.facility_type,
            "org_unit": self.org_unit,
            "region": self.region,
            "item": self.item,
            "unit": self.unit,
            "on_hand": self.on_hand,
            "usable": self.usable,
            "expired": self.expired,
            "expiring": self.expiring,
            "consumption": self.consumption,
            "daily_use": round(self.daily_use, 3),
            "days_of_stock": _finite(round(self.days_of_stock, 2)),
            "months_of_stock": _finite(round(self.months_of_stock, 3)),
            "stock_out_days": self.stock_out_days,
            "out_now": self.out_now,
            "min_days": self.min_days,
        }


@dataclass(frozen=True, slots=True)
class AreaIndicator:
    """An item's indicators summed over the facilities of an org unit.

    ``daily_use`` is the dispensing of its pharmacies and hospitals (what its
    people use; adding what its warehouse issued to them would count it twice),
    ``days_of_stock`` the usable stock of every facility there over it.
    """

    org_unit: str
    name: str
    item: str
    unit: str
    facilities: int
    dispensing_facilities: int
    out_now: int
    stock_out_days: int
    on_hand: int
    usable: int
    expired: int
    expiring: int
    consumption: int
    daily_use: float
    days_of_stock: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "org_unit": self.org_unit,
            "name": self.name,
            "item": self.item,
            "unit": self.unit,
            "facilities": self.facilities,
            "dispensing_facilities": self.dispensing_facilities,
            "out_now": self.out_now,
            "stock_out_days": self.stock_out_days,
            "on_hand": self.on_hand,
            "usable": self.usable,
            "expired": self.expired,
            "expiring": self.expiring,
            "consumption": self.consumption,
            "daily_use": round(self.daily_use, 3),
            "days_of_stock": _finite(round(self.days_of_stock, 2)),
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a logistician should act on, in one sentence."""

    kind: str
    severity: str
    facility: str
    facility_type: str
    org_unit: str
    region: str | None
    item: str
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "facility": self.facility,
            "facility_type": self.facility_type,
            "org_unit": self.org_unit,
            "region": self.region,
            "item": self.item,
            "sentence": self.sentence,
        }


@dataclass(slots=True)
class IndicatorReport:
    """Indicators at the end of ``day`` over ``window_days`` days, per facility and area."""

    day: date
    window_days: int
    expiring_days: int
    level: int
    facilities: list[FacilityIndicator] = field(default_factory=list)
    areas: list[AreaIndicator] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    @property
    def first_day(self) -> date:
        return self.day - timedelta(days=self.window_days - 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "first_day": self.first_day.isoformat(),
            "window_days": self.window_days,
            "expiring_days": self.expiring_days,
            "level": self.level,
            "facilities": [f.to_dict() for f in self.facilities],
            "areas": [a.to_dict() for a in self.areas],
            "alerts": [a.to_dict() for a in self.alerts],
        }


# --- The services -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Place:
    id: int
    code: str
    type: str
    org_unit: str
    path: str


def _bounds(day: date, window: int, zone: tzinfo) -> list[datetime]:
    """The UTC instants that start each local day of the window, and end the last."""
    first = day - timedelta(days=window - 1)
    return [
        datetime.combine(first + timedelta(days=k), time(0), zone).astimezone(UTC)
        for k in range(window + 1)
    ]


def _places(
    session: Session,
    *,
    facility: str | None,
    under: str | None,
    facility_type: str | None,
    principal: Principal | None,
) -> dict[int, _Place]:
    """The facilities asked for and visible to ``principal``; NotFoundError, ForbiddenError."""
    query = select(Facility.id, Facility.code, Facility.type, OrgUnit.code, OrgUnit.path).join(
        OrgUnit, OrgUnit.id == Facility.org_unit_id
    )
    if facility is not None:
        row = session.execute(query.where(Facility.code == facility)).first()
        if row is None:
            raise NotFoundError(f"unknown facility {facility!r}")
        if principal is not None:
            authorize(principal, Permission.STOCK_READ, row[4])
        query = query.where(Facility.id == row[0])
    if under is not None:
        path = session.scalar(select(OrgUnit.path).where(OrgUnit.code == under))
        if path is None:
            raise NotFoundError(f"unknown org unit {under!r}")
        if principal is not None:
            authorize(principal, Permission.STOCK_READ, path)
        query = query.where(below(path))
    if facility_type is not None:
        from sitroom.supply.models import FACILITY_TYPES

        if facility_type not in FACILITY_TYPES:
            raise SitroomError(
                f"unknown facility type {facility_type!r}; choose one of"
                f" {', '.join(FACILITY_TYPES)}"
            )
        query = query.where(Facility.type == facility_type)
    if principal is not None and facility is None and under is None:
        authorize(principal, Permission.STOCK_READ, None)
    if principal is not None:
        query = query.where(within(principal))
    return {
        fid: _Place(fid, code, kind, unit, path)
        for fid, code, kind, unit, path in session.execute(query)
    }


def _item_id(session: Session, item: str | None) -> int | None:
    if item is None:
        return None
    found = session.scalar(select(Item.id).where(Item.code == item))
    if found is None:
        raise NotFoundError(f"unknown item {item!r}")
    return found


def _area(path: str, level: int) -> str | None:
    """The code of the org unit of ``level`` above (or at) the unit of ``path``."""
    codes = path.strip("/").split("/")
    return codes[level - 1] if len(codes) >= level else None


def indicators(
    session: Session,
    country: Country,
    *,
    day: date | None = None,
    facility: str | None = None,
    item: str | None = None,
    under: str | None = None,
    facility_type: str | None = None,
    level: int = 2,
    window_days: int | None = None,
    expiring_days: int | None = None,
    thresholds: ThresholdConfig | None = None,
    principal: Principal | None = None,
) -> IndicatorReport:
    """Indicators per facility and item at the end of ``day`` (default today, local time),
    summed per org unit of ``level`` (2: regions), with the alerts.

    ``window_days`` and ``expiring_days`` default to the country's
    ``[supply.thresholds]``. ``under`` (an org unit's code) and ``facility``
    narrow the facilities; the user's scopes limit them (ForbiddenError when the
    org unit or facility asked for is outside them). Facilities that never held
    an item and did not use it in the window are left out.
    """
    from zoneinfo import ZoneInfo

    limits = thresholds or (country.supply.thresholds if country.supply else ThresholdConfig())
    window = limits.window_days if window_days is None else window_days
    soon = limits.expiring_days if expiring_days is None else expiring_days
    if not 1 <= window <= MAX_WINDOW:
        raise SitroomError(f"the window must be between 1 and {MAX_WINDOW} days (got {window})")
    if soon < 0:
        raise SitroomError(f"expiring days must be 0 or more (got {soon})")
    if not 1 <= level <= 4:
        raise SitroomError(f"the org unit level must be between 1 and 4 (got {level})")
    zone = ZoneInfo(country.reporting.time_zone)
    today = datetime.now(zone).date()
    day = day or today
    if day > today:
        raise SitroomError(f"{day.isoformat()} is in the future")
    item_id = _item_id(session, item)
    places = _places(
        session, facility=facility, under=under, facility_type=facility_type, principal=principal
    )
    report = IndicatorReport(day, window, soon, level)
    if not places:
        return report
    bounds = _bounds(day, window, zone)
    only = next(iter(places)) if facility is not None else None
    arrays = _ledger_arrays(session, places, bounds, item_id=item_id, facility_id=only)
    if arrays is None:
        return report
    first_day = day - timedelta(days=window - 1)
    expiry_of = dict(
        session.execute(
            select(Lot.id, Lot.expiry).where(Lot.id.in_(np.unique(arrays.lots[:, 2]).tolist()))
        ).all()
    )
    result = stock_indicators(
        arrays.opening,
        arrays.change,
        arrays.used,
        arrays.counts,
        np.array([(expiry_of[int(lot)] - first_day).days for lot in arrays.lots[:, 2]]),
        group=arrays.group,
        n_groups=len(arrays.pairs),
        held_before=arrays.held_before,
        expiring_days=soon,
    )
    items = {
        i: (code, unit)
        for i, code, unit in session.execute(select(Item.id, Item.code, Item.unit)).all()
    }
    areas = {fid: _area(place.path, level) for fid, place in places.items()}
    for g in np.flatnonzero(result.held | (result.consumption > 0)):
        place = places[int(arrays.pairs[g, 0])]
        code, unit = items[int(arrays.pairs[g, 1])]
        report.facilities.append(
            FacilityIndicator(
                facility=place.code,
                facility_type=place.type,
                org_unit=place.org_unit,
                region=areas[place.id],
                item=code,
                unit=unit,
                on_hand=int(result.on_hand[g]),
                usable=int(result.usable[g]),
                expired=int(result.expired[g]),
                expiring=int(result.expiring[g]),
                consumption=int(result.consumption[g]),
                daily_use=float(result.daily_use[g]),
                days_of_stock=float(result.days_of_stock[g]),
                months_of_stock=float(result.months_of_stock[g]),
                stock_out_days=int(result.stock_out_days[g]),
                out_now=bool(result.out_now[g]),
                min_days=limits.minimum(code, place.type),
            )
        )
    report.facilities.sort(key=lambda f: (f.facility, f.item))
    report.areas = _areas(session, report.facilities, level)
    report.alerts = _alerts(report.facilities, soon)
    return report


@dataclass(frozen=True)
class _LedgerArrays:
    """The window's ledger per lot: what :func:`stock_indicators` takes."""

    lots: IntArray  # (n_lots, 3): facility, item, lot ids
    pairs: IntArray  # (n_groups, 2): facility, item ids
    group: IntArray  # (n_lots,)
    opening: FloatArray
    change: FloatArray
    used: FloatArray
    counts: FloatArray
    held_before: BoolArray


def _matrix(rows: Sequence[Any], width: int) -> IntArray:
    """Rows of whole numbers as an array, (n_rows, width): a flat pass, not np.array over
    Row objects (which probes each for the array interface, ten times slower)."""
    flat = np.fromiter(
        (int(value) for row in rows for value in row), dtype=np.int64, count=len(rows) * width
    )
    matrix: IntArray = flat.reshape(-1, width)
    return matrix


def _ledger_arrays(
    session: Session,
    places: dict[int, _Place],
    bounds: list[datetime],
    *,
    item_id: int | None,
    facility_id: int | None,
) -> _LedgerArrays | None:
    """Two queries: the balances now, and the entries since the window began summed per
    lot and local day (day W: after the window, taken back from the balances)."""
    window = len(bounds) - 1
    balance_query = select(
        StockBalance.facility_id, StockBalance.item_id, StockBalance.lot_id, StockBalance.quantity
    )
    entry_filter: list[Any] = []
    if item_id is not None:
        balance_query = balance_query.where(StockBalance.item_id == item_id)
        entry_filter.append(StockEntry.item_id == item_id)
    if facility_id is not None:
        balance_query = balance_query.where(StockBalance.facility_id == facility_id)
        entry_filter.append(StockEntry.facility_id == facility_id)
    # Core execution: plain tuples, without the ORM's per-row processing.
    connection = session.connection()
    balances = _matrix(connection.execute(balance_query).all(), 4)
    # A CASE over the days' bounds, not date arithmetic: the same SQL on SQLite and
    # PostgreSQL, and local days exact whatever the zone's offsets.
    bucket = case(
        *((StockEntry.time < bounds[k + 1], k) for k in range(window)), else_=window
    ).label("day")
    dispensed = func.sum(case((StockEntry.kind == "dispense", -StockEntry.quantity), else_=0))
    sent = func.sum(case((StockEntry.kind == "transfer_out", -StockEntry.quantity), else_=0))
    daily = (
        select(
            StockEntry.facility_id,
            StockEntry.item_id,
            StockEntry.lot_id,
            bucket,
            func.sum(StockEntry.quantity),
            dispensed,
            sent,
            func.count(),
        )
        .where(StockEntry.time >= bounds[0], *entry_filter)
        .group_by(StockEntry.facility_id, StockEntry.item_id, StockEntry.lot_id, bucket)
    )
    rows = _matrix(connection.execute(daily).all(), 8)

    # Keep the facilities asked for; number the lots and the (facility, item) groups.
    wanted = np.fromiter(places, dtype=np.int64)
    balances = balances[np.isin(balances[:, 0], wanted)]
    rows = rows[np.isin(rows[:, 0], wanted)]
    keys = np.concatenate([balances[:, :3], rows[:, :3]])
    if keys.size == 0:
        return None
    lots, lot_of = np.unique(keys, axis=0, return_inverse=True)
    lot_of = lot_of.reshape(-1)
    pairs, group = np.unique(lots[:, :2], axis=0, return_inverse=True)
    group = group.reshape(-1)
    stock_now = np.zeros(len(lots))
    np.add.at(stock_now, lot_of[: len(balances)], balances[:, 3])
    cells = (lot_of[len(balances) :], rows[:, 3])
    change = np.zeros((len(lots), window + 1))
    np.add.at(change, cells, rows[:, 4])
    issuers = np.fromiter(
        (fid for fid, place in places.items() if place.type not in DISPENSING_TYPES), np.int64
    )
    issuing = np.isin(rows[:, 0], issuers)
    used = np.zeros((len(lots), window + 1))
    np.add.at(used, cells, rows[:, 5] + np.where(issuing, rows[:, 6], 0))
    counts = np.zeros((len(lots), window + 1))
    np.add.at(counts, cells, rows[:, 7])
    opening = stock_now - change.sum(axis=1)

    # A group empty at the window's start with entries in it: did it hold the item before?
    opening_group = np.zeros(len(pairs))
    np.add.at(opening_group, group, opening)
    in_window = np.zeros(len(pairs))
    np.add.at(in_window, group, counts.sum(axis=1))
    before = in_window == 0  # a balance row, and every entry before the window
    ask = np.flatnonzero((opening_group <= 0) & ~before)
    if ask.size:
        asked = [(int(pairs[g, 0]), int(pairs[g, 1])) for g in ask]
        found = _held_before(session, asked, bounds[0])
        before[ask] = [pair in found for pair in asked]
    return _LedgerArrays(
        lots,
        pairs,
        group,
        opening,
        change[:, :window],
        used[:, :window],
        counts[:, :window],
        before,
    )


def _held_before(
    session: Session, pairs: Sequence[tuple[int, int]], start: datetime
) -> set[tuple[int, int]]:
    """The (facility, item) pairs with a ledger entry before ``start`` (an indexed look-up)."""
    found: set[tuple[int, int]] = set()
    for offset in range(0, len(pairs), 500):
        chunk = list(pairs[offset : offset + 500])
        query = (
            select(StockEntry.facility_id, StockEntry.item_id)
            .where(
                tuple_(StockEntry.facility_id, StockEntry.item_id).in_(chunk),
                StockEntry.time < start,
            )
            .distinct()
        )
        found.update((int(f), int(i)) for f, i in session.execute(query))
    return found


def _areas(session: Session, rows: list[FacilityIndicator], level: int) -> list[AreaIndicator]:
    names = dict(
        session.execute(select(OrgUnit.code, OrgUnit.name).where(OrgUnit.level == level)).all()
    )
    sums: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    units: dict[str, str] = {}
    for row in rows:
        if row.region is None:
            continue
        total = sums[(row.region, row.item)]
        units[row.item] = row.unit
        total["facilities"] += 1
        for name in ("on_hand", "usable", "expired", "expiring", "stock_out_days"):
            total[name] += getattr(row, name)
        if row.facility_type in DISPENSING_TYPES:
            total["dispensing_facilities"] += 1
            total["consumption"] += row.consumption
            total["daily_use"] += row.daily_use
            total["out_now"] += row.out_now
    areas = []
    for (code, item), total in sorted(sums.items()):
        use = total["daily_use"]
        days = 0.0 if total["usable"] <= 0 else (total["usable"] / use if use > 0 else float("inf"))
        areas.append(
            AreaIndicator(
                org_unit=code,
                name=names.get(code, code),
                item=item,
                unit=units[item],
                facilities=int(total["facilities"]),
                dispensing_facilities=int(total["dispensing_facilities"]),
                out_now=int(total["out_now"]),
                stock_out_days=int(total["stock_out_days"]),
                on_hand=int(total["on_hand"]),
                usable=int(total["usable"]),
                expired=int(total["expired"]),
                expiring=int(total["expiring"]),
                consumption=int(total["consumption"]),
                daily_use=use,
                days_of_stock=days,
            )
        )
    return areas


def _plural(count: int, unit: str) -> str:
    from sitroom.supply.ledger import unit_word

    return unit_word(count, unit)


def _alerts(rows: list[FacilityIndicator], expiring_days: int) -> list[Alert]:
    """The alerts of the rows: stock-outs, low stock, expired and expiring stock."""
    found = []
    for row in rows:
        where = f"{row.facility} ({row.facility_type}, {row.org_unit})"

        def alert(kind: str, severity: str, sentence: str, row: FacilityIndicator = row) -> None:
            found.append(
                Alert(
                    kind,
                    severity,
                    row.facility,
                    row.facility_type,
                    row.org_unit,
                    row.region,
                    row.item,
                    sentence,
                )
            )

        if row.out_now:
            days = f"{row.stock_out_days} of the last days" if row.stock_out_days > 1 else "today"
            alert(
                "stock_out",
                "critical",
                f"{where} has no usable {row.item}: out of stock {days}"
                + (
                    f" ({row.daily_use:,.1f} {row.unit}s a day used before)"
                    if row.daily_use
                    else ""
                )
                + ".",
            )
        elif row.days_of_stock < row.min_days:
            alert(
                "low_stock",
                "warning",
                f"{where} has {_plural(row.usable, row.unit)} of {row.item} left:"
                f" {row.days_of_stock:.1f} days at {row.daily_use:,.1f} a day, below the"
                f" {row.min_days:g} days set for a {row.facility_type}.",
            )
        if row.expired > 0:
            alert(
                "expired",
                "warning",
                f"{where} holds {_plural(row.expired, row.unit)} of {row.item} past their"
                " expiry: take them off the shelf (adjust, reason expired).",
            )
        if row.expiring > 0:
            left = max(row.expiring - row.daily_use * expiring_days, 0)
            tail = (
                f"; at {row.daily_use:,.1f} a day about {left:,.0f} would be left unused"
                if row.daily_use > 0
                else "; none was used in the window"
            )
            alert(
                "expiring",
                "warning",
                f"{where}: {_plural(row.expiring, row.unit)} of {row.item} expire within"
                f" {expiring_days} days{tail}.",
            )
    order = {kind: k for k, kind in enumerate(ALERT_KINDS)}
    found.sort(key=lambda a: (order[a.kind], a.facility, a.item))
    return found


def alerts(
    session: Session,
    country: Country,
    *,
    day: date | None = None,
    item: str | None = None,
    under: str | None = None,
    facility: str | None = None,
    kinds: Sequence[str] | None = None,
    principal: Principal | None = None,
) -> list[Alert]:
    """The alerts of :func:`indicators` at the end of ``day``, the most urgent first."""
    if kinds is not None:
        unknown = [k for k in kinds if k not in ALERT_KINDS]
        if unknown:
            raise SitroomError(
                f"unknown alert kind {unknown[0]!r}; choose among {', '.join(ALERT_KINDS)}"
            )
    report = indicators(
        session,
        country,
        day=day,
        item=item,
        under=under,
        facility=facility,
        principal=principal,
    )
    return [a for a in report.alerts if kinds is None or a.kind in kinds]


__all__ = [
    "ALERT_KINDS",
    "DISPENSING_TYPES",
    "Alert",
    "AreaIndicator",
    "FacilityIndicator",
    "IndicatorReport",
    "StockIndicators",
    "alerts",
    "indicators",
    "stock_indicators",
]
