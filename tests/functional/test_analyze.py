"""``sitroom analyze`` end to end, on the demo data and on CSV files."""

import csv
import json
from datetime import date

import numpy as np
import pytest

from sitroom.config import PACKAGE_DATA
from sitroom.demo import demo_case_series
from sitroom.epi import CoriRt
from sitroom.epi.forecast import AdaptiveGrowthForecast


def rows(result):
    assert result.code == 0, result.err
    return json.loads(result.out)["rows"]


@pytest.fixture
def demo(cli):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    return cli


def national_csv(tmp_path, columns=("new_fever",)):
    source = list(csv.DictReader((PACKAGE_DATA / "dprk2022" / "fever_national.csv").open()))
    path = tmp_path / "national.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["date", *columns])
        for row in source:
            writer.writerow([row["period_end"], *(row[c] for c in columns)])
    return path


@pytest.mark.parametrize("kind", ["rt", "growth", "alerts"])
def test_estimates_are_the_same_from_the_database_and_from_a_file(demo, tmp_path, kind):
    from_db = rows(demo("analyze", kind, "--json"))
    from_file = rows(demo("analyze", kind, "--input", str(national_csv(tmp_path)), "--json"))
    assert from_db == from_file
    assert len(from_db) > 50


def test_rt_of_the_national_wave(demo):
    table = rows(demo("analyze", "rt", "--json"))
    assert table[0]["window_end"] == "2022-05-19"  # days 2-8 of the series
    assert table[0]["mean"] > 1.5  # the explosive start
    june = next(r for r in table if r["window_end"] == "2022-06-15")
    assert june["q975"] < 1  # declining
    assert june["q025"] <= june["median"] <= june["q975"]


def test_rt_with_imported_cases_and_a_distribution_file(demo, tmp_path):
    data = tmp_path / "cases.csv"
    data.write_text(
        "date,local,imported\n"
        + "".join(f"2022-01-{d:02d},{d},{1 if d < 4 else 0}\n" for d in range(1, 21)),
        encoding="utf-8",
    )
    si = tmp_path / "si.csv"
    si.write_text("day,p\n0,0\n1,0.3\n2,0.4\n3,0.3\n", encoding="utf-8")
    table = rows(
        demo("analyze", "rt", "--input", str(data), "--imported", "--si-file", str(si), "--json")
    )
    assert len(table) == 13
    # The command gives what the estimator (checked against EpiEstim's own
    # vectors in tests/unit/epi) gives on the same local and imported counts.
    fit = CoriRt(si_distr=np.array([0, 0.3, 0.4, 0.3]), window=7).fit(
        np.arange(1, 21, dtype=float), np.array([1.0] * 3 + [0.0] * 17)
    )
    assert [r["mean"] for r in table] == pytest.approx(np.ravel(fit.r_mean_).tolist(), rel=1e-5)


def test_forecast_and_backtest(demo):
    forecast = rows(demo("analyze", "forecast", "--end", "2022-06-01", "--horizon", "7", "--json"))
    assert [r["date"] for r in forecast][:2] == ["2022-06-02", "2022-06-03"]
    assert all(r["q05"] <= r["q25"] <= r["median"] <= r["q75"] <= r["q95"] for r in forecast)
    # The default is the adaptive growth model, fitted on the stored national series.
    national = demo_case_series()["national"].between(None, date(2022, 6, 1))
    fit = AdaptiveGrowthForecast(horizon=7, n_samples=4000, random_state=0).fit(national.values)
    assert [r["median"] for r in forecast] == pytest.approx(fit.quantiles_[:, 2].tolist())
    renewal = rows(
        demo(
            "analyze",
            "forecast",
            "--end",
            "2022-06-01",
            "--horizon",
            "7",
            "--model",
            "renewal",
            "--json",
        )
    )
    assert [r["median"] for r in renewal] != [r["median"] for r in forecast]
    unknown = demo("analyze", "forecast", "--model", "prophet")
    assert unknown.code == 1
    assert "unknown --model 'prophet'" in unknown.err
    backtest = rows(
        demo(
            "analyze",
            "forecast",
            "--end",
            "2022-07-10",
            "--horizon",
            "7",
            "--backtest",
            "--samples",
            "200",
            "--json",
        )
    )
    assert [r["model"] for r in backtest] == [
        "adaptive",
        "gapaware",
        "skewed",
        "growth",
        "renewal",
        "last_value",
        "week_mean",
    ]
    assert backtest[5]["relative_wis"] == 1.0
    assert len(backtest[0]["per_horizon_coverage_90"]) == 7
    one = rows(
        demo(
            "analyze",
            "forecast",
            "--end",
            "2022-07-10",
            "--horizon",
            "7",
            "--backtest",
            "--model",
            "week_mean",
            "--json",
        )
    )
    assert [r["model"] for r in one] == ["week_mean", "last_value"]


def test_the_default_forecast_counts_leads_from_the_last_report(demo):
    """With --fill linear the adaptive default is given the days nobody reported.

    Jagang (KP-04) did not report 30 and 31 May: the forecast from 31 May is
    the model's forecast 3 to 9 days after the 29th, not from a filled 31st.
    """
    table = demo(
        "analyze", "forecast", "--org-unit", "KP-04", "--fill", "linear",
        "--end", "2022-05-31", "--horizon", "7", "--json",
    )  # fmt: skip
    forecast = rows(table)
    assert forecast[0]["date"] == "2022-06-01"
    jagang = demo_case_series()["Jagang"].between(None, date(2022, 5, 31))
    assert np.isnan(jagang.values[-2:]).all()
    fit = AdaptiveGrowthForecast(horizon=7, n_samples=4000, random_state=0).fit(jagang.values)
    assert fit.gap_ == 2
    assert [r["median"] for r in forecast] == pytest.approx(fit.quantiles_[:, 2].tolist())
    assert "the last 2 day(s) were not reported" in table.out
    assert "a zero or an unreported day in the last 21 days" in table.out


def test_cfr_naive_and_corrected(demo):
    table = rows(demo("analyze", "cfr", "--delay-shape", "2.4", "--delay-scale", "3.33", "--json"))
    naive = table[0]
    assert naive["method"] == "naive"
    # new_deaths sums to 68: the first report's 6 deaths "since late April" have no daily row.
    assert naive["estimate"] == pytest.approx(68 / 4_440_452, rel=1e-6)
    assert table[1]["method"] == "delay-corrected"
    rolling = rows(demo("analyze", "cfr", "--rolling", "--json"))
    assert len(rolling) == 90


def test_alerts_regional_with_gaps(demo):
    refused = demo("analyze", "alerts", "--org-unit", "KP-04")
    assert refused.code == 1
    assert "has no value in" in refused.err
    assert "--fill" in refused.err
    table = rows(
        demo(
            "analyze",
            "alerts",
            "--org-unit",
            "KP-04",
            "--start",
            "2022-05-14",
            "--end",
            "2022-06-30",
            "--fill",
            "linear",
            "--alarms",
            "--json",
        )
    )
    assert table
    assert all(any(v is True for k, v in r.items() if k.endswith("alarm")) for r in table)


def test_credibility_of_the_national_series(demo):
    checks = {(r["element"], r["check"]): r for r in rows(demo("analyze", "credibility", "--json"))}
    assert checks[("new_fever", "last_digit")]["verdict"] == "fail"
    assert checks[("new_deaths", "fatality")]["verdict"] == "fail"
    assert checks[("cum_fever", "identity")]["verdict"] == "fail"
    identity = checks[("cum_fever", "identity")]["sentence"]
    assert "4 of 83 days" in identity
    # 2022-05-13 and 06-07 to 06-09: published without the deaths (27, then 71).
    assert "The gap is exactly cum_deaths on all 4:" in identity
    assert all(r["sentence"].endswith(".") for r in checks.values())


def test_nowcast_and_ascertainment(demo):
    table = rows(demo("analyze", "nowcast", "--org-unit", "KP-01", "--last", "5", "--json"))
    assert len(table) == 5
    # A nowcast completes what was reported: never below it (the chain ladder
    # itself is checked against baselinenowcast's vectors in tests/unit/epi).
    assert all(r["nowcast"] >= r["reported"] for r in table)
    areas = {r["org_unit"]: r for r in rows(demo("analyze", "ascertainment", "--json"))}
    assert len(areas) == 14
    kp = areas["KP"]
    assert kp["attack_rate_low"] < kp["attack_rate"] < kp["attack_rate_high"]


def test_csv_output_and_bad_input(demo, tmp_path):
    out = demo("analyze", "growth", "--csv")
    assert out.out.splitlines()[0].startswith("date,r,r_low")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,cases\n2022-01-01,5\n2022-01-03,6\n2022-01-02,7\n", encoding="utf-8")
    result = demo("analyze", "growth", "--input", str(bad), "--column", "cases")
    assert result.code == 1
    assert "bad.csv, line 4, field 'date'" in result.err
    assert "2022-01-02 does not follow 2022-01-03" in result.err
    missing = demo("analyze", "rt", "--input", str(bad), "--column", "nope")
    assert "bad.csv, line 1, field 'nope'" in missing.err


def test_a_level_range_that_misses_the_data_is_a_message(demo):
    for args in (["--start", "2023-01-01"], ["--end", "2022-01-01"]):
        result = demo("analyze", "rt", "--level", "2", "--fill", "linear", *args)
        assert result.code == 1
        assert "no new_fever values of level 2 between" in result.err
    inverted = demo(
        "analyze", "alerts", "--level", "2", "--start", "2022-06-24", "--end", "2022-06-23"
    )
    assert inverted.code == 1
    assert "the range is inverted" in inverted.err


def test_fill_fills_days_left_out_of_a_file_as_well_as_blank_cells(demo, tmp_path):
    rows = ["date,cases"] + [f"2022-01-{d:02d},{10 * d}" for d in range(1, 21) if d not in (5, 6)]
    rows.append("2022-01-21,")  # a blank cell
    path = tmp_path / "gaps.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    refused = demo("analyze", "growth", "--input", str(path), "--column", "cases")
    assert refused.code == 1
    assert "no value in 3 days: 2022-01-05, 2022-01-06, 2022-01-21" in refused.err
    filled = demo(
        "analyze", "growth", "--input", str(path), "--column", "cases", "--fill", "linear", "--json"
    )
    assert filled.code == 0, filled.err
    rows_out = json.loads(filled.out)["rows"]
    # 21 days, days 5, 6 and 21 filled: a 7-day fit ends on each of days 7 to 21.
    assert [r["date"] for r in rows_out] == [f"2022-01-{d:02d}" for d in range(7, 22)]


def test_ascertainment_uses_stored_tests(demo, tmp_path):
    data = tmp_path / "tests.csv"
    data.write_text(
        "org_unit,period,tested,confirmed\n"
        + "".join(f"{code},2022-05-20,1000,{n}\n" for code, n in (("KP", 500),))
        + "".join(f"KP-{i:02d},2022-05-20,100,50\n" for i in (*range(1, 11), 13, 14, 15)),
        encoding="utf-8",
    )
    assert demo("import", str(data)).code == 0
    result = demo("analyze", "ascertainment", "--json")
    notes = json.loads(result.out)["notes"]
    assert any("test positivity" in n for n in notes)
    kp = next(r for r in rows(result) if r["org_unit"] == "KP")
    # Half the suspected cases were the disease: about half the infections of the default.
    assert kp["infections"] < 0.8 * 7_989_000


def test_renewal_forecast_with_poisson_noise_is_narrower(demo):
    negbin = rows(
        demo(
            "analyze",
            "forecast",
            "--model",
            "renewal",
            "--end",
            "2022-06-01",
            "--horizon",
            "3",
            "--json",
        )
    )
    poisson = rows(
        demo(
            "analyze",
            "forecast",
            "--model",
            "renewal",
            "--end",
            "2022-06-01",
            "--horizon",
            "3",
            "--noise",
            "poisson",
            "--json",
        )
    )
    assert poisson[0]["q95"] - poisson[0]["q05"] < negbin[0]["q95"] - negbin[0]["q05"]


def test_rt_for_every_region_in_one_call(demo):
    table = rows(
        demo(
            "analyze",
            "rt",
            "--level",
            "2",
            "--fill",
            "linear",
            "--latest",
            "--end",
            "2022-05-31",
            "--json",
        )
    )
    assert [r["org_unit"] for r in table] == [f"KP-{n:02d}" for n in (*range(1, 11), 13, 14, 15)]
    assert {r["window_end"] for r in table} == {"2022-05-31"}
    # The same as estimating one region on its own over the same days.
    alone = rows(
        demo(
            "analyze",
            "rt",
            "--org-unit",
            "KP-03",
            "--start",
            "2022-05-14",
            "--end",
            "2022-05-31",
            "--fill",
            "linear",
            "--json",
        )
    )[-1]
    kp03 = next(r for r in table if r["org_unit"] == "KP-03")
    assert kp03["mean"] == pytest.approx(alone["mean"], rel=1e-12)
    assert kp03["above_1"] is (alone["q025"] > 1)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["forecast", "--samples", "0"], "Invalid value for '--samples'"),
        (["cfr", "--delay-shape", "-1", "--delay-scale", "3"], "Invalid value for '--delay-shape'"),
        (["rt", "--si-file", "/nonexistent"], "'/nonexistent' does not exist"),
        (["rt", "--window", "0"], "Invalid value for '--window'"),
        (["alerts", "--baseline", "1"], "Invalid value for '--baseline'"),
        (["ascertainment", "--detected-low", "2"], "Invalid value for '--detected-low'"),
    ],
)
def test_bad_options_are_refused_where_they_are_parsed(cli, args, fragment):
    result = cli("analyze", *args)
    assert result.code == 2
    assert fragment in result.err.replace("\n", " ").replace("│", " ")
    assert "unexpected" not in result.err


def test_a_series_too_short_for_the_window_says_so(cli):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    result = cli("analyze", "rt", "--start", "2022-05-14", "--end", "2022-05-15")
    assert result.code == 1
    assert "a 7-day window needs at least 8 days of data; the series has 2" in result.err


@pytest.mark.parametrize(
    ("cell", "fragment"),
    [
        ("1" + "0" * 30, "too large for a count"),
        ("174440.5", "not a whole number"),
        ("-5", "is negative: a count cannot be below zero"),
        ("+5", "has a sign"),
    ],
)
def test_input_files_read_counts_as_the_import_does(cli, tmp_path, cell, fragment):
    path = tmp_path / "cases.csv"
    rows = [f"2022-05-{d:02d},{100 + d}" for d in range(1, 20)]
    rows[10] = f"2022-05-11,{cell}"
    path.write_text("date,cases\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = cli("analyze", "rt", "--input", str(path), "--column", "cases")
    assert result.code == 1
    assert "cases.csv, line 12, field 'cases'" in result.err
    assert fragment in result.err


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("analysis", ["rt", "growth", "forecast", "alerts"])
def test_an_all_zero_series_leaks_no_numpy_warning(cli, tmp_path, analysis):
    """Warnings are errors here: one that leaked would end as "unexpected ...", exit 70."""
    path = tmp_path / "zeros.csv"
    days = [f"2022-05-{d:02d},0" for d in range(1, 21)]
    path.write_text("date,cases\n" + "\n".join(days) + "\n", encoding="utf-8")
    result = cli("analyze", analysis, "--input", str(path), "--column", "cases")
    assert result.code in (0, 1), result.err
    assert "Warning" not in result.err
    assert "unexpected" not in result.err


def test_totals_say_what_they_sum_and_are_never_rounded(cli):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    cfr = json.loads(cli("analyze", "cfr", "--json").out)
    assert (
        "4,440,452 cases: sums of the daily new_deaths of KP, 2022-05-12 to 2022-08-09"
        in (cfr["notes"][0])
    )
    rows = json.loads(cli("analyze", "ascertainment", "--json").out)["rows"]
    national = next(r for r in rows if r["org_unit"] == "KP")
    assert national["suspected"] == 4_440_452  # the same sum, exact
    assert national["population"] == 23_349_859


def test_alerts_for_a_whole_level_equal_the_units_one_by_one(cli):
    assert cli("demo", "--no-supply", "--no-serve", "--no-users").code == 0
    span = ["--fill", "linear", "--start", "2022-05-14", "--end", "2022-06-30"]
    many = json.loads(cli("analyze", "alerts", "--level", "2", *span, "--json").out)
    alarmed = {r["org_unit"] for r in many["rows"]}
    assert alarmed
    for unit in ("KP-01", "KP-04"):
        one = json.loads(
            cli("analyze", "alerts", "--org-unit", unit, *span, "--alarms", "--json").out
        )
        assert [r["date"] for r in many["rows"] if r["org_unit"] == unit] == [
            r["date"] for r in one["rows"]
        ]
    latest = json.loads(cli("analyze", "alerts", "--level", "2", *span, "--latest", "--json").out)
    assert len(latest["rows"]) == 13
    assert {r["date"] for r in latest["rows"]} == {"2022-06-30"}
