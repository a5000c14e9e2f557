"""Surveillance data: who am I, org units, data elements, data values.

Each route checks the signed-in user's role and scope (``sitroom.auth``) and
then calls the same services as the command line.
"""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from sitroom.auth.permissions import Principal, authorize, refusal
from sitroom.counts import MAX_COUNT
from sitroom.places.models import OrgUnit
from sitroom.server.conditional import NOT_MODIFIED, ConditionalGet, entity_tags, idempotent
from sitroom.server.deps import Db, User, client_address, context, json_body
from sitroom.server.problems import SIGNED_IN, WRITES, Problem, responses
from sitroom.surveillance import single
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
    response_model=list[OrgUnitOut],
    responses={**responses(*SIGNED_IN), **NOT_MODIFIED},
)
def org_units(user: User, db: Db, check: ConditionalGet) -> Response:
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
    return check.respond(out)


class DataElementOut(BaseModel):
    code: str
    uid: str
    name: str
    kind: str
    unit: str
    description: str | None


@router.get(
    "/dataElements",
    summary="The data elements",
    response_model=list[DataElementOut],
    responses={**responses(*SIGNED_IN), **NOT_MODIFIED},
)
def data_elements(user: User, db: Db, check: ConditionalGet) -> Response:
    authorize(user, "data.read", None)
    return check.respond(
        [
            DataElementOut(
                code=e.code,
                uid=e.uid,
                name=e.name,
                kind=e.kind,
                unit=e.unit,
                description=e.description,
            )
            for e in db.scalars(select(DataElement).order_by(DataElement.code))
        ]
    )


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
    response_model=DataValuePage,
    responses={**responses(*SIGNED_IN, 404), **NOT_MODIFIED},
)
def data_values(
    *,
    user: User,
    db: Db,
    check: ConditionalGet,
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
) -> Response:
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
    page = DataValuePage(
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
    return check.respond(page)


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
@idempotent
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


# One value, with its ETag: read, compare-and-set, delete ------------------------

VALUE_PATH = "/dataValues/{dataElement}/{orgUnit}/{period}"


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refused as invalid input (422), not a 500."""
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


NoNul = AfterValidator(_no_nul)
ElementCode = Annotated[str, NoNul, Path(alias="dataElement", min_length=1, max_length=64)]
UnitCode = Annotated[str, NoNul, Path(alias="orgUnit", min_length=1, max_length=64)]
PeriodText = Annotated[
    str,
    NoNul,
    Path(
        min_length=4,
        max_length=16,
        description="2022-05-15 (a day); 2022W20 or 202205 for weekly or monthly elements",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag of the value you read: required to change or delete a stored value",
    ),
]
IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", description="`*`: create only, refused if a value exists"),
]


class ValueOut(BaseModel):
    """One stored value and its version (the ETag, without quotes)."""

    element: str
    org_unit: str
    period: str
    value: int
    comment: str | None
    stored_by: str
    changed_by: str
    received_at: str
    updated_at: str
    late: bool
    import_id: int | None
    etag: str = Field(description="The value's version, as sent in the ETag header (quoted)")


class ValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: int = Field(ge=0, le=MAX_COUNT, description="A whole count")
    comment: Annotated[str, NoNul] | None = Field(
        default=None,
        max_length=single.MAX_COMMENT_CHARS,
        description="Replaces the stored comment; left out, the stored one is kept",
    )


class ValueWritten(BaseModel):
    action: str = Field(description="created, updated, unchanged or deleted")
    import_id: int = Field(description="The import run that recorded the write (the audit's)")
    value: ValueOut | None = Field(description="The value now stored; null after a deletion")


def _value_out(found: single.StoredValue) -> ValueOut:
    return ValueOut(
        element=found.element,
        org_unit=found.org_unit,
        period=found.period,
        value=found.value,
        comment=found.comment,
        stored_by=found.stored_by,
        changed_by=found.changed_by,
        received_at=found.received_at.isoformat(),
        updated_at=found.updated_at.isoformat(),
        late=found.late,
        import_id=found.import_id,
        etag=found.version,
    )


def _etag(found: single.StoredValue) -> str:
    return f'"{found.version}"'


@router.get(
    VALUE_PATH,
    summary="One stored value, with its ETag",
    response_model=ValueOut,
    responses={
        **responses(*SIGNED_IN, 404, meaning={404: "No such element or org unit, or no value"}),
        **NOT_MODIFIED,
    },
)
def get_value(
    *,
    element: ElementCode,
    org_unit: UnitCode,
    period: PeriodText,
    user: User,
    db: Db,
    check: ConditionalGet,
) -> Response:
    found = single.read_value(db, element, org_unit, period, principal=user)
    return check.answer(JSONResponse(_value_out(found).model_dump()), found.version)


_WRITE_RESPONSES = responses(
    *WRITES,
    404,
    409,
    412,
    428,
    meaning={
        404: "No such element or org unit (or, to delete, no stored value)",
        409: "The value was refused (an approved period, a period not begun) or the"
        " Idempotency-Key's request is in progress",
        412: "If-Match or If-None-Match does not hold: the stored state is in `current`",
        428: "The value exists: send If-Match with its ETag (or If-None-Match: *)",
    },
)


def _expect(if_match: str | None, if_none_match: str | None) -> single.Expect:
    absent = entity_tags(if_none_match) or ()
    return single.Expect(
        versions=entity_tags(if_match, strong=True),
        absent="*" in absent,
        not_versions=tuple(t for t in absent if t != "*"),
    )


def _write(
    request: Request,
    user: Principal,
    db: Db,
    *,
    where: tuple[str, str, str],
    value: int | None,
    comment: str | None,
    expect: single.Expect,
) -> Response:
    ctx = context(request)
    try:
        element, org_unit, period = where
        done = single.write_value(
            db,
            ctx.country,
            element=element,
            org_unit=org_unit,
            period=period,
            value=value,
            comment=comment,
            expect=expect,
            user=user.username,
            principal=user,
            lock_timeout=ctx.settings.lock_timeout,
            channel="api",
            client=client_address(request),
        )
    except single.PreconditionFailed as exc:
        current = _value_out(exc.current).model_dump() if exc.current else None
        raise Problem(
            412,
            str(exc),
            headers={"ETag": _etag(exc.current)} if exc.current else None,
            errors=[{"field": exc.header, "message": "does not match the stored value"}],
            current=current,
        ) from None
    except single.PreconditionRequired as exc:
        raise Problem(
            428,
            str(exc),
            errors=[{"field": "If-Match", "message": "required to change a stored value"}],
        ) from None
    body = ValueWritten(
        action=done.action,
        import_id=done.import_id,
        value=_value_out(done.value) if done.value else None,
    )
    headers = {"ETag": _etag(done.value)} if done.value else None
    status = 201 if done.action == "created" else 200
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


@router.put(
    VALUE_PATH,
    summary="Set one value, if it is still the version you read (If-Match)",
    response_model=ValueWritten,
    dependencies=[Depends(json_body)],
    responses={
        **_WRITE_RESPONSES,
        201: {"model": ValueWritten, "description": "Created (there was no value)"},
    },
)
def put_value(
    *,
    element: ElementCode,
    org_unit: UnitCode,
    period: PeriodText,
    body: ValueIn,
    request: Request,
    user: User,
    db: Db,
    if_match: IfMatch = None,
    if_none_match: IfNoneMatch = None,
) -> Response:
    expect = _expect(if_match, if_none_match)
    where = (element, org_unit, period)
    return _write(
        request, user, db, where=where, value=body.value, comment=body.comment, expect=expect
    )


@router.delete(
    VALUE_PATH,
    summary="Delete one value, if it is still the version you read (If-Match)",
    response_model=ValueWritten,
    responses=_WRITE_RESPONSES,
)
def delete_value(
    *,
    element: ElementCode,
    org_unit: UnitCode,
    period: PeriodText,
    request: Request,
    user: User,
    db: Db,
    if_match: IfMatch = None,
) -> Response:
    expect = _expect(if_match, None)
    where = (element, org_unit, period)
    return _write(request, user, db, where=where, value=None, comment=None, expect=expect)
