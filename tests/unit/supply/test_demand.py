"""Demand from a forecast: totals over the horizon times the protocols, with their interval."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sitroom.epi.forecast import GrowthForecast
from sitroom.supply.demand import (
    DEMAND_LEVELS,
    TreatmentProtocol,
    cap_cases,
    demand_from_forecast,
    estimate_demand,
    units_per_case,
)

PARACETAMOL = TreatmentProtocol(units={"paracetamol": 10, "ors": 2}, treated_share=0.5)


def test_a_constant_forecast_gives_exact_units_every_way():
    daily = np.full((2, 7), 100.0)
    daily[1] = 40.0
    expected = estimate_demand(PARACETAMOL, expected=daily, places=["Kaesong", "Rason"])
    samples = estimate_demand(PARACETAMOL, samples=np.repeat(daily[:, None, :], 50, axis=1))
    quantiles = estimate_demand(PARACETAMOL, quantiles=np.repeat(daily[:, :, None], 5, axis=2))
    # 100 cases a day for 7 days, half treated with 10 tablets and 2 sachets each.
    exact = np.array([[3500.0, 700.0], [1400.0, 280.0]])
    for demand in (expected, samples, quantiles):
        assert demand.items == ("paracetamol", "ors")
        assert demand.median == pytest.approx(exact)
        assert demand.lower_90 == pytest.approx(exact)
        assert demand.upper_90 == pytest.approx(exact)
    assert expected.places == ("Kaesong", "Rason")
    assert (expected.method, samples.method, quantiles.method) == (
        "expected",
        "samples",
        "comonotone",
    )
    assert "no interval" in expected.note
    assert expected.daily == pytest.approx(exact / 7)


def test_protocols_add_up_and_a_mapping_is_one_protocol():
    items, per_case = units_per_case(
        [PARACETAMOL, TreatmentProtocol(units={"antiviral": 10, "ors": 4}, treated_share=0.05)]
    )
    assert items == ("paracetamol", "ors", "antiviral")
    assert per_case == pytest.approx([5.0, 1.0 + 0.2, 0.5])
    items, per_case = units_per_case({"kit": 1})
    assert items == ("kit",)
    assert per_case == pytest.approx([1.0])


def test_samples_are_summed_along_each_path_before_the_quantiles():
    rng = np.random.default_rng(0)
    paths = rng.poisson(50, size=(4000, 10)).astype(float)
    demand = estimate_demand({"kit": 1}, samples=paths)
    totals = paths.sum(axis=1)
    assert demand.cases[0] == pytest.approx(np.quantile(totals, DEMAND_LEVELS))
    # Independent days: the total's 90 % interval is far narrower than the sum of
    # the days' intervals (the comonotone sum).
    daily_q = np.quantile(paths, DEMAND_LEVELS, axis=0).T
    comonotone = estimate_demand({"kit": 1}, quantiles=daily_q)
    width = demand.upper_90 - demand.lower_90
    assert (comonotone.upper_90 - comonotone.lower_90) > 2 * width
    assert comonotone.lower_90 < demand.lower_90
    assert comonotone.upper_90 > demand.upper_90
    assert demand.mean == pytest.approx(totals.mean())


def test_comonotone_sum_is_exact_when_days_move_together():
    rng = np.random.default_rng(1)
    level = rng.lognormal(0.0, 0.5, size=2001)
    profile = np.array([100.0, 90.0, 80.0, 75.0, 70.0])
    paths = level[:, None] * profile[None, :]
    daily_q = np.quantile(paths, DEMAND_LEVELS, axis=0).T
    from_samples = estimate_demand({"kit": 3}, samples=paths)
    from_quantiles = estimate_demand({"kit": 3}, quantiles=daily_q)
    assert from_quantiles.median == pytest.approx(from_samples.median)
    assert from_quantiles.lower_90 == pytest.approx(from_samples.lower_90)
    assert from_quantiles.upper_50 == pytest.approx(from_samples.upper_50)


def test_quantiles_at_other_levels_are_picked_by_level():
    daily = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]] * 3])
    levels = (0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975)
    demand = estimate_demand({"kit": 1}, quantiles=daily, quantile_levels=levels)
    assert demand.cases[0] == pytest.approx([6.0, 9.0, 12.0, 15.0, 18.0])
    with pytest.raises(ValueError, match=r"quantile_levels must include 0\.25"):
        estimate_demand({"kit": 1}, quantiles=daily[:, :, :3], quantile_levels=(0.05, 0.5, 0.95))


def test_horizon_keeps_the_first_days():
    daily = np.arange(1.0, 15.0)
    demand = estimate_demand({"kit": 2}, expected=daily, horizon=3)
    assert demand.horizon == 3
    assert demand.median[0, 0] == pytest.approx(2 * (1 + 2 + 3))
    with pytest.raises(ValueError, match="horizon must be between 1 and 14"):
        estimate_demand({"kit": 2}, expected=daily, horizon=15)


def test_demand_from_a_growth_forecast_uses_its_samples():
    counts = np.round(800 * np.exp(-0.03 * np.arange(30)))
    fit = GrowthForecast(horizon=7, n_samples=400, random_state=3).fit(counts)
    demand = demand_from_forecast(fit, PARACETAMOL, places=["Pyongyang"])
    assert demand.method == "samples"
    totals = fit.samples_.sum(axis=1)
    assert demand.median[0, 0] == pytest.approx(5.0 * np.median(totals))

    class QuantilesOnly:
        quantiles = DEMAND_LEVELS
        quantiles_ = fit.quantiles_

    comonotone = demand_from_forecast(QuantilesOnly(), PARACETAMOL)
    assert comonotone.method == "comonotone"
    assert comonotone.median[0, 0] == pytest.approx(5.0 * fit.quantiles_[:, 2].sum())
    # Growth-forecast paths share one log-scale deviation: the comonotone sum is close.
    assert comonotone.upper_90[0, 0] == pytest.approx(demand.upper_90[0, 0], rel=0.15)


def test_table_has_one_row_per_place_and_item():
    demand = estimate_demand(PARACETAMOL, expected=np.ones((3, 4)))
    rows = demand.table()
    assert len(rows) == 6
    assert rows[0] == {
        "place": "1",
        "item": "paracetamol",
        "horizon": 4,
        "median": 20.0,
        "lower_50": 20.0,
        "upper_50": 20.0,
        "lower_90": 20.0,
        "upper_90": 20.0,
        "mean": 20.0,
    }


def test_a_path_stops_adding_cases_once_it_reaches_the_population():
    paths = np.array(
        [[[10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0]], [[7.0, 8.0, 9.0, 1e9], [0.0] * 4]]
    )
    capped = cap_cases(paths, [45, None])
    # 10 + 20 = 30, then only 15 more reach 45; nothing after. The other path stays
    # within 45 and the place without a population is not capped: both as given.
    assert capped[0, 0].tolist() == [10.0, 20.0, 15.0, 0.0]
    assert capped[0, 1].tolist() == paths[0, 1].tolist()
    assert capped[1].tolist() == paths[1].tolist()
    assert np.cumsum(capped[0], axis=1)[:, -1].tolist() == [45.0, 10.0]
    assert paths[0, 0, 2] == 30.0  # the input is not changed
    assert cap_cases(paths, [np.nan, 0]).tolist() == [paths[0].tolist(), [[0.0] * 4] * 2]
    with pytest.raises(ValueError, match="number of people"):
        cap_cases(paths, [-1, 5])
    with pytest.raises(ValueError, match="population names 1 places"):
        cap_cases(paths, [5])


def test_the_need_never_passes_the_population_times_the_protocol():
    # A growth forecast four weeks out: its upper tail passes the population.
    rng = np.random.default_rng(4)
    growth = np.exp(rng.normal(0.1, 0.15, size=(2000, 1)) * np.arange(1, 29))
    paths = np.stack([50.0 * growth, 5.0 * growth])  # (2 places, 2000 paths, 28 days)
    population = [200_000.0, np.nan]
    free = estimate_demand(PARACETAMOL, samples=paths, places=["big", "open"])
    capped = estimate_demand(
        PARACETAMOL, samples=paths, places=["big", "open"], population=population
    )
    assert free.cases[0, -1] > 200_000  # the 95th percentile: more cases than people
    assert (capped.cases[0] <= 200_000).all()
    assert capped.upper_90[0, 0] == pytest.approx(5.0 * 200_000)  # 5 tablets a case
    assert capped.median[0, 0] == free.median[0, 0]  # the median is far below: unchanged
    assert capped.cases[1].tolist() == free.cases[1].tolist()  # no population: no cap
    assert capped.capped == ("big",)
    assert "capped at the population: some paths reached it in 1 of 2 places" in capped.note
    assert free.capped == ()
    assert "capped" not in free.note
    assert capped.population is not None
    assert np.isnan(capped.population[1])
    assert capped.population[0] == 200_000
    # Within the population: the very same figures, to the bit.
    roomy = estimate_demand(PARACETAMOL, samples=paths[1:], population=[1e12])
    plain = estimate_demand(PARACETAMOL, samples=paths[1:])
    assert roomy.cases.tolist() == plain.cases.tolist()
    assert roomy.note == plain.note

    # The daily quantiles (comonotone) and an expected series are capped alike.
    daily_q = np.quantile(paths, DEMAND_LEVELS, axis=1).transpose(1, 2, 0)
    comonotone = estimate_demand(PARACETAMOL, quantiles=daily_q, population=population)
    assert comonotone.cases[0].max() == 200_000
    assert comonotone.capped == ("1",)
    expected = estimate_demand(PARACETAMOL, expected=np.full((1, 28), 10_000.0), population=[1e5])
    assert expected.median[0, 0] == pytest.approx(5.0 * 1e5)
    assert "it was reached in 1 of 1 places" in expected.note


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of samples, quantiles or expected"),
        ({"expected": [1.0], "samples": [[1.0]]}, "exactly one"),
        ({"expected": [1.0, np.nan]}, "expected holds NaN"),
        ({"expected": [1.0, -2.0]}, "expected holds negative"),
        ({"samples": [1.0, 2.0]}, r"samples must have shape"),
        ({"quantiles": np.ones((2, 3, 4))}, "quantiles has 4 levels"),
        ({"expected": np.ones((2, 3)), "places": ["a"]}, "places names 1 places"),
    ],
)
def test_bad_input_names_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        estimate_demand({"kit": 1}, **kwargs)


def test_bad_protocols():
    with pytest.raises(ValueError, match="treated_share"):
        TreatmentProtocol(units={"kit": 1}, treated_share=1.5)
    with pytest.raises(ValueError, match="units of 'kit'"):
        TreatmentProtocol(units={"kit": -1})
    with pytest.raises(ValueError, match="at least one item"):
        units_per_case({})


@settings(max_examples=60, deadline=None)
@given(
    paths=hnp.arrays(
        float,
        st.tuples(st.integers(1, 3), st.integers(1, 40), st.integers(1, 10)),
        elements=st.floats(0, 1e6),
    ),
    units=st.floats(0, 100),
    share=st.floats(0, 1),
)
def test_intervals_are_ordered(paths, units, share):
    protocol = TreatmentProtocol(units={"kit": units}, treated_share=share)
    for demand in (
        estimate_demand(protocol, samples=paths),
        estimate_demand(protocol, quantiles=np.sort(paths[:, :5, :], axis=1).swapaxes(1, 2))
        if paths.shape[1] >= 5
        else estimate_demand(protocol, samples=paths),
    ):
        assert np.all(demand.lower_90 <= demand.lower_50 + 1e-9 * (1 + demand.lower_50))
        assert np.all(demand.lower_50 <= demand.median + 1e-9 * (1 + demand.median))
        assert np.all(demand.median <= demand.upper_50 + 1e-9 * (1 + demand.upper_50))
        assert np.all(demand.upper_50 <= demand.upper_90 + 1e-9 * (1 + demand.upper_90))
        assert np.all(demand.lower_90 >= 0)
