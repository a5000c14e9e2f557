"""The supply chain's API, per family of endpoints (issue #11, items 2-10 and 12-13).

Happy paths, and each refusal with its status (400, 403, 404, 409, 415, 422)
and nothing written; weak ETags and 304 on the collections; an
Idempotency-Key replayed on ``POST /supply/movements``. The role x scope
matrix is ``test_api_matrix.py``'s. One world for the module: the 2022 wave,
paracetamol at the warehouses and a pharmacy of Chagang and Pyongyang.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sitroom.country import Country
from sitroom.supply import service
from tests.conftest import TEST_DATABASE_URL
from tests.functional.api_world import (
    EXPIRY,
    LOT,
    PHARMACY,
    STORE,
    WAREHOUSE,
    World,
    api_world,
    stock_world,
)

API = "/api/v1/supply"
CHAGANG, PYONGYANG = "KP-04", "KP-01"
WH, STORE_04, PH = WAREHOUSE[CHAGANG], STORE[CHAGANG], PHARMACY[CHAGANG]


@pytest.fixture(scope="module")
def world(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with api_world(_migrated, TEST_DATABASE_URL, tmp_path_factory.mktemp("sapi"), country) as w:
        w.add_user("lo", "logistician", [CHAGANG])
        w.add_user("lo-n", "logistician", ["KP"])
        w.add_user("ph", "pharmacist", [CHAGANG])
        w.add_user("vi", "viewer", [CHAGANG])
        w.add_user("ep-n", "epidemiologist", ["KP"])  # reads the audit trail
        stock_world(w.session)
        yield w


def call(world: World, who: str, method: str, path: str, **kwargs: Any) -> Any:
    headers = {**world.headers(who), **kwargs.pop("headers", {})}
    return world.client.request(method, API + path, headers=headers, **kwargs)


def on_hand(world: World, facility: str) -> int:
    world.session.expire_all()
    lines = service.stock_on_hand(world.session, facility=facility)
    return sum(line.quantity for line in lines)


def entries(world: World) -> int:
    return service.verify(world.session).entries


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def movement(event: str, facility: str, quantity: Any = 10, **extra: Any) -> dict[str, Any]:
    return {
        "time": "2022-06-02T10:00",
        "event": event,
        "facility": facility,
        "item": "PARA-500",
        "quantity": quantity,
        **extra,
    }


# Items, facilities, routes ---------------------------------------------------------------


def test_items_and_facilities_are_listed_with_etags(world: World) -> None:
    items = call(world, "vi", "GET", "/items")
    assert items.status_code == 200
    assert {"code": "PARA-500", "name": "Paracetamol 500 mg", "unit": "tablet"}.items() <= next(
        i for i in items.json() if i["code"] == "PARA-500"
    ).items()
    again = call(world, "vi", "GET", "/items", headers={"If-None-Match": items.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""

    page = call(world, "vi", "GET", "/facilities", params={"type": "warehouse"})
    assert page.status_code == 200
    assert [f["code"] for f in page.json()["facilities"]] == [WH]  # the scope's only
    assert page.json()["facilities"][0]["supplier"] == "STOCKPILE"
    paged = call(world, "vi", "GET", "/facilities", params={"limit": 2, "offset": 1}).json()
    assert paged["total"] > 2
    assert len(paged["facilities"]) == 2
    tag = page.headers["etag"]
    assert tag.startswith('W/"')
    unchanged = call(
        world,
        "vi",
        "GET",
        "/facilities",
        params={"type": "warehouse"},
        headers={"If-None-Match": tag},
    )
    assert unchanged.status_code == 304
    problem(call(world, "vi", "GET", "/facilities", params={"orgUnit": PYONGYANG}), 403)
    problem(call(world, "vi", "GET", "/facilities", params={"orgUnit": "KP-99"}), 404)
    bad = problem(call(world, "vi", "GET", "/facilities", params={"type": "kiosk"}), 422)
    assert bad["errors"][0]["field"] == "type"
    assert call(world, "vi", "GET", f"/facilities/{PH}").json()["supplier"] == STORE_04
    problem(call(world, "vi", "GET", "/facilities/NOWHERE"), 404)
    problem(call(world, "vi", "GET", f"/facilities/{PHARMACY[PYONGYANG]}"), 403)


def test_a_facility_is_made_changed_and_routed(world: World) -> None:
    body = {
        "code": "PH-KP-04-API-1",
        "name": "Kanggye market pharmacy",
        "type": "pharmacy",
        "orgUnit": "KP-04-KANGGYE",
        "supplier": WH,
    }
    made = call(world, "lo", "POST", "/facilities", json=body)
    assert made.status_code == 201, made.text
    assert made.headers["location"] == f"{API}/facilities/PH-KP-04-API-1"
    assert made.json()["org_unit"] == "KP-04-KANGGYE"
    assert "already" in problem(call(world, "lo", "POST", "/facilities", json=body), 409)["detail"]
    upward = {**body, "code": "WH-X", "type": "warehouse", "supplier": PH}
    assert (
        "higher in the chain"
        in problem(call(world, "lo", "POST", "/facilities", json=upward), 409)["detail"]
    )
    problem(
        call(world, "lo", "POST", "/facilities", json={**body, "code": "X", "orgUnit": "KP-01"}),
        403,
    )
    problem(call(world, "vi", "POST", "/facilities", json={**body, "code": "Y"}), 403)
    problem(call(world, "lo", "POST", "/facilities", json={**body, "code": "bad code!"}), 422)
    problem(
        call(world, "lo", "POST", "/facilities", json={**body, "code": "Z", "orgUnit": "KP-99"}),
        404,
    )
    problem(
        call(
            world,
            "lo",
            "POST",
            "/facilities",
            content=b"code=1",
            headers={"Content-Type": "text/plain"},
        ),
        415,
    )
    problem(
        call(
            world,
            "lo",
            "POST",
            "/facilities",
            content=b"{",
            headers={"Content-Type": "application/json"},
        ),
        400,
    )
    codes = [
        f["code"]
        for f in call(world, "lo", "GET", "/facilities", params={"limit": 10000}).json()[
            "facilities"
        ]
    ]
    assert "WH-X" not in codes
    assert "X" not in codes
    assert "Z" not in codes

    path = "/facilities/PH-KP-04-API-1"
    renamed = call(world, "lo", "PATCH", path, json={"name": "Market pharmacy", "supplier": None})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["supplier"]) == ("Market pharmacy", None)
    assert (
        "supplies"
        in problem(call(world, "lo", "PATCH", f"/facilities/{WH}", json={"type": "pharmacy"}), 409)[
            "detail"
        ]
    )
    problem(call(world, "lo", "PATCH", path, json={}), 422)
    problem(call(world, "lo", "PATCH", path, json={"name": None}), 422)
    problem(call(world, "lo", "PATCH", "/facilities/NOWHERE", json={"name": "n"}), 404)
    problem(call(world, "lo", "PATCH", path, json={"orgUnit": "KP-01"}), 403)
    assert call(world, "lo", "GET", path).json()["org_unit"] == "KP-04-KANGGYE"

    route = call(
        world, "lo", "POST", "/routes", json={"source": PH, "destination": "PH-KP-04-API-1"}
    )
    assert route.status_code == 201, route.text
    assert route.json()["declared_by"] == "lo"
    assert call(world, "lo", "GET", f"/facilities/{PH}").json()["routes_to"] == ["PH-KP-04-API-1"]
    problem(
        call(world, "lo", "POST", "/routes", json={"source": PH, "destination": "PH-KP-04-API-1"}),
        409,
    )
    problem(call(world, "lo", "POST", "/routes", json={"source": WH, "destination": STORE_04}), 409)
    problem(
        call(
            world, "lo", "POST", "/routes", json={"source": WH, "destination": WAREHOUSE[PYONGYANG]}
        ),
        403,
    )
    # Stock now goes along the route.
    sent = call(
        world,
        "lo",
        "POST",
        "/movements",
        json={
            "movements": [
                movement("transfer_out", PH, 5, counterparty="PH-KP-04-API-1", reference="LEND-1")
            ]
        },
    )
    assert sent.status_code == 200, sent.text


def test_a_supplier_change_is_scoped_waits_for_transit_and_is_audited(world: World) -> None:
    path = f"/facilities/{PH}"
    # The new supplier outside the scopes; the old one (the stockpile) outside them.
    problem(call(world, "lo", "PATCH", path, json={"supplier": WAREHOUSE[PYONGYANG]}), 403)
    problem(call(world, "lo", "PATCH", f"/facilities/{WH}", json={"supplier": None}), 403)
    assert call(world, "lo", "GET", path).json()["supplier"] == STORE_04
    assert call(world, "lo", "GET", f"/facilities/{WH}").json()["supplier"] == "STOCKPILE"

    # A return from the pharmacy to its store is on the way: the link stays.
    sent = call(
        world,
        "lo",
        "POST",
        "/movements",
        json={
            "movements": [movement("transfer_out", PH, 7, counterparty=STORE_04, reference="RET-9")]
        },
    )
    assert sent.status_code == 200, sent.text
    held = problem(call(world, "lo", "PATCH", path, json={"supplier": WH}), 409)
    assert held["detail"] == (
        f"{PH}'s supplier cannot change from {STORE_04} while stock is in transit between them"
        f" (7 tablets of PARA-500 sent by {PH} under RET-9): record its arrival (transfer_in)"
        " or reverse the transfer first"
    )
    # Reversed (arrived would do too): nothing on the way.
    batch = sent.json()["batch_id"]
    undone = call(world, "lo", "POST", f"/batches/{batch}/reverse", json={"reason": "kept"})
    assert undone.status_code == 200, undone.text
    moved = call(world, "lo", "PATCH", path, json={"supplier": WH})
    assert moved.status_code == 200, moved.text
    back = call(world, "lo", "PATCH", path, json={"supplier": STORE_04})
    assert back.json()["supplier"] == STORE_04

    # Each write in the audit trail, with who, the door and what changed.
    trail = world.client.get(
        "/api/v1/audit", params={"kind": "supply", "user": "lo"}, headers=world.headers("ep-n")
    )
    assert trail.status_code == 200, trail.text
    network = [
        (e["action"], e["channel"], e["what"])
        for e in trail.json()["entries"]
        if e["action"] == "network change"
    ]
    assert network[-2:] == [
        ("network change", "api", f"facility {PH} changed: supplier {STORE_04} -> {WH}"),
        ("network change", "api", f"facility {PH} changed: supplier {WH} -> {STORE_04}"),
    ]
    made = [what for _, _, what in network if what.startswith("facility PH-KP-04-API-1 ")]
    assert made == [
        "facility PH-KP-04-API-1 created: name 'Kanggye market pharmacy', type pharmacy,"
        f" org unit KP-04-KANGGYE, supplier {WH}",
        "facility PH-KP-04-API-1 changed: name 'Kanggye market pharmacy' -> 'Market pharmacy';"
        f" supplier {WH} -> none",
    ]
    assert ("network change", "api", f"route declared from {PH} to PH-KP-04-API-1") in network
    posts = [e for e in trail.json()["entries"] if e["action"] == "stock post"]
    assert posts  # the ledger's writes are in the trail too
    assert all(e["channel"] == "api" for e in posts)


# Stock and the ledger --------------------------------------------------------------------


def test_stock_on_hand_now_and_then_in_the_scope(world: World) -> None:
    now = call(world, "vi", "GET", "/stock", params={"facility": WAREHOUSE[CHAGANG]})
    assert now.status_code == 200
    lines = now.json()["lines"]
    assert lines
    assert lines[0]["lot"] == LOT
    assert lines[0]["expiry"] == EXPIRY.isoformat()
    before = call(world, "vi", "GET", "/stock", params={"facility": WH, "at": "2022-04-30"}).json()
    assert before["lines"] == []
    assert before["at"].startswith("2022-04-30T12:00:00+09:00")
    tag = now.headers["etag"]
    assert (
        call(
            world, "vi", "GET", "/stock", params={"facility": WH}, headers={"If-None-Match": tag}
        ).status_code
        == 304
    )
    scoped = call(world, "vi", "GET", "/stock").json()
    assert {line["facility"] for line in scoped["lines"]} <= {WH, PH, "PH-KP-04-API-1"}
    problem(call(world, "vi", "GET", "/stock", params={"orgUnit": PYONGYANG}), 403)
    problem(call(world, "vi", "GET", "/stock", params={"facility": WAREHOUSE[PYONGYANG]}), 403)
    problem(call(world, "vi", "GET", "/stock", params={"item": "NOPE"}), 404)
    assert (
        problem(call(world, "vi", "GET", "/stock", params={"at": "yesterday"}), 422)["errors"][0][
            "field"
        ]
        == "at"
    )
    problem(call(world, "vi", "GET", "/stock/picture"), 403)  # the whole chain: national
    picture = call(world, "lo-n", "GET", "/stock/picture", params={"at": "2022-06-30"})
    assert picture.status_code == 200
    assert picture.json()["by_level"]["PARA-500"]["warehouse"] > 0
    problem(call(world, "lo", "GET", "/verify"), 403)
    verified = call(world, "lo-n", "GET", "/verify")
    assert verified.status_code == 200
    assert verified.json()["ok"], verified.text


def test_movements_post_all_or_nothing_with_indexed_refusals(world: World) -> None:
    start, written = on_hand(world, PH), entries(world)
    batch = {
        "movements": [
            movement("dispense", PH, 10, patients=2),
            movement("dispense", PH, 10**9),  # more than there is
            movement("receipt", PH, 5, lot="NEW"),  # a new lot without its expiry
            movement("dispense", PHARMACY[PYONGYANG], 1),  # outside the scope
        ]
    }
    body = problem(call(world, "lo", "POST", "/movements", json=batch), 409)
    assert body["rejected"] == 3
    assert body["committed"] is False
    assert [(r["index"], r["field"]) for r in body["rejections"]] == [
        (1, "quantity"),
        (2, "expiry"),
        (3, "facility"),
    ]
    assert "has" in body["rejections"][0]["reason"]  # what is there
    assert body["detail"].startswith("3 of 4 movements refused; nothing was written")
    assert (on_hand(world, PH), entries(world)) == (start, written)

    dry = call(
        world,
        "lo",
        "POST",
        "/movements",
        params={"dryRun": "true"},
        json={"movements": batch["movements"][:1]},
    )
    assert dry.status_code == 200
    assert dry.json()["dry_run"]
    assert not dry.json()["committed"]
    assert (on_hand(world, PH), entries(world)) == (start, written)

    done = call(world, "ph", "POST", "/movements", json={"movements": batch["movements"][:1]})
    assert done.status_code == 200, done.text
    assert done.json()["committed"]
    assert done.json()["kinds"] == {"dispense": 1}
    assert on_hand(world, PH) == start - 10
    # A pharmacist dispenses, and does nothing else.
    receipt = movement("receipt", PH, 5, lot=LOT)
    assert (
        "stock.write"
        in problem(call(world, "ph", "POST", "/movements", json={"movements": [receipt]}), 403)[
            "detail"
        ]
    )
    problem(
        call(world, "vi", "POST", "/movements", json={"movements": batch["movements"][:1]}), 403
    )


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"quantity": 2.5}, "movements.0.quantity"),
        ({"quantity": -1}, "movements.0.quantity"),
        ({"time": "soon"}, "movements.0.time"),
        ({"event": "sale"}, "movements.0.event"),
        ({"lot": "A\u0000B"}, "movements.0.lot"),
        ({"colour": "red"}, "movements.0.colour"),
    ],
)
def test_a_malformed_movement_is_422_naming_its_field(
    world: World, bad: dict[str, Any], field: str
) -> None:
    written = entries(world)
    body = problem(
        call(
            world,
            "lo",
            "POST",
            "/movements",
            json={"movements": [{**movement("dispense", PH), **bad}]},
        ),
        422,
    )
    assert field in [e["field"] for e in body["errors"]], body
    assert entries(world) == written


def test_the_events_csv_is_a_body_too(world: World) -> None:
    header = "time,event,facility,item,lot,expiry,quantity,counterparty,reason,reference,patients\n"
    good = (
        header
        + f"2022-06-03,dispense,{PH},PARA-500,,,3,,,,1\n"
        + f"2022-06-03,adjust,{PH},PARA-500,,,1,,damaged,,\n"
    )
    start = on_hand(world, PH)
    csv_headers = {"Content-Type": "text/csv"}
    posted = call(world, "lo", "POST", "/movements", content=good.encode(), headers=csv_headers)
    assert posted.status_code == 200, posted.text
    assert posted.json()["kinds"] == {"adjust": 1, "dispense": 1}
    assert on_hand(world, PH) == start - 4
    again = call(world, "lo", "POST", "/movements", content=good.encode(), headers=csv_headers)
    assert again.status_code == 200
    assert again.json()["previous_batch"] == posted.json()["batch_id"]
    assert on_hand(world, PH) == start - 4  # the same text is posted once

    written = entries(world)
    bad = (
        header
        + f"2022-06-04,dispense,{PH},PARA-500,,,many,,,,\n"
        + "2022-06-04,dispense,NOWHERE,PARA-500,,,1,,,,\n"
        + f"2022-06-04,dispense,{PH},PARA-500,,,1,,x\u0000y,,\n"
    )
    body = problem(
        call(world, "lo", "POST", "/movements", content=bad.encode(), headers=csv_headers), 409
    )
    assert [(r["line"], r["field"]) for r in body["rejections"]] == [
        (2, "quantity"),
        (3, "facility"),
        (4, "reason"),
    ]
    assert entries(world) == written
    problem(
        call(
            world, "lo", "POST", "/movements", content=b"nothing,useful\n1,2\n", headers=csv_headers
        ),
        422,
    )
    problem(
        call(
            world,
            "lo",
            "POST",
            "/movements",
            content=b"hello",
            headers={"Content-Type": "text/plain"},
        ),
        415,
    )
    problem(
        call(
            world,
            "lo",
            "POST",
            "/movements",
            content=b"{",
            headers={"Content-Type": "application/json"},
        ),
        400,
    )


def test_a_retried_post_is_answered_not_applied(world: World) -> None:
    start = on_hand(world, PH)
    body = {"movements": [movement("dispense", PH, 7, patients=1)]}
    key = {"Idempotency-Key": "dispense-2022-06-02-7"}
    first = call(world, "lo", "POST", "/movements", json=body, headers=key)
    second = call(world, "lo", "POST", "/movements", json=body, headers=key)
    assert first.status_code == second.status_code == 200
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert on_hand(world, PH) == start - 7
    other = call(
        world,
        "lo",
        "POST",
        "/movements",
        json={"movements": [movement("dispense", PH, 8)]},
        headers=key,
    )
    assert problem(other, 422)["errors"][0]["field"] == "Idempotency-Key"
    assert on_hand(world, PH) == start - 7


def test_a_batch_is_reversed_once(world: World) -> None:
    made = call(
        world,
        "lo",
        "POST",
        "/movements",
        json={"movements": [movement("receipt", WH, 100, lot=LOT)]},
    )
    batch, start = made.json()["batch_id"], on_hand(world, WH)
    problem(call(world, "lo", "POST", f"/batches/{batch}/reverse", json={"reason": "   "}), 422)
    problem(call(world, "vi", "POST", f"/batches/{batch}/reverse", json={"reason": "typo"}), 403)
    undone = call(world, "lo", "POST", f"/batches/{batch}/reverse", json={"reason": "typo"})
    assert undone.status_code == 200, undone.text
    assert on_hand(world, WH) == start - 100
    assert (
        "reversed already"
        in problem(
            call(world, "lo", "POST", f"/batches/{batch}/reverse", json={"reason": "typo"}), 409
        )["detail"]
    )
    problem(call(world, "lo", "POST", "/batches/999999/reverse", json={"reason": "typo"}), 404)
    problem(call(world, "lo", "POST", "/batches/0/reverse", json={"reason": "typo"}), 422)


# Orders ----------------------------------------------------------------------------------


def test_an_order_lives_through_the_api(world: World) -> None:
    made = call(world, "lo", "POST", "/orders", json={
        "source": WH, "destination": STORE_04, "lines": [{"item": "PARA-500", "quantity": 300}],
        "time": "2022-06-05T08:00", "note": "for the wave",
    })  # fmt: skip
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    assert made.headers["location"] == f"{API}/orders/{number}"
    step = f"/orders/{number}"
    assert (
        call(world, "lo", "POST", f"{step}/approve", json={"time": "2022-06-05T09:00"}).json()[
            "status"
        ]
        == "approved"
    )
    conflict = problem(call(world, "lo", "POST", f"{step}/approve", json={}), 409)
    assert "is approved" in conflict["detail"]
    sent = call(world, "lo", "POST", f"{step}/dispatch", json={
        "carrier": "KPA unit 525", "carrierKind": "army", "vehicle": "truck 7",
        "time": "2022-06-05T12:00",
    })  # fmt: skip
    assert sent.json()["status"] == "dispatched", sent.text
    start = on_hand(world, STORE_04)
    too_many = {"receiver": "Pak", "lines": [{"item": "PARA-500", "accepted": 301}]}
    refusal = problem(call(world, "lo", "POST", f"{step}/deliver", json=too_many), 409)
    assert "more than the 300 dispatched" in refusal["reasons"][0]
    assert on_hand(world, STORE_04) == start
    pod = {
        "receiver": "Pak", "time": "2022-06-06T10:00",
        "lines": [{"item": "PARA-500", "accepted": 290, "rejected": 10, "reason": "damaged"}],
    }  # fmt: skip
    delivered = call(world, "lo", "POST", f"{step}/deliver", json=pod)
    assert delivered.json()["status"] == "delivered", delivered.text
    assert on_hand(world, STORE_04) == start + 290
    closed = call(world, "lo", "POST", f"{step}/close", json={"note": "reconciled"})
    assert closed.json()["status"] == "closed"
    shown = call(world, "vi", "GET", step).json()
    assert [e["to"] for e in shown["events"]] == [
        "draft",
        "approved",
        "dispatched",
        "delivered",
        "closed",
    ]
    assert shown["lead_hours"]["transit"] == 22.0
    listed = call(world, "vi", "GET", "/orders", params={"status": "closed"})
    assert number in [o["number"] for o in listed.json()]
    assert (
        call(
            world,
            "vi",
            "GET",
            "/orders",
            params={"status": "closed"},
            headers={"If-None-Match": listed.headers["etag"]},
        ).status_code
        == 304
    )
    times = call(world, "vi", "GET", "/leadtimes", params={"by": "carrier_kind"}).json()
    assert "army" in [g["group"] for g in times["groups"]]


def test_order_refusals_write_nothing(world: World) -> None:
    big = call(world, "lo", "POST", "/orders", json={
        "source": WH, "destination": STORE_04, "lines": [{"item": "PARA-500", "quantity": 10**10}],
    }).json()["number"]  # fmt: skip
    call(world, "lo", "POST", f"/orders/{big}/approve", json={})
    start, written = on_hand(world, WH), entries(world)
    refusal = problem(
        call(
            world,
            "lo",
            "POST",
            f"/orders/{big}/dispatch",
            json={"carrier": "c", "carrierKind": "civil"},
        ),
        409,
    )
    assert refusal["reasons"]
    assert (on_hand(world, WH), entries(world)) == (start, written)
    assert call(world, "vi", "GET", f"/orders/{big}").json()["status"] == "approved"
    off_route = {"source": WH, "destination": PH, "lines": [{"item": "PARA-500", "quantity": 1}]}
    problem(call(world, "lo", "POST", "/orders", json=off_route), 409)
    unknown = {"source": WH, "destination": STORE_04, "lines": [{"item": "NOPE", "quantity": 1}]}
    problem(call(world, "lo", "POST", "/orders", json=unknown), 409)
    problem(
        call(
            world,
            "lo",
            "POST",
            "/orders",
            json={**unknown, "lines": [{"item": "PARA-500", "quantity": 0}]},
        ),
        422,
    )
    problem(call(world, "lo", "GET", "/orders/DO-1999-000001"), 404)
    problem(call(world, "lo", "POST", "/orders/DO-1999-000001/approve", json={}), 404)
    problem(call(world, "lo", "POST", f"/orders/{big}/cancel", json={}), 422)
    assert (
        call(world, "lo", "POST", f"/orders/{big}/cancel", json={"reason": "too big"}).json()[
            "status"
        ]
        == "cancelled"
    )
    problem(call(world, "vi", "POST", "/orders", json=off_route), 403)


# Indicators, demand, plans -----------------------------------------------------------------


def test_indicators_alerts_and_plans(world: World) -> None:
    report = call(
        world, "vi", "GET", "/indicators", params={"orgUnit": CHAGANG, "day": "2022-06-30"}
    )
    assert report.status_code == 200, report.text
    assert {f["facility"] for f in report.json()["facilities"]} >= {WH, PH}
    assert (
        call(
            world,
            "vi",
            "GET",
            "/indicators",
            params={"orgUnit": CHAGANG, "day": "2022-06-30"},
            headers={"If-None-Match": report.headers["etag"]},
        ).status_code
        == 304
    )
    problem(call(world, "vi", "GET", "/indicators", params={"orgUnit": PYONGYANG}), 403)
    problem(call(world, "vi", "GET", "/indicators", params={"item": "NOPE"}), 404)
    problem(call(world, "vi", "GET", "/indicators", params={"day": "2999-01-01"}), 422)
    alerts = call(world, "vi", "GET", "/alerts", params={"kind": ["stock_out", "low_stock"]})
    assert alerts.status_code == 200
    assert all(a["kind"] in ("stock_out", "low_stock") for a in alerts.json())
    problem(call(world, "vi", "GET", "/alerts", params={"kind": "gone"}), 422)

    need = call(
        world,
        "vi",
        "GET",
        "/demand",
        params={"orgUnit": CHAGANG, "horizon": 3, "samples": 50, "end": "2022-06-01"},
    )
    assert need.status_code == 200, need.text
    assert {r["org_unit"] for r in need.json()["rows"]} == {CHAGANG}

    plan = call(world, "lo", "POST", "/allocations", json={
        "items": ["PARA-500"], "source": WH, "level": "pharmacy", "floorDays": 2,
        "day": "2022-06-01",
    })  # fmt: skip
    assert plan.status_code == 200, plan.text
    body = plan.json()
    assert body["sentences"]
    assert body["orders"]
    assert all(o["source"] == WH for o in body["orders"])
    assert sum(o["quantity"] for o in body["orders"]) <= body["stock"]["PARA-500"]
    problem(call(world, "lo", "POST", "/allocations", json={"items": ["NOPE"], "source": WH}), 404)
    problem(
        call(
            world,
            "lo",
            "POST",
            "/allocations",
            json={"items": ["PARA-500"], "source": WAREHOUSE[PYONGYANG]},
        ),
        403,
    )
    problem(
        call(world, "ph", "POST", "/allocations", json={"items": ["PARA-500"], "source": WH}), 403
    )
    problem(call(world, "lo", "POST", "/allocations", json={"items": []}), 422)

    kits = call(
        world,
        "vi",
        "POST",
        "/test-kits",
        json={"kits": 50, "orgUnit": CHAGANG, "end": "2022-06-01"},
    )
    assert kits.status_code == 200, kits.text
    assert sum(r["kits"] for r in kits.json()["regions"]) == 50
    assert kits.json()["reasoning"]
    problem(call(world, "vi", "POST", "/test-kits", json={"kits": -1}), 422)


# Inspections and cases -------------------------------------------------------------------


def test_an_inspection_counts_and_a_case_follows(world: World) -> None:
    held = on_hand(world, PH)
    visit = {
        "facility": PH,
        "inspector": "Kim Chol",
        "time": "2022-06-20T11:00",
        "checklist": {"stock_matches_ledger": False, "records_kept": True},
        "counts": [{"item": "PARA-500", "counted": held - 25}],
        "findings": "Shelf short",
        "photos": ["IMG_0001.jpg"],
    }
    problem(
        call(
            world,
            "lo",
            "POST",
            "/inspections",
            json={**visit, "counts": [{"item": "NOPE", "counted": 1}]},
        ),
        409,
    )
    problem(
        call(world, "lo", "POST", "/inspections", json={**visit, "checklist": {"smell": True}}), 422
    )
    problem(
        call(world, "lo", "POST", "/inspections", json={**visit, "facility": PHARMACY[PYONGYANG]}),
        403,
    )
    problem(call(world, "ph", "POST", "/inspections", json=visit), 403)
    for counts in ([], visit["counts"]):
        future = problem(
            call(
                world,
                "lo",
                "POST",
                "/inspections",
                json={**visit, "time": "2099-06-20T11:00", "counts": counts},
            ),
            422,
        )
        assert "is in the future" in future["detail"]
    assert on_hand(world, PH) == held
    key = {"Idempotency-Key": "inspection-ph-001-0620"}
    done = call(world, "lo", "POST", "/inspections", json=visit, headers=key)
    assert done.status_code == 201, done.text
    assert (done.json()["missing"], done.json()["surplus"]) == (25, 0)
    retried = call(world, "lo", "POST", "/inspections", json=visit, headers=key)
    assert retried.status_code == 201
    assert retried.json() == done.json()
    assert on_hand(world, PH) == held - 25

    opened = call(world, "lo", "POST", "/cases", json={
        "facility": PH, "title": "25 tablets missing", "source": "inspection",
        "inspection": done.json()["id"],
    })  # fmt: skip
    assert opened.status_code == 201, opened.text
    case = opened.json()["id"]
    assert opened.headers["location"] == f"{API}/cases/{case}"
    shown = call(world, "lo", "GET", f"/cases/{case}").json()
    assert shown["evidence"]["inspection"]["missing"] == 25
    assert shown["evidence_sha256"]
    problem(call(world, "vi", "GET", f"/cases/{case}"), 403)  # cases need stock.write
    problem(call(world, "vi", "GET", "/cases"), 403)
    problem(call(world, "lo", "GET", "/cases/999999"), 404)
    assert case in [
        c["id"] for c in call(world, "lo", "GET", "/cases", params={"status": "open"}).json()
    ]
    noted = call(
        world,
        "lo",
        "POST",
        f"/cases/{case}/notes",
        json={"note": "visited", "status": "investigating", "assign": "Ri"},
    )
    assert (noted.json()["status"], noted.json()["assigned_to"]) == ("investigating", "Ri")
    problem(call(world, "lo", "POST", f"/cases/{case}/notes", json={"status": "closed"}), 422)
    problem(call(world, "lo", "POST", f"/cases/{case}/notes", json={}), 422)
    closed = call(
        world, "lo", "POST", f"/cases/{case}/notes", json={"status": "closed", "outcome": "sold on"}
    )
    assert closed.json()["status"] == "closed"
    problem(call(world, "lo", "POST", f"/cases/{case}/notes", json={"note": "late"}), 409)
    problem(
        call(
            world,
            "lo",
            "POST",
            "/cases",
            json={"facility": PH, "title": "t", "source": "inspection"},
        ),
        422,
    )
    problem(call(world, "lo", "POST", "/cases", json={"facility": "NOWHERE", "title": "t"}), 404)


def test_suspects_are_national_writers_only_and_ranked_once_per_data_version(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sitroom.supply import detection_service

    runs: list[object] = []
    real = detection_service._ranked

    def counted(context: Any, items: Any) -> Any:
        runs.append(items)
        return real(context, items)

    monkeypatch.setattr(detection_service, "_ranked", counted)
    # The list names suspects: national stock.read is not enough, nor a region's stock.write.
    problem(call(world, "vi", "GET", "/suspects"), 403)
    problem(call(world, "ep-n", "GET", "/suspects"), 403)
    problem(call(world, "lo", "GET", "/suspects"), 403)
    assert runs == []
    ranked = call(world, "lo-n", "GET", "/suspects", params={"top": 3})
    assert ranked.status_code == 200, ranked.text
    assert len(ranked.json()["findings"]) <= 3
    assert ranked.json()["notes"]
    # Served from the ranking of this data version: any top, the same order.
    more = call(world, "lo-n", "GET", "/suspects", params={"top": 50}).json()
    assert more["findings"][:3] == ranked.json()["findings"]
    assert len(runs) == 1
    # New data: ranked again.
    posted = call(
        world, "lo", "POST", "/movements", json={"movements": [movement("dispense", PH, 3)]}
    )
    assert posted.status_code == 200, posted.text
    assert call(world, "lo-n", "GET", "/suspects").status_code == 200
    assert len(runs) == 2
    # An item selection is ranked (and kept) on its own; an unknown item is 422, not kept.
    one = call(world, "lo-n", "GET", "/suspects", params={"item": "PARA-500"})
    assert one.status_code == 200, one.text
    assert one.json()["items"] == ["PARA-500"]
    call(world, "lo-n", "GET", "/suspects", params={"item": "PARA-500"})
    assert len(runs) == 3
    problem(call(world, "lo-n", "GET", "/suspects", params={"item": "NOPE"}), 422)
    problem(call(world, "lo-n", "GET", "/suspects", params={"item": "NOPE"}), 422)
    assert len(runs) == 5
