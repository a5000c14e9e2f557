"""The surveillance sections: headline, tables, curve, map, reporting, data quality.

Each builder reads what it needs through the services (the bulletin, the
values service, completeness, validation) via :class:`Inputs`, never SQL.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sitroom.errors import SitroomError
from sitroom.sitrep import charts
from sitroom.sitrep.formatting import count, percent
from sitroom.sitrep.model import Chart, Column, Fact, Section, Sentence, Table, Value
from sitroom.sitrep.sections import Inputs, section

#: The headline's figures, in the broadcast's order, by the part they play ([roles]).
HEADLINE_PARTS = (
    "cases",
    "recovered",
    "deaths",
    "cumulative_cases",
    "cumulative_recovered",
    "active",
    "cumulative_deaths",
    "tested",
    "confirmed",
)
PER = 100_000


def rate(value: float | None, population: int | None) -> float | None:
    """``value`` per 100,000 of ``population``; None when either is unknown."""
    if value is None or not population:
        return None
    return value * PER / population


def mean_over(series: dict[date, int], last: date, days: int, minimum: int) -> float | None:
    """The mean of the values in the ``days`` days ending ``last``, if at least ``minimum``."""
    got = [series[d] for k in range(days) if (d := last - timedelta(days=k)) in series]
    return sum(got) / len(got) if len(got) >= minimum else None


def week_change(series: dict[date, int], last: date) -> float | None:
    """Mean daily count of the week to ``last`` over the week before, minus 1.

    Each week's mean is over the days that reported, at least 3 of 7; None
    otherwise, or when the week before had no case.
    """
    now = mean_over(series, last, 7, 3)
    before = mean_over(series, last - timedelta(days=7), 7, 3)
    if now is None or not before:
        return None
    return now / before - 1


@section("headline", "Headline", order=100)
def headline(inputs: Inputs) -> Section:
    """The national figures as the morning broadcast gave them (the bulletin's)."""
    b = inputs.bulletin
    facts = []
    for part in HEADLINE_PARTS:
        code = b.part(part)
        if code is None:
            continue
        change = b.change(code)
        note = None
        if change is not None and part in ("cases", "recovered", "deaths", "active"):
            sign = "+" if change > 0 else "\u2212" if change < 0 else "±"
            note = f"{sign}{count(abs(change))} on the period before"
        value = b.values.get(code)
        if value is None and part in ("tested", "confirmed"):
            continue  # not counted by this country (the DPRK tested almost nobody)
        if value is None and part == "deaths":
            note = "not reported (the broadcast printed a dash)"
        facts.append(Fact(label=b.labels.get(code, code), value=value, note=note))
    new = b.values.get(b.roles["cases"])
    facts.append(
        Fact(
            label="New cases per 100,000 people",
            value=rate(new, inputs.population),
            kind="per100k",
            note=f"population {count(inputs.population)}" if inputs.population else None,
        )
    )
    window = (
        f"Figures for the {b.period_type} period {b.period_label}: reports received from"
        f" {b.window_start:%Y-%m-%d %H:%M} to {b.window_end:%Y-%m-%d %H:%M}"
        f" ({inputs.country.reporting.time_zone}), as broadcast the next morning."
    )
    return Section(
        key="headline",
        title="Headline",
        intro=window,
        facts=facts,
        data={"values": b.values, "previous": b.previous, "roles": b.roles},
    )


@section("tables", "National and regional figures", order=200)
def tables(inputs: Inputs) -> Section:
    """The country and each reporting unit: new, cumulative, under treatment, deaths, rates."""
    b = inputs.bulletin
    roles = inputs.country.roles.named()
    cases, deaths, active = roles["cases"], roles.get("deaths"), roles.get("active")
    lines = {line.code: line for line in b.regions}
    status = b.completeness
    columns = [
        Column(key="name", label="Region", kind="text"),
        Column(key="name_local", label="Local name", kind="text"),
        Column(key="new", label="New cases"),
        Column(key="cumulative", label="Cumulative cases"),
        Column(key="active", label="Under treatment"),
        Column(key="deaths", label="New deaths"),
        Column(key="cumulative_deaths", label="Cumulative deaths"),
        Column(key="new_per100k", label="New per 100,000", kind="per100k"),
        Column(key="cumulative_per100k", label="Cumulative per 100,000", kind="per100k"),
        Column(key="status", label="Report", kind="text"),
    ]
    rows: list[dict[str, Value]] = []
    for place in inputs.reporters:
        line = lines.get(place.code)
        values = line.values if line else {}
        cumulative = sum(inputs.series(place.code, cases).values())
        cum_deaths = sum(inputs.series(place.code, deaths).values()) if deaths else None
        new = values.get(cases)
        rows.append(
            {
                "code": place.code,
                "name": place.name,
                "name_local": place.name_local,
                "new": new,
                "cumulative": cumulative,
                "active": values.get(active) if active else None,
                "deaths": values.get(deaths) if deaths else None,
                "cumulative_deaths": cum_deaths,
                "new_per100k": rate(new, place.population),
                "cumulative_per100k": rate(cumulative, place.population),
                "population": place.population,
                "status": "missing"
                if place.code in status.missing
                else "late"
                if place.code in status.late
                else "on time",
            }
        )
    rows.sort(key=lambda r: (r["new"] is None, -float(r["new"] or 0), str(r["code"])))

    def total(key: str) -> int | None:
        got = [int(v) for r in rows if isinstance(v := r[key], int | float)]
        return sum(got) if got else None

    regional_total: dict[str, Value] = {
        "name": "Sum of the regions",
        "name_local": None,
        "new": total("new"),
        "cumulative": total("cumulative"),
        "active": total("active"),
        "deaths": total("deaths"),
        "cumulative_deaths": total("cumulative_deaths"),
        "status": f"{status.received} of {status.expected}",
    }
    nat = b.values
    national_cumulative = (
        nat.get(roles["cumulative_cases"]) if "cumulative_cases" in roles else None
    )
    national_row: dict[str, Value] = {
        "name": "National",
        "name_local": inputs.country.country.name_local,
        "new": nat.get(cases),
        "cumulative": national_cumulative,
        "active": nat.get(active) if active else None,
        "deaths": nat.get(deaths) if deaths else None,
        "cumulative_deaths": nat.get(roles["cumulative_deaths"])
        if "cumulative_deaths" in roles
        else None,
        "new_per100k": rate(nat.get(cases), inputs.population),
        "cumulative_per100k": rate(national_cumulative, inputs.population),
        "status": None,
    }
    national = Table(
        key="national",
        title="National figures",
        columns=[c for c in columns if c.key != "status"],
        rows=[national_row],
        caption="The country's own figures as broadcast; cumulative counts are the broadcast's"
        " (since late April for the DPRK). Rates per 100,000 of the census population.",
    )
    sentences = []
    gap = next((r for r in b.regional_sums if r.element == cases), None)
    if gap is not None and gap.own and gap.children_sum is not None:
        sentences.append(
            Sentence(
                text=f"The regions' new cases add up to {count(gap.children_sum)},"
                f" {percent(gap.children_sum / gap.own)} of the national figure"
                f" ({count(gap.own)}; {gap.children_reporting} of {gap.children_total}"
                " regions reporting).",
                severity="info" if gap.gap == 0 else "warning",
            )
        )
    regional = Table(
        key="regional",
        title="Regions",
        columns=columns,
        rows=rows,
        total=regional_total,
        caption="Ranked by new cases. Regional cumulative counts are the sums of the days each"
        " region reported (regions did not report every day), so they fall short of the"
        " national cumulative count. Report: on time, late, or missing for this period.",
    )
    return Section(
        key="tables",
        title="National and regional figures",
        tables=[national, regional],
        sentences=sentences,
    )


def seven_day_curve(series: dict[date, int], first: date, last: date) -> list[dict[str, Any]]:
    """A row a day from ``first`` to ``last``: the count (None: unreported), its 7-day mean."""
    rows = []
    day = first
    while day <= last:
        rows.append(
            {
                "date": day.isoformat(),
                "cases": series.get(day),
                "avg7": mean_over(series, day, 7, 4),
            }
        )
        day += timedelta(days=1)
    return rows


@section("curve", "Epidemic curve", order=300)
def curve(inputs: Inputs) -> Section:
    series = inputs.series(inputs.bulletin.country_code, inputs.cases)
    if not series:
        return Section(key="curve", title="Epidemic curve", notes=["no national values yet"])
    rows = seven_day_curve(series, min(series), inputs.period)
    last = rows[-1]
    week_ago = rows[-8]["avg7"] if len(rows) >= 8 else None
    facts = [
        Fact(label="7-day average of new cases", value=last["avg7"]),
        Fact(
            label="Change of the 7-day average on the week",
            value=None if not week_ago or last["avg7"] is None else last["avg7"] / week_ago - 1,
            kind="change",
        ),
    ]
    label = inputs.bulletin.labels.get(inputs.cases, inputs.cases)
    spec = charts.epicurve(rows, inputs.event_marks(), title=f"{label}, national, per day")
    chart = Chart(
        key="curve",
        title=spec["title"],
        caption=inputs.caption(
            "Bars: new cases reported each day (persons); line: their 7-day average."
            " Dashed lines mark the numbered events. Read the trend from the line: it smooths"
            " the day-to-day noise of reporting.",
            spec,
        ),
        spec=spec,
        time=True,
    )
    return Section(
        key="curve", title="Epidemic curve", facts=facts, charts=[chart], data={"rows": rows}
    )


@cache
def _geojson(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@section("map", "Map", order=400)
def regional_map(inputs: Inputs) -> Section:
    config = inputs.country.map
    if config is None:
        return Section(
            key="map",
            title="Map",
            notes=["the country configuration gives no boundaries ([map]): no map"],
        )
    geojson = _geojson(config.path(inputs.country.folder))
    names = {p.code: p.name for p in inputs.reporters}
    lines = {line.code: line for line in inputs.bulletin.regions}
    per100k: dict[str, float | None] = {}
    change: dict[str, float | None] = {}
    for place in inputs.reporters:
        line = lines.get(place.code)
        per100k[place.code] = rate(
            line.values.get(inputs.cases) if line else None, place.population
        )
        series = inputs.series(place.code, inputs.cases)
        change[place.code] = week_change(series, inputs.period)
    first = charts.choropleth(
        geojson,
        config.key,
        per100k,
        names,
        title="New cases per 100,000 people",
        legend="new cases per 100,000",
        number_format=",.0f"
        if max((v for v in per100k.values() if v), default=0) >= 100
        else ",.1f",
    )
    second = charts.choropleth(
        {"features": geojson.get("features", [])},
        config.key,
        {k: None if v is None else v * 100 for k, v in change.items()},
        names,
        title="Change on the week",
        legend="change of the daily mean, %",
        diverging=True,
        number_format="+.0f",
    )
    return Section(
        key="map",
        title="Map",
        charts=[
            Chart(
                key="map_rate",
                title=first["title"],
                caption=f"Each region coloured by its new cases of {inputs.bulletin.period_label}"
                " per 100,000 people (2008 census): darker is more. Grey: no report.",
                spec=first,
                attribution=config.attribution,
            ),
            Chart(
                key="map_change",
                title=second["title"],
                caption="Mean daily new cases of the last 7 days against the 7 days before, in %:"
                " orange rising, blue falling. Grey: fewer than 3 reports in a week.",
                spec=second,
                attribution=config.attribution,
            ),
        ],
        data={"per100k": per100k, "week_change": change},
    )


@section("reporting", "Completeness and timeliness", order=700)
def reporting(inputs: Inputs) -> Section:
    from sitroom.surveillance.reporting import completeness_report

    status = inputs.bulletin.completeness
    names = inputs.names
    start = inputs.period - timedelta(days=27)
    with inputs.context.session() as session:
        report = completeness_report(session, inputs.country, start=start, end=inputs.period)
    facts = [
        Fact(
            label="Completeness",
            value=status.completeness,
            kind="percent",
            note=f"{status.received} of {status.expected} reports received",
        ),
        Fact(
            label="Timeliness",
            value=status.timeliness,
            kind="percent",
            note=f"{status.on_time} of {status.expected} on time",
        ),
    ]
    sentences = []
    if status.missing:
        sentences.append(
            Sentence(
                text="Missing: " + ", ".join(names.get(c, c) for c in status.missing) + ".",
                severity="warning",
            )
        )
    if status.late:
        sentences.append(
            Sentence(
                text="Late: " + ", ".join(names.get(c, c) for c in status.late) + ".",
                severity="warning",
            )
        )
    if not status.missing and not status.late:
        sentences.append(Sentence(text="Every region reported on time.", severity="ok"))
    rows = []
    for p in report.periods:
        rows.append({"date": p.period.isoformat(), "measure": "received", "share": p.completeness})
        rows.append({"date": p.period.isoformat(), "measure": "on time", "share": p.timeliness})
    spec = charts.completeness_chart(
        rows, inputs.event_marks(), title="Reports received and on time, last 4 weeks"
    )
    return Section(
        key="reporting",
        title="Completeness and timeliness",
        facts=facts,
        sentences=sentences,
        charts=[
            Chart(
                key="completeness",
                title=spec["title"],
                caption=inputs.caption(
                    "Share of the expected regional reports that arrived (solid) and that"
                    " arrived before the deadline (dashed), per period: a dip means regions"
                    " missing from that day's tables.",
                    spec,
                ),
                spec=spec,
                time=True,
            )
        ],
        data={"period": status.to_dict(), "periods": [p.to_dict() for p in report.periods]},
    )


#: How a credibility check's verdict reads.
VERDICT_SEVERITY = {"pass": "ok", "fail": "warning"}


@section("quality", "Data quality", order=800)
def quality(inputs: Inputs) -> Section:
    from sitroom.analysis import service

    names = inputs.names
    sentences = []
    for f in inputs.bulletin.findings:
        where = names.get(f.org_unit, f.org_unit)
        severity = f.severity if f.severity in ("error", "warning") else "info"
        sentences.append(Sentence(text=f"{where}: {f.message}.", severity=severity))
    if not inputs.bulletin.findings:
        sentences.append(
            Sentence(text="Validation: every rule holds and no value is an outlier.", severity="ok")
        )
    notes = []
    credibility: list[Sentence] = []
    rows: list[dict[str, Any]] = []
    try:
        table = service.credibility(inputs.context, end=inputs.period)
        rows = table.rows
        for row in rows:
            label = inputs.bulletin.labels.get(row["element"], row["element"])
            credibility.append(
                Sentence(
                    text=f"{label}: {row['sentence']}",
                    severity=VERDICT_SEVERITY.get(row["verdict"], "info"),
                )
            )
    except SitroomError as exc:  # a check that cannot run is named, not fatal
        notes.append(f"credibility checks not available: {exc}")
    return Section(
        key="quality",
        title="Data quality",
        intro="Validation findings of the period (the country's rules and the outlier screen),"
        " then the credibility checks of the national series up to the period.",
        sentences=sentences + credibility,
        notes=notes,
        data={
            "findings": [f.to_dict() for f in inputs.bulletin.findings],
            "credibility": rows,
        },
    )
