"""Org units: the hierarchy that reports (country > region > district > facility)."""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sitroom.db import Base, generate_uid

#: Levels of the hierarchy, top first. A country configuration names its own
#: kinds (province, kun, ...); the level number is what the code relies on.
LEVELS = {1: "country", 2: "region", 3: "district", 4: "facility"}


class OrgUnit(Base):
    __tablename__ = "org_unit"
    __table_args__ = (CheckConstraint("level BETWEEN 1 AND 4", name="level"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    #: DHIS2-style identifier, generated once (see ``db.generate_uid``).
    uid: Mapped[str] = mapped_column(String(11), unique=True, default=generate_uid)
    name: Mapped[str] = mapped_column(String(200))
    name_local: Mapped[str | None] = mapped_column(String(200))
    level: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    population: Mapped[int | None] = mapped_column(BigInteger)
    population_year: Mapped[int | None] = mapped_column(SmallInteger)
    source: Mapped[str | None] = mapped_column(Text)
    #: Codes from the root down, "/KP/KP-04/KP-04-KANGGYE/": a subtree is one
    #: indexed prefix query (regional scopes will ask it on every request).
    path: Mapped[str] = mapped_column(String(1000), index=True)

    def __repr__(self) -> str:
        return f"OrgUnit({self.code!r}, {self.name!r}, level={self.level})"
