"""Published situation reports over HTTP: list, one edition, its files, publish now.

The same service as ``sitroom sitrep publish / editions / get``
(``sitroom.publication.service``). Reports are national: reading them needs
``data.read`` over the country, publishing ``report.publish`` over it. With
``SITROOM_PUBLIC_REPORTS=true`` the reads need no sign-in at all (partners and
the public read the published reports); publishing always does. An anonymous
reader is not told who built an edition (``built_by`` is null).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from sitroom.auth.access import authorized_unit
from sitroom.auth.permissions import Principal
from sitroom.context import AppContext
from sitroom.publication.service import EditionRecord
from sitroom.server.conditional import idempotent
from sitroom.server.deps import API_TOKEN, BASIC, SESSION, Db, User, context, principal
from sitroom.server.problems import SIGNED_IN, WRITES, responses
from sitroom.server.routes.common import Period

router = APIRouter(tags=["editions"])

Format = Literal["html", "pdf", "md", "json"]
#: The content types of the files, for the OpenAPI document.
FILE_TYPES = ("text/html", "application/pdf", "text/markdown", "application/json")


class ChangeOut(BaseModel):
    where: str = Field(description="Headline (a section) or a region")
    what: str
    before: str = Field(description="The previous edition's figure, formatted")
    after: str


class FileOut(BaseModel):
    format: Format
    content_type: str
    size: int = Field(description="Bytes")
    sha256: str
    url: str = Field(description="Where to download it")


class EditionOut(BaseModel):
    period: str
    number: int = Field(description="1, 2, ... within the period")
    values_sha256: str = Field(
        description="SHA-256 of the canonical dump of the values the report was built from"
        " (docs/sitrep.md)"
    )
    built_at: datetime
    built_by: str | None = Field(description="Who published it (null for anonymous readers)")
    channel: Literal["cli", "web", "api", "schedule"]
    summary: str = Field(description="What changed since the period's previous edition")
    changes: list[ChangeOut]
    files: list[FileOut]
    url: str


class PublishedOut(EditionOut):
    published: bool = Field(
        description="True: a new edition; false: no value changed since this edition, which"
        " stands (nothing was stored)"
    )


class PublishIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Period | None = Field(
        default=None,
        description="The period to publish (default: the latest with national figures)",
    )


def _out(edition: EditionRecord, who: Principal | None) -> dict[str, Any]:
    base = f"/api/v1/editions/{edition.period_label}/{edition.number}"
    data = edition.to_dict()
    data["url"] = base
    data["files"] = [{**f, "url": f"{base}/{f['format']}"} for f in data["files"]]
    if who is None:
        data["built_by"] = None
    return data


async def reader(
    request: Request,
    db: Db,
    _basic: Annotated[None, Depends(BASIC)],
    _token: Annotated[None, Depends(API_TOKEN)],
    _cookie: Annotated[None, Depends(SESSION)],
) -> Principal | None:
    """The signed-in reader; None (nobody needed) when the reports are public."""
    if context(request).settings.public_reports:
        return None
    return await principal(request, db, None, None, None)


Reader = Annotated[Principal | None, Depends(reader)]


def may_read_reports(session: Session, ctx: AppContext, who: Principal | None) -> None:
    """Refuse (ForbiddenError) a reader without data.read over the country, unless public."""
    if ctx.settings.public_reports:
        return
    if who is None:  # pragma: no cover - the dependency signs a reader in
        from sitroom.errors import AuthenticationError

        raise AuthenticationError("sign in to read the published reports")
    authorized_unit(session, ctx.country, who, "data.read", None)


Number = Annotated[int, Path(ge=1, le=1_000_000, description="The edition's number")]
PeriodPath = Annotated[str, Path(min_length=4, max_length=16, description="2022-05-20")]


def _checked_period(text: str) -> str:
    from sitroom.surveillance.periods import period_bounds

    period_bounds(text)  # SitroomError (422) naming what is wrong
    return text


@router.get(
    "/editions",
    summary="Published editions of the situation report, newest first",
    response_model=list[EditionOut],
    responses=responses(*SIGNED_IN),
)
def list_editions(
    request: Request, who: Reader, db: Db, period: Annotated[Period | None, Query()] = None
) -> list[dict[str, Any]]:
    from sitroom.publication import service

    may_read_reports(db, context(request), who)
    return [_out(e, who) for e in service.list_editions(db, period)]


@router.get(
    "/editions/{period}/{number}",
    summary="One edition: when, by whom, what changed, its files",
    response_model=EditionOut,
    responses=responses(*SIGNED_IN, 404),
)
def get_edition(
    request: Request, who: Reader, db: Db, period: PeriodPath, number: Number
) -> dict[str, Any]:
    from sitroom.publication import service

    may_read_reports(db, context(request), who)
    return _out(service.get_edition(db, _checked_period(period), number), who)


@router.get(
    "/editions/{period}/{number}/{format}",
    summary="An edition's file (HTML, PDF, Markdown or JSON), as a download",
    response_class=Response,
    responses={
        200: {
            "description": "The file, with its name in Content-Disposition",
            "content": {kind: {"schema": {"type": "string"}} for kind in FILE_TYPES},
        },
        **responses(*SIGNED_IN, 404),
    },
)
def get_edition_file(
    request: Request,
    who: Reader,
    db: Db,
    period: PeriodPath,
    number: Number,
    *,
    format: Format,  # the path's name
) -> Response:
    from sitroom.publication import service

    may_read_reports(db, context(request), who)
    _, stored = service.edition_file(db, _checked_period(period), number, format)
    return Response(
        stored.content,
        media_type=stored.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{stored.name}"',
            "ETag": f'"{stored.sha256}"',
        },
    )


@router.post(
    "/editions",
    summary="Publish the situation report now (a new edition, unless no value changed)",
    status_code=201,
    response_model=PublishedOut,
    responses={
        200: {
            "description": "No value changed since the period's latest edition: that edition,"
            " with published false; nothing was stored",
            "content": {"application/json": {"schema": PublishedOut.model_json_schema()}},
        },
        **responses(*WRITES, 404, 409),
    },
)
@idempotent
def publish(body: PublishIn, request: Request, user: User, db: Db) -> Any:
    from sitroom.publication import service

    ctx = context(request)
    authorized_unit(db, ctx.country, user, "report.publish", None)
    db.commit()  # nothing held while the report is built
    done = service.publish(ctx, body.period, user=user.username, channel="api")
    data = {**_out(done.edition, user), "published": done.new}
    if done.new:
        return JSONResponse(
            PublishedOut(**data).model_dump(mode="json"),
            status_code=201,
            headers={"Location": data["url"]},
        )
    return JSONResponse(PublishedOut(**data).model_dump(mode="json"), status_code=200)
