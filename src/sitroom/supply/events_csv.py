"""Stock events in CSV: reading a file into movements, and writing the ledger back out.

The columns (issue #11, item 3)::

    time,event,facility,item,lot,expiry,quantity,counterparty,reason,reference,patients

``time`` is ISO 8601: with an offset (``2022-05-20T10:30+09:00``), or local
time in the country's time zone without one (``2022-05-20 10:30``), or a day
alone (``2022-05-20``: noon local time). ``quantity`` is a whole number of the
item's units (a stocktake's count); counts are read like the surveillance
import's (:func:`sitroom.counts.parse_count`). Empty cells are absent values.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from sitroom.counts import parse_count
from sitroom.errors import InputError, Location
from sitroom.supply.ledger import Movement
from sitroom.surveillance.ingest import Rejection

COLUMNS = (
    "time",
    "event",
    "facility",
    "item",
    "lot",
    "expiry",
    "quantity",
    "counterparty",
    "reason",
    "reference",
    "patients",
)
REQUIRED = ("time", "event", "facility", "item", "quantity")
#: A file larger than this is refused before reading (a ledger file of 10 million
#: events is about 1 GB; split bigger ones).
MAX_BYTES = 2 * 1024**3


@dataclass(slots=True)
class ReadFile:
    """A file's movements, the rows it could not read, and its SHA-256."""

    movements: list[Movement]
    rejections: list[Rejection]
    sha256: str


def parse_time(text: str, zone: ZoneInfo) -> datetime:
    """An aware time from ISO text; local time in ``zone`` without an offset."""
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(12), zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a time (2022-05-20T10:30 or 2022-05-20)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def _count(text: str, column: str) -> int:
    try:
        return parse_count(text)
    except ValueError as exc:
        raise _Bad(column, str(exc)) from None


class _Bad(Exception):
    def __init__(self, column: str, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason


def _movement(line: int, row: dict[str, str], zone: ZoneInfo) -> Movement:
    for name in REQUIRED:
        if not row.get(name):
            raise _Bad(name, f"{name} is empty")
    try:
        moment = parse_time(row["time"], zone)
    except ValueError as exc:
        raise _Bad("time", str(exc)) from None
    expiry = None
    if row.get("expiry"):
        try:
            expiry = date.fromisoformat(row["expiry"])
        except ValueError:
            raise _Bad("expiry", f"{row['expiry']!r} is not a date (2024-12-31)") from None
    return Movement(
        time=moment,
        event=row["event"],
        facility=row["facility"],
        item=row["item"],
        quantity=_count(row["quantity"], "quantity"),
        lot=row.get("lot") or None,
        expiry=expiry,
        counterparty=row.get("counterparty") or None,
        reason=row.get("reason") or None,
        reference=row.get("reference") or None,
        patients=_count(row["patients"], "patients") if row.get("patients") else None,
        line=line,
    )


def read_events(path: Path, zone: ZoneInfo, shown: str | None = None) -> ReadFile:
    """The movements of a CSV file; InputError when the file itself cannot be read."""
    shown = shown or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(Location(shown), f"{size:,} bytes: more than the limit of 2 GiB")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(Location(shown), "file not found") from None
    except IsADirectoryError:
        raise InputError(Location(shown), "is a folder, not a file") from None
    return parse_events(raw, zone, shown)


def parse_events(raw: bytes, zone: ZoneInfo, shown: str) -> ReadFile:
    """The movements of the CSV text ``raw`` (a file's bytes, a request's body);
    InputError when it cannot be read at all (not UTF-8, empty, a bad header)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(Location(shown, line), "not UTF-8 text") from None
    if not text.strip():
        raise InputError(Location(shown), "the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader)]
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        raise InputError(
            Location(shown, 1),
            "; ".join(problems) + f" (the columns are {','.join(COLUMNS)})",
        )
    movements: list[Movement] = []
    rejections: list[Rejection] = []
    for cells in reader:
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            rejections.append(
                Rejection(line, None, f"{len(cells)} cells where the header has {len(header)}")
            )
            continue
        row = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        try:
            movements.append(_movement(line, row, zone))
        except _Bad as exc:
            rejections.append(Rejection(line, exc.column, exc.reason))
    return ReadFile(movements, rejections, hashlib.sha256(raw).hexdigest())


def write_events(rows: Iterable[dict[str, object]]) -> Iterator[str]:
    """CSV lines (header first) of ledger rows with the :data:`COLUMNS` as keys."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield out.getvalue()
    for row in rows:
        out.seek(0)
        out.truncate()
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in COLUMNS])
        yield out.getvalue()


__all__ = ["COLUMNS", "ReadFile", "parse_events", "parse_time", "read_events", "write_events"]
