"""The growth forecast: its arithmetic, its skill on the 2022 wave, its calibration."""

import numpy as np
import pytest

from sitroom.demo import demo_case_series
from sitroom.epi.backtest import backtest, last_value, pool, week_mean
from sitroom.epi.forecast import GrowthForecast, simulate_renewal, theil_sen_slope
from sitroom.epi.serial_interval import parametric_si


def test_theil_sen_ignores_one_odd_day():
    z = np.arange(10, dtype=float) * 0.3
    z[4] += 50.0  # a day that least squares would follow
    assert theil_sen_slope(z) == pytest.approx(0.3)
    assert np.polyfit(np.arange(10), z, 1)[0] != pytest.approx(0.3, abs=0.05)
    both = theil_sen_slope(np.vstack([z, -z]))
    assert both == pytest.approx([0.3, -0.3])


def test_an_exact_exponential_is_carried_forward():
    days = np.arange(40)
    counts = np.round(1000 * np.exp(-0.05 * days))
    fit = GrowthForecast(horizon=7, random_state=0).fit(counts)
    assert fit.growth_rate_ == pytest.approx(-0.05, abs=2e-3)
    truth = 1000 * np.exp(-0.05 * np.arange(40, 47))
    # The median follows the decline; only counting noise is left around it.
    assert fit.median_ == pytest.approx(truth, rel=0.05)
    q = fit.quantiles_
    assert np.all(np.diff(q, axis=1) >= 0)
    assert np.all(q[:, 0] <= truth)
    assert np.all(truth <= q[:, 4])


def test_series_are_fitted_independently_and_reproducibly():
    a = np.round(500 * np.exp(0.04 * np.arange(30)))
    b = np.round(80 + 10 * np.sin(np.arange(30)))
    both = GrowthForecast(horizon=5, random_state=7).fit(np.vstack([a, b]))
    alone = GrowthForecast(horizon=5, random_state=7).fit(a)
    assert both.quantiles_.shape == (2, 5, 5)
    assert both.growth_rate_[0] == pytest.approx(alone.growth_rate_)
    assert both.spread_[0] == pytest.approx(alone.spread_)
    again = GrowthForecast(horizon=5, random_state=7).fit(np.vstack([a, b]))
    assert np.array_equal(both.quantiles_, again.quantiles_)


def test_all_zero_series_forecasts_zero():
    fit = GrowthForecast(horizon=3, random_state=0).fit(np.zeros(20))
    assert np.all(fit.quantiles_ == 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 11 days"):
        GrowthForecast().fit(np.ones(10))
    with pytest.raises(ValueError, match="horizon"):
        GrowthForecast(horizon=29).fit(np.ones(30))
    with pytest.raises(ValueError, match="windows"):
        GrowthForecast(windows=(1,)).fit(np.ones(30))


def _skill(series, model):
    per = {
        name: backtest(
            values,
            {"model": model, "last_value": last_value, "week_mean": week_mean},
            horizon=14,
            min_history=21,
        )
        for name, values in series.items()
    }
    return pool(per)[0], per


def test_growth_against_the_baselines_on_the_2022_wave():
    """The symmetric growth model (no longer the default) on issue #8's bar (docs/methods.md).

    The default, the gap-aware growth model: test_gapaware_forecast.py.

    Gaps are left as they are: each history is filled from earlier days only,
    and unreported days are not scored.
    """
    series = {name: s.values for name, s in demo_case_series().items()}
    assert len(series) == 14
    assert any(np.isnan(v).any() for v in series.values())
    growth = GrowthForecast(horizon=14, random_state=0)
    skill, per = _skill(series, lambda history, h: growth.fit(history).quantiles_)
    for lead in (1, 7, 14):
        assert skill.relative_wis["last_value"][lead - 1] < 1, lead
    assert skill.relative_wis_overall["last_value"] < 0.95
    for lead in (1, 7):
        assert skill.relative_wis["week_mean"][lead - 1] < 1, lead
    assert skill.relative_wis_overall["week_mean"] < 0.9
    assert abs(skill.coverage_50_overall - 0.5) <= 0.05
    # Short of the bar (85-95 %): what docs/methods.md reports (0.82); the
    # skewed model reaches 0.86, the default (gap-aware) 0.88.
    assert 0.8 <= skill.coverage_90_overall < 0.85
    # The baselines themselves cover far less than they claim.
    assert pool(per)[1].coverage_90_overall < 0.6


@pytest.mark.parametrize(
    ("scenario", "r"),
    [
        ("constant", np.full(90, 1.0)),
        ("falling", np.linspace(1.3, 0.75, 90)),
        ("step", np.where(np.arange(90) < 45, 1.15, 0.85)),
    ],
)
def test_intervals_on_simulated_renewal_epidemics(scenario, r):
    """90 % intervals on data that follow the renewal model (numbers in docs/methods.md)."""
    w = parametric_si(3.5, 2.4, 90)
    sims = {i: simulate_renewal(r, w, seed=i) for i in range(8)}
    growth = GrowthForecast(horizon=14, n_samples=2000, random_state=0)
    per = {
        i: backtest(y, {"growth": lambda h, n: growth.fit(h).quantiles_}, horizon=14)
        for i, y in sims.items()
    }
    coverage = pool(per)[0].coverage_90_overall
    # Issue #8's bar is 85-95 % with constant and with changing R. An abrupt step
    # is harder: the two weeks after it surprise any model that follows the trend
    # (20 epidemics: 84 %, docs/methods.md); it must still not collapse.
    low = 0.8 if scenario == "step" else 0.85
    assert low <= coverage <= 0.95
