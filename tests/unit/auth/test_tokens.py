"""API tokens: shown once, stored as their SHA-256, refused when revoked, expired or disabled."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from sitroom.auth import service
from sitroom.auth.models import ApiToken
from sitroom.errors import AuthenticationError, NotFoundError, SitroomError

pytestmark = pytest.mark.usefixtures("fast_hashing")

T0 = datetime(2040, 5, 1, 7, 0, tzinfo=UTC)
REFUSED = "the token is not valid: unknown, revoked or expired, or its user cannot sign in"


@pytest.fixture
def ri(db_session, places):
    service.create_user(
        db_session, "ri", role="reporter", scopes=["KP-04"], password=None, actor="a"
    )
    return "ri"


def _refused(session, token, at=T0):
    with pytest.raises(AuthenticationError) as refused:
        service.authenticate_token(session, token, now=at, client="10.0.0.9")
    return str(refused.value)


def test_only_the_hash_is_stored(db_session, ri):
    token = service.create_token(db_session, ri, "laptop", now=T0)
    assert re.fullmatch(r"st_[A-Za-z0-9_-]{43}", token)
    row = db_session.scalar(select(ApiToken))
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert row.prefix == token[:8]
    assert (row.created_at, row.expires_at) == (T0, T0 + timedelta(days=90))
    stored = " ".join(str(getattr(row, c.key)) for c in ApiToken.__table__.columns)
    assert token not in stored
    audit = " ".join(str(e.to_dict()) for e in service.auth_events(db_session))
    assert token not in audit


def test_a_token_signs_in_as_its_user_and_records_its_use(db_session, ri):
    token = service.create_token(db_session, ri, "laptop", now=T0)
    principal = service.authenticate_token(db_session, token, now=T0 + timedelta(hours=1))
    assert (principal.username, principal.role, principal.scope_codes) == (
        "ri",
        "reporter",
        ("KP-04",),
    )
    listed = service.list_tokens(db_session, "ri")[0]
    assert listed.last_used_at == T0 + timedelta(hours=1)
    # Within the minute the use is not written again.
    service.authenticate_token(db_session, token, now=T0 + timedelta(hours=1, seconds=30))
    assert service.list_tokens(db_session, "ri")[0].last_used_at == T0 + timedelta(hours=1)
    service.authenticate_token(db_session, token, now=T0 + timedelta(hours=1, minutes=2))
    assert service.list_tokens(db_session, "ri")[0].last_used_at == T0 + timedelta(
        hours=1, minutes=2
    )


def test_an_expired_token_is_refused(db_session, ri):
    token = service.create_token(db_session, ri, "short", expires_days=1, now=T0)
    service.authenticate_token(db_session, token, now=T0 + timedelta(hours=23))
    assert _refused(db_session, token, T0 + timedelta(days=1)) == REFUSED
    assert service.list_tokens(db_session)[0].status(T0 + timedelta(days=2)) == "expired"
    event = service.auth_events(db_session, username="ri", limit=1)[0]
    assert event.event == "token_failed"
    assert event.detail.endswith("expired on 2040-05-02 07:00:00 UTC")
    assert event.client == "10.0.0.9"


def test_a_token_without_expiry_lasts(db_session, ri):
    token = service.create_token(db_session, ri, "ci", expires_days=None, now=T0)
    assert service.authenticate_token(db_session, token, now=T0 + timedelta(days=3000))


def test_a_revoked_token_is_refused(db_session, ri):
    token = service.create_token(db_session, ri, "laptop", now=T0)
    record = service.revoke_token(db_session, "laptop", username="ri", actor="a", now=T0)
    assert record.status() == "revoked"
    assert _refused(db_session, token) == REFUSED
    with pytest.raises(SitroomError, match="already revoked"):
        service.revoke_token(db_session, record.id, actor="a")
    # The name is free again once revoked.
    service.create_token(db_session, ri, "laptop", now=T0)
    assert [t.status(T0) for t in service.list_tokens(db_session, "ri")] == ["revoked", "active"]


def test_a_disabled_users_tokens_are_refused(db_session, ri):
    token = service.create_token(db_session, ri, "laptop", now=T0)
    service.disable_user(db_session, ri, actor="a")
    assert _refused(db_session, token) == REFUSED
    assert service.auth_events(db_session, username="ri", limit=1)[0].detail.endswith(
        "user disabled"
    )
    service.enable_user(db_session, ri, actor="a")
    assert service.authenticate_token(db_session, token, now=T0).username == "ri"


def test_unknown_and_malformed_tokens_are_refused_and_audited(db_session, ri):
    token = service.create_token(db_session, ri, "laptop", now=T0)
    assert _refused(db_session, token[:-1] + ("A" if token[-1] != "A" else "B")) == REFUSED
    assert _refused(db_session, "password123") == REFUSED
    assert _refused(db_session, "st_" + "x" * 500) == REFUSED
    failed = [e for e in service.auth_events(db_session) if e.event == "token_failed"]
    assert [e.username for e in failed] == [None, None, None]
    assert failed[1].detail == "unknown token (not a token)"
    assert failed[2].detail == f"unknown token {token[:8]}"


def test_token_names_and_lifetimes_are_checked(db_session, ri):
    service.create_token(db_session, ri, "laptop", now=T0)
    with pytest.raises(SitroomError, match="already has a token named 'laptop'"):
        service.create_token(db_session, ri, "laptop", now=T0)
    with pytest.raises(SitroomError, match="between 1 and 3650"):
        service.create_token(db_session, ri, "x", expires_days=0)
    with pytest.raises(SitroomError, match="a token needs a name"):
        service.create_token(db_session, ri, "  ")
    with pytest.raises(NotFoundError, match="unknown user 'nobody'"):
        service.create_token(db_session, "nobody", "x")


def test_revoke_by_id_or_name(db_session, ri, places):
    service.create_user(db_session, "kim", role="viewer", scopes=[], password=None, actor="a")
    first = service.create_token(db_session, ri, "ci", now=T0)
    service.create_token(db_session, "kim", "ci", now=T0)
    with pytest.raises(
        SitroomError, match=r"several tokens are named 'ci' \(ids \d+, \d+\): give the id"
    ):
        service.revoke_token(db_session, "ci", actor="a")
    with pytest.raises(NotFoundError, match="unknown token 999"):
        service.revoke_token(db_session, 999, actor="a")
    with pytest.raises(NotFoundError, match="no active token named 'nope'"):
        service.revoke_token(db_session, "nope", actor="a")
    kims = service.list_tokens(db_session, "kim")[0]
    assert service.revoke_token(db_session, str(kims.id), actor="a").username == "kim"
    assert service.revoke_token(db_session, "ci", actor="a").username == "ri"
    assert _refused(db_session, first) == REFUSED
    revoked = [e for e in service.auth_events(db_session) if e.event == "token_revoked"]
    assert {e.username for e in revoked} == {"ri", "kim"}
