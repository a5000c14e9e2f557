"""Parsers for the import formats: each turns a file into a stream of raw values.

Parsers know file formats, not the database: they yield :class:`RawValue` (one
value with the line and field it came from) or :class:`Rejection` (a row that
cannot be read), and raise :class:`~sitroom.errors.InputError` when the whole
file is unreadable. Checking codes, periods and numbers is the service's job.

Formats
-------
``csv-wide``
    One row per org unit and period, one column per data element
    (``org_unit,period,new_fever,...``), optionally ``received_at`` and
    ``comment``; a blank cell means "no value". Country mappings adapt other
    headers (the real DPRK files).
``csv-long``
    DHIS2's CSV: ``dataelement,period,orgunit,categoryoptioncombo,
    attributeoptioncombo,value,storedby,lastupdated,comment,followup,deleted``,
    read by position as DHIS2 does.
``dhis2-json``
    DHIS2 ``dataValueSets`` JSON with codes as identifiers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitroom.country import Country, MappingConfig
from sitroom.errors import InputError, Location

FORMATS = ("csv-wide", "csv-long", "dhis2-json")

#: Columns of DHIS2's CSV, in DHIS2's order (it reads them by position).
DHIS2_CSV_COLUMNS = (
    "dataelement",
    "period",
    "orgunit",
    "categoryoptioncombo",
    "attributeoptioncombo",
    "value",
    "storedby",
    "lastupdated",
    "comment",
    "followup",
    "deleted",
)

#: DHIS2's default category option combo: its uid, code and name.
DEFAULT_COMBOS = frozenset({"", "hllvx50cxc0", "default"})


Progress = Callable[[int], None]


@dataclass(slots=True)
class RawValue:
    """One value as the file gives it, before any checking."""

    line: int
    element: str
    org_unit: str
    period: str
    value: str | None
    field: str = "value"
    received: str | None = None
    stored_by: str | None = None
    comment: str | None = None
    delete: bool = False
    combo: str = ""


@dataclass(slots=True)
class Rejection:
    """A row, or one value of it, that was not imported, and why."""

    line: int | None
    field: str | None
    reason: str

    def location(self, file: str) -> Location:
        return Location(file, self.line, self.field)


Item = RawValue | Rejection


def _decoded_lines(path: Path, progress: Progress | None) -> Iterator[str]:
    """The file's lines as text, failing with the line number on bad UTF-8."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if progress is not None:
                progress(len(raw))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    Location(str(path), number),
                    f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1});"
                    " save the file as UTF-8",
                ) from exc
            if number == 1:
                text = text.removeprefix("\ufeff")
            yield text


def check_readable(path: Path) -> None:
    """Raise InputError unless ``path`` is a non-empty file."""
    _check_not_empty(path)


def _check_not_empty(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise InputError(Location(str(path)), "no such file") from exc
    if path.is_dir():
        raise InputError(Location(str(path)), "is a folder, not a file")
    with path.open("rb") as handle:
        head = handle.read(4096)
    if size == 0 or not head.strip().removeprefix(b"\xef\xbb\xbf").strip():
        raise InputError(Location(str(path)), "the file is empty")


def read_header(path: Path) -> list[str]:
    """The first CSV row of ``path`` (for format detection)."""
    _check_not_empty(path)
    reader = csv.reader(_decoded_lines(path, None))
    try:
        return [cell.strip() for cell in next(reader)]
    except csv.Error as exc:
        raise InputError(Location(str(path), 1), f"not a valid CSV header: {exc}") from exc


def detect_format(path: Path, country: Country) -> tuple[str, str | None]:
    """The format of ``path`` and, for wide CSV, the name of the country mapping to use."""
    if path.suffix.lower() == ".json":
        return "dhis2-json", None
    header = read_header(path)
    if header and header[0].lower() in ("dataelement", "data_element"):
        return "csv-long", None
    return "csv-wide", find_mapping(header, country)


def find_mapping(header: list[str], country: Country) -> str | None:
    columns = set(header)
    for name, mapping in country.mappings.items():
        if mapping.detect and columns.issuperset(mapping.detect):
            return name
    return None


def _csv_rows(path: Path, progress: Progress | None) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(_decoded_lines(path, progress), strict=True)
    while True:
        start = reader.line_num + 1  # where the next record begins
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            hint = " (a quote opened here is never closed?)" if "end of data" in str(exc) else ""
            raise InputError(Location(str(path), start), f"bad CSV: {exc}{hint}") from exc
        yield start, row


def parse_wide_csv(
    path: Path,
    elements: set[str],
    mapping: MappingConfig | None = None,
    progress: Progress | None = None,
) -> Iterator[Item]:
    """Values of a wide CSV, one per non-blank element cell."""
    _check_not_empty(path)
    rows = _csv_rows(path, progress)
    _, header = next(rows)
    header = [mapping.rename.get(c.strip(), c.strip()) if mapping else c.strip() for c in header]
    where = Location(str(path), 1)
    period_col = mapping.period if mapping else "period"
    unit_col = (mapping.org_unit if mapping else "org_unit") or None
    received_col = mapping.received if mapping and mapping.received else "received_at"
    constant_unit = mapping.org_unit_constant if mapping else None
    ignored = set(mapping.ignore) if mapping else set()

    seen: set[str] = set()
    for column in header:
        if column in seen:
            raise InputError(Location(str(path), 1, column), "column appears twice in the header")
        seen.add(column)
    if period_col not in header:
        raise InputError(Location(str(path), 1, period_col), "the header has no period column")
    if constant_unit is None and (unit_col is None or unit_col not in header):
        raise InputError(
            Location(str(path), 1, unit_col or "org_unit"), "the header has no org unit column"
        )
    known = {period_col, received_col, "comment", *ignored}
    if unit_col:
        known.add(unit_col)
    unknown = [c for c in header if c not in known and c not in elements]
    if unknown:
        raise InputError(
            Location(str(path), 1, unknown[0]),
            f"unknown column {unknown[0]!r}: not a data element of this country"
            f" (known: {', '.join(sorted(elements))})",
        )
    index = {column: i for i, column in enumerate(header)}
    element_columns = [(c, index[c]) for c in header if c in elements]
    if not element_columns:
        raise InputError(where, "the header names no data element")

    any_row = False
    for line, row in rows:
        if not "".join(row).strip():  # a blank line or only empty cells
            continue
        any_row = True
        if len(row) != len(header):
            yield Rejection(line, None, f"has {len(row)} fields, the header has {len(header)}")
            continue
        period = row[index[period_col]].strip()
        unit = constant_unit or row[index[unit_col]].strip()  # type: ignore[index]
        received = row[index[received_col]].strip() if received_col in index else None
        comment = row[index["comment"]].strip() if "comment" in index else None
        for column, i in element_columns:
            cell = row[i].strip()
            if cell:
                yield RawValue(
                    line,
                    column,
                    unit,
                    period,
                    cell,
                    column,
                    received or None,
                    None,
                    comment or None,
                )
    if not any_row:
        raise InputError(Location(str(path)), "the file has a header but no data rows")


def parse_long_csv(path: Path, progress: Progress | None = None) -> Iterator[Item]:
    """Values of a DHIS2 CSV file (columns read by position, as DHIS2 does)."""
    _check_not_empty(path)
    rows = _csv_rows(path, progress)
    _, header = next(rows)
    if len(header) < 6:
        raise InputError(
            Location(str(path), 1),
            "a long CSV needs at least the columns "
            "dataelement,period,orgunit,categoryoptioncombo,attributeoptioncombo,value",
        )
    names = DHIS2_CSV_COLUMNS
    any_row = False
    for line, row in rows:
        if not "".join(row).strip():  # a blank line or only empty cells
            continue
        any_row = True
        if len(row) < 6 or len(row) > len(names):
            yield Rejection(line, None, f"has {len(row)} fields; expected 6 to {len(names)}")
            continue
        cells = row if len(row) == len(names) else row + [""] * (len(names) - len(row))
        value = cells[5].strip()
        yield RawValue(
            line,
            cells[0].strip(),
            cells[2].strip(),
            cells[1].strip(),
            value or None,
            "value",
            cells[7].strip() or None,
            cells[6].strip() or None,
            cells[8].strip() or None,
            cells[10].strip().lower() == "true" or not value,
            cells[3].strip(),
        )
    if not any_row:
        raise InputError(Location(str(path)), "the file has a header but no data rows")


def _json_positions(text: str) -> dict[int, int]:
    """Character offsets of the items of the top-level ``dataValues`` array.

    ``json`` gives no positions for parsed objects, so this walks the
    top-level object with ``raw_decode`` to learn where each value starts
    (for error messages with line numbers). The text is known to be valid JSON.
    """
    decoder = json.JSONDecoder()
    ws = " \t\n\r"

    def skip(i: int) -> int:
        while i < len(text) and text[i] in ws:
            i += 1
        return i

    i = skip(0)
    if i >= len(text) or text[i] != "{":
        return {}
    i = skip(i + 1)
    while i < len(text) and text[i] != "}":
        key, i = decoder.raw_decode(text, i)
        i = skip(skip(i) + 1)  # the colon
        if key == "dataValues" and text[i] == "[":
            positions: dict[int, int] = {}
            i = skip(i + 1)
            n = 0
            while text[i] != "]":
                positions[n] = i
                _, i = decoder.raw_decode(text, i)
                i = skip(i)
                if text[i] == ",":
                    i = skip(i + 1)
                n += 1
            return positions
        _, i = decoder.raw_decode(text, i)
        i = skip(i)
        if text[i] == ",":
            i = skip(i + 1)
    return {}


def _line_of(text: str, offset: int | None) -> int | None:
    return None if offset is None else text.count("\n", 0, offset) + 1


def parse_dhis2_json(path: Path, progress: Progress | None = None) -> Iterator[Item]:
    """Values of a DHIS2 ``dataValueSets`` JSON payload (identifiers are codes)."""
    _check_not_empty(path)
    text = "".join(_decoded_lines(path, progress))
    try:
        payload: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(Location(str(path), exc.lineno), f"not valid JSON: {exc.msg}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("dataValues"), list):
        raise InputError(
            Location(str(path), 1, "dataValues"),
            "not a DHIS2 dataValueSets payload: expected an object with a dataValues list",
        )
    for key in ("idScheme", "dataElementIdScheme", "orgUnitIdScheme"):
        scheme = payload.get(key)
        if scheme is not None and str(scheme).lower() not in ("code", "name"):
            raise InputError(
                Location(str(path), None, key),
                f"identifier scheme {scheme!r} is not supported: sitroom identifies"
                " data elements and org units by code (idScheme=CODE)",
            )
    positions = _json_positions(text)
    if not payload["dataValues"]:
        raise InputError(Location(str(path), None, "dataValues"), "the dataValues list is empty")
    header_period = payload.get("period")
    header_unit = payload.get("orgUnit")
    header_aoc = payload.get("attributeOptionCombo")
    for n, item in enumerate(payload["dataValues"]):
        line = _line_of(text, positions.get(n))
        if not isinstance(item, dict):
            yield Rejection(line, f"dataValues[{n}]", "is not an object")
            continue
        bad = [
            k
            for k in ("dataElement", "period", "orgUnit", "value", "storedBy", "comment")
            if item.get(k) is not None and not isinstance(item[k], str | int)
        ]
        if bad:
            yield Rejection(line, bad[0], "must be a string")
            continue
        element = item.get("dataElement")
        period = item.get("period", header_period)
        unit = item.get("orgUnit", header_unit)
        missing = [
            name
            for name, got in (("dataElement", element), ("period", period), ("orgUnit", unit))
            if got in (None, "")
        ]
        if missing:
            yield Rejection(line, missing[0], "is missing")
            continue
        aoc = str(item.get("attributeOptionCombo", header_aoc) or "")
        if aoc.lower() not in DEFAULT_COMBOS:
            yield Rejection(
                line, "attributeOptionCombo", f"{aoc!r}: only the default combination is supported"
            )
            continue
        value = item.get("value")
        yield RawValue(
            line=line or 0,
            element=str(element),
            org_unit=str(unit),
            period=str(period),
            value=None if value is None or value == "" else str(value),
            field="value",
            received=item.get("lastUpdated") or item.get("created"),
            stored_by=item.get("storedBy"),
            comment=item.get("comment"),
            delete=bool(item.get("deleted")) or value is None or value == "",
            combo=str(item.get("categoryOptionCombo") or ""),
        )
