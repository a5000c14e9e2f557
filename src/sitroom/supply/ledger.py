"""The stock ledger: the one write path for stock (issue #11, item 3).

Every change of stock is a :class:`Movement` (a receipt, a transfer out or in,
a dispensing, an adjustment, a stocktake) posted through :class:`Ledger`. A
post checks every movement, then writes all of them or none (like the
surveillance import): the batch row, one ledger entry per lot moved, and the
balances, in one transaction. What the summary says was written is what was
committed.

The rules:

- quantities are whole units, more than zero (a stocktake's count may be 0);
- an issue (transfer out, dispensing, an adjustment that removes stock) takes
  the named lot, or the lots first to expire (FEFO) that have not expired at
  the movement's time; it is refused when the stock is not there, with what
  is there, and that holds at every later moment too (a back-dated issue may
  not make any later balance negative);
- dispensing or shipping from an expired lot is refused; a lot is usable up to
  and on its expiry date, the movement's day read in the country's time zone
  (:func:`local_day`: as the surveillance reporting window and the supply
  indicators read days), whatever offset the movement's time was given with;
- a transfer goes only from a facility to its customer or its supplier along
  a supplier link, or along a declared route (``supply_route``);
- a transfer in matches the transfer out of the same reference: it cannot
  bring in more than was sent and not yet received;
- a stocktake records the count; the difference with the ledger's stock
  becomes the entry's quantity;
- nothing is dated in the future;
- a user acts only on facilities in their scopes (``stock.write``;
  dispensing also with ``stock.dispense``).

Concurrent posts are serialised per facility: SQLite's write lock
(``BEGIN IMMEDIATE``), PostgreSQL advisory locks on the facilities touched,
taken in order (no deadlock); the balances' check constraint (never below
zero) is the last guard. A correction is :meth:`Ledger.reverse`: new entries
with the opposite quantities, never an edit.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time as clock
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from operator import attrgetter
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Permission, Principal, refusal
from sitroom.counts import MAX_COUNT
from sitroom.db import (
    DEFAULT_LOCK_TIMEOUT,
    advisory_lock,
    begin_write,
    is_db_error,
    is_retryable,
    translate_db_error,
    utcnow,
)
from sitroom.errors import BusyError, ConflictError, NotFoundError, SitroomError
from sitroom.supply.models import (
    ADJUST_REASONS,
    ENTRY_KINDS,
    DistributionOrder,
    Facility,
    Item,
    Lot,
    Route,
    StockBatch,
    StockEntry,
)
from sitroom.surveillance.ingest import Rejection

log = logging.getLogger(__name__)

#: PostgreSQL advisory locks of the stock ledger: (space, facility id).
LOCK_SPACE_STOCK = 0x5174
#: ... and of a file's SHA-256 (its first 28 bits), so a file is posted once.
LOCK_SPACE_STOCK_FILE = 0x5175
#: How often a post that met a conflict is run again.
MAX_ATTEMPTS = 5
#: Rejections kept in a summary (the count is always exact).
MAX_REPORTED = 1000
#: A movement this far ahead of the clock is "in the future" (clocks differ a little).
FUTURE_TOLERANCE = timedelta(minutes=5)
#: The longest text of each field of a movement (the columns' sizes).
TEXT_LIMITS = {
    "facility": 64,
    "item": 64,
    "lot": 64,
    "counterparty": 200,
    "reason": 200,
    "reference": 100,
}
#: The most patients one dispensing records (the column is a 32-bit integer).
MAX_PATIENTS = 2**31 - 1
#: The earliest year of a movement (the ledger of an epidemic, not of history).
FIRST_YEAR = 1900
#: Kinds that take stock out, and those that bring it in.
ISSUES = frozenset({"transfer_out", "dispense"})


@dataclass(slots=True)
class Movement:
    """One movement as a user, a file or a request gives it (the CSV's columns).

    ``quantity`` is always positive (a stocktake's count may be 0): an
    adjustment's sign comes from its ``reason`` (``found`` adds, the others
    remove). ``line`` is the file's line, for messages.
    """

    time: datetime
    event: str
    facility: str
    item: str
    quantity: int
    lot: str | None = None
    expiry: date | None = None
    counterparty: str | None = None
    reason: str | None = None
    reference: str | None = None
    patients: int | None = None
    line: int | None = None


@dataclass(slots=True)
class PostSummary:
    """What a post did (or, refused or on a dry run, would have done)."""

    source: str
    movements: int = 0
    entries: int = 0
    #: Entries by kind.
    kinds: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    warnings: list[Rejection] = field(default_factory=list)
    dry_run: bool = False
    committed: bool = False
    batch_id: int | None = None
    attempts: int = 1
    #: When the same file (its SHA-256) was posted before, and its batch: nothing is
    #: posted again.
    previously_imported: datetime | None = None
    previous_batch: int | None = None

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    def reject(self, line: int | None, column: str | None, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REPORTED:
            self.rejections.append(Rejection(line, column, reason))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "movements": self.movements,
            "entries": self.entries,
            "kinds": dict(sorted(self.kinds.items())),
            "rejected": self.rejected,
            "rejections": [
                {"line": r.line, "field": r.field, "reason": r.reason} for r in self.rejections
            ],
            "warnings": [
                {"line": w.line, "field": w.field, "reason": w.reason} for w in self.warnings
            ],
            "dry_run": self.dry_run,
            "committed": self.committed,
            "batch_id": self.batch_id,
            "attempts": self.attempts,
            "previous_batch": self.previous_batch,
            "previously_imported": self.previously_imported.isoformat()
            if self.previously_imported
            else None,
        }


class Refused(Exception):
    """One movement cannot be posted: the column and the reason."""

    def __init__(self, column: str | None, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


@dataclass(slots=True)
class _Place:
    id: int
    code: str
    type: str
    supplier_id: int | None
    path: str


@dataclass(slots=True)
class _ItemInfo:
    """An item as a post needs it (plain attributes, not the ORM's instrumented ones)."""

    id: int
    code: str
    unit: str


@dataclass(slots=True)
class _LotInfo:
    id: int
    code: str
    expiry: date


@dataclass(slots=True)
class _Stock:
    """One lot at one facility: its balance as stored and the moves of this post."""

    quantity: int
    last_time: datetime | None
    stored: bool
    #: (time, delta) of this post's entries, in order.
    moves: list[tuple[datetime, int]] = field(default_factory=list)
    #: The sum of ``moves``, and the newest time of the stored balance and of ``moves``
    #: (kept as moves are added: the stock now, and whether ``at`` is back-dated, in O(1)).
    change: int = 0
    newest: datetime | None = None


#: A ledger entry as a post builds it: a tuple in this order (the ``stock_entry`` columns
#: but the id, the batch and ``simulated``), built once per entry (not a dict).
Entry = tuple[Any, ...]
_TIME, _KIND, _FACILITY, _ITEM, _LOT, _QUANTITY, _COUNTERPARTY_ID = range(7)
_REFERENCE = 9
#: What a movement gives its entries but the lot and the quantity: time, kind, facility
#: id, item id, counterparty id, counterparty, reason, reference, patients, counted,
#: reverses id (an entry is ``base[:4] + (lot id, quantity) + base[4:]``).
Base = tuple[Any, ...]


def local_day(moment: datetime, zone: tzinfo) -> date:
    """The day of ``moment`` in ``zone`` (the country's time zone): the day a lot's expiry
    date is compared with. A lot expiring on 30 June is usable until midnight at the end
    of 30 June there, whether the time is given in UTC or with another offset."""
    return moment.astimezone(zone).date()


class _Pauses:
    """How many posts have paused the collector, process-wide (a server posts from
    several threads): the first pause disables it, the last one out restores the
    state the first found."""

    lock = threading.Lock()
    count = 0
    was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection inside (the state found restored after the last
    of overlapping pauses, from any thread, ends).

    A post makes hundreds of thousands of small objects (entries, the book's stock)
    that live until it ends: the collector would walk them, and everything else
    alive, again and again, and free nothing. Reference counting still frees
    what it can; the cycles made meanwhile wait for the next collection after.
    The collector is the process's: in a server, other requests run without it
    while a post lasts (seconds for the largest imports).
    """
    with _Pauses.lock:
        if _Pauses.count == 0:
            _Pauses.was_enabled = gc.isenabled()
            gc.disable()
        _Pauses.count += 1
    try:
        yield
    finally:
        with _Pauses.lock:
            _Pauses.count -= 1
            if _Pauses.count == 0 and _Pauses.was_enabled:
                gc.enable()


def unit_word(count: int, unit: str) -> str:
    """``"1 tablet"``, ``"1,200 tablets"``."""
    return f"{count:,} {unit}{'' if count == 1 or unit.endswith('s') else 's'}"


class Ledger:
    """Posts movements for ``user`` through ``channel`` (cli, file, api, web, simulation).

    ``principal`` (a signed-in user or the command line's ``--user`` with a
    role) is checked on every facility; None is the local operator, who may
    do anything, as for the surveillance import. ``zone`` is the country's time
    zone (``reporting.time_zone``), in which a movement's day is compared with a
    lot's expiry date (:func:`local_day`); callers pass it, UTC when not given.
    """

    def __init__(
        self,
        session: Session,
        *,
        user: str,
        channel: str = "cli",
        principal: Principal | None = None,
        simulated: bool = False,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        now: Callable[[], datetime] = utcnow,
        zone: tzinfo = UTC,
    ) -> None:
        self.session = session
        self.zone = zone
        self.user = user
        self.channel = channel
        self.principal = principal
        self.simulated = simulated
        self.lock_timeout = lock_timeout
        self.now = now

    # The transaction ------------------------------------------------------------------

    def post(
        self,
        movements: Sequence[Movement],
        *,
        source: str,
        sha256: str | None = None,
        dry_run: bool = False,
    ) -> PostSummary:
        """Post ``movements`` in a transaction of their own: all or nothing.

        On a conflict with a concurrent writer the attempt is rolled back and
        run again (at most :data:`MAX_ATTEMPTS`); BusyError after that.
        """
        reason = ""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with collector_paused():
                    summary = self._post_once(movements, source, sha256, dry_run)
            except Exception as exc:
                self.session.rollback()
                if not is_db_error(exc):
                    raise
                if not is_retryable(exc):
                    known = translate_db_error(exc)
                    if known is None:
                        raise
                    raise known from exc
                reason = (str(getattr(exc, "orig", exc)).splitlines() or ["conflict"])[0]
            else:
                summary.attempts = attempt
                return summary
            log.warning("stock post of %s conflicted (%s); attempt %d", source, reason, attempt)
            clock.sleep(random.uniform(0.05, 0.25) * attempt)
        raise BusyError(
            f"{source}: the stock movements conflicted with concurrent changes"
            f" {MAX_ATTEMPTS} times: nothing was written; try again in a moment"
        )

    def _post_once(
        self, movements: Sequence[Movement], source: str, sha256: str | None, dry_run: bool
    ) -> PostSummary:
        try:
            begin_write(self.session, self.lock_timeout)
            summary = self.apply(movements, source=source, sha256=sha256, dry_run=dry_run)
            if not summary.ok or dry_run or summary.previous_batch is not None:
                self.session.rollback()
                return summary
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        summary.committed = True
        return summary

    def apply(
        self,
        movements: Sequence[Movement],
        *,
        source: str,
        sha256: str | None = None,
        dry_run: bool = False,
    ) -> PostSummary:
        """Check and write ``movements`` in the caller's transaction (begun as a writer).

        Writes nothing when any movement is refused (the summary lists each
        refusal, with its line and column) or on a dry run.
        """
        summary = PostSummary(source=source, movements=len(movements), dry_run=dry_run)
        if sha256 is not None:
            advisory_lock(self.session, LOCK_SPACE_STOCK_FILE, int(sha256[:7], 16))
            before = self.session.execute(
                select(StockBatch.id, StockBatch.created_at)
                .where(StockBatch.sha256 == sha256)
                .order_by(StockBatch.id)
                .limit(1)
            ).first()
            if before is not None:
                # The same file again: posting it twice would count its stock twice.
                summary.previous_batch, summary.previously_imported = before
                return summary
        # Text the columns cannot hold is refused before anything is looked up by it.
        readable: list[Movement] = []
        for movement in movements:
            try:
                _screen(movement)
            except Refused as exc:
                summary.reject(movement.line, exc.column, exc.reason)
                continue
            readable.append(movement)
        book = _Book(self.session, readable, self.zone)
        book.lock(self.session)
        book.load(self.session)
        entries: list[Entry] = []
        now = self.now()
        limit = now + FUTURE_TOLERANCE
        for movement in readable:
            try:
                made = self._check(book, movement, limit)
            except Refused as exc:
                summary.reject(movement.line, exc.column, exc.reason)
                continue
            entries.extend(made)
        if len(readable) < len(movements):
            summary.rejections.sort(key=lambda r: (r.line or 0, r.field or ""))
        if not summary.ok or dry_run:
            summary.entries = len(entries)
            summary.kinds = _count(entries)
            return summary
        batch = StockBatch(
            channel=self.channel,
            source=source[:500],
            sha256=sha256,
            created_by=self.user,
            created_at=now,
            entries=len(entries),
            simulated=self.simulated,
        )
        self.session.add(batch)
        self.session.flush()
        book.write(self.session, batch.id, entries, self.simulated)
        summary.batch_id = batch.id
        summary.entries = len(entries)
        summary.kinds = _count(entries)
        return summary

    # Corrections -----------------------------------------------------------------------

    def reverse(self, batch_id: int, *, reason: str) -> PostSummary:
        """Reverse every entry of a batch, in a transaction of its own.

        Each reversal entry has the opposite quantity, the original's time (so
        the stock at any moment is as if the batch had not been), its kind and
        lot, and ``reverses_id``; its reason is "reversal: <reason>", but for an
        adjustment's, which keeps the adjustment's reason (the only reasons an
        adjustment may have: ``ck_stock_entry_adjust_reason``); the batch's source
        says "reversal of stock batch <batch>: <reason>" for every one. Refused
        (ConflictError) when the batch was reversed already, when it is a
        distribution order's dispatch or delivery (the order is corrected
        through its own steps: see :func:`order_of_batch`), or when taking its
        stock back would leave less than nothing at some moment since (the
        stock was issued on meanwhile), or what a transfer sent has arrived.
        The user needs ``stock.write`` over each entry's facility, or
        ``stock.dispense`` for a dispensing (as to post it).
        """
        if not reason.strip():
            raise ConflictError("a reversal gives its reason")
        source = f"reversal of stock batch {batch_id}: {reason.strip()}"[:500]
        try:
            begin_write(self.session, self.lock_timeout)
            with collector_paused():
                summary = self._reverse(batch_id, reason.strip(), source)
            if not summary.ok:
                self.session.rollback()
                return summary
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        summary.committed = True
        return summary

    def _reverse(self, batch_id: int, reason: str, source: str) -> PostSummary:
        original = self._reversible(batch_id)
        codes = dict(self.session.execute(select(Facility.id, Facility.code)).all())
        items = dict(self.session.execute(select(Item.id, Item.code)).all())
        probes = [
            Movement(e.time, e.kind, codes[e.facility_id], items[e.item_id], 1) for e in original
        ]
        summary = PostSummary(source=source, movements=len(original))
        book = _Book(self.session, probes, self.zone)
        book.lock(self.session)
        book.load(self.session)
        entries = []
        for entry in original:
            place = book.places[codes[entry.facility_id]]
            if self.principal is not None:
                # As for posting: a dispensing is corrected with ``stock.dispense`` too.
                needed = Permission.STOCK_WRITE
                if entry.kind == "dispense" and self.principal.can(Permission.STOCK_DISPENSE):
                    needed = Permission.STOCK_DISPENSE
                why = refusal(self.principal, needed, place.path)
                if why is not None:
                    summary.reject(None, "facility", f"{place.code}: {why}")
                    continue
            item = book.items[items[entry.item_id]]
            lot = book.lot_by_id[entry.lot_id]
            if entry.quantity > 0:
                there = book.available_at(place.id, item.id, lot.id, entry.time)
                if there < entry.quantity:
                    summary.reject(
                        None,
                        "quantity",
                        f"entry {entry.id}: {place.code} has {unit_word(max(there, 0), item.unit)}"
                        f" of {item.code} lot {lot.code} left from it; {entry.quantity:,} cannot"
                        " be taken back (issued on since)",
                    )
                    continue
            if entry.kind == "transfer_out" and entry.reference and entry.counterparty_id:
                pending = book._pending(
                    entry.reference, entry.facility_id, entry.counterparty_id, entry.item_id
                )
                if pending.get(entry.lot_id, 0) < -entry.quantity:
                    summary.reject(
                        None,
                        "reference",
                        f"entry {entry.id}: {entry.reference} has arrived (in part) at"
                        f" {codes[entry.counterparty_id]}: reverse the transfer in first",
                    )
                    continue
                # Taken back: not there for the next entry of the same transfer.
                pending[entry.lot_id] = pending.get(entry.lot_id, 0) + entry.quantity
            base = (
                entry.time,
                entry.kind,
                entry.facility_id,
                entry.item_id,
                entry.counterparty_id,
                entry.counterparty,
                entry.reason if entry.kind == "adjust" else f"reversal: {reason}"[:200],
                entry.reference,
                entry.patients,
                None,
                entry.id,
            )
            entries.append(book.move(base, place, item, lot, -entry.quantity, allow_zero=True))
        if not summary.ok:
            return summary
        batch = StockBatch(
            channel=self.channel,
            source=source,
            sha256=None,
            created_by=self.user,
            created_at=self.now(),
            entries=len(entries),
            simulated=self.simulated,
        )
        self.session.add(batch)
        self.session.flush()
        book.write(self.session, batch.id, entries, self.simulated)
        summary.batch_id = batch.id
        summary.entries = len(entries)
        summary.kinds = _count(entries)
        return summary

    def _reversible(self, batch_id: int) -> list[StockEntry]:
        """The entries of batch ``batch_id``, which may be reversed; ConflictError when
        it was reversed already, is a reversal itself, is an order's dispatch or
        delivery, or has no entries (a change to the network, audited as a batch);
        NotFoundError when there is no such batch."""
        batch = self.session.get(StockBatch, batch_id)
        if batch is None:
            raise NotFoundError(f"no stock batch {batch_id}")
        original = list(
            self.session.scalars(
                select(StockEntry).where(StockEntry.batch_id == batch_id).order_by(StockEntry.id)
            )
        )
        if not original:
            # A change to the network is audited as a batch without entries.
            raise ConflictError(
                f"stock batch {batch_id} moved no stock ({batch.source}): nothing to reverse"
            )
        ids = [e.id for e in original]
        if ids and self.session.scalar(
            select(func.count(StockEntry.id)).where(StockEntry.reverses_id.in_(ids))
        ):
            raise ConflictError(f"stock batch {batch_id} was reversed already")
        if any(e.reverses_id is not None for e in original):
            raise ConflictError(
                f"stock batch {batch_id} is itself a reversal: post the movements again"
            )
        made_by = order_of_batch(self.session, batch_id)
        if made_by is not None:
            number, step = made_by
            raise ConflictError(
                f"stock batch {batch_id} is the {step} of distribution order {number}: it is not"
                f" reversed (the order and what is in transit would no longer agree); correct"
                f" order {number} through its own steps instead (reject on the proof of"
                " delivery what did not arrive, return stock with an order back)"
            )
        return original

    # One movement -----------------------------------------------------------------------

    def _check(self, book: _Book, m: Movement, limit: datetime) -> list[Entry]:
        """The entries ``m`` makes; Refused. ``limit``: the clock plus the tolerance."""
        if m.event not in ENTRY_KINDS:
            raise Refused(
                "event", f"unknown event {m.event!r}; choose one of {', '.join(ENTRY_KINDS)}"
            )
        if m.time.tzinfo is None:
            raise Refused("time", "the time has no time zone")
        # In UTC once: the entries carry it (compared with the balances' times, read in
        # UTC, and written as UTC), not the offset it was given with.
        when = m.time.astimezone(UTC)
        if when > limit:
            raise Refused("time", f"{m.time.isoformat()} is in the future")
        # (The look-ups inline: ``facility`` and ``item`` only to refuse what is unknown.)
        place = book.places.get(m.facility) or book.facility(m.facility)
        item = book.items.get(m.item) or book.item(m.item)
        if self.principal is not None:
            self._authorize(m, place)
        quantity = m.quantity
        if quantity.__class__ is not int and (
            isinstance(quantity, bool) or not isinstance(quantity, int)
        ):
            raise Refused("quantity", f"{m.quantity!r} is not a whole number of {item.unit}s")
        if m.event == "stocktake":
            if m.quantity < 0:
                raise Refused("quantity", "a count cannot be negative")
        elif m.quantity <= 0:
            raise Refused("quantity", f"the quantity must be more than 0 (got {m.quantity})")
        if m.patients is not None:
            if m.event != "dispense":
                raise Refused("patients", "only a dispensing has patients")
            if m.patients < 0:
                raise Refused("patients", "patients cannot be negative")
        event = m.event
        if event in ("transfer_out", "transfer_in"):
            inbound = event == "transfer_in"
            other = self._route(book, place, m, inbound=inbound)
            base: Base = (
                when, event, place.id, item.id, other.id, None, m.reason, m.reference,
                None, None, None,
            )  # fmt: skip
            if not inbound:
                sent = book.issue(base, place, item, m, m.quantity, allow_expired=False)
                if m.reference:
                    book.note_sent(m.reference, sent)
                return sent
            if not m.reference:
                raise Refused("reference", "a transfer in names the transfer's reference")
            return book.receive(base, place, other, item, m)
        base = (
            when, event, place.id, item.id, None, m.counterparty, m.reason, m.reference,
            m.patients, None, None,
        )  # fmt: skip
        if event == "dispense":
            return book.issue(base, place, item, m, m.quantity, allow_expired=False)
        if event == "receipt":
            lot = book.receipt_lot(item, m)
            return [book.move(base, place, item, lot, m.quantity)]
        if m.event == "adjust":
            if m.reason not in ADJUST_REASONS:
                raise Refused(
                    "reason",
                    f"an adjustment gives its reason: one of {', '.join(ADJUST_REASONS)}"
                    + (f" (got {m.reason!r})" if m.reason else ""),
                )
            if m.reason == "found":
                lot = book.receipt_lot(item, m)
                return [book.move(base, place, item, lot, m.quantity)]
            return book.issue(
                base,
                place,
                item,
                m,
                m.quantity,
                allow_expired=True,
                prefer_expired=m.reason == "expired",
            )
        return self._stocktake(book, place, item, m, base)

    def _stocktake(
        self, book: _Book, place: _Place, item: _ItemInfo, m: Movement, base: Base
    ) -> list[Entry]:
        lot = book.counted_lot(place, item, m)
        on_hand = book.available_at(place.id, item.id, lot.id, base[0], later=False)
        if m.quantity < on_hand:
            # A count below the ledger takes stock out at its time: what was issued after
            # it must still have been there (a back-dated count may not make a later
            # balance negative, as for any issue).
            lowest = book.available_at(place.id, item.id, lot.id, base[0])
            if lowest < on_hand - m.quantity:
                raise Refused(
                    "quantity",
                    f"{place.code} had {unit_word(on_hand, item.unit)} of {item.code} lot"
                    f" {lot.code} at {m.time.isoformat(timespec='minutes')} by the ledger, and"
                    f" {on_hand - lowest:,} of them were issued later: a count of"
                    f" {m.quantity:,} then would leave less than nothing; count again now,"
                    " or correct the later movements first",
                )
        base = (*base[:9], m.quantity, None)
        return [book.move(base, place, item, lot, m.quantity - on_hand, allow_zero=True)]

    def _authorize(self, m: Movement, place: _Place) -> None:
        who = self.principal
        if who is None:
            return
        needed = Permission.STOCK_WRITE
        if m.event == "dispense" and who.can(Permission.STOCK_DISPENSE):
            needed = Permission.STOCK_DISPENSE
        why = refusal(who, needed, place.path)
        if why is not None:
            raise Refused("facility", f"{place.code}: {why}")

    def _route(self, book: _Book, place: _Place, m: Movement, *, inbound: bool = False) -> _Place:
        if not m.counterparty:
            raise Refused(
                "counterparty",
                f"a transfer names the facility it {'comes from' if inbound else 'goes to'}",
            )
        other = book.places.get(m.counterparty) or book.facility(
            m.counterparty, column="counterparty"
        )
        source, destination = (other, place) if inbound else (place, other)
        if not book.routed(source, destination):
            raise Refused(
                "counterparty",
                f"no route from {source.code} to {destination.code}: transfers go between a"
                " facility and its supplier, or along a declared route",
            )
        return other


_TEXT_NAMES = tuple(TEXT_LIMITS)
_TEXT_MOSTS = tuple(TEXT_LIMITS.values())
#: A movement's text fields in the order of TEXT_LIMITS, in one call.
_texts = attrgetter(*_TEXT_NAMES)


def _screen(m: Movement) -> None:
    """Refuse what no column can hold: a NUL character, text too long, a year out of range,
    more patients than a count holds (PostgreSQL would fail on them, not refuse them)."""
    for name, most, value in zip(_TEXT_NAMES, _TEXT_MOSTS, _texts(m), strict=True):
        if value is None or (value.__class__ is str and len(value) <= most and "\x00" not in value):
            continue
        if not isinstance(value, str):
            raise Refused(name, f"{value!r} is not text")
        if "\x00" in value:
            raise Refused(name, "contains a NUL character")
        if len(value) > most:
            raise Refused(name, f"{len(value):,} characters, more than the {most} it may have")
    if not isinstance(m.event, str) or "\x00" in m.event:
        raise Refused("event", f"unknown event {m.event!r}; choose one of {', '.join(ENTRY_KINDS)}")
    if m.time.year < FIRST_YEAR or (m.expiry is not None and m.expiry.year < FIRST_YEAR):
        column = "time" if m.time.year < FIRST_YEAR else "expiry"
        raise Refused(column, f"a date before {FIRST_YEAR} is not a date of this ledger")
    if isinstance(m.patients, int) and m.patients > MAX_PATIENTS:
        raise Refused("patients", f"{m.patients:,} patients is more than one record holds")
    if isinstance(m.quantity, int) and m.quantity > MAX_COUNT:
        raise Refused("quantity", f"{m.quantity:,} is more than a count holds ({MAX_COUNT:,})")


def _count(entries: Iterable[Entry]) -> dict[str, int]:
    kinds: dict[str, int] = defaultdict(int)
    for entry in entries:
        kinds[entry[_KIND]] += 1
    return dict(kinds)


class _Book:
    """What a post reads and changes, loaded once: facilities, items, lots, balances."""

    def __init__(self, session: Session, movements: Sequence[Movement], zone: tzinfo) -> None:
        self.session = session
        #: The country's time zone: a movement's day there is compared with expiry dates.
        self.zone = zone
        codes = {m.facility for m in movements} | {
            m.counterparty for m in movements if m.counterparty and m.event.startswith("transfer")
        }
        self.places: dict[str, _Place] = {}
        # The book's reads go through the DBAPI cursor (``_fetch``): SQLAlchemy's per-row
        # and per-value work cost more than the queries themselves.
        self.sqlite = session.connection().dialect.name == "sqlite"
        for where, params in _among("f.code", sorted(codes), self.sqlite, "text"):
            for fid, code, kind, supplier, path in _fetch(
                session,
                "SELECT f.id, f.code, f.type, f.supplier_id, o.path FROM supply_facility f"
                f" JOIN org_unit o ON o.id = f.org_unit_id WHERE {where}",
                params,
            ):
                self.places[code] = _Place(fid, code, kind, supplier, path)
        self.items: dict[str, _ItemInfo] = {
            code: _ItemInfo(item_id, code, unit)
            for item_id, code, unit in session.execute(
                select(Item.id, Item.code, Item.unit).where(
                    Item.code.in_({m.item for m in movements})
                )
            )
        }
        self.lots: dict[tuple[int, str], _LotInfo] = {}
        self.new_lots: dict[tuple[int, str], _LotInfo] = {}
        self.stock: dict[tuple[int, int, int], _Stock] = {}
        #: The lots each (facility, item) has or had: the keys of ``stock``, by pair.
        self.held: dict[tuple[int, int], list[int]] = defaultdict(list)
        self.routes: set[tuple[int, int]] = set()
        self._transit: dict[tuple[str, int, int, int], dict[int, int]] = {}
        #: The references whose transit is loaded (or being loaded): those a transfer in of
        #: the post names. A transfer out's own reference is not read: what was sent
        #: under it matters only to a transfer in (of this post: then it is here).
        self.references: set[str] = {
            m.reference for m in movements if m.reference and m.event == "transfer_in"
        }
        #: The earliest time of the post: a balance at zero whose newest entry is not
        #: after it is zero at every moment the post looks at, and is not loaded.
        self.earliest: datetime | None = min(
            (
                m.time
                for m in movements
                if isinstance(m.time, datetime) and m.time.tzinfo is not None
            ),
            default=None,
        )
        self._next_lot = -1

    # Loading and locking

    def lock(self, session: Session) -> None:
        """PostgreSQL: the advisory lock of every facility touched, in order."""
        connection = session.connection()
        if connection.dialect.name != "postgresql":
            return
        ids = sorted(p.id for p in self.places.values())
        for chunk in _chunks(ids, 1000):
            connection.exec_driver_sql(
                "SELECT pg_advisory_xact_lock(%s, f) FROM unnest(%s::int[]) AS f ORDER BY f",
                (LOCK_SPACE_STOCK, list(chunk)),
            )
        # The supplier links as they are now: a change of supplier commits under these
        # locks (network_service), and may have done so since the places were read.
        by_id = {p.id: p for p in self.places.values()}
        for where, params in _among("id", ids, self.sqlite, "int"):
            for fid, supplier in _fetch(
                session, f"SELECT id, supplier_id FROM supply_facility WHERE {where}", params
            ):
                by_id[fid].supplier_id = supplier

    def load(self, session: Session) -> None:
        """The lots of the items and the balances of the facilities touched (after the locks)."""
        item_ids = sorted(i.id for i in self.items.values())
        sqlite = self.sqlite
        for where, params in _among("item_id", item_ids, sqlite, "int"):
            for lot_id, item_id, code, expiry in _fetch(
                session, f"SELECT id, item_id, code, expiry FROM supply_lot WHERE {where}", params
            ):
                self.lots[(item_id, code)] = _LotInfo(lot_id, code, _date(expiry))
        place_ids = sorted(p.id for p in self.places.values())
        alive = "quantity <> 0"
        since: list[Any] = []
        if self.earliest is not None:
            alive = "(quantity <> 0 OR last_time > %s)"
            since = [_sqlite_time(self.earliest) if sqlite else self.earliest]
        read_time = _read_sqlite_time if sqlite else _read_time
        stock = self.stock
        held = self.held
        for items_in, item_params in _among("item_id", item_ids, sqlite, "int"):
            for places_in, place_params in _among("facility_id", place_ids, sqlite, "int"):
                for facility, item, lot, quantity, last in _fetch(
                    session,
                    "SELECT facility_id, item_id, lot_id, quantity, last_time FROM stock_balance"
                    f" WHERE {places_in} AND {items_in} AND {alive}",
                    [*place_params, *item_params, *since],
                ):
                    newest = None if last is None else read_time(last)
                    stock[(facility, item, lot)] = _Stock(
                        quantity, newest, stored=True, newest=newest
                    )
                    held[(facility, item)].append(lot)
        for places_in, params in _among("source_id", place_ids, sqlite, "int"):
            for source, destination in _fetch(
                session,
                "SELECT source_id, destination_id FROM supply_route"
                f" WHERE {places_in} OR {places_in.replace('source_id', 'destination_id')}",
                params * 2,
            ):
                self.routes.add((source, destination))
        self.lot_by_id = {lot.id: lot for lot in self.lots.values()}
        self._load_transit(session, self.references)

    def _load_transit(self, session: Session, references: Iterable[str]) -> None:
        """What is in transit under each of ``references`` (not loaded before), in one
        query a few hundred references (not one per transfer)."""
        for where, params in _among("reference", sorted(references), self.sqlite, "text"):
            rows = _fetch(
                session,
                "SELECT reference, kind, facility_id, counterparty_id, item_id, lot_id,"
                " SUM(quantity) FROM stock_entry"
                f" WHERE {where} AND kind IN ('transfer_out', 'transfer_in')"
                " GROUP BY reference, kind, facility_id, counterparty_id, item_id, lot_id",
                params,
            )
            for reference, kind, facility, other, item, lot, total in rows:
                if other is None or reference is None:
                    continue
                # Out entries are negative at the source (sent: -total), in entries
                # positive at the destination (received: total): pending is -(out + in).
                key = (
                    (reference, facility, other, item)
                    if kind == "transfer_out"
                    else (reference, other, facility, item)
                )
                pending = self._transit.setdefault(key, defaultdict(int))
                pending[lot] -= int(total)

    # Look-ups

    def facility(self, code: str, column: str = "facility") -> _Place:
        place = self.places.get(code)
        if place is None:
            raise Refused(column, f"unknown facility {code!r}")
        return place

    def item(self, code: str) -> _ItemInfo:
        item = self.items.get(code)
        if item is None:
            raise Refused("item", f"unknown item {code!r}")
        return item

    def routed(self, source: _Place, destination: _Place) -> bool:
        return (
            destination.supplier_id == source.id
            or source.supplier_id == destination.id
            or (source.id, destination.id) in self.routes
        )

    def receipt_lot(self, item: _ItemInfo, m: Movement) -> _LotInfo:
        """The lot a receipt (or a ``found`` adjustment) brings: known, or new with its expiry."""
        if not m.lot:
            raise Refused("lot", "a receipt names its lot")
        known = self.lots.get((item.id, m.lot)) or self.new_lots.get((item.id, m.lot))
        if known is not None:
            if m.expiry is not None and m.expiry != known.expiry:
                raise Refused(
                    "expiry",
                    f"lot {m.lot} of {item.code} expires on {known.expiry.isoformat()},"
                    f" not {m.expiry.isoformat()}",
                )
            return known
        if m.expiry is None:
            raise Refused("expiry", f"lot {m.lot} of {item.code} is new: give its expiry date")
        lot = _LotInfo(self._next_lot, m.lot, m.expiry)
        self._next_lot -= 1
        self.new_lots[(item.id, m.lot)] = lot
        self.lot_by_id[lot.id] = lot
        return lot

    def named_lot(self, item: _ItemInfo, code: str) -> _LotInfo:
        lot = self.lots.get((item.id, code)) or self.new_lots.get((item.id, code))
        if lot is None:
            raise Refused("lot", f"unknown lot {code!r} of {item.code}")
        return lot

    def counted_lot(self, place: _Place, item: _ItemInfo, m: Movement) -> _LotInfo:
        if m.lot:
            return self.named_lot(item, m.lot)
        held = [
            lot
            for lot in self._lots_held(place, item)
            if self.available_at(place.id, item.id, lot.id, m.time, later=False)
        ]
        if len(held) == 1:
            return held[0]
        raise Refused(
            "lot",
            f"{place.code} holds {len(held)} lots of {item.code}: a stocktake counts one lot;"
            " name it",
        )

    # Stock

    def _key_stock(self, key: tuple[int, int, int]) -> _Stock:
        stock = self.stock.get(key)
        if stock is None:
            stock = self.stock[key] = _Stock(0, None, stored=False)
            self.held[(key[0], key[1])].append(key[2])
        return stock

    def available_at(
        self, facility: int, item: int, lot: int, at: datetime, *, later: bool = True
    ) -> int:
        """The stock of the lot at ``at`` (``later``: the least of it from ``at`` on)."""
        key = (facility, item, lot)
        stock = self.stock.get(key) or self._key_stock(key)
        current = stock.quantity + stock.change
        newest = stock.newest
        if newest is None or at >= newest:
            return current
        # Back-dated: replay what came after ``at``, stored and of this post.
        after: list[tuple[datetime, int]] = []
        if stock.stored and lot > 0:
            after = list(
                self.session.execute(
                    select(StockEntry.time, StockEntry.quantity)
                    .where(
                        StockEntry.facility_id == facility,
                        StockEntry.item_id == item,
                        StockEntry.lot_id == lot,
                        StockEntry.time > at,
                    )
                    .order_by(StockEntry.time, StockEntry.id)
                )
            )
        after += [(t, d) for t, d in stock.moves if t > at]
        after.sort(key=lambda pair: pair[0])
        at_time = current - sum(d for _, d in after)
        if not later:
            return at_time
        lowest = level = at_time
        for _, delta in after:
            level += delta
            lowest = min(lowest, level)
        return lowest

    def move(
        self,
        base: Base,
        place: _Place,
        item: _ItemInfo,
        lot: _LotInfo,
        quantity: int,
        *,
        allow_zero: bool = False,
    ) -> Entry:
        if quantity == 0 and not allow_zero:
            raise Refused("quantity", "nothing to move")
        key = (place.id, item.id, lot.id)
        stock = self.stock.get(key) or self._key_stock(key)
        when = base[0]
        stock.moves.append((when, quantity))
        stock.change += quantity
        newest = stock.newest
        if newest is None or when > newest:
            stock.newest = when
        return (*base[:4], lot.id, quantity, *base[4:])

    def _lots_held(self, place: _Place, item: _ItemInfo) -> list[_LotInfo]:
        """Every lot of ``item`` the facility has or had (its balances, and this post's)."""
        return [self.lot_by_id[lot] for lot in self.held.get((place.id, item.id), ())]

    def issue(
        self,
        base: Base,
        place: _Place,
        item: _ItemInfo,
        m: Movement,
        quantity: int,
        *,
        allow_expired: bool,
        prefer_expired: bool = False,
    ) -> list[Entry]:
        """Take ``quantity`` out: the named lot, or FEFO over the lots held (those not
        expired on the movement's day in the country's time zone, unless ``allow_expired``)."""
        day = local_day(m.time, self.zone)
        at = base[0]
        if m.lot:
            lot = self.named_lot(item, m.lot)
            if not allow_expired and lot.expiry < day:
                raise Refused(
                    "lot",
                    f"lot {lot.code} of {item.code} expired on {lot.expiry.isoformat()}:"
                    f" it cannot be {'dispensed' if m.event == 'dispense' else 'sent'}",
                )
            there = self.available_at(place.id, item.id, lot.id, at)
            if there < quantity:
                raise Refused(
                    "quantity",
                    self._short(place, item, quantity=quantity, m=m, held=[(lot, there)]),
                )
            return [self.move(base, place, item, lot, -quantity)]
        lots = self._lots_held(place, item)
        usable = [lot for lot in lots if allow_expired or lot.expiry >= day]
        if prefer_expired:
            # The expired lots that have stock then, if any (a lot at zero counts for
            # nothing: whether the post loaded its balance must not change the outcome).
            usable = [
                lot
                for lot in usable
                if lot.expiry < day and self.available_at(place.id, item.id, lot.id, at) > 0
            ] or usable
        if len(usable) > 1:
            usable.sort(key=lambda lot: (lot.expiry, lot.code))
        takes: list[tuple[_LotInfo, int]] = []
        held: list[tuple[_LotInfo, int]] = []
        left = quantity
        for lot in usable:
            there = self.available_at(place.id, item.id, lot.id, at)
            held.append((lot, there))
            if there <= 0:
                continue
            take = min(there, left)
            takes.append((lot, take))
            left -= take
            if left == 0:
                # Enough: the lots after it are read only to say what is there when short.
                break
        if left > 0:
            expired = [
                lot
                for lot in lots
                if lot.expiry < day
                and lot not in usable
                and self.available_at(place.id, item.id, lot.id, at, later=False) > 0
            ]
            raise Refused(
                "quantity",
                self._short(place, item, quantity=quantity, m=m, held=held, expired=expired),
            )
        return [self.move(base, place, item, lot, -take) for lot, take in takes]

    def _short(
        self,
        place: _Place,
        item: _ItemInfo,
        *,
        quantity: int,
        m: Movement,
        held: list[tuple[_LotInfo, int]],
        expired: Sequence[_LotInfo] = (),
    ) -> str:
        total = sum(max(0, q) for _, q in held)
        lots = ", ".join(f"lot {lot.code}: {q:,}" for lot, q in held if q > 0)
        verb = {"dispense": "dispense", "transfer_out": "send", "adjust": "remove"}.get(
            m.event, "issue"
        )
        text = (
            f"{place.code} has {unit_word(total, item.unit)} of {item.code} at"
            f" {m.time.isoformat(timespec='minutes')}{f' ({lots})' if lots else ''}:"
            f" cannot {verb} {quantity:,}"
        )
        if expired:
            text += f"; expired lots not counted: {', '.join(lot.code for lot in expired)}"
        return text

    def receive(
        self, base: Base, place: _Place, source: _Place, item: _ItemInfo, m: Movement
    ) -> list[Entry]:
        """A transfer in: the lots sent under ``m.reference`` and not yet received."""
        assert m.reference is not None
        pending = self._pending(m.reference, source.id, place.id, item.id)
        outstanding = sum(pending.values())
        if m.lot:
            lot = self.named_lot(item, m.lot)
            there = pending.get(lot.id, 0)
            if m.quantity > there:
                raise Refused(
                    "quantity",
                    f"{m.reference}: {unit_word(there, item.unit)} of {item.code} lot {lot.code}"
                    f" sent by {source.code} to {place.code} and not yet received;"
                    f" cannot receive {m.quantity:,}",
                )
            pending[lot.id] = there - m.quantity
            return [self.move(base, place, item, lot, m.quantity)]
        if m.quantity > outstanding:
            raise Refused(
                "quantity",
                f"{m.reference}: {unit_word(outstanding, item.unit)} of {item.code} sent by"
                f" {source.code} to {place.code} and not yet received; cannot receive"
                f" {m.quantity:,} (more than was dispatched)",
            )
        made = []
        left = m.quantity
        order = (
            sorted(pending, key=lambda i: (self.lot_by_id[i].expiry, i))
            if len(pending) > 1
            else list(pending)
        )
        for lot_id in order:
            take = min(pending[lot_id], left)
            if take <= 0:
                continue
            pending[lot_id] -= take
            left -= take
            made.append(self.move(base, place, item, self.lot_by_id[lot_id], take))
        return made

    def _pending(self, reference: str, source: int, destination: int, item: int) -> dict[int, int]:
        """Units of each lot sent under ``reference`` and not yet received (loaded with
        the book for the post's references; this post's own transfers added as made)."""
        key = (reference, source, destination, item)
        pending = self._transit.get(key)
        if pending is not None:
            return pending
        if reference not in self.references:
            # A reference no transfer in of the post named (a reversal's): read it now.
            self.references.add(reference)
            self._load_transit(self.session, (reference,))
        return self._transit.setdefault(key, defaultdict(int))

    def note_sent(self, reference: str, sent: list[Entry]) -> None:
        """A transfer out of this post is in transit for a transfer in of the same post
        (only a transfer in reads it: nothing to note when none names the reference)."""
        if reference not in self.references:
            return
        for entry in sent:
            pending = self._pending(
                reference, entry[_FACILITY], entry[_COUNTERPARTY_ID], entry[_ITEM]
            )
            pending[entry[_LOT]] = pending.get(entry[_LOT], 0) - entry[_QUANTITY]

    # Writing

    def write(self, session: Session, batch_id: int, entries: list[Entry], simulated: bool) -> None:
        """Write the post's new lots, its entries and its balances.

        New lots go through SQLAlchemy; the entries and the balances through the
        DBAPI cursor (like the surveillance import's ``bulk``): SQLAlchemy's
        per-value processing cost several times the database's own work. Times
        are converted exactly as ``UTCDateTime`` stores them, so the rows read back
        through the ORM are the same. The balances: one UPDATE of those loaded
        (on PostgreSQL one statement for all), one upsert of the others (new, or
        at zero and not loaded: see ``load``).
        """
        # New lots first (another post may have made the same one meanwhile: keep theirs).
        ids: dict[int, int] = {}
        connection = session.connection()
        sqlite = connection.dialect.name == "sqlite"
        if self.new_lots:
            if sqlite:
                from sqlalchemy.dialects.sqlite import insert as upsert
            else:
                from sqlalchemy.dialects.postgresql import insert as upsert  # type: ignore[assignment]
            rows = [
                {"item_id": item_id, "code": code, "expiry": lot.expiry}
                for (item_id, code), lot in self.new_lots.items()
            ]
            session.execute(upsert(Lot).on_conflict_do_nothing(), rows)
            # The ids of the lots just made (or made meanwhile by another post): read
            # per item, not as one IN of (item, code) pairs, which a post of thousands of
            # new lots makes too deep for PostgreSQL's parser.
            made = session.execute(
                select(Lot.id, Lot.item_id, Lot.code).where(
                    Lot.item_id.in_({item_id for item_id, _ in self.new_lots})
                )
            )
            for lot_id, item_id, code in made:
                new = self.new_lots.get((item_id, code))
                if new is not None:
                    ids[new.id] = lot_id
        stamp = _sqlite_time if sqlite else _utc
        rows_out: list[tuple[Any, ...]] = []
        append = rows_out.append
        # An entry's time is the UTC one ``_check`` made (or a stored entry's, for a
        # reversal): converted once per movement (its entries share the object).
        last_when: datetime | None = None
        text: Any = None
        for entry in entries:
            when = entry[0]
            if when is not last_when:
                text = stamp(when)
                last_when = when
            lot_id = entry[4]
            if lot_id < 0:
                lot_id = ids[lot_id]
            append((batch_id, text, *entry[1:4], lot_id, *entry[5:], simulated))
        # The balances: each lot's change in this post and its newest time, as ``move``
        # kept them on the book's stock (its stored time is the balance's own, so the
        # newest of the two is what MAX/GREATEST keeps).
        updates: list[tuple[Any, ...]] = []
        inserts: list[tuple[Any, ...]] = []
        for key, stock in self.stock.items():
            if not stock.moves:
                continue
            lot_id = ids[key[2]] if key[2] < 0 else key[2]
            assert stock.newest is not None
            when = stamp(stock.newest)
            if stock.stored:
                updates.append((stock.change, when, key[0], key[1], lot_id))
            else:
                # Not loaded: none, or one at zero from before the post (so never less
                # than zero after it: the check on the proposed row holds).
                inserts.append((key[0], key[1], lot_id, stock.change, when))
        cursor = connection.connection.cursor()
        try:
            _insert(cursor, sqlite, "stock_entry", _ENTRY_COLUMNS, rows_out)
            _write_balances(cursor, sqlite, updates, inserts)
        finally:
            cursor.close()


def _write_balances(
    cursor: Any, sqlite: bool, updates: list[tuple[Any, ...]], inserts: list[tuple[Any, ...]]
) -> None:
    """``updates``: (change, newest time, facility, item, lot) of the balances loaded;
    ``inserts``: (facility, item, lot, change, newest time) of the others."""
    if sqlite:
        if inserts:
            cursor.executemany(_UPSERT.format(values="VALUES (?, ?, ?, ?, ?)"), inserts)
        if updates:
            cursor.executemany(
                "UPDATE stock_balance SET quantity = quantity + ?,"
                " last_time = MAX(last_time, ?)"
                " WHERE facility_id = ? AND item_id = ? AND lot_id = ?",
                updates,
            )
        return
    # PostgreSQL: one statement each, the rows as arrays (not one statement per balance).
    if inserts:
        cursor.execute(
            _UPSERT.format(values=f"SELECT * FROM {_UNNEST}").replace("MAX(", "GREATEST("),
            [list(column) for column in zip(*inserts, strict=True)],
        )
    if updates:
        delta, last, facility, item, lot = zip(*updates, strict=True)
        cursor.execute(
            "UPDATE stock_balance AS b SET quantity = b.quantity + u.q,"
            " last_time = GREATEST(b.last_time, u.t)"
            f" FROM {_UNNEST} AS u (f, i, l, q, t)"
            " WHERE b.facility_id = u.f AND b.item_id = u.i AND b.lot_id = u.l",
            [list(facility), list(item), list(lot), list(delta), list(last)],
        )


#: The columns the ledger writes, in the order of its rows.
_ENTRY_COLUMNS = (
    "batch_id, time, kind, facility_id, item_id, lot_id, quantity, counterparty_id,"
    " counterparty, reason, reference, patients, counted, reverses_id, simulated"
)
_BALANCE_COLUMNS = "facility_id, item_id, lot_id, quantity, last_time"
#: A balance the book did not load: new, or added to one at zero (``{values}``: the rows).
_UPSERT = (
    f"INSERT INTO stock_balance ({_BALANCE_COLUMNS}) {{values}}"
    " ON CONFLICT (facility_id, item_id, lot_id) DO UPDATE SET"
    " quantity = stock_balance.quantity + excluded.quantity,"
    " last_time = MAX(stock_balance.last_time, excluded.last_time)"
)
#: PostgreSQL: the balances' rows as arrays, a column each.
_UNNEST = "unnest(%s::int[], %s::int[], %s::int[], %s::bigint[], %s::timestamptz[])"
#: Batches of at least this many rows go through COPY on PostgreSQL.
COPY_MIN_ROWS = 100


def _sqlite_time(value: datetime) -> str:
    """A time as ``UTCDateTime`` stores it on SQLite: naive UTC text, with microseconds."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    # "YYYY-MM-DD HH:MM:SS.ffffff+00:00" without its offset (no naive copy made).
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def _read_sqlite_time(value: str | datetime) -> datetime:
    """A ``UTCDateTime`` as the SQLite driver gives it (naive UTC text), as SQLAlchemy
    would read it: aware, in UTC."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _read_time(value: datetime) -> datetime:
    """A ``UTCDateTime`` as PostgreSQL's driver gives it (in the session's time zone),
    in UTC."""
    return value.astimezone(UTC)


def _date(value: str | date) -> date:
    """A ``Date`` as the driver gives it (text on SQLite)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _fetch(session: Session, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (parameters marked ``%s``) through the DBAPI cursor of the
    session's connection, in its transaction: no SQLAlchemy processing per row or value
    (the callers convert what they read: see ``_read_sqlite_time``, ``_date``). Flushes
    the session first, as its own queries do (autoflush): a caller's pending facility,
    lot or route is read."""
    if session.autoflush:
        session.flush()
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        sql = sql.replace("%s", "?")
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _among(
    column: str, values: Sequence[Any], sqlite: bool, array: str
) -> Iterator[tuple[str, list[Any]]]:
    """``column`` is one of ``values``: (condition, parameters) for each query to run. On
    SQLite an IN of at most 900 values a query; on PostgreSQL one ``= ANY(%s::array[])``
    of them all (one parameter, whatever their number: a long IN list is parsed value by
    value, and thousands of them made PostgreSQL's parser refuse a statement). Nothing
    when ``values`` is empty."""
    if not values:
        return
    if not sqlite:
        yield f"{column} = ANY(%s::{array}[])", [list(values)]
        return
    for chunk in _chunks(values):
        yield f"{column} IN ({', '.join(['%s'] * len(chunk))})", list(chunk)


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC)


def _insert(
    cursor: Any, sqlite: bool, table: str, columns: str, rows: list[tuple[Any, ...]]
) -> None:
    """Insert ``rows``: COPY on PostgreSQL for batches, executemany otherwise."""
    if not rows:
        return
    if not sqlite and len(rows) >= COPY_MIN_ROWS:
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    mark = "?" if sqlite else "%s"
    marks = ", ".join([mark] * (columns.count(",") + 1))
    cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)


def order_of_batch(session: Session, batch_id: int) -> tuple[str, str] | None:
    """The distribution order whose dispatch or delivery posted stock batch ``batch_id``:
    (its number, ``"dispatch"`` or ``"delivery"``); None for any other batch.

    Such a batch is not reversed: the order's lines (dispatched, accepted, rejected) and
    what is in transit under its number are written together with it, and a reversal
    would leave them disagreeing.
    """
    row = session.execute(
        select(DistributionOrder.number, DistributionOrder.dispatch_batch_id)
        .where(
            or_(
                DistributionOrder.dispatch_batch_id == batch_id,
                DistributionOrder.delivery_batch_id == batch_id,
            )
        )
        .limit(1)
    ).first()
    if row is None:
        return None
    return row[0], "dispatch" if row[1] == batch_id else "delivery"


def on_route(session: Session, source: Facility, destination: Facility) -> bool:
    """The ledger's route rule, for callers that refuse before posting (an order's creation).

    A transfer goes from a facility to its customer or its supplier along a
    supplier link, or along a declared route (``supply_route``): what
    :meth:`_Book.routed` checks on every transfer the ledger posts.
    """
    if destination.supplier_id == source.id or source.supplier_id == destination.id:
        return True
    declared = select(Route.id).where(
        Route.source_id == source.id, Route.destination_id == destination.id
    )
    return session.scalar(declared) is not None


def _chunks(values: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


__all__ = [
    "ISSUES",
    "LOCK_SPACE_STOCK",
    "Ledger",
    "Movement",
    "NotFoundError",
    "PostSummary",
    "SitroomError",
    "local_day",
    "on_route",
    "order_of_batch",
    "unit_word",
]
