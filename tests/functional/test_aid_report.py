"""The situation report's aid section (issue #12, items 4 and 6): what arrived, what is
on its way, what is missing and the answers overdue, as of the period's close, each
figure checked against the aid services; left out before any aid is recorded.

The 2022 wave and the small aid history of ``aid_history`` (made through the services).
Runs on SQLite, and PostgreSQL when SITROOM_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from sitroom.aid import pipeline, requests
from sitroom.aid.gap_service import gap_report
from sitroom.context import AppContext
from sitroom.sitrep.build import build_report
from sitroom.sitrep.model import Section
from sitroom.sitrep.render import to_html, to_markdown, to_pdf
from tests.functional import aid_history as story


def _rows(section: Section, key: str) -> list[dict[str, Any]]:
    return next(t.rows for t in section.tables if t.key == key)


def _facts(section: Section) -> dict[str, Any]:
    return {f.label: f.value for f in section.facts}


def _units(rows: list[dict[str, Any]], column: str = "items") -> dict[str, int]:
    """Units per item of rows whose ``column`` reads "PARA-500 200,000; AMOX-500 1"."""
    out: dict[str, int] = defaultdict(int)
    for row in rows:
        for part in str(row[column]).split("; "):
            item, units = part.split(" ")
            out[item] += int(units.replace(",", ""))
    return dict(out)


def test_the_aid_section_as_of_the_close(outbreak: Session, db_url: str) -> None:
    context = AppContext.from_overrides(database_url=db_url)
    try:
        # Nothing recorded: no section, as the medicines' without a ledger.
        assert "aid" not in [s.key for s in build_report(context, "2022-05-25").sections]
        history = story.make_history(outbreak)
        # A period that closed before the first request: none either.
        assert "aid" not in [s.key for s in build_report(context, "2022-05-13").sections]

        report = build_report(context, "2022-05-25")
        aid = report.section("aid")
        assert [s.key for s in report.sections][-1] == "aid"
        outbreak.rollback()
        views = [
            pipeline.get_shipment(outbreak, s.number) for s in pipeline.list_shipments(outbreak)
        ]

        # What arrived: the ledger's receipts under the shipments' numbers.
        arrived: dict[str, int] = defaultdict(int)
        for row in _rows(aid, "aid-arrived"):
            arrived[row["item"]] += row["units"]
        received: dict[str, int] = defaultdict(int)
        for view in views:
            for line in view.lines:
                received[line.item] += line.received
        assert dict(arrived) == {k: v for k, v in received.items() if v} == history.arrived
        assert {r["shipment"] for r in _rows(aid, "aid-arrived")} == {story.PARTLY}

        # What is on its way: shipped and not received, shipment by shipment.
        coming = {r["number"]: r for r in _rows(aid, "aid-coming")}
        outstanding = {s.number: s.outstanding for s in pipeline.list_shipments(outbreak)}
        assert {n: r["units"] for n, r in coming.items()} == {
            n: u for n, u in outstanding.items() if u
        }
        assert _units(list(coming.values())) == history.on_the_way
        assert coming[story.AT_BORDER]["where"] == "at the border (Sinuiju, customs pending)"
        assert _facts(aid)["Shipments on their way"] == 3

        # What is missing: the gap of the country, from the series up to the period.
        gap = gap_report(outbreak, context.country, end=date(2022, 5, 25))
        national = {r.item: r.to_dict() for r in gap.table if r.national}
        shown = {str(r["item"]).split(" ")[0]: r for r in _rows(aid, "aid-gap")}
        assert set(shown) == set(national)
        for item, row in shown.items():
            assert row["need"] == national[item]["need_median"]
            assert row["stock"] == national[item]["stock"]
            assert row["gap"] == national[item]["gap_median"]
            assert row["gap_upper"] == national[item]["gap_upper"]
        short = sum(1 for r in national.values() if r["gap_median"] > 0)
        assert _facts(aid)["Items short"] == short
        assert any("runs out first" in s.text for s in aid.sentences)

        # Overdue answers at the close: the Republic of Korea's offer (ours to give) and
        # UNICEF's answer to Chagang's request.
        _, close = context.calendar.window(date(2022, 5, 25))
        late = requests.overdue(outbreak, at=close, answer_hours=context.country.aid.answer_hours)
        rows = _rows(aid, "aid-overdue")
        assert [(r["about"], r["summary"]) for r in rows] == [(o.about, o.summary) for o in late]
        assert _facts(aid)["Answers overdue"] == len(late) == 4
        assert [r["illustration"] for r in rows].count("illustration") == 3
        assert any("“illustration”" in s.text for s in aid.sentences)

        # Every format shows it.
        html = to_html(report)
        assert "What is on its way" in html
        assert story.AT_BORDER in html
        markdown = to_markdown(report)
        assert "## Aid" in markdown
        assert "What arrived" in markdown
        assert to_pdf(report).startswith(b"%PDF")
    finally:
        context.close()


def test_the_aid_section_of_an_earlier_day_is_as_things_stood_then(
    outbreak: Session, db_url: str
) -> None:
    context = AppContext.from_overrides(database_url=db_url)
    try:
        story.make_history(outbreak)
        aid = build_report(context, "2022-05-18").section("aid")
        # Nothing had arrived; China's first shipment was in transit, its second not yet
        # shipped (the rest of the pledge); the WHO's had left for Chagang.
        assert _rows(aid, "aid-arrived") == []
        assert any("No aid had arrived" in s.text for s in aid.sentences)
        coming = {r["number"]: r for r in _rows(aid, "aid-coming")}
        assert coming[story.PARTLY]["where"] == "in transit"
        assert coming[story.PARTLY]["units"] == 700_000
        assert coming[story.AT_BORDER]["where"] == "in transit"
        assert coming[story.CHINA_PLEDGE]["items"] == "PARA-500 400,000"
        assert story.IN_TRANSIT not in coming  # it left on the 20th
        # The offer's two messages of the 17th were overdue; its deadline (18:00) was not
        # past yet, UNICEF had a day to answer.
        _, close = context.calendar.window(date(2022, 5, 18))
        late = requests.overdue(outbreak, at=close)
        assert [r["about"] for r in _rows(aid, "aid-overdue")] == [o.about for o in late]
        assert len(late) == 2
        # Too few days of the regions' series to forecast from: the gap says why.
        assert _facts(aid)["Items short"] is None
        assert any("the gap is not available" in n for n in aid.notes)
        assert any("fewer than the 11 a forecast needs" in n for n in aid.notes)
        assert not any(t.key == "aid-gap" for t in aid.tables)
    finally:
        context.close()
