"""Bad input at the door: each kind gets its status and a problem naming the field; nothing written.

One table, one request per row, across sitroom's API and the DHIS2 Web API
(issue #9, item 11). Every row checks the status, the problem+json media
type, a fragment of the detail that names what was wrong, and that the
database holds no value afterwards.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sitroom.auth import service as auth
from sitroom.auth.models import ApiToken
from sitroom.context import AppContext
from sitroom.db import utcnow
from sitroom.server.app import create_app
from sitroom.surveillance.models import DataValue, ImportRun

PASSWORD = "a long enough passphrase 42"
JSON = {"Content-Type": "application/json"}


def basic(name: str, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def value(**changes: str) -> dict[str, str]:
    one = {"orgUnit": "KP-04", "dataElement": "new_fever", "period": "2022-05-20", "value": "7"}
    return {**one, **changes}


@pytest.fixture(scope="module")
def tokens() -> dict[str, str]:
    return {}


@pytest.fixture
def client(db_url: str, loaded: Session, tokens: dict[str, str]) -> Iterator[TestClient]:
    auth.create_user(
        loaded, "rex", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="test"
    )
    auth.create_user(
        loaded, "eve", role="epidemiologist", scopes=["KP"], password=PASSWORD, actor="test"
    )
    tokens["expired"] = auth.create_token(loaded, "rex", "old laptop", expires_days=1)
    tokens["revoked"] = auth.create_token(loaded, "rex", "lost phone", expires_days=30)
    loaded.execute(
        update(ApiToken)
        .where(ApiToken.name == "old laptop")
        .values(expires_at=utcnow() - timedelta(days=2))
    )
    loaded.commit()
    auth.revoke_token(loaded, "lost phone", username="rex", actor="test")
    loaded.commit()
    context = AppContext.from_overrides(
        database_url=db_url, secret_key="s" * 40, max_body_bytes=4096
    )
    with TestClient(create_app(context)) as test_client:
        yield test_client


REPORTER = basic("rex")

#: (name, method, path, keyword arguments of the request, status, fragment of the detail)
CASES: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    (
        "malformed JSON",
        "POST",
        "/api/v1/dataValues",
        {"content": b'{"dataValues": [', "headers": {**REPORTER, **JSON}},
        400,
        "body: not valid JSON",
    ),
    (
        "malformed JSON, DHIS2",
        "POST",
        "/api/dataValueSets",
        {"content": b"{oops", "headers": {**REPORTER, **JSON}},
        400,
        "not JSON",
    ),
    (
        "JSON nested too deep, DHIS2",
        "POST",
        "/api/dataValueSets",
        {"content": b"[" * 4000, "headers": {**REPORTER, **JSON}},
        400,
        "nests too deep",
    ),
    (
        "a date of the year 1, DHIS2",
        "GET",
        "/api/dataValueSets",
        {
            "params": {"orgUnit": "KP-04", "startDate": "0001-01-01", "endDate": "2022-05-15"},
            "headers": REPORTER,
        },
        409,
        "outside the years",
    ),
    ("no credentials", "GET", "/api/v1/me", {}, 401, "sign in"),
    (
        "malformed credentials",
        "GET",
        "/api/v1/me",
        {"headers": {"Authorization": "Basic !!!"}},
        401,
        "malformed",
    ),
    (
        "wrong password",
        "POST",
        "/api/v1/dataValues",
        {"json": {"dataValues": [value()]}, "headers": basic("rex", "not the password")},
        401,
        "",
    ),
    ("expired token", "GET", "/api/v1/me", {"token": "expired"}, 401, "expired"),
    ("revoked token", "GET", "/api/v1/me", {"token": "revoked"}, 401, "revoked"),
    (
        "outside the scope",
        "GET",
        "/api/v1/dataValues",
        {"params": {"orgUnit": "KP-03"}, "headers": REPORTER},
        403,
        "KP-03",
    ),
    (
        "no permission",
        "POST",
        "/api/v1/approvals",
        {"json": {"orgUnit": "KP-04", "period": "2022-05-20"}, "headers": REPORTER},
        403,
        "data.approve",
    ),
    (
        "unknown org unit",
        "GET",
        "/api/v1/dataValues",
        {"params": {"orgUnit": "KP-99"}, "headers": REPORTER},
        404,
        "KP-99",
    ),
    (
        "value outside the scope in a batch",
        "POST",
        "/api/v1/dataValues",
        {"json": {"dataValues": [value(), value(orgUnit="KP-03")]}, "headers": REPORTER},
        409,
        "nothing was written",
    ),
    (
        "unknown data element in a batch",
        "POST",
        "/api/v1/dataValues",
        {"json": {"dataValues": [value(dataElement="new_zombies")]}, "headers": REPORTER},
        409,
        "new_zombies",
    ),
    (
        "oversized body",
        "POST",
        "/api/v1/dataValues",
        {"content": b'{"dataValues": [' + b" " * 8192 + b"]}", "headers": {**REPORTER, **JSON}},
        413,
        "larger than",
    ),
    (
        "wrong content type",
        "POST",
        "/api/v1/dataValues",
        {"content": b"a,b", "headers": {**REPORTER, "Content-Type": "text/plain"}},
        415,
        "text/plain",
    ),
    (
        "wrong content type, DHIS2",
        "POST",
        "/api/dataValueSets",
        {"content": b"<x/>", "headers": {**REPORTER, "Content-Type": "application/xml"}},
        415,
        "application/xml",
    ),
    (
        "unknown field",
        "POST",
        "/api/v1/dataValues",
        {"json": {"dataValues": [value()], "surprise": 1}, "headers": REPORTER},
        422,
        "surprise",
    ),
    (
        "missing field",
        "POST",
        "/api/v1/dataValues",
        {"json": {"dataValues": [{"orgUnit": "KP-04"}]}, "headers": REPORTER},
        422,
        "dataElement",
    ),
    (
        "wrong period format",
        "POST",
        "/api/v1/approvals",
        {"json": {"orgUnit": "KP-04", "period": "May 2022"}, "headers": basic("eve")},
        422,
        "period",
    ),
    (
        "wrong date in a query",
        "GET",
        "/api/v1/dataValues",
        {"params": {"startDate": "2022-02-30"}, "headers": REPORTER},
        422,
        "startDate",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "fragment"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_gets_its_status_and_a_clear_problem(
    client: TestClient,
    loaded: Session,
    tokens: dict[str, str],
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    fragment: str,
) -> None:
    kwargs = dict(kwargs)
    if "token" in kwargs:
        kwargs["headers"] = {"Authorization": f"ApiToken {tokens[kwargs.pop('token')]}"}
    answer = client.request(method, path, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["status"] == status
    assert problem["title"]
    assert fragment.lower() in problem["detail"].lower(), problem
    if status == 401:
        assert "Basic" in answer.headers["www-authenticate"]
    loaded.expire_all()
    assert loaded.scalar(select(func.count()).select_from(DataValue)) == 0
    assert loaded.scalar(select(func.count()).select_from(ImportRun)) == 0


def test_a_stale_etag_is_412_and_writes_nothing(client: TestClient, loaded: Session) -> None:
    """The one status the table cannot send in one request: it needs a value and its tag."""
    path = "/api/v1/dataValues/new_fever/KP-04/2022-05-20"
    made = client.put(path, json={"value": 7}, headers=REPORTER)
    assert made.status_code == 201, made.text
    tag = made.headers["etag"]
    changed = client.put(path, json={"value": 8}, headers={**REPORTER, "If-Match": tag})
    assert changed.status_code == 200, changed.text
    stale = client.put(path, json={"value": 9}, headers={**REPORTER, "If-Match": tag})
    assert stale.status_code == 412
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert "If-Match" in stale.json()["detail"] or "If-Match" in str(stale.json()["errors"])
    loaded.expire_all()
    assert loaded.scalar(select(DataValue.value)) == 8
    assert loaded.scalar(select(func.count()).select_from(ImportRun)) == 2
