"""Editions: numbered per period, never overwritten, and what changed between them."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from sitroom.errors import NotFoundError
from sitroom.publication import service
from sitroom.publication.changes import FIRST_EDITION, NO_DATA_CHANGED
from tests.unit.publication.conftest import set_value, stored


def publish(context, period, **options):
    return service.publish(context, period, user="tester", channel="cli", **options)


def test_editions_are_numbered_per_period_and_unchanged_data_makes_none(pub_context, quick):
    first = publish(pub_context, "2022-05-15")
    assert (first.new, first.edition.number, first.edition.summary) == (True, 1, FIRST_EDITION)
    again = publish(pub_context, "2022-05-15")
    assert (again.new, again.edition.number) == (False, 1)
    other = publish(pub_context, "2022-05-16")
    assert (other.new, other.edition.number) == (True, 1)

    forced = publish(pub_context, "2022-05-15", force=True)
    assert (forced.new, forced.edition.number) == (True, 2)
    assert forced.edition.summary == NO_DATA_CHANGED
    assert forced.edition.values_sha256 == first.edition.values_sha256
    with pub_context.session() as session:
        listed = service.list_editions(session, "2022-05-15")
        assert [e.number for e in listed] == [2, 1]
        assert service.get_edition(session, "2022-05-15").number == 2
        edition, file = service.edition_file(session, "2022-05-15", 1, "pdf")
        assert file.content.startswith(b"pdf of 2022-05-15")
        assert file.name == "sitrep-2022-05-15-edition-1.pdf"
        assert file.content_type == "application/pdf"
        assert [f.format for f in edition.files] == ["html", "pdf", "md", "json"]


def test_a_republication_records_what_changed(pub_context, quick):
    day = date(2022, 5, 17)
    publish(pub_context, day.isoformat())
    with pub_context.session() as session:
        national, chagang = stored(session, "KP", day), stored(session, "KP-04", day)
    assert national is not None
    assert chagang is not None
    set_value(pub_context, "KP", day, national + 30)
    set_value(pub_context, "KP-04", day, chagang + 2)
    try:
        second = publish(pub_context, day.isoformat())
    finally:
        set_value(pub_context, "KP", day, national)
        set_value(pub_context, "KP-04", day, chagang)
    assert (second.new, second.edition.number) == (True, 2)
    sentences = [c.sentence() for c in second.edition.changes]
    assert f"Headline, New fever cases: {national:,} → {national + 30:,}" in sentences
    assert f"KP-04 (KP-04), new: {chagang:,} → {chagang + 2:,}" in sentences
    assert second.edition.summary == "2 figures changed since the previous edition."
    # Back to the first values: a third edition, which says so against the second.
    third = publish(pub_context, day.isoformat())
    assert third.edition.number == 3
    assert len(third.edition.changes) == 2


def test_a_period_without_figures_is_refused_and_nothing_stored(pub_context, quick):
    with pytest.raises(NotFoundError, match="no edition"), pub_context.session() as session:
        service.get_edition(session, "2031-01-01")
    with pub_context.session() as session, pytest.raises(NotFoundError, match="does not exist"):
        service.get_edition(session, "2022-05-15", 9)
    with pytest.raises(NotFoundError, match="no national figures for the period 2031-01-01"):
        service.publish(pub_context, "2031-01-01", user="tester", channel="cli")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE edition SET summary = 'rewritten'",
        "DELETE FROM edition",
        "UPDATE edition_file SET content = content",
        "DELETE FROM edition_file",
    ],
)
def test_editions_cannot_be_changed_or_removed(pub_context, quick, statement):
    publish(pub_context, "2022-05-19")
    with pub_context.session(write=True) as session:
        before = session.execute(text("SELECT count(*) FROM edition_file")).scalar()
        with pytest.raises(DBAPIError, match="append-only"):
            session.execute(text(statement))
        session.rollback()
        assert session.execute(text("SELECT count(*) FROM edition_file")).scalar() == before
        assert "rewritten" not in session.execute(text("SELECT summary FROM edition")).scalars()
