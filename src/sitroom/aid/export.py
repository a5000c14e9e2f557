"""The 3W table of aid (issue #12, item 6): who gives what, where and when, one row per
pledge line, as CSV and as the HXL-tagged CSV that humanitarian tools read.

- **Who**: the partner that pledged (its name, code and kind).
- **What**: the item, its category (the sub-sector; the sector is ``Health``)
  and its unit; an in-kind donation.
- **Where**: the region of the pledge's org unit; for a national pledge, the
  region of the warehouses its shipments of the item go to when they are all in
  one (blank otherwise: national, or several regions); the warehouses named.
- **When**: the day of the pledge, of the first departure of the item and of its
  last receipt, in the country's time zone.
- **How much**: pledged, shipped (on shipments not cancelled) and received. What
  was received is read from the stock ledger, the sum of its ``receipt`` entries
  of the item under the numbers of the pledge's shipments (a reversal's negative
  entries included), never from a copy: the same figure ``sitroom aid pledge
  show`` gives.
- **Status** of the line: ``cancelled`` (the pledge was), ``received`` (every
  pledged unit), ``partly_received``, ``shipped`` (on its way, nothing
  received), or ``pledged`` (nothing shipped yet); and whether the row is
  ``illustrative`` (the demo's reconstruction of 2022, not a record).

A reader sees the pledges of the org units where they hold ``aid.read``, as
``sitroom aid pledge list`` does.

**HXL** (the Humanitarian Exchange Language, hxlstandard.org, version 1.1): a
second row under the header holds each column's hashtag, so that HDX and the
HXL tools (the HXL Proxy, libhxl) can filter, join and map the table without
knowing its column names. The tags, and why:

- ``#org+funder+name``, ``#org+funder+code``, ``#org+funder+type``: the partner
  is an organisation (``#org``), and in aid given in kind it is the donor, the
  ``+funder`` of the activity; HXL's own attributes for its name, code and type.
- ``#sector`` (``Health``, the cluster this aid belongs to) and ``#subsector``
  (the item's category: test kits, antipyretics, vaccines...), as 3W tables
  carry them for the cluster coordination's filters.
- ``#activity+name``: what is done, an in-kind donation.
- ``#item+code``, ``#item+name``, ``#item+unit``: HXL 1.1's hashtag for a
  product or commodity, with the catalogue's code, name and the unit counted.
- ``#country+code``, ``#adm1+code``, ``#adm1+name``: the country and the region
  (the first administrative level: a province), by the codes of the country's
  configuration (P-codes where it uses them), so a map can join them.
- ``#loc+code``, ``#loc+name``: the warehouses received into (a point
  location).
- ``#date+pledged``, ``#date+start``, ``#date+end``: HXL's ``+start`` and
  ``+end`` for the activity's span (first departure, last receipt), and the day
  of the commitment with an attribute of its own.
- ``#status``: the line's status, a word (above).
- ``#indicator+num+pledged``, ``#indicator+num+shipped``,
  ``#indicator+num+received``: the quantities (``+num``: a number, as HXL marks
  numeric indicators), each named by what it counts.
- ``#meta+id``: the pledge's number, to find the record again; and
  ``#meta+illustrative``: whether the row is an illustration (``true``/``false``),
  so a tool can leave the demo's rows out.

A CSV cell a spreadsheet would run as a formula is neutralised by default
(:func:`sitroom.surveillance.export.neutralise_formula`); a file is written
atomically (:func:`sitroom.surveillance.export.atomic_output`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from sitroom.auth.permissions import Permission, Principal
from sitroom.places.models import OrgUnit
from sitroom.supply.models import Facility, Item, StockEntry

from .common import can_read, require
from .common import partner as partner_by_code
from .models import (
    PLEDGE_STATUSES,
    AidRequest,
    Offer,
    Partner,
    Pledge,
    PledgeLine,
    Shipment,
    ShipmentLine,
)

#: The sector of every row: aid here is medicines, tests and protective equipment.
SECTOR = "Health"
#: What a pledge line is, as a 3W activity.
ACTIVITY = "In-kind donation"
#: A line's statuses (see the module's docstring).
LINE_STATUSES = ("pledged", "shipped", "partly_received", "received", "cancelled")
#: Pledges read per query (the IN list's size).
CHUNK = 500


@dataclass(frozen=True, slots=True)
class ThreeWRow:
    """One pledge line: who, what, where, when, how much."""

    pledge: str
    pledge_status: str
    request: str | None
    offer: str | None
    partner: str
    partner_name: str
    partner_kind: str
    item: str
    item_name: str
    unit: str
    category: str
    country: str
    region: str | None
    region_name: str | None
    #: The warehouses (codes and names) the item's shipments go to, in code order.
    warehouses: tuple[str, ...]
    warehouse_names: tuple[str, ...]
    pledged_on: date
    first_departure: date | None
    last_receipt: date | None
    pledged: int
    shipped: int
    received: int
    status: str
    illustrative: bool

    @property
    def subsector(self) -> str:
        return self.category.replace("_", " ")

    def to_dict(self) -> dict[str, Any]:
        return {
            "pledge": self.pledge,
            "pledge_status": self.pledge_status,
            "request": self.request,
            "offer": self.offer,
            "partner": self.partner,
            "partner_name": self.partner_name,
            "partner_kind": self.partner_kind,
            "sector": SECTOR,
            "subsector": self.subsector,
            "activity": ACTIVITY,
            "item": self.item,
            "item_name": self.item_name,
            "unit": self.unit,
            "category": self.category,
            "country": self.country,
            "region": self.region,
            "region_name": self.region_name,
            "warehouses": list(self.warehouses),
            "warehouse_names": list(self.warehouse_names),
            "pledged_on": self.pledged_on.isoformat(),
            "first_departure": _day_text(self.first_departure),
            "last_receipt": _day_text(self.last_receipt),
            "pledged": self.pledged,
            "shipped": self.shipped,
            "received": self.received,
            "status": self.status,
            "illustrative": self.illustrative,
        }


def _day_text(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _joined(values: Iterable[str]) -> str:
    return "; ".join(values)


#: The columns: header, HXL hashtag, the cell of a row.
COLUMNS: tuple[tuple[str, str, Callable[[ThreeWRow], object]], ...] = (
    ("partner", "#org+funder+name", lambda r: r.partner_name),
    ("partner_code", "#org+funder+code", lambda r: r.partner),
    ("partner_type", "#org+funder+type", lambda r: r.partner_kind),
    ("sector", "#sector", lambda _r: SECTOR),
    ("subsector", "#subsector", lambda r: r.subsector),
    ("activity", "#activity+name", lambda _r: ACTIVITY),
    ("item_code", "#item+code", lambda r: r.item),
    ("item", "#item+name", lambda r: r.item_name),
    ("unit", "#item+unit", lambda r: r.unit),
    ("country_code", "#country+code", lambda r: r.country),
    ("region_code", "#adm1+code", lambda r: r.region or ""),
    ("region", "#adm1+name", lambda r: r.region_name or ""),
    ("warehouse_code", "#loc+code", lambda r: _joined(r.warehouses)),
    ("warehouse", "#loc+name", lambda r: _joined(r.warehouse_names)),
    ("pledged_on", "#date+pledged", lambda r: r.pledged_on.isoformat()),
    ("first_departure", "#date+start", lambda r: _day_text(r.first_departure) or ""),
    ("last_receipt", "#date+end", lambda r: _day_text(r.last_receipt) or ""),
    ("status", "#status", lambda r: r.status),
    ("pledged", "#indicator+num+pledged", lambda r: r.pledged),
    ("shipped", "#indicator+num+shipped", lambda r: r.shipped),
    ("received", "#indicator+num+received", lambda r: r.received),
    ("pledge", "#meta+id", lambda r: r.pledge),
    ("illustrative", "#meta+illustrative", lambda r: "true" if r.illustrative else "false"),
)
HEADER = tuple(name for name, _tag, _cell in COLUMNS)
HXL_TAGS = tuple(tag for _name, tag, _cell in COLUMNS)


def line_status(pledge_status: str, pledged: int, shipped: int, received: int) -> str:
    """A pledge line's status from its pledge's and its quantities."""
    if pledge_status == "cancelled":
        return "cancelled"
    if received >= pledged:
        return "received"
    if received > 0:
        return "partly_received"
    if shipped > 0:
        return "shipped"
    return "pledged"


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _region(path: str) -> str | None:
    """The region's code in an org unit's path (``/KP/KP-04/...``), None for the country."""
    parts = [p for p in path.split("/") if p]
    return parts[1] if len(parts) > 1 else None


def _local_day(moment: datetime, zone: tzinfo) -> date:
    return (
        (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))
        .astimezone(zone)
        .date()
    )


Key = tuple[int, int]  # (pledge id, item id)


@dataclass
class _Gathered:
    """What the rows are built from, read chunk by chunk."""

    #: A pledge's lines: (item, units pledged), in order.
    lines: dict[int, list[tuple[Item, int]]] = field(default_factory=lambda: defaultdict(list))
    #: A shipment's number -> its pledge's id (every shipment, cancelled ones too).
    numbers: dict[str, int] = field(default_factory=dict)
    #: Units on shipments not cancelled, their first departure, their warehouses
    #: (code -> name and region).
    shipped: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    departed: dict[Key, datetime] = field(default_factory=dict)
    places: dict[Key, dict[str, tuple[str, str | None]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    #: Units received by the ledger, and the last receipt not reversed.
    received: dict[Key, int] = field(default_factory=lambda: defaultdict(int))
    last: dict[Key, datetime] = field(default_factory=dict)
    requests: dict[int, str] = field(default_factory=dict)
    offers: dict[int, str] = field(default_factory=dict)

    def read_pledges(self, session: Session, chunk: Sequence[Pledge]) -> None:
        ids = [p.id for p in chunk]
        for line, item in session.execute(
            select(PledgeLine, Item)
            .join(Item, Item.id == PledgeLine.item_id)
            .where(PledgeLine.pledge_id.in_(ids))
            .order_by(PledgeLine.id)
        ):
            self.lines[line.pledge_id].append((item, int(line.quantity)))
        for number, pledge_id in session.execute(
            select(Shipment.number, Shipment.pledge_id).where(Shipment.pledge_id.in_(ids))
        ):
            self.numbers[str(number)] = int(pledge_id)
        for pledge_id, item_id, quantity, departure, code, name, path in session.execute(
            select(
                Shipment.pledge_id,
                ShipmentLine.item_id,
                ShipmentLine.quantity,
                Shipment.departed_at,
                Facility.code,
                Facility.name,
                OrgUnit.path,
            )
            .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
            .join(Facility, Facility.id == Shipment.destination_id)
            .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
            .where(Shipment.pledge_id.in_(ids), Shipment.status != "cancelled")
        ):
            key = (int(pledge_id), int(item_id))
            self.shipped[key] += int(quantity)
            if departure is not None and (
                key not in self.departed or departure < self.departed[key]
            ):
                self.departed[key] = departure
            self.places[key][str(code)] = (str(name), _region(str(path)))
        asked = sorted({p.request_id for p in chunk if p.request_id is not None})
        for rid, number in session.execute(
            select(AidRequest.id, AidRequest.number).where(AidRequest.id.in_(asked))
        ):
            self.requests[int(rid)] = str(number)
        offered = sorted({p.offer_id for p in chunk if p.offer_id is not None})
        for oid, number in session.execute(
            select(Offer.id, Offer.number).where(Offer.id.in_(offered))
        ):
            self.offers[int(oid)] = str(number)

    def read_ledger(self, session: Session, chunk: Sequence[str]) -> None:
        """What arrived under the shipments ``chunk`` (their numbers): the ledger's
        receipt entries (a reversal's negative entries included); the last receipt,
        of the entries not reversed."""
        for reference, item_id, total in session.execute(
            select(StockEntry.reference, StockEntry.item_id, func.sum(StockEntry.quantity))
            .where(StockEntry.kind == "receipt", StockEntry.reference.in_(chunk))
            .group_by(StockEntry.reference, StockEntry.item_id)
        ):
            self.received[(self.numbers[str(reference)], int(item_id))] += int(total or 0)
        reversal = aliased(StockEntry)
        for reference, item_id, latest in session.execute(
            select(StockEntry.reference, StockEntry.item_id, func.max(StockEntry.time))
            .where(
                StockEntry.kind == "receipt",
                StockEntry.reference.in_(chunk),
                StockEntry.quantity > 0,
                ~select(reversal.id).where(reversal.reverses_id == StockEntry.id).exists(),
            )
            .group_by(StockEntry.reference, StockEntry.item_id)
        ):
            key = (self.numbers[str(reference)], int(item_id))
            if latest is not None and (key not in self.last or latest > self.last[key]):
                self.last[key] = latest


def _pledges(
    session: Session, partner: str | None, status: str | None, principal: Principal | None
) -> list[tuple[Pledge, Partner, str]]:
    """The pledges asked for that the user may read, with their partner and unit's path."""
    from sitroom.errors import SitroomError

    require(principal, Permission.AID_READ)
    if status is not None and status not in PLEDGE_STATUSES:
        raise SitroomError(
            f"unknown pledge status {status!r}: choose one of {', '.join(PLEDGE_STATUSES)}"
        )
    query = (
        select(Pledge, Partner, OrgUnit.path)
        .join(Partner, Partner.id == Pledge.partner_id)
        .join(OrgUnit, OrgUnit.id == Pledge.org_unit_id)
        .order_by(Pledge.pledged_at, Pledge.id)
    )
    if partner is not None:
        query = query.where(Pledge.partner_id == partner_by_code(session, partner).id)
    if status is not None:
        query = query.where(Pledge.status == status)
    return [
        (pledge, who, str(path))
        for pledge, who, path in session.execute(query)
        if can_read(principal, str(path))
    ]


def three_w(
    session: Session,
    *,
    partner: str | None = None,
    status: str | None = None,
    principal: Principal | None = None,
    zone: tzinfo = UTC,
) -> list[ThreeWRow]:
    """The 3W rows, one per pledge line, oldest pledge first: of one ``partner`` (its
    code) or one pledge ``status``; those the user may read (``aid.read`` over the
    pledge's unit). Days are in ``zone`` (the country's). Unknown partner:
    NotFoundError; a user without ``aid.read``: ForbiddenError."""
    pledges = _pledges(session, partner, status, principal)
    if not pledges:
        return []
    country = session.scalar(
        select(OrgUnit.code).where(OrgUnit.parent_id.is_(None)).order_by(OrgUnit.id)
    )
    regions = {
        str(code): str(name)
        for code, name in session.execute(
            select(OrgUnit.code, OrgUnit.name).where(OrgUnit.level == 2)
        )
    }
    got = _Gathered()
    for chunk in _chunks([p for p, _, _ in pledges]):
        got.read_pledges(session, chunk)
    for numbers in _chunks(sorted(got.numbers)):
        got.read_ledger(session, numbers)
    rows: list[ThreeWRow] = []
    for pledge, who, path in pledges:
        for item, quantity in got.lines[pledge.id]:
            key = (pledge.id, item.id)
            to = got.places.get(key, {})
            region = _region(path)
            if region is None:  # a national pledge: where its goods go, if one region
                found = {r for _name, r in to.values()}
                region = found.pop() if len(found) == 1 else None
            codes = tuple(sorted(to))
            shipped, received = got.shipped.get(key, 0), got.received.get(key, 0)
            departed, last = got.departed.get(key), got.last.get(key)
            rows.append(
                ThreeWRow(
                    pledge=pledge.number,
                    pledge_status=pledge.status,
                    request=got.requests.get(pledge.request_id) if pledge.request_id else None,
                    offer=got.offers.get(pledge.offer_id) if pledge.offer_id else None,
                    partner=who.code,
                    partner_name=who.name,
                    partner_kind=who.kind,
                    item=item.code,
                    item_name=item.name,
                    unit=item.unit,
                    category=item.category,
                    country=str(country or ""),
                    region=region,
                    region_name=regions.get(region) if region else None,
                    warehouses=codes,
                    warehouse_names=tuple(to[c][0] for c in codes),
                    pledged_on=_local_day(pledge.pledged_at, zone),
                    first_departure=_local_day(departed, zone) if departed else None,
                    last_receipt=_local_day(last, zone) if last else None,
                    pledged=quantity,
                    shipped=shipped,
                    received=received,
                    status=line_status(pledge.status, quantity, shipped, received),
                    illustrative=pledge.illustrative,
                )
            )
    return rows


def write_3w(
    rows: Iterable[ThreeWRow],
    output: Path | IO[str] | None = None,
    *,
    hxl: bool = False,
    neutralise_formulas: bool = True,
) -> int:
    """Write ``rows`` as CSV to ``output`` (a file, written atomically; a stream; None:
    stdout), with the HXL hashtags as a second row when ``hxl``; returns how many rows.
    Text cells a spreadsheet would run as formulas are neutralised unless told not to.
    """
    from sitroom.surveillance.export import CsvOut, atomic_output

    count = 0
    with atomic_output(output) as handle:
        writer = CsvOut(handle, neutralise_formulas)
        writer.writerow(HEADER)
        if hxl:
            writer.writerow(HXL_TAGS)
        for row in rows:
            writer.writerow([cell(row) for _name, _tag, cell in COLUMNS])
            count += 1
    return count


__all__ = [
    "ACTIVITY",
    "COLUMNS",
    "HEADER",
    "HXL_TAGS",
    "LINE_STATUSES",
    "SECTOR",
    "ThreeWRow",
    "line_status",
    "three_w",
    "write_3w",
]
