"""The daily publication: its hour, its catching up, its claims, its errors."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from sitroom.config import Settings, parse_publish_at
from sitroom.publication import schedule
from sitroom.publication.models import PublicationClaim
from sitroom.publication.schedule import Schedule, publish_scheduled, run_schedule

PYONGYANG = ZoneInfo("Asia/Pyongyang")


class FakeClock:
    """A clock the test sets; sleeping moves it to the wake-up time at once."""

    def __init__(self, now: datetime) -> None:
        self.current = now
        self.slept: list[datetime] = []

    def now(self) -> datetime:
        return self.current

    async def sleep_until(self, when: datetime) -> None:
        self.slept.append(when)
        self.current = max(self.current, when)
        await asyncio.sleep(0)


def test_the_setting_is_a_time_of_day_or_off():
    assert parse_publish_at("09:00") == time(9, 0)
    assert parse_publish_at("off") is None
    assert Settings().publish_at == "09:00"
    for bad in ("9", "25:00", "09:60", "nine"):
        with pytest.raises(ValueError, match="not a time of day"):
            parse_publish_at(bad)


def test_the_due_time_is_local():
    planned = Schedule(time(9, 0), PYONGYANG)
    assert planned.due(date(2022, 5, 21)) == datetime(2022, 5, 21, 0, 0, tzinfo=UTC)
    assert planned.today(datetime(2022, 5, 20, 16, 0, tzinfo=UTC)) == date(2022, 5, 21)


def test_it_sleeps_until_the_hour_then_each_next_day(monkeypatch):
    runs: list[tuple[date, datetime]] = []
    monkeypatch.setattr(schedule, "publish_scheduled", lambda _c, day, now: runs.append((day, now)))
    clock = FakeClock(datetime(2022, 5, 20, 22, 0, tzinfo=UTC))  # 07:00 on the 21st, local
    asyncio.run(run_schedule(None, Schedule(time(9, 0), PYONGYANG), clock, runs=2))  # type: ignore[arg-type]
    assert runs == [
        (date(2022, 5, 21), datetime(2022, 5, 21, 0, 0, tzinfo=UTC)),
        (date(2022, 5, 22), datetime(2022, 5, 22, 0, 0, tzinfo=UTC)),
    ]


def test_a_server_started_after_the_hour_catches_up_at_once(monkeypatch):
    runs: list[date] = []
    monkeypatch.setattr(schedule, "publish_scheduled", lambda _c, day, _now: runs.append(day))
    started = datetime(2022, 5, 21, 3, 0, tzinfo=UTC)  # 12:00 local, past 09:00
    clock = FakeClock(started)
    asyncio.run(run_schedule(None, Schedule(time(9, 0), PYONGYANG), clock, runs=1))  # type: ignore[arg-type]
    assert runs == [date(2022, 5, 21)]
    assert clock.current == started  # it did not wait


def test_an_error_is_logged_and_the_schedule_goes_on(monkeypatch, caplog):
    calls: list[date] = []

    def broken(_context, day, _now):
        calls.append(day)
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(schedule, "publish_scheduled", broken)
    clock = FakeClock(datetime(2022, 5, 20, 22, 0, tzinfo=UTC))
    with caplog.at_level(logging.ERROR, logger="sitroom.publication"):
        asyncio.run(run_schedule(None, Schedule(time(9, 0), PYONGYANG), clock, runs=2))  # type: ignore[arg-type]
    assert len(calls) == 2
    assert "the disk caught fire" in caplog.text


def test_the_day_is_claimed_once(pub_context, quick):
    now = datetime(2022, 6, 2, 0, 0, tzinfo=UTC)  # 09:00 on 2 June: 1 June is closed
    first = publish_scheduled(pub_context, date(2022, 6, 2), now)
    assert (first.status, first.period, first.number) == ("published", "2022-06-01", 1)
    second = publish_scheduled(pub_context, date(2022, 6, 2), now)
    assert second.status == "skipped"
    # The next day: the next period, its first edition.
    third = publish_scheduled(pub_context, date(2022, 6, 3), now + timedelta(days=1))
    assert (third.status, third.period) == ("published", "2022-06-02")
    with pub_context.session() as session:
        claims = session.scalars(
            select(PublicationClaim)
            .where(PublicationClaim.day.in_([date(2022, 6, 2), date(2022, 6, 3)]))
            .order_by(PublicationClaim.day)
        ).all()
    assert [c.day for c in claims] == [date(2022, 6, 2), date(2022, 6, 3)]
    assert claims[0].outcome == "published edition 1 of 2022-06-01"
    assert claims[0].edition_id is not None


def test_a_failure_is_written_on_the_claim(pub_context, quick):
    now = datetime(2031, 1, 1, 0, 0, tzinfo=UTC)  # no figures for 2030-12-31
    outcome = publish_scheduled(pub_context, date(2031, 1, 1), now)
    assert outcome.status == "failed"
    assert "no national figures" in outcome.message
    with pub_context.session() as session:
        claim = session.scalars(
            select(PublicationClaim).where(PublicationClaim.day == date(2031, 1, 1))
        ).one()
    assert claim.outcome is not None
    assert claim.outcome.startswith("failed: ")
    assert claim.edition_id is None


def test_an_unexpected_failure_is_settled_on_the_claim_too(pub_context, monkeypatch):
    # A database or chart-engine error is not a SitroomError: the claim is still settled,
    # so the day does not stay claimed with no outcome.
    from sitroom.publication import service

    def broken(*_args, **_kwargs):
        raise RuntimeError("the chart engine died")

    monkeypatch.setattr(service, "publish", broken)
    now = datetime(2022, 6, 5, 0, 0, tzinfo=UTC)
    outcome = publish_scheduled(pub_context, date(2022, 6, 5), now)
    assert outcome.status == "failed"
    assert "RuntimeError: the chart engine died" in outcome.message
    with pub_context.session() as session:
        claim = session.scalars(
            select(PublicationClaim).where(PublicationClaim.day == date(2022, 6, 5))
        ).one()
    assert claim.outcome == "failed: unexpected RuntimeError: the chart engine died"
