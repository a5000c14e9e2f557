"""The event table: what happened where and when, as an epidemiologist records it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sitroom.db import Base, BigId, UTCDateTime

#: The kinds of event, each changing how the curves should be read.
EVENT_KINDS = ("intervention", "case_definition", "reporting", "other")


class Event(Base):
    """A dated event of an org unit (it applies to the units below it too).

    An intervention (a lockdown, the army sent to the pharmacies), a change of
    the case definition, a change in reporting, or anything else the curves
    should be read against. Rows are only inserted.
    """

    __tablename__ = "event"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('intervention', 'case_definition', 'reporting', 'other')", name="kind"
        ),
        CheckConstraint("day >= '1900-01-01' AND day < '2200-01-01'", name="day_in_range"),
        Index("ix_event_org_unit_day", "org_unit_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_unit.id"))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(
        String(100), ForeignKey("app_user.username"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
