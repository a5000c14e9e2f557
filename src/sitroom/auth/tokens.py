"""API tokens: made once, stored as their SHA-256, refused when revoked or expired.

Functions that manage tokens write in the caller's transaction and do not
commit; :func:`authenticate_token` commits (a refusal is audited although it
raises). See ``sitroom.auth.service`` for the transaction rules.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.audit import iso, record, when
from sitroom.auth.lookup import principal_of, user_named
from sitroom.auth.models import ApiToken
from sitroom.auth.permissions import Principal
from sitroom.db import utcnow
from sitroom.errors import AuthenticationError, NotFoundError, SitroomError
from sitroom.users.models import AppUser

#: What every token starts with, so that a leaked one is recognisable (secret scanners).
TOKEN_PREFIX = "st_"
#: Characters of a token kept in clear, to tell tokens apart in a listing.
TOKEN_SHOWN = 8
#: Days a new token lasts unless told otherwise (None: until revoked).
DEFAULT_TOKEN_DAYS: int | None = 90
#: Longest lifetime a token may be given, in days.
MAX_TOKEN_DAYS = 3650
#: A token's last use is written at most once a minute: a burst of API calls
#: does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: The one message of a refused token: it does not say which check failed.
TOKEN_REFUSED = "the token is not valid: unknown, revoked or expired, or its user cannot sign in"


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as listed: never the token, only its first characters."""

    id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def status(self, now: datetime | None = None) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "prefix": self.prefix,
            "status": self.status(),
            "created_at": self.created_at.isoformat(),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
        }


def token_hash(token: str) -> str:
    """The SHA-256 of a token, as stored (lower-case hex).

    A plain hash is enough: a token is 256 random bits, not a password that
    could be guessed from a dictionary.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    session: Session,
    username: str,
    name: str,
    *,
    expires_days: int | None = DEFAULT_TOKEN_DAYS,
    actor: str | None = None,
    client: str | None = None,
    now: datetime | None = None,
) -> str:
    """A new API token for ``username``, returned once: only its SHA-256 is stored.

    ``name`` tells the user's tokens apart (unique among their tokens not
    revoked); ``expires_days`` None makes a token that lasts until revoked.
    The token is ``st_`` and 43 URL-safe characters (256 random bits).
    Does not commit.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise SitroomError("a token needs a name of 1 to 100 characters")
    if expires_days is not None and not 1 <= expires_days <= MAX_TOKEN_DAYS:
        raise SitroomError(
            f"expires_days must be between 1 and {MAX_TOKEN_DAYS}, not {expires_days}"
        )
    user = user_named(session, username)
    now = now or utcnow()
    same_name = session.scalar(
        select(ApiToken.id).where(
            ApiToken.user_id == user.id, ApiToken.name == name, ApiToken.revoked_at.is_(None)
        )
    )
    if same_name is not None:
        raise SitroomError(
            f"{username!r} already has a token named {name!r} (id {same_name}):"
            " revoke it or choose another name"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = None if expires_days is None else now + timedelta(days=expires_days)
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=token_hash(token),
        prefix=token[:TOKEN_SHOWN],
        created_at=now,
        expires_at=expires,
    )
    session.add(row)
    session.flush()
    record(
        session,
        "token_created",
        username=username,
        actor=actor or username,
        now=now,
        client=client,
        detail=f"token {row.id} {name!r} ({row.prefix}...), "
        + (f"expires {when(expires)}" if expires else "no expiry"),
    )
    session.flush()
    return token


def _token_records(session: Session, *conditions: Any) -> list[TokenRecord]:
    rows = session.execute(
        select(ApiToken, AppUser.username)
        .join(AppUser, AppUser.id == ApiToken.user_id)
        .where(*conditions)
        .order_by(AppUser.username, ApiToken.id)
    ).all()
    return [
        TokenRecord(
            t.id, name, t.name, t.prefix, t.created_at, t.expires_at, t.revoked_at, t.last_used_at
        )
        for t, name in rows
    ]


def list_tokens(session: Session, username: str | None = None) -> list[TokenRecord]:
    """Every token (revoked and expired ones too), or ``username``'s, by user and id."""
    if username is None:
        return _token_records(session)
    user = user_named(session, username)
    return _token_records(session, ApiToken.user_id == user.id)


def revoke_token(
    session: Session,
    token: int | str,
    *,
    username: str | None = None,
    actor: str,
    client: str | None = None,
    now: datetime | None = None,
) -> TokenRecord:
    """Revoke a token given by id, or by name (among ``username``'s, if given). Does not commit."""
    by_id = isinstance(token, int) or token.isdigit()
    if by_id:
        conditions: list[Any] = [ApiToken.id == int(token)]
        missing = f"unknown token {token}"
    else:
        conditions = [ApiToken.name == token, ApiToken.revoked_at.is_(None)]
        missing = f"no active token named {token!r}"
    if username is not None:
        conditions.append(ApiToken.user_id == user_named(session, username).id)
        missing += f" of {username!r}"
    rows = session.scalars(select(ApiToken).where(*conditions)).all()
    if not rows:
        raise NotFoundError(f"{missing} (`sitroom token list` shows them)")
    if len(rows) > 1:
        ids = ", ".join(str(r.id) for r in rows)
        raise SitroomError(f"several tokens are named {token!r} (ids {ids}): give the id")
    row = rows[0]
    if row.revoked_at is not None:
        raise SitroomError(f"token {row.id} was already revoked on {when(row.revoked_at)}")
    now = now or utcnow()
    row.revoked_at = now
    owner = session.scalar(select(AppUser.username).where(AppUser.id == row.user_id))
    record(
        session,
        "token_revoked",
        username=owner,
        actor=actor,
        now=now,
        client=client,
        detail=f"token {row.id} {row.name!r} ({row.prefix}...)",
    )
    session.flush()
    return _token_records(session, ApiToken.id == row.id)[0]


def authenticate_token(
    session: Session,
    token: str,
    *,
    now: datetime | None = None,
    client: str | None = None,
) -> Principal:
    """The principal of a bearer token; AuthenticationError for an unknown, revoked or
    expired token or a disabled user (audited as ``token_failed``). Commits.

    The token's ``last_used_at`` is updated (at most once a minute).
    """
    now = now or utcnow()
    try:
        row = None
        if token.startswith(TOKEN_PREFIX) and len(token) <= 200:
            row = session.execute(
                select(ApiToken, AppUser)
                .join(AppUser, AppUser.id == ApiToken.user_id)
                .where(ApiToken.token_hash == token_hash(token))
            ).first()
        if row is None:
            # Only the part a listing shows is recorded, never a whole secret.
            shown = token[:TOKEN_SHOWN] if token.startswith(TOKEN_PREFIX) else "(not a token)"
            _refuse_token(session, None, now, client, f"unknown token {shown}")
        api_token, user = row
        reason = None
        if api_token.revoked_at is not None:
            reason = f"revoked on {when(api_token.revoked_at)}"
        elif api_token.expires_at is not None and api_token.expires_at <= now:
            reason = f"expired on {when(api_token.expires_at)}"
        elif user.disabled:
            reason = "user disabled"
        elif user.role is None:
            reason = "user has no role"
        if reason is not None:
            label = f"token {api_token.id} ({api_token.prefix}...)"
            _refuse_token(session, user.username, now, client, f"{label} {reason}")
        last = api_token.last_used_at
        if last is None or now - last >= LAST_USED_RESOLUTION:
            api_token.last_used_at = now
        principal = principal_of(session, user)
        session.commit()
    except AuthenticationError:
        raise
    except BaseException:
        session.rollback()
        raise
    return principal


def _refuse_token(
    session: Session, username: str | None, now: datetime, client: str | None, detail: str
) -> NoReturn:
    record(
        session,
        "token_failed",
        username=username,
        actor=username,
        now=now,
        client=client,
        detail=detail,
    )
    session.commit()
    raise AuthenticationError(TOKEN_REFUSED)
