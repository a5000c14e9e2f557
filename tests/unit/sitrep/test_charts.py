"""Every chart: a title, axes titled with units, a caption; colour-blind-safe scales."""

from __future__ import annotations

import re

import pytest

from sitroom.sitrep import charts

#: Words that say the unit of an axis.
UNITS = re.compile(r"persons|per day|%|number R|date|day|period|per 100,000", re.IGNORECASE)


def _axis_titles(spec):
    titles = []
    for layer in spec.get("layer", [spec]):
        for channel in ("x", "y", "color"):
            title = layer.get("encoding", {}).get(channel, {}).get("title")
            if title:
                titles.append((channel, title))
    return titles


def test_every_chart_has_a_title_a_caption_and_axes_with_units(early, late):
    for report in (early, late):
        for chart in report.charts():
            assert chart.title
            assert chart.spec["title"] == chart.title
            assert len(chart.caption) > 40, chart.key
            titles = _axis_titles(chart.spec)
            if chart.key.startswith("map") and "color" not in chart.spec["encoding"]:
                # No region has a value (the first week): all grey, no legend to title.
                assert all(r["value"] is None for r in chart.spec["data"]["values"])
                assert "Grey" in chart.caption
                continue
            assert titles, chart.key
            for _, title in titles:
                assert UNITS.search(title), (chart.key, title)
            if chart.key.startswith("map"):
                assert chart.attribution
                assert "CC BY 3.0 IGO" in chart.attribution
            else:
                channels = {c for c, _ in titles}
                assert {"x", "y"} <= channels, chart.key


def test_maps_use_colour_blind_safe_schemes_and_grey_for_no_data(late):
    schemes = {}
    for chart in late.section("map").charts:
        colour = chart.spec["encoding"]["color"]
        schemes[chart.key] = colour["scale"]["scheme"]
        assert colour["condition"]["value"] == "#cccccc"
        codes = {r["code"] for r in chart.spec["data"]["values"]}
        assert len(codes) == 13
        shapes = chart.spec["transform"][0]["from"]["data"]["values"]
        assert {f["properties"]["code"] for f in shapes} == codes
    assert schemes == {"map_rate": "viridis", "map_change": "blueorange"}


def test_map_rings_are_wound_for_d3():
    square = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]  # counter-clockwise (RFC 7946)
    turned = charts._clockwise({"type": "Polygon", "coordinates": [square]})
    assert turned["coordinates"][0] == list(reversed(square))


def test_events_outside_a_chart_are_not_drawn():
    from datetime import date

    events = [
        {"day": date(2022, 5, 12), "number": 1, "label": "lockdown"},
        {"day": date(2022, 9, 1), "number": 2, "label": "later"},
    ]
    layers = charts.event_layers(events, date(2022, 5, 1), date(2022, 6, 1))
    assert [r["number"] for r in layers[0]["data"]["values"]] == ["1"]
    assert "1 lockdown (2022-05-12)" in charts.events_legend(
        events, date(2022, 5, 1), date(2022, 6, 1)
    )
    assert charts.event_layers(events, date(2023, 1, 1), date(2023, 2, 1)) == []


@pytest.mark.parametrize("key", ["curve", "map_rate", "rt"])
def test_charts_render_to_svg(late, key):
    chart = next(c for c in late.charts() if c.key == key)
    svg = charts.to_svg(chart.spec)
    assert svg.lstrip().startswith("<svg")
    assert chart.title in svg
