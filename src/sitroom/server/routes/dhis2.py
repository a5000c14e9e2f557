"""The DHIS2 Web API, for the tools countries already use with DHIS2.

``/api/dataValueSets`` (GET and POST, JSON and CSV), ``/api/system/info`` and
``/api/me``, on ``/api/...`` and on versioned paths (``/api/37/...``). From
2.37 on DHIS2 wraps an import summary in a web message, except on versioned
paths; sitroom answers the same way (DHIS2's Web API documentation was the
model). Identifiers are codes or uids
(``idScheme=CODE`` or ``UID``; sitroom's identifier is the code), and daily
periods are ``yyyyMMdd``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from sitroom import __version__
from sitroom.auth.permissions import authorize
from sitroom.server.conditional import idempotent
from sitroom.server.deps import Db, User, client_address, context
from sitroom.server.problems import PROBLEM, PROBLEM_SCHEMA, SIGNED_IN, WRITES, Problem, responses
from sitroom.server.routes.data import scope_check

router = APIRouter(tags=["dhis2"])

#: The DHIS2 version sitroom speaks (an import summary's shape depends on it).
DHIS2_VERSION = "2.40.0"

#: The path parameter of ``/api/{version}/...`` (DHIS2's versioned paths, e.g. 37).
VERSION_PARAMETER = {
    "name": "version",
    "in": "path",
    "required": True,
    "description": "A DHIS2 API version (e.g. 37): import summaries come unwrapped",
    "schema": {"type": "integer", "minimum": 0},
}
VERSIONED: dict[str, Any] = {
    "parameters": [VERSION_PARAMETER],
    "responses": responses(404, meaning={404: "No such path: the version is not a whole number"}),
}


class SystemInfo(BaseModel):
    version: str
    revision: str
    systemName: str
    serverDate: str


class Named(BaseModel):
    name: str


class Coded(BaseModel):
    code: str


class DhisMe(BaseModel):
    username: str
    userRoles: list[Named]
    organisationUnits: list[Coded]


class ImportCount(BaseModel):
    imported: int
    updated: int
    ignored: int
    deleted: int


class Conflict(BaseModel):
    object: str
    value: str
    errorCode: str


class ImportSummary(BaseModel):
    """DHIS2's import summary: the answer on versioned paths (``/api/37/...``)."""

    responseType: str
    status: str = Field(description="SUCCESS, or ERROR when nothing was written")
    importOptions: dict[str, Any]
    description: str
    importCount: ImportCount
    conflicts: list[Conflict]
    rejectedIndexes: list[int]


class WebMessage(BaseModel):
    """The import summary wrapped in a web message (DHIS2 2.37 and later, unversioned paths)."""

    httpStatus: str
    httpStatusCode: int
    status: str
    message: str
    response: ImportSummary


_VALUE_SCHEMA = {
    "type": "object",
    "required": ["dataElement", "period", "orgUnit"],
    "properties": {
        "dataElement": {"type": "string"},
        "period": {"type": "string", "description": "20220515, 2022-05-15, 2022W20, 202205"},
        "orgUnit": {"type": "string"},
        "value": {"type": ["string", "integer", "null"]},
        "storedBy": {"type": "string"},
        "lastUpdated": {"type": "string"},
        "comment": {"type": ["string", "null"]},
        "deleted": {"type": "boolean"},
    },
}
DATA_VALUE_SET_SCHEMA = {
    "type": "object",
    "properties": {
        "dataSet": {"type": "string"},
        "period": {"type": "string"},
        "orgUnit": {"type": "string"},
        "idScheme": {"type": "string"},
        "dataValues": {"type": "array", "items": _VALUE_SCHEMA},
    },
}
#: What GET /api/dataValueSets answers: JSON (a dataValueSet) or DHIS2's CSV.
VALUE_SET_CONTENT = {
    "application/json": {"schema": DATA_VALUE_SET_SCHEMA},
    "application/csv": {"schema": {"type": "string"}},
}
#: The body of POST /api/dataValueSets (OpenAPI only: the route reads it raw).
VALUE_SET_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DATA_VALUE_SET_SCHEMA},
            "application/csv": {
                "schema": {
                    "type": "string",
                    "description": "dataelement,period,orgunit,...,value,... (DHIS2's columns)",
                }
            },
        },
    }
}
_SUMMARY = WebMessage | ImportSummary
POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    **responses(*WRITES),
    200: {"model": _SUMMARY, "description": "Imported (or checked, on a dry run)"},
    409: {
        "model": _SUMMARY,
        "description": "Some values were refused and nothing was written (see conflicts and"
        " rejectedIndexes), or the request names an option sitroom does not support",
        "content": {PROBLEM: {"schema": PROBLEM_SCHEMA}},
    },
}
GET_RESPONSES: dict[int | str, dict[str, Any]] = {
    **responses(*SIGNED_IN, 409, meaning={409: "An unknown org unit, data set or period"}),
    200: {"description": "The values, as a dataValueSet or as CSV", "content": VALUE_SET_CONTENT},
}


async def request_body(request: Request) -> bytes:
    """The raw body (read in the event loop; the route then runs in a worker thread)."""
    return await request.body()


def _versioned(request: Request) -> bool:
    """``/api/37/...`` answers plain summaries; ``/api/...`` wraps them (DHIS2 >= 2.37)."""
    parts = request.url.path.split("/")
    return len(parts) > 2 and parts[2].isdigit()


@router.get("/system/info", response_model=SystemInfo, responses=responses(*SIGNED_IN))
@router.get(
    "/{version:int}/system/info",
    response_model=SystemInfo,
    responses=responses(*SIGNED_IN),
    openapi_extra=VERSIONED,
)
@router.get("/system/info.json", response_model=SystemInfo, responses=responses(*SIGNED_IN))
@router.get(
    "/{version:int}/system/info.json",
    response_model=SystemInfo,
    responses=responses(*SIGNED_IN),
    openapi_extra=VERSIONED,
)
def system_info(user: User) -> dict[str, Any]:
    return {
        "version": DHIS2_VERSION,
        "revision": f"sitroom {__version__}",
        "systemName": "sitroom",
        "serverDate": date.today().isoformat(),
    }


@router.get("/me", response_model=DhisMe, responses=responses(*SIGNED_IN))
@router.get(
    "/{version:int}/me",
    response_model=DhisMe,
    responses=responses(*SIGNED_IN),
    openapi_extra=VERSIONED,
)
@router.get("/me.json", response_model=DhisMe, responses=responses(*SIGNED_IN))
@router.get(
    "/{version:int}/me.json",
    response_model=DhisMe,
    responses=responses(*SIGNED_IN),
    openapi_extra=VERSIONED,
)
def me(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "userRoles": [{"name": user.role}] if user.role else [],
        "organisationUnits": [{"code": c} for c in user.scope_codes],
    }


def _scheme(*values: str | None, name: str = "idScheme") -> str:
    """The first scheme given (specific before general), as ``code`` or ``uid``; UID by default.

    DHIS2's ``ID`` is its ``UID``; ``NAME``, ``ATTRIBUTE:<uid>`` and the rest are refused
    (409, as DHIS2 answers an illegal query).
    """
    for value in values:
        if value:
            scheme = value.strip().lower()
            if scheme == "id":
                scheme = "uid"
            if scheme not in ("code", "uid"):
                raise Problem(
                    409, f"{name} {value!r} is not supported: use CODE (sitroom's codes) or UID"
                )
            return scheme
    return "uid"


@router.get("/dataValueSets", responses=GET_RESPONSES)
@router.get("/dataValueSets.json", responses=GET_RESPONSES)
@router.get("/dataValueSets.csv", responses=GET_RESPONSES)
@router.get("/{version:int}/dataValueSets", responses=GET_RESPONSES, openapi_extra=VERSIONED)
@router.get("/{version:int}/dataValueSets.json", responses=GET_RESPONSES, openapi_extra=VERSIONED)
@router.get("/{version:int}/dataValueSets.csv", responses=GET_RESPONSES, openapi_extra=VERSIONED)
def get_data_value_sets(
    *,
    request: Request,
    user: User,
    db: Db,
    org_unit: Annotated[list[str], Query(alias="orgUnit")],
    children: bool = False,
    data_set: Annotated[list[str] | None, Query(alias="dataSet")] = None,
    data_element: Annotated[list[str] | None, Query(alias="dataElement")] = None,
    period: Annotated[list[str] | None, Query()] = None,
    start_date: Annotated[date | None, Query(alias="startDate")] = None,
    end_date: Annotated[date | None, Query(alias="endDate")] = None,
    id_scheme: Annotated[str | None, Query(alias="idScheme")] = None,
    data_element_id_scheme: Annotated[str | None, Query(alias="dataElementIdScheme")] = None,
    org_unit_id_scheme: Annotated[str | None, Query(alias="orgUnitIdScheme")] = None,
    formula_safe: Annotated[
        bool,
        Query(
            alias="formulaSafe",
            description="CSV: text cells that a spreadsheet would run as a formula (=, +, -, @)"
            " get a leading apostrophe (sitroom's own parameter; false for machine clients"
            " that need the stored text exactly)",
        ),
    ] = True,
) -> Response:
    from sqlalchemy import select

    from sitroom.places.service import OrgUnitResolver, subtree_codes
    from sitroom.surveillance.export import export_values
    from sitroom.surveillance.models import DataElement, DataSet
    from sitroom.surveillance.periods import FIRST_YEAR, LAST_YEAR, last_day, parse_period

    ctx = context(request)
    resolver = OrgUnitResolver.from_session(db, ctx.country)
    units: list[str] = []
    for label in org_unit:
        try:
            unit = resolver.resolve(label)
        except Exception as exc:
            raise Problem(409, str(exc)) from None
        authorize(user, "data.read", unit.path)
        units.extend(subtree_codes(db, unit.code) if children else [unit.code])
    elements: list[str] | None = None
    if data_set or data_element:
        chosen = select(DataElement.code)
        wanted_sets = set(data_set or [])
        wanted_elements = set(data_element or [])
        rows = db.execute(
            chosen.add_columns(DataElement.uid, DataSet.code, DataSet.uid).outerjoin(
                DataSet, DataSet.id == DataElement.data_set_id
            )
        ).all()
        elements = [
            code
            for code, uid, set_code, set_uid in rows
            if {code, uid} & wanted_elements or {set_code, set_uid} & wanted_sets
        ]
        if not elements:
            raise Problem(409, "no data element matches the dataSet or dataElement asked for")
    start, end = start_date, end_date
    if period:
        try:
            parsed = [parse_period(p) for p in period]
        except ValueError as exc:
            raise Problem(409, str(exc)) from None
        start = min(first for _, first in parsed)
        end = max(last_day(first, kind) for kind, first in parsed)
    if start is None and end is None:
        raise Problem(409, "give period, or startDate and endDate")
    for name, day in (("startDate", start), ("endDate", end)):
        if day is not None and not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise Problem(409, f"{name}: {day} is outside the years {FIRST_YEAR}-{LAST_YEAR}")
    scheme = _scheme(id_scheme)
    unit_scheme = (
        _scheme(org_unit_id_scheme, name="orgUnitIdScheme") if org_unit_id_scheme else scheme
    )
    element_scheme = (
        _scheme(data_element_id_scheme, name="dataElementIdScheme")
        if data_element_id_scheme
        else scheme
    )
    csv = request.url.path.endswith(".csv") or "csv" in request.headers.get("accept", "")
    out = io.StringIO()
    export_values(
        db,
        "csv-long" if csv else "dhis2-json",
        out,
        start=start,
        end=end,
        org_units=sorted(set(units)),
        elements=elements,
        neutralise_formulas=csv and formula_safe,
        id_scheme=scheme,
        org_unit_scheme=unit_scheme,
        element_scheme=element_scheme,
    )
    if not csv:
        return Response(out.getvalue(), media_type="application/json")
    # A download, never a page: a browser saves it rather than showing it.
    disposition = {"Content-Disposition": 'attachment; filename="dataValueSets.csv"'}
    return Response(out.getvalue(), media_type="application/csv", headers=disposition)


def _summary(
    *,
    status: str,
    imported: int = 0,
    updated: int = 0,
    ignored: int = 0,
    deleted: int = 0,
    conflicts: list[dict[str, Any]] | None = None,
    rejected: list[int] | None = None,
    description: str = "",
) -> dict[str, Any]:
    return {
        "responseType": "ImportSummary",
        "status": status,
        "importOptions": {"idSchemes": {}, "dryRun": False},
        "description": description,
        "importCount": {
            "imported": imported,
            "updated": updated,
            "ignored": ignored,
            "deleted": deleted,
        },
        "conflicts": conflicts or [],
        "rejectedIndexes": rejected or [],
    }


def _answer(request: Request, summary: dict[str, Any], ok: bool) -> JSONResponse:
    code = 200 if ok else 409
    if _versioned(request):
        return JSONResponse(summary, status_code=code)
    message = "Import was successful." if ok else "An error occurred, please check import summary."
    return JSONResponse(
        {
            "httpStatus": "OK" if ok else "Conflict",
            "httpStatusCode": code,
            "status": "OK" if ok else "ERROR",
            "message": message,
            "response": summary,
        },
        status_code=code,
    )


def _values_from_json(raw: bytes) -> list[dict[str, Any]]:
    """The values of a dataValueSet, with the header's fields applied to each."""
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise Problem(400, "the body is not JSON sitroom reads: it nests too deep") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("dataValues", []), list):
        raise Problem(409, 'the body must be a dataValueSet: {"dataValues": [...]}')
    for name in ("idScheme", "dataElementIdScheme", "orgUnitIdScheme"):
        declared = payload.get(name)
        if declared is not None:
            if not isinstance(declared, str):
                raise Problem(409, f"{name} must be a string such as CODE or UID")
            _scheme(declared, name=name)  # the payload's schemes are checked as the query's
    header = {k: payload[k] for k in ("period", "orgUnit", "attributeOptionCombo") if k in payload}
    values = []
    for item in payload.get("dataValues", []):
        if not isinstance(item, dict):
            raise Problem(409, "every item of dataValues must be an object")
        values.append({**header, **item})
    return values


@router.post("/dataValueSets", responses=POST_RESPONSES, openapi_extra=VALUE_SET_BODY)
@router.post("/dataValueSets.json", responses=POST_RESPONSES, openapi_extra=VALUE_SET_BODY)
@router.post(
    "/{version:int}/dataValueSets",
    responses=POST_RESPONSES,
    openapi_extra=VALUE_SET_BODY | VERSIONED,
)
@router.post(
    "/{version:int}/dataValueSets.json",
    responses=POST_RESPONSES,
    openapi_extra=VALUE_SET_BODY | VERSIONED,
)
@idempotent
def post_data_value_sets(
    *,
    request: Request,
    raw: Annotated[bytes, Depends(request_body)],
    user: User,
    db: Db,
    dry_run: Annotated[bool, Query(alias="dryRun")] = False,
    import_strategy: Annotated[str, Query(alias="importStrategy")] = "CREATE_AND_UPDATE",
    id_scheme: Annotated[str | None, Query(alias="idScheme")] = None,
    data_element_id_scheme: Annotated[str | None, Query(alias="dataElementIdScheme")] = None,
    org_unit_id_scheme: Annotated[str | None, Query(alias="orgUnitIdScheme")] = None,
) -> JSONResponse:
    from sitroom.surveillance.imports import STRATEGIES

    authorize(user, "data.write", None)
    strategy = import_strategy.strip().upper()
    if strategy not in STRATEGIES:
        raise Problem(
            409, f"importStrategy {import_strategy!r} is not known: use {', '.join(STRATEGIES)}"
        )
    for name, scheme in (
        ("idScheme", id_scheme),
        ("dataElementIdScheme", data_element_id_scheme),
        ("orgUnitIdScheme", org_unit_id_scheme),
    ):
        _scheme(scheme, name=name)  # codes and uids are both recognised; others are refused
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind in ("application/csv", "text/csv"):
        fmt, body, offset = "csv-long", raw, 2  # a header line, then value i on line i + 2
    elif kind in ("application/json", ""):
        values = _values_from_json(raw)
        lines = [json.dumps(v, ensure_ascii=False) for v in values]
        body = ('{"dataValues": [\n' + ",\n".join(lines) + "\n]}").encode()
        fmt, offset = "dhis2-json", 2
    else:
        raise Problem(415, f"send application/json or application/csv, not {kind}")
    return _import(
        request, user, db, body, fmt=fmt, offset=offset, dry_run=dry_run, strategy=strategy
    )


def _import(
    request: Request,
    user: Any,
    db: Any,
    body: bytes,
    *,
    fmt: str,
    offset: int,
    dry_run: bool,
    strategy: str = "CREATE_AND_UPDATE",
) -> JSONResponse:
    from sitroom.surveillance.imports import Importer

    ctx = context(request)
    importer = Importer(
        db,
        ctx.country,
        user=user.username,
        lock_timeout=ctx.settings.lock_timeout,
        authorize_unit=scope_check(user, "data.write"),
        channel="api",
        client=client_address(request),
        strategy=strategy,
    )
    summary = importer.run(
        io.BytesIO(body),
        name=f"dataValueSets from {client_address(request) or 'unknown'}",
        fmt=fmt,
        dry_run=dry_run,
    )
    if not summary.ok:
        conflicts = [
            {"object": r.field or "dataValues", "value": r.reason, "errorCode": "E7600"}
            for r in summary.rejections
        ]
        rejected = sorted(
            {r.line - offset for r in summary.rejections if r.line and r.line >= offset}
        )
        result = _summary(
            status="ERROR",
            ignored=summary.rejected,
            conflicts=conflicts,
            rejected=rejected,
            description="Import process was aborted: nothing was written",
        )
        return _answer(request, result, ok=False)
    # As DHIS2: unchanged values and those the strategy left alone are both
    # "ignored", and the latter are listed among the rejected indexes.
    result = _summary(
        status="SUCCESS",
        imported=summary.created,
        updated=summary.updated,
        ignored=summary.unchanged + summary.ignored,
        deleted=summary.deleted,
        rejected=sorted({line - offset for line in summary.ignored_lines if line >= offset}),
        description="Import process completed successfully" + (" (dry run)" if dry_run else ""),
    )
    result["importOptions"]["dryRun"] = dry_run
    result["importOptions"]["importStrategy"] = strategy
    return _answer(request, result, ok=True)


# --- One value: /api/dataValues (DHIS2's DataValueController) -------------------------

#: The query parameters that name one value, as DHIS2 names them.
_DE = Query(min_length=1, max_length=64, description="Data element: code or uid")
_PE = Query(min_length=4, max_length=16, description="Period: 20220515, 2022W20, 202205")
_OU = Query(min_length=1, max_length=64, description="Org unit: code, uid or name")
_CO = Query(
    max_length=64, description="Category option combo: only the default (or none) is stored"
)
VALUE_GET_RESPONSES: dict[int | str, dict[str, Any]] = {
    **responses(
        *SIGNED_IN,
        404,
        409,
        meaning={
            404: "No value is stored for this element, org unit and period",
            409: "An unknown data element, org unit or period, or one sitroom cannot store",
        },
    ),
    200: {
        "description": "The value, as DHIS2 2.38 and later give it: a list holding one string",
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"type": "string"}, "maxItems": 1}
            }
        },
    },
}
_VALUE_WRITE_ERRORS = (401, 403, 409, 422, 503)
VALUE_POST_RESPONSES: dict[int | str, dict[str, Any]] = {
    **responses(
        *_VALUE_WRITE_ERRORS,
        meaning={
            409: "The value was refused (an unknown identifier, a bad count, an approved"
            " period: the detail says who approved it and when); nothing was written",
        },
    ),
    201: {"description": "Saved (created, updated, or unchanged); no body, as DHIS2"},
}
VALUE_DELETE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **responses(
        *_VALUE_WRITE_ERRORS,
        404,
        meaning={
            404: "No value is stored for this element, org unit and period",
            409: "The deletion was refused (an unknown identifier, an approved period:"
            " the detail says who approved it and when); nothing was deleted",
        },
    ),
    204: {"description": "Deleted; no body, as DHIS2"},
}


@dataclass(frozen=True, slots=True)
class _Target:
    """The value a request names: its element and unit (codes), the unit's path, the period."""

    element: str
    unit: str
    path: str
    period: date  # its first day
    label: str  # as DHIS2 writes it (20220515)


def _target(request: Request, db: Db, *, de: str, pe: str, ou: str, co: str | None) -> _Target:
    """Resolve ``de``, ``pe`` and ``ou`` as DHIS2 does: 409 for what is unknown or illegal."""
    from sqlalchemy import or_, select

    from sitroom.errors import NotFoundError
    from sitroom.places.service import OrgUnitResolver
    from sitroom.surveillance.ingest import DEFAULT_COMBOS
    from sitroom.surveillance.models import DataElement
    from sitroom.surveillance.periods import UNIT_NAMES, dhis2_label, parse_period
    from sitroom.surveillance.service import period_types

    if co and co.lower() not in DEFAULT_COMBOS:
        raise Problem(409, f"co: category option combo {co!r}: only the default is supported")
    element = db.scalar(
        select(DataElement).where(or_(DataElement.code == de, DataElement.uid == de))
    )
    if element is None:
        raise Problem(409, f"de: unknown data element {de!r}")
    try:
        unit = OrgUnitResolver.from_session(db, context(request).country).resolve(ou)
    except NotFoundError as exc:
        raise Problem(409, f"ou: {exc}") from None
    try:
        kind, first = parse_period(pe)
    except ValueError as exc:
        raise Problem(409, f"pe: {exc}") from None
    wanted = period_types(db).get(element.code, "daily")
    if kind != wanted:
        raise Problem(
            409,
            f"pe: {pe!r} is a {UNIT_NAMES[kind][0]}: {element.code} is reported {wanted}",
        )
    return _Target(element.code, unit.code, unit.path, first, dhis2_label(first, kind))


@dataclass(frozen=True)
class ValueKey:
    """The query parameters that name one value (``de``, ``pe``, ``ou``, ``co``), as DHIS2's."""

    de: str
    pe: str
    ou: str
    co: str | None

    def target(self, request: Request, db: Db) -> _Target:
        return _target(request, db, de=self.de, pe=self.pe, ou=self.ou, co=self.co)


def value_key(
    *,
    de: Annotated[str, _DE],
    pe: Annotated[str, _PE],
    ou: Annotated[str, _OU],
    co: Annotated[str | None, _CO] = None,
    cc: Annotated[str | None, Query(max_length=64)] = None,
    cp: Annotated[str | None, Query(max_length=1000)] = None,
) -> ValueKey:
    """The one-value routes' dependency; attribute option combos (``cc``, ``cp``) are
    refused here, as sitroom stores none."""
    if cc or cp:
        raise Problem(409, "cc, cp: attribute option combos are not supported: leave them out")
    return ValueKey(de, pe, ou, co)


def _write_one(
    request: Request,
    user: User,
    db: Db,
    target: _Target,
    *,
    value: str | None,
    comment: str | None,
    strategy: str,
) -> Any:
    """Write (or delete) the one value through the importer; 409 with the reason if refused."""
    from sitroom.surveillance.imports import Importer

    item: dict[str, Any] = {
        "dataElement": target.element,
        "period": target.label,
        "orgUnit": target.unit,
    }
    if value is not None:
        item["value"] = value
    if comment is not None:
        item["comment"] = comment
    ctx = context(request)
    importer = Importer(
        db,
        ctx.country,
        user=user.username,
        lock_timeout=ctx.settings.lock_timeout,
        authorize_unit=scope_check(user, "data.write"),
        channel="api",
        client=client_address(request),
        strategy=strategy,
    )
    summary = importer.run(
        io.BytesIO(json.dumps({"dataValues": [item]}, ensure_ascii=False).encode()),
        name=f"dataValues from {client_address(request) or 'unknown'}",
        fmt="dhis2-json",
    )
    if not summary.ok:
        reasons = "; ".join(
            f"{_QUERY_NAMES.get(r.field or '', r.field or 'value')}: {r.reason}"
            for r in summary.rejections
        )
        raise Problem(409, reasons + "; nothing was written")
    return summary


#: The importer's field names, as the query calls them.
_QUERY_NAMES = {"dataElement": "de", "period": "pe", "orgUnit": "ou", "value": "value"}


def _stored(db: Db, target: _Target) -> tuple[int, str | None] | None:
    """The stored value and comment of ``target``, or None."""
    from sqlalchemy import select

    from sitroom.places.models import OrgUnit
    from sitroom.surveillance.models import DataElement, DataValue

    row = db.execute(
        select(DataValue.value, DataValue.comment)
        .join(OrgUnit, OrgUnit.id == DataValue.org_unit_id)
        .join(DataElement, DataElement.id == DataValue.element_id)
        .where(
            OrgUnit.code == target.unit,
            DataElement.code == target.element,
            DataValue.period == target.period,
        )
    ).first()
    return None if row is None else (row[0], row[1])


def _not_stored(target: _Target) -> Problem:
    return Problem(
        404, f"no value of {target.element} is stored for {target.unit} in {target.label}"
    )


@router.get("/dataValues", responses=VALUE_GET_RESPONSES)
@router.get("/dataValues.json", responses=VALUE_GET_RESPONSES)
@router.get("/{version:int}/dataValues", responses=VALUE_GET_RESPONSES, openapi_extra=VERSIONED)
@router.get(
    "/{version:int}/dataValues.json", responses=VALUE_GET_RESPONSES, openapi_extra=VERSIONED
)
def get_data_value(
    *,
    request: Request,
    user: User,
    db: Db,
    key: Annotated[ValueKey, Depends(value_key)],
) -> JSONResponse:
    """One stored value, as DHIS2 gives it: ``["202178"]``."""
    target = key.target(request, db)
    authorize(user, "data.read", target.path)
    stored = _stored(db, target)
    if stored is None:
        raise _not_stored(target)
    return JSONResponse([str(stored[0])], headers={"Cache-Control": "no-store"})


@router.post(
    "/dataValues", status_code=201, response_class=Response, responses=VALUE_POST_RESPONSES
)
@router.post(
    "/{version:int}/dataValues",
    status_code=201,
    response_class=Response,
    responses=VALUE_POST_RESPONSES,
    openapi_extra=VERSIONED,
)
def post_data_value(
    *,
    request: Request,
    user: User,
    db: Db,
    key: Annotated[ValueKey, Depends(value_key)],
    value: Annotated[
        str | None,
        Query(max_length=32, description="A whole count; empty deletes the stored value"),
    ] = None,
    comment: Annotated[str | None, Query(max_length=50_000)] = None,
) -> Response:
    """Save one value (created or updated), as DHIS2's ``POST /api/dataValues?de=&pe=&ou=``.

    Without ``value``, a ``comment`` changes the stored value's comment only.
    """
    authorize(user, "data.write", None)
    target = key.target(request, db)
    authorize(user, "data.write", target.path)
    if value is None:
        if comment is None:
            raise Problem(409, "value: give a value (an empty one deletes), or a comment")
        stored = _stored(db, target)
        if stored is None:
            raise Problem(
                409,
                f"value: no value of {target.element} is stored for {target.unit}"
                f" in {target.label} to comment on: give a value",
            )
        value = str(stored[0])
    db.rollback()  # the importer opens its own write transaction
    _write_one(
        request, user, db, target, value=value, comment=comment, strategy="CREATE_AND_UPDATE"
    )
    return Response(status_code=201)


@router.delete(
    "/dataValues", status_code=204, response_class=Response, responses=VALUE_DELETE_RESPONSES
)
@router.delete(
    "/{version:int}/dataValues",
    status_code=204,
    response_class=Response,
    responses=VALUE_DELETE_RESPONSES,
    openapi_extra=VERSIONED,
)
def delete_data_value(
    *,
    request: Request,
    user: User,
    db: Db,
    key: Annotated[ValueKey, Depends(value_key)],
) -> Response:
    """Delete one value (audited), as DHIS2's ``DELETE /api/dataValues?de=&pe=&ou=``."""
    authorize(user, "data.write", None)
    target = key.target(request, db)
    authorize(user, "data.write", target.path)
    db.rollback()
    summary = _write_one(request, user, db, target, value=None, comment=None, strategy="DELETE")
    if not summary.deleted:
        raise _not_stored(target)
    return Response(status_code=204)
