"""Items, protocols and facilities from the country configuration (issue #11, items 1-2).

The items file is ``code,name,unit,category,source``; the facilities file
``code,name,type,org_unit,supplier`` (the supplier empty at the top of the
chain). Both are read whole and checked before anything is written: a bad row
is an :class:`~sitroom.errors.InputError` naming the file, the line and the
field. Loading creates and updates by code and never deletes, like the places.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from sitroom.country import Country, ProtocolConfig
from sitroom.errors import ConfigError, InputError, Location
from sitroom.places.models import OrgUnit
from sitroom.places.service import LoadSummary
from sitroom.supply.models import CATEGORIES, FACILITY_TYPES, Facility, Item
from sitroom.supply.network import COLUMNS as FACILITY_COLUMNS
from sitroom.supply.network import FacilityRow

ITEM_COLUMNS = ("code", "name", "unit", "category")
_Coded = TypeVar("_Coded", Item, Facility)
#: Which types may supply which (a customer's supplier is one level up, or any
#: facility above it: a warehouse may supply a pharmacy directly).
RANKS = {"stockpile": 0, "warehouse": 1, "store": 2, "hospital": 3, "pharmacy": 3}


@dataclass(frozen=True, slots=True)
class ItemRow:
    code: str
    name: str
    unit: str
    category: str


def _rows(path: Path, needed: Iterable[str]) -> list[tuple[int, dict[str, str]]]:
    """``(line, row)`` of a CSV file with the ``needed`` columns; InputError otherwise.

    Read once per process while the file is unchanged (its size and time):
    every ``setup`` of a test or a worker would parse the same 5,000 facilities.
    """
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    return _read_rows(path, tuple(needed), info.st_mtime_ns, info.st_size)


@lru_cache(maxsize=16)
def _read_rows(
    path: Path, needed: tuple[str, ...], _mtime: int, _size: int
) -> list[tuple[int, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [c for c in needed if c not in header]
            if missing:
                raise InputError(
                    Location(str(path), 1),
                    f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}"
                    f" (the header is {','.join(header) or 'empty'})",
                )
            return [
                (reader.line_num, {k: (v or "").strip() for k, v in row.items() if k})
                for row in reader
            ]
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise InputError(Location(str(path)), "not UTF-8 text") from exc


def read_items(path: Path) -> list[ItemRow]:
    """The items of ``path``, checked."""
    items: list[ItemRow] = []
    seen: dict[str, int] = {}
    for line, row in _rows(path, ITEM_COLUMNS):
        for name in ITEM_COLUMNS:
            if not row.get(name):
                raise InputError(Location(str(path), line, name), f"{name} is empty")
        if row["category"] not in CATEGORIES:
            raise InputError(
                Location(str(path), line, "category"),
                f"unknown category {row['category']!r}; choose one of {', '.join(CATEGORIES)}",
            )
        if row["code"] in seen:
            raise InputError(
                Location(str(path), line, "code"),
                f"item {row['code']} is already on line {seen[row['code']]}",
            )
        seen[row["code"]] = line
        items.append(ItemRow(row["code"], row["name"], row["unit"], row["category"]))
    return items


def read_facilities(path: Path, org_units: Iterable[str]) -> list[FacilityRow]:
    """The facilities of ``path``, checked: known org units and types, unique codes,
    each supplier a facility of the file above its customer (so no cycles)."""
    units = set(org_units)
    rows: list[FacilityRow] = []
    lines: dict[str, int] = {}
    for line, row in _rows(path, FACILITY_COLUMNS):
        where = str(path)
        for name in ("code", "name", "type", "org_unit"):
            if not row.get(name):
                raise InputError(Location(where, line, name), f"{name} is empty")
        if row["type"] not in FACILITY_TYPES:
            raise InputError(
                Location(where, line, "type"),
                f"unknown type {row['type']!r}; choose one of {', '.join(FACILITY_TYPES)}",
            )
        if row["org_unit"] not in units:
            raise InputError(
                Location(where, line, "org_unit"), f"unknown org unit {row['org_unit']!r}"
            )
        if row["code"] in lines:
            raise InputError(
                Location(where, line, "code"),
                f"facility {row['code']} is already on line {lines[row['code']]}",
            )
        lines[row["code"]] = line
        rows.append(
            FacilityRow(
                row["code"], row["name"], row["type"], row["org_unit"], row.get("supplier") or None
            )
        )
    by_code = {r.code: r for r in rows}
    for facility in rows:
        if facility.supplier is None:
            continue
        supplier = by_code.get(facility.supplier)
        at = Location(str(path), lines[facility.code], "supplier")
        if supplier is None:
            raise InputError(at, f"unknown supplier {facility.supplier!r}")
        if RANKS[supplier.type] >= RANKS[facility.type]:
            raise InputError(
                at,
                f"a {supplier.type} ({supplier.code}) cannot supply a {facility.type}:"
                " a supplier is higher in the chain than its customer",
            )
    return rows


def protocol_items(protocols: Iterable[ProtocolConfig], items: Iterable[str]) -> None:
    """ConfigError when a protocol names an item the catalogue does not have."""
    known = set(items)
    for protocol in protocols:
        unknown = sorted(set(protocol.items) - known)
        if unknown:
            raise ConfigError(
                f"supply protocol {protocol.code}: unknown item{'s' if len(unknown) > 1 else ''}"
                f" {', '.join(unknown)}"
            )


def _upsert(
    session: Session,
    model: type[_Coded],
    wanted: Mapping[str, Mapping[str, object]],
    summary: LoadSummary,
) -> dict[str, int]:
    """Create and update rows of ``model`` by code (Core statements: thousands of
    facilities load in a blink); the ids by code."""
    columns = [getattr(model, name) for name in next(iter(wanted.values()), {})]
    stored = {row[0]: row for row in session.execute(select(model.code, model.id, *columns))}
    names = list(next(iter(wanted.values()), {}))
    new = [{"code": code, **values} for code, values in wanted.items() if code not in stored]
    changed = []
    for code, values in wanted.items():
        row = stored.get(code)
        if row is None:
            continue
        current = dict(zip(names, row[2:], strict=True))
        diff = [name for name in names if current[name] != values[name]]
        if diff:
            summary.updated += 1
            summary.changes.append(f"{code}: {', '.join(diff)}")
            changed.append({"row_id": row[1], **values})
        else:
            summary.unchanged += 1
    if new:
        session.execute(insert(cast(Table, model.__table__)), new)
        summary.created += len(new)
    if changed:
        table = cast(Table, model.__table__)
        session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({name: bindparam(name) for name in names}),
            changed,
        )
    return dict(session.execute(select(model.code, model.id)).all())


def load_supply(session: Session, country: Country) -> LoadSummary | None:
    """Create or update the items and facilities of ``country``; None without ``[supply]``.

    Does not commit (``setup_country`` does, under its lock).
    """
    config = country.supply
    if config is None:
        return None
    items = read_items(country.folder / config.items)
    protocol_items(config.protocols, (i.code for i in items))
    summary = LoadSummary()
    _upsert(
        session,
        Item,
        {i.code: {"name": i.name, "unit": i.unit, "category": i.category} for i in items},
        summary,
    )
    if config.facilities is None:
        return summary
    units = dict(session.execute(select(OrgUnit.code, OrgUnit.id)).all())
    rows = read_facilities(country.folder / config.facilities, units)
    ids = _upsert(
        session,
        Facility,
        {r.code: {"name": r.name, "type": r.type, "org_unit_id": units[r.org_unit]} for r in rows},
        summary,
    )
    # Suppliers once every facility has its id (a file may name a supplier below).
    current = dict(session.execute(select(Facility.id, Facility.supplier_id)).all())
    moved = [
        {"row_id": ids[r.code], "supplier_id": ids[r.supplier] if r.supplier else None}
        for r in rows
        if current[ids[r.code]] != (ids[r.supplier] if r.supplier else None)
    ]
    if moved:
        table = cast(Table, Facility.__table__)
        session.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(supplier_id=bindparam("supplier_id")),
            moved,
        )
    return summary


__all__ = [
    "ITEM_COLUMNS",
    "RANKS",
    "ItemRow",
    "load_supply",
    "protocol_items",
    "read_facilities",
    "read_items",
]
