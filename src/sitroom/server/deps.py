"""Request dependencies: the database session and the signed-in user."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.openapi.models import APIKey, APIKeyIn, HTTPBase
from fastapi.security.base import SecurityBase
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
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


def principal(
    request: Request,
    db: Annotated[Session, Depends(session)],
    _basic: Annotated[None, Depends(BASIC)],
    _token: Annotated[None, Depends(API_TOKEN)],
) -> Principal:
    """The user the request authenticates as: HTTP Basic or ``ApiToken <token>``.

    Anything else, or nothing, is 401 with a challenge. The user's name goes
    to the request log; the credentials go nowhere.
    """
    from sitroom.auth import service
    from sitroom.errors import SitroomError

    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    try:
        if scheme.lower() == "basic" and credentials:
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise Problem(401, "malformed Basic credentials", headers=CHALLENGE) from None
            username, sep, password = decoded.partition(":")
            if not sep or "\x00" in decoded:  # PostgreSQL text holds no NUL: it was a 500
                raise Problem(401, "malformed Basic credentials", headers=CHALLENGE)
            who = service.authenticate_password(
                db, username, password, client=client_address(request)
            )
        elif scheme.lower() == "apitoken" and credentials:
            who = service.authenticate_token(db, credentials, client=client_address(request))
        else:
            raise Problem(
                401,
                "sign in: send HTTP Basic credentials or 'Authorization: ApiToken <token>'",
                headers=CHALLENGE,
            )
    except SitroomError as exc:
        db.commit()  # the failed attempt and its audit record stay
        raise Problem(401, str(exc), headers=CHALLENGE) from None
    db.commit()
    request.scope["state"]["user"] = who.username
    return who


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
