"""Daily values summed into weeks and months (``sitroom aggregate --to``)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from sitroom.errors import SitroomError
from sitroom.surveillance.service import fetch_values
from sitroom.surveillance.temporal import aggregate_days


def national(session, first: date, last: date) -> dict[date, dict[str, int]]:
    values = fetch_values(session, start=first, end=last, org_units=["KP"])
    return {period: row for (_, period), row in values.items()}


def test_a_week_sums_its_flows_and_keeps_the_last_level_of_its_stocks(outbreak_session):
    outbreak = outbreak_session
    monday = date(2022, 5, 16)  # 2022W20
    days = national(outbreak, monday, monday + timedelta(days=6))
    rows = {
        r.element: r
        for r in aggregate_days(
            outbreak,
            "weekly",
            start=monday,
            end=monday,
            org_units=["KP"],
            elements=["new_fever", "under_treatment"],
        )
    }
    fever, treated = rows["new_fever"], rows["under_treatment"]
    assert fever.value == sum(d["new_fever"] for d in days.values()) == 1_600_800
    assert treated.value == days[date(2022, 5, 22)]["under_treatment"]
    assert (fever.period_label, fever.days, fever.days_in_period) == ("2022W20", 7, 7)
    assert fever.to_dict()["how"] == "sum of the days"
    assert treated.to_dict()["how"] == "level on the last day"


def test_incomplete_periods_are_left_out_unless_asked_for(outbreak_session):
    outbreak = outbreak_session
    # The national series starts on 12 May 2022 (a Thursday): its first week has 4 days.
    whole = list(aggregate_days(outbreak, "weekly", org_units=["KP"], elements=["new_fever"]))
    assert whole[0].period_label == "2022W20"
    partial = list(
        aggregate_days(outbreak, "weekly", org_units=["KP"], elements=["new_fever"], partial=True)
    )
    first = partial[0]
    assert (first.period_label, first.days, first.complete) == ("2022W19", 4, False)
    days = national(outbreak, date(2022, 5, 9), date(2022, 5, 15))
    assert first.value == sum(d["new_fever"] for d in days.values())
    # A month: June 2022 is complete, May is not (it starts on the 12th).
    months = list(
        aggregate_days(outbreak, "monthly", org_units=["KP"], elements=["new_fever"], partial=True)
    )
    assert [(m.period_label, m.complete) for m in months[:2]] == [
        ("202205", False),
        ("202206", True),
    ]
    june = national(outbreak, date(2022, 6, 1), date(2022, 6, 30))
    assert months[1].value == sum(d["new_fever"] for d in june.values())


def test_a_stock_without_its_last_day_has_no_weekly_level(loaded, country, tmp_path):
    from sitroom.surveillance.imports import Importer

    path = tmp_path / "a.csv"
    rows = ["org_unit,period,new_fever,under_treatment"]
    rows += [f"KP-01,2022-05-{d},10,{d}" for d in range(16, 22)]  # Monday to Saturday
    rows += ["KP-01,2022-05-22,10,"]  # Sunday: a flow, no level
    path.write_text("\n".join(rows) + "\n")
    assert Importer(loaded, country, user="t").run(path).ok
    found = {
        r.element: r for r in aggregate_days(loaded, "weekly", org_units=["KP-01"], partial=True)
    }
    assert found["new_fever"].value == 70
    assert found["new_fever"].complete
    assert found["under_treatment"].value is None
    assert not found["under_treatment"].complete
    assert "under_treatment" not in {
        r.element for r in aggregate_days(loaded, "weekly", org_units=["KP-01"])
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"to": "daily"}, "weeks or months"),
        ({"to": "weekly", "elements": ["nope"]}, "unknown data element 'nope'"),
        ({"to": "weekly", "org_units": ["KP-99"]}, "unknown org unit 'KP-99'"),
        (
            {"to": "weekly", "start": date(2022, 6, 1), "end": date(2022, 5, 1)},
            "inverted",
        ),
    ],
)
def test_bad_requests_are_refused(outbreak_session, kwargs, message):
    outbreak = outbreak_session
    to = kwargs.pop("to")
    with pytest.raises(SitroomError, match=message):
        list(aggregate_days(outbreak, to, **kwargs))


def test_the_command_writes_dhis2_weekly_periods(cli, tmp_path):
    assert cli("setup").code == 0
    path = tmp_path / "a.csv"
    rows = ["org_unit,period,new_fever"] + [f"KP-02,2022-05-{d},{d}" for d in range(16, 30)]
    path.write_text("\n".join(rows) + "\n")
    assert cli("import", str(path)).code == 0
    out = tmp_path / "weeks.json"
    result = cli("aggregate", "--to", "week", "--format", "dhis2-json", "-o", str(out))
    assert result.code == 0, result.err
    assert "wrote 2 values" in result.out
    values = json.loads(out.read_text())["dataValues"]
    assert [(v["period"], v["value"]) for v in values] == [
        ("2022W20", str(sum(range(16, 23)))),
        ("2022W21", str(sum(range(23, 30)))),
    ]
    assert values[0]["comment"] == "sitroom: sum of the days (7 of 7 days)"
    table = cli("aggregate", "--to", "month", "--partial", "--json")
    assert json.loads(table.out)[0]["days"] == 14
    refused = cli("aggregate", "--to", "week", "--period", "2022-05-16")
    assert refused.code == 1
    assert "--period: not with --to" in refused.err
    refused = cli("aggregate", "--period", "2022-05-16", "--partial")
    assert "--partial: only with --to" in refused.err
