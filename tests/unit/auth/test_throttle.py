"""The per-client limit and delay of failed sign-ins, counted from the security audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from sitroom.auth import service, throttle
from sitroom.auth.audit import record
from sitroom.auth.models import AuthEvent
from sitroom.auth.throttle import Throttle

pytestmark = pytest.mark.usefixtures("fast_hashing")

T0 = datetime(2040, 5, 1, 7, 0, tzinfo=UTC)
LIMITS = Throttle(limit=3, window=timedelta(minutes=10), delay_step=0.5, delay_max=1.2)


def _fail(db_session, client, at, event="login_failed"):
    record(db_session, event, username="x", actor="x", now=at, client=client, detail="test")
    db_session.commit()


def _limited(db_session):
    return db_session.scalars(select(AuthEvent).where(AuthEvent.event == "rate_limited")).all()


def test_under_the_limit_a_client_may_try(db_session):
    _fail(db_session, "10.0.0.7", T0)
    _fail(db_session, "10.0.0.7", T0 + timedelta(minutes=1), "token_failed")
    at = T0 + timedelta(minutes=2)
    assert throttle.recent_failures(db_session, "10.0.0.7", throttle=LIMITS, now=at) == 2
    assert throttle.retry_after(db_session, "10.0.0.7", throttle=LIMITS, now=at) is None
    assert _limited(db_session) == []


def test_at_the_limit_the_client_waits_until_a_failure_leaves_the_window(db_session):
    for minute in (0, 2, 4):
        _fail(db_session, "10.0.0.7", T0 + timedelta(minutes=minute))
    at = T0 + timedelta(minutes=5)
    # The oldest of the three leaves the window at T0 + 10 min: five minutes from now.
    wait = throttle.retry_after(db_session, "10.0.0.7", throttle=LIMITS, username="ri", now=at)
    assert wait == 300
    [event] = _limited(db_session)
    assert (event.client, event.username, event.time) == ("10.0.0.7", "ri", at)
    assert event.detail == (
        "3 or more failed sign-ins in 10 minutes; refused until 2040-05-01 07:10:00 UTC"
    )
    # Asked again: refused again, but recorded once.
    later = at + timedelta(minutes=4, seconds=30)
    assert throttle.retry_after(db_session, "10.0.0.7", throttle=LIMITS, now=later) == 30
    assert len(_limited(db_session)) == 1
    # Free once the oldest failure is out of the window.
    free = T0 + timedelta(minutes=10)
    assert throttle.retry_after(db_session, "10.0.0.7", throttle=LIMITS, now=free) is None


def test_other_clients_and_other_events_do_not_count(db_session):
    for minute in range(3):
        _fail(db_session, "10.0.0.8", T0 + timedelta(minutes=minute))
        record(db_session, "login_ok", username="x", actor="x", now=T0, client="10.0.0.7")
    at = T0 + timedelta(minutes=3)
    assert throttle.retry_after(db_session, "10.0.0.7", throttle=LIMITS, now=at) is None
    assert throttle.retry_after(db_session, "10.0.0.8", throttle=LIMITS, now=at) is not None
    # No address: neither counted nor limited.
    assert throttle.retry_after(db_session, None, throttle=LIMITS, now=at) is None
    assert throttle.failure_delay(db_session, None, throttle=LIMITS, now=at) == 0


def test_the_delay_grows_with_recent_failures_up_to_its_cap(db_session):
    at = T0 + timedelta(minutes=5)
    delays = []
    for minute in range(4):
        _fail(db_session, "10.0.0.7", T0 + timedelta(minutes=minute))
        delays.append(throttle.failure_delay(db_session, "10.0.0.7", throttle=LIMITS, now=at))
    assert delays == [0.5, 1.0, 1.2, 1.2]
    # Failures older than the window no longer slow the client down.
    later = T0 + timedelta(minutes=20)
    assert throttle.failure_delay(db_session, "10.0.0.7", throttle=LIMITS, now=later) == 0


def test_the_audit_of_real_failures_is_what_is_counted(db_session, places):
    service.create_user(
        db_session,
        "ri",
        role="reporter",
        scopes=["KP-04"],
        password="amber-Kettle-91-harbour",
        actor="admin",
    )
    db_session.commit()
    for _ in range(3):
        with pytest.raises(service.AuthenticationError):
            service.authenticate_password(db_session, "ri", "wrong", now=T0, client="10.0.0.9")
    with pytest.raises(service.AuthenticationError):
        service.authenticate_token(db_session, "st_nothing", now=T0, client="10.0.0.9")
    at = T0 + timedelta(seconds=1)
    assert throttle.recent_failures(db_session, "10.0.0.9", throttle=LIMITS, now=at) == 4
    assert throttle.retry_after(db_session, "10.0.0.9", throttle=LIMITS, now=at) == 599


def test_the_lock_as_a_form_tells_it(db_session, places):
    service.create_user(
        db_session,
        "ri",
        role="reporter",
        scopes=["KP-04"],
        password="amber-Kettle-91-harbour",
        actor="admin",
    )
    db_session.commit()
    assert throttle.account_lock(db_session, "ri", now=T0) is None
    assert throttle.account_lock(db_session, "nobody", now=T0) is None
    for _ in range(5):
        with pytest.raises(service.AuthenticationError):
            service.authenticate_password(db_session, "ri", "wrong", now=T0)
    lock = throttle.account_lock(db_session, "ri", now=T0)
    assert lock == throttle.Lock(until=T0 + timedelta(minutes=15), failures=5)
    assert throttle.account_lock(db_session, "ri", now=T0 + timedelta(minutes=15)) is None
