"""The audit trail: every write with its user, time, channel and client; ``sitroom audit``."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth import service as auth
from sitroom.cli import hoist_global_options
from sitroom.context import AppContext
from sitroom.errors import SitroomError
from sitroom.server.app import create_app
from sitroom.surveillance.models import Approval, ImportRun
from sitroom.trail import audit_trail, parse_since

PASSWORD = "a long enough passphrase 42"


def basic(name: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()}


@pytest.fixture
def people(loaded: Session) -> Session:
    auth.create_user(loaded, "ada", role="admin", scopes=["KP"], password=PASSWORD, actor="test")
    auth.create_user(
        loaded, "eve", role="epidemiologist", scopes=["KP-04"], password=PASSWORD, actor="test"
    )
    auth.create_user(
        loaded, "rex", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="test"
    )
    loaded.commit()
    return loaded


@pytest.fixture
def client(db_url: str, people: Session) -> Iterator[TestClient]:
    context = AppContext.from_overrides(database_url=db_url, secret_key="s" * 40)
    with TestClient(create_app(context)) as test_client:
        yield test_client


def _file(folder: Path, value: str = "7") -> Path:
    path = folder / f"day-{value}.json"
    one = {"dataElement": "new_fever", "period": "20220520", "orgUnit": "KP-04", "value": value}
    path.write_text(json.dumps({"dataValues": [one]}))
    return path


def test_api_writes_record_their_channel_and_client(client: TestClient, people: Session) -> None:
    value = {"orgUnit": "KP-04", "dataElement": "new_fever", "period": "2022-05-20", "value": "7"}
    wrote = client.post("/api/v1/dataValues", json={"dataValues": [value]}, headers=basic("rex"))
    assert wrote.status_code == 200, wrote.text
    approved = client.post(
        "/api/v1/approvals", json={"orgUnit": "KP-04", "period": "2022-05-20"}, headers=basic("ada")
    )
    assert approved.status_code == 200, approved.text
    people.expire_all()
    run = people.scalars(select(ImportRun).where(ImportRun.user == "rex")).one()
    assert (run.channel, run.client, run.created) == ("api", "testclient", 1)
    approval = people.scalars(select(Approval)).one()
    assert (approval.approved_via, approval.approved_client) == ("api", "testclient")

    trail = client.get("/api/v1/audit", params={"since": "1h"}, headers=basic("ada"))
    assert trail.status_code == 200, trail.text
    entries = trail.json()["entries"]
    by_kind = {(e["kind"], e["user"], e["action"]) for e in entries}
    assert ("import", "rex", "import") in by_kind
    assert ("approval", "ada", "approve") in by_kind
    assert ("security", "test", "user_created") in by_kind
    imported = next(e for e in entries if e["kind"] == "import" and e["user"] == "rex")
    assert (imported["channel"], imported["client"]) == ("api", "testclient")
    assert "1 created" in imported["detail"]
    # Filtered by user: rex's import and the security events about rex.
    mine = client.get("/api/v1/audit", params={"user": "rex"}, headers=basic("ada")).json()
    assert {e["kind"] for e in mine["entries"]} == {"import", "security"}
    assert all(e["user"] == "rex" or e["what"] == "rex" for e in mine["entries"])


def test_reading_the_audit_needs_audit_read_over_the_country(client: TestClient) -> None:
    # A reporter lacks the permission; a regional epidemiologist has it, but not nationwide.
    for name in ("rex", "eve"):
        refused = client.get("/api/v1/audit", headers=basic(name))
        assert refused.status_code == 403, name
        assert refused.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/audit", headers=basic("ada")).status_code == 200
    bad = client.get("/api/v1/audit", params={"since": "yesterday"}, headers=basic("ada"))
    assert bad.status_code == 422
    assert "since" in bad.json()["detail"]


def test_the_command_lists_imports_approvals_and_value_changes(
    cli, tmp_path: Path, people: Session
) -> None:
    assert cli("import", str(_file(tmp_path))).code == 0
    assert cli("import", str(_file(tmp_path, "9"))).code == 0
    assert cli("approve", "KP-04", "2022-05-20").code == 0
    listed = cli("audit", "--since", "1h", "--json")
    assert listed.code == 0, listed.err
    page = json.loads(listed.out)
    runs = [e for e in page["entries"] if e["kind"] == "import" and e["user"] == "tester"]
    assert [e["channel"] for e in runs] == ["file", "file"]
    assert "1 updated" in runs[1]["detail"]
    assert [e["action"] for e in page["entries"] if e["kind"] == "approval"] == ["approve"]
    assert not [e for e in page["entries"] if e["kind"] == "value"]
    with_values = json.loads(cli("audit", "--values", "--kind", "value", "--json").out)
    assert [(e["what"], e["detail"][:6]) for e in with_values["entries"]] == [
        ("new_fever / KP-04 / 2022-05-20", "7 -> 9")
    ]
    # --user after the command filters; before it, it says who acts (a reporter may not read).
    only_test = json.loads(cli("audit", "--user", "test", "--json").out)
    assert {e["user"] for e in only_test["entries"]} == {"test"}
    refused = cli("--user", "rex", "audit")
    assert refused.code != 0
    assert "audit.read" in refused.err
    table = cli("audit", "--limit", "2")
    assert table.code == 0
    assert "showing the newest 2 of" in table.out
    bad = cli("audit", "--since", "last week")
    assert bad.code != 0
    assert "since: 'last week'" in bad.err


def test_the_audit_commands_own_user_option_is_not_hoisted() -> None:
    assert hoist_global_options(["audit", "--user", "kim"]) == ["audit", "--user", "kim"]
    assert hoist_global_options(["--user", "ada", "audit", "--user", "kim"]) == [
        "--user",
        "ada",
        "audit",
        "--user",
        "kim",
    ]
    assert hoist_global_options(["import", "f.csv", "--user", "kim"]) == [
        "--user",
        "kim",
        "import",
        "f.csv",
    ]


def test_since_accepts_dates_times_and_spans() -> None:
    now = datetime(2022, 5, 20, 12, tzinfo=UTC)
    assert parse_since("2022-05-20") == datetime(2022, 5, 20, tzinfo=UTC)
    assert parse_since("2022-05-20T18:00+09:00") == datetime(2022, 5, 20, 9, tzinfo=UTC)
    assert parse_since("24h", now=now) == now - timedelta(hours=24)
    assert parse_since("7d", now=now) == now - timedelta(days=7)
    assert parse_since("90m", now=now) == now - timedelta(minutes=90)
    with pytest.raises(SitroomError, match="not a date"):
        parse_since("2022-13-01")


def test_a_limit_keeps_the_newest_and_counts_all(people: Session) -> None:
    page = audit_trail(people, limit=1)
    assert page.matched == 3  # three users created
    assert page.truncated
    assert [e.what for e in page.entries] == ["rex"]
    with pytest.raises(SitroomError, match="kind: unknown"):
        audit_trail(people, kinds=("everything",))
