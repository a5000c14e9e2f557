"""The security audit: one append-only row per sign-in, lock and change to a user or token.

``auth_event`` refuses UPDATE and DELETE (a trigger, migration 0007). No
password is ever written here; a failed sign-in under an unknown name is
recorded with the name as typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.models import AuthEvent
from sitroom.db import utcnow

#: Events :func:`auth_events` returns unless told otherwise.
DEFAULT_EVENT_LIMIT = 100
#: Widths of the audit's name and client columns.
NAME_WIDTH = 100
CLIENT_WIDTH = 200


def iso(value: datetime | None) -> str | None:
    """A timestamp for JSON, or None."""
    return None if value is None else value.isoformat()


def when(value: datetime) -> str:
    """A timestamp for a message: ``2026-11-28 07:15:00 UTC``."""
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def _cut(value: str | None, width: int) -> str | None:
    return None if value is None else value[:width]


@dataclass(frozen=True, slots=True)
class AuthEventRecord:
    """One row of the security audit."""

    id: int
    time: datetime
    username: str | None
    event: str
    actor: str | None
    client: str | None
    detail: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(),
            "username": self.username,
            "event": self.event,
            "actor": self.actor,
            "client": self.client,
            "detail": self.detail,
        }


def record(
    session: Session,
    event: str,
    *,
    username: str | None,
    actor: str | None,
    now: datetime | None = None,
    client: str | None = None,
    detail: str | None = None,
) -> None:
    """Add one row to the security audit (committed with the caller's change)."""
    session.add(
        AuthEvent(
            time=now or utcnow(),
            username=_cut(username, NAME_WIDTH),
            event=event,
            actor=_cut(actor, NAME_WIDTH),
            client=_cut(client, CLIENT_WIDTH),
            detail=detail,
        )
    )


def auth_events(
    session: Session,
    *,
    username: str | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_EVENT_LIMIT,
) -> list[AuthEventRecord]:
    """Security events, newest first: ``username``'s, from ``since`` on, at most ``limit``."""
    query = select(AuthEvent)
    if username is not None:
        query = query.where(AuthEvent.username == username)
    if since is not None:
        query = query.where(AuthEvent.time >= since)
    rows = session.scalars(query.order_by(AuthEvent.time.desc(), AuthEvent.id.desc()).limit(limit))
    return [
        AuthEventRecord(e.id, e.time, e.username, e.event, e.actor, e.client, e.detail)
        for e in rows
    ]
