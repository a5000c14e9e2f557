import numpy as np
import pytest

from sitroom.epi.nowcast import ChainLadderNowcast, apply_delay, estimate_delay, standard_triangle
from tests.unit.epi.conftest import load_json

VECTORS = load_json("nowcast/baselinenowcast_unit_vectors.json")


def known_triangle():
    case = VECTORS["estimate_delay_recovers_known_pmf"]
    complete = np.outer(case["counts_per_reference_date"], case["true_pmf"])
    return standard_triangle(complete), case


def test_estimate_delay_recovers_the_known_pmf():
    triangle, case = known_triangle()
    np.testing.assert_allclose(estimate_delay(triangle), case["expected_pmf"], atol=1e-6)
    truncated = estimate_delay(triangle, max_delay=2)
    np.testing.assert_allclose(truncated, np.array([0.4, 0.3, 0.2]) / 0.9, atol=1e-6)
    for n in (4, 5):
        np.testing.assert_allclose(
            estimate_delay(triangle, n_history=n), case["n_history_4_or_5_expected"], atol=1e-6
        )


def test_apply_delay_point_nowcast():
    case = VECTORS["apply_delay_point_nowcast"]
    triangle = np.array(case["triangle"], dtype=float)
    done = apply_delay(triangle, case["delay_pmf"])
    # R's result[2,4] and result[3,3:4] (1-based), within the test's 10 %.
    assert done[1, 3] == pytest.approx(case["expected"]["result[2,4]"], rel=0.1)
    np.testing.assert_allclose(done[2, 2:4], case["expected"]["result[3,3:4]"], rtol=0.1)
    assert done[1, 3] == pytest.approx((40 + 1 - 0.8) / 0.8 * 0.2)  # the exact formula
    np.testing.assert_array_equal(done[~np.isnan(triangle)], triangle[~np.isnan(triangle)])


def test_apply_delay_with_a_zero_last_row():
    case = VECTORS["apply_delay_zero_last_row"]
    done = apply_delay(np.array(case["triangle"], dtype=float), case["delay_pmf"])
    assert done[3, 3] == pytest.approx(case["expected"]["result[4,4]"], rel=0.1)


def test_apply_delay_errors_and_zero_probabilities():
    triangle = np.array(VECTORS["apply_delay_point_nowcast"]["triangle"], dtype=float)
    with pytest.raises(ValueError, match="cannot nowcast"):
        apply_delay(triangle, [0, 0.4, 0.4, 0.2])
    done = apply_delay(triangle, [0.2, 0.4, 0, 0.4])
    assert np.isfinite(done).all()


def test_nowcast_recovers_totals_of_a_known_process():
    triangle, case = known_triangle()
    model = ChainLadderNowcast().fit(triangle)
    np.testing.assert_allclose(model.nowcast_, case["counts_per_reference_date"], rtol=0.02)
    assert (model.reported_ <= model.nowcast_).all()
