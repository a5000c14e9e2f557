"""Events: recorded, read with their parents', and R compared across them (issue #8)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from sitroom.analysis.runs import SerialInterval, Split, rt_between_events
from sitroom.analysis.series import Series
from sitroom.epi.rt import ratio_quantiles
from sitroom.errors import SitroomError
from sitroom.events.service import add_event, list_events


def test_ratio_quantiles_are_those_of_the_ratio_of_the_two_posteriors():
    rng = np.random.default_rng(0)
    before = rng.gamma(40.0, 1 / 20, 400_000)  # mean 2
    after = rng.gamma(90.0, 1 / 100, 400_000)  # mean 0.9
    exact = ratio_quantiles((0.025, 0.5, 0.975), 40.0, 1 / 20, 90.0, 1 / 100)
    sampled = np.quantile(after / before, (0.025, 0.5, 0.975))
    np.testing.assert_allclose(exact, sampled, rtol=0.01)
    assert np.isnan(ratio_quantiles((0.5,), np.nan, 1.0, 2.0, 1.0)).all()


def _renewal(r_before: float, r_after: float, change: int, days: int) -> np.ndarray:
    """Expected cases of a renewal process whose R changes on day ``change``."""
    si = SerialInterval().daily_distribution(days)
    cases = [50.0]
    for t in range(1, days):
        lam = sum(si[k] * cases[t - k] for k in range(1, t + 1))
        cases.append((r_before if t < change else r_after) * lam)
    return np.round(np.array(cases))


def test_r_is_estimated_between_events_and_its_change_across_each():
    start = date(2022, 5, 1)
    cases = _renewal(1.6, 0.7, 30, 60)
    series = Series("cases", start, cases)
    table = rt_between_events(
        series,
        SerialInterval(),
        [Split(start + timedelta(days=30), "lockdown"), Split(date(2023, 1, 1), "later")],
    )
    first, second = table.rows
    assert (first["window_start"], first["window_end"]) == ("2022-05-02", "2022-05-30")
    assert (second["window_start"], second["window_end"]) == ("2022-05-31", "2022-06-29")
    assert second["event"] == "lockdown"
    assert first["median"] == pytest.approx(1.6, rel=0.05)
    assert second["median"] == pytest.approx(0.7, rel=0.05)
    assert second["change"] == pytest.approx(0.7 / 1.6, rel=0.02)
    assert second["change_low"] < second["change"] < second["change_high"]
    assert first["change"] is None


def test_events_are_recorded_and_read_with_their_parents(loaded):
    add_event(loaded, "KP", date(2022, 5, 12), "National emergency", user="epi")
    add_event(
        loaded,
        "KP-01",
        date(2022, 5, 16),
        "Army medics to the pharmacies",
        user="epi",
        description="KCNA",
    )
    add_event(loaded, "KP-02", date(2022, 5, 20), "Other region", user="epi", kind="reporting")
    own = list_events(loaded, "KP-01")
    assert [(e.org_unit, e.title) for e in own] == [
        ("KP", "National emergency"),
        ("KP-01", "Army medics to the pharmacies"),
    ]
    assert [e.org_unit for e in list_events(loaded, "KP-01", inherited=False)] == ["KP-01"]
    assert len(list_events(loaded)) == 3
    assert list_events(loaded, start=date(2022, 5, 13), end=date(2022, 5, 19))[0].day == date(
        2022, 5, 16
    )
    assert own[1].to_dict()["description"] == "KCNA"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"org_unit": "KP-99"}, "unknown org unit 'KP-99'"),
        ({"kind": "rumour"}, "unknown event kind 'rumour'"),
        ({"title": "  "}, "needs a title"),
        ({"title": "x" * 201}, "at most 200"),
        ({"day": date(1899, 12, 31)}, "outside the years"),
    ],
)
def test_bad_events_are_refused_and_nothing_is_written(loaded, kwargs, message):
    args = {"org_unit": "KP", "day": date(2022, 5, 12), "title": "ok"} | kwargs
    with pytest.raises(SitroomError, match=message):
        add_event(
            loaded, args.pop("org_unit"), args.pop("day"), args.pop("title"), user="e", **args
        )
    assert list_events(loaded) == []
