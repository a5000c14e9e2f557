import numpy as np
import pytest

from sitroom.config import PACKAGE_DATA
from sitroom.epi.backtest import (
    LEVELS,
    backtest,
    interval_score,
    last_value,
    week_mean,
    weighted_interval_score,
)
from sitroom.epi.forecast import RenewalForecast
from sitroom.epi.serial_interval import parametric_si
from tests.unit.epi.conftest import column, read_csv


def national_new_fever():
    rows = read_csv(PACKAGE_DATA / "dprk2022" / "fever_national.csv")
    return column(rows, "new_fever")


def simulate(r, days=60, seed=0, si=(4.0, 2.0), start=50):
    rng = np.random.default_rng(seed)
    w = parametric_si(*si, days)
    cases = np.zeros(days)
    cases[:5] = start
    for t in range(5, days):
        lam = (cases[t - np.arange(1, t + 1)] * w[1 : t + 1]).sum()
        cases[t] = rng.poisson(r * lam)
    return cases


def test_constant_r_forecast_is_centred_on_the_truth():
    r = 1.15
    truth = simulate(r, days=70, seed=1)
    history, future = truth[:56], truth[56:]
    fc = RenewalForecast(
        si_mean=4.0, si_sd=2.0, horizon=14, random_state=3, observation="poisson"
    ).fit(history)
    assert fc.samples_.shape == (2000, 14)
    assert fc.quantiles_.shape == (14, 5)
    assert fc.r_shape_ * fc.r_scale_ == pytest.approx(r, rel=0.1)
    # Interval contains most of what happened, and widens with the horizon.
    q = fc.quantiles_
    inside = (q[:, 0] <= future) & (future <= q[:, 4])
    assert inside.mean() >= 0.8
    assert (q[-1, 4] - q[-1, 0]) > (q[0, 4] - q[0, 0])


def test_forecasts_are_reproducible_and_vectorised():
    a = simulate(1.1, seed=2)
    b = simulate(0.8, seed=3, start=20_000)
    both = RenewalForecast(si_mean=4.0, si_sd=2.0, horizon=5, random_state=7).fit(np.vstack([a, b]))
    again = RenewalForecast(si_mean=4.0, si_sd=2.0, horizon=5, random_state=7).fit(
        np.vstack([a, b])
    )
    np.testing.assert_array_equal(both.samples_, again.samples_)
    assert both.samples_.shape == (2, 2000, 5)
    r = both.r_shape_ * both.r_scale_
    assert r[0] > 1 > r[1]  # one growing, one shrinking, in one call


def test_overdispersion_is_detected():
    rng = np.random.default_rng(4)
    smooth = simulate(1.0, days=60, seed=5)
    noisy = rng.poisson(rng.gamma(5.0, smooth / 5.0 + 1e-9))
    fc = RenewalForecast(si_mean=4.0, si_sd=2.0, random_state=1).fit(np.vstack([smooth, noisy]))
    assert fc.dispersion_[1] < 50
    assert fc.dispersion_[0] > fc.dispersion_[1]


def test_interval_score_and_wis_by_hand():
    # Inside the interval: the width; outside: the width plus 2/alpha times the miss.
    assert interval_score(np.array(5.0), np.array(4.0), np.array(6.0), 0.5) == 2.0
    assert interval_score(np.array(8.0), np.array(4.0), np.array(6.0), 0.5) == 2.0 + 4 * 2.0
    q = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    expected = (0.5 * 0 + 0.05 * 8 + 0.25 * 4) / 2.5
    assert weighted_interval_score(5.0, q) == pytest.approx(expected)
    assert LEVELS == (0.05, 0.25, 0.5, 0.75, 0.95)


def test_backtest_on_the_real_national_series():
    y = national_new_fever()[:80]
    renewal = RenewalForecast(si_mean=3.5, si_sd=2.4, horizon=7, n_samples=500, random_state=0)

    def model(history, horizon):
        return renewal.fit(history).quantiles_

    results = {
        r.name: r
        for r in backtest(
            y,
            {"renewal": model, "last_value": last_value, "week_mean": week_mean},
            horizon=7,
            step=7,
        )
    }
    for result in results.values():
        assert 0 <= result.coverage_50 <= result.coverage_90 <= 1
        assert result.wis > 0
        assert len(result.per_horizon_wis) == 7
    # Relative WIS is each model's WIS over the "last value" baseline's.
    reference = results["last_value"].wis
    for name in ("renewal", "week_mean"):
        assert results[name].relative_wis == pytest.approx(results[name].wis / reference, rel=1e-12)
    assert results["week_mean"].relative_wis != 1.0
    # The full backtest and what it says is in docs/methods.md; here only that
    # the renewal model's 90 % intervals are not wildly miscalibrated.
    assert 0.6 <= results["renewal"].coverage_90 <= 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="horizon"):
        RenewalForecast(si_mean=4, si_sd=2, horizon=40).fit(np.ones(30))
    with pytest.raises(ValueError, match="at least"):
        RenewalForecast(si_mean=4, si_sd=2).fit(np.ones(5))
    with pytest.raises(ValueError, match="backtest"):
        backtest(np.ones(10), {"last_value": last_value}, horizon=7)


def test_backtest_fills_histories_from_the_past_only_and_skips_unreported_days():
    from sitroom.epi.backtest import causal_fill

    # A gap at the end of a history is the last reported value, not the future's.
    assert causal_fill(np.array([1.0, np.nan, 3.0, np.nan, np.nan])).tolist() == [1, 2, 3, 3, 3]
    seen = []

    def spy(history, horizon):
        seen.append(history.copy())
        return np.tile(history[-1], (horizon, 5))

    y = np.arange(1.0, 41.0)
    y[30] = np.nan  # day 31 was not reported
    result = backtest(y, {"spy": spy}, horizon=3, min_history=25)[0]
    assert all(not np.isnan(h).any() for h in seen)
    # The history that ends on the gap holds the day before it, not an interpolation.
    ending = next(h for h in seen if h.size == 31)
    assert ending[-1] == 30.0
    # The unreported day is scored at no lead.
    assert np.isnan(result.scores).sum() == 3
    assert np.isfinite(result.wis)


def test_a_baseline_never_gives_a_zero_width_interval_for_lack_of_errors():
    y = np.linspace(1000, 500, 22)
    q = last_value(y, 14)
    # 22 days give 14-day errors from too few origins: widened from nearer leads.
    assert np.all(q[:, 4] > q[:, 0])
    assert q[13, 4] - q[13, 0] > q[0, 4] - q[0, 0]


def test_pooling_leaves_out_a_series_both_forecast_perfectly():
    from sitroom.epi.backtest import pool

    zeros = backtest(np.zeros(40), {"last_value": last_value, "week_mean": week_mean}, horizon=3)
    some = backtest(
        np.arange(40.0) + 5, {"last_value": last_value, "week_mean": week_mean}, horizon=3
    )
    pooled = pool({"zeros": zeros, "some": some})
    week = next(p for p in pooled if p.name == "week_mean")
    assert week.relative_wis_overall["last_value"] == pytest.approx(some[1].wis / some[0].wis)
