"""Benchmark: the stock ledger at national scale, against plain inserts and a full replay.

Generates ``--events`` ledger events (default 10,000,000) over ``--facilities``
facilities (default 5,000: the shipped DPRK network, cut or padded with
pharmacies) and ``--items`` items (default 20: the shipped 10 and more like
them), deterministic for a seed and valid for the ledger, in time order:
receipts of new lots at the national stockpile first, shipped down the chain
(stockpile, warehouses, district stores, pharmacies and hospitals) as transfer
out and, a while later, transfer in under a shared reference, each facility
ordering from its supplier when its stock runs low; then mostly dispensing at
pharmacies and hospitals, with a few adjustments (damaged) and stocktakes.

Then, each phase on a fresh database (the DPRK places and the supply network):

(a) the event import rate. The baseline is a plain DBAPI ``executemany`` of the
    same rows (ids resolved from dictionaries, times converted as the ledger
    stores them) into the ledger's own ``stock_entry`` (its indexes, foreign
    keys and checks; no check of the ledger's), as the surveillance import's
    baseline (``bench_import.py``) is one into ``data_value``: the goal is
    measured against it. For reference also the same rows into a bare table
    with the columns of ``stock_entry`` (no index, no constraint), and on
    PostgreSQL ``COPY`` into each. The ledger is
    :meth:`sitroom.supply.ledger.Ledger.post` of the
    same events as ``Movement`` objects in chunks of ``--chunk`` (a post per
    chunk, each one transaction with every check the ledger makes), or with
    ``--path csv`` :func:`sitroom.supply.service.import_events` of the chunks
    written as CSV files (parsing included). Prints rows/s of each and the
    ratio baseline time / ledger time (goal >= 0.5).
(b) stock on hand for all facilities and items: the service calls on the
    maintained balances (:func:`sitroom.supply.service.stock_matrix`, the
    facilities x items matrix, goal < 100 ms; and
    :func:`~sitroom.supply.service.stock_on_hand`, a line per facility, item and
    lot) beside the same figures recomputed from the ledger (``at`` now: a GROUP
    BY over ``stock_entry``), fastest of ``--repeat`` runs; the two must agree.

The allocation (issue #11, item 8) has its own benchmark,
``bench/bench_allocation.py``.

Usage::

    python bench/bench_supply.py --events 1000000 [--db URL] [--path post|csv]

``--db`` takes a PostgreSQL URL (its public schema is dropped!); SQLite files in
a temporary folder otherwise.
"""

from __future__ import annotations

import argparse
import heapq
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, text

from sitroom.config import DEFAULT_COUNTRY
from sitroom.country import load_country
from sitroom.db import create_db_engine, session_factory, upgrade
from sitroom.setup import setup_country
from sitroom.supply.events_csv import COLUMNS
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import Facility, Item
from sitroom.supply.service import import_events, stock_matrix, stock_on_hand

ZONE = ZoneInfo("Asia/Pyongyang")
START = datetime(2022, 1, 1, 8, tzinfo=ZONE)
#: Over how long the events are spread (they end well before today: nothing in the future).
SPAN = timedelta(days=730)
#: A dispensing facility orders this much when it runs low ...
ORDER = 400
#: ... at this much on hand and on the way.
REORDER = 100
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"

#: One event: the CSV's columns, and the lot an unnamed issue takes (for the baseline).
Row = tuple[
    datetime,
    str,
    str,
    str,
    str | None,
    date | None,
    int,
    str | None,
    str | None,
    str | None,
    int | None,
    str,
]


class Events:
    """A deterministic, valid stream of ledger events on a facility tree.

    Tracks every facility's lots (first expiry first out, as the ledger issues
    them) and what is on the way to it, so every issue has its stock.
    """

    def __init__(
        self, facilities: list[tuple[str, str, str | None]], items: list[str], seed: int
    ) -> None:
        self.rng = random.Random(seed)
        self.items = items
        self.supplier = {code: up for code, _, up in facilities}
        below: dict[str, int] = defaultdict(int)
        self.dispensers = [code for code, kind, _ in facilities if kind in ("pharmacy", "hospital")]
        for code in self.dispensers:
            up = self.supplier[code]
            while up is not None:
                below[up] += 1
                up = self.supplier[up]
        dispensing = set(self.dispensers)
        self.size = {
            code: ORDER if code in dispensing else ORDER * max(below[code], 1) * 2
            for code, _, _ in facilities
        }
        self.root = next(code for code, _, up in facilities if up is None)
        #: (facility, item) -> [[expiry, lot, quantity], ...] in FEFO order.
        self.lots: dict[tuple[str, str], list[list[Any]]] = defaultdict(list)
        self.coming: dict[tuple[str, str], int] = defaultdict(int)
        self.arrivals: list[tuple[int, int, tuple[Any, ...]]] = []
        self.made = 0
        self.serial = 0
        self.lot_serial: dict[str, int] = defaultdict(int)

    def on_hand(self, key: tuple[str, str]) -> int:
        return sum(q for _, _, q in self.lots[key])

    def take(self, key: tuple[str, str], quantity: int) -> list[tuple[str, date, int]]:
        """FEFO out of ``key``'s lots: the (lot, expiry, quantity) taken."""
        taken = []
        lots = self.lots[key]
        while quantity > 0:
            expiry, lot, there = lots[0]
            step = min(there, quantity)
            taken.append((lot, expiry, step))
            quantity -= step
            if step == there:
                lots.pop(0)
            else:
                lots[0][2] = there - step
        return taken

    def put(self, key: tuple[str, str], lot: str, expiry: date, quantity: int) -> None:
        lots = self.lots[key]
        for entry in lots:
            if entry[1] == lot:
                entry[2] += quantity
                return
        lots.append([expiry, lot, quantity])
        lots.sort()

    def _ship(self, facility: str, item: str, quantity: int, now: int, delay: int) -> Iterator[Row]:
        """``facility`` orders ``quantity`` of ``item`` from its supplier (a receipt of a
        new lot at the stockpile); it arrives ``delay`` events later (0: next)."""
        key = (facility, item)
        up = self.supplier[facility]
        if up is None:
            self.lot_serial[item] += 1
            n = self.lot_serial[item]
            lot = f"{item}-L{n:05d}"
            expiry = (START + SPAN).date() + timedelta(days=365 + n)
            self.put(key, lot, expiry, quantity)
            donor = "procurement" if n % 3 else "aid: WHO"
            yield (
                START,
                "receipt",
                facility,
                item,
                lot,
                expiry,
                quantity,
                donor,
                None,
                None,
                None,
                lot,
            )
            return
        source = (up, item)
        if self.on_hand(source) < quantity:
            yield from self._ship(up, item, max(quantity, self.size[up]), now, 0)
        self.serial += 1
        reference = f"TR-{self.serial:08d}"
        taken = self.take(source, quantity)
        self.coming[key] += quantity
        yield (
            START,
            "transfer_out",
            up,
            item,
            None,
            None,
            quantity,
            facility,
            None,
            reference,
            None,
            taken[0][0],
        )
        arrival = (facility, item, quantity, up, reference, taken)
        if delay == 0:
            yield from self._arrive(arrival)
        else:
            heapq.heappush(self.arrivals, (now + delay, self.serial, arrival))

    def _arrive(self, arrival: tuple[Any, ...]) -> Iterator[Row]:
        facility, item, quantity, up, reference, taken = arrival
        key = (facility, item)
        for lot, expiry, step in taken:
            self.put(key, lot, expiry, step)
        self.coming[key] -= quantity
        yield (
            START,
            "transfer_in",
            facility,
            item,
            None,
            None,
            quantity,
            up,
            None,
            reference,
            None,
            taken[0][0],
        )

    def _reorder(self, facility: str, item: str, now: int) -> Iterator[Row]:
        key = (facility, item)
        size = self.size[facility]
        if self.supplier[facility] is not None and self.on_hand(key) + self.coming[key] < (
            REORDER if size == ORDER else size // 2
        ):
            yield from self._ship(facility, item, size, now, self.rng.randint(50, 5000))

    def _step(self, now: int) -> Iterator[Row]:
        rng = self.rng
        while self.arrivals and self.arrivals[0][0] <= now:
            yield from self._arrive(heapq.heappop(self.arrivals)[2])
        facility = rng.choice(self.dispensers)
        item = rng.choice(self.items)
        key = (facility, item)
        roll = rng.random()
        have = self.on_hand(key)
        if have == 0:
            yield from self._reorder(facility, item, now)
            if self.on_hand(key) == 0:
                # Nothing on the shelf yet: it comes urgently, then dispensing can go on.
                yield from self._ship(facility, item, self.size[facility], now, 0)
            return
        if roll < 0.004:
            lot = self.lots[key][0]
            counted = max(0, lot[2] - rng.randint(0, 3))
            lot[2] = counted
            if counted == 0:
                self.lots[key].pop(0)
            yield (
                START,
                "stocktake",
                facility,
                item,
                lot[1],
                None,
                counted,
                None,
                None,
                None,
                None,
                lot[1],
            )
        elif roll < 0.01:
            quantity = min(have, rng.randint(1, 5))
            taken = self.take(key, quantity)
            yield (
                START,
                "adjust",
                facility,
                item,
                None,
                None,
                quantity,
                None,
                "damaged",
                None,
                None,
                taken[0][0],
            )
        else:
            quantity = min(have, rng.randint(1, 30))
            taken = self.take(key, quantity)
            patients = max(1, quantity // rng.randint(3, 15))
            yield (
                START,
                "dispense",
                facility,
                item,
                None,
                None,
                quantity,
                None,
                None,
                None,
                patients,
                taken[0][0],
            )
        yield from self._reorder(facility, item, now)

    def rows(self, n: int) -> Iterator[Row]:
        """``n`` events, times evenly spread over :data:`SPAN`, in order."""
        step = SPAN / max(n, 1)
        made = 0
        now = 0
        while True:
            for row in self._step(now):
                if made == n:
                    return
                yield (START + step * made, *row[1:])  # type: ignore[misc]
                made += 1
            now += 1


def chunks(events: Events, n: int, size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in events.rows(n):
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# The databases ---------------------------------------------------------------------------


def fresh(url: str, n_facilities: int, n_items: int) -> Engine:
    """A new, migrated database with the DPRK places, the supply network cut or padded
    to ``n_facilities`` and ``n_items`` items."""
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
    engine = create_db_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    with session_factory(engine)() as session:
        setup_country(session, load_country(DEFAULT_COUNTRY))
        items = session.execute(select(Item.id, Item.unit, Item.category)).all()
        extra = [
            {
                "code": f"BENCH-{n:02d}",
                "name": f"Bench item {n}",
                "unit": items[n % len(items)].unit,
                "category": items[n % len(items)].category,
            }
            for n in range(len(items) + 1, n_items + 1)
        ]
        if extra:
            session.execute(Item.__table__.insert(), extra)
        facilities = session.execute(
            select(Facility.id, Facility.type, Facility.org_unit_id).order_by(Facility.id)
        ).all()
        stores = [f for f in facilities if f.type == "store"]
        pad = [
            {
                "code": f"PH-BENCH-{n:05d}",
                "name": f"Bench pharmacy {n}",
                "type": "pharmacy",
                "org_unit_id": stores[n % len(stores)].org_unit_id,
                "supplier_id": stores[n % len(stores)].id,
            }
            for n in range(n_facilities - len(facilities))
        ]
        if pad:
            session.execute(Facility.__table__.insert(), pad)
        session.commit()
    return engine


def network(
    engine: Engine, n_facilities: int, n_items: int
) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """The first ``n_facilities`` facilities (suppliers come first) and ``n_items`` items."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT f.code, f.type, s.code FROM supply_facility f"
                " LEFT JOIN supply_facility s ON s.id = f.supplier_id ORDER BY f.id"
            )
        ).all()
        items = [r[0] for r in conn.execute(text("SELECT code FROM supply_item ORDER BY id"))]
    return [(r[0], r[1], r[2]) for r in rows[:n_facilities]], items[:n_items]


BARE = (
    "CREATE TABLE bench_entry (id {id}, batch_id BIGINT, time {time}, kind VARCHAR(16),"
    " facility_id INTEGER, item_id INTEGER, lot_id INTEGER, quantity BIGINT,"
    " counterparty_id INTEGER, counterparty VARCHAR(200), reason VARCHAR(200),"
    " reference VARCHAR(100), patients INTEGER, counted BIGINT, reverses_id BIGINT,"
    " simulated BOOLEAN)"
)
BARE_COLUMNS = (
    "batch_id, time, kind, facility_id, item_id, lot_id, quantity, counterparty_id,"
    " counterparty, reason, reference, patients, counted, reverses_id, simulated"
)
SIGN = {"receipt": 1, "transfer_in": 1, "transfer_out": -1, "dispense": -1, "adjust": -1}


def baseline(
    engine: Engine, args: argparse.Namespace, *, copy: bool = False, table: str = "bench_entry"
) -> float:
    """Plain executemany (or COPY) of the same rows into a bare table (``bench_entry``)
    or into the ledger's own ``stock_entry`` (its indexes, foreign keys and checks;
    the lots made as they appear, one batch row); seconds."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.begin() as conn:
        if table == "bench_entry":
            conn.execute(
                text(
                    BARE.format(
                        id="INTEGER PRIMARY KEY" if sqlite else "BIGSERIAL PRIMARY KEY",
                        time="DATETIME" if sqlite else "TIMESTAMP WITH TIME ZONE",
                    )
                )
            )
        else:
            conn.execute(
                text(
                    "INSERT INTO stock_batch (id, channel, source, created_by, created_at,"
                    " entries, simulated) VALUES (1, 'file', 'bench', 'bench', :now, 0, :no)"
                ),
                {"now": datetime.now(UTC), "no": False},
            )
        places = dict(conn.execute(text("SELECT code, id FROM supply_facility")).all())
        items = dict(conn.execute(text("SELECT code, id FROM supply_item")).all())
    facilities, codes = network(engine, args.facilities, args.items)
    events = Events(facilities, codes, args.seed)
    lots: dict[tuple[str, str], int] = {}
    mark = "?" if sqlite else "%s"
    sql = f"INSERT INTO {table} ({BARE_COLUMNS}) VALUES ({', '.join([mark] * 15)})"
    four = ", ".join([mark] * 4)
    lot_sql = f"INSERT INTO supply_lot (id, item_id, code, expiry) VALUES ({four})"
    raw = engine.raw_connection()
    took = 0.0
    for chunk in chunks(events, args.events, args.chunk):
        start = time.perf_counter()
        rows = []
        new_lots = []
        for (
            when,
            kind,
            place,
            item,
            lot,
            expiry,
            quantity,
            other,
            why,
            ref,
            patients,
            hint,
        ) in chunk:
            lot_id = lots.get((item, lot or hint))
            if lot_id is None:
                lot_id = lots[(item, lot or hint)] = len(lots) + 1
                new_lots.append((lot_id, items[item], lot or hint, expiry or date(2030, 1, 1)))
            stamp = when.astimezone(UTC)
            rows.append(
                (
                    1,
                    stamp.strftime(_SQLITE_DATETIME) if sqlite else stamp,
                    kind,
                    places[place],
                    items[item],
                    lot_id,
                    SIGN.get(kind, 1) * quantity,
                    places[other] if kind.startswith("transfer") else None,
                    None if kind.startswith("transfer") else other,
                    why,
                    ref,
                    patients,
                    quantity if kind == "stocktake" else None,
                    None,
                    False,
                )
            )
        cursor = raw.cursor()
        if table == "stock_entry" and new_lots:
            cursor.executemany(lot_sql, new_lots)
        if copy:
            with cursor.copy(f"COPY {table} ({BARE_COLUMNS}) FROM STDIN") as stream:
                for row in rows:
                    stream.write_row(row)
        else:
            cursor.executemany(sql, rows)
        cursor.close()
        raw.commit()
        took += time.perf_counter() - start
    raw.close()
    return took


def _movement(line: int, row: Row) -> Movement:
    when, kind, place, item, lot, expiry, quantity, other, why, ref, patients, _ = row
    return Movement(when, kind, place, item, quantity, lot, expiry, other, why, ref, patients, line)


def _csv(path: Path, chunk: list[Row]) -> None:
    import csv

    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in chunk:
            writer.writerow(
                [
                    row[0].isoformat(),
                    *("" if v is None else v for v in row[1:5]),
                    "" if row[5] is None else row[5].isoformat(),
                    *("" if v is None else v for v in row[6:11]),
                ]
            )


def through_ledger(engine: Engine, args: argparse.Namespace, folder: Path) -> tuple[float, int]:
    """The events through the ledger, a post (or a file) per chunk; seconds and entries."""
    facilities, codes = network(engine, args.facilities, args.items)
    events = Events(facilities, codes, args.seed)
    took = 0.0
    entries = 0
    line = 2
    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile()
    for number, chunk in enumerate(chunks(events, args.events, args.chunk)):
        path = folder / f"events-{number:04d}.csv"
        if args.path == "csv":
            _csv(path, chunk)
        if profile is not None:
            profile.enable()
        start = time.perf_counter()
        with session_factory(engine)() as session:
            if args.path == "csv":
                summary = import_events(session, path, ZONE, user="bench")
            else:
                movements = [_movement(line + k, row) for k, row in enumerate(chunk)]
                summary = Ledger(session, user="bench", channel="file").post(
                    movements, source=f"bench chunk {number}"
                )
        took += time.perf_counter() - start
        if profile is not None:
            profile.disable()
        if engine.dialect.name == "postgresql":
            # What autovacuum does on a server that runs it (the development one does
            # not): without statistics the planner scans the whole ledger for the
            # transit look-up. Not timed.
            with engine.begin() as conn:
                conn.execute(text("ANALYZE stock_entry"))
                conn.execute(text("ANALYZE stock_balance"))
        path.unlink(missing_ok=True)
        if not summary.committed:
            raise SystemExit(f"chunk {number} refused: {summary.rejections[:3]}")
        entries += summary.entries
        line += len(chunk)
        if args.progress:
            print(f"  ... {line - 2:,} events, {took:.1f} s", flush=True)
    if profile is not None:
        profile.dump_stats(args.profile)
    return took, entries


def _fastest(repeat: int, run: Any) -> tuple[float, Any]:
    best, got = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        got = run()
        best = min(best, time.perf_counter() - start)
    return best, got


def reads(engine: Engine, repeat: int) -> None:
    """(b): the maintained stock on hand beside the same figures summed from the ledger."""
    with session_factory(engine)() as session:
        entries = session.scalar(text("SELECT count(*) FROM stock_entry"))
        balances = session.scalar(text("SELECT count(*) FROM stock_balance"))
        now = datetime.now(UTC)
        matrix_time, matrix = _fastest(repeat, lambda: stock_matrix(session))
        replay_time, replay = _fastest(repeat, lambda: stock_matrix(session, at=now))
        lines_time, lines = _fastest(repeat, lambda: stock_on_hand(session))
        relines_time, relines = _fastest(repeat, lambda: stock_on_hand(session, at=now))
    shape = matrix.quantity.shape
    same = bool((matrix.quantity == replay.quantity).all()) and lines == relines
    print(
        f"stock on hand ({balances:,} balances, {entries:,} ledger entries; fastest of {repeat}):"
    )
    print(
        f"  all facilities x items ({shape[0]:,} x {shape[1]}, stock_matrix):"
        f" maintained {matrix_time * 1000:8.1f} ms (goal < 100 ms),"
        f" recomputed from the ledger {replay_time * 1000:8.1f} ms,"
        f" ratio {replay_time / matrix_time:.0f}"
    )
    print(
        f"  every lot ({len(lines):,} lines, stock_on_hand):"
        f" maintained {lines_time * 1000:8.1f} ms,"
        f" recomputed from the ledger {relines_time * 1000:8.1f} ms,"
        f" ratio {relines_time / lines_time:.1f}"
    )
    print(f"  maintained and recomputed agree: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit("the maintained stock differs from the ledger's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--facilities", type=int, default=5_000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=100_000, help="events per post (or file)")
    parser.add_argument("--path", choices=["post", "csv"], default="post")
    parser.add_argument("--seed", type=int, default=2022)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each read")
    parser.add_argument(
        "--db", default="", help="a PostgreSQL URL (its public schema is dropped!); SQLite if not"
    )
    parser.add_argument("--skip-baseline", action="store_true", help="the ledger and reads only")
    parser.add_argument("--profile", help="write the ledger phase's cProfile stats here")
    parser.add_argument("--progress", action="store_true", help="print each chunk's progress")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url = args.db or f"sqlite:///{folder / 'bench.db'}"
        engine = fresh(url, args.facilities, args.items)
        facilities, codes = network(engine, args.facilities, args.items)
        name = engine.dialect.name
        print(
            f"{args.events:,} events over {len(facilities):,} facilities x {len(codes)} items,"
            f" {name}, chunks of {args.chunk:,}"
        )
        results: list[tuple[str, float]] = []
        if not args.skip_baseline:
            results.append(("baseline executemany (bare table)", baseline(engine, args)))
            if name == "postgresql":
                engine.dispose()
                engine = fresh(url, args.facilities, args.items)
                results.append(("baseline COPY (bare table)", baseline(engine, args, copy=True)))
            for copy in (False, True) if name == "postgresql" else (False,):
                # The same rows into the ledger's own table: what its indexes, foreign
                # keys and checks cost, before any check of the ledger's.
                engine.dispose()
                engine = fresh(url, args.facilities, args.items)
                took = baseline(engine, args, copy=copy, table="stock_entry")
                how = "COPY" if copy else "executemany"
                results.append((f"baseline {how} (stock_entry)", took))
            engine.dispose()
            engine = fresh(url, args.facilities, args.items)
        label = "ledger: Ledger.post" if args.path == "post" else "ledger: import_events (CSV)"
        took, entries = through_ledger(engine, args, folder)
        results.append((label, took))
        for what, seconds in results:
            print(
                f"{name:10s} {what:36s} {seconds:8.2f} s  {args.events / seconds:10,.0f} events/s"
            )
        print(f"{name:10s} the ledger wrote {entries:,} entries for {args.events:,} events")
        for what, seconds in results[:-1]:
            goal = "  (goal >= 0.5)" if what == "baseline executemany (stock_entry)" else ""
            print(f"{name:10s} ratio ({what} time / ledger time): {seconds / took:.2f}{goal}")
        reads(engine, args.repeat)
        engine.dispose()


if __name__ == "__main__":
    main()
