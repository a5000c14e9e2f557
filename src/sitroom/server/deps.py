"""Request dependencies: the database session and the signed-in user (header or cookie)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.models import APIKey, APIKeyIn, HTTPBase
from fastapi.security.base import SecurityBase
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.auth.sessions import Lifetime
from sitroom.auth.throttle import Throttle
from sitroom.context import AppContext
from sitroom.server.problems import Problem

#: What a 401 tells the client it may use.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="sitroom", charset="UTF-8"'}


class _Declared(SecurityBase):
    """A security scheme for the OpenAPI document only: :func:`principal` does the checking."""

    def __init__(self, model: HTTPBase | APIKey, name: str) -> None:
        self.model = model
        self.scheme_name = name

    async def __call__(self) -> None:
        return None


#: HTTP Basic, or DHIS2's personal access token: either one signs a request in.
BASIC = _Declared(HTTPBase(scheme="basic"), "basic")
API_TOKEN = _Declared(
    APIKey(
        **{"in": APIKeyIn.header},
        name="Authorization",
        description="`ApiToken <token>`, from `sitroom token create`",
    ),
    "apiToken",
)


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.context
    return ctx


def session(request: Request) -> Iterator[Session]:
    """A session for the request; the route commits what it writes."""
    with context(request).session(write=True) as db:
        yield db


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


#: The web session's cookie (set by the sign-in page, ``sitroom.server.web``).
SESSION_COOKIE = "sitroom_session"
#: The header that carries the session's CSRF token on a request signed in by the cookie.
CSRF_HEADER = "X-CSRF-Token"
#: Methods that change something: signed in by the cookie, they need the CSRF header.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

SESSION = _Declared(
    APIKey(
        **{"in": APIKeyIn.cookie},
        name=SESSION_COOKIE,
        description="The web session of a browser signed in at `/signin`."
        f" POST, PUT, PATCH and DELETE must also send the header `{CSRF_HEADER}`"
        " with the session's CSRF token.",
    ),
    "sessionCookie",
)


def lifetime(request: Request) -> Lifetime:
    """The web sessions' lifetime, from the settings."""
    settings = context(request).settings
    return Lifetime.of(settings.session_idle_minutes, settings.session_max_hours)


def throttle(request: Request) -> Throttle:
    """The per-client rate limit and delay of failed sign-ins, from the settings."""
    settings = context(request).settings
    return Throttle(
        limit=settings.auth_failures_per_client,
        window=timedelta(minutes=settings.auth_failure_window_minutes),
        delay_step=settings.auth_failure_delay,
        delay_max=settings.auth_failure_delay_max,
    )


def rate_limited(wait: int) -> Problem:
    """The 429 of a client past the limit of failed sign-ins."""
    minutes = math.ceil(wait / 60)
    return Problem(
        429,
        "too many failed sign-ins from this address: try again in"
        f" {minutes} minute{'' if minutes == 1 else 's'}",
        headers={"Retry-After": str(wait)},
    )


@dataclass(frozen=True, slots=True)
class _Refused:
    """A failed authentication: the answer, and how long to wait before giving it."""

    problem: Problem
    delay: float = 0.0


async def principal(
    request: Request,
    db: Annotated[Session, Depends(session)],
    _basic: Annotated[None, Depends(BASIC)],
    _token: Annotated[None, Depends(API_TOKEN)],
    _cookie: Annotated[None, Depends(SESSION)],
) -> Principal:
    """The user the request authenticates as: HTTP Basic, ``ApiToken <token>`` or the cookie.

    Anything else, or nothing, is 401 with a challenge. The ``Authorization``
    header wins over a cookie. Signed in by the cookie, a POST, PUT, PATCH or
    DELETE without the session's CSRF token in ``X-CSRF-Token`` is 403. A
    client address past the limit of failed sign-ins is 429 before its
    credentials are looked at, and a failure is answered after a delay that
    grows with that address's recent failures: the wait is an ``asyncio``
    sleep, so no worker thread is held. The user's name goes to the request
    log; the credentials go nowhere.
    """
    outcome = await run_in_threadpool(_authenticate, request, db)
    if isinstance(outcome, _Refused):
        if outcome.delay > 0:
            await asyncio.sleep(outcome.delay)
        raise outcome.problem
    request.scope["state"]["user"] = outcome.username
    return outcome


def _authenticate(request: Request, db: Session) -> Principal | _Refused:
    """The blocking part of :func:`principal` (database, password hashing), in a thread."""
    from sitroom.auth import service
    from sitroom.auth import throttle as throttling
    from sitroom.errors import SitroomError

    header = request.headers.get("authorization", "")
    if not header and request.cookies.get(SESSION_COOKIE):
        return _by_cookie(request, db, request.cookies[SESSION_COOKIE])
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    client = client_address(request)
    limits = throttle(request)
    try:
        if scheme.lower() == "basic" and credentials:
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise Problem(401, "malformed Basic credentials", headers=CHALLENGE) from None
            username, sep, password = decoded.partition(":")
            if not sep or "\x00" in decoded:  # PostgreSQL text holds no NUL: it was a 500
                raise Problem(401, "malformed Basic credentials", headers=CHALLENGE)
            wait = throttling.retry_after(db, client, throttle=limits, username=username)
            if wait is not None:
                return _Refused(rate_limited(wait))
            who = service.authenticate_password(db, username, password, client=client)
        elif scheme.lower() == "apitoken" and credentials:
            wait = throttling.retry_after(db, client, throttle=limits)
            if wait is not None:
                return _Refused(rate_limited(wait))
            who = service.authenticate_token(db, credentials, client=client)
        else:
            raise Problem(
                401,
                "sign in: send HTTP Basic credentials or 'Authorization: ApiToken <token>'",
                headers=CHALLENGE,
            )
    except SitroomError as exc:
        db.commit()  # the failed attempt and its audit record stay
        delay = throttling.failure_delay(db, client, throttle=limits)
        return _Refused(Problem(401, str(exc), headers=CHALLENGE), delay)
    db.commit()
    return who


def _by_cookie(request: Request, db: Session, token: str) -> Principal:
    from sitroom.auth import sessions

    signed_in = sessions.authenticate_session(db, token, lifetime=lifetime(request))
    if signed_in is None:
        # No Basic challenge: a browser would answer a script's call with a password prompt.
        raise Problem(401, "the web session has ended: sign in again at /signin")
    if request.method in UNSAFE_METHODS and not signed_in.csrf_ok(request.headers.get(CSRF_HEADER)):
        raise Problem(
            403,
            f"a {request.method} signed in by the session cookie needs the header {CSRF_HEADER}"
            " with the session's CSRF token",
        )
    return signed_in.principal


Db = Annotated[Session, Depends(session)]
User = Annotated[Principal, Depends(principal)]


def json_body(request: Request) -> None:
    """Refuse a body that is not JSON with 415 (before it is read, let alone validated)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and kind != "application/json" and not kind.endswith("+json"):
        raise Problem(415, f"send application/json, not {kind}")


def no_nul_in_query(request: Request) -> None:
    """Refuse a query parameter holding a NUL character with 422.

    PostgreSQL cannot hold NUL in text: looked up as given, such a value was a
    500 there (and an ordinary "unknown" on SQLite).
    """
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            field = name.replace("\x00", "\\x00")
            raise Problem(
                422,
                f"{field}: contains a NUL character",
                errors=[{"field": field, "message": "contains a NUL character"}],
            )
