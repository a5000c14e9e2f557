"""Reporting periods (daily, ISO weekly, monthly) over a configurable window.

A period is a run of whole days, stored by its first day: a day, an ISO week
(Monday to Sunday, DHIS2 ``2022W20``) or a calendar month (DHIS2 ``202205``).
Each day closes at the cut-off: with an 18:00 cut-off in Asia/Pyongyang, the
daily period 2022-05-15 runs from 2022-05-14 18:00 to 2022-05-15 18:00 local
time, and the week 2022W20 (16 to 22 May) from Sunday 15 May 18:00 to Sunday
22 May 18:00. Storage is in UTC; local time is applied here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sitroom.country import PeriodType, ReportingConfig
from sitroom.errors import ConfigError, SitroomError

PERIOD_TYPES: tuple[PeriodType, ...] = get_args(PeriodType)

#: Periods are accepted in these years only (a mistyped year is refused).
FIRST_YEAR, LAST_YEAR = 1900, 2199

#: What one period of each type is called in messages, and its plural.
UNIT_NAMES: dict[PeriodType, tuple[str, str]] = {
    "daily": ("day", "days"),
    "weekly": ("week", "weeks"),
    "monthly": ("month", "months"),
}


def start_of(day: date, period_type: PeriodType) -> date:
    """The first day of the period of ``period_type`` that holds ``day``."""
    if period_type == "weekly":
        return day - timedelta(days=day.weekday())
    if period_type == "monthly":
        return day.replace(day=1)
    return day


def shift(start: date, steps: int, period_type: PeriodType) -> date:
    """The period ``steps`` periods after the one starting on ``start`` (before, if negative)."""
    if period_type == "weekly":
        return start + timedelta(weeks=steps)
    if period_type == "monthly":
        months = start.year * 12 + start.month - 1 + steps
        return date(months // 12, months % 12 + 1, 1)
    return start + timedelta(days=steps)


def last_day(start: date, period_type: PeriodType) -> date:
    """The last day of the period starting on ``start``."""
    return shift(start, 1, period_type) - timedelta(days=1)


def steps_between(first: date, last: date, period_type: PeriodType) -> int:
    """How many periods ``last`` is after ``first`` (both period starts)."""
    if period_type == "weekly":
        return (last - first).days // 7
    if period_type == "monthly":
        return (last.year - first.year) * 12 + last.month - first.month
    return (last - first).days


def label(start: date, period_type: PeriodType) -> str:
    """How sitroom writes a period: ``2022-05-15``, ``2022W20`` or ``202205`` (DHIS2's ISO)."""
    if period_type == "weekly":
        year, week, _ = start.isocalendar()
        return f"{year}W{week}"
    if period_type == "monthly":
        return f"{start:%Y%m}"
    return start.isoformat()


def dhis2_label(start: date, period_type: PeriodType) -> str:
    """The period as DHIS2 names it: ``20220515``, ``2022W20`` or ``202205``."""
    return f"{start:%Y%m%d}" if period_type == "daily" else label(start, period_type)


# ASCII digits only ([0-9], not \d): a count refuses other scripts' digits, so does a period.
_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})|([0-9]{4})([0-9]{2})([0-9]{2})")
_WEEK = re.compile(r"([0-9]{4})-?W([0-9]{1,2})")
_MONTH = re.compile(r"([0-9]{4})-?([0-9]{2})")  # after _DAY: 8 digits are a day


def parse_period(text: str) -> tuple[PeriodType, date]:
    """The type and first day of a period written the ISO or the DHIS2 way.

    Days: ``2022-05-15`` or ``20220515``; ISO weeks: ``2022W20`` or ``2022-W20``;
    months: ``202205`` or ``2022-05``. Raises ValueError saying what is wrong.
    """
    text = text.strip()
    try:
        if match := _DAY.fullmatch(text):
            year, month, day = (int(g) for g in match.groups() if g is not None)
            period_type: PeriodType = "daily"
            start = date(year, month, day)
        elif match := _WEEK.fullmatch(text):
            year, week = int(match[1]), int(match[2])
            period_type = "weekly"
            start = date.fromisocalendar(year, week, 1)
        elif match := _MONTH.fullmatch(text):
            period_type = "monthly"
            start = date(int(match[1]), int(match[2]), 1)
        else:
            raise ValueError(
                f"{text!r} is not a period: give a day (2022-05-15 or 20220515),"
                " an ISO week (2022W20) or a month (202205 or 2022-05)"
            )
    except ValueError as exc:
        if "is not a period" in str(exc):
            raise
        raise ValueError(f"{text!r} is not a real {_kind(text)}") from None
    named_year = int(text[:4])  # 2200W1 starts in 2199 but is 2200's
    if not (FIRST_YEAR <= start.year <= LAST_YEAR and FIRST_YEAR <= named_year <= LAST_YEAR):
        raise ValueError(f"{text!r} is outside the years {FIRST_YEAR}-{LAST_YEAR}")
    return period_type, start


def _kind(text: str) -> str:
    if "W" in text:
        return "ISO week (weeks run from 1 to 52 or 53)"
    return "date" if len(text.replace("-", "")) == 8 else "month"


def check_period_type(text: str) -> PeriodType:
    """A period type named on the command line (``day``/``daily``, ``week``, ``month``)."""
    aliases = {"day": "daily", "week": "weekly", "month": "monthly"}
    name = aliases.get(text, text)
    if name not in PERIOD_TYPES:
        raise SitroomError(f"unknown period type {text!r}: choose day, week or month")
    return name


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

    def window(self, period: date, period_type: PeriodType = "daily") -> tuple[datetime, datetime]:
        """Start (inclusive) and end (exclusive) of the period starting on ``period``, in UTC."""
        start = self._local_cutoff(period - timedelta(days=1))
        end = self._local_cutoff(last_day(period, period_type))
        return start.astimezone(UTC), end.astimezone(UTC)

    def period_of(self, instant: datetime, period_type: PeriodType = "daily") -> date:
        """The (first day of the) period whose window holds ``instant`` (an aware datetime)."""
        if instant.tzinfo is None:
            raise ValueError("period_of needs an aware datetime")
        local = instant.astimezone(self.zone)
        day = local.date()
        # Days are named by their closing cut-off; anything at or after
        # today's cut-off belongs to tomorrow.
        if local >= self._local_cutoff(day):
            day += timedelta(days=1)
        return start_of(day, period_type)

    def deadline(self, period: date, period_type: PeriodType = "daily") -> datetime:
        """The last moment (UTC) at which a value for the period is on time.

        The period closes at the cut-off of its last day; the grace is added
        in local wall time, like the cut-off: with an 18:00 cut-off and 6
        hours' grace the deadline is local midnight, also on a day whose
        clocks change (DPRK's 2015-08-15 and 2018-05-05).
        """
        midnight = datetime.combine(last_day(period, period_type), time())
        local = midnight + timedelta(minutes=self.cutoff_minutes) + self.grace
        return local.replace(tzinfo=self.zone).astimezone(UTC)

    def is_late(
        self, period: date, received_at: datetime, period_type: PeriodType = "daily"
    ) -> bool:
        return received_at > self.deadline(period, period_type)

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


def period_bounds(text: str, what: str = "period", *, last: bool = False) -> date:
    """The first day of the period ``text`` names (a day, ``2022W20``, ``202205``), or its last.

    A SitroomError naming ``what`` when the text is not a period.
    """
    try:
        period_type, day = parse_period(text)
    except ValueError as exc:
        raise SitroomError(f"{what}: {exc}") from None
    return last_day(day, period_type) if last else day


def period_for(element: str, element_type: PeriodType, text: str) -> date:
    """The first day of the period ``text`` names, checked against how ``element`` is reported.

    Raises SitroomError naming the right period when the types differ: the
    day 2021-02-03 of a weekly element is the week 2021W5, not a value of its own.
    """
    try:
        given_type, start = parse_period(text)
    except ValueError as exc:
        raise SitroomError(f"period: {exc}") from None
    if given_type != element_type:
        right = label(start_of(start, element_type), element_type)
        raise SitroomError(
            f"{text.strip()!r} is a {UNIT_NAMES[given_type][0]}: {element} is reported"
            f" {element_type}; give {right}"
        )
    return start
