"""A small supply world, built by hand: two regions, their warehouses, stores and
pharmacies, two items, and a daily fever series per region.

    STOCKPILE (KP)
    ├── WH-N (region N) ── ST-N (N-D1) ── PH-N1, PH-N2
    └── WH-S (region S) ── ST-S (S-D1) ── PH-S1

The ledger is written through the ledger itself (:class:`Ledger`), never by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from sitroom.places.models import OrgUnit
from sitroom.supply.ledger import Ledger, Movement
from sitroom.supply.models import Facility, Item
from sitroom.surveillance.models import DataElement, DataValue
from sitroom.users.models import AppUser

ZONE = ZoneInfo("Asia/Pyongyang")
#: The last day of the stored fever series and the day the indicators are read.
LAST = date(2022, 5, 28)


def at(day: date, hour: int = 10) -> datetime:
    """A local time on ``day``."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZONE)


def may(day: int, hour: int = 10) -> datetime:
    return at(date(2022, 5, day), hour)


def build(session: Session, *, fever: dict[str, Sequence[float]] | None = None) -> None:
    """The org units, facilities and items; ``fever``: daily new_fever per region code,
    ending on :data:`LAST`."""

    def unit(code: str, level: int, parent: OrgUnit | None, population: int | None) -> OrgUnit:
        made = OrgUnit(
            code=code,
            name=f"Unit {code}",
            level=level,
            kind={1: "country", 2: "region", 3: "district"}[level],
            parent_id=parent.id if parent else None,
            population=population,
            path=f"{parent.path if parent else '/'}{code}/",
        )
        session.add(made)
        session.flush()
        return made

    session.add(
        AppUser(username="tester", display_name=None, created_at=datetime(2022, 1, 1, tzinfo=UTC))
    )
    country = unit("KP", 1, None, 3_000_000)
    north = unit("N", 2, country, 1_000_000)
    south = unit("S", 2, country, 2_000_000)
    n1 = unit("N-D1", 3, north, 1_000_000)
    s1 = unit("S-D1", 3, south, 2_000_000)
    session.add_all(
        [
            Item(code="PARA-500", name="Paracetamol", unit="tablet", category="antipyretic"),
            Item(code="AMOX-500", name="Amoxicillin", unit="capsule", category="antibiotic"),
            Item(code="ORS", name="ORS", unit="sachet", category="other"),
        ]
    )
    session.flush()
    ids: dict[str, int] = {}
    for code, kind, where, supplier in (
        ("STOCKPILE", "stockpile", country, None),
        ("WH-N", "warehouse", north, "STOCKPILE"),
        ("WH-S", "warehouse", south, "STOCKPILE"),
        ("ST-N", "store", n1, "WH-N"),
        ("ST-S", "store", s1, "WH-S"),
        ("PH-N1", "pharmacy", n1, "ST-N"),
        ("PH-N2", "pharmacy", n1, "ST-N"),
        ("PH-S1", "pharmacy", s1, "ST-S"),
    ):
        made = Facility(
            code=code,
            name=code,
            type=kind,
            org_unit_id=where.id,
            supplier_id=ids[supplier] if supplier else None,
        )
        session.add(made)
        session.flush()
        ids[code] = made.id
    if fever:
        element = DataElement(
            code="new_fever", name="New fever", kind="flow", unit="persons", description=None
        )
        session.add(element)
        session.flush()
        units = {"KP": country, "N": north, "S": south}
        stamp = datetime(2022, 6, 1, tzinfo=UTC)
        for code, values in fever.items():
            first = LAST - timedelta(days=len(values) - 1)
            for k, value in enumerate(values):
                session.add(
                    DataValue(
                        element_id=element.id,
                        org_unit_id=units[code].id,
                        period=first + timedelta(days=k),
                        value=value,
                        received_at=stamp,
                        late=False,
                        updated_at=stamp,
                        source="test",
                        changed_by="tester",
                        stored_by="tester",
                    )
                )
    session.commit()


def post(session: Session, *movements: Movement) -> None:
    """Post through the ledger; fail the test on any refusal."""
    summary = Ledger(session, user="test").post(list(movements), source="test")
    assert summary.committed, summary.rejections


def receipt(
    when: datetime, facility: str, item: str, quantity: int, lot: str, expiry: date
) -> Movement:
    return Movement(when, "receipt", facility, item, quantity, lot=lot, expiry=expiry)


def dispense(
    when: datetime, facility: str, item: str, quantity: int, patients: int = 1
) -> Movement:
    return Movement(when, "dispense", facility, item, quantity, patients=patients)
