"""Users, their roles and scopes, and sign-in by password; tokens and the audit re-exported.

The token functions live in ``sitroom.auth.tokens`` and the audit in
``sitroom.auth.audit``; both are importable from here, so that callers find
the whole service in one module.

Transactions: the functions that manage users and tokens (``create_user``,
``set_password``, ``create_token``, ...) write inside the caller's transaction
and do not commit: the caller commits (the command line after the call, the
server at the end of the request), so that a change and its audit row are
committed together or not at all. The two sign-in functions,
:func:`authenticate_password` and :func:`authenticate_token`, commit: a failed
sign-in must be counted and audited although it raises. Call them on a session
with nothing pending.

The callers check who may manage users (``authorize(principal, "users.manage",
None)``); the command line is trusted, as whoever can reach the database is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sitroom.auth import passwords
from sitroom.auth.audit import AuthEventRecord, auth_events, iso, record, when
from sitroom.auth.lookup import principal_of, scopes_of, user_named
from sitroom.auth.models import UserScope
from sitroom.auth.permissions import Principal, authorize, check_role
from sitroom.auth.tokens import (
    TokenRecord,
    authenticate_token,
    create_token,
    list_tokens,
    revoke_token,
)
from sitroom.db import DEFAULT_LOCK_TIMEOUT, begin_write, utcnow
from sitroom.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    SitroomError,
)
from sitroom.places.models import OrgUnit
from sitroom.users.models import AppUser

#: Consecutive failed sign-ins that lock an account ...
MAX_FAILED_LOGINS = 5
#: ... for this many minutes.
LOCK_MINUTES = 15
#: Longest accepted user name (the column's width).
MAX_USERNAME = 100

#: The one message of a refused sign-in, whatever the reason (except a lock):
#: it must not tell whether the user name exists.
SIGN_IN_REFUSED = "sign-in refused: wrong user name or password, or the account cannot sign in"

_USERNAME = re.compile(r"[\w.@-]+")


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as the command line and the pages show them (never the hash)."""

    username: str
    display_name: str | None
    role: str | None
    scopes: tuple[str, ...]
    disabled: bool
    has_password: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    password_changed_at: datetime | None

    def locked(self, now: datetime | None = None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or utcnow())

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "scopes": list(self.scopes),
            "disabled": self.disabled,
            "has_password": self.has_password,
            "failed_logins": self.failed_logins,
            "locked_until": iso(self.locked_until),
            "created_at": self.created_at.isoformat(),
            "password_changed_at": iso(self.password_changed_at),
        }


# Users ---------------------------------------------------------------------


def _scope_codes(session: Session, user_id: int) -> tuple[str, ...]:
    return tuple(code for _, code in scopes_of(session, user_id))


def _asrecord(session: Session, user: AppUser) -> UserRecord:
    return UserRecord(
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        scopes=_scope_codes(session, user.id),
        disabled=user.disabled,
        has_password=user.password_hash is not None,
        failed_logins=user.failed_logins,
        locked_until=user.locked_until,
        created_at=user.created_at,
        password_changed_at=user.password_changed_at,
    )


def _org_units(session: Session, codes: Iterable[str]) -> list[OrgUnit]:
    """The org units of ``codes``, in their order; NotFoundError naming every unknown code."""
    wanted = list(dict.fromkeys(codes))
    found = {u.code: u for u in session.scalars(select(OrgUnit).where(OrgUnit.code.in_(wanted)))}
    unknown = [code for code in wanted if code not in found]
    if unknown:
        raise NotFoundError(
            f"unknown org unit code(s): {', '.join(repr(c) for c in unknown)}"
            " (`sitroom places tree` lists them)"
        )
    return [found[code] for code in wanted]


def _check_username(username: str) -> str:
    if not username or len(username) > MAX_USERNAME or not _USERNAME.fullmatch(username):
        raise SitroomError(
            f"bad user name {username!r}: 1 to {MAX_USERNAME} letters, digits, '.', '_', '@' or '-'"
        )
    return username


def create_user(
    session: Session,
    username: str,
    *,
    role: str,
    scopes: Sequence[str],
    password: str | None,
    display_name: str | None = None,
    actor: str,
    client: str | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> UserRecord:
    """Create a user with a role, the org units of ``scopes`` (codes) and a password.

    A user created without a password cannot sign in until one is set
    (:func:`set_password`). Refuses an unknown role or org unit, a weak
    password, and a name already taken (ignoring case: "Alice" beside "alice"
    would be one person twice). Does not commit.
    """
    _check_username(username)
    check_role(role)
    if password is not None:
        passwords.check_policy(password, username)
    begin_write(session, lock_timeout)
    taken = session.scalar(select(AppUser).where(func.lower(AppUser.username) == username.lower()))
    if taken is not None:
        hint = (
            " (registered by a command's --user: give it a role with `sitroom user set-role`"
            " and a password with `sitroom user reset-password`)"
            if taken.username == username and taken.role is None
            else ""
        )
        raise ConflictError(f"the user {taken.username!r} already exists{hint}")
    units = _org_units(session, scopes)
    now = utcnow()
    user = AppUser(
        username=username,
        display_name=display_name or None,
        created_at=now,
        role=role,
        password_hash=passwords.hash_password(password) if password is not None else None,
        disabled=False,
        failed_logins=0,
        password_changed_at=now if password is not None else None,
    )
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        # Another session created the name after our look-up (PostgreSQL).
        raise ConflictError(f"the user {username!r} already exists") from None
    for unit in units:
        session.add(UserScope(user_id=user.id, org_unit_id=unit.id))
    scope_text = ", ".join(u.code for u in units) or "none"
    record(
        session,
        "user_created",
        username=username,
        actor=actor,
        now=now,
        client=client,
        detail=f"role {role}; scopes {scope_text}; "
        + ("password set" if password is not None else "no password"),
    )
    session.flush()
    return _asrecord(session, user)


def list_users(session: Session, *, manager: Principal | None = None) -> list[UserRecord]:
    """Every user, by name (those registered by ``--user`` too, with no role).

    With ``manager`` (an administrator), only the users they may manage: those
    whose every scope lies inside the manager's (see :func:`authorize_management`).
    """
    users = session.scalars(select(AppUser).order_by(AppUser.username)).all()
    records = [_asrecord(session, user) for user in users]
    if manager is None:
        return records
    return [r for r in records if _manages(session, manager, r.username)]


def _manages(session: Session, manager: Principal, username: str) -> bool:
    try:
        authorize_management(session, manager, username)
    except ForbiddenError:
        return False
    return True


def authorize_management(
    session: Session,
    manager: Principal,
    username: str | None = None,
    scopes: Sequence[str] = (),
    *,
    creating: bool = False,
) -> None:
    """Refuse (ForbiddenError) unless ``manager`` may manage ``username`` and grant ``scopes``.

    Managing users needs ``users.manage``; where org units are involved, the
    manager must hold it over each of them, as every permission is held only
    inside the holder's scopes: over every scope of the user managed (an
    administrator of a region cannot reset the password of a national user,
    and so take over a wider scope), and over every org unit given or taken
    (``scopes``, codes). A user with no scope (the command line's ``--user``
    actors, the local operator among them) is managed only by an
    administrator of the whole country, and only such an administrator
    creates a user with no scope (``creating``): otherwise a regional
    administrator could give such a name a role and a password, and sign in
    as the operator. NotFoundError for an unknown user or org unit. For the
    server; the command line is trusted and does not call it.
    """
    authorize(manager, "users.manage", None)
    if username is not None:
        user = user_named(session, username)
        paths = [path for path, _ in scopes_of(session, user.id)]
        for path in paths or _root_paths(session):
            authorize(manager, "users.manage", path)
    if creating and not scopes:
        for path in _root_paths(session):
            authorize(manager, "users.manage", path)
    for unit in _org_units(session, scopes):
        authorize(manager, "users.manage", unit.path)


def _root_paths(session: Session) -> list[str]:
    """The paths of the hierarchy's roots (the country)."""
    return list(session.scalars(select(OrgUnit.path).where(OrgUnit.parent_id.is_(None))))


def get_user(session: Session, username: str) -> UserRecord:
    """One user; NotFoundError if there is none of that name."""
    return _asrecord(session, user_named(session, username))


def disable_user(
    session: Session, username: str, *, actor: str, client: str | None = None
) -> UserRecord:
    """Stop a user signing in, by password or token, at once. Does not commit."""
    user = user_named(session, username)
    user.disabled = True
    record(session, "user_disabled", username=username, actor=actor, client=client)
    session.flush()
    return _asrecord(session, user)


def enable_user(
    session: Session, username: str, *, actor: str, client: str | None = None
) -> UserRecord:
    """Let a disabled or locked user sign in again (clears the lock). Does not commit."""
    user = user_named(session, username)
    was = "disabled" if user.disabled else "locked" if user.locked_until else "enabled"
    user.disabled = False
    user.failed_logins = 0
    user.locked_until = None
    record(
        session, "user_enabled", username=username, actor=actor, client=client, detail=f"was {was}"
    )
    session.flush()
    return _asrecord(session, user)


def set_password(
    session: Session,
    username: str,
    password: str,
    *,
    actor: str,
    client: str | None = None,
    now: datetime | None = None,
    detail: str | None = None,
) -> None:
    """Set a user's password after the policy check; clears failed sign-ins and the lock.

    ``detail`` goes to the audit row (why it was set; never the password).
    Does not commit.
    """
    user = user_named(session, username)
    passwords.check_policy(password, username)
    now = now or utcnow()
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    record(
        session,
        "password_set",
        username=username,
        actor=actor,
        now=now,
        client=client,
        detail=detail,
    )
    session.flush()


def set_role(
    session: Session, username: str, role: str, *, actor: str, client: str | None = None
) -> UserRecord:
    """Give a user another role (or a first one, for a ``--user`` name). Does not commit."""
    check_role(role)
    user = user_named(session, username)
    before = user.role or "none"
    user.role = role
    record(
        session,
        "role_set",
        username=username,
        actor=actor,
        client=client,
        detail=f"{before} -> {role}",
    )
    session.flush()
    return _asrecord(session, user)


def grant_scope(
    session: Session,
    username: str,
    codes: Sequence[str],
    *,
    actor: str,
    client: str | None = None,
) -> UserRecord:
    """Add the org units of ``codes`` to a user's scopes (those held already are kept).

    Does not commit.
    """
    user = user_named(session, username)
    units = _org_units(session, codes)
    held = set(_scope_codes(session, user.id))
    for unit in units:
        if unit.code in held:
            continue
        session.add(UserScope(user_id=user.id, org_unit_id=unit.id))
        record(
            session,
            "scope_granted",
            username=username,
            actor=actor,
            client=client,
            detail=unit.code,
        )
    session.flush()
    return _asrecord(session, user)


def revoke_scope(
    session: Session,
    username: str,
    codes: Sequence[str],
    *,
    actor: str,
    client: str | None = None,
) -> UserRecord:
    """Remove the org units of ``codes`` from a user's scopes; each must be one of them.

    Does not commit.
    """
    user = user_named(session, username)
    units = _org_units(session, codes)
    scopes = {
        s.org_unit_id: s
        for s in session.scalars(select(UserScope).where(UserScope.user_id == user.id))
    }
    missing = [unit.code for unit in units if unit.id not in scopes]
    if missing:
        held = ", ".join(_scope_codes(session, user.id)) or "none"
        raise ConflictError(
            f"{username!r} has no scope {', '.join(missing)} (their scopes: {held})"
        )
    for unit in units:
        session.delete(scopes[unit.id])
        record(
            session,
            "scope_revoked",
            username=username,
            actor=actor,
            client=client,
            detail=unit.code,
        )
    session.flush()
    return _asrecord(session, user)


def principal_for(session: Session, username: str) -> Principal:
    """The user as the permission checks see them: role and scopes.

    For a request whose session names the user: a disabled user is refused
    (AuthenticationError), so that disabling takes effect at once. A user with
    no role gets a principal that may do nothing.
    """
    user = session.scalar(select(AppUser).where(AppUser.username == username))
    if user is None or user.disabled:
        raise AuthenticationError(f"{username!r} cannot act: no such user, or disabled")
    return principal_of(session, user)


# Sign-in by password ---------------------------------------------------------


def _locked_until(user: AppUser, now: datetime) -> datetime | None:
    """The end of the user's lock, or None when the account is not locked at ``now``."""
    if user.locked_until is not None and user.locked_until > now:
        return user.locked_until
    return None


#: How long an address where a user signed in stays theirs, for the lock (below).
KNOWN_ADDRESS_DAYS = 30


def _known_address(
    session: Session, username: str, client: str | None, since: datetime, now: datetime
) -> bool:
    """Whether ``client`` is an address the user signed in from, with no failure since ``since``.

    A lock stops guessing, but anyone can cause one by failing five times,
    and so keep a user out for good (a name is easy to guess). A lock does
    not hold an address from which the account signed in with its password
    in the last :data:`KNOWN_ADDRESS_DAYS` days and that has not failed on
    it since the lock began: the user at their usual desk gets in, while
    every address that never signed in as them, or that failed, stays locked
    out. The rows are the security audit's own (``auth_event``).
    """
    if not client or client == "cli":
        return False
    from sitroom.auth.models import AuthEvent

    def seen(event: str, after: datetime) -> bool:
        return (
            session.scalar(
                select(AuthEvent.id)
                .where(
                    AuthEvent.username == username,
                    AuthEvent.client == client,
                    AuthEvent.event == event,
                    AuthEvent.time >= after,
                )
                .limit(1)
            )
            is not None
        )

    return seen("login_ok", now - timedelta(days=KNOWN_ADDRESS_DAYS)) and not seen(
        "login_failed", since
    )


def _lock_message(username: str, failures: int, until: datetime) -> str:
    return (
        f"the account {username!r} is locked after {failures} failed sign-ins"
        f" until {when(until)}: try again then, or ask an administrator"
        " (`sitroom user enable`)"
    )


def _refuse_sign_in(
    session: Session,
    username: str,
    now: datetime,
    client: str | None,
    detail: str,
    *,
    message: str = SIGN_IN_REFUSED,
) -> NoReturn:
    """Audit a refused sign-in, commit (with the count, if changed), and raise."""
    record(
        session,
        "login_failed",
        username=username,
        actor=username,
        now=now,
        client=client,
        detail=detail,
    )
    session.commit()
    raise AuthenticationError(message)


def _refuse_locked(
    session: Session, user: AppUser, until: datetime, now: datetime, client: str | None
) -> NoReturn:
    # Refused without looking at the password: guessing is what the lock stops.
    message = _lock_message(user.username, user.failed_logins, until)
    _refuse_sign_in(
        session, user.username, now, client, f"locked until {when(until)}", message=message
    )


def authenticate_password(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime | None = None,
    client: str | None = None,
    max_failures: int = MAX_FAILED_LOGINS,
    lock_minutes: int = LOCK_MINUTES,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> Principal:
    """Sign a user in by password; their principal, or AuthenticationError. Commits.

    Every attempt is audited (``login_ok``, ``login_failed``, ``locked``). A
    wrong password counts against the account: after ``max_failures`` in a
    row it is locked for ``lock_minutes``, and while locked even the right
    password is refused, with a message that says until when. A success
    resets the count, and stores a new hash if the hasher's parameters have
    changed. The message of any other refusal is the same whether the user
    exists or not, and an unknown name costs a password verification too.
    Disabled users and users with no role are refused; a right password on
    their account does not count as a failure.

    The password is verified before any lock is taken (it is the slow part);
    the count is then updated under the user's row lock (``SELECT ... FOR
    UPDATE``; on SQLite the database's, from ``BEGIN IMMEDIATE``) after
    reading the row again, so that concurrent attempts are all counted.
    """
    now = now or utcnow()
    try:
        user = session.scalar(select(AppUser).where(AppUser.username == username))
        if user is None or user.password_hash is None:
            passwords.spend_verification_time(password)
            reason = "unknown user" if user is None else "no password set"
            _refuse_sign_in(session, username, now, client, reason)
        until = _locked_until(user, now)
        if until is not None and not _known_address(
            session, username, client, until - timedelta(minutes=lock_minutes), now
        ):
            _refuse_locked(session, user, until, now, client)
        user_id, stored_hash = user.id, user.password_hash
        right = passwords.verify_password(stored_hash, password)
        rehashed = (
            passwords.hash_password(password)
            if right and passwords.needs_rehash(stored_hash)
            else None
        )

        begin_write(session, lock_timeout)
        user = session.scalar(
            select(AppUser)
            .where(AppUser.id == user_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        assert user is not None  # users are never deleted
        until = _locked_until(user, now)
        # A known address passes the lock; the lock stays for every other address.
        passes = until is not None and _known_address(
            session, username, client, until - timedelta(minutes=lock_minutes), now
        )
        if until is not None and not passes:
            # Another attempt locked the account while this one verified.
            _refuse_locked(session, user, until, now, client)
        if user.locked_until is not None and not passes:
            # A lock that has run out: the count starts again.
            user.locked_until = None
            user.failed_logins = 0
        if not right:
            user.failed_logins += 1
            failures = user.failed_logins
            message = SIGN_IN_REFUSED
            if failures >= max_failures:
                until = user.locked_until = now + timedelta(minutes=lock_minutes)
                record(
                    session,
                    "locked",
                    username=username,
                    actor=username,
                    now=now,
                    client=client,
                    detail=f"{failures} failed sign-ins; locked until {when(until)}",
                )
                message = _lock_message(username, failures, until)
            _refuse_sign_in(
                session,
                username,
                now,
                client,
                f"wrong password ({failures} in a row)",
                message=message,
            )
        if user.disabled or user.role is None:
            reason = "account disabled" if user.disabled else "no role"
            _refuse_sign_in(session, username, now, client, reason)
        if not passes:
            user.failed_logins = 0
        if rehashed is not None and user.password_hash == stored_hash:
            user.password_hash = rehashed
        record(
            session,
            "login_ok",
            username=username,
            actor=username,
            now=now,
            client=client,
            detail="; ".join(
                note
                for note in (
                    "password rehashed" if rehashed is not None else "",
                    "from a known address while the account is locked" if passes else "",
                )
                if note
            )
            or None,
        )
        principal = principal_of(session, user)
        session.commit()
    except AuthenticationError:
        raise
    except BaseException:
        session.rollback()
        raise
    return principal


__all__ = [
    "LOCK_MINUTES",
    "MAX_FAILED_LOGINS",
    "AuthEventRecord",
    "TokenRecord",
    "UserRecord",
    "auth_events",
    "authenticate_password",
    "authenticate_token",
    "authorize_management",
    "create_token",
    "create_user",
    "disable_user",
    "enable_user",
    "get_user",
    "grant_scope",
    "list_tokens",
    "list_users",
    "principal_for",
    "revoke_scope",
    "revoke_token",
    "set_password",
    "set_role",
]


def acting_principal(session: Session, username: str) -> Principal | None:
    """Who the command line's ``--user`` acts as, for the same checks as the server.

    A registered user with a role is checked against that role and scope
    (disabled: refused). A name with no role (the local operator, registered
    on a first write) is not restricted: whoever runs the command line holds
    the database itself. None then.
    """
    user = session.scalar(select(AppUser).where(AppUser.username == username))
    if user is None or user.role is None:
        return None
    return principal_for(session, username)
