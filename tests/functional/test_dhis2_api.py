"""The DHIS2 Web API, spoken to by DHIS2's own Python client (dhis2.py, from PyPI)."""

from __future__ import annotations

import base64
import csv
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from dhis2 import Api
from dhis2.exceptions import RequestException
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth import service as auth
from sitroom.config import DEFAULT_COUNTRY, PACKAGE_DATA
from sitroom.context import AppContext
from sitroom.country import load_country
from sitroom.places.models import OrgUnit
from sitroom.server.app import create_app
from sitroom.surveillance.models import DataElement, DataValue, DataValueAudit, ImportRun

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
    """sitroom on a loopback port: a Chagang reporter, a Pyongyang reporter, a national admin."""
    auth.create_user(loaded, "rex", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="t")
    auth.create_user(loaded, "pia", role="reporter", scopes=["KP-01"], password=PASSWORD, actor="t")
    auth.create_user(loaded, "ada", role="admin", scopes=["KP"], password=PASSWORD, actor="t")
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


# --- the whole week of every region, through dhis2.py ---------------------------------


def regional_week(session: Session) -> list[dict[str, str]]:
    """The 2022 counts of every region for 18 to 24 May, by code, claimed by the broadcaster."""
    from sitroom.places.service import OrgUnitResolver

    resolver = OrgUnitResolver.from_session(session, load_country(DEFAULT_COUNTRY))
    values = []
    path = PACKAGE_DATA / "dprk2022" / "fever_by_region.csv"
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            day = row["period_end"]
            if "2022-05-18" <= day <= "2022-05-24":
                unit = resolver.resolve(row["province_en"], level=2).code
                values.extend(
                    {
                        "dataElement": element,
                        "period": day.replace("-", ""),
                        "orgUnit": unit,
                        "value": row[element],
                        "storedBy": "kctv",
                    }
                    for element in ELEMENTS
                    if row[element] != ""
                )
    return values


def _full(value: dict[str, str]) -> tuple[str, ...]:
    return (*_key(value), value["storedBy"])


def test_a_regional_week_round_trips_through_dhis2_py(server: str, loaded: Session) -> None:
    api = Api(server, "ada", PASSWORD)
    week = regional_week(loaded)
    assert len({v["orgUnit"] for v in week}) >= 13
    params = {"idScheme": "CODE"}
    answer = api.post("dataValueSets", json={"dataValues": week}, params=params).json()
    assert answer["response"]["importCount"] == {
        "imported": len(week),
        "updated": 0,
        "ignored": 0,
        "deleted": 0,
    }
    query = {
        "orgUnit": "KP",
        "children": "true",
        "startDate": "2022-05-18",
        "endDate": "2022-05-24",
        "idScheme": "CODE",
    }
    read = api.get("dataValueSets", params=query).json()
    assert sorted(map(_full, read["dataValues"])) == sorted(map(_full, week))
    rows = list(
        csv.DictReader(io.StringIO(api.get("dataValueSets", params=query, file_type="csv").text))
    )
    assert sorted(
        (r["dataelement"], r["period"], r["orgunit"], r["value"], r["storedby"]) for r in rows
    ) == sorted(map(_full, week))
    assert {r["deleted"] for r in rows} == {"false"}
    # The same read by uids (DHIS2's default scheme) names the same values.
    by_uid = api.get("dataValueSets", params={**query, "idScheme": "UID"}).json()
    assert len(by_uid["dataValues"]) == len(week)
    assert all(len(v["orgUnit"]) == 11 for v in by_uid["dataValues"])


def test_one_value_and_the_org_units_through_dhis2_py(server: str) -> None:
    api = Api(server, "rex", PASSWORD)
    one = {"de": "new_fever", "pe": "20220520", "ou": "KP-04"}
    assert api.post("dataValues", params={**one, "value": "7651"}).status_code == 201
    assert api.get("dataValues", params=one).json() == ["7651"]  # GET appends .json
    assert api.delete("dataValues", params=one).status_code == 204
    with pytest.raises(RequestException) as gone:
        api.get("dataValues", params=one)
    assert gone.value.code == 404
    pages = list(api.get_paged("organisationUnits", params={"fields": "id,code"}, page_size=5))
    assert len(pages) == pages[0]["pager"]["pageCount"] > 1
    codes = [u["code"] for page in pages for u in page["organisationUnits"]]
    assert len(codes) == len(set(codes)) == pages[0]["pager"]["total"]
    assert "KP-04" in codes
    assert all(c.startswith("KP-04") for c in codes)  # rex sees Chagang's subtree only


# --- in-process: strategies, selections, schemes, single values -----------------------


def basic(name: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def client(db_url: str, loaded: Session) -> Iterator[TestClient]:
    """The app in-process: rex reports for Chagang, eve is a national epidemiologist."""
    auth.create_user(loaded, "rex", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="t")
    auth.create_user(
        loaded, "eve", role="epidemiologist", scopes=["KP"], password=PASSWORD, actor="t"
    )
    loaded.commit()
    context = AppContext.from_overrides(database_url=db_url, secret_key="k" * 40)
    with TestClient(create_app(context)) as test_client:
        yield test_client


def _v(element: str, value: str | None, unit: str = "KP-04", day: str = "20220520") -> dict:
    item = {"dataElement": element, "period": day, "orgUnit": unit}
    if value is not None:
        item["value"] = value
    return item


def stored(session: Session) -> dict[tuple[str, str, str], int]:
    """Every stored value, keyed by (element, unit, day)."""
    session.expire_all()
    rows = session.execute(
        select(DataElement.code, OrgUnit.code, DataValue.period, DataValue.value)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
    )
    return {(e, u, p.strftime("%Y%m%d")): v for e, u, p, v in rows}


def post_set(client: TestClient, values: list[dict], strategy: str, **params: str) -> Any:
    return client.post(
        "/api/37/dataValueSets",
        json={"dataValues": values},
        params={"importStrategy": strategy, **params},
        headers=basic("rex"),
    )


def test_each_import_strategy_counts_as_dhis2_does(client: TestClient, loaded: Session) -> None:
    seeded = post_set(client, [_v("new_fever", "10"), _v("new_deaths", "1")], "CREATE_AND_UPDATE")
    assert seeded.json()["importCount"]["imported"] == 2

    # CREATE: the new value is imported; the stored ones are ignored, not updated.
    create = post_set(
        client,
        [_v("new_fever", "99"), _v("new_deaths", "1"), _v("new_recovered", "5")],
        "create",
    ).json()
    assert create["importCount"] == {"imported": 1, "updated": 0, "ignored": 2, "deleted": 0}
    assert create["rejectedIndexes"] == [0, 1]  # DHIS2 lists the values it ignored
    assert create["importOptions"]["importStrategy"] == "CREATE"
    assert stored(loaded) == {
        ("new_fever", "KP-04", "20220520"): 10,
        ("new_deaths", "KP-04", "20220520"): 1,
        ("new_recovered", "KP-04", "20220520"): 5,
    }

    # UPDATE: stored values change (or stay); one not stored yet is ignored.
    update = post_set(
        client,
        [_v("new_fever", "12"), _v("new_deaths", "1"), _v("under_treatment", "40")],
        "UPDATE",
    ).json()
    assert update["importCount"] == {"imported": 0, "updated": 1, "ignored": 2, "deleted": 0}
    assert update["rejectedIndexes"] == [2]
    assert stored(loaded)[("new_fever", "KP-04", "20220520")] == 12
    assert ("under_treatment", "KP-04", "20220520") not in stored(loaded)

    # DELETE, dry run: counted, nothing deleted.
    named = [_v("new_fever", "12"), _v("new_recovered", None), _v("under_treatment", "3")]
    dry = post_set(client, named, "DELETE", dryRun="true").json()
    assert dry["importCount"] == {"imported": 0, "updated": 0, "ignored": 1, "deleted": 2}
    assert len(stored(loaded)) == 3

    # DELETE: every stored value named goes, whatever value is given; the rest is ignored.
    delete = post_set(client, named, "DELETE").json()
    assert delete["status"] == "SUCCESS"
    assert delete["importCount"] == {"imported": 0, "updated": 0, "ignored": 1, "deleted": 2}
    assert stored(loaded) == {("new_deaths", "KP-04", "20220520"): 1}
    audits = loaded.scalars(select(DataValueAudit.action)).all()
    assert sorted(audits) == ["delete", "delete", "update"]

    # The wrapped summary (unversioned path) counts the same way.
    wrapped = client.post(
        "/api/dataValueSets",
        json={"dataValues": [_v("new_deaths", "1")]},
        params={"importStrategy": "DELETE"},
        headers=basic("rex"),
    ).json()
    assert wrapped["response"]["importCount"]["deleted"] == 1
    assert stored(loaded) == {}


def test_a_bad_strategy_or_value_writes_nothing(client: TestClient, loaded: Session) -> None:
    unknown = post_set(client, [_v("new_fever", "10")], "MERGE")
    assert unknown.status_code == 409
    assert "importStrategy 'MERGE'" in unknown.json()["detail"]
    bad = post_set(client, [_v("new_fever", "10"), _v("new_deaths", "-1")], "CREATE")
    assert bad.status_code == 409
    assert bad.json()["rejectedIndexes"] == [1]
    assert stored(loaded) == {}


def test_selections_children_periods_units_and_data_sets(
    client: TestClient, loaded: Session
) -> None:
    values = [
        _v("new_fever", "10"),
        _v("new_fever", "11", day="20220521"),
        _v("new_fever", "3", unit="KP-04-KANGGYE"),
        _v("new_fever", "50", unit="KP-01"),
    ]
    answer = client.post("/api/37/dataValueSets", json={"dataValues": values}, headers=basic("eve"))
    assert answer.json()["importCount"]["imported"] == 4

    def read(**params: Any) -> set[tuple[str, str, str]]:
        got = client.get(
            "/api/dataValueSets.json", params={"idScheme": "CODE", **params}, headers=basic("eve")
        )
        assert got.status_code == 200, got.text
        return {(v["orgUnit"], v["period"], v["value"]) for v in got.json()["dataValues"]}

    may = {"startDate": "2022-05-01", "endDate": "2022-05-31"}
    assert read(orgUnit="KP-04", **may) == {
        ("KP-04", "20220520", "10"),
        ("KP-04", "20220521", "11"),
    }
    assert read(orgUnit="KP-04", children="true", **may) == {
        ("KP-04", "20220520", "10"),
        ("KP-04", "20220521", "11"),
        ("KP-04-KANGGYE", "20220520", "3"),
    }
    assert read(orgUnit=["KP-04", "KP-01"], period="20220520") == {
        ("KP-04", "20220520", "10"),
        ("KP-01", "20220520", "50"),
    }
    assert read(orgUnit="KP-04", startDate="2022-05-21", endDate="2022-05-21") == {
        ("KP-04", "20220521", "11")
    }
    assert len(read(orgUnit="KP", children="true", dataSet="FEVER_DAILY", **may)) == 4
    assert read(orgUnit="KP", children="true", dataElement="new_deaths", **may) == set()
    for bad, words in (
        ({"orgUnit": "KP-04", "dataSet": "NOPE", **may}, "dataSet"),
        ({"orgUnit": "Atlantis", **may}, "Atlantis"),
        ({"orgUnit": "KP-04", "period": "2022X20"}, "2022X20"),
        ({"orgUnit": "KP-04"}, "period"),
    ):
        refused = client.get("/api/dataValueSets", params=bad, headers=basic("eve"))
        assert refused.status_code == 409, bad
        assert words in refused.json()["detail"]
    outside = client.get(
        "/api/dataValueSets", params={"orgUnit": "KP-01", **may}, headers=basic("rex")
    )
    assert outside.status_code == 403


def test_id_schemes_in_and_out(client: TestClient, loaded: Session) -> None:
    kp04 = loaded.scalar(select(OrgUnit.uid).where(OrgUnit.code == "KP-04"))
    fever = loaded.scalar(select(DataElement.uid).where(DataElement.code == "new_fever"))
    by_uid = client.post(
        "/api/37/dataValueSets",
        json={"dataValues": [{**_v("new_fever", "10"), "dataElement": fever, "orgUnit": kp04}]},
        params={"idScheme": "UID"},
        headers=basic("rex"),
    )
    assert by_uid.json()["importCount"]["imported"] == 1
    query = {"orgUnit": kp04, "period": "20220520"}

    def first(**params: str) -> dict[str, str]:
        got = client.get("/api/dataValueSets", params={**query, **params}, headers=basic("rex"))
        assert got.status_code == 200, got.text
        return got.json()["dataValues"][0]

    assert (first()["dataElement"], first()["orgUnit"]) == (fever, kp04)  # UID by default
    both = first(idScheme="CODE")
    assert (both["dataElement"], both["orgUnit"]) == ("new_fever", "KP-04")
    mixed = first(idScheme="CODE", dataElementIdScheme="UID")
    assert (mixed["dataElement"], mixed["orgUnit"]) == (fever, "KP-04")
    other = first(orgUnitIdScheme="code")
    assert (other["dataElement"], other["orgUnit"]) == (fever, "KP-04")
    text = client.get(
        "/api/dataValueSets.csv",
        params={**query, "dataElementIdScheme": "CODE"},
        headers=basic("rex"),
    ).text
    assert text.splitlines()[1].startswith(f"new_fever,20220520,{kp04},")
    for name in ("idScheme", "orgUnitIdScheme", "dataElementIdScheme"):
        refused = client.get(
            "/api/dataValueSets", params={**query, name: "NAME"}, headers=basic("rex")
        )
        assert refused.status_code == 409
        assert f"{name} 'NAME' is not supported" in refused.json()["detail"]
        posted = post_set(client, [_v("new_fever", "11")], "CREATE_AND_UPDATE", **{name: "NAME"})
        assert posted.status_code == 409
        assert name in posted.json()["detail"]
    in_body = client.post(
        "/api/37/dataValueSets",
        json={"orgUnitIdScheme": "ATTRIBUTE:abc", "dataValues": [_v("new_fever", "11")]},
        headers=basic("rex"),
    )
    assert in_body.status_code == 409
    assert "orgUnitIdScheme" in in_body.json()["detail"]
    assert stored(loaded) == {("new_fever", "KP-04", "20220520"): 10}


def test_one_value_get_post_delete(client: TestClient, loaded: Session) -> None:
    one = {"de": "new_fever", "pe": "20220520", "ou": "KP-04"}
    missing = client.get("/api/dataValues", params=one, headers=basic("rex"))
    assert missing.status_code == 404
    assert "new_fever" in missing.json()["detail"]
    made = client.post("/api/dataValues", params={**one, "value": "12"}, headers=basic("rex"))
    assert made.status_code == 201
    assert made.content == b""
    got = client.get("/api/dataValues.json", params=one, headers=basic("rex"))
    assert got.json() == ["12"]
    assert got.headers["cache-control"] == "no-store"
    # By uid, on a versioned path, with a comment: updated.
    kp04 = loaded.scalar(select(OrgUnit.uid).where(OrgUnit.code == "KP-04"))
    again = client.post(
        "/api/40/dataValues",
        params={**one, "ou": kp04, "value": "13", "comment": "recounted"},
        headers=basic("rex"),
    )
    assert again.status_code == 201
    assert client.get("/api/40/dataValues", params=one, headers=basic("rex")).json() == ["13"]
    # A comment alone changes the comment and keeps the value.
    note = client.post(
        "/api/dataValues", params={**one, "comment": "checked"}, headers=basic("rex")
    )
    assert note.status_code == 201
    row = loaded.scalars(select(DataValue)).one()
    loaded.refresh(row)
    assert (row.value, row.comment, row.changed_by) == (13, "checked", "rex")
    run = loaded.scalars(select(ImportRun).order_by(ImportRun.id.desc())).first()
    assert (run.channel, run.user) == ("api", "rex")
    gone = client.delete("/api/dataValues", params=one, headers=basic("rex"))
    assert gone.status_code == 204
    assert gone.content == b""
    assert stored(loaded) == {}
    assert client.delete("/api/dataValues", params=one, headers=basic("rex")).status_code == 404


def test_one_value_refusals_write_nothing(client: TestClient, loaded: Session) -> None:
    one = {"de": "new_fever", "pe": "20220520", "ou": "KP-04"}
    assert (
        client.post(
            "/api/dataValues", params={**one, "value": "12"}, headers=basic("rex")
        ).status_code
        == 201
    )
    for params, status, words in (
        ({**one, "ou": "KP-01", "value": "5"}, 403, "outside their scopes"),
        ({**one, "value": "-5"}, 409, "value: -5 is negative"),
        ({**one, "value": "many"}, 409, "value:"),
        ({**one, "de": "nope", "value": "5"}, 409, "de: unknown data element"),
        ({**one, "ou": "Atlantis", "value": "5"}, 409, "ou: unknown org unit"),
        ({**one, "pe": "2022W20", "value": "5"}, 409, "new_fever is reported daily"),
        ({**one, "pe": "20990101", "value": "5"}, 409, "has not begun yet"),
        ({**one, "co": "Xyz12345678", "value": "5"}, 409, "co: category option combo"),
        ({**one, "cc": "a", "cp": "b", "value": "5"}, 409, "attribute option combos"),
        ({**one, "ou": "KP-04-KANGGYE", "comment": "c"}, 409, "to comment on"),
        (one, 409, "give a value"),
    ):
        refused = client.post("/api/dataValues", params=params, headers=basic("rex"))
        assert refused.status_code == status, (params, refused.text)
        assert words in refused.json()["detail"], refused.json()["detail"]
    outside = client.delete("/api/dataValues", params={**one, "ou": "KP-01"}, headers=basic("rex"))
    assert outside.status_code == 403
    read_outside = client.get(
        "/api/dataValues", params={**one, "ou": "KP-01"}, headers=basic("rex")
    )
    assert read_outside.status_code == 403
    assert stored(loaded) == {("new_fever", "KP-04", "20220520"): 12}


def test_an_approved_period_refuses_one_value_and_says_who_approved_it(
    client: TestClient, loaded: Session
) -> None:
    one = {"de": "new_fever", "pe": "20220520", "ou": "KP-04"}
    assert (
        client.post(
            "/api/dataValues", params={**one, "value": "12"}, headers=basic("rex")
        ).status_code
        == 201
    )
    approved = client.post(
        "/api/v1/approvals", json={"orgUnit": "KP-04", "period": "2022-05-20"}, headers=basic("eve")
    )
    assert approved.status_code == 200, approved.text
    when = approved.json()["approved_at"][:10]
    changed = client.post("/api/dataValues", params={**one, "value": "13"}, headers=basic("rex"))
    assert changed.status_code == 409
    detail = changed.json()["detail"]
    assert "approved by eve on " + when in detail
    assert "nothing was written" in detail
    deleted = client.delete("/api/dataValues", params=one, headers=basic("rex"))
    assert deleted.status_code == 409
    assert "approved by eve" in deleted.json()["detail"]
    assert stored(loaded) == {("new_fever", "KP-04", "20220520"): 12}
    assert client.get("/api/dataValues", params=one, headers=basic("rex")).json() == ["12"]


def test_csv_answers_are_formula_safe_downloads(client: TestClient) -> None:
    # A reporter's comment that a spreadsheet would run: neutralised in the CSV that a
    # national epidemiologist downloads, unless a machine client asks for the exact text.
    trap = '=HYPERLINK("http://evil.example/","ok")'
    value = {**_v("new_fever", "12"), "comment": trap}
    assert post_set(client, [value], "CREATE_AND_UPDATE").status_code == 200
    query = {"orgUnit": "KP-04", "period": "20220520", "idScheme": "CODE"}
    safe = client.get("/api/dataValueSets.csv", params=query, headers=basic("eve"))
    assert safe.status_code == 200
    assert safe.headers["content-disposition"].startswith("attachment")
    [row] = list(csv.DictReader(io.StringIO(safe.text)))
    assert row["comment"] == "'" + trap
    exact = client.get(
        "/api/dataValueSets.csv", params={**query, "formulaSafe": "false"}, headers=basic("eve")
    )
    [raw] = list(csv.DictReader(io.StringIO(exact.text)))
    assert raw["comment"] == trap
    # JSON is data, not a spreadsheet: never altered.
    as_json = client.get("/api/dataValueSets", params=query, headers=basic("eve")).json()
    assert as_json["dataValues"][0]["comment"] == trap
