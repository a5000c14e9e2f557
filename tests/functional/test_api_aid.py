"""Aid coordination's API (issue #12, items 2, 4, 5, 7 and 8): a request's life and
the 2022 offer over HTTP, each refusal with its status and nothing written, the gap
and suggestions. The role x scope matrix is ``test_api_matrix.py``'s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from sitroom.country import Country
from tests.conftest import TEST_DATABASE_URL
from tests.functional.api_world import World, api_world

API = "/api/v1/aid"


@pytest.fixture(scope="module")
def world(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with api_world(_migrated, TEST_DATABASE_URL, tmp_path_factory.mktemp("aid"), country) as w:
        w.add_user("co", "coordinator", ["KP"])
        w.add_user("co-r", "coordinator", ["KP-04"])
        w.add_user("vi", "viewer", ["KP"])
        yield w


def call(world: World, who: str, method: str, path: str, **kwargs: Any) -> Any:
    headers = {**world.headers(who), **kwargs.pop("headers", {})}
    return world.client.request(method, API + path, headers=headers, **kwargs)


def rows(world: World) -> dict[str, int]:
    world.session.rollback()
    return {
        table: world.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        for table in ("aid_partner", "aid_request", "aid_offer", "aid_message", "aid_event")
    }


def test_a_request_over_http(world: World) -> None:
    made = call(world, "co", "POST", "/partners",
                json={"code": "CN", "name": "China", "kind": "government"})  # fmt: skip
    assert made.status_code == 201, made.text
    body = {
        "partner": "CN", "channel": "diplomatic_note", "reason": "No PCR tests in stock",
        "lines": [{"item": "PCR-TEST", "quantity": 100_000}], "time": "2022-05-16T09:00",
    }  # fmt: skip
    drafted = call(world, "co", "POST", "/requests", json=body)
    assert drafted.status_code == 201, drafted.text
    number = drafted.json()["number"]
    assert drafted.json()["created_at"] == "2022-05-16T00:00:00+00:00"

    sent = call(world, "co", "POST", f"/requests/{number}/send", json={"time": "2022-05-16T10:00"})
    assert sent.json()["status"] == "sent"
    again = call(world, "co", "POST", f"/requests/{number}/send", json={})
    assert again.status_code == 409
    assert "is sent, not draft" in again.json()["detail"]

    answered = call(world, "co", "POST", f"/requests/{number}/status",
                    json={"status": "accepted", "time": "2022-05-17T09:00"})  # fmt: skip
    assert answered.status_code == 200, answered.text
    assert answered.json()["lines"][0]["accepted"] == 100_000

    story = call(world, "vi", "GET", f"/requests/{number}/timeline").json()
    assert [e["what"] for e in story["entries"]].count("message") == 2
    listed = call(world, "vi", "GET", "/requests")
    assert [r["number"] for r in listed.json()] == [number]
    cached = call(
        world, "vi", "GET", "/requests", headers={"If-None-Match": listed.headers["ETag"]}
    )
    assert cached.status_code == 304


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"lines": [{"item": "NOPE", "quantity": 1}]}, 409, "unknown item 'NOPE'"),
        ({"lines": [{"item": "ORS", "quantity": -1}]}, 422, "quantity"),
        ({"lines": [{"item": "ORS", "quantity": 1.5}]}, 422, "quantity"),
        ({"partner": "XX"}, 404, "unknown partner 'XX'"),
        ({"time": "2099-01-01T00:00"}, 409, "in the future"),
        ({"orgUnit": "KP-99"}, 404, "unknown org unit"),
    ],
)
def test_bad_requests_write_nothing(
    world: World, body: dict[str, Any], status: int, needle: str
) -> None:
    call(
        world, "co", "POST", "/partners", json={"code": "CN", "name": "China", "kind": "government"}
    )
    before = rows(world)
    full = {"partner": "CN", "channel": "email", "reason": "r",
            "lines": [{"item": "ORS", "quantity": 1}], **body}  # fmt: skip
    answer = call(world, "co", "POST", "/requests", json=full)
    assert answer.status_code == status, answer.text
    assert needle in answer.text
    assert rows(world) == before


def test_outside_the_scope(world: World) -> None:
    before = rows(world)
    national = call(world, "co-r", "POST", "/requests", json={
        "partner": "CN", "channel": "email", "reason": "r",
        "lines": [{"item": "ORS", "quantity": 1}],
    })  # fmt: skip
    assert national.status_code == 403
    viewer = call(world, "vi", "POST", "/partners", json={"code": "Z", "name": "Z", "kind": "ngo"})
    assert viewer.status_code == 403
    assert rows(world) == before


def test_an_answer_before_its_message_is_refused(world: World) -> None:
    call(world, "co", "POST", "/partners", json={"code": "KR", "name": "ROK", "kind": "government"})
    offer = call(world, "co", "POST", "/offers", json={
        "partner": "KR", "channel": "liaison_office", "receivedAt": "2022-05-16T09:00",
        "answerBy": "2022-05-19T18:00",
        "lines": [{"item": "VAC-COV", "quantity": 1_000_000, "expiry": "2023-01-01"}],
    })  # fmt: skip
    assert offer.status_code == 201, offer.text
    number = offer.json()["number"]
    notice = call(world, "co", "POST", "/messages", json={
        "about": number, "direction": "out", "kind": "notice", "channel": "liaison_office",
        "summary": "not yet received", "awaitsAnswer": True, "time": "2022-05-16T10:00",
    })  # fmt: skip
    assert notice.status_code == 201, notice.text
    before = rows(world)
    early = call(world, "co", "POST", "/messages", json={
        "about": number, "direction": "in", "kind": "call", "channel": "phone",
        "summary": "answer", "replyTo": notice.json()["id"], "time": "2022-05-16T09:30",
    })  # fmt: skip
    assert early.status_code == 409
    assert "dated before the message it answers" in early.json()["detail"]
    assert rows(world) == before
    overdue = call(world, "vi", "GET", "/overdue").json()
    assert {(o["about"], o["waiting_for"]) for o in overdue} >= {(number, "partner")}


def test_the_gap_and_suggestions(world: World) -> None:
    gap = call(world, "vi", "GET", "/gap?end=2022-05-25&horizon=7")
    assert gap.status_code == 200, gap.text
    report = gap.json()
    assert report["horizon"] == 7
    for row in report["rows"]:
        expected = max(0, row["need_median"] - row["stock"] - row["pledged_weighted"]
                       - row["shipped_weighted"])  # fmt: skip
        assert abs(row["gap_median"] - expected) <= 2  # each rounded up
    shown = call(world, "vi", "POST", "/suggestions", json={"end": "2022-05-25", "horizon": 7})
    assert shown.status_code == 200, shown.text
    assert shown.json()["drafts"] == []
    refused = call(world, "vi", "POST", "/suggestions",
                   json={"end": "2022-05-25", "horizon": 7, "create": True})  # fmt: skip
    assert refused.status_code == 403
