from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitroom.country import ReportingConfig
from sitroom.surveillance.periods import (
    ReportingCalendar,
    dhis2_label,
    label,
    last_day,
    parse_period,
    shift,
    start_of,
    steps_between,
)

PYONGYANG = ReportingCalendar.from_config(
    ReportingConfig(time_zone="Asia/Pyongyang", cutoff="18:00", grace_minutes=360)
)


def test_period_is_named_by_the_date_whose_cutoff_closes_it():
    start, end = PYONGYANG.window(date(2022, 5, 15))
    zone = ZoneInfo("Asia/Pyongyang")
    assert start == datetime(2022, 5, 14, 18, 0, tzinfo=zone)
    assert end == datetime(2022, 5, 15, 18, 0, tzinfo=zone)
    assert start.tzinfo == UTC  # stored and compared in UTC
    assert end - start == timedelta(hours=24)


def test_instants_on_either_side_of_the_cutoff():
    zone = ZoneInfo("Asia/Pyongyang")
    assert PYONGYANG.period_of(datetime(2022, 5, 15, 17, 59, tzinfo=zone)) == date(2022, 5, 15)
    assert PYONGYANG.period_of(datetime(2022, 5, 15, 18, 0, tzinfo=zone)) == date(2022, 5, 16)
    # 09:30 UTC is 18:30 in Pyongyang: already the next period.
    assert PYONGYANG.period_of(datetime(2022, 5, 15, 9, 30, tzinfo=UTC)) == date(2022, 5, 16)


def test_late_means_after_cutoff_plus_grace():
    zone = ZoneInfo("Asia/Pyongyang")
    period = date(2022, 5, 15)
    assert PYONGYANG.deadline(period) == datetime(2022, 5, 16, 0, 0, tzinfo=zone)
    assert not PYONGYANG.is_late(period, datetime(2022, 5, 15, 23, 59, tzinfo=zone))
    assert PYONGYANG.is_late(period, datetime(2022, 5, 16, 0, 1, tzinfo=zone))


def test_pyongyang_offset_history_is_respected():
    # Pyongyang was UTC+8:30 from 2015-08-15 to 2018-05-04.
    _, end = PYONGYANG.window(date(2016, 1, 1))
    assert end == datetime(2016, 1, 1, 9, 30, tzinfo=UTC)


def test_midnight_cutoff_gives_calendar_days():
    calendar = ReportingCalendar.from_config(ReportingConfig(time_zone="UTC", cutoff="24:00"))
    assert calendar.window(date(2022, 5, 15)) == (
        datetime(2022, 5, 15, tzinfo=UTC),
        datetime(2022, 5, 16, tzinfo=UTC),
    )


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="cutoff"):
        ReportingConfig(time_zone="UTC", cutoff="25:00")
    from sitroom.errors import ConfigError

    with pytest.raises(ConfigError, match="time zone"):
        ReportingCalendar.from_config(ReportingConfig(time_zone="Mars/Olympus", cutoff="18:00"))


LONDON = ReportingCalendar.from_config(ReportingConfig(time_zone="Europe/London", cutoff="18:00"))


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    )
)
@pytest.mark.parametrize("calendar", [PYONGYANG, LONDON])
def test_every_instant_lies_in_the_window_of_its_period(calendar, instant):
    start, end = calendar.window(calendar.period_of(instant))
    assert start <= instant < end


@pytest.mark.parametrize(
    "period",
    [
        date(2015, 8, 14),  # clocks went back 30 min at the following midnight (UTC+9 -> +8:30)
        date(2018, 5, 4),  # clocks went forward 30 min at 23:30 (UTC+8:30 -> +9)
        date(2015, 8, 15),
        date(2018, 5, 5),
    ],
)
def test_the_late_deadline_is_local_midnight_on_clock_change_days(period):
    """18:00 cut-off + 6 hours' grace = midnight local wall time, whatever the offset does."""
    deadline = PYONGYANG.deadline(period).astimezone(ZoneInfo("Asia/Pyongyang"))
    assert (deadline.date(), deadline.hour, deadline.minute) == (
        period + timedelta(days=1),
        0,
        0,
    )


def test_reports_near_midnight_on_clock_change_days_are_judged_in_wall_time():
    zone = ZoneInfo("Asia/Pyongyang")
    # 2018-05-05 00:10 +09:00 is after midnight: late (elapsed-time grace said on time).
    assert PYONGYANG.is_late(date(2018, 5, 4), datetime(2018, 5, 5, 0, 10, tzinfo=zone))
    # 15:15 UTC is 23:45 +08:30 on 2015-08-14, after the clocks went back: still on time
    # (elapsed-time grace put the deadline at 15:00 UTC and called it late).
    assert not PYONGYANG.is_late(date(2015, 8, 14), datetime(2015, 8, 14, 15, 15, tzinfo=UTC))


def test_ambiguous_and_missing_local_times_are_warned_about():
    when, warning = PYONGYANG.localize_checked(datetime(2015, 8, 14, 23, 45))
    assert warning is not None
    assert "occurs twice" in warning
    assert when == datetime(2015, 8, 14, 14, 45, tzinfo=UTC)  # the first occurrence (+09:00)
    when, warning = PYONGYANG.localize_checked(datetime(2018, 5, 4, 23, 45))
    assert warning is not None
    assert "does not exist" in warning
    assert PYONGYANG.localize_checked(datetime(2018, 5, 4, 22, 45))[1] is None
    assert PYONGYANG.localize_checked(datetime(2022, 5, 15, 18, 0))[1] is None


# Weekly and monthly periods: stored by their first day, closed at the cut-off of their last.


def test_a_week_runs_from_the_cutoff_before_monday_to_sundays_cutoff():
    zone = ZoneInfo("Asia/Pyongyang")
    monday = date(2022, 5, 16)  # ISO 2022W20
    start, end = PYONGYANG.window(monday, "weekly")
    assert start == datetime(2022, 5, 15, 18, 0, tzinfo=zone)
    assert end == datetime(2022, 5, 22, 18, 0, tzinfo=zone)
    assert PYONGYANG.deadline(monday, "weekly") == datetime(2022, 5, 23, 0, 0, tzinfo=zone)
    # Sunday 17:59 is still week 20; Sunday 18:00 is already week 21.
    assert PYONGYANG.period_of(datetime(2022, 5, 22, 17, 59, tzinfo=zone), "weekly") == monday
    assert PYONGYANG.period_of(datetime(2022, 5, 22, 18, 0, tzinfo=zone), "weekly") == date(
        2022, 5, 23
    )


def test_a_month_closes_at_the_cutoff_of_its_last_day():
    zone = ZoneInfo("Asia/Pyongyang")
    start, end = PYONGYANG.window(date(2024, 2, 1), "monthly")
    assert start == datetime(2024, 1, 31, 18, 0, tzinfo=zone)
    assert end == datetime(2024, 2, 29, 18, 0, tzinfo=zone)  # a leap year
    assert PYONGYANG.deadline(date(2022, 12, 1), "monthly") == datetime(2023, 1, 1, tzinfo=zone)
    assert PYONGYANG.period_of(datetime(2022, 12, 31, 18, 0, tzinfo=zone), "monthly") == date(
        2023, 1, 1
    )


def test_period_arithmetic_across_years():
    assert shift(date(2022, 12, 1), 1, "monthly") == date(2023, 1, 1)
    assert shift(date(2023, 1, 1), -13, "monthly") == date(2021, 12, 1)
    assert shift(date(2020, 12, 28), 1, "weekly") == date(2021, 1, 4)  # 2020W53 -> 2021W1
    assert last_day(date(2020, 12, 28), "weekly") == date(2021, 1, 3)
    assert steps_between(date(2021, 12, 1), date(2023, 1, 1), "monthly") == 13
    assert label(date(2021, 1, 4), "weekly") == "2021W1"
    assert dhis2_label(date(2022, 5, 15), "daily") == "20220515"
    assert label(date(2022, 5, 1), "monthly") == "202205"


@given(
    st.dates(min_value=date(1901, 1, 1), max_value=date(2198, 12, 1)),
    st.sampled_from(["daily", "weekly", "monthly"]),
)
def test_every_day_falls_in_one_period_that_round_trips_through_its_label(day, period_type):
    start = start_of(day, period_type)
    assert start <= day <= last_day(start, period_type)
    assert shift(start, 1, period_type) == last_day(start, period_type) + timedelta(days=1)
    assert parse_period(label(start, period_type)) == (period_type, start)
    assert parse_period(dhis2_label(start, period_type)) == (period_type, start)
    assert steps_between(start, shift(start, 5, period_type), period_type) == 5


def test_periods_take_ascii_digits_and_years_in_range_only():
    arabic_indic = "\u0662\u0660\u0662\u0662W20"  # 2022W20 in Arabic-Indic digits
    fullwidth = "".join(chr(0xFF10 + int(d)) for d in "20220515")
    for bad in (arabic_indic, fullwidth, "2200W1", "1899-12-31"):
        with pytest.raises(ValueError, match=r"not a period|outside the years"):
            parse_period(bad)
