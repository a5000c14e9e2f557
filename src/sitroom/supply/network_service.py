"""The catalogue and the facility network as a user reads and edits them (issue #11, item 2).

The country configuration loads the items and the facilities
(:mod:`sitroom.supply.catalogue`); here the API (and any other door) lists
them, creates a facility, changes one, and declares an extra route. A
facility is checked as the loader checks the facilities file: a known type
and org unit, a unique code, and its supplier a facility higher in the chain
(:data:`~sitroom.supply.catalogue.RANKS`); changing a facility's type also
keeps it below its supplier and above its customers, so the supplier links
never form a cycle. A route is declared between two facilities that are not
already linked by a supplier link (transfers go along either).

Writers need ``stock.write`` over the facility's org unit (both the old and
the new one when it moves; both ends of a route), and over the supplier: the
one a new facility is given, and both the old and the new one when a
facility's supplier changes. Readers need ``stock.read``, and see the
facilities inside their scopes. Every write is serialised with the country's
set-up (its advisory lock on PostgreSQL, the write lock on SQLite).

A supplier is not changed while stock is in transit on the old link (sent
between the facility and its old supplier, either way, and not yet received):
once the link is gone its arrival could not be recorded (ConflictError naming
the transfers). On PostgreSQL the change holds the ledger's locks of both
facilities, so a transfer posted meanwhile is seen or waits.

Every write is audited: a ``stock_batch`` row without ledger entries, its
``source`` saying exactly what changed (:data:`~sitroom.supply.models.NETWORK_SOURCE`),
with the user, the channel and the time, listed by the audit trail
(``sitroom audit --kind supply``).

``sitroom setup`` loads the facilities file again: the facilities it lists
get the file's name, type, org unit and supplier back; those made here stay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from sitroom.auth.permissions import Permission, Principal, authorize
from sitroom.db import (
    DEFAULT_LOCK_TIMEOUT,
    LOCK_SPACE_CONFIGURATION,
    advisory_lock,
    begin_write,
    utcnow,
)
from sitroom.errors import ConflictError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.catalogue import RANKS
from sitroom.supply.ledger import LOCK_SPACE_STOCK, unit_word
from sitroom.supply.lookups import clean_text, find_facility
from sitroom.supply.models import (
    FACILITY_TYPES,
    NETWORK_SOURCE,
    Facility,
    Item,
    Route,
    StockBatch,
    StockEntry,
)
from sitroom.supply.scopes import below, within

#: Longest code and name (the columns' sizes).
MAX_CODE = 64
MAX_NAME = 200
#: Largest page of facilities.
MAX_PAGE = 10_000
#: The audit's text of one change (``stock_batch.source``'s size).
MAX_SOURCE = 500


@dataclass(frozen=True, slots=True)
class ItemView:
    code: str
    name: str
    unit: str
    category: str

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "unit": self.unit, "category": self.category}


@dataclass(frozen=True, slots=True)
class FacilityView:
    """A facility as the API shows it: its supplier and the routes declared from it."""

    code: str
    name: str
    type: str
    org_unit: str
    supplier: str | None
    routes_to: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "type": self.type,
            "org_unit": self.org_unit,
            "supplier": self.supplier,
            "routes_to": list(self.routes_to),
        }


@dataclass(frozen=True, slots=True)
class FacilityPage:
    total: int
    offset: int
    limit: int
    facilities: list[FacilityView]

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "offset": self.offset,
            "limit": self.limit,
            "facilities": [f.to_dict() for f in self.facilities],
        }


@dataclass(frozen=True, slots=True)
class RouteView:
    source: str
    destination: str
    declared_by: str
    declared_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "destination": self.destination,
            "declared_by": self.declared_by,
            "declared_at": self.declared_at.isoformat(),
        }


# Reading ------------------------------------------------------------------------------


def list_items(session: Session, *, principal: Principal | None = None) -> list[ItemView]:
    """Every item of the catalogue, by code (``stock.read``)."""
    if principal is not None:
        authorize(principal, Permission.STOCK_READ, None)
    return [
        ItemView(code, name, unit, category)
        for code, name, unit, category in session.execute(
            select(Item.code, Item.name, Item.unit, Item.category).order_by(Item.code)
        )
    ]


def list_facilities(
    session: Session,
    *,
    org_unit: str | None = None,
    facility_type: str | None = None,
    principal: Principal | None = None,
    offset: int = 0,
    limit: int = 1000,
) -> FacilityPage:
    """Facilities by code: of an org unit's subtree, of a type; those in the user's scopes.

    NotFoundError for an unknown org unit, ForbiddenError for one outside the
    scopes, SitroomError for an unknown type.
    """
    if principal is not None:
        authorize(principal, Permission.STOCK_READ, None)
    if facility_type is not None and facility_type not in FACILITY_TYPES:
        raise SitroomError(
            f"unknown facility type {facility_type!r}; choose one of {', '.join(FACILITY_TYPES)}"
        )
    supplier = aliased(Facility)
    query = (
        select(
            Facility.id, Facility.code, Facility.name, Facility.type, OrgUnit.code, supplier.code
        )
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .outerjoin(supplier, supplier.id == Facility.supplier_id)
    )
    if org_unit is not None:
        path = session.scalar(select(OrgUnit.path).where(OrgUnit.code == org_unit))
        if path is None:
            raise NotFoundError(f"unknown org unit {org_unit!r}")
        if principal is not None:
            authorize(principal, Permission.STOCK_READ, path)
        query = query.where(below(path))
    elif principal is not None:
        query = query.where(within(principal))
    if facility_type is not None:
        query = query.where(Facility.type == facility_type)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(query.order_by(Facility.code).offset(offset).limit(limit)).all()
    routes = _routes_from(session, [row[0] for row in rows])
    return FacilityPage(
        total=int(total),
        offset=offset,
        limit=limit,
        facilities=[
            FacilityView(code, name, kind, unit, supplied, tuple(routes.get(fid, ())))
            for fid, code, name, kind, unit, supplied in rows
        ],
    )


def _routes_from(session: Session, ids: list[int]) -> dict[int, list[str]]:
    if not ids:
        return {}
    destination = aliased(Facility)
    found: dict[int, list[str]] = {}
    for start in range(0, len(ids), 900):
        for source_id, code in session.execute(
            select(Route.source_id, destination.code)
            .join(destination, destination.id == Route.destination_id)
            .where(Route.source_id.in_(ids[start : start + 900]))
            .order_by(destination.code)
        ):
            found.setdefault(source_id, []).append(code)
    return found


def get_facility(
    session: Session, code: str, *, principal: Principal | None = None
) -> FacilityView:
    """One facility (``stock.read`` over its org unit); NotFoundError if unknown."""
    place, path = find_facility(session, code)
    if principal is not None:
        authorize(principal, Permission.STOCK_READ, path)
    return _view(session, place)


# Writing ------------------------------------------------------------------------------


def _unit(session: Session, code: str) -> OrgUnit:
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    if unit is None:
        raise NotFoundError(f"unknown org unit {code!r}")
    return unit


def _type(value: str) -> str:
    if value not in FACILITY_TYPES:
        raise SitroomError(
            f"unknown facility type {value!r}; choose one of {', '.join(FACILITY_TYPES)}"
        )
    return value


def _check_supplier(code: str, kind: str, supplier: Facility | None) -> None:
    """The loader's rule: a supplier is higher in the chain than its customer."""
    if supplier is None:
        return
    if supplier.code == code:
        raise ConflictError(f"{code} cannot supply itself")
    if RANKS[supplier.type] >= RANKS[kind]:
        raise ConflictError(
            f"a {supplier.type} ({supplier.code}) cannot supply a {kind}:"
            " a supplier is higher in the chain than its customer"
        )


def _view(session: Session, place: Facility) -> FacilityView:
    unit = session.scalar(select(OrgUnit.code).where(OrgUnit.id == place.org_unit_id))
    supplier = (
        session.scalar(select(Facility.code).where(Facility.id == place.supplier_id))
        if place.supplier_id is not None
        else None
    )
    routes = _routes_from(session, [place.id]).get(place.id, [])
    return FacilityView(place.code, place.name, place.type, unit or "", supplier, tuple(routes))


def _write(session: Session, lock_timeout: float, step: Callable[[], Any]) -> Any:
    begin_write(session, lock_timeout)
    try:
        advisory_lock(session, LOCK_SPACE_CONFIGURATION, 0)
        result = step()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def _audit(session: Session, text: str, *, user: str, channel: str, when: datetime) -> None:
    """The write in the audit trail: a stock batch without entries saying what changed."""
    source = NETWORK_SOURCE + text
    if len(source) > MAX_SOURCE:
        source = source[: MAX_SOURCE - 1] + "…"
    session.add(
        StockBatch(
            channel=channel,
            source=source,
            sha256=None,
            created_by=user,
            created_at=when,
            entries=0,
            simulated=False,
        )
    )
    session.flush()


def _path_of(session: Session, place: Facility) -> str:
    path: str = session.scalar(select(OrgUnit.path).where(OrgUnit.id == place.org_unit_id)) or ""
    return path


def _unit_code(session: Session, unit_id: int) -> str:
    return session.scalar(select(OrgUnit.code).where(OrgUnit.id == unit_id)) or ""


def create_facility(
    session: Session,
    *,
    code: str,
    name: str,
    facility_type: str,
    org_unit: str,
    user: str,
    supplier: str | None = None,
    channel: str = "cli",
    principal: Principal | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> FacilityView:
    """Add a facility at ``org_unit`` supplied by ``supplier`` (a facility code, or None at
    the top of the chain); ``stock.write`` over the org unit and over the supplier.
    ConflictError when the code is taken or the supplier is not higher in the chain;
    NotFoundError for an unknown org unit or supplier. Audited as ``user`` through
    ``channel``."""
    code = clean_text(code, "the code", most=MAX_CODE)
    name = clean_text(name, "the name", most=MAX_NAME)
    kind = _type(facility_type)

    def step() -> FacilityView:
        unit = _unit(session, org_unit)
        if principal is not None:
            authorize(principal, Permission.STOCK_WRITE, unit.path)
        above, above_path = (
            find_facility(session, supplier, "supplier") if supplier is not None else (None, "")
        )
        if principal is not None and above is not None:
            authorize(principal, Permission.STOCK_WRITE, above_path)
        if session.scalar(select(Facility.id).where(Facility.code == code)) is not None:
            raise ConflictError(f"facility {code} exists already")
        _check_supplier(code, kind, above)
        place = Facility(
            code=code,
            name=name,
            type=kind,
            org_unit_id=unit.id,
            supplier_id=above.id if above is not None else None,
        )
        session.add(place)
        session.flush()
        _audit(
            session,
            f"facility {code} created: name {name!r}, type {kind}, org unit {unit.code},"
            f" supplier {above.code if above is not None else 'none'}",
            user=user,
            channel=channel,
            when=now(),
        )
        return _view(session, place)

    view: FacilityView = _write(session, lock_timeout, step)
    return view


#: Left out of :func:`update_facility`: the field is not changed (None removes a supplier).
UNCHANGED: Any = object()


def _lock_stock(session: Session, *places: Facility) -> None:
    """PostgreSQL: the ledger's advisory locks of ``places``, in the ledger's order (by id),
    so that a post moving their stock is either done (and seen) or waits for the change."""
    for place_id in sorted({p.id for p in places}):
        advisory_lock(session, LOCK_SPACE_STOCK, place_id)


def _in_transit(session: Session, place: Facility, other: Facility) -> list[str]:
    """What was sent between ``place`` and ``other`` (either way) and not yet received:
    one phrase per reference, sender and item ("120 tablets of PARA-500 sent by ST-1
    under DO-2022-000001"). Out entries are negative at the sender, in entries positive
    at the receiver, reversals the opposite of what they reverse: what is still on
    the way is minus their sum (as the ledger reads it)."""
    pending: dict[tuple[str, int, str, str], int] = {}
    for reference, kind, facility, counterparty, item, unit, total in session.execute(
        select(
            StockEntry.reference,
            StockEntry.kind,
            StockEntry.facility_id,
            StockEntry.counterparty_id,
            Item.code,
            Item.unit,
            func.sum(StockEntry.quantity),
        )
        .join(Item, Item.id == StockEntry.item_id)
        .where(
            StockEntry.kind.in_(("transfer_out", "transfer_in")),
            or_(
                and_(StockEntry.facility_id == place.id, StockEntry.counterparty_id == other.id),
                and_(StockEntry.facility_id == other.id, StockEntry.counterparty_id == place.id),
            ),
        )
        .group_by(
            StockEntry.reference,
            StockEntry.kind,
            StockEntry.facility_id,
            StockEntry.counterparty_id,
            Item.code,
            Item.unit,
        )
    ):
        sender = facility if kind == "transfer_out" else (counterparty or 0)
        key = (reference or "", sender, item, unit)
        pending[key] = pending.get(key, 0) - int(total)
    codes = {place.id: place.code, other.id: other.code}
    return [
        f"{unit_word(units, unit)} of {item} sent by {codes[sender]}"
        + (f" under {reference}" if reference else " without a reference")
        for (reference, sender, item, unit), units in sorted(pending.items())
        if units > 0
    ]


def update_facility(
    session: Session,
    code: str,
    *,
    user: str,
    name: str | None = None,
    facility_type: str | None = None,
    org_unit: str | None = None,
    supplier: Any = UNCHANGED,
    channel: str = "cli",
    principal: Principal | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> FacilityView:
    """Change a facility's name, type, org unit or supplier (``None``: no supplier).

    ``stock.write`` over its org unit, and over the new one when it moves; a
    new supplier takes ``stock.write`` over the facility, the old supplier and
    the new one. A new type or supplier keeps the facility below its supplier
    and above each of its customers (ConflictError naming the one that is
    not); a supplier does not change while stock is in transit between the
    facility and the old one (ConflictError naming what is on the way). Stock
    and orders keep pointing at the facility: they follow it. Audited as
    ``user`` through ``channel``, each field changed with its old and new value
    (nothing changed: nothing audited).
    """
    new_name = clean_text(name, "the name", most=MAX_NAME) if name is not None else None
    new_kind = _type(facility_type) if facility_type is not None else None

    def step() -> FacilityView:
        place, path = find_facility(session, code)
        if principal is not None:
            authorize(principal, Permission.STOCK_WRITE, path)
        changes = []
        if org_unit is not None:
            unit = _unit(session, org_unit)
            if principal is not None:
                authorize(principal, Permission.STOCK_WRITE, unit.path)
            if unit.id != place.org_unit_id:
                changes.append(f"org unit {_unit_code(session, place.org_unit_id)} -> {unit.code}")
            place.org_unit_id = unit.id
        kind = new_kind or place.type
        old = session.get(Facility, place.supplier_id) if place.supplier_id else None
        if supplier is UNCHANGED:
            above = old
        elif supplier is None:
            above = None
        else:
            above = find_facility(session, supplier, "supplier")[0]
        relinked = (above.id if above else None) != (old.id if old else None)
        if relinked and principal is not None:
            for end in (old, above):
                if end is not None:
                    authorize(principal, Permission.STOCK_WRITE, _path_of(session, end))
        _check_supplier(place.code, kind, above)
        for customer in session.scalars(select(Facility).where(Facility.supplier_id == place.id)):
            if RANKS[kind] >= RANKS[customer.type]:
                raise ConflictError(
                    f"{place.code} supplies {customer.code}, a {customer.type}: a {kind} cannot"
                    " (a supplier is higher in the chain than its customer)"
                )
        if relinked and old is not None:
            _lock_stock(session, place, old)
            pending = _in_transit(session, place, old)
            if pending:
                shown = "; ".join(pending[:5]) + (
                    f"; and {len(pending) - 5} more" if len(pending) > 5 else ""
                )
                raise ConflictError(
                    f"{place.code}'s supplier cannot change from {old.code} while stock is in"
                    f" transit between them ({shown}): record its arrival (transfer_in) or"
                    " reverse the transfer first"
                )
        if new_name is not None and new_name != place.name:
            changes.insert(0, f"name {place.name!r} -> {new_name!r}")
            place.name = new_name
        if kind != place.type:
            changes.append(f"type {place.type} -> {kind}")
        if relinked:
            changes.append(
                f"supplier {old.code if old else 'none'} -> {above.code if above else 'none'}"
            )
        place.type = kind
        place.supplier_id = above.id if above is not None else None
        session.flush()
        if changes:
            _audit(
                session,
                f"facility {place.code} changed: " + "; ".join(changes),
                user=user,
                channel=channel,
                when=now(),
            )
        return _view(session, place)

    view: FacilityView = _write(session, lock_timeout, step)
    return view


def declare_route(
    session: Session,
    source: str,
    destination: str,
    *,
    user: str,
    channel: str = "cli",
    principal: Principal | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    now: Callable[[], datetime] = utcnow,
) -> RouteView:
    """Declare a route from ``source`` to ``destination`` besides the supplier links
    (a warehouse lending to its neighbour): ``stock.write`` over both facilities.

    ConflictError when the two are one facility, already linked by a supplier
    link, or the route is declared already. Audited as ``user`` through ``channel``.
    """

    def step() -> RouteView:
        src, src_path = find_facility(session, source, "source")
        dst, dst_path = find_facility(session, destination, "destination")
        if principal is not None:
            authorize(principal, Permission.STOCK_WRITE, src_path)
            authorize(principal, Permission.STOCK_WRITE, dst_path)
        if src.id == dst.id:
            raise ConflictError(f"a route goes to another facility, not from {source} to itself")
        if dst.supplier_id == src.id or src.supplier_id == dst.id:
            upper, lower = (src, dst) if dst.supplier_id == src.id else (dst, src)
            raise ConflictError(
                f"{upper.code} supplies {lower.code}: transfers between them go along that"
                " link already"
            )
        declared = session.execute(
            select(Route.declared_by, Route.declared_at).where(
                Route.source_id == src.id, Route.destination_id == dst.id
            )
        ).first()
        if declared is not None:
            raise ConflictError(
                f"the route from {source} to {destination} was declared already"
                f" (by {declared[0]}, {declared[1]:%Y-%m-%d %H:%M} UTC)"
            )
        when = now()
        route = Route(source_id=src.id, destination_id=dst.id, declared_by=user, declared_at=when)
        session.add(route)
        session.flush()
        _audit(
            session,
            f"route declared from {src.code} to {dst.code}",
            user=user,
            channel=channel,
            when=when,
        )
        return RouteView(src.code, dst.code, route.declared_by, route.declared_at)

    view: RouteView = _write(session, lock_timeout, step)
    return view


__all__ = [
    "UNCHANGED",
    "FacilityPage",
    "FacilityView",
    "ItemView",
    "RouteView",
    "create_facility",
    "declare_route",
    "get_facility",
    "list_facilities",
    "list_items",
    "update_facility",
]
