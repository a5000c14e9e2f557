"""The tables of publication: editions, their files, and the schedule's daily claims."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sitroom.db import Base, BigId, UTCDateTime

#: Where a publication came from (``edition.channel``); the migration's check lists them.
CHANNELS = ("cli", "web", "api", "schedule")
CHANNEL_CHECK = "channel IN (" + ", ".join(f"'{c}'" for c in CHANNELS) + ")"
#: The formats stored with every edition; the migration's check lists them.
FILE_FORMATS = ("html", "pdf", "md", "json")
FORMAT_CHECK = "format IN (" + ", ".join(f"'{f}'" for f in FILE_FORMATS) + ")"


class Edition(Base):
    """One published situation report: a period's edition ``number`` (1, 2, ...).

    Rows are only inserted (a trigger refuses UPDATE and DELETE). ``values_sha256``
    is the digest of the values the report was built from (``publication.values``);
    ``figures`` the headline and regional figures as JSON, which the next
    edition of the period is compared with; ``changes`` that comparison (JSON
    list) and ``summary`` it in one sentence.
    """

    __tablename__ = "edition"
    __table_args__ = (
        UniqueConstraint("period", "number"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint(CHANNEL_CHECK, name="channel"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    period: Mapped[date] = mapped_column(Date)
    period_label: Mapped[str] = mapped_column(String(16))
    number: Mapped[int] = mapped_column(Integer)
    values_sha256: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    built_by: Mapped[str] = mapped_column(String(100), ForeignKey("app_user.username"), index=True)
    channel: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(Text)
    changes: Mapped[str] = mapped_column(Text)
    figures: Mapped[str] = mapped_column(Text)


class EditionFile(Base):
    """One format of an edition, stored whole in the database so that every server has it.

    Append-only like its edition. ``sha256`` is the digest of ``content``.
    """

    __tablename__ = "edition_file"
    __table_args__ = (
        UniqueConstraint("edition_id", "format"),
        CheckConstraint(FORMAT_CHECK, name="format"),
        CheckConstraint("size >= 0", name="size_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("edition.id"), index=True)
    format: Mapped[str] = mapped_column(String(8))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)


class PublicationClaim(Base):
    """The schedule's claim on a day: inserted before the report is built, unique per day.

    Several workers or servers wake at the same hour; the one whose insert
    succeeds publishes, the others find the row and skip. ``outcome`` says
    what came of it (the edition, "unchanged", or why it failed).
    """

    __tablename__ = "publication_claim"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The local date of the scheduled run (one claim, hence one edition, a day).
    day: Mapped[date] = mapped_column(Date, unique=True)
    period: Mapped[date] = mapped_column(Date)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Which process claimed it: host and process id.
    claimed_by: Mapped[str] = mapped_column(String(200))
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("edition.id"), index=True)
    outcome: Mapped[str | None] = mapped_column(Text)
