"""Exporting stored values: wide CSV, long (DHIS2) CSV and DHIS2 JSON.

Exports stream from the database and write to a temporary file that replaces
the target only when complete, so a failed export leaves nothing half-written.

CSV exports are safe to open in a spreadsheet by default: a text cell that a
spreadsheet would read as a formula is neutralised (OWASP's CSV injection
guidance), see :func:`neutralise_formula`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from sitroom.errors import NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.surveillance.ingest import DHIS2_CSV_COLUMNS, FORMATS
from sitroom.surveillance.models import DataElement, DataSet, DataValue
from sitroom.surveillance.periods import check_range, dhis2_label, label, last_day

#: A select of any columns (SQLAlchemy 2.1 types a select by its column types).
AnySelect = Select[*tuple[Any, ...]]

#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(cell: object) -> object:
    """``cell`` with a leading ``'`` if it is text a spreadsheet would run as a formula.

    Following OWASP's CSV injection guidance, a string starting with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with a single
    quote, the rest kept intact (the csv module quotes the cell as needed).
    Other strings and non-strings (counts are non-negative integers) are
    returned unchanged.
    """
    if isinstance(cell, str) and cell.startswith(FORMULA_TRIGGERS):
        return "'" + cell
    return cell


class CsvOut:
    """A csv writer that neutralises formula-like text cells when asked.

    The csv module quotes a cell holding a line break only if the break is in
    the line terminator, so with LF lines a carriage return (CR) would be
    written bare and split the row for any reader: a row holding a CR is
    quoted as with CR LF lines, and still ends with LF.
    """

    def __init__(self, handle: IO[str], neutralise_formulas: bool) -> None:
        self._handle = handle
        self._writer = csv.writer(handle, lineterminator="\n")
        self._neutralise = neutralise_formulas

    def writerow(self, cells: Iterable[object]) -> None:
        row = [neutralise_formula(c) for c in cells] if self._neutralise else list(cells)
        if any(isinstance(c, str) and "\r" in c for c in row):
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\r\n").writerow(row)
            self._handle.write(buffer.getvalue()[:-2] + "\n")
        else:
            self._writer.writerow(row)


def _query(
    start: date | None, end: date | None, org_units: list[str] | None, elements: list[str] | None
) -> AnySelect:
    query: AnySelect = (
        select(
            OrgUnit.code,
            DataValue.period,
            DataElement.code,
            DataValue.value,
            DataValue.stored_by,
            DataValue.received_at,
            DataValue.comment,
            DataSet.period_type,
        )
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .outerjoin(DataSet, DataSet.id == DataElement.data_set_id)
        # Grouped by period type too: a wide row holds one period of one type.
        .order_by(OrgUnit.code, DataSet.period_type, DataValue.period, DataElement.id)
    )
    if start:
        # A week or month that began before ``start`` but holds it is selected too
        # (its first day is at most 30 days earlier; rows are then checked by type).
        query = query.where(DataValue.period >= start - timedelta(days=30))
    if end:
        query = query.where(DataValue.period <= end)
    if org_units:
        query = query.where(OrgUnit.code.in_(org_units))
    if elements:
        query = query.where(DataElement.code.in_(elements))
    return query


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _check_codes(session: Session, model: Any, codes: list[str] | None, kind: str) -> None:
    if not codes:
        return
    known = set(session.scalars(select(model.code).where(model.code.in_(codes))))
    unknown = [c for c in codes if c not in known]
    if unknown:
        raise NotFoundError(f"unknown {kind} {unknown[0]!r}")


def check_output(output: Path) -> None:
    """Refuse an output that is not (or would not be) a regular file in an existing folder.

    The export writes a temporary file and renames it over ``output``: over a
    device, a pipe or a link that would replace it (``-o /dev/null`` as root
    would replace the device), so only a regular file, or a new one, is taken.
    """
    if output.is_symlink():
        raise SitroomError(f"{output}: is a symbolic link; give the file it points to")
    if output.exists():
        if output.is_dir():
            raise SitroomError(f"{output}: is a folder; give a file name in it")
        if not stat.S_ISREG(output.stat().st_mode):
            raise SitroomError(
                f"{output}: is not a regular file (a device, pipe or socket);"
                " leave out -o to write to standard output"
            )
    if not output.parent.is_dir():
        raise SitroomError(f"{output}: no such folder {str(output.parent)!r}; create it first")
    if not os.access(output.parent, os.W_OK):
        raise SitroomError(f"{output}: the folder {str(output.parent)!r} is not writable")


@contextmanager
def atomic_output(output: Path | IO[str] | None) -> Iterator[IO[str]]:
    """A text handle for ``output``: stdout (None), the caller's stream as it is, or a
    file written atomically (a temporary file beside it, renamed over it once the
    block ends without error; removed if it fails, the old file left as it was)."""
    if output is None:
        yield sys.stdout
        return
    if not isinstance(output, Path):
        yield output  # a stream of the caller's (a web response, a buffer): theirs to close
        return
    check_output(output)
    try:
        fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as exc:
        raise SitroomError(f"{output}: cannot write a file there ({exc.strerror})") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
        # mkstemp makes the file private (0600); give it the mode any new file gets.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, output)
    except BaseException:
        os.unlink(tmp)
        raise


def export_values(
    session: Session,
    fmt: str,
    output: Path | IO[str] | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    org_units: list[str] | None = None,
    elements: list[str] | None = None,
    neutralise_formulas: bool = True,
    id_scheme: str = "code",
    org_unit_scheme: str | None = None,
    element_scheme: str | None = None,
) -> int:
    """Write the selected values to ``output``; returns how many.

    ``output`` is a file (written atomically: a temporary file renamed into
    place), any text stream (an API response, a buffer), or None for stdout.

    With ``neutralise_formulas`` (the default) the CSV formats prefix every text
    cell a spreadsheet would take for a formula with ``'`` (see
    :func:`neutralise_formula`); turn it off for machine-to-machine exchanges,
    where the prefix would be imported as part of the value. DHIS2 JSON is not
    meant for spreadsheets and is always written unchanged. ``id_scheme``
    ``"uid"`` names org units and elements by their DHIS2 uids (long formats);
    ``org_unit_scheme`` and ``element_scheme``, when given, override it for
    one kind (DHIS2's ``orgUnitIdScheme`` and ``dataElementIdScheme``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    check_range(start, end)
    _check_codes(session, OrgUnit, org_units, "org unit")
    _check_codes(session, DataElement, elements, "data element")
    unit_scheme = org_unit_scheme or id_scheme
    element_scheme = element_scheme or id_scheme
    for scheme in (id_scheme, unit_scheme, element_scheme):
        if scheme not in ("code", "uid"):
            raise SitroomError(f"unknown identifier scheme {scheme!r}; choose code or uid")
    if "uid" in (id_scheme, unit_scheme, element_scheme) and fmt == "csv-wide":
        raise SitroomError(
            "the wide CSV names elements in its header by code: use --id-scheme code"
        )
    stored: Iterable[Any] = session.execute(
        _query(start, end, org_units, elements), execution_options={"yield_per": 5000}
    )
    # Periods as DHIS2 writes them (20220515, 2022W20, 202205); the wide CSV
    # keeps ISO days (2022-05-15) and writes weeks and months the same way.
    name_period = label if fmt == "csv-wide" else dhis2_label
    rows: Iterable[Any] = (
        (unit, name_period(period, kind or "daily"), element, *rest)
        for unit, period, element, *rest, kind in stored
        if start is None or last_day(period, kind or "daily") >= start
    )
    if unit_scheme == "uid":
        unit_uid = dict(session.execute(select(OrgUnit.code, OrgUnit.uid)).all())
        rows = ((unit_uid[unit], *rest) for unit, *rest in rows)
    if element_scheme == "uid":
        element_uid = dict(session.execute(select(DataElement.code, DataElement.uid)).all())
        rows = (
            (unit, period, element_uid[element], *rest) for unit, period, element, *rest in rows
        )
    codes = list(session.scalars(select(DataElement.code).order_by(DataElement.id)))
    if elements:
        codes = [c for c in codes if c in elements]
    schemes = {"idScheme": id_scheme}
    if unit_scheme != id_scheme:
        schemes["orgUnitIdScheme"] = unit_scheme
    if element_scheme != id_scheme:
        schemes["dataElementIdScheme"] = element_scheme
    return write_rows(
        rows, fmt, output, neutralise_formulas=neutralise_formulas, id_scheme=schemes, codes=codes
    )


#: A value as the writers take it: org unit, period (as written), element,
#: value, storedBy, receipt time, comment.
Row = tuple[str, str, str, int, str, datetime, str | None]


def write_rows(
    rows: Iterable[Row],
    fmt: str,
    output: Path | IO[str] | None = None,
    *,
    neutralise_formulas: bool = True,
    id_scheme: str | dict[str, str] = "code",
    codes: list[str],
) -> int:
    """Write ``rows`` in ``fmt`` to ``output`` (see :func:`export_values`); returns how many.

    ``codes`` are the wide CSV's element columns, in order. Rows must come
    grouped by org unit and period for the wide CSV. ``id_scheme`` is what the
    DHIS2 JSON header declares: one scheme, or ``idScheme`` and the schemes
    that differ from it by kind (``{"idScheme": "code", "orgUnitIdScheme": "uid"}``).
    """
    count = 0
    with atomic_output(output) as handle:
        if fmt == "csv-long":
            writer = CsvOut(handle, neutralise_formulas)
            writer.writerow(DHIS2_CSV_COLUMNS)
            for unit, period, element, value, stored_by, received, comment in rows:
                writer.writerow(
                    [
                        element,
                        period,
                        unit,
                        "",
                        "",
                        value,
                        stored_by,
                        received.isoformat(),
                        comment or "",
                        "false",
                        "false",
                    ]
                )
                count += 1
        elif fmt == "dhis2-json":
            schemes = {"idScheme": id_scheme} if isinstance(id_scheme, str) else id_scheme
            declared = "".join(f'  "{k}": "{v.upper()}",\n' for k, v in schemes.items())
            handle.write(f'{{\n{declared}  "dataValues": [')
            for unit, period, element, value, stored_by, received, comment in rows:
                item = {
                    "dataElement": element,
                    "period": period,
                    "orgUnit": unit,
                    "value": str(value),
                    "storedBy": stored_by,
                    "lastUpdated": received.isoformat(),
                }
                if comment:
                    item["comment"] = comment
                handle.write(
                    ("\n    " if count == 0 else ",\n    ") + json.dumps(item, ensure_ascii=False)
                )
                count += 1
            handle.write("\n  ]\n}\n")
        else:
            count = _write_wide(CsvOut(handle, neutralise_formulas), rows, codes)
    return count


def _write_wide(writer: CsvOut, rows: Iterable[Row], codes: list[str]) -> int:
    writer.writerow(["org_unit", "period", *codes, "received_at"])
    count = 0
    current: tuple[str, str] | None = None
    cells: dict[str, int] = {}
    received_first = None

    def flush() -> None:
        if current is not None:
            writer.writerow(
                [
                    current[0],
                    current[1],
                    *(cells.get(c, "") for c in codes),
                    received_first.isoformat() if received_first else "",
                ]
            )

    for unit, period, element, value, _by, received, _comment in rows:
        if (unit, period) != current:
            flush()
            current, cells, received_first = (unit, period), {}, received
        cells[element] = value
        received_first = min(received_first, received) if received_first else received
        count += 1
    flush()
    return count
