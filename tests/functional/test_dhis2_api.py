"""The DHIS2 Web API, spoken to by DHIS2's own Python client (dhis2.py, from PyPI)."""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from dhis2 import Api
from dhis2.exceptions import RequestException
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth import service as auth
from sitroom.config import PACKAGE_DATA
from sitroom.context import AppContext
from sitroom.server.app import create_app
from sitroom.surveillance.models import DataValue

PASSWORD = "a long enough passphrase 42"
ELEMENTS = ("new_fever", "new_recovered", "new_deaths", "under_treatment")


def chagang_week() -> list[dict[str, str]]:
    """The 2022 counts Chagang (KP-04, "Jagang") reported for 18 to 24 May, as DHIS2 values."""
    values = []
    path = PACKAGE_DATA / "dprk2022" / "fever_by_region.csv"
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            day = row["period_end"]
            if row["province_en"] == "Jagang" and "2022-05-18" <= day <= "2022-05-24":
                values.extend(
                    {
                        "dataElement": element,
                        "period": day.replace("-", ""),
                        "orgUnit": "KP-04",
                        "value": row[element],
                    }
                    for element in ELEMENTS
                    if row[element] != ""
                )
    return values


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(db_url: str, loaded: Session) -> Iterator[str]:
    """sitroom on a loopback port, with a Chagang reporter and a Pyongyang reporter."""
    auth.create_user(loaded, "rex", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="t")
    auth.create_user(loaded, "pia", role="reporter", scopes=["KP-01"], password=PASSWORD, actor="t")
    loaded.commit()
    context = AppContext.from_overrides(database_url=db_url, secret_key="k" * 40)
    port = _free_port()
    config = uvicorn.Config(create_app(context), host="127.0.0.1", port=port, log_config=None)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=20)


def _key(value: dict[str, str]) -> tuple[str, str, str, str]:
    return (value["dataElement"], value["period"], value["orgUnit"], str(value["value"]))


def test_round_trip_with_the_dhis2_client(server: str, loaded: Session) -> None:
    api = Api(server, "rex", PASSWORD)
    assert api.get_info()["version"].startswith("2.")
    week = chagang_week()
    assert len(week) == 28
    params = {"idScheme": "CODE", "orgUnitIdScheme": "CODE", "dataElementIdScheme": "CODE"}
    answer = api.post("dataValueSets", json={"dataValues": week}, params=params).json()
    assert answer["status"] == "OK"
    summary = answer["response"]
    assert summary["importCount"] == {"imported": 28, "updated": 0, "ignored": 0, "deleted": 0}
    # The same again: nothing new, every value ignored as unchanged (DHIS2 up to 2.42).
    again = api.post("dataValueSets", json={"dataValues": week}, params=params).json()
    assert again["response"]["importCount"]["ignored"] == 28
    query = {
        "orgUnit": "KP-04",
        "startDate": "2022-05-18",
        "endDate": "2022-05-24",
        "idScheme": "CODE",
    }
    read = api.get("dataValueSets", params=query).json()
    assert sorted(map(_key, read["dataValues"])) == sorted(map(_key, week))
    text = api.get("dataValueSets", params=query, file_type="csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(
        (r["dataelement"], r["period"], r["orgunit"], r["value"]) for r in rows
    ) == sorted(map(_key, week))


def test_a_value_outside_the_scope_is_a_conflict_and_nothing_is_written(
    server: str, loaded: Session
) -> None:
    api = Api(server, "pia", PASSWORD)  # a reporter of Pyongyang
    week = chagang_week()
    with pytest.raises(RequestException) as refused:
        api.post("dataValueSets", json={"dataValues": week[:2]})
    assert refused.value.code == 409
    assert "KP-04" in refused.value.description or "scope" in refused.value.description
    assert loaded.scalar(select(func.count()).select_from(DataValue)) == 0


def test_versioned_paths_answer_the_plain_summary(server: str) -> None:
    api = Api(server, "rex", PASSWORD, api_version=37)
    answer = api.post("dataValueSets", json={"dataValues": chagang_week()[:4]}).json()
    assert answer["responseType"] == "ImportSummary"
    assert answer["status"] == "SUCCESS"
    assert answer["importCount"]["imported"] == 4


def test_header_fields_apply_to_every_value_and_a_bad_one_is_indexed(server: str) -> None:
    api = Api(server, "rex", PASSWORD, api_version=37)
    payload = {
        "orgUnit": "KP-04",
        "period": "20220520",
        "dataValues": [
            {"dataElement": "new_fever", "value": "10"},
            {"dataElement": "new_deaths", "value": "-3"},
        ],
    }
    with pytest.raises(RequestException) as refused:
        api.post("dataValueSets", json=payload)
    assert refused.value.code == 409
    summary = json.loads(refused.value.description)
    assert summary["status"] == "ERROR"
    assert summary["rejectedIndexes"] == [1]
    assert summary["importCount"]["imported"] == 0
