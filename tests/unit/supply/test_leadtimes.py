"""Lead times of distribution orders, aggregated per group: the pure function."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sitroom.supply.leadtimes import STEPS, step_stats, summarize

NAN = math.nan


def test_median_and_p90_per_group_leave_out_steps_not_taken() -> None:
    groups = ["army", "army", "army", "civil", "civil"]
    hours = [
        # approval, dispatch, transit, total, chain
        [1.0, 2.0, 10.0, 13.0, 30.0],
        [1.0, 4.0, 20.0, 25.0, 40.0],
        [3.0, 6.0, 30.0, 39.0, NAN],
        [2.0, 24.0, 48.0, 74.0, 90.0],
        [2.0, NAN, NAN, NAN, NAN],  # approved, not yet dispatched
    ]
    army, civil = summarize(groups, hours)
    assert (army.group, army.orders, civil.group, civil.orders) == ("army", 3, "civil", 2)
    transit = army.steps["transit"]
    assert (transit.n, transit.median) == (3, 20.0)
    assert transit.p90 == pytest.approx(28.0)  # linear between the ranks: 20 + 0.8 * 10
    assert army.steps["chain"].n == 2
    assert army.steps["chain"].median == 35.0
    assert civil.steps["approval"].n == 2
    assert civil.steps["transit"].n == 1
    assert civil.steps["transit"].median == civil.steps["transit"].p90 == 48.0
    assert list(army.steps) == list(STEPS)


def test_a_step_no_order_took_has_no_figures() -> None:
    stats = step_stats([NAN, NAN])
    assert (stats.n, stats.median, stats.p90) == (0, None, None)
    assert stats.to_dict() == {"n": 0, "median_hours": None, "p90_hours": None}


def test_no_orders_no_groups() -> None:
    assert summarize([], np.empty((0, len(STEPS)))) == []
    assert summarize([], []) == []


@pytest.mark.parametrize(
    ("groups", "hours", "words"),
    [
        (["a"], [[1.0, 2.0]], "shape"),
        (["a", "b"], [[1.0] * 5], "2 groups for 1 orders"),
        (["a"], [[1.0, -2.0, 1.0, 1.0, 1.0]], "negative"),
    ],
)
def test_bad_input_is_refused(groups: list[str], hours: list[list[float]], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        summarize(groups, hours)
