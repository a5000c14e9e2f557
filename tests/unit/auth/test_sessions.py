"""Web sessions: only the token's hash stored, sliding and absolute expiry, sign-out,
ending a user's sessions, a user's own password change, the CSRF comparison."""

from __future__ import annotations

import ast
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from sitroom.auth import service, sessions
from sitroom.auth.models import WebSession
from sitroom.auth.sessions import Lifetime
from sitroom.errors import AuthenticationError, SitroomError, WeakPasswordError
from sitroom.users.models import AppUser

pytestmark = pytest.mark.usefixtures("fast_hashing")

PASSWORD = "amber-Kettle-91-harbour"
NEW = "violet-Harbour-tram-1907"
T0 = datetime(2040, 5, 1, 7, 0, tzinfo=UTC)  # after the real time of the set-up events
SHORT = Lifetime(idle=timedelta(hours=1), absolute=timedelta(hours=3))


@pytest.fixture
def ri(db_session, places):
    service.create_user(
        db_session, "ri", role="reporter", scopes=["KP-04"], password=PASSWORD, actor="admin"
    )
    db_session.commit()
    return service.principal_for(db_session, "ri")


def _start(db_session, principal, *, at=T0, lifetime=SHORT):
    started = sessions.start_session(
        db_session, principal, client="10.0.0.7", now=at, lifetime=lifetime
    )
    db_session.commit()
    return started


def _row(db_session, session_id):
    return db_session.scalar(
        select(WebSession)
        .where(WebSession.id == session_id)
        .execution_options(populate_existing=True)
    )


def _events(db_session, username="ri"):
    rows = service.auth_events(db_session, username=username, limit=1000)
    return [(e.event, e.detail) for e in reversed(rows) if e.event != "user_created"]


def test_a_session_stores_only_the_hash_of_its_token(db_session, ri):
    started = _start(db_session, ri)
    assert len(started.token) == 43
    assert len(started.signed_in.csrf_token) == 43
    assert started.token != started.signed_in.csrf_token
    row = _row(db_session, started.signed_in.session_id)
    assert row.token_hash == hashlib.sha256(started.token.encode()).hexdigest()
    assert started.token not in (row.token_hash, row.csrf_token)
    assert (row.created_at, row.last_seen_at, row.expires_at) == (T0, T0, T0 + SHORT.idle)
    assert row.client == "10.0.0.7"
    found = sessions.authenticate_session(db_session, started.token, now=T0, lifetime=SHORT)
    assert found is not None
    assert found.principal == ri
    assert found.csrf_token == started.signed_in.csrf_token
    # Two sessions of one user have different tokens.
    assert _start(db_session, ri).token != started.token


@pytest.mark.parametrize("token", [None, "", "x" * 43, "y" * 5000])
def test_an_unknown_token_finds_nothing(db_session, ri, token):
    _start(db_session, ri)
    assert sessions.authenticate_session(db_session, token, now=T0, lifetime=SHORT) is None


def test_the_idle_expiry_slides_with_use(db_session, ri):
    started = _start(db_session, ri)
    token = started.token
    at = T0
    # Used every 30 minutes, a session with a one-hour idle limit lives on ...
    for _ in range(3):
        at += timedelta(minutes=30)
        found = sessions.authenticate_session(db_session, token, now=at, lifetime=SHORT)
        assert found is not None
        assert found.expires_at == at + SHORT.idle
    row = _row(db_session, started.signed_in.session_id)
    assert row.last_seen_at == at
    # ... until an hour passes without a request (before its absolute end, T0 + 3 h).
    idle = at + SHORT.idle
    assert idle < T0 + SHORT.absolute
    assert sessions.authenticate_session(db_session, token, now=idle, lifetime=SHORT) is None
    assert sessions.authenticate_session(db_session, token, now=idle - timedelta(seconds=1))


def test_the_last_use_is_written_at_most_once_a_minute(db_session, ri):
    started = _start(db_session, ri)
    sessions.authenticate_session(db_session, started.token, now=T0 + timedelta(seconds=30))
    assert _row(db_session, started.signed_in.session_id).last_seen_at == T0
    later = T0 + timedelta(seconds=61)
    sessions.authenticate_session(db_session, started.token, now=later, lifetime=SHORT)
    assert _row(db_session, started.signed_in.session_id).last_seen_at == later


def test_the_absolute_end_is_not_moved_by_use(db_session, ri):
    started = _start(db_session, ri)
    at = T0
    while at + timedelta(minutes=30) < T0 + SHORT.absolute:
        at += timedelta(minutes=30)
        found = sessions.authenticate_session(db_session, started.token, now=at, lifetime=SHORT)
        assert found is not None
        assert found.expires_at <= T0 + SHORT.absolute
    end = T0 + SHORT.absolute
    assert sessions.authenticate_session(db_session, started.token, now=end, lifetime=SHORT) is None


def test_a_shorter_lifetime_applies_to_sessions_already_started(db_session, ri):
    started = _start(db_session, ri, lifetime=Lifetime())  # 8 hours idle, 7 days
    at = T0 + timedelta(hours=2)
    assert sessions.authenticate_session(db_session, started.token, now=at, lifetime=SHORT) is None
    assert sessions.authenticate_session(db_session, started.token, now=at) is not None


def test_lifetime_from_the_settings():
    lifetime = Lifetime.of(480, 168)
    assert lifetime == Lifetime()
    assert lifetime.expiry(T0, T0 + timedelta(days=6, hours=20)) == T0 + timedelta(days=7)
    assert lifetime.expiry(T0, T0 + timedelta(hours=1)) == T0 + timedelta(hours=9)


def test_signing_out_ends_the_session_and_is_audited(db_session, ri):
    started = _start(db_session, ri)
    other = _start(db_session, ri)
    at = T0 + timedelta(minutes=5)
    assert sessions.end_session(db_session, started.token, client="10.0.0.7", now=at)
    db_session.commit()
    assert _row(db_session, started.signed_in.session_id).ended_at == at
    assert sessions.authenticate_session(db_session, started.token, now=at) is None
    assert sessions.authenticate_session(db_session, other.token, now=at) is not None
    assert not sessions.end_session(db_session, started.token, now=at)  # already ended
    assert not sessions.end_session(db_session, "unknown", now=at)
    assert _events(db_session)[-1] == (
        "logout",
        f"web session {started.signed_in.session_id} ended by sign-out",
    )


def test_ending_all_of_a_users_sessions(db_session, ri, places):
    tokens = [_start(db_session, ri).token for _ in range(3)]
    service.create_user(
        db_session, "yu", role="viewer", scopes=["KP"], password=PASSWORD, actor="admin"
    )
    theirs = _start(db_session, service.principal_for(db_session, "yu"))
    sessions.end_session(db_session, tokens[0], now=T0)
    ended = sessions.end_user_sessions(
        db_session, "ri", actor="admin", now=T0, reason="suspected theft"
    )
    db_session.commit()
    assert ended == 2
    assert all(sessions.authenticate_session(db_session, t, now=T0) is None for t in tokens)
    assert sessions.authenticate_session(db_session, theirs.token, now=T0) is not None
    assert _events(db_session)[-1] == ("logout", "2 web session(s) ended: suspected theft")
    again = sessions.end_user_sessions(db_session, "ri", actor="admin", now=T0, reason="again")
    assert again == 0
    assert _events(db_session)[-1][1] == "2 web session(s) ended: suspected theft"


def test_a_disabled_users_sessions_end_for_good(db_session, ri):
    now = datetime.now(UTC)  # disable_user records the real time
    started = _start(db_session, ri, at=now, lifetime=Lifetime())
    unused = _start(db_session, ri, at=now, lifetime=Lifetime())
    service.disable_user(db_session, "ri", actor="admin")
    db_session.commit()
    assert sessions.authenticate_session(db_session, started.token) is None
    # Enabled again: neither the session looked up while disabled nor the other comes back.
    service.enable_user(db_session, "ri", actor="admin")
    db_session.commit()
    assert sessions.authenticate_session(db_session, started.token) is None
    assert sessions.authenticate_session(db_session, unused.token) is None
    assert _row(db_session, unused.signed_in.session_id).ended_at is not None
    # A new sign-in after that works.
    fresh = _start(db_session, ri, at=datetime.now(UTC) + timedelta(seconds=1))
    assert sessions.authenticate_session(db_session, fresh.token) is not None


def test_a_user_without_a_role_or_with_a_new_password_is_refused(db_session, ri):
    started = _start(db_session, ri)
    user = db_session.scalar(select(AppUser).where(AppUser.username == "ri"))
    user.role = None
    db_session.commit()
    assert sessions.authenticate_session(db_session, started.token, now=T0) is None
    user.role = "reporter"
    db_session.commit()
    assert sessions.authenticate_session(db_session, started.token, now=T0) is not None
    service.set_password(db_session, "ri", NEW, actor="admin", now=T0 + timedelta(minutes=1))
    db_session.commit()
    later = T0 + timedelta(minutes=2)
    assert sessions.authenticate_session(db_session, started.token, now=later) is None


def test_changing_ones_own_password(db_session, ri):
    mine = _start(db_session, ri)
    elsewhere = _start(db_session, ri)
    at = T0 + timedelta(minutes=10)
    started = sessions.change_password(
        db_session, "ri", PASSWORD, NEW, client="10.0.0.7", now=at, lifetime=SHORT
    )
    for old in (mine, elsewhere):
        assert sessions.authenticate_session(db_session, old.token, now=at) is None
    assert sessions.authenticate_session(db_session, started.token, now=at) is not None
    assert service.authenticate_password(db_session, "ri", NEW, now=at).username == "ri"
    with pytest.raises(AuthenticationError):
        service.authenticate_password(db_session, "ri", PASSWORD, now=at)
    kinds = [event for event, _ in _events(db_session)]
    assert kinds[-4:] == ["login_ok", "password_changed", "login_ok", "login_failed"]
    assert ("password_changed", "by the user, on the web; 2 web session(s) ended") in _events(
        db_session
    )


def test_a_refused_password_change_changes_nothing(db_session, ri):
    started = _start(db_session, ri)
    with pytest.raises(WeakPasswordError, match="too short"):
        sessions.change_password(db_session, "ri", PASSWORD, "short", now=T0)
    with pytest.raises(WeakPasswordError, match="most common"):
        sessions.change_password(db_session, "ri", PASSWORD, "1qaz2wsx3edc", now=T0)
    with pytest.raises(SitroomError, match="same as the current"):
        sessions.change_password(db_session, "ri", PASSWORD, PASSWORD, now=T0)
    assert _events(db_session) == []  # none of those counted as a sign-in
    with pytest.raises(AuthenticationError):
        sessions.change_password(db_session, "ri", "not the password", NEW, now=T0)
    user = db_session.scalar(
        select(AppUser).where(AppUser.username == "ri").execution_options(populate_existing=True)
    )
    assert user.failed_logins == 1
    assert [e for e, _ in _events(db_session)] == ["login_failed"]
    assert sessions.authenticate_session(db_session, started.token, now=T0) is not None
    assert service.authenticate_password(db_session, "ri", PASSWORD, now=T0).username == "ri"


@pytest.mark.parametrize(
    ("expected", "given", "matches"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("abc", "ab", False),
        ("abc", None, False),
        ("abc", "", False),
        ("", "", False),
        ("ünï", "ünï", True),
    ],
)
def test_csrf_tokens_are_compared_exactly(expected, given, matches):
    assert sessions.csrf_matches(expected, given) is matches


@pytest.mark.parametrize("module", ["sessions", "throttle"])
def test_the_services_import_no_web_framework(module):
    source = Path(service.__file__).with_name(f"{module}.py").read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "sqlalchemy" in imported
    assert not imported & {"fastapi", "starlette", "jinja2"}
