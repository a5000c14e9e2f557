"""The supply's reads keep to the user's scopes in the database, not in Python.

Stock on hand, orders, cases, the places to dispense at and the indicators'
facilities are chosen (and counted, and paged) by SQL now. The reference is
what the code did before: read the whole country, keep the rows whose org
unit the user's scopes cover (:meth:`Principal.covers`), cut the page. On the
shipped network (5,052 facilities) with stock at every one of them, orders
and cases in several regions, both must give the same rows in the same order,
for users of one region, of two, of the country and of none.

Org-unit codes holding ``_`` or ``%`` are matched as text: ``KP-04-A_B``'s
subtree does not take in ``KP-04-AXB`` (``_`` is LIKE's any character).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.country import Country
from sitroom.errors import ForbiddenError
from sitroom.places.models import OrgUnit
from sitroom.supply import dispensing, inspections, orders, service
from sitroom.supply.indicators import indicators
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import Facility

WHEN = datetime(2022, 5, 20, 9, tzinfo=ZoneInfo("Asia/Pyongyang"))
#: Two sibling units whose codes differ where one has '_'; a third with '%'.
ODD = ("KP-04-A_B", "KP-04-AXB", "KP-04-C%D")


def _user(name: str, role: str, *codes: str, paths: dict[str, str]) -> Principal:
    return Principal(name, role, tuple(paths[c] for c in codes), codes)


@pytest.fixture
def world(loaded: Session) -> dict[str, str]:
    """Stock at every facility, orders and cases in several regions, three odd units;
    the org-unit path of every facility, by code."""
    chagang = loaded.scalars(select(OrgUnit).where(OrgUnit.code == "KP-04")).one()
    store = loaded.scalars(select(Facility).where(Facility.code == "ST-KP-04-CHANGGANG")).one()
    for code in ODD:
        unit = OrgUnit(
            code=code,
            name=code,
            level=3,
            kind="district",
            parent_id=chagang.id,
            population=1000,
            path=f"{chagang.path}{code}/",
        )
        loaded.add(unit)
        loaded.flush()
        loaded.add(
            Facility(
                code=f"PH-{code}",
                name=f"Pharmacy {code}",
                type="pharmacy",
                org_unit_id=unit.id,
                supplier_id=store.id,
            )
        )
    loaded.commit()
    paths = dict(
        loaded.execute(
            select(Facility.code, OrgUnit.path).join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        ).all()
    )
    movements = [
        Movement(WHEN, "receipt", code, "PARA-500", 100 + k, lot="P1", expiry=date(2030, 1, 1))
        for k, code in enumerate(sorted(paths))
    ]
    movements += [
        Movement(
            WHEN, "receipt", code, "AMOX-500", 7, lot=f"A{k % 3}", expiry=date(2029, 1, k % 3 + 1)
        )
        for k, code in enumerate(sorted(paths))
        if k % 4 == 0
    ]
    summary = Ledger(loaded, user="t").post(movements, source="every facility")
    assert summary.committed, summary.rejections[:3]
    line = [orders.OrderLineIn("PARA-500", 10)]
    for k, region in enumerate(("01", "04", "04", "05", "13", "01", "04")):
        orders.create_order(
            loaded, "STOCKPILE", f"WH-KP-{region}", line, user="t", at=WHEN + timedelta(hours=k)
        )
    for k, (source, destination) in enumerate(
        [("WH-KP-04", "ST-KP-04-CHANGGANG"), ("WH-KP-01", "ST-KP-01-CHUNGHWA")] * 3
    ):
        orders.create_order(
            loaded, source, destination, line, user="t", at=WHEN + timedelta(days=1, hours=k)
        )
    for facility in (
        "PH-KP-04-CHANGGANG-001",
        "PH-KP-01-CHUNGHWA-001",
        "PH-KP-04-A_B",
        "PH-KP-04-AXB",
        "WH-KP-05",
        "PH-KP-04-CHANGGANG-001",
    ):
        inspections.open_case(
            loaded, facility, source="report", title=f"about {facility}", user="t"
        )
    return paths


def _users(loaded: Session) -> list[Principal]:
    units = dict(loaded.execute(select(OrgUnit.code, OrgUnit.path)).all())
    return [
        _user("chagang", "logistician", "KP-04", paths=units),
        _user("two", "logistician", "KP-01", "KP-05", paths=units),
        _user("national", "logistician", "KP", paths=units),
        _user("odd", "logistician", "KP-04-A_B", paths=units),
        _user("pct", "pharmacist", "KP-04-C%D", paths=units),
        _user("viewer", "viewer", "KP-04", paths=units),
        Principal("nobody", "logistician", (), ()),
    ]


def test_stock_on_hand_is_the_whole_countrys_kept_to_the_scopes(
    loaded: Session, world: dict[str, str]
) -> None:
    every = service.stock_on_hand(loaded)
    assert len({line.facility for line in every}) == len(world) > 5000
    for who in _users(loaded):
        expected = [line for line in every if who.covers(world[line.facility])]
        assert service.stock_on_hand(loaded, principal=who) == expected, who.username
        total, first = service.stock_page(loaded, principal=who, offset=0, limit=97)
        assert (total, first) == (len(expected), expected[:97]), who.username
        pages = []
        for offset in range(0, len(expected) + 1, 1000):
            pages += service.stock_page(loaded, principal=who, offset=offset, limit=1000)[1]
        assert pages == expected, who.username
    # Then, at a past moment: the ledger replayed, kept to the scopes alike.
    later = WHEN + timedelta(days=3)
    then = service.stock_on_hand(loaded, at=later)
    who = _users(loaded)[1]
    assert service.stock_on_hand(loaded, at=later, principal=who) == [
        line for line in then if who.covers(world[line.facility])
    ]


def test_an_org_units_subtree_is_matched_as_text(loaded: Session, world: dict[str, str]) -> None:
    def facilities(lines: list[service.StockLine]) -> set[str]:
        return {line.facility for line in lines}

    assert facilities(service.stock_on_hand(loaded, under="KP-04-A_B")) == {"PH-KP-04-A_B"}
    assert facilities(service.stock_on_hand(loaded, under="KP-04-C%D")) == {"PH-KP-04-C%D"}
    odd = _users(loaded)[3]
    assert facilities(service.stock_on_hand(loaded, principal=odd)) == {"PH-KP-04-A_B"}
    with pytest.raises(ForbiddenError):
        service.stock_on_hand(loaded, principal=odd, facility="PH-KP-04-AXB")
    with pytest.raises(ForbiddenError):
        service.stock_page(loaded, principal=odd, under="KP-04-AXB")
    assert [p.code for p in dispensing.dispensing_places(loaded, odd)[0]] == ["PH-KP-04-A_B"]


def test_orders_are_those_from_or_to_the_scopes(loaded: Session, world: dict[str, str]) -> None:
    every = orders.list_orders(loaded)
    assert len(every) == 13
    for who in _users(loaded):
        if not who.can("stock.read"):
            continue
        expected = [
            row
            for row in every
            if who.covers(world[row.source]) or who.covers(world[row.destination])
        ]
        assert orders.list_orders(loaded, principal=who) == expected, who.username
        assert orders.list_orders(loaded, principal=who, limit=3) == expected[:3], who.username
        drafts = orders.list_orders(loaded, principal=who, status="draft", limit=2)
        assert drafts == [row for row in expected if row.status == "draft"][:2]
        # The orders page reads every order once (lead-time chains cross scopes): the same.
        page, _ = orders.orders_and_lead_times(loaded, by=("region",), principal=who)
        assert page == expected, who.username


def test_cases_are_those_of_the_scopes_where_one_writes(
    loaded: Session, world: dict[str, str]
) -> None:
    every = inspections.list_cases(loaded)
    assert len(every) == 6
    for who in _users(loaded):
        expected = (
            [case for case in every if who.covers(world[case["facility"]])]
            if who.can("stock.write")
            else []
        )
        assert inspections.list_cases(loaded, principal=who) == expected, who.username
        assert inspections.list_cases(loaded, principal=who, limit=1) == expected[:1]
        assert inspections.count_cases(loaded, principal=who) == dict(
            Counter(case["status"] for case in expected)
        )
    # The odd unit's case, not its neighbour's.
    odd = _users(loaded)[3]
    assert [c["facility"] for c in inspections.list_cases(loaded, principal=odd)] == [
        "PH-KP-04-A_B"
    ]


def test_the_places_to_dispense_at_are_found_in_the_scopes(
    loaded: Session, world: dict[str, str]
) -> None:
    everywhere = Principal("all", "admin", ("/KP/",), ("KP",))
    every, count = dispensing.dispensing_places(loaded, everywhere)
    assert count > 4000
    assert len(every) == dispensing.MAX_CHOICES
    rows = loaded.execute(
        dispensing._places_query().where(Facility.code.is_not(None))
    ).all()  # the whole country, as the code read it before
    for who in _users(loaded):
        for search in (None, "changgang", "KP-04-", "pharmacy 1"):
            expected = (
                [
                    dispensing.Place(*row)
                    for row in rows
                    if who.covers(row[5])
                    and (
                        search is None
                        or search.lower() in row[0].lower()
                        or search.lower() in row[1].lower()
                    )
                ]
                if dispensing.may_dispense(who)
                else []
            )
            found, total = dispensing.dispensing_places(loaded, who, search=search)
            assert (found, total) == (expected[: dispensing.MAX_CHOICES], len(expected)), (
                who.username,
                search,
            )
    # What is typed is text: '_' and '%' are those characters, not wildcards.
    assert [p.code for p in dispensing.dispensing_places(loaded, everywhere, search="_")[0]] == [
        "PH-KP-04-A_B"
    ]
    assert [p.code for p in dispensing.dispensing_places(loaded, everywhere, search="%")[0]] == [
        "PH-KP-04-C%D"
    ]


def test_the_indicators_facilities_are_kept_to_the_scopes(
    loaded: Session, country: Country, world: dict[str, str]
) -> None:
    day = (WHEN + timedelta(days=1)).date()
    every = indicators(loaded, country, day=day)
    assert len(every.facilities) > 5000
    for who in _users(loaded)[:4]:
        mine = indicators(loaded, country, day=day, principal=who)
        assert mine.facilities == [f for f in every.facilities if who.covers(world[f.facility])], (
            who.username
        )
