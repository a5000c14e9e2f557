import numpy as np
import pytest

from sitroom.epi.growth import LogLinearGrowth, bin_counts
from tests.unit.epi.conftest import load_json


def test_matches_the_incidence_package():
    vector = load_json("growth/incidence_fit_loglinear.json")
    centres, counts = bin_counts(vector["input_integer_dates"], vector["interval_days"])
    fit = LogLinearGrowth().fit(counts[counts > 0], centres[counts > 0])
    expected = vector["expected"]
    assert fit.r_[0] == pytest.approx(expected["r"], rel=1e-6)
    assert fit.r_low_[0] == pytest.approx(expected["r_conf_2.5"], rel=1e-6)
    assert fit.r_high_[0] == pytest.approx(expected["r_conf_97.5"], rel=1e-6)
    assert fit.doubling_time_[0] == pytest.approx(expected["doubling"], rel=1e-6)
    printed = expected["doubling_conf_printed"]
    assert fit.doubling_high_[0] == pytest.approx(printed["2.5 %"], rel=1e-6)
    assert fit.doubling_low_[0] == pytest.approx(printed["97.5 %"], rel=1e-6)
    # Zero bins are dropped by the fit itself, too.
    same = LogLinearGrowth().fit(counts, centres)
    assert same.r_[0] == pytest.approx(fit.r_[0], rel=1e-12)


def test_exact_exponential_gives_exact_rate_and_doubling_time():
    days = np.arange(20)
    counts = 10 * np.exp(0.1 * days)
    fit = LogLinearGrowth().fit(counts)
    assert fit.r_[0] == pytest.approx(0.1, rel=1e-12)
    assert fit.doubling_time_[0] == pytest.approx(np.log(2) / 0.1, rel=1e-12)
    assert fit.r_low_[0] == pytest.approx(0.1, abs=1e-9)


def test_sliding_windows_over_many_series():
    days = np.arange(30)
    series = np.vstack([100 * np.exp(0.2 * days), 1000 * np.exp(-0.05 * days)])
    fit = LogLinearGrowth(window=7).fit(series)
    assert fit.r_.shape == (2, 24)
    np.testing.assert_allclose(fit.r_[0], 0.2, rtol=1e-9)
    np.testing.assert_allclose(fit.r_[1], -0.05, rtol=1e-9)
    assert (fit.doubling_time_[1] < 0).all()  # halving
    assert fit.end_[0] == 6


def test_too_few_non_zero_points_give_nan():
    fit = LogLinearGrowth(window=4).fit([0, 0, 0, 5, 0, 6, 7, 8])
    assert np.isnan(fit.r_[0])
    assert np.isfinite(fit.r_[-1])


def test_bad_window_is_refused():
    with pytest.raises(ValueError, match="window"):
        LogLinearGrowth(window=2).fit([1, 2, 3])


def test_reproduction_from_growth_follows_wallinga_lipsitch():
    from sitroom.epi import discr_si, reproduction_from_growth

    # A generation interval of exactly g days: R = exp(r g).
    w = np.zeros(8)
    w[5] = 1.0
    assert np.allclose(reproduction_from_growth([0.1, -0.2, 0.0], w), np.exp([0.5, -1.0, 0.0]))
    # Any interval: no growth means R = 1, and R rises with r.
    si = discr_si(np.arange(40), 3.5, 2.4)
    r_values = reproduction_from_growth(np.linspace(-0.3, 0.3, 13), si)
    assert r_values[6] == pytest.approx(1.0)
    assert np.all(np.diff(r_values) > 0)
    # Against the moment-generating function summed by hand.
    r = 0.12
    assert reproduction_from_growth(r, si) == pytest.approx(
        1 / sum(si[k] / si.sum() * np.exp(-r * k) for k in range(40))
    )
    assert np.isnan(reproduction_from_growth(np.nan, si))
