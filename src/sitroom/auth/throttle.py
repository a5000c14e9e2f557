"""Slowing guessers down: a rate limit and a delay per client address, from the audit.

The lock-out (``sitroom.auth.service``) protects one account; this protects
all of them from one address trying many. Failed sign-ins (``login_failed``)
and refused tokens (``token_failed``) are already rows of ``auth_event`` with
the client's address, so the count is read from there: every worker and
machine sharing the database sees the same count, and nothing is kept in a
process's memory.

- Past ``Throttle.limit`` failures from one address within ``Throttle.window``,
  that address is refused (the server answers 429) before its credentials are
  looked at, until enough of those failures have left the window
  (:func:`retry_after`). The first refusal of a window is audited as
  ``rate_limited``, once, so that a flood does not flood the audit too.
- Each failure is answered after a delay that grows with the address's
  recent failures (:func:`failure_delay`); the server waits without holding a
  worker thread.

A request whose address is unknown (no client) is not counted or limited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from sitroom.auth.audit import record, when
from sitroom.auth.models import AuthEvent
from sitroom.db import utcnow
from sitroom.users.models import AppUser

#: The audit events that count as a failure of a client.
FAILURES = ("login_failed", "token_failed")


@dataclass(frozen=True, slots=True)
class Throttle:
    """The thresholds (the settings ``auth_failures_per_client``, ``auth_failure_*``)."""

    limit: int = 20
    window: timedelta = timedelta(minutes=15)
    #: Seconds of delay per recent failure of the address ...
    delay_step: float = 0.25
    #: ... up to this many.
    delay_max: float = 3.0


def _failures(client: str, since: datetime) -> list[ColumnElement[bool]]:
    return [
        AuthEvent.client == client,
        AuthEvent.event.in_(FAILURES),
        AuthEvent.time > since,
    ]


def recent_failures(
    session: Session, client: str | None, *, throttle: Throttle, now: datetime | None = None
) -> int:
    """Failures from ``client`` within the window before ``now``."""
    if not client:
        return 0
    now = now or utcnow()
    count = session.scalar(
        select(func.count()).select_from(AuthEvent).where(*_failures(client, now - throttle.window))
    )
    return int(count or 0)


def retry_after(
    session: Session,
    client: str | None,
    *,
    throttle: Throttle,
    username: str | None = None,
    now: datetime | None = None,
) -> int | None:
    """Seconds ``client`` must wait before trying again, or None when it may try now.

    A client with ``throttle.limit`` failures or more in the window waits
    until enough of them have left it to bring the count below the limit.
    The first refusal in a window is audited (``rate_limited``, with the user
    name tried, if any) and committed; later ones are not recorded.
    """
    if not client:
        return None
    now = now or utcnow()
    since = now - throttle.window
    times = session.scalars(
        select(AuthEvent.time)
        .where(*_failures(client, since))
        .order_by(AuthEvent.time.desc())
        .limit(throttle.limit)
    ).all()
    if len(times) < throttle.limit:
        return None
    # The limit-th newest failure is the one whose leaving the window frees the client.
    freed = times[-1] + throttle.window
    wait = max(1, math.ceil((freed - now).total_seconds()))
    already = session.scalar(
        select(AuthEvent.id)
        .where(
            AuthEvent.client == client,
            AuthEvent.event == "rate_limited",
            AuthEvent.time > since,
        )
        .limit(1)
    )
    if already is None:
        record(
            session,
            "rate_limited",
            username=username,
            actor=None,
            now=now,
            client=client,
            detail=f"{len(times)} or more failed sign-ins in {_minutes(throttle.window)};"
            f" refused until {when(freed)}",
        )
        session.commit()
    return wait


def failure_delay(
    session: Session, client: str | None, *, throttle: Throttle, now: datetime | None = None
) -> float:
    """Seconds to wait before answering a failure: ``delay_step`` per recent failure, capped."""
    failures = recent_failures(session, client, throttle=throttle, now=now)
    return min(throttle.delay_max, throttle.delay_step * failures)


def _minutes(window: timedelta) -> str:
    minutes = round(window.total_seconds() / 60)
    return f"{minutes} minute" + ("" if minutes == 1 else "s")


@dataclass(frozen=True, slots=True)
class Lock:
    """An account's lock, as a sign-in form tells it."""

    until: datetime
    failures: int


def account_lock(session: Session, username: str, *, now: datetime | None = None) -> Lock | None:
    """The lock on ``username``'s account at ``now``, or None (unknown user, or not locked).

    Only for a sign-in the service has already refused with its lock message:
    it tells nothing that message did not.
    """
    now = now or utcnow()
    row = session.execute(
        select(AppUser.locked_until, AppUser.failed_logins)
        .where(AppUser.username == username)
        .execution_options(populate_existing=True)
    ).first()
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return Lock(row.locked_until, row.failed_logins)
