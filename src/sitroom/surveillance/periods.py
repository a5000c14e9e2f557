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
from sitroom.errors import ConfigError, SitroomError


def check_range(start: date | None, end: date | None) -> None:
    """Refuse a range whose start is after its end (it would select nothing, silently)."""
    if start is not None and end is not None and start > end:
        raise SitroomError(f"the range is inverted: start {start} is after end {end}")


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
        """The last moment (UTC) at which a value for ``period`` is on time.

        The grace is added in local wall time, like the cut-off: with an 18:00
        cut-off and 6 hours' grace the deadline is local midnight, also on a
        day whose clocks change (DPRK's 2015-08-15 and 2018-05-05).
        """
        midnight = datetime.combine(period, time())
        local = midnight + timedelta(minutes=self.cutoff_minutes) + self.grace
        return local.replace(tzinfo=self.zone).astimezone(UTC)

    def is_late(self, period: date, received_at: datetime) -> bool:
        return received_at > self.deadline(period)

    def localize(self, value: datetime | date) -> datetime:
        """An aware UTC datetime from a date (local midnight) or a naive local datetime."""
        return self.localize_checked(value)[0]

    def localize_checked(self, value: datetime | date) -> tuple[datetime, str | None]:
        """:meth:`localize`, with a warning when the local time is ambiguous or never was.

        When clocks go back, a local time occurs twice: the first occurrence is
        taken. When they go forward, the skipped times do not exist: the time is
        read with the offset in force before the change (Python's ``fold=0``).
        Either way the reader is told, since the file's time may be off by the
        size of the change.
        """
        if not isinstance(value, datetime):
            value = datetime.combine(value, time())
        if value.tzinfo is not None:
            return value.astimezone(UTC), None
        first = value.replace(tzinfo=self.zone)
        second = value.replace(tzinfo=self.zone, fold=1)
        warning = None
        if first.utcoffset() != second.utcoffset():
            shown = f"{value:%Y-%m-%d %H:%M}"
            roundtrip = first.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None)
            if roundtrip != value:
                warning = (
                    f"local time {shown} does not exist in {self.zone.key} (the clocks"
                    f" moved forward); read as {first.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
                )
            else:
                warning = (
                    f"local time {shown} occurs twice in {self.zone.key} (the clocks"
                    f" moved back); read as the first, {first.astimezone(UTC):%Y-%m-%d %H:%M}"
                    " UTC; give the UTC offset to be exact"
                )
        return first.astimezone(UTC), warning
