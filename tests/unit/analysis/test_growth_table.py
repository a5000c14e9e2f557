"""Doubling times from growth rates, when the rate's interval spans zero too (issue #8)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from sitroom.analysis.runs import doubling_interval, growth
from sitroom.analysis.series import Series

LN2 = math.log(2)


def test_an_interval_on_one_side_of_zero_has_finite_ends_around_the_estimate():
    low, high, text = doubling_interval(0.1, 0.3)
    assert (low, high) == pytest.approx((LN2 / 0.3, LN2 / 0.1))
    assert low < LN2 / 0.2 < high
    assert text == "2.31 to 6.93 d doubling"
    low, high, text = doubling_interval(-0.3, -0.1)
    assert low < LN2 / -0.2 < high < 0  # halving times, negative
    assert text == "2.31 to 6.93 d halving"


def test_an_interval_spanning_zero_is_unbounded_and_says_so():
    low, high, text = doubling_interval(-0.1575, 0.3224)
    assert (low, high) == (None, None)
    assert text == "≥ 2.15 d doubling or ≥ 4.4 d halving"
    # Weekly rates: the bounds are in days.
    assert doubling_interval(0.1, 0.2, days=7.0)[2] == "24.3 to 48.5 d doubling"


def test_the_growth_table_never_gives_two_finite_ends_that_miss_the_estimate():
    rng = np.random.default_rng(3)
    counts = np.maximum(rng.poisson(200, 60) + np.arange(60), 1).astype(float)
    table = growth(Series("cases", date(2022, 5, 1), counts), window=7)
    spanning = 0
    for row in table.rows:
        if row["r_low"] < 0 < row["r_high"]:
            spanning += 1
            assert row["doubling_low"] is None
            assert row["doubling_high"] is None
            assert row["doubling_at_least"] == pytest.approx(LN2 / row["r_high"], rel=1e-5)
            assert row["halving_at_least"] == pytest.approx(LN2 / -row["r_low"], rel=1e-5)
            assert " or " in row["doubling_interval"]
        else:
            assert row["doubling_low"] <= row["doubling_days"] <= row["doubling_high"]
    assert spanning  # a flat noisy series: most windows span zero


def test_the_delay_corrected_cfr_of_weekly_counts_finds_the_true_ratio():
    from scipy import stats

    from sitroom.analysis.runs import cfr_table

    # Daily cases growing 1 % a day, 1 % of them dying after a gamma delay, counted in days,
    # then summed into weeks or months: corrected, the ratio is 1 % (the naive one is lower).
    days = 7 * 30 * 2  # whole weeks and (30-day) months
    daily = 100 * 1.01 ** np.arange(days)
    for kind, length, mean_delay in (
        ("weekly", 7, 5.0),
        ("weekly", 7, 20.0),
        ("monthly", 30, 13.0),
    ):
        pmf = np.diff(stats.gamma.cdf(np.arange(days + 1), 2.0, scale=mean_delay / 2.0))
        deaths_daily = 0.01 * np.convolve(daily, pmf)[:days]
        cases = Series("cases", date(2022, 1, 3), daily.reshape(-1, length).sum(axis=1), kind)
        deaths = Series(
            "deaths", date(2022, 1, 3), np.round(deaths_daily.reshape(-1, length).sum(axis=1)), kind
        )
        table = cfr_table(cases, deaths, delay=(2.0, mean_delay / 2.0))
        naive, corrected = table.rows
        assert corrected["estimate"] == pytest.approx(0.01, rel=0.1), (kind, mean_delay)
        assert naive["estimate"] < corrected["estimate"]
