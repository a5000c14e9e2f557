"""Hoarding and diversion over the stored ledger: the facilities to investigate.

Reads the ledger (reversed entries and their reversals left out: their sum is
nothing), the facilities and the regions' fever series, builds the
:func:`sitroom.supply.detection.panel` and ranks the facilities
(:func:`~sitroom.supply.detection.rank_facilities`). Pure reading: the signals
and their formulas are in :mod:`sitroom.supply.detection` and docs/methods.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal, authorize
from sitroom.context import AppContext
from sitroom.errors import SitroomError
from sitroom.supply.detection import Finding, panel, rank_facilities
from sitroom.supply.models import Item
from sitroom.supply.records import LedgerRow
from sitroom.supply.service import ledger_entries


@dataclass(slots=True)
class Suspects:
    """The ranked facilities, the window they were judged on, and how many were judged."""

    start: date
    days: int
    facilities: int
    items: list[str]
    findings: list[Finding]
    simulated: bool = False
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "days": self.days,
            "facilities": self.facilities,
            "items": self.items,
            "simulated": self.simulated,
            "notes": self.notes,
            "findings": [f.to_dict() for f in self.findings],
        }


def ledger_rows(
    session: Session, *, items: list[str] | None = None
) -> tuple[list[LedgerRow], bool]:
    """The ledger as the detector's rows, in time order, and whether any was simulated."""
    rows = []
    simulated = False
    for e in ledger_entries(session, items=items, yield_per=50_000):
        simulated = simulated or bool(e.simulated)
        if e.kind == "stocktake":
            quantity = int(e.counted or 0)
        elif e.kind == "adjust":
            quantity = int(e.quantity)  # signed: removals negative, as the detector reads them
        else:
            quantity = abs(int(e.quantity))
        rows.append(
            LedgerRow(
                time=e.time,
                event=e.kind,  # type: ignore[arg-type]
                facility=e.facility,
                item=e.item,
                lot=e.lot,
                expiry=e.expiry,
                quantity=quantity,
                counterparty=e.counterparty_facility or e.counterparty or "",
                reason=e.reason or "",
                reference=e.reference or "",
                patients=e.patients,
            )
        )
    return rows, simulated


def suspects(
    context: AppContext,
    *,
    top: int = 20,
    items: list[str] | None = None,
    principal: Principal | None = None,
) -> Suspects:
    """The facilities to investigate, strongest evidence first, over the days of the
    fever series that the ledger covers. Needs ``stock.read`` over the whole country
    (neighbours are compared across scopes)."""
    from sitroom.analysis.loading import load_level
    from sitroom.supply.simulation_service import network

    if principal is not None:
        authorize(principal, Permission.STOCK_READ, f"/{context.country.country.code}/")
    if top < 1:
        raise SitroomError("--top must be 1 or more")
    fever = load_level(context, 2, context.country.roles.cases, fill="linear")
    with context.session() as session:
        rows, simulated = ledger_rows(session, items=items)
        facilities, parents = network(session)
        if items:
            known = set(session.scalars(select(Item.code).where(Item.code.in_(items))))
            if unknown := sorted(set(items) - known):
                raise SitroomError(
                    f"unknown item{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                )
    if not rows:
        raise SitroomError("the stock ledger is empty: nothing to judge")
    first_day = min(s.start for s in fever.values())
    length = min(len(s.values) for s in fever.values())
    built = panel(
        rows,
        facilities,
        {code: s.values[:length] for code, s in fever.items()},
        first_day,
        parents=parents,
        time_zone=context.country.reporting.time_zone,
    )
    findings = rank_facilities(built, top=top)
    notes = []
    if simulated:
        notes.append("the ledger holds a simulated supply history (sitroom simulate supply)")
    last = first_day + timedelta(days=length - 1)
    notes.append(f"judged over {first_day} to {last}, the days of the regions' fever series")
    return Suspects(
        start=first_day,
        days=length,
        facilities=len(facilities),
        items=list(built.items),
        findings=findings,
        simulated=simulated,
        notes=notes,
    )


def finding_evidence(
    context: AppContext, facility: str, *, principal: Principal | None = None
) -> dict[str, Any]:
    """The facility's finding among :func:`suspects` (all of them ranked), as a case's
    evidence: the finding, what it was judged on, and whether the ledger was simulated.
    SitroomError when the detector does not rank the facility."""
    found = suspects(context, top=10_000, principal=principal)
    match = [f for f in found.findings if f.facility == facility]
    if not match:
        raise SitroomError(f"{facility} is not among the facilities `supply suspects` ranks")
    return {**match[0].to_dict(), "judged": found.notes, "simulated": found.simulated}


__all__ = ["Suspects", "finding_evidence", "ledger_rows", "suspects"]
