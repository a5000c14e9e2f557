"""Daily reporting periods over a configurable window.

A period is named by the date whose cut-off closes it: with an 18:00 cut-off
in Asia/Pyongyang, the period 2022-05-15 runs from 2022-05-14 18:00 to
2022-05-15 18:00 local time. Storage is in UTC; local time is applied here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sitroom.country import ReportingConfig
from sitroom.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ReportingCalendar:
    """The reporting window of a deployment.

    Parameters
    ----------
    zone:
        IANA time zone of the cut-off.
    cutoff_minutes:
        Minutes after local midnight at which a period closes (1..1440).
    grace:
        How long after the cut-off a value still counts as on time.
    """

    zone: ZoneInfo
    cutoff_minutes: int
    grace: timedelta

    @classmethod
    def from_config(cls, config: ReportingConfig) -> ReportingCalendar:
        try:
            zone = ZoneInfo(config.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"unknown time zone {config.time_zone!r}") from exc
        return cls(zone, config.cutoff_minutes, timedelta(minutes=config.grace_minutes))

    def _local_cutoff(self, day: date) -> datetime:
        # Wall-clock arithmetic: the cut-off is at the same local time every day,
        # whatever the UTC offset does in between.
        midnight = datetime.combine(day, time())
        return (midnight + timedelta(minutes=self.cutoff_minutes)).replace(tzinfo=self.zone)

    def window(self, period: date) -> tuple[datetime, datetime]:
        """Start (inclusive) and end (exclusive) of ``period``, in UTC."""
        start = self._local_cutoff(period - timedelta(days=1))
        end = self._local_cutoff(period)
        return start.astimezone(UTC), end.astimezone(UTC)

    def period_of(self, instant: datetime) -> date:
        """The period whose window holds ``instant`` (an aware datetime)."""
        if instant.tzinfo is None:
            raise ValueError("period_of needs an aware datetime")
        local = instant.astimezone(self.zone)
        day = local.date()
        # Periods are named by their closing cut-off; anything at or after
        # today's cut-off belongs to tomorrow's period.
        return day + timedelta(days=1) if local >= self._local_cutoff(day) else day

    def deadline(self, period: date) -> datetime:
        """The last moment (UTC) at which a value for ``period`` is on time."""
        return self.window(period)[1] + self.grace

    def is_late(self, period: date, received_at: datetime) -> bool:
        return received_at > self.deadline(period)

    def localize(self, value: datetime | date) -> datetime:
        """An aware UTC datetime from a date (local midnight) or a naive local datetime."""
        if not isinstance(value, datetime):
            value = datetime.combine(value, time())
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(UTC)
