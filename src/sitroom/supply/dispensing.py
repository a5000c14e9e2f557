"""A pharmacy's or hospital's day of dispensing (issue #11, item 5): the pharmacist's form.

What the web form (``/dispense/{facility}/{day}``) shows and writes, over the
ledger like every other write of stock:

- :func:`dispensing_places`: the pharmacies and hospitals the user may
  dispense at (``stock.dispense`` or ``stock.write`` over them);
- :func:`day_sheet`: for one facility and one local day (the country's time
  zone, midnight to midnight), the items of the country's treatment protocols,
  each with the stock on hand (usable lots, and the expired ones left out) and
  the day's dispensing already recorded, batch by batch;
- :func:`record_day`: the units and patients of each item, posted as
  ``dispense`` movements through :class:`~sitroom.supply.ledger.Ledger`, all or
  nothing: refused with the ledger's own message (not enough stock, with what is
  there), nothing written. Today's are dated now; an earlier day's at the end of
  that day (23:59:59 local), so that the stock received that day counts;
- :func:`correct_batch`: a correction is a reversal (:meth:`Ledger.reverse`)
  of a batch the form wrote, with a reason; the right figures are then entered
  again. A batch that also moved other facilities' stock (a file, the
  simulation) is not reversed here: that would undo the others' too.

Patients are per item, as the ledger keeps them (the ``patients`` of each
``dispense`` entry): the patients treated with that item, so that "units per
patient" means the same in the detector as on the form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal, authorize
from sitroom.country import Country
from sitroom.db import utcnow
from sitroom.errors import ForbiddenError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.indicators import DISPENSING_TYPES
from sitroom.supply.ledger import Ledger, Movement, PostSummary
from sitroom.supply.models import Facility, Item, Lot, StockBatch, StockEntry
from sitroom.supply.scopes import within
from sitroom.supply.service import lot_stock

#: Most places a chooser lists at once (a national pharmacist's scope holds thousands).
MAX_CHOICES = 50


@dataclass(frozen=True, slots=True)
class Place:
    """A facility that dispenses, as the form names it."""

    code: str
    name: str
    type: str
    org_unit: str
    org_unit_name: str
    path: str


def may_dispense(principal: Principal) -> bool:
    """Whether the user's role lets them record dispensing anywhere."""
    return principal.can(Permission.STOCK_DISPENSE) or principal.can(Permission.STOCK_WRITE)


def _needed(principal: Principal) -> Permission:
    return (
        Permission.STOCK_DISPENSE
        if principal.can(Permission.STOCK_DISPENSE)
        else Permission.STOCK_WRITE
    )


def _places_query() -> Any:
    return (
        select(
            Facility.code, Facility.name, Facility.type, OrgUnit.code, OrgUnit.name, OrgUnit.path
        )
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .where(Facility.type.in_(sorted(DISPENSING_TYPES)))
        .order_by(Facility.code)
    )


def dispensing_places(
    session: Session, principal: Principal, *, search: str | None = None
) -> tuple[list[Place], int]:
    """The pharmacies and hospitals the user may dispense at whose code or name holds
    ``search`` (all without one): the first :data:`MAX_CHOICES`, and how many match."""
    if not may_dispense(principal):
        return [], 0
    query = _places_query().where(within(principal))
    if search and search.strip():
        # Literal text: a '%' or '_' typed is that character, not a wildcard.
        text = search.strip().lower()
        query = query.where(
            func.lower(Facility.code).contains(text, autoescape=True)
            | func.lower(Facility.name).contains(text, autoescape=True)
        )
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    found = [Place(*row) for row in session.execute(query.limit(MAX_CHOICES))]
    return found, int(total or 0)


def place(session: Session, code: str, principal: Principal | None) -> Place:
    """The facility ``code`` if it dispenses and the user may dispense there."""
    row = session.execute(_places_query().where(Facility.code == code)).first()
    if row is None:
        known = session.scalar(select(Facility.type).where(Facility.code == code))
        if known is None:
            raise NotFoundError(f"unknown facility {code!r}")
        raise SitroomError(f"{code} is a {known}: only pharmacies and hospitals record dispensing")
    found = Place(*row)
    if principal is not None:
        authorize(principal, _needed(principal), found.path)
    return found


def protocol_items(country: Country) -> list[str]:
    """The items of the country's treatment protocols, in their order of first mention."""
    supply = country.supply
    if supply is None:
        raise SitroomError("the country configuration has no [supply] section")
    seen: dict[str, None] = {}
    for protocol in supply.protocols:
        for item in protocol.items:
            seen.setdefault(item)
    return list(seen)


def _per_patient(country: Country, item: str) -> float:
    """Units of ``item`` a treated patient gets, the protocols' shares weighed."""
    supply = country.supply
    protocols = supply.protocols if supply else []
    using = [p for p in protocols if item in p.items]
    share = sum(p.share for p in using)
    return sum(p.share * p.items[item] for p in using) / share if share else 0.0


def day_bounds(country: Country, day: date) -> tuple[datetime, datetime]:
    """The local day ``day`` as UTC instants [start, end)."""
    zone = ZoneInfo(country.reporting.time_zone)
    start = datetime.combine(day, time(0), zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def local_today(country: Country, now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(country.reporting.time_zone)).date()


def moment_of(country: Country, day: date, now: datetime | None = None) -> datetime:
    """When a dispensing entered for ``day`` is dated: now for today, else the day's
    last second (local). SitroomError for a day in the future."""
    now = now or utcnow()
    today = local_today(country, now)
    if day > today:
        raise SitroomError(f"{day.isoformat()} is in the future: dispensing is recorded after")
    zone = ZoneInfo(country.reporting.time_zone)
    if day == today:
        return now.astimezone(zone)  # local time: messages show it as the pharmacist reads it
    return (day_bounds(country, day)[1] - timedelta(seconds=1)).astimezone(zone)


@dataclass(frozen=True, slots=True)
class LotStock:
    lot: str
    expiry: date
    quantity: int

    def to_dict(self) -> dict[str, Any]:
        return {"lot": self.lot, "expiry": self.expiry.isoformat(), "quantity": self.quantity}


@dataclass(slots=True)
class ItemLine:
    """One item of the form: its stock, and what the day already holds."""

    item: str
    name: str
    unit: str
    per_patient: float
    usable: int = 0
    expired: int = 0
    lots: list[LotStock] = field(default_factory=list)
    #: The day's dispensing, net of reversals, and its patients.
    units: int = 0
    patients: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "name": self.name,
            "unit": self.unit,
            "per_patient": self.per_patient,
            "usable": self.usable,
            "expired": self.expired,
            "lots": [lot.to_dict() for lot in self.lots],
            "recorded_units": self.units,
            "recorded_patients": self.patients,
        }


@dataclass(slots=True)
class BatchLine:
    item: str
    units: int
    patients: int | None


@dataclass(slots=True)
class RecordedBatch:
    """A write of the day's dispensing at the facility (a form sent, a file, a command)."""

    batch: int
    channel: str
    created_by: str
    created_at: datetime
    simulated: bool
    lines: list[BatchLine] = field(default_factory=list)
    #: The batch this one reverses, and its reason; or the batch that reversed this one.
    reverses: int | None = None
    reason: str | None = None
    reversed_by: int | None = None
    #: Whether the form may reverse it, and why not.
    correctable: bool = False
    why_not: str | None = None


@dataclass(slots=True)
class DaySheet:
    """What the form shows for one facility and one local day."""

    place: Place
    day: date
    today: date
    zone: str
    #: The moment the stock is shown at (now, or the end of an earlier day).
    at: datetime
    items: list[ItemLine]
    batches: list[RecordedBatch]
    simulated: bool

    @property
    def is_today(self) -> bool:
        return self.day == self.today

    @property
    def previous(self) -> date:
        return self.day - timedelta(days=1)

    @property
    def next(self) -> date | None:
        later = self.day + timedelta(days=1)
        return later if later <= self.today else None

    def item(self, code: str) -> ItemLine | None:
        return next((line for line in self.items if line.item == code), None)


def day_sheet(
    session: Session,
    country: Country,
    facility: str,
    day: date,
    *,
    principal: Principal | None,
    now: datetime | None = None,
) -> DaySheet:
    """The form's content for ``facility`` on ``day``; NotFoundError, ForbiddenError,
    SitroomError (a day in the future, a facility that does not dispense)."""
    found = place(session, facility, principal)
    at = moment_of(country, day, now)
    codes = protocol_items(country)
    known = {
        code: (name, unit)
        for code, name, unit in session.execute(
            select(Item.code, Item.name, Item.unit).where(Item.code.in_(codes))
        )
    }
    lines = {
        code: ItemLine(code, known[code][0], known[code][1], _per_patient(country, code))
        for code in codes
        if code in known
    }
    facility_id = session.scalar(select(Facility.id).where(Facility.code == facility))
    _stock(session, facility_id, lines, at, day)
    batches, simulated = _recorded(session, country, facility_id, day, lines)
    return DaySheet(
        place=found,
        day=day,
        today=local_today(country, now),
        zone=country.reporting.time_zone,
        at=at,
        items=list(lines.values()),
        batches=batches,
        simulated=simulated,
    )


def _stock(
    session: Session, facility_id: int | None, lines: dict[str, ItemLine], at: datetime, day: date
) -> None:
    """Each item's lots on hand at ``at`` (the balances now; the ledger summed before)."""
    if facility_id is None:
        return
    source = lot_stock(facility_id, at)
    rows = session.execute(
        select(Item.code, Lot.code, Lot.expiry, source.c.quantity)
        .join(Item, Item.id == source.c.item_id)
        .join(Lot, Lot.id == source.c.lot_id)
        .where(source.c.quantity > 0, Item.code.in_(list(lines)))
        .order_by(Item.code, Lot.expiry, Lot.code)
    )
    for item, lot, expiry, quantity in rows:
        line = lines[item]
        if expiry < day:
            line.expired += int(quantity)
        else:
            line.usable += int(quantity)
            line.lots.append(LotStock(lot, expiry, int(quantity)))


def _recorded(
    session: Session,
    country: Country,
    facility_id: int | None,
    day: date,
    lines: dict[str, ItemLine],
) -> tuple[list[RecordedBatch], bool]:
    """The day's dispensing entries at the facility, by batch, newest last."""
    if facility_id is None:
        return [], False
    start, end = day_bounds(country, day)
    entries = session.execute(
        select(
            StockEntry.id,
            StockEntry.batch_id,
            Item.code,
            StockEntry.quantity,
            StockEntry.patients,
            StockEntry.reverses_id,
            StockEntry.reason,
            StockEntry.simulated,
        )
        .join(Item, Item.id == StockEntry.item_id)
        .where(
            StockEntry.facility_id == facility_id,
            StockEntry.kind == "dispense",
            StockEntry.time >= start,
            StockEntry.time < end,
        )
        .order_by(StockEntry.batch_id, StockEntry.id)
    ).all()
    if not entries:
        return [], False
    ids = [e[0] for e in entries]
    reversed_in: dict[int, int] = {}
    for chunk in range(0, len(ids), 900):
        for reverses, by in session.execute(
            select(StockEntry.reverses_id, StockEntry.batch_id).where(
                StockEntry.reverses_id.in_(ids[chunk : chunk + 900])
            )
        ):
            if reverses is not None:
                reversed_in[int(reverses)] = int(by)
    batch_ids = sorted({e[1] for e in entries})
    info = {
        row.id: row
        for row in session.scalars(select(StockBatch).where(StockBatch.id.in_(batch_ids)))
    }
    # Whether each batch holds anything but this facility's dispensing (then not reversed here).
    foreign = set(
        session.scalars(
            select(StockEntry.batch_id)
            .where(
                StockEntry.batch_id.in_(batch_ids),
                (StockEntry.facility_id != facility_id) | (StockEntry.kind != "dispense"),
            )
            .distinct()
        )
    )
    batches: dict[int, RecordedBatch] = {}
    per_item: dict[tuple[int, str], BatchLine] = {}
    simulated = False
    for entry_id, batch_id, item, quantity, patients, reverses, reason, sim in entries:
        simulated = simulated or bool(sim)
        batch = batches.get(batch_id)
        if batch is None:
            row = info[batch_id]
            batch = batches[batch_id] = RecordedBatch(
                batch_id, row.channel, row.created_by, row.created_at, row.simulated
            )
        if reverses is not None:
            batch.reverses = session.scalar(
                select(StockEntry.batch_id).where(StockEntry.id == reverses)
            )
            batch.reason = (reason or "").removeprefix("reversal: ") or None
        if entry_id in reversed_in:
            batch.reversed_by = reversed_in[entry_id]
        key = (batch_id, item)
        line = per_item.get(key)
        if line is None:
            line = per_item[key] = BatchLine(item, 0, None)
            batch.lines.append(line)
        line.units += -int(quantity)
        if patients is not None and reverses is None:
            line.patients = (line.patients or 0) + int(patients)
        if item in lines:
            lines[item].units += -int(quantity)
            if patients is not None and reverses is None and entry_id not in reversed_in:
                lines[item].patients += int(patients)
    for batch in batches.values():
        if batch.reverses is not None:
            batch.why_not = "a reversal: enter the figures again instead"
        elif batch.reversed_by is not None:
            batch.why_not = f"reversed by batch {batch.reversed_by}"
        elif batch.batch in foreign:
            batch.why_not = (
                "written with other facilities' movements (a file or the simulation): correct"
                f" it with `sitroom supply reverse {batch.batch}` or a new file"
            )
        else:
            batch.correctable = True
    return [batches[b] for b in sorted(batches)], simulated


def _whole(text: str) -> int | None:
    """A count typed on the form: digits, with digit groups (``1,204`` or ``1 204``)."""
    cleaned = text.strip().replace(",", "").replace(" ", "").replace("\u00a0", "")
    if not cleaned:
        return None
    if not cleaned.isdigit():
        raise ValueError(text)
    return int(cleaned)


@dataclass(slots=True)
class DayEntry:
    """What the form sent: per item, the units and patients typed (text)."""

    units: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class DayResult:
    """The outcome of :func:`record_day`: ``errors`` maps a field (``units_<item>``,
    ``patients_<item>``, ``form``) to its message; ``summary`` is the ledger's."""

    errors: dict[str, str] = field(default_factory=dict)
    summary: PostSummary | None = None

    @property
    def saved(self) -> bool:
        return self.summary is not None and self.summary.committed


def read_entry(sheet: DaySheet, entry: DayEntry) -> tuple[list[Movement], dict[str, str]]:
    """The movements of the form, or the messages of its fields (nothing posted)."""
    movements: list[Movement] = []
    errors: dict[str, str] = {}
    for number, line in enumerate(sheet.items, start=1):
        units_field, patients_field = f"units_{line.item}", f"patients_{line.item}"
        try:
            units = _whole(entry.units.get(line.item, ""))
        except ValueError:
            errors[units_field] = (
                f"{entry.units[line.item].strip()[:20]!r} is not a whole number of"
                f" {line.unit}s (0 or more)."
            )
            units = None
        try:
            patients = _whole(entry.patients.get(line.item, ""))
        except ValueError:
            errors[patients_field] = (
                f"{entry.patients[line.item].strip()[:20]!r} is not a whole number of"
                " patients (0 or more)."
            )
            patients = None
        if units_field in errors or patients_field in errors:
            continue
        if not units:
            if patients:
                errors[units_field] = (
                    f"{patients:,} patients but no {line.unit}s: give the units dispensed to them."
                )
            continue
        if patients is None:
            errors[patients_field] = (
                f"Give the patients treated with these {units:,} {line.unit}s (0 if none)."
            )
            continue
        movements.append(
            Movement(
                time=sheet.at,
                event="dispense",
                facility=sheet.place.code,
                item=line.item,
                quantity=units,
                patients=patients,
                line=number,
            )
        )
    if not movements and not errors:
        errors["form"] = "Nothing to record: enter the units and patients of at least one item."
    return movements, errors


def record_day(
    session: Session,
    country: Country,
    facility: str,
    day: date,
    entry: DayEntry,
    *,
    user: str,
    principal: Principal | None,
    channel: str = "web",
    now: datetime | None = None,
) -> tuple[DaySheet, DayResult]:
    """Post the day's dispensing of ``entry`` through the ledger: all or nothing.

    Returns the sheet (as it was before the post) and the result: field
    messages (the form's own, or the ledger's refusals put on the field of
    their item), or the ledger's summary of what was committed.
    """
    sheet = day_sheet(session, country, facility, day, principal=principal, now=now)
    session.rollback()  # the ledger opens its own write transaction
    movements, errors = read_entry(sheet, entry)
    if errors:
        return sheet, DayResult(errors)
    ledger = Ledger(
        session,
        user=user,
        channel=channel,
        principal=principal,
        zone=ZoneInfo(country.reporting.time_zone),
    )
    summary = ledger.post(movements, source=f"dispensing of {facility} on {day.isoformat()}")
    result = DayResult(summary=summary)
    if summary.ok:
        return sheet, result
    for rejection in summary.rejections:
        if rejection.line is None or not 1 <= rejection.line <= len(sheet.items):
            result.errors.setdefault("form", rejection.reason)
            continue
        item = sheet.items[rejection.line - 1].item
        if rejection.field == "facility":
            raise ForbiddenError(rejection.reason)
        name = "patients" if rejection.field == "patients" else "units"
        result.errors.setdefault(f"{name}_{item}", _capital(rejection.reason))
    return sheet, result


def _capital(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def correct_batch(
    session: Session,
    country: Country,
    facility: str,
    day: date,
    batch_id: int,
    *,
    reason: str,
    user: str,
    principal: Principal | None,
    channel: str = "web",
    now: datetime | None = None,
) -> PostSummary:
    """Reverse the batch ``batch_id`` of the day's dispensing at ``facility`` (a
    correction: :meth:`Ledger.reverse`). SitroomError when the batch is not one
    of the day's correctable batches or the reason is missing."""
    sheet = day_sheet(session, country, facility, day, principal=principal, now=now)
    session.rollback()
    batch = next((b for b in sheet.batches if b.batch == batch_id), None)
    if batch is None:
        raise NotFoundError(
            f"batch {batch_id} holds no dispensing of {facility} on {day.isoformat()}"
        )
    if not batch.correctable:
        raise SitroomError(f"batch {batch_id} cannot be corrected here: {batch.why_not}")
    if not reason.strip():
        raise SitroomError("a correction gives its reason")
    ledger = Ledger(session, user=user, channel=channel, principal=principal)
    return ledger.reverse(batch_id, reason=reason.strip()[:180])


__all__ = [
    "MAX_CHOICES",
    "BatchLine",
    "DayEntry",
    "DayResult",
    "DaySheet",
    "ItemLine",
    "LotStock",
    "Place",
    "RecordedBatch",
    "correct_batch",
    "day_bounds",
    "day_sheet",
    "dispensing_places",
    "local_today",
    "may_dispense",
    "moment_of",
    "place",
    "protocol_items",
    "read_entry",
    "record_day",
]
