"""The HTTP server: health, sign-in, scopes, problem+json, security headers."""

from __future__ import annotations

import base64
import json
import logging
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth import service as auth
from sitroom.context import AppContext
from sitroom.errors import ConfigError
from sitroom.server.app import create_app
from sitroom.server.run import checked_secret
from sitroom.surveillance.models import DataValue

SECRET = "s" * 40
PASSWORD = "a long enough passphrase 42"


def basic(name: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def people(loaded: Session) -> Session:
    """An admin, a national epidemiologist, a reporter of Chagang (KP-04), a viewer."""
    auth.create_user(loaded, "ada", role="admin", scopes=["KP"], password=PASSWORD, actor="test")
    auth.create_user(
        loaded, "eve", role="epidemiologist", scopes=["KP"], password=PASSWORD, actor="test"
    )
    auth.create_user(
        loaded, "rex", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="test"
    )
    auth.create_user(
        loaded, "vic", role="viewer", scopes=["KP-01"], password=PASSWORD, actor="test"
    )
    loaded.commit()
    return loaded


@pytest.fixture
def client(db_url: str, people: Session) -> TestClient:
    context = AppContext.from_overrides(database_url=db_url, secret_key=SECRET)
    with TestClient(create_app(context)) as test_client:
        yield test_client


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_signing_in_with_basic_and_with_a_token(client: TestClient, people: Session) -> None:
    refused = client.get("/api/v1/me")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert "Basic" in refused.headers["www-authenticate"]
    me = client.get("/api/v1/me", headers=basic("rex"))
    assert me.status_code == 200
    assert me.json()["role"] == "reporter"
    assert me.json()["scopes"] == ["KP-04"]
    assert client.get("/api/v1/me", headers=basic("rex", "wrong password")).status_code == 401
    token = auth.create_token(people, "rex", "laptop")
    people.commit()
    by_token = client.get("/api/v1/me", headers={"Authorization": f"ApiToken {token}"})
    assert by_token.json()["username"] == "rex"
    bogus = client.get("/api/v1/me", headers={"Authorization": "ApiToken st_nothing"})
    assert bogus.status_code == 401


def _value(unit: str, value: str = "7", period: str = "2022-05-20") -> dict[str, str]:
    return {"orgUnit": unit, "dataElement": "new_fever", "period": period, "value": value}


def test_a_reporter_writes_and_reads_their_region_only(client: TestClient, people: Session) -> None:
    wrote = client.post(
        "/api/v1/dataValues", json={"dataValues": [_value("KP-04")]}, headers=basic("rex")
    )
    assert wrote.status_code == 200, wrote.text
    assert wrote.json()["created"] == 1
    # Another region in the same batch: refused, and nothing of the batch written.
    mixed = client.post(
        "/api/v1/dataValues",
        json={"dataValues": [_value("KP-04", "9"), _value("KP-03", "5")]},
        headers=basic("rex"),
    )
    assert mixed.status_code == 409
    body = mixed.json()
    assert body["rejected"] == 1
    assert body["rejections"][0]["index"] == 1
    assert "KP-03" in body["rejections"][0]["reason"] or "scope" in body["rejections"][0]["reason"]
    stored = people.scalar(select(func.count()).select_from(DataValue))
    assert stored == 1
    mine = client.get("/api/v1/dataValues", params={"orgUnit": "KP-04"}, headers=basic("rex"))
    assert [v["value"] for v in mine.json()["values"]] == [7]
    theirs = client.get("/api/v1/dataValues", params={"orgUnit": "KP-03"}, headers=basic("rex"))
    assert theirs.status_code == 403
    # Without a unit: whatever lies in the scope.
    assert client.get("/api/v1/dataValues", headers=basic("rex")).json()["total"] == 1
    assert client.get("/api/v1/dataValues", headers=basic("vic")).json()["total"] == 0
    # A viewer cannot write even inside their scope.
    viewer = client.post(
        "/api/v1/dataValues", json={"dataValues": [_value("KP-01")]}, headers=basic("vic")
    )
    assert viewer.status_code == 403


def test_org_units_are_those_in_scope_and_their_ancestors(client: TestClient) -> None:
    units = client.get("/api/v1/orgUnits", headers=basic("rex")).json()
    inside = {u["code"] for u in units if u["in_scope"]}
    assert "KP-04" in inside
    assert "KP-03" not in {u["code"] for u in units}
    assert {u["code"] for u in units if not u["in_scope"]} == {"KP"}
    everything = client.get("/api/v1/orgUnits", headers=basic("eve")).json()
    assert all(u["in_scope"] for u in everything)
    assert len(everything) > len(units)


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ('{"dataValues": [', 400, "JSON"),
        ('{"dataValues": [{"orgUnit": "KP-04"}]}', 422, "dataElement"),
        ('{"dataValues": [], "surprise": 1}', 422, "surprise"),
        (
            '{"dataValues": [{"orgUnit": "KP-04", "dataElement": "new_fever",'
            ' "period": "2022-13-40", "value": "1"}]}',
            409,
            "2022-13-40",
        ),
    ],
)
def test_bad_bodies_get_problem_details(
    client: TestClient, body: str, status: int, fragment: str
) -> None:
    answer = client.post(
        "/api/v1/dataValues",
        content=body,
        headers={**basic("rex"), "Content-Type": "application/json"},
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert fragment.lower() in answer.text.lower()


def test_security_headers_and_body_limit(db_url: str, people: Session) -> None:
    context = AppContext.from_overrides(database_url=db_url, secret_key=SECRET, max_body_bytes=2048)
    with TestClient(create_app(context)) as small:
        answer = small.get("/healthz")
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert answer.headers["cache-control"] == "no-store"
        big = small.post(
            "/api/v1/dataValues",
            content=b'{"dataValues": [' + b" " * 4096 + b"]}",
            headers={**basic("rex"), "Content-Type": "application/json"},
        )
        assert big.status_code == 413
        assert people.scalar(select(func.count()).select_from(DataValue)) == 0


def test_the_request_log_names_the_user_never_the_secret(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sitroom.access"):
        client.get("/api/v1/me?token=abc", headers=basic("rex"))
    lines = [r.getMessage() for r in caplog.records if r.name == "sitroom.access"]
    assert len(lines) == 1
    assert '"user": "rex"' in lines[0]
    assert '"status": 200' in lines[0]
    assert "abc" not in lines[0]
    assert PASSWORD not in lines[0]


def test_a_forged_line_in_a_path_stays_inside_one_log_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Log injection (ASVS 7.3.1): a newline in the path cannot start a false log line.
    with caplog.at_level(logging.INFO, logger="sitroom.access"):
        client.get('/api/v1/orgUnits/KP%0A{"user": "admin", "status": 200}', headers=basic("rex"))
    lines = [r.getMessage() for r in caplog.records if r.name == "sitroom.access"]
    assert len(lines) == 1
    assert "\n" not in lines[0]
    record = json.loads(lines[0])
    assert record["user"] == "rex"
    assert record["path"].startswith("/api/v1/orgUnits/KP\n")


def test_the_secret_key_is_required_outside_the_demo() -> None:
    with pytest.raises(ConfigError, match="SITROOM_SECRET_KEY is not set"):
        checked_secret("", demo=False)
    with pytest.raises(ConfigError, match="too weak"):
        checked_secret("changeme", demo=False)
    assert len(checked_secret("", demo=True)) >= 32
    assert checked_secret(SECRET, demo=False) == SECRET


def test_approvals_over_http(client: TestClient) -> None:
    assert (
        client.post(
            "/api/v1/dataValues", json={"dataValues": [_value("KP-04")]}, headers=basic("rex")
        ).status_code
        == 200
    )
    target = {"orgUnit": "KP-04", "period": "2022-05-20"}
    assert client.post("/api/v1/approvals", json=target, headers=basic("rex")).status_code == 403
    done = client.post("/api/v1/approvals", json=target, headers=basic("eve"))
    assert done.status_code == 200, done.text
    assert done.json()["approved_by"] == "eve"
    refused = client.post(
        "/api/v1/dataValues", json={"dataValues": [_value("KP-04", "8")]}, headers=basic("rex")
    )
    assert refused.status_code == 409
    assert "approved by eve" in refused.json()["rejections"][0]["reason"]
    listed = client.get("/api/v1/approvals", headers=basic("rex")).json()
    assert [a["org_unit"] for a in listed] == ["KP-04"]
    assert client.get("/api/v1/approvals", headers=basic("vic")).json() == []
    no_reason = client.post("/api/v1/approvals/unapprove", json=target, headers=basic("eve"))
    assert no_reason.status_code == 422
    ended = client.post(
        "/api/v1/approvals/unapprove", json={**target, "reason": "recount"}, headers=basic("eve")
    )
    assert ended.json()["active"] is False


def test_inputs_that_were_server_errors_are_refused_as_input(client: TestClient) -> None:
    """Found by the OpenAPI fuzz test's probes: each was a 500 (the NULs on PostgreSQL)."""
    huge = client.get("/api/v1/dataValues", params={"offset": 2**63}, headers=basic("ada"))
    assert huge.status_code == 422
    assert "offset" in huge.json()["detail"]
    nul = client.get("/api/v1/dataValues", params={"orgUnit": "KP\x00"}, headers=basic("ada"))
    assert nul.status_code == 422
    assert nul.json()["errors"][0]["field"] == "orgUnit"
    dhis2 = client.get("/api/dataValueSets", params={"orgUnit": "\x00"}, headers=basic("ada"))
    assert dhis2.status_code == 422
    token = base64.b64encode(f"ada\x00:{PASSWORD}".encode()).decode()
    assert client.get("/api/v1/me", headers={"Authorization": f"Basic {token}"}).status_code == 401
    form = client.post(
        "/api/v1/dataValues",
        content=b"dataValues=1",
        headers={**basic("ada"), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415
    assert form.headers["content-type"] == "application/problem+json"


def test_a_nul_in_an_approval_body_is_invalid_input(client: TestClient) -> None:
    answer = client.post(
        "/api/v1/approvals",
        json={"orgUnit": "KP\x00", "period": "2022-05-20"},
        headers=basic("eve"),
    )
    assert answer.status_code == 422
    assert "NUL" in answer.text


def test_an_unexpected_error_is_a_generic_problem_and_logged(
    db_url: str, people: Session, caplog: pytest.LogCaptureFixture
) -> None:
    # ASVS 7.4.1: the client learns that something failed, never what (no traceback, no text
    # of the exception); the log has it.
    app = create_app(AppContext.from_overrides(database_url=db_url, secret_key=SECRET))

    def fail() -> None:
        raise RuntimeError("secret internals: /srv/sitroom/db password=hunter2")

    app.add_api_route("/api/v1/boom", fail)
    with (
        caplog.at_level(logging.ERROR, logger="sitroom.server"),
        TestClient(app, raise_server_exceptions=False) as test_client,
    ):
        answer = test_client.get("/api/v1/boom")
    assert answer.status_code == 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert "hunter2" not in answer.text
    assert "Traceback" not in answer.text
    assert "the error is in its log" in answer.json()["detail"]
    assert any("hunter2" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_the_api_docs_page_loads_nothing_from_the_network(client: TestClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "https://" not in page.text
    assert "http://" not in page.text
    assert "<script>" not in page.text  # no inline script: the CSP forbids it
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        got = client.get(asset)
        assert got.status_code == 200, asset
    assert "SwaggerUIBundle" in client.get("/static/swagger-init.js").text
