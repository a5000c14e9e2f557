"""Liveness and readiness, for load balancers and orchestrators (no sign-in)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from sitroom.context import AppContext
from sitroom.server.deps import context

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


_STATUS = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string"},
        "schema": {"type": "string"},
        "detail": {"type": "string"},
    },
}


@router.get(
    "/readyz",
    summary="The database answers and its schema is current",
    responses={
        200: {"description": "Ready", "content": {"application/json": {"schema": _STATUS}}},
        503: {
            "description": "The database does not answer, or its schema is not current",
            "content": {"application/json": {"schema": _STATUS}},
        },
    },
)
def readyz(ctx: Annotated[AppContext, Depends(context)]) -> Any:
    from sitroom.db import HEAD_REVISION, stored_revision

    try:
        revision = stored_revision(ctx.engine)
    except Exception as exc:  # any failure to reach the database is "not ready"
        return JSONResponse(
            {
                "status": "unavailable",
                "detail": f"the database does not answer: {type(exc).__name__}",
            },
            status_code=503,
        )
    if revision != HEAD_REVISION:
        return JSONResponse(
            {
                "status": "unavailable",
                "detail": f"the schema is at {revision}, this version needs {HEAD_REVISION}",
            },
            status_code=503,
        )
    return {"status": "ready", "schema": revision}
