"""Look-ups and checks the supply services share.

A facility by its code or id with its org unit's materialised path (what the
permission checks read), the region of a path, and the check of a free text
(names, notes, findings) before it is stored. Kept apart from
:mod:`sitroom.supply.records`, whose plain records the pure simulation and
detection read without a database.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.errors import NotFoundError, SitroomError
from sitroom.places.models import OrgUnit
from sitroom.supply.models import Facility


def _with_path(session: Session, where: Any) -> tuple[Facility, str] | None:
    found = session.execute(
        select(Facility, OrgUnit.path)
        .join(OrgUnit, OrgUnit.id == Facility.org_unit_id)
        .where(where)
    ).first()
    return None if found is None else (found[0], found[1])


def find_facility(
    session: Session, code: str, what: str = "facility", *, role: str | None = None
) -> tuple[Facility, str]:
    """The facility ``code`` and its org unit's path.

    NotFoundError "unknown <what> 'code'" when there is none, followed by
    " (<role>)" when given: the part the facility plays in the request.
    """
    found = _with_path(session, Facility.code == code)
    if found is None:
        raise NotFoundError(f"unknown {what} {code!r}" + (f" ({role})" if role else ""))
    return found


def facility_by_id(session: Session, facility_id: int) -> tuple[Facility, str]:
    """The facility of ``facility_id`` (which must exist) and its org unit's path."""
    found = _with_path(session, Facility.id == facility_id)
    if found is None:
        raise NotFoundError(f"no facility {facility_id}")
    return found


def region_of(path: str) -> str:
    """The region (level 2) of an org unit's path; the country for the country itself."""
    parts = [p for p in path.split("/") if p]
    return parts[1] if len(parts) > 1 else (parts[0] if parts else "")


def clean_text(value: str, what: str, *, most: int, required: bool = True) -> str:
    """``value`` stripped; SitroomError naming ``what`` when it is empty (and
    ``required``), longer than ``most`` characters or holds a NUL character."""
    value = value.strip()
    if required and not value:
        raise SitroomError(f"{what} is empty")
    if len(value) > most:
        raise SitroomError(f"{what} has {len(value):,} characters, more than {most:,}")
    if "\x00" in value:
        raise SitroomError(f"{what} contains a NUL character")
    return value


__all__ = ["clean_text", "facility_by_id", "find_facility", "region_of"]
