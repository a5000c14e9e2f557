"""The content hash of an edition: SHA-256 of the values a report is built from.

The report of a period reads (see ``sitroom.sitrep.sections.Inputs``) the
values of the country and of its reporting units (the regions) up to the
end of the period (the curve, R, the forecast and the alerts look back over
the whole series), the events recorded on the country, and the places'
populations (the rates per 100,000). The digest is taken over a canonical
dump of exactly those, one line each, UTF-8, fields separated by a tab:

* ``value``: element code, org-unit code, period start (ISO date), the value
  (a whole number), and ``late`` or ``on-time`` (timeliness is in the report);
* ``event``: day, org-unit code, kind, title;
* ``place``: org-unit code and population (blank when unknown);

sorted by kind of line, then by those fields in that order. Values after the
period, of districts or facilities, and anything of another country do not
enter it: changing them leaves the digest (and the report) as it was. Who
stored a value, when and from which file do not enter it either: a value
imported again unchanged is the same value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import select

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from sitroom.country import Country


def _clean(text: str) -> str:
    """A field as it goes into a line: tabs and line breaks would change the line's shape."""
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def canonical_lines(session: Session, country: Country, last_day: date) -> Iterator[str]:
    """The lines of the dump (without their line breaks), in their canonical order."""
    from sitroom.events.service import list_events
    from sitroom.places.models import OrgUnit
    from sitroom.places.service import read_places
    from sitroom.surveillance.models import DataElement, DataValue

    level = country.reporting.reporting_level
    rows = session.execute(
        select(DataElement.code, OrgUnit.code, DataValue.period, DataValue.value, DataValue.late)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .where(OrgUnit.level.in_((1, level)), DataValue.period <= last_day)
        .where(OrgUnit.path.startswith(f"/{country.country.code}/"))
    ).all()
    values = sorted(
        (element, unit, period.isoformat(), int(value), "late" if late else "on-time")
        for element, unit, period, value, late in rows
    )
    for element, unit, period, value, late in values:
        yield f"value\t{_clean(element)}\t{_clean(unit)}\t{period}\t{value}\t{late}"
    events = sorted(
        (e.day.isoformat(), e.org_unit, e.kind, e.title)
        for e in list_events(session, country.country.code, end=last_day)
    )
    for day, unit, kind, title in events:
        yield f"event\t{day}\t{_clean(unit)}\t{_clean(kind)}\t{_clean(title)}"
    places = sorted(
        (p.code, "" if p.population is None else str(p.population))
        for p in read_places(country)
        if p.level in (1, level)
    )
    for code, population in places:
        yield f"place\t{_clean(code)}\t{population}"


def values_digest(session: Session, country: Country, last_day: date) -> str:
    """SHA-256 (hex) of the canonical dump of the values a report up to ``last_day`` reads."""
    digest = hashlib.sha256()
    for line in canonical_lines(session, country, last_day):
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
