"""The skewed growth forecast (the default until gapaware): its properties and its record."""

import numpy as np
import pytest

from sitroom.demo import demo_case_series
from sitroom.epi.backtest import backtest, causal_fill, last_value, pool, week_mean
from sitroom.epi.forecast import GrowthForecast, SkewedGrowthForecast, simulate_renewal
from sitroom.epi.serial_interval import parametric_si


def _wave(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.poisson(3000 * np.exp(-0.06 * np.arange(60))).astype(float)


def test_no_look_ahead():
    """The forecast from day t is the same whatever the days after t hold (gaps included)."""
    y = _wave()
    y[[20, 33, 34]] = np.nan
    changed = y.copy()
    changed[35:] = changed[35:] * 5 + 17
    changed[36] = np.nan
    model = SkewedGrowthForecast(horizon=14, n_samples=1000, random_state=3)
    for origin in (25, 35):
        a = model.fit(causal_fill(y[:origin])).quantiles_.copy()
        b = model.fit(causal_fill(changed[:origin])).quantiles_
        assert np.array_equal(a, b)
    # In the backtest, every forecast scored on days before the first change
    # (origins 21 to 28, 7 days ahead) is the same.
    week = SkewedGrowthForecast(horizon=7, n_samples=1000, random_state=3)
    first = backtest(y, {"m": lambda h, n: week.fit(h).quantiles_}, horizon=7)[0]
    again = backtest(changed, {"m": lambda h, n: week.fit(h).quantiles_}, horizon=7)[0]
    assert np.array_equal(first.scores[:8], again.scores[:8], equal_nan=True)
    assert not np.array_equal(first.scores[8:], again.scores[8:], equal_nan=True)


def test_quantiles_monotone_and_deterministic():
    y = np.vstack([_wave(1), _wave(2)[::-1], np.zeros(60)])
    fit = SkewedGrowthForecast(horizon=14, n_samples=2000, random_state=5).fit(y)
    assert fit.quantiles_.shape == (3, 14, 5)
    assert np.all(np.diff(fit.quantiles_, axis=-1) >= 0)
    assert np.all(fit.quantiles_[2] == 0)
    again = SkewedGrowthForecast(horizon=14, n_samples=2000, random_state=5).fit(y)
    assert np.array_equal(fit.quantiles_, again.quantiles_)


def test_same_median_path_lower_half_wider_upper_half_narrower():
    y = _wave(4)
    skewed = SkewedGrowthForecast(horizon=14, random_state=0).fit(y)
    plain = GrowthForecast(horizon=14, tail_df=4, random_state=0).fit(y)
    assert skewed.growth_rate_ == pytest.approx(plain.growth_rate_)
    assert skewed.spread_ == pytest.approx(plain.spread_)
    z, p = np.log1p(skewed.quantiles_), np.log1p(plain.quantiles_)
    # Poisson counting noise is drawn on top, so the medians agree to a count or so.
    assert skewed.median_ == pytest.approx(plain.median_, rel=0.02, abs=2)
    below = (z[:, 2] - z[:, 0]) / (p[:, 2] - p[:, 0])
    above = (z[:, 4] - z[:, 2]) / (p[:, 4] - p[:, 2])
    assert np.all(below[3:] > 1.15)
    assert np.all(above[3:] < 0.9)


def test_bad_scales():
    with pytest.raises(ValueError, match="lower_scale"):
        SkewedGrowthForecast(lower_scale=0).fit(np.ones(30))


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


def test_the_skewed_model_on_the_2022_wave():
    """Regression guard: what docs/methods.md reports for the skewed model.

    The backtest of bench/forecast_skill.py (national and 13 regions, gaps
    filled from earlier days only, unreported days not scored) gave WIS
    0.971 / 0.859 / 0.808 of the last value's at 1 / 7 / 14 days (0.843 over
    all leads), 0.540 / 0.760 / 0.887 of the week mean's (0.778), and 50 % and
    90 % coverage 0.53 and 0.86. The bounds below hold those with a little room
    and fail if the model falls back below either baseline or outside the bar.
    """
    series = {name: s.values for name, s in demo_case_series().items()}
    model = SkewedGrowthForecast(horizon=14, n_samples=2000, random_state=0)
    skill = _pooled(series, lambda history, h: model.fit(history).quantiles_)
    lv, wm = skill.relative_wis["last_value"], skill.relative_wis["week_mean"]
    for lead, lv_max, wm_max in ((1, 0.99, 0.56), (7, 0.88, 0.78), (14, 0.83, 0.91)):
        assert lv[lead - 1] < lv_max, lead
        assert wm[lead - 1] < wm_max, lead
    assert skill.relative_wis_overall["last_value"] < 0.86
    assert skill.relative_wis_overall["week_mean"] < 0.80
    assert abs(skill.coverage_50_overall - 0.5) <= 0.05
    assert 0.85 <= skill.coverage_90_overall <= 0.95


@pytest.mark.parametrize(
    ("scenario", "r", "low", "high"),
    [
        ("constant", np.full(90, 1.0), 0.85, 0.96),
        ("falling", np.linspace(1.3, 0.75, 90), 0.85, 0.99),
        ("step", np.where(np.arange(90) < 45, 1.15, 0.85), 0.85, 0.95),
    ],
)
def test_intervals_on_simulated_renewal_epidemics(scenario, r, low, high):
    """90 % coverage on renewal epidemics (20 epidemics each: docs/methods.md).

    There: 0.949-0.955 with constant R, 0.883 after the step, and 0.972 when R
    falls steadily: the heavier lower tail is too wide on a smooth decline,
    above the 95 % issue #8 allows. The bounds pin that, not the bar.
    """
    w = parametric_si(3.5, 2.4, 90)
    model = SkewedGrowthForecast(horizon=14, n_samples=2000, random_state=0)
    per = {
        i: backtest(
            simulate_renewal(r, w, seed=i),
            {"skewed": lambda h, n: model.fit(h).quantiles_},
            horizon=14,
        )
        for i in range(8)
    }
    assert low <= pool(per)[0].coverage_90_overall <= high
