"""Pledges, shipments, receipts, a lot's origin and the 3W table over HTTP (issue #12,
items 3, 6, 7 and 8): the way from a pledge to the warehouse's shelf, each refusal with
its status (403, 404, 409, 422) and nothing written, the 3W table as JSON, CSV and HXL.
The role x scope matrix is ``test_api_matrix.py``'s."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from itertools import count
from typing import Any

import pytest
from sqlalchemy import text

from sitroom.aid.export import HEADER, HXL_TAGS
from sitroom.country import Country
from tests.conftest import TEST_DATABASE_URL
from tests.functional.api_world import World, api_world

API = "/api/v1/aid"
TABLES = (
    "aid_pledge", "aid_pledge_line", "aid_shipment", "aid_shipment_line", "aid_receipt",
    "aid_event", "stock_batch", "stock_entry",
)  # fmt: skip
_lots = count(1)


@pytest.fixture(scope="module")
def world(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    from sitroom.aid import partners

    with api_world(_migrated, TEST_DATABASE_URL, tmp_path_factory.mktemp("aidp"), country) as w:
        w.add_user("co", "coordinator", ["KP"])
        w.add_user("co-r", "coordinator", ["KP-04"])
        w.add_user("vi", "viewer", ["KP"])
        w.add_user("lo", "logistician", ["KP-04"])
        w.add_user("lo-p", "logistician", ["KP-01"])
        w.add_user("ph", "pharmacist", ["KP"])
        partners.add_partner(w.session, "CN", "People's Republic of China", "government", user="t")
        yield w


def call(world: World, who: str, method: str, path: str, **kwargs: Any) -> Any:
    headers = {**world.headers(who), **kwargs.pop("headers", {})}
    return world.client.request(method, API + path, headers=headers, **kwargs)


def rows(world: World) -> dict[str, int]:
    world.session.rollback()
    return {
        table: world.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        for table in TABLES
    }


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def a_request(world: World, unit: str | None = None, time: str | None = None) -> str:
    """A request to China sent (national, or of ``unit``): its number."""
    body: dict[str, Any] = {
        "partner": "CN", "channel": "diplomatic_note", "reason": "the fever wave",
        "lines": [{"item": "PCR-TEST", "quantity": 100_000},
                  {"item": "PARA-500", "quantity": 1_000_000}],
    }  # fmt: skip
    if unit:
        body["orgUnit"] = unit
    if time:
        body["time"] = time
    number = ok(call(world, "co", "POST", "/requests", json=body), 201)["number"]
    ok(call(world, "co", "POST", f"/requests/{number}/send", json={"time": time} if time else {}))
    return str(number)


def a_pledge(world: World, unit: str | None = None, request: str | None = None) -> str:
    """A pledge of 1,000 PCR tests answering ``request`` (default: a new one of ``unit``)."""
    body = {"partner": "CN", "request": request or a_request(world, unit),
            "lines": [{"item": "PCR-TEST", "quantity": 1000}]}  # fmt: skip
    return str(ok(call(world, "co", "POST", "/pledges", json=body), 201)["number"])


def a_shipment(world: World, pledge: str, quantity: int = 600) -> tuple[str, str]:
    """A shipment of ``pledge`` to the Chagang warehouse, in transit (it left now): its
    number and lot."""
    lot = f"API-{next(_lots)}"
    body = {"pledge": pledge, "destination": "WH-KP-04",
            "lines": [{"item": "PCR-TEST", "lot": lot, "expiry": "2030-01-01",
                       "quantity": quantity}]}  # fmt: skip
    number = ok(call(world, "co", "POST", "/shipments", json=body), 201)["number"]
    left = ok(
        call(world, "co", "POST", f"/shipments/{number}/update", json={"status": "in_transit"})
    )
    assert left["status"] == "in_transit"
    return str(number), lot


def test_a_pledge_from_the_request_to_the_shelf(world: World) -> None:
    request = a_request(world, time="2022-05-16T09:00")
    ok(call(world, "co", "POST", f"/requests/{request}/status",
            json={"status": "accepted", "time": "2022-05-17T09:00"}))  # fmt: skip
    pledged = ok(call(world, "co", "POST", "/pledges", json={
        "partner": "CN", "request": request, "expectedBy": "2022-05-30",
        "time": "2022-05-18T10:00",
        "lines": [{"item": "PCR-TEST", "quantity": 100_000},
                  {"item": "PARA-500", "quantity": 1_000_000}],
    }), 201)  # fmt: skip
    pledge = pledged["number"]
    assert pledged["status"] == "open"
    assert pledged["pledged_at"] == "2022-05-18T01:00:00+00:00"  # answered in UTC
    made = ok(call(world, "co", "POST", "/shipments", json={
        "pledge": pledge, "destination": "WH-KP-04", "carrier": "Air Koryo",
        "borderCrossing": "Sinuiju", "departedAt": "2022-05-19T08:00", "expectedAt": "2022-05-21",
        "lines": [{"item": "PCR-TEST", "lot": "L2205", "expiry": "2023-05-31", "quantity": 60_000},
                  {"item": "PARA-500", "lot": "P1", "expiry": "2024-01-01",
                   "quantity": 1_000_000}],
    }), 201)  # fmt: skip
    shipment = made["number"]
    assert (made["status"], made["shipped"]) == ("in_transit", 1_060_000)
    moved = ok(call(world, "co", "POST", f"/shipments/{shipment}/update",
                    json={"status": "at_border", "customs": "cleared",
                          "time": "2022-05-20T09:00"}))  # fmt: skip
    assert (moved["status"], moved["customs_status"]) == ("at_border", "cleared")

    # The Chagang warehouse's logistician signs the goods in (stock.write, not aid.write).
    got = ok(call(world, "lo", "POST", f"/shipments/{shipment}/receive", json={
        "lines": [{"item": "PCR-TEST", "lot": "L2205", "quantity": 40_000}],
        "receivedBy": "Kim Chol", "time": "2022-05-21T10:00",
    }), 201)  # fmt: skip
    assert got["shipment"]["status"] == "partly_received"
    assert got["receipt"]["lines"] == [{"item": "PCR-TEST", "lot": "L2205", "quantity": 40_000}]
    assert got["summary"]["entries"] == 1
    assert got["summary"]["batch_id"] == got["receipt"]["batch"]

    shown = ok(call(world, "vi", "GET", f"/pledges/{pledge}"))
    assert [(ln["item"], ln["shipped"], ln["received"]) for ln in shown["lines"]] == [
        ("PCR-TEST", 60_000, 40_000),
        ("PARA-500", 1_000_000, 0),
    ]
    origin = ok(call(world, "vi", "GET", "/lots/PCR-TEST/L2205"))
    assert origin["received"] == 40_000
    [first] = origin["origins"]
    assert (first["counterparty"], first["shipment"], first["pledge"], first["request"]) == (
        "People's Republic of China", shipment, pledge, request,
    )  # fmt: skip
    listed = call(world, "vi", "GET", f"/shipments?pledge={pledge}")
    assert [s["number"] for s in ok(listed)] == [shipment]
    again = call(world, "vi", "GET", f"/shipments?pledge={pledge}",
                 headers={"If-None-Match": listed.headers["ETag"]})  # fmt: skip
    assert again.status_code == 304
    assert ok(call(world, "co-r", "GET", f"/shipments/{shipment}"))["number"] == shipment

    # The 3W table: JSON, CSV and HXL agree with the pledge.
    table = call(world, "vi", "GET", "/3w")
    mine = [r for r in ok(table) if r["pledge"] == pledge]
    assert [(r["item"], r["pledged"], r["shipped"], r["received"], r["status"], r["region"])
            for r in mine] == [
        ("PCR-TEST", 100_000, 60_000, 40_000, "partly_received", "KP-04"),
        ("PARA-500", 1_000_000, 1_000_000, 0, "shipped", "KP-04"),
    ]  # fmt: skip
    assert mine[0]["first_departure"] == "2022-05-19"
    assert mine[0]["last_receipt"] == "2022-05-21"
    cached = call(world, "vi", "GET", "/3w", headers={"If-None-Match": table.headers["ETag"]})
    assert cached.status_code == 304
    plain = call(world, "vi", "GET", "/3w?format=csv")
    assert plain.status_code == 200
    assert plain.headers["content-type"].startswith("text/csv")
    assert "attachment" in plain.headers["content-disposition"]
    parsed = list(csv.reader(io.StringIO(plain.text)))
    assert parsed[0] == list(HEADER)
    assert len(parsed) - 1 == len(ok(table))
    hxl = list(csv.reader(io.StringIO(call(world, "vi", "GET", "/3w?format=hxl").text)))
    assert hxl[1] == list(HXL_TAGS)
    assert hxl[2:] == parsed[1:]
    row = dict(zip(HEADER, next(r for r in parsed[1:] if r[21] == pledge), strict=True))
    assert (row["item_code"], row["received"], row["region_code"]) == ("PCR-TEST", "40000", "KP-04")


def test_a_receipt_retried_is_posted_once(world: World) -> None:
    shipment, lot = a_shipment(world, a_pledge(world))
    body = {"lines": [{"item": "PCR-TEST", "lot": lot, "quantity": 100}], "receivedBy": "Ri"}
    key = {"Idempotency-Key": f"receipt-{shipment}"}
    first = call(world, "lo", "POST", f"/shipments/{shipment}/receive", json=body, headers=key)
    assert first.status_code == 201, first.text
    before = rows(world)
    second = call(world, "lo", "POST", f"/shipments/{shipment}/receive", json=body, headers=key)
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert rows(world) == before


def test_closed_short_and_cancelled(world: World) -> None:
    pledge = a_pledge(world)
    shipment, lot = a_shipment(world, pledge)
    ok(
        call(
            world,
            "lo",
            "POST",
            f"/shipments/{shipment}/receive",
            json={"lines": [{"item": "PCR-TEST", "lot": lot, "quantity": 500}], "receivedBy": "Ri"},
        ),
        201,
    )
    closed = ok(call(world, "co", "POST", f"/shipments/{shipment}/close", json={"reason": "lost"}))
    assert closed["status"] == "received"
    assert "100 of 600 units never arrived" in closed["events"][-1]["note"]
    other, _lot = a_shipment(world, pledge, quantity=400)
    gone = ok(call(world, "co", "POST", f"/shipments/{other}/cancel", json={"reason": "no truck"}))
    assert gone["status"] == "cancelled"
    cancelled = ok(call(world, "co", "POST", f"/pledges/{pledge}/cancel", json={"reason": "over"}))
    assert cancelled["status"] == "cancelled"
    gone_rows = ok(call(world, "vi", "GET", "/3w?status=cancelled"))
    assert {r["status"] for r in gone_rows} == {"cancelled"}
    assert pledge in {r["pledge"] for r in gone_rows}


# Refusals ------------------------------------------------------------------------------


@pytest.fixture
def on_its_way(world: World) -> dict[str, str]:
    """An open pledge of 1,000 PCR tests, 600 of them in transit to Chagang."""
    request = a_request(world)
    pledge = a_pledge(world, request=request)
    shipment, lot = a_shipment(world, pledge)
    return {"request": request, "pledge": pledge, "shipment": shipment, "lot": lot}


def _line(lot: str = "NEW-LOT", quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {"item": "PCR-TEST", "lot": lot, "expiry": "2030-01-01", "quantity": quantity, **extra}


CASES: list[tuple[str, str, str, Any, int, str]] = [
    # (who, method, path, body, status, needle); {request}, {pledge}, {shipment}, {lot} filled.
    ("co", "POST", "/pledges", {"partner": "XX", "request": "{request}",
     "lines": [{"item": "ORS", "quantity": 1}]}, 404, "unknown partner 'XX'"),
    ("co", "POST", "/pledges", {"partner": "CN", "request": "REQ-2099-0001",
     "lines": [{"item": "ORS", "quantity": 1}]}, 404, "unknown request 'REQ-2099-0001'"),
    ("co", "POST", "/pledges", {"partner": "CN", "request": "{request}",
     "lines": [{"item": "NOPE", "quantity": 1}]}, 409, "unknown item 'NOPE'"),
    ("co", "POST", "/pledges", {"partner": "CN", "request": "{request}",
     "lines": [{"item": "ORS", "quantity": -5}]}, 422, "quantity"),
    ("co", "POST", "/pledges", {"partner": "CN", "lines": [{"item": "ORS", "quantity": 5}]},
     409, "a pledge answers a request or an accepted offer"),
    ("co", "POST", "/pledges", {"partner": "CN", "request": "{request}",
     "lines": [{"item": "ORS", "quantity": 5}], "time": "2099-01-01T00:00"}, 409,
     "in the future"),
    ("co", "POST", "/pledges/PLG-2099-0001/cancel", {"reason": "r"}, 404, "unknown pledge"),
    ("co", "POST", "/pledges/{pledge}/cancel", {"reason": "r"}, 409, "shipments on their way"),
    ("co", "POST", "/pledges/{pledge}/cancel", {}, 422, "reason"),
    ("co", "POST", "/shipments", {"destination": "WH-KP-04", "lines": [_line()]}, 422,
     "pledge"),
    ("co", "POST", "/shipments", {"pledge": "PLG-2099-0001", "destination": "WH-KP-04",
     "lines": [_line()]}, 404, "unknown pledge 'PLG-2099-0001'"),
    ("co", "POST", "/shipments", {"pledge": "{pledge}", "destination": "WH-NOPE",
     "lines": [_line()]}, 404, "unknown facility 'WH-NOPE'"),
    ("co", "POST", "/shipments", {"pledge": "{pledge}", "destination": "WH-KP-04",
     "lines": [_line(quantity=401)]}, 409, "at most 400 left to ship"),
    ("co", "POST", "/shipments", {"pledge": "{pledge}", "destination": "WH-KP-04",
     "lines": [_line(quantity=-1)]}, 422, "quantity"),
    ("co", "POST", "/shipments", {"pledge": "{pledge}", "destination": "WH-KP-04",
     "lines": [{"item": "PCR-TEST", "lot": "X", "quantity": 1}]}, 422, "expiry"),
    ("co", "POST", "/shipments", {"pledge": "{pledge}", "destination": "WH-KP-04",
     "lines": [_line(item="ORS")]}, 409, "not on pledge"),
    ("co", "POST", "/shipments/{shipment}/update", {"status": "planned"}, 422, "status"),
    ("co", "POST", "/shipments/{shipment}/update", {}, 409, "nothing to change"),
    ("co", "POST", "/shipments/{shipment}/close", {"reason": "r"}, 409,
     "is in_transit, not partly_received"),
    ("lo", "POST", "/shipments/{shipment}/receive", {"receivedBy": "Ri",
     "lines": [{"item": "PCR-TEST", "lot": "{lot}", "quantity": 601}]}, 409,
     "600 tests left to receive, not 601"),
    ("lo", "POST", "/shipments/{shipment}/receive", {"receivedBy": "Ri",
     "lines": [{"item": "PCR-TEST", "lot": "{lot}", "quantity": -1}]}, 422, "quantity"),
    ("lo", "POST", "/shipments/{shipment}/receive", {"receivedBy": "Ri",
     "lines": [{"item": "PCR-TEST", "lot": "OTHER", "quantity": 1}]}, 409,
     "is not on shipment"),
    ("lo", "POST", "/shipments/{shipment}/receive", {"receivedBy": " ",
     "lines": [{"item": "PCR-TEST", "lot": "{lot}", "quantity": 1}]}, 422, "receivedBy"),
    ("lo", "POST", "/shipments/SHP-2099-0001/receive", {"receivedBy": "Ri",
     "lines": [{"item": "PCR-TEST", "lot": "{lot}", "quantity": 1}]}, 404, "unknown shipment"),
    # Outside the scope, or without the permission.
    ("co-r", "POST", "/pledges/{pledge}/cancel", {"reason": "r"}, 403, "outside their scopes"),
    ("co-r", "POST", "/shipments", {"pledge": "{pledge}", "destination": "WH-KP-04",
     "lines": [_line()]}, 403, "outside their scopes"),
    ("vi", "POST", "/pledges/{pledge}/cancel", {"reason": "r"}, 403, "aid.write"),
    ("co", "POST", "/shipments/{shipment}/receive", {"receivedBy": "Ri",
     "lines": [{"item": "PCR-TEST", "lot": "{lot}", "quantity": 1}]}, 403, "stock.write"),
    ("lo-p", "POST", "/shipments/{shipment}/receive", {"receivedBy": "Ri",
     "lines": [{"item": "PCR-TEST", "lot": "{lot}", "quantity": 1}]}, 403,
     "outside their scopes"),
]  # fmt: skip


def _filled(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, list):
        return [_filled(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status", "needle"),
    CASES,
    ids=[f"{c[0]}-{c[2]}-{c[4]}-{i}" for i, c in enumerate(CASES)],
)
def test_refusals_write_nothing(
    world: World,
    on_its_way: dict[str, str],
    who: str,
    method: str,
    path: str,
    body: Any,
    status: int,
    needle: str,
) -> None:
    before = rows(world)
    answer = call(world, who, method, _filled(path, on_its_way), json=_filled(body, on_its_way))
    assert answer.status_code == status, answer.text
    assert needle in answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert rows(world) == before


@pytest.mark.parametrize(
    ("who", "path", "status", "needle"),
    [
        ("vi", "/pledges/PLG-2099-0001", 404, "unknown pledge"),
        ("vi", "/shipments/SHP-2099-0001", 404, "unknown shipment"),
        ("vi", "/lots/NOPE/L1", 404, "unknown item 'NOPE'"),
        ("vi", "/lots/PCR-TEST/NO-SUCH-LOT", 404, "no lot 'NO-SUCH-LOT'"),
        ("vi", "/3w?partner=XX", 404, "unknown partner 'XX'"),
        ("vi", "/3w?format=xml", 422, "format"),
        ("vi", "/pledges?status=lost", 422, "status"),
        ("ph", "/3w", 403, "aid.read"),
        ("ph", "/pledges", 403, "aid.read"),
    ],
)
def test_reads_that_fail(world: World, who: str, path: str, status: int, needle: str) -> None:
    answer = call(world, who, "GET", path)
    assert answer.status_code == status, answer.text
    assert needle in answer.text


def test_reads_within_the_scope(world: World, on_its_way: dict[str, str]) -> None:
    # A national pledge: not Chagang's coordinator's to read, but its shipment to Chagang is.
    pledge, shipment = on_its_way["pledge"], on_its_way["shipment"]
    assert call(world, "co-r", "GET", f"/pledges/{pledge}").status_code == 403
    assert call(world, "co-r", "GET", f"/shipments/{shipment}").status_code == 200
    assert pledge not in {r["number"] for r in ok(call(world, "co-r", "GET", "/pledges"))}
    assert pledge not in {r["pledge"] for r in ok(call(world, "co-r", "GET", "/3w"))}
    regional = a_pledge(world, "KP-04")
    assert ok(call(world, "co-r", "GET", f"/pledges/{regional}"))["number"] == regional
    # Pyongyang's logistician traces lots by the receipts at Pyongyang's facilities only.
    ok(call(world, "lo", "POST", f"/shipments/{shipment}/receive", json={
        "lines": [{"item": "PCR-TEST", "lot": on_its_way["lot"], "quantity": 1}],
        "receivedBy": "Ri"}), 201)  # fmt: skip
    lot = f"/lots/PCR-TEST/{on_its_way['lot']}"
    assert len(ok(call(world, "lo", "GET", lot))["origins"]) == 1
    assert ok(call(world, "lo-p", "GET", lot))["origins"] == []
