"""``sitroom aid pledge|ship|receive|trace|export`` (issue #12, items 3, 6, 7 and 8): a
request of 2022 pledged, shipped, received into the stock ledger and traced back, the 3W
table as CSV and HXL checked row by row against the database, and each bad input: a
clear message, a non-zero exit, nothing written."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from sitroom.aid.export import HEADER, HXL_TAGS
from sitroom.aid.models import Pledge, PledgeLine, Shipment, ShipmentLine
from sitroom.auth import service as auth
from sitroom.supply.models import Item, StockEntry

FORBIDDEN = 77  # ForbiddenError's exit code (EX_NOPERM)
DONOR = "People's Republic of China"
TABLES = (
    "aid_pledge", "aid_pledge_line", "aid_shipment", "aid_shipment_line", "aid_receipt",
    "aid_event", "stock_batch", "stock_entry",
)  # fmt: skip


def _rows(session: Session) -> dict[str, int]:
    session.rollback()
    return {
        table: session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        for table in TABLES
    }


def _ok(result: object) -> object:
    assert result.code == 0, result.err  # type: ignore[attr-defined]
    return result


@pytest.fixture
def asked(cli, loaded: Session) -> Session:
    """China asked (nationally) for PCR tests and paracetamol, and accepted; users of
    every kind the checks need."""
    for name, role, scopes in (
        ("kim", "coordinator", ["KP-04"]),
        ("vic", "viewer", ["KP"]),
        ("lee", "logistician", ["KP-01"]),
        ("ri", "logistician", ["KP-04"]),
    ):
        auth.create_user(loaded, name, role=role, scopes=scopes, password=None, actor="t")
    loaded.commit()
    _ok(cli("aid", "partner", "add", "CN", "--name", DONOR, "--kind", "government"))
    _ok(cli(
        "aid", "request", "create", "--partner", "CN", "--line", "PCR-TEST=100000",
        "--line", "PARA-500=1000000", "--channel", "diplomatic_note",
        "--reason", "No PCR tests in stock", "--time", "2022-05-16T09:00",
    ))  # fmt: skip
    _ok(cli("aid", "request", "send", "REQ-2022-0001", "--time", "2022-05-16T10:00"))
    _ok(cli("aid", "request", "status", "REQ-2022-0001", "accepted", "--time", "2022-05-17T10:00"))
    return loaded


@pytest.fixture
def shipped(cli, asked: Session) -> Session:
    """PLG-2022-0001 pledged; SHP-2022-0001 on its way to the Chagang warehouse."""
    _ok(cli(
        "aid", "pledge", "create", "--partner", "CN", "--request", "REQ-2022-0001",
        "--line", "PCR-TEST=100000", "--line", "PARA-500=1000000",
        "--expected-by", "2022-05-30", "--time", "2022-05-18T10:00",
    ))  # fmt: skip
    _ok(cli(
        "aid", "ship", "create", "--pledge", "PLG-2022-0001", "--to", "WH-KP-04",
        "--line", "PCR-TEST=60000@L2205:2023-05-31", "--line", "PARA-500=1000000@P1:2024-01-01",
        "--carrier", "Air Koryo", "--route", "Beijing - Sinuiju - Kanggye",
        "--border", "Sinuiju", "--departed", "2022-05-19T08:00", "--expected", "2022-05-21",
    ))  # fmt: skip
    return asked


def test_from_request_to_the_shelf_and_back(cli, shipped: Session) -> None:
    shown = json.loads(_ok(cli("aid", "pledge", "show", "PLG-2022-0001", "--json")).out)
    assert shown["status"] == "open"
    assert shown["request"] == "REQ-2022-0001"
    assert shown["expected_by"] == "2022-05-30"

    moved = cli("aid", "ship", "update", "SHP-2022-0001", "--status", "at_border",
                "--customs", "cleared", "--time", "2022-05-20T09:00")  # fmt: skip
    assert "SHP-2022-0001: at_border, customs cleared" in _ok(moved).out

    first = _ok(cli("aid", "receive", "SHP-2022-0001", "--line", "PCR-TEST=40000@L2205",
                    "--received-by", "Kim Chol", "--time", "2022-05-21T10:00"))  # fmt: skip
    assert "receipt of aid shipment SHP-2022-0001: 1 movement received as stock batch" in first.out
    assert "PCR-TEST lot L2205: 40,000 into WH-KP-04" in first.out
    assert "partly_received (40,000 of 1,060,000 units received)" in first.out

    rest = cli("aid", "receive", "SHP-2022-0001", "--line", "PCR-TEST=20000@L2205",
               "--line", "PARA-500=1000000@P1", "--received-by", "Kim Chol",
               "--time", "2022-05-21T15:00", "--json")  # fmt: skip
    done = json.loads(_ok(rest).out)
    assert done["shipment"]["status"] == "received"
    assert done["pledge_status"] == "open"  # 40,000 PCR tests still to come
    assert done["summary"]["entries"] == 2
    assert done["summary"]["committed"] is True

    # The rest of the tests, to Pyongyang, from a lot of its own: the pledge is fulfilled.
    _ok(cli("aid", "ship", "create", "--pledge", "PLG-2022-0001", "--to", "WH-KP-01",
            "--line", "PCR-TEST=40000@L2206:2023-06-30", "--departed", "2022-05-22T08:00",
            "--border", "Sinuiju"))  # fmt: skip
    _ok(cli("aid", "receive", "SHP-2022-0002", "--line", "PCR-TEST=40000@L2206",
            "--received-by", "Pak Song", "--time", "2022-05-24T11:00"))  # fmt: skip
    pledge = json.loads(_ok(cli("aid", "pledge", "show", "PLG-2022-0001", "--json")).out)
    assert pledge["status"] == "fulfilled"
    assert [(ln["item"], ln["received"], ln["outstanding"]) for ln in pledge["lines"]] == [
        ("PCR-TEST", 100_000, 0),
        ("PARA-500", 1_000_000, 0),
    ]

    # The ledger holds the receipts, with the donor on each and the shipment as reference.
    shipped.rollback()
    entries = shipped.execute(
        select(StockEntry.reference, StockEntry.counterparty, func.sum(StockEntry.quantity))
        .where(StockEntry.kind == "receipt")
        .group_by(StockEntry.reference, StockEntry.counterparty)
        .order_by(StockEntry.reference)
    ).all()
    assert [tuple(e) for e in entries] == [
        ("SHP-2022-0001", DONOR, 1_060_000),
        ("SHP-2022-0002", DONOR, 40_000),
    ]

    origin = json.loads(_ok(cli("aid", "trace", "PCR-TEST", "L2205", "--json")).out)
    assert origin["received"] == 60_000
    assert [(o["quantity"], o["counterparty"], o["shipment"], o["pledge"], o["request"],
             o["received_by"]) for o in origin["origins"]] == [
        (40_000, DONOR, "SHP-2022-0001", "PLG-2022-0001", "REQ-2022-0001", "Kim Chol"),
        (20_000, DONOR, "SHP-2022-0001", "PLG-2022-0001", "REQ-2022-0001", "Kim Chol"),
    ]  # fmt: skip
    table = _ok(cli("aid", "trace", "PCR-TEST", "L2206")).out
    assert "PCR-TEST lot L2206 (expires 2023-06-30): 40,000 tests received" in table
    assert "Pak Song" in table

    listed = json.loads(_ok(cli("aid", "ship", "list", "--pledge", "PLG-2022-0001", "--json")).out)
    assert {(s["number"], s["status"], s["received"]) for s in listed} == {
        ("SHP-2022-0001", "received", 1_060_000),
        ("SHP-2022-0002", "received", 40_000),
    }
    assert "PLG-2022-0001" in _ok(cli("aid", "pledge", "list")).out
    story = _ok(cli("aid", "ship", "show", "SHP-2022-0001")).out
    assert "signed by Kim Chol" in story
    assert "carrier: Air Koryo; route: Beijing - Sinuiju - Kanggye; border: Sinuiju" in story
    # A viewer reads it all, the coordinator of Chagang sees the shipment to Chagang.
    assert _ok(cli("--user", "vic", "aid", "trace", "PCR-TEST", "L2205")).code == 0
    assert _ok(cli("--user", "kim", "aid", "ship", "show", "SHP-2022-0001")).code == 0
    assert cli("--user", "kim", "aid", "ship", "show", "SHP-2022-0002").code == FORBIDDEN


def test_a_shipment_cancelled_and_one_closed_short(cli, shipped: Session) -> None:
    _ok(cli("aid", "ship", "create", "--pledge", "PLG-2022-0001", "--to", "WH-KP-01",
            "--line", "PCR-TEST=40000@L2207:2023-06-30", "--time", "2022-05-22T08:00"))  # fmt: skip
    cancelled = cli("aid", "ship", "cancel", "SHP-2022-0002", "--reason", "no aircraft", "--json")
    assert json.loads(_ok(cancelled).out)["status"] == "cancelled"
    _ok(cli("aid", "receive", "SHP-2022-0001", "--line", "PCR-TEST=50000@L2205",
            "--received-by", "Kim Chol", "--time", "2022-05-21T10:00"))  # fmt: skip
    closed = cli("aid", "ship", "close", "SHP-2022-0001", "--reason", "crates lost at the border")
    assert "SHP-2022-0001: received" in _ok(closed).out
    pledge = json.loads(_ok(cli("aid", "pledge", "show", "PLG-2022-0001", "--json")).out)
    assert pledge["lines"][0]["shipped"] == 60_000  # the cancelled shipment does not count
    refused = cli("aid", "pledge", "cancel", "PLG-2022-0001", "--reason", "")
    assert refused.code == 1
    assert "the reason for the cancellation is empty" in refused.err
    gone = cli("aid", "pledge", "cancel", "PLG-2022-0001", "--reason", "China withdrew")
    assert "PLG-2022-0001: cancelled" in _ok(gone).out


# The 3W table -------------------------------------------------------------------------


def _expected(session: Session) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(pledge, item) -> pledged, shipped (not cancelled), received (the ledger's
    receipt entries under the pledge's shipments' numbers), from the database."""
    session.rollback()
    out: dict[tuple[str, str], tuple[int, int, int]] = {}
    for number, pledge_id, item_id, code, pledged in session.execute(
        select(Pledge.number, Pledge.id, Item.id, Item.code, PledgeLine.quantity)
        .join(PledgeLine, PledgeLine.pledge_id == Pledge.id)
        .join(Item, Item.id == PledgeLine.item_id)
    ):
        shipped = session.scalar(
            select(func.coalesce(func.sum(ShipmentLine.quantity), 0))
            .join(Shipment, Shipment.id == ShipmentLine.shipment_id)
            .where(
                Shipment.pledge_id == pledge_id,
                ShipmentLine.item_id == item_id,
                Shipment.status != "cancelled",
            )
        )
        numbers = select(Shipment.number).where(Shipment.pledge_id == pledge_id)
        received = session.scalar(
            select(func.coalesce(func.sum(StockEntry.quantity), 0)).where(
                StockEntry.kind == "receipt",
                StockEntry.item_id == item_id,
                StockEntry.reference.in_(numbers),
            )
        )
        out[(str(number), str(code))] = (int(pledged), int(shipped or 0), int(received or 0))
    return out


def test_the_3w_table_as_csv_and_hxl(cli, shipped: Session, tmp_path: Path) -> None:
    _ok(cli("aid", "receive", "SHP-2022-0001", "--line", "PCR-TEST=40000@L2205",
            "--received-by", "Kim Chol", "--time", "2022-05-21T10:00"))  # fmt: skip
    _ok(cli("aid", "ship", "create", "--pledge", "PLG-2022-0001", "--to", "WH-KP-01",
            "--line", "PCR-TEST=10000@L2206:2023-06-30",
            "--departed", "2022-05-22T08:00"))  # fmt: skip
    # A regional request and pledge of Chagang's, from a partner whose name is a formula.
    _ok(cli("aid", "partner", "add", "RC", "--name", "=SUM(1+1) Red Cross", "--kind", "red_cross"))
    _ok(cli("aid", "request", "create", "--partner", "RC", "--line", "MASK-MED=5000",
            "--channel", "email", "--reason", "masks", "--org-unit", "KP-04",
            "--time", "2022-05-20T09:00"))  # fmt: skip
    _ok(cli("aid", "request", "send", "REQ-2022-0002", "--time", "2022-05-20T10:00"))
    _ok(cli("aid", "pledge", "create", "--partner", "RC", "--request", "REQ-2022-0002",
            "--line", "MASK-MED=5000", "--time", "2022-05-20T18:30"))  # fmt: skip

    out = tmp_path / "3w.csv"
    wrote = _ok(cli("aid", "export", "-o", str(out)))
    assert f"wrote 3 rows to {out}" in wrote.out
    with out.open(encoding="utf-8", newline="") as handle:
        plain = list(csv.reader(handle))
    assert plain[0] == list(HEADER)

    hxl = tmp_path / "3w-hxl.csv"
    _ok(cli("aid", "export", "--hxl", "-o", str(hxl)))
    with hxl.open(encoding="utf-8", newline="") as handle:
        tagged = list(csv.reader(handle))
    assert tagged[0] == list(HEADER)
    assert tagged[1] == list(HXL_TAGS)
    assert all(tag.startswith("#") for tag in tagged[1])
    assert tagged[2:] == plain[1:]

    rows = [dict(zip(plain[0], row, strict=True)) for row in plain[1:]]
    expected = _expected(shipped)
    assert len(rows) == len(expected) == 3
    for row in rows:
        pledged, ship, got = expected[(row["pledge"], row["item_code"])]
        assert (int(row["pledged"]), int(row["shipped"]), int(row["received"])) == (
            pledged, ship, got,
        ), row  # fmt: skip
        assert row["sector"] == "Health"
        assert row["country_code"] == "KP"
        assert row["illustrative"] == "false"
    by_item = {(r["pledge"], r["item_code"]): r for r in rows}
    pcr = by_item[("PLG-2022-0001", "PCR-TEST")]
    assert (pcr["shipped"], pcr["received"], pcr["status"]) == ("70000", "40000", "partly_received")
    assert (pcr["pledged_on"], pcr["first_departure"], pcr["last_receipt"]) == (
        "2022-05-18", "2022-05-19", "2022-05-21",
    )  # fmt: skip
    # A national pledge whose tests go to two regions: no one region; both warehouses named.
    assert (pcr["region_code"], pcr["warehouse_code"]) == ("", "WH-KP-01; WH-KP-04")
    para = by_item[("PLG-2022-0001", "PARA-500")]
    assert (para["region_code"], para["region"], para["status"]) == ("KP-04", "Chagang", "shipped")
    assert para["subsector"] == "antipyretic"
    masks = by_item[("PLG-2022-0002", "MASK-MED")]
    assert (masks["region_code"], masks["status"], masks["warehouse"]) == ("KP-04", "pledged", "")
    assert masks["partner"] == "'=SUM(1+1) Red Cross"  # neutralised for spreadsheets
    assert masks["partner_type"] == "red_cross"

    raw = _ok(cli("aid", "export", "--no-formula-safe", "--partner", "RC")).out
    assert list(csv.reader(io.StringIO(raw)))[1][0] == "=SUM(1+1) Red Cross"
    as_json = json.loads(_ok(cli("aid", "export", "--json")).out)
    assert [(r["pledge"], r["item"], r["received"]) for r in as_json] == [
        (r["pledge"], r["item_code"], int(r["received"])) for r in rows
    ]
    # The coordinator of Chagang reads the pledges of Chagang only.
    theirs = _ok(cli("--user", "kim", "aid", "export"))
    assert [r[21] for r in list(csv.reader(io.StringIO(theirs.out)))[1:]] == ["PLG-2022-0002"]


def test_the_3w_export_is_written_whole_or_not_at_all(
    cli, shipped: Session, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "3w.csv"
    target.write_text("the old table\n", encoding="utf-8")
    refused = cli("aid", "export", "--partner", "XX", "-o", str(target))
    assert refused.code == 1
    assert "unknown partner 'XX'" in refused.err
    assert target.read_text(encoding="utf-8") == "the old table\n"
    nowhere = cli("aid", "export", "-o", str(folder / "no" / "3w.csv"))
    assert nowhere.code == 1
    assert "no such folder" in nowhere.err
    assert [p.name for p in folder.iterdir()] == ["3w.csv"]  # no temporary file left


# Bad input ----------------------------------------------------------------------------

PLEDGE = ["aid", "pledge", "create", "--request", "REQ-2022-0001"]
SHIP = ["aid", "ship", "create", "--to", "WH-KP-04"]
RECEIVE = ["aid", "receive", "SHP-2022-0001", "--received-by", "Kim Chol"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([*PLEDGE, "--partner", "XX", "--line", "ORS=1"], 1, "unknown partner 'XX'"),
        ([*PLEDGE, "--partner", "CN", "--line", "NOPE=5"], 1, "unknown item 'NOPE'"),
        ([*PLEDGE, "--partner", "CN", "--line", "ORS=-5"], 1, "negative"),
        ([*PLEDGE, "--partner", "CN", "--line", "ORS=0"], 1, "above 0"),
        (["aid", "pledge", "create", "--partner", "CN", "--line", "ORS=1"], 1,
         "a pledge answers a request or an accepted offer"),
        ([*PLEDGE, "--partner", "CN", "--line", "ORS=1", "--time", "2022-05-15T09:00"], 1,
         "dated before request REQ-2022-0001 went out"),
        (["aid", "pledge", "cancel", "PLG-2022-0099", "--reason", "r"], 1,
         "unknown pledge 'PLG-2022-0099'"),
        ([*SHIP, "--line", "PCR-TEST=1@L9:2030-01-01"], 1, "name it with --pledge"),
        ([*SHIP, "--pledge", "PLG-2022-0099", "--line", "PCR-TEST=1@L9:2030-01-01"], 1,
         "unknown pledge 'PLG-2022-0099'"),
        ([*SHIP, "--pledge", "PLG-2022-0001", "--line", "PCR-TEST=-1@L9:2030-01-01"], 1,
         "negative"),
        ([*SHIP, "--pledge", "PLG-2022-0001", "--line", "NOPE=1@L9:2030-01-01"], 1,
         "unknown item 'NOPE'"),
        ([*SHIP, "--pledge", "PLG-2022-0001", "--line", "PCR-TEST=1@L9"], 1,
         "write ITEM=QUANTITY@LOT:EXPIRY"),
        ([*SHIP, "--pledge", "PLG-2022-0001", "--line", "PCR-TEST=50000@L9:2030-01-01"], 1,
         "at most 40,000 left to ship"),
        ([*SHIP, "--pledge", "PLG-2022-0001", "--line", "ORS=1@L9:2030-01-01"], 1,
         "not on pledge PLG-2022-0001"),
        (["aid", "ship", "create", "--to", "PH-KP-04-CHANGGANG-001", "--pledge",
          "PLG-2022-0001", "--line", "PCR-TEST=1@L9:2030-01-01"], 1,
         "aid is received at a stockpile or a warehouse"),
        ([*RECEIVE, "--line", "PCR-TEST=60001@L2205"], 1,
         "60,000 tests left to receive, not 60,001"),
        ([*RECEIVE, "--line", "PCR-TEST=-3@L2205"], 1, "negative"),
        ([*RECEIVE, "--line", "PCR-TEST=3@NOLOT"], 1, "is not on shipment SHP-2022-0001"),
        ([*RECEIVE, "--line", "PCR-TEST=3"], 1, "write ITEM=QUANTITY@LOT"),
        ([*RECEIVE, "--line", "PCR-TEST=3@L2205", "--time", "2022-05-19T07:00"], 1,
         "before the shipment left"),
        (["aid", "receive", "SHP-2022-0099", "--received-by", "K", "--line", "ORS=1@L"], 1,
         "unknown shipment 'SHP-2022-0099'"),
        (["aid", "ship", "update", "SHP-2022-0001", "--status", "planned"], 1,
         "unknown shipment status 'planned'"),
        (["aid", "ship", "close", "SHP-2022-0001", "--reason", "r"], 1,
         "is in_transit, not partly_received"),
        (["aid", "trace", "NOPE", "L2205"], 1, "unknown item 'NOPE'"),
        (["aid", "trace", "PCR-TEST", "L2205"], 1, "no lot 'L2205' of PCR-TEST"),
        (["aid", "export", "--status", "lost"], 1, "unknown pledge status 'lost'"),
        # Outside the scope: a coordinator of Chagang, the national pledge; a coordinator
        # receiving (no stock.write); Pyongyang's logistician, Chagang's warehouse.
        (["--user", "kim", *PLEDGE, "--partner", "CN", "--line", "ORS=1"], FORBIDDEN,
         "outside their scopes"),
        (["--user", "kim", *SHIP, "--pledge", "PLG-2022-0001", "--line",
          "PCR-TEST=1@L9:2030-01-01"], FORBIDDEN, "outside their scopes"),
        (["--user", "kim", *RECEIVE, "--line", "PCR-TEST=1@L2205"], FORBIDDEN,
         "does not have the permission stock.write"),
        (["--user", "lee", *RECEIVE, "--line", "PCR-TEST=1@L2205"], FORBIDDEN,
         "outside their scopes"),
        (["--user", "vic", "aid", "pledge", "cancel", "PLG-2022-0001", "--reason", "r"],
         FORBIDDEN, "aid.write"),
        (["--user", "lee", "aid", "export"], FORBIDDEN, "aid.read"),
    ],
)  # fmt: skip
def test_bad_input_exits_non_zero_and_writes_nothing(
    cli, shipped: Session, args: list[str], code: int, message: str
) -> None:
    before = _rows(shipped)
    result = cli(*args)
    assert result.code == code, (result.out, result.err)
    assert message in result.err
    assert "Traceback" not in result.err
    assert _rows(shipped) == before


def test_the_warehouse_logistician_receives(cli, shipped: Session) -> None:
    """Receiving is the warehouse's: its logistician signs the goods in without aid.write."""
    got = cli("--user", "ri", "aid", "receive", "SHP-2022-0001", "--line", "PCR-TEST=5@L2205",
              "--received-by", "Ri Su", "--json")  # fmt: skip
    assert json.loads(_ok(got).out)["receipt"]["recorded_by"] == "ri"
    shipped.rollback()
    donors = shipped.scalars(select(StockEntry.counterparty).where(StockEntry.kind == "receipt"))
    assert set(donors) == {DONOR}


def test_lists_mark_the_illustrative_records(cli, shipped: Session) -> None:
    plain = _ok(cli("aid", "pledge", "list")).out
    assert "PLG-2022-0001 *" not in plain
    assert "an illustration" not in plain
    shipped.execute(update(Pledge).values(illustrative=True))
    shipped.commit()
    marked = _ok(cli("aid", "pledge", "list")).out
    assert "PLG-2022-0001 *" in marked
    assert "* an illustration (the demo's), not a real record" in marked
