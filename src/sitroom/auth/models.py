"""The tables of sign-in: scopes, API tokens and the security audit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sitroom.db import Base, BigId, UTCDateTime

#: What the security audit records (``auth_event.event``); the migration's check lists them.
AUTH_EVENTS = (
    "login_ok",
    "login_failed",
    "locked",
    "token_created",
    "token_revoked",
    "token_failed",
    "user_created",
    "user_disabled",
    "user_enabled",
    "password_set",
    "role_set",
    "scope_granted",
    "scope_revoked",
    "logout",
    "password_changed",
    "rate_limited",
)

EVENT_CHECK = "event IN (" + ", ".join(f"'{e}'" for e in AUTH_EVENTS) + ")"


class UserScope(Base):
    """An org unit whose subtree a user acts in (a region, the country)."""

    __tablename__ = "user_scope"
    __table_args__ = (UniqueConstraint("user_id", "org_unit_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)


class ApiToken(Base):
    """A bearer token for scripts and the API: only its SHA-256 is kept.

    ``prefix`` (the token's first characters) lets a user tell their tokens
    apart in a listing without the token being stored. A name is unique among
    a user's tokens that are not revoked (the service checks it), so that a
    revoked token's name can be used again.
    """

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    #: SHA-256 of the whole token, lower-case hex.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthEvent(Base):
    """One security event: a sign-in, a lock, a change to a user or a token.

    Rows are only inserted (a trigger refuses UPDATE and DELETE). ``username``
    is not a foreign key, so that a failed sign-in under an unknown name is
    recorded as typed; no password is ever recorded.
    """

    __tablename__ = "auth_event"
    __table_args__ = (
        CheckConstraint(EVENT_CHECK, name="event"),
        Index("ix_auth_event_username_time", "username", "time"),
        Index("ix_auth_event_client_time", "client", "time"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    username: Mapped[str | None] = mapped_column(String(100))
    event: Mapped[str] = mapped_column(String(32))
    #: Who did it: the administrator, or the user themselves for a sign-in.
    actor: Mapped[str | None] = mapped_column(String(100))
    #: Where from, when known (an IP address, "cli").
    client: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[str | None] = mapped_column(Text)


class WebSession(Base):
    """A browser's sign-in: the cookie holds a random token, the table its SHA-256.

    Kept in the database so that every worker and machine knows it; ended by
    sign-out (``ended_at``), by expiry, or when the user is disabled. The CSRF
    secret of the session is sent in every form and compared on every POST.
    """

    __tablename__ = "web_session"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    client: Mapped[str | None] = mapped_column(String(200))


class IdempotencyRecord(Base):
    """The answer to a POST sent with an ``Idempotency-Key``, kept to answer a retry.

    Unique per user and key: a retry finds the row and gets the stored answer
    without the request being applied again; a different request under the
    same key is refused. ``status_code`` is null while the first request runs.
    """

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("username", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status_code: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
