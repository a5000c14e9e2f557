"""The supply simulation: valid ledger rows, reproducible, short of stock, anomalies planted."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date

import numpy as np
import pytest

from sitroom.supply.detection import panel
from sitroom.supply.records import CSV_COLUMNS, DISPENSING_TYPES
from sitroom.supply.simulate import (
    ANOMALY_KINDS,
    PlantedAnomaly,
    SimulationConfig,
    simulate_supply,
)
from tests.unit.supply.ledger_check import replay
from tests.unit.supply.network import ITEMS, fever_2022, network

START = date(2022, 5, 14)


@pytest.fixture(scope="module")
def small():
    facilities, parents = network(districts_per_region=2, pharmacies_per_district=4)
    fever = fever_2022(START, 40)
    sim = simulate_supply(facilities, ITEMS, fever, START, parents=parents, seed=3)
    return facilities, parents, fever, sim


def test_rows_are_valid_for_the_ledger(small):
    """Stock never below zero, nothing issued from an expired lot, first-expiry-first-out."""
    *_, sim = small
    assert replay(sim.rows) == []
    assert {r.event for r in sim.rows} == {
        "receipt",
        "transfer_out",
        "transfer_in",
        "dispense",
        "adjust",
        "stocktake",
    }


def test_the_replay_check_can_fail(small):
    """The check finds an issue beyond stock, so its silence above means something."""
    *_, sim = small
    dispense = next(r for r in sim.rows if r.event == "dispense")
    bad = type(dispense)(**{**{c: getattr(dispense, c) for c in CSV_COLUMNS}, "quantity": 10**9})
    rows = [r if r is not dispense else bad for r in sim.rows]
    assert any("below zero" in p for p in replay(rows))


def test_rows_are_marked_simulated_and_well_formed(small):
    *_, sim = small
    assert sim.simulated is True
    assert all(r.reference.startswith("SIM-") for r in sim.rows)
    assert all(
        r.time.tzinfo is not None and r.time.utcoffset() == UTC.utcoffset(None) for r in sim.rows
    )
    assert all(isinstance(r.quantity, int) for r in sim.rows)
    assert all(r.lot and r.expiry is not None for r in sim.rows)
    assert all((r.patients is not None) == (r.event == "dispense") for r in sim.rows)
    assert list(sim.rows[0].csv_row()) == list(CSV_COLUMNS)


def test_transfers_pair_by_reference(small):
    """Each order's transfer_out and transfer_in share the reference; never more arrives."""
    *_, sim = small
    out: dict[str, int] = defaultdict(int)
    came: dict[str, int] = defaultdict(int)
    for r in sim.rows:
        if r.event == "transfer_out":
            out[r.reference] += r.quantity
        elif r.event == "transfer_in":
            came[r.reference] += r.quantity
    assert out
    assert set(came) <= set(out)
    assert all(came[ref] <= out[ref] for ref in came)
    carriers = {o.carrier for o in sim.orders}
    assert carriers == {"army", "civil"}


def test_the_army_is_faster(small):
    *_, sim = small
    lead = defaultdict(list)
    for o in sim.orders:
        if o.received:
            lead[o.carrier].append((o.received_at - o.dispatched_at).total_seconds() / 86400)
    assert np.mean(lead["army"]) < np.mean(lead["civil"])


def test_reproducible_with_a_seed(small):
    facilities, parents, fever, sim = small
    again = simulate_supply(facilities, ITEMS, fever, START, parents=parents, seed=3)
    other = simulate_supply(facilities, ITEMS, fever, START, parents=parents, seed=4)
    assert again.rows == sim.rows
    assert again.planted == sim.planted
    assert other.rows != sim.rows


def test_stock_outs_happen(small):
    """Stock is short: some pharmacies end days with less than a patient's course."""
    facilities, parents, fever, sim = small
    p = panel(sim.rows, facilities, fever, START, parents=parents)
    dispensing = np.array([f.type in DISPENSING_TYPES for f in facilities])
    empty = (p.stock[dispensing, 0, :] < ITEMS[0].units_per_patient) & (p.fever[dispensing] > 1)
    assert empty.any(axis=1).sum() >= 5


def test_every_kind_is_planted(small):
    *_, sim = small
    kinds = [a.kind for a in sim.planted]
    assert sorted(set(kinds)) == sorted(ANOMALY_KINDS)
    assert all(kinds.count(k) == 3 for k in ANOMALY_KINDS)
    assert len({a.facility for a in sim.planted}) == len(sim.planted)


def test_planted_where_asked(small):
    facilities, parents, fever, _ = small
    target = next(f.code for f in facilities if f.type == "pharmacy")
    sim = simulate_supply(
        facilities,
        ITEMS,
        fever,
        START,
        parents=parents,
        seed=1,
        planted=[PlantedAnomaly(target, "odd_entries", 0)],
    )
    assert sim.planted == (PlantedAnomaly(target, "odd_entries", 0),)
    night = [
        r
        for r in sim.rows
        if r.facility == target and r.event == "dispense" and r.time.hour in {12, 13, 14}
    ]  # 21:00-23:59 in Pyongyang is 12:00-14:59 UTC
    assert night


def test_bad_networks_are_refused():
    facilities, parents = network(districts_per_region=1, pharmacies_per_district=2)
    fever = fever_2022(START, 10)
    with pytest.raises(ValueError, match="exactly one stockpile"):
        simulate_supply(facilities[1:], ITEMS, fever, START, parents=parents)
    with pytest.raises(ValueError, match="cannot plant"):
        simulate_supply(
            facilities,
            ITEMS,
            fever,
            START,
            parents=parents,
            config=SimulationConfig(plant={"hoarding": 10_000}),
        )
