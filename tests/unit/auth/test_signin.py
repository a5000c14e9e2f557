"""Signing in by password: lock-out after five failures, its end, and the audit of each step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from sitroom.auth import service
from sitroom.errors import AuthenticationError
from sitroom.users.models import AppUser
from sitroom.users.service import ensure_user

pytestmark = pytest.mark.usefixtures("fast_hashing")

PASSWORD = "amber-Kettle-91-harbour"
T0 = datetime(2040, 5, 1, 7, 0, tzinfo=UTC)  # after the real time of the set-up events


@pytest.fixture
def ri(db_session, places):
    service.create_user(
        db_session, "ri", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="admin"
    )
    db_session.commit()
    return "ri"


def _fail(session, username, password="wrong-password-123", *, at):
    with pytest.raises(AuthenticationError) as refused:
        service.authenticate_password(session, username, password, now=at, client="10.0.0.7")
    return str(refused.value)


def _events(session, username="ri"):
    rows = service.auth_events(session, username=username, limit=1000)
    return [(e.event, e.detail) for e in reversed(rows) if e.event != "user_created"]


def _user(session):
    return session.scalar(
        select(AppUser).where(AppUser.username == "ri").execution_options(populate_existing=True)
    )


def test_the_right_password_signs_in_and_is_audited(db_session, ri):
    principal = service.authenticate_password(db_session, ri, PASSWORD, now=T0, client="10.0.0.7")
    assert (principal.username, principal.role, principal.scope_codes) == (
        "ri",
        "reporter",
        ("KP-04",),
    )
    event = service.auth_events(db_session, username="ri", limit=1)[0]
    assert (event.event, event.actor, event.client, event.time) == (
        "login_ok",
        "ri",
        "10.0.0.7",
        T0,
    )


def test_five_failures_lock_the_account_for_fifteen_minutes(db_session, ri):
    messages = [_fail(db_session, ri, at=T0 + timedelta(seconds=i)) for i in range(5)]
    generic = "sign-in refused: wrong user name or password, or the account cannot sign in"
    assert messages[:4] == [generic] * 4
    until = T0 + timedelta(seconds=4, minutes=15)
    assert messages[4] == (
        "the account 'ri' is locked after 5 failed sign-ins until 2040-05-01 07:15:04 UTC:"
        " try again then, or ask an administrator (`sitroom user enable`)"
    )
    user = _user(db_session)
    assert (user.failed_logins, user.locked_until) == (5, until)

    # While locked, even the right password is refused, saying until when.
    refused = _fail(db_session, ri, PASSWORD, at=until - timedelta(seconds=1))
    assert "locked after 5 failed sign-ins until 2040-05-01 07:15:04 UTC" in refused
    assert _user(db_session).failed_logins == 5

    # The lock ends on time: the right password signs in and resets the count.
    assert service.authenticate_password(db_session, ri, PASSWORD, now=until).username == "ri"
    user = _user(db_session)
    assert (user.failed_logins, user.locked_until) == (0, None)

    assert _events(db_session) == [
        ("login_failed", "wrong password (1 in a row)"),
        ("login_failed", "wrong password (2 in a row)"),
        ("login_failed", "wrong password (3 in a row)"),
        ("login_failed", "wrong password (4 in a row)"),
        ("locked", "5 failed sign-ins; locked until 2040-05-01 07:15:04 UTC"),
        ("login_failed", "wrong password (5 in a row)"),
        ("login_failed", "locked until 2040-05-01 07:15:04 UTC"),
        ("login_ok", None),
    ]


def test_a_success_resets_the_count(db_session, ri):
    for i in range(4):
        _fail(db_session, ri, at=T0 + timedelta(seconds=i))
    service.authenticate_password(db_session, ri, PASSWORD, now=T0 + timedelta(seconds=5))
    assert _user(db_session).failed_logins == 0
    for i in range(4):  # four more: not locked, the count started again
        assert "locked" not in _fail(db_session, ri, at=T0 + timedelta(seconds=10 + i))
    assert _user(db_session).locked_until is None


def test_after_a_lock_runs_out_the_count_starts_again(db_session, ri):
    for i in range(5):
        _fail(db_session, ri, at=T0 + timedelta(seconds=i))
    later = T0 + timedelta(minutes=30)
    assert "locked" not in _fail(db_session, ri, at=later)
    user = _user(db_session)
    assert (user.failed_logins, user.locked_until) == (1, None)


def test_the_limits_are_arguments(db_session, ri):
    for i in range(2):
        message = _fail_with(db_session, ri, T0 + timedelta(seconds=i))
    assert "locked after 2 failed sign-ins until 2040-05-01 07:01:01 UTC" in message


def _fail_with(session, username, at):
    with pytest.raises(AuthenticationError) as refused:
        service.authenticate_password(
            session, username, "nope-nope-nope", now=at, max_failures=2, lock_minutes=1
        )
    return str(refused.value)


def test_an_unknown_user_is_refused_like_a_wrong_password(db_session, ri):
    unknown = _fail(db_session, "nobody", PASSWORD, at=T0)
    wrong = _fail(db_session, ri, at=T0)
    assert unknown == wrong
    event = service.auth_events(db_session, username="nobody")[0]
    assert (event.event, event.username, event.detail) == ("login_failed", "nobody", "unknown user")
    # Nothing is ever locked under an unknown name, however often it fails.
    for i in range(6):
        assert _fail(db_session, "nobody", at=T0 + timedelta(seconds=i)) == wrong


def test_no_password_is_ever_recorded(db_session, ri):
    secret = "hunter2-is-not-my-password"
    _fail(db_session, ri, secret, at=T0)
    _fail(db_session, "nobody", secret, at=T0)
    for event in service.auth_events(db_session, limit=1000):
        assert secret not in " ".join(str(v) for v in event.to_dict().values())


def test_users_without_a_role_or_password_are_refused(db_session, places):
    ensure_user(db_session, "tester")  # registered by --user: no role, no password
    db_session.commit()
    assert "sign-in refused" in _fail(db_session, "tester", "", at=T0)
    service.set_password(db_session, "tester", PASSWORD, actor="admin")
    db_session.commit()
    assert "sign-in refused" in _fail(db_session, "tester", PASSWORD, at=T0)
    event = service.auth_events(db_session, username="tester", limit=1)[0]
    assert (event.event, event.detail) == ("login_failed", "no role")
    # The right password on an account that cannot sign in is not a failure to count.
    assert db_session.scalar(select(AppUser.failed_logins).where(AppUser.username == "tester")) == 0


def test_a_disabled_user_is_refused_with_the_same_message(db_session, ri):
    service.disable_user(db_session, ri, actor="admin")
    db_session.commit()
    wrong = _fail(db_session, "nobody", at=T0)
    assert _fail(db_session, ri, PASSWORD, at=T0) == wrong
    event = service.auth_events(db_session, username="ri", limit=1)[0]
    assert (event.event, event.detail) == ("login_failed", "account disabled")


def test_enable_clears_a_lock(db_session, ri):
    for i in range(5):
        _fail(db_session, ri, at=T0 + timedelta(seconds=i))
    service.enable_user(db_session, ri, actor="admin")
    db_session.commit()
    assert service.authenticate_password(db_session, ri, PASSWORD, now=T0 + timedelta(minutes=1))


def test_a_hash_with_old_parameters_is_replaced_on_sign_in(db_session, ri, fast_hashing):
    old = PasswordHasher(time_cost=2, memory_cost=512, parallelism=1).hash(PASSWORD)
    _user(db_session).password_hash = old
    db_session.commit()
    service.authenticate_password(db_session, ri, PASSWORD, now=T0)
    new = _user(db_session).password_hash
    assert new != old
    assert new.startswith("$argon2id$")
    assert "m=1024,t=1,p=1" in new
    assert service.auth_events(db_session, username="ri", limit=1)[0].detail == "password rehashed"
    # A current hash is kept as it is.
    service.authenticate_password(db_session, ri, PASSWORD, now=T0)
    assert _user(db_session).password_hash == new


def test_a_lock_does_not_hold_the_users_own_known_address(db_session, ri):
    # ri signed in from the office last week; someone elsewhere then locks the account.
    office, elsewhere, new, ancient = "10.1.1.1", "10.0.0.7", "10.9.9.9", "10.2.2.2"
    service.authenticate_password(
        db_session, ri, PASSWORD, now=T0 - timedelta(days=7), client=office
    )
    service.authenticate_password(
        db_session, ri, PASSWORD, now=T0 - timedelta(days=31), client=ancient
    )
    for i in range(5):
        _fail(db_session, ri, at=T0 + timedelta(seconds=i))  # from 10.0.0.7
    until = _user(db_session).locked_until
    assert until is not None
    later = T0 + timedelta(minutes=1)
    # The attacker's address, any address that never signed in as ri, and one known only
    # longer ago than KNOWN_ADDRESS_DAYS (30), stay locked out.
    for client in (elsewhere, new, ancient):
        with pytest.raises(AuthenticationError, match="locked"):
            service.authenticate_password(db_session, ri, PASSWORD, now=later, client=client)
    # ri at the office signs in; the lock stays for the others.
    signed = service.authenticate_password(db_session, ri, PASSWORD, now=later, client=office)
    assert signed.username == "ri"
    assert _user(db_session).locked_until == until
    assert _events(db_session)[-1] == (
        "login_ok",
        "from a known address while the account is locked",
    )
    # A wrong password from the office counts, and then the office is held too.
    with pytest.raises(AuthenticationError):
        service.authenticate_password(
            db_session, ri, "wrong-password-123", now=later, client=office
        )
    with pytest.raises(AuthenticationError, match="locked"):
        service.authenticate_password(db_session, ri, PASSWORD, now=later, client=office)
