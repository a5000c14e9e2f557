"""Validation, completeness, aggregation and the bulletin on the real 2022 outbreak (read only)."""

from datetime import date

from sitroom.surveillance.bulletin import build_bulletin, latest_bulletin_period
from sitroom.surveillance.reporting import aggregate, completeness
from sitroom.surveillance.validation import validate


def test_validation_finds_the_known_quirks_of_the_national_series(outbreak_session, country):
    findings = validate(outbreak_session, country)
    national = {
        (f.rule, f.period.isoformat(), f.difference) for f in findings if f.org_unit == "KP"
    }
    # The published stocks disagree by 71 for three days in June ...
    for day in ("2022-06-07", "2022-06-08", "2022-06-09"):
        assert ("stock_identity", day, -71) in national
    # ... and on 2022-06-10 both cumulative series grew 20 more than the new counts.
    assert ("fever_flow_stock", "2022-06-10", 20) in national
    assert ("recovered_flow_stock", "2022-06-10", 20) in national
    # Regions never add up to more than the nation.
    assert not [f for f in findings if f.rule.startswith("regions_within")]


def test_validation_does_not_flag_the_national_surge(outbreak_session, country):
    findings = validate(outbreak_session, country, start=date(2022, 5, 13), end=date(2022, 6, 30))
    national_outliers = [f for f in findings if f.org_unit == "KP" and f.rule == "outlier"]
    assert national_outliers == []
    # The whole three months give a reviewable list, not a flood.
    assert len(validate(outbreak_session, country)) < 60


def test_regional_treatment_balance_errors_are_round_thousands(outbreak_session, country):
    findings = validate(outbreak_session, country, start=date(2022, 5, 15), end=date(2022, 5, 15))
    gaps = {f.org_unit: f.difference for f in findings if f.rule == "treatment_balance"}
    assert gaps == {
        "KP-01": -15_000,
        "KP-03": 5_000,
        "KP-05": -6_000,
        "KP-13": 3_000,
        "KP-14": 5_000,
    }


def test_completeness_names_missing_regions(outbreak_session, country):
    rows = {
        r.period: r
        for r in completeness(
            outbreak_session, country, start=date(2022, 5, 14), end=date(2022, 5, 17)
        )
    }
    assert rows[date(2022, 5, 15)].received == 13
    missing = rows[date(2022, 5, 16)]  # no regional broadcast for that period
    assert (missing.expected, missing.received) == (13, 0)
    assert len(missing.missing) == 13
    assert missing.to_dict()["completeness"] == 0.0


def test_timeliness_uses_the_broadcast_date(outbreak_session, country):
    # Period 2022-05-14 was broadcast on 05-16 and 05-15 on 05-17:
    # both after their deadlines (00:00 the day after the period).
    rows = completeness(outbreak_session, country, start=date(2022, 5, 14), end=date(2022, 5, 15))
    assert [r.on_time for r in rows] == [0, 0]
    assert all(len(r.late) == 13 for r in rows)


def test_aggregation_shows_both_figures_and_the_gap(outbreak_session):
    rows = {r.element: r for r in aggregate(outbreak_session, "KP", date(2022, 5, 15))}
    fever = rows["new_fever"]
    assert (fever.own, fever.children_sum, fever.gap) == (392_920, 354_284, 38_636)
    assert fever.children_reporting == fever.children_total == 13
    assert round(fever.coverage, 3) == 0.902
    # Only the nation reports cumulative counts: no children's sum to set against them.
    assert rows["cum_fever"].children_sum is None
    assert rows["cum_fever"].gap is None


def test_bulletin_for_15_may_matches_the_broadcast(outbreak_session, country):
    bulletin = build_bulletin(outbreak_session, country, date(2022, 5, 15))
    data = bulletin.to_dict()
    assert data["new_fever"] == 392_920
    assert data["new_deaths"] == 8
    assert data["cum_deaths"] == 50
    assert data["cum_fever"] == 1_213_550
    assert data["cum_recovered"] == 648_630
    assert data["under_treatment"] == 564_860
    assert data["change_new_fever"] == 392_920 - 296_180
    assert data["regions"][0]["name"] == "Pyongyang"
    assert data["regions"][0]["new_fever"] == 202_178
    assert [r["new_fever"] for r in data["regions"]] == sorted(
        (r["new_fever"] for r in data["regions"]), reverse=True
    )
    assert data["window_start"] == "2022-05-14T18:00:00+09:00"
    assert data["late_regions"]
    assert not data["missing_regions"]
    assert {f["rule"] for f in data["validation"]} == {"treatment_balance"}
    # The keys a renderer (the page, the PDF, an API client) may rely on.
    assert set(data) == {e.code for e in country.elements} | {
        "country",
        "period",
        "period_type",
        "window_start",
        "window_end",
        "change_new_fever",
        "regions",
        "regions_reporting",
        "regions_expected",
        "missing_regions",
        "late_regions",
        "regional_sums",
        "validation",
    }
    assert (data["period"], data["period_type"]) == ("2022-05-15", "daily")
    assert set(data["regions"][0]) == {
        "code",
        "name",
        "name_local",
        "new_fever",
        "under_treatment",
        "new_deaths",
        "late",
    }


def test_latest_period_is_the_last_national_report(outbreak_session, country):
    assert latest_bulletin_period(outbreak_session, country) == date(2022, 8, 9)
