"""Cori Rt against EpiEstim's own test examples and epyestim's unit vectors."""

import numpy as np
import pytest

from sitroom.epi.rt import CoriRt, total_infectiousness
from sitroom.epi.serial_interval import discr_si, si_moments
from tests.unit.epi.conftest import EPI, column, load_json, read_csv

QUANTILE_COLUMNS = [
    "Quantile.0.025(R)",
    "Quantile.0.05(R)",
    "Quantile.0.25(R)",
    "Median(R)",
    "Quantile.0.75(R)",
    "Quantile.0.95(R)",
    "Quantile.0.975(R)",
]


def assert_matches_epiestim(fitted: CoriRt, expected_file: str) -> None:
    rows = read_csv(EPI / "epiestim" / expected_file)
    np.testing.assert_array_equal(fitted.t_start_, column(rows, "t_start"))
    np.testing.assert_array_equal(fitted.t_end_, column(rows, "t_end"))
    np.testing.assert_allclose(fitted.r_mean_, column(rows, "Mean(R)"), rtol=1e-6)
    np.testing.assert_allclose(fitted.r_sd_, column(rows, "Std(R)"), rtol=1e-6)
    expected_q = np.column_stack([column(rows, c) for c in QUANTILE_COLUMNS])
    np.testing.assert_allclose(fitted.r_quantiles_, expected_q, rtol=1e-6)


def test_discr_si_matches_epiestim():
    rows = read_csv(EPI / "epiestim" / "discr_si_mean2.6_sd1.5_T32_expected.csv")
    k, p = column(rows, "k"), column(rows, "p")
    # EpiEstim evaluates k = 0..T-1 (T = 32 days) and pads one zero after them.
    np.testing.assert_allclose(discr_si(k[:32], 2.6, 1.5), p[:32], rtol=1e-6, atol=1e-12)
    assert p[32] == 0


def test_example1_non_parametric_si(flu2009, epiestim_configs):
    si = column(read_csv(EPI / "epiestim" / "Flu2009_si_distr.csv"), "p")
    fitted = CoriRt(si_distr=si).fit(flu2009)
    assert_matches_epiestim(fitted, "example1_expected_R.csv")
    mean, sd = si_moments(si)
    moments = epiestim_configs["example1"]["expected_SI_moments"]
    assert mean == pytest.approx(moments["Mean"], rel=1e-6)
    assert sd == pytest.approx(moments["Std"], rel=1e-6)


def test_example2_local_and_imported(epiestim_configs):
    config = epiestim_configs["example2"]
    fitted = CoriRt(si_mean=2.6, si_sd=1.5).fit(config["incid_local"], config["incid_imported"])
    assert_matches_epiestim(fitted, "example2_expected_R.csv")


def test_example3_parametric_si(flu2009):
    fitted = CoriRt(si_mean=2.6, si_sd=1.5).fit(flu2009)
    assert_matches_epiestim(fitted, "example3_expected_R.csv")


def test_many_series_at_once_equal_one_at_a_time(flu2009):
    rng = np.random.default_rng(7)
    batch = np.vstack([flu2009, rng.poisson(flu2009 * 2 + 1), rng.poisson(5, flu2009.size)])
    together = CoriRt(si_mean=2.6, si_sd=1.5).fit(batch)
    for i, series in enumerate(batch):
        alone = CoriRt(si_mean=2.6, si_sd=1.5).fit(series)
        np.testing.assert_allclose(together.r_mean_[i], alone.r_mean_, rtol=1e-12)
        np.testing.assert_allclose(together.r_quantiles_[i], alone.r_quantiles_, rtol=1e-12)


def test_epyestim_unit_vectors():
    vectors = load_json("epyestim/epyestim_unit_vectors.json")
    infectivity = vectors["overall_infectivity"]
    lam = total_infectiousness(infectivity["infections"], infectivity["gt_distribution"])
    np.testing.assert_allclose(lam[0], infectivity["expected_infectivity"], atol=1e-12)

    rolling = vectors["estimate_r_rolling"]
    a, b = rolling["a_prior"], rolling["b_prior"]
    window = rolling["window_size"]
    n = len(rolling["infections"])
    # epyestim's conventions: no first-day import, windows from the first full one.
    fitted = CoriRt(
        si_distr=rolling["gt_distribution"],
        mean_prior=a * b,
        std_prior=(a * b * b) ** 0.5,
        t_start=list(range(1, n - window + 2)),
        t_end=list(range(window, n + 1)),
        first_day_imported=False,
    ).fit(rolling["infections"])
    np.testing.assert_allclose(fitted.shape_, rolling["expected_a_posterior"], rtol=1e-9)
    np.testing.assert_allclose(fitted.scale_, rolling["expected_b_posterior"], atol=1e-6)


def test_windows_without_infectiousness_are_nan():
    fitted = CoriRt(si_mean=2.6, si_sd=1.5, window=3).fit([0, 0, 0, 0, 0, 4, 6, 9])
    assert np.isnan(fitted.r_mean_[0])
    assert np.isfinite(fitted.r_mean_[-1])


@pytest.mark.parametrize(
    ("kwargs", "data", "message"),
    [
        ({}, [1, 2, 3], "give si_distr"),
        ({"si_distr": [0.5, 0.5]}, [1, 2, 3], r"si_distr\[0\] must be 0"),
        ({"si_mean": 2.6, "si_sd": 1.5}, [1, -2, 3], "negative"),
        (
            {"si_mean": 2.6, "si_sd": 1.5, "window": 5},
            [1, 2, 3],
            "5-day window needs at least 6 days",
        ),
        ({"si_mean": 0.5, "si_sd": 1.5}, [1, 2, 3, 4], "greater than 1 day"),
        ({"si_mean": 2.6, "si_sd": 1.5, "t_start": [3], "t_end": [2]}, [1, 2, 3], "windows must"),
    ],
)
def test_bad_input_is_refused(kwargs, data, message):
    with pytest.raises(ValueError, match=message):
        CoriRt(**kwargs).fit(data)


def test_long_series_take_the_lag_by_lag_path_with_the_same_result(monkeypatch):
    from sitroom.epi import rt

    rng = np.random.default_rng(3)
    cases = rng.poisson(50, (3, 200)).astype(float)
    w = rt.parametric_si(3.5, 2.4, 200)
    by_matrix = total_infectiousness(cases, w)
    monkeypatch.setattr(rt, "MAX_TOEPLITZ_DAYS", 100)
    by_lags = total_infectiousness(cases, w)
    np.testing.assert_allclose(by_lags, by_matrix, rtol=1e-12, atol=1e-12)


def test_windows_ending_before_the_mean_serial_interval_have_no_estimate():
    cases = np.array([10, 12, 15, 18, 22, 27, 33, 40, 48, 58, 70, 84], dtype=float)
    fit = CoriRt(si_mean=6.0, si_sd=2.0, window=2).fit(cases)
    assert fit.mean_si_ == pytest.approx(
        float((np.arange(fit.si_distr_.size) * fit.si_distr_).sum())
    )
    assert 5.5 < fit.mean_si_ < 6.5
    early = fit.t_end_ <= fit.mean_si_
    assert early.any()
    assert early.tolist() == fit.too_early_.tolist()
    assert np.isnan(fit.r_mean_[early]).all()
    assert np.isnan(fit.r_quantiles_[early]).all()
    assert np.isfinite(fit.r_mean_[~early]).all()


def test_the_rt_table_says_why_an_early_window_has_no_estimate():
    from datetime import date

    from sitroom.analysis.runs import SerialInterval, rt
    from sitroom.analysis.series import Series

    cases = Series("cases", date(2022, 5, 1), np.linspace(10, 80, 12))
    table = rt(cases, SerialInterval(6.0, 2.0), window=2)
    first, last = table.rows[0], table.rows[-1]
    assert first["mean"] is None
    assert "ends before the mean serial interval" in first["note"]
    assert last["mean"] is not None
    assert "note" not in last


def test_an_all_zero_series_has_no_estimate_and_says_why():
    from datetime import date

    from sitroom.analysis.runs import SerialInterval, rt
    from sitroom.analysis.series import Series

    table = rt(Series("cases", date(2022, 1, 1), np.zeros(20)), SerialInterval())
    assert table.rows
    assert all(row["mean"] is None for row in table.rows)
    assert all("could have infected anyone" in row["note"] for row in table.rows)
