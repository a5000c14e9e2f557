"""The report's numbers are the services' numbers."""

from __future__ import annotations

from datetime import date

import pytest

from sitroom.analysis import service
from sitroom.sitrep.model import Report, Section
from sitroom.sitrep.sections import Inputs, registered, section
from sitroom.surveillance.bulletin import bulletin_for


def test_the_headline_is_the_bulletin(sitrep_context, early):
    with sitrep_context.session() as session:
        bulletin = bulletin_for(session, sitrep_context.country, "2022-05-20")
    facts = {f.label: f.value for f in early.section("headline").facts}
    for code, value in bulletin.values.items():
        label = bulletin.labels[code]
        if value is not None:
            assert facts[label] == value
    assert facts["New fever cases"] == 219030
    assert early.period == date(2022, 5, 20)
    assert early.section("headline").data["values"] == bulletin.values


def test_the_regional_table_is_the_bulletins_regions_and_sums_to_its_regional_sum(
    sitrep_context, late
):
    with sitrep_context.session() as session:
        bulletin = bulletin_for(session, sitrep_context.country, "2022-07-15")
    regional = next(t for t in late.section("tables").tables if t.key == "regional")
    by_code = {r["code"]: r for r in regional.rows}
    assert len(by_code) == 13
    for line in bulletin.regions:
        assert by_code[line.code]["new"] == line.values["new_fever"]
        assert by_code[line.code]["active"] == line.values["under_treatment"]
    cases_sum = next(r for r in bulletin.regional_sums if r.element == "new_fever")
    assert regional.total is not None
    assert regional.total["new"] == cases_sum.children_sum == sum(r["new"] for r in regional.rows)
    assert regional.total["active"] == sum(r["active"] for r in regional.rows)
    # The national table is the broadcast's own line.
    national = next(t for t in late.section("tables").tables if t.key == "national")
    assert national.rows[0]["new"] == bulletin.values["new_fever"]
    assert national.rows[0]["cumulative"] == bulletin.values["cum_fever"]


def test_rates_use_the_org_units_populations(late):
    regional = next(t for t in late.section("tables").tables if t.key == "regional")
    pyongyang = next(r for r in regional.rows if r["code"] == "KP-01")
    assert pyongyang["name_local"] == "평양직할시"
    assert pyongyang["new_per100k"] == pytest.approx(pyongyang["new"] * 1e5 / 3255288)


def test_rt_growth_and_forecast_are_the_services(sitrep_context, late):
    rt = service.rt(sitrep_context, end=date(2022, 7, 15), fill="linear")
    last = [r for r in rt.rows if r["median"] is not None][-1]
    facts = {f.label: f for f in late.section("transmission").facts}
    r = facts["Reproduction number R"]
    assert (r.value, r.low, r.high) == (last["median"], last["q025"], last["q975"])
    growth = service.growth(sitrep_context, end=date(2022, 7, 15), fill="linear").rows[-1]
    assert facts["Daily growth rate"].value == growth["r"]
    assert facts["Halving time"].value == pytest.approx(-growth["doubling_days"])
    forecast = service.forecast(sitrep_context, end=date(2022, 7, 15), fill="linear")
    assert late.section("forecast").data["rows"] == forecast.rows
    day14 = late.section("forecast").facts[-1]
    assert day14.value == forecast.rows[13]["median"]


def test_completeness_names_late_and_missing_regions(sitrep_context, early, late):
    from sitroom.sitrep.build import build_report
    from sitroom.surveillance.reporting import completeness_report

    status = late.section("reporting").data["period"]
    assert (status["expected"], status["received"]) == (13, 13)
    facts = {f.label: f.value for f in late.section("reporting").facts}
    assert facts["Completeness"] == 1.0
    # The historical reports count as received at publication, after the deadline.
    late_line = next(s.text for s in early.section("reporting").sentences if "Late" in s.text)
    assert "Pyongyang" in late_line
    with sitrep_context.session() as session:
        periods = completeness_report(
            session, sitrep_context.country, start=date(2022, 6, 1), end=date(2022, 7, 15)
        ).periods
    gap = next(p for p in periods if p.missing)
    report = build_report(sitrep_context, gap.period.isoformat())
    missing = next(s.text for s in report.section("reporting").sentences if "Missing" in s.text)
    names = {"KP-01": "Pyongyang", "KP-04": "Chagang", "KP-15": "Kaesong"}
    for code in gap.missing:
        if code in names:
            assert names[code] in missing


def test_the_events_carry_the_change_of_r_across_each(sitrep_context, late):
    table = service.rt(sitrep_context, end=date(2022, 7, 15), fill="linear", events=True)
    army = next(r for r in table.rows if r["event"] and "Army" in r["event"])
    assert [e.title[:4] for e in late.events] == ["Maxi", "Army"]
    assert late.events[1].change == army["change"]
    assert late.events[1].change_high is not None
    assert late.events[1].change_high < 1
    # Before the series' second day there is no window before the event: no change.
    assert late.events[0].change is None


def test_every_time_chart_draws_the_events(late):
    time_charts = [c for c in late.charts() if c.time]
    assert {c.key for c in time_charts} == {"curve", "rt", "forecast", "completeness"}
    for chart in time_charts:
        rules = [
            layer
            for layer in chart.spec["layer"]
            if layer.get("mark", {}).get("type") == "rule" and "x" in layer.get("encoding", {})
        ]
        drawn = {row["date"] for rule in rules for row in rule["data"]["values"]}
        dates = sorted(
            row["date"]
            for layer in chart.spec["layer"]
            for row in layer.get("data", {}).get("values", [])
            if "date" in row and "number" not in row
        )
        inside = {
            e.day.isoformat() for e in late.events if dates[0] <= e.day.isoformat() <= dates[-1]
        }
        assert drawn == inside, chart.key
        for day in inside:
            assert day in chart.caption or any(
                e.title in chart.caption for e in late.events if e.day.isoformat() == day
            )
    curve = late.section("curve").charts[0]
    assert "Army medical corps" in curve.caption


def test_validation_and_credibility_read_as_sentences(early):
    texts = [s.text for s in early.section("quality").sentences]
    assert any("cum_fever = cum_recovered" in t for t in texts)
    assert all(t.endswith((".", ")")) for t in texts)


def test_a_section_that_cannot_be_made_says_why(early):
    forecast = early.section("forecast")
    assert not forecast.charts
    assert any("at least 11 days" in n for n in forecast.notes)


def test_json_round_trips_to_the_context(late):
    again = Report.model_validate_json(late.model_dump_json())
    assert again == late


def test_a_feature_adds_a_section_through_the_registry(sitrep_context, monkeypatch):
    from sitroom.sitrep import sections
    from sitroom.sitrep.build import build_report

    monkeypatch.setattr(sections, "_REGISTRY", dict(sections._REGISTRY))

    @section("supply", "Medicines in stock", order=950)
    def supply(inputs: Inputs) -> Section:
        return Section(key="supply", title="Medicines in stock", notes=[str(inputs.period)])

    keys = [s.key for s in registered()]
    assert keys.index("events") < keys.index("supply") < keys.index("aid")  # by their order
    report = build_report(sitrep_context, "2022-05-20")
    assert report.section("supply").notes == ["2022-05-20"]
