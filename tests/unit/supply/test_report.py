"""The situation report's section on medicines (issue #11, item 12)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sitroom.context import AppContext
from sitroom.sitrep.build import build_report
from sitroom.supply.ledger import Ledger, Movement

ZONE = ZoneInfo("Asia/Pyongyang")
ONE, TWO = "PH-KP-04-CHANGGANG-001", "PH-KP-04-CHANGGANG-002"


def test_the_report_shows_stock_and_pharmacies_out_at_the_close_of_the_period(
    outbreak: Session, db_url: str
) -> None:
    context = AppContext.from_overrides(database_url=db_url)
    try:
        empty = build_report(context, "2022-05-20")
        assert "supply" not in [s.key for s in empty.sections]  # nothing in the ledger yet

        def at(day: int, hour: int) -> datetime:
            return datetime(2022, 5, day, hour, tzinfo=ZONE)

        Ledger(outbreak, user="t").post(
            [
                Movement(
                    at(18, 9), "receipt", ONE, "PARA-500", 300, lot="A", expiry=date(2024, 1, 1)
                ),
                Movement(at(18, 9), "receipt", TWO, "PARA-500", 100, lot="A"),
                Movement(at(19, 10), "dispense", TWO, "PARA-500", 100, patients=7),
                # After the period's close (18:00 on the 20th): not in its picture.
                Movement(at(20, 19), "dispense", ONE, "PARA-500", 300, patients=20),
            ],
            source="t",
        )
        report = build_report(context, "2022-05-20")
        supply = report.section("supply")
        facts = {f.label: (f.value, f.note) for f in supply.facts}
        assert facts["Pharmacies out of PARA-500"] == (1, "of 2 supplied with it")
        stock = supply.tables[0]
        assert stock.rows == [
            {
                "item": "PARA-500 (tablets)",
                "stockpile": 0,
                "warehouse": 0,
                "store": 0,
                "hospital": 0,
                "pharmacy": 300,
                "transit": 0,
            }
        ]
        assert "2022-05-20 18:00 (Asia/Pyongyang)" in stock.caption
        assert any("1 of 2 pharmacies had no PARA-500" in s.text for s in supply.sentences)
        assert [c.key for c in supply.charts] == ["map_stockout"]
        assert not any("simulated" in s.text for s in supply.sentences)
    finally:
        context.close()
