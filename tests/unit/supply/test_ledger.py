"""The stock ledger: the one write path for stock (issue #11, items 3 and 13).

Each rule with a case that breaks it: refused with a message saying what is
there, and nothing written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.errors import ConflictError
from sitroom.supply import service
from sitroom.supply.ledger import Ledger, Movement, PostSummary, local_day
from sitroom.supply.models import Facility, StockBalance, StockEntry

ZONE = ZoneInfo("Asia/Pyongyang")
STOCKPILE = "STOCKPILE"
WAREHOUSE = "WH-KP-04"
STORE = "ST-KP-04-CHANGGANG"
PHARMACY = "PH-KP-04-CHANGGANG-001"
ELSEWHERE = "PH-KP-01-CHUNGHWA-001"


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2022, 5, day, hour, tzinfo=ZONE)


def post(session: Session, *movements: Movement, **kwargs: object) -> PostSummary:
    return Ledger(session, user="test", **kwargs).post(list(movements), source="test")  # type: ignore[arg-type]


def stock(session: Session, facility: str, item: str = "PARA-500") -> dict[str, int]:
    return {
        line.lot: line.quantity
        for line in service.stock_on_hand(session, facility=facility, item=item)
    }


def receive(session: Session, facility: str = PHARMACY, **lots: tuple[int, date]) -> None:
    summary = post(
        session,
        *(
            Movement(at(1), "receipt", facility, "PARA-500", qty, lot=lot, expiry=expiry)
            for lot, (qty, expiry) in lots.items()
        ),
    )
    assert summary.committed, summary.rejections


@pytest.fixture
def stocked(loaded: Session) -> Session:
    receive(
        loaded,
        PHARMACY,
        EARLY=(100, date(2022, 6, 30)),
        LATE=(500, date(2023, 12, 31)),
    )
    return loaded


def test_dispensing_takes_the_lot_first_to_expire(stocked: Session) -> None:
    summary = post(stocked, Movement(at(2), "dispense", PHARMACY, "PARA-500", 130, patients=9))
    assert summary.committed
    assert summary.entries == 2  # 100 of EARLY, then 30 of LATE
    assert stock(stocked, PHARMACY) == {"LATE": 470}


def test_an_issue_beyond_stock_is_refused_with_what_is_there(stocked: Session) -> None:
    summary = post(
        stocked,
        Movement(at(2), "dispense", PHARMACY, "PARA-500", 10, patients=1),
        Movement(at(2), "dispense", PHARMACY, "PARA-500", 700, line=3),
    )
    assert not summary.committed
    assert summary.rejected == 1
    rejection = summary.rejections[0]
    assert (rejection.line, rejection.field) == (3, "quantity")
    assert "has 590 tablets of PARA-500" in rejection.reason
    assert "lot EARLY: 90, lot LATE: 500" in rejection.reason
    assert "cannot dispense 700" in rejection.reason
    # Nothing of the file was written, the good row neither.
    assert stock(stocked, PHARMACY) == {"EARLY": 100, "LATE": 500}


def test_an_expired_lot_is_not_dispensed(stocked: Session) -> None:
    named = post(
        stocked,
        Movement(at(2) + timedelta(days=60), "dispense", PHARMACY, "PARA-500", 5, lot="EARLY"),
    )
    assert "expired on 2022-06-30" in named.rejections[0].reason
    # FEFO skips it and says so when the rest is not enough.
    later = at(2) + timedelta(days=60)
    assert later.date() > date(2022, 6, 30)
    fefo = post(stocked, Movement(later, "dispense", PHARMACY, "PARA-500", 550))
    assert "cannot dispense 550; expired lots not counted: EARLY" in fefo.rejections[0].reason
    ok = post(stocked, Movement(later, "dispense", PHARMACY, "PARA-500", 500))
    assert ok.committed
    assert stock(stocked, PHARMACY) == {"EARLY": 100}


#: The last minute of EARLY's expiry day (30 June) in Pyongyang (UTC+9), and the first
#: minute of the day after.
LAST_MINUTE = datetime(2022, 6, 30, 23, 59, tzinfo=ZONE)
FIRST_MINUTE = datetime(2022, 7, 1, 0, 0, tzinfo=ZONE)


@pytest.mark.parametrize(
    "offset",
    [UTC, timezone(timedelta(hours=12)), timezone(timedelta(hours=-5)), ZONE],
    ids=["utc", "utc+12", "utc-5", "pyongyang"],
)
def test_expiry_is_read_on_the_countrys_day_whatever_the_offset(
    stocked: Session, offset: timezone
) -> None:
    """A lot is usable up to and on its expiry date in the country's time zone: the same
    instant is judged the same whether it is given in UTC (still 30 June there at the
    first minute of July in Pyongyang) or in UTC+12 (already 1 July at its last minute)."""
    last, first = LAST_MINUTE.astimezone(offset), FIRST_MINUTE.astimezone(offset)
    assert (local_day(last, ZONE), local_day(first, ZONE)) == (date(2022, 6, 30), date(2022, 7, 1))
    named = Movement(last, "dispense", PHARMACY, "PARA-500", 5, lot="EARLY", patients=1)
    assert post(stocked, named, zone=ZONE).committed
    named.time = first
    late = post(stocked, named, zone=ZONE)
    assert not late.committed
    assert "lot EARLY of PARA-500 expired on 2022-06-30" in late.rejections[0].reason
    # First expiry first out takes EARLY on its last minute and skips it on the next.
    assert post(stocked, Movement(last, "dispense", PHARMACY, "PARA-500", 10), zone=ZONE).ok
    assert stock(stocked, PHARMACY) == {"EARLY": 85, "LATE": 500}
    assert post(stocked, Movement(first, "dispense", PHARMACY, "PARA-500", 10), zone=ZONE).ok
    assert stock(stocked, PHARMACY) == {"EARLY": 85, "LATE": 490}
    sent = Movement(
        first, "transfer_out", PHARMACY, "PARA-500", 1, lot="EARLY", counterparty=STORE,
        reference="BACK-1",
    )  # fmt: skip
    assert "cannot be sent" in post(stocked, sent, zone=ZONE).rejections[0].reason
    # A write-off of expired stock takes the expired lot from the first minute on.
    expired = Movement(first, "adjust", PHARMACY, "PARA-500", 5, reason="expired")
    assert post(stocked, expired, zone=ZONE).committed
    assert stock(stocked, PHARMACY) == {"EARLY": 80, "LATE": 490}
    assert service.verify(stocked).ok


def test_a_back_dated_issue_may_not_empty_a_later_day(stocked: Session) -> None:
    assert post(stocked, Movement(at(10), "dispense", PHARMACY, "PARA-500", 550)).committed
    # On day 5 there were 600, but taking 100 then would leave -50 after day 10.
    late = post(stocked, Movement(at(5), "dispense", PHARMACY, "PARA-500", 100))
    assert not late.committed
    assert "has 50 tablets" in late.rejections[0].reason
    assert post(stocked, Movement(at(5), "dispense", PHARMACY, "PARA-500", 50)).committed
    assert stock(stocked, PHARMACY) == {}


def test_transfers_follow_the_routes_and_arrive_at_most_what_was_sent(loaded: Session) -> None:
    receive(loaded, WAREHOUSE, A=(1000, date(2024, 1, 1)))
    off_route = post(
        loaded, Movement(at(2), "transfer_out", WAREHOUSE, "PARA-500", 10, counterparty=PHARMACY)
    )
    assert "no route from WH-KP-04 to PH-KP-04-CHANGGANG-001" in off_route.rejections[0].reason
    sent = post(
        loaded,
        Movement(
            at(2), "transfer_out", WAREHOUSE, "PARA-500", 300, counterparty=STORE, reference="ORD-1"
        ),
    )
    assert sent.committed
    too_much = post(
        loaded,
        Movement(
            at(3), "transfer_in", STORE, "PARA-500", 301, counterparty=WAREHOUSE, reference="ORD-1"
        ),
    )
    assert "300 tablets of PARA-500 sent by WH-KP-04" in too_much.rejections[0].reason
    assert "more than was dispatched" in too_much.rejections[0].reason
    wrong_reference = post(
        loaded,
        Movement(
            at(3), "transfer_in", STORE, "PARA-500", 1, counterparty=WAREHOUSE, reference="ORD-2"
        ),
    )
    assert not wrong_reference.committed
    arrived = post(
        loaded,
        Movement(
            at(3), "transfer_in", STORE, "PARA-500", 280, counterparty=WAREHOUSE, reference="ORD-1"
        ),
    )
    assert arrived.committed
    assert stock(loaded, WAREHOUSE) == {"A": 700}
    assert stock(loaded, STORE) == {"A": 280}  # 20 still in transit


def test_a_transfer_out_and_in_of_one_file(loaded: Session) -> None:
    receive(loaded, WAREHOUSE, A=(100, date(2024, 1, 1)))
    both = post(
        loaded,
        Movement(
            at(2), "transfer_out", WAREHOUSE, "PARA-500", 60, counterparty=STORE, reference="R"
        ),
        Movement(
            at(3), "transfer_in", STORE, "PARA-500", 60, counterparty=WAREHOUSE, reference="R"
        ),
    )
    assert both.committed, both.rejections
    assert stock(loaded, STORE) == {"A": 60}


def test_a_stocktake_records_the_difference(stocked: Session) -> None:
    summary = post(stocked, Movement(at(3), "stocktake", PHARMACY, "PARA-500", 480, lot="LATE"))
    assert summary.committed
    entry = stocked.scalars(select(StockEntry).where(StockEntry.kind == "stocktake")).one()
    assert (entry.counted, entry.quantity) == (480, -20)
    assert stock(stocked, PHARMACY)["LATE"] == 480
    unnamed = post(stocked, Movement(at(3), "stocktake", PHARMACY, "PARA-500", 10))
    assert "holds 2 lots of PARA-500" in unnamed.rejections[0].reason


def test_a_back_dated_count_may_not_empty_a_later_day(stocked: Session) -> None:
    # 450 of LATE dispensed on day 5; a count of 100 on day 3 would leave -350 after it.
    later = post(stocked, Movement(at(5), "dispense", PHARMACY, "PARA-500", 450, lot="LATE"))
    assert later.committed
    summary = post(stocked, Movement(at(3), "stocktake", PHARMACY, "PARA-500", 100, lot="LATE"))
    assert not summary.committed
    assert summary.rejections[0].field == "quantity"
    assert "450 of them were issued later" in summary.rejections[0].reason
    assert stock(stocked, PHARMACY)["LATE"] == 50
    # A count that leaves enough for what came after it is taken.
    fine = post(stocked, Movement(at(3), "stocktake", PHARMACY, "PARA-500", 470, lot="LATE"))
    assert fine.committed, fine.rejections
    assert stock(stocked, PHARMACY)["LATE"] == 20
    assert service.verify(stocked).ok


def test_adjustments_give_a_reason_and_found_stock_needs_its_lot(stocked: Session) -> None:
    no_reason = post(stocked, Movement(at(3), "adjust", PHARMACY, "PARA-500", 5))
    assert "gives its reason" in no_reason.rejections[0].reason
    stolen = post(stocked, Movement(at(3), "adjust", PHARMACY, "PARA-500", 5, reason="stolen"))
    assert stolen.committed
    assert stock(stocked, PHARMACY)["EARLY"] == 95
    found = post(
        stocked, Movement(at(3), "adjust", PHARMACY, "PARA-500", 7, reason="found", lot="LATE")
    )
    assert found.committed
    assert stock(stocked, PHARMACY)["LATE"] == 507


@pytest.mark.parametrize(
    ("movement", "column", "words"),
    [
        (Movement(at(2), "dispense", PHARMACY, "NOPE", 1), "item", "unknown item 'NOPE'"),
        (Movement(at(2), "dispense", "PH-NOWHERE", "PARA-500", 1), "facility", "unknown facility"),
        (Movement(at(2), "dispense", PHARMACY, "PARA-500", 0), "quantity", "more than 0"),
        (Movement(at(2), "dispense", PHARMACY, "PARA-500", 1, lot="NOLOT"), "lot", "unknown lot"),
        (
            Movement(at(2), "receipt", PHARMACY, "PARA-500", 5, lot="NEW"),
            "expiry",
            "give its expiry",
        ),
        (
            Movement(
                at(2), "receipt", PHARMACY, "PARA-500", 5, lot="LATE", expiry=date(2030, 1, 1)
            ),
            "expiry",
            "expires on 2023-12-31",
        ),
        (Movement(at(2), "refill", PHARMACY, "PARA-500", 5), "event", "unknown event"),
        (
            Movement(
                at(2),
                "receipt",
                PHARMACY,
                "PARA-500",
                5,
                lot="X",
                expiry=date(2030, 1, 1),
                patients=3,
            ),
            "patients",
            "only a dispensing",
        ),
        (
            Movement(datetime.now(ZONE) + timedelta(days=2), "dispense", PHARMACY, "PARA-500", 1),
            "time",
            "in the future",
        ),
        (
            Movement(at(2), "transfer_in", STORE, "PARA-500", 1, counterparty=WAREHOUSE),
            "reference",
            "names the transfer",
        ),
        # What no column holds is refused, not a database error (PostgreSQL's was a 500).
        (Movement(at(2), "dispense", "PH\x00X", "PARA-500", 1), "facility", "NUL"),
        (Movement(at(2), "adjust", PHARMACY, "PARA-500", 1, reason="r" * 201), "reason", "201"),
        (
            Movement(at(2), "dispense", PHARMACY, "PARA-500", 1, patients=2**31),
            "patients",
            "more than one record holds",
        ),
        (
            Movement(datetime(1, 1, 1, tzinfo=ZONE), "dispense", PHARMACY, "PARA-500", 1),
            "time",
            "before 1900",
        ),
        (Movement(at(2), "dispense", PHARMACY, "PARA-500", 10**13), "quantity", "more than"),
    ],
)
def test_bad_movements_are_refused_and_nothing_is_written(
    stocked: Session, movement: Movement, column: str, words: str
) -> None:
    before = stocked.scalar(select(func.count(StockEntry.id)))
    summary = post(stocked, movement)
    assert not summary.committed
    assert summary.rejections[0].field == column
    assert words in summary.rejections[0].reason
    assert stocked.scalar(select(func.count(StockEntry.id))) == before


def test_a_user_acts_only_in_their_scopes(stocked: Session) -> None:
    chagang = Principal("ph", "pharmacist", ("/KP/KP-04/",), ("KP-04",))
    receive(stocked, ELSEWHERE, X=(10, date(2024, 1, 1)))
    mine = post(stocked, Movement(at(2), "dispense", PHARMACY, "PARA-500", 1), principal=chagang)
    assert mine.committed
    theirs = post(stocked, Movement(at(2), "dispense", ELSEWHERE, "PARA-500", 1), principal=chagang)
    assert not theirs.committed
    assert theirs.rejections[0].field == "facility"
    # A pharmacist dispenses but does not receive or adjust.
    adjust = post(
        stocked,
        Movement(at(2), "adjust", PHARMACY, "PARA-500", 1, reason="lost"),
        principal=chagang,
    )
    assert not adjust.committed


def test_a_reversal_undoes_a_batch_once(stocked: Session) -> None:
    dispensed = post(stocked, Movement(at(2), "dispense", PHARMACY, "PARA-500", 130, patients=9))
    assert dispensed.batch_id is not None
    undone = service.reverse(stocked, dispensed.batch_id, reason="typed twice", user="test")
    assert undone.committed
    assert stock(stocked, PHARMACY) == {"EARLY": 100, "LATE": 500}
    with pytest.raises(ConflictError, match="reversed already"):
        service.reverse(stocked, dispensed.batch_id, reason="again", user="test")
    reasons = stocked.scalars(select(StockEntry.reason).where(StockEntry.reverses_id.is_not(None)))
    assert set(reasons) == {"reversal: typed twice"}


def test_an_adjustment_is_reversed_keeping_its_reason(stocked: Session) -> None:
    """An adjustment's reason is one of the adjustment reasons (a check constraint): its
    reversal keeps it, and the reversal's reason is in the batch's source."""
    lost = post(stocked, Movement(at(2), "adjust", PHARMACY, "PARA-500", 40, reason="lost"))
    found = post(
        stocked, Movement(at(3), "adjust", PHARMACY, "PARA-500", 5, lot="LATE", reason="found")
    )
    assert stock(stocked, PHARMACY) == {"EARLY": 60, "LATE": 505}
    for batch in (lost.batch_id, found.batch_id):
        assert batch is not None
        undone = service.reverse(stocked, batch, reason="counted twice", user="test")
        assert undone.committed, undone.rejections
        assert undone.source == f"reversal of stock batch {batch}: counted twice"
    assert stock(stocked, PHARMACY) == {"EARLY": 100, "LATE": 500}
    reversals = stocked.execute(
        select(StockEntry.kind, StockEntry.reason, StockEntry.quantity)
        .where(StockEntry.reverses_id.is_not(None))
        .order_by(StockEntry.id)
    ).all()
    assert reversals == [("adjust", "lost", 40), ("adjust", "found", -5)]
    assert service.verify(stocked).ok


def test_a_receipt_issued_on_cannot_be_reversed(loaded: Session) -> None:
    got = post(
        loaded,
        Movement(at(1), "receipt", PHARMACY, "PARA-500", 50, lot="Z", expiry=date(2024, 1, 1)),
    )
    assert post(loaded, Movement(at(2), "dispense", PHARMACY, "PARA-500", 20)).committed
    assert got.batch_id is not None
    refused = service.reverse(loaded, got.batch_id, reason="wrong pharmacy", user="test")
    assert not refused.committed
    assert "30 tablets of PARA-500 lot Z left" in refused.rejections[0].reason


def test_the_ledger_refuses_update_and_delete(stocked: Session) -> None:
    for statement in ("UPDATE stock_entry SET quantity = 0", "DELETE FROM stock_entry"):
        with pytest.raises(Exception, match="append-only"):
            stocked.execute(text(statement))
        stocked.rollback()


def test_balances_never_go_below_zero_in_the_database(stocked: Session) -> None:
    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        stocked.execute(text("UPDATE stock_balance SET quantity = -1"))
    stocked.rollback()


def test_verify_replays_the_ledger_and_finds_a_tampered_balance(stocked: Session) -> None:
    post(stocked, Movement(at(2), "dispense", PHARMACY, "PARA-500", 130, patients=9))
    assert service.verify(stocked).ok
    stocked.execute(
        text(
            "UPDATE stock_balance SET quantity = quantity + 1"
            " WHERE lot_id = (SELECT id FROM supply_lot WHERE code = 'LATE')"
        )
    )
    stocked.commit()
    found = service.verify(stocked)
    assert not found.ok
    assert {m.lot for m in found.mismatches} == {"LATE"}
    assert "balance 471, ledger 470" in found.mismatches[0].sentence()


def test_stock_at_a_moment_replays_the_ledger(stocked: Session) -> None:
    post(stocked, Movement(at(10), "dispense", PHARMACY, "PARA-500", 130, patients=9))
    before = service.stock_on_hand(stocked, facility=PHARMACY, at=at(9))
    after = service.stock_on_hand(stocked, facility=PHARMACY, at=at(11))
    assert sum(line.quantity for line in before) == 600
    assert sum(line.quantity for line in after) == 470
    balances = stocked.scalar(select(func.sum(StockBalance.quantity)))
    assert balances == 470


def test_a_csv_file_is_all_or_nothing_and_names_line_and_field(
    loaded: Session, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(
        "time,event,facility,item,lot,expiry,quantity,counterparty,reason,reference,patients\n"
        f"2022-05-01T09:00,receipt,{PHARMACY},PARA-500,L1,2024-01-31,200,UNICEF,,GRN-1,\n"
        f"2022-05-02,dispense,{PHARMACY},PARA-500,,,45,,,,3\n",
        encoding="utf-8",
    )
    summary = service.import_events(loaded, good, ZONE, user="test")
    assert summary.committed
    assert summary.kinds == {"receipt": 1, "dispense": 1}
    again = service.import_events(loaded, good, ZONE, user="test")
    assert not again.committed
    assert again.previous_batch == summary.batch_id
    assert stock(loaded, PHARMACY) == {"L1": 155}

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "time,event,facility,item,lot,expiry,quantity,counterparty,reason,reference,patients\n"
        f"2022-05-03,dispense,{PHARMACY},PARA-500,,,1.5,,,,1\n"
        f"2022-05-03,dispense,{PHARMACY},ASPIRIN,,,1,,,,1\n"
        f"2022-05-03,dispense,{PHARMACY},PARA-500,,,-4,,,,1\n"
        f"2022-05-03,dispense,{PHARMACY},PARA-500,,,5,,,,1\n",
        encoding="utf-8",
    )
    refused = service.import_events(loaded, bad, ZONE, user="test")
    assert not refused.committed
    assert [(r.line, r.field) for r in refused.rejections] == [
        (2, "quantity"),
        (3, "item"),
        (4, "quantity"),
    ]
    assert "1.5 is not a whole number" in refused.rejections[0].reason
    assert "negative" in refused.rejections[2].reason
    assert stock(loaded, PHARMACY) == {"L1": 155}


def test_the_stock_matrix_adds_up_the_lots_now_and_at_a_moment(stocked: Session) -> None:
    receive(stocked, STORE, EARLY=(40, date(2022, 6, 30)))
    post(stocked, Movement(at(10), "dispense", PHARMACY, "PARA-500", 130, patients=9))
    now = service.stock_matrix(stocked)
    assert now.of(PHARMACY, "PARA-500") == 470
    assert now.of(STORE, "PARA-500") == 40
    assert now.of(WAREHOUSE, "PARA-500") == 0
    assert int(now.quantity.sum()) == 510
    before = service.stock_matrix(stocked, at=at(9))
    assert before.of(PHARMACY, "PARA-500") == 600
    assert before.facilities == now.facilities
    assert before.items == now.items
    lines = service.stock_on_hand(stocked)
    assert int(now.quantity.sum()) == sum(line.quantity for line in lines)


def test_a_lot_run_down_to_zero_is_received_again(stocked: Session) -> None:
    """A balance at zero from before a post is not loaded by it: what the post brings
    is added to it (not a second balance), and it is issued from again."""
    assert post(stocked, Movement(at(2), "dispense", PHARMACY, "PARA-500", 100, lot="EARLY")).ok
    assert stock(stocked, PHARMACY) == {"LATE": 500}
    again = post(
        stocked,
        Movement(at(3), "receipt", PHARMACY, "PARA-500", 30, lot="EARLY"),
        Movement(at(4), "dispense", PHARMACY, "PARA-500", 10),
    )
    assert again.committed, again.rejections
    assert stock(stocked, PHARMACY) == {"EARLY": 20, "LATE": 500}
    # Back-dated into the time the lot was at zero: still refused with what is there.
    refused = post(stocked, Movement(at(2, 12), "dispense", PHARMACY, "PARA-500", 1, lot="EARLY"))
    assert not refused.committed
    assert service.verify(stocked).ok


def test_a_transfer_that_arrived_in_part_is_not_reversed(loaded: Session) -> None:
    """What is in transit under each reference is read once (whatever the order the
    reversal meets the references in), and what one reversed entry takes back is not
    there for the next."""

    def out(quantity: int, reference: str) -> Movement:
        return Movement(
            at(2), "transfer_out", STORE, "PARA-500", quantity, counterparty=PHARMACY,
            reference=reference,
        )  # fmt: skip

    receive(loaded, STORE, A=(100, date(2024, 1, 1)))
    sent = post(loaded, out(5, "T-1"), out(10, "T-2"), out(10, "T-1"))
    assert sent.committed
    assert sent.batch_id is not None
    arrived = post(
        loaded,
        Movement(at(3), "transfer_in", PHARMACY, "PARA-500", 7, counterparty=STORE,
                 reference="T-1"),
    )  # fmt: skip
    assert arrived.committed
    # 15 sent under T-1, 7 arrived: 8 can be taken back, not 5 and then 10.
    refused = service.reverse(loaded, sent.batch_id, reason="wrong", user="test")
    assert not refused.committed
    assert [r.reason.split(": ", 1)[1] for r in refused.rejections] == [
        "T-1 has arrived (in part) at PH-KP-04-CHANGGANG-001: reverse the transfer in first"
    ]
    assert service.verify(loaded).ok


def test_an_expired_adjustment_takes_the_expired_lots_that_have_stock(stocked: Session) -> None:
    """Reason "expired" takes from the expired lots with stock; when they have none
    (or only lots at zero), from the others, first to expire first: whether a lot at
    zero was loaded by the post does not change the outcome."""
    july = datetime(2022, 7, 5, 10, tzinfo=ZONE)  # EARLY (100) expired on 30 June
    expired = Movement(july, "adjust", PHARMACY, "PARA-500", 100, reason="expired")
    assert post(stocked, expired).committed
    assert stock(stocked, PHARMACY) == {"LATE": 500}
    later = Movement(july + timedelta(days=1), "adjust", PHARMACY, "PARA-500", 30, reason="expired")
    assert post(stocked, later).committed
    assert stock(stocked, PHARMACY) == {"LATE": 470}
    short = post(stocked, Movement(july, "dispense", PHARMACY, "PARA-500", 471))
    assert not short.committed
    assert "expired lots not counted" not in short.rejections[0].reason


def test_a_post_reads_what_its_session_has_not_flushed_yet(loaded: Session) -> None:
    # The book reads through the driver's cursor: the session is flushed first, as its
    # own queries would be, so a facility added in the same session is known.
    store = loaded.scalars(select(Facility).where(Facility.code == STORE)).one()
    loaded.add(
        Facility(
            code="PH-NEW-001",
            name="New pharmacy",
            type="pharmacy",
            org_unit_id=store.org_unit_id,
            supplier_id=store.id,
        )
    )
    summary = post(
        loaded,
        Movement(at(1), "receipt", "PH-NEW-001", "PARA-500", 10, lot="N1", expiry=date(2030, 1, 1)),
    )
    assert summary.committed, summary.rejections
    assert stock(loaded, "PH-NEW-001") == {"N1": 10}


def test_overlapping_pauses_of_the_collector_restore_it_once_the_last_ends() -> None:
    # Two posts in two threads of a server: A pauses, B pauses, A ends, B ends.
    import gc

    from sitroom.supply.ledger import collector_paused

    assert gc.isenabled()
    first, second = collector_paused(), collector_paused()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)
    assert not gc.isenabled()  # B still posting
    second.__exit__(None, None, None)
    assert gc.isenabled()
    # A collector disabled before stays disabled.
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
