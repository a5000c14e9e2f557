"""The daily publication: ``sitroom serve`` publishes the latest closed period at a set hour.

Every worker of every server runs :func:`run_schedule` (started in the app's
lifespan): it sleeps until the next due time (``SITROOM_PUBLISH_AT``, local
time in the country's zone, 09:00 Asia/Pyongyang by default), then calls
:func:`publish_scheduled` for that day. That inserts the day's
:class:`~sitroom.publication.models.PublicationClaim` first, in a transaction
of its own: the unique key on the day lets one insert through, on SQLite and
PostgreSQL alike, and the workers whose insert fails skip the day. The winner
builds and stores the edition and writes the outcome on its claim. So a
deployment publishes exactly one edition a day, however many processes wake.

A server that starts after the day's hour catches up at once (the claim
tells it whether another already did). A failure is logged and written on the
claim; it is not retried that day (publish by hand: ``sitroom sitrep
publish``). Nothing here ever stops the server.

Time comes from a :class:`Clock`, so that tests can move it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from sitroom.config import parse_publish_at
from sitroom.db import utcnow
from sitroom.errors import SitroomError

if TYPE_CHECKING:
    from sitroom.context import AppContext

log = logging.getLogger("sitroom.publication")

#: Who the scheduled editions are built by (registered like the command line's --user).
SCHEDULE_USER = "sitroom-schedule"
#: The longest single sleep: the clock is looked at again at least this often.
MAX_NAP = timedelta(minutes=10)


class Clock(Protocol):
    """What the schedule knows of time."""

    def now(self) -> datetime:
        """The current time, aware."""

    async def sleep_until(self, when: datetime) -> None:
        """Return at ``when`` (or later)."""


class SystemClock:
    """The real clock; sleeps in naps of at most :data:`MAX_NAP`, so that a
    change of the system clock (or a suspended machine) delays a publication
    by ten minutes at most."""

    def now(self) -> datetime:
        return utcnow()

    async def sleep_until(self, when: datetime) -> None:
        while (left := (when - self.now()).total_seconds()) > 0:
            await asyncio.sleep(min(left, MAX_NAP.total_seconds()))


@dataclass(frozen=True, slots=True)
class Schedule:
    """The local time of day to publish at, in the country's zone."""

    at: time
    zone: ZoneInfo

    def due(self, day: date) -> datetime:
        """The moment (UTC) of ``day``'s publication."""
        return datetime.combine(day, self.at, tzinfo=self.zone).astimezone(UTC)

    def today(self, now: datetime) -> date:
        return now.astimezone(self.zone).date()


def schedule_of(context: AppContext) -> Schedule | None:
    """The deployment's schedule, or None when ``SITROOM_PUBLISH_AT=off``."""
    at = parse_publish_at(context.settings.publish_at)
    if at is None:
        return None
    return Schedule(at, ZoneInfo(context.country.reporting.time_zone))


def _claimant() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a scheduled run did: ``published``, ``unchanged``, ``skipped`` (another process
    claimed the day) or ``failed``; the edition's number when there is one."""

    status: str
    day: date
    period: str | None = None
    number: int | None = None
    message: str = ""


def _claim(context: AppContext, day: date, period: date, now: datetime) -> int | None:
    """Insert the day's claim; its id, or None when another process has it."""
    from sqlalchemy.exc import IntegrityError

    from sitroom.publication.models import PublicationClaim

    with context.session(write=True) as session:
        claim = PublicationClaim(day=day, period=period, claimed_at=now, claimed_by=_claimant())
        session.add(claim)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return None
        return claim.id


def _settle(context: AppContext, claim_id: int, outcome: str, edition_id: int | None) -> None:
    """Write what came of a claim (claims, unlike editions, may be updated)."""
    from sqlalchemy import update

    from sitroom.publication.models import PublicationClaim

    with context.session(write=True) as session:
        session.execute(
            update(PublicationClaim)
            .where(PublicationClaim.id == claim_id)
            .values(outcome=outcome[:2000], edition_id=edition_id)
        )
        session.commit()


def publish_scheduled(context: AppContext, day: date, now: datetime | None = None) -> Outcome:
    """The scheduled publication of ``day`` (a local date): claim it, then publish.

    The period is the latest closed one at ``now`` (the reporting calendar's).
    Returns what happened; raises nothing a server should stop for (errors
    are the outcome ``failed``, logged and written on the claim).
    """
    from sqlalchemy import select

    from sitroom.publication.models import Edition
    from sitroom.publication.service import publish
    from sitroom.surveillance.entry import latest_closed_period
    from sitroom.surveillance.periods import label

    now = now or utcnow()
    period = latest_closed_period(context.country, now)
    shown = label(period, "daily")
    claim = _claim(context, day, period, now)
    if claim is None:
        log.info("scheduled publication of %s: another process has claimed %s", shown, day)
        return Outcome("skipped", day, shown)
    try:
        done = publish(context, shown, user=SCHEDULE_USER, channel="schedule")
    except SitroomError as exc:
        log.warning("scheduled publication of %s failed: %s", shown, exc)
        _settle(context, claim, f"failed: {exc}", None)
        return Outcome("failed", day, shown, message=str(exc))
    except Exception as exc:  # a database or chart-engine failure: settled, not left open
        log.exception("scheduled publication of %s failed", shown)
        reason = f"failed: unexpected {type(exc).__name__}: {exc}"[:500]
        _settle(context, claim, reason, None)
        return Outcome("failed", day, shown, message=reason)
    edition = done.edition
    with context.session() as session:
        edition_id = session.scalar(
            select(Edition.id).where(
                Edition.period == edition.period, Edition.number == edition.number
            )
        )
    if done.new:
        message = f"published edition {edition.number} of {shown}"
    else:
        message = f"unchanged: edition {edition.number} of {shown} holds the same values"
    _settle(context, claim, message, edition_id)
    log.info("scheduled publication: %s", message)
    status = "published" if done.new else "unchanged"
    return Outcome(status, day, shown, edition.number, message)


async def run_schedule(
    context: AppContext, schedule: Schedule, clock: Clock | None = None, *, runs: int | None = None
) -> None:
    """Publish every day at the schedule's time, until cancelled (or after ``runs`` runs).

    Today's publication runs at once when its time has passed (a server
    started late catches up; the claim keeps it to one edition).
    """
    clock = clock or SystemClock()
    day = schedule.today(clock.now())
    done = 0
    while runs is None or done < runs:
        await clock.sleep_until(schedule.due(day))
        try:
            await asyncio.to_thread(publish_scheduled, context, day, clock.now())
        except asyncio.CancelledError:
            raise
        except Exception:  # the server goes on whatever happens here
            log.exception("scheduled publication of %s failed", day)
        done += 1
        day += timedelta(days=1)
