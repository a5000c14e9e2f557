"""The dashboard's pages as typed contexts, each built by one function from the services.

One function builds each page's context (:func:`overview`, :func:`region`,
:func:`quality`, :func:`analytics`, :func:`events`); the HTML page renders
it (``dashboard.py`` with the ``dash_*.html`` templates) and the JSON twin
(the same URL with ``.json``) serialises it: ``Dashboard.model_dump``. The
blocks are the situation report's (:mod:`sitroom.sitrep.model`: facts,
sentences, tables, charts), so the overview *is* the report of the period
(``build_report``), and the charts are ``sitroom.sitrep.charts``'s specs.

Nothing here reads the database but through the services, and nothing
checks permissions but :func:`sitroom.auth.access.authorized_unit`: each
builder takes the signed-in :class:`Principal` and refuses (ForbiddenError)
a unit outside the user's scopes.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sitroom.errors import SitroomError
from sitroom.sitrep import charts
from sitroom.sitrep.builders import rate, seven_day_curve
from sitroom.sitrep.epi_sections import rt_parts
from sitroom.sitrep.formatting import count, percent
from sitroom.sitrep.model import Chart, Column, Fact, Section, Sentence, Table, Value

if TYPE_CHECKING:
    from sitroom.auth.permissions import Principal
    from sitroom.context import AppContext
    from sitroom.places.service import PlaceRecord

Kind = Literal[
    "overview",
    "region",
    "quality",
    "analytics",
    "events",
    "choose",
    # The supply chain's pages (``supply_context``).
    "supply",
    "stockouts",
    "orders",
    "allocation",
    "investigations",
    # Aid coordination's pages (``aid_context``).
    "aid",
    "gap",
    "overdue",
    "timeline",
]
#: The days of history the region page and the quality page show.
HISTORY = 28


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Link(_Model):
    href: str
    text: str


class Choice(_Model):
    """An org unit a form offers."""

    code: str
    name: str
    name_local: str | None = None


class Window(_Model):
    """The analytics page's choice: the org unit and the days analysed."""

    org_unit: str
    start: date | None = None
    end: date | None = None
    choices: list[Choice] = Field(default_factory=list)


class Control(_Model):
    """A field of a page's plain GET form (the supply pages' item, day, filters)."""

    name: str
    label: str
    kind: Literal["select", "date", "number"] = "select"
    value: str = ""
    choices: list[Choice] = Field(default_factory=list)
    hint: str = ""


class Controls(_Model):
    """A page's GET form: where it goes, its fields and its button."""

    action: str
    button: str = "Show"
    fields: list[Control] = Field(default_factory=list)


class Dashboard(_Model):
    """One dashboard page: what the HTML shows and the JSON twin returns."""

    kind: Kind
    title: str
    intro: str = ""
    country: str
    org_unit: str | None = None
    org_unit_name: str | None = None
    org_unit_local: str | None = None
    period: date | None = None
    period_label: str | None = None
    sections: list[Section] = Field(default_factory=list)
    #: Pages this one leads to (the regions of the overview, a region's districts...).
    links: list[Link] = Field(default_factory=list)
    window: Window | None = None
    #: A GET form of the page's choices (the supply pages).
    controls: Controls | None = None
    #: Whether the figures come (in part) from a simulated history: a banner says so.
    simulated: bool = False
    #: Whether it shows records marked illustrative (the demo's aid history): a banner
    #: says what that means, and each such record carries a badge.
    illustrative: bool = False
    attributions: list[str] = Field(default_factory=list)
    #: The data version it was built from (``data_version``): the cache's key.
    version: str = ""


def finite(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


#: The configuration's places, read once per country object (a running server's
#: configuration does not change); ``/`` and every page ask for them.
_PLACES: dict[int, tuple[Any, list[PlaceRecord]]] = {}


def _places(context: AppContext) -> list[PlaceRecord]:
    from sitroom.places.service import read_places

    country = context.country
    found = _PLACES.get(id(country))
    if found is None or found[0] is not country:  # an id reused by another object
        found = (country, read_places(country))
        _PLACES[id(country)] = found
    return found[1]


def _reporting_units(context: AppContext, principal: Principal) -> list[PlaceRecord]:
    """The reporting level's units inside the user's scopes."""
    level = context.country.reporting.reporting_level
    paths = _paths(context)
    return [p for p in _places(context) if p.level == level and principal.covers(paths[p.code])]


def _paths(context: AppContext) -> dict[str, str]:
    """Each place's materialised path ("/KP/KP-04/"), from the configuration's hierarchy."""
    places = {p.code: p for p in _places(context)}
    paths: dict[str, str] = {}

    def path(code: str) -> str:
        if code not in paths:
            parent = places[code].parent_code
            paths[code] = (path(parent) if parent else "/") + code + "/"
        return paths[code]

    for code in places:
        path(code)
    return paths


def _authorized(
    context: AppContext, principal: Principal, label: str | None, permission: str = "data.read"
) -> Any:
    """The org unit (the country by default) once the user may read its data (or analyses)."""
    from sitroom.auth.access import authorized_unit

    with context.session() as session:
        unit = authorized_unit(session, context.country, principal, permission, label)
        session.expunge(unit)
        return unit


def _nothing_yet(context: AppContext, period: str | None) -> bool:
    """True when no period is asked for and no national figure is stored yet."""
    from sitroom.errors import NotFoundError
    from sitroom.surveillance.bulletin import latest_bulletin_period

    if period is not None:
        return False
    with context.session() as session:
        try:
            latest_bulletin_period(session, context.country)
        except NotFoundError:
            return True
    return False


def _empty(context: AppContext, kind: Kind, title: str) -> Dashboard:
    """A page of a database without figures: what to do about it, not an error."""
    return Dashboard(
        kind=kind,
        title=title,
        country=context.country.country.name,
        sections=[
            Section(
                key="empty",
                title="No figures yet",
                notes=[
                    "no values are stored yet: import a file (`sitroom import`), or have the"
                    " regions send their day's reports"
                ],
            )
        ],
    )


# The national overview -----------------------------------------------------------


#: Where the dashboard serves the regions' outlines (one file for every map of its pages).
OUTLINES_URL = "/map/outlines.json"


def _outlines_by_url(section: Section) -> Section:
    """``section`` with its maps loading the outlines from :data:`OUTLINES_URL`.

    The report's maps carry them inline (it opens with no network); a page would
    then hold a copy per map (110 kB each for the 13 regions), sent on every request.
    """
    if not any(c.spec.get("mark", {}).get("type") == "geoshape" for c in section.charts):
        return section
    return section.model_copy(
        update={
            "charts": [
                c.model_copy(update={"spec": charts.outlines_from(c.spec, OUTLINES_URL)})
                if c.spec.get("mark", {}).get("type") == "geoshape"
                else c
                for c in section.charts
            ]
        }
    )


def outlines(context: AppContext) -> bytes | None:
    """The regions' outlines as the maps of :data:`OUTLINES_URL` read them (GeoJSON), or
    None when the country configuration has no boundaries."""
    import json

    from sitroom.sitrep.builders import _geojson

    config = context.country.map
    if config is None:
        return None
    shapes = charts.outlines(_geojson(config.path(context.country.folder)), config.key)
    return json.dumps(
        {"type": "FeatureCollection", "features": shapes}, separators=(",", ":")
    ).encode()


def overview(context: AppContext, principal: Principal, period: str | None) -> Dashboard:
    """The national overview: the situation report of ``period`` (the latest by default).

    Needs the country in the user's scopes (ForbiddenError otherwise).
    """
    from sitroom.sitrep.build import build_report

    _authorized(context, principal, None)
    if _nothing_yet(context, period):
        return _empty(context, "overview", f"{context.country.country.name}: national overview")
    keep = {
        "headline",
        "tables",
        "curve",
        "map",
        "transmission",
        "forecast",
        "alerts",
        "reporting",
        "quality",
    }
    # Only the sections shown: the others (medicines, aid) would cost time for nothing.
    report = build_report(context, period, only=keep)
    sections = [_outlines_by_url(s) for s in report.sections if s.key in keep]
    links = [
        Link(href=f"/regions/{row['code']}", text=str(row["name"]))
        for s in sections
        for t in s.tables
        if t.key == "regional"
        for row in t.rows
    ]
    return Dashboard(
        kind="overview",
        title=f"{report.country}: national overview",
        intro=f"The situation on {report.period_label}, from the reports of the regions and"
        " the national figures as broadcast. The same numbers as the situation report.",
        country=report.country,
        org_unit=report.country_code,
        org_unit_name=report.country,
        org_unit_local=report.country_local,
        period=report.period,
        period_label=report.period_label,
        sections=sections,
        links=links,
        attributions=report.attributions,
    )


# A region ------------------------------------------------------------------------


def region(  # noqa: PLR0915  (the page's sections in reading order, each a few lines)
    context: AppContext, principal: Principal, code: str, period: str | None
) -> Dashboard:
    """A region's page: its figures, curve, R, alerts, reporting and districts.

    NotFoundError for an unknown code, ForbiddenError outside the user's scopes.
    """
    from sitroom.analysis import service
    from sitroom.events.service import list_events
    from sitroom.surveillance.bulletin import bulletin_for
    from sitroom.surveillance.reporting import completeness_report
    from sitroom.surveillance.service import fetch_values

    unit = _authorized(context, principal, code)
    if _nothing_yet(context, period):
        return _empty(context, "region", unit.name)
    country = context.country
    roles = country.roles.named()
    cases = roles["cases"]
    with context.session() as session:
        bulletin = bulletin_for(session, country, period)
        end = bulletin.period
        recorded = list_events(session, unit.code, end=end)
        elements = [roles[p] for p in ("cases", "deaths", "active") if p in roles]
        values = fetch_values(session, end=end, org_units=[unit.code], elements=elements)
        report = completeness_report(
            session,
            country,
            start=end - timedelta(days=HISTORY - 1),
            end=end,
            include=lambda path: path.startswith(unit.path),
        )
    marks = charts.event_marks(recorded)
    series = {p: row[cases] for (u, p), row in sorted(values.items()) if cases in row}
    line = next((r for r in bulletin.regions if r.code == unit.code), None)
    status = bulletin.completeness
    state = (
        "missing"
        if unit.code in status.missing
        else "late"
        if unit.code in status.late
        else "on time"
    )
    sections: list[Section] = []

    # Figures.
    facts: list[Fact] = []
    labels = bulletin.labels
    own: dict[str, Any] = dict(line.values) if line else dict(values.get((unit.code, end), {}))
    for element in elements:
        facts.append(Fact(label=labels.get(element, element), value=own.get(element)))
    facts.append(
        Fact(
            label="New cases per 100,000 people",
            value=rate(own.get(cases), unit.population),
            kind="per100k",
        )
    )
    facts.append(Fact(label="Cumulative cases (days reported)", value=sum(series.values())))
    facts.append(Fact(label="Report", value=state, kind="text"))
    sections.append(
        Section(
            key="headline",
            title="Figures",
            intro=f"{unit.name} on {bulletin.period_label}.",
            facts=facts,
        )
    )

    # Curve.
    if series:
        rows = seven_day_curve(series, min(series), end)
        label = labels.get(cases, cases)
        spec = charts.epicurve(rows, marks, title=f"{label}, {unit.name}, per day")
        sections.append(
            Section(
                key="curve",
                title="Epidemic curve",
                facts=[Fact(label="7-day average of new cases", value=rows[-1]["avg7"])],
                charts=[
                    Chart(
                        key="curve",
                        title=spec["title"],
                        caption=charts.with_events(
                            "Bars: new cases the region reported each day (persons); line: their"
                            " 7-day average. Gaps are days the region did not report.",
                            spec,
                            marks,
                        ),
                        spec=spec,
                        time=True,
                    )
                ],
            )
        )
    else:
        sections.append(
            Section(key="curve", title="Epidemic curve", notes=["no values reported yet"])
        )

    # Transmission.
    sections.append(_rt_section(context, unit.code, None, end, marks))

    # Alerts.
    notes: list[str] = []
    sentences: list[Sentence] = []
    alarm_rows: list[dict[str, Value]] = []
    try:
        table = service.alerts(context, org_unit=unit.code, end=end, fill="linear")
        recent = [
            r for r in table.rows if date.fromisoformat(r["date"]) > end - timedelta(days=HISTORY)
        ]
        for r in recent:
            raised = [m.upper() for m in ("c1", "c2", "c3", "cusum") if r.get(f"{m}_alarm")]
            if raised:
                alarm_rows.append(
                    {"date": r["date"], "count": r["count"], "alarms": ", ".join(raised)}
                )
        if not alarm_rows:
            sentences.append(Sentence(text=f"No alarm in the last {HISTORY} days.", severity="ok"))
        else:
            sentences.append(
                Sentence(
                    text=f"{len(alarm_rows)} day(s) with an alarm in the last {HISTORY} days,"
                    f" the last on {alarm_rows[-1]['date']}.",
                    severity="warning",
                )
            )
        notes += table.notes[:1]
    except SitroomError as exc:
        notes.append(f"alerts not available: {exc}")
    sections.append(
        Section(
            key="alerts",
            title="Alerts",
            intro="EARS C1, C2, C3 and CUSUM on the region's daily new cases (days not reported"
            " are interpolated).",
            sentences=sentences,
            tables=[_alarm_table(alarm_rows)] if alarm_rows else [],
            notes=notes,
        )
    )

    # Reporting.
    sections.append(_reporting_section(report, marks, unit.name, unit.code))

    # Districts.
    districts = [p for p in _places(context) if p.parent_code == unit.code]
    links: list[Link] = []
    if districts:
        with context.session() as session:
            got = fetch_values(
                session,
                start=end - timedelta(days=6),
                end=end,
                org_units=[d.code for d in districts],
                elements=[cases],
            )
        reported = {u for (u, _p) in got}
        if reported:
            rows_ = []
            for d in districts:
                week = [row[cases] for (u, _p), row in got.items() if u == d.code and cases in row]
                rows_.append(
                    {
                        "code": d.code,
                        "name": d.name,
                        "name_local": d.name_local,
                        "new": got.get((d.code, end), {}).get(cases),
                        "week": sum(week) if week else None,
                        "week_per100k": rate(sum(week), d.population) if week else None,
                    }
                )
            rows_.sort(key=lambda r: (r["week"] is None, -float(r["week"] or 0), str(r["code"])))
            sections.append(
                Section(
                    key="districts",
                    title="Districts",
                    tables=[
                        Table(
                            key="districts",
                            title=f"Districts of {unit.name}",
                            columns=[
                                Column(key="name", label="District", kind="text"),
                                Column(key="name_local", label="Local name", kind="text"),
                                Column(key="new", label=f"New cases, {bulletin.period_label}"),
                                Column(key="week", label="New cases, last 7 days"),
                                Column(
                                    key="week_per100k",
                                    label="Last 7 days per 100,000",
                                    kind="per100k",
                                ),
                            ],
                            rows=rows_,
                            caption="Ranked by the last 7 days' cases.",
                        )
                    ],
                )
            )
        else:
            sections.append(
                Section(
                    key="districts", title="Districts", notes=["no district has reported values"]
                )
            )
    return Dashboard(
        kind="region",
        title=unit.name,
        intro=f"{unit.name} ({unit.code}) on {bulletin.period_label}: its own reports.",
        country=country.country.name,
        org_unit=unit.code,
        org_unit_name=unit.name,
        org_unit_local=unit.name_local,
        period=end,
        period_label=bulletin.period_label,
        sections=sections,
        links=links,
    )


def _alarm_table(rows: list[dict[str, Value]]) -> Table:
    return Table(
        key="alarms",
        title="Days with an alarm",
        columns=[
            Column(key="date", label="Day", kind="date"),
            Column(key="count", label="New cases"),
            Column(key="alarms", label="Alarms", kind="text"),
        ],
        rows=rows,
        caption="EARS C1-C3: a count far above the last week's; CUSUM: a lasting rise.",
    )


def _rt_section(
    context: AppContext,
    code: str,
    start: date | None,
    end: date,
    marks: list[dict[str, Any]],
) -> Section:
    from sitroom.analysis import service

    facts: list[Fact] = []
    charts_: list[Chart] = []
    notes: list[str] = []
    try:
        rt = service.rt(context, org_unit=code, start=start, end=end, fill="linear")
        fact, chart = rt_parts(rt.rows, marks)
        facts += [fact] if fact else []
        charts_ += [chart] if chart else []
        notes += rt.notes[:1]
    except SitroomError as exc:
        notes.append(f"R not available: {exc}")
    try:
        growth = service.growth(context, org_unit=code, start=start, end=end, fill="linear")
        if growth.rows:
            g = growth.rows[-1]
            facts.append(
                Fact(
                    label="Daily growth rate",
                    value=finite(g["r"]),
                    kind="change",
                    low=finite(g["r_low"]),
                    high=finite(g["r_high"]),
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
        key="transmission", title="Transmission", facts=facts, charts=charts_, notes=notes
    )


def _reporting_section(
    report: Any, marks: list[dict[str, Any]], where: str, code: str | None
) -> Section:
    """Completeness and timeliness per period over ``report``'s range (a completeness report)."""
    rows: list[dict[str, Any]] = []
    for p in report.periods:
        rows.append({"date": p.period.isoformat(), "measure": "received", "share": p.completeness})
        rows.append({"date": p.period.isoformat(), "measure": "on time", "share": p.timeliness})
    facts: list[Fact] = []
    sentences: list[Sentence] = []
    if report.periods:
        expected = sum(p.expected for p in report.periods)
        received = sum(p.received for p in report.periods)
        on_time = sum(p.on_time for p in report.periods)
        facts = [
            Fact(
                label=f"Completeness, {len(report.periods)} periods",
                value=received / expected if expected else None,
                kind="percent",
                note=f"{count(received)} of {count(expected)} reports received",
            ),
            Fact(
                label=f"Timeliness, {len(report.periods)} periods",
                value=on_time / expected if expected else None,
                kind="percent",
                note=f"{count(on_time)} of {count(expected)} on time",
            ),
        ]
        last = report.periods[-1]
        names = report.reporters
        if last.missing:
            sentences.append(
                Sentence(
                    text=f"Missing on {last.period_label}: "
                    + ", ".join(names.get(c, c) for c in last.missing)
                    + ".",
                    severity="warning",
                )
            )
        if last.late:
            sentences.append(
                Sentence(
                    text=f"Late on {last.period_label}: "
                    + ", ".join(names.get(c, c) for c in last.late)
                    + ".",
                    severity="warning",
                )
            )
        if not last.missing and not last.late:
            sentences.append(
                Sentence(text=f"Every report of {last.period_label} came on time.", severity="ok")
            )
    charts_: list[Chart] = []
    if rows:
        spec = charts.completeness_chart(
            rows, marks, title=f"Reports received and on time, {where}, last {HISTORY} days"
        )
        charts_.append(
            Chart(
                key="completeness",
                title=spec["title"],
                caption=charts.with_events(
                    "Share of the expected reports that arrived (solid) and that arrived before"
                    " the deadline (dashed), per period.",
                    spec,
                    marks,
                ),
                spec=spec,
                time=True,
            )
        )
    by_unit = Table(
        key="by_unit",
        title="Reports per unit",
        columns=[
            Column(key="name", label="Unit", kind="text"),
            Column(key="expected", label="Expected"),
            Column(key="received", label="Received"),
            Column(key="on_time", label="On time"),
            Column(key="completeness", label="Completeness", kind="percent"),
        ],
        rows=[
            {
                "code": u.org_unit,
                "name": u.name,
                "expected": u.expected,
                "received": u.received,
                "on_time": u.on_time,
                "completeness": u.received / u.expected if u.expected else None,
            }
            for u in report.by_unit()
        ],
        caption=f"Over {report.start} to {report.end}.",
    )
    return Section(
        key="reporting",
        title="Completeness and timeliness",
        facts=facts,
        sentences=sentences,
        charts=charts_,
        tables=[by_unit] if code is None else [],
    )


# Data quality ----------------------------------------------------------------------


def quality(context: AppContext, principal: Principal, period: str | None) -> Dashboard:
    """Validation findings (both sides of each rule), completeness over time, credibility.

    Over the user's scopes: the findings of units inside them; the credibility
    checks of the country (or of the user's one region).
    """
    from sitroom.analysis import service
    from sitroom.surveillance.bulletin import bulletin_for
    from sitroom.surveillance.reporting import completeness_report
    from sitroom.surveillance.validation import validate

    _authorized(context, principal, principal.scope_codes[0] if principal.scope_codes else None)
    if _nothing_yet(context, period):
        return _empty(context, "quality", "Data quality")
    country = context.country
    paths = _paths(context)
    names = {p.code: p.name for p in _places(context)}
    with context.session() as session:
        bulletin = bulletin_for(session, country, period)
        end = bulletin.period
        findings = [
            f
            for f in validate(session, country, start=end, end=end)
            if f.org_unit in paths and principal.covers(paths[f.org_unit])
        ]
        report = completeness_report(
            session,
            country,
            start=end - timedelta(days=HISTORY - 1),
            end=end,
            include=principal.covers,
        )
    rows: list[dict[str, Value]] = [
        {
            "org_unit": names.get(f.org_unit, f.org_unit),
            "severity": f.severity,
            "rule": f.name,
            "left": f.left,
            "operator": f.operator,
            "right": f.right,
            "message": f.message,
        }
        for f in findings
    ]
    sentences = [
        Sentence(
            text=f"{len(findings)} finding(s) on {bulletin.period_label}:"
            f" {sum(f.severity == 'error' for f in findings)} error(s),"
            f" {sum(f.severity == 'warning' for f in findings)} warning(s).",
            severity="warning" if findings else "ok",
        )
    ]
    validation = Section(
        key="validation",
        title="Validation findings",
        intro="The country's rules and the outlier screen on the period's values, with both"
        " sides of each rule (as `sitroom validate`).",
        sentences=sentences,
        tables=[
            Table(
                key="findings",
                title=f"Findings of {bulletin.period_label}",
                columns=[
                    Column(key="org_unit", label="Unit", kind="text"),
                    Column(key="severity", label="Severity", kind="text"),
                    Column(key="rule", label="Rule", kind="text"),
                    Column(key="left", label="Left side"),
                    Column(key="operator", label="Op.", kind="text"),
                    Column(key="right", label="Right side"),
                    Column(key="message", label="What it says", kind="text"),
                ],
                rows=rows,
                caption="A rule holds when its left side compares to its right side as the"
                " operator says; each row is one that does not.",
            )
        ]
        if rows
        else [],
    )
    single = principal.scope_codes[0] if len(principal.scope_codes) == 1 else None
    where = names.get(single, single) if single else "your scopes"
    reporting = _reporting_section(report, [], where or "", None)
    # The checks of one place: the country for whoever covers it, else the user's one
    # region; a user of several regions reads them on each region's page.
    national = principal.covers(f"/{country.country.code}/")
    credibility_unit = country.country.code if national else single
    cred_sentences: list[Sentence] = []
    notes: list[str] = []
    cred_rows: list[dict[str, Any]] = []
    try:
        if credibility_unit is None:
            raise SitroomError(
                "the credibility checks are of one place: open each of your regions' pages"
            )
        table = service.credibility(context, org_unit=credibility_unit, end=end)
        cred_rows = table.rows
        for row in table.rows:
            cred_sentences.append(
                Sentence(
                    text=f"{bulletin.labels.get(row['element'], row['element'])}:"
                    f" {row['sentence']}",
                    severity="ok" if row["verdict"] == "pass" else "warning",
                )
            )
        notes += table.notes
    except SitroomError as exc:
        notes.append(f"credibility checks not available: {exc}")
    credibility = Section(
        key="credibility",
        title="Credibility",
        intro=(
            f"Can the numbers of {names.get(credibility_unit, credibility_unit)} be trusted?"
            " One sentence per check, up to the period."
            if credibility_unit
            else "Can the numbers be trusted? The checks are of one place at a time."
        ),
        sentences=cred_sentences,
        notes=notes,
        data={"rows": cred_rows},
    )
    return Dashboard(
        kind="quality",
        title="Data quality",
        intro=f"Validation, reporting and credibility on {bulletin.period_label}, over {where}.",
        country=country.country.name,
        org_unit=single,
        org_unit_name=names.get(single) if single else None,
        period=end,
        period_label=bulletin.period_label,
        sections=[validation, reporting, credibility],
    )


# Analytics -------------------------------------------------------------------------


def choices(context: AppContext, principal: Principal) -> list[Choice]:
    """The org units the analytics form offers: the country if in scope, then the regions."""
    paths = _paths(context)
    out = []
    for p in _places(context):
        if p.level == 1 and principal.covers(paths[p.code]):
            out.append(Choice(code=p.code, name=p.name, name_local=p.name_local))
    out += [
        Choice(code=p.code, name=p.name, name_local=p.name_local)
        for p in _reporting_units(context, principal)
    ]
    return out


def analytics(  # noqa: PLR0915  (the page's sections in reading order, each a few lines)
    context: AppContext,
    principal: Principal,
    org_unit: str | None,
    start: date | None,
    end: date | None,
) -> Dashboard:
    """Rt, growth, the forecast with its backtest, the nowcast, CFR and alerts of one unit."""
    from sitroom.analysis import service
    from sitroom.auth.permissions import authorize
    from sitroom.events.service import list_events

    authorize(principal, "analysis.read", None)
    offered = choices(context, principal)
    if org_unit is None:
        if not offered:
            raise SitroomError("no org unit in your scopes")
        org_unit = offered[0].code
    unit = _authorized(context, principal, org_unit, "analysis.read")
    code = unit.code
    if start is not None and end is not None and start > end:
        raise SitroomError(f"the window starts ({start}) after it ends ({end})")
    with context.session() as session:
        recorded = list_events(session, code, end=end)
    marks = charts.event_marks(recorded)
    data_end = end
    if data_end is None:
        from sitroom.surveillance.bulletin import latest_bulletin_period

        with context.session() as session:
            data_end = latest_bulletin_period(session, context.country)
    if data_end is None:
        raise SitroomError("no values are stored yet")
    sections = [_rt_section(context, code, start, data_end, marks)]

    # Forecast and its backtest.
    notes: list[str] = []
    facts: list[Fact] = []
    charts_: list[Chart] = []
    tables: list[Table] = []
    try:
        fc = service.forecast(
            context, org_unit=code, start=start, end=data_end, fill="linear", horizon=14
        )
        from sitroom.surveillance.service import fetch_values

        cases = context.country.roles.cases
        with context.session() as session:
            got = fetch_values(
                session,
                start=data_end - timedelta(days=HISTORY - 1),
                end=data_end,
                org_units=[code],
                elements=[cases],
            )
        observed = [
            {"date": p.isoformat(), "cases": row[cases]}
            for (_u, p), row in sorted(got.items())
            if cases in row
        ]
        spec = charts.forecast_fan(
            observed, fc.rows, marks, title="Forecast of new cases, next 14 days"
        )
        charts_.append(
            Chart(
                key="forecast",
                title=spec["title"],
                caption=charts.with_events(
                    "Dots: the last four weeks' reported cases; dashed line: the forecast's median;"
                    " bands: 50 % (dark) and 90 % (light) prediction intervals.",
                    spec,
                    marks,
                ),
                spec=spec,
                time=True,
            )
        )
        for lead in (7, 14):
            if len(fc.rows) >= lead:
                row = fc.rows[lead - 1]
                facts.append(
                    Fact(
                        label=f"New cases on {row['date']} (day {lead})",
                        value=finite(row["median"]),
                        low=finite(row["q05"]),
                        high=finite(row["q95"]),
                        note="median and 90 % prediction interval",
                    )
                )
        notes += fc.notes[:1]
        bt = service.forecast(
            context,
            org_unit=code,
            start=start,
            end=data_end,
            fill="linear",
            horizon=7,
            backtest=True,
        )
        tables.append(
            Table(
                key="backtest",
                title="Backtest, 1 to 7 days ahead",
                columns=[
                    Column(key="model", label="Model", kind="text"),
                    Column(key="coverage_50", label="50 % coverage", kind="percent"),
                    Column(key="coverage_90", label="90 % coverage", kind="percent"),
                    Column(key="wis", label="WIS"),
                    Column(key="relative_wis", label="WIS relative to last value", kind="ratio"),
                ],
                rows=[
                    {
                        k: (finite(v) if k != "model" else v)
                        for k, v in r.items()
                        if k in ("model", "coverage_50", "coverage_90", "wis", "relative_wis")
                    }
                    for r in bt.rows
                ],
                caption="Each model forecast from every past day and scored on what came: a"
                " good model covers 50 % and 90 % of the days with its intervals, and has a lower"
                " weighted interval score (WIS) than the naive baselines (below 1 relative).",
            )
        )
    except SitroomError as exc:
        notes.append(f"forecast not available: {exc}")
    sections.append(
        Section(
            key="forecast",
            title="Forecast, 14 days",
            facts=facts,
            charts=charts_,
            tables=tables,
            notes=notes,
        )
    )

    # Nowcast.
    try:
        nc = service.nowcast(context, org_unit=code, as_of=end)
        sections.append(
            Section(
                key="nowcast",
                title="Nowcast",
                intro="The latest periods completed from the revision history (chain ladder):"
                " what the counts will be once every late report is in.",
                tables=[
                    Table(
                        key="nowcast",
                        title="Reported and nowcast, last 14 periods",
                        columns=[
                            Column(key="period", label="Period", kind="date"),
                            Column(key="reported", label="Reported so far"),
                            Column(key="nowcast", label="Nowcast"),
                        ],
                        rows=[
                            {
                                "period": r["period"],
                                "reported": finite(r["reported"]),
                                "nowcast": finite(r["nowcast"]),
                            }
                            for r in nc.rows
                        ],
                    )
                ],
                notes=nc.notes[:1],
            )
        )
    except SitroomError as exc:
        sections.append(Section(key="nowcast", title="Nowcast", notes=[f"not available: {exc}"]))

    # Case fatality.
    try:
        cfr = service.cfr(context, org_unit=code, start=start, end=data_end)
        sections.append(
            Section(
                key="cfr",
                title="Case fatality",
                facts=[
                    Fact(
                        label=f"Case fatality ratio, {r['method']}",
                        value=finite(r.get("estimate")),
                        kind="percent",
                        low=finite(r.get("low")),
                        high=finite(r.get("high")),
                    )
                    for r in cfr.rows
                ],
                notes=cfr.notes[:1],
            )
        )
    except SitroomError as exc:
        sections.append(Section(key="cfr", title="Case fatality", notes=[f"not available: {exc}"]))

    # Alerts.
    try:
        al = service.alerts(
            context, org_unit=code, start=start, end=data_end, fill="linear", only_alarms=True
        )
        alarm_rows: list[dict[str, Value]] = []
        for r in al.rows:
            raised = [m.upper() for m in ("c1", "c2", "c3", "cusum") if r.get(f"{m}_alarm")]
            alarm_rows.append({"date": r["date"], "count": r["count"], "alarms": ", ".join(raised)})
        sections.append(
            Section(
                key="alerts",
                title="Alerts",
                sentences=[
                    Sentence(
                        text=f"{len(alarm_rows)} day(s) with an alarm in the window.",
                        severity="warning" if alarm_rows else "ok",
                    )
                ],
                tables=[_alarm_table(alarm_rows)] if alarm_rows else [],
                notes=al.notes[-1:],
            )
        )
    except SitroomError as exc:
        sections.append(Section(key="alerts", title="Alerts", notes=[f"not available: {exc}"]))
    window = Window(org_unit=code, start=start, end=end, choices=offered)
    shown = f"{start or 'the first day'} to {end or data_end}"
    return Dashboard(
        kind="analytics",
        title="Analytics",
        intro=f"The analyses of {unit.name} over {shown}, with the options `sitroom analyze`"
        " takes (days not reported filled linearly).",
        country=context.country.country.name,
        org_unit=code,
        org_unit_name=unit.name,
        org_unit_local=unit.name_local,
        period=data_end,
        period_label=data_end.isoformat(),
        sections=sections,
        window=window,
    )


# Events ----------------------------------------------------------------------------


def events(context: AppContext, principal: Principal) -> Dashboard:
    """The dated events of the units in the user's scopes and of the places above them."""
    from sitroom.analysis import service
    from sitroom.events.service import list_events

    _authorized(context, principal, principal.scope_codes[0] if principal.scope_codes else None)
    paths = _paths(context)
    names = {p.code: p.name for p in _places(context)}
    with context.session() as session:
        recorded = list_events(session)
    shown = [
        e
        for e in recorded
        if e.org_unit in paths
        and any(
            principal.covers(paths[e.org_unit]) or scope.startswith(paths[e.org_unit])
            for scope in principal.scope_paths
        )
    ]
    country_code = context.country.country.code
    national = principal.covers(paths.get(country_code, f"/{country_code}/"))
    changes: dict[date, Any] = {}
    notes: list[str] = []
    if shown and national:
        try:
            table = service.rt(context, fill="linear", events=True)
            changes = {
                date.fromisoformat(r["window_start"]): r
                for r in table.rows
                if r.get("event") is not None
            }
        except SitroomError as exc:
            notes.append(f"change of R not available: {exc}")
    rows: list[dict[str, Value]] = []
    for i, e in enumerate(shown, start=1):
        change = changes.get(e.day)
        rows.append(
            {
                "number": i,
                "day": e.day.isoformat(),
                "title": e.title,
                "kind": e.kind,
                "org_unit": names.get(e.org_unit, e.org_unit),
                "change": finite(change["change"]) if change else None,
                "change_low": finite(change["change_low"]) if change else None,
                "change_high": finite(change["change_high"]) if change else None,
            }
        )
    columns = [
        Column(key="number", label="No.", kind="text"),
        Column(key="day", label="Day", kind="date"),
        Column(key="title", label="Event", kind="text"),
        Column(key="kind", label="Kind", kind="text"),
        Column(key="org_unit", label="Where", kind="text"),
    ]
    if national:
        columns.append(Column(key="change", label="R after / before", kind="ratio"))
    section = Section(
        key="events",
        title="Events",
        intro="Interventions and changes of the case definition, by day (`sitroom events add`);"
        " the time charts draw them by number."
        + (
            " R after / before: the change of the national R across each (below 1, it fell)."
            if national
            else ""
        ),
        tables=[Table(key="events", title="Events", columns=columns, rows=rows)] if rows else [],
        notes=notes if rows else [*notes, "no events recorded (`sitroom events add`)"],
    )
    return Dashboard(
        kind="events",
        title="Events",
        country=context.country.country.name,
        sections=[section],
    )


def data_version(context: AppContext) -> str:
    """What the dashboard's figures depend on, cheap to read on every request.

    Every write of values is an import run (files, the API, the web form), an
    approval or un-approval adds or removes a row, and events are rows: the
    highest ids and the counts change whenever the data do.
    """
    from sqlalchemy import func, select

    from sitroom.events.models import Event
    from sitroom.surveillance.models import Approval, ImportRun

    with context.session() as session:
        got = session.execute(
            select(
                select(func.max(ImportRun.id)).scalar_subquery(),
                select(func.count(Approval.id)).scalar_subquery(),
                select(func.max(Approval.id)).scalar_subquery(),
                select(func.count(Event.id)).scalar_subquery(),
                select(func.max(Event.id)).scalar_subquery(),
            )
        ).one()
    return "-".join(str(x or 0) for x in got)


__all__ = [
    "Dashboard",
    "analytics",
    "choices",
    "data_version",
    "events",
    "overview",
    "percent",
    "quality",
    "region",
]
