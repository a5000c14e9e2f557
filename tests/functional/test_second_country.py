"""A second, synthetic country runs the whole pipeline: nothing knows the DPRK's codes.

Lakeland (tests/data/lakeland) counts cholera, not fever, in another time zone
with a midnight cut-off; it reports weekly (IDSR) and its laboratory monthly.
Its [roles] name the elements that play each part, its [[data_sets]] how often
each is reported.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from tests.conftest import DATA

COUNTRY = DATA / "lakeland" / "country.toml"
FIRST = date(2023, 1, 2)  # Monday of ISO week 2023W1
WEEKS = 20
MONTHS = ("202301", "202302", "202303", "202304")


def week(n: int) -> str:
    year, number, _ = (FIRST + timedelta(weeks=n)).isocalendar()
    return f"{year}W{number}"


@pytest.fixture
def lakeland(cli, tmp_path):
    """Lakeland set up, with 20 weeks of a growing cholera outbreak in three regions."""

    def run(*args: str):
        return cli("--country", str(COUNTRY), *args)

    assert run("setup").code == 0
    rows = ["org_unit,period,cholera_cases,cholera_deaths,in_treatment_centres"]
    for n in range(WEEKS):
        regional = []
        for share, unit in ((6, "LL-N"), (3, "LL-S"), (1, "LL-I")):
            cases = int(share * 30 * 1.25**n) + n % 3
            regional.append(cases)
            rows.append(f"{unit},{week(n)},{cases},{cases // 40},{cases * 2}")
        total = sum(regional)
        rows.append(f"LL,{week(n)},{total},{total // 40},{total * 2}")
    weekly = tmp_path / "cholera.csv"
    weekly.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run("import", str(weekly))
    assert result.code == 0, result.err
    assert f"created {WEEKS * 4 * 3}" in result.out
    lab = ["org_unit,period,cholera_tests"]
    lab += [f"LL,{month},{100 + 10 * i}" for i, month in enumerate(MONTHS)]
    monthly = tmp_path / "lab.csv"
    monthly.write_text("\n".join(lab) + "\n", encoding="utf-8")
    result = run("import", str(monthly))
    assert result.code == 0, result.err
    assert f"created {len(MONTHS)}" in result.out
    return run


def test_a_period_of_the_wrong_type_is_refused_with_the_right_one(lakeland, tmp_path):
    path = tmp_path / "daily.csv"
    path.write_text("org_unit,period,cholera_cases,cholera_tests\nLL-N,2023-02-01,5,7\n")
    result = lakeland("import", str(path))
    assert result.code == 1
    assert "'2023-02-01' is a day: cholera_cases is reported weekly (periods like 2023W5)" in (
        result.out + result.err
    )
    assert "cholera_tests is reported monthly (periods like 202302)" in result.out + result.err


def test_the_bulletin_is_weekly_and_speaks_of_cholera(lakeland):
    data = json.loads(lakeland("bulletin", "--json").out)
    assert (data["period"], data["period_type"]) == (week(WEEKS - 1), "weekly")
    assert data["country"] == "LL"
    assert data["cholera_cases"] > 0
    assert "cholera_tests" not in data  # a monthly figure is not a week's
    assert data["change_cholera_cases"] > 0
    assert {"code", "cholera_cases", "in_treatment_centres", "cholera_deaths", "late"} <= set(
        data["regions"][0]
    )
    assert data["regions"][0]["code"] == "LL-N"  # ranked by cases
    # The week closes at midnight on Sunday, Nairobi time.
    assert data["window_end"].endswith("T00:00:00+03:00")
    text = lakeland("bulletin").out
    assert f"Lakeland — situation for the week {week(WEEKS - 1)}" in text
    assert "on the previous week" in text
    assert "Suspected cholera cases" in text
    assert "(EAT)" in text  # Nairobi's zone
    assert "new_fever" not in text


def test_the_analyses_work_on_weekly_counts(lakeland):
    rt = lakeland("analyze", "rt", "--json")
    assert rt.code == 0, rt.err
    table = json.loads(rt.out)
    assert "cholera_cases" in table["title"]
    assert "over 4 weeks" in table["title"]
    # 25 % growth a week with a 3.5-day serial interval: R about 1.25**0.5, above 1.
    last = table["rows"][-1]
    assert last["window_end"] == week(WEEKS - 1)
    assert 1.05 < last["median"] < 1.2
    assert last["q025"] <= last["median"] <= last["q975"]
    growth = json.loads(lakeland("analyze", "growth", "--json").out)
    assert growth["rows"][-1]["r"] == pytest.approx(0.223, abs=0.01)  # log 1.25
    assert growth["rows"][-1]["doubling_days"] == pytest.approx(7 * 0.693 / 0.223, rel=0.05)
    cfr = lakeland("analyze", "cfr", "--json")
    assert cfr.code == 0, cfr.err
    assert "(20 weeks)" in json.loads(cfr.out)["notes"][0]
    credibility = json.loads(lakeland("analyze", "credibility", "--json").out)
    checked = {(row["element"], row["check"]) for row in credibility["rows"]}
    assert ("cholera_cases", "last_digit") in checked
    assert not any(check == "weekday" for _, check in checked)  # needs days
    ascertainment = json.loads(lakeland("analyze", "ascertainment", "--json").out)
    assert {row["org_unit"] for row in ascertainment["rows"]} >= {"LL-N", "LL-S", "LL-I"}
    alerts = json.loads(lakeland("analyze", "alerts", "--level", "2", "--latest", "--json").out)
    assert {row["date"] for row in alerts["rows"]} == {week(WEEKS - 1)}
    refused = lakeland("analyze", "forecast")
    assert refused.code == 1
    assert "needs daily counts" in refused.err


def test_the_rest_of_the_pipeline(lakeland, tmp_path):
    assert lakeland("validate", "--exit-zero").code == 0
    completeness = json.loads(lakeland("completeness", "--json").out)
    assert [p["period"] for p in completeness] == [week(n) for n in range(WEEKS)]
    assert all(p["received"] == 3 for p in completeness)
    one = json.loads(lakeland("completeness", "--period", "2023W3", "--json").out)
    assert [p["period"] for p in one] == ["2023W3"]
    history = json.loads(lakeland("history", "cholera_cases", "North Shore", week(0), "--json").out)
    assert history[0]["value"] == 180
    assert lakeland("places", "tree").code == 0
    # Exports write DHIS2's periods, and import back unchanged.
    out = tmp_path / "out.json"
    assert lakeland("export", "--format", "dhis2-json", "-o", str(out)).code == 0
    periods = {v["period"] for v in json.loads(out.read_text())["dataValues"]}
    assert {week(0), week(WEEKS - 1), "202301", "202304"} <= periods
    again = lakeland("import", str(out))
    assert again.code == 0, again.err
    assert f"unchanged {WEEKS * 4 * 3 + len(MONTHS)}" in again.out


def test_setup_refuses_to_change_what_stored_values_mean(lakeland, tmp_path):
    folder = tmp_path / "changed"
    folder.mkdir()
    (folder / "regions.csv").write_text((COUNTRY.parent / "regions.csv").read_text())
    text = COUNTRY.read_text().replace(
        'code = "IDSR_WEEKLY"\nname = "IDSR weekly cholera report"\nperiod_type = "weekly"',
        'code = "IDSR_WEEKLY"\nname = "IDSR weekly cholera report"\nperiod_type = "monthly"',
    )
    assert 'period_type = "monthly"\nelements = ["cholera_cases"' in text
    (folder / "country.toml").write_text(text)
    refused = lakeland("--country", str(folder / "country.toml"), "setup")
    assert refused.code == 1
    assert "cholera_cases is reported weekly in the database, with 80 values" in refused.err
    # Nothing changed: the weeks are still weeks.
    data = json.loads(lakeland("bulletin", "--json").out)
    assert data["period_type"] == "weekly"


def test_weekly_values_are_named_by_their_weeks_everywhere(lakeland):
    wrong = lakeland("history", "cholera_cases", "LL-N", (FIRST + timedelta(days=2)).isoformat())
    assert wrong.code == 1
    assert f"is a day: cholera_cases is reported weekly; give {week(0)}" in wrong.err
    month_for_week = lakeland("history", "cholera_tests", "LL", week(4))
    assert "cholera_tests is reported monthly; give 202301" in month_for_week.err
    sums = json.loads(lakeland("aggregate", "--period", week(3), "--json").out)
    assert {row["element"] for row in sums} == {
        "cholera_cases",
        "cholera_deaths",
        "in_treatment_centres",
    }
    refused = lakeland("analyze", "nowcast")
    assert refused.code == 1
    assert "the nowcast needs daily counts; cholera_cases is reported weekly" in refused.err


def test_an_export_from_a_day_selects_the_periods_that_hold_it(lakeland, tmp_path):
    inside = (FIRST + timedelta(weeks=3, days=2)).isoformat()  # a Wednesday of week 4
    out = tmp_path / "one.csv"
    assert lakeland("export", "--start", inside, "--end", inside, "-o", str(out)).code == 0
    periods = {line.split(",")[1] for line in out.read_text().splitlines()[1:]}
    assert periods == {week(3), "202301"}  # and the month that holds it


def test_aggregated_wide_csv_has_one_row_per_unit_and_period(cli, tmp_path):
    assert cli("setup").code == 0
    rows = ["org_unit,period,new_fever,new_deaths"]
    rows += [f"KP-02,2022-05-{d},{d},1" for d in range(16, 30)]
    path = tmp_path / "a.csv"
    path.write_text("\n".join(rows) + "\n")
    assert cli("import", str(path)).code == 0
    out = tmp_path / "weeks.csv"
    result = cli("aggregate", "--to", "week", "--format", "csv-wide", "-o", str(out))
    assert result.code == 0, result.err
    lines = out.read_text().splitlines()
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["KP-02", "2022W20"],
        ["KP-02", "2022W21"],
    ]


def test_the_weekly_bulletin_shows_no_monthly_flag(lakeland, tmp_path):
    folder = tmp_path / "ruled"
    folder.mkdir()
    (folder / "regions.csv").write_text((COUNTRY.parent / "regions.csv").read_text())
    text = COUNTRY.read_text() + (
        '\n[[rules]]\ncode = "few_tests"\nname = "Few tests"\n'
        'expression = "cholera_tests <= 50"\nseverity = "error"\n'
    )
    (folder / "country.toml").write_text(text)
    ruled = str(folder / "country.toml")
    flags = json.loads(lakeland("--country", ruled, "validate", "--json", "--exit-zero").out)
    assert {f["period"] for f in flags if f["rule"] == "few_tests"} == set(MONTHS)
    bulletin = json.loads(
        lakeland("--country", ruled, "bulletin", "--period", "2023W5", "--json").out
    )
    assert bulletin["period"] == "2023W5"  # a week of February, whose month is flagged
    assert not [f for f in bulletin["validation"] if f["rule"] == "few_tests"]
