"""The facility network edited by users: facilities made and changed, routes declared
(issue #11, item 2: "editable in the API"), checked as the facilities file is."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.errors import ConflictError, ForbiddenError, NotFoundError, SitroomError
from sitroom.supply import network_service as network
from sitroom.supply.ledger import Ledger, Movement, on_route
from sitroom.supply.models import Facility, Route, StockBatch
from sitroom.trail import AuditEntry, audit_trail

CHAGANG = Principal("kim", "logistician", ("/KP/KP-04/",), ("KP-04",))
VIEWER = Principal("vi", "viewer", ("/KP/",), ("KP",))


def _count(session: Session, model: type[Facility] | type[Route]) -> int:
    return int(session.scalar(select(func.count(model.id))) or 0)


def test_a_facility_is_made_below_its_supplier_and_listed(loaded: Session) -> None:
    made = network.create_facility(
        loaded,
        code="PH-KP-04-NEW",
        name="Kanggye new pharmacy",
        facility_type="pharmacy",
        org_unit="KP-04-KANGGYE",
        supplier="WH-KP-04",
        user="kim",
        principal=CHAGANG,
    )
    assert made.to_dict() == {
        "code": "PH-KP-04-NEW",
        "name": "Kanggye new pharmacy",
        "type": "pharmacy",
        "org_unit": "KP-04-KANGGYE",
        "supplier": "WH-KP-04",
        "routes_to": [],
    }
    page = network.list_facilities(
        loaded, org_unit="KP-04-KANGGYE", facility_type="pharmacy", principal=CHAGANG
    )
    assert "PH-KP-04-NEW" in [f.code for f in page.facilities]
    assert page.total == len(page.facilities)


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"supplier": "PH-KP-04-CHANGGANG-001"}, ConflictError, "higher in the chain"),
        ({"supplier": "NOWHERE"}, NotFoundError, "unknown supplier"),
        ({"org_unit": "KP-99"}, NotFoundError, "unknown org unit"),
        ({"code": "WH-KP-04"}, ConflictError, "exists already"),
        ({"facility_type": "kiosk"}, SitroomError, "unknown facility type"),
        ({"name": "  "}, SitroomError, "the name is empty"),
        ({"org_unit": "KP-01"}, ForbiddenError, "outside their scopes"),
    ],
)
def test_a_bad_facility_is_refused_and_nothing_is_written(
    loaded: Session, fields: dict[str, str], error: type[Exception], words: str
) -> None:
    before = _count(loaded, Facility)
    wanted = {
        "code": "PH-KP-04-NEW",
        "name": "New",
        "facility_type": "pharmacy",
        "org_unit": "KP-04",
        "supplier": "WH-KP-04",
        **fields,
    }
    with pytest.raises(error, match=words):
        network.create_facility(loaded, user="kim", principal=CHAGANG, **wanted)  # type: ignore[arg-type]
    assert _count(loaded, Facility) == before


def test_a_change_keeps_the_chain_in_order(loaded: Session) -> None:
    # A warehouse that supplies stores cannot become a pharmacy.
    with pytest.raises(ConflictError, match="supplies ST-KP-04-"):
        network.update_facility(
            loaded, "WH-KP-04", user="kim", facility_type="pharmacy", principal=CHAGANG
        )
    changed = network.update_facility(
        loaded,
        "PH-KP-04-CHANGGANG-001",
        user="kim",
        name="Changgang pharmacy one",
        supplier="WH-KP-04",
    )
    assert (changed.name, changed.supplier) == ("Changgang pharmacy one", "WH-KP-04")
    top = network.update_facility(loaded, "PH-KP-04-CHANGGANG-001", user="kim", supplier=None)
    assert top.supplier is None
    with pytest.raises(ForbiddenError):
        network.update_facility(loaded, "WH-KP-01", user="kim", name="x", principal=CHAGANG)
    with pytest.raises(ForbiddenError):  # moving a facility out of the scopes
        network.update_facility(loaded, "WH-KP-04", user="kim", org_unit="KP-01", principal=CHAGANG)
    with pytest.raises(NotFoundError):
        network.update_facility(loaded, "NOWHERE", user="kim", name="x")


def test_a_declared_route_lets_transfers_go_along_it(loaded: Session) -> None:
    source = loaded.scalars(select(Facility).where(Facility.code == "WH-KP-04")).one()
    other = loaded.scalars(select(Facility).where(Facility.code == "WH-KP-05")).one()
    assert not on_route(loaded, source, other)
    national = Principal("na", "logistician", ("/KP/",), ("KP",))
    route = network.declare_route(loaded, "WH-KP-04", "WH-KP-05", user="na", principal=national)
    assert (route.source, route.destination, route.declared_by) == ("WH-KP-04", "WH-KP-05", "na")
    assert on_route(loaded, source, other)
    assert network.get_facility(loaded, "WH-KP-04").routes_to == ("WH-KP-05",)
    before = _count(loaded, Route)
    with pytest.raises(ConflictError, match="declared already"):
        network.declare_route(loaded, "WH-KP-04", "WH-KP-05", user="na")
    with pytest.raises(ConflictError, match="supplies"):
        network.declare_route(loaded, "STOCKPILE", "WH-KP-04", user="na")
    with pytest.raises(ConflictError, match="itself"):
        network.declare_route(loaded, "WH-KP-04", "WH-KP-04", user="na")
    with pytest.raises(ForbiddenError):  # both ends must be the user's
        network.declare_route(loaded, "WH-KP-04", "WH-KP-06", user="kim", principal=CHAGANG)
    assert _count(loaded, Route) == before


def test_readers_see_their_scopes_and_writers_need_stock_write(loaded: Session) -> None:
    page = network.list_facilities(loaded, principal=CHAGANG, limit=10_000)
    assert page.facilities
    assert all(f.org_unit.startswith("KP-04") for f in page.facilities), page.facilities[:3]
    with pytest.raises(ForbiddenError):
        network.list_facilities(loaded, org_unit="KP-01", principal=CHAGANG)
    with pytest.raises(ForbiddenError, match=r"stock\.write"):
        network.update_facility(loaded, "WH-KP-04", user="vi", name="x", principal=VIEWER)
    assert [i.code for i in network.list_items(loaded, principal=VIEWER)][:2] == [
        "AMOX-500",
        "IBU-400",
    ]


# A supplier changed: every end's scope, nothing in transit, audited ----------------------

PHARMACY, STORE = "PH-KP-04-CHANGGANG-001", "ST-KP-04-CHANGGANG"
WHEN = datetime(2022, 6, 1, 10, tzinfo=ZoneInfo("Asia/Pyongyang"))


def _supplier(session: Session, code: str) -> str | None:
    return network.get_facility(session, code).supplier


def test_a_new_supplier_takes_stock_write_over_the_old_and_the_new_one(loaded: Session) -> None:
    # The Chagang warehouse's supplier, the national stockpile, is outside Chagang.
    with pytest.raises(ForbiddenError, match="outside their scopes"):
        network.update_facility(loaded, "WH-KP-04", user="kim", supplier=None, principal=CHAGANG)
    # Pyongyang's warehouse, the new supplier, is too.
    with pytest.raises(ForbiddenError, match="KP-01"):
        network.update_facility(
            loaded, PHARMACY, user="kim", supplier="WH-KP-01", principal=CHAGANG
        )
    # A facility is not made under a supplier outside the scopes either.
    with pytest.raises(ForbiddenError, match="outside their scopes"):
        network.create_facility(
            loaded,
            code="WH-KP-04-B",
            name="Second warehouse",
            facility_type="warehouse",
            org_unit="KP-04",
            supplier="STOCKPILE",
            user="kim",
            principal=CHAGANG,
        )
    assert (_supplier(loaded, "WH-KP-04"), _supplier(loaded, PHARMACY)) == ("STOCKPILE", STORE)
    # Inside: from the store to the warehouse, both Chagang's; the same supplier again is
    # no change (no scope over the supplier needed: the viewer would be refused anyway).
    moved = network.update_facility(
        loaded, PHARMACY, user="kim", supplier="WH-KP-04", principal=CHAGANG
    )
    assert moved.supplier == "WH-KP-04"
    national = Principal("na", "logistician", ("/KP/",), ("KP",))
    assert (
        network.update_facility(
            loaded, "WH-KP-04", user="na", supplier=None, principal=national
        ).supplier
        is None
    )


def _post(session: Session, *movements: Movement) -> None:
    summary = Ledger(session, user="kim").post(list(movements), source="test")
    assert summary.committed, summary.rejections


def test_a_supplier_does_not_change_while_stock_is_in_transit_on_the_old_link(
    loaded: Session,
) -> None:
    _post(
        loaded,
        Movement(WHEN, "receipt", STORE, "PARA-500", 100, lot="L1", expiry=date(2030, 1, 1)),
        Movement(
            WHEN, "transfer_out", STORE, "PARA-500", 30, counterparty=PHARMACY, reference="T1"
        ),
    )
    with pytest.raises(ConflictError) as refused:
        network.update_facility(
            loaded, PHARMACY, user="kim", supplier="WH-KP-04", principal=CHAGANG
        )
    assert str(refused.value) == (
        f"{PHARMACY}'s supplier cannot change from {STORE} while stock is in transit between"
        f" them (30 tablets of PARA-500 sent by {STORE} under T1): record its arrival"
        " (transfer_in) or reverse the transfer first"
    )
    # Part of it arrives: the rest is still on the way.
    later = WHEN + timedelta(hours=2)
    _post(
        loaded,
        Movement(
            later, "transfer_in", PHARMACY, "PARA-500", 10, counterparty=STORE, reference="T1"
        ),
    )
    with pytest.raises(ConflictError, match=f"20 tablets of PARA-500 sent by {STORE} under T1"):
        network.update_facility(loaded, PHARMACY, user="kim", supplier="WH-KP-04")
    with pytest.raises(ConflictError, match="in transit"):  # no supplier is a change too
        network.update_facility(loaded, PHARMACY, user="kim", supplier=None)
    # A return on its way up the link holds it too.
    _post(
        loaded,
        Movement(
            later, "transfer_in", PHARMACY, "PARA-500", 20, counterparty=STORE, reference="T1"
        ),
        Movement(
            later, "transfer_out", PHARMACY, "PARA-500", 5, counterparty=STORE, reference="R1"
        ),
    )
    with pytest.raises(ConflictError, match=f"5 tablets of PARA-500 sent by {PHARMACY} under R1"):
        network.update_facility(loaded, PHARMACY, user="kim", supplier="WH-KP-04")
    assert _supplier(loaded, PHARMACY) == STORE
    # Other changes go on meanwhile.
    assert network.update_facility(loaded, PHARMACY, user="kim", name="Renamed").name == "Renamed"
    _post(
        loaded,
        Movement(later, "transfer_in", STORE, "PARA-500", 5, counterparty=PHARMACY, reference="R1"),
    )
    moved = network.update_facility(loaded, PHARMACY, user="kim", supplier="WH-KP-04")
    assert moved.supplier == "WH-KP-04"
    # The new link carries stock; the old one no longer does.
    _post(
        loaded,
        Movement(
            later, "transfer_out", PHARMACY, "PARA-500", 1, counterparty="WH-KP-04", reference="R2"
        ),
    )
    refused_post = Ledger(loaded, user="kim").post(
        [
            Movement(
                later, "transfer_out", PHARMACY, "PARA-500", 1, counterparty=STORE, reference="R3"
            )
        ],
        source="test",
    )
    assert not refused_post.ok


def _network_audit(session: Session) -> list[AuditEntry]:
    return [
        e for e in audit_trail(session, kinds=("supply",)).entries if e.action == "network change"
    ]


def test_every_change_to_the_network_is_audited_saying_what_changed(loaded: Session) -> None:
    network.create_facility(
        loaded,
        code="PH-KP-04-NEW",
        name="New pharmacy",
        facility_type="pharmacy",
        org_unit="KP-04-CHANGGANG",
        supplier=STORE,
        user="kim",
        channel="api",
        principal=CHAGANG,
    )
    network.update_facility(
        loaded,
        "PH-KP-04-NEW",
        user="kim",
        name="Market pharmacy",
        supplier="WH-KP-04",
        org_unit="KP-04-KANGGYE",
        channel="api",
    )
    network.update_facility(loaded, "PH-KP-04-NEW", user="kim", name="Market pharmacy")
    network.declare_route(loaded, STORE, "PH-KP-04-NEW", user="kim", channel="api")
    found = _network_audit(loaded)
    assert [(e.kind, e.user, e.channel, e.what) for e in found] == [
        (
            "supply",
            "kim",
            "api",
            "facility PH-KP-04-NEW created: name 'New pharmacy', type pharmacy,"
            f" org unit KP-04-CHANGGANG, supplier {STORE}",
        ),
        (
            "supply",
            "kim",
            "api",
            "facility PH-KP-04-NEW changed: name 'New pharmacy' -> 'Market pharmacy';"
            f" org unit KP-04-CHANGGANG -> KP-04-KANGGYE; supplier {STORE} -> WH-KP-04",
        ),
        # The same name again changed nothing: nothing audited.
        ("supply", "kim", "api", f"route declared from {STORE} to PH-KP-04-NEW"),
    ]
    # A refused change is not audited; a record of the network is not a batch to reverse.
    with pytest.raises(ConflictError):
        network.update_facility(loaded, "PH-KP-04-NEW", user="kim", facility_type="stockpile")
    assert len(_network_audit(loaded)) == 3
    batch = loaded.scalar(select(func.max(StockBatch.id)))
    assert batch is not None
    with pytest.raises(ConflictError, match="moved no stock"):
        Ledger(loaded, user="kim").reverse(batch, reason="undo")
