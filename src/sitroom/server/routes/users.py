"""Users admin over HTTP: the twin of ``sitroom user ...``, for holders of ``users.manage``.

The same service functions as the command line, with the signed-in
administrator as the actor and the client's address in the security audit.
Unlike the command line (trusted: whoever runs it holds the database), an
administrator here acts inside their scopes only: they see and manage the
users whose every scope lies inside theirs, and give or take only org units
inside theirs (``auth.service.authorize_management``). Passwords go in
bodies, are checked against the policy, and never come back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sitroom.auth import service
from sitroom.auth.passwords import MAX_LENGTH
from sitroom.auth.permissions import ROLE_NAMES
from sitroom.server.deps import Db, User, client_address, context, json_body
from sitroom.server.problems import SIGNED_IN, WRITES, responses
from sitroom.server.routes.common import Code

router = APIRouter(prefix="/users", tags=["users"])

READS = responses(*SIGNED_IN, 404, meaning={404: "No user has this name"})
CHANGES = responses(
    *WRITES,
    404,
    409,
    meaning={
        404: "No user has this name, or an org unit named does not exist",
        409: "The name is taken, or the scope to remove is not the user's",
        422: "A field is invalid (each is named in `errors`), or the password breaks the policy",
    },
)
BODY = [Depends(json_body)]


def _role(value: str) -> str:
    if value not in ROLE_NAMES:
        raise ValueError(f"unknown role {value!r}: choose one of {', '.join(ROLE_NAMES)}")
    return value


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


Role = Annotated[str, Field(json_schema_extra={"enum": list(ROLE_NAMES)}), AfterValidator(_role)]
Password = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_LENGTH,
        description="Checked against the password policy; never shown again",
    ),
]
Name = Annotated[str, Path(min_length=1, max_length=service.MAX_USERNAME), AfterValidator(_text)]


class UserOut(BaseModel):
    username: str
    display_name: str | None
    role: str | None = Field(description="None for a name registered by a command's --user")
    scopes: list[str]
    disabled: bool
    has_password: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    password_changed_at: datetime | None


class EventOut(BaseModel):
    id: int
    time: datetime
    username: str
    event: str
    actor: str | None
    client: str | None
    detail: str | None


class UserDetail(UserOut):
    events: list[EventOut] = Field(description="The latest security events, newest first")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(
        min_length=1,
        max_length=service.MAX_USERNAME,
        pattern=r"^[\w.@-]+$",
        description="Letters, digits, '.', '_', '@' or '-'",
    )
    role: Role
    scopes: list[Code] = Field(
        default_factory=list, max_length=100, description="Org-unit codes, inside yours"
    )
    password: Password | None = Field(
        default=None, description="Without one the user cannot sign in until it is set"
    )
    display_name: Annotated[str, AfterValidator(_text)] | None = Field(
        default=None, max_length=200, alias="displayName"
    )


class RoleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class ScopesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scopes: list[Code] = Field(min_length=1, max_length=100, description="Org-unit codes")


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Password


def _out(record: service.UserRecord) -> UserOut:
    return UserOut.model_validate(record.to_dict())


@router.get("", summary="The users you may manage", responses=READS)
def list_users(user: User, db: Db) -> list[UserOut]:
    service.authorize_management(db, user)
    return [_out(u) for u in service.list_users(db, manager=user)]


@router.get("/{name}", summary="One user, with their latest security events", responses=READS)
def get_user(
    name: Name,
    user: User,
    db: Db,
    events: Annotated[int, Query(ge=0, le=100, description="How many events")] = 10,
) -> UserDetail:
    service.authorize_management(db, user, name)
    found = service.get_user(db, name)
    recent = service.auth_events(db, username=name, limit=events) if events else []
    return UserDetail.model_validate({**found.to_dict(), "events": [e.to_dict() for e in recent]})


@router.post(
    "",
    summary="Create a user with a role, scopes and a password",
    status_code=201,
    dependencies=BODY,
    responses=CHANGES,
)
def create_user(body: UserCreate, request: Request, user: User, db: Db) -> UserOut:
    service.authorize_management(db, user, scopes=body.scopes, creating=True)
    created = service.create_user(
        db,
        body.username,
        role=body.role,
        scopes=body.scopes,
        password=body.password,
        display_name=body.display_name,
        actor=user.username,
        client=client_address(request),
        lock_timeout=context(request).settings.lock_timeout,
    )
    db.commit()
    return _out(created)


@router.post(
    "/{name}/disable",
    summary="Stop a user signing in (by password or token) at once",
    responses=CHANGES,
)
def disable_user(name: Name, request: Request, user: User, db: Db) -> UserOut:
    service.authorize_management(db, user, name)
    record = service.disable_user(db, name, actor=user.username, client=client_address(request))
    db.commit()
    return _out(record)


@router.post(
    "/{name}/enable",
    summary="Let a disabled or locked-out user sign in again",
    responses=CHANGES,
)
def enable_user(name: Name, request: Request, user: User, db: Db) -> UserOut:
    service.authorize_management(db, user, name)
    record = service.enable_user(db, name, actor=user.username, client=client_address(request))
    db.commit()
    return _out(record)


@router.put(
    "/{name}/role",
    summary="Give a user another role",
    dependencies=BODY,
    responses=CHANGES,
)
def set_role(name: Name, body: RoleIn, request: Request, user: User, db: Db) -> UserOut:
    service.authorize_management(db, user, name)
    record = service.set_role(
        db, name, body.role, actor=user.username, client=client_address(request)
    )
    db.commit()
    return _out(record)


@router.post(
    "/{name}/scopes",
    summary="Add org units to a user's scopes",
    dependencies=BODY,
    responses=CHANGES,
)
def grant_scopes(name: Name, body: ScopesIn, request: Request, user: User, db: Db) -> UserOut:
    service.authorize_management(db, user, name, body.scopes)
    record = service.grant_scope(
        db, name, body.scopes, actor=user.username, client=client_address(request)
    )
    db.commit()
    return _out(record)


@router.delete(
    "/{name}/scopes/{code}",
    summary="Remove an org unit from a user's scopes",
    responses=CHANGES,
)
def revoke_scope(
    name: Name,
    code: Annotated[str, Path(min_length=1, max_length=100), AfterValidator(_text)],
    request: Request,
    user: User,
    db: Db,
) -> UserOut:
    service.authorize_management(db, user, name, [code])
    record = service.revoke_scope(
        db, name, [code], actor=user.username, client=client_address(request)
    )
    db.commit()
    return _out(record)


@router.post(
    "/{name}/password",
    summary="Set a user's password (an administrator's reset); clears a lock-out",
    status_code=204,
    dependencies=BODY,
    responses=CHANGES,
)
def reset_password(name: Name, body: PasswordIn, request: Request, user: User, db: Db) -> Response:
    service.authorize_management(db, user, name)
    service.set_password(
        db,
        name,
        body.password,
        actor=user.username,
        client=client_address(request),
        detail="reset by an administrator over the API",
    )
    db.commit()
    return Response(status_code=204)
