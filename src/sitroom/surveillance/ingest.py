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
    read by position as DHIS2 does. ``followup`` and ``deleted`` are ``true``
    or ``false`` in any case, or empty (false).
``dhis2-json``
    DHIS2 ``dataValueSets`` JSON with codes as identifiers. ``deleted`` and
    ``followup`` are JSON booleans or the strings ``"true"``/``"false"`` (any
    case); a value without ``value`` deletes, as in DHIS2.

Limits
------
Every input is bounded, so that a wrong or hostile file fails with a message
instead of hanging or exhausting memory:

* only regular files are read: a pipe, device or socket is refused before it
  is opened (reading one could block forever or never end);
* a CSV line may be at most :data:`MAX_LINE_BYTES` (1 MiB, line ending
  included); a longer one stops the import at that line without reading the
  rest of it. One CSV field may hold at most ``csv.field_size_limit()``
  characters (the ``csv`` module's 131,072 unless changed): more is a "bad CSV"
  error with the line;
* a JSON file may be at most :data:`MAX_JSON_BYTES` (1 GiB), checked before it
  is read; it may be one long line (minified exports are). It is walked item
  by item (two linear passes: the first checks the syntax and collects the
  header keys, which may follow ``dataValues``; the second yields the values),
  never decoded as a whole. A key appearing twice at the top level refuses the
  file; twice in one value (at any depth), that value is rejected;
* JSON nested more than :data:`MAX_NESTING` levels inside one value is
  rejected (a DHIS2 value is a flat object); nesting so deep that Python's JSON
  decoder gives up (its recursion limit, about a thousand levels) refuses the
  whole file, since the end of that value cannot be found;
* ``storedBy`` holds at most :data:`MAX_STORED_BY` characters and ``comment``
  at most :data:`MAX_COMMENT`; neither may contain a NUL character, which
  PostgreSQL cannot store, nor an unpaired surrogate (a JSON ``"\\ud800"``
  escape), which no database driver can encode. A value breaking these is
  rejected.
"""

from __future__ import annotations

import csv
import json
import json.scanner
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sitroom.country import Country, MappingConfig
from sitroom.errors import InputError, Location

FORMATS = ("csv-wide", "csv-long", "dhis2-json")

#: Longest CSV line read, in bytes, line ending included.
MAX_LINE_BYTES = 1_048_576
#: Largest JSON file read, in bytes.
MAX_JSON_BYTES = 1_073_741_824
#: Deepest nesting of arrays and objects inside one JSON value (the value itself is 1).
MAX_NESTING = 64
#: Longest ``storedBy``, in characters.
MAX_STORED_BY = 100
#: Longest ``comment``, in characters.
MAX_COMMENT = 50_000

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


def _size(n: int) -> str:
    """``n`` bytes for a message: ``1 MiB``, ``1 GiB`` or ``1,234 bytes``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n:,} bytes"


def _shown(value: object) -> str:
    """``value`` for a message, cut short if long."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _text_problem(text: str, limit: int) -> str | None:
    """Why ``text`` cannot be stored as a comment or name of at most ``limit`` characters."""
    if "\x00" in text:
        return "contains a NUL character"
    if len(text) > limit:
        return f"is longer than {limit:,} characters"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "contains an unpaired surrogate (\\ud800-\\udfff), which is not text"
    return None


def _boolean(value: object) -> bool | None:
    """DHIS2's booleans: JSON ``true``/``false`` or those words in any case; else None."""
    if value is True or value is False:
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "true":
            return True
        if word == "false":
            return False
    return None


def _decoded_lines(path: Path, progress: Progress | None) -> Iterator[str]:
    """The file's lines as text, failing with the line number on bad UTF-8 or a huge line.

    Reads at most :data:`MAX_LINE_BYTES` + 1 bytes per line, so a file
    without line breaks is refused after its first MiB, not read whole.
    """
    with path.open("rb") as handle:
        number = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            number += 1
            if len(raw) > MAX_LINE_BYTES:
                raise InputError(
                    Location(str(path), number),
                    f"line is longer than {_size(MAX_LINE_BYTES)}, the limit for one line;"
                    " is this really a CSV file?",
                )
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
    """Raise InputError unless ``path`` is a non-empty regular file."""
    _check_not_empty(path)


def _check_not_empty(path: Path) -> int:
    """Check that ``path`` is a non-empty regular file; return its size in bytes.

    The file is checked with ``stat`` before it is opened: opening a pipe would
    wait for a writer forever.
    """
    where = Location(str(path))
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise InputError(where, "no such file") from exc
    except OSError as exc:
        raise InputError(where, f"cannot be read: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputError(where, "is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(
            where,
            "is not a regular file (a pipe, device or socket); save the data to a file first",
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise InputError(where, f"cannot be read: {exc.strerror or exc}") from exc
    if info.st_size == 0 or not head.strip().removeprefix(b"\xef\xbb\xbf").strip():
        raise InputError(where, "the file is empty")
    return info.st_size


def read_header(path: Path) -> list[str]:
    """The first CSV row of ``path`` (for format detection)."""
    _check_not_empty(path)
    reader = csv.reader(_decoded_lines(path, None))
    try:
        return [cell.strip() for cell in next(reader)]
    except csv.Error as exc:
        raise InputError(Location(str(path), 1), f"not a valid CSV header: {exc}") from exc


def detect_format(path: Path, country: Country) -> tuple[str, str | None]:
    """The format of ``path`` and, for wide CSV, the name of the country mapping to use.

    A ``.json`` name, or content that starts with ``{`` (after a byte-order
    mark and blanks: a payload piped to ``import -``), is DHIS2 JSON.
    """
    if path.suffix.lower() == ".json":
        return "dhis2-json", None
    with path.open("rb") as handle:
        start = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip()
    if start.startswith(b"{"):
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
        if comment and (problem := _text_problem(comment, MAX_COMMENT)):
            yield Rejection(line, "comment", problem)
            continue
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


def _long_row_problem(cells: list[str]) -> tuple[str, str] | None:
    """The first column of a (padded) DHIS2 CSV row that cannot be stored, and why."""
    for i, limit in ((6, MAX_STORED_BY), (8, MAX_COMMENT)):
        problem = _text_problem(cells[i].strip(), limit)
        if problem:
            return DHIS2_CSV_COLUMNS[i], problem
    for i in (9, 10):
        cell = cells[i].strip()
        if cell and _boolean(cell) is None:
            return DHIS2_CSV_COLUMNS[i], f"{_shown(cell)}: must be true or false"
    return None


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
        bad = _long_row_problem(cells)
        if bad is not None:
            yield Rejection(line, *bad)
            continue
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
            _boolean(cells[10]) is True or not value,
            cells[3].strip(),
        )
    if not any_row:
        raise InputError(Location(str(path)), "the file has a header but no data rows")


# DHIS2 JSON ---------------------------------------------------------------

#: The end of the JSON whitespace at an offset: ``_skip_ws(text, i).end()`` (it always matches).
_skip_ws = cast(Callable[[str, int], "re.Match[str]"], re.compile(r"[ \t\n\r]*").match)

#: Keys of a JSON value, by the kind of content they take.
_CODE_KEYS = frozenset({"dataElement", "period", "orgUnit", "value"})  # strings or integers
_TEXT_KEYS = frozenset(
    {
        "storedBy",
        "comment",
        "lastUpdated",
        "created",
        "categoryOptionCombo",
        "attributeOptionCombo",
    }
)
_BOOLEAN_KEYS = frozenset({"deleted", "followup"})
#: Keys taking any string (the common case, checked without a call).
_ANY_STRING_KEYS = (_CODE_KEYS | _TEXT_KEYS) - {"storedBy", "comment"}


class _BigInt(str):
    """A JSON integer too long for ``int()`` (Python refuses over 4,300 digits), kept as text."""

    __slots__ = ()


def _json_int(digits: str) -> int | str:
    try:
        return int(digits)
    except ValueError:
        return _BigInt(digits)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float | _BigInt):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _deeper_than(value: object, limit: int) -> bool:
    """Whether ``value`` nests arrays and objects more than ``limit`` levels (itself is 1)."""
    level = [value]
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for parent in level
            for child in (parent.values() if isinstance(parent, dict) else parent)  # type: ignore[attr-defined]
            if isinstance(child, dict | list)
        ]
    return False


def _json_field_problem(key: str, got: object) -> str | None:
    """Why the (non-null) ``got`` cannot be the ``key`` of a DHIS2 value, if it cannot."""
    kind = type(got)
    if key in _CODE_KEYS:
        if kind is str or kind is int or kind is _BigInt:
            return None
        return f"must be a string, not {_json_type(got)}"
    if key in _TEXT_KEYS:
        if kind is not str:
            return f"must be a string, not {_json_type(got)}"
        if key == "storedBy":
            return _text_problem(got, MAX_STORED_BY)  # type: ignore[arg-type]
        if key == "comment":
            return _text_problem(got, MAX_COMMENT)  # type: ignore[arg-type]
        return None
    if key in _BOOLEAN_KEYS:
        return None if _boolean(got) is not None else f"{_shown(got)}: must be true or false"
    if (kind is dict or kind is list) and _deeper_than(got, MAX_NESTING - 1):
        return f"nested too deeply (more than {MAX_NESTING} levels of arrays and objects)"
    return None


class _Lines:
    """Line numbers of non-decreasing offsets in a text, counted incrementally.

    Each call counts only the newlines since the previous offset, so numbering
    every value of a file costs one pass over it.
    """

    __slots__ = ("line", "offset", "text")

    def __init__(self, text: str, offset: int = 0, line: int = 1) -> None:
        self.text = text
        self.offset = offset
        self.line = line

    def at(self, offset: int) -> int:
        if offset < self.offset:  # going back: count again from the start
            self.offset, self.line = 0, 1
        self.line += self.text.count("\n", self.offset, offset)
        self.offset = offset
        return self.line


class _TooDeep(Exception):
    """The JSON starting at ``offset`` nests deeper than the decoder can follow."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


_Decode = Callable[[str, int], tuple[Any, int]]


def _decode_at(decode: _Decode, text: str, offset: int) -> tuple[Any, int]:
    try:
        return decode(text, offset)
    except RecursionError as exc:
        raise _TooDeep(offset) from exc


class _ArrayItems:
    """The items of the JSON array opening at ``text[start]``: (offset, item) pairs.

    Raises ``json.JSONDecodeError`` on bad syntax and :class:`_TooDeep`; once
    exhausted, ``end`` is the offset just past the closing bracket. Items are
    decoded by ``decoder``'s scanner (the C one), one ``raw_decode`` each
    without its Python wrapper.
    """

    def __init__(self, text: str, start: int, decoder: json.JSONDecoder) -> None:
        self.text = text
        self.end = start
        self.decode: _Decode = json.scanner.make_scanner(cast(Any, decoder))

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        text, decode, match = self.text, self.decode, _skip_ws
        i = match(text, self.end + 1).end()
        if text.startswith("]", i):
            self.end = i + 1
            return
        while True:
            try:
                item, end = decode(text, i)
            except StopIteration as exc:  # what the scanner raises where no value starts
                raise json.JSONDecodeError("Expecting value", text, exc.value) from None
            except RecursionError as exc:
                raise _TooDeep(i) from exc
            yield i, item
            i = match(text, end).end()
            if text.startswith(",", i):
                i = match(text, i + 1).end()
            elif text.startswith("]", i):
                self.end = i + 1
                return
            else:
                raise json.JSONDecodeError("Expecting ',' delimiter", text, i)


@dataclass(slots=True)
class _Payload:
    """The top level of a dataValueSets payload, its ``dataValues`` left in the text."""

    header: dict[str, tuple[Any, int]]  # key: (value, line)
    values_at: int = -1  # offset of the dataValues array, -1 if there is none
    values_line: int = 1
    count: int = 0


def _not_a_payload(path: Path) -> InputError:
    return InputError(
        Location(str(path), 1, "dataValues"),
        "not a DHIS2 dataValueSets payload: expected an object with a dataValues list",
    )


def _expect_end(text: str, offset: int) -> None:
    end = _skip_ws(text, offset).end()
    if end != len(text):
        raise json.JSONDecodeError("Extra data", text, end)


def _scan_payload(text: str, path: Path) -> _Payload:
    """First pass: check the whole syntax, keep the header keys, count the values.

    Values are decoded one by one and dropped. Header keys may come after
    ``dataValues``, which is why the values are read in a second pass.
    """
    decoder = json.JSONDecoder(parse_int=_json_int)
    decode = decoder.raw_decode
    match = _skip_ws
    lines = _Lines(text)
    payload = _Payload({})
    i = match(text, 0).end()
    if not text.startswith("{", i):
        _, end = _decode_at(decode, text, i)
        _expect_end(text, end)
        raise _not_a_payload(path)
    i = match(text, i + 1).end()
    keys: dict[str, int] = {}
    if text.startswith("}", i):  # {}
        _expect_end(text, i + 1)
        return payload
    while True:
        if not text.startswith('"', i):
            raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, i)
        line = lines.at(i)
        key, i = decode(text, i)
        if key in keys:
            raise InputError(
                Location(str(path), line, key),
                f"the key appears twice in the payload (first on line {keys[key]})",
            )
        keys[key] = line
        i = match(text, i).end()
        if not text.startswith(":", i):
            raise json.JSONDecodeError("Expecting ':' delimiter", text, i)
        i = match(text, i + 1).end()
        if key == "dataValues" and text.startswith("[", i):
            payload.values_at, payload.values_line = i, lines.at(i)
            items = _ArrayItems(text, i, decoder)
            payload.count = sum(1 for _ in items)
            i = items.end
        else:
            value, end = _decode_at(decode, text, i)
            payload.header[key] = (value, lines.at(i))
            i = end
        i = match(text, i).end()
        if text.startswith(",", i):
            i = match(text, i + 1).end()
        elif text.startswith("}", i):
            break
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, i)
    _expect_end(text, i + 1)
    return payload


def _read_json(path: Path) -> tuple[str, int]:
    """The text of a JSON file and its size in bytes, refusing files over the limit."""
    size = _check_not_empty(path)
    data = b""
    if size <= MAX_JSON_BYTES:  # checked before reading, and again after (it may have grown)
        with path.open("rb") as handle:
            data = handle.read(MAX_JSON_BYTES + 1)
        size = len(data)
    if size > MAX_JSON_BYTES:
        raise InputError(
            Location(str(path)),
            f"the file has {size:,} bytes, more than {_size(MAX_JSON_BYTES)}, the limit for"
            " a JSON file; split its dataValues into several files",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        raise InputError(
            Location(str(path), data.count(b"\n", 0, exc.start) + 1),
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column"
            f" {exc.start - line_start + 1}); save the file as UTF-8",
        ) from exc
    return text.removeprefix("\ufeff"), size


def _too_deep(path: Path, text: str, offset: int) -> InputError:
    return InputError(
        Location(str(path), text.count("\n", 0, offset) + 1),
        "nested too deeply: arrays or objects inside each other hundreds of levels deep"
        " (a DHIS2 payload needs 3 levels)",
    )


def _first_duplicate(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no duplicate")  # pragma: no cover


def parse_dhis2_json(path: Path, progress: Progress | None = None) -> Iterator[Item]:
    """Values of a DHIS2 ``dataValueSets`` JSON payload (identifiers are codes).

    Linear in the size of the file: the text is walked twice, value by value
    (see the module's "Limits"), and line numbers are counted incrementally.
    """
    text, size = _read_json(path)
    try:
        payload = _scan_payload(text, path)
    except json.JSONDecodeError as exc:
        raise InputError(
            Location(str(path), exc.lineno),
            f"not valid JSON: {exc.msg} (column {exc.colno})",
        ) from exc
    except _TooDeep as exc:
        raise _too_deep(path, text, exc.offset) from exc
    if payload.values_at < 0:
        raise _not_a_payload(path)
    header = payload.header
    for key in ("idScheme", "dataElementIdScheme", "orgUnitIdScheme"):
        scheme, line = header.get(key, (None, None))
        if scheme is not None and str(scheme).lower() not in ("code", "name", "uid"):
            raise InputError(
                Location(str(path), line, key),
                f"identifier scheme {scheme!r} is not supported: sitroom identifies"
                " data elements and org units by code, uid or name",
            )
    for key in ("period", "orgUnit", "attributeOptionCombo"):
        got, line = header.get(key, (None, None))
        problem = None if got is None else _json_field_problem(key, got)
        if problem:
            raise InputError(Location(str(path), line, key), problem)
    if payload.count == 0:
        raise InputError(
            Location(str(path), payload.values_line, "dataValues"), "the dataValues list is empty"
        )
    defaults = (
        header.get("period", (None, 0))[0],
        header.get("orgUnit", (None, 0))[0],
        header.get("attributeOptionCombo", (None, 0))[0],
    )

    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            duplicates.append(_first_duplicate(pairs))
        return obj

    decoder = json.JSONDecoder(object_pairs_hook=pairs_hook, parse_int=_json_int)
    lines = _Lines(text, payload.values_at, payload.values_line)
    reported = 0
    try:
        for n, (offset, item) in enumerate(_ArrayItems(text, payload.values_at, decoder)):
            line = lines.at(offset)
            duplicate = None
            if duplicates:
                duplicate = duplicates[0]
                duplicates.clear()
            if progress is not None and n % 256 == 0:
                done = offset * size // len(text)
                progress(done - reported)
                reported = done
            yield _json_value(item, n, line, duplicate, defaults)
    except _TooDeep as exc:  # pragma: no cover - the first pass decoded the same text
        raise _too_deep(path, text, exc.offset) from exc
    if progress is not None:
        progress(size - reported)


def _json_value(
    item: Any, n: int, line: int, duplicate: str | None, defaults: tuple[Any, Any, Any]
) -> Item:
    """The raw value of one item of ``dataValues`` (``defaults``: the header's period,
    org unit and attribute option combo)."""
    if duplicate is not None:
        return Rejection(line, duplicate, "appears twice in this value")
    if not isinstance(item, dict):
        return Rejection(line, f"dataValues[{n}]", "is not an object")
    for key, got in item.items():
        if got is not None and not (type(got) is str and key in _ANY_STRING_KEYS):
            problem = _json_field_problem(key, got)
            if problem:
                return Rejection(line, key, problem)
    header_period, header_unit, header_aoc = defaults
    element = item.get("dataElement")
    period = item.get("period", header_period)
    unit = item.get("orgUnit", header_unit)
    for name, got in (("dataElement", element), ("period", period), ("orgUnit", unit)):
        if got is None or got == "":
            return Rejection(line, name, "is missing")
    aoc = item.get("attributeOptionCombo", header_aoc) or ""
    if aoc.lower() not in DEFAULT_COMBOS:
        return Rejection(
            line, "attributeOptionCombo", f"{aoc!r}: only the default combination is supported"
        )
    value = item.get("value")
    absent = value is None or value == ""
    return RawValue(  # by position: this runs once per value
        line,
        element if type(element) is str else str(element),
        unit if type(unit) is str else str(unit),
        period if type(period) is str else str(period),
        None if absent else str(value),
        "value",
        item.get("lastUpdated") or item.get("created"),
        item.get("storedBy"),
        item.get("comment"),
        absent or _boolean(item.get("deleted")) is True,
        item.get("categoryOptionCombo") or "",
    )
