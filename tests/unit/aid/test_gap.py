"""The gap, pure (issue #12, item 5): need minus stock minus the weighted pipeline, the
run-out day and each partner's reliability; the vectorised version against the naive one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sitroom.aid.gap import (
    PLEDGED,
    SHIPPED,
    Gap,
    Pipeline,
    compute_gap,
    gap_naive,
    reliability,
)

NO_LINES = Pipeline.of()


Case = tuple[Any, ...]


def run(fn: Callable[..., Gap], case: Case) -> Gap:
    """``fn`` on (median, lower, upper, stock, pipeline, reliability)."""
    median, lower, upper, stock, lines, r = case
    return fn(median, lower, upper, stock=stock, pipeline=lines, reliability=r)


def line(**given: int) -> Pipeline:
    one = {"place": 0, "item": 0, "quantity": 1, "stage": 0, "partner": 0, "day": 0, **given}
    return Pipeline.of(**{k: [v] for k, v in one.items()})


# By hand ------------------------------------------------------------------------------


def test_a_small_case_by_hand() -> None:
    # One place, two items, 4 days. Item 0: 10 a day (median), 5 and 20 the bounds;
    # 25 in stock; pledged 30 by partner 0 (reliability 0.5), shipped 8 by partner 1
    # (0.75), a pledge of 100 expected after the horizon.
    median = np.array([[[10, 10, 10, 10], [1, 1, 1, 1]]], dtype=float)
    lower, upper = median / 2, median * 2
    stock = np.array([[25.0, 100.0]])
    lines = Pipeline.of(
        place=[0, 0, 0],
        item=[0, 0, 0],
        quantity=[30, 8, 100],
        stage=[PLEDGED, SHIPPED, PLEDGED],
        partner=[0, 1, 0],
        day=[2, -1, 4],
    )
    r = np.array([[0.5, 0.5], [0.5, 0.75]])
    gap = compute_gap(median, lower, upper, stock=stock, pipeline=lines, reliability=r)
    # Need 40 (20-80); weighted pipeline 30 x 0.5 + 8 x 0.75 = 21; 40 - 25 - 21 = -6.
    assert gap.need_median[0].tolist() == [40.0, 4.0]
    assert gap.pipeline[0, 0].tolist() == [30.0, 8.0]
    assert gap.weighted[0, 0].tolist() == [15.0, 6.0]
    assert gap.later[0].tolist() == [100.0, 0.0]
    assert gap.gap_median[0].tolist() == [0.0, 0.0]
    assert gap.surplus[0].tolist() == [6.0, 96.0]
    assert gap.gap_lower[0, 0] == 0.0
    assert gap.gap_upper[0, 0] == 80 - 25 - 21
    # 10, 20, 30 > 25 on the third day (index 2); item 1 never runs out.
    assert gap.runout[0].tolist() == [2, -1]
    assert gap.supply[0].tolist() == [46.0, 100.0]


def test_no_stock_runs_out_on_the_first_day_with_need() -> None:
    median = np.array([[[0.0, 0.0, 3.0]]])
    gap = run(compute_gap, (median, median, median, [[0.0]], NO_LINES, np.zeros((0, 2))))
    assert gap.runout.tolist() == [[2]]
    assert gap.gap_median.tolist() == [[3.0]]
    # Exactly the need in stock: the cumulative need never exceeds it.
    gap = run(compute_gap, (median, median, median, [[3.0]], NO_LINES, np.zeros((0, 2))))
    assert gap.runout.tolist() == [[-1]]
    assert gap.gap_median.tolist() == [[0.0]]
    assert gap.surplus.tolist() == [[0.0]]


def test_reliability_by_hand() -> None:
    # Partner 0: two settled pledge lines, one delivered in full, one half (and one
    # shipped line over-delivered, counted as full); partner 1: one pledge cancelled
    # with nothing delivered; partner 2: no history.
    r = reliability(
        partner=[0, 0, 0, 1],
        stage=[PLEDGED, PLEDGED, SHIPPED, PLEDGED],
        quantity=[100, 40, 10, 50],
        arrived=[100, 20, 12, 0],
        partners=3,
        prior=2.0,
    )
    assert r[0, PLEDGED] == pytest.approx((1 + 0.5 + 1) / (2 + 2))
    assert r[0, SHIPPED] == pytest.approx((1 + 1) / (1 + 2))
    assert r[1, PLEDGED] == pytest.approx(1 / 3)
    assert r[1, SHIPPED] == 0.5
    assert r[2].tolist() == [0.5, 0.5]
    # A stronger prior pulls harder toward 0.5.
    strong = reliability([1], [PLEDGED], [50], [0], partners=2, prior=20)
    assert strong[1, PLEDGED] == pytest.approx(10 / 21)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"median": np.ones((1, 1))}, "shape"),
        (
            {
                "median": -np.ones((1, 1, 2)),
                "lower": -np.ones((1, 1, 2)),
                "upper": np.ones((1, 1, 2)),
            },
            "median holds a negative",
        ),
        ({"upper": np.ones((1, 1, 3))}, "same shape"),
        ({"stock": [[1.0, 2.0]]}, "stock must have shape"),
        ({"stock": [[-1.0]]}, "stock holds a negative"),
        ({"r": [[1.5, 0.5]]}, "between 0 and 1"),
        ({"lines": line(place=1)}, "place is out of range"),
        ({"lines": line(stage=2)}, "stage"),
        ({"lines": line(quantity=-1)}, "quantity"),
        ({"lines": line(partner=3)}, "partner is out of range"),
    ],
)
def test_bad_input_is_refused(change: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "median": np.ones((1, 1, 2)),
        "lower": np.ones((1, 1, 2)),
        "upper": np.ones((1, 1, 2)),
        "stock": [[1.0]],
        "lines": NO_LINES,
        "r": [[0.5, 0.5]],
    }
    args.update(change)
    for fn in (compute_gap, gap_naive):
        with pytest.raises(ValueError, match=message):
            run(fn, tuple(args.values()))


def test_reliability_refuses_bad_lines() -> None:
    with pytest.raises(ValueError, match="above 0"):
        reliability([0], [0], [0], [0], partners=1)
    with pytest.raises(ValueError, match="out of range"):
        reliability([1], [0], [1], [0], partners=1)
    with pytest.raises(ValueError, match="pseudo-lines"):
        reliability([], [], [], [], partners=1, prior=0)
    with pytest.raises(ValueError, match="same length"):
        Pipeline.of(place=[0], item=[0, 1], quantity=[1], stage=[0], partner=[0], day=[0])


# Properties ---------------------------------------------------------------------------


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Pipeline, np.ndarray]:
    places = draw(st.integers(1, 4))
    items = draw(st.integers(1, 3))
    days = draw(st.integers(1, 6))
    units = st.floats(0, 1e4, allow_nan=False, allow_infinity=False)
    median = draw(hnp.arrays(np.float64, (places, items, days), elements=units))
    spread = draw(hnp.arrays(np.float64, (places, items, days), elements=st.floats(0, 1)))
    lower = median * spread
    upper = median * (1 + spread)
    stock = draw(hnp.arrays(np.float64, (places, items), elements=st.floats(0, 5e4)))
    partners = draw(st.integers(1, 3))
    n = draw(st.integers(0, 12))
    lines = Pipeline.of(
        place=draw(hnp.arrays(np.int64, n, elements=st.integers(0, places - 1))),
        item=draw(hnp.arrays(np.int64, n, elements=st.integers(0, items - 1))),
        quantity=draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1e4))),
        stage=draw(hnp.arrays(np.int64, n, elements=st.integers(0, 1))),
        partner=draw(hnp.arrays(np.int64, n, elements=st.integers(0, partners - 1))),
        day=draw(hnp.arrays(np.int64, n, elements=st.integers(-3, days + 3))),
    )
    r = draw(hnp.arrays(np.float64, (partners, 2), elements=st.floats(0, 1)))
    return median, lower, upper, stock, lines, r


def _equal(a: Gap, b: Gap) -> None:
    for field in fields(Gap):
        assert np.array_equal(getattr(a, field.name), getattr(b, field.name)), field.name


@settings(max_examples=150, deadline=None)
@given(cases())
def test_the_vectorised_and_the_naive_agree(case: Case) -> None:
    _equal(run(compute_gap, case), run(gap_naive, case))


@settings(max_examples=100, deadline=None)
@given(cases(), st.floats(0, 1e4), st.data())
def test_more_stock_never_widens_the_gap(case: Case, more: float, data: st.DataObject) -> None:
    median, lower, upper, stock, lines, r = case
    p = data.draw(st.integers(0, stock.shape[0] - 1))
    i = data.draw(st.integers(0, stock.shape[1] - 1))
    richer = stock.copy()
    richer[p, i] += more
    before = run(compute_gap, case)
    after = run(compute_gap, (median, lower, upper, richer, lines, r))
    for name in ("gap_median", "gap_lower", "gap_upper"):
        assert (getattr(after, name) <= getattr(before, name)).all()
    assert (after.surplus >= before.surplus).all()
    # Run-out no earlier (-1, never, is the latest).
    late = np.where(after.runout < 0, 10**6, after.runout)
    early = np.where(before.runout < 0, 10**6, before.runout)
    assert (late >= early).all()


@settings(max_examples=100, deadline=None)
@given(cases(), st.data())
def test_more_pipeline_or_reliability_never_widens_the_gap(case: Case, data: st.DataObject) -> None:
    median, lower, upper, stock, lines, r = case
    before = run(compute_gap, case)
    bigger = Pipeline(
        lines.place,
        lines.item,
        lines.quantity + data.draw(hnp.arrays(np.float64, len(lines), elements=st.floats(0, 1e3))),
        lines.stage,
        lines.partner,
        lines.day,
    )
    surer = np.minimum(r + data.draw(hnp.arrays(np.float64, r.shape, elements=st.floats(0, 1))), 1)
    for after in (
        run(compute_gap, (median, lower, upper, stock, bigger, r)),
        run(compute_gap, (median, lower, upper, stock, lines, surer)),
    ):
        for name in ("gap_median", "gap_lower", "gap_upper"):
            assert (getattr(after, name) <= getattr(before, name)).all()
        # The run-out day ignores the pipeline ("if nothing arrives").
        assert np.array_equal(after.runout, before.runout)


@settings(max_examples=100, deadline=None)
@given(cases())
def test_the_runout_day_is_the_first_day_the_need_passes_the_stock(case: Case) -> None:
    median, _, _, stock, _, _ = case
    gap = run(compute_gap, case)
    cumulative = np.cumsum(median, axis=2)
    for (p, i), day in np.ndenumerate(gap.runout):
        if day < 0:
            assert cumulative[p, i, -1] <= stock[p, i]
        else:
            assert cumulative[p, i, day] > stock[p, i]
            assert day == 0 or cumulative[p, i, day - 1] <= stock[p, i]
    # The gap and the surplus: never both, and the median gap is need - supply.
    assert ((gap.gap_median == 0) | (gap.surplus == 0)).all()
    assert gap.gap_median - gap.surplus == pytest.approx(gap.need_median - gap.supply, abs=1e-6)
    assert (gap.gap_lower <= gap.gap_median).all()
    assert (gap.gap_median <= gap.gap_upper).all()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(1, 100), st.integers(0, 150)),
        max_size=20,
    ),
    st.floats(0.1, 50),
)
def test_reliability_lies_strictly_between_0_and_1(
    lines: list[tuple[int, int, int, int]], prior: float
) -> None:
    partner, stage, quantity, arrived = zip(*lines, strict=True) if lines else ((), (), (), ())
    r = reliability(partner, stage, quantity, arrived, partners=3, prior=prior)
    assert r.shape == (3, 2)
    assert ((r > 0) & (r < 1)).all()
    seen = {(p, s) for p, s, _, _ in lines}
    for p in range(3):
        for s in (0, 1):
            if (p, s) not in seen:
                assert r[p, s] == 0.5
