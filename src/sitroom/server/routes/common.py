"""What the read routes share: query types that refuse bad input by field, org-unit look-ups."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from sitroom.auth import access
from sitroom.auth.permissions import Principal
from sitroom.context import AppContext
from sitroom.places.models import OrgUnit


def _period(text: str) -> str:
    """A period as sitroom writes it; the parser's sentence as the field's error."""
    from sitroom.surveillance.periods import parse_period

    if "\x00" in text:
        raise ValueError("contains a NUL character")
    try:
        parse_period(text)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    return text


def no_nul(text: str) -> str:
    """PostgreSQL text cannot hold NUL: refused as invalid input (422), not a 500."""
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    return text


#: A period in a query: a day (2022-05-15), an ISO week (2022W20) or a month (202205).
Period = Annotated[
    str,
    Field(
        min_length=4,
        max_length=16,
        description="A day (2022-05-15), an ISO week (2022W20) or a month (202205)",
    ),
    AfterValidator(_period),
]
#: An org unit or data element named in a query or path.
Code = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(no_nul)]


def first_day(text: str | None) -> date | None:
    """The first day of a checked :data:`Period`."""
    from sitroom.surveillance.periods import period_bounds

    return period_bounds(text) if text else None


def final_day(text: str | None) -> date | None:
    """The last day of a checked :data:`Period` (the end of a range)."""
    from sitroom.surveillance.periods import period_bounds

    return period_bounds(text, last=True) if text else None


def resolve_unit(db: Session, context: AppContext, label: str | None) -> OrgUnit:
    """The org unit named by code, name or alias (the country if None); NotFoundError if none."""
    return access.resolve_unit(db, context.country, label)


def authorized_unit(
    db: Session, context: AppContext, user: Principal, permission: str, label: str | None
) -> OrgUnit:
    """The org unit named (the country by default), once ``user`` may use ``permission`` on it."""
    return access.authorized_unit(db, context.country, user, permission, label)


def unit_paths(db: Session) -> dict[str, str]:
    """Every org unit's materialised path, by code."""
    return dict(db.execute(select(OrgUnit.code, OrgUnit.path)).all())


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None: JSON has neither."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
