"""Org units one at a time and their children, and the reporting periods with their windows.

The same visibility as ``GET /orgUnits``: a unit inside the user's scopes is
shown whole; an ancestor of a scope is shown to place the tree, without its
population; any other unit is refused (403).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import select

from sitroom.auth.permissions import Principal, authorize
from sitroom.errors import ForbiddenError, NotFoundError
from sitroom.places.models import OrgUnit
from sitroom.server.deps import Db, User, context
from sitroom.server.problems import SIGNED_IN, responses
from sitroom.server.routes.common import Period, final_day, first_day, no_nul
from sitroom.server.routes.data import OrgUnitOut

router = APIRouter(tags=["surveillance"])

UNKNOWN_UNIT = {404: "No org unit has this code"}


def _visible(user: Principal, unit: OrgUnit) -> bool:
    """Inside a scope, or an ancestor of one (shown to place the tree)."""
    return user.covers(unit.path) or any(p.startswith(unit.path) for p in user.scope_paths)


def _out(db: Db, user: Principal, unit: OrgUnit) -> OrgUnitOut:
    inside = user.covers(unit.path)
    parent = db.get(OrgUnit, unit.parent_id) if unit.parent_id is not None else None
    return OrgUnitOut(
        code=unit.code,
        uid=unit.uid,
        name=unit.name,
        name_local=unit.name_local,
        level=unit.level,
        parent=parent.code if parent else None,
        population=unit.population if inside else None,
        path=unit.path,
        in_scope=inside,
    )


def _visible_unit(db: Db, user: Principal, code: str) -> OrgUnit:
    authorize(user, "data.read", None)
    unit = db.scalar(select(OrgUnit).where(OrgUnit.code == code))
    if unit is None:
        raise NotFoundError(f"unknown org unit {code!r}")
    if not _visible(user, unit):
        scopes = ", ".join(user.scope_codes) or "none"
        raise ForbiddenError(
            f"user {user.username!r} may not use data.read on org unit {unit.code}:"
            f" outside their scopes ({scopes})"
        )
    return unit


CodePath = Annotated[
    str, Path(min_length=1, max_length=100, description="Org-unit code"), AfterValidator(no_nul)
]


@router.get(
    "/orgUnits/{code}",
    summary="One org unit, with its population when it lies in your scope",
    responses=responses(*SIGNED_IN, 404, meaning=UNKNOWN_UNIT),
)
def org_unit(code: CodePath, user: User, db: Db) -> OrgUnitOut:
    return _out(db, user, _visible_unit(db, user, code))


@router.get(
    "/orgUnits/{code}/children",
    summary="The children of an org unit that you may see",
    responses=responses(*SIGNED_IN, 404, meaning=UNKNOWN_UNIT),
)
def org_unit_children(code: CodePath, user: User, db: Db) -> list[OrgUnitOut]:
    unit = _visible_unit(db, user, code)
    children = db.scalars(
        select(OrgUnit).where(OrgUnit.parent_id == unit.id).order_by(OrgUnit.code)
    ).all()
    return [_out(db, user, child) for child in children if _visible(user, child)]


class PeriodOut(BaseModel):
    period: str = Field(description="As sitroom writes it: 2022-05-15, 2022W20, 202205")
    period_type: Literal["daily", "weekly", "monthly"]
    first_day: date
    last_day: date
    window_start: datetime = Field(description="Opens (inclusive), in the country's time zone")
    window_end: datetime = Field(description="Closes at the cut-off (exclusive), local time")
    deadline: datetime = Field(description="On time until: the cut-off plus the grace, local")


class PeriodsOut(BaseModel):
    time_zone: str = Field(description="The IANA zone of the reporting window")
    cutoff: str = Field(description="Local time at which a day closes (HH:MM)")
    grace_minutes: int
    periods: list[PeriodOut]


@router.get(
    "/periods",
    summary="Reporting periods with their windows and deadlines in the country's time zone",
    responses=responses(*SIGNED_IN),
)
def periods(
    *,
    request: Request,
    user: User,
    db: Db,
    period_type: Annotated[
        Literal["daily", "weekly", "monthly"] | None,
        Query(alias="periodType", description="Default: the cases' data set's"),
    ] = None,
    start: Annotated[
        Period | None, Query(alias="startDate", description="Default: the first stored period")
    ] = None,
    end: Annotated[
        Period | None, Query(alias="endDate", description="Default: the last stored period")
    ] = None,
) -> PeriodsOut:
    from sitroom.surveillance.service import reporting_periods

    authorize(user, "data.read", None)
    country = context(request).country
    found = reporting_periods(
        db, country, period_type=period_type, start=first_day(start), end=final_day(end)
    )
    reporting = country.reporting
    hours, minutes = divmod(reporting.cutoff_minutes, 60)
    return PeriodsOut(
        time_zone=reporting.time_zone,
        cutoff=f"{hours:02d}:{minutes:02d}",
        grace_minutes=reporting.grace_minutes,
        periods=[PeriodOut.model_validate(p.to_dict()) for p in found],
    )
