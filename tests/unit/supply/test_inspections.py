"""Pharmacy inspections and investigation cases (issue #11, item 9)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.errors import ConflictError, ForbiddenError, NotFoundError, SitroomError
from sitroom.supply import inspections
from sitroom.supply.inspections import Count
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import Inspection, StockEntry

ZONE = ZoneInfo("Asia/Pyongyang")
PHARMACY = "PH-KP-04-CHANGGANG-001"


@pytest.fixture
def stocked(loaded: Session) -> Session:
    summary = Ledger(loaded, user="t").post(
        [
            Movement(
                datetime(2022, 5, 1, 9, tzinfo=ZONE),
                "receipt",
                PHARMACY,
                "PARA-500",
                500,
                lot="A",
                expiry=date(2024, 1, 1),
            ),
            Movement(
                datetime(2022, 5, 2, 9, tzinfo=ZONE),
                "dispense",
                PHARMACY,
                "PARA-500",
                40,
                patients=3,
            ),
        ],
        source="t",
    )
    assert summary.committed
    return loaded


def _inspect(session: Session, **extra: object) -> dict:
    record, summary = inspections.record_inspection(
        session,
        PHARMACY,
        inspector="Kim Chol",
        at=datetime(2022, 5, 20, 11, tzinfo=ZONE),
        checklist={"stock_matches_ledger": False, "records_kept": True},
        counts=[Count("PARA-500", 400)],
        findings="Shelf half empty; register kept",
        photos=["IMG_0001.jpg"],
        user="inspector",
        **extra,  # type: ignore[arg-type]
    )
    assert summary is not None
    assert summary.committed, summary.rejections
    return record


def test_an_inspection_posts_its_counts_as_stocktakes(stocked: Session) -> None:
    record = _inspect(stocked)
    assert (record["missing"], record["surplus"]) == (60, 0)  # 460 on the ledger, 400 counted
    assert record["checklist"] == {
        "stock_matches_ledger": False,
        "prices_as_set": None,
        "open_as_posted": None,
        "records_kept": True,
    }
    entry = stocked.scalars(select(StockEntry).where(StockEntry.kind == "stocktake")).one()
    assert (entry.counted, entry.quantity, entry.batch_id) == (400, -60, record["stock_batch"])


def test_a_refused_count_records_nothing(stocked: Session) -> None:
    record, summary = inspections.record_inspection(
        stocked,
        PHARMACY,
        inspector="Kim Chol",
        at=datetime(2022, 5, 20, 11, tzinfo=ZONE),
        checklist={},
        counts=[Count("PARA-500", 400), Count("NOT-AN-ITEM", 3)],
        user="inspector",
    )
    assert record == {}
    assert summary is not None
    assert not summary.ok
    assert "unknown item 'NOT-AN-ITEM'" in summary.rejections[0].reason
    assert stocked.scalar(select(func.count(Inspection.id))) == 0
    assert (
        stocked.scalar(select(func.count(StockEntry.id)).where(StockEntry.kind == "stocktake")) == 0
    )


def test_unknown_questions_and_blank_inspectors_are_refused(stocked: Session) -> None:
    with pytest.raises(SitroomError, match="unknown checklist question smell"):
        inspections.record_inspection(
            stocked, PHARMACY, inspector="K", at=datetime.now(ZONE), checklist={"smell": True},
            counts=[], user="u",
        )  # fmt: skip
    with pytest.raises(SitroomError, match="inspector's name is empty"):
        inspections.record_inspection(
            stocked, PHARMACY, inspector="  ", at=datetime.now(ZONE), checklist={}, counts=[],
            user="u",
        )  # fmt: skip


def test_an_inspection_dated_in_the_future_is_refused_counts_or_not(stocked: Session) -> None:
    tomorrow = datetime.now(ZONE) + timedelta(days=1)
    for counts in ([], [Count("PARA-500", 400)]):
        with pytest.raises(SitroomError, match=r"inspection's time .* is in the future"):
            inspections.record_inspection(
                stocked, PHARMACY, inspector="Kim Chol", at=tomorrow, checklist={},
                counts=counts, user="inspector",
            )  # fmt: skip
    assert stocked.scalar(select(func.count(Inspection.id))) == 0
    assert (
        stocked.scalar(select(func.count(StockEntry.id)).where(StockEntry.kind == "stocktake")) == 0
    )
    # A few minutes ahead is a clock a little fast, as for the ledger.
    record, summary = inspections.record_inspection(
        stocked, PHARMACY, inspector="Kim Chol", at=datetime.now(ZONE) + timedelta(minutes=1),
        checklist={}, counts=[], user="inspector",
    )  # fmt: skip
    assert summary is None
    assert record["id"]


def test_a_case_freezes_its_evidence_and_follows_its_life(stocked: Session) -> None:
    finding = {"facility": PHARMACY, "score": 12.5, "sentence": "dispensed 3x its cases"}
    case = inspections.open_case(
        stocked, PHARMACY, source="detection", title="Dispensing out of line",
        evidence=finding, user="lead",
    )  # fmt: skip
    shown = inspections.case_record(stocked, case["id"], evidence=True)
    assert shown["evidence"]["finding"] == finding
    assert shown["evidence"]["stock"][0]["quantity"] == 460
    assert len(shown["evidence"]["ledger"]) == 2
    # The stock moves on; the case's evidence does not.
    Ledger(stocked, user="t").post(
        [Movement(datetime(2022, 5, 21, 9, tzinfo=ZONE), "dispense", PHARMACY, "PARA-500", 100)],
        source="t",
    )
    again = inspections.case_record(stocked, case["id"], evidence=True)
    assert again["evidence"]["stock"][0]["quantity"] == 460
    assert again["evidence_sha256"] == case["evidence_sha256"]
    with pytest.raises(Exception, match="evidence is frozen"):
        stocked.execute(text("UPDATE supply_case SET evidence = '{}'"))
    stocked.rollback()

    inspections.update_case(
        stocked, case["id"], user="lead", assign="inspector Ri", status="investigating"
    )
    with pytest.raises(SitroomError, match="says its outcome"):
        inspections.update_case(stocked, case["id"], user="lead", status="closed")
    closed = inspections.update_case(
        stocked, case["id"], user="lead", status="closed", outcome="referred to prosecutors"
    )
    assert closed["status"] == "closed"
    assert [h["status_to"] for h in closed["history"]] == ["open", "investigating", "closed"]
    with pytest.raises(ConflictError, match="is closed"):
        inspections.update_case(stocked, case["id"], user="lead", note="late")


def test_a_case_reads_only_the_ledger_its_evidence_keeps(
    stocked: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sitroom.supply import service

    june = datetime(2022, 6, 20, 9, tzinfo=ZONE)
    Ledger(stocked, user="t").post(
        [Movement(june, "dispense", PHARMACY, "PARA-500", 10, patients=1)], source="t"
    )
    whole = service.ledger_rows
    read: list[dict[str, object]] = []

    def counted(*args: Any, **kwargs: Any) -> Iterator[dict[str, object]]:
        for row in whole(*args, **kwargs):
            read.append(row)
            yield row

    monkeypatch.setattr(service, "ledger_rows", counted)
    case = inspections.open_case(
        stocked, PHARMACY, source="report", title="Sold at the market", user="lead"
    )
    evidence = inspections.case_record(stocked, case["id"], evidence=True)["evidence"]
    # The last 30 days before the facility's latest entry: the June dispensing alone,
    # and the May entries are not read at all.
    assert [r["event"] for r in evidence["ledger"]] == ["dispense"]
    assert evidence["ledger"][0]["time"] == june.astimezone(UTC).isoformat()
    assert evidence["ledger_since"].startswith("2022-05-21")
    assert read == evidence["ledger"]


def test_a_case_from_an_inspection_carries_it(stocked: Session) -> None:
    record = _inspect(stocked)
    case = inspections.open_case(
        stocked, PHARMACY, source="inspection", inspection=record["id"], title="Stock missing",
        user="lead",
    )  # fmt: skip
    evidence = inspections.case_record(stocked, case["id"], evidence=True)["evidence"]
    assert evidence["inspection"]["missing"] == 60
    with pytest.raises(NotFoundError):
        inspections.open_case(
            stocked, "PH-KP-01-CHUNGHWA-001", source="inspection", inspection=record["id"],
            title="x", user="lead",
        )  # fmt: skip


def test_cases_stay_in_their_scope(stocked: Session) -> None:
    case = inspections.open_case(stocked, PHARMACY, source="report", title="A tip-off", user="lead")
    elsewhere = Principal("lo", "logistician", ("/KP/KP-01/",), ("KP-01",))
    with pytest.raises(ForbiddenError):
        inspections.update_case(stocked, case["id"], user="lo", note="hi", principal=elsewhere)
    assert inspections.list_cases(stocked, principal=elsewhere) == []
    here = Principal("lo4", "logistician", ("/KP/KP-04/",), ("KP-04",))
    assert [c["id"] for c in inspections.list_cases(stocked, principal=here)] == [case["id"]]
    viewer = Principal("v", "viewer", ("/KP/",), ("KP",))
    assert inspections.list_cases(stocked, principal=viewer) == []
