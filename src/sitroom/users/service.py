"""Registering the users that act."""

from __future__ import annotations

from sqlalchemy.orm import Session

from sitroom.db import utcnow
from sitroom.users.models import AppUser


def ensure_user(session: Session, username: str) -> None:
    """Register ``username`` unless it is known; safe when two processes do it at once.

    The command line's ``--user`` is registered on its first write; the server
    will create users explicitly, with roles and scopes.
    """
    connection = session.connection()
    values = {"username": username, "created_at": utcnow()}
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(AppUser).values(values).on_conflict_do_nothing())
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(AppUser).values(values).on_conflict_do_nothing())
