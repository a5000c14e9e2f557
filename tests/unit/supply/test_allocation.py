"""Allocation of scarce stock (a linear program under HiGHS) and of PCR test kits."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sitroom.supply.allocation import _whole, allocate, allocate_tests, largest_remainder

NAMES = ["Kaesong", "Rason", "Nampo"]


def test_the_heaviest_weights_are_served_first():
    a = allocate(
        [10, 0],
        [[5, 1], [8, 0], [3, 2]],
        weights=[1, 2, 3],
        destinations=NAMES,
        items=["paracetamol", "kits"],
    )
    assert a.given[:, 0].tolist() == [0, 7, 3]
    assert a.unmet[:, 0].tolist() == [5, 1, 0]
    assert a.given[:, 1].tolist() == [0, 0, 0]
    assert a.stock_binds.tolist() == [True, True]
    assert a.rank.tolist() == [3, 2, 1]
    assert a.explain("Rason", "paracetamol") == (
        "Rason gets 7 of 8 paracetamol needed: stock ran out; its weight 2 ranks it 2 of 3."
    )
    assert a.explain(2, 0) == "Nampo gets all 3 paracetamol it needs."
    assert a.explain("Nampo", "kits") == "Nampo gets 0 of 2 kits needed: there is none in stock."
    assert a.explain("Rason", "kits") == "Rason needs no kits beyond its stock on hand."
    # One more paracetamol would go to Rason: weight 2 times the item's weight 3/16.
    assert a.item_weights[0] == pytest.approx(3 / 16)
    assert a.shadow_stock[0] == pytest.approx(2 * 3 / 16)
    assert a.weighted_unmet == pytest.approx(5 * 3 / 16 + 2 * 3 / 16 + (2 * 3 + 1 * 1) * 3 / 3)
    assert "kits: 0 in stock, 3 needed, 0 given, 3 unmet at 2 destinations; there is none." in (
        a.sentences
    )


def test_stock_on_hand_counts_against_need():
    a = allocate([100], [[50], [50]], on_hand=[[45], [0]])
    assert a.shortfall[:, 0].tolist() == [5, 50]
    assert a.given[:, 0].tolist() == [5, 50]
    assert a.stock_left.tolist() == [45]
    assert not a.stock_binds.any()
    assert a.sentences[0].startswith("2 destinations, 1 items: 55 units given of 55 needed")


def test_enough_stock_meets_all_need_and_zero_need_gets_nothing():
    a = allocate([1000, 5], [[10, 0], [20, 0]])
    assert a.given.tolist() == [[10, 0], [20, 0]]
    assert a.unmet.sum() == 0
    assert a.weighted_unmet == 0
    b = allocate([1000], np.zeros((3, 1)))
    assert b.given.sum() == 0
    assert b.sentences[0] == "No destination needs anything beyond its stock on hand."


def test_zero_stock_gives_nothing():
    a = allocate([0, 0], [[10, 3], [20, 4]], destinations=["a", "b"])
    assert a.given.sum() == 0
    assert a.unmet.tolist() == [[10, 3], [20, 4]]
    assert a.status == "nothing to share"
    assert a.explain("b", 0) == "b gets 0 of 20 item 1 needed: there is none in stock."


def test_route_capacity_binds_and_says_so():
    a = allocate(
        [100, 100],
        [[30, 30], [30, 30]],
        weights=[5, 1],
        capacity=[10, np.inf],
        destinations=["Ryanggang", "Kangwon"],
        items=["paracetamol", "amoxicillin"],
    )
    assert a.given.sum(axis=1).tolist() == [10, 60]
    assert a.capacity_binds.tolist() == [True, False]
    assert a.capacity_left[1] == np.inf
    assert a.shadow_capacity[0] > 0
    assert "its route capacity of 10 units is full" in a.explain("Ryanggang", "paracetamol")
    assert any(s.startswith("Routes full with need unmet: Ryanggang.") for s in a.sentences)


def test_the_floor_protects_the_lowest_weight():
    need = [[100], [100]]
    use = [[10], [10]]
    without = allocate([100], need, weights=[10, 1], daily_use=use)
    assert without.given[:, 0].tolist() == [100, 0]
    with_floor = allocate([100], need, weights=[10, 1], daily_use=use, floor_days=3)
    # 30 units (3 days) go to the light destination first; the rest by weight.
    assert with_floor.given[:, 0].tolist() == [70, 30]
    assert with_floor.floor_met.all()
    assert with_floor.days_of_stock[:, 0].tolist() == [7, 3]
    assert "The floor of 3 days of stock is met everywhere." in with_floor.sentences


def test_an_infeasible_floor_is_shared_evenly():
    a = allocate(
        [30],
        [[100], [100], [100]],
        weights=[3, 2, 1],
        daily_use=[[10], [10], [10]],
        floor_days=2,
        destinations=NAMES,
        items=["paracetamol"],
    )
    # 60 units of floor, 30 in stock: everyone gets half of it, one day of stock.
    assert a.floor_share.tolist() == [0.5]
    assert a.given[:, 0].tolist() == [10, 10, 10]
    assert not a.floor_met.any()
    assert "the stock covers 50% of the 2-day floor, shared evenly" in a.sentences[1]
    assert a.explain("Nampo", "paracetamol").endswith(
        "its floor of 2 days is not met (1.0 days of stock)."
    )
    assert any("is not met for 3 destination-item pairs" in s for s in a.sentences)


def test_the_floor_is_cut_to_fit_the_route():
    a = allocate(
        [100, 100],
        [[100, 100], [100, 100]],
        weights=[1, 9],
        daily_use=[[10, 30], [10, 10]],
        floor_days=1,
        capacity=[20, np.inf],
    )
    # Destination 1's floors (10 + 30) exceed its route (20): cut in proportion.
    assert a.floor_given[0].tolist() == [5, 15]
    assert a.given[0].tolist() == [5, 15]
    assert a.given[1].tolist() == [95, 85]


def test_whole_units_round_need_up_and_stock_down():
    a = allocate([10.7], [[2.2], [3.5]])
    assert a.shortfall[:, 0].tolist() == [3, 4]
    assert a.given[:, 0].tolist() == [3, 4]
    b = allocate([5.5], [[2.2], [3.5]], weights=[2, 1], whole_units=False)
    assert b.given[:, 0] == pytest.approx([2.2, 3.3])
    assert b.stock_binds.tolist() == [True]


def test_the_rounding_fallback_keeps_every_limit():
    x = np.array([[1.5, 2.5], [2.5, 0.5], [0.6, 1.4]])
    supply = np.array([4.0, 4.0])
    cap = np.array([3.0, np.inf, 2.0])
    lower = np.zeros_like(x)
    upper = np.full_like(x, 3.0)
    cost = np.array([[3.0, 3.0], [2.0, 2.0], [1.0, 1.0]])
    whole = _whole(x, supply=supply, cap=cap, lower=lower, upper=upper, cost=cost)
    assert np.array_equal(whole, np.rint(whole))
    assert (whole.sum(axis=0) <= supply).all()
    assert (whole.sum(axis=1) <= cap).all()
    assert (whole >= np.floor(x)).all()
    assert whole.sum() == 8


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([1, 2], [[1, 2]]), {"weights": [0]}, "weights must be positive"),
        (([1, 2], [[1, np.nan]]), {}, "need holds NaN"),
        (([1], [[1, 2]]), {}, r"stock must have shape \(2,\)"),
        (([1, -2], [[1, 2]]), {}, "stock holds negative"),
        (([1, 2], [1, 2]), {}, r"need must have shape \(n_destinations, n_items\)"),
        (([1, 2], [[1, 2]]), {"capacity": [np.nan]}, "capacity holds NaN"),
        (([1, 2], [[1, 2]]), {"capacity": [-1]}, "capacity holds negative"),
        (([1, 2], [[1, 2]]), {"on_hand": [[1, np.inf]]}, "on_hand holds infinite"),
        (([1, 2], [[1, 2]]), {"floor_days": 3}, "daily_use is needed"),
        (([1, 2], [[1, 2]]), {"floor_days": -1}, "floor_days"),
        (([1, 2], [[1, 2]]), {"item_weights": [1, 0]}, "item_weights must be positive"),
        (([1, 2], [[1, 2]]), {"destinations": ["a", "b"]}, "destinations names 2"),
    ],
)
def test_bad_input_names_the_argument(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        allocate(*args, **kwargs)


def test_table_lists_what_is_needed_or_given():
    a = allocate([4], [[3], [0], [5]], destinations=NAMES, items=["kit"])
    rows = a.table()
    assert [r["destination"] for r in rows] == ["Kaesong", "Nampo"]
    assert sum(r["given"] for r in rows) == 4
    assert all(r["why"].endswith(".") for r in rows)


# --- properties -------------------------------------------------------------------


@st.composite
def problems(draw, *, floors=True, capacities=True):
    n_dest = draw(st.integers(1, 6))
    n_items = draw(st.integers(1, 4))
    counts = st.integers(0, 60).map(float)
    need = draw(hnp.arrays(float, (n_dest, n_items), elements=counts))
    stock = draw(hnp.arrays(float, (n_items,), elements=st.integers(0, 200).map(float)))
    weights = draw(hnp.arrays(float, (n_dest,), elements=st.integers(1, 9).map(float)))
    on_hand = draw(hnp.arrays(float, (n_dest, n_items), elements=st.integers(0, 20).map(float)))
    use = draw(hnp.arrays(float, (n_dest, n_items), elements=st.integers(0, 10).map(float)))
    capacity = (
        draw(hnp.arrays(float, (n_dest,), elements=st.sampled_from([0.0, 5.0, 20.0, 80.0, np.inf])))
        if capacities
        else None
    )
    floor_days = draw(st.sampled_from([0.0, 1.0, 3.0])) if floors else 0.0
    return {
        "stock": stock,
        "need": need,
        "weights": weights,
        "on_hand": on_hand,
        "daily_use": use,
        "capacity": capacity,
        "floor_days": floor_days,
    }


def _run(problem, **overrides):
    p = {**problem, **overrides}
    return allocate(p.pop("stock"), p.pop("need"), **p)


@settings(max_examples=80, deadline=None)
@given(problems())
def test_allocation_keeps_every_limit(problem):
    a = _run(problem)
    assert (a.given >= 0).all()
    assert np.array_equal(a.given, np.rint(a.given))
    assert (a.given.sum(axis=0) <= problem["stock"] + 1e-9).all()
    if problem["capacity"] is not None:
        assert (a.given.sum(axis=1) <= problem["capacity"] + 1e-9).all()
    assert (a.unmet >= 0).all()
    assert np.array_equal(a.unmet, a.shortfall - a.given)
    assert np.array_equal(a.shortfall, np.maximum(problem["need"] - problem["on_hand"], 0))
    assert (a.given >= a.floor_given).all()


@settings(max_examples=60, deadline=None)
@given(problems())
def test_enough_stock_meets_all_need(problem):
    shortfall = np.maximum(problem["need"] - problem["on_hand"], 0)
    a = _run(problem, stock=shortfall.sum(axis=0), capacity=None)
    assert a.unmet.sum() == 0
    assert not a.stock_binds.any()


@settings(max_examples=60, deadline=None)
@given(problems(floors=False), st.integers(0, 4), st.integers(1, 50))
def test_more_stock_never_raises_weighted_unmet_need(problem, item, extra):
    item %= problem["stock"].size
    item_weights = np.ones(problem["stock"].size)
    before = _run(problem, item_weights=item_weights)
    more = problem["stock"].copy()
    more[item] += extra
    after = _run(problem, stock=more, item_weights=item_weights)
    assert after.weighted_unmet <= before.weighted_unmet + 1e-9


@settings(max_examples=60, deadline=None)
@given(problems(capacities=False), st.integers(0, 4), st.integers(1, 50))
def test_more_stock_never_raises_weighted_unmet_need_with_a_floor(problem, item, extra):
    item %= problem["stock"].size
    item_weights = np.ones(problem["stock"].size)
    before = _run(problem, item_weights=item_weights)
    more = problem["stock"].copy()
    more[item] += extra
    after = _run(problem, stock=more, item_weights=item_weights)
    assert after.weighted_unmet <= before.weighted_unmet + 1e-9


@settings(max_examples=60, deadline=None)
@given(problems(capacities=False))
def test_the_floor_is_met_when_stock_allows(problem):
    a = _run(problem, floor_days=3.0)
    target = np.minimum(
        np.maximum(3.0 * problem["daily_use"] - problem["on_hand"], 0),
        np.maximum(problem["need"] - problem["on_hand"], 0),
    )
    assume((target.sum(axis=0) <= problem["stock"]).all())
    assert a.floor_met.all()
    assert (a.given >= target).all()


@settings(max_examples=60, deadline=None)
@given(problems(floors=False, capacities=False))
def test_the_program_matches_serving_by_weight(problem):
    # Without routes or floors the program splits into one greedy fill per item:
    # the heaviest weights first. The optimum's value must match it.
    a = _run(problem, item_weights=np.ones(problem["stock"].size))
    shortfall = np.maximum(problem["need"] - problem["on_hand"], 0)
    w = problem["weights"]
    order = np.argsort(-w, kind="stable")
    greedy = np.zeros_like(shortfall)
    for i, stock in enumerate(problem["stock"]):
        left = stock
        for d in order:
            greedy[d, i] = min(shortfall[d, i], left)
            left -= greedy[d, i]
    assert a.weighted_unmet == pytest.approx(float((w[:, None] * (shortfall - greedy)).sum()))


# --- PCR test kits --------------------------------------------------------------------


def test_kits_go_in_proportion_after_a_minimum_each():
    t = allocate_tests(100, [600, 300, 0, 100], regions=list("ABCD"))
    assert t.minimum == 1
    # 96 kits after the minimum: quotas 57.6, 28.8, 0, 9.6; floors 57, 28, 0, 9; the
    # two left go to the largest remainders, .8 (B), then .6 (A and D tie: A, the
    # larger score).
    assert t.kits.tolist() == [59, 30, 1, 10]
    assert t.kits.sum() == 100
    assert t.rule == "proportional"
    assert "Neyman" in t.reasoning
    assert t.sentences[2] == "C: 1 kit (1% of 100) for 0 suspected cases (0% of all)."


def test_kit_rules_differ_as_documented():
    cases = [900, 100, 0, 0]
    equal = allocate_tests(40, cases, rule="equal", minimum=0)
    assert equal.kits.tolist() == [10, 10, 10, 10]
    sqrt = allocate_tests(40, cases, rule="sqrt", minimum=0)
    assert sqrt.kits.tolist() == [30, 10, 0, 0]
    assert "Bankier" in sqrt.reasoning


def test_kits_tilt_toward_weak_credibility():
    plain = allocate_tests(100, [100, 100], minimum=0)
    tilted = allocate_tests(100, [100, 100], [0.0, 1.0], minimum=0, tilt=1.0)
    assert plain.kits.tolist() == [50, 50]
    assert tilted.kits.tolist() == [33, 67]
    assert "credibility checks are weakest" in tilted.reasoning


def test_too_few_kits_lower_the_minimum():
    t = allocate_tests(3, [10, 50, 20, 30, 0], minimum=2)
    assert t.minimum == 0
    assert t.kits.tolist() == [0, 1, 1, 1, 0]
    none = allocate_tests(0, [10, 50])
    assert none.kits.tolist() == [0, 0]
    assert none.sentences == ("region 1: no kits.", "region 2: no kits.")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((-1, [1]), {}, "kits must be a non-negative whole number"),
        ((2.5, [1]), {}, "kits must be"),
        ((5, []), {}, "suspected_cases must be a non-empty"),
        ((5, [1, np.nan]), {}, "suspected_cases holds NaN"),
        ((5, [1, 2], [0.5, 1.5]), {}, "credibility_weakness must lie between 0 and 1"),
        ((5, [1, 2]), {"rule": "random"}, "rule must be one of"),
        ((5, [1, 2]), {"tilt": -1}, "tilt"),
    ],
)
def test_bad_kit_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        allocate_tests(*args, **kwargs)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 10_000),
    hnp.arrays(float, st.integers(1, 20), elements=st.floats(0, 1e6)),
)
def test_largest_remainder_stays_within_quota(total, score):
    shares = largest_remainder(total, score)
    assert shares.sum() == total
    base = score if score.sum() > 0 else np.ones_like(score)
    quota = total * base / base.sum()
    assert (shares >= np.floor(quota - 1e-6)).all()
    assert (shares <= np.ceil(quota + 1e-6)).all()
