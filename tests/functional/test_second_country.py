"""A second, synthetic country runs the whole pipeline: nothing knows the DPRK's codes.

Lakeland (tests/data/lakeland) counts cholera, not fever, in another time zone
with a midnight cut-off; its [roles] name the elements that play each part.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from tests.conftest import DATA

COUNTRY = DATA / "lakeland" / "country.toml"
FIRST = date(2023, 3, 1)
DAYS = 40


@pytest.fixture
def lakeland(cli, tmp_path):
    """Lakeland set up, with 40 days of a growing cholera outbreak in three regions."""

    def run(*args: str):
        return cli("--country", str(COUNTRY), *args)

    assert run("setup").code == 0
    rows = ["org_unit,period,cholera_cases,cholera_deaths,in_treatment_centres"]
    for day in range(DAYS):
        period = FIRST + timedelta(days=day)
        regional = []
        for share, unit in ((6, "LL-N"), (3, "LL-S"), (1, "LL-I")):
            cases = int(share * 4 * 1.06**day) + day % 3
            regional.append(cases)
            rows.append(f"{unit},{period},{cases},{cases // 40},{cases * 2}")
        total = sum(regional)
        rows.append(f"LL,{period},{total},{total // 40},{total * 2}")
    path = tmp_path / "cholera.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run("import", str(path))
    assert result.code == 0, result.err
    assert f"created {DAYS * 4 * 3}" in result.out
    return run


def test_the_bulletin_speaks_of_cholera(lakeland):
    last = FIRST + timedelta(days=DAYS - 1)
    data = json.loads(lakeland("bulletin", "--json").out)
    assert data["period"] == last.isoformat()
    assert data["country"] == "LL"
    assert data["cholera_cases"] > 0
    assert "change_cholera_cases" in data
    assert {"code", "cholera_cases", "in_treatment_centres", "cholera_deaths", "late"} <= set(
        data["regions"][0]
    )
    assert data["regions"][0]["code"] == "LL-N"  # ranked by cases
    text = lakeland("bulletin").out
    assert "Lakeland — situation for the period" in text
    assert "Suspected cholera cases" in text
    assert "(EAT)" in text  # Nairobi's zone
    assert "new_fever" not in text


def test_the_analyses_default_to_the_countrys_cases(lakeland):
    rt = lakeland("analyze", "rt", "--json")
    assert rt.code == 0, rt.err
    table = json.loads(rt.out)
    assert table["rows"]
    assert "cholera_cases" in table["title"]
    assert lakeland("analyze", "growth").code == 0
    cfr = lakeland("analyze", "cfr", "--json")
    assert cfr.code == 0, cfr.err
    credibility = json.loads(lakeland("analyze", "credibility", "--json").out)
    checked = {row["element"] for row in credibility["rows"]}
    assert {"cholera_cases", "cholera_deaths"} <= checked
    ascertainment = json.loads(lakeland("analyze", "ascertainment", "--json").out)
    assert {row["org_unit"] for row in ascertainment["rows"]} >= {"LL-N", "LL-S", "LL-I"}


def test_the_rest_of_the_pipeline(lakeland):
    assert lakeland("validate", "--exit-zero").code == 0
    completeness = json.loads(lakeland("completeness", "--json").out)
    assert all(p["received"] == 3 for p in completeness)
    history = json.loads(
        lakeland("history", "cholera_cases", "North Shore", FIRST.isoformat(), "--json").out
    )
    assert history[0]["value"] == 24
    assert lakeland("places", "tree").code == 0
