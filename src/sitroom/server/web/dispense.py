"""The pharmacist's dispensing form: ``/dispense`` (choose) and ``/dispense/{facility}/{day}``.

Thin, as the reporters' form is: each route reads its form, checks the
session's CSRF token, and calls :mod:`sitroom.supply.dispensing` (which
checks the user's role and scope and posts through the stock ledger, channel
``web``, as the signed-in user). A saved form is answered with a redirect to
the same page; a refused one with the form, the typed values and each message
next to its field: 400 (the form's own checks, or the ledger's refusal: not
enough stock, with what is there), 403 (outside the scope), 409 (a correction
the ledger refuses).

A correction of a recorded day is a reversal of the batch the form wrote
(:meth:`~sitroom.supply.ledger.Ledger.reverse`), with a reason; the right
figures are then entered again.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from sitroom.auth.permissions import Principal
from sitroom.errors import BusyError, ConflictError, ForbiddenError, NotFoundError, SitroomError
from sitroom.server.deps import context
from sitroom.server.web import forms
from sitroom.server.web.pages import DispenseChoosePage, DispensePage, Viewer, render
from sitroom.server.web.routes import (
    _csrf_refused,
    _form_refused,
    _message,
    _see_other,
    _sentence,
    _signed_in,
    _viewer,
)
from sitroom.supply import dispensing

router = APIRouter(include_in_schema=False)

#: Most fields the form may send: units and patients per item, the action, the token.
FORM_FIELDS = 100


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text.strip()[:40]!r} is not a day (2022-05-15)") from None


def _where(facility: str, day: date) -> str:
    return f"/dispense/{quote(facility, safe='')}/{day.isoformat()}"


def _refused(exc: SitroomError, viewer: Viewer) -> Response:
    """A service's refusal as a page: 403, 404, 409, 503 (busy) or 400."""
    if isinstance(exc, ForbiddenError):
        return _message(
            403,
            "Not your pharmacy",
            "You may not record dispensing at this facility: it is outside your scopes, or"
            " your role does not allow it.",
            viewer=viewer,
            link="/dispense",
            link_text="Choose one of your pharmacies",
        )
    if isinstance(exc, NotFoundError):
        return _message(404, "Not found", _sentence(str(exc)), viewer=viewer, link="/dispense")
    if isinstance(exc, BusyError):
        return _message(503, "The database is busy", _sentence(str(exc)), viewer=viewer)
    status = 409 if isinstance(exc, ConflictError) else 400
    return _message(status, "Not possible", _sentence(str(exc)), viewer=viewer, link="/dispense")


def _choices(request: Request, who: Principal, search: str) -> Any:
    with context(request).session() as db:
        return dispensing.dispensing_places(db, who, search=search or None)


@router.get("/dispense")
async def dispense_start(request: Request) -> Response:
    """Find the facility (a search among those in the user's scopes) and the day."""
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    viewer = _viewer(signed_in)
    who = signed_in.principal
    if not dispensing.may_dispense(who):
        return _message(
            403,
            "No dispensing",
            "Your role does not let you record dispensing (it needs stock.dispense or"
            " stock.write). Ask an administrator.",
            viewer=viewer,
        )
    country = context(request).country
    today = dispensing.local_today(country).isoformat()
    query = request.query_params
    search = (query.get("q") or "").strip()[:64]
    chosen = (query.get("facility") or "").strip()[:64]
    text = (query.get("day") or "").strip()
    places, matches = await run_in_threadpool(_choices, request, who, search)
    if chosen:
        try:
            day = _day(text) if text else dispensing.local_today(country)
        except ValueError as exc:
            page = DispenseChoosePage(
                viewer, tuple(places), matches, search, text, today, error=_sentence(str(exc))
            )
            return render(page, status=400)
        return _see_other(_where(chosen, day))
    if not search and matches == 1:
        return _see_other(_where(places[0].code, dispensing.local_today(country)))
    return render(DispenseChoosePage(viewer, tuple(places), matches, search, text or today, today))


def _sheet(request: Request, who: Principal, facility: str, day: date) -> Any:
    ctx = context(request)
    with ctx.session() as db:
        return dispensing.day_sheet(db, ctx.country, facility, day, principal=who)


@router.get("/dispense/{facility}/{day}")
async def dispense_page(request: Request, facility: str, day: str) -> Response:
    signed_in = await _signed_in(request)
    if signed_in is None:
        return _see_other("/signin")
    viewer = _viewer(signed_in)
    try:
        when = _day(day)
        sheet = await run_in_threadpool(_sheet, request, signed_in.principal, facility, when)
    except ValueError as exc:
        return _message(400, "Not a day", _sentence(str(exc)), viewer=viewer, link="/dispense")
    except SitroomError as exc:
        return _refused(exc, viewer)
    query = request.query_params
    status, message = None, None
    if query.get("saved") == "1":
        status, message = "saved", "Recorded. The figures below include it."
    elif (query.get("corrected") or "").isdigit():
        status = "saved"
        message = (
            f"Batch {query['corrected']} was reversed: its units are back in stock. Enter the"
            " right figures below if some were dispensed."
        )
    return render(DispensePage(viewer, sheet, status=status, message=message))


def _record(
    request: Request, who: Principal, facility: str, day: date, entry: dispensing.DayEntry
) -> Any:
    ctx = context(request)
    with ctx.session(write=True) as db:
        sheet, result = dispensing.record_day(
            db, ctx.country, facility, day, entry, user=who.username, principal=who
        )
        if result.saved:
            return sheet, result
        # Shown again with the stock as it is now (a refusal wrote nothing).
        db.rollback()
        return dispensing.day_sheet(db, ctx.country, facility, day, principal=who), result


def _correct(
    request: Request, who: Principal, facility: str, day: date, *, batch: int, reason: str
) -> Any:
    ctx = context(request)
    with ctx.session(write=True) as db:
        summary = dispensing.correct_batch(
            db, ctx.country, facility, day, batch, reason=reason, user=who.username, principal=who
        )
        db.rollback()
        sheet = dispensing.day_sheet(db, ctx.country, facility, day, principal=who)
    return sheet, summary


@router.post("/dispense/{facility}/{day}")
async def dispense_submit(request: Request, facility: str, day: str) -> Response:
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
        when = _day(day)
    except ValueError as exc:
        return _message(400, "Not a day", _sentence(str(exc)), viewer=viewer, link="/dispense")
    who = signed_in.principal
    if fields.get("action") == "correct":
        return await _submit_correction(
            request, viewer, who, facility=facility, day=when, fields=fields
        )
    entry = dispensing.DayEntry(
        units={k.removeprefix("units_"): v for k, v in fields.items() if k.startswith("units_")},
        patients={
            k.removeprefix("patients_"): v for k, v in fields.items() if k.startswith("patients_")
        },
    )
    try:
        sheet, result = await run_in_threadpool(_record, request, who, facility, when, entry)
    except SitroomError as exc:
        return _refused(exc, viewer)
    if result.saved:
        return _see_other(f"{_where(facility, when)}?{urlencode({'saved': '1'})}")
    refused_by_ledger = result.summary is not None
    page = DispensePage(
        viewer,
        sheet,
        units=entry.units,
        patients=entry.patients,
        errors=result.errors,
        status="invalid",
        message=(
            "The stock ledger refused it: nothing was written."
            if refused_by_ledger
            else "Nothing was written."
        ),
    )
    return render(page, status=400)


async def _submit_correction(
    request: Request,
    viewer: Viewer,
    who: Principal,
    *,
    facility: str,
    day: date,
    fields: dict[str, str],
) -> Response:
    text = fields.get("batch", "").strip()
    if not text.isdigit() or len(text) > 18:
        return _message(400, "Not possible", "The form names no batch to correct.", viewer=viewer)
    batch = int(text)
    reason = fields.get(f"reason_{batch}", "").strip()
    if not reason:
        try:
            sheet = await run_in_threadpool(_sheet, request, who, facility, day)
        except SitroomError as exc:
            return _refused(exc, viewer)
        page = DispensePage(
            viewer,
            sheet,
            errors={f"reason_{batch}": f"Give the reason for correcting batch {batch}."},
            status="invalid",
            message="Nothing was written.",
            open_batch=batch,
        )
        return render(page, status=400)
    try:
        sheet, summary = await run_in_threadpool(
            lambda: _correct(request, who, facility, day, batch=batch, reason=reason)
        )
    except SitroomError as exc:
        return _refused(exc, viewer)
    if summary.committed:
        return _see_other(f"{_where(facility, day)}?{urlencode({'corrected': batch})}")
    message = "; ".join(r.reason for r in summary.rejections[:3]) or "refused"
    page = DispensePage(
        viewer,
        sheet,
        errors={f"reason_{batch}": _sentence(message)},
        status="invalid",
        message="The stock ledger refused the correction: nothing was written.",
        open_batch=batch,
        reason=reason,
    )
    return render(page, status=409)
