"""Data approval over HTTP: list, approve, un-approve (the same service as the CLI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from sitroom.auth.permissions import authorize
from sitroom.server.conditional import NOT_MODIFIED, ConditionalGet
from sitroom.server.deps import Db, User, client_address, context
from sitroom.server.problems import SIGNED_IN, WRITES, responses
from sitroom.surveillance import approvals as service

router = APIRouter(tags=["approvals"])


class ApprovalOut(BaseModel):
    id: int
    org_unit: str
    period: str
    period_type: str
    active: bool
    approved_by: str
    approved_at: str
    revoked_by: str | None
    revoked_at: str | None
    revoke_reason: str | None


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refused here as invalid input (422), not a 500."""
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


class ApprovalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_unit: Text = Field(alias="orgUnit", min_length=1, max_length=64)
    period: Text = Field(min_length=4, max_length=16, description="2022-05-20, 2022W20, 202205")


class UnapprovalIn(ApprovalIn):
    reason: Text = Field(min_length=1, max_length=service.MAX_REASON_CHARS)


def _out(record: service.ApprovalRecord) -> ApprovalOut:
    return ApprovalOut(**record.to_dict())


@router.get(
    "/approvals",
    summary="Approvals in your scope, newest first",
    response_model=list[ApprovalOut],
    responses={**responses(*SIGNED_IN, 404), **NOT_MODIFIED},
)
def list_approvals(
    user: User,
    db: Db,
    check: ConditionalGet,
    org_unit: Annotated[str | None, Query(alias="orgUnit", max_length=64)] = None,
    include_revoked: Annotated[bool, Query(alias="all")] = False,
) -> Response:
    authorize(user, "data.read", None)
    found = service.list_approvals(
        db, org_unit=org_unit, include_revoked=include_revoked, principal=user
    )
    return check.respond([_out(a) for a in found])


@router.post(
    "/approvals",
    summary="Approve a period of an org unit and the units below it",
    responses=responses(*WRITES, 404, 409),
)
def approve(body: ApprovalIn, request: Request, user: User, db: Db) -> ApprovalOut:
    record = service.approve(
        db,
        body.org_unit,
        body.period,
        user=user.username,
        principal=user,
        lock_timeout=context(request).settings.lock_timeout,
        via="api",
        client=client_address(request),
    )
    return _out(record)


@router.post(
    "/approvals/unapprove",
    summary="End an approval, with a reason",
    responses=responses(*WRITES, 404),
)
def unapprove(body: UnapprovalIn, request: Request, user: User, db: Db) -> ApprovalOut:
    record = service.unapprove(
        db,
        body.org_unit,
        body.period,
        reason=body.reason,
        user=user.username,
        principal=user,
        lock_timeout=context(request).settings.lock_timeout,
        via="api",
        client=client_address(request),
    )
    return _out(record)
