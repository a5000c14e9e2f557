"""The read side of the API: each answer is its command's; the scope limits what comes back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from sitroom.analysis import service as analyses
from sitroom.country import Country
from sitroom.surveillance.bulletin import bulletin_for
from sitroom.surveillance.reporting import completeness_report
from tests.conftest import TEST_DATABASE_URL
from tests.functional.api_world import World, api_world


@pytest.fixture(scope="module")
def world(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("reads")
    with api_world(_migrated, TEST_DATABASE_URL, folder, country) as built:
        built.add_user("chief", "epidemiologist", ["KP"])
        built.add_user("rex", "reporter", ["KP-04"])
        yield built


def get(world: World, who: str, path: str, **params: object) -> object:
    response = world.client.get(path, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


def test_the_history_of_a_value_names_who_when_and_the_channel(world: World) -> None:
    before = get(
        world, "rex", "/api/v1/dataValues/history",
        dataElement="new_fever", orgUnit="Chagang", period="2022-05-15",
    )  # fmt: skip
    assert before["org_unit"] == "KP-04"
    assert [(e["action"], e["value"], e["channel"]) for e in before["events"]] == [
        ("created", 7651, "file")
    ]
    wrote = world.client.post(
        "/api/v1/dataValues",
        json={
            "dataValues": [
                {"orgUnit": "KP-04", "dataElement": "new_fever", "period": "2022-05-15",
                 "value": "7700", "comment": "recounted"}
            ]
        },
        headers=world.headers("rex"),
    )  # fmt: skip
    assert wrote.status_code == 200, wrote.text
    after = get(
        world, "rex", "/api/v1/dataValues/history",
        dataElement="new_fever", orgUnit="KP-04", period="2022-05-15",
    )  # fmt: skip
    last = after["events"][-1]
    assert (last["action"], last["value"], last["by"], last["comment"]) == (
        "updated", 7700, "rex", "recounted"
    )  # fmt: skip
    # The reporter sees the channel, not the address: addresses are the audit's.
    assert (last["channel"], last["client"]) == ("api", None)
    national = get(
        world, "chief",
        "/api/v1/dataValues/history",
        dataElement="new_fever", orgUnit="KP-04", period="2022-05-15",
    )  # fmt: skip
    assert national["events"][-1]["client"] == "testclient"
    # The command line's history, from the same service, shows the same.
    from sitroom.surveillance.service import value_history

    events = value_history(world.session, "new_fever", "KP-04", date(2022, 5, 15))
    # The audit keeps the import of each change, not of the state it replaced:
    # once changed, the first value's channel is no longer known (documented).
    assert [e.to_dict()["channel"] for e in events] == [None, "api"]


def test_bad_or_unknown_names_are_problems_naming_the_field(world: World) -> None:
    headers = world.headers("chief")
    bad = world.client.get(
        "/api/v1/dataValues/history",
        params={"dataElement": "new_fever", "orgUnit": "KP-04", "period": "2022-13-45"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in bad.json()["errors"]] == ["period"]
    unknown = world.client.get(
        "/api/v1/dataValues/history",
        params={"dataElement": "nothing", "orgUnit": "KP-04", "period": "2022-05-15"},
        headers=headers,
    )
    assert unknown.status_code == 404
    assert "nothing" in unknown.json()["detail"]
    options = world.client.get(
        "/api/v1/analyses/rt", params={"siMean": "0", "bogus": "1"}, headers=headers
    )
    assert options.status_code == 422
    assert {e["field"] for e in options.json()["errors"]} == {"siMean", "bogus"}
    both = world.client.get(
        "/api/v1/aggregate", params={"to": "week", "period": "2022-05-15"}, headers=headers
    )
    assert both.status_code == 422
    assert both.json()["errors"][0]["field"] == "period"


@pytest.mark.parametrize(
    ("name", "params", "call"),
    [
        ("rt", {"orgUnit": "KP-04", "fill": "linear"}, lambda ctx: analyses.rt(
            ctx, org_unit="KP-04", fill="linear")),
        ("alerts", {"orgUnit": "KP-04", "fill": "linear", "alarms": "true"},
         lambda ctx: analyses.alerts(ctx, org_unit="KP-04", fill="linear", only_alarms=True)),
        ("ascertainment", {"orgUnit": "KP-04"}, lambda ctx: analyses.ascertainment(
            ctx, org_unit="KP-04")),
        ("nowcast", {"orgUnit": "KP-04", "last": "5"}, lambda ctx: analyses.nowcast(
            ctx, org_unit="KP-04", last=5)),
    ],
)  # fmt: skip
def test_an_analysis_answers_what_the_command_prints(
    world: World, name: str, params: dict[str, str], call: object
) -> None:
    answer = get(world, "rex", f"/api/v1/analyses/{name}", **params)
    table = call(world.context)  # type: ignore[operator]
    assert answer == {**table.to_dict(), "columns": table.columns}
    assert answer["rows"]


def test_an_analysis_of_a_level_stays_below_the_unit_asked_for(world: World) -> None:
    answer = get(world, "chief", "/api/v1/analyses/rt", level=2, fill="linear", latest="true")
    assert {row["org_unit"] for row in answer["rows"]} >= {"KP-01", "KP-04"}
    refused = world.client.get(
        "/api/v1/analyses/rt", params={"level": 2}, headers=world.headers("rex")
    )
    assert refused.status_code == 403  # the country is outside Chagang


def test_validation_and_completeness_keep_to_the_scope(world: World) -> None:
    national = get(world, "chief", "/api/v1/validation", period="2022-06-08")
    assert any(f["org_unit"] == "KP" for f in national)
    assert all(isinstance(f["left"], int) for f in national if f["rule"] != "outlier")
    regional = get(world, "rex", "/api/v1/validation", startDate="2022-05-14")
    assert {f["org_unit"] for f in regional} <= {"KP-04"} | {
        f["org_unit"] for f in regional if f["org_unit"].startswith("KP-04-")
    }
    mine = get(world, "rex", "/api/v1/completeness", startDate="2022-05-14", endDate="2022-05-20")
    assert {p["expected"] for p in mine["periods"]} == {1}
    assert [u["org_unit"] for u in mine["by_unit"]] == ["KP-04"]
    everyone = get(world, "chief", "/api/v1/completeness", period="2022-05-15")
    report = completeness_report(
        world.session, world.context.country, start=date(2022, 5, 15), end=date(2022, 5, 15)
    )
    assert everyone["periods"] == [p.to_dict() for p in report.periods]


def test_the_bulletin_is_the_commands_and_needs_the_country(world: World) -> None:
    answer = get(world, "chief", "/api/v1/bulletin", period="2022-05-15")
    expected = bulletin_for(world.session, world.context.country, "2022-05-15").to_dict()
    assert answer["new_fever"] == expected["new_fever"] == 392_920
    assert answer["regions"] == expected["regions"]
    assert answer["window_end"] == "2022-05-15T18:00:00+09:00"
    refused = world.client.get("/api/v1/bulletin", headers=world.headers("rex"))
    assert refused.status_code == 403


def test_periods_carry_their_window_in_the_countrys_time(world: World) -> None:
    daily = get(world, "rex", "/api/v1/periods", startDate="2022-05-15", endDate="2022-05-15")
    assert (daily["time_zone"], daily["cutoff"]) == ("Asia/Pyongyang", "18:00")
    (day,) = daily["periods"]
    assert day["window_start"] == "2022-05-14T18:00:00+09:00"
    assert day["deadline"] == "2022-05-16T00:00:00+09:00"
    weeks = get(world, "rex", "/api/v1/periods", periodType="weekly", startDate="2022W20",
                endDate="2022W21")  # fmt: skip
    assert [p["period"] for p in weeks["periods"]] == ["2022W20", "2022W21"]
    assert weeks["periods"][0]["window_end"] == "2022-05-22T18:00:00+09:00"
    stored = get(world, "rex", "/api/v1/periods")
    assert stored["periods"][0]["period"] == "2022-05-12"  # the first stored day


def test_an_org_unit_and_its_children_as_the_scope_allows(world: World) -> None:
    mine = get(world, "rex", "/api/v1/orgUnits/KP-04")
    assert (mine["population"], mine["in_scope"]) == (1_299_830, True)
    country = get(world, "rex", "/api/v1/orgUnits/KP")
    assert (country["population"], country["in_scope"]) == (None, False)
    assert [u["code"] for u in get(world, "rex", "/api/v1/orgUnits/KP/children")] == ["KP-04"]
    districts = get(world, "rex", "/api/v1/orgUnits/KP-04/children")
    assert districts
    assert all(u["parent"] == "KP-04" for u in districts)
    headers = world.headers("rex")
    assert world.client.get("/api/v1/orgUnits/KP-01", headers=headers).status_code == 403
    assert world.client.get("/api/v1/orgUnits/XX", headers=headers).status_code == 404


def test_the_forecast_models_are_the_estimators():
    from sitroom.analysis import runs

    assert analyses.FORECAST_MODELS == runs.FORECAST_MODELS


def test_serving_imports_no_scipy_until_an_analysis_runs():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from sitroom.context import AppContext\n"
        "from sitroom.server.app import create_app\n"
        "create_app(AppContext.from_overrides(secret_key='x' * 40))\n"
        "print(sorted(m for m in ('scipy', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "scipy" not in out
