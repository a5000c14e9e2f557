"""The epidemiology sections: transmission (Rt, growth), forecast, alerts, events.

Each calls the analysis service with the options ``sitroom analyze`` takes
(``sitroom.analysis.service``), on the national cases up to the report's
period. Days without a national figure are filled linearly (the DPRK's
national series has none); the sections say so in their notes.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from sitroom.errors import SitroomError
from sitroom.sitrep import charts
from sitroom.sitrep.formatting import interval, ratio
from sitroom.sitrep.model import Chart, Column, Fact, Section, Sentence, Table
from sitroom.sitrep.sections import Inputs, section

#: Days of observed counts shown before the forecast.
FORECAST_HISTORY = 28


def finite(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def rt_parts(
    rows: list[dict[str, Any]], marks: list[dict[str, Any]]
) -> tuple[Fact | None, Chart | None]:
    """The latest R as a fact and R over time as a chart, from the rt service's rows.

    Shared by the report's transmission section and the dashboard's pages.
    """
    shown = [
        {
            "date": r["window_end"],
            "median": finite(r["median"]),
            "low": finite(r["q025"]),
            "high": finite(r["q975"]),
        }
        for r in rows
    ]
    estimated = [r for r in shown if r["median"] is not None]
    if not estimated:
        return None, None
    last = estimated[-1]
    fact = Fact(
        label="Reproduction number R",
        value=last["median"],
        kind="ratio",
        low=last["low"],
        high=last["high"],
        note=f"7-day window to {last['date']}; 95 % interval",
    )
    spec = charts.rt_chart(estimated, marks, title="Reproduction number R")
    chart = Chart(
        key="rt",
        title=spec["title"],
        caption=charts.with_events(
            "R over 7-day windows (Cori et al.), median line and 95 % band on a log scale:"
            " above the dotted line at 1 each case infects more than one person and cases"
            " grow; below it they fall.",
            spec,
            marks,
        ),
        spec=spec,
        time=True,
    )
    return fact, chart


@section("transmission", "Transmission", order=500)
def transmission(inputs: Inputs) -> Section:
    from sitroom.analysis import service

    facts: list[Fact] = []
    charts_: list[Chart] = []
    notes: list[str] = []
    data: dict[str, Any] = {}
    try:
        rt = service.rt(inputs.context, end=inputs.period, fill="linear")
        data["rt"] = rt.rows
        fact, chart = rt_parts(rt.rows, inputs.event_marks())
        facts += [fact] if fact else []
        charts_ += [chart] if chart else []
        notes += rt.notes
    except SitroomError as exc:
        notes.append(f"R not available: {exc}")
    try:
        growth = service.growth(inputs.context, end=inputs.period, fill="linear")
        data["growth"] = growth.rows[-1:] if growth.rows else []
        if growth.rows:
            g = growth.rows[-1]
            r, low, high = finite(g["r"]), finite(g["r_low"]), finite(g["r_high"])
            facts.append(
                Fact(
                    label="Daily growth rate",
                    value=r,
                    kind="change",
                    low=low,
                    high=high,
                    note=f"log-linear fit over 7 days to {g['date']}; 95 % interval",
                )
            )
            doubling = finite(g["doubling_days"])
            if doubling is not None:
                facts.append(
                    Fact(
                        label="Doubling time" if doubling > 0 else "Halving time",
                        value=abs(doubling),
                        kind="days",
                        note=g["doubling_interval"],
                    )
                )
    except SitroomError as exc:
        notes.append(f"growth not available: {exc}")
    return Section(
        key="transmission",
        title="Transmission",
        facts=facts,
        charts=charts_,
        notes=notes,
        data=data,
    )


@section("forecast", "Forecast", order=600)
def forecast(inputs: Inputs) -> Section:
    from sitroom.analysis import service

    try:
        table = service.forecast(inputs.context, end=inputs.period, fill="linear", horizon=14)
    except SitroomError as exc:
        return Section(key="forecast", title="Forecast, 14 days", notes=[f"no forecast: {exc}"])
    series = inputs.series(inputs.bulletin.country_code, inputs.cases)
    first = inputs.period - timedelta(days=FORECAST_HISTORY - 1)
    observed = [
        {"date": d.isoformat(), "cases": v} for d, v in sorted(series.items()) if d >= first
    ]
    rows = table.rows
    spec = charts.forecast_fan(
        observed, rows, inputs.event_marks(), title="Forecast of new cases, next 14 days"
    )
    facts = []
    for lead in (7, 14):
        if len(rows) >= lead:
            row = rows[lead - 1]
            facts.append(
                Fact(
                    label=f"New cases on {row['date']} (day {lead})",
                    value=finite(row["median"]),
                    low=finite(row["q05"]),
                    high=finite(row["q95"]),
                    note="median and 90 % prediction interval",
                )
            )
    return Section(
        key="forecast",
        title="Forecast, 14 days",
        facts=facts,
        charts=[
            Chart(
                key="forecast",
                title=spec["title"],
                caption=inputs.caption(
                    "Dots: the last four weeks' reported cases; dashed line: the forecast's"
                    " median; bands: 50 % (dark) and 90 % (light) prediction intervals."
                    " Nine days in ten should fall inside the light band if the model is right.",
                    spec,
                ),
                spec=spec,
                time=True,
            )
        ],
        notes=table.notes,
        data={"title": table.title, "rows": rows},
    )


@section("alerts", "Alerts", order=650)
def alerts(inputs: Inputs) -> Section:
    from sitroom.analysis import service

    level = inputs.country.reporting.reporting_level
    sentences: list[Sentence] = []
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    try:
        national = service.alerts(inputs.context, end=inputs.period, fill="linear")
        last = national.rows[-1]
        rows.append({"org_unit": inputs.bulletin.country_code, **last})
    except SitroomError as exc:
        notes.append(f"national alerts not available: {exc}")
    try:
        regional = service.alerts(
            inputs.context, end=inputs.period, fill="linear", level=level, latest=True
        )
        rows += regional.rows
    except SitroomError as exc:
        notes.append(f"regional alerts not available: {exc}")
    names = inputs.names
    methods = ("c1", "c2", "c3", "cusum")
    table_rows = []
    for row in rows:
        raised = [m.upper() for m in methods if row.get(f"{m}_alarm")]
        if raised:
            sentences.append(
                Sentence(
                    text=f"{names.get(row['org_unit'], row['org_unit'])}: {', '.join(raised)}"
                    f" alarm on {row['date']} ({row['count']:,.0f} new cases).",
                    severity="warning",
                )
            )
            table_rows.append(
                {
                    "name": names.get(row["org_unit"], row["org_unit"]),
                    "count": row["count"],
                    "alarms": ", ".join(raised),
                }
            )
    if rows and not sentences:
        sentences.append(Sentence(text="No alarm on the period's counts.", severity="ok"))
    tables = []
    if table_rows:
        tables.append(
            Table(
                key="alarms",
                title="Alarms of the period",
                columns=[
                    Column(key="name", label="Area", kind="text"),
                    Column(key="count", label="New cases"),
                    Column(key="alarms", label="Alarms", kind="text"),
                ],
                rows=table_rows,
                caption="EARS C1-C3 (a count far above the last week's) and CUSUM (a lasting"
                " rise); days a region did not report are interpolated.",
            )
        )
    return Section(
        key="alerts",
        title="Alerts",
        intro="EARS C1, C2, C3 and CUSUM on the period's new cases, nationally and by region.",
        sentences=sentences,
        tables=tables,
        notes=notes,
        data={"rows": rows},
    )


def events_with_change(inputs: Inputs, records: list[Any]) -> tuple[list[Any], list[str]]:
    """The events as marks, with the change of R across each (``analyze rt --events``)."""
    from sitroom.analysis import service
    from sitroom.sitrep.sections import record_events

    marks = record_events(records)
    notes: list[str] = []
    if not marks:
        return marks, notes
    try:
        table = service.rt(inputs.context, end=inputs.period, fill="linear", events=True)
    except SitroomError as exc:
        return marks, [f"change of R not available: {exc}"]
    by_day = {
        date.fromisoformat(row["window_start"]): row
        for row in table.rows
        if row.get("event") is not None
    }
    for mark in marks:
        found = by_day.get(mark.day)
        if found is not None:
            mark.change = finite(found["change"])
            mark.change_low = finite(found["change_low"])
            mark.change_high = finite(found["change_high"])
    return marks, notes


@section("events", "Events", order=900)
def events(inputs: Inputs) -> Section:
    rows = []
    sentences = []
    for i, e in enumerate(inputs.events, start=1):
        rows.append(
            {
                "number": i,
                "day": e.day.isoformat(),
                "title": e.title,
                "org_unit": inputs.names.get(e.org_unit, e.org_unit),
                "change": e.change,
                "change_interval": interval(e.change_low, e.change_high, "ratio") or None,
            }
        )
        if e.change is not None and e.change_high is not None and e.change_low is not None:
            if e.change_high < 1:
                verdict = "R fell after it"
            elif e.change_low > 1:
                verdict = "R rose after it"
            else:
                verdict = "no clear change of R"
            sentences.append(
                Sentence(
                    text=f"{i}. {e.title} ({e.day}): R after / R before = {ratio(e.change)}"
                    f" {interval(e.change_low, e.change_high, 'ratio')}; {verdict}"
                    " (a change in time, not proof that the event caused it).",
                    severity="info",
                )
            )
    if not rows:
        return Section(
            key="events",
            title="Events",
            notes=["no events recorded up to this period (`sitroom events add`)"],
        )
    return Section(
        key="events",
        title="Events",
        intro="Dated events of the country and its regions, drawn on every time chart by number.",
        sentences=sentences,
        tables=[
            Table(
                key="events",
                title="Events and the change of R across each",
                columns=[
                    Column(key="number", label="No.", kind="text"),
                    Column(key="day", label="Day", kind="date"),
                    Column(key="title", label="Event", kind="text"),
                    Column(key="org_unit", label="Where", kind="text"),
                    Column(key="change", label="R after / before", kind="ratio"),
                    Column(key="change_interval", label="95 % interval", kind="text"),
                ],
                rows=rows,
                caption="R in the windows between events (Cori et al.); the change is R after the"
                " event over R before it: below 1, transmission fell. An event before the second"
                " day of the series has no window before it and no change.",
            )
        ],
        data={"events": [e.model_dump(mode="json") for e in inputs.events]},
    )
