"""The supply chain's pages (issue #11, items 5 and 12): the pharmacist's dispensing form
and the supply dashboard, each page with its JSON twin, scopes, bad input.

One database for the module: the 2022 wave, a little stock (received four days ago
at the stockpile, Chagang's warehouse, a pharmacy and a hospital), orders carried
by the army and by civil transport, an investigation case. The
dashboard's tests come first: the form's tests then dispense (and reverse) at
the pharmacy and the hospital, which changes their stock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sitroom.auth import passwords
from sitroom.auth import service as auth
from sitroom.country import Country
from sitroom.db import utcnow
from sitroom.supply import dispensing, inspections, orders
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import StockBatch, StockEntry
from sitroom.supply.orders import OrderLineIn, PodLine
from tests.conftest import TEST_DATABASE_URL
from tests.functional.api_world import World, api_world
from tests.functional.test_web_dashboard import (
    FAST,
    HIDDEN,
    PASSWORD,
    client_for,
    shown_numbers,
    text_of,
)

PHARMACY = "PH-KP-04-CHANGGANG-001"
EMPTY_PHARMACY = "PH-KP-04-CHANGGANG-002"
HOSPITAL = "HO-KP-04-CHANGGANG"
OTHER_PHARMACY = "PH-KP-01-CHUNGHWA-001"
WAREHOUSE = "WH-KP-04"
STORE = "ST-KP-04-CHANGGANG"
PEOPLE = {
    "pia": ("pharmacist", ["KP-04"]),
    "lou": ("logistician", ["KP"]),
    "reg": ("logistician", ["KP-04"]),
    "vic": ("viewer", ["KP"]),
    "rex": ("reporter", ["KP-04"]),
}
PAGES = (
    "/supply",
    "/supply/stockouts",
    "/supply/orders",
    "/supply/allocation?item=PARA-500",
    "/supply/investigations",
)


def _receipt(facility: str, item: str, quantity: int, when: datetime, lot: str) -> Movement:
    return Movement(
        when, "receipt", facility, item, quantity, lot=lot, expiry=date(2031, 1, 1),
        counterparty="procurement",
    )  # fmt: skip


@pytest.fixture(scope="module")
def world(
    _migrated: str, country: Country, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("supply-web")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(passwords, "hasher", lambda: FAST)
        with api_world(_migrated, TEST_DATABASE_URL, folder, country) as built:
            db = built.session
            for name, (role, scopes) in PEOPLE.items():
                auth.create_user(db, name, role=role, scopes=scopes, password=PASSWORD, actor="t")
            db.commit()
            earlier = utcnow() - timedelta(hours=96)
            posted = Ledger(db, user="setup").post(
                [
                    _receipt("STOCKPILE", "PARA-500", 200_000, earlier, "S1"),
                    _receipt(WAREHOUSE, "PARA-500", 5_000, earlier, "W1"),
                    _receipt(PHARMACY, "PARA-500", 300, earlier, "P1"),
                    _receipt(PHARMACY, "ORS", 40, earlier, "O1"),
                    _receipt(HOSPITAL, "PARA-500", 50, earlier, "H1"),
                    _receipt(OTHER_PHARMACY, "PARA-500", 80, earlier, "K1"),
                ],
                source="setup",
            )
            assert posted.committed, posted.rejections
            carried = (
                ("KPA unit 525", "army", 20),
                ("truck co-op", "civil", 50),
                ("truck co-op", "civil", None),
            )
            for carrier, kind, hours in carried:
                start = utcnow() - timedelta(hours=80)
                made = orders.create_order(
                    db, WAREHOUSE, STORE, [OrderLineIn("PARA-500", 100)], user="setup", at=start
                )
                orders.approve_order(db, made.number, user="setup", at=start + timedelta(hours=1))
                orders.dispatch_order(
                    db, made.number, carrier=carrier, carrier_kind=kind, user="setup",
                    at=start + timedelta(hours=2),
                )  # fmt: skip
                if hours is not None:
                    orders.deliver_order(
                        db, made.number, receiver="Pak Chol", lines=[PodLine("PARA-500", 100)],
                        user="setup", at=start + timedelta(hours=2 + hours),
                    )  # fmt: skip
            inspections.open_case(
                db, PHARMACY, source="report", title="Sold paracetamol at the market", user="setup"
            )
            db.commit()
            yield built


@pytest.fixture(scope="module")
def lou(world: World) -> Iterator[TestClient]:
    with client_for(world, "lou") as client:
        yield client


@pytest.fixture(scope="module")
def pia(world: World) -> Iterator[TestClient]:
    with client_for(world, "pia") as client:
        yield client


def _token(client: TestClient, path: str) -> str:
    found = HIDDEN.search(client.get(path).text)
    assert found is not None
    return found.group(1)


def _today(country: Country) -> str:
    return dispensing.local_today(country).isoformat()


def _entries(world: World) -> int:
    world.session.rollback()
    return world.session.scalar(select(func.count(StockEntry.id))) or 0


# The dashboard pages ---------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_each_supply_page_shows_the_numbers_of_its_twin(lou: TestClient, path: str) -> None:
    page = lou.get(path)
    assert page.status_code == 200, page.text
    base, _, query = path.partition("?")
    twin = lou.get(f"{base}.json" + (f"?{query}" if query else ""))
    assert twin.status_code == 200, twin.text
    data = twin.json()
    text = text_of(page.text)
    numbers = shown_numbers(data)
    assert numbers
    missing = [n for n in numbers if n not in text]
    assert not missing, missing[:10]
    for section in data["sections"]:
        assert section["title"] in text
        for sentence in section["sentences"]:
            assert sentence["text"] in text
        for chart in section["charts"]:
            assert chart["caption"] in text
    for tag in re.findall(r"<script[^>]*>", page.text):
        assert 'type="application/json"' in tag or 'src="/static/' in tag, tag
    assert "style=" not in page.text
    # The navigation offers the supply pages; the page links its twin.
    assert 'href="/supply"' in page.text
    assert 'href="/supply/investigations"' in page.text
    assert f'href="{base}.json' in page.text


def test_the_overview_maps_days_of_stock_and_pharmacies_out(lou: TestClient) -> None:
    data = lou.get("/supply.json").json()
    assert data["kind"] == "supply"
    stock = data["sections"][0]
    chart = stock["charts"][0]
    assert chart["key"] == "map_supply"
    assert chart["spec"]["mark"]["type"] == "geoshape"
    rows = {r["code"]: r["value"] for r in chart["spec"]["data"]["values"]}
    assert len(rows) == 13  # every region drawn; those without a figure grey
    # The regions' facilities: the warehouse less three orders sent, two received at the store.
    assert stock["facts"][0]["value"] == 5_000 - 300 + 200 + 300 + 50 + 80
    levels = data["sections"][1]["tables"][0]["rows"]
    para = next(r for r in levels if r["item"].startswith("PARA-500"))
    assert para["stockpile"] == 200_000
    assert para["transit"] == 100  # the civil order, dispatched and not delivered
    out = lou.get("/supply.json?measure=out&item=ORS").json()
    assert out["sections"][0]["title"] == "ORS by region"
    assert "with no usable ORS left" in out["sections"][0]["charts"][0]["caption"]


def test_the_orders_page_says_whether_the_army_was_faster(lou: TestClient) -> None:
    data = lou.get("/supply/orders.json").json()
    lead = data["sections"][0]
    sentences = " ".join(s["text"] for s in lead["sentences"])
    assert "The army was faster than civil transport, by 1.2 days" in sentences
    carriers = {r["group"]: r for r in lead["tables"][0]["rows"]}
    assert carriers["army"]["transit"] == pytest.approx(20 / 24, abs=0.01)
    assert carriers["civil"]["transit"] == pytest.approx(50 / 24, abs=0.01)
    assert (carriers["civil"]["orders"], carriers["civil"]["delivered"]) == (2, 1)
    listed = data["sections"][1]["tables"][0]["rows"]
    assert {r["status"] for r in listed} == {"closed", "dispatched"}
    only = lou.get("/supply/orders.json?status=dispatched").json()
    assert [r["status"] for r in only["sections"][1]["tables"][0]["rows"]] == ["dispatched"]


def test_the_orders_page_reads_the_orders_once(world: World) -> None:
    from sqlalchemy import event

    from sitroom.auth.permissions import Principal
    from sitroom.server.web import supply_context

    reads: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if re.search(r"\bFROM supply_order(?!_)\b", statement):
            reads.append(statement)

    engine = world.context.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        page = supply_context.orders(
            world.context, Principal("lou", "logistician", ("/KP/",), ("KP",)), status=None
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(reads) == 1, reads
    assert [s.key for s in page.sections] == ["lead_times", "orders"]
    assert len(page.sections[1].tables[0].rows) == 3


def test_the_allocation_plan_explains_itself_and_writes_nothing(
    lou: TestClient, world: World
) -> None:
    before = _entries(world)
    empty = lou.get("/supply/allocation").text
    assert "Choose an item" in empty
    assert "writes nothing" in text_of(empty)
    data = lou.get("/supply/allocation.json?item=PARA-500&source=STOCKPILE").json()
    plan = data["sections"][0]
    assert plan["title"] == "Plan for PARA-500 from STOCKPILE"
    assert plan["tables"][0]["rows"], "who gets what"
    assert all(r["why"] for r in plan["tables"][0]["rows"])
    assert any("order line" in n for n in plan["notes"])
    assert _entries(world) == before
    # A regional logistician plans from their warehouse, not from the stockpile.
    with client_for(world, "reg") as reg:
        refused = reg.get("/supply/allocation?item=PARA-500&source=STOCKPILE")
        assert refused.status_code == 403
        assert "Traceback" not in refused.text
        offered = reg.get("/supply/allocation").text
        assert 'value="WH-KP-04"' in offered
        assert 'value="STOCKPILE"' not in offered


def test_the_investigations_page_ranks_suspects_for_national_logisticians(
    lou: TestClient, world: World
) -> None:
    data = lou.get("/supply/investigations.json").json()
    keys = [s["key"] for s in data["sections"]]
    assert keys == ["suspects", "cases"]
    cases = data["sections"][1]["tables"][0]["rows"]
    assert [c["facility"] for c in cases] == [PHARMACY]
    with client_for(world, "vic") as vic:
        seen = vic.get("/supply/investigations.json").json()
        assert "stock.write over the whole country" in seen["sections"][0]["notes"][0]
        assert seen["sections"][1]["tables"] == []  # cases need stock.write over the facility
    with client_for(world, "reg") as reg:
        regional = reg.get("/supply/investigations.json").json()
        assert regional["sections"][0]["tables"] == []
        assert regional["sections"][1]["tables"][0]["rows"][0]["facility"] == PHARMACY


def test_scopes_and_roles_are_kept(world: World, pia: TestClient) -> None:
    # A regional pharmacist sees their region's stock only.
    data = pia.get("/supply.json").json()
    regions = {r["region"] for r in data["sections"][0]["tables"][0]["rows"]}
    assert regions == {"Chagang"}
    assert "transit" not in data["sections"][1]["tables"][0]["rows"][0]
    alerts = pia.get("/supply/stockouts.json?region=KP-01")
    assert alerts.status_code == 403
    assert alerts.json()["status"] == 403
    # A reporter has no stock.read: refused, and no Supply link in the navigation.
    with client_for(world, "rex") as rex:
        page = rex.get("/supply")
        assert page.status_code == 403
        assert '<li><a href="/supply"' not in page.text
        assert rex.get("/supply/orders.json").status_code == 403
        assert rex.get("/dispense").status_code == 403
    anonymous = TestClient(world.client.app, follow_redirects=False)
    assert anonymous.get("/supply").status_code == 303
    assert anonymous.get("/supply.json").status_code == 401


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/supply?day=earlier", 400),
        ("/supply?item=NOPE", 404),
        ("/supply?measure=colour", 400),
        ("/supply/stockouts?kind=fire", 400),
        ("/supply/stockouts?region=KP-99", 404),
        ("/supply/orders?status=lost", 400),
        ("/supply/allocation?item=PARA-500&horizon=abc", 400),
        ("/supply/allocation?item=PARA-500&horizon=500", 400),
        ("/supply/allocation?item=PARA-500&level=moon", 400),
        ("/supply/allocation?item=PARA-500&source=NOWHERE", 404),
        ("/supply.json?day=2022-13-01", 400),
    ],
)
def test_bad_input_is_a_page_not_a_traceback(lou: TestClient, path: str, status: int) -> None:
    answer = lou.get(path)
    assert answer.status_code == status, answer.text
    assert "Traceback" not in answer.text
    if ".json" in path:
        assert answer.json()["status"] == status
    else:
        assert "<h1>" in answer.text


def test_a_simulated_ledger_shows_a_banner(world: World, lou: TestClient) -> None:
    assert "Simulated." not in lou.get("/supply").text
    posted = Ledger(world.session, user="sim", channel="simulation", simulated=True).post(
        [_receipt("STOCKPILE", "AMOX-500", 10, utcnow() - timedelta(hours=29), "SIM1")],
        source="simulated",
    )
    assert posted.committed
    try:
        for path in ("/supply", "/supply/stockouts", "/supply/orders", "/supply/investigations"):
            page = lou.get(path).text
            assert "Simulated." in page, path
        twin = lou.get("/supply.json").json()
        assert twin["simulated"] is True
    finally:
        undone = Ledger(world.session, user="sim").reverse(posted.batch_id or 0, reason="test")
        assert undone.committed


# The dispensing form --------------------------------------------------------------------


def test_the_pharmacist_chooses_a_pharmacy_in_their_scope(
    pia: TestClient, country: Country
) -> None:
    page = pia.get("/dispense?q=changgang")
    assert page.status_code == 200
    assert f'value="{PHARMACY}"' in page.text
    assert f'value="{HOSPITAL}"' in page.text
    assert OTHER_PHARMACY not in pia.get("/dispense?q=chunghwa").text
    opened = pia.get(f"/dispense?facility={PHARMACY}")
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/dispense/{PHARMACY}/{_today(country)}"
    assert pia.get(f"/dispense?facility={PHARMACY}&day=soon").status_code == 400


def test_the_day_is_recorded_through_the_ledger_and_redirected(
    pia: TestClient, world: World, country: Country
) -> None:
    path = f"/dispense/{PHARMACY}/{_today(country)}"
    form = pia.get(path)
    assert form.status_code == 200
    text = text_of(form.text)
    assert "On hand: 300 tablets" in text
    assert "Paracetamol 500 mg" in text
    assert 'id="units_ORS"' in form.text
    sent = pia.post(
        path,
        data={
            "csrf_token": _token(pia, path),
            "units_PARA-500": "1,20",
            "patients_PARA-500": "8",
            "units_ORS": "4",
            "patients_ORS": "2",
        },
    )
    assert sent.status_code == 303, sent.text
    assert sent.headers["location"] == f"{path}?saved=1"
    world.session.rollback()
    batch = world.session.scalars(
        select(StockBatch).where(StockBatch.channel == "web").order_by(StockBatch.id.desc())
    ).first()
    assert batch is not None
    assert batch.created_by == "pia"
    assert batch.entries == 2
    rows = world.session.execute(
        select(StockEntry.kind, StockEntry.quantity, StockEntry.patients).where(
            StockEntry.batch_id == batch.id
        )
    ).all()
    assert sorted(rows) == [("dispense", -120, 8), ("dispense", -4, 2)]
    after = text_of(pia.get(f"{path}?saved=1").text)
    assert "Recorded." in after
    assert "On hand: 180 tablets" in after
    assert "Already recorded for the day: 120 tablets to 8 patients" in after


def test_more_than_is_there_is_refused_next_to_its_field(
    pia: TestClient, world: World, country: Country
) -> None:
    path = f"/dispense/{EMPTY_PHARMACY}/{_today(country)}"
    before = _entries(world)
    refused = pia.post(
        path,
        data={
            "csrf_token": _token(pia, path),
            "units_PARA-500": "30",
            "patients_PARA-500": "2",
        },
    )
    assert refused.status_code == 400
    assert _entries(world) == before
    page = refused.text
    field = re.search(r'<p class="field-error" id="error_units_PARA-500">([^<]+)</p>', page)
    assert field is not None
    assert f"{EMPTY_PHARMACY} has 0 tablets of PARA-500" in field.group(1)
    assert "cannot dispense 30" in field.group(1)
    assert 'aria-describedby="hint_PARA-500 error_units_PARA-500"' in page
    assert 'value="30"' in page  # what was typed stays
    assert 'role="alert"' in page
    assert 'href="#units_PARA-500"' in page


@pytest.mark.parametrize(
    ("fields", "name", "message"),
    [
        ({"units_PARA-500": "-3", "patients_PARA-500": "1"}, "units_PARA-500", "whole number"),
        ({"units_PARA-500": "2.5", "patients_PARA-500": "1"}, "units_PARA-500", "whole number"),
        ({"units_PARA-500": "15"}, "patients_PARA-500", "Give the patients"),
        ({"patients_PARA-500": "3"}, "units_PARA-500", "no tablets"),
        ({}, None, "Nothing to record"),
    ],
)
def test_bad_figures_are_refused_before_the_ledger(
    pia: TestClient,
    world: World,
    country: Country,
    fields: dict[str, str],
    name: str | None,
    message: str,
) -> None:
    path = f"/dispense/{PHARMACY}/{_today(country)}"
    before = _entries(world)
    answer = pia.post(path, data={"csrf_token": _token(pia, path), **fields})
    assert answer.status_code == 400
    assert _entries(world) == before
    if name:
        assert f'id="error_{name}"' in answer.text
    assert message in text_of(answer.text)


def test_scope_day_and_csrf_refusals_write_nothing(
    pia: TestClient, world: World, country: Country
) -> None:
    before = _entries(world)
    today = _today(country)
    token = _token(pia, f"/dispense/{PHARMACY}/{today}")
    other = pia.post(
        f"/dispense/{OTHER_PHARMACY}/{today}",
        data={"csrf_token": token, "units_PARA-500": "5", "patients_PARA-500": "1"},
    )
    assert other.status_code == 403
    assert pia.get(f"/dispense/{OTHER_PHARMACY}/{today}").status_code == 403
    forged = pia.post(
        f"/dispense/{PHARMACY}/{today}", data={"units_PARA-500": "5", "patients_PARA-500": "1"}
    )
    assert forged.status_code == 403
    assert "Form refused" in forged.text
    future = (dispensing.local_today(country) + timedelta(days=2)).isoformat()
    assert pia.get(f"/dispense/{PHARMACY}/{future}").status_code == 400
    assert pia.get(f"/dispense/{PHARMACY}/someday").status_code == 400
    assert pia.get(f"/dispense/{WAREHOUSE}/{today}").status_code in (400, 403)
    assert pia.get(f"/dispense/NOWHERE/{today}").status_code == 404
    assert _entries(world) == before


def test_a_recorded_batch_is_corrected_by_a_reversal_with_a_reason(
    pia: TestClient, world: World, country: Country
) -> None:
    path = f"/dispense/{HOSPITAL}/{_today(country)}"
    sent = pia.post(
        path,
        data={"csrf_token": _token(pia, path), "units_PARA-500": "45", "patients_PARA-500": "3"},
    )
    assert sent.status_code == 303
    world.session.rollback()
    batch = world.session.scalar(select(func.max(StockBatch.id)).where(StockBatch.channel == "web"))
    page = pia.get(path).text
    assert f"Correct batch {batch}" in page
    token = _token(pia, path)
    missing = pia.post(path, data={"csrf_token": token, "action": "correct", "batch": str(batch)})
    assert missing.status_code == 400
    assert f'id="error_reason_{batch}"' in missing.text
    assert " open>" in missing.text
    done = pia.post(
        path,
        data={
            "csrf_token": token,
            "action": "correct",
            "batch": str(batch),
            f"reason_{batch}": "typed 45 for 4",
        },
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{path}?corrected={batch}"
    shown = text_of(pia.get(f"{path}?corrected={batch}").text)
    assert "On hand: 50 tablets" in shown
    assert f"Reverses batch {batch}: “typed 45 for 4”" in shown
    assert "reversed by batch" in shown
    again = pia.post(
        path,
        data={
            "csrf_token": token,
            "action": "correct",
            "batch": str(batch),
            f"reason_{batch}": "twice",
        },
    )
    assert again.status_code == 400  # reversed already: not correctable
    assert "Traceback" not in again.text


def test_a_pharmacist_reverses_dispensing_but_not_a_receipt(world: World) -> None:
    """``Ledger.reverse`` asks for the permission the entry was posted with: a dispensing
    with ``stock.dispense``, anything else with ``stock.write``."""
    db = world.session
    db.rollback()
    pharmacist = auth.principal_for(db, "pia")
    receipt = db.scalar(
        select(StockEntry.batch_id).where(StockEntry.kind == "receipt").order_by(StockEntry.id)
    )
    refused = Ledger(db, user="pia", channel="web", principal=pharmacist).reverse(
        receipt or 0, reason="not mine"
    )
    assert not refused.committed
    assert "stock.write" in refused.rejections[0].reason
    posted = Ledger(db, user="pia", channel="web", principal=pharmacist).post(
        [Movement(utcnow(), "dispense", PHARMACY, "PARA-500", 1, patients=1)], source="t"
    )
    assert posted.committed, posted.rejections
    undone = Ledger(db, user="pia", channel="web", principal=pharmacist).reverse(
        posted.batch_id or 0, reason="typed by mistake"
    )
    assert undone.committed, undone.rejections
