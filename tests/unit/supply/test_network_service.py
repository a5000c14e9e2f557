"""The facility network edited by users: facilities made and changed, routes declared
(issue #11, item 2: "editable in the API"), checked as the facilities file is."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.errors import ConflictError, ForbiddenError, NotFoundError, SitroomError
from sitroom.supply import network_service as network
from sitroom.supply.ledger import on_route
from sitroom.supply.models import Facility, Route

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
        network.create_facility(loaded, principal=CHAGANG, **wanted)  # type: ignore[arg-type]
    assert _count(loaded, Facility) == before


def test_a_change_keeps_the_chain_in_order(loaded: Session) -> None:
    # A warehouse that supplies stores cannot become a pharmacy.
    with pytest.raises(ConflictError, match="supplies ST-KP-04-"):
        network.update_facility(loaded, "WH-KP-04", facility_type="pharmacy", principal=CHAGANG)
    changed = network.update_facility(
        loaded, "PH-KP-04-CHANGGANG-001", name="Changgang pharmacy one", supplier="WH-KP-04"
    )
    assert (changed.name, changed.supplier) == ("Changgang pharmacy one", "WH-KP-04")
    top = network.update_facility(loaded, "PH-KP-04-CHANGGANG-001", supplier=None)
    assert top.supplier is None
    with pytest.raises(ForbiddenError):
        network.update_facility(loaded, "WH-KP-01", name="x", principal=CHAGANG)
    with pytest.raises(ForbiddenError):  # moving a facility out of the scopes
        network.update_facility(loaded, "WH-KP-04", org_unit="KP-01", principal=CHAGANG)
    with pytest.raises(NotFoundError):
        network.update_facility(loaded, "NOWHERE", name="x")


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
        network.update_facility(loaded, "WH-KP-04", name="x", principal=VIEWER)
    assert [i.code for i in network.list_items(loaded, principal=VIEWER)][:2] == [
        "AMOX-500",
        "IBU-400",
    ]
