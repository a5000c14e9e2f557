"""``sitroom supply ...`` and ``sitroom simulate supply`` through the real entry point
(issue #11, items 10-13): what users type, what they read, the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from sitroom.errors import SitroomError

PHARMACY = "PH-KP-04-CHANGGANG-001"


def test_a_day_of_stock_from_the_command_line(cli, loaded: Session, tmp_path: Path) -> None:
    received = cli(
        "supply", "receive", "--facility", "WH-KP-04", "--item", "PARA-500", "--quantity",
        "10000", "--lot", "L-1", "--expiry", "2024-06-30", "--from", "UNICEF", "--time",
        "2022-05-14",
    )  # fmt: skip
    assert received.code == 0, received.err
    assert "1 ledger entries (receipt 1)" in received.out
    sent = cli(
        "supply", "transfer", "--from", "WH-KP-04", "--to", "ST-KP-04-CHANGGANG", "--item",
        "PARA-500", "--quantity", "3000", "--reference", "DO-1", "--time", "2022-05-15",
    )  # fmt: skip
    assert sent.code == 0, sent.err
    too_much = cli(
        "supply", "transfer", "--from", "WH-KP-04", "--to", "ST-KP-04-CHANGGANG", "--item",
        "PARA-500", "--quantity", "3001", "--reference", "DO-1", "--arrived", "--time",
        "2022-05-16",
    )  # fmt: skip
    assert too_much.code == 1
    assert "more than was dispatched" in too_much.err
    assert "Nothing was written" in too_much.err
    assert "Traceback" not in too_much.err
    stock = json.loads(cli("supply", "stock", "--item", "PARA-500", "--json").out)
    assert {(s["facility"], s["quantity"]) for s in stock} == {("WH-KP-04", 7000)}
    before = json.loads(cli("supply", "stock", "--at", "2022-05-14T23:00", "--json").out)
    assert [s["quantity"] for s in before] == [10000]
    verified = cli("supply", "verify")
    assert verified.code == 0
    assert "2 entries add up to the 1 balances" in verified.out
    out = tmp_path / "ledger.csv"
    assert cli("supply", "export", "-o", str(out)).code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("time,event,facility,item,lot,expiry,quantity")
    assert (
        ",transfer_out,WH-KP-04,PARA-500,L-1,2024-06-30,3000,ST-KP-04-CHANGGANG,,DO-1,"
        in (lines[2])
    )


def test_expiry_is_judged_on_the_countrys_day(cli, loaded: Session) -> None:
    """A lot expiring on 30 June is usable until midnight in Pyongyang (the country's zone),
    whatever offset ``--time`` is given with."""
    received = cli(
        "supply", "receive", "--facility", PHARMACY, "--item", "PARA-500", "--quantity", "10",
        "--lot", "JUNE", "--expiry", "2022-06-30", "--from", "UNICEF", "--time", "2022-06-01",
    )  # fmt: skip
    assert received.code == 0, received.err

    def dispense(when: str) -> object:
        return cli(
            "supply", "dispense", "--facility", PHARMACY, "--item", "PARA-500", "--quantity",
            "1", "--lot", "JUNE", "--time", when,
        )  # fmt: skip

    # 00:30 on 1 July in Pyongyang, still 30 June in UTC: expired.
    late = dispense("2022-06-30T15:30+00:00")
    assert late.code == 1
    assert "lot JUNE of PARA-500 expired on 2022-06-30" in late.err
    # 22:00 on 30 June in Pyongyang, already 1 July in UTC+12: still usable.
    last = dispense("2022-07-01T01:00+12:00")
    assert last.code == 0, last.err
    # 23:59 local time, without an offset: usable; a minute later: expired.
    assert dispense("2022-06-30T23:59").code == 0
    assert dispense("2022-07-01T00:00").code == 1
    stock = json.loads(cli("supply", "stock", "--facility", PHARMACY, "--json").out)
    assert [s["quantity"] for s in stock] == [8]


def test_bad_command_line_input_is_a_message_and_an_exit_code(cli, loaded: Session) -> None:
    for args, words in (
        (("--time", "yesterday"), "--time: 'yesterday' is not a time"),
        (("--time", "2099-01-01"), "in the future"),
    ):
        result = cli(
            "supply", "dispense", "--facility", PHARMACY, "--item", "PARA-500", "--quantity",
            "1", *args,
        )  # fmt: skip
        assert result.code != 0
        assert words in result.err
        assert "Traceback" not in result.err
    missing = cli("supply", "import", "/no/such/file.csv")
    assert missing.code != 0
    assert "file not found" in missing.err


def test_an_inspection_dated_in_the_future_is_refused(cli, loaded: Session) -> None:
    for counts in ((), ("--count", "PARA-500=10")):
        result = cli(
            "supply", "inspect", "--facility", PHARMACY, "--inspector", "Kim Chol", "--time",
            "2099-01-01", *counts,
        )  # fmt: skip
        assert result.code != 0
        assert "is in the future" in result.err
        assert "Traceback" not in result.err
    done = cli(
        "supply", "inspect", "--facility", PHARMACY, "--inspector", "Kim Chol", "--time",
        "2022-05-20", "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    assert json.loads(done.out)["inspected_at"].startswith("2022-05-20")


def test_a_simulated_history_is_marked_and_its_planted_facilities_stand_out(
    cli, outbreak: Session, tmp_path: Path
) -> None:
    truth = tmp_path / "truth.json"
    done = cli(
        "simulate", "supply", "--within", "KP-13", "--items", "PARA-500", "--truth", str(truth),
        "--json",
    )  # fmt: skip
    assert done.code == 0, done.err
    result = json.loads(done.out)
    assert result["simulated"] is True
    assert result["rows"] > 1000
    planted = {p["facility"]: p["kind"] for p in json.loads(truth.read_text(encoding="utf-8"))}
    assert len(planted) >= 5
    assert cli("supply", "verify").code == 0
    again = cli("simulate", "supply", "--within", "KP-13", "--items", "PARA-500")
    assert again.code != 0
    assert "already holds a simulated supply history" in again.err
    found = json.loads(cli("supply", "suspects", "--top", "10", "--json").out)
    assert found["simulated"] is True
    assert any("simulated" in note for note in found["notes"])
    top = [f["facility"] for f in found["findings"]]
    # The diversion kinds the detector sees best are all near the top of a small network.
    for facility, kind in planted.items():
        if kind in ("no_patients", "odd_entries"):
            assert facility in top, (facility, kind, top)
    first = found["findings"][0]
    assert first["sentence"].startswith(first["facility"])
    # The simulated shipments are orders too, marked simulated: lead times by carrier.
    times = json.loads(cli("supply", "orders", "leadtimes", "--by", "carrier_kind", "--json").out)
    kinds = {g["group"]: g for g in times["groups"]}
    assert set(kinds) == {"army", "civil"}
    army, civil = (kinds[k]["steps"]["transit"]["p90_hours"] for k in ("army", "civil"))
    assert army < civil


def test_a_simulation_that_fails_midway_leaves_no_simulated_history(
    cli, outbreak: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import func, select

    from sitroom.supply import simulation_service
    from sitroom.supply.models import DistributionOrder, StockBatch, StockEntry

    monkeypatch.setattr(simulation_service, "CHUNK", 500)
    checked = simulation_service._check
    calls = []

    def fail_on_the_third_chunk(summary: object) -> None:
        calls.append(summary)
        if len(calls) == 3:
            raise SitroomError("injected failure midway")
        checked(summary)  # type: ignore[arg-type]

    monkeypatch.setattr(simulation_service, "_check", fail_on_the_third_chunk)
    done = cli("simulate", "supply", "--within", "KP-13", "--items", "PARA-500")
    assert done.code != 0
    assert "injected failure midway" in done.err
    assert len(calls) == 3
    outbreak.rollback()
    for model in (StockBatch, StockEntry, DistributionOrder):
        assert outbreak.scalar(select(func.count()).select_from(model)) == 0, model
    # Nothing half-written stands in the way: the simulation runs again.
    monkeypatch.setattr(simulation_service, "_check", checked)
    assert cli("simulate", "supply", "--within", "KP-13", "--items", "PARA-500").code == 0
    assert cli("supply", "verify").code == 0


def test_a_deadlock_midway_is_a_message_and_nothing_written(
    cli, outbreak: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import func, select
    from sqlalchemy.exc import OperationalError

    from sitroom.supply import simulation_service
    from sitroom.supply.models import StockBatch

    class Deadlock(Exception):
        sqlstate = "40P01"

    def deadlocked(*_: object, **__: object) -> None:
        raise OperationalError("INSERT ...", {}, Deadlock("deadlock detected"))

    monkeypatch.setattr(simulation_service, "_record_orders", deadlocked)
    done = cli("simulate", "supply", "--within", "KP-13", "--items", "PARA-500")
    assert done.code != 0
    assert "conflicted with a concurrent change: nothing was written" in done.err
    assert "Traceback" not in done.err
    outbreak.rollback()
    assert outbreak.scalar(select(func.count()).select_from(StockBatch)) == 0


def test_a_user_outside_their_scope_writes_nothing(cli, loaded: Session) -> None:
    from sitroom.auth import service as auth

    auth.create_user(loaded, "ph1", role="pharmacist", scopes=["KP-01"], password=None, actor="t")
    loaded.commit()
    received = cli(
        "supply", "receive", "--facility", PHARMACY, "--item", "PARA-500", "--quantity", "50",
        "--lot", "L", "--expiry", "2024-01-01", "--time", "2022-05-14",
    )  # fmt: skip
    assert received.code == 0, received.err
    refused = cli(
        "--user", "ph1", "supply", "dispense", "--facility", PHARMACY, "--item", "PARA-500",
        "--quantity", "5", "--time", "2022-05-15",
    )  # fmt: skip
    assert refused.code == 1
    assert "PH-KP-04-CHANGGANG-001" in refused.err
    assert "Nothing was written" in refused.err
    stock = json.loads(cli("supply", "stock", "--facility", PHARMACY, "--json").out)
    assert [s["quantity"] for s in stock] == [50]
    # A pharmacist may dispense, not receive, even in scope.
    auth.create_user(loaded, "ph4", role="pharmacist", scopes=["KP-04"], password=None, actor="t")
    loaded.commit()
    mine = cli(
        "--user", "ph4", "supply", "dispense", "--facility", PHARMACY, "--item", "PARA-500",
        "--quantity", "5", "--time", "2022-05-15",
    )  # fmt: skip
    assert mine.code == 0, mine.err
    not_mine = cli(
        "--user", "ph4", "supply", "receive", "--facility", PHARMACY, "--item", "PARA-500",
        "--quantity", "5", "--lot", "L", "--time", "2022-05-15",
    )  # fmt: skip
    assert not_mine.code == 1
