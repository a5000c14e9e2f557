"""The import's raw batch statements: what they store is what the ORM would have stored.

They run inside ``db_session``'s rolled-back transaction on the test's own
connection, as the import runs them inside its own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from sitroom.surveillance.bulk import (
    _AUDIT_COLUMNS,
    COPY_MIN_ROWS,
    PERIOD_LOCK_SLOTS,
    PERIOD_LOCK_SPACE,
    BulkStatements,
    ConcurrentChange,
)
from sitroom.surveillance.models import DataValue, DataValueAudit

KST = timezone(timedelta(hours=9))
DAY = date(2022, 5, 15)
#: Text a COPY row must carry through its escaping.
AWKWARD = "tab\there, line\nbreak, back\\slash, \\N, 평양, quote ' and \""


@pytest.fixture
def world(factories, db_session):
    """Two regions, two elements and the actor the rows name."""
    factories.AppUserFactory(username="tester")
    kp = factories.OrgUnitFactory(code="KP")
    units = [factories.OrgUnitFactory(code=c, parent=kp) for c in ("KP-01", "KP-02")]
    elements = [factories.DataElementFactory(code=c) for c in ("new_fever", "new_deaths")]
    return units, elements


@pytest.fixture
def bulk(world, db_session):
    return BulkStatements(db_session.connection())


def _row(bulk, element, unit, period, value, *, received, comment=None):
    """A ``data_value`` row in driver form, as the import builds it."""
    stamp = bulk.timestamp(received)
    key = (element.id, unit.id, bulk.period(period))
    return (*key, value, stamp, False, stamp, "bulk", "tester", None, comment, "tester")


def _stored(session, element=None):
    session.expire_all()
    query = select(DataValue).order_by(
        DataValue.element_id, DataValue.org_unit_id, DataValue.period
    )
    if element is not None:
        query = query.where(DataValue.element_id == element.id)
    return list(session.scalars(query))


def test_a_value_written_raw_reads_back_as_one_written_by_the_orm(
    factories, world, bulk, db_session
):
    (unit, _), (fever, deaths) = world
    received = datetime(2022, 5, 16, 0, 30, 15, 250_000, tzinfo=KST)  # 15:30:15.25 UTC
    factories.DataValueFactory(
        element=fever, org_unit=unit, period=DAY, value=7, received_at=received, source="bulk"
    )
    bulk.insert_values([_row(bulk, deaths, unit, DAY, 7, received=received)])
    by_orm, raw = _stored(db_session)
    for row in (by_orm, raw):
        assert row.received_at == row.updated_at == received
        assert row.received_at.utcoffset() == timedelta(0)
        assert (row.period, row.value, row.late, row.comment) == (DAY, 7, False, None)
    # Stored alike too, so that SQL compares and orders them alike.
    stored = db_session.execute(
        text("SELECT period, received_at FROM data_value ORDER BY element_id")
    ).all()
    assert stored[0] == stored[1]


def test_an_audit_row_written_raw_reads_back_aware_and_complete(world, bulk, db_session):
    (unit, _), (fever, _) = world
    old = datetime(2022, 5, 16, 9, tzinfo=KST)
    now = datetime(2022, 5, 17, 12, tzinfo=UTC)
    fields = {
        "element_id": fever.id,
        "org_unit_id": unit.id,
        "period": bulk.period(DAY),
        "action": "update",
        "old_value": 100,
        "old_source": "import:a.csv",
        "old_stored_by": "alice",
        "old_changed_by": "tester",
        "old_comment": None,
        "old_set_at": bulk.timestamp(old),
        "new_value": 120,
        "new_stored_by": "bob",
        "new_comment": "fixed",
        "source": "import:b.csv",
        "changed_by": "tester",
        "changed_at": bulk.timestamp(now),
        "import_id": None,
    }
    bulk.insert_audits([tuple(fields[c.strip()] for c in _AUDIT_COLUMNS.split(","))])
    db_session.expire_all()
    audit = db_session.scalars(select(DataValueAudit)).one()
    assert (audit.period, audit.old_set_at, audit.changed_at) == (DAY, old, now)
    assert (audit.old_value, audit.new_value, audit.old_stored_by, audit.new_stored_by) == (
        100,
        120,
        "alice",
        "bob",
    )
    assert (audit.new_comment, audit.old_changed_by, audit.changed_by) == (
        "fixed",
        "tester",
        "tester",
    )


def test_large_batches_store_what_small_ones_do(world, bulk, db_session):
    """On PostgreSQL a batch of COPY_MIN_ROWS or more goes through COPY, smaller ones INSERT."""
    (unit, _), (fever, deaths) = world
    n = COPY_MIN_ROWS + 20
    received = datetime(2022, 1, 1, 12, 0, 0, 1, tzinfo=UTC)
    days = [date(2022, 1, 1) + timedelta(days=d) for d in range(n)]
    comments = [AWKWARD if d % 3 == 0 else None for d in range(n)]

    def rows(element):
        return [
            _row(bulk, element, unit, day, d * 1_000_003, received=received, comment=comments[d])
            for d, day in enumerate(days)
        ]

    bulk.insert_values(rows(fever))  # one large batch
    small = rows(deaths)
    for start in range(0, n, COPY_MIN_ROWS - 1):
        bulk.insert_values(small[start : start + COPY_MIN_ROWS - 1])

    def seen(element):
        return [
            (v.period, v.value, v.received_at, v.updated_at, v.late, v.comment, v.import_id)
            for v in _stored(db_session, element)
        ]

    assert seen(fever) == seen(deaths)
    assert len(seen(fever)) == n
    assert seen(fever)[0][5] == AWKWARD


def test_existing_gives_only_the_keys_asked_for(factories, world, bulk):
    (kp01, kp02), (fever, deaths) = world
    made = {}
    for unit in (kp01, kp02):
        for element in (fever, deaths):
            for day in (DAY, DAY + timedelta(days=1)):
                value = factories.DataValueFactory(
                    element=element, org_unit=unit, period=day, value=len(made)
                )
                made[(element.id, unit.id, day)] = value
    # Two keys of one period: the other two pairs of their elements and units
    # are stored too, and must not be given.
    wanted = [
        (fever.id, kp01.id, DAY),
        (deaths.id, kp02.id, DAY),
        (deaths.id, kp02.id, DAY + timedelta(days=1)),
        (fever.id, kp02.id, DAY + timedelta(days=9)),  # nothing stored
    ]
    found = bulk.existing([(e, u, bulk.period(p)) for e, u, p in wanted])
    assert sorted(found) == sorted((e, u, bulk.period(p)) for e, u, p in wanted[:3])
    for e, u, p in wanted[:3]:
        value = made[(e, u, p)]
        row = found[(e, u, bulk.period(p))]
        assert (row[0], row[1], row[2], row[3], row[6], row[7]) == (
            value.id,
            value.value,
            value.source,
            value.stored_by,
            value.changed_by,
            value.comment,
        )
    assert bulk.existing([]) == {}


def test_periods_with_values_are_found_among_those_asked(factories, world, bulk):
    (unit, _), (fever, _) = world
    for day in (DAY, DAY + timedelta(days=2)):
        factories.DataValueFactory(element=fever, org_unit=unit, period=day)
    asked = [DAY + timedelta(days=d) for d in range(4)]
    assert bulk.periods_with_values(asked) == {DAY, DAY + timedelta(days=2)}
    assert bulk.periods_with_values([]) == set()


def test_an_update_of_a_value_changed_since_it_was_read_is_a_conflict(
    factories, world, bulk, db_session
):
    (unit, _), (fever, deaths) = world
    a = factories.DataValueFactory(element=fever, org_unit=unit, period=DAY, value=10)
    b = factories.DataValueFactory(element=deaths, org_unit=unit, period=DAY, value=1)
    stamp = bulk.timestamp(datetime(2022, 5, 20, tzinfo=UTC))

    def update(value, new, old):
        return (new, stamp, "bulk", "tester", None, None, "tester", value.id, old)

    with pytest.raises(ConcurrentChange, match="1 of 2 updates found no row"):
        bulk.update_values([update(a, 15, 10), update(b, 6, 2)])  # b is 1, not 2: changed since
    bulk.update_values([update(a, 20, 15), update(b, 6, 1)])
    assert [v.value for v in _stored(db_session)] == [20, 6]


def test_a_deletion_of_a_value_gone_or_changed_is_a_conflict(factories, world, bulk, db_session):
    (unit, _), (fever, deaths) = world
    a = factories.DataValueFactory(element=fever, org_unit=unit, period=DAY, value=10)
    b = factories.DataValueFactory(element=deaths, org_unit=unit, period=DAY, value=1)
    with pytest.raises(ConcurrentChange, match="1 of 1 deletions found no row"):
        bulk.delete_values([(a.id, 11)])
    bulk.delete_values([(a.id, 10)])
    with pytest.raises(ConcurrentChange, match="1 of 2 deletions found no row"):
        bulk.delete_values([(b.id, 1), (a.id, 10)])  # a is gone
    assert _stored(db_session) == []


def test_periods_are_locked_in_a_bounded_number_of_slots(bulk, db_session):
    if bulk.sqlite:
        pytest.skip("SQLite's writer holds the whole database: no period locks")
    periods = [DAY + timedelta(days=d) for d in range(2 * PERIOD_LOCK_SLOTS + 10)]
    bulk.lock_periods([*periods[:3], periods[0] + timedelta(days=PERIOD_LOCK_SLOTS)])
    assert _advisory_locks(db_session) == {
        (PERIOD_LOCK_SPACE, p.toordinal() % PERIOD_LOCK_SLOTS) for p in periods[:3]
    }
    bulk.lock_periods(periods)
    assert len(_advisory_locks(db_session)) == PERIOD_LOCK_SLOTS


def _advisory_locks(session) -> set[tuple[int, int]]:
    rows = session.execute(
        text(
            "SELECT classid::bigint, objid::bigint FROM pg_locks"
            " WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
        )
    )
    return {(int(a), int(b)) for a, b in rows}
