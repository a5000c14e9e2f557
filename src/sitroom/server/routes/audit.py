"""The audit trail over HTTP (the same service as ``sitroom audit``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from sitroom import trail
from sitroom.server.deps import Db, User
from sitroom.server.problems import SIGNED_IN, responses

router = APIRouter(tags=["audit"])


class AuditEntryOut(BaseModel):
    time: str
    kind: str
    user: str | None
    action: str
    what: str
    channel: str | None
    client: str | None
    detail: str | None


class AuditPageOut(BaseModel):
    matched: int
    truncated: bool
    entries: list[AuditEntryOut]


@router.get(
    "/audit",
    summary="The audit trail: who wrote what, when, through which door, from where",
    description=(
        "Imports (with their channel: file, cli, api, web; and client address), approvals,"
        " security events, dated events, and the supply chain's stock batches and changes"
        " to the facility network, oldest first; value-level changes with `values=true`."
        " Needs `audit.read` over the whole country."
    ),
    responses=responses(*SIGNED_IN),
)
def audit(
    *,
    user: User,
    db: Db,
    by: Annotated[
        str | None, Query(alias="user", max_length=100, description="Only this user's writes")
    ] = None,
    since: Annotated[
        str | None, Query(max_length=40, description="2022-05-20, an ISO time, or 24h, 7d")
    ] = None,
    until: Annotated[
        str | None, Query(max_length=40, description="The same forms as since")
    ] = None,
    kind: Annotated[list[trail.Kind] | None, Query(description="Kinds of entry")] = None,
    values: Annotated[bool, Query(description="Also each value an import changed")] = False,
    limit: Annotated[int, Query(ge=1, le=trail.MAX_LIMIT)] = trail.DEFAULT_LIMIT,
) -> AuditPageOut:
    trail.authorize_audit(db, user)
    page = trail.audit_trail(
        db,
        user=by,
        since=trail.parse_since(since) if since else None,
        until=trail.parse_since(until) if until else None,
        kinds=tuple(kind) if kind else None,
        values=values,
        limit=limit,
    )
    return AuditPageOut(
        matched=page.matched,
        truncated=page.truncated,
        entries=[AuditEntryOut(**e.to_dict()) for e in page.entries],
    )
