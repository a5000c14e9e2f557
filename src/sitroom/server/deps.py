"""Request dependencies: the database session and the signed-in user."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from sitroom.auth.permissions import Principal
from sitroom.context import AppContext
from sitroom.server.problems import Problem

#: What a 401 tells the client it may use.
CHALLENGE = {"WWW-Authenticate": 'Basic realm="sitroom", charset="UTF-8"'}


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.context
    return ctx


def session(request: Request) -> Iterator[Session]:
    """A session for the request; the route commits what it writes."""
    with context(request).session(write=True) as db:
        yield db


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def principal(request: Request, db: Annotated[Session, Depends(session)]) -> Principal:
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
            if not sep:
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
