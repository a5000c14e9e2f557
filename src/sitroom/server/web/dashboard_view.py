"""A dashboard context as text: what ``dashboard.html`` lays out.

Numbers go through :mod:`sitroom.sitrep.view` (and so
:mod:`sitroom.sitrep.formatting`), as in the situation report: the page
shows 392,920 where the twin holds 392920. Each chart keeps its Vega-Lite
spec (drawn in the browser by ``static/charts.js``) and gets its text
alternative: its caption and its data as a table (:func:`chart_table`).
"""

from __future__ import annotations

from typing import Any

from sitroom.server.web.dashboard_context import Dashboard
from sitroom.sitrep.model import Section, Table
from sitroom.sitrep.tables import chart_table
from sitroom.sitrep.view import MARK, fact_view, table_view

#: Tables whose rows are regions, linked to their pages.
LINKED = ("regional", "by_unit")
#: Tables whose rows are aid requests or offers (their number first), linked to their
#: timelines.
AID_LINKED = ("requests", "offers", "overdue")
#: Columns of sentences, wrapped in the page rather than kept on one line.
WRAPPED = ("sentence", "why", "title", "summary", "items", "conditions")
#: The column that marks a record as an illustration (``aid_context.MARK``): a badge.
BADGE = "illustration"


def aid_link(number: object) -> str | None:
    """The timeline page of an aid request (``REQ-...``) or offer (``OFF-...``)."""
    from urllib.parse import quote

    text = str(number or "")
    if text.startswith("REQ-"):
        return f"/aid/requests/{quote(text)}"
    if text.startswith("OFF-"):
        return f"/aid/offers/{quote(text)}"
    return None


def _link(table: Table, row: dict[str, Any]) -> str | None:
    if table.key in LINKED and row.get("code"):
        return f"/regions/{row['code']}"
    if table.key in AID_LINKED and table.columns:
        return aid_link(row.get(table.columns[0].key))
    return None


def _table(table: Table) -> dict[str, Any]:
    shown = table_view(table)
    shown["links"] = [_link(table, row) for row in table.rows]
    shown["wrap"] = [c.key in WRAPPED for c in table.columns]
    shown["badge"] = [c.key == BADGE for c in table.columns]
    return shown


def section_view(section: Section) -> dict[str, Any]:
    return {
        "key": section.key,
        "title": section.title,
        "intro": section.intro or "",
        "facts": [fact_view(f) for f in section.facts],
        "sentences": [
            {"text": x.text, "severity": x.severity, "mark": MARK[x.severity]}
            for x in section.sentences
        ],
        "charts": [
            {
                "key": c.key,
                "title": c.title,
                "caption": c.caption,
                "attribution": c.attribution or "",
                "spec": c.spec,
                "table": table_view(chart_table(c)),
            }
            for c in section.charts
        ],
        "tables": [_table(t) for t in section.tables],
        "notes": section.notes,
        # An aid request's or offer's story (``aid_timeline.html``), oldest first.
        "timeline": section.data.get("timeline") if section.key == "timeline" else None,
    }


def board_view(board: Dashboard) -> dict[str, Any]:
    return {"sections": [section_view(s) for s in board.sections]}
