"""Surveillance data: who am I, org units, data elements, data values.

Each route checks the signed-in user's role and scope (``sitroom.auth``) and
then calls the same services as the command line.
"""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from sitroom.auth.permissions import Principal, authorize, refusal
from sitroom.places.models import OrgUnit
from sitroom.server.deps import Db, User, client_address, context, json_body
from sitroom.server.problems import SIGNED_IN, WRITES, Problem, responses
from sitroom.surveillance.models import DataElement, DataValue

router = APIRouter(tags=["surveillance"])

MAX_PAGE = 10_000
#: Past this the databases' 64-bit OFFSET overflows (2**63 was a 500); no store holds as many.
MAX_OFFSET = 2**53


class Me(BaseModel):
    username: str
    role: str | None
    scopes: list[str] = Field(description="Org-unit codes of the subtrees the user may see")
    permissions: list[str]


@router.get("/me", summary="The signed-in user", responses=responses(*SIGNED_IN))
def me(user: User) -> Me:
    return Me(
        username=user.username,
        role=user.role or "",
        scopes=list(user.scope_codes),
        permissions=sorted(user.permissions),
    )


class OrgUnitOut(BaseModel):
    code: str
    uid: str
    name: str
    name_local: str | None
    level: int
    parent: str | None
    population: int | None
    path: str
    in_scope: bool = Field(description="False for an ancestor shown only to place the tree")


@router.get(
    "/orgUnits",
    summary="Org units the user may see, with their ancestors",
    responses=responses(*SIGNED_IN),
)
def org_units(user: User, db: Db) -> list[OrgUnitOut]:
    authorize(user, "data.read", None)
    units = list(db.scalars(select(OrgUnit).order_by(OrgUnit.path)))
    by_id = {u.id: u for u in units}
    out = []
    for unit in units:
        inside = user.covers(unit.path)
        ancestor = any(p.startswith(unit.path) for p in user.scope_paths)
        if not (inside or ancestor):
            continue
        parent = by_id.get(unit.parent_id) if unit.parent_id is not None else None
        out.append(
            OrgUnitOut(
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
        )
    return out


class DataElementOut(BaseModel):
    code: str
    uid: str
    name: str
    kind: str
    unit: str
    description: str | None


@router.get("/dataElements", summary="The data elements", responses=responses(*SIGNED_IN))
def data_elements(user: User, db: Db) -> list[DataElementOut]:
    authorize(user, "data.read", None)
    return [
        DataElementOut(
            code=e.code, uid=e.uid, name=e.name, kind=e.kind, unit=e.unit, description=e.description
        )
        for e in db.scalars(select(DataElement).order_by(DataElement.code))
    ]


class DataValueOut(BaseModel):
    org_unit: str
    element: str
    period: date
    value: int
    received_at: str
    late: bool
    stored_by: str
    comment: str | None


class DataValuePage(BaseModel):
    total: int
    offset: int
    limit: int
    values: list[DataValueOut]


def _unit(db: Db, code: str) -> OrgUnit:
    unit = db.scalar(select(OrgUnit).where(OrgUnit.code == code))
    if unit is None:
        raise Problem(404, f"unknown org unit {code!r}")
    return unit


@router.get(
    "/dataValues",
    summary="Stored values, filtered and paged",
    responses=responses(*SIGNED_IN, 404),
)
def data_values(
    *,
    user: User,
    db: Db,
    org_unit: Annotated[
        str | None,
        Query(alias="orgUnit", max_length=64, description="Org-unit code (default: your scope)"),
    ] = None,
    children: Annotated[bool, Query(description="Include the unit's whole subtree")] = False,
    element: Annotated[str | None, Query(max_length=64)] = None,
    start: Annotated[date | None, Query(alias="startDate")] = None,
    end: Annotated[date | None, Query(alias="endDate")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
) -> DataValuePage:
    query = (
        select(DataValue, OrgUnit.code, DataElement.code)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .join(DataElement, DataElement.id == DataValue.element_id)
    )
    if org_unit is not None:
        unit = _unit(db, org_unit)
        authorize(user, "data.read", unit.path)
        query = (
            query.where(OrgUnit.path.startswith(unit.path, autoescape=True))
            if children
            else query.where(OrgUnit.id == unit.id)
        )
    else:
        authorize(user, "data.read", None)
        query = query.where(_within(user))
    if element is not None:
        query = query.where(DataElement.code == element)
    if start is not None:
        query = query.where(DataValue.period >= start)
    if end is not None:
        query = query.where(DataValue.period <= end)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.execute(
        query.order_by(DataValue.period, OrgUnit.path, DataElement.code).offset(offset).limit(limit)
    )
    return DataValuePage(
        total=total,
        offset=offset,
        limit=limit,
        values=[
            DataValueOut(
                org_unit=unit_code,
                element=element_code,
                period=value.period,
                value=value.value,
                received_at=value.received_at.isoformat(),
                late=value.late,
                stored_by=value.stored_by,
                comment=value.comment,
            )
            for value, unit_code, element_code in rows
        ],
    )


def _within(user: Principal) -> Any:
    from sqlalchemy import false, or_

    if not user.scope_paths:
        return false()
    return or_(*(OrgUnit.path.startswith(p, autoescape=True) for p in user.scope_paths))


class DataValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_unit: str = Field(alias="orgUnit", min_length=1, max_length=64)
    element: str = Field(alias="dataElement", min_length=1, max_length=64)
    period: str = Field(min_length=4, max_length=16, description="2022-05-15, 2022W20, 202205")
    value: str = Field(max_length=32, description="A whole count; empty deletes the value")
    comment: str | None = Field(default=None, max_length=2000)


class DataValueBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_values: list[DataValueIn] = Field(alias="dataValues", max_length=100_000)
    dry_run: bool = Field(default=False, alias="dryRun")


class Rejected(BaseModel):
    index: int | None
    field: str | None
    reason: str


class ImportResult(BaseModel):
    committed: bool
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    deleted: int
    rejected: int
    rejections: list[Rejected]
    import_id: int | None


@router.post(
    "/dataValues",
    summary="Write a batch of values: all of them, or none",
    dependencies=[Depends(json_body)],
    responses=responses(
        *WRITES,
        409,
        meaning={409: "Some values were refused and nothing was written: see `rejections`"},
    ),
)
def post_data_values(batch: DataValueBatch, request: Request, user: User, db: Db) -> Any:
    authorize(user, "data.write", None)
    from sitroom.surveillance.imports import Importer

    ctx = context(request)
    # One value a line, so that the importer's line numbers give each value's index.
    lines = [
        json.dumps(
            {
                "dataElement": v.element,
                "period": v.period,
                "orgUnit": v.org_unit,
                "value": v.value,
                **({"comment": v.comment} if v.comment is not None else {}),
            },
            ensure_ascii=False,
        )
        for v in batch.data_values
    ]
    body = ('{"dataValues": [\n' + ",\n".join(lines) + "\n]}").encode()
    importer = Importer(
        db,
        ctx.country,
        user=user.username,
        lock_timeout=ctx.settings.lock_timeout,
        authorize_unit=scope_check(user, "data.write"),
        channel="api",
        client=client_address(request),
    )
    summary = importer.run(
        io.BytesIO(body),
        name=f"API request from {client_address(request) or 'unknown'}",
        fmt="dhis2-json",
        dry_run=batch.dry_run,
    )
    result = ImportResult(
        committed=summary.committed,
        dry_run=summary.dry_run,
        created=summary.created,
        updated=summary.updated,
        unchanged=summary.unchanged,
        deleted=summary.deleted,
        rejected=summary.rejected,
        rejections=[
            Rejected(index=_index(r.line), field=r.field, reason=r.reason)
            for r in summary.rejections
        ],
        import_id=summary.import_id,
    )
    if summary.rejected:
        first = result.rejections[0] if result.rejections else None
        where = "" if first is None or first.index is None else f"value {first.index}: "
        raise Problem(
            409,
            f"{summary.rejected} of {len(batch.data_values)} values were refused;"
            " nothing was written"
            + (f" (first: {where}{first.field or 'value'}: {first.reason})" if first else ""),
            **result.model_dump(),
        )
    return result


def _index(line: int | None) -> int | None:
    """Value i of the request is on line i + 2 of the body given to the importer."""
    return None if line is None or line < 2 else line - 2


def scope_check(user: Principal, permission: str) -> Any:
    """The importer's per-unit check for ``user``: a sentence when refused."""
    return lambda unit: refusal(user, permission, unit.path)
