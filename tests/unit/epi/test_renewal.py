"""Renewal-equation building blocks against EpiNow2's unit vectors."""

import numpy as np
import pytest

from sitroom.epi.forecast import project
from sitroom.epi.rt import total_infectiousness
from tests.unit.epi.conftest import load_json

VECTORS = load_json("renewal/epinow2_unit_vectors.json")


@pytest.mark.parametrize("case", VECTORS["update_infectiousness"])
def test_infectiousness_of_constant_infections(case):
    # EpiNow2's update_infectiousness: infections rep(1, 20), generation time rep(0.1, n).
    n_lags = {"rep(0.1,10)": 10, "rep(0.1,5)": 5}[case["gt_rev_pmf"]]
    lam = total_infectiousness(np.ones(20), [0.0] + [0.1] * n_lags)
    assert lam[0, case["seeding_time"] + case["index"]] == pytest.approx(case["expected"])


@pytest.mark.parametrize("case", [1, 2])
def test_convolutions(case):
    vector = VECTORS["convolve_with_rev_pmf"][case]
    pmf = [[0.1, 0.4, 0.3, 0.2], [1, 2, 3]][case - 1]
    got = total_infectiousness(vector["x"], pmf)[0]
    np.testing.assert_allclose(got, vector["expected"], atol=1e-9)


def test_deterministic_renewal_with_a_fixed_generation_time():
    vector = VECTORS["simulate_infections_fixed_gt1"]
    r = [1.2] * 7 + [0.8] * 7
    got = project([100.0], r, [0.0, 1.0])
    np.testing.assert_allclose(got, vector["expected_infections"], rtol=1e-6)
