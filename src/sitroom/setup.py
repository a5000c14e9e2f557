"""Loading a country configuration into the database: its places, its data elements and,
when it has a ``[supply]`` section, its supply items and facilities."""

from __future__ import annotations

from sqlalchemy.orm import Session

from sitroom.country import Country
from sitroom.db import DEFAULT_LOCK_TIMEOUT, LOCK_SPACE_CONFIGURATION, advisory_lock, begin_write
from sitroom.places.service import LoadSummary, load_places
from sitroom.surveillance.service import load_elements


def setup_country(
    session: Session, country: Country, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
) -> tuple[LoadSummary, LoadSummary]:
    """Create or update the org units and data elements of ``country``, and commit.

    Never deletes anything; running it again with the same file changes nothing.
    Concurrent set-ups are serialised (the second finds everything in place).
    Returns the summaries for places and for elements.
    """
    begin_write(session, lock_timeout)
    advisory_lock(session, LOCK_SPACE_CONFIGURATION, 0)
    from sitroom.supply.catalogue import load_supply

    places = load_places(session, country)
    elements = load_elements(session, country)
    supply = load_supply(session, country)
    session.commit()
    if supply is not None:
        session.info["supply_summary"] = supply
    return places, elements
