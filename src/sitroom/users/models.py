"""The user table (roles and regional scopes come with the server)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from sitroom.db import Base, BigId, UTCDateTime


class AppUser(Base):
    """Someone who acts: a reporter, an epidemiologist, the command line's ``--user``.

    ``username`` is what the audit trail and the import records name (foreign
    keys), so every name there is a registered user.
    """

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
