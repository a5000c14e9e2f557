from datetime import date, timedelta

import numpy as np
import pytest

from sitroom.epi.ascertainment import Ascertainment
from sitroom.epi.credibility import (
    dispersion_check,
    fatality_check,
    identity_check,
    last_digit_check,
    repeat_check,
    weekday_check,
)

RNG = np.random.default_rng(42)
DAYS = [date(2022, 5, 1) + timedelta(days=i) for i in range(84)]
TREND = 5000 * np.exp(0.03 * np.arange(84))


def test_rounded_counts_fail_the_last_digit_check():
    honest = RNG.poisson(TREND)
    assert last_digit_check(honest).verdict == "pass"
    rounded = last_digit_check(np.round(honest, -1))
    assert rounded.verdict == "fail"
    assert rounded.score == 1.0
    assert "100% of 84 counts end in 0" in rounded.sentence


def test_too_smooth_a_series_fails_the_dispersion_check():
    assert dispersion_check(RNG.poisson(TREND)).verdict == "pass"
    smooth = dispersion_check(np.round(TREND))
    assert smooth.verdict == "fail"
    assert smooth.statistic < 0.1
    assert "smoother than any counting process" in smooth.sentence


def test_fatality_far_below_the_reference():
    result = fatality_check(74, 4_772_813, reference_cfr=0.001, reference="Omicron, unvaccinated")
    assert result.verdict == "fail"
    assert result.score == pytest.approx(74 / 4772.813)
    assert "about 4,773 were expected" in result.sentence
    assert fatality_check(48, 50_000, reference_cfr=0.001, reference="x").verdict == "pass"


def test_weekday_effect_is_found():
    y = RNG.poisson(TREND * np.array([0.6 if d.weekday() >= 5 else 1.0 for d in DAYS]))
    assert weekday_check(y, DAYS).verdict == "fail"
    assert weekday_check(RNG.poisson(TREND), DAYS).verdict == "pass"


def test_repeated_values_are_found():
    y = RNG.poisson(np.full(60, 500.0)).astype(float)
    y[1::2] = y[::2]  # every value reported twice
    assert repeat_check(y).verdict == "fail"
    assert repeat_check(RNG.poisson(np.full(60, 500.0))).verdict == "pass"


def test_identity_check_counts_days_beyond_tolerance():
    result = identity_check([100, 200, 300], [100, 230, 300], tolerance=20, name="a = b")
    assert (result.verdict, result.statistic) == ("fail", pytest.approx(1 / 3))
    assert "largest gap 30" in result.sentence


def _stocks(deaths_left_out: list[bool]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Cumulative cases and its terms over six days, deaths left out on the days marked."""
    terms = {
        "recovered": np.array([100.0, 300, 600, 900, 1200, 1500]),
        "treated": np.array([400.0, 500, 450, 300, 200, 100]),
        "deaths": np.array([30.0, 35, 40, 44, 47, 50]),
    }
    total = terms["recovered"] + terms["treated"] + terms["deaths"]
    return total - np.where(deaths_left_out, terms["deaths"], 0), terms


def _identity(total: np.ndarray, terms: dict[str, np.ndarray]) -> str:
    right = terms["recovered"] + terms["treated"] + terms["deaths"]
    result = identity_check(total, right, tolerance=20, name="cases = r + t + d", terms=terms)
    return result.sentence


def test_a_gap_that_is_exactly_the_deaths_is_named():
    total, terms = _stocks([False, False, True, True, False, False])
    sentence = _identity(total, terms)
    assert "fails on 2 of 6 days" in sentence
    assert "The gap is exactly deaths on all 2:" in sentence
    assert "as if deaths had been left out." in sentence


def test_only_the_days_the_deaths_explain_are_counted():
    total, terms = _stocks([False, True, True, False, False, False])
    total[4] -= 300  # another failure, unexplained
    sentence = _identity(total, terms)
    assert "fails on 3 of 6 days" in sentence
    assert "The gap is exactly deaths on 2 of these 3 days:" in sentence


def test_a_gap_that_no_term_explains_is_not_explained():
    total, terms = _stocks([False] * 6)
    total[2] -= 41  # deaths that day are 40: close is not equal
    total[3] += 44  # the deaths too many, not missing: the gap has the other sign
    sentence = _identity(total, terms)
    assert "fails on 2 of 6 days" in sentence
    assert "exactly" not in sentence
    # Without the terms, the sentence is as it always was.
    left_out, _ = _stocks([False, False, True, True, False, False])
    right = terms["recovered"] + terms["treated"] + terms["deaths"]
    plain = identity_check(left_out, right, tolerance=20, name="cases = r + t + d")
    assert plain.sentence.endswith("(largest gap 44).")


def test_deaths_within_the_tolerance_are_no_failure_to_explain():
    total, terms = _stocks([False] * 6)
    terms["deaths"] = np.array([3.0, 5, 8, 10, 12, 15])  # fewer than the tolerance of 20
    total = terms["recovered"] + terms["treated"]  # deaths always left out
    result = identity_check(
        total,
        terms["recovered"] + terms["treated"] + terms["deaths"],
        tolerance=20,
        name="cases = r + t + d",
        terms=terms,
    )
    assert result.verdict == "pass"
    assert "exactly" not in result.sentence


def test_short_series_say_so():
    assert last_digit_check([10, 20]).verdict == "not enough data"
    assert dispersion_check([1, 2, 3]).verdict == "not enough data"


def test_ascertainment_intervals_follow_the_assumptions():
    result = Ascertainment(random_state=1, detected_share=(0.5, 0.5), disease_share=(1, 1)).fit(
        [1000, 500], [10_000, 400]
    )
    np.testing.assert_allclose(result.infections[:, 0], [2000, 1000])
    np.testing.assert_allclose(result.attack_rate[0], 0.2)
    assert result.attack_rate[1, 0] == 1.0  # capped
    assert result.share_over_population[1] == 1.0
    wide = Ascertainment(random_state=1).fit([1000], [100_000])
    low, high = wide.infections[0, 1], wide.infections[0, 2]
    assert 1000 * 0.8 / 0.7 < low < wide.infections[0, 0] < high < 1000 / 0.3


def test_ascertainment_uses_test_positivity_when_given():
    result = Ascertainment(random_state=2, detected_share=(0.5, 0.5)).fit(
        [1000], [100_000], tested=[200], confirmed=[100]
    )
    assert result.infections[0, 0] == pytest.approx(1000, rel=0.05)
    with pytest.raises(ValueError, match="confirmed <= tested"):
        Ascertainment().fit([1], [10], tested=[1], confirmed=[2])


def test_checks_survive_gaps_and_constant_series():
    y = RNG.poisson(TREND).astype(float)
    y[10:20] = np.nan
    assert dispersion_check(y).verdict == "pass"  # on the longest run without gaps
    assert weekday_check(np.zeros(84), DAYS).verdict == "not enough data"
