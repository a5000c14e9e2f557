"""The user table: who acts, with what role, and how they sign in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from sitroom.db import Base, BigId, UTCDateTime

#: The roles of ``sitroom.auth.permissions.ROLES``, written out for the schema's
#: check (a test keeps them equal; the models import nothing from ``auth``).
ROLE_CHECK = (
    "role IS NULL OR role IN ('admin', 'epidemiologist', 'reporter', 'logistician',"
    " 'pharmacist', 'coordinator', 'viewer')"
)


class AppUser(Base):
    """Someone who acts: a reporter, an epidemiologist, the command line's ``--user``.

    ``username`` is what the audit trail and the import records name (foreign
    keys), so every name there is a registered user. Users registered by the
    command line's ``--user`` have no role and no password: they cannot sign
    in until an administrator gives them both (``sitroom user``).
    """

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint(ROLE_CHECK, name="role"),
        CheckConstraint("failed_logins >= 0", name="failed_logins_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    role: Mapped[str | None] = mapped_column(String(32))
    #: The argon2id hash (``$argon2id$...``); None: no password, no sign-in.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Consecutive failed sign-ins; reset by a success or a new password.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
