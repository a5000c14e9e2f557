"""The values hash: it follows the values a report reads, and nothing else."""

from __future__ import annotations

from datetime import date

import pytest

from sitroom.events.service import add_event
from sitroom.publication.values import canonical_lines, values_digest
from tests.unit.publication.conftest import set_value, stored

DAY = date(2022, 5, 20)


@pytest.fixture
def digest(pub_context):
    def read(last: date = DAY) -> str:
        with pub_context.session() as session:
            return values_digest(session, pub_context.country, last)

    return read


def test_the_dump_is_canonical_lines_in_order(pub_context):
    with pub_context.session() as session:
        lines = list(canonical_lines(session, pub_context.country, DAY))
    kinds = [line.split("\t", 1)[0] for line in lines]
    assert kinds == sorted(kinds, key=["value", "event", "place"].index)
    values = [line for line in lines if line.startswith("value\t")]
    assert values == sorted(values)
    assert "value\tnew_fever\tKP\t2022-05-20\t219030\ton-time" in values
    assert not [line for line in values if "\t2022-05-21\t" in line]  # after the period
    assert "place\tKP-04\t" in "\n".join(lines)


def test_it_changes_when_a_value_of_the_report_changes(pub_context, digest):
    before = digest()
    with pub_context.session() as session:
        old = stored(session, "KP-04", date(2022, 5, 18))
    assert old is not None
    set_value(pub_context, "KP-04", date(2022, 5, 18), old + 1)
    try:
        assert digest() != before
    finally:
        set_value(pub_context, "KP-04", date(2022, 5, 18), old)
    assert digest() == before  # the same values, the same hash


def test_it_does_not_change_when_unrelated_data_changes(pub_context, digest):
    before = digest()
    later = date(2022, 6, 10)
    with pub_context.session() as session:
        old = stored(session, "KP", later)
    assert old is not None
    set_value(pub_context, "KP", later, old + 5)  # after the period: not in the report
    try:
        assert digest() == before
        assert digest(later) != digest(date(2022, 6, 9))
    finally:
        set_value(pub_context, "KP", later, old)


def test_an_event_of_the_country_enters_it(pub_context, digest):
    before = digest(date(2022, 5, 13))
    with pub_context.session() as session:
        with_event = None
        lines = list(canonical_lines(session, pub_context.country, date(2022, 6, 1)))
    assert not any(line.startswith("event\t") for line in lines)
    with pub_context.session(write=True) as session:
        add_event(session, "KP", date(2022, 6, 1), "After the period", user="tester")
    with_event = digest(date(2022, 6, 1))
    assert digest(date(2022, 5, 13)) == before  # an event after the period is not in it
    with pub_context.session() as session:
        lines = list(canonical_lines(session, pub_context.country, date(2022, 6, 1)))
    assert any(line.startswith("event\t2022-06-01\tKP\t") for line in lines)
    assert with_event != digest(date(2022, 5, 31))
