"""Reading and describing stored surveillance data: elements, values, history."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.country import Country, PeriodType
from sitroom.errors import ConfigError, NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.places.service import LoadSummary
from sitroom.surveillance.models import (
    DataElement,
    DataSet,
    DataValue,
    DataValueAudit,
    ImportRun,
)


def load_elements(session: Session, country: Country) -> LoadSummary:
    """Create or update the data elements of ``country``; never deletes one.

    Refuses (ConfigError) to change the period type of an element that has
    stored values: a value stored for the week 2021W5 would silently become
    one for February 2021.
    """
    _check_period_type_changes(session, country)
    data_sets = _load_data_sets(session, country)
    existing = {e.code: e for e in session.scalars(select(DataElement))}
    summary = LoadSummary()
    for spec in country.elements:
        wanted = {
            "name": spec.name,
            "kind": spec.kind,
            "unit": spec.unit,
            "description": spec.description,
            "data_set_id": data_sets[country.data_set_of(spec.code).code],
        }
        element = existing.get(spec.code)
        if element is None:
            session.add(DataElement(code=spec.code, **wanted))
            summary.created += 1
            continue
        summary.update(spec.code, element, wanted)
    session.flush()
    return summary


def _check_period_type_changes(session: Session, country: Country) -> None:
    stored = period_types(session)
    changed = {
        e.code: (stored[e.code], country.period_type(e.code))
        for e in country.elements
        if e.code in stored and stored[e.code] != country.period_type(e.code)
    }
    if not changed:
        return
    counts = dict(
        session.execute(
            select(DataElement.code, func.count(DataValue.id))
            .join(DataValue, DataValue.element_id == DataElement.id)
            .where(DataElement.code.in_(changed))
            .group_by(DataElement.code)
        ).all()
    )
    if held := {code: n for code, n in counts.items() if n}:
        code, n = next(iter(sorted(held.items())))
        before, after = changed[code]
        raise ConfigError(
            f"{code} is reported {before} in the database, with {n:,} values; the configuration"
            f" makes it {after}, which would change what those values mean. Keep its data set's"
            " period type, or put the new frequency in a new element"
        )


def _load_data_sets(session: Session, country: Country) -> dict[str, int]:
    """Create or update the data sets of ``country``; their ids by code."""
    existing = {d.code: d for d in session.scalars(select(DataSet))}
    for spec in country.all_data_sets:
        found = existing.get(spec.code)
        if found is None:
            found = existing[spec.code] = DataSet(code=spec.code)
            session.add(found)
        found.name, found.period_type = spec.name, spec.period_type
    session.flush()
    return {code: d.id for code, d in existing.items()}


def period_types(session: Session) -> dict[str, PeriodType]:
    """How often each stored element is reported, by code (daily until ``setup`` says).

    The database is the reference once ``setup`` has run: imports, exports
    and analyses read the period type here, as DHIS2 reads its metadata.
    """
    rows = session.execute(
        select(DataElement.code, DataSet.period_type).outerjoin(
            DataSet, DataSet.id == DataElement.data_set_id
        )
    )
    return {code: cast("PeriodType", kind or "daily") for code, kind in rows}


#: values[(org_unit_code, period)][element_code] = value
ValueTable = dict[tuple[str, date], dict[str, int]]


def fetch_values(
    session: Session,
    *,
    start: date | None = None,
    end: date | None = None,
    org_units: list[str] | None = None,
    elements: list[str] | None = None,
) -> ValueTable:
    """Stored values in ``[start, end]`` as a nested mapping (see :data:`ValueTable`)."""
    query = (
        select(OrgUnit.code, DataValue.period, DataElement.code, DataValue.value)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .join(DataElement, DataElement.id == DataValue.element_id)
    )
    if start is not None:
        query = query.where(DataValue.period >= start)
    if end is not None:
        query = query.where(DataValue.period <= end)
    if org_units is not None:
        query = query.where(OrgUnit.code.in_(org_units))
    if elements is not None:
        query = query.where(DataElement.code.in_(elements))
    table: ValueTable = defaultdict(dict)
    for unit, period, element, value in session.execute(query):
        table[(unit, period)][element] = value
    return dict(table)


def period_range(session: Session, elements: list[str] | None = None) -> tuple[date, date] | None:
    """First and last period with any value (of ``elements``, when given)."""
    query = select(func.min(DataValue.period), func.max(DataValue.period))
    if elements:
        query = query.join(DataElement, DataElement.id == DataValue.element_id).where(
            DataElement.code.in_(elements)
        )
    first, last = session.execute(query).one()
    return None if first is None else (first, last)


def latest_period(session: Session, org_unit: str, element: str) -> date | None:
    """The last period for which ``org_unit`` reported ``element``."""
    return session.scalar(
        select(func.max(DataValue.period))
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .where(OrgUnit.code == org_unit, DataElement.code == element)
    )


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One state of a value: what it became, when, through which source and by whom.

    ``by`` is who made the change (the authenticated actor); ``stored_by`` is
    who the file said entered the value (DHIS2's storedBy), a claim kept
    beside it. Rows written before actors were recorded show the claim in both.
    ``channel`` (api, web, cli, file) and ``client`` (the address, for the
    server) are those of the import that made the change, when it is known:
    the audit keeps the import of each change, not of the state it replaced,
    so a first value that was later changed has none.
    """

    action: str  # "created", "updated", "deleted"
    value: int | None
    at: datetime
    source: str
    by: str
    stored_by: str | None = None
    comment: str | None = None
    import_id: int | None = None
    channel: str | None = None
    client: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "value": self.value,
            "at": self.at.isoformat(),
            "source": self.source,
            "by": self.by,
            "stored_by": self.stored_by,
            "comment": self.comment,
            "channel": self.channel,
            "client": self.client,
        }


def _one(session: Session, model: type[DataElement] | type[OrgUnit], code: str) -> int:
    found = session.scalar(select(model.id).where(model.code == code))
    if found is None:
        kind = "data element" if model is DataElement else "org unit"
        raise NotFoundError(f"unknown {kind} {code!r}")
    return found


def value_history(
    session: Session, element: str, org_unit: str, period: date
) -> list[HistoryEvent]:
    """Every state the value has had, oldest first; empty if it never existed.

    The audit table keeps the value each change replaced; the current row
    holds the latest. Together they give the whole history.
    """
    element_id = _one(session, DataElement, element)
    unit_id = _one(session, OrgUnit, org_unit)
    audits = session.scalars(
        select(DataValueAudit)
        .where(
            DataValueAudit.element_id == element_id,
            DataValueAudit.org_unit_id == unit_id,
            DataValueAudit.period == period,
        )
        .order_by(DataValueAudit.id)
    ).all()
    current = session.scalar(
        select(DataValue).where(
            DataValue.element_id == element_id,
            DataValue.org_unit_id == unit_id,
            DataValue.period == period,
        )
    )
    events: list[HistoryEvent] = []
    deleted = True  # before the first event the value does not exist
    for audit in audits:
        if deleted:
            events.append(
                HistoryEvent(
                    "created",
                    audit.old_value,
                    audit.old_set_at,
                    audit.old_source,
                    audit.old_changed_by or audit.old_stored_by,
                    audit.old_stored_by,
                    audit.old_comment,
                )
            )
        if audit.action == "delete":
            events.append(
                HistoryEvent(
                    "deleted",
                    None,
                    audit.changed_at,
                    audit.source,
                    audit.changed_by,
                    import_id=audit.import_id,
                )
            )
            deleted = True
        else:
            events.append(
                HistoryEvent(
                    "updated",
                    audit.new_value,
                    audit.changed_at,
                    audit.source,
                    audit.changed_by,
                    audit.new_stored_by,
                    audit.new_comment,
                    import_id=audit.import_id,
                )
            )
            deleted = False
    if current is not None and deleted:
        events.append(
            HistoryEvent(
                "created",
                current.value,
                current.updated_at,
                current.source,
                current.changed_by,
                current.stored_by,
                current.comment,
                import_id=current.import_id,
            )
        )
    return _with_channels(session, events)


def _with_channels(session: Session, events: list[HistoryEvent]) -> list[HistoryEvent]:
    """The events with the channel and client of their imports (one query)."""
    from dataclasses import replace

    ids = {e.import_id for e in events if e.import_id is not None}
    if not ids:
        return events
    runs = {
        run_id: (channel, client)
        for run_id, channel, client in session.execute(
            select(ImportRun.id, ImportRun.channel, ImportRun.client).where(ImportRun.id.in_(ids))
        )
    }
    return [
        replace(e, channel=runs[e.import_id][0], client=runs[e.import_id][1])
        if e.import_id in runs
        else e
        for e in events
    ]


def history_key(
    session: Session, country: Country, element: str, org_unit: str, period: str
) -> tuple[str, str, date]:
    """The (element, org unit code, period start) a user named, checked.

    ``org_unit`` is a code, name or alias; ``period`` must be of the element's
    type (a week for a weekly element). NotFoundError for an unknown element or
    org unit, SitroomError for a wrong period.
    """
    from sitroom.places.service import org_unit_code
    from sitroom.surveillance.periods import period_for

    code = org_unit_code(session, country, org_unit)
    kinds = period_types(session)
    if element not in kinds:
        raise NotFoundError(f"unknown data element {element!r}")
    return element, code, period_for(element, kinds[element], period)


@dataclass(frozen=True, slots=True)
class PeriodInfo:
    """A reporting period and its window in the country's time zone."""

    period: str  # as sitroom writes it: 2022-05-15, 2022W20, 202205
    period_type: PeriodType
    first_day: date
    last_day: date
    window_start: datetime  # local, inclusive
    window_end: datetime  # local, exclusive: the cut-off
    deadline: datetime  # local: the cut-off plus the grace

    def to_dict(self) -> dict[str, object]:
        return {
            "period": self.period,
            "period_type": self.period_type,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "deadline": self.deadline.isoformat(),
        }


#: The most periods one call of :func:`reporting_periods` lists.
MAX_PERIODS = 1000


def reporting_periods(
    session: Session,
    country: Country,
    *,
    period_type: PeriodType | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[PeriodInfo]:
    """The periods of ``period_type`` from ``start`` to ``end``, with their windows.

    The type defaults to that of the country's cases; the range to the periods
    between the first and the last value stored of that type (none when
    nothing is). At most :data:`MAX_PERIODS`; more is refused with a
    SitroomError that says how to narrow the range.
    """
    from sitroom.surveillance.periods import (
        ReportingCalendar,
        check_range,
        label,
        last_day,
        shift,
        start_of,
        steps_between,
    )

    check_range(start, end)
    kinds = period_types(session)
    kind = period_type or kinds.get(country.roles.cases, "daily")
    if start is None or end is None:
        of_type = [code for code, k in kinds.items() if k == kind]
        stored = period_range(session, of_type) if of_type else None
        if stored is None:
            return []
        start = start or stored[0]
        end = end or stored[1]
        if start > end:
            return []
    first, final = start_of(start, kind), start_of(end, kind)
    count = steps_between(first, final, kind) + 1
    if count > MAX_PERIODS:
        raise SitroomError(
            f"{count} {kind} periods from {start} to {end}: at most {MAX_PERIODS};"
            " give a shorter range"
        )
    calendar = ReportingCalendar.from_config(country.reporting)
    periods = []
    for step in range(count):
        day = shift(first, step, kind)
        opens, closes = calendar.window(day, kind)
        periods.append(
            PeriodInfo(
                period=label(day, kind),
                period_type=kind,
                first_day=day,
                last_day=last_day(day, kind),
                window_start=opens.astimezone(calendar.zone),
                window_end=closes.astimezone(calendar.zone),
                deadline=calendar.deadline(day, kind).astimezone(calendar.zone),
            )
        )
    return periods
