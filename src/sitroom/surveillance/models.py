"""Tables of aggregate surveillance: data elements, values, their audit, imports."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from sitroom.db import Base, BigId, UTCDateTime, generate_uid

#: The foreign key of every "who acted" column: a registered user.
_USER = "app_user.username"


class DataSet(Base):
    """Elements reported together at one frequency (DHIS2's data set)."""

    __tablename__ = "data_set"
    __table_args__ = (
        CheckConstraint("period_type IN ('daily', 'weekly', 'monthly')", name="period_type"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    uid: Mapped[str] = mapped_column(String(11), unique=True, default=generate_uid)
    name: Mapped[str] = mapped_column(String(200))
    period_type: Mapped[str] = mapped_column(String(16))


class DataElement(Base):
    """What is counted: a flow (counted in the period) or a stock (level at its end)."""

    __tablename__ = "data_element"
    __table_args__ = (CheckConstraint("kind IN ('flow', 'stock')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    #: DHIS2-style identifier, generated once (see ``db.generate_uid``).
    uid: Mapped[str] = mapped_column(String(11), unique=True, default=generate_uid)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # "flow" or "stock"
    unit: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    #: The data set the element is reported in (its period type); set by ``setup``.
    data_set_id: Mapped[int | None] = mapped_column(ForeignKey("data_set.id"), index=True)


#: Where a write came from: the REST or DHIS2 API, a web form, a command, a file import.
CHANNELS = ("api", "web", "cli", "file")
_CHANNELS_SQL = ", ".join(f"'{c}'" for c in CHANNELS)


class ImportRun(Base):
    """One committed import of one file (or one API request, or one web form).

    ``channel`` says through which door it came and ``client`` from where (the
    client's address for the server, absent on the command line).
    """

    __tablename__ = "import_run"
    __table_args__ = (CheckConstraint(f"channel IN ({_CHANNELS_SQL})", name="channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(32))
    user: Mapped[str] = mapped_column(String(100), ForeignKey(_USER), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    deleted: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(8), server_default="file", default="file")
    client: Mapped[str | None] = mapped_column(String(200))


class DataValue(Base):
    """The current value of (element, org unit, period).

    ``received_at`` and ``late`` describe the first receipt; ``updated_at``,
    ``source``, ``changed_by`` and ``stored_by`` the latest change. Earlier
    values live in :class:`DataValueAudit`.

    ``changed_by`` is who wrote the value: the authenticated actor (``--user``
    on the command line). ``stored_by`` is who the file says entered it (DHIS2's
    ``storedBy``), or the actor when the file says nothing: a claim, kept
    beside the fact.
    """

    __tablename__ = "data_value"
    __table_args__ = (
        UniqueConstraint("element_id", "org_unit_id", "period"),
        Index("ix_data_value_period_org_unit", "period", "org_unit_id"),
        CheckConstraint("value >= 0", name="value_not_negative"),
        CheckConstraint("period >= '1900-01-01' AND period < '2200-01-01'", name="period_in_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    element_id: Mapped[int] = mapped_column(ForeignKey("data_element.id"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    period: Mapped[date] = mapped_column(Date)
    value: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    late: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(500))
    stored_by: Mapped[str] = mapped_column(String(100))
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_run.id"), index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(100), ForeignKey(_USER), index=True)


class DataValueAudit(Base):
    """One change to a stored value: what it was, what it became, who and when.

    A row is written for every update and deletion; together with the current
    row it gives the whole history (the first value is ``old_value`` of the
    earliest audit row). Rows are only ever inserted.

    The ``old_*`` columns are the replaced state (its actor is ``old_changed_by``,
    unknown for rows written before migration 0002); ``new_value``,
    ``new_stored_by`` and ``new_comment`` what replaced it, by ``changed_by``.
    """

    __tablename__ = "data_value_audit"
    __table_args__ = (
        Index("ix_data_value_audit_key", "element_id", "org_unit_id", "period"),
        CheckConstraint("action IN ('update', 'delete')", name="action"),
        CheckConstraint(
            "old_value >= 0 AND (new_value IS NULL OR new_value >= 0)", name="values_not_negative"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    element_id: Mapped[int] = mapped_column(ForeignKey("data_element.id"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    period: Mapped[date] = mapped_column(Date)
    action: Mapped[str] = mapped_column(String(16))  # "update" or "delete"
    old_value: Mapped[int] = mapped_column(BigInteger)
    old_source: Mapped[str] = mapped_column(String(500))
    old_stored_by: Mapped[str] = mapped_column(String(100))
    old_set_at: Mapped[datetime] = mapped_column(UTCDateTime)
    new_value: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(500))
    changed_by: Mapped[str] = mapped_column(String(100), ForeignKey(_USER), index=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("import_run.id"), index=True)
    old_changed_by: Mapped[str | None] = mapped_column(String(100), ForeignKey(_USER), index=True)
    old_comment: Mapped[str | None] = mapped_column(Text)
    new_stored_by: Mapped[str | None] = mapped_column(String(100))
    new_comment: Mapped[str | None] = mapped_column(Text)


class Approval(Base):
    """A period approved for an org unit's subtree (DHIS2's data approval).

    While an approval is active (``revoked_at`` is null), the values of its
    period type and period in the unit and every unit below it refuse every
    change. Un-approving fills the ``revoked_`` columns, with a reason; rows are
    never deleted, so the table is the approvals' audit trail.
    """

    __tablename__ = "approval"
    __table_args__ = (
        CheckConstraint("period_type IN ('daily', 'weekly', 'monthly')", name="period_type"),
        CheckConstraint(
            "(revoked_at IS NULL AND revoked_by IS NULL AND revoke_reason IS NULL)"
            " OR (revoked_at IS NOT NULL AND revoked_by IS NOT NULL"
            " AND revoke_reason IS NOT NULL)",
            name="revoked_together",
        ),
        CheckConstraint(
            f"approved_via IN ({_CHANNELS_SQL})"
            f" AND (revoked_via IS NULL OR revoked_via IN ({_CHANNELS_SQL}))",
            name="via",
        ),
        Index(
            "ux_approval_active",
            "org_unit_id",
            "period_type",
            "period",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
        Index("ix_approval_period", "period"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"), index=True)
    period_type: Mapped[str] = mapped_column(String(16))
    period: Mapped[date] = mapped_column(Date)
    approved_by: Mapped[str] = mapped_column(String(100), ForeignKey(_USER), index=True)
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100), ForeignKey(_USER), index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    #: The channel (:data:`CHANNELS`) and client address of the approval and of its revocation.
    approved_via: Mapped[str] = mapped_column(String(8), server_default="cli", default="cli")
    approved_client: Mapped[str | None] = mapped_column(String(200))
    revoked_via: Mapped[str | None] = mapped_column(String(8))
    revoked_client: Mapped[str | None] = mapped_column(String(200))
