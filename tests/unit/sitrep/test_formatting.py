"""The one formatting module: numbers as people read them."""

from __future__ import annotations

from datetime import date

import pytest

from sitroom.sitrep import formatting as fmt


@pytest.mark.parametrize(
    ("value", "shown"),
    [(392920, "392,920"), (0, "0"), (4772813.4, "4,772,813"), (None, "—"), (float("nan"), "—")],
)
def test_counts_have_thousands_separators(value, shown):
    assert fmt.count(value) == shown


@pytest.mark.parametrize(
    ("ratio", "shown"),
    [
        (1.55e-5, "0.0016 %"),
        (0.001, "0.1 %"),
        (0.4132, "41.3 %"),
        (1.0, "100 %"),
        (0.84333, "84.3 %"),
        (0.0, "0 %"),
        (None, "—"),
    ],
)
def test_percentages_keep_enough_digits_to_be_non_zero(ratio, shown):
    assert fmt.percent(ratio) == shown


def test_changes_are_signed_with_a_minus_sign():
    assert fmt.change(0.123) == "+12.3 %"
    assert fmt.change(-0.5) == "\u221250 %"
    assert fmt.change(0.0) == "0 %"


@pytest.mark.parametrize(
    ("value", "shown"), [(1234.4, "1,234"), (2.04, "2.0"), (0.0123, "0.012"), (0.0, "0.0")]
)
def test_rates_per_100000(value, shown):
    assert fmt.per100k(value) == shown


def test_ratios_days_and_dates():
    assert fmt.ratio(1.0923) == "1.09"
    assert fmt.ratio(0.0312) == "0.031"
    assert fmt.days(11.2017) == "11.2 days"
    assert fmt.days(1.0) == "1 day"
    assert fmt.day(date(2022, 5, 20)) == "2022-05-20"


def test_show_dispatches_on_the_kind_and_intervals_say_to():
    assert fmt.show(392920, "count") == "392,920"
    assert fmt.show(1.55e-5, "percent") == "0.0016 %"
    assert fmt.show("평양직할시", "text") == "평양직할시"
    assert fmt.show(None, "ratio") == "—"
    assert fmt.interval(-0.226, -0.131, "change") == "(\u221222.6 % to \u221213.1 %)"
    assert fmt.interval(None, 1.0, "ratio") == ""
