"""ETags, If-Match, If-None-Match and Idempotency-Key over HTTP (issue #9, item 5).

Every refusal is checked three ways: its status, its problem+json naming the
header at fault, and the database left exactly as it was (values, audit rows,
import runs).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from sitroom.auth import passwords
from sitroom.auth import service as auth
from sitroom.auth.models import IdempotencyRecord
from sitroom.context import AppContext
from sitroom.db import utcnow
from sitroom.server.app import create_app
from sitroom.surveillance.models import DataValue, DataValueAudit, ImportRun

PASSWORD = "a long enough passphrase 42"
VALUE = "/api/v1/dataValues/new_fever/KP-04/2022-05-20"
PROBLEM = "application/problem+json"


def basic(name: str) -> dict[str, str]:
    token = base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def people(loaded: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """An admin and an epidemiologist of the country, a reporter of Chagang, a viewer."""
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(passwords, "hasher", lambda: cheap)
    for name, role, scope in (
        ("ada", "admin", "KP"),
        ("eve", "epidemiologist", "KP"),
        ("rex", "reporter", "KP-04"),
        ("vic", "viewer", "KP-01"),
    ):
        auth.create_user(loaded, name, role=role, scopes=[scope], password=PASSWORD, actor="t")
    loaded.commit()
    return loaded


def _client(db_url: str, **settings: Any) -> Iterator[TestClient]:
    context = AppContext.from_overrides(database_url=db_url, secret_key="e" * 40, **settings)
    with TestClient(create_app(context)) as client:
        yield client


@pytest.fixture
def client(db_url: str, people: Session) -> Iterator[TestClient]:
    yield from _client(db_url)


def state(session: Session) -> tuple[dict[Any, Any], int, int, int]:
    """Values (with comments), audit rows, import runs, idempotency records."""
    session.expire_all()
    values = {
        (v.element_id, v.org_unit_id, v.period): (v.value, v.comment)
        for v in session.scalars(select(DataValue))
    }

    def count(model: Any) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    return values, count(DataValueAudit), count(ImportRun), count(IdempotencyRecord)


def assert_problem(answer: Any, status: int, title: str, *fragments: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, Any] = answer.json()
    assert body["title"] == title
    for fragment in fragments:
        assert fragment in body["detail"], body["detail"]
    return body


# One value: GET, PUT, DELETE with their preconditions ---------------------------


def test_a_value_is_created_read_and_changed_with_its_etag(
    client: TestClient, people: Session
) -> None:
    missing = client.get(VALUE, headers=basic("rex"))
    assert_problem(missing, 404, "Not found", "no value of new_fever")
    created = client.put(VALUE, json={"value": 7, "comment": "first"}, headers=basic("rex"))
    assert created.status_code == 201, created.text
    etag = created.headers["etag"]
    assert etag.startswith('"')  # strong: not W/"..."
    assert created.json()["action"] == "created"
    assert created.json()["value"]["value"] == 7
    read = client.get(VALUE, headers=basic("rex"))
    assert read.status_code == 200
    assert read.headers["etag"] == etag
    assert read.json()["etag"] == etag.strip('"')
    assert read.json()["changed_by"] == "rex"
    assert read.json()["comment"] == "first"
    same = client.get(VALUE, headers={**basic("rex"), "If-None-Match": etag})
    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["etag"] == etag

    changed = client.put(VALUE, json={"value": 9}, headers={**basic("rex"), "If-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.json()["action"] == "updated"
    assert changed.json()["value"]["comment"] == "first"  # left out: kept
    new_etag = changed.headers["etag"]
    assert new_etag != etag
    assert client.get(VALUE, headers={**basic("rex"), "If-None-Match": etag}).status_code == 200
    # The write went through the importer: an audit row, an import run of the API.
    run = people.get(ImportRun, changed.json()["import_id"])
    assert run is not None
    assert (run.channel, run.client, run.user, run.updated) == ("api", "testclient", "rex", 1)
    audit = people.scalars(select(DataValueAudit)).one()
    assert (audit.old_value, audit.new_value, audit.changed_by) == (7, 9, "rex")
    assert audit.import_id == run.id


def test_changing_a_stored_value_without_if_match_is_428(
    client: TestClient, people: Session
) -> None:
    etag = client.put(VALUE, json={"value": 7}, headers=basic("rex")).headers["etag"]
    before = state(people)
    refused = client.put(VALUE, json={"value": 8}, headers=basic("rex"))
    body = assert_problem(refused, 428, "Precondition required", "If-Match")
    assert body["errors"][0]["field"] == "If-Match"
    deleting = client.delete(VALUE, headers=basic("rex"))
    assert_problem(deleting, 428, "Precondition required", "If-Match")
    assert state(people) == before
    assert client.get(VALUE, headers=basic("rex")).headers["etag"] == etag


def test_a_stale_etag_is_412_naming_the_current_state(client: TestClient, people: Session) -> None:
    first = client.put(VALUE, json={"value": 7}, headers=basic("rex")).headers["etag"]
    second = client.put(
        VALUE, json={"value": 8}, headers={**basic("eve"), "If-Match": first}
    ).headers["etag"]
    before = state(people)
    stale = client.put(VALUE, json={"value": 99}, headers={**basic("rex"), "If-Match": first})
    body = assert_problem(stale, 412, "Precondition failed", "If-Match", "it is now 8", "eve")
    assert body["errors"][0]["field"] == "If-Match"
    assert body["current"]["value"] == 8
    assert body["current"]["etag"] == second.strip('"')
    assert stale.headers["etag"] == second
    # A weak tag never matches If-Match (strong comparison), nor does garbage.
    weak = client.put(
        VALUE, json={"value": 99}, headers={**basic("rex"), "If-Match": f"W/{second}"}
    )
    assert_problem(weak, 412, "Precondition failed", "If-Match")
    garbage = client.delete(VALUE, headers={**basic("rex"), "If-Match": '"nonsense"'})
    assert_problem(garbage, 412, "Precondition failed", "If-Match")
    assert state(people) == before
    # Any of several tags, or *, matches.
    listed = client.put(
        VALUE, json={"value": 10}, headers={**basic("rex"), "If-Match": f"{first}, {second}"}
    )
    assert listed.status_code == 200, listed.text
    star = client.put(VALUE, json={"value": 11}, headers={**basic("rex"), "If-Match": "*"})
    assert star.status_code == 200, star.text


def test_if_none_match_star_creates_only(client: TestClient, people: Session) -> None:
    create_only = {**basic("rex"), "If-None-Match": "*"}
    created = client.put(VALUE, json={"value": 7}, headers=create_only)
    assert created.status_code == 201, created.text
    before = state(people)
    again = client.put(VALUE, json={"value": 8}, headers=create_only)
    body = assert_problem(again, 412, "Precondition failed", "If-None-Match", "exists already")
    assert body["errors"][0]["field"] == "If-None-Match"
    assert body["current"]["value"] == 7
    assert state(people) == before


def test_deleting_needs_the_current_etag(client: TestClient, people: Session) -> None:
    etag = client.put(VALUE, json={"value": 7}, headers=basic("rex")).headers["etag"]
    deleted = client.delete(VALUE, headers={**basic("rex"), "If-Match": etag})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["action"] == "deleted"
    assert deleted.json()["value"] is None
    assert "etag" not in deleted.headers
    assert people.scalar(select(func.count()).select_from(DataValue)) == 0
    audit = people.scalars(select(DataValueAudit)).one()
    assert (audit.action, audit.old_value) == ("delete", 7)
    before = state(people)
    gone = client.delete(VALUE, headers=basic("rex"))
    assert_problem(gone, 404, "Not found", "nothing to delete")
    with_tag = client.delete(VALUE, headers={**basic("rex"), "If-Match": etag})
    assert_problem(with_tag, 412, "Precondition failed", "If-Match", "no value")
    stale_put = client.put(VALUE, json={"value": 1}, headers={**basic("rex"), "If-Match": etag})
    assert_problem(stale_put, 412, "Precondition failed", "If-Match")
    assert state(people) == before


def test_scope_role_approval_and_bad_input_are_refused_and_write_nothing(
    client: TestClient, people: Session
) -> None:
    before = state(people)
    other_region = "/api/v1/dataValues/new_fever/KP-03/2022-05-20"
    assert_problem(
        client.put(other_region, json={"value": 1}, headers=basic("rex")),
        403,
        "Not allowed",
        "KP-03",
    )
    assert_problem(client.get(other_region, headers=basic("rex")), 403, "Not allowed")
    viewer = "/api/v1/dataValues/new_fever/KP-01/2022-05-20"
    assert_problem(
        client.put(viewer, json={"value": 1}, headers=basic("vic")),
        403,
        "Not allowed",
        "data.write",
    )
    for path, status, fragment in (
        ("/api/v1/dataValues/nope/KP-04/2022-05-20", 404, "nope"),
        ("/api/v1/dataValues/new_fever/KP-99/2022-05-20", 404, "KP-99"),
        ("/api/v1/dataValues/new_fever/KP-04/2022-13-40", 422, "period"),
        ("/api/v1/dataValues/new_fever/KP-04/2022W20", 422, "period"),
        ("/api/v1/dataValues/new_fever/KP%00/2022-05-20", 422, "NUL"),
    ):
        answer = client.put(path, json={"value": 1}, headers=basic("rex"))
        assert answer.status_code == status, answer.text
        assert fragment in answer.json()["detail"]
    negative = client.put(VALUE, json={"value": -1}, headers=basic("rex"))
    body = assert_problem(negative, 422, "Invalid input")
    assert body["errors"][0]["field"] == "value"
    extra = client.put(VALUE, json={"value": 1, "surprise": 2}, headers=basic("rex"))
    assert assert_problem(extra, 422, "Invalid input")["errors"][0]["field"] == "surprise"
    assert state(people) == before
    # An approved period refuses the value: 409, with who approved it.
    etag = client.put(VALUE, json={"value": 7}, headers=basic("rex")).headers["etag"]
    approval = {"orgUnit": "KP-04", "period": "2022-05-20"}
    assert client.post("/api/v1/approvals", json=approval, headers=basic("eve")).status_code == 200
    before = state(people)
    locked = client.put(VALUE, json={"value": 8}, headers={**basic("rex"), "If-Match": etag})
    assert_problem(locked, 409, "Conflict", "approved by eve")
    assert state(people) == before


# Weak ETags on the collections ---------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/orgUnits", "/api/v1/dataElements", "/api/v1/dataValues", "/api/v1/approvals"]
)
def test_collections_answer_304_to_their_own_etag(client: TestClient, path: str) -> None:
    first = client.get(path, headers=basic("rex"))
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    assert first.headers["cache-control"] == "private, no-cache"
    again = client.get(path, headers={**basic("rex"), "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    # Among others, or strong: still a match (weak comparison).
    listed = client.get(path, headers={**basic("rex"), "If-None-Match": f'"x", {etag[2:]}'})
    assert listed.status_code == 304
    other = client.get(path, headers={**basic("rex"), "If-None-Match": 'W/"other"'})
    assert other.status_code == 200
    assert other.json() == first.json()
    assert other.headers["etag"] == etag


def test_a_collections_etag_changes_when_its_content_does(client: TestClient) -> None:
    etag = client.get("/api/v1/dataValues", headers=basic("rex")).headers["etag"]
    client.put(VALUE, json={"value": 7}, headers=basic("rex"))
    fresh = client.get("/api/v1/dataValues", headers={**basic("rex"), "If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.json()["total"] == 1
    assert fresh.headers["etag"] != etag


# Idempotency-Key -----------------------------------------------------------------


def _batch(value: str = "7", unit: str = "KP-04") -> dict[str, Any]:
    return {
        "dataValues": [
            {"orgUnit": unit, "dataElement": "new_fever", "period": "2022-05-20", "value": value},
            {"orgUnit": unit, "dataElement": "new_deaths", "period": "2022-05-20", "value": "1"},
        ]
    }


def test_a_retry_with_the_same_key_is_answered_not_applied(
    client: TestClient, people: Session
) -> None:
    keyed = {**basic("rex"), "Idempotency-Key": "batch-2022-05-20-a"}
    first = client.post("/api/v1/dataValues", json=_batch(), headers=keyed)
    assert first.status_code == 200, first.text
    assert "idempotent-replayed" not in first.headers
    assert first.json()["created"] == 2
    after_first = state(people)
    assert after_first[2:] == (1, 1)  # one import run, one record
    retry = client.post("/api/v1/dataValues", json=_batch(), headers=keyed)
    assert retry.status_code == 200
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content
    assert state(people) == after_first
    # The same key by another user is another user's key: it runs.
    theirs = client.post(
        "/api/v1/dataValues",
        json=_batch(),
        headers={**basic("eve"), "Idempotency-Key": "batch-2022-05-20-a"},
    )
    assert theirs.status_code == 200
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["unchanged"] == 2
    # Without a key, nothing is recorded.
    plain = client.post("/api/v1/dataValues", json=_batch(), headers=basic("rex"))
    assert plain.status_code == 200
    assert state(people)[3] == 2


def test_the_same_key_on_another_request_is_422_and_writes_nothing(
    client: TestClient, people: Session
) -> None:
    keyed = {**basic("rex"), "Idempotency-Key": "k-1"}
    assert client.post("/api/v1/dataValues", json=_batch(), headers=keyed).status_code == 200
    before = state(people)
    other = client.post("/api/v1/dataValues", json=_batch("8"), headers=keyed)
    body = assert_problem(other, 422, "Invalid input", "Idempotency-Key", "different request")
    assert body["errors"][0]["field"] == "Idempotency-Key"
    dhis2 = client.post("/api/dataValueSets", json=_batch(), headers=keyed)
    assert_problem(dhis2, 422, "Invalid input", "Idempotency-Key")
    assert state(people) == before


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("x" * 201, "longer than 200"),
        ("   ", "empty"),
        ("caf\u00e9", "printable ASCII"),
        ("tab\tbed", "printable ASCII"),
    ],
)
def test_bad_keys_are_refused_naming_the_header(
    client: TestClient, people: Session, key: str, reason: str
) -> None:
    before = state(people)
    answer = client.post(
        "/api/v1/dataValues",
        json=_batch(),
        headers={**basic("rex"), "Idempotency-Key": key.encode()},  # type: ignore[dict-item]
    )
    body = assert_problem(answer, 422, "Invalid input", "Idempotency-Key", reason)
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert state(people) == before


def test_a_refused_batch_is_replayed_as_refused(client: TestClient, people: Session) -> None:
    keyed = {**basic("rex"), "Idempotency-Key": "mixed"}
    mixed = {"dataValues": [*_batch()["dataValues"], *_batch(unit="KP-03")["dataValues"]]}
    first = client.post("/api/v1/dataValues", json=mixed, headers=keyed)
    assert first.status_code == 409
    assert first.headers["content-type"] == PROBLEM
    retry = client.post("/api/v1/dataValues", json=mixed, headers=keyed)
    assert retry.status_code == 409
    assert retry.headers["content-type"] == PROBLEM
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.content == first.content
    assert state(people)[0] == {}


def test_the_dhis2_import_takes_idempotency_keys(client: TestClient, people: Session) -> None:
    keyed = {**basic("rex"), "Idempotency-Key": "dhis2-1"}
    path = "/api/dataValueSets"
    first = client.post(path, json=_batch(), headers=keyed)
    assert first.status_code == 200, first.text
    assert first.json()["response"]["importCount"]["imported"] == 2
    before = state(people)
    retry = client.post(path, json=_batch(), headers=keyed)
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == first.json()
    assert state(people) == before
    # The query is part of the request: a dry run under the same key is another request.
    dry = client.post(path, params={"dryRun": "true"}, json=_batch(), headers=keyed)
    assert_problem(dry, 422, "Invalid input", "Idempotency-Key")


def test_records_past_a_day_are_purged_and_the_key_is_free_again(
    client: TestClient, people: Session
) -> None:
    keyed = {**basic("rex"), "Idempotency-Key": "old"}
    assert client.post("/api/v1/dataValues", json=_batch(), headers=keyed).status_code == 200
    people.execute(
        update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=24, minutes=1))
    )
    people.commit()
    fresh = client.post("/api/v1/dataValues", json=_batch("8"), headers=keyed)
    assert fresh.status_code == 200, fresh.text
    assert "idempotent-replayed" not in fresh.headers
    assert fresh.json()["updated"] == 1
    assert state(people)[3] == 1  # the old record is gone, the new one kept


def test_a_key_in_progress_is_409_and_a_lost_one_is_taken_over(
    db_url: str, people: Session
) -> None:
    """A record without an answer: its request runs elsewhere, or its worker died."""
    clients = _client(db_url, lock_timeout=0.5)
    client = next(clients)
    keyed = {**basic("rex"), "Idempotency-Key": "running"}
    body = _batch()
    first = client.post("/api/v1/dataValues", json=body, headers=keyed)
    assert first.status_code == 200
    # As if the request were still running: no answer stored yet.
    people.execute(
        update(IdempotencyRecord).values(status_code=None, content_type=None, response_body=None)
    )
    people.commit()
    before = state(people)
    busy = client.post("/api/v1/dataValues", json=body, headers=keyed)
    assert_problem(busy, 409, "Conflict", "Idempotency-Key", "in progress")
    assert busy.headers["retry-after"] == "1"
    assert state(people) == before
    # Unanswered for longer than any request runs: the worker died; a retry runs.
    people.execute(update(IdempotencyRecord).values(created_at=utcnow() - timedelta(minutes=16)))
    people.commit()
    taken = client.post("/api/v1/dataValues", json=body, headers=keyed)
    assert taken.status_code == 200, taken.text
    assert "idempotent-replayed" not in taken.headers
    assert taken.json()["unchanged"] == 2  # the values were there: nothing applied twice
    replay = client.post("/api/v1/dataValues", json=body, headers=keyed)
    assert replay.headers["idempotent-replayed"] == "true"
    clients.close()
