"""The report's charts as Vega-Lite specs: one definition for the report and the dashboard.

Each function returns a plain ``dict`` (Vega-Lite v5 JSON, data inline), so
the dashboard can hand it to vega-embed in the browser and the report can
render it to SVG with :func:`to_svg` (vl-convert, imported only then). The
specs are written out rather than built with Altair: they are small, a dict
is what both consumers need, and the report starts without importing
Altair's schema machinery.

Every chart has a title, axes titled with their units, colour-blind-safe
colours (viridis for sequences, a blue-orange diverging scheme centred on
zero for changes), and on a time axis the events drawn as labelled rules
(:func:`event_layers`). The caption that goes with each chart is the
builder's (:mod:`sitroom.sitrep.builders`), beside the spec in the context.
"""

from __future__ import annotations

import threading
from datetime import date
from functools import cache
from typing import Any

from sitroom.sitrep.fonts import FONT_FAMILY, FONTS

Spec = dict[str, Any]

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
#: Width of a full-width chart, in pixels (an A4 page's text width at 96 dpi is about 680).
WIDTH = 620
HEIGHT = 210

#: Colours: dark and light blues of viridis's start, and a contrasting event colour
#: (distinguished by its dash and labels too, never by colour alone).
INK = "#26456e"
LIGHT = "#9ab6d3"
PALE = "#d6e2ef"
EVENT = "#b35806"
GRID = "#e6e6e6"


def config() -> Spec:
    """Fonts and sizes shared by every chart."""
    return {
        "font": FONT_FAMILY,
        "view": {"stroke": None},
        "axis": {
            "labelFontSize": 11,
            "titleFontSize": 11,
            "titleFontWeight": "normal",
            "gridColor": GRID,
        },
        "title": {"fontSize": 13, "anchor": "start", "fontWeight": "bold"},
        "legend": {"labelFontSize": 11, "titleFontSize": 11},
    }


def _base(title: str, layers: list[Spec], *, height: int = HEIGHT) -> Spec:
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": WIDTH,
        "height": height,
        "config": config(),
        "layer": layers,
    }


def _time_x(title: str = "Date (day of the 18:00 cut-off)") -> Spec:
    return {
        "field": "date",
        "type": "temporal",
        "timeUnit": "utcyearmonthdate",
        "title": title,
        "axis": {"format": "%d %b", "labelAngle": 0, "tickCount": 8},
    }


def event_layers(events: list[dict[str, Any]], first: date, last: date) -> list[Spec]:
    """Dashed rules at each event's day inside [first, last], numbered at the top.

    ``events`` are ``{"day": date, "number": int, "label": str}``. The number
    is drawn above its rule (titles would overlap when events are days
    apart); the chart's caption lists the numbers with their titles
    (:func:`events_legend`), and the label is the rule's tooltip.
    """
    shown = [
        {"date": e["day"].isoformat(), "number": str(e["number"]), "label": e["label"]}
        for e in events
        if first <= e["day"] <= last
    ]
    if not shown:
        return []
    x = {"field": "date", "type": "temporal", "timeUnit": "utcyearmonthdate"}
    return [
        {
            "data": {"values": shown},
            "mark": {"type": "rule", "color": EVENT, "strokeDash": [4, 3], "strokeWidth": 1.5},
            "encoding": {"x": x, "tooltip": [{"field": "label", "title": "event"}]},
        },
        {
            "data": {"values": shown},
            "mark": {
                "type": "text",
                "color": EVENT,
                "baseline": "bottom",
                "dy": -2,
                "y": 0,
                "fontSize": 11,
                "fontWeight": "bold",
            },
            "encoding": {"x": x, "text": {"field": "number"}, "tooltip": [{"field": "label"}]},
        },
    ]


def event_marks(events: list[Any]) -> list[dict[str, Any]]:
    """Dated events (anything with ``day`` and ``title``) as the time charts draw them:
    numbered, with their titles."""
    return [{"day": e.day, "number": i, "label": e.title} for i, e in enumerate(events, start=1)]


def with_events(text: str, spec: dict[str, Any], marks: list[dict[str, Any]]) -> str:
    """A time chart's caption ``text``, then the events ``spec`` draws, by number."""
    dates = [
        row["date"]
        for layer in spec.get("layer", [])
        for row in layer.get("data", {}).get("values", [])
        if "date" in row
    ]
    if not dates:
        return text
    legend = events_legend(marks, date.fromisoformat(min(dates)), date.fromisoformat(max(dates)))
    return f"{text} {legend}" if legend else text


def events_legend(events: list[dict[str, Any]], first: date, last: date) -> str:
    """The caption's line naming the events a chart draws: "1 Lockdown (2022-05-12); ..."."""
    shown = [e for e in events if first <= e["day"] <= last]
    if not shown:
        return ""
    return (
        "Events (dashed lines): "
        + "; ".join(f"{e['number']} {e['label']} ({e['day'].isoformat()})" for e in shown)
        + "."
    )


def epicurve(rows: list[dict[str, Any]], events: list[dict[str, Any]], *, title: str) -> Spec:
    """Bars of the daily new cases and a line of their 7-day average.

    ``rows``: ``{"date": "2022-05-15", "cases": int | None, "avg7": float | None}``.
    """
    x = _time_x()
    first, last = date.fromisoformat(rows[0]["date"]), date.fromisoformat(rows[-1]["date"])
    return _base(
        title,
        [
            {
                "data": {"values": rows},
                "mark": {"type": "bar", "color": LIGHT},
                "encoding": {
                    "x": x,
                    "y": {"field": "cases", "type": "quantitative", "title": "persons per day"},
                    "tooltip": [
                        {"field": "date", "type": "temporal", "timeUnit": "utcyearmonthdate"},
                        {"field": "cases", "format": ",.0f", "title": "new cases"},
                    ],
                },
            },
            {
                "data": {"values": rows},
                "mark": {"type": "line", "color": INK, "strokeWidth": 2},
                "encoding": {
                    "x": x,
                    "y": {"field": "avg7", "type": "quantitative"},
                    "tooltip": [{"field": "avg7", "format": ",.0f", "title": "7-day average"}],
                },
            },
            *event_layers(events, first, last),
        ],
    )


def rt_chart(rows: list[dict[str, Any]], events: list[dict[str, Any]], *, title: str) -> Spec:
    """Rt's median (line) and 95 % interval (band) by the window's last day, with R = 1 marked.

    ``rows``: ``{"date", "median", "low", "high"}`` (None where there is no estimate).
    """
    x = _time_x("Last day of the 7-day window")
    first, last = date.fromisoformat(rows[0]["date"]), date.fromisoformat(rows[-1]["date"])
    y_title = "reproduction number R (new infections per case)"
    return _base(
        title,
        [
            {
                "data": {"values": rows},
                "mark": {"type": "area", "color": LIGHT, "opacity": 0.6},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "low",
                        "type": "quantitative",
                        "title": y_title,
                        "scale": {"type": "log"},
                        "axis": {"values": [0.1, 0.2, 0.5, 1, 2, 5, 10, 20]},
                    },
                    "y2": {"field": "high"},
                },
            },
            {
                "data": {"values": rows},
                "mark": {"type": "line", "color": INK, "strokeWidth": 2},
                "encoding": {
                    "x": x,
                    "y": {"field": "median", "type": "quantitative"},
                    "tooltip": [
                        {"field": "date", "type": "temporal", "timeUnit": "utcyearmonthdate"},
                        {"field": "median", "format": ".2f", "title": "R"},
                        {"field": "low", "format": ".2f", "title": "2.5 %"},
                        {"field": "high", "format": ".2f", "title": "97.5 %"},
                    ],
                },
            },
            {
                "data": {"values": [{"one": 1}]},
                "mark": {"type": "rule", "color": "#555555", "strokeDash": [2, 2]},
                "encoding": {"y": {"field": "one", "type": "quantitative"}},
            },
            *event_layers(events, first, last),
        ],
    )


def forecast_fan(
    observed: list[dict[str, Any]],
    forecast: list[dict[str, Any]],
    events: list[dict[str, Any]],
    *,
    title: str,
) -> Spec:
    """The last weeks' counts (points) and the forecast's median with 50 % and 90 % bands.

    ``observed``: ``{"date", "cases"}``; ``forecast``: ``{"date", "median", "q05",
    "q25", "q75", "q95"}``.
    """
    x = _time_x()
    first = date.fromisoformat((observed or forecast)[0]["date"])
    last = date.fromisoformat(forecast[-1]["date"])
    y = {
        "type": "quantitative",
        "title": "persons per day (log scale)",
        "scale": {"type": "log"},
        "axis": {"values": [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000], "format": ",.0f"},
    }
    return _base(
        title,
        [
            {
                "data": {"values": forecast},
                "mark": {"type": "area", "color": PALE},
                "encoding": {"x": x, "y": {"field": "q05", **y}, "y2": {"field": "q95"}},
            },
            {
                "data": {"values": forecast},
                "mark": {"type": "area", "color": LIGHT},
                "encoding": {"x": x, "y": {"field": "q25", **y}, "y2": {"field": "q75"}},
            },
            {
                "data": {"values": forecast},
                "mark": {"type": "line", "color": INK, "strokeWidth": 2, "strokeDash": [5, 2]},
                "encoding": {
                    "x": x,
                    "y": {"field": "median", **y},
                    "tooltip": [
                        {"field": "date", "type": "temporal", "timeUnit": "utcyearmonthdate"},
                        {"field": "median", "format": ",.0f", "title": "median"},
                        {"field": "q05", "format": ",.0f", "title": "5 %"},
                        {"field": "q95", "format": ",.0f", "title": "95 %"},
                    ],
                },
            },
            {
                "data": {"values": observed},
                "mark": {"type": "point", "color": "#000000", "filled": True, "size": 18},
                "encoding": {
                    "x": x,
                    "y": {"field": "cases", **y},
                    "tooltip": [{"field": "cases", "format": ",.0f", "title": "reported"}],
                },
            },
            *event_layers(events, first, last),
        ],
    )


def completeness_chart(
    rows: list[dict[str, Any]], events: list[dict[str, Any]], *, title: str
) -> Spec:
    """Completeness and timeliness per period, as percentages of the expected reports.

    ``rows``: ``{"date", "measure": "received"|"on time", "share": 0..1}``.
    """
    x = _time_x("Reporting period")
    dates = sorted(r["date"] for r in rows)
    first, last = date.fromisoformat(dates[0]), date.fromisoformat(dates[-1])
    return _base(
        title,
        [
            {
                "data": {"values": rows},
                "mark": {"type": "line", "point": True, "strokeWidth": 2},
                "encoding": {
                    "x": x,
                    "y": {
                        "field": "share",
                        "type": "quantitative",
                        "title": "% of expected reports",
                        "axis": {"format": ".0%"},
                        "scale": {"domain": [0, 1]},
                    },
                    "color": {
                        "field": "measure",
                        "type": "nominal",
                        "title": None,
                        "scale": {"domain": ["received", "on time"], "range": [INK, "#5ec962"]},
                        "legend": {"orient": "bottom"},
                    },
                    "strokeDash": {
                        "field": "measure",
                        "type": "nominal",
                        "scale": {"domain": ["received", "on time"], "range": [[1, 0], [5, 3]]},
                        "legend": None,
                    },
                    "tooltip": [
                        {"field": "date", "type": "temporal", "timeUnit": "utcyearmonthdate"},
                        {"field": "measure"},
                        {"field": "share", "format": ".0%"},
                    ],
                },
            },
            *event_layers(events, first, last),
        ],
        height=150,
    )


def _clockwise(geometry: dict[str, Any]) -> dict[str, Any]:
    """``geometry`` with its rings reversed: GeoJSON (RFC 7946) winds exteriors
    counter-clockwise, d3-geo (Vega) wants them clockwise, or a region is drawn
    as the whole globe minus itself."""
    kind = geometry.get("type")
    if kind == "Polygon":
        rings = [list(reversed(r)) for r in geometry["coordinates"]]
        return {"type": kind, "coordinates": rings}
    if kind == "MultiPolygon":
        polygons = [[list(reversed(r)) for r in p] for p in geometry["coordinates"]]
        return {"type": kind, "coordinates": polygons}
    return geometry


def outlines(geojson: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The regions' shapes for a map: each feature with its org-unit code (from
    property ``key``) and its rings wound for d3-geo, nothing else.

    A map's spec looks its regions up in these by code (:func:`choropleth`): inline in
    the report, or from one file the dashboard serves (:func:`outlines_from`).
    """
    return [
        {
            "type": "Feature",
            "geometry": _clockwise(feature["geometry"]),
            "properties": {"code": str(feature.get("properties", {}).get(key, ""))},
        }
        for feature in geojson.get("features", [])
    ]


def choropleth(
    geojson: dict[str, Any],
    key: str,
    values: dict[str, float | None],
    names: dict[str, str],
    *,
    title: str,
    legend: str,
    diverging: bool = False,
    number_format: str = ",.1f",
) -> Spec:
    """The regions coloured by ``values`` (org-unit code -> number; None: grey, no data).

    The data are one row a region of the boundaries (code, name, value); each
    row's shape is looked up by code in :func:`outlines`, carried inline, so the
    spec draws with no network; :func:`outlines_from` points it at a URL instead.
    Sequential viridis for levels; for changes a blue-orange scheme centred on
    0 (both readable with the common colour-vision deficiencies).
    """
    empty = all(v is None for v in values.values())
    shapes = outlines(geojson, key)
    rows = [
        {
            "code": code,
            "name": names.get(code, code),
            "value": values.get(code),
        }
        for code in (str(f["properties"]["code"]) for f in shapes)
    ]
    colour: Spec = {
        "field": "value",
        "type": "quantitative",
        "title": legend,
        "legend": {
            "orient": "bottom",
            "direction": "horizontal",
            "gradientLength": 220,
            "format": number_format,
        },
        "scale": (
            {"scheme": "blueorange", "domainMid": 0}
            if diverging
            else {"scheme": "viridis", "reverse": True}
        ),
    }
    shape: Spec = {"shape": {"field": "outline", "type": "geojson"}}
    return {
        "$schema": SCHEMA,
        "title": title,
        "width": 300,
        "height": 300,
        "config": config(),
        "projection": {"type": "mercator"},
        "data": {"values": rows},
        "transform": [
            {
                "lookup": "code",
                "from": {"data": {"values": shapes}, "key": "properties.code"},
                "as": "outline",
            }
        ],
        "mark": {
            "type": "geoshape",
            "stroke": "#ffffff",
            "strokeWidth": 0.7,
            # A region without a value is drawn (grey, by the colour's condition), not
            # left out: Vega-Lite filters null values out of a continuous scale's marks
            # unless told to show them.
            **({"fill": "#cccccc"} if empty else {"invalid": "show"}),
        },
        # With no value at all the colour scale has no domain and Vega draws
        # nothing: every region is then grey, with no legend.
        "encoding": {**shape, "tooltip": [{"field": "name", "title": "region"}]}
        if empty
        else {
            **shape,
            "color": {
                **colour,
                "condition": {"test": "!isValid(datum.value)", "value": "#cccccc"},
            },
            "tooltip": [
                {"field": "name", "title": "region"},
                {"field": "value", "format": number_format, "title": legend},
            ],
        },
    }


def outlines_from(spec: Spec, url: str) -> Spec:
    """A copy of the map ``spec`` that loads its outlines from ``url`` (a GeoJSON
    FeatureCollection of :func:`outlines`) instead of carrying them: the dashboard's
    pages serve one file, cached by the browser, rather than a copy in every map."""
    lookup = spec["transform"][0]["lookup"]
    found = {**spec["transform"][0]["from"]}
    found["data"] = {"url": url, "format": {"type": "json", "property": "features"}}
    return {
        **spec,
        "transform": [{"lookup": lookup, "from": found, "as": "outline"}, *spec["transform"][1:]],
    }


@cache
def _fonts_registered() -> bool:
    import vl_convert

    vl_convert.register_font_directory(str(FONTS))
    return True


def to_svg(spec: Spec) -> str:
    """The chart as an SVG document (vl-convert, with the report's font registered)."""
    import vl_convert

    _fonts_registered()
    svg: str = vl_convert.vegalite_to_svg(spec)
    return svg


def warm_up() -> threading.Thread:
    """Start the chart engine in a background thread; returns the thread.

    vl-convert's JavaScript runtime takes about a second to start on its
    first chart. A command that will draw charts starts it here, so that it
    starts while the report is built (imports and queries) instead of after.
    """
    spec = {"mark": "point", "data": {"values": [{"a": 1}]}}
    thread = threading.Thread(target=to_svg, args=(spec,), name="chart-warm-up", daemon=True)
    thread.start()
    return thread
