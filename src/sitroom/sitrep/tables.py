"""A chart's data as a table: the text alternative of every chart on screen.

The dashboard draws a chart with vega-embed and puts, under it, its caption
and the numbers it draws in a table behind a toggle (``<details>``), for a
screen reader, a reader without JavaScript, or one who wants the figures.
:func:`chart_table` reads them back from the spec (``sitroom.sitrep.charts``
puts the data inline), so the table and the drawing cannot disagree.
"""

from __future__ import annotations

from typing import Any

from sitroom.sitrep.model import Chart, Column, Kind, Table, Value

#: Column labels and kinds of the fields the charts use, by chart key ("*": any chart).
_FIELDS: dict[str, dict[str, tuple[str, Kind]]] = {
    "*": {
        "date": ("Date", "date"),
        "cases": ("New cases", "count"),
        "avg7": ("7-day average", "count"),
    },
    "rt": {
        "date": ("Last day of the window", "date"),
        "median": ("R, median", "ratio"),
        "low": ("2.5 %", "ratio"),
        "high": ("97.5 %", "ratio"),
    },
    "forecast": {
        "median": ("Forecast median", "count"),
        "q05": ("5 %", "count"),
        "q25": ("25 %", "count"),
        "q75": ("75 %", "count"),
        "q95": ("95 %", "count"),
    },
    "completeness": {
        "date": ("Period", "date"),
        "received": ("Received", "percent"),
        "on time": ("On time", "percent"),
    },
}


#: Maps of whole numbers (aid's shipments and gaps), shown as counts in their table.
COUNT_MAPS = ("map_gap", "map_on_the_way")


def _is_event_layer(rows: list[dict[str, Any]]) -> bool:
    return bool(rows) and all("number" in r and "label" in r for r in rows)


def _layers(spec: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Each layer's inline rows (the spec's own data first), without the events' and rules'."""
    found: list[list[dict[str, Any]]] = []
    seen: set[int] = set()
    for part in [spec, *spec.get("layer", [])]:
        rows = part.get("data", {}).get("values")
        if not isinstance(rows, list) or id(rows) in seen or _is_event_layer(rows):
            continue
        seen.add(id(rows))
        if rows and all(set(r) == {"one"} for r in rows):
            continue  # the reference line at R = 1
        found.append(rows)
    return found


def chart_table(chart: Chart) -> Table:
    """The numbers ``chart`` draws, one row per date (or per region for a map)."""
    layers = _layers(chart.spec)
    if chart.spec.get("mark", {}).get("type") == "geoshape" and layers:
        legend = str(chart.spec.get("encoding", {}).get("color", {}).get("title") or "value")
        kind: Kind = (
            "change"
            if chart.key == "map_change"
            else "count"
            if chart.key in COUNT_MAPS
            else "per100k"
        )
        rows: list[dict[str, Value]] = []
        for region in layers[0]:
            value = region.get("value")
            if kind == "change" and isinstance(value, int | float):
                value = value / 100  # the map draws percentages; the table shows a change
            rows.append({"name": region.get("name"), "value": value})
        rows.sort(key=lambda r: str(r["name"]))
        return Table(
            key=f"{chart.key}-data",
            title=chart.title,
            columns=[
                Column(key="name", label="Region", kind="text"),
                Column(key="value", label=legend[:1].upper() + legend[1:], kind=kind),
            ],
            rows=rows,
        )
    merged: dict[str, dict[str, Value]] = {}
    keys: list[str] = []
    for rows_ in layers:
        for row in rows_:
            day = str(row.get("date"))
            line = merged.setdefault(day, {"date": day})
            if "measure" in row and "share" in row:  # completeness: one row per measure
                pairs = [(str(row["measure"]), row["share"])]
            else:
                pairs = [(k, v) for k, v in row.items() if k != "date"]
            for key, value in pairs:
                line[key] = value
                if key not in keys:
                    keys.append(key)
    labels = {**_FIELDS["*"], **_FIELDS.get(chart.key, {})}
    columns = [Column(key="date", label=labels["date"][0], kind="date")]
    for key in keys:
        label, kind_ = labels.get(key, (key, "count"))
        columns.append(Column(key=key, label=label, kind=kind_))
    return Table(
        key=f"{chart.key}-data",
        title=chart.title,
        columns=columns,
        rows=[merged[d] for d in sorted(merged)],
    )


__all__ = ["chart_table"]
