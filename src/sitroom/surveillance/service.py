"""Reading and describing stored surveillance data: elements, values, history."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.country import Country, PeriodType
from sitroom.errors import ConfigError, NotFoundError
from sitroom.places.models import OrgUnit
from sitroom.places.service import LoadSummary
from sitroom.surveillance.models import DataElement, DataSet, DataValue, DataValueAudit


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
    """

    action: str  # "created", "updated", "deleted"
    value: int | None
    at: datetime
    source: str
    by: str
    stored_by: str | None = None
    comment: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "value": self.value,
            "at": self.at.isoformat(),
            "source": self.source,
            "by": self.by,
            "stored_by": self.stored_by,
            "comment": self.comment,
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
                HistoryEvent("deleted", None, audit.changed_at, audit.source, audit.changed_by)
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
            )
        )
    return events
