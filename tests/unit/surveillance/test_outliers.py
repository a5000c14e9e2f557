"""The outlier screen: what it flags, and the vectorised screen against the loop it replaced."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.surveillance.outliers import (
    _median_valid,
    trend_outliers,
    trend_outliers_loop,
    trend_outliers_many,
)


def _surge(days=60, growth=0.25, seed=0):
    rng = np.random.default_rng(seed)
    mean = 50 * np.exp(growth * np.arange(days))
    return rng.poisson(mean).astype(float)


def _assert_same(many, loop, k=0, threshold=6.0):
    """Row ``k`` of the vectorised result equals the loop's (to the last bits)."""
    np.testing.assert_array_equal(np.isnan(many.score[k]), np.isnan(loop.score))
    np.testing.assert_allclose(many.score[k], loop.score, rtol=1e-12, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(many.expected[k], loop.expected, rtol=1e-12, equal_nan=True)
    # A score within rounding of the threshold may fall either side: judge the rest.
    clear = ~(np.abs(np.abs(loop.score) - threshold) < 1e-9)
    np.testing.assert_array_equal(many.flagged[k][clear], loop.flagged[clear])


def _surge(days=60, growth=0.25, seed=0):
    rng = np.random.default_rng(seed)
    mean = 50 * np.exp(growth * np.arange(days))
    return rng.poisson(mean).astype(float)


def test_a_steady_epidemic_surge_is_not_an_outlier():
    counts = _surge()
    assert counts[-1] > 100_000  # a real explosion, 25 % a day
    assert not trend_outliers(counts).flagged.any()


def test_a_turning_epidemic_is_not_an_outlier():
    # Growth, a peak, then decline, as in the 2022 national series.
    t = np.arange(80)
    mean = 200_000 * np.exp(-((t - 30) ** 2) / (2 * 12.0**2)) + 10
    counts = np.random.default_rng(3).poisson(mean).astype(float)
    assert not trend_outliers(counts).flagged.any()


def test_a_spike_and_a_drop_are_outliers():
    counts = _surge(days=40, growth=0.05)
    counts[30] *= 4
    counts[35] /= 5
    result = trend_outliers(counts)
    assert np.flatnonzero(result.flagged).tolist() == [30, 35]
    assert result.score[30] > 6 > -6 > result.score[35]
    assert result.expected[30] == pytest.approx(50 * np.exp(0.05 * 30), rel=0.2)


def test_missing_days_and_short_histories_are_not_checked():
    counts = _surge(days=20, growth=0.0)
    counts[::3] = np.nan
    result = trend_outliers(counts, min_history=7)
    assert np.isnan(result.score[:10]).all()
    assert np.isnan(result.score[np.isnan(counts)]).all()  # NaN days
    assert not result.flagged.any()


def test_small_counts_need_a_real_difference():
    counts = np.array([3, 2, 4, 3, 2, 3, 4, 3, 2, 3, 30], dtype=float)
    # At small counts the Poisson floor of the spread is wide: 30 after a run of
    # threes scores about 3.4, under the default threshold of 6 ...
    assert not trend_outliers(counts).flagged[-1]
    # ... and with a lower threshold min_count still decides.
    assert trend_outliers(counts, threshold=3, min_count=20).flagged[-1]
    assert not trend_outliers(counts, threshold=3, min_count=50).flagged[-1]


def test_the_vectorised_screen_gives_the_loops_results():
    """The screen in array operations equals the day-by-day reference on varied series."""
    from sitroom.surveillance.outliers import trend_outliers_loop, trend_outliers_many

    rng = np.random.default_rng(7)
    series = []
    for trial in range(120):
        n = 90
        level = rng.uniform(1, 5000) * np.exp(np.linspace(0, rng.normal(0, 2), n))
        counts = np.round(rng.poisson(level).astype(float))
        counts[rng.random(n) < 0.15] = np.nan
        if trial % 5 == 0:
            counts[rng.integers(20, n)] *= 10  # a spike to flag
        series.append(counts)
    many = trend_outliers_many(np.array(series))
    flagged = 0
    for k, counts in enumerate(series):
        loop = trend_outliers_loop(counts)
        assert np.array_equal(many.flagged[k], loop.flagged)
        assert np.array_equal(np.isnan(many.score[k]), np.isnan(loop.score))
        np.testing.assert_allclose(
            many.score[k], loop.score, rtol=1e-12, atol=1e-12, equal_nan=True
        )
        np.testing.assert_allclose(many.expected[k], loop.expected, rtol=1e-12, equal_nan=True)
        flagged += int(loop.flagged.sum())
    assert flagged > 10  # the comparison covered flagged days, not only quiet ones


def _varied_series(rng, n=60, trials=40):
    series = []
    for trial in range(trials):
        level = rng.uniform(1, 3000) * np.exp(np.linspace(0, rng.normal(0, 2), n))
        counts = rng.poisson(level).astype(float)
        counts[rng.random(n) < 0.2] = np.nan
        if trial % 4 == 0:
            counts[rng.integers(10, n)] *= 8
        series.append(counts)
    return np.array(series)


@pytest.mark.parametrize(
    "options",
    [
        {"window": 3, "min_history": 3, "threshold": 2.0, "min_count": 1, "min_spread": 0.05},
        {"window": 5, "min_history": 3, "threshold": 3.0, "min_count": 5, "min_spread": 0.0},
        {"window": 8, "min_history": 7, "threshold": 2.0, "min_count": 0, "min_spread": 0.3},
        {"window": 21, "min_history": 10, "threshold": 6.0, "min_count": 20, "min_spread": 0.15},
    ],
    ids=["window3", "window5-no-spread-floor", "wide-spread-floor", "window21"],
)
def test_the_vectorised_screen_gives_the_loops_results_for_other_settings(options):
    series = _varied_series(np.random.default_rng(11))
    many = trend_outliers_many(series, **options)
    flagged = 0
    for k, counts in enumerate(series):
        loop = trend_outliers_loop(counts, **options)
        _assert_same(many, loop, k, options["threshold"])
        flagged += int(loop.flagged.sum())
    assert flagged > 0


_COUNTS = st.one_of(st.integers(0, 2_000_000).map(float), st.just(float("nan")))


@settings(max_examples=150, deadline=None)
@given(
    counts=st.lists(_COUNTS, min_size=0, max_size=40),
    window=st.integers(3, 16),
    history=st.integers(3, 16),
    threshold=st.sampled_from([1.0, 3.0, 6.0]),
    min_count=st.sampled_from([0, 20]),
    min_spread=st.sampled_from([0.0, 0.15]),
)
def test_the_vectorised_screen_gives_the_loops_results_on_any_series(
    counts, window, history, threshold, min_count, min_spread
):
    options = {
        "window": window,
        "min_history": min(history, window),
        "threshold": threshold,
        "min_count": min_count,
        "min_spread": min_spread,
    }
    series = np.array(counts, dtype=float)
    many = trend_outliers_many(series[None, :], **options)
    _assert_same(many, trend_outliers_loop(series, **options), 0, threshold)


def test_the_median_of_the_valid_entries_is_numpys_nanmedian():
    rng = np.random.default_rng(5)
    values = rng.normal(size=(200, 9))
    values[rng.random(values.shape) < 0.4] = np.nan
    values[0] = np.nan  # no valid entry at all
    values[1, :] = [1, 2, 3, 4, np.nan, np.nan, np.nan, np.nan, np.nan]  # an even count
    valid = np.count_nonzero(~np.isnan(values), axis=-1)
    got = _median_valid(values, valid)
    with np.errstate(invalid="ignore"), pytest.warns(RuntimeWarning, match="All-NaN"):
        expected = np.nanmedian(values, axis=-1)
    np.testing.assert_array_equal(got, expected)
    assert got[1] == 2.5


def test_after_a_run_of_zeros_the_poisson_floor_decides():
    # Zeros have no spread; the floor is Poisson noise at a level of at least
    # one (1 on the log scale) with the day-to-day 15 %: a hundred is within it,
    # a thousand is not.
    quiet = np.zeros(15)
    hundred = trend_outliers(np.append(quiet, 100.0))
    thousand = trend_outliers(np.append(quiet, 1000.0))
    assert hundred.score[-1] == pytest.approx(np.log1p(100) / np.hypot(1, 0.15))
    assert not hundred.flagged.any()
    assert thousand.flagged.tolist() == [False] * 15 + [True]
    assert (thousand.expected[-1], hundred.expected[7]) == (0.0, 0.0)


def test_a_series_without_history_is_never_checked():
    for counts in (np.full(30, np.nan), np.arange(7, dtype=float), np.array([])):
        result = trend_outliers(counts)
        assert np.isnan(result.score).all()
        assert np.isnan(result.expected).all()
        assert not result.flagged.any()
