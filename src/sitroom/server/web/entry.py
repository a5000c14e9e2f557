"""The reporters' form: ``/report`` (choose) and ``/report/{org_unit}/{period}`` (the day).

Thin, as the sign-in pages are: each route reads its form, checks the
session's CSRF token, and calls ``sitroom.surveillance.entry`` (which
checks the user's role and scope, the rules, the versions and the approval,
and writes through the importer); the template formats what comes back.
A saved form is answered with a redirect to the same page (so that
reloading it sends nothing again); a refused one with the form, its
messages and the values typed, and the status that says why: 400 (errors
or a reason missing), 409 (changed meanwhile, or approved), 403 (outside
the scope).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from sitroom.auth.permissions import Principal
from sitroom.errors import BusyError, ForbiddenError, NotFoundError, SitroomError
from sitroom.server.deps import client_address, context
from sitroom.server.web import forms
from sitroom.server.web.pages import ChoosePage, EntryPage, Viewer, render
from sitroom.server.web.routes import (
    _csrf_refused,
    _form_refused,
    _message,
    _see_other,
    _sentence,
    _signed_in,
    _viewer,
)
from sitroom.surveillance import entry
from sitroom.surveillance.periods import label, parse_period

router = APIRouter(include_in_schema=False)

#: Most fields the day's form may send: a value and a version per element, a
#: reason per rule, the correction and the token.
FORM_FIELDS = 400

_STATUS = {"invalid": 400, "conflict": 409, "approved": 409, "unchanged": 200, "saved": 200}


def _refused(exc: SitroomError, viewer: Viewer) -> Response:
    """A service's refusal as a page: 403, 404, 503 (busy) or 400/409."""
    if isinstance(exc, ForbiddenError):
        return _message(
            403,
            "Not your report",
            "You may not enter data for this org unit: it is outside your scopes, or your"
            " role does not allow data entry.",
            viewer=viewer,
            link="/report",
            link_text="Choose one of your org units",
        )
    if isinstance(exc, NotFoundError):
        return _message(404, "Not found", _sentence(str(exc)), viewer=viewer, link="/report")
    if isinstance(exc, BusyError):
        return _message(503, "The database is busy", _sentence(str(exc)), viewer=viewer)
    status = 409 if "approved" in str(exc) else 400
    return _message(status, "Not possible", _sentence(str(exc)), viewer=viewer, link="/report")


def _period(text: str) -> date:
    """A day from the address or the chooser: ``2022-05-15`` or ``20220515``."""
    period_type, start = parse_period(text)
    if period_type != "daily":
        raise ValueError(f"{text!r} is not a day: the form is for one day (2022-05-15)")
    return start


def _choices(request: Request, who: Principal) -> tuple[tuple[str, str, str | None], ...]:
    ctx = context(request)
    with ctx.session() as db:
        return tuple(entry.reporting_units(db, ctx.country, who, "data.write"))


@router.get("/report")
async def report_start(request: Request) -> Response:
    """The form of the user's unit for today; with several units, a choice first."""
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    viewer = _viewer(signed_in)
    who = signed_in.principal
    units = await run_in_threadpool(_choices, request, who)
    if not units:
        return _message(
            403,
            "No data entry",
            "Your role or your scopes do not let you enter data. Ask an administrator.",
            viewer=viewer,
        )
    country = context(request).country
    today = label(entry.open_period(country), "daily")
    chosen = request.query_params.get("org_unit", "").strip()
    text = request.query_params.get("period", "").strip()
    if not chosen and len(units) == 1:
        chosen = units[0][0]
    if not chosen:
        return render(ChoosePage(viewer, units, text or today, today))
    try:
        period = _period(text) if text else None
    except ValueError as exc:
        page = ChoosePage(viewer, units, text, today, error=_sentence(str(exc)))
        return render(page, status=400)
    shown = label(period, "daily") if period else today
    return _see_other(f"/report/{quote(chosen, safe='')}/{shown}")


def _load(request: Request, who: Principal, org_unit: str, period: date) -> Any:
    ctx = context(request)
    with ctx.session() as db:
        form = entry.entry_form(db, ctx.country, org_unit=org_unit, period=period, principal=who)
        units = tuple(entry.reporting_units(db, ctx.country, who, "data.write"))
    return form, units


def _entered(form: entry.EntryForm) -> dict[str, str]:
    return {f.element: "" if f.current is None else str(f.current.value) for f in form.fields}


@router.get("/report/{org_unit}/{period}")
async def report_page(request: Request, org_unit: str, period: str) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    viewer = _viewer(signed_in)
    try:
        day = _period(period)
        form, units = await run_in_threadpool(_load, request, signed_in.principal, org_unit, day)
    except ValueError as exc:
        return _message(400, "Not a day", _sentence(str(exc)), viewer=viewer, link="/report")
    except SitroomError as exc:
        return _refused(exc, viewer)
    saved = request.query_params.get("saved") == "1"
    message = None
    if saved:
        message = "Saved. The values below are the ones stored."
        if any(f.current is not None and f.current.late for f in form.fields):
            message += " Values that arrived after the deadline are marked late."
    page = EntryPage(
        viewer,
        form,
        _entered(form),
        units=units,
        status="saved" if saved else None,
        message=message,
    )
    return render(page)


def _submission(fields: dict[str, str]) -> entry.Submission:
    values, versions, reasons = {}, {}, {}
    for name, value in fields.items():
        kind, _, key = name.partition("_")
        if kind == "value":
            values[key] = value
        elif kind == "version":
            versions[key] = value
        elif kind == "reason":
            reasons[key] = value
    return entry.Submission(values, versions, reasons, fields.get("correction", ""))


def _submit(
    request: Request, who: Principal, org_unit: str, period: date, sub: entry.Submission
) -> Any:
    ctx = context(request)
    with ctx.session(write=True) as db:
        result = entry.submit(
            db,
            ctx.country,
            org_unit=org_unit,
            period=period,
            submission=sub,
            user=who.username,
            principal=who,
            client=client_address(request),
        )
        units = tuple(entry.reporting_units(db, ctx.country, who, "data.write"))
    return result, units


@router.post("/report/{org_unit}/{period}")
async def report_submit(request: Request, org_unit: str, period: str) -> Response:
    try:
        fields = await forms.read_form(request, max_fields=FORM_FIELDS)
    except forms.FormError as exc:
        return _form_refused(exc)
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    viewer = _viewer(signed_in)
    if not signed_in.csrf_ok(fields.get("csrf_token")):
        return _csrf_refused(viewer)
    try:
        day = _period(period)
    except ValueError as exc:
        return _message(400, "Not a day", _sentence(str(exc)), viewer=viewer, link="/report")
    sub = _submission(fields)
    try:
        result, units = await run_in_threadpool(
            _submit, request, signed_in.principal, org_unit, day, sub
        )
    except SitroomError as exc:
        return _refused(exc, viewer)
    if result.status == "saved":
        where = f"/report/{quote(org_unit, safe='')}/{label(day, 'daily')}"
        return _see_other(f"{where}?{urlencode({'saved': '1'})}")
    page = EntryPage(
        viewer,
        result.form,
        result.entered,
        units=units,
        errors=result.errors,
        checks=result.checks,
        conflicts=result.conflicts,
        reasons=sub.reasons,
        correction=sub.correction,
        status=result.status,
        message=result.message,
    )
    return render(page, status=_STATUS[result.status])
