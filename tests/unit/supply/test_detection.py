"""Hoarding and diversion detection: each signal on a handmade example, and the ranked
list's precision and recall against planted cases in simulated histories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from sitroom.supply.detection import (
    FIRE_AT,
    Panel,
    SignalResult,
    excess_dispensing,
    odd_entries,
    panel,
    precision_recall,
    rank_facilities,
    stock_losses,
    stock_piling,
    transit_gap,
    unexplained_outflows,
)
from sitroom.supply.records import FacilityRecord, LedgerRow
from sitroom.supply.simulate import simulate_supply
from tests.unit.supply.network import ITEMS, fever_2022, network

START = date(2022, 5, 14)
DAYS = 21
COURSE = 7  # units per patient of the handmade item
PHARMACIES = [f"PH-{n}" for n in range(1, 7)]
FACILITIES = [
    FacilityRecord("ST-1", "store", "D1", None),
    *(FacilityRecord(code, "pharmacy", "D1", "ST-1", 1000) for code in PHARMACIES),
]
FEVER = {"D1": np.full(DAYS, 600.0)}  # 100 cases a day per pharmacy


def at(day: int, hour: float) -> datetime:
    """Pyongyang local time (UTC+9) of a day of the example, in UTC."""
    local = datetime(2022, 5, 14, tzinfo=UTC) + timedelta(days=day, hours=hour)
    return local - timedelta(hours=9)


def row(when: datetime, event: str, facility: str, quantity: int, **kw: object) -> LedgerRow:
    return LedgerRow(when, event, facility, "ITEM", "LOT-1", date(2023, 1, 1), quantity, **kw)  # type: ignore[arg-type]


def history(
    *,
    extra: int = 1,
    piling: bool = False,
    transit_keep: float = 1.0,
    stolen: float = 0.0,
    ghost: bool = False,
    night: bool = False,
    short_neighbours: bool = False,
) -> list[LedgerRow]:
    """Six pharmacies of one district over three weeks; PH-1 does what the options say."""
    rng = np.random.default_rng(7)
    rows: list[LedgerRow] = [row(at(0, 6), "receipt", "ST-1", 10**6, reference="R-0")]
    book = dict.fromkeys(PHARMACIES, 0)
    for code in PHARMACIES:
        opening = 2_000 if short_neighbours and code != "PH-1" else 6_000
        opening += 40_000 if piling and code == "PH-1" else 0
        rows.append(row(at(0, 6.1), "receipt", code, opening, reference=f"OB-{code}"))
        book[code] += opening
    for d in range(DAYS):
        for n, code in enumerate(PHARMACIES):
            if d % 3 == 1:  # a delivery from the store every third day
                q = 1_500
                ref = f"ORD-{d}-{code}"
                rows.append(
                    row(
                        at(d, 13 + n / 60),
                        "transfer_out",
                        "ST-1",
                        q,
                        counterparty=code,
                        reference=ref,
                    )
                )
                got = round(q * (transit_keep if code == "PH-1" else 1.0))
                rows.append(
                    row(at(d + 1, 7), "transfer_in", code, got, counterparty="ST-1", reference=ref)
                )
        for code in PHARMACIES:
            patients = int(rng.poisson(50)) * (extra if code == "PH-1" else 1)
            for hour, share in ((10.25, 0.6), (15.5, 0.4)):
                p = round(patients * share)
                q = min(p * COURSE, book[code])
                if q > 0:
                    rows.append(
                        row(
                            at(d, hour),
                            "dispense",
                            code,
                            q,
                            reference=f"D-{d}-{code}-{hour}",
                            patients=q // COURSE,
                        )
                    )
                    book[code] -= q
            if ghost and code == "PH-1" and book[code] > 0:
                q = min(180, book[code])
                rows.append(row(at(d, 12), "dispense", code, q, reference=f"G-{d}", patients=0))
                book[code] -= q
            if night and code == "PH-1" and book[code] >= 300:
                rows.append(
                    row(
                        at(d, 22.5),
                        "dispense",
                        code,
                        300,
                        reference=f"N-{d}",
                        patients=300 // COURSE,
                    )
                )
                book[code] -= 300
            if d in {6, 13, 20}:
                count = book[code] - (round(book[code] * stolen) if code == "PH-1" else 0)
                count += 1 if code == "PH-3" else 0  # an honest miscount
                rows.append(row(at(d, 20), "stocktake", code, count, reference=f"S-{d}-{code}"))
                book[code] = count
        for code in PHARMACIES:  # deliveries arrive the next morning (recorded above)
            book[code] += sum(
                r.quantity
                for r in rows
                if r.event == "transfer_in"
                and r.facility == code
                and r.time.date() == (at(d + 1, 7)).date()
                and r.time == at(d + 1, 7)
            )
    rows.sort(key=lambda r: r.time)
    return rows


def build(**kw: object) -> Panel:
    return panel(history(**kw), FACILITIES, FEVER, START)  # type: ignore[arg-type]


def score(result: SignalResult, code: str) -> float:
    return float(result.score[result.facilities.index(code)])


CASES: list[tuple[Callable[[Panel], SignalResult], dict[str, object]]] = [
    (excess_dispensing, {"extra": 3}),
    (stock_piling, {"piling": True, "short_neighbours": True}),
    (transit_gap, {"transit_keep": 0.6}),
    (stock_losses, {"stolen": 0.3}),
    (unexplained_outflows, {"ghost": True}),
    (odd_entries, {"night": True}),
]


@pytest.fixture(scope="module")
def clean() -> Panel:
    return build()


@pytest.mark.parametrize(("signal", "options"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_signal_catches_its_kind(signal, options):
    result = signal(build(**options))
    assert score(result, "PH-1") >= FIRE_AT
    assert result.fired() == ["PH-1"]
    assert result.clause[result.facilities.index("PH-1")]


@pytest.mark.parametrize(("signal", "options"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_signal_is_quiet_on_a_clean_history(clean, signal, options):
    result = signal(clean)
    assert result.fired() == [], result.evidence


def test_the_panel_adds_up(clean):
    """End-of-day stock is the replay of the rows; flows land on their local days."""
    k = clean.codes.index("PH-2")
    flows = clean.received[k, 0] - clean.dispensed[k, 0] - clean.issued[k, 0]
    net = sum(clean.gains[r][k, 0] - clean.losses[r][k, 0] for r in clean.losses)
    assert (np.cumsum(flows + net) == clean.stock[k, 0]).all()
    assert clean.stock.min() >= 0
    assert clean.dispensed[k, 0, 0] > 0
    assert clean.sent[k, 0] > 0
    assert clean.sent[k, 0] == clean.arrived[k, 0]
    assert (clean.entries.hour >= 8).all()
    assert (clean.entries.hour < 20).all()


def test_the_ranked_list_says_why():
    p = build(extra=3, ghost=True, night=True)
    findings = rank_facilities(p)
    top = findings[0]
    assert top.facility == "PH-1"
    assert top.rank == 1
    assert top.score > 0
    assert top.sentence.startswith("PH-1 ")
    assert "multiples of 100" in top.sentence or "no patient" in top.sentence
    assert set(top.evidence) == set(top.signals)
    assert top.to_dict()["facility"] == "PH-1"
    assert all(f.score <= top.score for f in findings)


def test_precision_recall_counts():
    p = build(extra=3)
    findings = rank_facilities(p)
    pr = precision_recall(findings, {"PH-1": "no_patients", "PH-9": "hoarding"}, k=1)
    assert (pr.precision, pr.recall, pr.hits) == (1.0, 0.5, ("PH-1",))
    assert pr.recall_by_kind == {"no_patients": 1.0, "hoarding": 0.0}


#: Floors below what was observed (seeds 0-4: precision 0.65-0.75, recall 0.87-1.00 at
#: the top 20, 15 planted: a perfect list would have precision 0.75); see docs/methods.md.
SEEDS = (0, 1, 2, 3, 4)


def test_precision_and_recall_at_20_over_seeds():
    """The measurement of issue #11: the ranked list against the planted cases."""
    facilities, parents = network()
    fever = fever_2022(START, 80)
    precision, recall = [], []
    for seed in SEEDS:
        sim = simulate_supply(facilities, ITEMS, fever, START, parents=parents, seed=seed)
        p = panel(sim.rows, facilities, fever, START, parents=parents)
        pr = precision_recall(rank_facilities(p), {a.facility: a.kind for a in sim.planted}, k=20)
        precision.append(pr.precision)
        recall.append(pr.recall)
    print(f"precision@20 {precision} recall@20 {recall}")
    assert min(precision) >= 0.55
    assert min(recall) >= 0.73
    assert np.mean(precision) >= 0.6
    assert np.mean(recall) >= 0.8
