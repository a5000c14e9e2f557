"""Factories for the rows tests need: users, org units, data sets and elements, values, audits.

Use them through the ``factories`` fixture, which binds them to ``db_session``
(a transaction rolled back after the test), or bind them to any session with
:func:`bound_to`. Every object is committed as it is made: on ``db_session``
that only releases a savepoint, and it means the rows survive a rollback by
the code under test, as rows set up before the test would.

Defaults are small and valid; pass what the test is about::

    region = factories.OrgUnitFactory(code="KP-01", parent=country)
    fever = factories.DataElementFactory(code="new_fever")
    factories.DataValueFactory(element=fever, org_unit=region, value=7, changed_by="alice")

An org unit's level, kind, parent and materialised path follow from
``parent`` as ``places.service.load_places`` sets them; a value's actor
(``changed_by``) is registered as a user first, since every actor column
refers to ``app_user``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from sitroom.db import utcnow
from sitroom.places.models import LEVELS, OrgUnit
from sitroom.places.service import unit_path
from sitroom.surveillance.models import DataElement, DataSet, DataValue, DataValueAudit
from sitroom.users.models import AppUser

#: The first period values get by default (then one day after another).
FIRST_PERIOD = date(2022, 5, 1)

_session: Session | None = None


@contextmanager
def bound_to(session: Session) -> Iterator[Session]:
    """Make the factories create their objects in ``session`` while the block runs."""
    global _session  # noqa: PLW0603 - factory_boy asks a callable for the session
    previous, _session = _session, session
    try:
        yield session
    finally:
        _session = previous


def _current_session() -> Session:
    if _session is None:
        raise RuntimeError(
            "the factories are not bound to a session: use the `factories` fixture,"
            " or `with factories.bound_to(session):`"
        )
    return _session


class _Factory(SQLAlchemyModelFactory):  # type: ignore[misc]
    class Meta:
        abstract = True
        sqlalchemy_session_factory = _current_session
        sqlalchemy_session_persistence = "commit"


class AppUserFactory(_Factory):
    """A registered user; asking twice for one name gives the same row."""

    class Meta:
        model = AppUser
        sqlalchemy_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = None
    created_at = factory.LazyFunction(utcnow)


class OrgUnitFactory(_Factory):
    """An org unit: the country (level 1) without ``parent``, else one level below it."""

    class Meta:
        model = OrgUnit

    class Params:
        parent: OrgUnit | None = None

    code = factory.LazyAttributeSequence(
        lambda o, n: f"{o.parent.code}-{n:02d}" if o.parent is not None else f"C{n}"
    )
    name = factory.LazyAttribute(lambda o: f"Unit {o.code}")
    level = factory.LazyAttribute(lambda o: o.parent.level + 1 if o.parent is not None else 1)
    kind = factory.LazyAttribute(lambda o: LEVELS[o.level])
    parent_id = factory.LazyAttribute(lambda o: o.parent.id if o.parent is not None else None)
    path = factory.LazyAttribute(lambda o: unit_path(o.parent, o.code))
    name_local = None
    population = None
    population_year = None
    source = None


class DataSetFactory(_Factory):
    """A data set: elements reported together, daily unless told otherwise."""

    class Meta:
        model = DataSet

    code = factory.Sequence(lambda n: f"DS{n}")
    name = factory.LazyAttribute(lambda o: f"Data set {o.code}")
    period_type = "daily"


class DataElementFactory(_Factory):
    """A data element: a flow of persons, in no data set (daily) unless told otherwise."""

    class Meta:
        model = DataElement

    class Params:
        data_set: DataSet | None = None

    code = factory.Sequence(lambda n: f"element_{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("_", " ").capitalize())
    kind = "flow"
    unit = "persons"
    description = None
    data_set_id = factory.LazyAttribute(lambda o: o.data_set.id if o.data_set is not None else None)


def _noon_after(period: date) -> datetime:
    """A receipt time on the day after ``period`` (noon UTC)."""
    return datetime.combine(period + timedelta(days=1), time(12), UTC)


class DataValueFactory(_Factory):
    """A stored value, received the day after its period, by ``changed_by`` ("tester")."""

    class Meta:
        model = DataValue

    class Params:
        element = factory.SubFactory(DataElementFactory)
        org_unit = factory.SubFactory(OrgUnitFactory)
        actor = factory.SubFactory(AppUserFactory, username=factory.SelfAttribute("..changed_by"))

    element_id = factory.SelfAttribute("element.id")
    org_unit_id = factory.SelfAttribute("org_unit.id")
    period = factory.Sequence(lambda n: FIRST_PERIOD + timedelta(days=n))
    value = 100
    received_at = factory.LazyAttribute(lambda o: _noon_after(o.period))
    late = False
    updated_at = factory.SelfAttribute("received_at")
    source = "factory"
    changed_by = "tester"
    stored_by = factory.SelfAttribute("changed_by")
    import_id = None
    comment = None


class DataValueAuditFactory(_Factory):
    """One change to the value ``of``: from ``old_value`` (by ``old_changed_by``) to its value."""

    class Meta:
        model = DataValueAudit

    class Params:
        of = factory.SubFactory(DataValueFactory)
        actor = factory.SubFactory(AppUserFactory, username=factory.SelfAttribute("..changed_by"))
        old_actor = factory.SubFactory(
            AppUserFactory, username=factory.SelfAttribute("..old_changed_by")
        )

    element_id = factory.SelfAttribute("of.element_id")
    org_unit_id = factory.SelfAttribute("of.org_unit_id")
    period = factory.SelfAttribute("of.period")
    action = "update"
    old_value = 0
    old_source = "factory"
    old_changed_by = "tester"
    old_stored_by = factory.SelfAttribute("old_changed_by")
    old_comment = None
    old_set_at = factory.LazyAttribute(lambda o: _noon_after(o.period))
    new_value = factory.SelfAttribute("of.value")
    new_stored_by = factory.SelfAttribute("of.stored_by")
    new_comment = factory.SelfAttribute("of.comment")
    source = factory.SelfAttribute("of.source")
    changed_by = factory.SelfAttribute("of.changed_by")
    changed_at = factory.SelfAttribute("of.updated_at")
    import_id = None
