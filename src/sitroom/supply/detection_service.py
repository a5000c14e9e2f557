"""Hoarding and diversion over the stored ledger: the facilities to investigate.

Reads the ledger (reversed entries and their reversals left out: their sum is
nothing), the facilities and the regions' fever series, builds the
:func:`sitroom.supply.detection.panel` and ranks the facilities
(:func:`~sitroom.supply.detection.rank_facilities`). Pure reading: the signals
and their formulas are in :mod:`sitroom.supply.detection` and docs/methods.md.

The ranked list names the facilities suspected of hoarding or diversion: it
is shown only to users with ``stock.write`` over the whole country (the
neighbours it compares are across every scope), by every door. Ranking reads
the whole ledger, so the server keeps the ranking of each data version
(:func:`cached_suspects`, :func:`suspects_version`) for the page and the API.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal, authorize
from sitroom.context import AppContext
from sitroom.errors import SitroomError
from sitroom.supply.detection import Finding, panel, rank_facilities
from sitroom.supply.models import Facility, Item, Route, StockBatch, StockEntry
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


def authorize_suspects(context: AppContext, principal: Principal | None) -> None:
    """ForbiddenError unless ``principal`` holds ``stock.write`` over the whole country
    (None, the command line's operator: not restricted)."""
    if principal is not None:
        authorize(principal, Permission.STOCK_WRITE, f"/{context.country.country.code}/")


def _ranked(context: AppContext, items: list[str] | None) -> Suspects:
    """Every facility with a positive score, strongest evidence first (no permission check)."""
    from sitroom.analysis.loading import load_level
    from sitroom.supply.simulation_service import network

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
    findings = rank_facilities(built)
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


def _first(found: Suspects, top: int) -> Suspects:
    """The first ``top`` of a ranking (a copy: a cached ranking is shared)."""
    return replace(
        found, items=list(found.items), findings=found.findings[:top], notes=list(found.notes)
    )


def suspects(
    context: AppContext,
    *,
    top: int = 20,
    items: list[str] | None = None,
    principal: Principal | None = None,
) -> Suspects:
    """The facilities to investigate, strongest evidence first, over the days of the
    fever series that the ledger covers, computed now (the command line). Needs
    ``stock.write`` over the whole country (:func:`authorize_suspects`)."""
    authorize_suspects(context, principal)
    if top < 1:
        raise SitroomError("--top must be 1 or more")
    return _first(_ranked(context, items), top)


def suspects_version(context: AppContext) -> str:
    """What the ranking depends on, cheap to read on every request: the values imported
    (every write of values is an import run: the fever series), the ledger (its batches
    and entries; a change to the network is a batch too), the facilities and routes."""
    from sitroom.surveillance.models import ImportRun

    with context.session() as session:
        got = session.execute(
            select(
                select(func.max(ImportRun.id)).scalar_subquery(),
                select(func.max(StockBatch.id)).scalar_subquery(),
                select(func.max(StockEntry.id)).scalar_subquery(),
                select(func.count(Facility.id)).scalar_subquery(),
                select(func.max(Facility.id)).scalar_subquery(),
                select(func.count(Route.id)).scalar_subquery(),
                select(func.max(Route.id)).scalar_subquery(),
            )
        ).one()
    return "d" + "-".join(str(x or 0) for x in got)


#: Rankings kept per database, all of its current data version (one per item selection).
CACHED_RANKINGS = 8
_RANKINGS: OrderedDict[tuple[str, str, tuple[str, ...]], Suspects] = OrderedDict()
_RANKINGS_LOCK = threading.Lock()


def cached_suspects(context: AppContext, *, items: list[str] | None = None) -> Suspects:
    """The whole ranking of the current data version (:func:`suspects_version`), computed
    once per process and item selection: the same for every national user. No
    permission check: :func:`ranked_suspects` is the door's call. An error (an unknown
    item, an empty ledger) is raised, not kept."""
    version = suspects_version(context)
    database = context.settings.database_url
    key = (database, version, tuple(sorted(set(items))) if items else ())
    with _RANKINGS_LOCK:
        found = _RANKINGS.get(key)
        if found is not None:
            _RANKINGS.move_to_end(key)
            return found
    made = _ranked(context, items)
    with _RANKINGS_LOCK:
        for old in [k for k in _RANKINGS if k[0] == database and k[1] != version]:
            del _RANKINGS[old]
        _RANKINGS[key] = made
        while sum(1 for k in _RANKINGS if k[0] == database) > CACHED_RANKINGS:
            del _RANKINGS[next(k for k in _RANKINGS if k[0] == database)]
    return made


def ranked_suspects(
    context: AppContext,
    *,
    top: int = 20,
    items: list[str] | None = None,
    principal: Principal | None = None,
) -> Suspects:
    """:func:`suspects` from the ranking of the current data version (the server's call:
    the API and the investigations page): ``stock.write`` over the whole country."""
    authorize_suspects(context, principal)
    if top < 1:
        raise SitroomError("--top must be 1 or more")
    return _first(cached_suspects(context, items=items), top)


def finding_evidence(
    context: AppContext, facility: str, *, principal: Principal | None = None
) -> dict[str, Any]:
    """The facility's finding among :func:`suspects` (all of them ranked), as a case's
    evidence: the finding, what it was judged on, and whether the ledger was simulated.
    SitroomError when the detector does not rank the facility."""
    authorize_suspects(context, principal)
    found = cached_suspects(context)
    match = [f for f in found.findings if f.facility == facility]
    if not match:
        raise SitroomError(f"{facility} is not among the facilities `supply suspects` ranks")
    return {**match[0].to_dict(), "judged": found.notes, "simulated": found.simulated}


__all__ = [
    "CACHED_RANKINGS",
    "Suspects",
    "authorize_suspects",
    "cached_suspects",
    "finding_evidence",
    "ledger_rows",
    "ranked_suspects",
    "suspects",
    "suspects_version",
]
