"""DHIS2's metadata lists: /api/organisationUnits and /api/dataElements (paging, fields, filter)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth import service as auth
from sitroom.context import AppContext
from sitroom.places.models import OrgUnit
from sitroom.server.app import create_app
from sitroom.server.routes.dhis2_metadata import Filter, parse_fields
from sitroom.surveillance.models import DataElement

PASSWORD = "a long enough passphrase 42"


def basic(name: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def client(db_url: str, loaded: Session) -> Iterator[TestClient]:
    """A national admin (ada) and a reporter of Chagang (rex)."""
    auth.create_user(loaded, "ada", role="admin", scopes=["KP"], password=PASSWORD, actor="t")
    auth.create_user(loaded, "rex", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="t")
    loaded.commit()
    context = AppContext.from_overrides(database_url=db_url, secret_key="k" * 40)
    with TestClient(create_app(context)) as test_client:
        yield test_client


def units(
    client: TestClient, user: str = "ada", path: str = "/api/organisationUnits", **params: Any
):
    answer = client.get(path, params=params, headers=basic(user))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_default_page_is_ids_and_display_names(client: TestClient, loaded: Session) -> None:
    total = len(loaded.scalars(select(OrgUnit)).all())
    body = units(client)
    assert body["pager"] == {
        "page": 1,
        "pageCount": -(-total // 50),
        "total": total,
        "pageSize": 50,
        "nextPage": "/api/organisationUnits?page=2",
    }
    assert len(body["organisationUnits"]) == 50
    assert set(body["organisationUnits"][0]) == {"id", "displayName"}
    names = [u["displayName"] for u in body["organisationUnits"]]
    assert names == sorted(names)  # ordered by name, as DHIS2


def test_pages_add_up_to_the_unpaged_list(client: TestClient) -> None:
    everything = units(client, paging="false", fields="id")
    assert "pager" not in everything
    ids = [u["id"] for u in everything["organisationUnits"]]
    first = units(client, pageSize=7, fields="id")
    count = first["pager"]["pageCount"]
    assert count == -(-len(ids) // 7)
    paged = []
    for page in range(1, count + 1):
        body = units(client, pageSize=7, page=page, fields="id")
        assert body["pager"]["page"] == page
        assert ("nextPage" in body["pager"]) == (page < count)
        assert ("prevPage" in body["pager"]) == (page > 1)
        paged.extend(u["id"] for u in body["organisationUnits"])
    assert paged == ids
    beyond = units(client, pageSize=7, page=count + 3, fields="id")
    assert beyond["organisationUnits"] == []
    assert beyond["pager"]["prevPage"].endswith(f"page={count}")
    for bad in ({"page": 0}, {"pageSize": 0}, {"pageSize": "many"}):
        refused = client.get("/api/organisationUnits", params=bad, headers=basic("ada"))
        assert refused.status_code == 422
        assert next(iter(bad)) in refused.json()["detail"]


def test_fields_for_units(client: TestClient, loaded: Session) -> None:
    kp, kp04 = (
        loaded.scalars(select(OrgUnit).where(OrgUnit.code == code)).one()
        for code in ("KP", "KP-04")
    )
    districts = loaded.scalars(select(OrgUnit).where(OrgUnit.parent_id == kp04.id)).all()
    fields = "id,code,name,displayName,level,path,parent[id],children[id],colour"
    body = units(client, fields=fields, filter="code:eq:KP-04")
    assert body["organisationUnits"] == [
        {
            "id": kp04.uid,
            "code": "KP-04",
            "name": kp04.name,
            "displayName": kp04.name,
            "level": 2,
            "path": f"/{kp.uid}/{kp04.uid}",
            "parent": {"id": kp.uid},
            "children": [{"id": d.uid} for d in sorted(districts, key=lambda d: d.path)],
        }
    ]  # the unknown "colour" is ignored, as DHIS2 does
    nested = units(client, fields="code,parent[code,name,level]", filter="code:eq:KP-04")
    assert nested["organisationUnits"] == [
        {"code": "KP-04", "parent": {"code": "KP", "name": kp.name, "level": 1}}
    ]
    for everything in ("*", ":all"):
        shown = units(client, fields=everything, filter="code:eq:KP")["organisationUnits"][0]
        assert {"id", "code", "name", "level", "path", "children"} <= set(shown)
        assert "parent" not in shown  # the root has none
        assert shown["path"] == f"/{kp.uid}"
    trimmed = units(client, fields=":all,!children,!path", filter="code:eq:KP-04")
    assert {"children", "path"}.isdisjoint(trimmed["organisationUnits"][0])
    assert trimmed["organisationUnits"][0]["parent"] == {"id": kp.uid}
    unbalanced = client.get(
        "/api/organisationUnits", params={"fields": "id,parent[id"}, headers=basic("ada")
    )
    assert unbalanced.status_code == 400
    assert unbalanced.json()["detail"].startswith("fields:")


def test_filters_on_units(client: TestClient, loaded: Session) -> None:
    kp04 = loaded.scalars(select(OrgUnit).where(OrgUnit.code == "KP-04")).one()
    regions = loaded.scalars(select(OrgUnit.code).where(OrgUnit.level == 2)).all()

    def codes(*filters: str, **params: str) -> set[str]:
        body = units(client, fields="code", paging="false", filter=list(filters), **params)
        return {u["code"] for u in body["organisationUnits"]}

    assert codes("level:eq:2") == set(regions)
    assert codes("code:in:[KP-01,KP-04,nowhere]") == {"KP-01", "KP-04"}
    assert codes("code:!in:[KP]", "level:le:2") == set(regions)
    assert codes("name:like:Chagang") == {"KP-04"}
    assert codes("name:like:chagang") == set()  # like is case-sensitive
    assert codes("name:ilike:chagang") == {"KP-04"}
    assert codes("code:$like:KP-04-", "name:ilike:CHANGG") == {"KP-04-CHANGGANG"}
    children = codes(f"parent.id:eq:{kp04.uid}")
    assert children
    assert all(c.startswith("KP-04-") for c in children)
    assert codes(f"parent.id:eq:{kp04.uid}", "level:eq:2") == set()  # AND
    assert codes("code:eq:KP-01", "code:eq:KP-04", rootJunction="OR") == {"KP-01", "KP-04"}
    assert codes("parent:null") == {"KP"}
    assert codes("children.id:eq:" + kp04.uid) == {"KP"}  # a collection matches by a member
    for bad, words in (
        ("level", "is not property:operator:value"),
        ("name:resembles:x", "unknown operator 'resembles'"),
        ("colour:eq:red", "cannot filter organisationUnits on 'colour'"),
        ("code:in:KP-01,KP-04", "takes a list in brackets"),
        ("level:gt:two", "'two' is not a whole number"),
        ("name:eq", "needs a value"),
    ):
        refused = client.get("/api/organisationUnits", params={"filter": bad}, headers=basic("ada"))
        assert refused.status_code == 400, bad
        assert refused.headers["content-type"] == "application/problem+json"
        detail = refused.json()["detail"]
        assert detail.startswith("filter: ")
        assert words in detail
    junction = client.get(
        "/api/organisationUnits", params={"rootJunction": "XOR"}, headers=basic("ada")
    )
    assert junction.status_code in (400, 422)
    assert "rootJunction" in junction.json()["detail"]


def test_a_user_sees_the_units_of_their_scopes(client: TestClient, loaded: Session) -> None:
    kp = loaded.scalars(select(OrgUnit).where(OrgUnit.code == "KP")).one()
    chagang = loaded.scalars(
        select(OrgUnit.code).where(OrgUnit.path.startswith("/KP/KP-04/"))
    ).all()
    body = units(client, "rex", fields="code,path", paging="false")
    assert {u["code"] for u in body["organisationUnits"]} == set(chagang)
    assert all(u["path"].startswith(f"/{kp.uid}/") for u in body["organisationUnits"])
    assert units(client, "rex", filter="code:eq:KP-01")["pager"]["total"] == 0
    for path in (
        "/api/organisationUnits.json",
        "/api/40/organisationUnits",
        "/api/40/organisationUnits.json",
    ):
        assert units(client, "rex", path=path)["pager"]["total"] == len(chagang)
    assert client.get("/api/organisationUnits").status_code == 401


def test_references_do_not_lead_outside_the_scope(client: TestClient, loaded: Session) -> None:
    # From a district of Chagang up to the country and down again: the country shows its
    # id alone, and its children are not listed (they lie outside the reporter's scope).
    kp = loaded.scalars(select(OrgUnit).where(OrgUnit.code == "KP")).one()
    nested = "code,parent[code,parent[code,name,children[code]]]"
    body = units(client, "rex", fields=nested, filter="code:eq:KP-04-KANGGYE")
    [kanggye] = body["organisationUnits"]
    assert kanggye["parent"]["code"] == "KP-04"
    assert kanggye["parent"]["parent"] == {"id": kp.uid}
    seen = json.dumps(body)
    assert "KP-05" not in seen
    assert "KP-01" not in seen
    # Filters through a reference see no more than the answer would show.
    assert units(client, "rex", filter="parent.code:eq:KP")["pager"]["total"] == 0
    assert units(client, "ada", filter="parent.code:eq:KP")["pager"]["total"] == 13


def test_fields_that_nest_too_deep_or_ask_too_much_are_refused(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = client.get(
        "/api/organisationUnits",
        params={"fields": "parent[children[parent[children[id]]]]"},
        headers=basic("ada"),
    )
    assert deep.status_code == 400
    assert "deeper than 3" in deep.json()["detail"]
    # Past the cap of rendered objects (lowered here: the real one is 200,000): refused
    # while rendering, not sent.
    from sitroom.server.routes import dhis2_metadata

    monkeypatch.setattr(dhis2_metadata, "MAX_RENDERED", 100)
    params = {"fields": "children[parent[children[id]]]", "paging": "false"}
    wide = client.get("/api/organisationUnits", params=params, headers=basic("ada"))
    assert wide.status_code == 400
    assert "more than 100 objects" in wide.json()["detail"]
    small = client.get(
        "/api/organisationUnits", params={"fields": "id", "pageSize": 50}, headers=basic("ada")
    )
    assert small.status_code == 200


def test_data_elements(client: TestClient, loaded: Session) -> None:
    stored = {e.code: e for e in loaded.scalars(select(DataElement))}
    body = client.get(
        "/api/dataElements.json",
        params={"fields": "id,code,name,displayName,valueType,aggregationType", "paging": "false"},
        headers=basic("rex"),
    ).json()
    got = {e["code"]: e for e in body["dataElements"]}
    assert set(got) == set(stored)
    fever, treated = got["new_fever"], got["under_treatment"]
    assert fever == {
        "id": stored["new_fever"].uid,
        "code": "new_fever",
        "name": stored["new_fever"].name,
        "displayName": stored["new_fever"].name,
        "valueType": "INTEGER_ZERO_OR_POSITIVE",
        "aggregationType": "SUM",
    }
    assert treated["aggregationType"] == "LAST"  # a stock: its last level
    flows = client.get(
        "/api/40/dataElements",
        params={"filter": ["aggregationType:eq:SUM", "code:$like:new_"], "fields": "code"},
        headers=basic("rex"),
    ).json()
    assert {e["code"] for e in flows["dataElements"]} == {
        c for c, e in stored.items() if c.startswith("new_") and e.kind == "flow"
    }
    assert flows["pager"]["total"] == len(flows["dataElements"])
    default = client.get("/api/dataElements", headers=basic("rex")).json()
    assert set(default["dataElements"][0]) == {"id", "displayName"}
    bad = client.get("/api/dataElements", params={"filter": "path:eq:x"}, headers=basic("rex"))
    assert bad.status_code == 400
    assert "cannot filter dataElements on 'path'" in bad.json()["detail"]
    order = client.get("/api/dataElements", params={"order": "colour:asc"}, headers=basic("rex"))
    assert order.status_code == 400
    assert order.json()["detail"].startswith("order:")
    backwards = client.get(
        "/api/dataElements",
        params={"order": "code:desc", "fields": "code", "paging": "false"},
        headers=basic("rex"),
    ).json()
    codes = [e["code"] for e in backwards["dataElements"]]
    assert codes == sorted(stored, reverse=True)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("id,name", [("id", None), ("name", None)]),
        (" id , parent[id,name] ", [("id", None), ("parent", [("id", None), ("name", None)])]),
        ("parent[parent[id]],code", [("parent", [("parent", [("id", None)])]), ("code", None)]),
        ("children[]", [("children", [])]),
        ("", []),
    ],
)
def test_fields_are_parsed_with_their_brackets(text: str, parsed: list[Any]) -> None:
    assert parse_fields(text) == parsed


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("name:eq:Chagang", "Chagang", True),
        ("name:!eq:Chagang", "Chagang", False),
        ("name:ne:Chagang", "Kangwon", True),
        ("name:$ilike:cha", "Chagang", True),
        ("name:ilike$:GANG", "Chagang", True),
        ("name:!like:gang", "Chagang", False),
        ("name:token:gang cha", "Chagang", True),
        ("level:ge:2", 3, True),
        ("level:lt:2", 3, False),
        ("parent:!null", None, False),
        ("code:empty", "", True),
    ],
)
def test_filter_operators(text: str, value: Any, expected: bool) -> None:
    parsed = Filter.parse(text)
    assert parsed.matches(value) is expected
