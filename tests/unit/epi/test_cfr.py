import numpy as np
import pytest

from sitroom.epi.cfr import (
    cfr_rolling,
    cfr_static,
    cfr_time_varying,
    corrected_severity,
    expected_outcomes,
    gamma_density,
)
from tests.unit.epi.conftest import EPI, column, load_json, read_csv

ROWS = read_csv(EPI / "cfr" / "ebola1976.csv")
CASES, DEATHS = column(ROWS, "cases"), column(ROWS, "deaths")
DENSITY = gamma_density(2.40, 3.33)(np.arange(CASES.size))
EXPECTED = load_json("cfr/cfr_static_expected.json")


def test_static_naive_matches_cfr():
    got = cfr_static(CASES, DEATHS)
    naive = EXPECTED["naive"]
    assert got.estimate == pytest.approx(naive["severity_estimate"], rel=1e-6)
    assert got.low == pytest.approx(naive["severity_low"], rel=1e-6)
    assert got.high == pytest.approx(naive["severity_high"], rel=1e-6)


#: The cfr package's grid step: the continuous estimates agree with it to within one step.
STEP = 1e-4


def test_static_corrected_matches_cfr():
    corrected = EXPECTED["corrected"]
    grid = cfr_static(CASES, DEATHS, DENSITY, method="grid")
    assert grid.estimate == pytest.approx(corrected["severity_estimate"], abs=1e-9)
    assert grid.low == pytest.approx(corrected["severity_low"], abs=1e-9)
    assert grid.high == pytest.approx(corrected["severity_high"], abs=1e-9)
    got = cfr_static(CASES, DEATHS, DENSITY)
    assert got.estimate == pytest.approx(corrected["severity_estimate"], abs=STEP)
    assert got.low == pytest.approx(corrected["severity_low"], abs=STEP)
    assert got.high == pytest.approx(corrected["severity_high"], abs=STEP)
    assert got.estimate != grid.estimate  # not read off the grid


def test_expected_outcomes_match_cfr():
    rows = EXPECTED["estimate_outcomes_head6"]["rows"]
    got = expected_outcomes(CASES, DENSITY)
    np.testing.assert_allclose(got[: len(rows)], [r[3] for r in rows], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        np.cumsum(got)[: len(rows)], [r[4] for r in rows], rtol=1e-6, atol=1e-9
    )


def _check(got, file, atol):
    rows = read_csv(EPI / "cfr" / file)
    dates = [r["date"] for r in read_csv(EPI / "cfr" / "ebola1976.csv")]
    for row in rows:
        severity = got[dates.index(row["date"])]
        for name, value in (
            ("severity_estimate", severity.estimate),
            ("severity_low", severity.low),
            ("severity_high", severity.high),
        ):
            if row[name] == "NA":
                assert np.isnan(value), (row, severity)
            else:
                assert value == pytest.approx(float(row[name]), abs=atol), (row, severity)


def test_rolling_naive_and_corrected_match_cfr():
    _check(cfr_rolling(CASES, DEATHS), "cfr_rolling_naive_head15.csv", 1e-7)
    _check(
        cfr_rolling(CASES, DEATHS, DENSITY, method="grid"), "cfr_rolling_corrected_head15.csv", 1e-9
    )
    _check(cfr_rolling(CASES, DEATHS, DENSITY), "cfr_rolling_corrected_head15.csv", STEP)


def test_time_varying_matches_cfr():
    _check(cfr_time_varying(CASES, DEATHS), "cfr_time_varying_naive_head15.csv", 1e-7)
    _check(
        cfr_time_varying(CASES, DEATHS, DENSITY, burn_in=0),
        "cfr_time_varying_corrected_burnin0_tail15.csv",
        1e-7,
    )


def test_large_outbreak_with_low_cfr_uses_the_poisson_likelihood():
    # 4.77 million fever cases and 74 deaths: p is far below the grid's first step.
    grid = corrected_severity(4_772_813, 74, 4_772_000, method="grid")
    assert (grid.estimate, grid.low, grid.high) == pytest.approx((1e-4, 1e-4, 1e-4))
    got = corrected_severity(4_772_813, 74, 4_772_000)
    assert got.estimate == pytest.approx(74 / 4_772_000)
    # The likelihood-ratio interval of a Poisson count of 74: about 58.6 to 92.3 deaths.
    assert got.low * 4_772_000 == pytest.approx(58.6, abs=0.3)
    assert got.high * 4_772_000 == pytest.approx(92.3, abs=0.3)
    assert got.low < got.estimate < got.high


def test_cannot_estimate_without_data():
    assert np.isnan(cfr_static([0, 0], [0, 0]).estimate)
    with pytest.raises(ValueError, match="same length"):
        cfr_static([1, 2], [1])
