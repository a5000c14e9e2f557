import numpy as np
import pytest

from sitroom.epi.alerts import cusum, ears
from tests.unit.epi.conftest import EPI, column, load_json, read_csv

NEWPORT = column(read_csv(EPI / "ears" / "salmNewport_aggregated_by_unit.csv"), "observed")


def test_c1_matches_surveillance():
    expected = load_json("ears/surveillance_expected.json")["earsC_C1_salmNewport"]
    result = ears(NEWPORT, method="C1", alpha=0.05)
    # Rows 366..369 (1-based) are the first four weeks of 2011.
    got = result.upperbound[365:369]
    assert np.max(np.abs(got - expected["expected_upperbound_first4"])) < 1e-6
    np.testing.assert_array_equal(result.alarm[365:], NEWPORT[365:] > result.upperbound[365:])


def test_baselines_and_guard_band():
    y = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], dtype=float)
    c1 = ears(y, method="C1", alpha=0.05)
    assert np.isnan(c1.statistic[:7]).all()
    # Day 7 (0-based) is compared with days 0..6: mean 4, sd 2.160...
    assert c1.statistic[7] == pytest.approx((8 - 4) / np.std(y[:7], ddof=1))
    c2 = ears(y, method="C2", alpha=0.05)
    assert np.isnan(c2.statistic[:9]).all()
    assert c2.statistic[9] == pytest.approx((10 - 4) / np.std(y[:7], ddof=1))


def test_c3_cdc_and_surveillance_variants():
    rng = np.random.default_rng(0)
    y = rng.poisson(20, 60).astype(float)
    y[50] = 80  # a jump
    c2 = ears(y, method="C2").statistic
    part = np.maximum(c2 - 1, 0)
    cdc = ears(y, method="C3")
    surv = ears(y, method="C3", variant="surveillance")
    t = 50
    assert cdc.statistic[t] == pytest.approx(part[t - 2] + part[t - 1] + part[t])
    assert surv.statistic[t] == pytest.approx(part[t - 2] + part[t - 1])
    # The CDC's C3 sounds on the day of the jump; surveillance's only after it.
    assert cdc.alarm[t]
    assert not surv.alarm[t]
    assert surv.alarm[t + 1]
    # The CDC variant's upper bound is the largest count without an alarm.
    assert y[t] > cdc.upperbound[t]
    assert np.isnan(cdc.statistic[:11]).all()


def test_flat_baseline_with_zero_sigma():
    y = np.array([5.0] * 8 + [6.0, 5.0])
    result = ears(y, method="C1")
    assert result.statistic[8] == np.inf
    assert result.alarm[8]
    assert result.statistic[9] == pytest.approx((5 - np.mean(y[2:9])) / np.std(y[2:9], ddof=1))


def test_cusum_by_hand():
    y = np.array([4, 4, 4, 4, 4, 4, 4, 4, 9, 9, 9, 4], dtype=float)
    result = cusum(y, start=8)
    m = 4.0
    z = (9 - m) / np.sqrt(m)  # 2.5
    assert result.statistic[8] == pytest.approx(z - 1.04)
    assert result.statistic[9] == pytest.approx(2 * (z - 1.04))
    assert not result.alarm[7]
    assert result.alarm[9]  # 2.92 >= 2.26
    assert result.alarm[11]  # no reset: 4.38 + (0 - 1.04) stays above h
    assert result.upperbound[8] == np.ceil(np.sqrt(m) * (2.26 + 1.04) + m)
    assert np.isnan(result.statistic[:8]).all()


def test_many_series_at_once():
    rng = np.random.default_rng(1)
    batch = rng.poisson(10, (5, 40)).astype(float)
    together = ears(batch, method="C2")
    for i in range(5):
        np.testing.assert_array_equal(together.alarm[i], ears(batch[i], method="C2").alarm)


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        ears([1, 2, 3], method="C4")
    with pytest.raises(ValueError, match="start"):
        cusum([1, 2, 3], start=0)


def test_the_cdc_thresholds_alarm_where_the_surveillance_package_does_not():
    from sitroom.epi.alerts import ears

    base = [9.0, 11.0, 9.0, 11.0, 9.0, 11.0, 10.0]  # mean 10, sd 0.926
    sd = float(np.std(base, ddof=1))
    y = np.array([*base, 10 + 3.05 * sd])  # C1 = 3.05: above 3, below 3.09
    default = ears(y, method="C1")
    cdc = ears(y, method="C1", threshold=3.0)
    assert default.statistic[-1] == pytest.approx(3.05)
    assert (bool(default.alarm[-1]), bool(cdc.alarm[-1])) == (False, True)
    assert default.threshold == pytest.approx(3.090232)
    assert cdc.threshold == 3.0
