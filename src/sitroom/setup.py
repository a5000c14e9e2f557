"""Loading a country configuration into the database: its places and its data elements."""

from __future__ import annotations

from sqlalchemy.orm import Session

from sitroom.country import Country
from sitroom.places.service import LoadSummary, load_places
from sitroom.surveillance.service import load_elements


def setup_country(session: Session, country: Country) -> tuple[LoadSummary, LoadSummary]:
    """Create or update the org units and data elements of ``country``, and commit.

    Never deletes anything; running it again with the same file changes nothing.
    Returns the summaries for places and for elements.
    """
    places = load_places(session, country)
    elements = load_elements(session, country)
    session.commit()
    return places, elements
