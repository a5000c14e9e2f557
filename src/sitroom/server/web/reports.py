"""The published reports: ``/reports`` (the editions with their downloads and what
changed) and its "Publish now" button.

The page calls ``sitroom.publication.service.list_editions``, as
``GET /api/v1/editions`` does; its download links are the API's file URLs,
which a browser signed in by the session cookie may follow. Reading needs
``data.read`` over the country (reports are national), or nothing at all when
``SITROOM_PUBLIC_REPORTS=true``: then the page is shown to anyone, signed in or
not. Publishing needs ``report.publish`` over the country and the session's
CSRF token, and answers with a redirect to the page (a reload publishes
nothing twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, Response

from sitroom.auth.permissions import Principal
from sitroom.errors import ForbiddenError, SitroomError
from sitroom.publication.service import EditionRecord
from sitroom.server.deps import context
from sitroom.server.web import forms
from sitroom.server.web.pages import STATIC_PATH, Viewer, environment
from sitroom.server.web.routes import (
    _csrf_refused,
    _form_refused,
    _message,
    _see_other,
    _sentence,
    _signed_in,
    _viewer,
)

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class ReportsPage:
    """``reports.html``: the published editions, newest first.

    ``viewer`` is None for an anonymous reader of public reports;
    ``can_publish`` shows the "Publish now" form; ``done`` is the outcome of
    the last publication (role="status"), ``error`` a refusal.
    """

    viewer: Viewer | None
    editions: list[EditionRecord] = field(default_factory=list)
    can_publish: bool = False
    public: bool = False
    done: str | None = None
    error: str | None = None
    title: str = "Reports"

    @staticmethod
    def url(edition: EditionRecord, fmt: str = "") -> str:
        base = f"/api/v1/editions/{edition.period_label}/{edition.number}"
        return f"{base}/{fmt}" if fmt else base


FORMAT_NAMES = {"html": "HTML", "pdf": "PDF", "md": "Markdown", "json": "JSON"}


def render_reports(page: ReportsPage, *, status: int = 200) -> HTMLResponse:
    template = environment().get_template("reports.html")
    html = template.render(page=page, static=STATIC_PATH, format_names=FORMAT_NAMES)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _read(request: Request, who: Principal | None) -> tuple[list[EditionRecord], bool]:
    """The editions, and whether ``who`` may publish (a worker thread)."""
    from sitroom.auth.access import authorized_unit
    from sitroom.publication.service import list_editions

    ctx = context(request)
    with ctx.session() as db:
        if not ctx.settings.public_reports:
            assert who is not None
            authorized_unit(db, ctx.country, who, "data.read", None)
        can_publish = False
        if who is not None and who.can("report.publish"):
            try:
                authorized_unit(db, ctx.country, who, "report.publish", None)
                can_publish = True
            except ForbiddenError:
                pass
        return list_editions(db), can_publish


def _done(query: dict[str, str]) -> str | None:
    """The outcome told after a redirect, from fixed words and checked numbers only."""
    period, number = query.get("period", ""), query.get("edition", "")
    if not (number.isdigit() and len(number) < 8 and period.replace("-", "").isalnum()):
        return None
    if query.get("published") == "1":
        return f"Published edition {number} of {period}."
    if query.get("published") == "0":
        return f"No data changed since edition {number} of {period}: nothing was published."
    return None


async def _page(
    request: Request, *, status: int = 200, done: str | None = None, error: str | None = None
) -> Response:
    public = context(request).settings.public_reports
    signed_in = await _signed_in(request)
    if signed_in is None and not public:
        return _see_other("/signin")
    viewer = _viewer(signed_in) if signed_in is not None else None
    who = signed_in.principal if signed_in is not None else None
    try:
        editions, can_publish = await run_in_threadpool(_read, request, who)
    except ForbiddenError:
        return _message(
            403,
            "No reports",
            "Published reports are national: reading them needs permission to read the data"
            " of the whole country.",
            viewer=viewer,
        )
    page = ReportsPage(
        viewer, editions, can_publish=can_publish, public=public, done=done, error=error
    )
    return render_reports(page, status=status)


@router.get("/reports")
async def reports_page(request: Request) -> Response:
    return await _page(request, done=_done(dict(request.query_params)))


def _publish(request: Request, who: Principal) -> tuple[str, int, bool]:
    from sitroom.auth.access import authorized_unit
    from sitroom.publication.service import publish

    ctx = context(request)
    with ctx.session() as db:
        authorized_unit(db, ctx.country, who, "report.publish", None)
    done = publish(ctx, None, user=who.username, channel="web")
    return done.edition.period_label, done.edition.number, done.new


@router.post("/reports/publish")
async def publish_now(request: Request) -> Response:
    try:
        fields = await forms.read_form(request)
    except forms.FormError as exc:
        return _form_refused(exc)
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    if not signed_in.csrf_ok(fields.get("csrf_token")):
        return _csrf_refused(_viewer(signed_in))
    try:
        period, number, new = await run_in_threadpool(_publish, request, signed_in.principal)
    except ForbiddenError:
        return _message(
            403,
            "Not allowed",
            "Publishing the situation report needs the permission report.publish over the"
            " whole country.",
            viewer=_viewer(signed_in),
            link="/reports",
            link_text="Back to the reports",
        )
    except SitroomError as exc:
        return await _page(request, status=409, error=_sentence(str(exc)))
    query = urlencode({"published": "1" if new else "0", "period": period, "edition": number})
    return _see_other(f"/reports?{query}")
