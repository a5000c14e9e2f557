"""Recording and reading events; the events that apply to an org unit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.db import DEFAULT_LOCK_TIMEOUT, begin_write, utcnow
from sitroom.errors import SitroomError
from sitroom.events.models import EVENT_KINDS, Event
from sitroom.places.models import OrgUnit
from sitroom.users.service import ensure_user

#: Longest title, in characters.
MAX_TITLE = 200


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event as the analyses and pages read it."""

    id: int
    org_unit: str
    day: date
    kind: str
    title: str
    description: str | None
    created_by: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org_unit": self.org_unit,
            "day": self.day.isoformat(),
            "kind": self.kind,
            "title": self.title,
            "description": self.description,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


def add_event(
    session: Session,
    org_unit: str,
    day: date,
    title: str,
    *,
    user: str,
    kind: str = "intervention",
    description: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> EventRecord:
    """Record an event and commit; returns it as stored."""
    if kind not in EVENT_KINDS:
        raise SitroomError(f"unknown event kind {kind!r}: choose {', '.join(EVENT_KINDS)}")
    title = title.strip()
    if not title:
        raise SitroomError("an event needs a title")
    if len(title) > MAX_TITLE:
        raise SitroomError(f"the title has {len(title)} characters; at most {MAX_TITLE}")
    if "\x00" in title or (description and "\x00" in description):
        raise SitroomError("the title and description may not hold NUL characters")
    if not 1900 <= day.year <= 2199:
        raise SitroomError(f"{day} is outside the years 1900-2199")
    try:
        begin_write(session, lock_timeout)
        unit_id = session.scalar(select(OrgUnit.id).where(OrgUnit.code == org_unit))
        if unit_id is None:
            raise SitroomError(f"unknown org unit {org_unit!r}")
        ensure_user(session, user)
        event = Event(
            org_unit_id=unit_id,
            day=day,
            kind=kind,
            title=title,
            description=description or None,
            created_by=user,
            created_at=utcnow(),
        )
        session.add(event)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return EventRecord(
        event.id, org_unit, day, kind, title, event.description, user, event.created_at
    )


def list_events(
    session: Session,
    org_unit: str | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    inherited: bool = True,
) -> list[EventRecord]:
    """Events by day; for ``org_unit``, its own and (``inherited``) its ancestors'.

    A national lockdown is an event of every region too.
    """
    query = select(Event, OrgUnit.code).join(OrgUnit, OrgUnit.id == Event.org_unit_id)
    if org_unit is not None:
        path = session.scalar(select(OrgUnit.path).where(OrgUnit.code == org_unit))
        if path is None:
            raise SitroomError(f"unknown org unit {org_unit!r}")
        if inherited:
            # The unit and its ancestors: the codes on its materialised path.
            codes = [code for code in path.strip("/").split("/") if code]
            query = query.where(OrgUnit.code.in_(codes))
        else:
            query = query.where(OrgUnit.code == org_unit)
    if start is not None:
        query = query.where(Event.day >= start)
    if end is not None:
        query = query.where(Event.day <= end)
    rows = session.execute(query.order_by(Event.day, Event.id)).all()
    return [
        EventRecord(e.id, code, e.day, e.kind, e.title, e.description, e.created_by, e.created_at)
        for e, code in rows
    ]
