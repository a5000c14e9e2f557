"""The role matrix over the API (issue #9, item 3): every role x every operation x scope.

``tests/unit/auth/test_permissions.py`` holds the service layer's matrix
(role x permission x place). This is the same over HTTP: for each role, a
user scoped to Chagang (KP-04) and one scoped to the country calls every
operation the server exposes, on an org unit inside the scope (KP-04) and
outside it (Pyongyang, KP-01), and each answer's status must be the one
the permission table gives: the operation's success status when the role
holds the permission (and, for a scoped operation, the unit is inside),
403 otherwise. The expectation is computed from ``ROLES``, so changing the
role table changes it; the operations are listed here by hand, with the
permission each needs, and a test checks that the list covers every
operation of the OpenAPI document (a new route must be added here).

Two documented exceptions: a batch write (``POST /dataValues``, DHIS2's
``POST /dataValueSets``, ``POST /supply/movements`` and a stock batch's
reversal) that names a unit outside the scope is answered 409 with the value
or movement refused (nothing written), as any refused one is; and the
national reads and checks (the bulletin, the supply chain's picture, its
verification and the suspects) need the whole country, so their "inside"
caller is the national user and their "outside" caller the Chagang one.
An operation some of several permissions allow (dispensing: ``stock.write``
or ``stock.dispense``) lists them all.

One database, app and client for the module; users sign in by API token
(argon2 at production cost a request would make the matrix slow).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from sitroom.auth import service as auth
from sitroom.auth.permissions import ROLES
from sitroom.country import Country
from sitroom.publication.service import publish
from sitroom.surveillance import approvals
from tests.conftest import TEST_DATABASE_URL
from tests.functional.api_world import (
    LOT,
    PHARMACY,
    STORE,
    WAREHOUSE,
    World,
    api_world,
    stock_world,
)

INSIDE, OUTSIDE = "KP-04", "KP-01"
#: The period of the edition the world publishes (reports are national: ``national=True``).
EDITION_PERIOD = "2022-05-20"
_serial = count()


@pytest.fixture(scope="module")
def world(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The 2022 wave, two users per role (Chagang, national)."""
    folder = tmp_path_factory.mktemp("matrix")
    with api_world(_migrated, TEST_DATABASE_URL, folder, country) as built:
        for role in ROLES:
            built.add_user(f"{role}-r", role, [INSIDE])
            built.add_user(f"{role}-n", role, ["KP"])
        publish(built.context, EDITION_PERIOD, user="t", channel="cli")
        stock_world(built.session)
        yield built


def _target(world: World, unit: str) -> str:
    """A fresh user scoped to ``unit``, for the users admin operations to act on."""
    name = f"target-{next(_serial)}"
    auth.create_user(world.session, name, role="viewer", scopes=[unit], password=None, actor="t")
    world.session.commit()
    return name


def _day(offset: int) -> str:
    return (date(2023, 1, 1) + timedelta(days=offset)).isoformat()


@dataclass(frozen=True)
class Action:
    """One operation: how to call it on an org unit, the permission it needs, what it answers."""

    name: str
    method: str
    #: The request for the unit: (path, keyword arguments of ``client.request``).
    request: Callable[[World, str], tuple[str, dict[str, Any]]]
    #: The permission, or several of which any one will do.
    permission: str | tuple[str, ...] | None
    #: False: only the role is checked (the scope filters what comes back).
    scoped: bool = True
    ok: int = 200
    #: The status for a unit outside the scope when the role allows the operation.
    outside: int = 403
    #: Called on the "inside" unit by the national user, on the "outside" one by Chagang's.
    national: bool = False
    #: A path that names the route, for the coverage check (the request's own path if empty).
    route: str = field(default="")


def get(path: str) -> Callable[[World, str], tuple[str, dict[str, Any]]]:
    return lambda _world, unit: (path.format(unit=unit), {})


def _value(unit: str, period: str) -> dict[str, str]:
    return {"orgUnit": unit, "dataElement": "new_fever", "period": period, "value": "5"}


def _post_values(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/dataValues", {"json": {"dataValues": [_value(unit, _day(next(_serial)))]}}


def _post_dhis2(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    period = _day(next(_serial)).replace("-", "")
    return "/api/dataValueSets", {"json": {"dataValues": [_value(unit, period)]}}


def _approve(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    period = (date(2024, 1, 1) + timedelta(days=next(_serial))).isoformat()
    return "/api/v1/approvals", {"json": {"orgUnit": unit, "period": period}}


def _unapprove(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    period = (date(2025, 1, 1) + timedelta(days=next(_serial))).isoformat()
    approvals.approve(world.session, unit, period, user="t")
    body = {"orgUnit": unit, "period": period, "reason": "matrix"}
    return "/api/v1/approvals/unapprove", {"json": body}


def _on_user(suffix: str, method_body: dict[str, Any] | None = None) -> Any:
    def build(world: World, unit: str) -> tuple[str, dict[str, Any]]:
        name = _target(world, unit)
        return f"/api/v1/users/{name}{suffix}", ({"json": method_body} if method_body else {})

    return build


def _create_user(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {"username": f"made-{next(_serial)}", "role": "reporter", "scopes": [unit]}
    return "/api/v1/users", {"json": body}


def _grant(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    # A district of the unit: granted to a user of the unit (both inside or both outside).
    district = {"KP-04": "KP-04-KANGGYE", "KP-01": "KP-01-KANGDONG"}[unit]
    return f"/api/v1/users/{_target(world, unit)}/scopes", {"json": {"scopes": [district]}}


def _publish(_world: World, _unit: str) -> tuple[str, dict[str, Any]]:
    # The world's edition holds these values: the answer is 200 and nothing is built.
    return "/api/v1/editions", {"json": {"period": EDITION_PERIOD}}


def _revoke(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/users/{_target(world, unit)}/scopes/{unit}", {}


def _put_value(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/dataValues/new_fever/{unit}/{_day(next(_serial))}", {"json": {"value": 5}}


def _stored(world: World, unit: str) -> tuple[str, str]:
    """A value written by the national admin: its path and ETag."""
    path = f"/api/v1/dataValues/new_fever/{unit}/{_day(next(_serial))}"
    made = world.client.put(path, json={"value": 3}, headers=world.headers("admin-n"))
    assert made.status_code == 201, made.text
    return path, made.headers["etag"]


def _delete_value(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    path, etag = _stored(world, unit)
    return path, {"headers": {"If-Match": etag}}


def _dhis2_value(unit: str) -> dict[str, str]:
    return {"de": "new_fever", "ou": unit, "pe": _day(next(_serial)).replace("-", "")}


def _post_dhis2_value(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    return "/api/dataValues", {"params": {**_dhis2_value(unit), "value": "5"}}


def _delete_dhis2_value(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    params = _dhis2_value(unit)
    made = world.client.post(
        "/api/dataValues", params={**params, "value": "4"}, headers=world.headers("admin-n")
    )
    assert made.status_code == 201, made.text
    return "/api/dataValues", {"params": params}


# The supply chain (issue #11): every facility named is in the unit asked for.

NAMES = {"WH-KP-04": "Chagang warehouse", "WH-KP-01": "Pyongyang warehouse"}
NOW = "2022-06-01T10:00"


def _new_facility(world: World, unit: str) -> str:
    """A pharmacy of ``unit`` made by the operator, for a route to go to."""
    from sitroom.supply import network_service

    code = f"PH-MATRIX-{next(_serial)}"
    network_service.create_facility(
        world.session, code=code, name=code, facility_type="pharmacy", org_unit=unit, user="t"
    )
    return code


def _create_facility(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {
        "code": f"PH-MADE-{next(_serial)}",
        "name": "A new pharmacy",
        "type": "pharmacy",
        "orgUnit": unit,
        "supplier": WAREHOUSE[unit],
    }
    return "/api/v1/supply/facilities", {"json": body}


def _patch_facility(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    code = WAREHOUSE[unit]
    return f"/api/v1/supply/facilities/{code}", {"json": {"name": NAMES[code]}}


def _route(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {"source": WAREHOUSE[unit], "destination": _new_facility(world, unit)}
    return "/api/v1/supply/routes", {"json": body}


def _movement(event: str, place: str) -> dict[str, Any]:
    return {"time": NOW, "event": event, "facility": place, "item": "PARA-500", "quantity": 1}


def _receive(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {"movements": [{**_movement("receipt", WAREHOUSE[unit]), "lot": LOT}]}
    return "/api/v1/supply/movements", {"json": body}


def _dispense(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {"movements": [{**_movement("dispense", PHARMACY[unit]), "patients": 1}]}
    return "/api/v1/supply/movements", {"json": body}


def _reverse(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    from zoneinfo import ZoneInfo

    from sitroom.supply.ledger import Ledger, Movement

    when = datetime(2022, 6, 1, 10, tzinfo=ZoneInfo("Asia/Pyongyang"))
    made = Ledger(world.session, user="t").post(
        [Movement(when, "receipt", WAREHOUSE[unit], "PARA-500", 1, lot=LOT)], source="matrix"
    )
    return f"/api/v1/supply/batches/{made.batch_id}/reverse", {"json": {"reason": "matrix"}}


def _order(world: World, unit: str, *, to: str = "draft") -> str:
    """An order from the unit's warehouse to its store, taken to ``to`` by the operator."""
    from sitroom.supply import orders

    db, steps = world.session, ("draft", "approved", "dispatched", "delivered")
    view = orders.create_order(
        db, WAREHOUSE[unit], STORE[unit], [orders.OrderLineIn("PARA-500", 2)], user="t"
    )
    number = view.number
    if steps.index(to) >= 1:
        orders.approve_order(db, number, user="t")
    if steps.index(to) >= 2:
        orders.dispatch_order(db, number, carrier="KPA unit 525", carrier_kind="army", user="t")
    if steps.index(to) >= 3:
        pod = [orders.PodLine("PARA-500", 1, 1, "damaged")]
        orders.deliver_order(db, number, receiver="Kim", lines=pod, user="t")
    return number


def _create_order(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {
        "source": WAREHOUSE[unit],
        "destination": STORE[unit],
        "lines": [{"item": "PARA-500", "quantity": 1}],
    }
    return "/api/v1/supply/orders", {"json": body}


def _on_order(to: str, step: str, body: dict[str, Any]) -> Any:
    def build(world: World, unit: str) -> tuple[str, dict[str, Any]]:
        return f"/api/v1/supply/orders/{_order(world, unit, to=to)}/{step}", {"json": body}

    return build


def _read_order(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/supply/orders/{_order(world, unit)}", {}


def _allocate(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {"items": ["PARA-500"], "source": WAREHOUSE[unit], "level": "pharmacy"}
    return "/api/v1/supply/allocations", {"json": body}


def _kits(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/supply/test-kits", {"json": {"kits": 10, "orgUnit": unit}}


def _inspect(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {
        "facility": PHARMACY[unit],
        "inspector": "Ri Su",
        "time": NOW,
        "checklist": {"prices_as_set": True},
    }
    return "/api/v1/supply/inspections", {"json": body}


def _open_case(_world: World, unit: str) -> tuple[str, dict[str, Any]]:
    return "/api/v1/supply/cases", {"json": {"facility": PHARMACY[unit], "title": "matrix"}}


def _case(world: World, unit: str) -> int:
    from sitroom.supply.inspections import open_case

    made = open_case(world.session, PHARMACY[unit], source="report", title="matrix", user="t")
    return int(made["id"])


def _read_case(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/supply/cases/{_case(world, unit)}", {}


def _note_case(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/supply/cases/{_case(world, unit)}/notes", {"json": {"note": "seen"}}


POD = {"receiver": "Kim", "lines": [{"item": "PARA-500", "accepted": 2}]}
SUPPLY = [
    Action("supply items", "GET", get("/api/v1/supply/items"), "stock.read", scoped=False),
    Action("facilities", "GET", get("/api/v1/supply/facilities?orgUnit={unit}"), "stock.read"),
    Action(
        "facility",
        "GET",
        lambda _w, unit: (f"/api/v1/supply/facilities/{WAREHOUSE[unit]}", {}),
        "stock.read",
    ),
    Action("create facility", "POST", _create_facility, "stock.write", ok=201),
    Action("change facility", "PATCH", _patch_facility, "stock.write"),
    Action("declare route", "POST", _route, "stock.write", ok=201),
    Action("stock", "GET", get("/api/v1/supply/stock?orgUnit={unit}"), "stock.read"),
    Action(
        "stock picture", "GET", get("/api/v1/supply/stock/picture"), "stock.read", national=True
    ),
    Action("verify ledger", "GET", get("/api/v1/supply/verify"), "stock.write", national=True),
    Action("receive", "POST", _receive, "stock.write", outside=409),
    Action("dispense", "POST", _dispense, ("stock.write", "stock.dispense"), outside=409),
    Action("reverse batch", "POST", _reverse, "stock.write", outside=409),
    Action("orders", "GET", get("/api/v1/supply/orders"), "stock.read", scoped=False),
    Action("order", "GET", _read_order, "stock.read"),
    Action("create order", "POST", _create_order, "stock.write", ok=201),
    Action("approve order", "POST", _on_order("draft", "approve", {}), "stock.write"),
    Action("cancel order", "POST", _on_order("draft", "cancel", {"reason": "x"}), "stock.write"),
    Action(
        "dispatch order",
        "POST",
        _on_order("approved", "dispatch", {"carrier": "KPA unit 525", "carrierKind": "army"}),
        "stock.write",
    ),
    Action("deliver order", "POST", _on_order("dispatched", "deliver", POD), "stock.write"),
    Action("close order", "POST", _on_order("delivered", "close", {}), "stock.write"),
    Action("lead times", "GET", get("/api/v1/supply/leadtimes"), "stock.read", scoped=False),
    Action("indicators", "GET", get("/api/v1/supply/indicators?orgUnit={unit}"), "stock.read"),
    Action("stock alerts", "GET", get("/api/v1/supply/alerts?orgUnit={unit}"), "stock.read"),
    Action(
        "demand",
        "GET",
        get("/api/v1/supply/demand?orgUnit={unit}&horizon=3&samples=50"),
        "stock.read",
    ),
    Action("allocate", "POST", _allocate, "stock.write"),
    Action("test kits", "POST", _kits, "stock.read"),
    Action("inspect", "POST", _inspect, "stock.write", ok=201),
    Action("cases", "GET", get("/api/v1/supply/cases"), "stock.write", scoped=False),
    Action("open case", "POST", _open_case, "stock.write", ok=201),
    Action("case", "GET", _read_case, "stock.write"),
    Action("note case", "POST", _note_case, "stock.write"),
    Action("suspects", "GET", get("/api/v1/supply/suspects?top=5"), "stock.write", national=True),
]


def _aid_partner(world: World) -> str:
    from sitroom.aid import partners

    if not any(p.code == "CN" for p in partners.list_partners(world.session)):
        partners.add_partner(world.session, "CN", "China", "government", user="t")
    return "CN"


def _aid_request(world: World, unit: str, *, sent: bool = False) -> str:
    from sitroom.aid import requests
    from sitroom.aid.common import LineIn

    made = requests.create_request(
        world.session, _aid_partner(world), [LineIn("ORS", 10)], channel="email",
        reason="matrix", unit=unit, user="t",
    )  # fmt: skip
    if sent:
        requests.send_request(world.session, made.number, user="t")
    return made.number


def _aid_offer(world: World, unit: str) -> str:
    from sitroom.aid import requests
    from sitroom.aid.common import LineIn

    made = requests.record_offer(world.session, _aid_partner(world), [LineIn("ORS", 10)],
                                 channel="email", unit=unit, user="t")  # fmt: skip
    return made.number


def _on_aid_request(
    suffix: str, method_body: dict[str, Any] | None = None, *, sent: bool = False
) -> Any:
    def build(world: World, unit: str) -> tuple[str, dict[str, Any]]:
        number = _aid_request(world, unit, sent=sent)
        return f"/api/v1/aid/requests/{number}{suffix}", (
            {} if method_body is None else {"json": method_body}
        )

    return build


def _on_aid_offer(suffix: str, method_body: dict[str, Any] | None = None) -> Any:
    def build(world: World, unit: str) -> tuple[str, dict[str, Any]]:
        number = _aid_offer(world, unit)
        return f"/api/v1/aid/offers/{number}{suffix}", (
            {} if method_body is None else {"json": method_body}
        )

    return build


def _add_aid_partner(_world: World, _unit: str) -> tuple[str, dict[str, Any]]:
    body = {"code": f"P{next(_serial)}", "name": "A partner", "kind": "ngo"}
    return "/api/v1/aid/partners", {"json": body}


def _add_aid_contact(world: World, _unit: str) -> tuple[str, dict[str, Any]]:
    body = {"name": "Embassy", "channel": "diplomatic_note"}
    return f"/api/v1/aid/partners/{_aid_partner(world)}/contacts", {"json": body}


def _create_aid_request(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {"partner": _aid_partner(world), "lines": [{"item": "ORS", "quantity": 5}],
            "channel": "email", "reason": "matrix", "orgUnit": unit}  # fmt: skip
    return "/api/v1/aid/requests", {"json": body}


def _record_aid_offer(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {"partner": _aid_partner(world), "lines": [{"item": "ORS", "quantity": 5}],
            "channel": "phone", "orgUnit": unit}  # fmt: skip
    return "/api/v1/aid/offers", {"json": body}


def _aid_messages(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    return f"/api/v1/aid/messages?about={_aid_request(world, unit)}", {}


def _log_aid_message(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {"about": _aid_request(world, unit), "direction": "out", "kind": "call",
            "channel": "phone", "summary": "matrix"}  # fmt: skip
    return "/api/v1/aid/messages", {"json": body}


def _aid_pledge(world: World, unit: str) -> str:
    """An open pledge of ``unit`` (10 sachets of ORS) answering a request sent."""
    from sitroom.aid import pipeline
    from sitroom.aid.common import LineIn

    request = _aid_request(world, unit, sent=True)
    made = pipeline.create_pledge(world.session, _aid_partner(world), [LineIn("ORS", 10)],
                                  request=request, user="t")  # fmt: skip
    return made.number


def _aid_shipment(world: World, unit: str, *, received: int = 0) -> tuple[str, str]:
    """A shipment of a pledge of ``unit`` in transit to its warehouse, a lot of its own
    (``received`` units of it received): its number and lot."""
    from datetime import UTC

    from sitroom.aid import pipeline

    lot = f"AID-{next(_serial)}"
    made = pipeline.create_shipment(
        world.session, _aid_pledge(world, unit), WAREHOUSE[unit],
        [pipeline.ShipLineIn("ORS", lot, date(2030, 1, 1), 10)],
        departed_at=datetime.now(UTC), user="t",
    )  # fmt: skip
    if received:
        pipeline.receive_shipment(world.session, made.number,
                                  [pipeline.ReceiveLineIn("ORS", lot, received)],
                                  received_by="Kim", user="t")  # fmt: skip
    return made.number, lot


def _on_aid_pledge(suffix: str, method_body: dict[str, Any] | None = None) -> Any:
    def build(world: World, unit: str) -> tuple[str, dict[str, Any]]:
        number = _aid_pledge(world, unit)
        return f"/api/v1/aid/pledges/{number}{suffix}", (
            {} if method_body is None else {"json": method_body}
        )

    return build


def _on_aid_shipment(
    suffix: str, method_body: dict[str, Any] | None = None, *, received: int = 0
) -> Any:
    def build(world: World, unit: str) -> tuple[str, dict[str, Any]]:
        number, _lot = _aid_shipment(world, unit, received=received)
        return f"/api/v1/aid/shipments/{number}{suffix}", (
            {} if method_body is None else {"json": method_body}
        )

    return build


def _create_aid_pledge(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {"partner": _aid_partner(world), "lines": [{"item": "ORS", "quantity": 5}],
            "request": _aid_request(world, unit, sent=True)}  # fmt: skip
    return "/api/v1/aid/pledges", {"json": body}


def _create_aid_shipment(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    body = {"pledge": _aid_pledge(world, unit), "destination": WAREHOUSE[unit],
            "lines": [{"item": "ORS", "lot": f"AID-{next(_serial)}", "expiry": "2030-01-01",
                       "quantity": 5}]}  # fmt: skip
    return "/api/v1/aid/shipments", {"json": body}


def _receive_aid_shipment(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    number, lot = _aid_shipment(world, unit)
    body = {"lines": [{"item": "ORS", "lot": lot, "quantity": 3}], "receivedBy": "Kim"}
    return f"/api/v1/aid/shipments/{number}/receive", {"json": body}


def _aid_lot(world: World, unit: str) -> tuple[str, dict[str, Any]]:
    _number, lot = _aid_shipment(world, unit, received=2)
    return f"/api/v1/aid/lots/ORS/{lot}", {}


AID = [
    Action("aid partners", "GET", get("/api/v1/aid/partners"), "aid.read", scoped=False),
    Action(
        "aid partner",
        "GET",
        lambda w, _u: (f"/api/v1/aid/partners/{_aid_partner(w)}", {}),
        "aid.read",
        scoped=False,
    ),
    Action("add aid partner", "POST", _add_aid_partner, "aid.write", ok=201, national=True),
    Action("add aid contact", "POST", _add_aid_contact, "aid.write", ok=201, national=True),
    Action("aid requests", "GET", get("/api/v1/aid/requests"), "aid.read", scoped=False),
    Action("aid request", "GET", _on_aid_request(""), "aid.read"),
    Action("aid request timeline", "GET", _on_aid_request("/timeline"), "aid.read"),
    Action("create aid request", "POST", _create_aid_request, "aid.write", ok=201),
    Action("edit aid request", "PATCH", _on_aid_request("", {"reason": "edited"}), "aid.write"),
    Action("send aid request", "POST", _on_aid_request("/send", {}), "aid.write"),
    Action(
        "aid request status",
        "POST",
        _on_aid_request("/status", {"status": "acknowledged"}, sent=True),
        "aid.write",
    ),
    Action("aid offers", "GET", get("/api/v1/aid/offers"), "aid.read", scoped=False),
    Action("aid offer", "GET", _on_aid_offer(""), "aid.read"),
    Action("aid offer timeline", "GET", _on_aid_offer("/timeline"), "aid.read"),
    Action("record aid offer", "POST", _record_aid_offer, "aid.write", ok=201),
    Action(
        "aid offer status",
        "POST",
        _on_aid_offer("/status", {"status": "under_review"}),
        "aid.write",
    ),
    Action("aid messages", "GET", _aid_messages, "aid.read"),
    Action("log aid message", "POST", _log_aid_message, "aid.write", ok=201),
    Action("aid overdue", "GET", get("/api/v1/aid/overdue"), "aid.read", scoped=False),
    Action("aid gap", "GET", get("/api/v1/aid/gap?orgUnit={unit}&horizon=3"), "aid.read"),
    Action(
        "aid suggestions",
        "POST",
        lambda _w, unit: (
            "/api/v1/aid/suggestions",
            {"json": {"orgUnit": unit, "horizon": 3}},
        ),
        "aid.read",
    ),
    Action("aid pledges", "GET", get("/api/v1/aid/pledges"), "aid.read", scoped=False),
    Action("aid pledge", "GET", _on_aid_pledge(""), "aid.read"),
    Action("create aid pledge", "POST", _create_aid_pledge, "aid.write", ok=201),
    Action("cancel aid pledge", "POST", _on_aid_pledge("/cancel", {"reason": "x"}), "aid.write"),
    Action("aid shipments", "GET", get("/api/v1/aid/shipments"), "aid.read", scoped=False),
    Action("aid shipment", "GET", _on_aid_shipment(""), "aid.read"),
    Action("create aid shipment", "POST", _create_aid_shipment, "aid.write", ok=201),
    Action(
        "update aid shipment",
        "POST",
        _on_aid_shipment("/update", {"status": "at_border"}),
        "aid.write",
    ),
    Action(
        "close aid shipment",
        "POST",
        _on_aid_shipment("/close", {"reason": "x"}, received=4),
        "aid.write",
    ),
    Action(
        "cancel aid shipment", "POST", _on_aid_shipment("/cancel", {"reason": "x"}), "aid.write"
    ),
    # Received by whoever keeps the warehouse's stock: stock.write over it, not aid.write.
    Action("receive aid shipment", "POST", _receive_aid_shipment, "stock.write", ok=201),
    Action("aid lot", "GET", _aid_lot, ("aid.read", "stock.read"), scoped=False),
    Action("aid 3w", "GET", get("/api/v1/aid/3w"), "aid.read", scoped=False),
]


ANALYSES = {
    "rt": "fill=linear",
    "growth": "fill=linear",
    "forecast": "fill=linear&horizon=3&samples=10",
    "nowcast": "last=3",
    "cfr": "fill=linear",
    "alerts": "fill=linear",
    "credibility": "",
    "ascertainment": "",
}

ACTIONS = [
    Action("me", "GET", get("/api/v1/me"), None, scoped=False),
    Action("org units", "GET", get("/api/v1/orgUnits"), "data.read", scoped=False),
    Action("org unit", "GET", get("/api/v1/orgUnits/{unit}"), "data.read"),
    Action("children", "GET", get("/api/v1/orgUnits/{unit}/children"), "data.read"),
    Action("data elements", "GET", get("/api/v1/dataElements"), "data.read", scoped=False),
    Action("periods", "GET", get("/api/v1/periods?startDate=2022-05-14"), "data.read", False),
    Action("values", "GET", get("/api/v1/dataValues?orgUnit={unit}&limit=5"), "data.read"),
    Action("write values", "POST", _post_values, "data.write", outside=409),
    Action(
        "history",
        "GET",
        get("/api/v1/dataValues/history?dataElement=new_fever&orgUnit={unit}&period=2022-05-15"),
        "data.read",
    ),
    Action(
        "validation", "GET", get("/api/v1/validation?orgUnit={unit}&period=2022-05-20"), "data.read"
    ),
    Action(
        "completeness",
        "GET",
        get("/api/v1/completeness?orgUnit={unit}&startDate=2022-05-14&endDate=2022-05-20"),
        "data.read",
    ),
    Action("sums", "GET", get("/api/v1/aggregate?orgUnit={unit}&period=2022-05-15"), "data.read"),
    Action(
        "weeks",
        "GET",
        get("/api/v1/aggregate?orgUnit={unit}&to=week&dataElement=new_fever"),
        "data.read",
    ),
    Action(
        "bulletin",
        "GET",
        get("/api/v1/bulletin?period=2022-05-15"),
        "data.read",
        national=True,
    ),
    Action("approvals", "GET", get("/api/v1/approvals?orgUnit={unit}"), "data.read", False),
    Action("approve", "POST", _approve, "data.approve"),
    Action("unapprove", "POST", _unapprove, "data.approve"),
    *(
        Action(
            name, "GET", get(f"/api/v1/analyses/{name}?orgUnit={{unit}}&{query}"), "analysis.read"
        )
        for name, query in ANALYSES.items()
    ),
    Action("users", "GET", get("/api/v1/users"), "users.manage", scoped=False),
    Action("user", "GET", _on_user(""), "users.manage", route="/api/v1/users/x"),
    Action("create user", "POST", _create_user, "users.manage", ok=201),
    Action("disable", "POST", _on_user("/disable"), "users.manage"),
    Action("enable", "POST", _on_user("/enable"), "users.manage"),
    Action("set role", "PUT", _on_user("/role", {"role": "reporter"}), "users.manage"),
    Action("grant", "POST", _grant, "users.manage"),
    Action("revoke", "DELETE", _revoke, "users.manage"),
    Action(
        "reset password",
        "POST",
        _on_user("/password", {"password": "a long enough passphrase 42"}),
        "users.manage",
        ok=204,
    ),
    Action("dhis2 system", "GET", get("/api/system/info"), None, scoped=False),
    Action("dhis2 me", "GET", get("/api/me"), None, scoped=False),
    Action(
        "dhis2 read",
        "GET",
        get("/api/dataValueSets?orgUnit={unit}&period=2022-05-15"),
        "data.read",
    ),
    Action("dhis2 write", "POST", _post_dhis2, "data.write", outside=409),
    Action(
        "dhis2 value",
        "GET",
        get("/api/dataValues?de=new_fever&pe=20220515&ou={unit}"),
        "data.read",
    ),
    Action("dhis2 write value", "POST", _post_dhis2_value, "data.write", ok=201),
    Action("dhis2 delete value", "DELETE", _delete_dhis2_value, "data.write", ok=204),
    Action("dhis2 org units", "GET", get("/api/organisationUnits"), "data.read", scoped=False),
    Action("dhis2 data elements", "GET", get("/api/dataElements"), "data.read", scoped=False),
    Action("value", "GET", get("/api/v1/dataValues/new_fever/{unit}/2022-05-15"), "data.read"),
    Action("put value", "PUT", _put_value, "data.write", ok=201),
    Action("delete value", "DELETE", _delete_value, "data.write"),
    Action("audit", "GET", get("/api/v1/audit?limit=5"), "audit.read", national=True),
    Action("editions", "GET", get("/api/v1/editions"), "data.read", national=True),
    Action(
        "edition",
        "GET",
        get(f"/api/v1/editions/{EDITION_PERIOD}/1"),
        "data.read",
        national=True,
    ),
    Action(
        "edition file",
        "GET",
        get(f"/api/v1/editions/{EDITION_PERIOD}/1/pdf"),
        "data.read",
        national=True,
    ),
    Action("publish", "POST", _publish, "report.publish", national=True),
    *SUPPLY,
    *AID,
]


def expected(role: str, action: Action, where: str) -> int:
    """The status the permission table gives the cell."""
    if action.permission is None:
        return action.ok
    needed = (action.permission,) if isinstance(action.permission, str) else action.permission
    if not any(p in ROLES[role] for p in needed):
        return 403
    if action.scoped and where == "outside":
        return action.outside
    return action.ok


CELLS = [
    pytest.param(role, action, where, id=f"{role}-{action.name}-{where}")
    for role in ROLES
    for action in ACTIONS
    for where in (("inside", "outside") if action.scoped else ("anywhere",))
]


@pytest.mark.parametrize(("role", "action", "where"), CELLS)
def test_the_api_matrix(world: World, role: str, action: Action, where: str) -> None:
    if action.national:
        who, unit = (f"{role}-n", "KP") if where == "inside" else (f"{role}-r", "KP")
    else:
        who, unit = f"{role}-r", OUTSIDE if where == "outside" else INSIDE
    path, kwargs = action.request(world, unit)
    headers = {**world.headers(who), **kwargs.pop("headers", {})}
    response = world.client.request(action.method, path, headers=headers, **kwargs)
    want = expected(role, action, where)
    assert response.status_code == want, (
        f"{who} {action.method} {path}: {response.status_code}, expected {want}: {response.text}"
    )
    if want == 403:
        assert response.headers["content-type"] == "application/problem+json"
        assert role in response.json()["detail"] or who in response.json()["detail"]


def _canonical(template: str) -> str:
    """DHIS2's versioned (``/api/41/...``) and suffixed (``.json``, ``.csv``) paths are
    aliases of the same operations: one template for them all."""
    template = re.sub(r"^/api/\{version\}/", "/api/", template)
    return re.sub(r"\.(json|csv)$", "", template)


def test_the_matrix_covers_every_operation(world: World) -> None:
    document = world.client.get("/api/v1/openapi.json").json()
    operations = {
        (method.upper(), _canonical(path))
        for path, methods in document["paths"].items()
        if path.startswith("/api/")
        for method in methods
    }
    called = [
        (action.method, (action.route or action.request(world, INSIDE)[0]).split("?")[0])
        for action in ACTIONS
    ]
    missing = []
    for method, template in sorted(operations):
        pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$")
        if not any(m == method and pattern.match(path) for m, path in called):
            missing.append(f"{method} {template}")
    assert not missing, f"operations the matrix does not call: {missing}"


def test_the_api_reference_names_every_operation(world: World) -> None:
    document = world.client.get("/api/v1/openapi.json").json()
    reference = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text("utf-8")
    missing = [
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        if path.startswith("/api/v1/") and path not in ("/api/v1/openapi.json",)
        for method in methods
        if f"`{method.upper()} {path}`" not in reference
    ]
    assert not missing, f"docs/api.md does not name {missing}"


def test_the_matrix_has_a_cell_per_role_operation_and_place() -> None:
    scoped = sum(action.scoped for action in ACTIONS)
    assert len(CELLS) == len(ROLES) * (2 * scoped + len(ACTIONS) - scoped)
    # Every role is refused somewhere and allowed somewhere: the matrix tells them apart.
    for role in ROLES:
        statuses = {expected(role, a, w) for a in ACTIONS for w in ("inside", "outside")}
        assert 403 in statuses or role == "admin"
        assert statuses - {403}
