"""What changed between two editions: the figures that differ, formatted for people."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sitroom.publication.changes import (
    FIRST_EDITION,
    NO_DATA_CHANGED,
    Change,
    figures,
    summary,
    what_changed,
)
from sitroom.sitrep.model import Fact, Report, Section, Table


def report(new: int, chagang: int, status: str = "on time") -> Report:
    moment = datetime(2022, 5, 20, tzinfo=UTC)
    return Report(
        country="DPRK",
        country_code="KP",
        period=date(2022, 5, 20),
        period_label="2022-05-20",
        period_type="daily",
        window_start=moment,
        window_end=moment,
        generated_at=moment,
        sections=[
            Section(
                key="headline",
                title="Headline",
                facts=[
                    Fact(label="New fever cases", value=new),
                    Fact(label="New cases per 100,000 people", value=new / 233.5, kind="per100k"),
                ],
            ),
            Section(
                key="tables",
                title="National and regional figures",
                tables=[
                    Table(
                        key="regional",
                        title="Regions",
                        columns=[],
                        rows=[
                            {"code": "KP-04", "name": "Chagang", "new": chagang, "status": status},
                            {"code": "KP-01", "name": "Pyongyang", "new": 10, "status": "late"},
                        ],
                    )
                ],
            ),
            Section(key="forecast", title="Forecast", facts=[Fact(label="ignored", value=new)]),
        ],
    )


def test_the_same_figures_make_no_change():
    assert what_changed(figures(report(392920, 7)), figures(report(392920, 7))) == []


def test_the_headline_and_the_regions_that_differ_are_named():
    found = what_changed(figures(report(392920, 7)), figures(report(392950, 9, "late")))
    assert Change("Headline", "New fever cases", "392,920", "392,950") in found
    assert Change("Chagang (KP-04)", "new", "7", "9") in found
    assert Change("Chagang (KP-04)", "status", "on time", "late") in found
    assert not [c for c in found if "Pyongyang" in c.where]
    assert not [c for c in found if c.what == "ignored"]  # the forecast is not compared
    assert found[0].sentence() == "Headline, New fever cases: 392,920 → 392,950"
    assert len(found) == 4  # the rate per 100,000 follows the count


def test_a_region_that_appears_or_goes_is_a_change():
    before = figures(report(1, 7))
    after = figures(report(1, 7))
    del after["regions"]["KP-04"]
    found = what_changed(before, after)
    assert Change("Chagang (KP-04)", "new", "7", "none") in found


def test_the_summary_sentences():
    assert summary([], first=True, same_values=False) == FIRST_EDITION
    assert summary([], first=False, same_values=True) == NO_DATA_CHANGED
    one = [Change("Headline", "x", "1", "2")]
    assert summary(one, first=False, same_values=False) == (
        "1 figure changed since the previous edition."
    )
    assert "none of the headline" in summary([], first=False, same_values=False)
