"""Finding a user and building their principal (shared by the user and token services)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth.models import UserScope
from sitroom.auth.permissions import Principal
from sitroom.errors import NotFoundError
from sitroom.places.models import OrgUnit
from sitroom.users.models import AppUser


def user_named(session: Session, username: str) -> AppUser:
    """The user of that name; NotFoundError if there is none."""
    user = session.scalar(select(AppUser).where(AppUser.username == username))
    if user is None:
        raise NotFoundError(f"unknown user {username!r}")
    return user


def scopes_of(session: Session, user_id: int) -> list[tuple[str, str]]:
    """The (path, code) of each org unit the user is scoped to, top first."""
    rows = session.execute(
        select(OrgUnit.path, OrgUnit.code)
        .join(UserScope, UserScope.org_unit_id == OrgUnit.id)
        .where(UserScope.user_id == user_id)
        .order_by(OrgUnit.path)
    ).all()
    return [(path, code) for path, code in rows]


def principal_of(session: Session, user: AppUser) -> Principal:
    """``user`` as the permission checks see them: name, role, scopes."""
    scopes = scopes_of(session, user.id)
    return Principal(
        user.username,
        user.role,
        tuple(path for path, _ in scopes),
        tuple(code for _, code in scopes),
    )
