"""The report as every human format shows it: text formatted, charts drawn.

:func:`view` turns the typed :class:`~sitroom.sitrep.model.Report` into plain
dicts of strings (numbers through :mod:`sitroom.sitrep.formatting`, charts
rendered to SVG once), which the HTML template, the typst template and the
Markdown writer only lay out. None of them formats a number itself.
"""

from __future__ import annotations

import re
from typing import Any

from sitroom.sitrep import formatting as fmt
from sitroom.sitrep.model import Chart, Fact, Report, Table

#: Section title shown for each sentence severity.
MARK = {"ok": "✓", "info": "·", "warning": "!", "error": "✗"}


def fact_view(fact: Fact) -> dict[str, str]:
    return {
        "label": fact.label,
        "value": fmt.show(fact.value, fact.kind),
        "interval": fmt.interval(fact.low, fact.high, fact.kind),
        "note": fact.note or "",
    }


def table_view(table: Table) -> dict[str, Any]:
    def cells(row: dict[str, Any]) -> list[str]:
        return [
            "" if row.get(c.key) is None and c.kind == "text" else fmt.show(row.get(c.key), c.kind)
            for c in table.columns
        ]

    return {
        "key": table.key,
        "title": table.title,
        "caption": table.caption,
        "columns": [c.label for c in table.columns],
        "numeric": [c.kind not in ("text", "date") for c in table.columns],
        "rows": [cells(r) for r in table.rows],
        "total": cells(table.total) if table.total else None,
    }


_ID = re.compile(r'id="([^"]+)"')


def scoped_svg(svg: str, prefix: str) -> str:
    """``svg`` without its XML declaration, its ids prefixed (several sit in one page)."""
    svg = re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)
    for name in set(_ID.findall(svg)):
        new = f"{prefix}-{name}"
        svg = (
            svg.replace(f'id="{name}"', f'id="{new}"')
            .replace(f"url(#{name})", f"url(#{new})")
            .replace(f'href="#{name}"', f'href="#{new}"')
        )
    return svg


def chart_view(chart: Chart, *, svg: bool) -> dict[str, Any]:
    from sitroom.sitrep.charts import to_svg

    return {
        "key": chart.key,
        "title": chart.title,
        "caption": chart.caption,
        "attribution": chart.attribution or "",
        "svg": scoped_svg(to_svg(chart.spec), chart.key) if svg else "",
    }


def view(report: Report, *, svg: bool = True) -> dict[str, Any]:
    """The report as strings and SVGs (``svg=False``: charts without drawings)."""
    return {
        "title": "Situation report",
        "country": report.country,
        "country_local": report.country_local or "",
        "period": report.period_label,
        "window": f"{fmt.day(report.window_start)} to {fmt.day(report.window_end)}",
        "generated": fmt.day(report.generated_at) + " UTC",
        "attributions": report.attributions,
        "sections": [
            {
                "key": s.key,
                "title": s.title,
                "intro": s.intro or "",
                "facts": [fact_view(f) for f in s.facts],
                "sentences": [
                    {"text": x.text, "severity": x.severity, "mark": MARK[x.severity]}
                    for x in s.sentences
                ],
                "charts": [chart_view(c, svg=svg) for c in s.charts],
                "tables": [table_view(t) for t in s.tables],
                "notes": s.notes,
            }
            for s in report.sections
        ],
    }
