"""Browser sign-in: server-side web sessions, and a user's own password change.

A web session starts after a password sign-in succeeds
(:func:`start_session`). The browser's cookie holds a random token (256 bits
from :mod:`secrets`); the table ``web_session`` holds only its SHA-256, so a
copy of the database signs no one in. Each session also has a random CSRF
token, sent in every form of its pages and compared on every POST
(:func:`csrf_matches`, in constant time).

A session is live until the first of: sign-out (:func:`end_session`), an
idle time without a request (``Lifetime.idle``, 8 hours by default), its
absolute lifetime from sign-in (``Lifetime.absolute``, 7 days), a new
password for its user (set by the user, :func:`change_password`, or by an
administrator), or its user being disabled or losing their role. Ended
sessions stay in the table (``ended_at``) for the record.

Transactions follow ``sitroom.auth.service``: :func:`start_session`,
:func:`end_session` and :func:`end_user_sessions` write in the caller's
transaction and do not commit; :func:`authenticate_session` and
:func:`change_password` commit, as the sign-in functions do.

Nothing here knows HTTP: the server reads the cookie and calls these functions.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from sitroom.auth import passwords
from sitroom.auth.audit import record
from sitroom.auth.lookup import principal_of, user_named
from sitroom.auth.models import AuthEvent, WebSession
from sitroom.auth.permissions import Principal
from sitroom.auth.service import authenticate_password
from sitroom.auth.tokens import token_hash
from sitroom.db import utcnow
from sitroom.errors import SitroomError
from sitroom.users.models import AppUser

#: Random bytes of a session's cookie token and of its CSRF token (43 URL-safe characters).
TOKEN_BYTES = 32
#: Longer cookie values are not looked up: no token is that long.
MAX_TOKEN_CHARS = 200
#: A session's last use (and with it its idle expiry) is written at most once a
#: minute, so that a page's burst of requests does not write on each one.
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Lifetime:
    """How long a session lives: ``idle`` without a request, ``absolute`` at most."""

    idle: timedelta = timedelta(hours=8)
    absolute: timedelta = timedelta(days=7)

    @classmethod
    def of(cls, idle_minutes: int, max_hours: int) -> Lifetime:
        """The lifetime of the settings ``session_idle_minutes`` and ``session_max_hours``."""
        return cls(timedelta(minutes=idle_minutes), timedelta(hours=max_hours))

    def expiry(self, created_at: datetime, last_seen_at: datetime) -> datetime:
        """When a session made at ``created_at`` and last used at ``last_seen_at`` ends."""
        return min(last_seen_at + self.idle, created_at + self.absolute)


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live web session as a request sees it: whose it is and its CSRF token.

    Never the cookie's token: that is given once, by :func:`start_session`.
    """

    session_id: int
    principal: Principal
    csrf_token: str
    created_at: datetime
    expires_at: datetime

    def csrf_ok(self, given: str | None) -> bool:
        """True when ``given`` is this session's CSRF token (compared in constant time)."""
        return csrf_matches(self.csrf_token, given)


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just started: ``token`` goes in the cookie and nowhere else."""

    token: str
    signed_in: SignedIn


def csrf_matches(expected: str, given: str | None) -> bool:
    """True when ``given`` equals ``expected``, compared in constant time.

    A missing or empty value never matches (nor does anything against an
    empty ``expected``).
    """
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def start_session(
    session: Session,
    principal: Principal,
    *,
    client: str | None = None,
    now: datetime | None = None,
    lifetime: Lifetime | None = None,
) -> NewSession:
    """Start a web session for ``principal``, just signed in by password. Does not commit.

    Returns the cookie's token (shown once; only its SHA-256 is stored) and
    the session with its new CSRF token.
    """
    lifetime = lifetime or Lifetime()
    now = now or utcnow()
    user = user_named(session, principal.username)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = WebSession(
        user_id=user.id,
        token_hash=token_hash(token),
        csrf_token=secrets.token_urlsafe(TOKEN_BYTES),
        created_at=now,
        last_seen_at=now,
        expires_at=lifetime.expiry(now, now),
        client=client[:200] if client else None,
    )
    session.add(row)
    session.flush()
    return NewSession(
        token, SignedIn(row.id, principal, row.csrf_token, row.created_at, row.expires_at)
    )


def authenticate_session(
    session: Session,
    token: str | None,
    *,
    now: datetime | None = None,
    lifetime: Lifetime | None = None,
) -> SignedIn | None:
    """The live session of a cookie's token, or None. Commits.

    None for an unknown token, and for a session that was ended, has been idle
    longer than ``lifetime.idle``, is older than ``lifetime.absolute``, or
    whose user has been disabled (even if enabled again since), has no role,
    or has a password newer than the session. A live session's expiry slides:
    its last use is recorded (at most once a minute) and it ends ``idle``
    after that, but never past ``absolute`` after sign-in.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    lifetime = lifetime or Lifetime()
    now = now or utcnow()
    disabled_since = (
        exists()
        .where(
            AuthEvent.username == AppUser.username,
            AuthEvent.event == "user_disabled",
            AuthEvent.time >= WebSession.created_at,
        )
        .label("disabled_since")
    )
    try:
        found = session.execute(
            select(WebSession, AppUser, disabled_since)
            .join(AppUser, AppUser.id == WebSession.user_id)
            .where(WebSession.token_hash == token_hash(token), WebSession.ended_at.is_(None))
        ).first()
        if found is None:
            return None
        row, user, was_disabled = found
        if user.disabled or was_disabled:
            # Ended for good: enabling the user again does not bring them back.
            end_user_sessions(session, user.username, actor=None, now=now, reason="user disabled")
            session.commit()
            return None
        expires = min(row.expires_at, lifetime.expiry(row.created_at, row.last_seen_at))
        changed = user.password_changed_at
        if (
            now >= expires
            or user.role is None
            or (changed is not None and changed > row.created_at)
        ):
            return None
        if now - row.last_seen_at >= LAST_SEEN_RESOLUTION:
            row.last_seen_at = now
            row.expires_at = expires = lifetime.expiry(row.created_at, now)
        signed_in = SignedIn(
            row.id, principal_of(session, user), row.csrf_token, row.created_at, expires
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return signed_in


def end_session(
    session: Session,
    token: str | None,
    *,
    client: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Sign out: end the session of a cookie's token (audited as ``logout``). Does not commit.

    False when there was no live session of that token (already ended, unknown).
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        return False
    now = now or utcnow()
    found = session.execute(
        select(WebSession, AppUser.username)
        .join(AppUser, AppUser.id == WebSession.user_id)
        .where(WebSession.token_hash == token_hash(token), WebSession.ended_at.is_(None))
    ).first()
    if found is None:
        return False
    row, username = found
    row.ended_at = now
    record(
        session,
        "logout",
        username=username,
        actor=username,
        now=now,
        client=client,
        detail=f"web session {row.id} ended by sign-out",
    )
    session.flush()
    return True


def _end_all(session: Session, user_id: int, now: datetime, *, keep: int | None = None) -> int:
    """End every session of the user not yet ended (but ``keep``); how many were."""
    conditions = [WebSession.user_id == user_id, WebSession.ended_at.is_(None)]
    if keep is not None:
        conditions.append(WebSession.id != keep)
    ended = session.execute(
        update(WebSession)
        .where(*conditions)
        .values(ended_at=now)
        .execution_options(synchronize_session="fetch")
    )
    return int(getattr(ended, "rowcount", 0) or 0)


def end_user_sessions(
    session: Session,
    username: str,
    *,
    actor: str | None,
    client: str | None = None,
    now: datetime | None = None,
    reason: str,
) -> int:
    """End every web session of ``username``; how many were live. Does not commit.

    For a new password set by an administrator, a disabled user, a suspected
    theft. When any was ended, one ``logout`` row records how many and
    ``reason``.
    """
    now = now or utcnow()
    user = user_named(session, username)
    count = _end_all(session, user.id, now)
    if count:
        record(
            session,
            "logout",
            username=username,
            actor=actor,
            now=now,
            client=client,
            detail=f"{count} web session(s) ended: {reason}",
        )
    session.flush()
    return count


def change_password(
    session: Session,
    username: str,
    current: str,
    new: str,
    *,
    client: str | None = None,
    now: datetime | None = None,
    lifetime: Lifetime | None = None,
) -> NewSession:
    """A user's own password change; a new session for the browser that asked. Commits.

    The new password must meet the policy (WeakPasswordError naming the rule)
    and differ from the current one (SitroomError), checked before anything
    is counted. The current password is checked as a sign-in is
    (``authenticate_password``: a wrong one counts towards the lock-out and
    is audited; AuthenticationError). Then the password is replaced, every
    web session of the user is ended, the change is audited as
    ``password_changed``, and a new session is started for the caller, whose
    cookie must be replaced by the returned token.
    """
    passwords.check_policy(new, username)
    if hmac.compare_digest(new.encode("utf-8"), current.encode("utf-8")):
        raise SitroomError("the new password is the same as the current one: choose another")
    now = now or utcnow()
    principal = authenticate_password(session, username, current, now=now, client=client)
    try:
        user = user_named(session, username)
        user.password_hash = passwords.hash_password(new)
        user.password_changed_at = now
        user.failed_logins = 0
        user.locked_until = None
        ended = _end_all(session, user.id, now)
        record(
            session,
            "password_changed",
            username=username,
            actor=username,
            now=now,
            client=client,
            detail=f"by the user, on the web; {ended} web session(s) ended",
        )
        started = start_session(session, principal, client=client, now=now, lifetime=lifetime)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return started


__all__ = [
    "Lifetime",
    "NewSession",
    "SignedIn",
    "authenticate_session",
    "change_password",
    "csrf_matches",
    "end_session",
    "end_user_sessions",
    "start_session",
]
