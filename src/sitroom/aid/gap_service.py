"""The gap per item and region, and the requests it suggests (issue #12, item 5).

The gap of :mod:`sitroom.aid.gap` read from the database:

- **need**: the supply chain's demand (:func:`sitroom.supply.demand_service.forecast_demand`,
  the default forecast model, over the country's ``[aid] horizon``; or a given series
  of expected cases, :func:`~sitroom.supply.demand_service.demand_from_file`), per
  region. Day by day, the median and the 90 % interval (0.05 and 0.95 quantiles) of
  the running total of the forecast's sample paths, so that the total over the
  horizon is the demand's own median and interval.
- **stock on hand**: the maintained balances, added up over the facilities in each
  region (districts included). The national stockpile (facilities at the country
  itself) counts in the national row only.
- **the pipeline**: what open pledges (``aid_pledge_line``) have not yet shipped
  (non-cancelled shipments of the pledge, the same item), at the region of the
  pledge's org unit (national when it is the country); and what shipments not yet
  received in full (not ``received``, not ``cancelled``) have shipped and not
  arrived (the ledger's ``receipt`` entries under the shipment's number), at the
  region of the shipment's warehouse. Each line weighted by its partner's
  reliability at its stage, from the partner's settled lines.

**As of when.** With ``end`` (the last day of the series forecast from), the stock,
the pipeline and the partners' records are taken as they stood at the close of
that day (its reporting cut-off, 18:00 in Pyongyang: the moment the need starts
from): the stock is the ledger summed up to then (as ``sitroom supply stock --at``);
pledges and shipments are those recorded by then (their first step in the history,
``aid_event``), each at the status of its last step by then, with what the ledger
had received of them by then. A close not yet past (today's), and no ``end``, take
them as they are now, from the maintained balances and statuses.

The national row adds the regions' need (their quantiles added, day by day: the
regions taken to rise and fall together, the safe side), all their stock and the
stockpile, and the whole pipeline. A region without a demand (no series to forecast
from) is left out of the national row too, its stock and pipeline with it, and a
note says so.

:func:`suggest` turns each gap into a draft request: which partner (those who have
delivered the item before, fastest first), how much (the gap's upper bound, whole
units), by when (the run-out date, else the horizon's end), through which channel,
and why. It writes nothing: :meth:`Suggestion.request_args` gives the arguments of
:func:`sitroom.aid.requests.create_request`.

Who may read: ``aid.read``; a regional user sees their regions' rows, the national
row only with the country in their scopes. See docs/methods.md, "Aid: the gap and the
pipeline's reliability".
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal, authorize
from sitroom.country import Country
from sitroom.db import utcnow
from sitroom.errors import ForbiddenError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.demand_service import (
    MODELS,
    DemandReport,
    check_horizon,
    demand_from_file,
    forecast_demand,
)
from sitroom.supply.models import Facility, Item, StockBalance, StockEntry
from sitroom.surveillance.periods import ReportingCalendar

from .common import LineIn
from .gap import PLEDGED, SHIPPED, Gap, Pipeline, compute_gap, reliability
from .models import AidEvent, Contact, Partner, Pledge, PledgeLine, Shipment, ShipmentLine

#: The quantiles of the need: the lower bound, the median, the upper bound (the
#: 90 % interval of the supply chain's demand).
LEVELS = (0.05, 0.5, 0.95)
#: Pledges still to deliver, and those settled (what arrived of them is all there is).
OPEN_PLEDGE = "open"
SETTLED_PLEDGES = ("fulfilled", "cancelled")
#: The channel of a partner with no contact on record, by its kind.
DEFAULT_CHANNELS = {"government": "diplomatic_note", "un_agency": "un_agency"}
FALLBACK_CHANNEL = "email"


def _up(value: float) -> int:
    """Whole units, rounded up (a need or a gap is never understated)."""
    return math.ceil(value - 1e-9)


def _down(value: float) -> int:
    return math.floor(value + 1e-9)


# The report -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GapRow:
    """The gap of one item at one region, or in the whole country (``national``).

    Figures in the item's units, as computed (not rounded); ``to_dict`` rounds the
    need and the gap up to whole units, the surplus down, the weighted pipeline to
    a tenth. ``pledged``/``shipped``: units pledged and not shipped, shipped and not
    received, expected within the horizon (or with no date); ``*_weighted`` the same
    times each partner's reliability; ``later``: expected after the horizon (not
    counted). ``runs_out``: the day the median need passes the stock on hand if
    nothing arrives (None: not within the horizon).
    """

    item: str
    item_name: str
    unit: str
    org_unit: str
    name: str
    national: bool
    need_median: float
    need_lower: float
    need_upper: float
    stock: float
    pledged: float
    shipped: float
    pledged_weighted: float
    shipped_weighted: float
    later: float
    gap_median: float
    gap_lower: float
    gap_upper: float
    surplus: float
    runs_out: date | None

    @property
    def pipeline(self) -> float:
        return self.pledged + self.shipped

    @property
    def pipeline_weighted(self) -> float:
        return self.pledged_weighted + self.shipped_weighted

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "item_name": self.item_name,
            "unit": self.unit,
            "org_unit": self.org_unit,
            "name": self.name,
            "national": self.national,
            "need_median": _up(self.need_median),
            "need_lower": _up(self.need_lower),
            "need_upper": _up(self.need_upper),
            "stock": round(self.stock),
            "pledged": round(self.pledged),
            "shipped": round(self.shipped),
            "pledged_weighted": round(self.pledged_weighted, 1),
            "shipped_weighted": round(self.shipped_weighted, 1),
            "later": round(self.later),
            "gap_median": _up(self.gap_median),
            "gap_lower": _up(self.gap_lower),
            "gap_upper": _up(self.gap_upper),
            "surplus": _down(self.surplus),
            "runs_out": self.runs_out.isoformat() if self.runs_out else None,
        }


@dataclass(frozen=True, slots=True)
class PartnerReliability:
    """A partner's reliability at each stage, and the settled lines it rests on."""

    code: str
    name: str
    pledged: float
    shipped: float
    pledge_lines: int
    shipment_lines: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "pledged": round(self.pledged, 4),
            "shipped": round(self.shipped, 4),
            "settled_pledge_lines": self.pledge_lines,
            "settled_shipment_lines": self.shipment_lines,
        }


@dataclass(slots=True)
class GapReport:
    """The gap per item and region (and the national row), with where it came from.

    ``table`` holds the rows (item by item, the national row first, then the
    regions by code); ``first_day`` is the first day of the horizon, ``source``
    "forecast" or the series file's name, ``method`` how the need's interval was
    obtained (``samples``: the forecast's paths; ``expected``: none), ``prior``
    the reliability's pseudo-lines, ``notes`` what a reader should know, ``as_of``
    the moment the stock, the pipeline and the partners' records were taken at
    (None: as they are now).
    """

    horizon: int
    first_day: date
    source: str
    model: str | None
    method: str
    note: str
    prior: float
    table: list[GapRow]
    reliability: list[PartnerReliability]
    notes: list[str] = field(default_factory=list)
    origins: dict[str, date] = field(default_factory=dict)
    as_of: datetime | None = None

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=self.horizon - 1)

    def row(self, item: str, org_unit: str) -> GapRow:
        for row in self.table:
            if row.item == item and row.org_unit == org_unit:
                return row
        raise NotFoundError(f"no gap row for {item} at {org_unit}")

    def rows(self) -> list[dict[str, Any]]:
        return [row.to_dict() for row in self.table]

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "source": self.source,
            "model": self.model,
            "method": self.method,
            "note": self.note,
            "interval": "90 % (0.05 to 0.95 quantiles of the need)",
            "reliability_prior": self.prior,
            "notes": self.notes,
            "origins": {k: v.isoformat() for k, v in self.origins.items()},
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "rows": self.rows(),
            "reliability": [r.to_dict() for r in self.reliability],
        }


# Places and scopes ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Place:
    code: str
    name: str
    path: str


def _region_of(path: str) -> str | None:
    """The region's code of an org unit's path (None for the country itself)."""
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) >= 2 else None


def _places(
    session: Session, org_unit: str | None, principal: Principal | None
) -> tuple[list[_Place], _Place | None]:
    """The regions whose rows are worked out, and the country when its row is."""
    root_row = session.execute(
        select(OrgUnit.code, OrgUnit.name, OrgUnit.path)
        .where(OrgUnit.parent_id.is_(None))
        .order_by(OrgUnit.id)
    ).first()
    if root_row is None:
        raise NotFoundError("no places are loaded: run sitroom setup first")
    root = _Place(*root_row)
    if principal is not None:
        authorize(principal, Permission.AID_READ, None)
    regions = [
        _Place(*row)
        for row in session.execute(
            select(OrgUnit.code, OrgUnit.name, OrgUnit.path)
            .where(OrgUnit.level == 2)
            .order_by(OrgUnit.code)
        )
    ]
    if org_unit is not None and org_unit != root.code:
        found = session.execute(
            select(OrgUnit.code, OrgUnit.name, OrgUnit.path, OrgUnit.level).where(
                OrgUnit.code == org_unit
            )
        ).first()
        if found is None:
            raise NotFoundError(f"unknown org unit {org_unit!r}")
        if principal is not None:
            authorize(principal, Permission.AID_READ, found.path)
        if found.level != 2:
            region = _region_of(found.path)
            raise SitroomError(
                f"the gap is worked out per region and for the country: {org_unit} is"
                f" below a region; ask for its region {region} or the country {root.code}"
            )
        return [_Place(found.code, found.name, found.path)], None
    if principal is not None and org_unit is not None:
        authorize(principal, Permission.AID_READ, root.path)
    if principal is None or principal.covers(root.path):
        return regions, root
    visible = [r for r in regions if principal.covers(r.path)]
    if not visible:
        scopes = ", ".join(principal.scope_codes) or "none"
        raise ForbiddenError(
            f"user {principal.username!r} may not read the gap: the gap is worked out per"
            f" region and no region is within their scopes ({scopes})"
        )
    return visible, None


# Need -------------------------------------------------------------------------------


def _demand(
    session: Session,
    country: Country,
    regions: list[_Place],
    everything: bool,
    *,
    horizon: int,
    series: Path | None,
    end: date | None,
    model: str,
    samples: int | None,
    seed: int,
) -> tuple[DemandReport, list[str], np.ndarray[Any, np.dtype[np.float64]]]:
    """The demand, its regions' codes (in the order of its paths) and the daily
    cases at each level of :data:`LEVELS`, (3, regions, days)."""
    wanted = {r.code for r in regions}
    notes: list[str] = []
    if series is not None:
        report = demand_from_file(session, country, series, horizon=horizon)
        codes = list(report.places)
        outside = [c for c in codes if c not in wanted]
        levels = {
            str(code): int(level)
            for code, level in session.execute(
                select(OrgUnit.code, OrgUnit.level).where(OrgUnit.code.in_(codes))
            )
        }
        below = [c for c in codes if levels.get(c) != 2]
        if below:
            raise SitroomError(
                f"{series}: the gap is worked out per region; column(s) {', '.join(below)}"
                " are not regions"
            )
        if outside:
            notes.append(f"Columns outside the regions shown left out: {', '.join(outside)}.")
        keep = [n for n, c in enumerate(codes) if c in wanted]
        if not keep:
            raise SitroomError(f"{series}: no column is a region within your scopes")
        paths = report.paths
        assert paths is not None
        paths = paths[keep]
        codes = [codes[n] for n in keep]
    elif everything:
        report = forecast_demand(
            session, country, horizon=horizon, end=end, model=model, samples=samples, seed=seed
        )
        codes = list(report.places)
        assert report.paths is not None
        paths = report.paths
    else:
        # A user who sees some regions: each forecast on its own (the same as in the
        # forecast of them all: a region's forecast depends on its own series only).
        kept: list[DemandReport] = []
        for region in regions:
            try:
                kept.append(
                    forecast_demand(
                        session,
                        country,
                        horizon=horizon,
                        org_unit=region.code,
                        end=end,
                        model=model,
                        samples=samples,
                        seed=seed,
                    )
                )
            except SitroomError as exc:
                if "fever series" not in str(exc) and "no region" not in str(exc):
                    raise
                notes.append(f"{region.name} ({region.code}): {exc}")
        if not kept:
            raise SitroomError("no region within your scopes has a series to forecast from")
        report = kept[0]
        for other in kept[1:]:
            report.notes.extend(other.notes)
            report.origins.update(other.origins)
            if other.first_day and (report.first_day is None or other.first_day < report.first_day):
                report.first_day = other.first_day
        codes = [r.places[0] for r in kept]
        paths = np.concatenate([r.paths for r in kept if r.paths is not None])
    report.notes[:0] = notes
    # Day by day, the quantiles of the running total along each path: their increments
    # add up, over any first days, to the quantiles of the need up to that day.
    running = np.quantile(np.cumsum(paths, axis=2), LEVELS, axis=1)
    running = np.maximum.accumulate(running, axis=2)  # rounding only: totals never fall
    daily = np.diff(running, axis=2, prepend=0.0)
    return report, codes, np.maximum(daily, 0.0)


# The pipeline and each partner's history ----------------------------------------------


@dataclass(slots=True)
class _History:
    """Pledges, shipments and what arrived of them, read once."""

    partners: dict[int, tuple[str, str, str]]  # id -> (code, name, kind)
    #: pledge id -> (partner id, status, org unit path, expected by, pledged at)
    pledges: dict[int, tuple[int, str, str, date | None, datetime]]
    #: (pledge id, item id) -> units pledged
    pledge_lines: dict[tuple[int, int], int]
    #: shipment id -> (pledge id, partner id, status, destination path, expected at)
    shipments: dict[int, tuple[int, int, str, str, date | None]]
    #: (shipment id, item id) -> units shipped
    shipment_lines: dict[tuple[int, int], int]
    #: (shipment id, item id) -> (units received, first receipt)
    received: dict[tuple[int, int], tuple[int, datetime | None]]

    def shipped_of_pledge(self) -> dict[tuple[int, int], int]:
        """Units shipped of each pledge and item, by its shipments not cancelled."""
        out: dict[tuple[int, int], int] = defaultdict(int)
        for (shipment, item), units in self.shipment_lines.items():
            pledge, _, status, _, _ = self.shipments[shipment]
            if status != "cancelled":
                out[pledge, item] += units
        return out

    def received_of_pledge(self) -> dict[tuple[int, int], tuple[int, datetime | None]]:
        """Units received of each pledge and item (any of its shipments), and when first."""
        out: dict[tuple[int, int], tuple[int, datetime | None]] = {}
        for (shipment, item), (units, first) in self.received.items():
            key = (self.shipments[shipment][0], item)
            total, earliest = out.get(key, (0, None))
            if first is not None and (earliest is None or first < earliest):
                earliest = first
            out[key] = (total + units, earliest)
        return out


def _history(session: Session, at: datetime | None = None) -> _History:
    """Pledges, shipments and receipts as they are now, or as they stood at ``at``
    (:func:`_as_of`)."""
    partners = {
        int(i): (str(c), str(n), str(k))
        for i, c, n, k in session.execute(
            select(Partner.id, Partner.code, Partner.name, Partner.kind)
        )
    }
    pledges = {
        int(i): (int(p), str(s), str(path), e, t)
        for i, p, s, path, e, t in session.execute(
            select(
                Pledge.id,
                Pledge.partner_id,
                Pledge.status,
                OrgUnit.path,
                Pledge.expected_by,
                Pledge.pledged_at,
            ).join(OrgUnit, OrgUnit.id == Pledge.org_unit_id)
        )
    }
    pledge_lines = {
        (int(p), int(i)): int(q)
        for p, i, q in session.execute(
            select(PledgeLine.pledge_id, PledgeLine.item_id, PledgeLine.quantity)
        )
    }
    shipments = {
        int(i): (int(p), int(partner), str(s), str(path), e)
        for i, p, partner, s, path, e in session.execute(
            select(
                Shipment.id,
                Shipment.pledge_id,
                Shipment.partner_id,
                Shipment.status,
                OrgUnit.path,
                Shipment.expected_at,
            )
            .join(Facility, Facility.id == Shipment.destination_id)
            .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        )
    }
    shipment_lines = {
        (int(s), int(i)): int(q or 0)
        for s, i, q in session.execute(
            select(
                ShipmentLine.shipment_id, ShipmentLine.item_id, func.sum(ShipmentLine.quantity)
            ).group_by(ShipmentLine.shipment_id, ShipmentLine.item_id)
        )
    }
    # What arrived: the ledger's receipts under each shipment's number (reversals,
    # entries of the opposite sign under the same reference, net out).
    receipts = (
        select(
            Shipment.id,
            StockEntry.item_id,
            func.sum(StockEntry.quantity),
            func.min(StockEntry.time),
        )
        .join(StockEntry, StockEntry.reference == Shipment.number)
        .where(StockEntry.kind == "receipt")
        .group_by(Shipment.id, StockEntry.item_id)
    )
    if at is not None:
        receipts = receipts.where(StockEntry.time <= at)
    received: dict[tuple[int, int], tuple[int, datetime | None]] = {
        (int(s), int(i)): (int(q or 0), first) for s, i, q, first in session.execute(receipts)
    }
    history = _History(partners, pledges, pledge_lines, shipments, shipment_lines, received)
    return history if at is None else _as_of(session, history, at)


def _as_of(session: Session, history: _History, at: datetime) -> _History:
    """``history`` (its receipts already up to ``at``) as it stood at ``at``: the pledges
    and shipments recorded by then, each at the status of its last step by then.

    A record's steps are its history's (``aid_event``, one query for them all, in the
    order they happened). A record with no step on record (rows written without the
    services) counts from its pledge or departure time (else its creation), at its
    status now if it had it by then (``status_at``), else the status it starts in."""
    steps: dict[tuple[str, int], list[tuple[datetime, str]]] = defaultdict(list)
    for subject, subject_id, time, status in session.execute(
        select(AidEvent.subject, AidEvent.subject_id, AidEvent.time, AidEvent.to_status)
        .where(AidEvent.subject.in_(("pledge", "shipment")))
        .order_by(AidEvent.time, AidEvent.id)
    ):
        steps[str(subject), int(subject_id)].append((time, str(status)))

    unrecorded = [("pledge", p) for p in history.pledges if ("pledge", p) not in steps] + [
        ("shipment", s) for s in history.shipments if ("shipment", s) not in steps
    ]
    fallback: dict[tuple[str, int], tuple[datetime | None, datetime, str]] = {}
    if unrecorded:
        # (when it took its status now, when it came to be, the status it starts in)
        for pid, pledged_at, status_at in session.execute(
            select(Pledge.id, Pledge.pledged_at, Pledge.status_at).where(
                Pledge.id.in_([i for kind, i in unrecorded if kind == "pledge"])
            )
        ):
            fallback["pledge", int(pid)] = (status_at, pledged_at, OPEN_PLEDGE)
        for sid, departed, created, status_at in session.execute(
            select(
                Shipment.id, Shipment.departed_at, Shipment.created_at, Shipment.status_at
            ).where(Shipment.id.in_([i for kind, i in unrecorded if kind == "shipment"]))
        ):
            left = departed is not None and departed <= at
            fallback["shipment", int(sid)] = (
                status_at,
                departed or created,
                "in_transit" if left else "planned",
            )

    def then(key: tuple[str, int], now_status: str) -> str | None:
        """The record's status at ``at``; None when it had not been recorded yet."""
        if key in steps:
            reached = [status for time, status in steps[key] if time <= at]
            return reached[-1] if reached else None
        status_at, began, first = fallback[key]
        if began > at:
            return None
        return now_status if status_at is not None and status_at <= at else first

    pledges = {}
    for pid, (partner, status, path, expected, pledged_at) in history.pledges.items():
        was = then(("pledge", pid), status)
        if was is not None:
            pledges[pid] = (partner, was, path, expected, pledged_at)
    shipments = {}
    for sid, (pledge, partner, status, path, expected) in history.shipments.items():
        was = then(("shipment", sid), status)
        if was is not None and pledge in pledges:
            shipments[sid] = (pledge, partner, was, path, expected)
    return _History(
        history.partners,
        pledges,
        {k: v for k, v in history.pledge_lines.items() if k[0] in pledges},
        shipments,
        {k: v for k, v in history.shipment_lines.items() if k[0] in shipments},
        {k: v for k, v in history.received.items() if k[0] in shipments},
    )


def _reliability(
    history: _History, partner_index: dict[int, int], prior: float
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], list[tuple[int, int]]]:
    """Each partner's reliability at each stage, and its settled lines by stage."""
    who, stage, units, got = [], [], [], []
    received = history.received_of_pledge()
    for (pledge, item), quantity in history.pledge_lines.items():
        partner, status, _, _, _ = history.pledges[pledge]
        if status in SETTLED_PLEDGES:
            who.append(partner_index[partner])
            stage.append(PLEDGED)
            units.append(quantity)
            got.append(max(received.get((pledge, item), (0, None))[0], 0))
    for (shipment, item), quantity in history.shipment_lines.items():
        pledge, partner, status, _, _ = history.shipments[shipment]
        if status == "cancelled" or quantity <= 0:
            continue
        if status == "received" or history.pledges[pledge][1] in SETTLED_PLEDGES:
            who.append(partner_index[partner])
            stage.append(SHIPPED)
            units.append(quantity)
            got.append(max(history.received.get((shipment, item), (0, None))[0], 0))
    r = reliability(who, stage, units, got, partners=len(partner_index), prior=prior)
    counts = [[0, 0] for _ in partner_index]
    for w, s in zip(who, stage, strict=True):
        counts[w][s] += 1
    return r, [(a, b) for a, b in counts]


@dataclass(frozen=True, slots=True)
class _Line:
    region: str | None
    item: int
    quantity: int
    stage: int
    partner: int
    expected: date | None


def _pipeline(history: _History) -> list[_Line]:
    """What is pledged and not shipped, and shipped and not received."""
    lines: list[_Line] = []
    shipped = history.shipped_of_pledge()
    for (pledge, item), quantity in history.pledge_lines.items():
        partner, status, path, expected, _ = history.pledges[pledge]
        left = quantity - shipped.get((pledge, item), 0)
        if status == OPEN_PLEDGE and left > 0:
            lines.append(_Line(_region_of(path), item, left, PLEDGED, partner, expected))
    for (shipment, item), quantity in history.shipment_lines.items():
        _, partner, status, path, expected = history.shipments[shipment]
        if status in ("cancelled", "received"):
            continue
        left = quantity - history.received.get((shipment, item), (0, None))[0]
        if left > 0:
            lines.append(_Line(_region_of(path), item, left, SHIPPED, partner, expected))
    return lines


# The gap ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where things count: ``index`` the row of each region shown, ``national`` the
    national row's (None without one), ``column`` the column of each item id."""

    index: dict[str, int]
    national: int | None
    column: dict[int, int]
    items: int

    @property
    def places(self) -> int:
        return len(self.index) + (0 if self.national is None else 1)

    def rows_of(self, region: str | None) -> list[int]:
        """The rows a thing at ``region`` (None: the country itself) counts in: its
        region's, and the national row's unless its region is left out."""
        rows = [self.index[region]] if region in self.index else []
        if self.national is not None and (region is None or region in self.index):
            rows.append(self.national)
        return rows


def _stock(
    session: Session, layout: _Layout, at: datetime | None = None
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Stock on hand, (places, items): the balances of every facility in each region;
    the stockpile and every counted region in the national row. ``at``: the ledger
    summed up to that moment (as ``sitroom supply stock --at``), in one query."""
    stock = np.zeros((layout.places, layout.items))
    if not layout.column:
        return stock
    wanted = list(layout.column)
    if at is None:
        source: Any = (
            select(
                StockBalance.facility_id.label("facility_id"),
                StockBalance.item_id.label("item_id"),
                StockBalance.quantity.label("quantity"),
            )
            .where(StockBalance.item_id.in_(wanted), StockBalance.quantity != 0)
            .subquery()
        )
    else:
        source = (
            select(
                StockEntry.facility_id.label("facility_id"),
                StockEntry.item_id.label("item_id"),
                func.sum(StockEntry.quantity).label("quantity"),
            )
            .where(StockEntry.item_id.in_(wanted), StockEntry.time <= at)
            .group_by(StockEntry.facility_id, StockEntry.item_id)
            .subquery()
        )
    held = session.execute(
        select(OrgUnit.path, source.c.item_id, func.sum(source.c.quantity))
        .join(Facility, Facility.id == source.c.facility_id)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .group_by(OrgUnit.path, source.c.item_id)
    )
    for path, item_id, units in held:
        for row in layout.rows_of(_region_of(str(path))):
            stock[row, layout.column[int(item_id)]] += int(units)
    return stock


def _lines(
    raw: list[_Line], layout: _Layout, partner_index: dict[int, int], first_day: date
) -> tuple[Pipeline, set[int]]:
    """The pipeline lines at their rows (a regional line twice: its region's and the
    national row's), and the ids of the items in it with no need worked out."""
    place, item, quantity, stage, partner, day = [], [], [], [], [], []
    unmodelled: set[int] = set()
    for line in raw:
        if line.item not in layout.column:
            unmodelled.add(line.item)
            continue
        # An expected date unknown counts as within the horizon.
        offset = 0 if line.expected is None else (line.expected - first_day).days
        for row in layout.rows_of(line.region):
            place.append(row)
            item.append(layout.column[line.item])
            quantity.append(line.quantity)
            stage.append(line.stage)
            partner.append(partner_index[line.partner])
            day.append(offset)
    lines = Pipeline.of(
        place=place, item=item, quantity=quantity, stage=stage, partner=partner, day=day
    )
    return lines, unmodelled


def gap_report(
    session: Session,
    country: Country,
    *,
    horizon: int | None = None,
    org_unit: str | None = None,
    series: Path | None = None,
    end: date | None = None,
    model: str = MODELS[0],
    samples: int | None = None,
    seed: int = 0,
    principal: Principal | None = None,
    at: datetime | None = None,
    now: Callable[[], datetime] = utcnow,
) -> GapReport:
    """The gap per item and region, and the national row (module docstring).

    ``horizon``: days of need (default the country's ``[aid] horizon``);
    ``org_unit``: one region (no national row) or the country (all, the default);
    ``series``: a CSV of expected daily cases per region instead of the forecast
    (``date`` then a column per region); ``end``, ``model``, ``samples``, ``seed``:
    the forecast's, as for ``sitroom supply demand``. Needs ``aid.read``; without
    ``org_unit`` a regional user gets their regions' rows.

    The stock, the pipeline and the partners' records are taken as they stood at
    ``at`` (an aware time), by default the close of ``end`` (its reporting cut-off);
    a moment not yet past (``now``), or neither given, takes them as they are now.
    """
    days = country.aid.horizon if horizon is None else horizon
    check_horizon(days)
    if model not in MODELS:
        raise SitroomError(f"unknown forecast model {model!r}; choose one of {', '.join(MODELS)}")
    as_of = as_of_moment(country, end, at, now)
    regions, national = _places(session, org_unit, principal)
    everything = national is not None
    demand, codes, daily = _demand(
        session,
        country,
        regions,
        everything,
        horizon=days,
        series=series,
        end=end,
        model=model,
        samples=samples,
        seed=seed,
    )
    notes = list(demand.notes)
    first_day = demand.first_day
    assert first_day is not None
    items = list(demand.demand.items)
    item_rows = session.execute(
        select(Item.id, Item.code, Item.name, Item.unit).where(Item.code.in_(items))
    ).all()
    item_ids = {str(code): int(i) for i, code, _, _ in item_rows}
    item_names = {str(code): str(name) for _, code, name, _ in item_rows}
    column = {item_ids[code]: n for n, code in enumerate(items) if code in item_ids}

    names = {r.code: r.name for r in regions}
    index = {code: n for n, code in enumerate(codes)}
    left_out = [r for r in regions if r.code not in index]
    here = len(codes)  # the national row's index, when there is one
    if national and left_out:
        notes.append(
            "Left out of the national row with their need: the stock and pipeline of "
            + ", ".join(f"{r.name} ({r.code})" for r in left_out)
            + "."
        )

    # Need: (places, items, days) at each level; the national row the regions' sum.
    per_case = demand.demand.units_per_case
    need = daily[:, :, None, :] * per_case[None, None, :, None]
    if national:
        need = np.concatenate([need, need.sum(axis=1, keepdims=True)], axis=1)

    layout = _Layout(index, here if national else None, column, len(items))
    stock = _stock(session, layout, as_of)
    history = _history(session, as_of)
    partner_ids = sorted(history.partners)
    partner_index = {pid: n for n, pid in enumerate(partner_ids)}
    r, settled = _reliability(history, partner_index, country.aid.reliability_prior)
    lines, unmodelled = _lines(_pipeline(history), layout, partner_index, first_day)
    if unmodelled:
        codes_of = dict(session.execute(select(Item.id, Item.code)).all())
        notes.append(
            "In the pipeline but named by no treatment protocol, so with no need worked out: "
            + ", ".join(sorted(str(codes_of[i]) for i in unmodelled))
            + "."
        )
    gap = compute_gap(
        need[1], need[0], need[2], stock=stock, pipeline=lines, reliability=r.reshape(-1, 2)
    )

    place_list = [(c, names.get(c, c), False) for c in codes]
    if national:
        place_list.append((national.code, national.name, True))
    order = ([here] if national else []) + sorted(range(len(codes)), key=codes.__getitem__)
    table = [
        _row(
            gap,
            p,
            i,
            item=item_code,
            item_names=item_names,
            units=demand.units,
            place=place_list[p],
            first_day=first_day,
        )
        for i, item_code in enumerate(items)
        for p in order
    ]
    return GapReport(
        horizon=days,
        first_day=first_day,
        source=demand.source,
        model=demand.model,
        method=demand.demand.method,
        note=demand.demand.note,
        prior=country.aid.reliability_prior,
        table=table,
        reliability=[
            PartnerReliability(
                history.partners[pid][0],
                history.partners[pid][1],
                float(r[n, PLEDGED]),
                float(r[n, SHIPPED]),
                settled[n][PLEDGED],
                settled[n][SHIPPED],
            )
            for n, pid in enumerate(partner_ids)
        ],
        notes=notes,
        origins=dict(demand.origins),
        as_of=as_of,
    )


def as_of_moment(
    country: Country,
    end: date | None,
    at: datetime | None = None,
    now: Callable[[], datetime] = utcnow,
) -> datetime | None:
    """The moment a gap takes the stock and the pipeline at (UTC): ``at``, else the
    close of ``end`` (the reporting cut-off ending that day, as a situation report's
    period closes); None, as they are now, when neither is given or it is not past."""
    if at is None and end is not None:
        at = ReportingCalendar.from_config(country.reporting).window(end)[1]
    if at is None:
        return None
    if at.tzinfo is None:
        raise SitroomError(f"the moment {at.isoformat()} has no time zone")
    at = at.astimezone(UTC)
    return None if at >= now() else at


def _row(
    gap: Gap,
    p: int,
    i: int,
    *,
    item: str,
    item_names: dict[str, str],
    units: dict[str, str],
    place: tuple[str, str, bool],
    first_day: date,
) -> GapRow:
    runout = int(gap.runout[p, i])
    return GapRow(
        item=item,
        item_name=item_names.get(item, item),
        unit=units.get(item, "unit"),
        org_unit=place[0],
        name=place[1],
        national=place[2],
        need_median=float(gap.need_median[p, i]),
        need_lower=float(gap.need_lower[p, i]),
        need_upper=float(gap.need_upper[p, i]),
        stock=float(gap.stock[p, i]),
        pledged=float(gap.pipeline[p, i, PLEDGED]),
        shipped=float(gap.pipeline[p, i, SHIPPED]),
        pledged_weighted=float(gap.weighted[p, i, PLEDGED]),
        shipped_weighted=float(gap.weighted[p, i, SHIPPED]),
        later=float(gap.later[p, i]),
        gap_median=float(gap.gap_median[p, i]),
        gap_lower=float(gap.gap_lower[p, i]),
        gap_upper=float(gap.gap_upper[p, i]),
        surplus=float(gap.surplus[p, i]),
        runs_out=None if runout < 0 else first_day + timedelta(days=runout),
    )


# Suggested requests -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartnerChoice:
    """A partner a request could go to: whether it has delivered the item before (how
    many pledges of it, and the median days from a pledge to its first receipt), its
    reliability on pledges, and the channel it is reached through."""

    code: str
    name: str
    kind: str
    channel: str
    delivered: bool
    deliveries: int
    median_days: float | None
    reliability: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "channel": self.channel,
            "delivered_before": self.delivered,
            "deliveries": self.deliveries,
            "median_days": None if self.median_days is None else round(self.median_days, 1),
            "reliability": round(self.reliability, 4),
        }


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A request a coordinator could draft: the item, how much, by when, for which
    org unit, to which partners (best first), why, and the gap behind it."""

    item: str
    item_unit: str
    org_unit: str
    org_unit_name: str
    national: bool
    quantity: int
    needed_by: date
    partners: tuple[PartnerChoice, ...]
    reason: str
    gap: dict[str, Any]

    @property
    def partner(self) -> PartnerChoice | None:
        """The partner to ask first (None when none is registered)."""
        return self.partners[0] if self.partners else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "unit": self.item_unit,
            "org_unit": self.org_unit,
            "org_unit_name": self.org_unit_name,
            "national": self.national,
            "quantity": self.quantity,
            "needed_by": self.needed_by.isoformat(),
            "partner": self.partner.code if self.partner else None,
            "channel": self.partner.channel if self.partner else None,
            "partners": [p.to_dict() for p in self.partners],
            "reason": self.reason,
            "gap": self.gap,
        }

    def request_args(self, partner: str | None = None) -> dict[str, Any]:
        """The arguments of :func:`sitroom.aid.requests.create_request` for a draft to
        ``partner`` (its code; default the first), all but the user, principal and time."""
        if partner is None:
            if self.partner is None:
                raise NotFoundError("no partner is registered to ask: add one first")
            chosen = self.partner
        else:
            found = [p for p in self.partners if p.code == partner]
            if not found:
                raise NotFoundError(f"unknown partner {partner!r}")
            chosen = found[0]
        return {
            "partner": chosen.code,
            "lines": [LineIn(self.item, self.quantity)],
            "channel": chosen.channel,
            "unit": self.org_unit,
            "needed_by": self.needed_by,
            "reason": self.reason,
            "gap": self.gap,
        }


def _channels(session: Session, history: _History) -> dict[int, str]:
    """Each partner's channel: its first contact's, else by its kind."""
    first: dict[int, str] = {}
    for partner, channel in session.execute(
        select(Contact.partner_id, Contact.channel).order_by(Contact.id)
    ):
        first.setdefault(int(partner), str(channel))
    return {
        pid: first.get(pid, DEFAULT_CHANNELS.get(kind, FALLBACK_CHANNEL))
        for pid, (_, _, kind) in history.partners.items()
    }


def _deliveries(history: _History) -> dict[tuple[int, int], list[float]]:
    """(partner id, item id) -> days from each pledge to its first receipt of the item,
    for the pledges of which some of the item arrived."""
    out: dict[tuple[int, int], list[float]] = defaultdict(list)
    for (pledge, item), (units, first) in history.received_of_pledge().items():
        if units <= 0 or first is None:
            continue
        partner, _, _, _, pledged_at = history.pledges[pledge]
        out[partner, item].append(max((first - pledged_at).total_seconds() / 86400, 0.0))
    return out


def suggest(session: Session, report: GapReport, *, on: str = "median") -> list[Suggestion]:
    """The requests ``report``'s gaps call for; nothing is written.

    An item has a gap where the gap's median is above 0 (``on="upper"``: its upper
    bound, a gap that is possible rather than likely). With the national row in the
    report, one suggestion per item for the country (the regions short cited in the
    reason); a region's gap where the country as a whole has enough is a matter of
    allocation (``sitroom supply allocate``), not of aid. Without it (a regional
    user, or one region asked for), one per region with a gap.

    How much: the gap's median (``on="upper"``: its upper bound), in whole units
    (up); the interval stays in the reason. The upper bound of a 90 % interval of
    a forecast four weeks out is far above the likely need (on the 2022 series,
    up to 40 times the median), so asking for it by default would overstate what
    is missing. By when: the run-out date,
    else the horizon's last day. To whom: the partners who have delivered the item
    before (a receipt traced through shipment and pledge), fastest first (median
    days from a pledge to its first receipt), then the others, most reliable first;
    the record as of the report's ``as_of`` (now when None).
    """
    if on not in ("median", "upper"):
        raise SitroomError(f"unknown gap bound {on!r}; choose median or upper")
    history = _history(session, report.as_of)
    channels = _channels(session, history)
    deliveries = _deliveries(history)
    reliabilities = {p.code: p.pledged for p in report.reliability}
    item_ids = {
        str(code): int(i)
        for i, code in session.execute(
            select(Item.id, Item.code).where(Item.code.in_({r.item for r in report.table}))
        )
    }

    def short(row: GapRow) -> bool:
        return (row.gap_median if on == "median" else row.gap_upper) > 0

    national = any(row.national for row in report.table)
    out: list[Suggestion] = []
    for row in report.table:
        if row.national != national or not short(row):
            continue
        regions = [r for r in report.table if r.item == row.item and not r.national and short(r)]
        partners = _ranked(history, channels, deliveries, reliabilities, item_ids.get(row.item))
        out.append(
            Suggestion(
                item=row.item,
                item_unit=row.unit,
                org_unit=row.org_unit,
                org_unit_name=row.name,
                national=row.national,
                quantity=max(_up(row.gap_median if on == "median" else row.gap_upper), 1),
                needed_by=row.runs_out or report.last_day,
                partners=partners,
                reason=_reason(report, row, regions if row.national else []),
                gap={
                    **row.to_dict(),
                    "horizon": report.horizon,
                    "first_day": report.first_day.isoformat(),
                    "last_day": report.last_day.isoformat(),
                    "source": report.source,
                    "model": report.model,
                },
            )
        )
    return out


def _ranked(
    history: _History,
    channels: dict[int, str],
    deliveries: dict[tuple[int, int], list[float]],
    reliabilities: dict[str, float],
    item: int | None,
) -> tuple[PartnerChoice, ...]:
    choices = []
    for pid, (code, name, kind) in history.partners.items():
        days = deliveries.get((pid, item), []) if item is not None else []
        choices.append(
            PartnerChoice(
                code=code,
                name=name,
                kind=kind,
                channel=channels[pid],
                delivered=bool(days),
                deliveries=len(days),
                median_days=statistics.median(days) if days else None,
                reliability=reliabilities.get(code, 0.5),
            )
        )
    choices.sort(
        key=lambda c: (
            not c.delivered,
            c.median_days if c.median_days is not None else math.inf,
            -c.reliability,
            c.code,
        )
    )
    return tuple(choices)


def _reason(report: GapReport, row: GapRow, regions: Sequence[GapRow]) -> str:
    unit = row.unit if row.unit.endswith("s") else row.unit + "s"
    d = row.to_dict()
    text = (
        f"{row.item_name} ({row.item}) for {row.name} ({row.org_unit}): over the"
        f" {report.horizon} days from {report.first_day} to {report.last_day} the need is"
        f" {d['need_median']:,} {unit} (90 % interval {d['need_lower']:,} to"
        f" {d['need_upper']:,}); stock on hand {d['stock']:,}; in the pipeline"
        f" {round(row.pipeline):,} ({row.pipeline_weighted:,.0f} counting each partner's"
        f" reliability so far); the gap is {d['gap_median']:,} (up to {d['gap_upper']:,})."
    )
    if row.runs_out is not None:
        text += f" The stock runs out on {row.runs_out} if nothing arrives."
    if regions:
        shown = ", ".join(f"{r.name} {_up(r.gap_median):,}" for r in regions[:6])
        more = f" and {len(regions) - 6} more" if len(regions) > 6 else ""
        text += f" Regions short: {shown}{more}."
    source = "forecast" if report.source == "forecast" else f"the series {report.source}"
    return text + f" (Need from the {source}; gap of {report.first_day}.)"


__all__ = [
    "LEVELS",
    "GapReport",
    "GapRow",
    "PartnerChoice",
    "PartnerReliability",
    "Suggestion",
    "as_of_moment",
    "gap_report",
    "suggest",
]


def draft_requests(
    session: Session,
    suggestions: list[Suggestion],
    *,
    user: str,
    principal: Principal | None = None,
    partner: str | None = None,
    now: Callable[[], datetime] = utcnow,
) -> list[Any]:
    """Draft a request for each suggestion (to ``partner``, or the first partner of
    each), for a coordinator to edit and send; each draft is its own transaction.

    A run-out date already past (an old series) cannot be a date needed by: the
    draft is needed as soon as possible (today, in UTC), and its reason keeps the
    date the item ran out.
    """
    from sitroom.aid.requests import create_request

    today = now().date()
    made = []
    for suggestion in suggestions:
        args = suggestion.request_args(partner)
        args["needed_by"] = max(args["needed_by"], today)
        made.append(create_request(session, user=user, principal=principal, now=now, **args))
    return made
