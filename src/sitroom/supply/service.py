"""The supply chain's services: what the command line, the API and the pages call.

Reads (stock on hand now or at any moment, in transit, the ledger) and the
writes that are not plain movements (importing a file, reversing a batch),
each over :mod:`sitroom.supply.ledger`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from sitroom.auth.permissions import Permission, Principal, authorize
from sitroom.db import DEFAULT_LOCK_TIMEOUT, utcnow
from sitroom.errors import NotFoundError
from sitroom.places.models import OrgUnit
from sitroom.supply.events_csv import ReadFile, read_events
from sitroom.supply.ledger import Ledger, PostSummary
from sitroom.supply.models import Facility, Item, Lot, StockBalance, StockEntry
from sitroom.supply.scopes import below, within


def import_events(
    session: Session,
    path: Path,
    zone: Any,
    *,
    user: str,
    channel: str = "file",
    principal: Principal | None = None,
    dry_run: bool = False,
    shown: str | None = None,
    simulated: bool = False,
) -> PostSummary:
    """Import a CSV file of stock events: every row or none (see ``ledger``).

    Rows that cannot be read and rows the ledger refuses are all listed (the
    ledger checks the readable rows as if the others were not there); nothing
    is written unless every row is good. The same file again writes nothing
    (``previously_imported``). ``zone`` is the country's time zone: local times
    without an offset are read in it, and the ledger compares expiry dates with
    the day there.
    """
    shown = shown or str(path)
    read = read_events(path, zone, shown)
    ledger = Ledger(
        session,
        user=user,
        channel=channel,
        principal=principal,
        simulated=simulated,
        zone=zone,
    )
    return _post_read(ledger, read, shown, dry_run)


def post_read(
    session: Session,
    read: ReadFile,
    *,
    zone: tzinfo,
    user: str,
    shown: str,
    channel: str = "api",
    principal: Principal | None = None,
    dry_run: bool = False,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> PostSummary:
    """:func:`import_events` of events CSV already read (``events_csv.parse_events`` of a
    request's body): the same rules and summary; every row or none; the same text again
    writes nothing. ``zone``: the country's time zone (the one the text was read in)."""
    ledger = Ledger(
        session,
        user=user,
        channel=channel,
        principal=principal,
        lock_timeout=lock_timeout,
        zone=zone,
    )
    return _post_read(ledger, read, shown, dry_run)


def _post_read(ledger: Ledger, read: ReadFile, shown: str, dry_run: bool) -> PostSummary:
    if read.rejections:
        summary = ledger.post(read.movements, source=shown, dry_run=True)
        summary.dry_run = dry_run
        summary.movements += len(read.rejections)
        for rejection in read.rejections:
            summary.reject(rejection.line, rejection.field, rejection.reason)
        summary.rejections.sort(key=lambda r: (r.line or 0, r.field or ""))
        return summary
    return ledger.post(read.movements, source=shown, sha256=read.sha256, dry_run=dry_run)


@dataclass(frozen=True, slots=True)
class StockLine:
    """Stock on hand of one lot of one item at one facility."""

    facility: str
    facility_type: str
    org_unit: str
    item: str
    unit: str
    lot: str
    expiry: str
    quantity: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "facility": self.facility,
            "facility_type": self.facility_type,
            "org_unit": self.org_unit,
            "item": self.item,
            "unit": self.unit,
            "lot": self.lot,
            "expiry": self.expiry,
            "quantity": self.quantity,
        }


def lot_stock(facility_id: int, at: datetime) -> Any:
    """``facility_id``'s stock per item and lot at ``at``, as a subquery of
    ``item_id``, ``lot_id`` and ``quantity``: the maintained balances when ``at``
    is now or later, the ledger summed up to ``at`` (included) before, so that
    what is read of a past moment does not change with what was posted since."""
    if at >= utcnow() - timedelta(seconds=1):
        return (
            select(
                StockBalance.item_id.label("item_id"),
                StockBalance.lot_id.label("lot_id"),
                StockBalance.quantity.label("quantity"),
            )
            .where(StockBalance.facility_id == facility_id)
            .subquery()
        )
    return (
        select(
            StockEntry.item_id.label("item_id"),
            StockEntry.lot_id.label("lot_id"),
            func.sum(StockEntry.quantity).label("quantity"),
        )
        .where(StockEntry.facility_id == facility_id, StockEntry.time <= at)
        .group_by(StockEntry.item_id, StockEntry.lot_id)
        .subquery()
    )


def _stock_query(
    session: Session,
    *,
    at: datetime | None,
    facility: str | None,
    item: str | None,
    under: str | None,
    principal: Principal | None,
    zero: bool,
) -> Any:
    """The lines of :func:`stock_on_hand` as one query, filtered in the database (the
    user's scopes too), unordered; NotFoundError and ForbiddenError as it says."""
    if principal is not None:
        authorize(principal, Permission.STOCK_READ, None)
    if at is None:
        quantity = StockBalance.quantity
        keys = (StockBalance.facility_id, StockBalance.item_id, StockBalance.lot_id)
        source: Any = select(*keys, quantity.label("quantity")).subquery()
    else:
        source = (
            select(
                StockEntry.facility_id,
                StockEntry.item_id,
                StockEntry.lot_id,
                func.sum(StockEntry.quantity).label("quantity"),
            )
            .where(StockEntry.time <= at)
            .group_by(StockEntry.facility_id, StockEntry.item_id, StockEntry.lot_id)
            .subquery()
        )
    query = (
        select(
            Facility.code,
            Facility.type,
            OrgUnit.code,
            Item.code,
            Item.unit,
            Lot.code,
            Lot.expiry,
            source.c.quantity,
        )
        .join(Facility, Facility.id == source.c.facility_id)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .join(Item, Item.id == source.c.item_id)
        .join(Lot, Lot.id == source.c.lot_id)
    )
    if not zero:
        query = query.where(source.c.quantity != 0)
    if facility is not None:
        path = session.scalar(
            select(OrgUnit.path)
            .join(Facility, Facility.org_unit_id == OrgUnit.id)
            .where(Facility.code == facility)
        )
        if path is None:
            raise NotFoundError(f"unknown facility {facility!r}")
        if principal is not None:
            authorize(principal, Permission.STOCK_READ, path)
        query = query.where(Facility.code == facility)
    if item is not None:
        _known(session, Item, item, "item")
        query = query.where(Item.code == item)
    if under is not None:
        path = session.scalar(select(OrgUnit.path).where(OrgUnit.code == under))
        if path is None:
            raise NotFoundError(f"unknown org unit {under!r}")
        if principal is not None:
            authorize(principal, Permission.STOCK_READ, path)
        query = query.where(below(path))
    if principal is not None:
        query = query.where(within(principal))
    return query


def _stock_lines(session: Session, query: Any) -> list[StockLine]:
    return [
        StockLine(f_code, f_type, unit, i_code, i_unit, lot, expiry.isoformat(), int(quantity))
        for f_code, f_type, unit, i_code, i_unit, lot, expiry, quantity in session.execute(
            query.order_by(Facility.code, Item.code, Lot.expiry, Lot.code)
        )
    ]


def stock_on_hand(
    session: Session,
    *,
    at: datetime | None = None,
    facility: str | None = None,
    item: str | None = None,
    under: str | None = None,
    principal: Principal | None = None,
    zero: bool = False,
) -> list[StockLine]:
    """Stock on hand per facility, item and lot: now (the maintained balances) or ``at``
    any moment (the ledger summed up to it). ``under``: the facilities of an org
    unit's subtree (its code); the user's scopes limit what is shown (``stock.read``;
    a facility or org unit named outside them is ForbiddenError)."""
    query = _stock_query(
        session,
        at=at,
        facility=facility,
        item=item,
        under=under,
        principal=principal,
        zero=zero,
    )
    return _stock_lines(session, query)


def stock_page(
    session: Session,
    *,
    offset: int = 0,
    limit: int = 1000,
    at: datetime | None = None,
    facility: str | None = None,
    item: str | None = None,
    under: str | None = None,
    principal: Principal | None = None,
) -> tuple[int, list[StockLine]]:
    """A page of :func:`stock_on_hand` (by facility, item, expiry and lot) and how many
    lines there are in all: counted and paged by the database."""
    query = _stock_query(
        session,
        at=at,
        facility=facility,
        item=item,
        under=under,
        principal=principal,
        zero=False,
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return int(total), _stock_lines(session, query.offset(offset).limit(limit))


@dataclass(frozen=True, slots=True)
class StockMatrix:
    """Stock on hand of every facility (rows) and item (columns), all lots added up."""

    facilities: list[str]
    items: list[str]
    #: int64, facilities x items.
    quantity: Any

    def of(self, facility: str, item: str) -> int:
        return int(self.quantity[self.facilities.index(facility), self.items.index(item)])


def stock_matrix(session: Session, *, at: datetime | None = None) -> StockMatrix:
    """Stock on hand of all facilities and items at once, as a matrix (for the
    allocation, the map and the benchmark): now from the maintained balances, or
    ``at`` any moment from the ledger (summed up to it). Facilities and items in
    the order of their codes; no scopes (callers that show it check them).

    Read through the driver's cursor, not the ORM: a matrix of plain integers needs
    no type processing, and no Python object per balance either: on PostgreSQL the
    sums come as a binary ``COPY`` read straight into numpy, on SQLite as one text
    of (facility and item as one number, sum) pairs that numpy parses."""
    import numpy as np

    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    cursor = connection.connection.cursor()
    try:
        cursor.execute("SELECT code, id FROM supply_facility")
        facilities = sorted(cursor.fetchall())
        cursor.execute("SELECT code, id FROM supply_item")
        items = sorted(cursor.fetchall())
        if at is None:
            # Every balance as it is (a lot each), added up here: the database's
            # GROUP BY cost more than the scan (and spilled to disk on PostgreSQL).
            sql = (
                "SELECT facility_id AS f, item_id AS i, quantity AS q FROM stock_balance"
                " WHERE quantity <> 0"
            )
            params: tuple[Any, ...] = ()
        else:
            # The time as UTCDateTime stores it (naive UTC text on SQLite).
            utc = at.astimezone(UTC)
            sql = (
                "SELECT facility_id AS f, item_id AS i, SUM(quantity)"
                f"{'' if sqlite else '::bigint'} AS q FROM stock_entry"
                f" WHERE time <= {'?' if sqlite else '%s'} GROUP BY facility_id, item_id"
            )
            params = (utc.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else utc,)
        if sqlite:
            width = max((iid for _, iid in items), default=0) + 1
            cursor.execute(
                f"SELECT group_concat((f * {width} + i) || ',' || q, ',') FROM ({sql})", params
            )
            (text,) = cursor.fetchone() or (None,)
            pairs = np.fromstring(text or "", dtype=np.int64, sep=",").reshape(-1, 2)
            got = np.stack([pairs[:, 0] // width, pairs[:, 0] % width, pairs[:, 1]], axis=1)
        else:
            got = _copy_int64(cursor, sql, params)
    finally:
        cursor.close()
    quantity = np.zeros((len(facilities), len(items)), dtype=np.int64)
    if len(got):
        # Ids to rows and columns through arrays indexed by id (not a dict per balance).
        row = np.full(max(fid for _, fid in facilities) + 1, -1, dtype=np.int64)
        row[[fid for _, fid in facilities]] = np.arange(len(facilities))
        column = np.full(max(iid for _, iid in items) + 1, -1, dtype=np.int64)
        column[[iid for _, iid in items]] = np.arange(len(items))
        np.add.at(quantity, (row[got[:, 0]], column[got[:, 1]]), got[:, 2])
    return StockMatrix([c for c, _ in facilities], [c for c, _ in items], quantity)


#: A row of ``COPY ... (FORMAT BINARY)`` of (int4, int4, int8), none NULL: the field
#: count, then each field's length and value, big-endian.
_BINARY_ROW = [
    ("fields", ">i2"),
    ("l0", ">i4"),
    ("a", ">i4"),
    ("l1", ">i4"),
    ("b", ">i4"),
    ("l2", ">i4"),
    ("c", ">i8"),
]
#: The binary COPY's header (signature, flags, extension length) and trailer.
_BINARY_HEADER = 19
_BINARY_TRAILER = 2


def _copy_int64(cursor: Any, sql: str, params: tuple[Any, ...]) -> Any:
    """PostgreSQL: the rows of ``sql`` (integer, integer, bigint, never NULL) as an n x 3 int64
    array, read as one binary ``COPY`` (psycopg binds ``params`` client-side)."""
    import numpy as np
    from psycopg import sql as pgsql

    query = pgsql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(
        pgsql.SQL(sql.replace("%s", "{}")).format(*(pgsql.Literal(p) for p in params))
    )
    buffer = bytearray()
    with cursor.copy(query) as copy:
        for block in copy:
            buffer += block
    body = memoryview(buffer)[_BINARY_HEADER : len(buffer) - _BINARY_TRAILER]
    rows = np.frombuffer(body, dtype=np.dtype(_BINARY_ROW))
    if len(rows) and not (
        (rows["fields"] == 3).all() and (rows["l0"] == 4).all() and (rows["l2"] == 8).all()
    ):
        raise RuntimeError("unexpected binary COPY layout")
    return np.stack([rows["a"], rows["b"], rows["c"]], axis=1).astype(np.int64)


def _known(session: Session, model: type[Facility] | type[Item], code: str, what: str) -> None:
    if session.scalar(select(model.id).where(model.code == code)) is None:
        raise NotFoundError(f"unknown {what} {code!r}")


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A balance that is not what the ledger adds up to."""

    facility: str
    item: str
    lot: str
    balance: int | None
    ledger: int
    lowest: int | None = None

    def sentence(self) -> str:
        if self.lowest is not None and self.lowest < 0:
            return (
                f"{self.facility} {self.item} lot {self.lot}: the ledger's running stock falls"
                f" to {self.lowest:,}"
            )
        return (
            f"{self.facility} {self.item} lot {self.lot}: balance"
            f" {'missing' if self.balance is None else f'{self.balance:,}'},"
            f" ledger {self.ledger:,}"
        )


@dataclass(slots=True)
class Verification:
    entries: int
    balances: int
    mismatches: list[Mismatch]

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "balances": self.balances,
            "mismatches": [
                {
                    "facility": m.facility,
                    "item": m.item,
                    "lot": m.lot,
                    "balance": m.balance,
                    "ledger": m.ledger,
                    "lowest": m.lowest,
                    "sentence": m.sentence(),
                }
                for m in self.mismatches
            ],
        }


def _scoped_facilities(principal: Principal) -> Any:
    """The ids of the facilities in the user's scopes, as a subquery."""
    return (
        select(Facility.id)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .where(within(principal))
    )


def verify(
    session: Session, *, running: bool = True, principal: Principal | None = None
) -> Verification:
    """Replay the whole ledger: every balance must be its lot's sum of entries, and
    (``running``) no lot's stock may ever have gone below zero in time order.

    ``principal``: the facilities in the user's scopes only (``stock.write``, as the
    API's check of the whole ledger needs it over the country)."""
    entry_filter: list[Any] = []
    balance_filter: list[Any] = []
    if principal is not None:
        authorize(principal, Permission.STOCK_WRITE, None)
        entry_filter.append(StockEntry.facility_id.in_(_scoped_facilities(principal)))
        balance_filter.append(StockBalance.facility_id.in_(_scoped_facilities(principal)))
    sums = {
        (f, i, lot): int(q)
        for f, i, lot, q in session.execute(
            select(
                StockEntry.facility_id,
                StockEntry.item_id,
                StockEntry.lot_id,
                func.sum(StockEntry.quantity),
            )
            .where(*entry_filter)
            .group_by(StockEntry.facility_id, StockEntry.item_id, StockEntry.lot_id)
        )
    }
    balances = {
        (f, i, lot): int(q)
        for f, i, lot, q in session.execute(
            select(
                StockBalance.facility_id,
                StockBalance.item_id,
                StockBalance.lot_id,
                StockBalance.quantity,
            ).where(*balance_filter)
        )
    }
    entries = session.scalar(select(func.count(StockEntry.id)).where(*entry_filter)) or 0
    bad: list[tuple[tuple[int, int, int], int | None, int, int | None]] = []
    for key in sums.keys() | balances.keys():
        if sums.get(key, 0) != balances.get(key, 0 if key not in sums else None):
            bad.append((key, balances.get(key), sums.get(key, 0), None))
    if running:
        current: dict[tuple[int, int, int], int] = {}
        lowest: dict[tuple[int, int, int], int] = {}
        rows = session.execute(
            select(
                StockEntry.facility_id, StockEntry.item_id, StockEntry.lot_id, StockEntry.quantity
            )
            .where(*entry_filter)
            .order_by(StockEntry.time, StockEntry.id)
            .execution_options(yield_per=50_000)
        )
        for f, i, lot, q in rows:
            key = (f, i, lot)
            level = current.get(key, 0) + q
            current[key] = level
            if level < lowest.get(key, 0):
                lowest[key] = level
        for key, low in lowest.items():
            bad.append((key, balances.get(key), sums.get(key, 0), low))
    names = _names(session, {k for k, *_ in bad})
    return Verification(
        entries,
        len(balances),
        [Mismatch(*names[key], balance, ledger, low) for key, balance, ledger, low in bad],
    )


def _names(
    session: Session, keys: set[tuple[int, int, int]]
) -> dict[tuple[int, int, int], tuple[str, str, str]]:
    if not keys:
        return {}
    facilities = dict(session.execute(select(Facility.id, Facility.code)).all())
    items = dict(session.execute(select(Item.id, Item.code)).all())
    lots = dict(session.execute(select(Lot.id, Lot.code)).all())
    return {k: (facilities[k[0]], items[k[1]], lots[k[2]]) for k in keys}


@dataclass(slots=True)
class StockPicture:
    """The stock of the whole chain at a moment, as the report and the pages show it."""

    at: datetime
    #: Units per item and facility type.
    by_level: dict[str, dict[str, int]]
    #: Per item and region (org-unit code of the reporting level): pharmacies that had
    #: received the item by then, and those of them with none left.
    pharmacies: dict[str, dict[str, tuple[int, int]]]
    #: Units per item sent and not yet received.
    in_transit: dict[str, int]
    units: dict[str, str]
    entries: int
    simulated: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "by_level": self.by_level,
            "pharmacies": {
                item: {region: {"supplied": n, "out": out} for region, (n, out) in regions.items()}
                for item, regions in self.pharmacies.items()
            },
            "in_transit": self.in_transit,
            "units": self.units,
            "entries": self.entries,
            "simulated": self.simulated,
        }


def stock_picture(session: Session, at: datetime, *, region_level: int = 2) -> StockPicture:
    """Stock by item and level at ``at``, stock-outs of pharmacies per region, in transit.

    A pharmacy counts as out of an item when it had received some before
    ``at`` and holds none at ``at`` (a pharmacy never supplied is not "out").
    """
    region = aliased(OrgUnit)
    upto = StockEntry.time <= at
    per_facility = (
        select(
            StockEntry.facility_id.label("facility_id"),
            StockEntry.item_id.label("item_id"),
            func.sum(StockEntry.quantity).label("quantity"),
            func.sum(
                case(
                    (StockEntry.kind.in_(("receipt", "transfer_in")), StockEntry.quantity), else_=0
                )
            ).label("received"),
        )
        .where(upto)
        .group_by(StockEntry.facility_id, StockEntry.item_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Item.code,
            Item.unit,
            Facility.type,
            region.code,
            per_facility.c.quantity,
            per_facility.c.received,
        )
        .join(Facility, Facility.id == per_facility.c.facility_id)
        .join(Item, Item.id == per_facility.c.item_id)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .outerjoin(
            region,
            (region.level == region_level)
            & func.substr(OrgUnit.path, 1, func.length(region.path)).__eq__(region.path),
        )
    ).all()
    by_level: dict[str, dict[str, int]] = {}
    pharmacies: dict[str, dict[str, list[int]]] = {}
    units: dict[str, str] = {}
    for item, unit, kind, place, quantity, received in rows:
        units[item] = unit
        level = by_level.setdefault(item, {})
        level[kind] = level.get(kind, 0) + int(quantity or 0)
        if kind == "pharmacy" and place is not None and int(received or 0) > 0:
            counts = pharmacies.setdefault(item, {}).setdefault(place, [0, 0])
            counts[0] += 1
            counts[1] += int(quantity or 0) <= 0
    transit: dict[str, int] = {}
    for item, total in session.execute(
        select(Item.code, func.sum(StockEntry.quantity))
        .join(Item, Item.id == StockEntry.item_id)
        .where(upto, StockEntry.kind.in_(("transfer_out", "transfer_in")))
        .group_by(Item.code)
    ):
        transit[item] = max(0, -int(total or 0))
    entries = session.scalar(select(func.count(StockEntry.id)).where(upto)) or 0
    simulated = bool(
        session.scalar(select(StockEntry.id).where(upto, StockEntry.simulated).limit(1))
    )
    return StockPicture(
        at=at,
        by_level=by_level,
        pharmacies={
            item: {r: (n, out) for r, (n, out) in sorted(regions.items())}
            for item, regions in pharmacies.items()
        },
        in_transit=transit,
        units=units,
        entries=int(entries),
        simulated=simulated,
    )


class LedgerEntry(NamedTuple):
    """One entry of the ledger as :func:`ledger_entries` reads it."""

    time: datetime
    kind: str
    facility: str
    item: str
    lot: str
    expiry: date
    quantity: int
    counted: int | None
    counterparty_facility: str | None
    counterparty: str | None
    reason: str | None
    reference: str | None
    patients: int | None
    simulated: bool


def ledger_entries(
    session: Session,
    *,
    facility: str | None = None,
    items: Sequence[str] | None = None,
    since: datetime | None = None,
    yield_per: int = 10_000,
    principal: Principal | None = None,
) -> Iterator[LedgerEntry]:
    """The ledger's entries (of ``facility``, of ``items``, from ``since`` on), in time
    order, with their facility, item, lot and counterparty by code. Reversed entries and
    their reversals are left out (their sum is nothing).

    ``principal``: the entries of the facilities in the user's scopes
    (``stock.read``); a facility named outside them is ForbiddenError. The checks
    are made when this is called, before the first entry is read.
    """
    other = aliased(Facility)
    reversed_ids = select(StockEntry.reverses_id).where(StockEntry.reverses_id.is_not(None))
    query = (
        select(
            StockEntry.time,
            StockEntry.kind,
            Facility.code,
            Item.code,
            Lot.code,
            Lot.expiry,
            StockEntry.quantity,
            StockEntry.counted,
            other.code,
            StockEntry.counterparty,
            StockEntry.reason,
            StockEntry.reference,
            StockEntry.patients,
            StockEntry.simulated,
        )
        .join(Facility, Facility.id == StockEntry.facility_id)
        .join(Item, Item.id == StockEntry.item_id)
        .join(Lot, Lot.id == StockEntry.lot_id)
        .outerjoin(other, other.id == StockEntry.counterparty_id)
        .where(StockEntry.reverses_id.is_(None), StockEntry.id.not_in(reversed_ids))
        .order_by(StockEntry.time, StockEntry.id)
        .execution_options(yield_per=yield_per)
    )
    if principal is not None:
        authorize(principal, Permission.STOCK_READ, None)
    if facility is not None:
        path = session.scalar(
            select(OrgUnit.path)
            .join(Facility, Facility.org_unit_id == OrgUnit.id)
            .where(Facility.code == facility)
        )
        if path is None:
            raise NotFoundError(f"unknown facility {facility!r}")
        if principal is not None:
            authorize(principal, Permission.STOCK_READ, path)
        query = query.where(Facility.code == facility)
    elif principal is not None:
        query = query.where(StockEntry.facility_id.in_(_scoped_facilities(principal)))
    if items:
        query = query.where(Item.code.in_(items))
    if since is not None:
        query = query.where(StockEntry.time >= since)
    return _entries(session, query)


def _entries(session: Session, query: Any) -> Iterator[LedgerEntry]:
    for row in session.execute(query):
        yield LedgerEntry._make(row)


def ledger_rows(
    session: Session,
    *,
    facility: str | None = None,
    since: datetime | None = None,
    recorded_counts: bool = False,
    principal: Principal | None = None,
) -> Iterator[dict[str, object]]:
    """The ledger (of ``facility``; from ``since`` on) as the import's CSV rows, in time
    order: imported into an empty ledger, they give the same stock on hand per
    facility, item and lot.

    Reversed entries and their reversals are left out (their sum is nothing);
    each row names its lot; an issue's quantity is positive, as the import reads
    it; times are UTC with their offset; stocktakes as :func:`export_rows` says.
    ``recorded_counts``: each stocktake with the count recorded instead (the
    evidence of an inspection; not for importing). ``principal``: the facilities
    in the user's scopes, checked when this is called (:func:`ledger_entries`).
    """
    entries = ledger_entries(session, facility=facility, since=since, principal=principal)
    return export_rows((tuple(e)[:13] for e in entries), recorded_counts=recorded_counts)


def export_rows(
    entries: Iterable[tuple[Any, ...]], *, recorded_counts: bool = False
) -> Iterator[dict[str, object]]:
    """The CSV rows of ledger entries in time order (:func:`ledger_rows`' columns:
    time, kind, facility, item, lot, expiry, quantity (signed), counted,
    counterparty facility, counterparty, reason, reference, patients).

    A stocktake is exported as the level its lot stands at after it in the rows
    exported (the level before it, plus the difference the stocktake made), so
    that importing the rows makes the same difference again. That is the count
    recorded unless entries were reversed or back-dated across the stocktake
    after it was posted: a reversal takes its entry back at the entry's time,
    before a count that had seen it, and the count recorded would then set the
    lot to a level it no longer has. A stocktake of a lot that no row exported
    before it brings in (its only receipt was reversed) would name a lot the
    import does not know: left out when it leaves nothing, otherwise exported as
    the ``found`` adjustment it amounts to.
    """
    levels: dict[tuple[str, str, str], int] = defaultdict(int)
    brought: set[tuple[str, str]] = set()
    for entry in entries:
        when, kind, place, item, lot, expiry, qty, counted, other_code, party, why, ref, pts = entry
        key = (place, item, lot)
        levels[key] += int(qty)
        event, quantity, reason = kind, abs(int(qty)), why
        if kind == "stocktake" and recorded_counts:
            quantity = counted
        elif kind == "stocktake":
            quantity = levels[key]
            if (item, lot) not in brought:
                if quantity == 0:
                    continue
                event, reason = "adjust", "found"
        if event == "receipt" or (event == "adjust" and reason == "found"):
            # The rows the import makes a new lot with (the row's expiry).
            brought.add((item, lot))
        yield {
            "time": when.isoformat(),
            "event": event,
            "facility": place,
            "item": item,
            "lot": lot,
            "expiry": expiry.isoformat(),
            "quantity": quantity,
            "counterparty": other_code or party,
            "reason": reason,
            "reference": ref,
            "patients": pts,
        }


def reverse(
    session: Session,
    batch_id: int,
    *,
    reason: str,
    user: str,
    channel: str = "cli",
    principal: Principal | None = None,
) -> PostSummary:
    """Correct a batch: new entries with the opposite quantities, never an edit
    (:meth:`Ledger.reverse`)."""
    ledger = Ledger(session, user=user, channel=channel, principal=principal)
    return ledger.reverse(batch_id, reason=reason)


__all__ = [
    "LedgerEntry",
    "Mismatch",
    "StockLine",
    "StockMatrix",
    "StockPicture",
    "Verification",
    "export_rows",
    "import_events",
    "ledger_entries",
    "ledger_rows",
    "lot_stock",
    "post_read",
    "reverse",
    "stock_matrix",
    "stock_on_hand",
    "stock_page",
    "stock_picture",
    "verify",
]
