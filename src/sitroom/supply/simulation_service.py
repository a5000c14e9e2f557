"""``sitroom simulate supply``: a simulated supply history of the wave, in the ledger.

Reads the network, the items and protocols and the regions' stored fever
series from the database, runs :func:`sitroom.supply.simulate.simulate_supply`
and posts its rows through the ledger (channel ``simulation``, every entry and
batch marked ``simulated``, every reference starting ``SIM-``), so that the
simulated history obeys the same rules as real stock and shows as simulated
wherever it appears. The planted facilities (the truth the detector is
measured against) are returned, and written to a file on request.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from sitroom.context import AppContext
from sitroom.db import begin_write, is_db_error, is_retryable
from sitroom.errors import BusyError, ConflictError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.ledger import Ledger, Movement, PostSummary
from sitroom.supply.models import Facility, StockBatch
from sitroom.supply.records import FacilityRecord, ItemRecord, LedgerRow
from sitroom.supply.simulate import SimulatedOrder

#: Items simulated by default: the two of the home protocol that matter most.
DEFAULT_ITEMS = ("PARA-500", "AMOX-500")
#: Movements per ledger batch (all the batches in one transaction).
CHUNK = 20_000


@dataclass(slots=True)
class SimulationResult:
    """What was simulated and posted."""

    seed: int
    start: date
    days: int
    facilities: int
    items: list[str]
    rows: int
    batches: list[int] = field(default_factory=list)
    planted: list[dict[str, Any]] = field(default_factory=list)
    orders: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "simulated": True,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
            "facilities": self.facilities,
            "items": self.items,
            "rows": self.rows,
            "batches": self.batches,
            "planted": self.planted,
            "orders": self.orders,
        }


def _units_per_patient(context: AppContext, item: str) -> int:
    """Units of ``item`` a treated fever patient needs, the protocols' shares weighed."""
    supply = context.country.supply
    if supply is None:
        raise SitroomError("the country configuration has no [supply] section")
    total = sum(p.share * p.items.get(item, 0.0) for p in supply.protocols)
    if total <= 0:
        raise SitroomError(f"no treatment protocol uses {item}: nothing to dispense")
    return max(1, round(total))


def network(
    session: Session, *, within: str | None = None
) -> tuple[list[FacilityRecord], dict[str, str | None]]:
    """The stored facilities as the simulation's records, and the org units' parents.

    ``within`` (an org unit's code): only the stockpile and the facilities of
    that subtree (a smaller history, for trials and tests).

    A dispensing facility's population is its org unit's shared among the
    pharmacies and hospitals there (the configuration's districts often have
    none: then their region's, shared among all of its dispensers).
    """
    supplier = aliased(Facility)
    parent = aliased(OrgUnit)
    units = {
        code: (parent_code, population)
        for code, parent_code, population in session.execute(
            select(OrgUnit.code, parent.code, OrgUnit.population).outerjoin(
                parent, parent.id == OrgUnit.parent_id
            )
        )
    }
    query = (
        select(Facility.code, Facility.type, OrgUnit.code, supplier.code)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .outerjoin(supplier, supplier.id == Facility.supplier_id)
        .order_by(Facility.id)
    )
    if within is not None:
        path = session.scalar(select(OrgUnit.path).where(OrgUnit.code == within))
        if path is None:
            raise SitroomError(f"unknown org unit {within!r}")
        query = query.where(
            or_(Facility.supplier_id.is_(None), OrgUnit.path.startswith(path, autoescape=True))
        )
    rows = session.execute(query).all()
    if not rows:
        raise SitroomError("no supply facilities: run `sitroom setup` first")
    dispensers: dict[str, int] = defaultdict(int)
    for _, kind, unit, _ in rows:
        if kind in ("pharmacy", "hospital"):
            dispensers[unit] += 1
    records = []
    for code, kind, unit, above in rows:
        people = 0
        if kind in ("pharmacy", "hospital"):
            own = units[unit][1]
            people = math.floor((own or 0) / dispensers[unit]) if own else 5_000
        records.append(FacilityRecord(code, kind, unit, above, people))  # type: ignore[arg-type]
    return records, {code: up for code, (up, _) in units.items()}


def simulate_into(
    context: AppContext,
    *,
    user: str,
    seed: int = 0,
    items: Sequence[str] = DEFAULT_ITEMS,
    within: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Simulate the wave's supply on the stored network and post it to the ledger.

    Refused (ConflictError) when the ledger already holds a simulated history:
    a second one would pile up on the first. The history is written in one
    transaction (a ledger batch per :data:`CHUNK` movements): all or nothing.
    """
    from sitroom.analysis.loading import load_level
    from sitroom.supply.simulate import simulate_supply

    fever = load_level(context, 2, context.country.roles.cases, fill="linear")
    start = min(s.start for s in fever.values())
    with context.session() as session:
        _refuse_second_history(session)
        facilities, parents = network(session, within=within)
    records = [ItemRecord(code, _units_per_patient(context, code)) for code in items]
    simulated = simulate_supply(
        facilities,
        records,
        {code: s.values for code, s in fever.items()},
        start,
        parents=parents,
        seed=seed,
    )
    movements = [_movement(row, n) for n, row in enumerate(simulated.rows, start=2)]
    result = SimulationResult(
        seed=seed,
        start=simulated.start,
        days=simulated.n_days,
        facilities=len(facilities),
        items=list(items),
        rows=len(movements),
        planted=[
            {"facility": p.facility, "kind": p.kind, "start_day": p.start_day}
            for p in simulated.planted
        ],
        orders=len(simulated.orders),
    )
    with context.session(write=True) as session:
        ledger = Ledger(
            session,
            user=user,
            channel="simulation",
            simulated=True,
            zone=ZoneInfo(context.country.reporting.time_zone),
        )
        # One transaction for the whole history: a failure midway leaves nothing.
        try:
            begin_write(session, ledger.lock_timeout)
            _refuse_second_history(session)
            for first in range(0, len(movements), CHUNK):
                chunk = movements[first : first + CHUNK]
                summary = ledger.apply(chunk, source=f"simulated supply, seed {seed}")
                _check(summary)
                if summary.batch_id is not None:
                    result.batches.append(summary.batch_id)
                if progress is not None:
                    progress(first + len(chunk), len(movements))
            _record_orders(session, simulated.orders, user=user)
            session.commit()
        except BaseException as exc:
            session.rollback()
            if is_db_error(exc) and is_retryable(exc):
                # A deadlock or serialisation failure: the ledger's own posts would retry;
                # a whole history is not run again unasked.
                raise BusyError(
                    "the simulated history conflicted with a concurrent change: nothing was"
                    " written; try again"
                ) from exc
            raise
    return result


def _refuse_second_history(session: Session) -> None:
    """ConflictError when the ledger holds a simulated history already (batches of the
    simulation's channel: the demo's illustrative aid receipts are marked simulated too,
    but are not a history of the supply chain)."""
    if session.scalar(select(func.count(StockBatch.id)).where(StockBatch.channel == "simulation")):
        raise ConflictError(
            "the ledger already holds a simulated supply history (simulated batches):"
            " simulate into a fresh database"
        )


#: The carriers of the simulation, as an order records them.
CARRIERS = {
    "army": ("Korean People's Army medical unit (simulated)", "army"),
    "civil": ("civil transport (simulated)", "civil"),
}


def _record_orders(session: Session, orders: Sequence[SimulatedOrder], *, user: str) -> None:
    """The simulated orders as distribution orders (marked simulated), so that lead times
    per region and carrier can be read as for real ones. Their stock moved through the
    ledger already (the rows' transfers, under the same reference): these rows record
    who shipped what, by which carrier, when it left and when it arrived. An order that
    had not arrived when the history ends is "dispatched"; one that arrived short (a
    planted transit loss) "delivered", the rest "closed"."""
    from sqlalchemy import Table, insert
    from sqlalchemy import select as sql_select

    from sitroom.db import utcnow
    from sitroom.supply.models import DistributionOrder, Item, OrderEvent, OrderLine

    if not orders:
        return
    facility = dict(session.execute(sql_select(Facility.code, Facility.id)).all())
    item = dict(session.execute(sql_select(Item.code, Item.id)).all())
    now = utcnow()
    rows = []
    for o in orders:
        arrived = o.received_at > o.dispatched_at
        status = (
            "dispatched"
            if not arrived
            else ("closed" if o.received >= o.dispatched else "delivered")
        )
        name, kind = CARRIERS.get(o.carrier, (o.carrier, "other"))
        rows.append(
            {
                "number": o.reference,
                "source_id": facility[o.supplier],
                "destination_id": facility[o.customer],
                "origin_id": None,
                "status": status,
                "note": "simulated (sitroom simulate supply)",
                "created_by": user,
                "created_at": o.dispatched_at,
                "approved_by": user,
                "approved_at": o.dispatched_at,
                "dispatched_by": user,
                "dispatched_at": o.dispatched_at,
                "carrier": name,
                "vehicle": None,
                "carrier_kind": kind,
                "delivered_by": user if arrived else None,
                "delivered_at": o.received_at if arrived else None,
                "received_by": "simulated receiver" if arrived else None,
                "closed_by": user if status == "closed" else None,
                "closed_at": o.received_at if status == "closed" else None,
                "cancelled_by": None,
                "cancelled_at": None,
                "dispatch_batch_id": None,
                "delivery_batch_id": None,
                "simulated": True,
            }
        )
    session.execute(insert(cast(Table, DistributionOrder.__table__)), rows)
    ids = dict(
        session.execute(
            sql_select(DistributionOrder.number, DistributionOrder.id).where(
                DistributionOrder.simulated
            )
        ).all()
    )
    lines, events = [], []
    for o, row in zip(orders, rows, strict=True):
        order_id = ids[o.reference]
        lines.append(
            {
                "order_id": order_id,
                "line": 1,
                "item_id": item[o.item],
                "lot_id": None,
                "quantity": max(1, o.requested),
                "dispatched": o.dispatched,
                "accepted": o.received if row["delivered_at"] else None,
                "rejected": None,
                "rejection_reason": None,
                "rejection_note": None,
            }
        )
        steps = [(None, "draft"), ("draft", "approved"), ("approved", "dispatched")]
        if row["delivered_at"]:
            steps.append(("dispatched", "delivered"))
        if row["status"] == "closed":
            steps.append(("delivered", "closed"))
        for before, after in steps:
            events.append(
                {
                    "order_id": order_id,
                    "time": o.received_at if after in ("delivered", "closed") else o.dispatched_at,
                    "recorded_at": now,
                    "by": user,
                    "from_status": before,
                    "to_status": after,
                    "note": "simulated",
                }
            )
    session.execute(insert(cast(Table, OrderLine.__table__)), lines)
    session.execute(insert(cast(Table, OrderEvent.__table__)), events)


def _movement(row: LedgerRow, line: int) -> Movement:
    return Movement(
        time=row.time,
        event=row.event,
        facility=row.facility,
        item=row.item,
        quantity=abs(row.quantity) if row.event == "adjust" else row.quantity,
        lot=row.lot or None,
        expiry=row.expiry,
        counterparty=row.counterparty or None,
        reason=row.reason or None,
        reference=row.reference or None,
        patients=row.patients,
        line=line,
    )


def _check(summary: PostSummary) -> None:
    if not summary.ok:
        first = summary.rejections[0]
        raise SitroomError(
            f"the simulation wrote a movement the ledger refuses (row {first.line},"
            f" {first.field}): {first.reason}; this is a bug of the simulation"
        )


__all__ = ["DEFAULT_ITEMS", "SimulationResult", "network", "simulate_into"]
