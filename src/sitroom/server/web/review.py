"""The epidemiologists' review: ``/review`` and its approve and un-approve buttons.

The page calls ``sitroom.surveillance.entry.review`` for the period (the
latest closed one by default) over the user's scope; the buttons call
``sitroom.surveillance.approvals`` with ``via="web"`` and the client's
address, after the session's CSRF token. Both answer with a redirect to the
review (so a reload approves nothing twice), or with the review and the
refusal: 400 (no reason), 403 (outside the scope or without
``data.approve``), 404 (nothing to un-approve), 409 (already approved).
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from sitroom.auth.permissions import Principal
from sitroom.errors import ConflictError, ForbiddenError, NotFoundError, SitroomError
from sitroom.server.deps import client_address, context
from sitroom.server.web import forms
from sitroom.server.web.pages import ReviewPage, Viewer, render
from sitroom.server.web.routes import (
    _csrf_refused,
    _form_refused,
    _message,
    _see_other,
    _sentence,
    _signed_in,
    _viewer,
)
from sitroom.surveillance import approvals
from sitroom.surveillance import review as reviews
from sitroom.surveillance.periods import label, parse_period

router = APIRouter(include_in_schema=False)


def _period(text: str) -> date | None:
    if not text.strip():
        return None
    period_type, start = parse_period(text)
    if period_type != "daily":
        raise ValueError(f"{text!r} is not a day (2022-05-15)")
    return start


def _review(request: Request, who: Principal, period: date | None) -> reviews.PeriodReview:
    ctx = context(request)
    with ctx.session() as db:
        return reviews.review(db, ctx.country, principal=who, period=period)


async def _page(
    request: Request,
    who: Principal,
    viewer: Viewer,
    period: date | None,
    *,
    status: int = 200,
    done: str | None = None,
    error: str | None = None,
    reason_for: str | None = None,
) -> Response:
    try:
        review = await run_in_threadpool(_review, request, who, period)
    except ForbiddenError:
        return _message(
            403, "No review", "Your role does not let you read the data.", viewer=viewer
        )
    except SitroomError as exc:
        return _message(400, "Not possible", _sentence(str(exc)), viewer=viewer, link="/review")
    page = ReviewPage(viewer, review, done=done, error=error, reason_for=reason_for)
    return render(page, status=status)


def _done(review_query: dict[str, str]) -> str | None:
    """The outcome told after a redirect, from fixed words and a unit code only."""
    for key, words in (("approved", "Approved"), ("unapproved", "Un-approved")):
        code = review_query.get(key, "")
        if code and len(code) <= 64 and code.replace("-", "").replace("_", "").isalnum():
            return f"{words} {code}."
    return None


@router.get("/review")
async def review_page(request: Request) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    viewer = _viewer(signed_in)
    try:
        period = _period(request.query_params.get("period", ""))
    except ValueError as exc:
        return _message(400, "Not a day", _sentence(str(exc)), viewer=viewer, link="/review")
    done = _done(dict(request.query_params))
    return await _page(request, signed_in.principal, viewer, period, done=done)


def _approve(
    request: Request, who: Principal, org_unit: str, period: str, reason: str | None
) -> None:
    ctx = context(request)
    with ctx.session(write=True) as db:
        if reason is None:
            approvals.approve(
                db,
                org_unit,
                period,
                user=who.username,
                principal=who,
                via="web",
                client=client_address(request),
            )
        else:
            approvals.unapprove(
                db,
                org_unit,
                period,
                reason=reason,
                user=who.username,
                principal=who,
                via="web",
                client=client_address(request),
            )


async def _act(request: Request, *, unapprove: bool) -> Response:
    try:
        fields = await forms.read_form(request)
    except forms.FormError as exc:
        return _form_refused(exc)
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    viewer = _viewer(signed_in)
    if not signed_in.csrf_ok(fields.get("csrf_token")):
        return _csrf_refused(viewer)
    who = signed_in.principal
    org_unit = fields.get("org_unit", "").strip()
    try:
        day = _period(fields.get("period", ""))
    except ValueError as exc:
        return _message(400, "Not a day", _sentence(str(exc)), viewer=viewer, link="/review")
    if day is None or not org_unit:
        return await _page(
            request, who, viewer, day, status=400, error="Choose an org unit and a period."
        )
    reason = " ".join(fields.get("reason", "").split()) if unapprove else None
    if unapprove and not reason:
        return await _page(
            request,
            who,
            viewer,
            day,
            status=400,
            error=f"Un-approving {org_unit} needs a reason: say why its values must change.",
            reason_for=org_unit,
        )
    shown = label(day, "daily")
    try:
        await run_in_threadpool(_approve, request, who, org_unit, shown, reason)
    except SitroomError as exc:
        status = 400
        if isinstance(exc, ForbiddenError):
            status = 403
        elif isinstance(exc, NotFoundError):
            status = 404
        elif isinstance(exc, ConflictError):
            status = 409
        return await _page(
            request,
            who,
            viewer,
            day,
            status=status,
            error=_sentence(str(exc)),
            reason_for=org_unit if unapprove else None,
        )
    key = "unapproved" if unapprove else "approved"
    return _see_other(f"/review?{urlencode({'period': shown, key: org_unit})}")


@router.post("/review/approve")
async def approve(request: Request) -> Response:
    return await _act(request, unapprove=False)


@router.post("/review/unapprove")
async def unapprove(request: Request) -> Response:
    return await _act(request, unapprove=True)
