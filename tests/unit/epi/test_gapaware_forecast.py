"""The gap-aware growth forecast (the default before adaptive): gaps, spread, record, calibrated."""

import numpy as np
import pytest

from sitroom.demo import demo_case_series
from sitroom.epi.backtest import backtest, last_value, pool, week_mean
from sitroom.epi.forecast import (
    GapAwareGrowthForecast,
    GrowthForecast,
    SkewedGrowthForecast,
    simulate_renewal,
)
from sitroom.epi.serial_interval import parametric_si


def _wave(seed: int = 0, n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(3000 * np.exp(-0.06 * np.arange(n))).astype(float)


def _gapped(fit):
    fit.takes_gaps = True
    return fit


def test_leads_are_counted_from_the_last_reported_day():
    """After three unreported days, tomorrow is forecast as the fourth day after the last report."""
    y = _wave()
    y[[20, 33]] = np.nan
    y[-3:] = np.nan
    gapped = GapAwareGrowthForecast(horizon=7, n_samples=1000, random_state=2).fit(y)
    known = GapAwareGrowthForecast(horizon=10, n_samples=1000, random_state=2).fit(y[:-3])
    assert gapped.gap_ == 3
    np.testing.assert_array_equal(gapped.quantiles_, known.quantiles_[3:])
    # Filling the last days with the last report (what a fill does) forecasts a
    # narrower interval for tomorrow: that of one day ahead.
    carried = y.copy()
    carried[-3:] = y[-4]
    carried[[20, 33]] = (y[19] + y[21]) / 2, (y[32] + y[34]) / 2
    filled = GapAwareGrowthForecast(horizon=7, n_samples=1000, random_state=2).fit(carried)
    width = np.log1p(gapped.quantiles_[0, 4]) - np.log1p(gapped.quantiles_[0, 0])
    narrow = np.log1p(filled.quantiles_[0, 4]) - np.log1p(filled.quantiles_[0, 0])
    assert width > 1.15 * narrow


def test_the_backtest_gives_gaps_only_to_forecasters_that_take_them():
    y = _wave(n=40)
    y[[25, 30, 31]] = np.nan
    seen = {"gaps": [], "filled": []}

    def record(key):
        def forecast(history, h):
            seen[key].append(int(np.isnan(history).sum()))
            return np.zeros((h, 5))

        return forecast

    backtest(y, {"gaps": _gapped(record("gaps")), "filled": record("filled")}, horizon=3)
    assert max(seen["gaps"]) == 3
    assert max(seen["filled"]) == 0


def test_no_look_ahead():
    """The backtest's forecast from day t is the same whatever the days after t hold."""
    y = _wave()
    y[[20, 33, 34]] = np.nan
    changed = y.copy()
    changed[35:] = changed[35:] * 5 + 17
    changed[36] = np.nan
    model = GapAwareGrowthForecast(horizon=7, n_samples=1000, random_state=3)
    fit = _gapped(lambda h, n: model.fit(h).quantiles_)
    first = backtest(y, {"m": fit}, horizon=7)[0]
    again = backtest(changed, {"m": fit}, horizon=7)[0]
    # Origins 21 to 28, 7 days ahead, end before the first change.
    assert np.array_equal(first.scores[:8], again.scores[:8], equal_nan=True)
    assert not np.array_equal(first.scores[8:], again.scores[8:], equal_nan=True)


def test_series_with_different_gaps_are_fitted_each_from_its_last_report():
    a, b = _wave(1), _wave(2)
    b[-2:] = np.nan
    both = GapAwareGrowthForecast(horizon=5, n_samples=500, random_state=0).fit(np.vstack([a, b]))
    assert both.quantiles_.shape == (2, 5, 5)
    assert both.gap_.tolist() == [0, 2]
    alone = GapAwareGrowthForecast(horizon=5, n_samples=500, random_state=0).fit(a)
    assert both.growth_rate_[0] == pytest.approx(alone.growth_rate_)
    assert np.all(np.diff(both.quantiles_, axis=-1) >= 0)


def test_bad_histories():
    y = _wave()
    with pytest.raises(ValueError, match="no reported day"):
        GapAwareGrowthForecast().fit(np.full(30, np.nan))
    y[-50:] = np.nan
    with pytest.raises(ValueError, match="up to the last report"):
        GapAwareGrowthForecast().fit(y)
    with pytest.raises(ValueError, match="lower_df"):
        GapAwareGrowthForecast(lower_df=0).fit(_wave())


def test_the_starting_days_counting_noise_does_not_grow_with_the_lead():
    """On renewal epidemics with R = 1 the 14-day intervals are narrower than the growth model's.

    The growth model scales all of its one-day spread, the starting day's
    counting noise included, by h^0.75 (same tails here: t(4), symmetric).
    """
    w = parametric_si(3.5, 2.4, 60)
    ratios = []
    for seed in range(10):
        counts = simulate_renewal(np.full(60, 1.0), w, seed=seed)
        new = GapAwareGrowthForecast(horizon=14, lower_df=4, upper_scale=1, random_state=0)
        old = GrowthForecast(horizon=14, tail_df=4, random_state=0)
        q_new, q_old = new.fit(counts).quantiles_[13], old.fit(counts).quantiles_[13]
        ratios.append(np.log(q_new[4] / q_new[0]) / np.log(q_old[4] / q_old[0]))
        assert new.spread_ <= old.spread_
    assert np.mean(ratios) < 0.8


def _pooled(series, model):
    per = {
        name: backtest(
            values,
            {"model": model, "last_value": last_value, "week_mean": week_mean},
            horizon=14,
            min_history=21,
        )
        for name, values in series.items()
    }
    return pool(per)[0]


def test_gapaware_on_the_2022_wave():
    """Regression guard: what docs/methods.md reports for the gap-aware model.

    bench/forecast_skill.py (national and 13 regions): WIS 0.875 / 0.798 /
    0.764 of the last value's at 1 / 7 / 14 days, 0.487 / 0.707 / 0.839 of the
    week mean's; 90 % coverage 0.906 / 0.888 / 0.861, 50 % 0.543 / 0.548 /
    0.441 (short of 0.45 at 14 days). The skewed model's 90 % coverage at 1
    day is 0.83: fails the first bound below.
    """
    series = {name: s.values for name, s in demo_case_series().items()}
    model = GapAwareGrowthForecast(horizon=14, n_samples=2000, random_state=0)
    skill = _pooled(series, _gapped(lambda history, h: model.fit(history).quantiles_))
    lv, wm = skill.relative_wis["last_value"], skill.relative_wis["week_mean"]
    for lead, lv_max, wm_max in ((1, 0.89, 0.50), (7, 0.82, 0.72), (14, 0.78, 0.86)):
        assert lv[lead - 1] < lv_max, lead
        assert wm[lead - 1] < wm_max, lead
    for lead in (1, 7, 14):
        assert 0.85 <= skill.coverage_90[lead - 1] <= 0.95, lead
        assert 0.43 <= skill.coverage_50[lead - 1] <= 0.55, lead
    assert 0.85 <= skill.coverage_90_overall <= 0.95
    assert abs(skill.coverage_50_overall - 0.5) <= 0.05


W = parametric_si(3.5, 2.4, 90)


@pytest.mark.parametrize(
    ("r", "low", "high"),
    [
        (np.full(90, 1.04), 0.85, 0.95),
        (np.where(np.arange(90) < 45, 1.15, 0.85), 0.85, 0.95),
    ],
    ids=["constant R = 1.04", "R steps 1.15 to 0.85"],
)
def test_90_percent_intervals_on_simulated_renewal_epidemics(r, low, high):
    """Within 85-95 % with constant R and after a step (docs/methods.md: 20 epidemics each).

    With R = 1.04 the skewed model's intervals held 95.5 % (too wide: the
    starting day's counting noise grown with the lead).
    """
    model = GapAwareGrowthForecast(horizon=14, n_samples=1000, random_state=0)
    skewed = SkewedGrowthForecast(horizon=14, n_samples=1000, random_state=0)
    per = {
        i: backtest(
            simulate_renewal(r, W, seed=i),
            {
                "gapaware": lambda h, n: model.fit(h).quantiles_,
                "skewed": lambda h, n: skewed.fit(h).quantiles_,
            },
            horizon=14,
        )
        for i in range(8)
    }
    ours, theirs = pool(per)
    assert low <= ours.coverage_90_overall <= high
    assert ours.coverage_90_overall < theirs.coverage_90_overall


def test_when_r_falls_steadily_the_intervals_are_too_wide():
    """With R falling from 1.3 to 0.75, 98.8 % (docs); the adaptive default's: 93.6 %."""
    model = GapAwareGrowthForecast(horizon=14, n_samples=1000, random_state=0)
    per = {
        i: backtest(
            simulate_renewal(np.linspace(1.3, 0.75, 90), W, seed=i),
            {"gapaware": lambda h, n: model.fit(h).quantiles_},
            horizon=14,
        )
        for i in range(8)
    }
    assert 0.95 < pool(per)[0].coverage_90_overall < 1.0
